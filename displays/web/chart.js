// SVG line charts that are built once and then only have their path data
// and labels replaced: nothing accumulates in the DOM over weeks.
import { num } from '/static/hub/format.js';

const NS = 'http://www.w3.org/2000/svg';

function el(name, attrs = {}, parent) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

// lineChart creates a chart with one path per series ({key, label, cls})
// in container; update(points) redraws it from [{label, [key]: number}].
export function lineChart(container, series, { width = 600, height = 220, yTicks = 4 } = {}) {
  const pad = { l: 44, r: 10, t: 10, b: 26 };
  const svg = el('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', preserveAspectRatio: 'none', role: 'img' });
  container.appendChild(svg);
  const grid = el('g', { class: 'grid' }, svg);
  const ticks = [];
  for (let i = 0; i <= yTicks; i++) {
    const y = pad.t + ((height - pad.t - pad.b) * i) / yTicks;
    el('line', { x1: pad.l, x2: width - pad.r, y1: y, y2: y }, grid);
    ticks.push(el('text', { x: pad.l - 6, y: y + 5, 'text-anchor': 'end' }, grid));
  }
  const xFirst = el('text', { x: pad.l, y: height - 4, 'text-anchor': 'start' }, grid);
  const xLast = el('text', { x: width - pad.r, y: height - 4, 'text-anchor': 'end' }, grid);
  const paths = series.map((s) => el('path', { class: `line ${s.cls}`, fill: 'none' }, svg));
  const dots = series.map((s) => el('circle', { class: `dot ${s.cls}`, r: 4 }, svg));

  function update(points) {
    const n = points.length;
    let maxV = 0;
    for (const p of points) for (const s of series) maxV = Math.max(maxV, Number(p[s.key]) || 0);
    const top = niceCeil(maxV / yTicks) * yTicks; // ticks on round numbers
    ticks.forEach((t, i) => { t.textContent = fmtTick((top * (yTicks - i)) / yTicks); });
    const x = (i) => pad.l + (n <= 1 ? 0 : ((width - pad.l - pad.r) * i) / (n - 1));
    const y = (v) => pad.t + (height - pad.t - pad.b) * (1 - (top ? v / top : 0));
    series.forEach((s, si) => {
      let d = '';
      points.forEach((p, i) => { d += `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(Number(p[s.key]) || 0).toFixed(1)}`; });
      paths[si].setAttribute('d', d);
      if (n) {
        dots[si].setAttribute('cx', x(n - 1).toFixed(1));
        dots[si].setAttribute('cy', y(Number(points[n - 1][s.key]) || 0).toFixed(1));
        dots[si].style.display = '';
      } else {
        dots[si].style.display = 'none';
      }
    });
    xFirst.textContent = n ? points[0].label : '';
    xLast.textContent = n ? points[n - 1].label : '';
  }
  return { update };
}

function niceCeil(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmtTick(v) {
  return num(v);
}
