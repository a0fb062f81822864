// customer.js -- the customer view: what is wrong with one customer's data,
// what to do about it, what it costs, and the raw rows behind each number.
//
// "Check" runs the checks now (POST /api/v1/customers/{id}/runs, a write
// call); without write access it shows the latest stored report
// (GET /api/v1/customers/{id}/report).  The customer's own rows
// (GET /api/v1/customers/{id}/rows) are fetched when their section is
// first opened; cells a finding points at are highlighted there.

import {
  h, replace, nextId, notice, loading, dataTable, scroller, copyButton, severityBadge, SEVERITIES, SEVERITY_LABEL,
  SEVERITY_MEANING, sevRank, worst, num, pct, when, ago, duration, plural, tableLabel, columnKind,
  checkLabel,
} from './dom.js';
import {api, auth, enc, explain, ApiError} from './api.js';
import {stackedBars, lineageDiagram} from './charts.js';
import {buildLineage, lineageText} from './lineage.js';

export const EXAMPLE_IDS = ['103065', '108032', '111950', '112961', '121072', '103788'];
const ID_RE = /^[A-Za-z0-9._-]{1,64}$/;

/** A suggestion from either shape (a fresh run's flat one, or a stored one with "advice" inside). */
export function normSuggestion(s) {
  const inner = s && typeof s.advice === 'object' && s.advice !== null ? s.advice : {};
  const out = {...inner, ...s};
  delete out.advice;
  if (out.signature && (!out.table || !out.check)) {
    const [table, column, check, kind, severity] = String(out.signature).split('|');
    out.table = out.table || table;
    out.column = out.column || column;
    out.check = out.check || check;
    out.kind = out.kind || kind;
    out.severity = out.severity || severity;
  }
  if (!out.reason && inner.reason) out.reason = inner.reason;
  return out;
}

const fkey = (o, sev = true) => [o.table, o.column, o.check, o.kind, sev ? o.severity : ''].join('|');

function pairFindings(findings, suggestions) {
  const exact = new Map();
  const loose = new Map();
  for (const s of suggestions) {
    if (!exact.has(fkey(s))) exact.set(fkey(s), s);
    if (!loose.has(fkey(s, false))) loose.set(fkey(s, false), s);
  }
  return findings.map((f) => ({f, s: exact.get(fkey(f)) || loose.get(fkey(f, false)) || null}));
}

function list(items, cls) {
  const a = (Array.isArray(items) ? items : items ? [items] : []).filter((x) => x !== null && x !== undefined && x !== '');
  return a.length ? h('ul', {class: cls}, a.map((x) => h('li', null, String(x)))) : null;
}

function where(f) {
  const kind = columnKind(f.column);
  return h('span', {class: 'where'}, tableLabel(f.table), ' › ', h('code', null, f.column), kind ? ` (${kind})` : '');
}

// ---- the view -------------------------------------------------------------------------------

