// The console's only way to the server: the control API under /api/v1,
// with the bearer token the user signed in with.

const KEY = 'gtm-token';

export function token() { return sessionStorage.getItem(KEY) || ''; }
export function setToken(t) {
  if (t) sessionStorage.setItem(KEY, t); else sessionStorage.removeItem(KEY);
}

// ApiError is a refused request: its problem document (RFC 9457) as the
// API sends it, with detail and, for a body that fails the schema, errors
// with their locations.
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
  // messages lists what went wrong, each with where when the API says.
  get messages() {
    const p = this.problem;
    if (Array.isArray(p.errors) && p.errors.length) {
      return p.errors.map(e => ({ message: e.message + (e.value !== undefined ? ` (got ${JSON.stringify(e.value)})` : ''), location: e.location || '' }));
    }
    return [{ message: this.message, location: '' }];
  }
}

let onUnauthorized = () => {};
export function whenUnauthorized(fn) { onUnauthorized = fn; }

function headers(extra) {
  const h = { Accept: 'application/json', ...extra };
  const t = token();
  if (t) h.Authorization = 'Bearer ' + t;
  return h;
}

// call sends one request; it resolves to { data, etag } or throws an
// ApiError.
export async function call(method, path, body, extra = {}) {
  const init = { method, headers: headers(extra), cache: 'no-store', credentials: 'omit' };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const res = await fetch('/api/v1' + path, init);
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { detail: text }; }
  }
  if (!res.ok) {
    if (res.status === 401) onUnauthorized();
    throw new ApiError(res.status, data || {});
  }
  return { data, etag: res.headers.get('ETag') };
}

export const get = (path) => call('GET', path).then(r => r.data);

export function q(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') u.set(k, v);
  }
  const s = u.toString();
  return s ? '?' + s : '';
}

export const enc = encodeURIComponent;

// follow reads the event stream (Server-Sent Events) with fetch, since an
// EventSource cannot send the Authorization header, and resumes after the
// last event seen (Last-Event-ID) when the connection drops. It calls
// onEvent for each event and onState(true|false) as the stream comes and
// goes. It returns a function that stops it.
export function follow(onEvent, onState) {
  const ctl = new AbortController();
  let last = '';
  let backoff = 500;
  (async () => {
    while (!ctl.signal.aborted) {
      let opened = false;
      try {
        const h = headers({ Accept: 'text/event-stream' });
        if (last) h['Last-Event-ID'] = last;
        const res = await fetch('/api/v1/events/stream', { headers: h, signal: ctl.signal, cache: 'no-store', credentials: 'omit' });
        if (res.status === 401) { onUnauthorized(); return; }
        if (!res.ok || !res.body) throw new Error('HTTP ' + res.status);
        opened = true;
        backoff = 500;
        onState(true, last !== '');
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        let ev = { id: '', event: '', data: '' };
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i;
          while ((i = buf.search(/\r\n|\r|\n/)) >= 0) {
            const line = buf.slice(0, i);
            buf = buf.slice(buf[i] === '\r' && buf[i + 1] === '\n' ? i + 2 : i + 1);
            if (line === '') {
              if (ev.data !== '') {
                if (ev.id) last = ev.id;
                let data = null;
                try { data = JSON.parse(ev.data); } catch { /* not ours */ }
                if (data) onEvent(ev.event || 'message', data, ev.id);
              }
              ev = { id: '', event: '', data: '' };
              continue;
            }
            if (line.startsWith(':')) continue;
            const c = line.indexOf(':');
            const field = c < 0 ? line : line.slice(0, c);
            const val = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
            if (field === 'data') ev.data = ev.data ? ev.data + '\n' + val : val;
            else if (field === 'id') ev.id = val;
            else if (field === 'event') ev.event = val;
          }
        }
      } catch (e) {
        if (ctl.signal.aborted) return;
      }
      onState(false);
      if (!opened) backoff = Math.min(backoff * 2, 10000);
      await new Promise(r => setTimeout(r, backoff));
    }
  })();
  return () => ctl.abort();
}
