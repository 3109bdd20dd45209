// Actions: drain, force or return to auto an address; pin an instance or
// a rule; switch back after a manual failback. Every action goes through
// confirmWrite: a reason, the dry run's result (which answers would
// change), confirmation, then the result.

import { call, get, q, enc, ApiError } from './api.js';
import { h, clear, errorBox, toast, trimDot, table, timeEl } from './ui.js';

// confirmWrite opens the dialog for one write: title and what it does,
// a reason, the dry run's result, and on confirmation the write itself,
// built on the revision the dry run checked (If-Match), so that a change
// made meanwhile is refused rather than overridden unseen. body(reason)
// makes the request's body. It resolves to the result, or null if
// cancelled.
export function confirmWrite({ title, what, method, path, body = null, reason = true, confirmLabel = 'Apply', extra = null }) {
  const dlg = document.getElementById('dialog');
  const form = document.getElementById('dialog-form');
  const out = h('div.dry', { 'aria-live': 'polite' }, h('p.muted', 'Checking what this would change…'));
  const reasonId = 'reason-' + Math.random().toString(36).slice(2);
  const reasonInput = reason ? h('textarea', { id: reasonId, name: 'reason', rows: 2, maxlength: 500, placeholder: 'Why (kept in history)' }) : null;
  const confirm = h('button.primary', { type: 'submit', disabled: true, dataset: { action: 'confirm' } }, confirmLabel);
  const cancel = h('button.ghost', { type: 'button' }, 'Cancel');
  clear(document.getElementById('dialog-title'), title);
  clear(document.getElementById('dialog-body'), h('p', what), extra,
    reason ? h('div.field', h('label', { for: reasonId }, 'Reason'), reasonInput) : null, out);
  clear(document.getElementById('dialog-buttons'), cancel, confirm);
  let etag = null;
  let done = false;
  const bodyOf = () => (typeof body === 'function' ? body(reasonInput ? reasonInput.value.trim() : '') : body);
  const pathWith = (extraQ) => {
    const sep = path.includes('?') ? '&' : '?';
    const qs = q(extraQ).slice(1);
    return qs ? path + sep + qs : path;
  };

  const dry = async () => {
    confirm.disabled = true;
    clear(out, h('p.muted', 'Checking what this would change…'));
    try {
      const r = await call(method, pathWith({ 'dry-run': 'true' }), bodyOf() ?? undefined);
      etag = r.etag;
      clear(out, h('h3', 'Dry run'), effects(r.data));
      confirm.disabled = false;
    } catch (err) {
      clear(out, h('h3', 'Dry run'), errorBox(err));
    }
  };

  return new Promise(resolve => {
    const finish = (v) => {
      form.onsubmit = null;
      cancel.onclick = null;
      dlg.onclose = null;
      if (dlg.open) dlg.close();
      // A closed dialog keeps no controls behind (a later role may not
      // be allowed them).
      clear(document.getElementById('dialog-body'));
      clear(document.getElementById('dialog-buttons'));
      resolve(v);
    };
    cancel.onclick = () => finish(null);
    dlg.onclose = () => finish(done || null);
    form.onsubmit = async (e) => {
      e.preventDefault();
      if (done) { finish(done); return; }
      confirm.disabled = true;
      const comment = reasonInput ? reasonInput.value.trim() : '';
      try {
        const r = await call(method, pathWith({ comment }), bodyOf() ?? undefined, etag ? { 'If-Match': etag } : {});
        done = r.data;
        clear(out, h('div.alert.tone-good', { role: 'status', dataset: { result: 'ok' } },
          h('p', h('strong', 'Done. '), r.data.change, ` (revision ${r.data.revision})`),
          (r.data.dropped || []).map(d => h('p', d))));
        cancel.hidden = true;
        confirm.textContent = 'Close';
        confirm.disabled = false;
        confirm.focus();
        toast(r.data.change);
      } catch (err) {
        clear(out, errorBox(err), err instanceof ApiError && err.status === 412 ? h('p', 'Something changed meanwhile; the dry run below is fresh.') : null);
        if (err instanceof ApiError && err.status === 412) { await dry(); clear(out, errorBox(err), out.lastChild); }
        confirm.disabled = !(err instanceof ApiError && err.status === 412);
      }
    };
    dlg.showModal();
    (reasonInput || confirm).focus();
    dry();
  });
}

