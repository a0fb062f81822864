#!/usr/bin/env node
// dashboard.test.js -- the dashboard in a real headless Chromium (Debian's
// /usr/bin/chromium) driven by playwright-core; no browser is downloaded.
//
// Started by tests/test_dashboard.py, which builds the fixture, starts the
// daemons on loopback and passes them in the environment:
//   CS_URL        daemon with the offline advisor (fixture with planted markup, scanned twice)
//   CS_URL_LLM    daemon whose advisor is the OpenAI stand-in at CS_STANDIN
//   CS_URL_AUTH   daemon with a bearer token (CS_TOKEN)
//   CS_PLANT, CS_LLM_PLANT   the markup planted in a data value and in LLM text
//   CS_SENSITIVE  a column of SAMPLE_APPLICATION marked sensitive (masked in the raw rows)
//   CS_ARTIFACTS  where screenshots go;  CS_CHROMIUM  the browser (default /usr/bin/chromium)
// Prints "ok - ..." / "not ok - ..." lines (the wrapper numbers them as TAP)
// and "# done" at the end.

'use strict';

const path = require('path');
const fs = require('fs');

let chromium;
try {
  ({chromium} = require('playwright-core'));
} catch (e) {
  console.log('not ok - playwright-core is installed (npm ci --prefix tests/browser)');
  console.log(`#   ${e.message}`);
  process.exit(1);
}

const env = (k, d) => process.env[k] || d;
const URL_MAIN = env('CS_URL');
const URL_LLM = env('CS_URL_LLM');
const URL_AUTH = env('CS_URL_AUTH');
const STANDIN = env('CS_STANDIN');
const TOKEN = env('CS_TOKEN', '');
const PLANT = env('CS_PLANT', '<script>window.__xss=2</script>');
const LLM_PLANT = env('CS_LLM_PLANT', '<script>window.__xss=3</script>');
const SENSITIVE = env('CS_SENSITIVE', 'WEEKDAY_APPR_PROCESS_START');
const PHONE = {width: 390, height: 844};
const ARTIFACTS = env('CS_ARTIFACTS', path.join(__dirname, '..', 'artifacts', 'dashboard'));
const CHROMIUM = env('CS_CHROMIUM', '/usr/bin/chromium');
const SLOW = 120000;

fs.mkdirSync(ARTIFACTS, {recursive: true});

