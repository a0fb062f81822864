// scans.js -- whole-table scans: start one and watch it, the recent jobs, and
// an overview of every configured table from its latest stored scan (heat
// map of missing / negative / outlier / duplicate ratios per column, drift,
// trends of findings over the earlier scans) and the metric history of a
// chosen column (GET /api/v1/metrics: whatever metrics the daemon stores,
// one chart each, drift flags ringed).

import {
  h, replace, nextId, notice, loading, dataTable, severityBadge, SEVERITIES, SEVERITY_LABEL, SEVERITY_COLOR, sevRank,
  num, pct, when, ago, duration, plural, tableLabel, timeLabels,
} from './dom.js';
import {api, auth, enc, explain, ApiError} from './api.js';
import {heatmap, heatLegend, lineChart} from './charts.js';

const METRICS = [
  {key: 'missing', label: 'Missing', short: 'Miss.'},
  {key: 'negative', label: 'Negative', short: 'Neg.'},
  {key: 'outlier', label: 'Outliers', short: 'Outl.'},
  {key: 'duplicate', label: 'Duplicates', short: 'Dup.'},
  {key: 'rules', label: 'Rules', short: 'Rules'},
];
const TREND_RUNS = 6;
const ROWS_SHOWN = 25;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Per column of one table run: the ratio of each metric, with the finding behind it. */
export function columnMetrics(findings) {
  const cols = new Map();
  const get = (c) => {
    if (!cols.has(c)) cols.set(c, {column: c, cells: {}, drift: [], max: 0});
    return cols.get(c);
  };
  const put = (c, key, ratio, f, count, total) => {
    const row = get(c);
    const cell = row.cells[key] || {ratio: 0, count: 0, total: total || 0, findings: []};
    cell.findings.push(f);
    if (key === 'missing') {
      cell.count += count || 0;
      cell.total = Math.max(cell.total, total || 0);
      cell.ratio = cell.total ? cell.count / cell.total : Math.max(cell.ratio, ratio);
    } else {
      cell.ratio = Math.max(cell.ratio, ratio);
    }
    if (!cell.severity || sevRank(f.severity) < sevRank(cell.severity)) cell.severity = f.severity;
    row.cells[key] = cell;
    row.max = Math.max(row.max, cell.ratio);
  };
  for (const f of findings || []) {
    const ratio = f.ratio !== undefined && f.ratio !== null ? Number(f.ratio) : f.total ? f.count / f.total : 0;
    const columns = String(f.column || '').split(',').filter(Boolean);
    if (f.check === 'drift') {
      for (const c of columns) get(c).drift.push(f);
      continue;
    }
    const key = f.source === 'lua' ? 'rules' : ['missing', 'negative', 'outlier', 'duplicate'].includes(f.check) ? f.check : 'rules';
    for (const c of columns) put(c, key, ratio, f, f.count, f.total);
  }
  return cols;
}

function cellTitle(column, metric, cell) {
  const msgs = cell.findings.map((f) => f.message).filter(Boolean).slice(0, 3).join(' ');
  return `${column} · ${metric.label}: ${pct(cell.ratio)}${cell.total ? ` (${num(cell.count || Math.round(cell.ratio * cell.total))} of ${num(cell.total)} rows)` : ''}. ${msgs}`;
}

// ---- the view ---------------------------------------------------------------------------------