export function render(root, params, ctx) {
  const inputId = nextId('cid');
  const listId = nextId('cid-examples');
  const hintId = nextId('cid-hint');
  const input = h('input', {
    id: inputId, name: 'customer', type: 'text', inputmode: 'numeric', autocomplete: 'off', spellcheck: 'false',
    list: listId, maxlength: '64', required: true, placeholder: 'e.g. 103065', 'aria-describedby': hintId,
  });
  const result = h('div', {class: 'customer-result', 'aria-live': 'polite'});
  let controller = null;
  let alive = true;

  async function go(rawId, mode) {
    const id = String(rawId || '').trim();
    if (controller) controller.abort();
    if (!id) {
      replace(result, notice('warn', 'Enter a customer ID', h('p', null, 'Type a customer ID (for example 103065) or pick one of the examples.')));
      input.focus();
      return;
    }
    if (!ID_RE.test(id)) {
      replace(result, notice('error', 'That is not a customer ID',
        h('p', null, 'A customer ID is up to 64 letters, digits, “-”, “_” or “.”, for example 103065. You typed: ', h('code', null, id))));
      input.focus();
      return;
    }
    input.value = id;
    const path = `#/customer/${enc(id)}`;
    if (location.hash !== path) history.replaceState(null, '', path);
    const fresh = mode !== 'stored' && auth.canWrite;
    controller = new AbortController();
    const signal = controller.signal;
    result.setAttribute('aria-busy', 'true');
    replace(result, loading(fresh
      ? `Checking customer ${id}: reading its rows in every table, running the checks and rules, asking the AI advisor…`
      : `Loading the latest stored report of customer ${id}…`));
    let report = null;
    let source = fresh ? 'fresh' : 'stored';
    let note = null;
    try {
      if (fresh) {
        try {
          report = await api(`/api/v1/customers/${enc(id)}/runs`, {method: 'POST', signal});
        } catch (e) {
          if (!(e instanceof ApiError) || e.status !== 401) throw e;
          note = 'The daemon refused to run a new check without a valid token, so this is the latest stored report.';
          source = 'stored';
          report = await api(`/api/v1/customers/${enc(id)}/report`, {signal});
        }
      } else {
        report = await api(`/api/v1/customers/${enc(id)}/report`, {signal});
        if (auth.required) note = 'Read-only: this is the latest stored report. Enter the access token to run a new check.';
      }
    } catch (e) {
      if (e && e.name === 'AbortError') return;
      if (!alive) return;
      result.setAttribute('aria-busy', 'false');
      replace(result, errorPanel(e, id, source, () => go(id, mode)));
      return;
    }
    if (!alive) return;
    result.setAttribute('aria-busy', 'false');
    const rules = await ctx.rules().catch(() => null);
    if (!alive || signal.aborted) return;
    replace(result, renderReport(report, {id, source, note, ctx, rules, recheck: () => go(id, 'check'), stored: () => go(id, 'stored')}));
  }

  const form = h('form', {class: 'lookup', role: 'search', 'aria-label': 'Customer lookup', onsubmit: (e) => {
    e.preventDefault();
    go(input.value);
  }},
  h('div', {class: 'field'},
    h('label', {for: inputId}, 'Customer ID'),
    h('div', {class: 'inline'},
      input,
      h('datalist', {id: listId}, EXAMPLE_IDS.map((x) => h('option', {value: x}))),
      h('button', {type: 'submit', class: 'btn primary'}, 'Check customer'),
      h('button', {type: 'button', class: 'btn', onclick: () => go(input.value, 'stored')}, 'Latest stored report'))),
  h('p', {id: hintId, class: 'hint'}, 'Examples: ',
    EXAMPLE_IDS.map((x) => h('button', {type: 'button', class: 'chip', 'aria-label': `Check example customer ${x}`, onclick: () => go(x)}, x))));

  replace(root,
    h('section', {class: 'view', 'aria-labelledby': 'customer-h'},
      h('h1', {id: 'customer-h', tabindex: '-1'}, 'Customer data check'),
      h('p', {class: 'lead'}, 'Type a customer ID to see what is wrong with the customer’s credit data, what it means for the business, and what to do about it.'),
      form,
      result));
  if (params.id) go(decodeURIComponent(params.id));
  else replace(result, h('div', {class: 'empty'}, h('p', null, 'No customer checked yet. Pick an example above or type an ID.')));
  return {
    focus: () => input.focus(),
    dispose: () => {
      alive = false;
      if (controller) controller.abort();
    },
  };
}

function errorPanel(e, id, source, retry) {
  const retryBtn = h('button', {type: 'button', class: 'btn', onclick: retry}, 'Try again');
  if (e instanceof ApiError) {
    if (e.unreachable) return notice('error', 'The CreditSense daemon cannot be reached', h('p', null, e.message), retryBtn);
    if (e.status === 404 && source === 'stored' && /no stored run/i.test(e.message)) {
      return notice('warn', `No stored report for customer ${id}`,
        h('p', null, 'This customer has not been checked yet (or the ID does not exist). ',
          auth.canWrite ? 'Use “Check customer” to check it now.' : 'Checking it needs the access token: use “Enter token” at the top.'));
    }
    if (e.status === 404) {
      return notice('error', `Customer ${id} was not found`,
        h('p', null, 'No configured table has rows for this customer ID. Check the ID for typing mistakes; the example IDs above are known to exist.'),
        h('p', {class: 'detail'}, 'The daemon said: ', e.message));
    }
    if (e.status === 400) return notice('error', 'That is not a valid customer ID', h('p', null, e.message));
    if (e.status === 401) return notice('warn', 'Access token needed', h('p', null, explain(e)));
    return notice('error', `The check could not be done (${e.status} ${e.code})`, h('p', null, explain(e)), retryBtn);
  }
  return notice('error', 'Something went wrong', h('p', null, String((e && e.message) || e)), retryBtn);
}

// ---- the report ---------------------------------------------------------------------------------

