// The dashboard: a page per hash route, built from the API alone (the same calls a
// script makes), signed in with a token kept in this browser's local storage.

import { TRADE_EXTRA_HEADERS, analysisParts, drawAnalysis, rollingSharpeParts, tradeExtraCells } from "./analysis.js";
import { barChart, heatmapChart } from "./charts.js";
import { backtestDelete, strategyActions, symbolDelete, useTools } from "./manage.js";
import { drawTrials, honestyParts, searchFields, searchSweep } from "./optimizer.js";
import { portfolioBlock, portfolioFields, portfolioParts } from "./portfolio.js";
import { TimeAxis, candleChart, lineChart } from "./time_charts.js";
import { attachSuggestions, loadReference } from "./rule_editor.js";
import { shownStatistic } from "./format.js";
import { assignments, ranWith, runFacts, runInputs } from "./run_inputs.js";
import { TIMEFRAMES, symbolOptions, symbolProblem, timeframeFollowsSymbol } from "./symbol_choice.js";
import { uploadSection } from "./upload.js";
import { drawWalkForward, validationOf, walkForwardInputs, walkForwardParts } from "./walk_forward.js";

const TOKEN_KEY = "botclub.token";
const OBJECTIVES = ["sharpe_ratio", "sortino_ratio", "total_return", "cagr", "calmar_ratio",
  "profit_factor", "win_rate", "max_drawdown"];
const RULES = ["long_entry", "long_exit", "short_entry", "short_exit"];
const HEADLINE = ["total_return", "buy_and_hold_return", "cagr", "sharpe_ratio",
  "sortino_ratio", "calmar_ratio", "max_drawdown", "volatility", "exposure", "total_trades",
  "win_rate", "profit_factor", "expectancy", "kelly_criterion", "alpha", "beta",
  "final_equity"];
const PAGE = 50;

const main = document.getElementById("main");

// ---- helpers ----------------------------------------------------------------

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function show(...nodes) {
  main.replaceChildren(...nodes);
  main.focus({ preventScroll: true });
}

function formatValue(name, value) {
  if (value === null || value === undefined) return "n/a";
  if (typeof value === "number") return shownStatistic(name, value);
  return String(value);
}

function label(name) { return name.replaceAll("_", " "); }

function errorText(body, status) {
  if (!body) return `error ${status}`;
  const problems = body.report && body.report.problems;
  if (problems && problems.length) return body.detail;
  return body.detail || `error ${status}`;
}

class ApiError extends Error {
  constructor(status, body) { super(errorText(body, status)); this.status = status; this.body = body; }
}