let failures = 0;
// CS_ONLY=regex runs only the tests whose name matches (while developing; the first test opens the shared page)
const ONLY = process.env.CS_ONLY ? new RegExp(process.env.CS_ONLY) : null;
async function test(name, fn) {
  if (ONLY && !ONLY.test(name)) return;
  try {
    await fn();
    console.log(`ok - ${name}`);
  } catch (e) {
    failures += 1;
    console.log(`not ok - ${name}`);
    for (const line of String((e && e.stack) || e).split('\n').slice(0, 14)) console.log(`#   ${line}`);
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}

function eq(got, want, msg) {
  if (got !== want) throw new Error(`${msg}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

const watchdog = setTimeout(() => {
  console.log('not ok - the browser tests finish within 9 minutes');
  process.exit(1);
}, 540000);

// ---- page helpers -------------------------------------------------------------------------------

/** A page that records script errors and dialogs (an alert() would mean injected script ran). */
async function openPage(context, url, viewport) {
  const page = await context.newPage(viewport ? {viewport} : undefined);
  page.errors = [];
  page.dialogs = [];
  page.on('pageerror', (e) => page.errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // a failed fetch (e.g. the 404 of an unknown customer) is logged as "Failed to load resource": expected
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) page.errors.push(`console: ${m.text()}`);
  });
  page.on('dialog', async (d) => {
    page.dialogs.push(d.message());
    await d.dismiss().catch(() => {});
  });
  await page.goto(url);
  await page.waitForSelector('main h1', {timeout: 30000});
  return page;
}

async function checkCustomer(page, id) {
  const input = page.getByLabel('Customer ID', {exact: true});
  await input.fill(id);
  await input.press('Enter');
}

async function noInjection(page, what) {
  const r = await page.evaluate(() => ({
    xss: window.__xss,
    imgs: [...document.querySelectorAll('img')].map((i) => i.getAttribute('src')).filter((s) => s !== 'favicon.svg'),
    scripts: document.scripts.length,
    inMain: document.querySelectorAll('main script, main img, main iframe, main object').length,
  }));
  eq(r.xss, undefined, `${what}: no planted script ran (window.__xss)`);
  eq(r.imgs.length, 0, `${what}: no planted <img> in the page (${r.imgs.join(', ')})`);
  eq(r.scripts, 1, `${what}: only the dashboard's own module script`);
  eq(r.inMain, 0, `${what}: no script, img, iframe or object element inside <main>`);
  eq(page.dialogs.length, 0, `${what}: no dialog was opened by page script`);
}

/** Labels, names and ids: a small accessibility pass over what is on the page now. */
async function a11y(page, what) {
  const problems = await page.evaluate(() => {
    const out = [];
    const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
    for (const el of document.querySelectorAll('input, select, textarea')) {
      if (!visible(el) || el.type === 'hidden' || el.getAttribute('aria-hidden') === 'true') continue;
      const named = (el.labels && el.labels.length && [...el.labels].some((l) => l.textContent.trim())) ||
        el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
      if (!named) out.push(`unlabelled ${el.tagName.toLowerCase()}#${el.id || '?'}`);
    }
    for (const el of document.querySelectorAll('button, a[href], summary')) {
      if (!visible(el)) continue;
      if (!(el.textContent.trim() || el.getAttribute('aria-label') || el.getAttribute('title'))) out.push(`nameless ${el.tagName.toLowerCase()}`);
    }
    for (const el of document.querySelectorAll('svg[role="img"]')) {
      if (!(el.getAttribute('aria-label') || el.getAttribute('aria-labelledby'))) out.push('svg role=img without a label');
    }
    for (const el of document.querySelectorAll('img')) if (!el.hasAttribute('alt')) out.push('img without alt');
    const ids = {};
    for (const el of document.querySelectorAll('[id]')) ids[el.id] = (ids[el.id] || 0) + 1;
    for (const [id, n] of Object.entries(ids)) if (n > 1) out.push(`duplicate id ${id}`);
    if (!document.documentElement.lang) out.push('no lang on <html>');
    if (document.querySelectorAll('main h1').length !== 1) out.push('not exactly one h1 in main');
    for (const el of document.querySelectorAll('.scroller')) if (el.tabIndex < 0) out.push('scroll region not focusable');
    return out;
  });
  assert(problems.length === 0, `${what}: ${problems.join('; ')}`);
}

/**
 * Focus order: Tab from the top visits visible, named controls in document
 * order (no positive tabindex, no trap) and reaches the end of the page.
 */
async function focusOrder(page, what, steps = 60) {
  // start at the first Tab stop of the page, the skip link
  await page.evaluate(() => document.getElementById('skip-link').focus());
  const seen = [];
  for (let i = 0; i < steps; i++) {
    if (i) await page.keyboard.press('Tab');
    const r = await page.evaluate(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return null;
      if (!window.__focusSeq) window.__focusSeq = new WeakMap();
      const all = [...document.querySelectorAll('*')];
      const rect = el.getBoundingClientRect();
      const name = (el.getAttribute('aria-label') || (el.labels && el.labels[0] && el.labels[0].textContent) || el.textContent || el.title || el.value || '').trim();
      return {pos: all.indexOf(el), tag: el.tagName.toLowerCase(), name: name.slice(0, 40), tabindex: el.tabIndex,
        visible: rect.width > 0 && rect.height > 0, inDialog: !!el.closest('dialog')};
    });
    if (!r) break;
    seen.push(r);
    if (seen.length > 1 && r.pos <= seen[seen.length - 2].pos) break; // wrapped round to the top
  }
  const problems = [];
  const forward = seen.length > 1 && seen[seen.length - 1].pos <= seen[seen.length - 2].pos ? seen.slice(0, -1) : seen;
  forward.forEach((r, i) => {
    if (!r.visible) problems.push(`invisible focus stop ${r.tag} "${r.name}"`);
    if (!r.name && r.tag !== 'div' && r.tag !== 'main') problems.push(`nameless focus stop ${r.tag}`);
    if (r.tabindex > 0) problems.push(`positive tabindex on ${r.tag} "${r.name}"`);
    if (r.inDialog) problems.push(`focus went into the closed dialog (${r.name})`);
    if (i && r.pos <= forward[i - 1].pos) problems.push(`focus went backwards at ${r.tag} "${r.name}"`);
  });
  assert(forward.length >= 5, `${what}: Tab reaches the controls (${forward.length} stops)`);
  assert(problems.length === 0, `${what}: ${problems.join('; ')}`);
  return forward;
}

/** Waits for a table's overview on the scans page to finish loading; fails with what it shows instead of a heat map. */
async function heatmapOf(p, table) {
  const sec = p.locator(`section.table-section[data-table="${table}"]`);
  await p.waitForFunction((t) => {
    const b = document.querySelector(`section.table-section[data-table="${t}"] .table-body`);
    return b && b.firstChild && !b.querySelector(':scope > .loading');
  }, table, {timeout: SLOW});
  if (!(await sec.locator('svg.heatmap').count())) {
    throw new Error(`no heat map for ${table}: ${(await sec.innerText()).slice(0, 600)} ${p.errors.join('; ')}`);
  }
  return sec;
}

async function noOverflow(page, what) {
  const r = await page.evaluate(() => ({sw: document.documentElement.scrollWidth, w: window.innerWidth}));
  assert(r.sw <= r.w + 1, `${what}: the page is ${r.sw} px wide in a ${r.w} px viewport (horizontal scrolling)`);
}

async function shot(page, name, full = true) {
  await page.screenshot({path: path.join(ARTIFACTS, name), fullPage: full});
}

async function api(url, p, opts = {}) {
  const res = await fetch(url + p, opts);
  const text = await res.text();
  return {status: res.status, body: text ? JSON.parse(text) : null};
}

// ---- the tests ----------------------------------------------------------------------------------

async function mainDaemon(browser) {
  const context = await browser.newContext({viewport: {width: 1280, height: 900}});
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], {origin: URL_MAIN});
  let page;
  await test('the dashboard loads from the daemon at / with no script error', async () => {
    page = await openPage(context, `${URL_MAIN}/`);
    assert((await page.title()).includes('CreditSense'), 'title names CreditSense');
    eq(await page.locator('nav a[data-route]').count(), 4, 'four views in the navigation');
    await page.waitForFunction(() => /Ready/.test(document.getElementById('daemon-status').textContent), null, {timeout: 20000});
    eq(await page.locator('#auth-area').innerText(), 'No token needed', 'no token configured: no token asked');
    assert(page.errors.length === 0, page.errors.join('; '));
  });
  if (!page) return context.close();

  await test('customer 103065: severity banners, AI suggestions and a headline', async () => {
    await checkCustomer(page, '103065');
    await page.waitForSelector('.banner', {timeout: SLOW});
    eq(await page.locator('.banner').count(), 5, 'five severity banners');
    const stored = await api(URL_MAIN, '/api/v1/customers/103065/report');
    eq(stored.status, 200, 'the run was stored');
    for (const s of ['critical', 'high', 'medium', 'low', 'info']) {
      const n = await page.locator(`.banner[data-severity="${s}"] .count`).innerText();
      eq(Number(n.replace(/,/g, '')), stored.body.summary[s] || 0, `${s} banner count`);
    }
    assert(/serious problem/.test(await page.locator('.verdict .headline').innerText()), 'the headline names the serious problem');
    const cards = page.locator('section[aria-labelledby="advice-h"] .card');
    assert((await cards.count()) >= 3, 'suggestion cards shown');
    const first = cards.first();
    assert(/What to do/i.test(await first.innerText()), 'a card says what to do');
    assert((await first.locator('ul.fix li').count()) >= 1, 'fix suggestions listed');
    assert(/offline/.test(await page.locator('section[aria-labelledby="advice-h"]').innerText()), 'the offline advisor is named');
    const infoCards = page.locator('section[aria-labelledby="advice-h"] .card.sev-info');
    assert((await infoCards.count()) >= 1, 'info findings have cards');
    assert(/Not sent to the AI advisor: it advises low findings and worse/.test(await infoCards.first().textContent({timeout: SLOW})),
      'an info card says it was skipped on purpose, not that advice is missing');
  });

  await test('a rule template is shown and its copy button copies it', async () => {
    const card = page.locator('section[aria-labelledby="advice-h"] .card').first();
    await card.locator('details.rule-templates > summary').click();
    const code = card.locator('pre code').first();
    const text = await code.innerText();
    assert(text.length > 10, 'template text');
    await card.locator('.template button').first().click();
    await page.waitForFunction(() => [...document.querySelectorAll('.copy-status')].some((e) => e.textContent === 'Copied'));
    const clip = await page.evaluate(() => navigator.clipboard.readText());
    eq(clip.trim(), text.trim(), 'the clipboard holds the template');
  });

  await test('business impact and lineage (tables, joins on SK_ID_CURR and SK_ID_PREV)', async () => {
    assert(/Credit decision risk/.test(await page.locator('section[aria-labelledby="impact-h"]').innerText()), 'risk shown');
    const lin = page.locator('section[aria-labelledby="lineage-h"]');
    eq(await lin.locator('svg .lineage-node').count(), 4, 'one box per configured table');
    const svgText = await lin.locator('svg').first().textContent();
    for (const k of ['SK_ID_CURR', 'SK_ID_PREV', 'SK_ID_BUREAU', 'DAYS_EMPLOYED']) assert(svgText.includes(k), `the diagram shows ${k}`);
    assert(/SAMPLE_PREVIOUS_APP.*SAMPLE_INSTALLMENTS.*SK_ID_PREV/s.test(await lin.locator('.joins').innerText()), 'the text lists the SK_ID_PREV join');
  });

  await test('raw tables: anomalies, suggestions and the customer\'s rows per table', async () => {
    const stored = (await api(URL_MAIN, '/api/v1/customers/103065/report')).body;
    const raw = page.locator('section[aria-labelledby="raw-h"]');
    await raw.locator('details.raw-anomalies > summary').click();
    eq(await raw.locator('details.raw-anomalies tbody tr').count(), stored.findings.length, 'one row per anomaly');
    await raw.locator('details.raw-suggestions > summary').click();
    eq(await raw.locator('details.raw-suggestions tbody tr').count(), stored.suggestions.length, 'one row per suggestion');
    await raw.locator('details.raw-rows > summary').click();
    const want = await api(URL_MAIN, '/api/v1/customers/103065/rows');
    eq(want.status, 200, 'GET /api/v1/customers/103065/rows answers');
    const tables = Object.keys(want.body.tables);
    await raw.locator('details.raw-table').first().waitFor({timeout: SLOW});
    eq(await raw.locator('details.raw-table').count(), tables.length, 'one expandable table per table of the customer');
    const app = want.body.tables.SAMPLE_APPLICATION;
    assert(app && app.masked.includes(SENSITIVE), `the daemon masks ${SENSITIVE}: ${JSON.stringify(app && app.masked)}`);
    const appBox = raw.locator('details.raw-table[data-table="SAMPLE_APPLICATION"]');
    await appBox.locator('summary').click();
    eq(await appBox.locator('tbody tr').count(), app.rows.length, 'one row per row of the customer in SAMPLE_APPLICATION');
    const at = app.columns.indexOf(SENSITIVE);
    const masked = appBox.locator('tbody tr').first().locator('td').nth(at);
    eq(await masked.innerText(), 'masked', 'the sensitive column says "masked", not blank');
    const inst = want.body.tables.SAMPLE_INSTALLMENTS;
    if (inst && inst.rows.length) {
      const box = raw.locator('details.raw-table[data-table="SAMPLE_INSTALLMENTS"]');
      await box.locator('summary').click();
      eq(await box.locator('tbody tr').count(), inst.rows.length, 'installment rows shown');
      const v = inst.rows[0][0];
      const shown = await box.locator('tbody tr').first().locator('td').first().innerText();
      assert(shown.startsWith(v === null ? 'NULL' : String(v)), `the first value as the API gave it: ${shown} for ${v}`);
    }
    // a finding that names a column of a shown table highlights cells in it
    const findings = stored.findings.filter((f) => want.body.tables[f.table] &&
      String(f.column).split(',').some((c) => want.body.tables[f.table].columns.includes(c) && !want.body.tables[f.table].masked.includes(c)));
    if (findings.length) {
      for (const t of new Set(findings.map((f) => f.table))) {
        const box = raw.locator(`details.raw-table[data-table="${t}"]`);
        if (!(await box.evaluate((d) => d.open))) await box.locator('summary').click();
      }
      assert((await raw.locator('td.hit').count()) >= 1, 'offending cells are highlighted');
      assert(/flagged/.test(await raw.locator('td.hit').first().innerText()), 'and say why to a screen reader');
    }
    await a11y(page, 'customer view');
    await focusOrder(page, 'customer view');
    await shot(page, 'customer-103065-desktop.png');
    await page.setViewportSize(PHONE);
    await page.waitForTimeout(400);
    await noOverflow(page, 'customer view with raw rows open at 390 px');
    await shot(page, 'customer-103065-rows-phone.png');
    await page.setViewportSize({width: 1280, height: 900});
  });

  await test('an unknown customer gets a clear message', async () => {
    await checkCustomer(page, '999999999');
    const n = page.locator('.customer-result .notice-error');
    await n.waitFor({timeout: SLOW});
    assert(/Customer 999999999 was not found/.test(await n.innerText()), await n.innerText());
    eq(await page.locator('.banner').count(), 0, 'no banners left from the previous customer');
    await shot(page, 'customer-unknown.png', false);
  });

  await test('a malformed id is refused in the page, shown as text', async () => {
    await checkCustomer(page, 'abc<b>x</b>');
    const n = page.locator('.customer-result .notice-error');
    await n.waitFor();
    assert(/not a customer ID/.test(await n.innerText()), 'explained');
    eq(await n.locator('code').innerText(), 'abc<b>x</b>', 'the input is echoed as text');
    eq(await n.locator('b').count(), 0, 'no markup from the input');
  });

  await test('a planted <script>/<img onerror> in a data value is shown as text and never runs', async () => {
    await checkCustomer(page, '108032');
    await page.waitForSelector('.banner', {timeout: SLOW});
    const msg = page.locator('.finding-msg', {hasText: 'window.__xss'});
    assert((await msg.count()) >= 1, 'the finding that quotes the planted value is shown');
    const text = await msg.first().innerText();
    assert(text.includes(PLANT), `the planted value appears literally: ${text}`);
    await page.locator('details.raw-anomalies > summary').click();
    assert((await page.locator('details.raw-anomalies td', {hasText: '<script>'}).count()) >= 1, 'raw table shows it as text');
    await page.locator('details.raw-rows > summary').click();
    const appBox = page.locator('details.raw-table[data-table="SAMPLE_APPLICATION"]');
    await appBox.waitFor({timeout: SLOW});
    await appBox.locator('summary').click();
    const rows = (await api(URL_MAIN, '/api/v1/customers/108032/rows')).body.tables.SAMPLE_APPLICATION;
    const at = rows.columns.indexOf('NAME_INCOME_TYPE');
    eq(rows.rows[0][at], PLANT, 'the API returns the planted value');
    const cell = appBox.locator('tbody tr').first().locator('td').nth(at);
    assert((await cell.innerText()).startsWith(PLANT), `the raw row shows it literally: ${await cell.innerText()}`);
    await page.waitForTimeout(500);
    await noInjection(page, 'data value');
    assert(page.errors.length === 0, page.errors.join('; '));
    await shot(page, 'customer-108032-planted-markup.png', false);
  });

  await test('keyboard: skip link first, then the customer form works without a mouse', async () => {
    const p = await openPage(context, `${URL_MAIN}/#/customer`);
    await p.keyboard.press('Tab');
    eq(await p.evaluate(() => document.activeElement.textContent), 'Skip to content', 'first Tab stop');
    let reached = false;
    for (let i = 0; i < 20 && !reached; i++) {
      await p.keyboard.press('Tab');
      reached = await p.evaluate(() => document.activeElement && document.activeElement.name === 'customer');
    }
    assert(reached, 'the Customer ID field is reachable with Tab');
    await p.keyboard.type('103065');
    await p.keyboard.press('Enter');
    await p.waitForSelector('.banner', {timeout: SLOW});
    // the example chips and the details summaries are keyboard controls too
    const chip = p.getByRole('button', {name: 'Check example customer 111950'});
    await chip.focus();
    await p.keyboard.press('Enter');
    await p.waitForFunction(() => /Customer 111950/.test(document.querySelector('#report-h') ? document.querySelector('#report-h').textContent : ''), null, {timeout: SLOW});
    const sum = p.locator('details.raw-anomalies > summary');
    await sum.focus();
    await p.keyboard.press('Enter');
    assert(await p.locator('details.raw-anomalies').evaluate((d) => d.open), 'Enter opens a raw table');
    await p.close();
  });

  await test('phone width (390 px): the customer view has no horizontal overflow', async () => {
    const p = await openPage(context, `${URL_MAIN}/#/customer/103065`, PHONE);
    await p.waitForSelector('.banner', {timeout: SLOW});
    await p.waitForTimeout(400);
    await noOverflow(p, 'customer view at 390 px');
    await p.locator('details.raw-anomalies > summary').click();
    await noOverflow(p, 'customer view at 390 px with a raw table open');
    await shot(p, 'customer-103065-phone.png');
    await p.close();
  });

  await test('table scans: metric trends from the two stored scans, one point per run, a column picker', async () => {
    const p = await openPage(context, `${URL_MAIN}/#/scans`);
    const sec = await heatmapOf(p, 'SAMPLE_APPLICATION');
    const m = await api(URL_MAIN, '/api/v1/metrics?table=SAMPLE_APPLICATION&runs=20');
    eq(m.status, 200, 'GET /api/v1/metrics answers');
    eq(m.body.runs.length, 2, 'two stored scans in the metric history');
    const tiles = sec.locator('.metrics-section .metric-tile');
    await tiles.first().locator('svg').waitFor({timeout: SLOW});
    const picker = sec.getByLabel('Column to chart');
    await picker.selectOption('EXT_SOURCE_2');
    const metrics = Object.keys(m.body.columns.EXT_SOURCE_2).filter((k) => m.body.columns.EXT_SOURCE_2[k].some((v) => v !== null));
    assert(metrics.length >= 2, `EXT_SOURCE_2 has metrics: ${metrics.join(', ')}`);
    eq(await tiles.count(), metrics.length, 'one chart per metric the daemon sent');
    for (const k of metrics) {
      const want = m.body.columns.EXT_SOURCE_2[k].filter((v) => v !== null).length;
      eq(await sec.locator(`.metric-tile[data-metric="${k}"] svg circle.point`).count(), want, `${k}: one point per run`);
    }
    eq(await sec.locator('.metric-tile .drift-point').count(), 0, 'no drift before the change');
    await picker.selectOption({index: 0});
    assert((await tiles.count()) >= 1, 'another column charts too');
    await a11y(p, 'scans view with trends');
    await p.close();
  });

  await test('table scans: start a scan, watch its progress, heat map, drift and the drift marker from the real scan', async () => {
    const p = await openPage(context, `${URL_MAIN}/#/scans`);
    const sec = await heatmapOf(p, 'SAMPLE_APPLICATION');
    await p.getByLabel('Table to scan').selectOption('SAMPLE_APPLICATION');
    await p.getByRole('button', {name: 'Start scan'}).click();
    await p.locator('.scan-progress progress').waitFor({timeout: 20000});
    await p.locator('.scan-progress.done').waitFor({timeout: SLOW});
    const status = await p.locator('.scan-progress .status-line').innerText();
    assert(/Finished/.test(status), status);
    const jobs = (await api(URL_MAIN, '/api/v1/scans')).body.scans;
    const job = jobs.find((j) => j.status === 'succeeded');
    assert(job, 'the daemon lists the finished job');
    const run = (await api(URL_MAIN, `/api/v1/scans/${job.job_id}`)).body.result;
    // the overview reloads from the new run: one heat-map row per column with findings
    await p.waitForFunction((runId) => !!document.querySelector(`section[data-table="SAMPLE_APPLICATION"] a[href="#/runs/${runId}"]`), run.run_id, {timeout: SLOW});
    const cells = sec.locator('svg.heatmap g.cell');
    assert((await cells.count()) > 10, 'heat-map cells drawn');
    const missing = sec.locator('svg.heatmap g.cell[data-column="EXT_SOURCE_2"][data-metric="missing"]');
    eq(await missing.count(), 1, 'EXT_SOURCE_2 has a missing-values cell');
    const f = run.findings.find((x) => x.check === 'missing' && x.column === 'EXT_SOURCE_2' && x.kind === 'null');
    const shown = await missing.locator('text').textContent();
    assert(shown === `${Math.round(f.ratio * 100)}%` || shown === `${(f.ratio * 100).toFixed(1)}%`, `cell ${shown} for ratio ${f.ratio}`);
    const drift = run.findings.filter((x) => x.check === 'drift');
    assert(drift.length >= 1, 'the fixture makes the scan find drift');
    const note = sec.locator('.notice-drift');
    assert(/EXT_SOURCE_2/.test(await note.innerText()), 'the drift of EXT_SOURCE_2 is highlighted');
    assert((await sec.locator('svg.heatmap .drift-tag').count()) >= 1, 'drifting columns are marked in the heat map');
    assert((await sec.locator('.trend svg').count()) >= 1, 'trend chart over the scans');
    // the metric history now has three scans, the last one flagged for EXT_SOURCE_2
    const m = (await api(URL_MAIN, '/api/v1/metrics?table=SAMPLE_APPLICATION&runs=20')).body;
    eq(m.runs.length, 3, 'three scans in the metric history');
    eq(m.runs[2].run_id, run.run_id, 'the new scan is the newest');
    const flags = m.drift.filter((d) => d.column === 'EXT_SOURCE_2' && d.run_id === run.run_id);
    assert(flags.length >= 1, `the daemon flags drift of EXT_SOURCE_2 in the new scan: ${JSON.stringify(m.drift)}`);
    const picker = sec.getByLabel('Column to chart');
    await sec.locator('.metrics-section .metric-tile svg').first().waitFor({timeout: SLOW});
    eq(await picker.inputValue(), m.drift[0].column, 'a drifting column is charted first');
    await picker.selectOption('EXT_SOURCE_2');
    const charted = Object.keys(m.columns.EXT_SOURCE_2).filter((k) => m.columns.EXT_SOURCE_2[k].some((v) => v !== null));
    // a flag on a metric without a chart of its own rings every chart of that scan
    const key = charted.includes(flags[0].metric) ? flags[0].metric : charted[0];
    const flagged = sec.locator(`.metric-tile[data-metric="${key}"]`);
    eq(await flagged.locator('svg circle.point').count(), m.columns.EXT_SOURCE_2[key].filter((v) => v !== null).length, 'a point per run');
    eq(await flagged.locator('svg .drift-point').count(), 1, 'one drift marker, on the new scan');
    const ring = flagged.locator('svg .drift-point');
    const last = flagged.locator('svg circle.point[data-i="2"]');
    eq(await ring.getAttribute('cx'), await last.getAttribute('cx'), 'the marker rings the newest point');
    assert(/drift flagged/.test(await flagged.locator('.legend').innerText()), 'the legend explains the marker');
    await a11y(p, 'scans view');
    await shot(p, 'scans-desktop.png');
    await p.setViewportSize(PHONE);
    await p.waitForTimeout(400);
    await noOverflow(p, 'scans view at 390 px');
    await shot(p, 'scans-phone.png');
    await p.close();
  });

  await test('runs: the list, one run with its anomalies, and the anomaly search (or its note)', async () => {
    const p = await openPage(context, `${URL_MAIN}/#/runs`);
    const rows = p.locator('table.runs-table tbody tr');
    await rows.first().waitFor({timeout: SLOW});
    const api1 = (await api(URL_MAIN, '/api/v1/runs?limit=25')).body.runs;
    eq(await rows.count(), api1.length, 'one row per run');
    await rows.first().locator('a').first().click();
    await p.waitForSelector('h1 >> text=Run', {timeout: SLOW});
    await p.locator('table.data tbody tr').first().waitFor({timeout: SLOW});
    assert(await p.locator('h1').innerText().then((t) => t.includes(api1[0].run_id)), 'the run id is the heading');
    await p.goBack();
    await p.locator('section[aria-labelledby="anom-h"] table.anomalies-table tbody tr').first().waitFor({timeout: SLOW});
    await a11y(p, 'runs view');
    await focusOrder(p, 'runs view', 90);
    await shot(p, 'runs.png');
    await p.close();
  });

  await test('anomaly search: filters by check and severity, pages with next/previous, a time range', async () => {
    const p = await openPage(context, `${URL_MAIN}/#/runs`);
    const anom = p.locator('section[aria-labelledby="anom-h"]');
    const rows = anom.locator('table.anomalies-table tbody tr');
    await rows.first().waitFor({timeout: SLOW});
    await anom.getByLabel('Check', {exact: true}).fill('missing');
    await anom.getByLabel('Severity').selectOption('low');
    await anom.getByRole('button', {name: 'Search', exact: true}).click();
    const q = 'check=missing&severity=low&limit=25';
    const page1 = (await api(URL_MAIN, `/api/v1/anomalies?${q}&offset=0`)).body;
    assert(page1.anomalies.length === 25 && page1.next_offset !== null, `the fixture has more than one page: ${page1.anomalies.length}, next ${page1.next_offset}`);
    await p.waitForFunction(() => /Anomalies 1–25/.test(document.querySelector('section[aria-labelledby="anom-h"] .page-info')?.textContent || ''), null, {timeout: SLOW});
    eq(await rows.count(), 25, 'one page of 25');
    const checks = await rows.locator('td:nth-child(3)').allInnerTexts();
    assert(checks.every((c) => c === 'missing'), `only missing: ${checks.join(',')}`);
    const sevs = await rows.locator('td:nth-child(2)').allInnerTexts();
    assert(sevs.every((x) => /Critical|High|Medium|Low/.test(x)) && !sevs.some((x) => /Info/.test(x)), `low or worse: ${sevs.join(',')}`);
    const firstMsg = await rows.first().locator('td').nth(8).innerText();
    eq(firstMsg, page1.anomalies[0].message, 'the first row is the API\'s first');
    const next = anom.getByRole('button', {name: 'Next →'});
    await next.click();
    const page2 = (await api(URL_MAIN, `/api/v1/anomalies?${q}&offset=${page1.next_offset}`)).body;
    await p.waitForFunction((n) => (document.querySelector('section[aria-labelledby="anom-h"] .page-info')?.textContent || '').startsWith(`Anomalies ${n}`), page1.next_offset + 1, {timeout: SLOW});
    eq(await rows.count(), page2.anomalies.length, 'the second page');
    eq(await rows.first().locator('td').nth(8).innerText(), page2.anomalies[0].message, 'its first row is the API\'s');
    await anom.getByRole('button', {name: '← Previous'}).click();
    await p.waitForFunction(() => /Anomalies 1–25/.test(document.querySelector('section[aria-labelledby="anom-h"] .page-info')?.textContent || ''), null, {timeout: SLOW});
    assert(await anom.getByRole('button', {name: '← Previous'}).isDisabled(), 'no page before the first');
    // a time range: from the future finds nothing, from the past finds the same
    await anom.getByLabel('From').fill('2099-01-01T00:00:00');
    await anom.getByRole('button', {name: 'Search', exact: true}).click();
    await anom.locator('.empty', {hasText: 'No stored anomaly matches'}).waitFor({timeout: SLOW});
    await anom.getByLabel('From').fill('2000-01-01T00:00:00');
    await anom.getByLabel('Until').fill('2099-01-01T00:00:00');
    await anom.getByRole('button', {name: 'Search', exact: true}).click();
    await p.waitForFunction(() => /Anomalies 1–25/.test(document.querySelector('section[aria-labelledby="anom-h"] .page-info')?.textContent || ''), null, {timeout: SLOW});
    // the daemon's 400 is shown with its message, as text
    const anomaliesUrl = (u) => u.pathname === '/api/v1/anomalies';
    await p.route(anomaliesUrl, (route) => route.fulfill({status: 400, contentType: 'application/json',
      body: JSON.stringify({error: {code: 'bad_request', message: 'since: not a time <b>x</b>'}})}));
    await anom.getByRole('button', {name: 'Search', exact: true}).click();
    const err = anom.locator('.notice-error');
    await err.waitFor({timeout: 20000});
    assert((await err.innerText()).includes('since: not a time <b>x</b>'), await err.innerText());
    eq(await err.locator('b').count(), 0, 'the message is text');
    await p.unroute(anomaliesUrl);
    await a11y(p, 'runs view with a search');
    await p.setViewportSize(PHONE);
    await p.waitForTimeout(300);
    await noOverflow(p, 'runs view at 390 px');
    await shot(p, 'runs-phone.png');
    await p.close();
  });

  await test('rules: the loaded rules, no load errors, and a reload', async () => {
    const p = await openPage(context, `${URL_MAIN}/#/rules`);
    const rows = p.locator('table.rules-table tbody tr');
    await rows.first().waitFor({timeout: SLOW});
    const r = (await api(URL_MAIN, '/api/v1/rules')).body;
    eq(await rows.count(), r.rules.length, 'one row per rule');
    assert(/loaded without errors/.test(await p.locator('main').innerText()), 'no load errors');
    assert(r.loaded_at, 'GET /api/v1/rules has loaded_at');
    const last = p.locator('.last-reload');
    assert(/^Last reload: /.test(await last.innerText()), await last.innerText());
    eq(await last.locator('time').getAttribute('datetime'), r.loaded_at, 'the time is the daemon\'s loaded_at');
    await p.getByRole('button', {name: 'Reload rules now'}).click();
    await p.waitForFunction(() => /Reloaded at/.test(document.querySelector('main .status-line').textContent), null, {timeout: 20000});
    const after = (await api(URL_MAIN, '/api/v1/rules')).body;
    assert(after.loaded_at >= r.loaded_at, `the reload moves loaded_at: ${r.loaded_at} -> ${after.loaded_at}`);
    eq(await p.locator('.last-reload time').getAttribute('datetime'), after.loaded_at, 'the page shows the new loaded_at');
    await a11y(p, 'rules view');
    await focusOrder(p, 'rules view');
    await shot(p, 'rules.png');
    await p.setViewportSize(PHONE);
    await p.waitForTimeout(300);
    await noOverflow(p, 'rules view at 390 px');
    await shot(p, 'rules-phone.png');
    await p.close();
  });

  await test('daemon unreachable: the customer view says so', async () => {
    const p = await openPage(context, `${URL_MAIN}/#/customer`);
    await p.route('**/api/**', (route) => route.abort('connectionrefused'));
    await checkCustomer(p, '103065');
    const n = p.locator('.customer-result .notice-error');
    await n.waitFor({timeout: 20000});
    assert(/cannot be reached/.test(await n.innerText()), await n.innerText());
    await p.close();
  });
  await test('no script error on the page through all of the above', async () => {
    assert(page.errors.length === 0, page.errors.join('; '));
  });
  await context.close();
}

