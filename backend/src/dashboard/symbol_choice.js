// Choosing a strategy's symbol: every stored symbol with its timeframe and its owner, and
// none chosen for the member (another member's upload is never a default). A strategy
// whose symbol's bars were deleted keeps showing that symbol, said to be gone. The
// timeframe follows the symbol chosen: its bars' own until the member picks another, and
// never one finer than its bars (which they cannot make).

/** Every timeframe, finest first. */
export const TIMEFRAMES = ["1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w"];

/** Set the form's timeframe for the symbol it now names: the symbol's own unless the
 * member `picked` one its bars can make. */
export function followTimeframe(form, symbols, picked) {
  const entry = symbols.find((candidate) => candidate.symbol === form.elements.symbol.value);
  if (!entry) return;
  const current = form.elements.timeframe.value;
  if (!picked || TIMEFRAMES.indexOf(current) < TIMEFRAMES.indexOf(entry.timeframe)) {
    form.elements.timeframe.value = entry.timeframe;
  }
}

/** Follow the symbol as the member chooses it; `picked` once they choose a timeframe. */
export function timeframeFollowsSymbol(form, symbols, picked) {
  let chosen = picked;
  form.elements.timeframe.addEventListener("change", () => { chosen = true; });
  form.elements.symbol.addEventListener("change", () => followTimeframe(form, symbols, chosen));
}

export function symbolOptions(el, symbols, chosen) {
  const options = symbols.map((entry) => el("option", { value: entry.symbol, selected: entry.symbol === chosen,
    text: `${entry.symbol} (${entry.timeframe}, ${entry.owner})` }));
  if (!chosen) options.unshift(el("option", { value: "", selected: true, disabled: true, text: "Choose a symbol" }));
  else if (!symbols.some((entry) => entry.symbol === chosen)) {
    options.unshift(el("option", { value: chosen, selected: true, text: `${chosen} (bars deleted)` }));
  }
  return options;
}

// Why the chosen symbol cannot be run or saved, in words; null when it can.
export function symbolProblem(symbols, chosen) {
  if (!chosen) return "Choose a symbol.";
  if (!symbols.some((entry) => entry.symbol === chosen)) {
    return `No bars are stored for ${chosen} any more: choose another symbol.`;
  }
  return null;
}
