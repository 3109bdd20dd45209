// Building blocks of the pages: elements made without HTML strings (so
// nothing the API returns is ever parsed as markup), formats, charts.

const SVG = 'http://www.w3.org/2000/svg';

// h makes an element: h('a.link#id', {href}, child, ...). Attributes
// starting with "on" are listeners; false, null and undefined are left out.
export function h(spec, attrs, ...children) {
  const m = /^([a-z0-9-]+)?((?:[.#][\w-]+)*)$/i.exec(spec);
  const el = document.createElement(m[1] || 'div');
  for (const part of m[2].match(/[.#][\w-]+/g) || []) {
    if (part[0] === '.') el.classList.add(part.slice(1)); else el.id = part.slice(1);
  }
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') String(v).split(/\s+/).filter(Boolean).forEach(c => el.classList.add(c));
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value' && 'value' in el) el.value = v;
    else if (k === 'checked' || k === 'selected' || k === 'disabled') { el[k] = !!v; if (v) el.setAttribute(k, ''); }
    else el.setAttribute(k, v === true ? '' : v);
  }
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) el.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// Formats.

export function ago(t) {
  if (!t) return '—';
  const d = (Date.now() - new Date(t).getTime()) / 1000;
  if (d < 0) return 'now';
  if (d < 60) return `${Math.floor(d)} s ago`;
  if (d < 3600) return `${Math.floor(d / 60)} min ago`;
  if (d < 86400) return `${Math.floor(d / 3600)} h ${Math.floor(d % 3600 / 60)} min ago`;
  return `${Math.floor(d / 86400)} d ago`;
}

export function time(t) {
  if (!t) return '';
  const d = new Date(t);
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function timeEl(t, cls) {
  return h('time' + (cls ? '.' + cls : ''), { datetime: t, title: time(t) }, ago(t));
}

// dur shortens a Go duration ("1.422311ms") to three significant digits
// ("1.42 ms"), which is all a person reads.
export function dur(d) {
  const m = /^([0-9.]+)(ns|us|µs|ms|s)$/.exec(d || '');
  if (!m) return d || '';
  const n = Number(m[1]);
  const unit = m[2] === 'us' ? 'µs' : m[2];
  return `${n >= 100 ? Math.round(n) : Number(n.toPrecision(3))} ${unit}`;
}

export function trimDot(name) { return name && name.endsWith('.') ? name.slice(0, -1) : name; }

// Instance state: the worst of its rules, as words and colours.
export const STATES = {
  down: { label: 'all down', tone: 'bad', rank: 0 },
  secondary: { label: 'on secondary', tone: 'warn', rank: 1 },
  degraded: { label: 'degraded', tone: 'warn', rank: 2 },
  healthy: { label: 'healthy', tone: 'good', rank: 3 },
};

export function instanceState(st) {
  const rules = st.rules || [];
  if (rules.length && rules.every(r => !['primary', 'secondary'].includes(r.state))) return 'down';
  if (rules.some(r => !['primary', 'secondary'].includes(r.state))) return 'degraded';
  if (rules.some(r => r.state === 'secondary')) return 'secondary';
  if (rules.some(r => r.degraded)) return 'degraded';
  return 'healthy';
}

export function badge(text, tone, extra = {}) {
  return h('span.badge', { class: 'tone-' + tone, ...extra }, h('span.dot', { 'aria-hidden': 'true' }), text);
}

export function stateBadge(state) {
  const s = STATES[state];
  return badge(s.label, s.tone, { dataset: { state } });
}

export function addressTone(a) {
  if (a.health === 'unhealthy' && a['effective-mode'] !== 'up') return 'bad';
  if (a['effective-mode'] === 'down') return 'muted';
  if (a.health === 'unhealthy') return 'warn';
  if (a.health === 'unknown' && a.probed) return 'warn';
  return 'good';
}

// sparkline draws answers per minute as a small line; last value labelled.
export function sparkline(minutes, { width = 120, height = 28, label = 'answers per minute' } = {}) {
  const pts = series(minutes, m => m.total, 60);
  const max = Math.max(1, ...pts.map(p => p.v));
  const total = pts.reduce((a, p) => a + p.v, 0);
  const step = width / Math.max(1, pts.length - 1);
  const d = pts.map((p, i) => `${i ? 'L' : 'M'}${(i * step).toFixed(1)},${(height - 2 - (p.v / max) * (height - 4)).toFixed(1)}`).join('');
  return s('svg', { class: 'spark', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `${label}: ${total} in the last hour, peak ${max === 1 && !total ? 0 : max} per minute` },
    s('title', null, `${total} answers in the last hour`),
    s('path', { d: `${d}L${width},${height}L0,${height}Z`, class: 'spark-fill' }),
    s('path', { d, class: 'spark-line' }));
}

// series fills the gaps of a sparse list of minutes with zeros, for the
// last n minutes.
function series(minutes, value, n) {
  const now = Math.floor(Date.now() / 60000);
  const by = new Map((minutes || []).map(m => [Math.floor(new Date(m.start).getTime() / 60000), m]));
  const out = [];
  for (let i = n - 1; i >= 0; i--) {
    const m = by.get(now - i);
    out.push({ t: (now - i) * 60000, v: m ? value(m) : 0 });
  }
  return out;
}

const PALETTE = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];

// plot draws answers per minute of each pool over the last hours.
export function plot(minutes, pools, hours = 6) {
  const width = 720, height = 200, left = 44, bottom = 22, top = 8, right = 8;
  const n = hours * 60;
  const names = [...new Set([...pools, ...(minutes || []).flatMap(m => Object.keys(m.pools || {}))])];
  const lines = names.map(p => ({ pool: p, pts: series(minutes, m => (m.pools || {})[p] || 0, n) }));
  const max = Math.max(1, ...lines.flatMap(l => l.pts.map(p => p.v)));
  const x = i => left + i * (width - left - right) / (n - 1);
  const y = v => top + (height - top - bottom) * (1 - v / max);
  const grid = [0, 0.5, 1].map(f => {
    const v = Math.round(max * f);
    return [s('line', { x1: left, x2: width - right, y1: y(v), y2: y(v), class: 'grid' }),
      s('text', { x: left - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, String(v))];
  });
  const ticks = [];
  for (let hr = 0; hr <= hours; hr++) {
    const i = n - 1 - hr * 60;
    if (i < 0) continue;
    ticks.push(s('text', { x: x(Math.max(i, 0)), y: height - 6, class: 'axis', 'text-anchor': 'middle' }, hr === 0 ? 'now' : `-${hr}h`));
  }
  const paths = lines.map((l, k) => s('path', {
    class: 'plot-line ' + PALETTE[k % PALETTE.length],
    d: l.pts.map((p, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(p.v).toFixed(1)}`).join(''),
  }));
  const totals = lines.map(l => l.pts.reduce((a, p) => a + p.v, 0));
  const svg = s('svg', { class: 'plot', viewBox: `0 0 ${width} ${height}`, role: 'img', preserveAspectRatio: 'none',
    'aria-label': `Answers per minute by pool, last ${hours} hours: ` + lines.map((l, k) => `${l.pool || 'fallback'} ${totals[k]}`).join(', ') },
  grid, ticks, paths);
  const legend = h('ul.legend', lines.map((l, k) => h('li', h('span.swatch.' + PALETTE[k % PALETTE.length], { 'aria-hidden': 'true' }), `${l.pool || 'fallback'} — ${totals[k]} answers`)));
  return h('figure.plotbox', svg, legend);
}

// toast shows a short message.
let toastTimer;
export function toast(text, tone = 'good') {
  const el = document.getElementById('toast');
  clear(el, h('span.tone-' + tone, text));
  el.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove('show'), 4000);
}

export function errorBox(err) {
  const msgs = err && err.messages ? err.messages : [{ message: String(err && err.message || err), location: '' }];
  return h('div.alert.tone-bad', { role: 'alert' }, msgs.map(m => h('p', m.location ? h('code', m.location.replace(/^body\.?/, '') + ': ') : null, m.message)));
}

export function loading() { return h('p.muted.loading', 'Loading…'); }

// table builds a table whose rows scroll sideways on a narrow window.
export function table(caption, head, rows, cls = '') {
  return h('div.tablewrap', h('table' + (cls ? '.' + cls : ''),
    caption ? h('caption.sr', caption) : null,
    h('thead', h('tr', head.map(c => h('th', { scope: 'col' }, c)))),
    h('tbody', rows)));
}