async function api(path, { method = "GET", json, form, raw } = {}) {
  const headers = {};
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  if (form !== undefined) body = form;
  const response = await fetch(path, { method, headers, body });
  if (response.status === 401 && !path.endsWith("/session")) {
    localStorage.removeItem(TOKEN_KEY);
    location.hash = "#/signin";
    throw new ApiError(401, { detail: "please sign in" });
  }
  if (raw) {
    if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
    return response;
  }
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

async function download(path, filename) {
  const response = await api(path, { raw: true });
  const url = URL.createObjectURL(await response.blob());
  const link = el("a", { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function table(headers, rows) {
  return el("div", { class: "table-wrap" }, el("table", {},
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.map((row) => el("tr", {}, row.map((cell) =>
      el("td", {}, cell instanceof Node ? cell : String(cell ?? "")))))),
  ));
}

function message(kind = "") { return el("p", { class: `message ${kind}`, role: "status", "aria-live": "polite" }); }

function say(node, text, kind) { node.textContent = text; node.className = `message ${kind || ""}`; }

function chart(id) { return document.getElementById(id); }

function parseAssignments(text) {
  const values = {};
  for (const part of text.split(/[,;\n]/)) {
    if (!part.trim()) continue;
    const [name, value] = part.split("=").map((s) => s.trim());
    if (!name || value === undefined || value === "" || Number.isNaN(Number(value))) {
      throw new Error(`"${part.trim()}": write NAME=NUMBER`);
    }
    values[name] = Number(value);
  }
  return values;
}

function parseGrid(text) {
  const grid = {};
  for (const part of text.split(/[;\n]/)) {
    if (!part.trim()) continue;
    const [name, spec] = part.split("=").map((s) => s.trim());
    if (!name || !spec) throw new Error(`"${part.trim()}": write NAME=START:STOP:STEP or NAME=A,B,C`);
    if (spec.includes(":")) {
      const [start, stop, step] = spec.split(":").map(Number);
      if (!(step > 0) || stop < start) throw new Error(`"${part.trim()}": START:STOP:STEP with STEP > 0`);
      grid[name] = [];
      for (let value = start; value <= stop + 1e-9; value += step) grid[name].push(Number(value.toFixed(10)));
    } else {
      grid[name] = spec.split(",").map((value) => Number(value.trim()));
    }
  }
  return grid;
}

// ---- sign in ---------------------------------------------------------------

function signInPage() {
  const note = message();
  const name = el("input", { name: "name", autocomplete: "username", required: true });
  const password = el("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const form = el("form", { class: "grid", onsubmit: async (event) => {
    event.preventDefault();
    try {
      const issued = await api("/api/session", { method: "POST", json: { name: name.value, password: password.value } });
      localStorage.setItem(TOKEN_KEY, issued.token);
      location.hash = "#/strategies";
    } catch (error) { say(note, error.message, "bad"); }
  } },
  el("label", {}, "Name", name), el("label", {}, "Password", password),
  el("div", { class: "actions" }, el("button", { class: "primary", type: "submit", text: "Sign in" })));
  show(el("h1", { text: "Sign in" }), form, note,
    el("p", { class: "muted", text: "No password yet? Ask for one: botclub create-user NAME --password" }));
  name.focus();
}

// ---- strategies ---------------------------------------------------------------

async function strategiesPage() {
  const strategies = await api("/api/strategy");
  show(
    el("h1", { text: "Strategies" }),
    el("div", { class: "actions" }, el("a", { href: "#/strategy/new", class: "primary-link", text: "New strategy" })),
    strategies.length ? table(["Name", "Symbol", "Timeframe", "Parameters", "Updated"], strategies.map((s) => [
      el("a", { href: `#/strategy/${s.id}`, text: s.name }), s.symbol, s.timeframe,
      assignments(s.parameters), s.updated_at.slice(0, 16).replace("T", " ")]))
      : el("p", { class: "muted", text: "No strategy yet: write your first." }),
  );
}

function strategyFields(form) {
  const value = (name) => form.elements[name].value.trim();
  const number = (name) => (value(name) === "" ? undefined : Number(value(name)) / 100);
  const rules = {};
  for (const rule of RULES) if (value(rule)) rules[rule] = value(rule);
  const orders = {};
  if (value("stop_loss_pct")) orders.stop_loss_pct = number("stop_loss_pct");
  if (value("take_profit_pct")) orders.take_profit_pct = number("take_profit_pct");
  return {
    name: value("name"), description: value("description"), symbol: value("symbol"),
    timeframe: value("timeframe"), parameters: parseAssignments(value("parameters")), rules, orders,
    costs: { commission_pct: number("commission_pct") ?? 0, slippage_pct: number("slippage_pct") ?? 0 },
  };
}

async function strategyPage(id) {
  const [symbols, strategy, functions] = await Promise.all([
    api("/api/market-data/symbols"),
    id === "new" ? Promise.resolve(null) : api(`/api/strategy/${id}`),
    loadReference(api),
  ]);
  const s = strategy || { name: "", description: "", symbol: "", timeframe: "1d",
    parameters: { fast: 10, slow: 30 }, rules: { long_entry: "crossover(sma(close, fast), sma(close, slow))",
      long_exit: "crossunder(sma(close, fast), sma(close, slow))" }, orders: {}, costs: { commission_pct: 0.001 } };
  const check = message();
  const percent = (value) => (value === null || value === undefined ? "" : String(+(value * 100).toFixed(6)));
  const form = el("form", { class: "grid", id: "strategy-form", novalidate: true },
    el("label", {}, "Name", el("input", { name: "name", value: s.name, required: true })),
    el("label", {}, "Symbol", el("select", { name: "symbol" }, symbolOptions(el, symbols, s.symbol))),
    el("label", {}, "Timeframe", el("select", { name: "timeframe" }, TIMEFRAMES.map((tf) =>
      el("option", { value: tf, selected: tf === s.timeframe, text: tf })))),
    el("label", {}, "Parameters", el("input", { name: "parameters", value: assignments(s.parameters) })),
    el("label", { class: "wide" }, "Description", el("input", { name: "description", value: s.description })),
    RULES.map((rule) => el("label", { class: "wide" }, label(rule),
      el("textarea", { name: rule, rows: 1, spellcheck: "false", text: s.rules[rule] || "" }))),
    el("label", {}, "Stop loss %", el("input", { name: "stop_loss_pct", inputmode: "decimal", value: percent(s.orders.stop_loss_pct) })),
    el("label", {}, "Take profit %", el("input", { name: "take_profit_pct", inputmode: "decimal", value: percent(s.orders.take_profit_pct) })),
    el("label", {}, "Commission %", el("input", { name: "commission_pct", inputmode: "decimal", value: percent(s.costs.commission_pct) })),
    el("label", {}, "Slippage %", el("input", { name: "slippage_pct", inputmode: "decimal", value: percent(s.costs.slippage_pct) })),
  );
  for (const rule of RULES) attachSuggestions(form.elements[rule], functions, el);
  timeframeFollowsSymbol(form, symbols, Boolean(strategy));
  const save = el("button", { class: "primary", type: "button", text: strategy ? "Save" : "Create" });
  let timer;
  const validate = async () => {
    const problem = symbolProblem(symbols, form.elements.symbol.value);
    if (problem) { say(check, problem, "bad"); return false; }
    try {
      const verdict = await api("/api/strategy/check", { method: "POST", json: strategyFields(form) });
      if (verdict.ok) say(check, "The rules are valid.", "good");
      else say(check, verdict.errors.length ? verdict.errors.map((e) => e.msg).join("; ") : verdict.detail, "bad");
      return verdict.ok;
    } catch (error) { say(check, error.message, "bad"); return false; }
  };
  form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(validate, 250); });
  save.addEventListener("click", async () => {
    const problem = symbolProblem(symbols, form.elements.symbol.value);
    if (problem) { say(check, problem, "bad"); return; }
    try {
      const fields = strategyFields(form);
      const saved = strategy
        ? await api(`/api/strategy/${strategy.id}`, { method: "PUT", json: fields })
        : await api("/api/strategy", { method: "POST", json: fields });
      say(check, "Saved.", "good");
      if (!strategy) location.hash = `#/strategy/${saved.id}`;
    } catch (error) { say(check, error.message, "bad"); }
  });
  const backtests = strategy ? await api(`/api/strategy/${strategy.id}/backtests`) : [];
  const sections = [el("h1", { text: strategy ? strategy.name : "New strategy" }), form, check,
    el("div", { class: "actions" }, save, strategy ? strategyActions(strategy, backtests, (text, kind) => say(check, text, kind)) : null)];
  if (strategy) sections.push(...runSections(strategy, symbols), backtestList(backtests));
  show(...sections);
}

