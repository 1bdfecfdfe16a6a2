// Searches beyond the grid and an honest winner: the run form's fields for a random or
// TPE search, and beside an optimization's best combination how likely it is to be luck
// (the Deflated Sharpe Ratio and the Probability of Backtest Overfitting, each with a
// line of plain words) and, for a search, its objective over the trials with the best
// so far. Nodes are built with the page's `el` (textContent only, never HTML).

import { canvasFor, numberLabel } from "./charts.js";
import { shown } from "./format.js";

// Above this DSR a winner is unlikely to be luck; from this PBO on, a coin toss.
const TRUSTED_DSR = 0.95;
const COIN_TOSS_PBO = 0.5;
const METHODS = [["grid", "Grid: every combination"], ["random", "Random search"], ["tpe", "TPE search (guided)"]];

function percent(value) {
  return shown("percent", value);
}

/** The run form's fields of a search: its method, ranges and trial budget. */
export function searchFields(el) {
  return [
    el("label", {}, "Search", el("select", { name: "method" }, METHODS.map(([value, text]) => el("option", { value, text })))),
    el("label", { class: "wide" }, "Ranges to search (random, TPE)",
      el("input", { name: "ranges", placeholder: "fast=2:50; slow=20:200:10; stop=0.01:0.2" })),
    el("label", {}, "Trials (random, TPE)", el("input", { name: "trials", inputmode: "numeric", placeholder: "200" })),
  ];
}

/** The sweep's grid, or a search's method, ranges (whole numbers unless a part has a
 * decimal point), the grid's values as choices, and its trials. */
export function searchSweep(value, grid) {
  const method = value("method");
  if (method === "grid") return { grid };
  const ranges = {};
  for (const part of value("ranges").split(/[;\n]/)) {
    if (!part.trim()) continue;
    const [name, spec] = part.split("=").map((s) => s.trim());
    const bounds = (spec || "").split(":");
    if (!name || bounds.length < 2 || bounds.length > 3 || bounds.some((b) => b.trim() === "" || Number.isNaN(Number(b)))) {
      throw new Error(`"${part.trim()}": write NAME=LOW:HIGH or NAME=LOW:HIGH:STEP`);
    }
    const [low, high, step] = bounds.map(Number);
    ranges[name] = { low, high, integer: !bounds.some((b) => /[.e]/i.test(b)) };
    if (step !== undefined) ranges[name].step = step;
  }
  return { method, grid, ranges, trials: Number(value("trials") || 100) };
}

/** Beside the winner: how the search went, the DSR and the PBO in words, and a holder
 * for the trials' chart of a random or TPE search. */
export function honestyParts(o, el) {
  const parts = [];
  const trials = o.trial_objectives;
  if (trials && trials.length) {
    const best = bestSoFar(trials);
    const at = best.findIndex((value) => value !== null && value === best[best.length - 1]) + 1;
    parts.push(el("p", { id: "search-summary" }, `${o.method === "tpe" ? "TPE" : "Random"} search: `,
      el("strong", { text: `${trials.length.toLocaleString("en")} trials` }),
      at ? `, the best found at trial ${at}.` : "."));
  }
  const d = o.deflated_sharpe;
  if (d) {
    const verdict = d.value > TRUSTED_DSR ? "unlikely to be luck" : "may well be luck";
    parts.push(el("p", { id: "deflated-sharpe" }, "Deflated Sharpe ratio ", el("strong", { text: percent(d.value) }),
      el("span", { class: "muted", text: ` — the chance the best beats the luckiest of ${d.trials.toLocaleString("en")} tries, given its returns' shape: ${verdict} (trust it above ${percent(TRUSTED_DSR)}).` })));
  }
  const p = o.pbo;
  if (p) {
    const verdict = p.value >= COIN_TOSS_PBO ? "the winner is luck" : "the choice holds up more often than not";
    parts.push(el("p", { id: "pbo" }, "Probability of backtest overfitting ", el("strong", { text: percent(p.value) }),
      el("span", { class: "muted", text: ` — how often the best on half the bars is below the median on the other half: ${verdict}.` })));
  }
  if (trials && trials.length) parts.push(el("div", { class: "chart small", id: "chart-trials" }));
  return parts;
}

function bestSoFar(values) {
  let best = null;
  return values.map((value) => {
    if (value !== null && (best === null || value > best)) best = value;
    return best;
  });
}

/** A search's objective by trial (dots) and the best so far (a line). */
export function drawTrials(o) {
  const node = document.getElementById("chart-trials");
  if (!node) return;
  const y = o.trial_objectives;
  const best = bestSoFar(y);
  const x = y.map((_, i) => i + 1);
  node.data = [{ type: "markers", name: "trial", x, y }, { type: "line", name: "best so far", x, y: best }];
  node.setAttribute("role", "img");
  node.setAttribute("aria-label", `the objective of ${y.length} trials and the best so far`);
  const defined = y.filter((value) => value !== null);
  const [low, high] = defined.length ? [Math.min(...defined), Math.max(...defined)] : [0, 1];
  const draw = () => {
    const { context, width, height } = canvasFor(node);
    const pad = { left: 64, right: 16, top: 22, bottom: 28 };
    const sx = (i) => pad.left + ((i - 1) / Math.max(y.length - 1, 1)) * (width - pad.left - pad.right);
    const sy = (v) => height - pad.bottom - ((v - low) / (high - low || 1)) * (height - pad.top - pad.bottom);
    context.fillStyle = "#5b6475";
    context.textAlign = "right";
    context.fillText(numberLabel(high), pad.left - 6, pad.top + 4);
    context.fillText(numberLabel(low), pad.left - 6, height - pad.bottom);
    context.textAlign = "center";
    context.fillText("1", sx(1), height - pad.bottom + 14);
    context.fillText(String(y.length), sx(y.length), height - pad.bottom + 14);
    context.fillText("trial", pad.left + (width - pad.left - pad.right) / 2, height - 4);
    context.fillStyle = "#9ca3af";
    y.forEach((v, i) => { if (v !== null) context.fillRect(sx(i + 1) - 2, sy(v) - 2, 4, 4); });
    context.beginPath();
    let started = false;
    best.forEach((v, i) => {
      if (v === null) return;
      if (started) context.lineTo(sx(i + 1), sy(v)); else context.moveTo(sx(i + 1), sy(v));
      started = true;
    });
    context.strokeStyle = "#2563eb";
    context.lineWidth = 1.5;
    context.stroke();
    context.fillStyle = "#1d2433";
    context.textAlign = "left";
    context.fillText("each trial (grey) and the best so far (blue)", pad.left, 14);
  };
  new ResizeObserver(() => draw()).observe(node);
  draw();
}
