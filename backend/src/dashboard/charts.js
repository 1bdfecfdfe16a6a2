// The dashboard's charts, drawn on a canvas: lines (filled to zero if asked), candles
// with trade markers, and a heatmap. A few kilobytes instead of a charting library's
// megabytes, so a result page draws as soon as its data arrives.
//
// Time charts zoom: the mouse wheel zooms around the pointer, dragging pans, a double
// click shows everything again; focused (Tab), + and - zoom, the arrows pan, 0 resets.
// Each chart's element keeps what it draws in `data` (traces with `x` and `y`).

const INK = "#1d2433";
const GRID = "#e3e7ef";
const MUTED = "#5b6475";
const PAD = { left: 64, right: 16, top: 26, bottom: 30 };
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];

export function canvasFor(node) {
  let canvas = node.querySelector("canvas");
  if (!canvas) {
    canvas = document.createElement("canvas");
    canvas.style.width = "100%";
    canvas.style.height = "100%";
    canvas.style.display = "block";
    node.replaceChildren(canvas);
  }
  const ratio = window.devicePixelRatio || 1;
  const width = node.clientWidth || 600;
  const height = node.clientHeight || 300;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const context = canvas.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  context.clearRect(0, 0, width, height);
  context.font = "11px system-ui, sans-serif";
  return { context, width, height, canvas };
}

function ticks(low, high, count) {
  const span = high - low || 1;
  const step = 10 ** Math.floor(Math.log10(span / count));
  const nice = [1, 2, 2.5, 5, 10].map((m) => m * step).find((s) => span / s <= count) || step * 10;
  const values = [];
  for (let value = Math.ceil(low / nice) * nice; value <= high + nice * 1e-9; value += nice) values.push(value);
  return values;
}

function dateLabel(ms, span) {
  const iso = new Date(ms).toISOString();
  return span < 3 * 86_400_000 ? iso.slice(5, 16).replace("T", " ") : iso.slice(0, 10);
}