function runSections(strategy, symbols) {
  const note = message();
  let symbol;
  let first;
  let last;
  const choose = (name) => {
    symbol = symbols.find((e) => e.symbol === name);
    first = symbol ? symbol.first.slice(0, 10) : "";
    last = symbol ? symbol.last.slice(0, 10) : "";
  };
  choose(strategy.symbol);
  const form = el("form", { class: "grid", id: "run-form" },
    el("label", {}, "Symbol", el("select", { name: "symbol", onchange: (event) => {
      choose(event.target.value);
      form.elements.start.value = first;
      form.elements.end.value = last;
    } }, symbolOptions(el, symbols, strategy.symbol))),
    el("label", {}, "From", el("input", { name: "start", type: "date", value: first })),
    el("label", {}, "To", el("input", { name: "end", type: "date", value: last })),
    el("label", {}, "Capital", el("input", { name: "capital", inputmode: "decimal", value: "10000" })),
    el("label", {}, "Timeframe", el("select", { name: "timeframe" }, TIMEFRAMES.map((tf) =>
      el("option", { value: tf, selected: tf === strategy.timeframe, text: tf })))),
    el("label", {}, "Parameter overrides", el("input", { name: "overrides", placeholder: "fast=5" })),
    el("label", {}, "Commission % (override)", el("input", { name: "commission", inputmode: "decimal" })),
    el("label", { class: "wide" }, "Grid to optimize over", el("input", { name: "grid", placeholder: "fast=5:50:5; slow=20,40,60" })),
    el("label", {}, "Constraint", el("input", { name: "constraint", placeholder: "fast < slow" })),
    el("label", {}, "Objective", el("select", { name: "objective" }, OBJECTIVES.map((o) => el("option", { value: o, text: label(o) })))),
    ...searchFields(el),
    ...portfolioFields(el),
    ...walkForwardInputs(el),
  );
  timeframeFollowsSymbol(form, symbols, true);  // the strategy's own, while its symbol's bars make it
  const params = () => {
    const value = (name) => form.elements[name].value.trim();
    const problem = symbolProblem(symbols, value("symbol"));
    if (problem) throw new Error(problem);
    if (!value("start") || !value("end")) throw new Error("Choose the dates to run over.");
    const body = {
      // The stored range's own first and last bars when the dates were left as shown.
      start_date: symbol && value("start") === first ? symbol.first : `${value("start")}T00:00:00Z`,
      end_date: symbol && value("end") === last ? symbol.last : `${value("end")}T23:59:59Z`,
      initial_capital: Number(value("capital")), timeframe: value("timeframe"), symbol: value("symbol"),
      parameters: parseAssignments(value("overrides")),
    };
    if (value("commission")) body.costs = { ...strategy.costs, commission_pct: Number(value("commission")) / 100 };
    const basket = portfolioBlock(form);
    if (basket) { body.portfolio = basket; delete body.symbol; }
    return body;
  };
  const start = async (kind) => {
    try {
      const body = params();
      if (kind === "optimize") {
        const value = (name) => form.elements[name].value.trim();
        body.sweep = { ...searchSweep(value, parseGrid(value("grid"))), objective: value("objective") };
        if (value("constraint")) body.sweep.constraint = value("constraint");
        const validation = validationOf(form);
        if (validation) body.validation = validation;
      }
      const started = await api(`/api/strategy/${strategy.id}/${kind}`, { method: "POST", json: body });
      location.hash = `#/backtest/${started.id}`;
    } catch (error) { say(note, error.message, "bad"); }
  };
  return [el("h2", { text: "Run" }), form, note, el("div", { class: "actions" },
    el("button", { class: "primary", type: "button", id: "run-backtest", onclick: () => start("backtest"), text: "Run backtest" }),
    el("button", { class: "secondary", type: "button", id: "run-optimization", onclick: () => start("optimize"), text: "Optimize" }))];
}

