// Instance: each rule → its primary and secondary collection → pools →
// addresses with their verdicts, probes, latency, modes and overrides;
// the instance's recent events as a timeline; answers per pool over the
// last hours; an explain box. Live from the event stream.

import { get, enc, q, ApiError } from './api.js';
import { h, clear, stateBadge, instanceState, badge, addressTone, timeEl, time, trimDot, dur, plot, errorBox, table } from './ui.js';
import { addressAction, clearAddress, pinAction, unpinAction, switchBackAction } from './actions.js';

export async function render(root, [name], app) {
  let cfg, st;
  try {
    [cfg, st] = await Promise.all([get('/instances/' + enc(name)), get('/status/instances/' + enc(name))]);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      clear(root, h('h1', trimDot(name)), h('p', 'There is no such instance. ', h('a', { href: '#/' }, 'Back to the overview.')));
      return null;
    }
    throw err;
  }
  const poolNames = () => [...new Set(cfg.rules.flatMap(r => [r.primary, r.secondary].flatMap(c => (c ? c.pools.map(p => p.pool) : []))))];
  const pools = new Map();
  let overrides = { addresses: [], pins: [] };
  const loadPools = async (names) => {
    await Promise.all(names.map(async p => { try { pools.set(p, await get('/status/pools/' + enc(p))); } catch { pools.delete(p); } }));
  };
  await Promise.all([loadPools(poolNames()), get('/overrides').then(o => { overrides = o; })]);

  const head = h('div.pagehead');
  const rulesEl = h('section.rules-section', { 'aria-label': 'Rules, collections, pools and addresses' });
  const timeline = h('ol.timeline', { 'aria-live': 'polite' });
  const plotEl = h('div.plotwrap', h('p.muted', 'Loading answers…'));
  const hoursSel = h('select#plot-hours', { 'aria-label': 'Hours to show' }, [1, 3, 6, 12, 24].map(n => h('option', { value: n, selected: n === 6 }, `last ${n} h`)));
  hoursSel.addEventListener('change', () => loadPlot());

  const client = h('input#explain-client', { name: 'client', required: true, placeholder: '198.51.100.7 or 198.51.100.0/24', autocomplete: 'off', spellcheck: 'false' });
  const explainOut = h('div.explain-out', { 'aria-live': 'polite' });
  const explainForm = h('form.explain', { onsubmit: async e => {
    e.preventDefault();
    clear(explainOut, h('p.muted', 'Asking…'));
    try {
      const x = await get('/explain' + q({ name, client: client.value.trim() }));
      clear(explainOut,
        h('p', h('strong', 'Answer: '), x.answer && x.answer.length ? x.answer.join(' ') : '(none)', ` · rule ${x.rule} → ${x.state} · TTL ${x.ttl}${x['ecs-scope'] !== undefined ? ' · ECS scope /' + x['ecs-scope'] : ''}`),
        h('pre.lines', x.lines.join('\n')),
        x.overrides && (x.overrides.addresses.length || x.overrides.pins.length)
          ? h('p.muted', 'Overrides that bear on it: ', [...x.overrides.addresses.map(o => `${o.pool}/${o.address} ${o.mode} by ${o.who}${o.reason ? ` (${o.reason})` : ''}`), ...x.overrides.pins.map(o => `pin ${o.switch}${o.rule ? ` rule '${o.rule}'` : ''} by ${o.who}${o.reason ? ` (${o.reason})` : ''}`)].join('; '))
          : null);
    } catch (err) { clear(explainOut, errorBox(err)); }
  } },
  h('div.field', h('label', { for: 'explain-client' }, 'Client address or subnet'), h('div.inline', client, h('button.primary', { type: 'submit' }, 'Explain'))));

  clear(root, head, rulesEl,
    h('div.split',
      h('section.panel', { 'aria-labelledby': 'tl-h' }, h('h2#tl-h', 'Recent events'), timeline),
      h('div',
        h('section.panel', { 'aria-labelledby': 'plot-h' }, h('div.panelhead', h('h2#plot-h', 'Answers per pool'), hoursSel), plotEl),
        h('section.panel', { 'aria-labelledby': 'explain-h' }, h('h2#explain-h', 'Explain'), h('p.muted', 'What a client gets, and why.'), explainForm, explainOut))));

  function drawHead() {
    const state = instanceState(st);
    const held = st.rules.some(r => r['failback-hold']);
    const acts = app.can('operator') ? h('div.actions', { role: 'group', 'aria-label': 'Instance actions' },
      h('span.label', 'Pin instance:'),
      ['primary', 'secondary', 'auto'].map(sw => h('button.small', { type: 'button', id: `pin-inst-${sw}`, dataset: { action: 'pin' },
        disabled: sw === 'secondary' && cfg.rules.some(r => !r.secondary),
        onclick: () => pinAction(name, '', sw).then(after) }, sw)),
      st.pin ? h('button.small', { type: 'button', id: 'unpin-inst', dataset: { action: 'unpin' }, onclick: () => unpinAction(name, '').then(after) }, 'clear pin') : null,
      st.failback === 'manual' ? h('button.small', { type: 'button', id: 'switch-back', class: held ? 'attn' : '', dataset: { action: 'switch-back' }, onclick: () => switchBackAction(name).then(after) }, 'Switch back…') : null) : null;
    clear(head,
      h('div', h('p.crumbs', h('a', { href: '#/' }, 'Overview'), ' / instance'),
        h('h1', trimDot(st.name), ' ', stateBadge(state)),
        h('p.meta', `${st.type} · ${st.policy} policy · TTL ${st.ttl} s · switch ${st.switch}${st.pin ? ` (pinned ${st.pin})` : ''} · failback ${st.failback} · all down: ${st['all-down']}`,
          cfg.owner.layer === 'corefile' ? ` · defined in ${cfg.owner.file}, line ${cfg.owner.line}` : ' · defined through the API',
          ' · ', h('a', { href: '#/edit/instances/' + enc(name) }, app.can('admin') && cfg.owner.layer === 'api' ? 'edit' : 'configuration'))),
      acts);
  }

  function overrideOf(pool, address) {
    return overrides.addresses.find(o => o.pool === pool && o.address === address);
  }

  function addressRow(p, a) {
    const tone = addressTone(a);
    const lp = a['last-probe'];
    const ov = overrideOf(p.name, a.value);
    const id = `${p.name}-${a.value}`.replace(/[^\w-]/g, '_');
    return h('tr', { dataset: { pool: p.name, address: a.value, tone, health: a.health } },
      h('th', { scope: 'row' }, badge(a.value, tone), a.weight !== 1 ? h('span.sub', ` weight ${a.weight}`) : null),
      h('td', a.health, a.vantage ? h('span.sub', ` (${a.vantage})`) : null),
      h('td', a.since ? timeEl(a.since) : '—'),
      h('td.probe', lp ? [h('span', { class: lp.ok ? 'tone-text-good' : 'tone-text-bad' }, lp.ok ? 'ok' : 'failed'), ` ${dur(lp.rtt)} · `, timeEl(lp.time), lp.error ? h('div.err', lp.error) : null] : (a.probed ? 'not yet' : 'not probed')),
      h('td.num', a.latency ? dur(a.latency.average) : '—'),
      h('td', a['effective-mode'], a.mode !== a['effective-mode'] || a.override ? h('span.sub', ` (configured ${a.mode})`) : null),
      h('td', ov ? h('span', { title: ov.reason || '' }, `${ov.mode} by ${ov.who} `, timeEl(ov.time), ov.reason ? h('div.sub', ov.reason) : null) : '—'),
      app.can('operator') ? h('td.actions', { role: 'group', 'aria-label': `Actions for ${a.value}` },
        ['drain', 'force', 'auto'].map(m => h('button.small', { type: 'button', id: `${m}-${id}`, dataset: { action: m }, 'aria-label': `${m} ${a.value} in ${p.name}`,
          onclick: () => addressAction(p.name, a.value, m).then(after) }, m)),
        ov ? h('button.small.ghost', { type: 'button', id: `clear-${id}`, dataset: { action: 'clear' }, 'aria-label': `clear the override of ${a.value}`, onclick: () => clearAddress(p.name, a.value).then(after) }, 'clear') : null) : null);
  }

  function poolBlock(member) {
    const p = pools.get(member.pool);
    if (!p) return h('div.pool', h('h4', member.pool), h('p.muted', 'no status'));
    return h('div.pool', { dataset: { pool: p.name } },
      h('h4', h('span', p.name), ' ', badge(p.available ? 'available' : 'unavailable', p.available ? 'good' : 'bad'),
        h('span.sub', ` ${p.usable}/${p.total} usable · needs ${p['min-available']} · ${p.method}${p.monitor ? ' · monitor ' + p.monitor : ''}${p.latency ? ' · latency ' + dur(p.latency) : ''}${member.weight ? ' · weight ' + member.weight : ''}`)),
      table(`Addresses of ${p.name}`, ['Address', 'Verdict', 'Since', 'Last probe', 'Latency', 'Mode', 'Override', ...(app.can('operator') ? ['Actions'] : [])],
        p.addresses.map(a => addressRow(p, a)), 'addresses'));
  }

  function drawRules() {
    const focused = document.activeElement && document.activeElement.id;
    clear(rulesEl, cfg.rules.map((rc, i) => {
      const rs = st.rules[i] || {};
      const rname = rs.name || rc.match;
      const coll = (label, c) => c ? h('div.collection', { class: rs.state === label ? 'active' : '', dataset: { collection: label } },
        h('h3', label, rs.state === label ? h('span.sub', ' — answering') : null, h('span.sub', ` · ${c.method || 'by order'}${c['min-available'] ? ' · needs ' + c['min-available'] : ''}`)),
        c.pools.map(poolBlock)) : null;
      return h('section.panel.rule', { dataset: { rule: rname, state: rs.state } },
        h('div.panelhead',
          h('h2', 'Rule ', h('code', rname), ' ', badge(rs.state || '?', rs.state === 'primary' ? (rs.degraded ? 'warn' : 'good') : rs.state === 'secondary' ? 'warn' : 'bad'),
            rs.pin ? h('span.pin', ` 📌 pinned ${rs.pin.switch} (${rs.pin.scope})`) : null,
            rs['failback-hold'] ? h('span.pin', ' ⏸ held by manual failback') : null),
          app.can('operator') && cfg.rules.length > 1 ? h('div.actions', { role: 'group', 'aria-label': `Pin rule ${rname}` },
            h('span.label', 'Pin rule:'),
            ['primary', 'secondary', 'auto'].map(sw => h('button.small', { type: 'button', id: `pin-rule-${i}-${sw}`, dataset: { action: 'pin' }, disabled: sw === 'secondary' && !rc.secondary,
              onclick: () => pinAction(name, rname, sw).then(after) }, sw)),
            rs.pin && rs.pin.scope === 'rule' ? h('button.small.ghost', { type: 'button', dataset: { action: 'unpin' }, onclick: () => unpinAction(name, rname).then(after) }, 'clear') : null) : null),
        h('p.why', rs.why || '', rs.degraded ? h('span.tone-text-warn', ` · degraded, TTL ${rs.ttl} s`) : ` · TTL ${rs.ttl} s`),
        h('div.collections', coll('primary', rc.primary), coll('secondary', rc.secondary)));
    }));
    if (focused) { const el = document.getElementById(focused); if (el) el.focus({ preventScroll: true }); }
  }

  async function loadTimeline() {
    const lists = await Promise.all([get('/events' + q({ instance: name, limit: 50 })), ...poolNames().map(p => get('/events' + q({ pool: p, limit: 50 })))]);
    const seen = new Map();
    for (const e of lists.flat()) seen.set(e.seq, e);
    const evs = [...seen.values()].sort((a, b) => b.seq - a.seq).slice(0, 60);
    clear(timeline, evs.length ? evs.map(eventItem) : h('li.muted', 'No events yet.'));
  }

  async function loadPlot() {
    const hours = Number(hoursSel.value);
    try {
      const minutes = await get(`/traffic/instances/${enc(name)}` + q({ since: new Date(Date.now() - hours * 3600e3).toISOString() }));
      clear(plotEl, plot(minutes, poolNames(), hours));
    } catch (err) { clear(plotEl, errorBox(err)); }
  }

  async function after(res) {
    if (res) await refresh();
  }

  async function refresh() {
    [cfg, st] = await Promise.all([get('/instances/' + enc(name)), get('/status/instances/' + enc(name))]);
    await Promise.all([loadPools(poolNames()), get('/overrides').then(o => { overrides = o; })]);
    drawHead(); drawRules();
    loadTimeline();
  }

  drawHead(); drawRules();
  loadTimeline(); loadPlot();
  const timer = setInterval(loadPlot, 60000);
  const ageTimer = setInterval(() => { for (const t of root.querySelectorAll('time[datetime]')) t.textContent = agoOf(t); }, 5000);

  return {
    refresh,
    dispose() { clearInterval(timer); clearInterval(ageTimer); },
    async onEvent(ev) {
      const mine = (ev.instances || []).includes(name);
      const ps = (ev.pools || []).filter(p => poolNames().includes(p));
      if (ev.kind === 'config' || ev.kind === 'override') { await refresh(); return; }
      if (!mine && !ps.length) return;
      const [s] = await Promise.all([get('/status/instances/' + enc(name)), loadPools(ps)]);
      st = s;
      drawHead(); drawRules();
      timeline.querySelector('li.muted')?.remove();
      timeline.prepend(eventItem(ev));
    },
  };
}

function agoOf(t) {
  const d = (Date.now() - new Date(t.getAttribute('datetime')).getTime()) / 1000;
  if (d < 60) return `${Math.max(0, Math.floor(d))} s ago`;
  if (d < 3600) return `${Math.floor(d / 60)} min ago`;
  if (d < 86400) return `${Math.floor(d / 3600)} h ${Math.floor(d % 3600 / 60)} min ago`;
  return `${Math.floor(d / 86400)} d ago`;
}

export function eventItem(e) {
  const tone = e.kind === 'address' ? (e.new === 'healthy' ? 'good' : e.new === 'unhealthy' ? 'bad' : 'warn')
    : e.kind === 'switchover' ? (e.new === 'primary' ? 'good' : e.new === 'secondary' ? 'warn' : 'bad') : 'info';
  return h('li', { class: 'tone-' + tone, dataset: { kind: e.kind } },
    h('time', { datetime: e.time, title: time(e.time) }, time(e.time).slice(11)),
    h('div.evbody',
      h('span.kind', e.kind), ' ', h('span.obj', e.object),
      e.old || e.new ? h('span', ' ', h('code', e.old || '—'), ' → ', h('code', e.new || '—')) : null,
      e.reason ? h('div.sub', e.reason) : null));
}
