// dom.js -- building the page without markup strings.
//
// Everything the dashboard shows goes through h() / svg(): strings become
// text nodes (never parsed as HTML), attribute names are always ours, and
// event handlers are functions.  No innerHTML anywhere in the dashboard.

const SVG_NS = 'http://www.w3.org/2000/svg';
const PROPS = new Set(['value', 'checked', 'disabled', 'selected', 'hidden', 'open', 'indeterminate']);

function setProps(el, props) {
  if (!props) return;
  for (const [k, v] of Object.entries(props)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'style') for (const [sk, sv] of Object.entries(v)) el.style.setProperty(sk, String(sv));
    else if (k === 'dataset') for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = String(dv);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'href') el.setAttribute('href', safeHref(v));
    else if (PROPS.has(k)) el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el, kids) {
  for (const k of kids) {
    if (k === null || k === undefined || k === false) continue;
    if (Array.isArray(k)) append(el, k);
    else if (k instanceof Node) el.appendChild(k);
    else el.appendChild(document.createTextNode(String(k)));
  }
}

/** An HTML element: h('p', {class: 'x'}, 'text', child, [more]). */
export function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  setProps(el, props);
  append(el, kids);
  return el;
}

/** An SVG element, same calling convention. */
export function svg(tag, props, ...kids) {
  const el = document.createElementNS(SVG_NS, tag);
  setProps(el, props);
  append(el, kids);
  return el;
}

/** Only our own links: in-page routes, same-origin paths and blob: downloads. */
export function safeHref(v) {
  const s = String(v);
  return /^(#|\/(?!\/)|blob:|\.\/)/.test(s) ? s : '#';
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...kids) {
  clear(el);
  append(el, kids);
  return el;
}

let uid = 0;
/** A fresh id for label/aria wiring. */
export function nextId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}

// ---- formatting ---------------------------------------------------------------------

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'];
export const SEVERITY_LABEL = {critical: 'Critical', high: 'High', medium: 'Medium', low: 'Low', info: 'Info'};
export const SEVERITY_MEANING = {
  critical: 'Stop: do not base decisions on this data',
  high: 'Fix before the next credit decision',
  medium: 'Fix soon',
  low: 'Worth cleaning up',
  info: 'For the record',
};
export const SEVERITY_COLOR = {
  critical: '#7f1d1d', high: '#dc2626', medium: '#f59e0b', low: '#2563eb', info: '#64748b',
};

export function sevRank(s) {
  const i = SEVERITIES.indexOf(s);
  return i < 0 ? SEVERITIES.length : i;
}

export function worst(list) {
  let best = null;
  for (const s of list) if (best === null || sevRank(s) < sevRank(best)) best = s;
  return best;
}

export function num(n) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return '—';
  return Number(n).toLocaleString('en-US');
}

export function pct(r) {
  if (r === null || r === undefined || Number.isNaN(Number(r))) return '—';
  const v = Number(r) * 100;
  if (v === 0) return '0%';
  if (Math.abs(v) < 0.1) return '<0.1%';
  if (Math.abs(v) < 10) return `${v.toFixed(1)}%`;
  return `${Math.round(v)}%`;
}

