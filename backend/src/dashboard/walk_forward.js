// Walk-forward validation on the dashboard: the windows asked for on the run form, and
// on a result the windows table with the efficiency and the stitched out-of-sample
// curve beside the in-sample one.

import { shown } from "./format.js";
import { lineChart } from "./time_charts.js";

const LENGTH = /^([1-9][0-9]*)([mhdw]?)$/;

// The run form's fields: left empty, an optimization is not validated.
export function walkForwardInputs(el) {
  const length = (name, caption, placeholder) =>
    el("label", {}, caption, el("input", { name, placeholder, "aria-describedby": "walk-forward-help" }));
  return [
    length("wf_train", "Walk-forward train", "730d or 500 (bars)"),
    length("wf_test", "Walk-forward test", "365d or 100 (bars)"),
    length("wf_step", "Walk-forward step", "the test length"),
    el("label", {}, "Walk-forward windows", el("select", { name: "wf_mode" },
      el("option", { value: "rolling", text: "rolling" }), el("option", { value: "anchored", text: "anchored" }))),
    el("p", { class: "muted wide", id: "walk-forward-help",
      text: "With a train and a test length, Optimize validates the grid walk-forward: optimized on each train window, its winner traded on the test window after it." }),
  ];
}

// The `validation` block of the form's walk-forward fields; null when train and test are empty.
export function validationOf(form) {
  const value = (name) => form.elements[name].value.trim();
  if (!value("wf_train") && !value("wf_test")) return null;
  const length = (name) => {
    const match = LENGTH.exec(value(name));
    if (!match) throw new Error(`walk-forward: "${value(name)}" is neither a number of bars nor a duration such as 90d`);
    return match[2] ? value(name) : Number(match[1]);
  };
  const validation = { mode: value("wf_mode"), train: length("wf_train"), test: length("wf_test") };
  if (value("wf_step")) validation.step = length("wf_step");
  return validation;
}

// The windows table and the efficiency, with room for the two curves.
export function walkForwardParts(backtest, { el, table, formatValue, label }) {
  const w = backtest.walk_forward;
  const day = (text) => text.slice(0, 10);
  const rows = w.windows.map((window, k) => [k + 1, `${day(window.train_start)} to ${day(window.train_end)}`,
    `${day(window.test_start)} to ${day(window.test_end)}`,
    Object.entries(window.parameters).map(([name, value]) => `${name}=${value}`).join(", "),
    formatValue(w.objective, window.in_sample), formatValue(w.objective, window.out_of_sample),
    formatValue("total_return", window.out_of_sample_return), window.out_of_sample_trades]);
  const efficiency = w.efficiency === null
    ? "undefined (the in-sample mean is not positive, or the objective grows with time and the train and test windows differ in length)"
    : shown("ratio", w.efficiency);
  return [
    el("h2", { text: `Walk-forward: ${w.windows.length} ${w.mode} windows by ${label(w.objective)}` }),
    el("p", { id: "walk-forward-efficiency" }, "Walk-forward efficiency (mean out-of-sample over mean in-sample): ",
      el("strong", { text: efficiency })),
    el("div", { id: "walk-forward-windows" }, table(["Window", "Train", "Test", "Chosen", "In-sample", "Out-of-sample",
      "Test return", "Trades"], rows)),
    el("div", { class: "side-by-side" },
      el("div", {}, el("h2", { text: "Out of sample, stitched" }), el("div", { class: "chart", id: "chart-out-of-sample" })),
      el("div", {}, el("h2", { text: "In sample, chained" }), el("div", { class: "chart", id: "chart-in-sample" }))),
    el("p", { class: "muted", text: "Below: the test windows stitched into one run, its statistics and trades." }),
  ];
}

export function drawWalkForward(backtest, chart) {
  const outside = backtest.result.equity_curve;
  const inside = backtest.walk_forward.in_sample_curve;
  lineChart(chart("chart-out-of-sample"), [{ x: outside.time, y: outside.equity, name: "out of sample", color: "#2563eb" }]);
  lineChart(chart("chart-in-sample"), [{ x: inside.time, y: inside.equity, name: "in sample", color: "#9333ea" }]);
}
