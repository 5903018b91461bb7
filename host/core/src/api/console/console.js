// The console's entry point: sign-in and sign-out, who is signed in (GET /v1/me), the pages a
// role may open, and hash routing (#/dashboard, #/queue, #/cases/LV-000001, …). Each page is a
// module with `render(container, context)`; the API decides what is allowed, and the console
// only hides what a role could not do anyway.

import { ApiError, describe, forgetToken, getJson, storeToken, storedToken } from './api.js';
import { h } from './dom.js';
import * as dashboard from './dashboard.js';
import * as queue from './queue.js';
import * as casePage from './case.js';
import * as remediation from './remediation.js';
import * as policies from './policies.js';
import * as workflow from './workflow.js';

const anyOf = (...roles) => (me) => roles.some((role) => me.roles.includes(role));
const anyone = () => true;

/** The pages, in the navigation's order, and which principals may open them: the roles the
 * API's handlers check (api/metrics.rs, api/queue.rs, api/policies.rs; the rest any role). */
const PAGES = {
  dashboard: { module: dashboard, allowed: anyOf('approver', 'auditor', 'admin') },
  queue: { module: queue, allowed: anyOf('approver') },
  cases: { module: casePage, allowed: anyone },
  remediation: { module: remediation, allowed: anyone },
  policies: { module: policies, allowed: anyOf('admin', 'auditor') },
  workflow: { module: workflow, allowed: anyone },
};

/** The signed-in principal, from GET /v1/me. */
let me = null;
/** Counts renders, so that a slow page that was left does not show an error over the next. */
let renders = 0;

const byId = (id) => document.getElementById(id);

/** Shows an error (an ApiError or text) in #error; a 401 also signs out. */
export function showError(error) {
  const box = byId('error');
  box.textContent = describe(error);
  box.hidden = false;
  if (error instanceof ApiError && error.status === 401 && me) signOut(false);
}

export function clearError() {
  const box = byId('error');
  box.textContent = '';
  box.hidden = true;
}

/** #/cases/LV-000001?x=y → { name: 'cases', param: 'LV-000001', query }. */
function parseHash(hash) {
  const [path, search = ''] = hash.replace(/^#\/?/, '').split('?');
  const [name = '', ...rest] = path.split('/');
  return { name, param: rest.length ? decodeURIComponent(rest.join('/')) : null, query: new URLSearchParams(search) };
}

async function route() {
  if (!me) {
    showSignIn();
    return;
  }
  const { name, param, query } = parseHash(location.hash);
  const page = PAGES[name];
  if (!page) {
    location.replace(`#/${startPage()}`);
    return;
  }
  clearError();
  markNav(name);
  const container = h('section', { class: `page page-${name}` });
  byId('view').replaceChildren(container);
  if (!page.allowed(me)) {
    showError(`Your roles (${me.roles.join(', ')}) do not give access to this page.`);
    return;
  }
  const render = ++renders;
  container.setAttribute('aria-busy', 'true');
  try {
    await page.module.render(container, { me, param, query, showError, clearError });
  } catch (error) {
    if (render === renders) showError(error);
  } finally {
    container.removeAttribute('aria-busy');
  }
}

/** The first page of the navigation the signed-in principal may open. */
function startPage() {
  return Object.keys(PAGES).find((name) => name !== 'cases' && PAGES[name].allowed(me)) ?? 'workflow';
}

function markNav(current) {
  for (const link of document.querySelectorAll('a[data-nav]')) {
    if (link.dataset.nav === current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

function showSignIn() {
  byId('nav').hidden = true;
  byId('session').hidden = true;
  byId('view').replaceChildren();
  byId('sign-in-page').hidden = false;
  byId('token').focus();
}

/** Shows who is signed in, and only the pages their roles may open. */
function showSession() {
  byId('sign-in-page').hidden = true;
  const authority = me.authority ? ` · ${me.authority.level}` : '';
  byId('whoami').textContent = `${me.actor} · ${me.roles.join(', ')}${authority} · team ${me.team}`;
  byId('session').hidden = false;
  byId('nav').hidden = false;
  for (const link of document.querySelectorAll('a[data-nav]')) {
    link.hidden = !PAGES[link.dataset.nav].allowed(me);
    link.closest('li').hidden = link.hidden;
  }
}

async function signIn(event) {
  event.preventDefault();
  const input = byId('token');
  const token = input.value.trim();
  if (!token) {
    showError('Paste a bearer token to sign in.');
    return;
  }
  try {
    me = await getJson('/v1/me', { token });
  } catch (error) {
    showError(error);
    return;
  }
  storeToken(token);
  input.value = '';
  clearError();
  showSession();
  if (parseHash(location.hash).name) route();
  else location.hash = `#/${startPage()}`;
}

function signOut(clearMessage = true) {
  forgetToken();
  me = null;
  if (clearMessage) clearError();
  showSignIn();
}

function openCase(event) {
  event.preventDefault();
  const input = byId('case-id');
  const id = input.value.trim().toUpperCase();
  if (id) location.hash = `#/cases/${encodeURIComponent(id)}`;
  input.value = '';
}

async function start() {
  byId('sign-in-form').addEventListener('submit', signIn);
  byId('sign-out').addEventListener('click', () => signOut());
  byId('case-search').addEventListener('submit', openCase);
  window.addEventListener('hashchange', route);
  const token = storedToken();
  if (token) {
    try {
      me = await getJson('/v1/me', { token });
      showSession();
    } catch (error) {
      forgetToken();
      showError(error);
    }
  }
  route();
}

start();