function backtestList(backtests) {
  const chosen = new Set();
  const note = message();
  const compare = el("button", { class: "secondary", type: "button", disabled: true, text: "Compare selected (2 to 5)",
    onclick: () => { location.hash = `#/compare/${[...chosen].join(",")}`; } });
  const rows = backtests.map((b) => [
    el("input", { type: "checkbox", "aria-label": `select ${b.id}`, onchange: (event) => {
      if (event.target.checked) chosen.add(b.id); else chosen.delete(b.id);
      compare.disabled = chosen.size < 2 || chosen.size > 5;
    } }),
    el("a", { href: `#/backtest/${b.id}`, text: b.created_at.slice(0, 19).replace("T", " ") }),
    b.validation ? "walk-forward" : b.sweep ? "optimization" : "backtest", el("span", { class: `status ${b.status}`, text: b.status }),
    formatValue("total_return", b.statistics?.total_return), formatValue("sharpe_ratio", b.statistics?.sharpe_ratio),
    runInputs(el, b, null), backtestDelete(b, route, (text, kind) => say(note, text, kind)),
  ]);
  return el("section", {}, el("h2", { text: "Backtests" }),
    rows.length ? table(["", "Started", "Kind", "Status", "Return", "Sharpe", "Run", ""], rows) : el("p", { class: "muted", text: "None yet." }),
    note, el("div", { class: "actions" }, compare));
}

// ---- one backtest ---------------------------------------------------------------