export function numberLabel(value, percent) {
  if (percent) return `${(value * 100).toFixed(0)} %`;
  const size = Math.abs(value);
  if (size >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (size >= 1e4) return `${(value / 1e3).toFixed(0)}k`;
  return size >= 100 ? value.toFixed(0) : value.toPrecision(3);
}

function legend(context, entries) {
  let x = PAD.left;
  for (const { name, color } of entries) {
    context.fillStyle = color;
    context.fillRect(x, 8, 10, 10);
    context.fillStyle = INK;
    context.fillText(name, x + 14, 17);
    x += context.measureText(name).width + 32;
  }
}

// A time chart: `layers` draw themselves given the scales; the x-range is shared state.
function timeChart(node, traces, { drawLayers, yExtent, percent = false, legendEntries }) {
  const all = traces.flatMap((t) => t.t);
  const full = [Math.min(...all), Math.max(...all)];
  let range = [...full];
  node.data = traces.map(({ t, ...visible }) => visible);
  const draw = () => {
    const { context, width, height } = canvasFor(node);
    const plotWidth = width - PAD.left - PAD.right;
    const plotHeight = height - PAD.top - PAD.bottom;
    const [x0, x1] = range;
    const [low, high] = yExtent(x0, x1);
    const pad = (high - low) * 0.05 || Math.abs(high) * 0.05 || 1;
    const y0 = low - pad;
    const y1 = high + pad;
    const sx = (t) => PAD.left + ((t - x0) / (x1 - x0 || 1)) * plotWidth;
    const sy = (v) => PAD.top + ((y1 - v) / (y1 - y0 || 1)) * plotHeight;
    context.strokeStyle = GRID;
    context.fillStyle = MUTED;
    context.textAlign = "right";
    for (const value of ticks(y0, y1, 5)) {
      context.beginPath();
      context.moveTo(PAD.left, sy(value));
      context.lineTo(width - PAD.right, sy(value));
      context.stroke();
      context.fillText(numberLabel(value, percent), PAD.left - 6, sy(value) + 4);
    }
    context.textAlign = "center";
    const dates = Math.max(1, Math.min(5, Math.floor(plotWidth / 110)));  // labels never overlap
    for (let i = 0; i <= dates; i++) {
      const t = x0 + ((x1 - x0) * i) / dates;
      context.fillText(dateLabel(t, x1 - x0), Math.min(Math.max(sx(t), PAD.left + 30), width - 40), height - 10);
    }
    context.save();
    context.beginPath();
    context.rect(PAD.left, PAD.top, plotWidth, plotHeight);
    context.clip();
    drawLayers(context, { sx, sy, x0, x1, plotWidth });
    context.restore();
    context.textAlign = "left";
    legend(context, legendEntries);
  };
  const zoom = (factor, around) => {
    const [x0, x1] = range;
    const center = around ?? (x0 + x1) / 2;
    const span = Math.max((x1 - x0) * factor, (full[1] - full[0]) / 100_000);
    const left = center - ((center - x0) / (x1 - x0)) * span;
    range = clampRange([left, left + span]);
    draw();
  };
  const pan = (fraction) => {
    const shift = (range[1] - range[0]) * fraction;
    range = clampRange([range[0] + shift, range[1] + shift]);
    draw();
  };
  const clampRange = ([a, b]) => {
    const span = Math.min(b - a, full[1] - full[0]);
    const start = Math.min(Math.max(a, full[0]), full[1] - span);
    return [start, start + span];
  };
  const timeAt = (clientX) => {
    const box = node.getBoundingClientRect();
    const fraction = (clientX - box.left - PAD.left) / (box.width - PAD.left - PAD.right);
    return range[0] + fraction * (range[1] - range[0]);
  };
  node.tabIndex = 0;
  node.setAttribute("role", "img");
  node.onwheel = (event) => { event.preventDefault(); zoom(event.deltaY < 0 ? 0.8 : 1.25, timeAt(event.clientX)); };
  node.ondblclick = () => { range = [...full]; draw(); };
  node.onkeydown = (event) => {
    const actions = { "+": () => zoom(0.8), "=": () => zoom(0.8), "-": () => zoom(1.25),
      ArrowLeft: () => pan(-0.2), ArrowRight: () => pan(0.2), 0: () => { range = [...full]; draw(); } };
    if (actions[event.key]) { event.preventDefault(); actions[event.key](); }
  };
  let dragging = null;
  node.onpointerdown = (event) => { dragging = { x: event.clientX, range: [...range] }; node.setPointerCapture(event.pointerId); };
  node.onpointerup = () => { dragging = null; };
  node.onpointermove = (event) => {
    if (!dragging) return;
    const box = node.getBoundingClientRect();
    const perPixel = (dragging.range[1] - dragging.range[0]) / (box.width - PAD.left - PAD.right);
    const shift = (dragging.x - event.clientX) * perPixel;
    range = clampRange([dragging.range[0] + shift, dragging.range[1] + shift]);
    draw();
  };
  new ResizeObserver(() => draw()).observe(node);
  draw();
}

function visibleExtent(series, x0, x1) {
  let low = Infinity;
  let high = -Infinity;
  for (const { t, y } of series) {
    for (let i = 0; i < t.length; i++) {
      if (t[i] < x0 || t[i] > x1 || y[i] === null || y[i] === undefined) continue;
      if (y[i] < low) low = y[i];
      if (y[i] > high) high = y[i];
    }
  }
  return low <= high ? [low, high] : [0, 1];
}

/** Lines over time: series [{name, color, x (ISO times), y, fill}]. */
export function lineChart(node, series, { percent = false } = {}) {
  const traces = series.map((s) => ({ ...s, type: "line", t: s.x.map((x) => Date.parse(x)) }));
  timeChart(node, traces, {
    percent,
    legendEntries: series,
    yExtent: (x0, x1) => {
      const [low, high] = visibleExtent(traces, x0, x1);
      return traces.some((t) => t.fill) ? [Math.min(low, 0), Math.max(high, 0)] : [low, high];
    },
    drawLayers: (context, { sx, sy }) => {
      for (const trace of traces) {
        context.beginPath();
        trace.t.forEach((t, i) => (i ? context.lineTo(sx(t), sy(trace.y[i])) : context.moveTo(sx(t), sy(trace.y[i]))));
        context.strokeStyle = trace.color;
        context.lineWidth = 1.5;
        context.stroke();
        if (trace.fill) {
          context.lineTo(sx(trace.t[trace.t.length - 1]), sy(0));
          context.lineTo(sx(trace.t[0]), sy(0));
          context.closePath();
          context.globalAlpha = 0.25;
          context.fillStyle = trace.color;
          context.fill();
          context.globalAlpha = 1;
        }
      }
    },
  });
}

/** Candles ({time, open, high, low, close}) with markers [{name, color, up, x, y}]. */
export function candleChart(node, name, candles, markers) {
  const candleTrace = { type: "candlestick", name, x: candles.time, t: candles.time.map((x) => Date.parse(x)),
    open: candles.open, high: candles.high, low: candles.low, close: candles.close };
  const markerTraces = markers.map((m) => ({ ...m, type: "markers", t: m.x.map((x) => Date.parse(x)) }));
  timeChart(node, [candleTrace, ...markerTraces], {
    legendEntries: [{ name, color: INK }, ...markers],
    yExtent: (x0, x1) => {
      const [low] = visibleExtent([{ t: candleTrace.t, y: candles.low }], x0, x1);
      const [, high] = visibleExtent([{ t: candleTrace.t, y: candles.high }], x0, x1);
      return [low, high];
    },
    drawLayers: (context, { sx, sy, x0, x1, plotWidth }) => {
      const t = candleTrace.t;
      const shown = t.filter((time) => time >= x0 && time <= x1).length || 1;
      const body = Math.max(1, (plotWidth / shown) * 0.7);
      for (let i = 0; i < t.length; i++) {
        if (t[i] < x0 || t[i] > x1) continue;
        const x = sx(t[i]);
        const rising = candles.close[i] >= candles.open[i];
        context.strokeStyle = context.fillStyle = rising ? "#15803d" : "#b91c1c";
        context.beginPath();
        context.moveTo(x, sy(candles.high[i]));
        context.lineTo(x, sy(candles.low[i]));
        context.lineWidth = 1;
        context.stroke();
        const top = sy(Math.max(candles.open[i], candles.close[i]));
        context.fillRect(x - body / 2, top, body, Math.max(1, sy(Math.min(candles.open[i], candles.close[i])) - top));
      }
      for (const marker of markerTraces) {
        context.fillStyle = marker.color;
        for (let i = 0; i < marker.t.length; i++) {
          if (marker.t[i] < x0 || marker.t[i] > x1) continue;
          const x = sx(marker.t[i]);
          const y = sy(marker.y[i]) + (marker.up ? 9 : -9);
          context.beginPath();
          context.moveTo(x, marker.up ? y - 6 : y + 6);
          context.lineTo(x - 5, marker.up ? y + 3 : y - 3);
          context.lineTo(x + 5, marker.up ? y + 3 : y - 3);
          context.closePath();
          context.fill();
        }
      }
    },
  });
}

function viridis(fraction) {
  const position = Math.min(Math.max(fraction, 0), 1) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(position), VIRIDIS.length - 2);
  const f = position - i;
  const [a, b] = [VIRIDIS[i], VIRIDIS[i + 1]];
  return `rgb(${a.map((value, k) => Math.round(value + (b[k] - value) * f)).join(",")})`;
}