function renderReport(report, o) {
  const findings = Array.isArray(report.findings) ? report.findings.slice() : [];
  findings.sort((a, b) => sevRank(a.severity) - sevRank(b.severity));
  const suggestions = (Array.isArray(report.suggestions) ? report.suggestions : []).map(normSuggestion);
  const pairs = pairFindings(findings, suggestions);
  const summary = {};
  for (const s of SEVERITIES) summary[s] = 0;
  if (report.summary && typeof report.summary === 'object') for (const s of SEVERITIES) summary[s] = Number(report.summary[s] || 0);
  else for (const f of findings) summary[f.severity] = (summary[f.severity] || 0) + 1;
  const cid = report.customer_id !== undefined ? String(report.customer_id) : o.id;
  const rowCounts = report.tables && Object.keys(report.tables).length ? report.tables : null;
  return h('div', {class: 'report'},
    headerPanel(report, o, cid, rowCounts),
    verdict(summary, findings, cid),
    findings.length ? whereChart(findings, rowCounts, o.ctx) : null,
    advicePanel(report, pairs, suggestions, o),
    impactPanel(pairs, summary, findings),
    lineagePanel(findings, suggestions, rowCounts, o),
    rawPanel(report, findings, suggestions, cid, o));
}

function headerPanel(report, o, cid, rowCounts) {
  const tables = rowCounts ? Object.keys(rowCounts).length : null;
  const meta = [
    o.source === 'fresh' ? `Checked ${ago(report.finished_at || report.started_at) || 'just now'}` : `Latest stored report, from ${when(report.started_at)} (${ago(report.started_at)})`,
    report.rows_scanned !== undefined ? `${plural(report.rows_scanned, 'row')}${tables ? ` in ${plural(tables, 'table')}` : ''}` : null,
    report.duration_ms !== undefined ? `took ${duration(report.duration_ms)}` : null,
  ].filter(Boolean).join(' · ');
  const blob = new Blob([JSON.stringify(report, null, 2)], {type: 'application/json'});
  return h('div', {class: 'report-head'},
    h('div', null,
      h('h2', {id: 'report-h', tabindex: '-1'}, `Customer ${cid}`),
      h('p', {class: 'meta'}, meta),
      report.run_id ? h('p', {class: 'meta'}, 'Run ', h('a', {href: `#/runs/${encodeURIComponent(report.run_id)}`}, h('code', null, report.run_id))) : null),
    h('div', {class: 'actions'},
      auth.canWrite ? h('button', {type: 'button', class: 'btn', onclick: o.recheck}, o.source === 'fresh' ? 'Check again' : 'Check now') : null,
      h('a', {class: 'btn', href: URL.createObjectURL(blob), download: `creditsense-customer-${cid}.json`}, 'Download JSON')),
    o.note ? notice('info', null, h('p', null, o.note)) : null,
    report.store_error ? notice('warn', 'This run was not stored', h('p', null, String(report.store_error))) : null);
}

function verdict(summary, findings, cid) {
  const serious = summary.critical + summary.high;
  const attention = serious + summary.medium;
  let headline;
  if (!findings.length) headline = `No data-quality problems found for customer ${cid}.`;
  else if (summary.critical) headline = `Do not rely on this customer’s data yet: ${plural(summary.critical, 'critical problem')}${summary.high ? ` and ${summary.high} high` : ''}.`;
  else if (summary.high) headline = `${plural(summary.high, 'serious problem')} to fix before the next credit decision${summary.medium ? `, and ${summary.medium} to fix soon` : ''}.`;
  else if (summary.medium) headline = `${plural(summary.medium, 'problem')} to fix soon; nothing blocks a credit decision.`;
  else headline = 'Only minor issues and notes: nothing blocks a credit decision.';
  const rest = findings.length - attention;
  return h('section', {class: 'verdict', 'aria-labelledby': 'summary-h'},
    h('h3', {id: 'summary-h', class: 'visually-hidden'}, 'Summary'),
    h('p', {class: 'headline'}, headline, rest > 0 && attention ? ` Plus ${plural(rest, 'minor issue or note', 'minor issues and notes')}.` : ''),
    h('ul', {class: 'banners'}, SEVERITIES.map((s) => h('li', {class: `banner sev-${s}${summary[s] ? '' : ' zero'}`, dataset: {severity: s}},
      h('span', {class: 'count'}, num(summary[s])),
      h('span', {class: 'name'}, SEVERITY_LABEL[s]),
      h('span', {class: 'meaning'}, SEVERITY_MEANING[s])))));
}