export function render(root, params, ctx) {
  let alive = true;
  const timers = new Set();
  const tables = Object.keys((ctx.config && ctx.config.tables) || {});
  const overview = h('div', {class: 'overview'});
  const jobsBox = h('div', {class: 'jobs', 'aria-live': 'polite'});
  const progressBox = h('div', {class: 'progress-box', 'aria-live': 'polite'});
  const tableSections = new Map();

  const selId = nextId('scan-table');
  const select = h('select', {id: selId, name: 'table'}, tables.map((t) => h('option', {value: t}, `${tableLabel(t)} (${t})`)));
  const startBtn = h('button', {type: 'submit', class: 'btn primary'}, 'Start scan');
  const authNote = h('p', {class: 'hint'});
  const form = h('form', {class: 'scan-form', onsubmit: (e) => {
    e.preventDefault();
    start(select.value);
  }},
  h('div', {class: 'field'}, h('label', {for: selId}, 'Table to scan'), h('div', {class: 'inline'}, select, startBtn)),
  authNote);

  function updateAuth() {
    if (auth.canWrite) {
      authNote.textContent = 'The scan runs in the background on the daemon; you can leave this page and come back.';
    } else {
      replace(authNote, 'Starting a scan needs the access token of this installation. ',
        h('button', {type: 'button', class: 'btn small', onclick: () => ctx.askToken('Starting a scan needs the access token.')}, 'Enter token'));
    }
  }
  updateAuth();
  const offAuth = auth.onChange(updateAuth);

  function later(fn, ms) {
    const t = setTimeout(() => {
      timers.delete(t);
      if (alive) fn();
    }, ms);
    timers.add(t);
  }

  async function start(table) {
    if (!table) return;
    if (!auth.canWrite) {
      ctx.askToken('Starting a scan needs the access token.');
      return;
    }
    startBtn.disabled = true;
    replace(progressBox, loading(`Asking the daemon to scan ${table}…`));
    try {
      const job = await api('/api/v1/scans', {method: 'POST', body: {table}});
      watch(job.job_id, table);
    } catch (e) {
      replace(progressBox, notice('error', 'The scan could not be started', h('p', null, explain(e))));
    } finally {
      startBtn.disabled = false;
    }
  }

  async function watch(jobId, table) {
    const bar = h('progress', {max: '1', id: nextId('scan-progress')});
    const status = h('p', {class: 'status-line'}, 'Queued…');
    const box = h('div', {class: 'panel scan-progress', dataset: {job: jobId}},
      h('h3', null, `Scan of ${tableLabel(table)} `, h('code', null, table)),
      h('label', {for: bar.id, class: 'visually-hidden'}, `Progress of the scan of ${table}`),
      bar, status);
    replace(progressBox, box);
    let wait = 400;
    for (;;) {
      if (!alive) return;
      let job;
      try {
        job = await api(`/api/v1/scans/${enc(jobId)}`);
      } catch (e) {
        if (e instanceof ApiError && e.status === 429) {
          await sleep(1000 * (Number(e.retryAfter) || 1));
          continue;
        }
        box.append(notice('error', 'Lost track of the scan', h('p', null, explain(e))));
        return;
      }
      const p = job.progress || {};
      if (typeof p.fraction === 'number') bar.value = p.fraction;
      else bar.removeAttribute('value');
      const rows = p.rows_total ? `${num(p.rows_done)} of ${num(p.rows_total)} rows` : `${num(p.rows_done || 0)} rows`;
      const since = job.started_at ? ` · running for ${duration(Date.now() - new Date(job.started_at).getTime())}` : '';
      if (job.status === 'queued') status.textContent = 'Queued: waiting for the scanner thread…';
      else if (job.status === 'running') status.textContent = `Running: ${rows} (${pct(p.fraction || 0)})${since}`;
      if (['succeeded', 'failed', 'cancelled'].includes(job.status)) {
        bar.value = job.status === 'succeeded' ? 1 : bar.value || 0;
        finished(box, status, job);
        return;
      }
      await sleep(wait);
      wait = Math.min(1500, wait + 100);
    }
  }

  function finished(box, status, job) {
    if (job.status === 'succeeded') {
      const r = job.result || {};
      const n = Array.isArray(r.findings) ? r.findings.length : null;
      status.textContent = `Finished in ${duration(r.duration_ms)}: ${num(r.rows_scanned)} rows, ${n === null ? '' : `${plural(n, 'finding')}, `}worst severity ${job.max_severity || 'none'}.`;
      box.classList.add('done');
      box.append(summaryChips(job.summary || r.summary),
        h('p', null, h('a', {href: `#/scans`, onclick: (e) => {
          e.preventDefault();
          const sec = tableSections.get(job.table);
          if (sec) sec.scrollIntoView({behavior: 'smooth', block: 'start'});
        }}, 'See the overview of this table below'), r.run_id ? [' · ', h('a', {href: `#/runs/${encodeURIComponent(r.run_id)}`}, 'the run')] : null));
      loadTable(job.table);
    } else {
      status.textContent = `The scan ${job.status}.`;
      box.append(notice('error', `The scan ${job.status}`, h('p', null, job.error && job.error.message ? String(job.error.message) : 'No reason given.')));
    }
    loadJobs();
  }

  async function loadJobs() {
    let data;
    try {
      data = await api('/api/v1/scans');
    } catch (e) {
      replace(jobsBox, notice('error', 'Could not list the scans', h('p', null, explain(e))));
      return;
    }
    if (!alive) return;
    const jobs = Array.isArray(data.scans) ? data.scans : [];
    if (!jobs.length) {
      replace(jobsBox, h('p', {class: 'empty'}, 'No scan has been started on this daemon since it started.'));
      return;
    }
    replace(jobsBox, dataTable('Scan jobs on this daemon', [
      {label: 'Table', get: (j) => j.table},
      {label: 'Status', get: (j) => h('span', {class: `status status-${j.status}`}, j.status)},
      {label: 'Created', get: (j) => when(j.created_at)},
      {label: 'Progress', get: (j) => (j.progress && j.progress.fraction !== null && j.progress.fraction !== undefined ? pct(j.progress.fraction) : num((j.progress || {}).rows_done))},
      {label: 'Worst', get: (j) => (j.max_severity ? severityBadge(j.max_severity) : '—')},
      {label: 'Findings', get: (j) => (j.summary ? num(SEVERITIES.reduce((a, s) => a + (j.summary[s] || 0), 0)) : '—'), class: 'num'},
    ], jobs.slice(0, 20)));
    if (jobs.some((j) => j.status === 'queued' || j.status === 'running')) later(loadJobs, 2000);
  }

  async function loadTable(table) {
    const sec = tableSections.get(table);
    if (!sec) return;
    const body = sec.querySelector('.table-body');
    replace(body, loading(`Loading the scans of ${table}…`));
    try {
      const list = await api(`/api/v1/runs?table=${enc(table)}&limit=20`);
      const runs = (Array.isArray(list.runs) ? list.runs : []).filter((r) => (r.scope || 'table') === 'table');
      if (!alive) return;
      if (!runs.length) {
        replace(body, h('div', {class: 'empty'},
          h('p', null, 'This table has not been scanned yet, so there is nothing to show.'),
          h('button', {type: 'button', class: 'btn', onclick: () => {
            select.value = table;
            start(table);
          }}, `Scan ${table} now`)));
        return;
      }
      const recent = runs.slice(0, TREND_RUNS);
      const details = await Promise.all(recent.map((r) => api(`/api/v1/runs/${enc(r.run_id)}`).catch(() => null)));
      if (!alive) return;
      replace(body, tableOverview(table, runs, details));
    } catch (e) {
      if (!alive) return;
      if (e instanceof ApiError && e.status === 501) {
        replace(body, notice('info', 'No run history', h('p', null, explain(e))));
      } else {
        replace(body, notice('error', `Could not load the scans of ${table}`, h('p', null, explain(e)),
          h('button', {type: 'button', class: 'btn', onclick: () => loadTable(table)}, 'Try again')));
      }
    }
  }

  for (const t of tables) {
    const sec = h('section', {class: 'panel table-section', id: `table-${t}`, 'aria-labelledby': `th-${t}`, dataset: {table: t}},
      h('h3', {id: `th-${t}`}, tableLabel(t), ' ', h('code', {class: 'raw'}, t)),
      h('div', {class: 'table-body'}));
    tableSections.set(t, sec);
    overview.append(sec);
  }

  replace(root,
    h('section', {class: 'view', 'aria-labelledby': 'scans-h'},
      h('h1', {id: 'scans-h', tabindex: '-1'}, 'Table scans'),
      h('p', {class: 'lead'}, 'Whole-table checks: where values are missing, negative or unusual, column by column, and how that changes from scan to scan.'),
      h('section', {class: 'panel', 'aria-labelledby': 'start-h'},
        h('h2', {id: 'start-h'}, 'Start a scan'),
        tables.length ? form : notice('warn', 'No tables', h('p', null, 'The daemon’s configuration names no tables (or could not be read).')),
        progressBox),
      h('section', {class: 'panel', 'aria-labelledby': 'jobs-h'},
        h('h2', {id: 'jobs-h'}, 'Recent scan jobs'),
        jobsBox),
      h('section', {'aria-labelledby': 'overview-h'},
        h('h2', {id: 'overview-h'}, 'Overview: the latest scan of each table'),
        h('p', {class: 'meta'}, 'Each heat map shows the columns with findings in the table’s latest stored scan, most severe first; darker means a larger share of rows, a black outline a finding of medium severity or worse. ',
          'Columns flagged for drift (a metric that moved sharply against earlier scans) are outlined in orange. Hover a cell for the numbers, or open the table under each map.'),
        heatLegend(),
        overview)));
  loadJobs();
  for (const t of tables) loadTable(t);
  return {
    dispose: () => {
      alive = false;
      offAuth();
      for (const t of timers) clearTimeout(t);
    },
  };
}

