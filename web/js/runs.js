// runs.js -- the run history (GET /api/v1/runs), one run with its anomalies
// and suggestions (GET /api/v1/runs/{run}), and a paged search over the
// stored anomalies (GET /api/v1/anomalies: filters, a from/until time range,
// next/previous from next_offset; a note when the daemon does not offer it).

import {
  h, replace, nextId, notice, loading, dataTable, severityBadge, SEVERITIES, SEVERITY_LABEL, SEVERITY_COLOR, sevRank,
  num, pct, when, ago, duration, tableLabel, timeLabels,
} from './dom.js';
import {api, enc, explain, ApiError} from './api.js';
import {lineChart} from './charts.js';
import {normSuggestion} from './customer.js';

const PAGE = 25;

function runDuration(r) {
  if (r.duration_ms !== undefined) return duration(r.duration_ms);
  const a = new Date(r.started_at).getTime();
  const b = new Date(r.finished_at).getTime();
  return Number.isNaN(a) || Number.isNaN(b) ? '—' : duration(b - a);
}

function subject(r) {
  if (r.scope === 'customer') return h('span', null, 'Customer ', h('a', {href: `#/customer/${encodeURIComponent(String(r.customer_id))}`}, String(r.customer_id)));
  return h('span', null, 'Table ', h('code', null, String(r.table || '—')));
}

export function render(root, params, ctx) {
  if (params.id) return renderRun(root, decodeURIComponent(params.id), ctx);
  let alive = true;
  const tables = Object.keys((ctx.config && ctx.config.tables) || {});
  const tableId = nextId('runs-table');
  const custId = nextId('runs-cust');
  const tableSel = h('select', {id: tableId, name: 'table'}, h('option', {value: ''}, 'All tables'), tables.map((t) => h('option', {value: t}, t)));
  const custIn = h('input', {id: custId, name: 'customer', type: 'text', inputmode: 'numeric', autocomplete: 'off', maxlength: '64', placeholder: 'any'});
  const out = h('div', {'aria-live': 'polite'});
  let offset = 0;

  async function load() {
    replace(out, loading('Loading the runs…'));
    const q = new URLSearchParams({limit: String(PAGE), offset: String(offset)});
    if (tableSel.value) q.set('table', tableSel.value);
    if (custIn.value.trim()) q.set('customer', custIn.value.trim());
    let data;
    try {
      data = await api(`/api/v1/runs?${q}`);
    } catch (e) {
      if (!alive) return;
      replace(out, notice('error', 'Could not load the runs', h('p', null, explain(e)), h('button', {type: 'button', class: 'btn', onclick: load}, 'Try again')));
      return;
    }
    if (!alive) return;
    const runs = Array.isArray(data.runs) ? data.runs : [];
    const pager = h('div', {class: 'pager'},
      h('button', {type: 'button', class: 'btn small', disabled: offset === 0, onclick: () => {
        offset = Math.max(0, offset - PAGE);
        load();
      }}, '← Newer'),
      h('span', null, runs.length ? `Runs ${offset + 1}–${offset + runs.length}` : ''),
      h('button', {type: 'button', class: 'btn small', disabled: runs.length < PAGE, onclick: () => {
        offset += PAGE;
        load();
      }}, 'Older →'));
    if (!runs.length) {
      replace(out, h('p', {class: 'empty'}, offset ? 'No older runs.' : 'No runs yet: check a customer or scan a table and it shows up here.'), offset ? pager : null);
      return;
    }
    const chrono = runs.slice().reverse();
    replace(out,
      runs.length > 1 ? h('div', {class: 'trend'}, h('h3', null, 'Findings per run'),
        lineChart([{name: 'Findings', color: '#334155', values: chrono.map((r) => r.findings ?? null)}], {
          title: 'Findings per run, oldest first',
          xLabels: timeLabels(chrono.map((r) => r.started_at)),
          markers: chrono.map((r) => (r.max_severity ? {color: SEVERITY_COLOR[r.max_severity], title: `worst ${r.max_severity}`} : null)),
          height: 170,
        })) : null,
      dataTable('Runs, newest first', [
        {label: 'Started', get: (r) => h('a', {href: `#/runs/${encodeURIComponent(r.run_id)}`, title: r.run_id}, when(r.started_at))},
        {label: 'What', get: subject},
        {label: 'Status', get: (r) => r.status},
        {label: 'Rows', get: (r) => num(r.rows_scanned), class: 'num'},
        {label: 'Findings', get: (r) => num(r.findings), class: 'num'},
        {label: 'Worst', get: (r) => (r.max_severity ? severityBadge(r.max_severity) : '—')},
        {label: 'Took', get: runDuration, class: 'num'},
        {label: 'Source', get: (r) => r.source},
      ], runs, {class: 'runs-table'}),
      pager);
  }

  const form = h('form', {class: 'filters', onsubmit: (e) => {
    e.preventDefault();
    offset = 0;
    load();
  }},
  h('div', {class: 'field'}, h('label', {for: tableId}, 'Table'), tableSel),
  h('div', {class: 'field'}, h('label', {for: custId}, 'Customer ID'), custIn),
  h('div', {class: 'field'}, h('span', {class: 'label-spacer', 'aria-hidden': 'true'}, ' '), h('button', {type: 'submit', class: 'btn'}, 'Filter')));

  replace(root, h('section', {class: 'view', 'aria-labelledby': 'runs-h'},
    h('h1', {id: 'runs-h', tabindex: '-1'}, 'Runs'),
    h('p', {class: 'lead'}, 'Every customer check and table scan that was stored, newest first. Open one to see its anomalies and suggestions.'),
    h('section', {class: 'panel'}, form, out),
    anomalySearch(tables, ctx)));
  load();
  return {dispose: () => { alive = false; }};
}

