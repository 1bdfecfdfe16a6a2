// Choosing a strategy's symbol: every stored symbol with its timeframe and its owner, and
// none chosen for the member (another member's upload is never a default). A strategy
// whose symbol's bars were deleted keeps showing that symbol, said to be gone.

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
