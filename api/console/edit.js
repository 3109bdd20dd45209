// Edit: forms to create and change monitors, pools and instances. A
// refused change shows the validator's message next to the field it names
// (the problem's location, or the path a validator message starts with:
// "pools/web.addresses[1]: ..."). Objects the Corefile defines are shown
// read-only with their file and line. A form edits a copy of the object's
// JSON, so the settings it has no field for are kept as they were.

import { call, get, enc, ApiError } from './api.js';
import { h, clear, errorBox, toast, trimDot, table } from './ui.js';
import { confirmWrite, effects } from './actions.js';

const KINDS = {
  monitors: { one: 'monitor', title: 'Monitors' },
  pools: { one: 'pool', title: 'Pools' },
  instances: { one: 'instance', title: 'Instances' },
};

const opt = (list) => ['', ...list];

function fieldsOf(kind, ctx) {
  switch (kind) {
    case 'monitors': return [
      { key: 'protocol', label: 'Protocol', type: 'select', options: opt(['ping', 'tcp', 'http', 'https']) },
      { key: 'port', label: 'Port', type: 'number', min: 1, max: 65535 },
      { key: 'interval', label: 'Interval', type: 'text', placeholder: '5s' },
      { key: 'timeout', label: 'Timeout', type: 'text', placeholder: '2s' },
      { key: 'rise', label: 'Rise', type: 'number', min: 1, help: 'passes to become healthy' },
      { key: 'fall', label: 'Fall', type: 'number', min: 1, help: 'failures to become unhealthy' },
      { key: 'path', label: 'HTTP path', type: 'text', placeholder: '/health' },
      { key: 'host', label: 'HTTP host', type: 'text' },
      { key: 'method', label: 'HTTP method', type: 'text', placeholder: 'GET' },
    ];
    case 'pools': return [
      { key: 'type', label: 'Type', type: 'select', options: opt(['A', 'AAAA', 'CNAME']) },
      { key: 'monitor', label: 'Monitor', type: 'select', options: opt(ctx.monitors) },
      { key: 'method', label: 'Method', type: 'select', options: opt(['all', 'weight', 'sequence', 'hash']) },
      { key: 'hash-ipv4', label: 'Hash IPv4 prefix', type: 'number', min: 1, max: 32, help: 'method hash: default 24' },
      { key: 'hash-ipv6', label: 'Hash IPv6 prefix', type: 'number', min: 1, max: 128, help: 'method hash: default 56' },
      { key: 'max-answers', label: 'Max answers', type: 'number', min: 1 },
      { key: 'min-available', label: 'Min available', type: 'text', placeholder: '1 or 50%' },
      { key: 'addresses', label: 'Addresses', one: 'Address', type: 'rows', add: 'Add address', fields: [
        { key: 'address', label: 'Address', type: 'text', required: true },
        { key: 'weight', label: 'Weight', type: 'number', min: 1, max: 100 },
        { key: 'mode', label: 'Mode', type: 'select', options: opt(['auto', 'up', 'down']) },
        { key: 'monitor', label: 'Monitor', type: 'select', options: opt(ctx.monitors) },
        { key: 'probe', label: 'Probe target', type: 'text' },
      ] },
    ];
    case 'instances': return [
      { key: 'ttl', label: 'TTL (s)', type: 'number', min: 0 },
      { key: 'policy', label: 'Policy', type: 'select', options: opt(['geo', 'latency']) },
      { key: 'switch', label: 'Switch', type: 'select', options: opt(['auto', 'primary', 'secondary']) },
      { key: 'failback', label: 'Failback', type: 'select', options: opt(['preemptive', 'manual']) },
      { key: 'all-down', label: 'All down', type: 'select', options: opt(['fail-open', 'nodata', 'servfail', 'fallback']) },
      { key: 'degraded-ttl', label: 'Degraded TTL (s)', type: 'number', min: 0 },
      { key: 'fallback', label: 'Fallback addresses', type: 'list', placeholder: '192.0.2.1 192.0.2.2' },
      { key: 'rules', label: 'Rules', one: 'Rule', type: 'rows', add: 'Add rule', fields: [
        { key: 'match', label: 'Match', type: 'select', options: ['default', 'continent', 'country', 'subdivision', 'cidr', 'asn'] },
        { key: 'values', label: 'Values', type: 'list', placeholder: 'DE AT, 198.51.100.0/24 or 4134' },
        { key: 'primary', label: 'Primary pools', type: 'members', placeholder: 'site-a, site-b:2', list: 'pool-names' },
        { key: 'secondary', label: 'Secondary pools', type: 'members', placeholder: 'site-c', list: 'pool-names' },
      ] },
    ];
  }
  return [];
}