function whereChart(findings, rowCounts, ctx) {
  const tables = [...new Set([...Object.keys((ctx.config && ctx.config.tables) || {}), ...findings.map((f) => f.table)])];
  const rows = tables.map((t) => {
    const counts = {};
    for (const f of findings) if (f.table === t) counts[f.severity] = (counts[f.severity] || 0) + 1;
    const n = rowCounts && rowCounts[t] !== undefined ? ` · ${plural(rowCounts[t], 'row')}` : '';
    return {label: tableLabel(t), sub: `${t}${n}`, counts};
  });
  return h('section', {class: 'panel', 'aria-labelledby': 'where-h'},
    h('h3', {id: 'where-h'}, 'Where the problems are'),
    stackedBars(rows, {title: 'Findings per table, by severity'}),
    rowCounts ? h('p', {class: 'meta'}, 'Under each table: how many of its rows belong to this customer.') : null);
}

// ---- advice ---------------------------------------------------------------------------------------

function advisorLine(report, suggestions) {
  const a = report.advisor && typeof report.advisor === 'object' ? report.advisor : null;
  const counts = {};
  for (const s of suggestions) counts[s.status || 'ok'] = (counts[s.status || 'ok'] || 0) + 1;
  const first = suggestions.find((s) => s.backend) || {};
  const backend = (a && a.backend) || first.backend;
  const model = (a && a.model) || first.model;
  const parts = [];
  if (backend) parts.push(h('p', {class: 'meta'}, 'Suggestions by ', h('strong', null, backend), model ? ` (${model})` : '',
    a && a.offline ? ': the offline advisor, built from each finding’s check, table and column; no data left this machine.' : '.'));
  if (a && a.note && !a.offline && backend) parts.push(h('p', {class: 'meta'}, 'Note from the advisor: ', String(a.note)));
  if (a && a.note && !backend) parts.push(notice('warn', 'No AI advice for this run', h('p', null, String(a.note))));
  if (a && a.error) parts.push(notice('warn', 'The AI advisor is not available', h('p', null, String(a.error))));
  if (counts.pending) {
    parts.push(notice('warn', `Advice pending for ${plural(counts.pending, 'finding')}`,
      h('p', null, 'The AI advisor has not answered for these yet (it may be busy or rate-limited). Check the customer again later; the answers are stored when they arrive.')));
  }
  const bad = (counts.failed || 0) + (counts.blocked || 0);
  if (bad) {
    parts.push(notice('error', `No advice for ${plural(bad, 'finding')}`,
      h('p', null, 'The AI advisor could not answer for these (the reason is shown on each). The findings themselves are complete and stored.')));
  }
  return parts;
}

function ruleTemplates(s) {
  const t = s.rule_templates && typeof s.rule_templates === 'object' ? s.rule_templates : null;
  if (!t) return null;
  const entries = [['sql', 'SQL check'], ['lua', 'Lua rule for CreditSense']].filter(([k]) => typeof t[k] === 'string' && t[k]);
  for (const [k, v] of Object.entries(t)) if (typeof v === 'string' && v && !['sql', 'lua'].includes(k)) entries.push([k, k]);
  if (!entries.length) return null;
  return h('details', {class: 'rule-templates'},
    h('summary', null, 'Rule template to catch this automatically'),
    entries.map(([k, label]) => h('div', {class: 'template'},
      h('div', {class: 'template-head'}, h('span', null, label), copyButton(`Copy ${label}`, () => t[k])),
      h('pre', null, h('code', {class: `lang-${k}`}, t[k])))));
}

function adviceBody(s, full, below) {
  if (!s && below) return h('p', {class: 'advice-missing'}, `Not sent to the AI advisor: it advises ${below} findings and worse (advisor.min_severity).`);
  if (!s) return h('p', {class: 'advice-missing'}, 'No AI suggestion was stored for this finding.');
  const status = s.status || 'ok';
  if (status === 'pending') {
    return notice('warn', 'Advice pending', h('p', null, 'The AI advisor has not answered yet.', s.reason ? ` (${s.reason})` : ''));
  }
  if (status === 'failed' || status === 'blocked') {
    return notice('error', status === 'blocked' ? 'The AI advisor declined to advise' : 'The AI advisor could not advise',
      h('p', null, s.reason ? String(s.reason) : 'No reason was given.'));
  }
  const fix = h('div', null, h('h5', null, 'What to do'), list(s.fix_suggestions, 'fix') || h('p', null, '—'));
  const cause = h('div', null, h('h5', null, 'Likely root cause'), list(s.root_cause_hypotheses, 'causes') || h('p', null, '—'));
  const impact = h('div', null, h('h5', null, 'Business impact'), s.business_impact ? h('p', {class: 'impact'}, String(s.business_impact)) : h('p', null, '—'));
  if (full) return h('div', {class: 'advice'}, h('div', {class: 'advice-grid'}, fix, cause, impact), ruleTemplates(s));
  return h('div', {class: 'advice'}, fix,
    h('details', {class: 'more'}, h('summary', null, 'Root cause and business impact'), h('div', {class: 'advice-grid'}, cause, impact)),
    ruleTemplates(s));
}

