// rules.js -- the Lua rules the daemon has loaded, the files that failed to
// load, when they were last (re)loaded (loaded_at of GET /api/v1/rules), and
// a reload (POST /api/v1/rules/reload, a write call).

import {h, replace, notice, loading, dataTable, severityBadge, num, plural, sevRank, when, ago} from './dom.js';
import {api, auth, explain} from './api.js';

export function render(root, params, ctx) {
  let alive = true;
  let lastReload = null;
  const out = h('div', {'aria-live': 'polite'}, loading('Loading the rules…'));
  const reloadStatus = h('p', {class: 'status-line', role: 'status'});
  const reloadBtn = h('button', {type: 'button', class: 'btn primary', onclick: reload}, 'Reload rules now');

  function show(data) {
    const rules = Array.isArray(data.rules) ? data.rules.slice() : [];
    rules.sort((a, b) => sevRank(a.severity) - sevRank(b.severity) || String(a.name).localeCompare(String(b.name)));
    const problems = Array.isArray(data.problems) ? data.problems : [];
    replace(out,
      h('p', {class: 'meta'}, `${plural(rules.length, 'rule')} loaded from ${plural(data.files || 0, 'file')} in `, h('code', null, String(data.dir || '—')),
        ` · generation ${num(data.generation)}`),
      h('p', {class: 'meta last-reload'}, data.loaded_at
        ? ['Last reload: ', h('time', {datetime: String(data.loaded_at)}, when(data.loaded_at)), ` (${ago(data.loaded_at)}; from a file change, SIGHUP, start-up or this page)`]
        : lastReload ? `Last reloaded from this page at ${lastReload.toLocaleTimeString()} (this daemon does not say when it last loaded the rules).`
          : 'This daemon does not say when it last loaded the rules.'),
      data.dir_missing ? notice('warn', 'The rules directory does not exist', h('p', null, 'No rule runs until it is created (or rules_dir in the config is fixed).')) : null,
      problems.length
        ? h('section', {class: 'panel problems', 'aria-labelledby': 'problems-h'},
          h('h2', {id: 'problems-h'}, `Load errors (${problems.length})`),
          h('p', {class: 'meta'}, 'A broken file keeps its last good version running (“stale”) until it is fixed.'),
          h('ul', {class: 'problem-list'}, problems.map((p) => h('li', {class: 'notice notice-error'},
            h('p', {class: 'notice-title'}, h('code', null, `${p.file}${p.line ? `:${p.line}` : ''}`), p.stale ? ' (the last good version still runs)' : ' (not running)'),
            h('pre', null, String(p.message || '')))))) : h('p', {class: 'ok-line'}, 'Every rule file loaded without errors.'),
      h('section', {class: 'panel', 'aria-labelledby': 'loaded-h'},
        h('h2', {id: 'loaded-h'}, 'Loaded rules'),
        rules.length ? dataTable('Loaded rules', [
          {label: 'Rule', get: (r) => h('code', null, r.name)},
          {label: 'What it catches', get: (r) => r.description, class: 'wide'},
          {label: 'Severity', get: (r) => severityBadge(r.severity)},
          {label: 'Runs', get: (r) => ({row: 'per row', aggregate: 'per table', customer: 'per customer'}[r.kind] || r.kind)},
          {label: 'Reads', get: (r) => (Array.isArray(r.tables) ? r.tables.map((t) => h('div', null, h('code', null, t.table), ': ', (t.columns || []).join(', '))) : ''), class: 'wide'},
          {label: 'File', get: (r) => `${r.file}${r.line ? `:${r.line}` : ''}`},
        ], rules, {class: 'rules-table'}) : h('p', {class: 'empty'}, 'No rules are loaded.')));
  }

  async function load() {
    try {
      const data = await api('/api/v1/rules');
      if (alive) show(data);
    } catch (e) {
      if (alive) replace(out, notice('error', 'Could not load the rules', h('p', null, explain(e)), h('button', {type: 'button', class: 'btn', onclick: load}, 'Try again')));
    }
  }

  async function reload() {
    if (!auth.canWrite) {
      ctx.askToken('Reloading the rules needs the access token.');
      return;
    }
    reloadBtn.disabled = true;
    reloadStatus.textContent = 'Reloading…';
    try {
      const data = await api('/api/v1/rules/reload', {method: 'POST'});
      lastReload = new Date();
      reloadStatus.textContent = `Reloaded at ${lastReload.toLocaleTimeString()}: ${plural((data.rules || []).length, 'rule')}, ${plural((data.problems || []).length, 'load error')}.`;
      if (alive && data.loaded_at) show(data);
      else if (alive) load();
    } catch (e) {
      reloadStatus.textContent = `The reload failed: ${explain(e)}`;
    } finally {
      reloadBtn.disabled = false;
    }
  }

  replace(root, h('section', {class: 'view', 'aria-labelledby': 'rules-h'},
    h('h1', {id: 'rules-h', tabindex: '-1'}, 'Rules'),
    h('p', {class: 'lead'}, 'Checks written by data stewards in Lua, beside the built-in ones. The daemon reloads them by itself when a file changes; reload here after editing by hand.'),
    h('div', {class: 'actions'}, reloadBtn, auth.required && !auth.token ? h('span', {class: 'hint'}, ' Needs the access token.') : null),
    reloadStatus,
    out));
  load();
  return {dispose: () => { alive = false; }};
}
