// Portfolios on the dashboard: the run form's basket fields, and a result's
// contributions by symbol and the correlation matrix of their returns. The page's own
// helpers (`el`, `table`, `formatValue`) are handed in, so every node is built as the
// rest of the page builds it.

import { shown } from "./format.js";

const REBALANCE = /^(\d+)\s*(bars|days|weeks)$/;

export function portfolioFields(el) {
  return [
    el("label", { class: "wide" }, "Portfolio symbols (one account over them)",
      el("input", { name: "portfolio", placeholder: "GOOG, MSFT: symbols whose dates overlap" })),
    el("label", {}, "Portfolio weights", el("input", { name: "weights", placeholder: "0.6, 0.4 (equal)" })),
    el("label", {}, "Rebalance every", el("input", { name: "rebalance", placeholder: "20 bars, 1 weeks (never)" })),
  ];
}

// The backtest's `portfolio` from the form, or null when no symbols are given.
export function portfolioBlock(form) {
  const value = (name) => form.elements[name].value.trim();
  const symbols = value("portfolio").split(",").map((s) => s.trim()).filter(Boolean);
  if (!symbols.length) return null;
  const block = { symbols };
  if (value("weights")) {
    block.weighting = "fixed";
    block.weights = value("weights").split(",").map((w) => Number(w.trim()));
  }
  const every = value("rebalance");
  if (every && every !== "never") {
    const match = REBALANCE.exec(every);
    if (!match) throw new Error(`rebalance "${every}": say never, or a number of bars, days or weeks`);
    block.rebalance = { every: Number(match[1]), unit: match[2] };
  }
  return block;
}

// A correlation as a cell tinted by its sign and strength. The tint is set through the
// style object: a style attribute is inline style, which the Content-Security-Policy
// refuses; the object is not.
function correlationCell(el, value) {
  if (value === null || value === undefined) return el("span", { text: "n/a" });
  const cell = el("span", { class: "correlation", "data-correlation": value, text: shown("ratio", value) });
  const alpha = Math.min(1, Math.abs(value)) * 0.6;
  cell.style.backgroundColor = value >= 0 ? `rgba(37, 99, 235, ${alpha})` : `rgba(220, 38, 38, ${alpha})`;
  return cell;
}

export function portfolioParts(part, { el, table, formatValue }) {
  const symbols = part.symbols.map((share) => share.symbol);
  const rebalance = part.rebalance === "never" ? "never rebalanced"
    : `rebalanced every ${part.rebalance.every} ${part.rebalance.unit} (${part.rebalances} times)`;
  const shares = part.symbols.map((share) => [share.symbol, formatValue("weight", share.weight),
    formatValue("total_trades", share.trades), formatValue("pnl", share.pnl),
    formatValue("return_contribution", share.return_contribution), formatValue("bars", share.bars)]);
  const matrix = part.correlation.map((row, i) => [symbols[i], ...row.map((value) => correlationCell(el, value))]);
  return [
    el("h2", { text: `Portfolio of ${symbols.length} symbols, ${part.weighting} weights, ${rebalance}` }),
    el("div", { id: "portfolio-contributions" },
      table(["Symbol", "Weight", "Trades", "P&L", "Contribution to return", "Bars"], shares)),
    el("h2", { text: "Correlation of the symbols' returns" }),
    el("div", { id: "portfolio-correlation" }, table(["", ...symbols], matrix)),
  ];
}
