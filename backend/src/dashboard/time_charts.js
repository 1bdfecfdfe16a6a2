// Charts over time (equity, drawdown, price with trades, comparisons), drawn by
// TradingView's lightweight-charts as the API serves it from its npm package.
//
// The charts of one page share a time axis (`TimeAxis`): zooming or panning one (wheel,
// drag, pinch; focused, the arrows, + - and 0) moves the others, their plots are as wide
// (price scales of one width), and the crosshair over one stands at the same time in
// each, every legend showing the values there. The price chart asks for finer candles when zoomed
// past the resolution it holds, thins its trade markers when they are dense, and draws
// each trade in view from entry to exit, green when it made money and red when not.
// Each chart's element keeps what it shows in `data` (traces with `x` and `y`).

import {
  BaselineSeries, CandlestickSeries, CrosshairMode, LineSeries, createChart, createSeriesMarkers,
} from "/vendor/lightweight-charts/dist/lightweight-charts.standalone.production.mjs";
import { shown } from "./format.js";

const INK = "#1d2433";
const MUTED = "#5b6475";
const GRID = "#eef1f6";
const RISE = "#15803d";
const FALL = "#b91c1c";
// At most this many trade markers show at once; denser trades are thinned evenly.
const SHOWN_MARKERS = 400;
// Entry-to-exit lines are drawn while no more trades than this are in view.
const SHOWN_TRADE_LINES = 60;
// Finer candles are asked for once fewer than this share of `max_points` are in view.
const REFINE_BELOW = 0.5;
const SETTLE_MS = 200;
const LINE_COLORS = ["#2563eb", "#f59e0b", "#9333ea", "#0891b2", "#db2777", "#65a30d", "#ea580c", "#475569"];
// Each indicator that is not a price (an RSI, a MACD) gets a pane this high below the candles.
const PANE_PX = 110;
// Every chart's price scale is at least this wide, so the plots of a page line up.
const PRICE_SCALE_PX = 96;

const secondsOf = (iso) => Math.floor(Date.parse(iso) / 1000);
const isoOf = (seconds) => new Date(seconds * 1000).toISOString();

export function percentText(value) { return shown("percent", value); }

export function priceText(value) { return shown("price", value); }

/** Points at strictly increasing times, a later value replacing one at the same second;
 * null values become gaps. */
function points(times, values) {
  const out = [];
  for (let i = 0; i < times.length; i++) {
    const time = secondsOf(times[i]);
    const point = values[i] === null || values[i] === undefined ? { time } : { time, value: values[i] };
    const last = out[out.length - 1];
    if (last && last.time > time) continue;
    if (last && last.time === time) out[out.length - 1] = point;
    else out.push(point);
  }
  return out;
}

function intraday(times) {
  for (let i = 1; i < Math.min(times.length, 50); i++) {
    if (secondsOf(times[i]) - secondsOf(times[i - 1]) < 86_400) return true;
  }
  return false;
}

/** The charts of one page on one time axis: the chart being moved leads the others,
 * and the one under the pointer places the others' crosshairs. */
export class TimeAxis {
  constructor() {
    this.charts = [];
    this.leader = null;
    this.hovered = null;
    this.crosshairSeries = new Map();  // chart -> the series its crosshair sits on
    this.nodes = new Map();  // chart -> its element (whose legend shows the values)
  }

  /** `series`: the chart's main series, where another chart's crosshair puts its own. */
  join(node, chart, series) {
    this.charts.push(chart);
    this.crosshairSeries.set(chart, series);
    this.nodes.set(chart, node);
    const lead = () => { this.leader = chart; };
    for (const event of ["pointerdown", "wheel", "touchstart", "keydown"]) {
      node.addEventListener(event, lead, { capture: true, passive: true });
    }
    chart.timeScale().subscribeVisibleTimeRangeChange((range) => {
      if (chart !== this.leader || !range) return;
      for (const other of this.charts) if (other !== chart) showRange(other, range);
    });
    node.addEventListener("pointerenter", () => { this.hovered = chart; });
    node.addEventListener("pointerleave", () => {
      if (this.hovered === chart) this.hovered = null;
      this.crosshairAt(chart, null);
    });
    chart.subscribeCrosshairMove((param) => {
      if (chart === this.hovered) this.crosshairAt(chart, param.time ?? null);
    });
  }

