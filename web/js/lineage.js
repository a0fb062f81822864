// lineage.js -- which tables hold a customer's data, how they join, and
// which of their columns have findings.
//
// Everything comes from the daemon: the tables and their keys from
// GET /api/v1/config (customer_key, primary_key), extra join columns from the
// Lua rules (GET /api/v1/rules: a rule reading SK_ID_PREV in two tables) and
// from the findings.  A table whose primary key (SK_ID_PREV, SK_ID_BUREAU)
// appears as a column of another table joins it on that key.

import {h, tableLabel, worst, sevRank, severityBadge} from './dom.js';

function exactColumns(columns) {
  return Object.keys(columns || {}).filter((c) => !/[*?[\]]/.test(c));
}

export function buildLineage(config, rules, findings, rowCounts) {
  const tables = Object.entries((config && config.tables) || {}).map(([name, t]) => ({
    name, customerKey: t.customer_key || null, primaryKey: t.primary_key || null, columns: exactColumns(t.columns),
  }));
  for (const f of findings || []) {
    if (f.table && !tables.some((t) => t.name === f.table)) tables.push({name: f.table, customerKey: null, primaryKey: null, columns: []});
  }
  const cols = new Map(tables.map((t) => [t.name, new Set([...t.columns, t.customerKey, t.primaryKey].filter(Boolean))]));
  for (const r of (rules && rules.rules) || []) {
    for (const rt of r.tables || []) if (cols.has(rt.table)) for (const c of rt.columns || []) cols.get(rt.table).add(c);
  }
  for (const f of findings || []) {
    if (cols.has(f.table)) for (const c of String(f.column || '').split(',')) if (c && c !== '*') cols.get(f.table).add(c);
  }
  const root = tables.find((t) => t.customerKey && t.primaryKey === t.customerKey) || tables.find((t) => t.customerKey) || null;
  const custKey = root ? root.customerKey : null;
  const level = new Map();
  for (const t of tables) level.set(t.name, t === root ? 0 : t.customerKey && t.customerKey === custKey ? 1 : 2);
  const edges = [];
  for (const t of tables) if (level.get(t.name) === 1) edges.push({from: root.name, to: t.name, key: custKey, kind: 'bus'});
  for (const p of tables) {
    const k = p.primaryKey;
    if (!k || k === custKey) continue;
    for (const c of tables) {
      if (c === p || !cols.get(c.name).has(k)) continue;
      const kind = level.get(p.name) === 1 && level.get(c.name) === 1 ? 'sibling' : 'child';
      edges.push({from: p.name, to: c.name, key: k, kind});
    }
  }
  // tables joined by another key sit right after the table they join
  const ordered = [];
  const l1 = tables.filter((t) => level.get(t.name) === 1);
  for (const t of l1) {
    if (ordered.includes(t)) continue;
    ordered.push(t);
    for (const e of edges) {
      if (e.kind === 'sibling' && e.from === t.name) {
        const c = l1.find((x) => x.name === e.to);
        if (c && !ordered.includes(c)) ordered.push(c);
      }
    }
  }
  const order = [...tables.filter((t) => level.get(t.name) === 0), ...ordered, ...tables.filter((t) => level.get(t.name) === 2)];
  const affected = new Map(tables.map((t) => [t.name, new Map()]));
  for (const f of findings || []) {
    const m = affected.get(f.table);
    if (!m) continue;
    for (const c of String(f.column || '').split(',')) {
      if (!c) continue;
      const prev = m.get(c);
      if (!prev || sevRank(f.severity) < sevRank(prev)) m.set(c, f.severity);
    }
  }
  const nodes = order.map((t) => {
    const a = [...affected.get(t.name)].map(([column, severity]) => ({column, severity}))
      .sort((x, y) => sevRank(x.severity) - sevRank(y.severity) || x.column.localeCompare(y.column));
    return {
      id: t.name, raw: t.name, label: tableLabel(t.name), level: level.get(t.name),
      keys: t.primaryKey ? [t.primaryKey] : [], rows: rowCounts && rowCounts[t.name] !== undefined ? rowCounts[t.name] : null,
      affected: a, worst: worst(a.map((x) => x.severity)),
    };
  });
  return {nodes, edges, customerKey: custKey};
}

/** The same facts as text: joins and affected columns. */
export function lineageText(model) {
  const label = (id) => {
    const n = model.nodes.find((x) => x.id === id);
    return n ? `${n.label} (${n.raw})` : id;
  };
  return h('div', {class: 'lineage-text'},
    h('div', null,
      h('h4', null, 'How the tables join'),
      model.edges.length
        ? h('ul', {class: 'joins'}, model.edges.map((e) => h('li', null, label(e.from), ' → ', label(e.to), ' on ', h('code', null, e.key))))
        : h('p', null, 'The configuration names no join keys.')),
    h('div', null,
      h('h4', null, 'Affected columns'),
      h('ul', {class: 'affected'}, model.nodes.map((n) => h('li', null,
        h('strong', null, n.label), ' ', h('code', {class: 'raw'}, n.raw), ': ',
        affectedList(n.affected))))));
}

function affectedList(affected) {
  if (!affected.length) return 'no problem found';
  const main = affected.filter((a) => a.severity !== 'info');
  const info = affected.length - main.length;
  return [main.map((a, i) => [i ? ', ' : '', h('code', null, a.column), ' ', severityBadge(a.severity)]),
    info ? `${main.length ? '; ' : ''}${info} column${info === 1 ? '' : 's'} with informational notes only` : ''];
}