async function backtestPage(id) {
  const backtest = await api(`/api/backtest/${id}`);
  const bar = el("progress", { max: 100, value: backtest.progress, id: "progress", "aria-label": "progress" });
  const state = el("p", { id: "state" });
  const cancel = el("button", { class: "secondary", type: "button", id: "cancel", text: "Cancel",
    onclick: async () => { try { await api(`/api/backtest/${id}`, { method: "DELETE" }); } catch (error) { say(state, error.message, "bad"); } } });
  const body = el("div", { id: "result" });
  const remove = backtestDelete(backtest, () => { location.hash = `#/strategy/${backtest.strategy_id}`; },
    (text, kind) => say(state, text, kind));
  show(el("h1", { text: backtest.sweep ? "Optimization" : "Backtest" }),
    el("p", { class: "muted" }, el("a", { href: `#/strategy/${backtest.strategy_id}`, text: "← strategy" })),
    bar, state, el("div", { class: "actions" }, cancel, remove), body);
  const render = (event) => {
    bar.value = event.progress;
    const eta = event.eta_s !== null && event.eta_s !== undefined ? `, about ${Math.ceil(event.eta_s)} s left` : "";
    state.replaceChildren(el("span", { class: `status ${event.status}`, text: event.status }), ` ${event.progress.toFixed(1)} %${eta}`);
    cancel.hidden = event.final;
    remove.hidden = !event.final;
  };
  render({ ...backtest, final: ["completed", "failed", "cancelled"].includes(backtest.status) });
  if (["completed", "failed", "cancelled"].includes(backtest.status)) return showResult(backtest, body);
  await follow(id, render);
  if (location.hash === `#/backtest/${id}`) await showResult(await api(`/api/backtest/${id}`), body);
}

function follow(id, render) {
  return new Promise((resolve) => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/api/backtest/${id}/ws`);
    socket.addEventListener("open", () => socket.send(JSON.stringify({ token: localStorage.getItem(TOKEN_KEY) })));
    socket.addEventListener("message", (message) => render(JSON.parse(message.data)));
    socket.addEventListener("close", () => resolve());
  });
}

async function showResult(backtest, body) {
  const parts = [];
  for (const note of backtest.notes || []) parts.push(el("p", { class: "message", text: note }));
  if (backtest.error) parts.push(el("p", { class: "message bad", text: backtest.error }));
  const result = backtest.result;
  if (!result) { body.replaceChildren(...parts); return; }
  parts.push(el("div", { class: "actions" },
    el("button", { class: "secondary", type: "button", id: "download-report", text: "Download report",
      onclick: () => download(`/api/backtest/${backtest.id}/report.html`, `report-${backtest.id}.html`) }),
    el("button", { class: "secondary", type: "button", text: "Trades as CSV",
      onclick: () => download(`/api/backtest/${backtest.id}/trades.csv`, `trades-${backtest.id}.csv`) })));
  if (backtest.optimization) parts.push(...optimizationParts(backtest));
  if (backtest.walk_forward) parts.push(...walkForwardParts(backtest, { el, table, formatValue, label }));
  parts.push(el("h2", { text: `${result.symbol} ${result.timeframe}, ${result.start.slice(0, 10)} to ${result.end.slice(0, 10)}` }),
    runInputs(el, backtest));
  parts.push(el("div", { class: "stats", id: "statistics" }, HEADLINE.filter((name) => name in result).map((name) =>
    el("div", {}, el("span", { text: label(name) }), el("strong", { "data-statistic": name, text: formatValue(name, result[name]) })))));
  if (result.portfolio) parts.push(...portfolioParts(result.portfolio, { el, table, formatValue }));
  parts.push(el("h2", { text: "Equity" }), el("div", { class: "chart", id: "chart-equity" }),
    el("h2", { text: "Drawdown" }), el("div", { class: "chart small", id: "chart-drawdown" }),
    ...rollingSharpeParts(el, result),
    el("h2", { text: "Price and trades" }), el("div", { class: "chart", id: "chart-candles" }),
    el("h2", { text: `Trades (${result.total_trades.toLocaleString("en")})` }), el("div", { id: "trades" }));
  parts.push(...analysisParts(el, result));
  body.replaceChildren(...parts);
  performance.mark("result-shown");  // milestones bench/dashboard.py reports
  const axis = new TimeAxis();  // equity, drawdown and price move together
  const candles = drawCandles(backtest, result, axis);  // its data is fetched meanwhile
  const trades = tradesTable(backtest.id, result, axis);
  const curve = result.equity_curve;
  lineChart(chart("chart-equity"), [
    { x: curve.time, y: curve.equity, name: "equity", color: "#2563eb" },
    { x: curve.time, y: curve.buy_and_hold, name: "buy and hold", color: "#9ca3af" },
  ], { axis });
  lineChart(chart("chart-drawdown"), [{ x: curve.time, y: curve.drawdown, name: "drawdown", color: "#dc2626", fill: true }],
    { percent: true, axis });
  drawAnalysis(result, axis);
  if (backtest.optimization) drawHeatmap(backtest.optimization);
  if (backtest.optimization) drawTrials(backtest.optimization);
  if (backtest.walk_forward) drawWalkForward(backtest, chart);
  performance.mark("curves-drawn");
  await Promise.all([candles, trades]);
  document.body.dataset.drawn = "true";
}

// The markers of at most this many trades are drawn (a chart shows no more anyway).
const MARKED_TRADES = 20_000;
// Candles asked for at a time: the whole range at first, the visible one when zoomed.
const CANDLES = 2000;

async function allTrades(id, result) {
  // The result carries the first trades; the rest are read a page at a time.
  const inline = result.trades;
  const pages = [];
  for (let offset = inline.length; offset < Math.min(result.total_trades, MARKED_TRADES); offset += 5_000) {
    pages.push(api(`/api/backtest/${id}/trades?offset=${offset}&limit=5000`));
  }
  return inline.concat((await Promise.all(pages)).flatMap((page) => page.trades));
}

// The candles are the only part of a result read from the market data: when its bars
// are gone, the chart says so and the rest of the page (the backtest's own) stays.
function barsGone(result) {
  chart("chart-candles").classList.add("gone");
  chart("chart-candles").replaceChildren(el("p", { class: "message gone", id: "candles-gone",
    text: `The bars of ${result.symbol} are no longer stored, so its price chart cannot be drawn. `
      + "The statistics, equity, drawdown and trades are this backtest's own and stay as they were." }));
}

// The run's range of bars through `bars`, or null when the symbol is no longer stored
// (asked of the catalog first, so a deleted symbol costs no failed request).
async function storedBars(result, bars) {
  const symbols = await api("/api/market-data/symbols");
  const entry = symbols.find((stored) => stored.symbol === result.symbol);
  if (!entry) return null;
  if (result.data_version !== null && result.data_version !== undefined && entry.version !== result.data_version) {
    chart("chart-candles").before(el("p", { class: "message", id: "candles-replaced",
      text: `${result.symbol}'s bars were replaced after this run (it used version ${result.data_version}, `
        + `version ${entry.version} is stored): the candles are today's bars, the rest is the run's own.` }));
  }
  return bars(result.start, result.end).catch((error) => {
    if (error.status === 404) return null;  // deleted meanwhile
    throw error;
  });
}

