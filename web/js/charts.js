// charts.js -- hand-written SVG charts (no library, nothing fetched).
//
// Each chart is drawn at the width its container really has (ResizeObserver),
// so text stays at its CSS size at 1280 px and on a phone.  Every chart is
// role="img" with a text summary; the views also offer the numbers as tables.

import {h, svg, replace, nextId, SEVERITIES, SEVERITY_COLOR, SEVERITY_LABEL, sevRank, pct, num} from './dom.js';

const CHAR_W = 7.2; // average width of a 12 px character of the UI font

function fit(text, px, charW = CHAR_W) {
  const s = String(text);
  const max = Math.max(3, Math.floor(px / charW));
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** A box whose content draw(width) re-renders when its width changes. */
export function responsive(draw, cls = 'chart') {
  const box = h('div', {class: cls});
  let last = -1;
  const ro = new ResizeObserver(() => {
    if (!box.isConnected) {
      if (last >= 0) ro.disconnect();
      return;
    }
    const w = Math.floor(box.clientWidth);
    if (w <= 0 || Math.abs(w - last) < 4) return;
    last = w;
    replace(box, draw(w));
  });
  ro.observe(box);
  return box;
}

export function legend(items) {
  return h('ul', {class: 'legend'}, items.map(([label, color, cls]) =>
    h('li', {class: cls}, h('span', {class: 'swatch', style: {background: color}, 'aria-hidden': 'true'}), label)));
}

export function severityLegend() {
  return legend(SEVERITIES.map((s) => [SEVERITY_LABEL[s], SEVERITY_COLOR[s]]));
}

// ---- stacked horizontal bars: counts by severity per row ---------------------------------

/** rows: [{label, sub, counts: {severity: n}}] */
export function stackedBars(rows, {title}) {
  const summary = rows.map((r) => `${r.label}: ${SEVERITIES.filter((s) => r.counts[s])
    .map((s) => `${r.counts[s]} ${s}`).join(', ') || 'none'}`).join('; ');
  return h('figure', {class: 'figure'},
    responsive((w) => {
      const stacked = w < 520; // a phone: the label above its bar
      const labelW = stacked ? 0 : Math.min(230, Math.max(120, Math.round(w * 0.36)));
      const totW = 44;
      const barW = Math.max(40, w - labelW - totW - 8);
      const rowH = stacked ? 62 : 40;
      const barY = stacked ? 32 : 0;
      const max = Math.max(1, ...rows.map((r) => SEVERITIES.reduce((a, s) => a + (r.counts[s] || 0), 0)));
      const height = rows.length * rowH + 4;
      const g = [];
      rows.forEach((r, i) => {
        const y0 = i * rowH + 4;
        g.push(svg('text', {x: 0, y: y0 + 14, class: 'lbl'}, fit(r.label, (stacked ? w : labelW) - 8)));
        if (r.sub) g.push(svg('text', {x: 0, y: y0 + 29, class: 'sub'}, fit(r.sub, (stacked ? w : labelW) - 8, 6.4)));
        const y = y0 + barY;
        let x = labelW;
        let total = 0;
        for (const s of SEVERITIES) {
          const n = r.counts[s] || 0;
          if (!n) continue;
          total += n;
          const bw = Math.max(2, (n / max) * barW);
          g.push(svg('rect', {x, y: y + 4, width: bw, height: 22, fill: SEVERITY_COLOR[s], rx: 2},
            svg('title', null, `${r.label}: ${n} ${SEVERITY_LABEL[s].toLowerCase()}`)));
          x += bw;
        }
        if (!total) g.push(svg('rect', {x: labelW, y: y + 14, width: barW, height: 2, fill: '#cbd5e1'}));
        g.push(svg('text', {x: x + 6, y: y + 20, class: 'val'}, total ? num(total) : 'none'));
      });
      return svg('svg', {width: w, height, viewBox: `0 0 ${w} ${height}`, role: 'img', 'aria-label': `${title}. ${summary}`}, g);
    }),
    h('figcaption', null, severityLegend()));
}

// ---- heat map: rows (columns of a table) x metrics ---------------------------------------

const HEAT_STOPS = [[0, [254, 249, 195]], [0.25, [253, 186, 116]], [0.55, [234, 88, 12]], [1, [127, 29, 29]]];

// WCAG relative luminance: white text below 0.18, black above (both at least 4.5:1)
function luminance(rgb) {
  const [r, g, b] = rgb.map((v) => {
    const x = v / 255;
    return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

export function heatColor(ratio) {
  const t = Math.min(1, Math.sqrt(Math.max(0, ratio)));
  for (let i = 1; i < HEAT_STOPS.length; i++) {
    const [t1, c1] = HEAT_STOPS[i];
    const [t0, c0] = HEAT_STOPS[i - 1];
    if (t <= t1) {
      const f = (t - t0) / (t1 - t0);
      const c = c0.map((v, k) => Math.round(v + (c1[k] - v) * f));
      return {fill: `rgb(${c.join(',')})`, dark: luminance(c) < 0.18};
    }
  }
  return {fill: 'rgb(127,29,29)', dark: true};
}

/**
 * rows: [{label, sub, drift, cells: {key: {ratio, title}}, trend: [ratio...]}]
 * cols: [{key, label}]
 */
export function heatmap(rows, cols, opts) {
  return responsive((w) => drawHeatmap(rows, cols, opts, w < 600), 'chart heatmap-chart');
}

function drawHeatmap(rows, cols, {title, trendLabel}, narrow) {
  const labelW = narrow ? 124 : 236;
  const cellW = narrow ? 50 : 76;
  const cellH = 28;
  const headH = 34;
  const hasTrend = !narrow && rows.some((r) => r.trend && r.trend.length > 1);
  const trendW = hasTrend ? 110 : 0;
  const width = labelW + cols.length * cellW + trendW + 4;
  const height = headH + rows.length * cellH + 2;
  const g = [];
  cols.forEach((c, j) => {
    g.push(svg('text', {x: labelW + j * cellW + cellW / 2, y: 20, class: 'col-head', 'text-anchor': 'middle'},
      narrow && c.short ? c.short : c.label, narrow && c.short ? svg('title', null, c.label) : null));
  });
  if (hasTrend) g.push(svg('text', {x: labelW + cols.length * cellW + 8, y: 20, class: 'col-head'}, trendLabel || 'Trend'));
  rows.forEach((r, i) => {
    const y = headH + i * cellH;
    if (r.drift) {
      g.push(svg('rect', {x: 0, y, width: labelW - 4, height: cellH - 2, class: 'drift-row', rx: 3}));
      g.push(svg('rect', {x: 0, y, width: 4, height: cellH - 2, class: 'drift-mark'}));
    }
    const label = svg('text', {x: 10, y: y + 18, class: 'row-head'}, fit(r.label, labelW - (r.drift ? (narrow ? 16 : 70) : 16), 7.4),
      svg('title', null, r.label));
    g.push(label);
    if (r.drift && !narrow) {
      g.push(svg('text', {x: labelW - 10, y: y + 18, class: 'drift-tag', 'text-anchor': 'end'}, 'drift'));
    }
    cols.forEach((c, j) => {
      const cell = r.cells[c.key];
      const x = labelW + j * cellW;
      if (!cell || cell.ratio === null || cell.ratio === undefined) {
        g.push(svg('rect', {x: x + 1, y, width: cellW - 2, height: cellH - 2, class: 'cell-empty', rx: 2},
          svg('title', null, `${r.label} · ${c.label}: nothing found`)));
        g.push(svg('text', {x: x + cellW / 2, y: y + 18, class: 'cell-none', 'text-anchor': 'middle', 'aria-hidden': 'true'}, '·'));
        return;
      }
      const col = heatColor(cell.ratio);
      g.push(svg('g', {class: 'cell', dataset: {column: r.label, metric: c.key}},
        svg('rect', {x: x + 1, y, width: cellW - 2, height: cellH - 2, fill: col.fill, rx: 2,
          class: cell.severity && sevRank(cell.severity) <= 2 ? 'cell-strong' : null}),
        svg('text', {x: x + cellW / 2, y: y + 18, 'text-anchor': 'middle', class: col.dark ? 'cell-txt dark' : 'cell-txt'}, pct(cell.ratio)),
        svg('title', null, cell.title || `${r.label} · ${c.label}: ${pct(cell.ratio)}`)));
    });
    if (hasTrend && r.trend && r.trend.length > 1) {
      const tx = labelW + cols.length * cellW + 8;
      g.push(svg('g', {transform: `translate(${tx},${y + 3})`}, sparkPath(r.trend, 96, cellH - 8, r.drift ? '#c2410c' : '#334155')));
    }
  });
  const summary = `${title}: ${rows.length} columns. ` + rows.slice(0, 8).map((r) =>
    `${r.label}${r.drift ? ' (drift)' : ''}: ${cols.filter((c) => r.cells[c.key]).map((c) => `${c.label.toLowerCase()} ${pct(r.cells[c.key].ratio)}`).join(', ')}`).join('; ');
  return svg('svg', {class: 'heatmap', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': summary}, g);
}

export function heatLegend() {
  const stops = [0.001, 0.01, 0.05, 0.2, 0.5, 1];
  return h('ul', {class: 'legend heat-legend', 'aria-label': 'Colour scale'},
    stops.map((r) => h('li', null, h('span', {class: 'swatch', style: {background: heatColor(r).fill}, 'aria-hidden': 'true'}), pct(r))),
    h('li', null, h('span', {class: 'swatch swatch-empty', 'aria-hidden': 'true'}), 'nothing found'),
    h('li', {class: 'legend-drift'}, h('span', {class: 'swatch swatch-drift', 'aria-hidden': 'true'}), 'drift since earlier scans'));
}

// ---- sparklines and line charts -------------------------------------------------------------

function sparkPath(values, w, hgt, color) {
  const vals = values.map((v) => (v === null || v === undefined ? null : Number(v)));
  const present = vals.filter((v) => v !== null);
  const steady = present.length > 0 && present.every((v) => v === present[0]);
  const max = Math.max(...present, 1e-9);
  const min = Math.min(...present, 0);
  const span = max - min || 1;
  const step = vals.length > 1 ? w / (vals.length - 1) : 0;
  let d = '';
  let lastPt = null;
  vals.forEach((v, i) => {
    if (v === null) return;
    const x = i * step;
    const y = steady ? hgt / 2 : hgt - ((v - min) / span) * (hgt - 2) - 1; // a steady series sits in the middle
    d += `${d ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`;
    lastPt = [x, y];
  });
  const kids = [svg('path', {d, fill: 'none', stroke: color, 'stroke-width': 1.6})];
  if (lastPt) kids.push(svg('circle', {cx: lastPt[0], cy: lastPt[1], r: 2.4, fill: color}));
  kids.push(svg('title', null, `oldest to newest: ${vals.map((v) => (v === null ? '—' : pct(v))).join(', ')}`));
  return kids;
}

export function sparkline(values, {width = 96, height = 22, color = '#334155', label = 'trend'} = {}) {
  return svg('svg', {width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label, class: 'spark'},
    sparkPath(values, width, height, color));
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** Ticks for [lo, hi]: a nice step and the rounded range it covers. */
function niceRange(lo, hi) {
  const positive = lo >= 0; // counts and shares: the axis never goes below 0
  if (!(hi > lo)) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  if (positive) lo = Math.max(0, lo);
  const step = niceMax((hi - lo) / 4) || 1;
  return {lo: Math.floor(lo / step) * step, hi: Math.ceil(hi / step) * step, step};
}

/**
 * A line chart over runs: series [{name, color, values, markers: false}], xLabels one per point.
 * markers: optional per-point [{color, title, cls}] (e.g. the worst severity of a run, or a
 * drift flag); a marker with cls is drawn as a ring around the point with that class.
 * fit: scale the y axis to the data (values may be negative) instead of starting at 0.
 * legendExtra: more legend items [[label, color, cls]], e.g. what a marker means.
 * Every present value is a circle.point (data-i = its index), so tests can count them.
 */
export function lineChart(series, {title, xLabels, yFormat = num, height = 200, markers, fit = false, legendExtra = []}) {
  const all = series.flatMap((s) => s.values.filter((v) => v !== null && v !== undefined).map(Number));
  const summary = `${title}. ` + series.map((s) => `${s.name}: ${s.values.map((v, i) => {
    const m = markers && s.markers !== false ? markers[i] : null;
    return `${v === null || v === undefined ? '—' : yFormat(v)}${m && m.cls ? ` (${m.title})` : ''}`;
  }).join(', ')}`).join('; ');
  return h('figure', {class: 'figure'},
    responsive((w) => {
      const padL = 58;
      const padR = 14;
      const padT = 10;
      const padB = 34;
      const n = Math.max(...series.map((s) => s.values.length), 1);
      const range = fit && all.length ? niceRange(Math.min(...all), Math.max(...all)) : {lo: 0, hi: niceMax(Math.max(...all, 0))};
      const span = range.hi - range.lo || 1;
      const iw = Math.max(40, w - padL - padR);
      const ih = height - padT - padB;
      const X = (i) => padL + (n > 1 ? (i / (n - 1)) * iw : iw / 2);
      const Y = (v) => padT + ih - ((v - range.lo) / span) * ih;
      const g = [];
      for (let k = 0; k <= 4; k++) {
        const v = range.lo + (span / 4) * k;
        g.push(svg('line', {x1: padL, x2: padL + iw, y1: Y(v), y2: Y(v), class: 'grid'}));
        g.push(svg('text', {x: padL - 6, y: Y(v) + 4, 'text-anchor': 'end', class: 'tick'}, yFormat(v)));
      }
      const every = Math.max(1, Math.ceil(n / Math.max(2, Math.floor(iw / 110))));
      (xLabels || []).forEach((l, i) => {
        if (i % every !== 0 && i !== n - 1) return;
        if (i !== n - 1 && n - 1 - i < every) return;
        g.push(svg('text', {x: X(i), y: height - 12, 'text-anchor': i === 0 && n > 1 ? 'start' : i === n - 1 && n > 1 ? 'end' : 'middle', class: 'tick'}, l));
      });
      for (const s of series) {
        let d = '';
        s.values.forEach((v, i) => {
          if (v === null || v === undefined) return;
          d += `${d ? 'L' : 'M'}${X(i).toFixed(1)},${Y(v).toFixed(1)}`;
        });
        g.push(svg('path', {d, fill: 'none', stroke: s.color, 'stroke-width': 2, class: s.dashed ? 'dashed' : null}));
        s.values.forEach((v, i) => {
          if (v === null || v === undefined) return;
          const m = markers && s.markers !== false ? markers[i] : null;
          const tip = svg('title', null, `${(xLabels || [])[i] || `#${i + 1}`}: ${s.name} ${yFormat(v)}${m && m.title ? ` (${m.title})` : ''}`);
          if (m && m.cls) {
            g.push(svg('circle', {cx: X(i), cy: Y(v), r: 8, fill: 'none', stroke: m.color, 'stroke-width': 2.5, class: m.cls}));
          }
          const ring = m && !m.cls;
          g.push(svg('circle', {cx: X(i), cy: Y(v), r: ring ? 4.5 : 3, fill: ring ? m.color : s.color, stroke: '#fff', 'stroke-width': 1,
            class: 'point', dataset: {i}}, tip));
        });
      }
      return svg('svg', {width: w, height, viewBox: `0 0 ${w} ${height}`, role: 'img', 'aria-label': summary}, g);
    }),
    h('figcaption', null, legend([...series.map((s) => [s.name, s.color]), ...legendExtra])));
}

// ---- lineage: tables, keys, joins, affected columns ---------------------------------------------

/**
 * model: {nodes: [{id, label, raw, level, keys, rows, affected: [{column, severity}], worst}],
 *         edges: [{from, to, key, kind: 'bus'|'sibling'|'child'}]}
 * Level 0 is the customer table, level 1 the tables joined on the customer
 * key (stacked, so tables joined by another key sit next to each other),
 * level 2 tables reached only through another table's key.
 */
export function lineageDiagram(model, {title}) {
  const summary = `${title}. ` + model.edges.map((e) => `${e.from} joins ${e.to} on ${e.key}`).join('; ') + '. ' +
    model.nodes.filter((n) => n.affected.length).map((n) => `${n.raw}: ${n.affected.map((a) => a.column).join(', ')}`).join('; ');
  return responsive((w) => drawLineage(model, w, summary), 'chart lineage');
}

const MAX_COLS_SHOWN = 5;

function nodeHeight(n) {
  const lines = Math.min(n.affected.length, MAX_COLS_SHOWN) + (n.affected.length > MAX_COLS_SHOWN ? 1 : 0);
  return 58 + (lines ? 10 + lines * 17 : 16);
}

function drawNode(n, x, y, w) {
  const hgt = nodeHeight(n);
  const color = n.worst ? SEVERITY_COLOR[n.worst] : '#94a3b8';
  const kids = [
    svg('rect', {x, y, width: w, height: hgt, rx: 6, class: 'node', stroke: color, 'stroke-width': n.worst ? 2.5 : 1.2}),
    svg('rect', {x, y, width: 6, height: hgt, fill: color, rx: 2}),
    svg('text', {x: x + 14, y: y + 19, class: 'node-title'}, fit(n.label, w - 24, 7.8)),
    svg('text', {x: x + 14, y: y + 35, class: 'node-raw'}, fit(n.raw, w - 24, 6.6)),
    svg('text', {x: x + 14, y: y + 51, class: 'node-meta'},
      fit([n.keys.length ? `key ${n.keys.join(', ')}` : null, n.rows !== null && n.rows !== undefined ? `${num(n.rows)} ${n.rows === 1 ? 'row' : 'rows'}` : null]
        .filter(Boolean).join(' · '), w - 24, 6.6)),
  ];
  let yy = y + 58;
  if (!n.affected.length) {
    kids.push(svg('text', {x: x + 14, y: yy + 12, class: 'node-ok'}, 'no problem found'));
  } else {
    yy += 10;
    n.affected.slice(0, MAX_COLS_SHOWN).forEach((a) => {
      kids.push(svg('circle', {cx: x + 19, cy: yy + 7, r: 4.5, fill: SEVERITY_COLOR[a.severity] || '#64748b'}));
      kids.push(svg('text', {x: x + 30, y: yy + 11, class: 'node-col'}, fit(a.column, w - 40, 6.9)));
      yy += 17;
    });
    if (n.affected.length > MAX_COLS_SHOWN) {
      kids.push(svg('text', {x: x + 30, y: yy + 11, class: 'node-more'}, `+ ${n.affected.length - MAX_COLS_SHOWN} more columns`));
    }
  }
  kids.push(svg('title', null, `${n.raw}${n.affected.length ? `: ${n.affected.map((a) => `${a.column} (${a.severity})`).join(', ')}` : ': no problem found'}`));
  return svg('g', {class: 'lineage-node', dataset: {table: n.raw}}, kids);
}

function keyLabel(x, y, text, anchor = 'middle') {
  const tw = text.length * 6.8 + 10;
  const rx = anchor === 'middle' ? x - tw / 2 : anchor === 'start' ? x : x - tw;
  return svg('g', {class: 'key-label'},
    svg('rect', {x: rx, y: y - 11, width: tw, height: 16, rx: 8}),
    svg('text', {x: rx + tw / 2, y: y + 1, 'text-anchor': 'middle'}, text));
}

function drawLineage(model, w, summary) {
  const pad = 8;
  const byId = new Map(model.nodes.map((n) => [n.id, n]));
  const level = (l) => model.nodes.filter((n) => n.level === l);
  const L0 = level(0);
  const L1 = level(1);
  const L2 = level(2);
  const wide = w >= 760;
  const pos = new Map();
  const edges = [];
  const nodes = [];
  const gap = 34;
  let height;
  if (wide) {
    const cols = 2 + (L2.length ? 1 : 0);
    const busW = 96;
    const nodeW = Math.min(300, Math.floor((w - pad * 2 - busW * (cols - 1)) / cols));
    const used = cols * nodeW + (cols - 1) * busW;
    const x0 = pad + Math.max(0, Math.floor((w - pad * 2 - used) / 2));
    const x1 = x0 + nodeW + busW;
    const x2 = x1 + nodeW + busW;
    let y = pad;
    for (const n of L1) {
      pos.set(n.id, {x: x1, y, w: nodeW, h: nodeHeight(n)});
      y += nodeHeight(n) + gap;
    }
    const colH = Math.max(y - gap, ...L0.map((n) => nodeHeight(n)));
    let yr = pad + Math.max(0, (colH - L0.reduce((a, n) => a + nodeHeight(n), 0)) / 2);
    for (const n of L0) {
      pos.set(n.id, {x: x0, y: yr, w: nodeW, h: nodeHeight(n)});
      yr += nodeHeight(n) + gap;
    }
    let y2 = pad;
    for (const n of L2) {
      const parent = model.edges.find((e) => e.to === n.id);
      const py = parent && pos.get(parent.from) ? pos.get(parent.from).y : y2;
      y2 = Math.max(y2, py);
      pos.set(n.id, {x: x2, y: y2, w: nodeW, h: nodeHeight(n)});
      y2 += nodeHeight(n) + gap;
    }
    height = Math.max(colH, y2 - gap, yr - gap) + pad * 2;
    // the customer key: one trunk from the customer table, one branch into each table
    for (const root of L0) {
      const p = pos.get(root.id);
      const bus = model.edges.filter((e) => e.kind === 'bus' && e.from === root.id && pos.get(e.to));
      if (!bus.length) continue;
      const sx = p.x + p.w;
      const sy = p.y + 30;
      const bx = sx + busW / 2;
      const ys = bus.map((e) => pos.get(e.to).y + 30);
      edges.push(svg('path', {d: `M${sx},${sy}H${bx}`, class: 'edge'}));
      edges.push(svg('path', {d: `M${bx},${Math.min(sy, ...ys)}V${Math.max(sy, ...ys)}`, class: 'edge'}));
      for (const yy of ys) edges.push(svg('path', {d: `M${bx},${yy}H${x1}`, class: 'edge', 'marker-end': 'url(#arrow)'}));
      edges.push(keyLabel(bx, sy - 14, bus[0].key));
    }
    for (const e of model.edges.filter((x) => x.kind === 'child')) {
      const a = pos.get(e.from);
      const b = pos.get(e.to);
      if (!a || !b) continue;
      const sx = a.x + a.w;
      const sy = a.y + 30;
      const ex = b.x;
      const ey = b.y + 30;
      edges.push(svg('path', {d: `M${sx},${sy}C${sx + busW / 2},${sy} ${ex - busW / 2},${ey} ${ex},${ey}`, class: 'edge', 'marker-end': 'url(#arrow)'}));
      edges.push(keyLabel((sx + ex) / 2, (sy + ey) / 2 - 10, e.key));
    }
  } else {
    // one column: the customer table on top, the others below it, joined along the left edge
    const indent = 22;
    const nodeW = w - pad * 2 - indent;
    let y = pad;
    for (const n of L0) {
      pos.set(n.id, {x: pad, y, w: w - pad * 2, h: nodeHeight(n)});
      y += nodeHeight(n) + gap;
    }
    const order = [];
    for (const n of L1) {
      order.push(n);
      for (const e of model.edges.filter((x) => x.kind === 'child' && x.from === n.id)) if (byId.get(e.to)) order.push(byId.get(e.to));
    }
    for (const n of L2) if (!order.includes(n)) order.push(n);
    for (const n of order) {
      const deeper = n.level === 2 ? 18 : 0;
      pos.set(n.id, {x: pad + indent + deeper, y, w: nodeW - deeper, h: nodeHeight(n)});
      y += nodeHeight(n) + gap;
    }
    height = y - gap + pad;
    for (const root of L0) {
      const p = pos.get(root.id);
      const bus = model.edges.filter((e) => e.kind === 'bus' && e.from === root.id && pos.get(e.to));
      if (!bus.length) continue;
      const bx = pad + 10;
      const ys = bus.map((e) => pos.get(e.to).y + 30);
      edges.push(svg('path', {d: `M${bx},${p.y + p.h}V${Math.max(...ys)}`, class: 'edge'}));
      for (const yy of ys) edges.push(svg('path', {d: `M${bx},${yy}H${pad + indent}`, class: 'edge', 'marker-end': 'url(#arrow)'}));
      edges.push(keyLabel(bx + 4, p.y + p.h + gap / 2, bus[0].key, 'start'));
    }
    for (const e of model.edges.filter((x) => x.kind === 'child')) {
      const a = pos.get(e.from);
      const b = pos.get(e.to);
      if (!a || !b) continue;
      const x = Math.min(a.x + a.w, b.x + b.w) - 60;
      edges.push(svg('path', {d: `M${x},${a.y + a.h}V${b.y}`, class: 'edge', 'marker-end': 'url(#arrow)'}));
      edges.push(keyLabel(x - 8, a.y + a.h + gap / 2 + 1, e.key, 'end'));
    }
  }
  // joins between tables that both hang off the customer key (e.g. SK_ID_PREV)
  for (const e of model.edges.filter((x) => x.kind === 'sibling')) {
    const a = pos.get(e.from);
    const b = pos.get(e.to);
    if (!a || !b) continue;
    const [top, bottom] = a.y < b.y ? [a, b] : [b, a];
    const x = Math.min(top.x + top.w, bottom.x + bottom.w) - 60;
    if (bottom.y - (top.y + top.h) <= gap + 1) {
      edges.push(svg('path', {d: `M${x},${top.y + top.h}V${bottom.y}`, class: 'edge edge-key', 'marker-end': 'url(#arrow)'}));
      edges.push(keyLabel(x - 8, top.y + top.h + gap / 2 + 1, e.key, 'end'));
    } else {
      const bx = Math.max(top.x + top.w, bottom.x + bottom.w) + 10;
      edges.push(svg('path', {d: `M${top.x + top.w},${top.y + 44}H${bx}V${bottom.y + 44}H${bottom.x + bottom.w}`, class: 'edge edge-key', 'marker-end': 'url(#arrow)'}));
      edges.push(keyLabel(bx, (top.y + bottom.y) / 2 + 44, e.key, 'end'));
    }
  }
  for (const n of model.nodes) {
    const p = pos.get(n.id);
    if (p) nodes.push(drawNode(n, p.x, p.y, p.w));
  }
  const arrowId = nextId('arrow');
  for (const e of edges) if (e.getAttribute('marker-end')) e.setAttribute('marker-end', `url(#${arrowId})`);
  const defs = svg('defs', null, svg('marker', {id: arrowId, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse'},
    svg('path', {d: 'M0,0L10,5L0,10z', class: 'arrow'})));
  return svg('svg', {width: w, height, viewBox: `0 0 ${w} ${height}`, role: 'img', 'aria-label': summary}, defs, edges, nodes);
}