export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(undefined, {year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit'});
}

export function ago(iso) {
  const d = new Date(iso);
  if (!iso || Number.isNaN(d.getTime())) return '';
  const s = Math.round((Date.now() - d.getTime()) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

/** Short x-axis labels for a series of times: seconds when they are close together, dates when far apart. */
export function timeLabels(isos) {
  const ts = isos.map((x) => new Date(x).getTime()).filter((x) => !Number.isNaN(x));
  const span = ts.length ? Math.max(...ts) - Math.min(...ts) : 0;
  const opts = span < 3600e3 ? {hour: '2-digit', minute: '2-digit', second: '2-digit'}
    : span < 2 * 86400e3 ? {month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit'}
      : {year: 'numeric', month: 'short', day: 'numeric'};
  return isos.map((x) => {
    const d = new Date(x);
    return Number.isNaN(d.getTime()) ? '' : d.toLocaleString(undefined, opts);
  });
}

export function duration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

export function plural(n, one, many) {
  return `${num(n)} ${n === 1 ? one : (many || `${one}s`)}`;
}

/** A business name for a Home Credit-style table; the raw name stays visible beside it. */
export function tableLabel(name) {
  const n = String(name || '').toUpperCase();
  if (/PREV/.test(n)) return 'Previous applications';
  if (/BUREAU_BAL/.test(n)) return 'Bureau monthly balances';
  if (/BUREAU/.test(n)) return 'Credit bureau records';
  if (/INSTAL/.test(n)) return 'Installment payments';
  if (/POS_CASH/.test(n)) return 'POS and cash loan balances';
  if (/CREDIT_CARD/.test(n)) return 'Credit card balances';
  if (/APPLICATION/.test(n)) return 'Loan applications';
  const t = n.replace(/^SAMPLE_/, '').replace(/_/g, ' ').toLowerCase();
  return t.charAt(0).toUpperCase() + t.slice(1);
}

/** What kind of value a column holds, from the Home Credit naming convention. */
export function columnKind(col) {
  const c = String(col || '').toUpperCase();
  if (c.includes(',')) return 'several columns';
  if (c.startsWith('AMT_')) return 'amount';
  if (c.startsWith('DAYS_')) return 'date';
  if (c.startsWith('CNT_') || c.startsWith('NUM_')) return 'count';
  if (c.startsWith('FLAG_') || c.startsWith('NFLAG_')) return 'flag';
  if (c.startsWith('EXT_SOURCE')) return 'external score';
  if (c.startsWith('SK_ID')) return 'key';
  if (c.startsWith('NAME_') || c.startsWith('CODE_')) return 'category';
  if (c.startsWith('RATE_')) return 'rate';
  return '';
}

const CHECK_LABEL = {
  missing: 'Missing values', negative: 'Negative values', duplicate: 'Duplicates', outlier: 'Unusual values',
  drift: 'Drift',
};
const KIND_LABEL = {
  sentinel: 'Placeholder instead of a value', invalid: 'Not a valid value', null: 'Missing values',
};

/** A readable name for a finding's check (a Lua rule's name is humanised). */
export function checkLabel(f) {
  if (f.check === 'missing' && KIND_LABEL[f.kind]) return KIND_LABEL[f.kind];
  if (CHECK_LABEL[f.check]) return CHECK_LABEL[f.check];
  const t = String(f.check || '').replace(/_/g, ' ');
  return t.charAt(0).toUpperCase() + t.slice(1);
}

export function severityBadge(sev) {
  const s = SEVERITIES.includes(sev) ? sev : 'info';
  return h('span', {class: `sev-badge sev-${s}`}, SEVERITY_LABEL[s] || String(sev));
}

/** A scrollable, keyboard-focusable region around a wide table. */
export function scroller(label, child) {
  return h('div', {class: 'scroller', tabindex: '0', role: 'region', 'aria-label': label}, child);
}

/** A plain data table: columns [{label, get(row) -> string|Node, class}]. */
export function dataTable(caption, columns, rows, opts = {}) {
  const table = h('table', {class: ['data', opts.class]},
    h('caption', {class: opts.showCaption ? '' : 'visually-hidden'}, caption),
    h('thead', null, h('tr', null, columns.map((c) => h('th', {scope: 'col', class: c.class}, c.label)))),
    h('tbody', null, rows.map((r, i) => h('tr', opts.rowProps ? opts.rowProps(r, i) : null,
      columns.map((c) => {
        const v = c.get(r, i);
        return h('td', {class: c.class}, v === null || v === undefined || v === '' ? '—' : v);
      })))));
  return scroller(caption, table);
}

/** Copy text to the clipboard; works on plain http too (falls back to a hidden textarea). */
export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch (e) {
    // fall through
  }
  const ta = h('textarea', {class: 'visually-hidden', 'aria-hidden': 'true', tabindex: '-1'});
  ta.value = text;
  document.body.appendChild(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch (e) {
    ok = false;
  }
  ta.remove();
  return ok;
}

/** A button that copies the text of `getText()` and says so. */
export function copyButton(label, getText) {
  const status = h('span', {class: 'copy-status', role: 'status'});
  const btn = h('button', {type: 'button', class: 'btn small', onclick: async () => {
    const ok = await copyText(getText());
    status.textContent = ok ? 'Copied' : 'Could not copy: select the text and copy it by hand';
    setTimeout(() => { status.textContent = ''; }, 2500);
  }}, label);
  return h('span', {class: 'copy'}, btn, status);
}

/** A message panel: kind is info, warn, error or empty. */
export function notice(kind, title, ...body) {
  return h('div', {class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : null},
    title ? h('p', {class: 'notice-title'}, title) : null, ...body);
}

export function loading(text) {
  return h('div', {class: 'loading', role: 'status'}, h('span', {class: 'spinner', 'aria-hidden': 'true'}), text);
}
