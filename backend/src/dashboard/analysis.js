// The analysis beside a result's statistics, as the engine stored it: returns by month
// with yearly totals, the worst drawdown periods, long and short trades apart, and the
// rolling Sharpe ratio (a chart on the page's time axis). And what the trades table
// shows of each trade beyond its fills. A result stored before the analysis existed
// has none: the section says so.

import { shown } from "./format.js";
import { lineChart } from "./time_charts.js";

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const SIDE_ROWS = [
  ["trades", "count"], ["win_rate", "percent"], ["profit_factor", "ratio"], ["total_pnl", "money"],
  ["expectancy", "money"], ["average_trade", "percent"], ["best_trade", "percent"],
  ["worst_trade", "percent"], ["average_trade_duration_bars", "count"], ["commission", "money"],
];
export const TRADE_EXTRA_HEADERS = ["Duration", "Size", "Notional", "Commission", "Run-up", "Drawdown"];

function minute(iso) { return iso.slice(0, 16).replace("T", " "); }

function duration(seconds) {
  const days = Math.floor(seconds / 86_400);
  const hours = Math.floor((seconds % 86_400) / 3_600);
  return days ? `${days}d ${hours}h` : `${hours}h ${Math.floor((seconds % 3_600) / 60)}m`;
}

function grid(el, id, headers, rows) {
  return el("div", { class: "table-wrap" }, el("table", { id, class: "analysis" },
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, rows.map((row) => el("tr", {}, row.map((cell) => cell instanceof Node ? cell : el("td", { text: cell })))))));
}

// A return as a cell coloured by its sign.
function returnCell(el, value) {
  if (value === null || value === undefined) return el("td", { text: "" });
  return el("td", { class: value > 0 ? "up" : value < 0 ? "down" : "", text: shown("percent", value) });
}

/** The rolling Sharpe's place among the charts over time (drawAnalysis draws it). */
export function rollingSharpeParts(el, result) {
  if (!result.analysis) return [];
  const bars = result.analysis.rolling_sharpe.window_bars.toLocaleString("en");
  return [el("h2", { text: `Rolling Sharpe ratio (${bars} bars)` }), el("div", { class: "chart small", id: "chart-sharpe" })];
}

/** The analysis tables of a result. */
export function analysisParts(el, result) {
  const analysis = result.analysis;
  if (!analysis) return [el("h2", { text: "Analysis" }),
    el("p", { class: "message", id: "no-analysis", text: "This result was stored before its analysis was computed." })];
  const byMonth = new Map(analysis.monthly_returns.map((m) => [`${m.year}-${m.month}`, m.return_fraction]));
  const monthly = analysis.yearly_returns.map((y) => [String(y.year),
    ...MONTHS.map((_, i) => returnCell(el, byMonth.get(`${y.year}-${i + 1}`))), returnCell(el, y.return_fraction)]);
  const drawdowns = analysis.worst_drawdowns.map((d, i) => [String(i + 1), minute(d.start), minute(d.trough),
    d.recovery ? minute(d.recovery) : "not recovered", shown("percent", d.depth), shown("count", d.length_bars)]);
  const { all, long, short } = analysis.sides;
  const sides = SIDE_ROWS.map(([name, kind]) => [name.replaceAll("_", " "),
    shown(kind, all[name]), shown(kind, long[name]), shown(kind, short[name])]);
  return [
    el("h2", { text: "Monthly returns" }),
    grid(el, "monthly-returns", ["Year", ...MONTHS, "Total"], monthly),
    el("h2", { text: "Worst drawdowns" }),
    grid(el, "worst-drawdowns", ["#", "Start", "Trough", "Recovery", "Depth", "Bars below"], drawdowns),
    el("h2", { text: "Long and short trades" }),
    grid(el, "side-split", ["", "All", "Long", "Short"], sides),
  ];
}

/** The rolling Sharpe ratio on the page's time axis. */
export function drawAnalysis(result, axis) {
  const node = document.getElementById("chart-sharpe");
  if (!result.analysis || !node) return;
  const rolling = result.analysis.rolling_sharpe;
  lineChart(node, [{ x: rolling.time, y: rolling.sharpe, name: "rolling Sharpe", color: "#7c3aed" }], { axis });
}

/** A trade's cells under TRADE_EXTRA_HEADERS (empty for one stored without them). */
export function tradeExtraCells(trade) {
  const size = trade.size.toLocaleString("en", { maximumFractionDigits: 4 });
  if (trade.duration_seconds === null || trade.duration_seconds === undefined) return ["", size, "", "", "", ""];
  return [duration(trade.duration_seconds), size, shown("money", trade.notional), shown("money", trade.commission),
    shown("percent", trade.run_up), shown("percent", trade.drawdown)];
}