// minSev: the advisor's min_severity from the report, so a finding below it reads as skipped on purpose.
function card(f, s, minSev) {
  const prio = s && s.priority ? h('span', {class: 'prio'}, `Priority: ${s.priority}`) : null;
  return h('article', {class: `card sev-${f.severity}`, dataset: {check: f.check, table: f.table}},
    h('header', null,
      severityBadge(f.severity),
      h('h4', null, checkLabel(f)),
      where(f),
      prio),
    h('p', {class: 'finding-msg'}, String(f.message || '')),
    f.source === 'lua' ? h('p', {class: 'meta'}, 'Found by the data-steward rule ', h('code', null, f.check)) : null,
    adviceBody(s, sevRank(f.severity) <= sevRank('medium'), minSev && sevRank(f.severity) > sevRank(minSev) ? minSev : null));
}

function advicePanel(report, pairs, suggestions, o) {
  const main = pairs.filter((p) => sevRank(p.f.severity) <= sevRank('medium'));
  const minor = pairs.filter((p) => p.f.severity === 'low');
  const info = pairs.filter((p) => p.f.severity === 'info');
  const a = report.advisor && typeof report.advisor === 'object' ? report.advisor : null;
  const minSev = a && typeof a.min_severity === 'string' ? a.min_severity : null;
  return h('section', {class: 'panel', 'aria-labelledby': 'advice-h'},
    h('h3', {id: 'advice-h'}, 'What to do: AI suggestions'),
    advisorLine(report, suggestions),
    pairs.length === 0 ? h('p', {class: 'empty'}, 'Nothing to fix: every check passed for this customer.') : null,
    main.length ? h('div', {class: 'cards'}, main.map((p) => card(p.f, p.s, minSev)))
      : pairs.length ? h('p', {class: 'ok-line'}, 'Nothing that needs attention soon: only minor issues and notes.') : null,
    minor.length ? h('details', {class: 'minor-issues', open: main.length === 0},
      h('summary', null, `${plural(minor.length, 'minor issue')}: worth cleaning up`),
      h('div', {class: 'cards compact'}, minor.map((p) => card(p.f, p.s, minSev)))) : null,
    info.length ? h('details', {class: 'info-notes'},
      h('summary', null, `${plural(info.length, 'informational note')} (usually expected, e.g. optional fields left empty)`),
      h('div', {class: 'cards compact'}, info.map((p) => card(p.f, p.s, minSev)))) : null);
}

// ---- business impact ----------------------------------------------------------------------------------