// ---- one run ---------------------------------------------------------------------------------------

function renderRun(root, id, ctx) {
  let alive = true;
  const out = h('div', {'aria-live': 'polite'}, loading(`Loading run ${id}…`));
  replace(root, h('section', {class: 'view', 'aria-labelledby': 'run-h'},
    h('p', null, h('a', {href: '#/runs'}, '← All runs')),
    h('h1', {id: 'run-h', tabindex: '-1'}, 'Run ', h('code', null, id)),
    out));
  api(`/api/v1/runs/${enc(id)}`).then((r) => {
    if (!alive) return;
    const findings = (Array.isArray(r.findings) ? r.findings : []).slice().sort((a, b) => sevRank(a.severity) - sevRank(b.severity));
    const sugg = (Array.isArray(r.suggestions) ? r.suggestions : []).map(normSuggestion);
    replace(out,
      h('p', {class: 'meta'}, subject(r), ` · ${when(r.started_at)} (${ago(r.started_at)}) · ${num(r.rows_scanned)} rows · took ${runDuration(r)} · source ${r.source || '—'} · config ${r.config_hash || '—'}`),
      r.scope === 'customer' ? h('p', null, h('a', {class: 'btn', href: `#/customer/${encodeURIComponent(String(r.customer_id))}`}, `Open customer ${r.customer_id} in the customer view`)) : null,
      h('ul', {class: 'chips'}, SEVERITIES.map((s) => h('li', {class: `chip-sev sev-${s}${r.summary && r.summary[s] ? '' : ' zero'}`}, `${SEVERITY_LABEL[s]} ${num((r.summary || {})[s] || 0)}`))),
      h('section', {class: 'panel'}, h('h2', null, `Anomalies (${findings.length})`),
        findings.length ? dataTable(`Anomalies of run ${id}`, [
          {label: 'Severity', get: (f) => severityBadge(f.severity)},
          {label: 'Check', get: (f) => f.check},
          {label: 'Table', get: (f) => `${tableLabel(f.table)} (${f.table})`},
          {label: 'Column', get: (f) => f.column, class: 'wrap'},
          {label: 'Kind', get: (f) => f.kind},
          {label: 'Count', get: (f) => num(f.count), class: 'num'},
          {label: 'Total', get: (f) => num(f.total), class: 'num'},
          {label: 'Ratio', get: (f) => pct(f.ratio), class: 'num'},
          {label: 'Message', get: (f) => f.message, class: 'wide'},
          {label: 'Sample keys', get: (f) => (Array.isArray(f.sample_keys) ? f.sample_keys.join(', ') : ''), class: 'wrap'},
        ], findings) : h('p', {class: 'empty'}, 'No anomalies in this run.')),
      h('section', {class: 'panel'}, h('h2', null, `AI suggestions (${sugg.length})`),
        sugg.length ? dataTable(`Suggestions of run ${id}`, [
          {label: 'Table', get: (s) => s.table},
          {label: 'Column', get: (s) => s.column, class: 'wrap'},
          {label: 'Check', get: (s) => s.check},
          {label: 'Status', get: (s) => s.status},
          {label: 'Priority', get: (s) => s.priority},
          {label: 'Fix', get: (s) => (Array.isArray(s.fix_suggestions) ? s.fix_suggestions.join(' | ') : s.reason), class: 'wide'},
          {label: 'Backend', get: (s) => [s.backend, s.model].filter(Boolean).join(' / ')},
        ], sugg) : h('p', {class: 'empty'}, 'No suggestions were stored with this run (table scans are not advised unless asked).')));
  }).catch((e) => {
    if (!alive) return;
    replace(out, e instanceof ApiError && e.status === 404
      ? notice('error', 'No such run', h('p', null, `There is no stored run ${id}.`))
      : notice('error', 'Could not load the run', h('p', null, explain(e))));
  });
  return {dispose: () => { alive = false; }};
}