function summaryChips(summary) {
  if (!summary) return null;
  return h('ul', {class: 'chips'}, SEVERITIES.map((s) => h('li', {class: `chip-sev sev-${s}${summary[s] ? '' : ' zero'}`}, `${SEVERITY_LABEL[s]} ${num(summary[s] || 0)}`)));
}

// ---- one table's overview -------------------------------------------------------------------------

function tableOverview(table, runs, details) {
  const latest = details[0];
  const head = runs[0];
  const parts = [];
  parts.push(h('p', {class: 'meta'},
    `Last scanned ${when(head.started_at)} (${ago(head.started_at)}) · ${num(head.rows_scanned)} rows · ${plural(head.findings || 0, 'finding')} · worst `,
    head.max_severity ? severityBadge(head.max_severity) : 'none',
    ' · ', h('a', {href: `#/runs/${encodeURIComponent(head.run_id)}`}, 'open the run')));
  if (!latest) {
    parts.push(notice('error', 'Could not load the latest scan', h('p', null, 'The run list answered but the run itself did not.')));
    return h('div', null, parts);
  }
  const findings = Array.isArray(latest.findings) ? latest.findings : [];
  parts.push(summaryChips(latest.summary));
  const drift = findings.filter((f) => f.check === 'drift');
  if (drift.length) {
    parts.push(h('div', {class: 'notice notice-drift', role: 'note'},
      h('p', {class: 'notice-title'}, `Drift since earlier scans: ${plural(drift.length, 'metric')}`),
      h('ul', null, drift.map((f) => h('li', null, severityBadge(f.severity), ' ', h('code', null, f.column), ' ', String(f.message || ''))))));
  }
  const cols = columnMetrics(findings);
  // trends: the same column's worst ratio in the earlier scans (oldest first)
  const history = details.slice().reverse().filter(Boolean).map((d) => columnMetrics(d.findings || []));
  // drift first, then the worst severity, then the largest share of rows
  const worstOf = (r) => Math.min(...Object.values(r.cells).map((c) => sevRank(c.severity)), ...r.drift.map((f) => sevRank(f.severity)), 99);
  const rows = [...cols.values()].sort((a, b) => (b.drift.length ? 1 : 0) - (a.drift.length ? 1 : 0) ||
    worstOf(a) - worstOf(b) || b.max - a.max || a.column.localeCompare(b.column));
  const toRow = (r) => ({
    label: r.column,
    drift: r.drift.length > 0,
    cells: Object.fromEntries(METRICS.filter((m) => r.cells[m.key]).map((m) => [m.key, {
      ratio: r.cells[m.key].ratio, severity: r.cells[m.key].severity, title: cellTitle(r.column, m, r.cells[m.key]),
    }])),
    trend: history.length > 1 ? history.map((hm) => (hm.has(r.column) ? hm.get(r.column).max : 0)) : null,
  });
  if (!rows.length) {
    parts.push(h('p', {class: 'empty'}, 'No column has findings in the latest scan.'));
  } else {
    const mapBox = h('div', {class: 'heatmap-box'});
    const drawMap = (all) => {
      const shown = all ? rows : rows.slice(0, ROWS_SHOWN);
      replace(mapBox,
        h('div', {class: 'scroller', tabindex: '0', role: 'region', 'aria-label': `Heat map of ${table}`},
          heatmap(shown.map(toRow), METRICS, {title: `Share of rows with each problem, per column of ${table}`, trendLabel: `Last ${history.length} scans`})),
        rows.length > ROWS_SHOWN ? h('button', {type: 'button', class: 'btn small', onclick: () => drawMap(!all)},
          all ? `Show the top ${ROWS_SHOWN} columns` : `Show all ${rows.length} columns`) : null);
    };
    drawMap(false);
    parts.push(mapBox);
    parts.push(h('details', null, h('summary', null, 'The numbers behind the heat map'),
      dataTable(`Ratios per column of ${table}`, [
        {label: 'Column', get: (r) => r.column},
        ...METRICS.map((m) => ({label: m.label, get: (r) => (r.cells[m.key] ? pct(r.cells[m.key].ratio) : ''), class: 'num'})),
        {label: 'Drift', get: (r) => r.drift.map((f) => f.kind).join(', ')},
      ], rows)));
  }
  if (runs.length > 1) {
    const chrono = runs.slice(0, 20).reverse();
    const sevCount = (r, sevs) => (r.summary ? sevs.reduce((a, s) => a + (r.summary[s] || 0), 0) : null);
    const detailById = new Map(details.filter(Boolean).map((d) => [d.run_id, d]));
    parts.push(h('div', {class: 'trend'},
      h('h4', null, 'Findings per scan'),
      lineChart([
        {name: 'All findings', color: '#334155', values: chrono.map((r) => r.findings ?? null)},
        {name: 'High or critical', color: SEVERITY_COLOR.high, values: chrono.map((r) => {
          const d = detailById.get(r.run_id);
          return d ? sevCount(d, ['critical', 'high']) : null;
        }), markers: false},
      ], {
        title: `Findings per scan of ${table}, oldest first`,
        xLabels: timeLabels(chrono.map((r) => r.started_at)),
        markers: chrono.map((r) => (r.max_severity ? {color: SEVERITY_COLOR[r.max_severity], title: `worst ${r.max_severity}`} : null)),
      }),
      h('h4', null, 'Rows scanned'),
      lineChart([{name: 'Rows', color: '#0f766e', values: chrono.map((r) => r.rows_scanned ?? null)}],
        {title: `Rows scanned per scan of ${table}`, xLabels: timeLabels(chrono.map((r) => r.started_at)), height: 150})));
  }
  parts.push(metricTrends(table, rows.map((r) => r.column)));
  return h('div', null, parts);
}