/** A heatmap: z[i][j] belongs to y[i] and x[j]; null cells are left grey. */
export function heatmapChart(node, { x, y, z, xName, yName, zName }) {
  node.data = [{ type: "heatmap", x, y, z }];
  node.setAttribute("role", "img");
  const values = z.flat().filter((v) => v !== null && v !== undefined);
  const [low, high] = values.length ? [Math.min(...values), Math.max(...values)] : [0, 1];
  const draw = () => {
    const { context, width, height } = canvasFor(node);
    const right = 70;
    const cellW = (width - PAD.left - right) / x.length;
    const cellH = (height - PAD.top - PAD.bottom) / y.length;
    for (let i = 0; i < y.length; i++) {
      for (let j = 0; j < x.length; j++) {
        const value = z[i][j];
        context.fillStyle = value === null || value === undefined ? "#f3f4f6" : viridis((value - low) / (high - low || 1));
        context.fillRect(PAD.left + j * cellW, height - PAD.bottom - (i + 1) * cellH, Math.ceil(cellW), Math.ceil(cellH));
      }
    }
    context.fillStyle = MUTED;
    context.textAlign = "center";
    const every = Math.ceil(x.length / 12);
    x.forEach((value, j) => { if (j % every === 0) context.fillText(String(value), PAD.left + (j + 0.5) * cellW, height - PAD.bottom + 14); });
    context.fillText(xName, PAD.left + (width - PAD.left - right) / 2, height - 4);
    context.textAlign = "right";
    const everyY = Math.ceil(y.length / 10);
    y.forEach((value, i) => { if (i % everyY === 0) context.fillText(String(value), PAD.left - 6, height - PAD.bottom - (i + 0.5) * cellH + 4); });
    context.save();
    context.translate(12, PAD.top + (height - PAD.top - PAD.bottom) / 2);
    context.rotate(-Math.PI / 2);
    context.textAlign = "center";
    context.fillText(yName, 0, 0);
    context.restore();
    const barTop = PAD.top;
    const barHeight = height - PAD.top - PAD.bottom;
    for (let k = 0; k < barHeight; k++) {
      context.fillStyle = viridis(1 - k / barHeight);
      context.fillRect(width - right + 12, barTop + k, 14, 1);
    }
    context.fillStyle = INK;
    context.textAlign = "left";
    context.fillText(numberLabel(high), width - right + 30, barTop + 8);
    context.fillText(numberLabel(low), width - right + 30, barTop + barHeight);
    context.fillText(zName, PAD.left, 16);
  };
  new ResizeObserver(() => draw()).observe(node);
  draw();
}

/** Bars of one value per x (a sweep over one parameter). */
export function barChart(node, { x, y, xName, yName }) {
  heatmapChart(node, { x, y: [yName], z: [y], xName, yName: "", zName: yName });
  node.data = [{ type: "bar", x, y }];
}