// ---- anomaly search (GET /api/v1/anomalies) -----------------------------------------------------------

const ANOM_PAGE = 25;
const KNOWN_CHECKS = ['missing', 'negative', 'outlier', 'duplicate', 'drift'];

/** A datetime-local value (the browser's local time) as the UTC ISO time the API takes. */
export function isoFromLocal(v) {
  if (!v) return '';
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function anomalySearch(tables, ctx) {
  const ids = {
    table: nextId('an-table'), column: nextId('an-col'), check: nextId('an-check'), severity: nextId('an-sev'),
    customer: nextId('an-cust'), since: nextId('an-since'), until: nextId('an-until'), checks: nextId('an-checks'),
  };
  const f = {
    table: h('select', {id: ids.table, name: 'table'}, h('option', {value: ''}, 'All tables'), tables.map((t) => h('option', {value: t}, t))),
    column: h('input', {id: ids.column, name: 'column', type: 'text', autocomplete: 'off', placeholder: 'any'}),
    check: h('input', {id: ids.check, name: 'check', type: 'text', autocomplete: 'off', list: ids.checks, placeholder: 'missing, outlier, a rule…'}),
    severity: h('select', {id: ids.severity, name: 'severity'}, h('option', {value: ''}, 'Any'), SEVERITIES.slice().reverse().map((s) => h('option', {value: s}, `${SEVERITY_LABEL[s]} or worse`))),
    customer: h('input', {id: ids.customer, name: 'customer', type: 'text', inputmode: 'numeric', autocomplete: 'off', placeholder: 'any'}),
    since: h('input', {id: ids.since, name: 'since', type: 'datetime-local', step: '1'}),
    until: h('input', {id: ids.until, name: 'until', type: 'datetime-local', step: '1'}),
  };
  const checkList = h('datalist', {id: ids.checks}, KNOWN_CHECKS.map((c) => h('option', {value: c})));
  ctx.rules().then((r) => {
    for (const rule of (r && Array.isArray(r.rules) ? r.rules : [])) checkList.append(h('option', {value: String(rule.name)}));
  }).catch(() => {});
  const out = h('div', {class: 'anomaly-results', 'aria-live': 'polite'});
  const sec = h('section', {class: 'panel', 'aria-labelledby': 'anom-h'},
    h('h2', {id: 'anom-h'}, 'Search stored anomalies'),
    h('p', {class: 'meta'}, 'Across every stored run, newest first. Severity means that level or worse; times are in this browser’s time zone.'));
  let query = null; // the filters of the current search, fixed while paging
  const back = []; // offsets of the pages before this one

  function filters() {
    const q = new URLSearchParams();
    for (const k of ['table', 'column', 'check', 'severity', 'customer']) if (f[k].value.trim()) q.set(k, f[k].value.trim());
    for (const k of ['since', 'until']) {
      const iso = isoFromLocal(f[k].value);
      if (iso === null) return {error: `The ${k === 'since' ? '“From”' : '“Until”'} time is not a valid date and time.`};
      if (iso) q.set(k, iso);
    }
    return {q};
  }

  async function page(offset) {
    const q = new URLSearchParams(query);
    q.set('limit', String(ANOM_PAGE));
    q.set('offset', String(offset));
    out.setAttribute('aria-busy', 'true');
    replace(out, loading('Searching…'));
    let data;
    try {
      data = await api(`/api/v1/anomalies?${q}`);
    } catch (err) {
      out.setAttribute('aria-busy', 'false');
      if (err instanceof ApiError && (err.status === 501 || (err.status === 404 && /no API route|nothing at/i.test(err.message)))) {
        replace(out, notice('info', 'Not available from this daemon',
          h('p', null, 'Searching anomalies across runs needs GET /api/v1/anomalies, which this daemon does not offer. ',
            'Open a run above to see its anomalies.'),
          h('p', {class: 'detail'}, 'The daemon said: ', err.message)));
        return;
      }
      replace(out, notice('error', err instanceof ApiError && err.status === 400 ? 'The daemon did not accept this search' : 'The search failed',
        h('p', null, explain(err)), err instanceof ApiError && err.status === 400 ? null
          : h('button', {type: 'button', class: 'btn small', onclick: () => page(offset)}, 'Try again')));
      return;
    }
    out.setAttribute('aria-busy', 'false');
    const rows = Array.isArray(data.anomalies) ? data.anomalies : [];
    const next = data.next_offset === null || data.next_offset === undefined ? null : Number(data.next_offset);
    const prevBtn = h('button', {type: 'button', class: 'btn small', disabled: !back.length, onclick: () => page(back.pop())}, '← Previous');
    const nextBtn = h('button', {type: 'button', class: 'btn small', disabled: next === null, onclick: () => {
      back.push(offset);
      page(next);
    }}, 'Next →');
    const pager = h('nav', {class: 'pager', 'aria-label': 'Anomaly search pages'}, prevBtn,
      h('span', {class: 'page-info'}, rows.length ? `Anomalies ${num(offset + 1)}–${num(offset + rows.length)}${next === null ? ' (the last)' : ''}` : ''),
      nextBtn);
    if (!rows.length) {
      replace(out, h('p', {class: 'empty'}, offset ? 'No more anomalies match.' : 'No stored anomaly matches these filters.'), offset ? pager : null);
      return;
    }
    replace(out, dataTable('Stored anomalies', [
      {label: 'When', get: (a) => when(a.started_at), class: 'nowrap'},
      {label: 'Severity', get: (a) => severityBadge(a.severity)},
      {label: 'Check', get: (a) => a.check},
      {label: 'Table', get: (a) => a.table},
      {label: 'Column', get: (a) => a.column, class: 'wrap'},
      {label: 'Customer', get: (a) => (a.customer_id !== undefined && a.customer_id !== null
        ? h('a', {href: `#/customer/${encodeURIComponent(String(a.customer_id))}`}, String(a.customer_id)) : 'table scan')},
      {label: 'Count', get: (a) => num(a.count), class: 'num'},
      {label: 'Ratio', get: (a) => pct(a.ratio), class: 'num'},
      {label: 'Message', get: (a) => a.message, class: 'wide'},
      {label: 'Run', get: (a) => (a.run_id ? h('a', {href: `#/runs/${encodeURIComponent(a.run_id)}`, 'aria-label': `Open run ${a.run_id}`}, 'open') : '')},
    ], rows, {class: 'anomalies-table'}), pager);
  }

  function search(e) {
    if (e) e.preventDefault();
    const r = filters();
    if (r.error) {
      replace(out, notice('error', 'Check the filters', h('p', null, r.error)));
      return;
    }
    query = r.q.toString();
    back.length = 0;
    page(0);
  }

  function reset() {
    for (const k of Object.keys(f)) f[k].value = '';
    search();
  }

  sec.append(h('form', {class: 'filters', 'aria-label': 'Anomaly search', onsubmit: search},
    h('div', {class: 'field'}, h('label', {for: ids.table}, 'Table'), f.table),
    h('div', {class: 'field'}, h('label', {for: ids.column}, 'Column'), f.column),
    h('div', {class: 'field'}, h('label', {for: ids.check}, 'Check'), f.check, checkList),
    h('div', {class: 'field'}, h('label', {for: ids.severity}, 'Severity'), f.severity),
    h('div', {class: 'field'}, h('label', {for: ids.customer}, 'Customer ID'), f.customer),
    h('div', {class: 'field'}, h('label', {for: ids.since}, 'From'), f.since),
    h('div', {class: 'field'}, h('label', {for: ids.until}, 'Until'), f.until),
    h('div', {class: 'field'}, h('span', {class: 'label-spacer', 'aria-hidden': 'true'}, ' '),
      h('div', {class: 'inline'}, h('button', {type: 'submit', class: 'btn'}, 'Search'),
        h('button', {type: 'button', class: 'btn', onclick: reset}, 'Clear')))), out);
  search();
  return sec;
}
