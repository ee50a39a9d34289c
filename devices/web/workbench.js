// Helpers shared by the technician's workbench pages (topology, rules,
// provisioning): the API call that turns the hub's JSON error into an
// Error carrying its field, the commune chosen in the header, the nav,
// and per-field messages in forms. Pages keep their own message tables.

import { VN_TZ, fmtTime } from './clock.js';

export const $ = (id) => document.getElementById(id);
export const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

// APIError is a 4xx/5xx answer: message, code and the field at fault.
export class APIError extends Error {
  constructor(status, body) {
    super(body?.error?.message || String(status));
    this.status = status; this.code = body?.error?.code || ''; this.field = body?.error?.field || '';
  }
}

export async function api(path, opts = {}) {
  const r = await fetch(path, { credentials: 'same-origin', ...opts,
    headers: { 'Content-Type': 'application/json', ...(opts.headers || {}) } });
  if (r.status === 401) { location.href = '/login?next=' + encodeURIComponent(location.pathname + location.search); throw new APIError(401, null); }
  const body = r.status === 204 ? null : await r.json().catch(() => null);
  if (!r.ok) throw new APIError(r.status, body);
  return body;
}

// The commune: ?unit=, else the one last chosen on any devices page.
const UNIT_KEY = 'communehub.devices.unit';
export function initialUnit() {
  return new URLSearchParams(location.search).get('unit') || localStorage.getItem(UNIT_KEY) || '03244';
}

// unitInput wires the header's commune field: a valid code is kept, put in
// the URL and the nav links, and onChange runs; a bad one is refused.
export function unitInput(input, unit, badMsg, onChange) {
  input.value = unit;
  navUnit(unit);
  input.addEventListener('change', () => {
    const v = input.value.trim();
    if (!/^\d{5}$/.test(v)) { input.setCustomValidity(badMsg()); input.reportValidity(); input.value = unit; return; }
    input.setCustomValidity('');
    unit = v; localStorage.setItem(UNIT_KEY, unit);
    history.replaceState(null, '', `?unit=${unit}`);
    navUnit(unit);
    onChange(unit);
  });
}

function navUnit(unit) {
  document.querySelectorAll('nav.wb a').forEach((a) => { a.href = `${a.pathname}?unit=${unit}`; });
}

// clearErrors empties the per-field messages of a form.
export function clearErrors(form) {
  form.querySelectorAll('.field-err').forEach((el) => { el.textContent = ''; });
  form.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
  const all = form.querySelector('.form-err');
  if (all) all.textContent = '';
}

// showError puts err's message next to the field it names (an element
// with data-field=name holding the input and a .field-err), else at the
// form's .form-err. translate maps the API's message to the page's
// language. It returns the field shown, or "".
export function showError(form, err, translate = (m) => m) {
  const msg = translate(err.message || String(err));
  const box = err.field && form.querySelector(`[data-field="${CSS.escape(err.field)}"]`);
  if (box) {
    box.querySelector('.field-err').textContent = msg;
    const input = box.querySelector('input, select, textarea');
    if (input) { input.setAttribute('aria-invalid', 'true'); input.focus(); }
    return err.field;
  }
  const all = form.querySelector('.form-err');
  if (all) all.textContent = msg;
  return '';
}

// liveTopic subscribes to a bus topic on /ws and calls onEvent with each
// event's data, reconnecting with backoff; onState(open) reports the link.
export function liveTopic(topic, onEvent, onState) {
  let ws = null, retry = 500, stopped = false;
  const connect = () => {
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    const sock = new WebSocket(`${proto}://${location.host}/ws?topic=${topic}`);
    ws = sock;
    sock.onopen = () => { retry = 500; onState(true); };
    sock.onmessage = (m) => { const f = JSON.parse(m.data); if (f.type === 'event') onEvent(f.data); };
    sock.onclose = () => {
      if (ws !== sock || stopped) return;
      onState(false);
      setTimeout(connect, retry); retry = Math.min(retry * 2, 15000);
    };
  };
  connect();
  return () => { stopped = true; ws?.close(); };
}

// Times are Vietnam time, as on the devices page and the walls.
export { VN_TZ };
export const fmtVN = (ts, l) => fmtTime(ts, { year: true, vn: true, l });

// toLocalInput gives a datetime-local value in Vietnam time; fromLocalInput
// reads one back as an RFC 3339 time at +07:00 ("" stays undefined).
export function toLocalInput(ts) {
  const d = new Date(Date.parse(ts) + 7 * 3600e3);
  return d.toISOString().slice(0, 16);
}
export function fromLocalInput(v) { return v ? `${v}:00+07:00` : undefined; }