async function llmDaemon(browser) {
  const context = await browser.newContext({viewport: {width: 1280, height: 900}});
  const script = async (list) => {
    const r = await fetch(`${STANDIN}/_script`, {method: 'POST', body: JSON.stringify(list)});
    assert(r.ok, 'stand-in scripted');
  };
  await test('advice failed: each finding says the advisor could not advise', async () => {
    await script(Array(60).fill({do: '404'}));
    const p = await openPage(context, `${URL_LLM}/#/customer`);
    await checkCustomer(p, '111950');
    await p.waitForSelector('.banner', {timeout: SLOW});
    const bad = p.locator('section[aria-labelledby="advice-h"] .notice-error');
    assert((await bad.count()) >= 1, 'failure notices shown');
    assert(/could not advise|No advice for/.test(await p.locator('section[aria-labelledby="advice-h"]').innerText()), 'explained');
    await p.locator('section[aria-labelledby="advice-h"]').screenshot({path: path.join(ARTIFACTS, 'customer-advice-failed.png')});
    await p.close();
    await fetch(`${STANDIN}/_reset`, {method: 'POST', body: '{}'});
  });
  await test('planted <script>/<img onerror> in the LLM\'s text is shown as text and never runs', async () => {
    await script(Array(100).fill({do: 'valid', inject: LLM_PLANT}));
    const p = await openPage(context, `${URL_LLM}/#/customer`);
    await checkCustomer(p, '103065');
    await p.waitForSelector('.banner', {timeout: SLOW});
    const fix = p.locator('section[aria-labelledby="advice-h"] ul.fix li', {hasText: 'Stand-in fix'});
    assert((await fix.count()) >= 1, 'the stand-in\'s advice is shown');
    assert((await fix.first().innerText()).includes(LLM_PLANT), 'the planted markup appears literally in a fix');
    const impact = p.locator('section[aria-labelledby="impact-h"] .impacts p').first();
    assert((await impact.innerText()).includes(LLM_PLANT), 'and in the business impact');
    const card = p.locator('section[aria-labelledby="advice-h"] .card').first();
    await card.locator('details.rule-templates > summary').click();
    assert((await card.locator('pre code').first().innerText()).includes(LLM_PLANT), 'and in the rule template');
    await p.waitForTimeout(500);
    await noInjection(p, 'LLM text');
    assert(p.errors.length === 0, p.errors.join('; '));
    await shot(p, 'customer-llm-planted-markup.png', false);
    await p.close();
  });
  await context.close();
}