// effects shows a dry run: what history would say, and each rule whose
// answers would change.
export function effects(res) {
  const list = res.answers || [];
  return h('div.effects', { dataset: { dryrun: 'done' } },
    h('p', h('strong', 'Change: '), res.change),
    (res.dropped || []).map(d => h('p.tone-text-warn', d)),
    list.length
      ? table('Answers that would change', ['Instance', 'Rule', 'Before', 'After'], list.map(e =>
        h('tr', h('td', trimDot(e.instance)), h('td', e.rule || '—'), h('td', h('code', e.before || '—')), h('td', h('code', e.after || '—')))))
      : h('p.muted', 'No answer would change.'));
}

// Ready-made actions.

export function addressAction(pool, address, mode) {
  const verbs = { drain: 'Drain', force: 'Force up', auto: 'Return to auto' };
  const what = {
    drain: `Answer as if ${address} of pool ${pool} were down, whatever its health checks say.`,
    force: `Answer with ${address} of pool ${pool} as if it were healthy, whatever its health checks say.`,
    auto: `Let the health checks decide about ${address} of pool ${pool} again.`,
  }[mode];
  return confirmWrite({ title: `${verbs[mode]} ${address}`, what, method: 'PUT',
    path: `/overrides/addresses/${enc(pool)}/${enc(address)}`, body: reason => ({ mode, reason }) });
}

export function clearAddress(pool, address) {
  return confirmWrite({ title: `Clear the override of ${address}`, what: `Return ${address} of pool ${pool} to its configured mode.`,
    method: 'DELETE', path: `/overrides/addresses/${enc(pool)}/${enc(address)}` });
}

export function pinAction(instance, rule, sw) {
  const who = rule ? `rule '${rule}' of ${trimDot(instance)}` : trimDot(instance);
  const what = sw === 'auto' ? `Let ${who} fail over as health says.` : `Keep ${who} on its ${sw} collection, whatever health says.`;
  return confirmWrite({ title: `Pin ${who} to ${sw}`, what, method: 'PUT', path: `/overrides/pins/${enc(instance)}`,
    body: reason => ({ switch: sw, ...(rule ? { rule } : {}), reason }) });
}

export function unpinAction(instance, rule) {
  const who = rule ? `rule '${rule}' of ${trimDot(instance)}` : trimDot(instance);
  return confirmWrite({ title: `Remove the pin of ${who}`, what: `Return ${who} to its configured switch mode.`, method: 'DELETE',
    path: `/overrides/pins/${enc(instance)}` + q({ rule }) });
}

export function switchBackAction(instance) {
  return confirmWrite({ title: `Switch ${trimDot(instance)} back`, what: 'End the manual-failback hold: rules held on their secondary return to their primary if it is available.',
    method: 'POST', path: `/instances/${enc(instance)}/switch-back`, body: reason => ({ reason }) });
}