// ---- the metric history of one table (GET /api/v1/metrics) ------------------------------------------

const METRIC_RUNS = 20;
const DRIFT_COLOR = '#c2410c';

// Friendlier names for a few terse ones; any other name is shown as the daemon sends it.
const METRIC_NAMES = {sd: 'Standard deviation', q1: 'Q1 (25th percentile)', q3: 'Q3 (75th percentile)'};

/** "null_ratio" -> "Null ratio"; the names are the daemon's, whatever it sends. */
export function metricLabel(name) {
  if (Object.prototype.hasOwnProperty.call(METRIC_NAMES, name)) return METRIC_NAMES[name];
  const t = String(name).replace(/_/g, ' ');
  return t.charAt(0).toUpperCase() + t.slice(1);
}

/** A formatter for one metric: shares as percentages, the rest as short numbers. */
export function metricFormat(name) {
  if (/ratio|share|fraction|rate$/i.test(name)) return pct;
  return (v) => {
    if (v === null || v === undefined || Number.isNaN(Number(v))) return '—';
    const x = Number(v);
    const a = Math.abs(x);
    if (a !== 0 && a < 0.001) return x.toExponential(1);
    if (a >= 1e9) return `${Number((x / 1e9).toPrecision(3))}G`;
    if (a >= 1e6) return `${Number((x / 1e6).toPrecision(3))}M`;
    if (a >= 100 || Number.isInteger(x)) return x.toLocaleString('en-US', {maximumFractionDigits: 0});
    return x.toLocaleString('en-US', {maximumSignificantDigits: 3});
  };
}