async function authDaemon(browser) {
  const context = await browser.newContext({viewport: {width: 1280, height: 900}});
  await test('with a token configured the dashboard is read-only until the token is given', async () => {
    const p = await openPage(context, `${URL_AUTH}/#/customer`);
    await p.waitForSelector('#token-open');
    assert(/Read-only/.test(await p.locator('#auth-area').innerText()), 'says read-only');
    await checkCustomer(p, '103065');
    const n = p.locator('.customer-result .notice');
    await n.waitFor({timeout: SLOW});
    assert(/No stored report for customer 103065/.test(await n.innerText()) && /token/.test(await n.innerText()), await n.innerText());
    eq(await p.evaluate(() => document.getElementById('token-dialog').open), false, 'reading asks for no token');
    await p.close();
  });
  await test('the token dialog: entered once, sent as a bearer token on write calls', async () => {
    const p = await openPage(context, `${URL_AUTH}/#/customer/103065`);
    const sent = [];
    p.on('request', (r) => {
      if (r.method() === 'POST') sent.push(r.headers().authorization || '');
    });
    await p.locator('#token-open').click();
    const dlg = p.getByRole('dialog');
    await dlg.waitFor();
    await dlg.getByLabel('Token').fill(TOKEN);
    await dlg.getByRole('button', {name: 'Use token'}).click();
    await p.waitForSelector('.banner', {timeout: SLOW});
    assert(/Checked/.test(await p.locator('.report-head .meta').first().innerText()), 'a fresh check ran');
    eq(sent[0], `Bearer ${TOKEN}`, 'the POST carried the token');
    eq(await p.evaluate(() => sessionStorage.getItem('creditsense.token')), TOKEN, 'kept in sessionStorage');
    assert(/Token set/.test(await p.locator('#auth-area').innerText()), 'the header says so');
    await p.close();
  });
  await test('a refused token is dropped, the dialog says so, and the stored report is shown', async () => {
    const p = await openPage(context, `${URL_AUTH}/#/customer`);
    await p.evaluate(() => sessionStorage.setItem('creditsense.token', 'wrong-token'));
    await p.reload();
    await p.waitForSelector('main h1');
    await checkCustomer(p, '103065');
    await p.waitForSelector('.banner', {timeout: SLOW});
    await p.waitForFunction(() => document.getElementById('token-dialog').open);
    assert(/refused/.test(await p.locator('#token-why').innerText()), 'the dialog says the token was refused');
    assert(/latest stored report/i.test(await p.locator('.report-head').innerText()), 'the stored report is shown instead');
    eq(await p.evaluate(() => sessionStorage.getItem('creditsense.token')), null, 'the wrong token is forgotten');
    await p.keyboard.press('Escape');
    await a11y(p, 'customer view, read-only');
    await shot(p, 'auth-refused.png', false);
    await p.close();
  });
  await context.close();
}

(async () => {
  for (const [k, v] of Object.entries({CS_URL: URL_MAIN, CS_URL_LLM: URL_LLM, CS_URL_AUTH: URL_AUTH, CS_STANDIN: STANDIN})) {
    if (!v) {
      console.log(`not ok - ${k} is set (run this through tests/test_dashboard.py)`);
      process.exit(1);
    }
  }
  let browser;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
    });
    console.log(`ok - headless Chromium ${browser.version()} starts from ${CHROMIUM}`);
  } catch (e) {
    console.log(`not ok - headless Chromium starts from ${CHROMIUM}`);
    console.log(`#   ${String(e.message).split('\n')[0]}`);
    process.exit(1);
  }
  try {
    await mainDaemon(browser);
    await llmDaemon(browser);
    await authDaemon(browser);
  } finally {
    await browser.close().catch(() => {});
  }
  clearTimeout(watchdog);
  console.log(`# done: ${failures} failed; screenshots in ${ARTIFACTS}`);
  process.exit(failures ? 1 : 0);
})();