  /** The other charts' crosshairs and legends at `time` (seconds), or cleared (null). */
  crosshairAt(source, time) {
    for (const other of this.charts) {
      if (other === source) continue;
      const series = this.crosshairSeries.get(other);
      const point = time === null ? null : pointAt(series, time);
      if (point) other.setCrosshairPosition(point.value, point.time, series);
      else other.clearCrosshairPosition();
      this.nodes.get(other).legendAt?.(point ? point.time : null);
    }
  }

  /** Every chart of the axis shows `start` to `end` (ISO times). */
  show(start, end) {
    this.leader = null;
    const range = { from: secondsOf(start), to: secondsOf(end) };
    for (const chart of this.charts) showRange(chart, range);
  }
}

/** The series' last data item at or before `time` (seconds); undefined if none. */
function dataAt(series, time) {
  const data = series.data();
  let low = 0;
  let high = data.length - 1;
  let found;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (data[middle].time <= time) { found = data[middle]; low = middle + 1; } else high = middle - 1;
  }
  return found;
}

/** Where the series' crosshair stands at `time`: {time, value}; null if it has no value. */
function pointAt(series, time) {
  const found = dataAt(series, time);
  const value = found?.value ?? found?.close;
  return value === undefined ? null : { time: found.time, value };
}

function showRange(chart, range) {
  try {
    chart.timeScale().setVisibleRange(range);
  } catch {
    // a chart whose data has not arrived yet keeps its own range
  }
}

function newChart(node, { timeVisible, priceFormatter }) {
  node.chart?.remove();
  node.replaceChildren();
  const chart = createChart(node, {
    autoSize: true,
    // The page's footer carries the library's attribution notice and link; the logo's
    // own inline <style> would be refused by the Content-Security-Policy.
    layout: { textColor: MUTED, fontSize: 11, fontFamily: "system-ui, sans-serif", attributionLogo: false },
    grid: { vertLines: { color: GRID }, horzLines: { color: GRID } },
    crosshair: { mode: CrosshairMode.Normal },
    rightPriceScale: { borderColor: GRID, minimumWidth: PRICE_SCALE_PX },
    // Everything fits at once, however many candles the finer ones added.
    timeScale: { borderColor: GRID, timeVisible, secondsVisible: false, minBarSpacing: 0.05 },
    localization: { priceFormatter },
  });
  node.chart = chart;
  node.tabIndex = 0;
  node.setAttribute("role", "img");
  node.onkeydown = (event) => {
    const action = KEYS[event.key];
    if (!action) return;
    event.preventDefault();
    const scale = chart.timeScale();
    const range = scale.getVisibleLogicalRange();
    if (range) action(scale, range, range.to - range.from);
  };
  return chart;
}

// Focused, a chart pans with the arrows, zooms with + and -, and shows everything on 0.
const KEYS = {
  ArrowLeft: (scale, { from, to }, span) => scale.setVisibleLogicalRange({ from: from - span / 5, to: to - span / 5 }),
  ArrowRight: (scale, { from, to }, span) => scale.setVisibleLogicalRange({ from: from + span / 5, to: to + span / 5 }),
  "+": (scale, { from, to }, span) => scale.setVisibleLogicalRange({ from: from + span / 8, to: to - span / 8 }),
  "-": (scale, { from, to }, span) => scale.setVisibleLogicalRange({ from: from - span / 6, to: to + span / 6 }),
  0: (scale) => scale.fitContent(),
};
KEYS["="] = KEYS["+"];

/** The legend: each entry's name and, under the crosshair, its value there. */
function legend(node, chart, entries) {
  const box = document.createElement("div");
  box.className = "chart-legend";
  node.append(box);
  const render = (data) => box.replaceChildren(...entries.map((entry) => {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = entry.color;
    const value = data ? entry.text(data.get(entry.series)) : "";
    item.append(swatch, value ? `${entry.name} ${value}` : entry.name);
    return item;
  }));
  chart.subscribeCrosshairMove((param) => render(param.time === undefined ? null : param.seriesData));
  // Another chart's crosshair, placed here at `time` (null: gone).
  node.legendAt = (time) => render(time === null ? null
    : new Map(entries.map((entry) => [entry.series, dataAt(entry.series, time)])));
  render(null);
}

/** Lines over time: series [{name, color, x (ISO times), y, fill}]; `fill` shades the
 * area between the line and zero. */
