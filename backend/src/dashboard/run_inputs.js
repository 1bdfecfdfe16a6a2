// What a finished run was given, from the backtest as it was stored (never from the
// market data, which may have changed or gone since).

function money(value) { return value.toLocaleString("en", { minimumFractionDigits: 2, maximumFractionDigits: 2 }); }

function percent(value) { return `${+(value * 100).toFixed(4)} %`; }

export function runInputs(el, backtest) {
  const { params, result } = backtest;
  const rows = [
    params.portfolio ? ["Portfolio", `${params.portfolio.symbols.join(", ")} ${result.timeframe}`]
      : ["Symbol", `${result.symbol} ${result.timeframe}`],
    ["Range", `${result.start.slice(0, 16).replace("T", " ")} to ${result.end.slice(0, 16).replace("T", " ")} (${result.bars.toLocaleString("en")} bars)`],
    ["Initial capital", money(result.initial_capital)],
    ["Parameters", Object.entries(params.parameters || {}).map(([name, value]) => `${name}=${value}`).join(", ") || "the strategy's"],
  ];
  if (params.costs) rows.push(["Costs", `commission ${percent(params.costs.commission_pct ?? 0)}, slippage ${percent(params.costs.slippage_pct ?? 0)}`]);
  if (result.data_version !== null && result.data_version !== undefined) rows.push(["Data version", String(result.data_version)]);
  if (result.cached) rows.push(["Served", "from an identical earlier run"]);
  return el("dl", { class: "inputs", id: "run-inputs" },
    rows.flatMap(([name, value]) => [el("dt", { text: name }), el("dd", { "data-input": name, text: value })]));
}