function impactPanel(pairs, summary, findings) {
  const level = worst(findings.map((f) => f.severity).filter((s) => s !== 'info')) || (findings.length ? 'info' : null);
  const risk = {critical: 'Very high', high: 'High', medium: 'Moderate', low: 'Low', info: 'Minimal'}[level] || 'None';
  const seen = new Set();
  const impacts = [];
  for (const {f, s} of pairs) {
    if (!s || (s.status && s.status !== 'ok') || !s.business_impact || f.severity === 'info') continue;
    const text = String(s.business_impact);
    if (seen.has(text)) continue;
    seen.add(text);
    impacts.push({f, text});
  }
  const important = impacts.filter((x) => sevRank(x.f.severity) <= sevRank('medium'));
  const shown = (important.length ? important : impacts).slice(0, 6);
  const tables = new Set(findings.filter((f) => f.severity !== 'info').map((f) => f.table));
  const columns = new Set(findings.filter((f) => f.severity !== 'info').flatMap((f) => String(f.column).split(',').map((c) => `${f.table}.${c}`)));
  const segments = ['info', 'low', 'medium', 'high', 'critical'];
  return h('section', {class: 'panel', 'aria-labelledby': 'impact-h'},
    h('h3', {id: 'impact-h'}, 'Business impact'),
    h('div', {class: 'risk'},
      h('p', {class: 'risk-label'}, 'Credit decision risk from data quality: ', h('strong', null, risk)),
      h('div', {class: 'risk-meter', 'aria-hidden': 'true'}, segments.map((s) => h('span', {class: `seg sev-${s}${level && sevRank(s) >= sevRank(level) ? ' on' : ''}`})))),
    h('p', null, findings.length
      ? `Problems beyond informational notes touch ${plural(tables.size, 'table')} and ${plural(columns.size, 'column')} of this customer’s data. ` +
        (summary.critical + summary.high ? 'Scores, limits and affordability checks computed from them may be wrong until they are fixed.' : 'They are unlikely to change a credit decision on their own, but they add up in reports and models.')
      : 'The data behind this customer’s credit decision passed every check.'),
    shown.length ? h('ul', {class: 'impacts'}, shown.map(({f, text}) => h('li', null, severityBadge(f.severity), ' ', where(f), h('p', null, text)))) : null,
    impacts.length > shown.length ? h('p', {class: 'meta'}, `${impacts.length - shown.length} more, for less severe findings, in the suggestions above.`) : null,
    h('details', {class: 'why'}, h('summary', null, 'Why data quality matters here'),
      h('ul', null,
        h('li', null, 'Problems found early are cheap to fix; after a credit decision they become complaints, losses or restatements.'),
        h('li', null, 'Severity lets the data stewards fix what changes decisions first.'),
        h('li', null, 'The lineage below shows which other tables inherit a problem through their joins.'),
        h('li', null, 'Every run, finding and suggestion is stored, so audits and regulators can see what was known and when.'))));
}

// ---- lineage -----------------------------------------------------------------------------------------

function lineagePanel(findings, suggestions, rowCounts, o) {
  const model = buildLineage(o.ctx.config, o.rules, findings, rowCounts);
  const insights = [...new Set(suggestions.filter((s) => !s.status || s.status === 'ok')
    .flatMap((s) => (Array.isArray(s.lineage_insights) ? s.lineage_insights : [])).map(String))];
  return h('section', {class: 'panel', 'aria-labelledby': 'lineage-h'},
    h('h3', {id: 'lineage-h'}, 'Lineage: affected tables and how they join'),
    h('p', {class: 'meta'}, 'Each box is a table of this customer’s data; coloured dots are columns with findings (worst severity). Lines are joins on ',
      model.customerKey ? h('code', null, model.customerKey) : 'the customer key', ' and on the other tables’ keys.'),
    model.nodes.length ? lineageDiagram(model, {title: 'Lineage of the customer’s tables'}) : h('p', null, 'The configuration names no tables.'),
    lineageText(model),
    insights.length ? h('div', null, h('h4', null, 'The advisor’s lineage notes'), list(insights.slice(0, 8), 'insights')) : null);
}

// ---- raw data -------------------------------------------------------------------------------------------

function keys(v) {
  return Array.isArray(v) ? v.map(String).join(', ') : '';
}

