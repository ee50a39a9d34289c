// The wall: one websocket to /ws/display (docs/display-protocol.md), the
// last state kept in localStorage so a reload or an outage still shows it,
// per-tile data age and staleness, reconnects with backoff and jitter, and
// a page built to run for weeks: fixed-size state, DOM updated in place,
// listeners registered once, timers never stacked.
import { translator, setLang } from '/static/hub/i18n.js';
import { messages } from './wall-messages.js';
import { layouts, h } from './wall-render.js';

const BUILD = document.querySelector('meta[name="build"]')?.content || '';
const KEY = 'communehub.display';
const PAIR_KEY = 'communehub.display.pair';
const MAX_LATENCY_POINTS = 120;
let readEvery = 1; // half the hub's window (at least 1), as its snapshot says ("window", 2 by default)
const t = translator(messages);
const tz = 'Asia/Ho_Chi_Minh';
const timeFmt = new Intl.DateTimeFormat('vi-VN', { timeZone: tz, hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
const dateFmt = new Intl.DateTimeFormat('vi-VN', { timeZone: tz, day: '2-digit', month: '2-digit', year: 'numeric' });
const time = (ms) => timeFmt.format(new Date(ms));
const date = (ms) => dateFmt.format(new Date(ms));

// --- state -----------------------------------------------------------------
const saved = load();
const state = {
  token: saved.token || '',
  epoch: saved.epoch || '',
  display: saved.display || null,
  topics: saved.topics || {}, // topic → {seq, time (ms), data, staleAfter (s)}
  latency: Array.isArray(saved.latency) ? saved.latency.slice(-MAX_LATENCY_POINTS) : [],
  lastCmd: saved.lastCmd || 0,
  lastLive: saved.lastLive || 0,
  now: Date.now(),
};
let offset = 0; // server clock − local clock, ms
let live = false;
let offlineSince = null;
let heartbeat = 15;
let lastMsgAt = 0;
let attempt = 0;
let ws = null;
let reconnectTimer = 0;
let reloadAt = 0;
let pendingLayoutAck = null;
let view = null; // {key, layout}
let staleAfter = {}; // topic → seconds, from the last welcome
let saveTimer = 0;
const errors = [];
let errorCount = 0;

// A token in the URL (#token=…) replaces whatever this screen held.
const hash = new URLSearchParams(location.hash.slice(1));
if (hash.get('token')) {
  state.token = hash.get('token');
  state.epoch = '';
  state.display = null;
  state.topics = {};
  localStorage.removeItem(PAIR_KEY);
  history.replaceState(null, '', location.pathname + location.search);
  save();
}
const urlLang = new URLSearchParams(location.search).get('lang');
if (urlLang) setLang(urlLang);
else if (state.display) setLang(state.display.lang);
document.title = t('title');

// --- page skeleton -----------------------------------------------------------
const root = document.getElementById('app');
const scopeEl = h('span', { class: 'scope' });
const layoutEl = h('span', { class: 'layoutname' });
const classEl = h('span', { class: 'classification' });
const clockEl = h('span', { class: 'clock' });
const dateEl = h('span', { class: 'date' });
const connEl = h('span', { class: 'conn', 'data-state': 'connecting' });
const noticeEl = h('div', { class: 'notice', hidden: '' });
// The banner: what a duty officer 5 m away must not miss, that the wall is
// not live (lost connection) or that some of it is stale (a source stopped).
// It takes the header's place (the clock stays), so the tiles keep their size.
const bannerTitle = h('span', { class: 'btitle' });
const bannerAge = h('span', { class: 'bage' });
const bannerEl = h('div', { class: 'banner', id: 'banner', hidden: '' }, bannerTitle, bannerAge);
const mainEl = h('main', { class: 'wall' });
const overlayEl = h('div', { class: 'overlay', hidden: '' });
root.append(
  h('header', { class: 'topbar' }, bannerEl, h('div', { class: 'where' }, scopeEl, layoutEl, classEl),
    h('div', { class: 'right' }, connEl, h('div', { class: 'when' }, clockEl, dateEl))),
  noticeEl, mainEl, overlayEl);

// --- storage -------------------------------------------------------------------
function load() {
  try { return JSON.parse(localStorage.getItem(KEY)) || {}; } catch { return {}; }
}
function save() {
  clearTimeout(saveTimer);
  saveTimer = 0;
  const v = { token: state.token, epoch: state.epoch, display: state.display, topics: state.topics,
    latency: state.latency, lastCmd: state.lastCmd, lastLive: state.lastLive };
  try { localStorage.setItem(KEY, JSON.stringify(v)); } catch (e) { recordError(`storage: ${e.message}`); }
}
function saveSoon() { if (!saveTimer) saveTimer = setTimeout(save, 2000); }
addEventListener('pagehide', () => { if (saveTimer) save(); });

function pairSecret() {
  let s = localStorage.getItem(PAIR_KEY);
  if (!s) {
    const b = new Uint8Array(24);
    crypto.getRandomValues(b);
    s = btoa(String.fromCharCode(...b)).replace(/[+/=]/g, (c) => ({ '+': '-', '/': '_', '=': '' }[c]));
    localStorage.setItem(PAIR_KEY, s);
  }
  return s;
}

// --- errors, for the admin page --------------------------------------------------
function recordError(msg) {
  errorCount++;
  errors.push(String(msg).slice(0, 300));
  if (errors.length > 5) errors.shift();
}
addEventListener('error', (e) => recordError(e.message || 'error'));
addEventListener('unhandledrejection', (e) => recordError(`unhandled: ${e.reason}`));

// --- connection ----------------------------------------------------------------
function connect() {
  clearTimeout(reconnectTimer);
  reconnectTimer = 0;
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws/display`;
  let sock;
  try { sock = new WebSocket(url); } catch (e) { recordError(e.message); scheduleReconnect(); return; }
  ws = sock;
  setConn(offlineSince ? 'reconnecting' : 'connecting');
  sock.onopen = () => {
    lastMsgAt = Date.now();
    const hello = { type: 'hello', build: BUILD, agent: navigator.userAgent };
    if (state.token) {
      hello.token = state.token;
      if (state.epoch) {
        hello.epoch = state.epoch;
        hello.resume = {};
        for (const [k, v] of Object.entries(state.topics)) if (v.seq > 0) hello.resume[k] = v.seq;
      }
    } else {
      hello.pair = pairSecret();
    }
    send(hello);
  };
  // Flow control: the hub sends at most a window of messages this page has
  // not said it read (docs/display-protocol.md, "read"), so a slow screen
  // skips to the newest state instead of falling seconds behind in its
  // buffers. Every readEvery messages handled, it says how many in all.
  let received = 0;
  sock.onmessage = (e) => {
    if (sock !== ws) return;
    received++;
    lastMsgAt = Date.now();
    let m;
    try { m = JSON.parse(e.data); } catch { recordError('bad message from hub'); m = null; }
    if (m) try { onMessage(m); } catch (err) { recordError(`render: ${err.message}`); }
    if (received % readEvery === 0) send({ type: 'read', n: received });
  };
  sock.onclose = (e) => { if (sock === ws) onClose(e.code, e.reason); };
}

function send(m) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(m));
}

function onClose(code, reason) {
  ws = null;
  if (saveTimer) save(); // what is on screen survives a reload while offline
  if (live) {
    offlineSince = Date.now();
    live = false;
  } else if (!offlineSince && state.display) {
    offlineSince = state.lastLive || Date.now();
  }
  if (code === 4401) {
    // Unknown or revoked token: this screen is no longer paired.
    state.token = '';
    state.epoch = '';
    state.display = null;
    state.topics = {};
    state.latency = [];
    offlineSince = null;
    save();
    showPairing(null, null, t('pairRevoked'));
    attempt = 0;
  } else if (code === 4400) {
    recordError(`hub refused a message: ${reason}`);
  }
  setConn(state.display ? 'offline' : 'connecting');
  scheduleReconnect();
}

// scheduleReconnect waits a random time up to 0.5 s × 2^attempt, at most
// 20 s ("full jitter"), so a wall of screens does not reconnect in step.
function scheduleReconnect() {
  if (reconnectTimer) return;
  const cap = Math.min(20000, 500 * 2 ** Math.min(attempt, 10));
  attempt++;
  reconnectTimer = setTimeout(connect, Math.random() * cap);
}

// dropDeadSocket gives up on a socket the hub has been silent on for two
// heartbeats (a half-open TCP connection never fires close by itself).
function dropDeadSocket() {
  const old = ws;
  if (!old) return;
  ws = null;
  old.onclose = null;
  old.onmessage = null;
  try { old.close(); } catch { /* already closing */ }
  onClose(1006, 'heartbeat missed');
}

// --- messages ------------------------------------------------------------------
function onMessage(m) {
  switch (m.type) {
    case 'pairing':
      heartbeat = m.heartbeat || heartbeat;
      showPairing(m.code, Date.parse(m.expires_at));
      setConn('pairing');
      break;
    case 'paired':
      state.token = pairSecret();
      localStorage.removeItem(PAIR_KEY);
      save();
      showNotice(t('paired'));
      break;
    case 'snapshot': welcome(m); applySnapshot(m.topics || {}); afterUpdate(true); break;
    case 'resumed':
      welcome(m);
      for (const k of Object.keys(state.topics)) if (!(k in staleAfter)) delete state.topics[k];
      for (const ev of m.events || []) applyEvent(ev);
      afterUpdate(true);
      break;
    case 'event': if (applyEvent(m)) afterUpdate(false); break;
    case 'events': {
      let changed = false;
      for (const ev of m.events || []) changed = applyEvent(ev) || changed;
      if (changed) afterUpdate(false);
      break;
    }
    case 'ping': if (m.time) offset = Date.parse(m.time) - Date.now(); break;
    case 'command': onCommand(m); break;
    default: break; // newer hub, older page: ignore
  }
}

function welcome(m) {
  attempt = 0;
  live = true;
  offlineSince = null;
  heartbeat = m.heartbeat || heartbeat;
  if (m.window > 0) readEvery = Math.max(1, Math.floor(m.window / 2));
  offset = Date.parse(m.server_time) - Date.now();
  state.epoch = m.epoch;
  const prev = state.display;
  state.display = m.display;
  state.lastLive = Date.now();
  if (m.display.lang && (!prev || prev.lang !== m.display.lang) && !urlLang) setLang(m.display.lang);
  for (const [topic, secs] of Object.entries(m.stale_after || {})) {
    if (state.topics[topic]) state.topics[topic].staleAfter = secs;
  }
  staleAfter = m.stale_after || {};
  setConn('live');
  if (!reloadAt) noticeEl.hidden = true;
  if (m.build && BUILD && m.build !== BUILD && !reloadAt) {
    // A new hub build: reload at a random moment within the spread.
    const wait = Math.random() * (m.reload_spread || 120) * 1000;
    reloadAt = Date.now() + wait;
    setTimeout(() => { save(); location.reload(); }, wait);
    showNotice(t('reloadSoon', { time: time(reloadAt + offset) }), true);
  }
  if (pendingLayoutAck && m.display.active_layout === pendingLayoutAck.layout) {
    send({ type: 'ack', id: pendingLayoutAck.id, ok: true, result: `layout ${m.display.active_layout}` });
    pendingLayoutAck = null;
  }
}

function applySnapshot(topics) {
  const next = {};
  for (const [topic, ts] of Object.entries(topics)) {
    const old = state.topics[topic];
    if (ts.seq === 0 && old && old.data != null) {
      // The hub has nothing for this topic yet (it is starting): keep what
      // this screen showed, aged, rather than a blank tile.
      next[topic] = { ...old, seq: 0, staleAfter: staleAfter[topic] ?? old.staleAfter };
    } else {
      next[topic] = { seq: ts.seq, time: ts.time ? Date.parse(ts.time) : 0, data: ts.data, staleAfter: staleAfter[topic] ?? 0 };
    }
    if (topic.endsWith('/devices')) sampleLatency(next[topic]);
  }
  state.topics = next;
}

function applyEvent(ev) {
  const cur = state.topics[ev.topic];
  if (!cur || ev.seq <= cur.seq) return false; // not shown, or already applied
  state.topics[ev.topic] = { seq: ev.seq, time: Date.parse(ev.time), data: ev.data, staleAfter: cur.staleAfter };
  if (ev.topic.endsWith('/devices')) sampleLatency(state.topics[ev.topic]);
  return true;
}

// sampleLatency keeps at most one average-latency point per 30 s, and at
// most MAX_LATENCY_POINTS of them.
function sampleLatency(entry) {
  const d = entry.data;
  let avg = null;
  if (Array.isArray(d?.devices)) {
    const v = d.devices.map((x) => x.latency_ms).filter((x) => typeof x === 'number');
    if (v.length) avg = v.reduce((a, b) => a + b, 0) / v.length;
  } else if (d?.devices?.latency_ms) {
    avg = d.devices.latency_ms.avg;
  }
  const at = Date.parse(d?.as_of) || entry.time; // when the source measured it
  if (avg == null || !at) return;
  const last = state.latency[state.latency.length - 1];
  if (last && at - last.t < 30000) {
    if (at >= last.t) last.avg = Math.round(avg * 10) / 10;
    return;
  }
  state.latency.push({ t: at, avg: Math.round(avg * 10) / 10 });
  while (state.latency.length > MAX_LATENCY_POINTS) state.latency.shift();
}

// --- commands ------------------------------------------------------------------
function onCommand(m) {
  if (m.id <= state.lastCmd) return;
  state.lastCmd = m.id;
  save();
  switch (m.command) {
    case 'identify':
      identify();
      send({ type: 'ack', id: m.id, ok: true, result: 'identified' });
      break;
    case 'reload':
      send({ type: 'ack', id: m.id, ok: true, result: 'reloading' });
      setTimeout(() => location.reload(), 300);
      break;
    case 'layout': {
      const want = m.args?.layout;
      if (state.display?.active_layout === want) send({ type: 'ack', id: m.id, ok: true, result: `layout ${want}` });
      else {
        pendingLayoutAck = { id: m.id, layout: want };
        setTimeout(() => {
          if (pendingLayoutAck?.id === m.id) {
            send({ type: 'ack', id: m.id, ok: false, result: `still showing ${state.display?.active_layout}` });
            pendingLayoutAck = null;
          }
        }, 10000);
      }
      break;
    }
    default:
      send({ type: 'ack', id: m.id, ok: false, result: `unknown command ${m.command}` });
  }
}

let identifyTimer = 0;
function identify() {
  overlayEl.replaceChildren(h('div', { class: 'ident' }, h('p', { class: 'name', text: state.display?.name || '' }),
    h('p', { class: 'sub', text: `#${state.display?.id ?? ''} · ${state.display?.scope_name || ''}` })));
  overlayEl.hidden = false;
  clearTimeout(identifyTimer);
  identifyTimer = setTimeout(() => { overlayEl.hidden = true; }, 20000);
}

// --- rendering -----------------------------------------------------------------
function showPairing(code, expires, note) {
  view = null;
  live = false;
  scopeEl.textContent = t('pairTitle');
  layoutEl.textContent = '';
  classEl.textContent = '';
  const url = `${location.origin}/displays/pair${code ? `?code=${code}` : ''}`;
  mainEl.replaceChildren(h('div', { class: 'pairing' },
    note ? h('p', { class: 'note', text: note }) : '',
    h('p', { class: 'label', text: t('pairCode') }),
    h('p', { class: 'code', id: 'pair-code', text: code || '······' }),
    h('p', { class: 'how', text: t('pairHow', { url }) }),
    expires ? h('p', { class: 'expires', text: t('pairExpires', { time: time(expires).slice(0, 5) }) }) : ''));
}

function ensureLayout() {
  const d = state.display;
  if (!d) return null;
  const key = [d.active_layout, d.scope, d.province, d.lang, d.classification, d.name].join('|');
  if (view && view.key === key) return view;
  mainEl.replaceChildren();
  t.apply();
  const make = layouts[d.active_layout] || layouts.commune;
  const pageSeconds = Number(new URLSearchParams(location.search).get('page_seconds')) || d.page_seconds || 10;
  view = { key, layout: make(mainEl, { t, time, date, display: d, pageSeconds }) };
  scopeEl.textContent = d.scope_name || d.scope;
  layoutEl.textContent = t({ commune: 'layoutCommune', province: 'layoutProvince', meeting: 'layoutMeeting' }[d.active_layout] || 'layoutCommune');
  classEl.textContent = d.classification === 'public' ? t('publicBadge') : '';
  return view;
}

function render() {
  const v = ensureLayout();
  if (!v) return;
  state.now = Date.now() + offset;
  v.layout.render(state);
  tickTiles();
}

function afterUpdate(whole) {
  render();
  if (whole) save(); else saveSoon();
  reportSoon(whole);
}

let reportTimer = 0;
function reportSoon(now) {
  if (reportTimer && !now) return;
  clearTimeout(reportTimer);
  // After the browser has painted the update.
  reportTimer = setTimeout(() => { reportTimer = 0; requestAnimationFrame(() => setTimeout(report, 0)); }, now ? 0 : 1000);
}

function report() {
  if (!state.display) return;
  const topics = {};
  let seq = 0;
  for (const [k, v] of Object.entries(state.topics)) { topics[k] = v.seq; seq += v.seq; }
  send({ type: 'rendered', seq, layout: state.display.active_layout, topics,
    heap: performance.memory ? performance.memory.usedJSHeapSize : 0,
    errors: errors.slice(), error_count: errorCount, uptime: Math.round(performance.now() / 1000) });
}

// tickTiles refreshes every tile's age line and stale marker, and the banner.
function tickTiles() {
  if (!view) { setBanner(null); return; }
  const now = Date.now() + offset;
  const staleTiles = [];
  let staleSince = Infinity;
  for (const tl of view.layout.tiles) {
    let oldest = Infinity;
    let stale = false;
    let missing = false;
    for (const topic of tl.topics) {
      const e = state.topics[topic];
      if (!e || e.data == null || !e.time) { missing = true; continue; }
      oldest = Math.min(oldest, e.time);
      if (e.staleAfter > 0 && now - e.time > e.staleAfter * 1000) stale = true;
    }
    const ageText = oldest === Infinity ? t('noData') : t('updated', { time: time(oldest) });
    if (tl.age.textContent !== ageText) tl.age.textContent = ageText;
    const badge = stale ? `${t('stale')} · ${ago(now - oldest)}` : '';
    if (tl.badge.textContent !== badge) tl.badge.textContent = badge;
    tl.el.classList.toggle('stale', stale);
    tl.el.classList.toggle('nodata', missing && oldest === Infinity);
    tl.el.classList.toggle('offline', !live);
    if (stale) { staleTiles.push(tl.title); staleSince = Math.min(staleSince, oldest); }
  }
  if (!live && offlineSince) {
    setBanner('offline', t('bannerOffline', { time: time(offlineSince + offset).slice(0, 5) }),
      t('bannerOfflineAge', { age: duration(Date.now() - offlineSince) }));
  } else if (live && staleTiles.length) {
    setBanner('stale', t('bannerStale', { tiles: staleTiles.join(', ') }),
      t('bannerStaleAge', { time: time(staleSince).slice(0, 5), age: duration(now - staleSince) }));
  } else {
    setBanner(null);
  }
}

function setBanner(kind, title = '', age = '') {
  bannerEl.hidden = !kind;
  if (!kind) return;
  bannerEl.dataset.kind = kind;
  if (bannerTitle.textContent !== title) bannerTitle.textContent = title;
  if (bannerAge.textContent !== age) bannerAge.textContent = age;
}

// duration says how long ago, to the second under a minute so that the
// banner visibly counts.
function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return t('durSec', { n: s });
  const min = Math.floor(s / 60);
  if (min < 60) return t('durMin', { n: min });
  if (min < 48 * 60) return t('durHourMin', { h: Math.floor(min / 60), m: min % 60 });
  return t('durDay', { n: Math.floor(min / 1440) });
}

function ago(ms) {
  const min = Math.max(1, Math.floor(ms / 60000));
  if (min < 60) return t('ageMin', { n: min });
  if (min < 48 * 60) return t('ageHour', { n: Math.floor(min / 60) });
  return t('ageDay', { n: Math.floor(min / 1440) });
}

function setConn(s) {
  connEl.dataset.state = s;
  if (s === 'live') connEl.textContent = t('live');
  else if (s === 'pairing') connEl.textContent = t('waitingPair');
  else if (s === 'offline' && offlineSince) connEl.textContent = `${t('offlineSince', { time: time(offlineSince + offset).slice(0, 5) })} · ${t('reconnecting')}`;
  else connEl.textContent = t('connecting');
  document.body.classList.toggle('disconnected', s !== 'live' && s !== 'pairing');
}

let noticeTimer = 0;
function showNotice(text, sticky) {
  noticeEl.textContent = text;
  noticeEl.hidden = false;
  clearTimeout(noticeTimer);
  if (!sticky) noticeTimer = setTimeout(() => { noticeEl.hidden = true; }, 8000);
}

// --- the one ticker --------------------------------------------------------------
let nightly = nextNightly();
function nextNightly() {
  // Once a day between 03:00 and 04:00 Vietnam time, a fresh page (the state
  // comes back from storage): the cheapest insurance against a browser leak.
  const now = Date.now();
  const vn = new Date(now + 7 * 3600000);
  let at = Date.UTC(vn.getUTCFullYear(), vn.getUTCMonth(), vn.getUTCDate(), 3) - 7 * 3600000;
  if (at <= now + 3600000) at += 86400000;
  return at + Math.random() * 3600000;
}

function tickClock() {
  const now = Date.now() + offset;
  clockEl.textContent = time(now);
  dateEl.textContent = date(now);
}
tickClock();

setInterval(() => {
  tickClock();
  if (ws && ws.readyState === WebSocket.OPEN) {
    if (Date.now() - lastMsgAt > (2 * heartbeat + 5) * 1000) dropDeadSocket();
  }
  if (!live && offlineSince) setConn('offline');
  if (view?.layout.tick) view.layout.tick(Date.now() + offset);
  tickTiles();
  if (Date.now() > nightly) { save(); location.reload(); }
}, 1000);

// Heartbeat to the hub at the hub's period: the rendered report doubles
// as the ping. One timer chain, re-armed after each beat.
(function beat() {
  setTimeout(() => {
    if (ws && ws.readyState === WebSocket.OPEN) {
      if (state.display && live) report(); else send({ type: 'ping' });
    }
    beat();
  }, heartbeat * 1000);
})();

// --- start -----------------------------------------------------------------------
if (state.display && state.token) {
  render(); // the last snapshot, before the hub answers
  setConn('connecting');
} else {
  showPairing(null, null);
}
connect();
