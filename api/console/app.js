// The console: sign-in, the live event stream, and hash routing between
// the pages. Each page is a module whose render(root, params, app) draws
// it and may return { onEvent(event), dispose() }.

import { call, token, setToken, follow, whenUnauthorized, ApiError } from './api.js';
import { h, clear } from './ui.js';
import * as overview from './overview.js';
import * as instance from './instance.js';
import * as actions from './actions.js';
import * as edit from './edit.js';
import * as history from './history.js';
import * as events from './events.js';
import * as cluster from './cluster.js';

const ROLES = { viewer: 1, operator: 2, admin: 3 };

const app = {
  name: '',
  role: '',
  // can reports whether the signed-in token's role allows need; the
  // console shows no control the role may not use (and the API refuses
  // those requests anyway).
  can(need) { return (ROLES[this.role] || 0) >= ROLES[need]; },
  live: false,
};

const routes = [
  [/^\/?$/, overview, 'overview'],
  [/^\/instances\/([^/]+)$/, instance, 'overview'],
  [/^\/actions$/, actions, 'actions'],
  [/^\/edit(?:\/(monitors|pools|instances)(?:\/([^/]*))?)?$/, edit, 'edit'],
  [/^\/history$/, history, 'history'],
  [/^\/events$/, events, 'events'],
  [/^\/cluster$/, cluster, 'cluster'],
];

let current = null;
let stopStream = null;
let seq = 0;

const $ = id => document.getElementById(id);

async function signIn(t) {
  setToken(t);
  const { data } = await call('GET', '/whoami');
  app.name = data.name;
  app.role = data.role;
  document.body.dataset.role = data.role;
  clear($('whoami'), h('span.name', data.name), ' ', h('span.role', { class: 'role-' + data.role }, data.role));
  $('signin').hidden = true;
  $('nav').hidden = false;
  $('who').hidden = false;
  startStream();
  route();
}

function signOut(message) {
  setToken('');
  app.name = app.role = '';
  delete document.body.dataset.role;
  if (stopStream) stopStream();
  stopStream = null;
  if (current && current.dispose) current.dispose();
  current = null;
  if ($('dialog').open) $('dialog').close();
  // A message of the session that ends is not the next one's.
  $('toast').classList.remove('show');
  clear($('toast'));
  clear($('view'));
  $('nav').hidden = true;
  $('who').hidden = true;
  $('signin').hidden = false;
  $('signin-error').textContent = message || '';
  $('token').value = '';
  $('token').focus();
}

function startStream() {
  if (stopStream) stopStream();
  stopStream = follow((kind, data) => {
    if (kind !== 'event') return;
    if (current && current.onEvent) current.onEvent(data);
  }, (up, resumed) => {
    app.live = up;
    const el = $('live');
    el.textContent = up ? 'live' : 'reconnecting…';
    el.classList.toggle('on', up);
    // After a gap, the stream replays what it still holds; a page whose
    // view may be older than that reloads.
    if (up && resumed && current && current.refresh) current.refresh();
  });
}

async function route() {
  if (!app.role) return;
  const path = decodeURIComponent(location.hash.replace(/^#/, '')) || '/';
  const [p, qs] = path.split('?');
  let match = null;
  for (const [re, mod, nav] of routes) {
    const m = re.exec(p);
    if (m) { match = { mod, nav, params: m.slice(1), query: new URLSearchParams(qs || '') }; break; }
  }
  for (const a of document.querySelectorAll('#nav a')) {
    if (match && a.dataset.page === match.nav) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  if (current && current.dispose) current.dispose();
  current = null;
  const view = $('view');
  const mine = ++seq;
  if (!match) {
    clear(view, h('h1', 'Not found'), h('p', 'There is no page here. ', h('a', { href: '#/' }, 'Go to the overview.')));
    return;
  }
  const root = h('div.page');
  clear(view, root);
  try {
    const page = await match.mod.render(root, match.params, app, match.query);
    if (mine !== seq) { if (page && page.dispose) page.dispose(); return; }
    current = page || null;
  } catch (err) {
    if (mine !== seq) return;
    clear(root, h('div.alert.tone-bad', { role: 'alert' }, h('p', err instanceof ApiError ? err.message : String(err))));
  }
  if (document.activeElement === document.body || !document.activeElement) $('main').focus({ preventScroll: true });
}

function init() {
  whenUnauthorized(() => { if (app.role) signOut('The token was refused: sign in again.'); });
  $('signin-form').addEventListener('submit', async e => {
    e.preventDefault();
    const t = $('token').value.trim();
    $('signin-error').textContent = '';
    try {
      await signIn(t);
    } catch (err) {
      setToken('');
      $('signin-error').textContent = err instanceof ApiError && err.status === 401 ? 'This token is not valid here.' : String(err.message || err);
    }
  });
  $('signout').addEventListener('click', () => signOut());
  window.addEventListener('hashchange', route);
  // Signed in already in this tab, or an API without tokens (loopback
  // only), where every caller is an admin named "local".
  signIn(token()).catch(() => signOut());
}

init();