function rawPanel(report, findings, suggestions, cid, o) {
  const anomalyCols = [
    {label: 'Severity', get: (f) => severityBadge(f.severity)},
    {label: 'Check', get: (f) => f.check},
    {label: 'Source', get: (f) => f.source},
    {label: 'Table', get: (f) => f.table},
    {label: 'Column', get: (f) => f.column, class: 'wrap'},
    {label: 'Kind', get: (f) => f.kind},
    {label: 'Count', get: (f) => num(f.count), class: 'num'},
    {label: 'Total', get: (f) => num(f.total), class: 'num'},
    {label: 'Ratio', get: (f) => pct(f.ratio), class: 'num'},
    {label: 'Message', get: (f) => f.message, class: 'wide'},
    {label: 'Sample keys', get: (f) => keys(f.sample_keys), class: 'wrap'},
    {label: 'Range', get: (f) => (f.lower !== undefined || f.upper !== undefined ? `${f.lower ?? '—'} … ${f.upper ?? '—'}` : '')},
  ];
  const sugCols = [
    {label: 'Table', get: (s) => s.table},
    {label: 'Column', get: (s) => s.column, class: 'wrap'},
    {label: 'Check', get: (s) => s.check},
    {label: 'Kind', get: (s) => s.kind},
    {label: 'Severity', get: (s) => (s.severity ? severityBadge(s.severity) : '')},
    {label: 'Status', get: (s) => s.status},
    {label: 'Priority', get: (s) => s.priority},
    {label: 'Backend', get: (s) => [s.backend, s.model].filter(Boolean).join(' / ')},
    {label: 'Cached', get: (s) => (s.cached === undefined ? '' : s.cached ? 'yes' : 'no')},
    {label: 'Fix', get: (s) => (Array.isArray(s.fix_suggestions) ? s.fix_suggestions.join(' | ') : ''), class: 'wide'},
    {label: 'Root cause', get: (s) => (Array.isArray(s.root_cause_hypotheses) ? s.root_cause_hypotheses.join(' | ') : ''), class: 'wide'},
    {label: 'Impact', get: (s) => s.business_impact, class: 'wide'},
    {label: 'Reason', get: (s) => s.reason},
    {label: 'Signature', get: (s) => s.signature, class: 'wrap'},
  ];
  return h('section', {class: 'panel raw', 'aria-labelledby': 'raw-h'},
    h('h3', {id: 'raw-h'}, 'Raw data for engineers'),
    h('details', {class: 'raw-anomalies'},
      h('summary', null, `Anomalies (${findings.length} rows)`),
      findings.length ? dataTable(`Anomalies of customer ${cid}`, anomalyCols, findings) : h('p', null, 'No anomalies.')),
    h('details', {class: 'raw-suggestions'},
      h('summary', null, `AI suggestions (${suggestions.length} rows)`),
      suggestions.length ? dataTable(`AI suggestions for customer ${cid}`, sugCols, suggestions) : h('p', null, 'No suggestions.')),
    rawRows(report, findings, cid, o.ctx));
}

// ---- the customer's own rows (GET /api/v1/customers/{id}/rows) -------------------------------------------

/** Whether a value is one a finding is about, when no row key says so (null for "any value"). */
function offends(f, v) {
  if (f.check === 'missing' && f.kind === 'null') return v === null || v === undefined;
  if (f.check === 'negative') return typeof v === 'number' && v < 0;
  if (f.check === 'outlier' && (typeof f.lower === 'number' || typeof f.upper === 'number')) {
    return typeof v === 'number' && ((typeof f.lower === 'number' && v < f.lower) || (typeof f.upper === 'number' && v > f.upper));
  }
  return true;
}

/**
 * The findings of one table by column: {keyed, f} where keyed is the set of
 * row keys the finding names.  Row keys count only when the table has a
 * primary key; when they do not cover every offending row (a finding lists a
 * sample of keys), or there are none, the cell's value decides (offends()).
 */
function cellHits(findings, table, primaryKey) {
  const hits = new Map();
  for (const f of findings) {
    if (f.table !== table) continue;
    const sk = Array.isArray(f.sample_keys) ? f.sample_keys.map(String) : [];
    const keyed = primaryKey && sk.length ? new Set(sk) : null;
    const complete = keyed && !(Number(f.count) > sk.length);
    for (const c of String(f.column || '').split(',').map((x) => x.trim()).filter(Boolean)) {
      hits.set(c, [...(hits.get(c) || []), {f, keyed, complete}]);
    }
  }
  return hits;
}

function hitsOf(list, key, v) {
  return (list || []).filter(({f, keyed, complete}) =>
    (keyed && key !== null && keyed.has(key)) || (!complete && offends(f, v))).map((x) => x.f);
}

function cellText(v) {
  if (v === null || v === undefined) return h('span', {class: 'null'}, 'NULL');
  if (typeof v === 'object') return JSON.stringify(v);
  // binary floating-point noise (1061.1100000000001) is not in the data: 15 significant digits are
  if (typeof v === 'number' && !Number.isInteger(v)) return String(Number(v.toPrecision(15)));
  return String(v);
}