export function lineChart(node, series, { percent = false, axis = null } = {}) {
  const format = percent ? percentText : priceText;
  const chart = newChart(node, { timeVisible: intraday(series[0]?.x ?? []), priceFormatter: format });
  node.data = series.map(({ name, color, x, y }) => ({ type: "line", name, color, x, y }));
  const entries = series.map(({ name, color, x, y, fill }) => {
    const line = fill
      ? chart.addSeries(BaselineSeries, {
        baseValue: { type: "price", price: 0 },
        topLineColor: color, topFillColor1: `${color}00`, topFillColor2: `${color}00`,
        bottomLineColor: color, bottomFillColor1: `${color}40`, bottomFillColor2: `${color}40`,
        lineWidth: 2, priceLineVisible: false,
      })
      : chart.addSeries(LineSeries, { color, lineWidth: 2, priceLineVisible: false });
    line.setData(points(x, y));
    return { name, color, series: line, text: (point) => (point && "value" in point ? format(point.value) : "") };
  });
  legend(node, chart, entries);
  chart.timeScale().fitContent();
  axis?.join(node, chart, entries[0].series);
  return chart;
}

/** The index of the last of `times` (ascending seconds) at or before `time`, or -1. */
function lastAtOrBefore(times, time) {
  let low = 0;
  let high = times.length - 1;
  let found = -1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (times[middle] <= time) { found = middle; low = middle + 1; } else high = middle - 1;
  }
  return found;
}

function candlePoints(candles) {
  return candles.time.map((time, i) => ({ time: secondsOf(time), open: candles.open[i],
    high: candles.high[i], low: candles.low[i], close: candles.close[i] }));
}

/** Each indicator line's points, at the candles' times (gaps while it warms up). */
function linePoints(candles) {
  return (candles.lines ?? []).map((line) => candles.time.map((time, i) =>
    (line.values[i] === null ? { time: secondsOf(time) } : { time: secondsOf(time), value: line.values[i] })));
}

/** `base` with `fine` in place of its points from fine's first time to its last. */
function spliced(base, fine) {
  if (!fine.length) return base;
  const [from, to] = [fine[0].time, fine[fine.length - 1].time];
  return [...base.filter((p) => p.time < from), ...fine, ...base.filter((p) => p.time > to)];
}

/** Candles with the trades and the indicator lines over them. `candles` is the candles
 * endpoint's answer for the whole range (with `lines`: over the price when they are
 * prices, in panes of their own below when not); `loadFiner(start, end)` answers the
 * same for a narrower one; `trades` have entry/exit times and prices and a pnl. */