/**
 * Trend charts of one column's metrics over the table's stored scans, with a
 * column picker; drift points ringed.  `preferred` are the heat map's columns,
 * most important first (the default choice after a drifting column).
 */
function metricTrends(table, preferred) {
  const box = h('div', {class: 'metric-trends', 'aria-live': 'polite'}, loading(`Loading the metric history of ${table}…`));
  const sec = h('div', {class: 'trend metrics-section', dataset: {table}},
    h('h4', null, 'Column metrics over the scans'), box);
  api(`/api/v1/metrics?table=${enc(table)}&runs=${METRIC_RUNS}`).then((data) => {
    replace(box, metricView(table, data, preferred));
  }).catch((e) => {
    if (e instanceof ApiError && (e.status === 404 || e.status === 501) && e.code !== 'unknown_table') {
      replace(box, notice('info', 'No metric history from this daemon',
        h('p', null, 'Trends of each column’s metrics need GET /api/v1/metrics, which this daemon does not offer.'),
        h('p', {class: 'detail'}, 'The daemon said: ', e.message)));
      return;
    }
    replace(box, notice('error', `Could not load the metric history of ${table}`, h('p', null, explain(e)),
      h('button', {type: 'button', class: 'btn small', onclick: () => sec.replaceWith(metricTrends(table, preferred))}, 'Try again')));
  });
  return sec;
}

