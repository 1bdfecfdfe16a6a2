// Deleting and renaming from the dashboard: strategies, backtests and symbols. Each asks
// first, in a dialog that names what else goes with it; the API decides who may
// (owner-only) and its refusals are shown in words.

const FINAL = ["completed", "failed", "cancelled"];

let el;
let api;

// The page's own element builder and API call (app.js), handed over once.
export function useTools(tools) { ({ el, api } = tools); }

function plural(count, one, many = `${one}s`) { return `${count.toLocaleString("en")} ${count === 1 ? one : many}`; }

function listed(items) { return items.length < 2 ? items.join("") : `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`; }

// A modal dialog: `lines` (text) explain, `field` (optional) is a text input's initial
// value. Resolves to the field's value (or true) when confirmed, null when cancelled.
export function ask({ title, lines, confirm, field }) {
  const input = field === undefined ? null
    : el("input", { name: "dialog-field", value: field, required: true, "aria-label": title });
  const dialog = el("dialog", { class: "confirm", "aria-label": title },
    el("form", { method: "dialog" },
      el("h2", { text: title }),
      lines.map((line) => (line instanceof Node ? line : el("p", { text: line }))),
      input,
      el("div", { class: "actions" },
        el("button", { class: "secondary", type: "submit", value: "cancel", text: "Cancel" }),
        el("button", { class: "primary danger", type: "submit", value: "confirm", text: confirm }))));
  document.body.append(dialog);
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      dialog.remove();
      const confirmed = dialog.returnValue === "confirm";
      resolve(confirmed ? (input ? input.value.trim() : true) : null);
    });
    dialog.showModal();
    (input || dialog.querySelector("button[value=cancel]")).focus();
  });
}

function button(text, onclick, attributes = {}) {
  return el("button", { class: "secondary", type: "button", text, onclick, ...attributes });
}

// Rename and Delete for a strategy; `backtests` are its own, deleted with it.
export function strategyActions(strategy, backtests, say) {
  const rename = async () => {
    const name = await ask({ title: `Rename "${strategy.name}"`, confirm: "Rename", field: strategy.name,
      lines: ["Only the name changes: its rules, backtests and results stay as they are."] });
    if (!name) return;
    try {
      await api(`/api/strategy/${strategy.id}`, { method: "PATCH", json: { name } });
      window.dispatchEvent(new HashChangeEvent("hashchange"));
    } catch (error) { say(error.message, "bad"); }
  };
  const remove = async () => {
    const running = backtests.filter((b) => !FINAL.includes(b.status));
    if (running.length) {
      say(`${plural(running.length, "backtest")} of it still run: cancel them before deleting it.`, "bad");
      return;
    }
    const count = backtests.length;
    const lines = count
      ? [`Its ${plural(count, "backtest")} (optimizations included) ${count === 1 ? "goes" : "go"} with it: results, trades and rankings.`]
      : ["It has no backtest."];
    const confirmed = await ask({ title: `Delete strategy "${strategy.name}"?`, confirm: "Delete strategy",
      lines: [...lines, "This cannot be undone."] });
    if (!confirmed) return;
    try {
      for (const backtest of backtests) await api(`/api/backtest/${backtest.id}?purge=true`, { method: "DELETE" });
      await api(`/api/strategy/${strategy.id}`, { method: "DELETE" });
      location.hash = "#/strategies";
    } catch (error) { say(error.message, "bad"); }
  };
  return [button("Rename", rename, { id: "rename-strategy" }), button("Delete strategy", remove, { id: "delete-strategy" })];
}

// Delete for one finished backtest; `done` runs once it is gone.
export function backtestDelete(backtest, done, say) {
  const remove = async () => {
    const kind = backtest.sweep ? "optimization" : "backtest";
    const trades = backtest.statistics?.total_trades ?? backtest.result?.total_trades;
    const goes = ["its result", trades === undefined ? "its trades" : `its ${plural(trades, "trade")}`];
    if (backtest.sweep) goes.push("its ranking");
    const confirmed = await ask({ title: `Delete this ${kind}?`, confirm: `Delete ${kind}`,
      lines: [`Started ${backtest.created_at.slice(0, 19).replace("T", " ")}: ${listed(goes)} go with it. Its strategy stays.`] });
    if (!confirmed) return;
    try {
      await api(`/api/backtest/${backtest.id}?purge=true`, { method: "DELETE" });
      done();
    } catch (error) { say(error.message, "bad"); }
  };
  return button("Delete", remove, { "data-delete-backtest": backtest.id, hidden: !FINAL.includes(backtest.status) });
}

// Delete for a symbol the member imported: refused while strategies use it (the API's
// 409 lists them), then deleted anyway only if the member confirms again.
export function symbolDelete(entry, done, say) {
  const path = `/api/market-data/symbols/${encodeURIComponent(entry.symbol)}`;
  const remove = async () => {
    const confirmed = await ask({ title: `Delete ${entry.symbol}?`, confirm: "Delete symbol",
      lines: [`Its ${plural(entry.rows, "bar")} (${entry.timeframe}) go. Finished backtests on it keep their results.`] });
    if (!confirmed) return;
    try {
      await api(path, { method: "DELETE" });
      done();
    } catch (error) {
      if (error.status !== 409 || !error.body?.used_by) { say(error.message, "bad"); return; }
      await deleteUsed(entry, error.body, path, done, say);
    }
  };
  return button("Delete", remove, { "data-delete-symbol": entry.symbol });
}

async function deleteUsed(entry, refusal, path, done, say) {
  // Your own strategies are listed (linked); other members' are only counted, in the words.
  const uses = el("ul", { class: "uses" }, refusal.used_by.map((use) =>
    el("li", {}, el("a", { href: `#/strategy/${use.strategy_id}`, text: use.name }))));
  const confirmed = await ask({ title: `${entry.symbol} is in use`, confirm: "Delete anyway", lines: [
    refusal.detail.split(". Delete it anyway")[0] + ".", ...(refusal.used_by.length ? [uses] : []),
    "Deleted anyway, their finished backtests stay readable; new runs need other bars."] });
  if (!confirmed) return;
  try {
    await api(`${path}?force=true`, { method: "DELETE" });
    done();
  } catch (error) { say(error.message, "bad"); }
}
