// app.js -- the dashboard's shell: routes (#/customer, #/scans, #/runs,
// #/rules), the daemon's readiness, and the access token.

import {h, replace, notice} from './dom.js';
import {api, auth, explain, ApiError} from './api.js';
import * as customer from './customer.js';
import * as scans from './scans.js';
import * as runs from './runs.js';
import * as rules from './rules.js';

const VIEWS = {customer, scans, runs, rules};
const TITLES = {customer: 'Customer', scans: 'Table scans', runs: 'Runs', rules: 'Rules'};
const main = document.getElementById('main');
const alertBox = document.getElementById('global-alert');
const statusEl = document.getElementById('daemon-status');
const authArea = document.getElementById('auth-area');
const dialog = document.getElementById('token-dialog');
const tokenInput = document.getElementById('token-input');
const tokenWhy = document.getElementById('token-why');
const DEFAULT_WHY = tokenWhy.textContent;

let current = null;
let rulesPromise = null;

const ctx = {
  config: null,
  /** GET /api/v1/rules, once per page (the lineage view uses the rules' join columns). */
  rules() {
    if (!rulesPromise) rulesPromise = api('/api/v1/rules').catch((e) => { rulesPromise = null; throw e; });
    return rulesPromise;
  },
  askToken(why) {
    openTokenDialog(why);
  },
};

// ---- routing ---------------------------------------------------------------------------------

function parseHash() {
  const m = /^#\/([a-z]+)(?:\/(.+))?$/.exec(location.hash);
  if (!m || !VIEWS[m[1]]) return {name: 'customer', id: null};
  return {name: m[1], id: m[2] || null};
}

function route(focus) {
  if (current && current.dispose) current.dispose();
  const {name, id} = parseHash();
  for (const a of document.querySelectorAll('nav a[data-route]')) {
    if (a.dataset.route === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = `${TITLES[name]} · CreditSense`;
  current = VIEWS[name].render(main, {id}, ctx) || null;
  if (focus) {
    const h1 = main.querySelector('h1');
    if (h1) h1.focus();
  }
}

window.addEventListener('hashchange', () => route(true));
document.getElementById('skip-link').addEventListener('click', (e) => {
  e.preventDefault();
  const target = main.querySelector('h1') || main;
  target.focus();
});

// ---- the daemon's state ------------------------------------------------------------------------

function setAlert(node) {
  replace(alertBox, node);
}

function showUnreachable(retry) {
  setAlert(notice('error', 'The CreditSense daemon cannot be reached',
    h('p', null, 'It may be stopped or restarting. What this page shows may be out of date; actions will fail until it is back.'),
    h('button', {type: 'button', class: 'btn small', onclick: retry}, 'Try again')));
}

async function loadConfig() {
  try {
    ctx.config = await api('/api/v1/config');
    const a = ctx.config && ctx.config.server ? ctx.config.server.auth : undefined;
    auth.required = a !== undefined && a !== 'off';
    setAlert(null);
    return true;
  } catch (e) {
    if (e instanceof ApiError && e.unreachable) {
      showUnreachable(async () => {
        if (await loadConfig()) route(false);
      });
    } else {
      setAlert(notice('warn', 'Could not read the daemon’s configuration', h('p', null, explain(e))));
    }
    return false;
  }
}

let readyTimer = null;
async function pollReady() {
  clearTimeout(readyTimer);
  let text = 'Unreachable';
  let cls = 'pill bad';
  let title = '';
  try {
    const res = await fetch('/readyz', {cache: 'no-store', headers: {Accept: 'application/json'}});
    const body = await res.json().catch(() => ({}));
    if (res.ok) {
      text = 'Ready';
      cls = 'pill good';
      if (alertBox.querySelector('.notice-error') && !ctx.config) {
        if (await loadConfig()) route(false);
      } else if (alertBox.querySelector('.notice-error')) {
        setAlert(null);
      }
    } else {
      text = body.status === 'draining' ? 'Shutting down' : 'Not ready';
      cls = 'pill warn';
      const checks = body.checks || {};
      title = Object.entries(checks).filter(([, v]) => v && v.ok === false)
        .map(([k, v]) => `${k}: ${v.error || 'not ok'}`).join('; ');
    }
  } catch (e) {
    showUnreachable(pollReady);
  }
  statusEl.className = cls;
  statusEl.textContent = `Daemon: ${text}`;
  if (title) statusEl.title = title;
  else statusEl.removeAttribute('title');
  readyTimer = setTimeout(pollReady, 15000);
}

// ---- the access token --------------------------------------------------------------------------------

function renderAuth() {
  if (auth.required === false) {
    replace(authArea, h('span', {class: 'pill muted', title: 'The daemon has no access token configured: every action is open.'}, 'No token needed'));
  } else if (auth.token) {
    replace(authArea, h('span', {class: 'pill good'}, 'Token set'), ' ',
      h('button', {type: 'button', class: 'btn small', onclick: () => auth.setToken('')}, 'Forget token'));
  } else {
    replace(authArea, h('span', {class: 'pill muted', title: 'Reading works; actions need the access token.'}, 'Read-only'), ' ',
      h('button', {type: 'button', class: 'btn small', id: 'token-open', onclick: () => openTokenDialog()}, 'Enter token'));
  }
}

function openTokenDialog(why) {
  tokenWhy.textContent = why || DEFAULT_WHY;
  tokenInput.value = '';
  if (!dialog.open) dialog.showModal();
  tokenInput.focus();
}

document.getElementById('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const t = tokenInput.value.trim();
  if (!t) return;
  dialog.close();
  auth.setToken(t);
  route(false); // the view again, now allowed to act
});
document.getElementById('token-cancel').addEventListener('click', () => dialog.close());

auth.onChange((reason) => {
  renderAuth();
  if (reason === 'refused') openTokenDialog('The daemon refused the token. Enter the current access token of this installation.');
  else if (reason === 'needed') openTokenDialog('This action needs the access token of this installation.');
});

// ---- start ------------------------------------------------------------------------------------------

async function boot() {
  await loadConfig();
  renderAuth();
  route(false);
  pollReady();
}

boot();
