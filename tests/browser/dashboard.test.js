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
const ARTIFACTS = env('CS_ARTIFACTS', path.join(__dirname, '..', 'artifacts', 'dashboard'));
const CHROMIUM = env('CS_CHROMIUM', '/usr/bin/chromium');
const SLOW = 120000;

fs.mkdirSync(ARTIFACTS, {recursive: true});

let failures = 0;
async function test(name, fn) {
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
    const rows = await raw.locator('details.raw-rows').innerText();
    assert(/SAMPLE_INSTALLMENTS/.test(rows), 'row counts per table');
    assert(rows.includes('/api/v1/customers/{id}/rows'), 'the missing endpoint is named');
    await a11y(page, 'customer view');
    await shot(page, 'customer-103065-desktop.png');
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

  await test('phone width (375 px): the customer view has no horizontal overflow', async () => {
    const p = await openPage(context, `${URL_MAIN}/#/customer/103065`, {width: 375, height: 812});
    await p.waitForSelector('.banner', {timeout: SLOW});
    await p.waitForTimeout(400);
    await noOverflow(p, 'customer view at 375 px');
    await p.locator('details.raw-anomalies > summary').click();
    await noOverflow(p, 'customer view at 375 px with a raw table open');
    await shot(p, 'customer-103065-phone.png');
    await p.close();
  });

  await test('table scans: start a scan, watch its progress, heat map and drift from the real scan', async () => {
    const p = await openPage(context, `${URL_MAIN}/#/scans`);
    const sec = p.locator('section.table-section[data-table="SAMPLE_APPLICATION"]');
    await sec.locator('svg.heatmap').waitFor({timeout: SLOW});
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
    await a11y(p, 'scans view');
    await shot(p, 'scans-desktop.png');
    await p.setViewportSize({width: 375, height: 812});
    await p.waitForTimeout(400);
    await noOverflow(p, 'scans view at 375 px');
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
    const anom = p.locator('section[aria-labelledby="anom-h"]');
    await p.waitForFunction(() => {
      const s = document.querySelector('section[aria-labelledby="anom-h"]');
      return s && (s.querySelector('.notice') || s.querySelector('table') || s.querySelector('.empty'));
    }, null, {timeout: SLOW});
    const t = await anom.innerText();
    assert(/GET \/api\/v1\/anomalies/.test(t) || (await anom.locator('table').count()) > 0 || /No stored anomaly/.test(t), t);
    await a11y(p, 'runs view');
    await shot(p, 'runs.png');
    await p.close();
  });

  await test('rules: the loaded rules, no load errors, and a reload', async () => {
    const p = await openPage(context, `${URL_MAIN}/#/rules`);
    const rows = p.locator('table.rules-table tbody tr');
    await rows.first().waitFor({timeout: SLOW});
    const r = (await api(URL_MAIN, '/api/v1/rules')).body;
    eq(await rows.count(), r.rules.length, 'one row per rule');
    assert(/loaded without errors/.test(await p.locator('main').innerText()), 'no load errors');
    await p.getByRole('button', {name: 'Reload rules now'}).click();
    await p.waitForFunction(() => /Reloaded at/.test(document.querySelector('main .status-line').textContent), null, {timeout: 20000});
    await a11y(p, 'rules view');
    await shot(p, 'rules.png');
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