function metricView(table, data, preferred) {
  const runs = Array.isArray(data.runs) ? data.runs : [];
  const columns = data.columns && typeof data.columns === 'object' ? data.columns : {};
  const drift = Array.isArray(data.drift) ? data.drift : [];
  const names = Object.keys(columns);
  if (!runs.length || !names.length) {
    return h('p', {class: 'empty'}, 'No metric history is stored for this table yet: it appears after the first scan.');
  }
  const driftCols = [...new Set(drift.map((d) => d.column))].filter((c) => columns[c]);
  const pref = preferred.filter((c) => columns[c] && !driftCols.includes(c));
  const rest = names.filter((c) => !driftCols.includes(c) && !pref.includes(c)).sort();
  const selId = nextId('metric-col');
  const select = h('select', {id: selId, name: 'metric-column'},
    driftCols.length ? h('optgroup', {label: 'Drift flagged'}, driftCols.map((c) => h('option', {value: c}, `${c} (drift)`))) : null,
    pref.length ? h('optgroup', {label: 'With findings in the latest scan'}, pref.map((c) => h('option', {value: c}, c))) : null,
    rest.length ? h('optgroup', {label: 'Other columns'}, rest.map((c) => h('option', {value: c}, c))) : null);
  select.value = driftCols[0] || pref[0] || rest[0];
  const charts = h('div', {class: 'metric-charts'});
  const draw = () => replace(charts, columnCharts(table, select.value, runs, columns[select.value] || {}, drift));
  select.addEventListener('change', draw);
  draw();
  return h('div', null,
    h('p', {class: 'meta'}, `The metrics stored with each of the last ${plural(runs.length, 'scan')} of ${table} (oldest on the left). `,
      drift.length ? `${plural(drift.length, 'drift flag')} in ${plural(driftCols.length, 'column')}: ringed in orange.` : 'No drift was flagged.'),
    h('div', {class: 'field'}, h('label', {for: selId}, 'Column to chart'), select),
    charts);
}