// The Actions page: the same actions from forms, and the overrides in
// force with who set them and why.
export async function render(root, _params, app) {
  const [status, overrides] = await Promise.all([get('/status'), get('/overrides')]);
  const pools = status.pools;
  const insts = status.instances;
  const draw = () => clear(root, h('div.pagehead', h('h1', 'Actions')),
    app.can('operator') ? forms() : h('p.muted', `Your role (${app.role}) may look but not act: actions need the operator role.`),
    inForce());

  function forms() {
    const poolSel = h('select#act-pool', { name: 'pool' }, pools.map(p => h('option', { value: p.name }, p.name)));
    const addrSel = h('select#act-address', { name: 'address' });
    const fillAddr = () => {
      const p = pools.find(x => x.name === poolSel.value);
      addrSel.replaceChildren(...(p ? p.addresses : []).map(a => h('option', { value: a.value }, `${a.value} (${a.health}, ${a['effective-mode']})`)));
    };
    poolSel.addEventListener('change', fillAddr);
    fillAddr();
    const modeSel = h('select#act-mode', { name: 'mode' }, ['drain', 'force', 'auto'].map(m => h('option', { value: m }, m)));
    const addrForm = h('form.card', { 'aria-labelledby': 'act-addr-h', onsubmit: e => { e.preventDefault(); if (addrSel.value) addressAction(poolSel.value, addrSel.value, modeSel.value).then(r => r && reload()); } },
      h('h2#act-addr-h', 'Address mode'),
      h('div.row', field('act-pool', 'Pool', poolSel), field('act-address', 'Address', addrSel), field('act-mode', 'Mode', modeSel)),
      h('button.primary', { type: 'submit', dataset: { action: 'address' } }, 'Review…'));

    const instSel = h('select#act-inst', { name: 'instance' }, insts.map(i => h('option', { value: i.name }, trimDot(i.name))));
    const ruleSel = h('select#act-rule', { name: 'rule' });
    const fillRules = () => {
      const i = insts.find(x => x.name === instSel.value);
      ruleSel.replaceChildren(h('option', { value: '' }, 'whole instance'), ...(i ? i.rules : []).map(r => h('option', { value: r.name }, r.name)));
    };
    instSel.addEventListener('change', fillRules);
    fillRules();
    const swSel = h('select#act-switch', { name: 'switch' }, ['primary', 'secondary', 'auto'].map(m => h('option', { value: m }, m)));
    const pinForm = h('form.card', { 'aria-labelledby': 'act-pin-h', onsubmit: e => { e.preventDefault(); if (instSel.value) pinAction(instSel.value, ruleSel.value, swSel.value).then(r => r && reload()); } },
      h('h2#act-pin-h', 'Pin'),
      h('div.row', field('act-inst', 'Instance', instSel), field('act-rule', 'Rule', ruleSel), field('act-switch', 'Switch to', swSel)),
      h('button.primary', { type: 'submit', dataset: { action: 'pin' } }, 'Review…'));

    const held = insts.filter(i => i.rules.some(r => r['failback-hold']));
    const sbSel = h('select#act-sb', { name: 'instance' }, (held.length ? held : insts.filter(i => i.failback === 'manual')).map(i => h('option', { value: i.name }, trimDot(i.name) + (held.includes(i) ? ' (held)' : ''))));
    const sbForm = h('form.card', { 'aria-labelledby': 'act-sb-h', onsubmit: e => { e.preventDefault(); if (sbSel.value) switchBackAction(sbSel.value).then(r => r && reload()); } },
      h('h2#act-sb-h', 'Switch back'),
      h('p.muted', held.length ? `${held.length} instance(s) held on their secondary by manual failback.` : 'No instance is held on its secondary now.'),
      h('div.row', field('act-sb', 'Instance (manual failback)', sbSel)),
      h('button.primary', { type: 'submit', disabled: !sbSel.options.length, dataset: { action: 'switch-back' } }, 'Review…'));
    return h('div.cards', addrForm, pinForm, sbForm);
  }

  function inForce() {
    const rows = [
      ...overrides.addresses.map(o => h('tr', h('td', 'address'), h('td', `${o.pool}/${o.address}`), h('td', o.mode), h('td', o.who), h('td', timeEl(o.time)), h('td', o.reason || '—'),
        h('td', app.can('operator') ? h('button.small', { type: 'button', dataset: { action: 'clear' }, onclick: () => clearAddress(o.pool, o.address).then(r => r && reload()) }, 'Clear…') : ''))),
      ...overrides.pins.map(o => h('tr', h('td', 'pin'), h('td', trimDot(o.instance) + (o.rule ? ` rule '${o.rule}'` : '')), h('td', o.switch), h('td', o.who), h('td', timeEl(o.time)), h('td', o.reason || '—'),
        h('td', app.can('operator') ? h('button.small', { type: 'button', dataset: { action: 'clear' }, onclick: () => unpinAction(o.instance, o.rule).then(r => r && reload()) }, 'Clear…') : ''))),
    ];
    return h('section.panel', { 'aria-labelledby': 'inforce-h' }, h('h2#inforce-h', 'Overrides in force'),
      rows.length ? table('Overrides in force', ['Kind', 'Object', 'Mode', 'Who', 'When', 'Why', ''], rows) : h('p.muted', 'None: every address and instance follows its configuration and health.'));
  }

  async function reload() {
    const [st, ov] = await Promise.all([get('/status'), get('/overrides')]);
    pools.splice(0, pools.length, ...st.pools);
    insts.splice(0, insts.length, ...st.instances);
    overrides.addresses = ov.addresses;
    overrides.pins = ov.pins;
    draw();
  }
  draw();
  return {
    refresh: reload,
    onEvent(ev) { if (ev.kind === 'override' || ev.kind === 'config') reload(); },
  };
}

export function field(id, label, input) {
  return h('div.field', h('label', { for: id }, label), input);
}
