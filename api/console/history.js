// History: who changed what when, filterable by who; a rollback shows
// what it would change (the objects' JSON before and after) before it is
// confirmed.

import { get, q, enc } from './api.js';
import { h, clear, time, timeEl, table, errorBox } from './ui.js';
import { confirmWrite } from './actions.js';

export async function render(root, _params, app, query) {
  const who = h('input#h-who', { name: 'who', value: query.get('who') || '', placeholder: 'token name', autocomplete: 'off' });
  const list = h('div', { 'aria-live': 'polite' });
  const form = h('form.filters', { role: 'search', onsubmit: e => { e.preventDefault(); location.hash = '#/history' + q({ who: who.value.trim() }); } },
    h('div.field', h('label', { for: 'h-who' }, 'Changed by'), who),
    h('button.primary', { type: 'submit' }, 'Filter'),
    who.value ? h('a.button.ghost', { href: '#/history' }, 'Clear') : null);
  clear(root, h('div.pagehead', h('h1', 'History')), form, list);

  async function load() {
    const entries = await get('/history' + q({ who: who.value.trim(), limit: 200 }));
    const newest = entries.length && !who.value ? entries[0].revision : null;
    clear(list, entries.length ? table('Revisions, newest first', ['Revision', 'When', 'Who', 'Change', 'Comment', ''], entries.map(e =>
      h('tr', { dataset: { revision: e.revision } },
        h('th.num', { scope: 'row' }, String(e.revision)),
        h('td', h('time', { datetime: e.time, title: time(e.time) }, time(e.time).slice(0, 19)), h('div.sub', timeEl(e.time))),
        h('td', h('a', { href: '#/history' + q({ who: e.who }) }, e.who)),
        h('td', e.change),
        h('td', e.comment || ''),
        h('td', app.can('admin') && e.revision !== newest ? h('button.small', { type: 'button', dataset: { action: 'rollback' }, onclick: () => rollback(e.revision) }, 'Roll back to this…') : null))))
      : h('p.muted', who.value ? `No change by '${who.value}'.` : 'No change yet: the store is empty.'));
  }

  async function rollback(rev) {
    let diff;
    try {
      const r = await get(`/history/${enc(rev)}?against=current`);
      diff = changesView(r.changes || []);
    } catch (err) { diff = errorBox(err); }
    const res = await confirmWrite({ title: `Roll back to revision ${rev}`, what: `Make revision ${rev}'s objects and overrides current again, as a new revision. It would change:`,
      extra: diff, method: 'POST', path: '/rollback', body: { revision: rev }, confirmLabel: 'Roll back' });
    if (res) load();
  }

  await load();
  return { refresh: load, onEvent(ev) { if (ev.kind === 'config' || ev.kind === 'override') load(); } };
}

// changesView shows each object a rollback would change, before and
// after, as JSON side by side.
export function changesView(changes) {
  if (!changes.length) return h('p.muted', 'Nothing: that revision holds what is current.');
  return h('div.diff', { dataset: { changes: changes.length } }, changes.map(c => {
    const verb = !c.before ? 'created' : !c.after ? 'deleted' : 'changed';
    const fmt = v => v ? JSON.stringify(v, null, 2) : '(none)';
    return h('div.change', { class: 'ch-' + verb },
      h('h4', `${c.kind} ${c.name} `, h('span.sub', verb)),
      h('div.sidebyside',
        h('figure', h('figcaption', 'now'), h('pre', fmt(c.before))),
        h('figure', h('figcaption', 'after rollback'), h('pre', fmt(c.after)))));
  }));
}
