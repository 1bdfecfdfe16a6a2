// What produced a run, from the backtest as it was stored (never from the market data,
// which may have changed or gone since): the strategy as it was when the run started
// with the params' overrides on top. The same lines as the report's and the CSV
// exports' (backend/src/outputs/run_description.py). A backtest in a list (a summary)
// has no result: its range is the one asked for.

import { shown } from "./format.js";

const RULES = ["long_entry", "long_exit", "short_entry", "short_exit"];

const minute = (iso) => iso.slice(0, 16).replace("T", " ");

/** `name=value, ...`: how parameters read everywhere. */
export function assignments(values) {
  return Object.entries(values || {}).map(([name, value]) => `${name}=${value}`).join(", ");
}

function orders(o) {
  const parts = [o.fill === "close" ? "fills at the close" : "fills at the next open"];
  for (const [name, value] of [["stop loss", o.stop_loss_pct], ["take profit", o.take_profit_pct], ["trailing stop", o.trailing_stop_pct]]) {
    if (value) parts.push(`${name} ${shown("percent", value)}`);
  }
  return parts.join(", ");
}

function sizing(s) {
  if (s.kind === "fraction_of_equity") return `${shown("percent", s.value)} of equity per entry`;
  if (s.kind === "fixed_cash") return `${shown("money", s.value)} per entry`;
  return `${s.value} units per entry`;
}

/** The parameter values the run's numbers come from: an optimization's best combination,
 * else the strategy's with the params' overrides. */
export function ranWith(backtest) {
  return backtest.optimization?.best_parameters ?? backtest.best_parameters
    ?? { ...backtest.strategy?.parameters, ...backtest.params.parameters };
}

function parametersFact(backtest) {
  const own = assignments({ ...backtest.strategy?.parameters, ...backtest.params.parameters }) || "none";
  if (backtest.validation) return `chosen by each window (see the windows); the strategy's own: ${own}`;
  const best = backtest.optimization?.best_parameters ?? backtest.best_parameters;
  return best ? `the best: ${assignments(best)} (the strategy's own: ${own})` : own;
}

/** [name, text] pairs describing the run, in the order they are shown. */
export function runFacts(backtest) {
  const { params, result, strategy, sweep } = backtest;
  const symbol = result?.symbol ?? params.symbol ?? strategy?.symbol;
  const timeframe = result?.timeframe ?? params.timeframe ?? strategy?.timeframe ?? "";
  const bars = result ? ` (${shown("count", result.bars)} bars)` : "";
  const facts = [
    params.portfolio ? ["Portfolio", `${params.portfolio.symbols.join(", ")} ${timeframe}`.trim()]
      : ["Symbol", `${symbol} ${timeframe}`.trim()],
    ["Range", `${minute(result?.start ?? params.start_date)} to ${minute(result?.end ?? params.end_date)}${bars}`],
    ["Initial capital", shown("money", params.initial_capital)],
    ["Parameters", parametersFact(backtest)],
  ];
  if (sweep) {
    const swept = Object.entries(sweep.grid).map(([name, values]) => `${name} (${values.length} values)`).join(", ");
    facts.push(["Swept", `${swept}, ranked by ${sweep.objective.replaceAll("_", " ")}`]);
  }
  if (strategy) {
    facts.push(["Rules", RULES.filter((name) => strategy.rules[name])
      .map((name) => `${name}: ${strategy.rules[name].split(/\s+/).filter(Boolean).join(" ")}`).join("; ")]);
    facts.push(["Orders", orders(strategy.orders)], ["Sizing", sizing(strategy.orders.sizing)]);
    const costs = params.costs || strategy.costs;
    facts.push(["Costs", `commission ${shown("percent", costs.commission_pct)}, fee ${shown("money", costs.fee_per_fill)} per fill, `
      + `slippage ${shown("percent", costs.slippage_pct)}`]);
  }
  if (backtest.data_version !== null && backtest.data_version !== undefined) facts.push(["Data version", String(backtest.data_version)]);
  if (result?.cached || backtest.cached) facts.push(["Served", "from the cache: the stored result of an identical earlier run"]);
  return facts;
}

/** The run's facts as a definition list (`id` given to one on a page of its own). */
export function runInputs(el, backtest, id = "run-inputs") {
  return el("dl", { class: "inputs", id },
    runFacts(backtest).flatMap(([name, value]) => [el("dt", { text: name }), el("dd", { "data-input": name, text: value })]));
}
