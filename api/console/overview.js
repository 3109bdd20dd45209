// Overview: every instance with its state, the rule and collection it
// answers from, its TTL and its answers per minute; problems first. It
// follows the event stream: an event refetches the instances it concerns.

import { get, enc } from './api.js';
import { h, clear, stateBadge, instanceState, STATES, sparkline, trimDot, addressTone, badge, timeEl, table } from './ui.js';

// storeBanner says, above everything, that this node cannot write or
// answers from its own probes for want of its cluster; null when all is
// well.
function storeBanner(status) {
  const st = status.store || {};
  const cl = st.cluster;
  let text = '';
  if (cl && cl.conflict) text = cl.conflict;
  else if (cl && cl.fallback) text = `Cut off from etcd for longer than its grace period: this node answers from its own probes, and writes are refused; answers continue from revision ${status.revision}.`;
  else if (st.reachable === false) text = `The store is unreachable (${st.error || 'no answer'}): writes are refused; answers continue from revision ${status.revision}.`;
  if (!text) return null;
  return h('div.alert.tone-bad', { role: 'alert', dataset: { banner: 'store' } }, h('p', text, ' ', h('a', { href: '#/cluster' }, 'Cluster')));
}

export async function render(root, _params, app) {
  const [status, configs] = await Promise.all([get('/status'), get('/instances')]);
  const byName = new Map(status.instances.map(i => [i.name, i]));
  const pools = new Map(status.pools.map(p => [p.name, p]));
  let usesPool = poolUsers(configs);
  const traffic = new Map();
  const rows = new Map();

  const summary = h('div.summary', { 'aria-live': 'polite' });
  const tbody = h('tbody');
  const problems = h('section.panel', { 'aria-labelledby': 'addr-problems' });
  clear(root,
    h('div.pagehead', h('h1', 'Overview'), summary),
    storeBanner(status),
    h('section.panel', { 'aria-labelledby': 'inst-h' },
      h('h2#inst-h.sr', 'Instances'),
      h('div.tablewrap', h('table.instances',
        h('caption.sr', 'Instances, problems first'),
        h('thead', h('tr', ['State', 'Instance', 'Answering from', 'TTL', 'Answers (last hour)'].map(c => h('th', { scope: 'col' }, c)))),
        tbody))),
    problems);

  function row(st) {
    const state = instanceState(st);
    const link = h('a', { href: '#/instances/' + enc(st.name) }, trimDot(st.name));
    const rules = h('ul.rules', st.rules.map(r => h('li',
      h('span.rulename', r.name), ' → ',
      h('span.coll', { class: r.state === 'primary' ? '' : 'tone-text-' + (r.state === 'secondary' ? 'warn' : 'bad') }, r.state),
      r.pin ? h('span.pin', { title: `pinned (${r.pin.scope}) to ${r.pin.switch}` }, ' 📌 ' + r.pin.switch) : null,
      r['failback-hold'] ? h('span.pin', ' ⏸ failback hold') : null)));
    const spark = h('td.sparkcell', traffic.has(st.name) ? sparkline(traffic.get(st.name), { label: 'answers per minute of ' + trimDot(st.name) }) : '');
    const tr = h('tr', { dataset: { instance: st.name, state, rank: STATES[state].rank } },
      h('td', stateBadge(state)),
      h('th', { scope: 'row' }, link, h('div.sub', `${st.type} · ${st.policy}${st.pin ? ' · pinned ' + st.pin : ''}`)),
      h('td', rules),
      h('td.num', { title: 'TTL served now' }, `${st.ttl} s`),
      spark);
    return tr;
  }

  function sortRows() {
    const list = [...rows.values()].sort((a, b) => (a.dataset.rank - b.dataset.rank) || a.dataset.instance.localeCompare(b.dataset.instance));
    tbody.replaceChildren(...list);
    const counts = { down: 0, secondary: 0, degraded: 0, healthy: 0 };
    for (const tr of list) counts[tr.dataset.state]++;
    clear(summary, Object.entries(counts).map(([k, n]) => h('span.count', { class: n ? 'tone-' + STATES[k].tone : 'zero', dataset: { count: k } }, h('strong', String(n)), ' ', STATES[k].label)));
    if (!list.length) tbody.replaceChildren(h('tr', h('td', { colspan: 5 }, h('p.muted', 'No instances yet. ', app.can('admin') ? h('a', { href: '#/edit/instances/' }, 'Create one.') : ''))));
  }

  function drawProblems() {
    const bad = [];
    for (const p of pools.values()) for (const a of p.addresses) {
      const tone = addressTone(a);
      if (tone !== 'good') bad.push([p, a, tone]);
    }
    clear(problems, h('h2#addr-problems', 'Addresses not in service'),
      bad.length ? table('Addresses not in service', ['Address', 'Pool', 'Health', 'Mode', 'Since', 'Last probe'], bad.map(([p, a, tone]) =>
        h('tr', { dataset: { address: a.value, pool: p.name } },
          h('td', badge(a.value, tone)), h('td', p.name), h('td', a.health), h('td', a['effective-mode'] + (a.override ? ` (override ${a.override})` : '')),
          h('td', timeEl(a.since)), h('td.err', a['last-probe'] ? (a['last-probe'].ok ? 'ok' : a['last-probe'].error || 'failed') : '—'))))
        : h('p.muted', 'Every address is in service.'));
  }

  function put(st) {
    byName.set(st.name, st);
    rows.set(st.name, row(st));
  }
  for (const st of status.instances) put(st);
  sortRows();
  drawProblems();

  async function loadTraffic() {
    await Promise.all([...byName.keys()].slice(0, 500).map(async n => {
      try {
        traffic.set(n, await get(`/traffic/instances/${enc(n)}?since=${enc(new Date(Date.now() - 3600e3).toISOString())}`));
      } catch { /* gone meanwhile */ }
    }));
    for (const st of byName.values()) put(st);
    sortRows();
  }
  loadTraffic();
  const timer = setInterval(loadTraffic, 60000);

  async function refresh() {
    const [st, cf] = await Promise.all([get('/status'), get('/instances')]);
    usesPool = poolUsers(cf);
    byName.clear(); rows.clear(); pools.clear();
    for (const p of st.pools) pools.set(p.name, p);
    for (const i of st.instances) put(i);
    sortRows();
    drawProblems();
  }

  let pending = null;
  return {
    refresh,
    dispose() { clearInterval(timer); },
    async onEvent(ev) {
      const names = new Set(ev.instances || []);
      for (const p of ev.pools || []) for (const n of usesPool.get(p) || []) names.add(n);
      if (ev.kind === 'config' || (!names.size && !(ev.pools || []).length)) {
        clearTimeout(pending);
        pending = setTimeout(refresh, 100);
        return;
      }
      await Promise.all([
        ...[...names].map(async n => {
          try { put(await get('/status/instances/' + enc(n))); } catch { rows.delete(n); byName.delete(n); }
        }),
        ...(ev.pools || []).map(async p => {
          try { pools.set(p, await get('/status/pools/' + enc(p))); } catch { pools.delete(p); }
        }),
      ]);
      sortRows();
      drawProblems();
    },
  };
}

// poolUsers maps each pool to the instances whose rules use it.
export function poolUsers(configs) {
  const m = new Map();
  for (const inst of configs) for (const r of inst.rules || []) {
    for (const c of [r.primary, r.secondary]) for (const p of (c && c.pools) || []) {
      if (!m.has(p.pool)) m.set(p.pool, new Set());
      m.get(p.pool).add(inst.name);
    }
  }
  return m;
}