function columnCharts(table, column, runs, metrics, drift) {
  const names = Object.keys(metrics).filter((m) => Array.isArray(metrics[m]) && metrics[m].some((v) => v !== null && v !== undefined));
  const labels = timeLabels(runs.map((r) => r.started_at));
  const mine = drift.filter((d) => d.column === column);
  const runIndex = new Map(runs.map((r, i) => [r.run_id, i]));
  if (!names.length) return h('p', {class: 'empty'}, `No metric of ${column} has a value in these scans.`);
  const markersFor = (m) => {
    // a flag on a metric the column does not chart (another name) rings every chart of that scan
    const hits = mine.filter((d) => d.metric === m || !names.includes(d.metric));
    if (!hits.length) return null;
    const out = runs.map(() => null);
    for (const d of hits) {
      const i = runIndex.get(d.run_id);
      if (i !== undefined) out[i] = {color: DRIFT_COLOR, cls: 'drift-point', title: `drift in ${metricLabel(d.metric)}`};
    }
    return out;
  };
  const tiles = names.map((m) => {
    const fmt = metricFormat(m);
    const flagged = markersFor(m);
    const legendExtra = flagged && flagged.some(Boolean) ? [['drift flagged', DRIFT_COLOR, 'legend-ring']] : [];
    return h('div', {class: ['metric-tile', flagged && flagged.some(Boolean) ? 'has-drift' : null], dataset: {metric: m}},
      h('h5', null, metricLabel(m), flagged && flagged.some(Boolean) ? h('span', {class: 'drift-chip'}, 'drift') : null),
      lineChart([{name: metricLabel(m), color: '#334155', values: metrics[m].slice(0, runs.length).map((v) => (v === null || v === undefined ? null : Number(v)))}], {
        title: `${metricLabel(m)} of ${column} in ${table} per scan, oldest first`,
        xLabels: labels, yFormat: fmt, height: 150, fit: true, markers: flagged, legendExtra,
      }));
  });
  return h('div', {dataset: {column}},
    mine.length ? h('ul', {class: 'drift-list'}, mine.map((d) => {
      const r = runs[runIndex.get(d.run_id)];
      return h('li', null, h('span', {class: 'drift-chip'}, 'drift'), ' ', metricLabel(d.metric), r ? ` in the scan of ${when(r.started_at)}` : '');
    })) : null,
    h('div', {class: 'metric-grid'}, tiles),
    h('details', null, h('summary', null, `The numbers behind these charts (${column})`),
      dataTable(`Metrics of ${column} per scan`, [
        {label: 'Scan', get: (r) => h('a', {href: `#/runs/${encodeURIComponent(r.run_id)}`}, when(r.started_at))},
        {label: 'Rows', get: (r) => num(r.rows), class: 'num'},
        ...names.map((m) => ({label: metricLabel(m), class: 'num', get: (r, i) => {
          const v = metrics[m][i];
          const flagged = mine.some((d) => d.run_id === r.run_id && d.metric === m);
          return v === null || v === undefined ? '' : `${metricFormat(m)(v)}${flagged ? ' (drift)' : ''}`;
        }})),
      ], runs)));
}