export function candleChart(node, name, candles, trades, { axis = null, loadFiner = null, maxPoints = 2000 } = {}) {
  const chart = newChart(node, { timeVisible: intraday(candles.time), priceFormatter: priceText });
  const ownPanes = (candles.lines ?? []).filter((line) => !line.on_price_scale).length;
  if (ownPanes) node.style.height = `${node.clientHeight + ownPanes * PANE_PX}px`;
  let pane = 0;
  const lines = (candles.lines ?? []).map((line, i) => ({
    name: line.name,
    color: LINE_COLORS[i % LINE_COLORS.length],
    series: chart.addSeries(LineSeries, { color: LINE_COLORS[i % LINE_COLORS.length], lineWidth: 1,
      priceLineVisible: false, lastValueVisible: false, crosshairMarkerVisible: false },
    line.on_price_scale ? 0 : ++pane),
    text: (point) => (point && "value" in point ? priceText(point.value) : ""),
  }));
  const series = chart.addSeries(CandlestickSeries, {
    upColor: RISE, downColor: FALL, borderVisible: false, wickUpColor: RISE, wickDownColor: FALL,
    priceLineVisible: false,
  });
  const markers = createSeriesMarkers(series, []);
  const base = candlePoints(candles);
  const baseLines = linePoints(candles);
  let times = base.map((point) => point.time);
  let detail = null;  // {from, to}: the range the finer candles cover
  let tradeLines = [];
  const entries = trades.map((trade) => secondsOf(trade.entry_time));
  const exits = trades.map((trade) => secondsOf(trade.exit_time));
  node.data = [
    { type: "candlestick", name, x: candles.time },
    { type: "markers", name: "entries", x: trades.map((t) => t.entry_time), y: trades.map((t) => t.entry_price) },
    { type: "markers", name: "exits", x: trades.map((t) => t.exit_time), y: trades.map((t) => t.exit_price) },
  ];
  node.lineNames = lines.map((line) => line.name);
  node.visibleCandles = () => {
    const range = chart.timeScale().getVisibleRange();
    return range ? times.filter((time) => time >= range.from && time <= range.to).length : 0;
  };

  // Trades are drawn at the candle holding their time, so they add no slot to the axis.
  const candleTime = (time) => times[Math.max(0, lastAtOrBefore(times, time))];
  const inView = (range) => {
    const first = lastAtOrBefore(exits, range.from - 1) + 1;
    const last = lastAtOrBefore(entries, range.to);
    return { first, count: Math.max(0, last - first + 1) };
  };
  const drawTrades = () => {
    const range = chart.timeScale().getVisibleRange() ?? { from: times[0], to: times[times.length - 1] };
    const { first, count } = inView(range);
    const step = Math.max(1, Math.ceil((2 * count) / SHOWN_MARKERS));
    const shownMarkers = [];
    for (let i = first; i < first + count; i += step) {
      const trade = trades[i];
      const long = trade.side === "long";
      shownMarkers.push(
        { time: candleTime(entries[i]), position: long ? "belowBar" : "aboveBar", color: RISE,
          shape: long ? "arrowUp" : "arrowDown" },
        { time: candleTime(exits[i]), position: long ? "aboveBar" : "belowBar", color: FALL,
          shape: long ? "arrowDown" : "arrowUp" });
    }
    shownMarkers.sort((a, b) => a.time - b.time);
    markers.setMarkers(shownMarkers);
    for (const line of tradeLines) chart.removeSeries(line);
    tradeLines = [];
    if (count > SHOWN_TRADE_LINES) return;
    for (let i = first; i < first + count; i++) {
      const [from, to] = [candleTime(entries[i]), candleTime(exits[i])];
      if (from >= to) continue;
      const line = chart.addSeries(LineSeries, { color: trades[i].pnl > 0 ? RISE : FALL, lineWidth: 2,
        lineStyle: 2, priceLineVisible: false, lastValueVisible: false, crosshairMarkerVisible: false });
      line.setData([{ time: from, value: trades[i].entry_price }, { time: to, value: trades[i].exit_price }]);
      tradeLines.push(line);
    }
  };
  const setCandles = (next, nextLines) => {
    const range = chart.timeScale().getVisibleRange();
    times = next.map((point) => point.time);
    series.setData(next);
    lines.forEach((line, i) => line.series.setData(nextLines[i]));
    node.data[0].x = times.map(isoOf);
    if (range) showRange(chart, range);
  };
  const refine = async () => {
    const range = chart.timeScale().getVisibleRange();
    if (!range || !loadFiner || candles.bars_per_candle <= 1) return;
    const covered = detail && detail.from <= range.from && detail.to >= range.to;
    const visible = times.filter((time) => time >= range.from && time <= range.to).length;
    if (covered || visible >= REFINE_BELOW * maxPoints) return;
    const span = range.to - range.from;
    const wanted = { from: Math.floor(range.from - span / 2), to: Math.ceil(range.to + span / 2) };
    const finer = await loadFiner(isoOf(wanted.from), isoOf(wanted.to));
    if (!finer.time.length) return;
    const fine = candlePoints(finer);
    detail = { from: fine[0].time, to: fine[fine.length - 1].time };
    setCandles(spliced(base, fine), linePoints(finer).map((points, i) => spliced(baseLines[i], points)));
    drawTrades();
    node.dispatchEvent(new CustomEvent("candles-refined"));
  };
  let settling = null;
  chart.timeScale().subscribeVisibleTimeRangeChange(() => {
    clearTimeout(settling);
    settling = setTimeout(() => { drawTrades(); refine().catch(() => {}); }, SETTLE_MS);
  });
  setCandles(base, baseLines);
  legend(node, chart, [{ name, color: INK, series, text: (bar) => (bar && "open" in bar
    ? `O ${priceText(bar.open)} H ${priceText(bar.high)} L ${priceText(bar.low)} C ${priceText(bar.close)}` : "") },
  ...lines]);
  chart.timeScale().fitContent();
  drawTrades();
  axis?.join(node, chart, series);
  return chart;
}