async function drawCandles(backtest, result, axis) {
  // The run's bars with the indicator lines its rules use.
  const bars = (start, end) => api(`/api/backtest/${backtest.id}/candles?${new URLSearchParams(
    { start, end, max_points: String(CANDLES) })}`);
  const [candles, trades] = await Promise.all([storedBars(result, bars), allTrades(backtest.id, result)]);
  if (candles === null) { barsGone(result); return; }
  const shown = trades.filter((t) => !t.symbol || t.symbol === result.symbol);  // a portfolio's first
  candleChart(chart("chart-candles"), result.symbol, candles, shown, { axis, loadFiner: bars, maxPoints: CANDLES });
  performance.mark("candles-drawn");
}

async function tradesTable(id, result, axis) {
  const holder = document.getElementById("trades");
  const total = result.total_trades;
  let offset = 0;
  const load = async () => {
    const inline = offset + PAGE <= result.trades.length;
    const trades = inline ? result.trades.slice(offset, offset + PAGE)
      : (await api(`/api/backtest/${id}/trades?offset=${offset}&limit=${PAGE}`)).trades;
    const rows = trades.map((t) => [tradeLink(t, axis), t.entry_time.slice(0, 16).replace("T", " "),
      t.exit_time.slice(0, 16).replace("T", " "), formatValue("entry_price", t.entry_price), formatValue("exit_price", t.exit_price),
      formatValue("pnl", t.pnl), formatValue("return_fraction", t.return_fraction), t.exit_reason, ...tradeExtraCells(t)]);
    holder.replaceChildren(
      table(["Side", "Entry", "Exit", "Entry price", "Exit price", "P&L", "Return", "Why", ...TRADE_EXTRA_HEADERS], rows),
      pager(offset, total, (next) => { offset = next; load(); }));
  };
  await load();
}