export async function render(root, [kind, name], app, query) {
  if (!kind) return list(root, app);
  const k = KINDS[kind];
  const isNew = !name;
  const [objs, monitors, pools] = await Promise.all([
    isNew ? Promise.resolve(null) : call('GET', `/${kind}/${enc(name)}`).catch(e => { if (e.status === 404) return null; throw e; }),
    get('/monitors'), get('/pools'),
  ]);
  if (!isNew && !objs) {
    clear(root, h('h1', `No ${k.one} '${name}'`), h('p', h('a', { href: '#/edit' }, 'Back to the list.')));
    return null;
  }
  let doc = isNew ? (kind === 'pools' ? { addresses: [{}] } : kind === 'instances' ? { rules: [{ match: 'default' }] } : {}) : structuredClone(objs.data);
  const etag = isNew ? null : objs.etag;
  const owner = doc.owner || { layer: 'api' };
  delete doc.owner;
  const readOnly = owner.layer === 'corefile' || !app.can('admin');
  const ctx = { monitors: monitors.map(m => m.name) };
  const fields = fieldsOf(kind, ctx);

  const formErr = h('div.form-errors', { 'aria-live': 'assertive' });
  const result = h('div.result', { 'aria-live': 'polite' });
  const nameInput = h('input#f-name', { name: 'name', value: isNew ? (query.get('name') || '') : (doc.name || ''), required: true, readonly: !isNew, autocomplete: 'off', spellcheck: 'false', dataset: { path: 'name', key: 'name' } });
  const body = h('fieldset.formbody', { disabled: readOnly, dataset: { path: '', container: '1' } },
    h('legend.sr', `${k.one} settings`),
    h('div.grid', h('div.field', h('label', { for: 'f-name' }, kind === 'instances' ? 'Name (absolute, inside a zone)' : 'Name'), nameInput),
      fields.filter(f => f.type !== 'rows').map(f => input(f, doc[f.key], f.key, 'f'))),
    fields.filter(f => f.type === 'rows').map(f => rows(f, doc[f.key] || [], readOnly)));
  const datalist = h('datalist#pool-names', pools.map(p => h('option', { value: p.name })));
  const buttons = readOnly ? null : h('div.buttons',
    h('button.ghost', { type: 'button', dataset: { action: 'check' }, onclick: () => submit(true) }, 'Check (dry run)'),
    h('button.primary', { type: 'submit', dataset: { action: 'save' } }, isNew ? `Create ${k.one}` : 'Save'),
    !isNew ? h('button.danger', { type: 'button', dataset: { action: 'delete' }, onclick: del }, 'Delete…') : null);
  const form = h('form.edit', { novalidate: true, 'aria-labelledby': 'edit-h', onsubmit: e => { e.preventDefault(); submit(false); } },
    formErr, body, datalist, buttons, result);

  clear(root,
    h('div.pagehead', h('div', h('p.crumbs', h('a', { href: '#/edit' }, 'Edit'), ` / ${kind}`),
      h('h1#edit-h', isNew ? `New ${k.one}` : `${k.one} ${trimDot(doc.name)}`))),
    owner.layer === 'corefile' ? h('p.alert.tone-info', { dataset: { owner: 'corefile' } }, `Defined in the Corefile (${owner.file}, line ${owner.line}): read-only here; change it there.`)
      : !app.can('admin') ? h('p.alert.tone-info', `Your role (${app.role}) may read this ${k.one}; changing it needs the admin role.`) : null,
    form);

  function collect() {
    const out = structuredClone(doc);
    out.name = nameInput.value.trim();
    for (const f of fields) {
      if (f.type === 'rows') {
        const box = form.querySelector(`[data-rows="${f.key}"]`);
        out[f.key] = [...box.querySelectorAll(':scope > .rowitem')].map(r => {
          const o = structuredClone(r._orig || {});
          for (const sf of f.fields) read(sf, r.querySelector(`[data-key="${sf.key}"]`), o);
          return o;
        });
      } else {
        read(f, form.querySelector(`#f-${f.key}`), out);
      }
    }
    return out;
  }

  async function submit(dry) {
    clearErrors(form);
    clear(result);
    const next = collect();
    const path = isNew ? `/${kind}` : `/${kind}/${enc(name)}`;
    try {
      const r = await call(isNew ? 'POST' : 'PUT', path + (dry ? '?dry-run=true' : ''), next, etag && !dry ? { 'If-Match': etag } : {});
      if (dry) { clear(result, h('h3', 'Dry run'), effects(r.data)); return; }
      toast(r.data.change);
      const n = isNew ? (kind === 'instances' ? ensureDot(next.name) : next.name) : name;
      location.hash = `#/edit/${kind}/${enc(n)}`;
      if (!isNew) render(root, [kind, name], app, query);
    } catch (err) {
      showErrors(form, formErr, err, kind, isNew ? next.name : (doc.name || name));
    }
  }

  async function del() {
    const r = await confirmWrite({ title: `Delete ${k.one} ${trimDot(doc.name)}`, what: `Delete ${k.one} '${trimDot(doc.name)}' from the API's layer.`, method: 'DELETE', path: `/${kind}/${enc(name)}`, confirmLabel: 'Delete' });
    if (r) location.hash = '#/edit';
  }
  return null;
}

