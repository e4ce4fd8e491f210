// chart.js — the price-history chart: a step chart of price over time, drawn as inline SVG
// by this code alone (no library). The price holds from one entry to the next, so the line
// is flat between entries and steps at each one; it runs on to the chart's right edge (now)
// at the latest price; entries too close in time to tell apart (several changes on one
// day) are spread apart, so each still shows as a step. Each entry also gets one marker (<circle class="point">) with a
// tooltip. Colours and fonts come from the stylesheet (classes only, no style attributes).

import { formatDateTime, formatPrice, formatPriceShort, formatTick } from './format.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
const DAY_MS = 86400000;
const MARGIN = { top: 14, right: 18, bottom: 30, left: 70 };

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  for (const child of children) el.append(child);
  return el;
}

// About `count` round tick values covering [lo, hi] (1, 2 or 5 times a power of ten apart).
function niceTicks(lo, hi, count) {
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step / 1e6; v += step) ticks.push(v);
  return ticks;
}

// The price range shown: the prices with some air around them, never below 0.
function priceDomain(prices) {
  let lo = Math.min(...prices);
  let hi = Math.max(...prices);
  const pad = hi > lo ? (hi - lo) * 0.15 : Math.max(hi * 0.1, 1);
  lo = Math.max(0, lo - pad);
  hi += pad;
  return [lo, hi];
}

// Entries closer in time than the chart can show (several changes on one day, on a chart
// of months) would fall on one x: a column of dots. Each entry is moved right, as little as
// needed, to stand at least MIN_STEP px after the one before (and the last ones back left
// if that runs past `hi`), so each change reads as a step of its own. Returns new x's.
const MIN_STEP = 18;
function spreadApart(xs, lo, hi) {
  const out = xs.slice();
  const gap = Math.min(MIN_STEP, (hi - lo) / Math.max(out.length, 1));
  for (let i = 1; i < out.length; i++) out[i] = Math.max(out[i], out[i - 1] + gap);
  const right = hi - gap / 2;
  if (out.length && out[out.length - 1] > right) {
    out[out.length - 1] = right;
    for (let i = out.length - 2; i >= 0; i--) out[i] = Math.min(out[i], out[i + 1] - gap);
  }
  return out;
}

// An <svg> element: `history` is [{price_eur, created_date}] oldest first (at least one
// entry), `width` and `height` in CSS pixels, `now` the time of the right edge (ms).
export function priceStepChart(history, { width = 640, height = 260, now = Date.now() } = {}) {
  const points = history.map((p) => ({ t: Date.parse(p.created_date), price: p.price_eur, iso: p.created_date }));
  let t0 = points[0].t;
  let t1 = Math.max(now, points[points.length - 1].t);
  if (t1 - t0 < DAY_MS) {  // a single entry, or all on one day: show a day around them
    t0 -= DAY_MS / 2;
    t1 = t0 + DAY_MS;
  }
  const [p0, p1] = priceDomain(points.map((p) => p.price));
  const plotW = Math.max(width - MARGIN.left - MARGIN.right, 10);
  const plotH = Math.max(height - MARGIN.top - MARGIN.bottom, 10);
  const timeX = (t) => MARGIN.left + ((t - t0) / (t1 - t0)) * plotW;
  const xs = spreadApart(points.map((p) => timeX(p.t)), MARGIN.left, MARGIN.left + plotW);
  const x = timeX;
  const y = (price) => MARGIN.top + (1 - (price - p0) / (p1 - p0)) * plotH;
  const r = (v) => Math.round(v * 10) / 10;

  const first = points[0];
  const last = points[points.length - 1];
  const title = svg('title', { id: 'chart-title' });
  title.textContent = 'Price over time';
  const desc = svg('desc', { id: 'chart-desc' });
  desc.textContent = points.length === 1
    ? `One price: ${formatPrice(first.price)} since ${formatDateTime(first.iso)}.`
    : `${points.length} prices from ${formatPrice(first.price)} on ${formatDateTime(first.iso)} ` +
      `to ${formatPrice(last.price)} on ${formatDateTime(last.iso)}.`;

  const grid = svg('g', { class: 'chart-grid' });
  for (const value of niceTicks(p0, p1, 5)) {
    const label = svg('text', { x: MARGIN.left - 8, y: r(y(value)), class: 'chart-label chart-label-y' });
    label.textContent = formatPriceShort(value);
    grid.append(svg('line', { x1: MARGIN.left, x2: MARGIN.left + plotW, y1: r(y(value)), y2: r(y(value)) }), label);
  }
  const ticks = Math.max(1, Math.min(5, Math.floor(plotW / 140)));  // labels ~100px wide
  for (let i = 0; i <= ticks; i++) {
    const t = t0 + ((t1 - t0) * i) / ticks;
    const anchor = i === 0 ? 'start' : i === ticks ? 'end' : 'middle';
    const label = svg('text', {
      x: r(x(t)), y: MARGIN.top + plotH + 20, class: 'chart-label chart-label-x', 'text-anchor': anchor,
    });
    label.textContent = formatTick(t, t1 - t0);
    grid.append(label);
  }

  // M first H next-x V next-y ... H right edge: flat while a price holds, a step at each change.
  let d = `M${r(xs[0])},${r(y(first.price))}`;
  points.slice(1).forEach((p, i) => { d += `H${r(xs[i + 1])}V${r(y(p.price))}`; });
  d += `H${r(x(t1))}`;
  const line = svg('path', { d, class: 'chart-line' });

  const markers = svg('g', { class: 'chart-points' });
  points.forEach((p, i) => {
    const tip = svg('title');
    tip.textContent = `${formatDateTime(p.iso)}: ${formatPrice(p.price)}`;
    const cls = i === points.length - 1 ? 'point point-latest' : 'point';
    markers.append(svg('circle', { cx: r(xs[i]), cy: r(y(p.price)), r: 4, class: cls }, tip));
  });

  return svg('svg', {
    width, height, viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img',
    'aria-labelledby': 'chart-title chart-desc',
  }, title, desc, grid, line, markers);
}