// A trade's side, as a button that shows the trade on the charts with some room around it.
function tradeLink(trade, axis) {
  const [entry, exit] = [Date.parse(trade.entry_time), Date.parse(trade.exit_time)];
  const room = Math.max(exit - entry, 3_600_000) * 2;
  return el("button", { class: "link", type: "button", text: trade.symbol ? `${trade.side} ${trade.symbol}` : trade.side, title: "Show on the charts",
    onclick: () => {
      axis.show(new Date(entry - room).toISOString(), new Date(exit + room).toISOString());
      document.getElementById("chart-candles").scrollIntoView({ block: "center" });
    } });
}

function pager(offset, total, go) {
  return el("div", { class: "pager" },
    el("button", { class: "secondary", type: "button", disabled: offset === 0, text: "Previous",
      onclick: () => go(Math.max(0, offset - PAGE)) }),
    el("span", { class: "muted", text: `${total ? offset + 1 : 0}–${Math.min(offset + PAGE, total)} of ${total}` }),
    el("button", { class: "secondary", type: "button", disabled: offset + PAGE >= total, text: "Next",
      onclick: () => go(offset + PAGE) }));
}

function optimizationParts(backtest) {
  const o = backtest.optimization;
  const ranking = el("div", { id: "ranking" });
  let offset = 0;
  const order = { sort: "rank", descending: false };
  const load = async () => {
    const query = new URLSearchParams({ offset, limit: PAGE, sort: order.sort, descending: order.descending });
    const page = await api(`/api/backtest/${backtest.id}/ranking?${query}`);
    const names = Object.keys(o.best_parameters).filter((name) => page.rows[0] && name in page.rows[0].parameters);
    const sortable = (text, sort) => sortHeader(text, sort, order, () => { offset = 0; load(); });
    ranking.replaceChildren(table([sortable("Rank", "rank"), ...names, sortable("Objective", "objective"),
      sortable("Return", "total_return"), sortable("Sharpe", "sharpe_ratio"), sortable("Max drawdown", "max_drawdown"),
      sortable("Trades", "total_trades"), ""],
      page.rows.map((row) => [row.rank, ...names.map((n) => row.parameters[n]), formatValue(o.objective, row.objective),
        formatValue("total_return", row.total_return), formatValue("sharpe_ratio", row.sharpe_ratio),
        formatValue("max_drawdown", row.max_drawdown), row.total_trades,
        el("button", { class: "link", type: "button", text: "Backtest it", onclick: () => backtestWith(backtest, row.parameters) })])),
    pager(offset, page.total, (next) => { offset = next; load(); }));
  };
  load();
  return [
    el("h2", { text: `${o.combinations.toLocaleString("en")} combinations ranked by ${label(o.objective)}` }),
    el("p", {}, "Best: ", el("strong", { id: "best-parameters", text: assignments(o.best_parameters) }), " ",
      el("button", { class: "primary", type: "button", id: "open-best", text: "Open the best as a backtest",
        onclick: () => backtestWith(backtest, o.best_parameters) })),
    ...honestyParts(o, el),
    el("div", { class: "chart", id: "chart-heatmap" }),
    el("div", { class: "actions" },
      el("button", { class: "secondary", type: "button", text: "Ranking as CSV",
        onclick: () => download(`/api/backtest/${backtest.id}/ranking.csv`, `ranking-${backtest.id}.csv`) })),
    ranking,
  ];
}

// A column header that sorts the ranking by `sort`: a first click in the column's natural
// order (rank ascending, a statistic largest first), the next one reversed.
function sortHeader(text, sort, order, reload) {
  const active = order.sort === sort;
  const arrow = active ? (order.descending ? " ▼" : " ▲") : "";
  return el("button", { class: "sort link", type: "button", "data-sort": sort, "aria-pressed": active ? "true" : "false",
    title: `sort by ${text.toLowerCase()}`, text: text + arrow,
    onclick: () => {
      order.descending = active ? !order.descending : sort !== "rank";
      order.sort = sort;
      reload();
    } });
}