function ensureDot(n) { return n.endsWith('.') ? n : n + '.'; }

async function list(root, app) {
  const [monitors, pools, instances] = await Promise.all([get('/monitors'), get('/pools'), get('/instances')]);
  const section = (kind, items, describe) => h('section.panel', { 'aria-labelledby': `list-${kind}` },
    h('div.panelhead', h('h2', { id: `list-${kind}` }, KINDS[kind].title),
      app.can('admin') ? h('a.button.small', { href: `#/edit/${kind}/`, dataset: { action: 'new' } }, `New ${KINDS[kind].one}`) : null),
    items.length ? table(KINDS[kind].title, ['Name', 'What', 'Defined in'], items.map(o => h('tr', { dataset: { name: o.name, layer: o.owner.layer } },
      h('th', { scope: 'row' }, h('a', { href: `#/edit/${kind}/${enc(o.name)}` }, trimDot(o.name))),
      h('td', describe(o)),
      h('td', o.owner.layer === 'corefile' ? h('span.ro', { title: 'read-only here' }, `🔒 ${o.owner.file}:${o.owner.line}`) : 'API')))) : h('p.muted', 'None.'));
  clear(root, h('div.pagehead', h('h1', 'Edit')),
    h('p.muted', 'Objects written in the Corefile are read-only here; the others live in the API\'s store, with history and rollback.'),
    section('monitors', monitors, m => [m.protocol || 'ping', m.port ? ` port ${m.port}` : '', m.interval ? ` every ${m.interval}` : ''].join('')),
    section('pools', pools, p => `${p.addresses.length} address(es)${p.monitor ? ', monitor ' + p.monitor : ''}`),
    section('instances', instances, i => i.rules.map(r => `${r.match}${r.values ? ' ' + r.values.join(' ') : ''} → ${(r.primary?.pools || []).map(x => x.pool).join('+')}${r.secondary ? ' / ' + r.secondary.pools.map(x => x.pool).join('+') : ''}`).join('; ')));
  return null;
}

// Inputs.

let uid = 0;

function input(f, value, path, prefix) {
  const id = prefix ? `${prefix}-${f.key}` : `x${++uid}`;
  const attrs = { id, name: f.key, dataset: { path, key: f.key }, placeholder: f.placeholder, autocomplete: 'off', spellcheck: 'false' };
  let el;
  if (f.type === 'select') {
    el = h('select', attrs, f.options.map(o => h('option', { value: o, selected: (value ?? '') === o }, o === '' ? '(default)' : o)));
    if (value && !f.options.includes(value)) el.append(h('option', { value, selected: true }, value));
  } else if (f.type === 'number') {
    el = h('input', { ...attrs, type: 'number', min: f.min, max: f.max, step: 1, inputmode: 'numeric', value: value ?? '' });
  } else if (f.type === 'list') {
    el = h('input', { ...attrs, value: (value || []).join(' ') });
  } else if (f.type === 'members') {
    el = h('input', { ...attrs, list: f.list, value: value ? value.pools.map(p => p.pool + (p.weight ? ':' + p.weight : '')).join(', ') : '' });
  } else {
    el = h('input', { ...attrs, value: value ?? '', required: f.required });
  }
  return h('div.field', { dataset: { field: f.key } }, h('label', { for: id }, f.label), el, f.help ? h('span.help', f.help) : null);
}

// read puts an input's value into o, leaving out what is empty.
function read(f, el, o) {
  const v = el.value.trim();
  if (f.type === 'members') {
    if (!v) { delete o[f.key]; return; }
    const c = o[f.key] || {};
    c.pools = v.split(/[\s,]+/).filter(Boolean).map(s => {
      const [pool, w] = s.split(':');
      return w !== undefined ? { pool, weight: /^\d+$/.test(w) ? Number(w) : w } : { pool };
    });
    o[f.key] = c;
    return;
  }
  if (v === '') { delete o[f.key]; return; }
  if (f.type === 'number') o[f.key] = /^-?\d+$/.test(v) ? Number(v) : v;
  else if (f.type === 'list') o[f.key] = v.split(/[\s,]+/).filter(Boolean);
  else o[f.key] = v;
}

