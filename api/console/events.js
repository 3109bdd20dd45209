// Events: the store's event log, newest first, filterable, with older
// pages on demand; new events appear as they happen.

import { get, q } from './api.js';
import { h, clear, time, table, trimDot } from './ui.js';

const KINDS = ['', 'address', 'switchover', 'config', 'override'];

export async function render(root, _params, _app, query) {
  const f = {};
  const field = (key, label, el) => { f[key] = el; return h('div.field', h('label', { for: 'ev-' + key }, label), el); };
  const inp = (key, ph) => h('input', { id: 'ev-' + key, name: key, value: query.get(key) || '', placeholder: ph, autocomplete: 'off', spellcheck: 'false' });
  const kind = h('select#ev-kind', { name: 'kind' }, KINDS.map(k => h('option', { value: k, selected: (query.get('kind') || '') === k }, k || 'any')));
  const since = h('input#ev-since', { name: 'since', type: 'datetime-local', value: query.get('since') || '' });
  const form = h('form.filters', { role: 'search', onsubmit: e => {
    e.preventDefault();
    const p = {};
    for (const [k, el] of Object.entries(f)) p[k] = el.value.trim();
    location.hash = '#/events' + q(p);
  } },
  field('instance', 'Instance', inp('instance', 'www.example.org')), field('pool', 'Pool', inp('pool', 'site-a')),
  field('address', 'Address', inp('address', '192.0.2.10')), field('kind', 'Kind', kind), field('since', 'Since', since),
  h('button.primary', { type: 'submit' }, 'Filter'), h('a.button.ghost', { href: '#/events' }, 'Clear'));
  const tbody = h('tbody');
  const more = h('button.ghost', { type: 'button', onclick: () => load(true) }, 'Older events');
  clear(root, h('div.pagehead', h('h1', 'Events')), form,
    h('div.tablewrap', h('table.events', h('caption.sr', 'Events, newest first'),
      h('thead', h('tr', ['When', 'Kind', 'Object', 'Change', 'Why', 'Instances'].map(c => h('th', { scope: 'col' }, c)))), tbody)),
    h('div.buttons', more));

  let oldest = 0;
  const params = () => {
    const p = {};
    for (const k of ['instance', 'pool', 'address', 'kind']) p[k] = f[k].value.trim();
    if (f.since.value) p.since = new Date(f.since.value).toISOString();
    return p;
  };
  const row = e => h('tr', { dataset: { kind: e.kind, seq: e.seq } },
    h('td', h('time', { datetime: e.time }, time(e.time))),
    h('td', h('span.kindtag', { class: 'k-' + e.kind }, e.kind)),
    h('td', e.object),
    h('td', e.old || e.new ? [h('code', e.old || '—'), ' → ', h('code', e.new || '—')] : ''),
    h('td', e.reason || ''),
    h('td', (e.instances || []).map(trimDot).join(', ')));

  async function load(older) {
    const p = params();
    if (older && oldest) p.before = oldest;
    p.limit = 100;
    const evs = await get('/events' + q(p));
    if (!older) tbody.replaceChildren();
    for (const e of evs) tbody.append(row(e));
    if (evs.length) oldest = evs[evs.length - 1].seq;
    more.hidden = evs.length < 100;
    if (!tbody.children.length) tbody.append(h('tr', h('td', { colspan: 6 }, h('p.muted', 'No events match.'))));
  }
  await load(false);
  let t;
  return {
    refresh: () => load(false),
    // The stream's events carry the process's numbers, the log its own:
    // reload the first page (the log has them a moment later).
    onEvent() { clearTimeout(t); t = setTimeout(() => load(false), 400); },
    dispose() { clearTimeout(t); },
  };
}