function drawHeatmap(o) {
  const h = o.heatmap;
  if (!h.y) {
    barChart(chart("chart-heatmap"), { x: h.x_values, y: h.values[0], xName: h.x, yName: label(o.objective) });
    return;
  }
  heatmapChart(chart("chart-heatmap"), { x: h.x_values, y: h.y_values, z: h.values, xName: h.x, yName: h.y,
    zName: label(o.objective) });
}

async function backtestWith(optimization, parameters) {
  const p = optimization.params;
  const body = { start_date: p.start_date, end_date: p.end_date, initial_capital: p.initial_capital,
    timeframe: p.timeframe, symbol: p.symbol, costs: p.costs, parameters: { ...p.parameters, ...parameters } };
  const started = await api(`/api/strategy/${optimization.strategy_id}/backtest`, { method: "POST", json: body });
  location.hash = `#/backtest/${started.id}`;
}

// ---- compare -------------------------------------------------------------------

async function comparePage(ids) {
  const backtests = await Promise.all(ids.split(",").slice(0, 5).map((id) => api(`/api/backtest/${id}`)));
  const done = backtests.filter((b) => b.result);
  show(el("h1", { text: `Comparing ${done.length} backtests` }),
    el("div", { class: "chart", id: "chart-compare" }),
    compareInputs(done),
    table(["Statistic", ...done.map((b, i) => `#${i + 1} ${assignments(ranWith(b)) || b.id.slice(0, 8)}`)],
      HEADLINE.map((name) => [label(name), ...done.map((b) => formatValue(name, b.result[name]))])));
  const colors = ["#2563eb", "#dc2626", "#15803d", "#9333ea", "#ea580c"];
  lineChart(chart("chart-compare"), done.map((b, i) => ({ x: b.result.equity_curve.time, y: b.result.equity_curve.equity,
    color: colors[i], name: `#${i + 1} ${b.result.symbol} ${assignments(ranWith(b))}` })));
}

// The runs' inputs side by side, one row per fact any of them has.
function compareInputs(backtests) {
  const facts = backtests.map((b) => new Map(runFacts(b)));
  const names = [...new Set(facts.flatMap((f) => [...f.keys()]))];
  const holder = table(["Input", ...backtests.map((b, i) => `#${i + 1}`)],
    names.map((name) => [name, ...facts.map((f) => f.get(name) ?? "")]));
  holder.id = "compare-inputs";
  return holder;
}

// ---- market data ---------------------------------------------------------------

async function marketPage() {
  const me = await api("/api/me");
  const note = message();
  const listing = el("div", { id: "symbols" });
  const list = async () => {
    const symbols = await api("/api/market-data/symbols");
    listing.replaceChildren(table(["Symbol", "Timeframe", "From", "To", "Bars", "Version", "Owner", ""], symbols.map((s) =>
      [s.symbol, s.timeframe, s.first.slice(0, 10), s.last.slice(0, 10), s.rows.toLocaleString("en"), s.version,
        s.owner_id === me.id ? "you" : s.owner, s.owner_id === me.id ? symbolDelete(s, marketPage, (text, kind) => say(note, text, kind)) : ""])));
  };
  await list();
  show(el("h1", { text: "Market data" }), listing, note,
    ...uploadSection({ el, table, say, message, token: () => localStorage.getItem(TOKEN_KEY), onStored: list }));
}

// ---- routing --------------------------------------------------------------------

async function route() {
  const signedIn = Boolean(localStorage.getItem(TOKEN_KEY));
  document.getElementById("nav").hidden = !signedIn;
  delete document.body.dataset.drawn;
  const [, page, argument] = (location.hash || "#/strategies").split("/");
  try {
    if (!signedIn || page === "signin") return signInPage();
    if (page === "strategy") return await strategyPage(argument);
    if (page === "backtest") return await backtestPage(argument);
    if (page === "compare") return await comparePage(argument);
    if (page === "market") return await marketPage();
    return await strategiesPage();
  } catch (error) {
    if (error.status !== 401) show(el("h1", { text: "Something went wrong" }), el("p", { class: "message bad", text: error.message }));
  }
}

document.getElementById("sign-out").addEventListener("click", async () => {
  // Revoked on the server first: a copy of the token left anywhere no longer works.
  await api("/api/session", { method: "DELETE" }).catch(() => null);
  localStorage.removeItem(TOKEN_KEY);
  location.hash = "#/signin";
});
window.addEventListener("hashchange", route);
useTools({ el, api });
route();