function rows(f, list, readOnly) {
  const box = h('div.rowlist', { dataset: { rows: f.key, path: f.key, container: '1' } });
  const renumber = () => {
    [...box.querySelectorAll(':scope > .rowitem')].forEach((r, i) => {
      r.dataset.path = `${f.key}[${i}]`;
      r.querySelector('.rowtitle').textContent = `${f.one} ${i + 1}`;
      for (const el of r.querySelectorAll('[data-key]')) el.dataset.path = `${f.key}[${i}].${el.dataset.key}`;
    });
  };
  const addRow = (o) => {
    const r = h('div.rowitem', { dataset: { container: '1' } },
      h('div.rowhead', h('span.rowtitle'), readOnly ? null : h('button.small.ghost', { type: 'button', 'aria-label': `Remove this ${f.one.toLowerCase()}`, onclick: () => { r.remove(); renumber(); } }, 'Remove')),
      h('div.grid', f.fields.map(sf => input(sf, o[sf.key], '', null))));
    r._orig = o;
    box.append(r);
    renumber();
    return r;
  };
  list.forEach(addRow);
  return h('fieldset.rows', h('legend', f.label), box,
    readOnly ? null : h('button.small', { type: 'button', onclick: () => { const r = addRow({}); r.querySelector('input,select').focus(); } }, f.add));
}

// Errors.

function clearErrors(form) {
  for (const e of form.querySelectorAll('.field-error')) e.remove();
  for (const e of form.querySelectorAll('[aria-invalid]')) { e.removeAttribute('aria-invalid'); e.removeAttribute('aria-describedby'); }
  for (const e of form.querySelectorAll('.invalid')) e.classList.remove('invalid');
}

// showErrors puts each message of a refused write next to the field it
// names, and lists them all above the form too.
function showErrors(form, box, err, kind, name) {
  if (!(err instanceof ApiError)) { clear(box, errorBox(err)); return; }
  const placed = [];
  for (const m of err.messages) {
    let path = null;
    let msg = m.message;
    if (m.location) {
      path = m.location.replace(/^body\.?/, '');
    } else {
      // A validator's message: "pools/web.addresses[1]: weight ..."
      const mm = /^([a-z]+)\/(.+?):\s(.*)$/s.exec(m.message);
      if (mm && mm[1] === kind) {
        const obj = mm[2];
        for (const n of [name, ensureDot(name || '')]) {
          if (n && (obj === n || obj.startsWith(n + '.') || obj.startsWith(n + '['))) {
            path = obj.slice(n.length).replace(/^\./, '');
            msg = mm[3];
            break;
          }
        }
      }
    }
    const target = path !== null ? place(form, path, msg) : null;
    placed.push({ m, target });
  }
  clear(box, h('div.alert.tone-bad', { role: 'alert' },
    h('p', h('strong', err.status === 409 ? 'Refused: ' : 'Not saved: '), 'nothing was changed.'),
    placed.map(({ m }) => h('p', m.location ? h('code', m.location.replace(/^body\.?/, '') + ': ') : null, m.message))));
  const first = form.querySelector('[aria-invalid="true"]');
  if (first) first.focus();
}

// place finds the input (or row) that path names, or the nearest
// container of it, and shows msg there.
function place(form, path, msg) {
  let p = path;
  for (;;) {
    let el = form.querySelector(`[data-path="${CSS.escape(p)}"]`);
    if (el && el.dataset.container) {
      // A row or list: the field the message names, if it names one.
      const keys = [...el.querySelectorAll(':scope > .grid [data-key], :scope > .grid > .field [data-key]')];
      const first = (/^[\w-]+/.exec(msg) || [''])[0];
      el = keys.find(k => k.dataset.key === first) || keys.find(k => new RegExp(`\\b${k.dataset.key}\\b`).test(msg)) || el;
    }
    if (el) {
      attach(el, msg);
      return el;
    }
    if (!p) return null;
    const q = p.replace(/(\.[^.[\]]+|\[\d+\])$/, '');
    p = q === p ? '' : q;
  }
}

function attach(el, msg) {
  const id = 'err' + (++uid);
  const note = h('p.field-error', { id, role: 'alert' }, msg);
  if (el.matches('input,select,textarea')) {
    el.setAttribute('aria-invalid', 'true');
    el.setAttribute('aria-describedby', id);
    el.closest('.field').classList.add('invalid');
    el.closest('.field').append(note);
  } else {
    el.classList.add('invalid');
    el.prepend(note);
  }
}