function rowsTable(cid, table, t, findings, primaryKey) {
  const columns = Array.isArray(t.columns) ? t.columns.map(String) : [];
  const rows = Array.isArray(t.rows) ? t.rows : [];
  const masked = new Set(Array.isArray(t.masked) ? t.masked.map(String) : []);
  const hits = cellHits(findings, table, primaryKey);
  const keyAt = primaryKey ? columns.findIndex((c) => c.toUpperCase() === String(primaryKey).toUpperCase()) : -1;
  let flagged = 0;
  const cell = (row, c, j) => {
    const v = Array.isArray(row) ? row[j] : null;
    if (masked.has(c)) {
      return h('td', {class: 'masked', title: 'Sensitive column: its values are not shown'}, 'masked');
    }
    const key = keyAt >= 0 && row[keyAt] !== null && row[keyAt] !== undefined ? String(row[keyAt]) : null;
    const fs = hitsOf(hits.get(c), key, v);
    if (!fs.length) return h('td', {class: typeof v === 'number' ? 'num' : null}, cellText(v));
    flagged += 1;
    const sev = fs.map((f) => f.severity).sort((a, b) => sevRank(a) - sevRank(b))[0] || 'info';
    const why = fs.map((f) => `${checkLabel(f)} (${f.severity}): ${f.message || ''}`).join(' · ');
    return h('td', {class: ['hit', `hit-${sev}`, typeof v === 'number' ? 'num' : null], title: why, dataset: {severity: sev}},
      cellText(v), h('span', {class: 'visually-hidden'}, ` (flagged: ${why})`));
  };
  const tableEl = h('table', {class: 'data customer-rows', dataset: {table}},
    h('caption', {class: 'visually-hidden'}, `Rows of customer ${cid} in ${table}`),
    h('thead', null, h('tr', null, columns.map((c) => h('th', {scope: 'col', class: masked.has(c) ? 'masked-col' : null}, c)))),
    h('tbody', null, rows.map((row) => h('tr', null, columns.map((c, j) => cell(row, c, j))))));
  const sum = [`${tableLabel(table)} `, h('code', null, table), ` · ${plural(rows.length, 'row')}`,
    t.truncated ? ' (first rows only)' : '', masked.size ? ` · ${plural(masked.size, 'masked column')}` : '',
    flagged ? ` · ${plural(flagged, 'flagged cell')}` : ''];
  return h('details', {class: 'raw-table', dataset: {table}},
    h('summary', null, sum),
    rows.length ? scroller(`Rows of customer ${cid} in ${table}`, tableEl) : h('p', {class: 'empty'}, 'This customer has no rows in this table.'),
    t.truncated ? h('p', {class: 'meta'}, `Only the first ${plural(rows.length, 'row')} are shown; the daemon limits how many rows it returns.`) : null);
}

function rawRows(report, findings, cid, ctx) {
  const body = h('div', {class: 'raw-rows-body', 'aria-live': 'polite'});
  const tablesConf = (ctx.config && ctx.config.tables) || {};
  let loaded = false;
  async function load() {
    loaded = true;
    body.setAttribute('aria-busy', 'true');
    replace(body, loading(`Loading the rows of customer ${cid}…`));
    let data;
    try {
      data = await api(`/api/v1/customers/${enc(cid)}/rows`);
    } catch (e) {
      body.setAttribute('aria-busy', 'false');
      const retry = h('button', {type: 'button', class: 'btn small', onclick: load}, 'Try again');
      if (e instanceof ApiError && e.status === 404 && e.code === 'not_found' && /no API route|no route|nothing at/i.test(e.message)) {
        replace(body, notice('info', 'Row values are not available from this daemon',
          h('p', null, 'Showing them needs GET /api/v1/customers/{id}/rows, which this daemon does not offer.')));
      } else if (e instanceof ApiError && e.status === 404) {
        replace(body, notice('warn', `No rows for customer ${cid}`, h('p', null, e.message)));
      } else if (e instanceof ApiError && e.status === 501) {
        replace(body, notice('info', 'Row values are not available from this daemon', h('p', null, explain(e))));
      } else {
        replace(body, notice('error', 'Could not load the customer’s rows', h('p', null, explain(e)), retry));
      }
      return;
    }
    body.setAttribute('aria-busy', 'false');
    const tables = data && data.tables && typeof data.tables === 'object' ? Object.entries(data.tables) : [];
    if (!tables.length) {
      replace(body, h('p', {class: 'empty'}, 'No configured table has rows for this customer.'));
      return;
    }
    replace(body,
      h('p', {class: 'meta'}, 'Each table’s rows of this customer. Cells a finding points at are highlighted (hover for the finding); ',
        'sensitive columns are masked by the daemon.'),
      tables.map(([name, t]) => rowsTable(cid, name, t || {}, findings, (tablesConf[name] || {}).primary_key)));
  }
  const det = h('details', {class: 'raw-rows', ontoggle: () => {
    if (det.open && !loaded) load();
  }},
  h('summary', null, 'The customer’s own rows, per table'),
  report.tables && Object.keys(report.tables).length
    ? h('p', {class: 'meta'}, 'Rows read by this run: ', Object.entries(report.tables).map(([t, n]) => `${t} ${num(n)}`).join(' · '))
    : null,
  body);
  return det;
}
