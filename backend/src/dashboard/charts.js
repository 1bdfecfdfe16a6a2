// The heatmap (and its one-row form, bars) of an optimization, drawn on a canvas:
// charts over time are in time_charts.js. Each chart's element keeps what it draws in
// `data`.

const INK = "#1d2433";
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

export function numberLabel(value) {
  const size = Math.abs(value);
  if (size >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (size >= 1e4) return `${(value / 1e3).toFixed(0)}k`;
  return size >= 100 ? value.toFixed(0) : value.toPrecision(3);
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
  heatmapHover(node, { x, y, z, xName, yName, zName });
}

function cellText(value) {
  if (value === null || value === undefined) return "no value";
  return value.toLocaleString("en", { maximumFractionDigits: 4 });
}

// The value under the pointer, in a tooltip next to it (and as the canvas's title).
function heatmapHover(node, { x, y, z, xName, yName, zName }) {
  const canvas = node.querySelector("canvas");
  const tip = document.createElement("div");
  tip.className = "chart-tip";
  tip.setAttribute("role", "tooltip");
  tip.hidden = true;
  node.style.position = "relative";
  node.append(tip);
  canvas.addEventListener("mousemove", (event) => {
    const box = canvas.getBoundingClientRect();
    const cellW = (box.width - PAD.left - 70) / x.length;
    const cellH = (box.height - PAD.top - PAD.bottom) / y.length;
    const j = Math.floor((event.clientX - box.left - PAD.left) / cellW);
    const i = Math.floor((box.bottom - PAD.bottom - event.clientY) / cellH);
    if (i < 0 || j < 0 || i >= y.length || j >= x.length) { tip.hidden = true; canvas.title = ""; return; }
    const where = yName ? `${xName} ${x[j]}, ${yName} ${y[i]}` : `${xName} ${x[j]}`;
    tip.textContent = `${where}: ${zName} ${cellText(z[i][j])}`;
    canvas.title = tip.textContent;
    tip.style.left = `${Math.min(event.clientX - box.left + 12, box.width - 200)}px`;
    tip.style.top = `${event.clientY - box.top + 12}px`;
    tip.hidden = false;
  });
  canvas.addEventListener("mouseleave", () => { tip.hidden = true; });
}

/** Bars of one value per x (a sweep over one parameter). */
export function barChart(node, { x, y, xName, yName }) {
  heatmapChart(node, { x, y: [yName], z: [y], xName, yName: "", zName: yName });
  node.data = [{ type: "bar", x, y }];
}
