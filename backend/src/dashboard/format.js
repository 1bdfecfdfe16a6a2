// How every number is shown on the page: the same kinds, rules and table of statistics
// as shared/src/formatting.py (the report, CSV headers and CLI), which a browser test
// holds this to. Rounding is half away from zero on the exact value (toFixed), and a
// value that rounds to zero never shows a minus sign.

export const KINDS = {
  duration_days: "duration",
  final_equity: "money", equity_peak: "money", initial_capital: "money", expectancy: "money", pnl: "money",
  total_return: "percent", buy_and_hold_return: "percent", cagr: "percent", volatility: "percent",
  max_drawdown: "percent", average_drawdown: "percent", exposure: "percent", win_rate: "percent",
  best_trade: "percent", worst_trade: "percent", average_trade: "percent", kelly_criterion: "percent",
  alpha: "percent", return_fraction: "percent", return_contribution: "percent", weight: "percent",
  sharpe_ratio: "ratio", sortino_ratio: "ratio", calmar_ratio: "ratio", profit_factor: "ratio", sqn: "ratio",
  beta: "ratio", objective: "ratio",
  total_trades: "count", bars: "count", max_drawdown_duration_bars: "count",
  average_drawdown_duration_bars: "count", max_trade_duration_bars: "count",
  average_trade_duration_bars: "count", trading_days_per_year: "count", periods_per_year: "count",
  entry_price: "price", exit_price: "price",
};

const DECIMALS = { money: 2, percent: 2, ratio: 2, count: 0, duration: 1, price: 2 };

function fixed(value, decimals) {
  let text = Math.abs(value).toFixed(decimals);
  if (value < 0 && /[1-9]/.test(text)) text = `-${text}`;
  const [whole, fraction] = text.split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return fraction === undefined ? grouped : `${grouped}.${fraction}`;
}

/** `value` as a `kind` is shown; "n/a" for none (or no finite number). */
export function shown(kind, value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "n/a";
  if (kind === "percent") return `${fixed(value * 100, 2)} %`;
  if (kind === "duration") return `${fixed(value, 1)} days`;
  if (kind === "price" && value !== 0 && Math.abs(value) < 1) return fixed(value, 4);
  return fixed(value, DECIMALS[kind]);
}

/** A statistic (or a trade's field) by its name's kind; an unknown name as a ratio. */
export function shownStatistic(name, value) { return shown(KINDS[name] || "ratio", value); }
