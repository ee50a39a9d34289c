// The technician page: live device status of one commune over the /ws
// event socket (commune/{unit}/devices), incidents, alarms with
// acknowledgement, latency/loss sparklines and a chart per device.
import { translator, langToggle, lang } from '/static/hub/i18n.js';
import { fmtTime as clockTime, tzMode, toggleTZ, zoneLabel } from './clock.js';

const t = translator({
  vi: {
    title: ' — Thiết bị mạng', unit: 'Xã', offline: 'Mất kết nối', live: 'Trực tiếp',
    incidents: 'Sự cố', alarms: 'Cảnh báo', devices: 'Thiết bị', status: 'Trạng thái', device: 'Thiết bị',
    kind: 'Loại', last_seen: 'Lần cuối', latency: 'Độ trễ (ms)', loss: 'Mất gói (%)',
    online: 'Hoạt động', unreachable: 'Không truy cập được', unknown: 'Không rõ', flapping: 'Chập chờn',
    unregistered: 'Chưa đăng ký', ignored: 'Bỏ qua', offline_st: 'Ngừng hoạt động',
    no_incidents: 'Không có sự cố.', no_alarms: 'Không có cảnh báo.', no_devices: 'Chưa có thiết bị nào gửi dữ liệu.',
    ack: 'Xác nhận', ack_title: 'Xác nhận cảnh báo', ack_comment: 'Ghi chú (ví dụ: đã gọi nhà mạng)', cancel: 'Huỷ',
    acked_by: 'đã xác nhận: {who}', adopt: 'Đăng ký', ignore: 'Bỏ qua', close: 'Đóng',
    adopt_name: 'Tên thiết bị?', adopt_kind: 'Loại (router, switch, ap, camera, pc, printer, ups, other)?',
    since: 'từ {t}', ago_s: '{n} giây trước', ago_m: '{n} phút trước', ago_h: '{n} giờ trước', ago_d: '{n} ngày trước', never: 'chưa bao giờ',
    r1h: '1 giờ', r24h: '24 giờ', r7d: '7 ngày', r30d: '30 ngày', points: '{n} điểm, bước {step}, nguồn {src}', no_data: 'Không có dữ liệu trong khoảng này.',
    broker_ok: 'MQTT: đã kết nối ({mode})', broker_down: 'MQTT: mất kết nối', dropped: 'Broker bỏ tin: {n}', lost: 'Hub mất tin: {n}',
    queue: 'Hàng đợi: {n}/{cap}', rejected: 'Tin bị từ chối: {n}', writer: 'Lỗi ghi CSDL: {e}', maint: 'bảo trì',
    agent_offline: 'tác tử ngoại tuyến', parent: 'thiết bị cha {p} hỏng', err: 'Lỗi: {m}', unit_bad: 'Mã xã gồm 5 chữ số',
    tz_vn: 'Giờ Việt Nam', tz_local: 'Giờ máy này', tz_title: 'Đổi múi giờ hiển thị (giờ Việt Nam / giờ của máy này)',
    times_in: 'Thời gian theo {z}',
    notified: 'Đã báo: {list}',
    nav_topology: 'Sơ đồ mạng', nav_rules: 'Cảnh báo & bảo trì', nav_provision: 'Cấp phát',
  },
  en: {
    title: ' — Network devices', unit: 'Commune', offline: 'Disconnected', live: 'Live',
    incidents: 'Incidents', alarms: 'Alarms', devices: 'Devices', status: 'Status', device: 'Device',
    kind: 'Kind', last_seen: 'Last seen', latency: 'Latency (ms)', loss: 'Loss (%)',
    online: 'Online', unreachable: 'Unreachable', unknown: 'Unknown', flapping: 'Flapping',
    unregistered: 'Unregistered', ignored: 'Ignored', offline_st: 'Offline',
    no_incidents: 'No incidents.', no_alarms: 'No alarms.', no_devices: 'No device has reported yet.',
    ack: 'Acknowledge', ack_title: 'Acknowledge alarm', ack_comment: 'Comment (e.g. called the ISP)', cancel: 'Cancel',
    acked_by: 'acknowledged by {who}', adopt: 'Adopt', ignore: 'Ignore', close: 'Close',
    adopt_name: 'Device name?', adopt_kind: 'Kind (router, switch, ap, camera, pc, printer, ups, other)?',
    since: 'since {t}', ago_s: '{n} s ago', ago_m: '{n} min ago', ago_h: '{n} h ago', ago_d: '{n} days ago', never: 'never',
    r1h: '1 hour', r24h: '24 hours', r7d: '7 days', r30d: '30 days', points: '{n} points, step {step}, from {src}', no_data: 'No data in this range.',
    broker_ok: 'MQTT: connected ({mode})', broker_down: 'MQTT: disconnected', dropped: 'Broker dropped: {n}', lost: 'Hub lost: {n}',
    queue: 'Queue: {n}/{cap}', rejected: 'Rejected messages: {n}', writer: 'Database write error: {e}', maint: 'maintenance',
    agent_offline: 'agent offline', parent: 'parent {p} down', err: 'Error: {m}', unit_bad: 'A commune code has 5 digits',
    tz_vn: 'Vietnam time', tz_local: 'This computer\'s time', tz_title: 'Switch the time zone shown (Vietnam time / this computer\'s)',
    times_in: 'Times in {z}',
    notified: 'Notified: {list}',
    nav_topology: 'Network map', nav_rules: 'Alarms & maintenance', nav_provision: 'Provisioning',
  },
});

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const params = new URLSearchParams(location.search);
let unit = params.get('unit') || localStorage.getItem('communehub.devices.unit') || '03244';
let me = { role: 'viewer' };
let snap = null;          // latest commune/{unit}/devices event data
let devices = new Map();  // id → API view (metrics, ip, reason…)
let alarms = [];          // API alarms (with ack fields)
let notified = {};        // source (incident:{unit}:{root}, alarm:{id}) → messages sent (GET /api/v1/alerts/notified)
const sparks = new Map(); // id → {latency:[…], loss:[…]}
let ws = null, wsRetry = 500, wsOpen = false;
let selected = null;
const canWrite = () => me.role === 'technician' || me.role === 'admin';

async function api(path, opts = {}) {
  const r = await fetch(path, { credentials: 'same-origin', ...opts,
    headers: { 'Content-Type': 'application/json', ...(opts.headers || {}) } });
  if (r.status === 401) { location.href = '/login?next=' + encodeURIComponent(location.pathname + location.search); throw new Error('401'); }
  const body = r.status === 204 ? null : await r.json();
  if (!r.ok) throw new Error(body?.error?.message || r.statusText);
  return body;
}

function ago(ts) {
  if (!ts) return t('never');
  const s = Math.max(0, Math.round((Date.now() - Date.parse(ts)) / 1000));
  if (s < 90) return t('ago_s', { n: s });
  if (s < 5400) return t('ago_m', { n: Math.round(s / 60) });
  if (s < 129600) return t('ago_h', { n: Math.round(s / 3600) });
  return t('ago_d', { n: Math.round(s / 86400) });
}

// fmtTime is the clock's, without the year (the list is of recent times).
const fmtTime = (ts, zone = true) => clockTime(ts, { zone });

function tzButton() {
  const b = $('tz');
  b.textContent = `${tzMode() === 'vn' ? t('tz_vn') : t('tz_local')} (${zoneLabel()})`;
  b.title = t('tz_title');
}

function statusLabel(s) { return s === 'offline' ? t('offline_st') : t(s); }

function spark(values) {
  if (!values || values.length < 2) return '<svg class="spark"></svg>';
  const v = values.slice(-60), lo = Math.min(...v), hi = Math.max(...v), span = hi - lo || 1;
  const pts = v.map((x, i) => `${(i / (v.length - 1) * 108 + 1).toFixed(1)},${(24 - (x - lo) / span * 22).toFixed(1)}`).join(' ');
  return `<svg class="spark" viewBox="0 0 110 26"><polyline points="${pts}"/></svg>`;
}

function renderHealth(stats) {
  const b = snap?.broker || {};
  const parts = [];
  const connected = stats ? stats.connected : b.connected;
  parts.push(connected ? `<span>${esc(t('broker_ok', { mode: stats?.mode || '' }))}</span>` : `<span class="bad">${esc(t('broker_down'))}</span>`);
  const dropped = b.dropped ?? stats?.broker_dropped ?? 0, lost = b.lost ?? stats?.lost ?? 0;
  parts.push(`<span class="${dropped ? 'bad' : ''}">${esc(t('dropped', { n: dropped }))}</span>`);
  parts.push(`<span class="${lost ? 'bad' : ''}">${esc(t('lost', { n: lost }))}</span>`);
  if (stats) {
    parts.push(`<span>${esc(t('queue', { n: stats.queue_rows, cap: stats.queue_capacity }))}</span>`);
    const rej = Object.entries(stats.rejected || {});
    const total = rej.reduce((a, [, n]) => a + n, 0);
    parts.push(`<span title="${esc(rej.map(([r, n]) => `${r}: ${n}`).join(', '))}">${esc(t('rejected', { n: total }))}</span>`);
    if (stats.writer_error) parts.push(`<span class="bad">${esc(t('writer', { e: stats.writer_error }))}</span>`);
  }
  $('health').innerHTML = parts.join('');
}

function renderCounts() {
  const c = snap?.counts || {};
  $('counts').innerHTML = ['online', 'offline', 'unreachable', 'unknown', 'flapping', 'unregistered']
    .map((k) => `<div><span class="st ${k}">${esc(statusLabel(k))}</span><b>${c[k] ?? 0}</b></div>`).join('');
}

// notifiedLine is "Đã báo: Nguyễn Văn A (email) 03:12, …" for the
// messages sent about source, or '' when none went.
function notifiedLine(source) {
  const list = notified[source] || [];
  if (!list.length) return '';
  const clock = (ts) => new Date(ts).toLocaleTimeString(lang() === 'vi' ? 'vi-VN' : 'en-GB',
    { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', ...(tzMode === 'vn' ? { timeZone: VN_TZ } : {}) });
  const items = list.map((n) => `${n.name || n.to || n.channel} (${n.kind}) ${clock(n.sent_at)}`);
  return `<br><small class="muted notified">${esc(t('notified', { list: items.join(', ') }))}</small>`;
}

// loadNotified fetches who was told of the commune's open incidents and
// alarms (technicians and admins may read it).
async function loadNotified() {
  if (!canWrite() || !(snap?.incidents?.length || snap?.alarms?.length)) { notified = {}; return; }
  try { notified = (await api(`/api/v1/alerts/notified?unit=${unit}`)).notified || {}; } catch { /* shown without */ }
}

function renderIncidents() {
  const list = snap?.incidents || [];
  $('incidents').innerHTML = list.length ? list.map((i) => `<li class="kind-${esc(i.kind)}"><span class="grow">
      <strong>${esc(lang() === 'en' ? i.title_en : i.title)}</strong><br><small class="muted">${esc(t('since', { t: fmtTime(i.since) }))}</small>${notifiedLine(`incident:${unit}:${i.root_device || i.id}`)}</span></li>`).join('')
    : `<li class="muted">${esc(t('no_incidents'))}</li>`;
}

function renderAlarms() {
  const active = (snap?.alarms || []);
  const byId = new Map(alarms.map((a) => [a.id, a]));
  $('alarms').innerHTML = active.length ? active.map((a) => {
    const full = byId.get(a.id);
    const ackd = a.state === 'active_ack' && full?.acked_by;
    const btn = a.state === 'active_unack' && canWrite() && a.id !== 'broker-dropped'
      ? `<button data-ack="${esc(a.id)}" data-what="${esc(a.device + ' · ' + a.metric)}">${esc(t('ack'))}</button>` : '';
    return `<li><span class="sev ${esc(a.severity)}">${esc(a.severity)}</span><span class="grow">
      <strong>${esc(a.device)}</strong> · ${esc(a.metric)} = ${esc(Math.round(a.value * 100) / 100)}
      <br><small class="muted">${esc(t('since', { t: fmtTime(a.since) }))}${ackd ? ' · ' + esc(t('acked_by', { who: full.acked_by })) + (full.ack_comment ? ' — ' + esc(full.ack_comment) : '') : ''}</small>${notifiedLine('alarm:' + a.id)}</span>${btn}</li>`;
  }).join('') : `<li class="muted">${esc(t('no_alarms'))}</li>`;
}

function renderDevices() {
  const rank = { offline: 0, unreachable: 1, flapping: 2, unknown: 3, unregistered: 4, online: 5 };
  const list = [...devices.values()].filter((d) => d.status !== 'ignored')
    .sort((a, b) => (rank[a.status] ?? 9) - (rank[b.status] ?? 9) || a.id.localeCompare(b.id));
  const rows = list.map((d) => {
    let reason = '';
    if (d.reason === 'agent offline') reason = t('agent_offline');
    else if (d.reason?.startsWith('parent ')) reason = t('parent', { p: d.reason.split(' ')[1] });
    if (d.maintenance) reason = (reason ? reason + ' · ' : '') + t('maint');
    const s = sparks.get(d.id) || {};
    const lat = d.metrics?.latency_ms, loss = d.metrics?.loss_pct;
    const acts = d.status === 'unregistered' && canWrite()
      ? `<button data-adopt="${esc(d.id)}">${esc(t('adopt'))}</button> <button class="secondary" data-ignore="${esc(d.id)}">${esc(t('ignore'))}</button>` : '';
    return `<tr class="dev" data-id="${esc(d.id)}"><td><span class="st ${esc(d.status)}">${esc(statusLabel(d.status))}</span></td>
      <td><a href="/devices/${unit}/${encodeURIComponent(d.id)}"><strong>${esc(d.name || d.id)}</strong></a> <small class="muted">${esc(d.id)}</small>${reason ? `<span class="reason">${esc(reason)}</span>` : ''}</td>
      <td>${esc(d.kind)}</td><td>${esc(d.ip || '')}</td><td data-seen="${esc(d.last_seen || '')}" title="${esc(d.last_seen ? fmtTime(d.last_seen) : '')}">${esc(ago(d.last_seen))}</td>
      <td>${lat != null ? esc(Math.round(lat * 10) / 10) : ''} ${spark(s.latency)}</td>
      <td>${loss != null ? esc(Math.round(loss * 10) / 10) : ''} ${spark(s.loss)}</td><td>${acts}</td></tr>`;
  });
  $('devices').tBodies[0].innerHTML = rows.length ? rows.join('') : `<tr><td colspan="8" class="muted">${esc(t('no_devices'))}</td></tr>`;
}

function renderLive() { $('live').className = wsOpen ? 'live' : 'live off'; $('live').textContent = t(wsOpen ? 'live' : 'offline'); }

function render() { t.apply(); renderLive(); renderCounts(); renderIncidents(); renderAlarms(); renderDevices(); renderHealth(lastStats); }

let lastStats = null;
// refresh reloads the device list, the alarms and the ingest health (and,
// when asked, the commune's snapshot) and appends new readings to the sparklines.
async function refresh(withSnapshot = true) {
  try {
    const [list, al, stats, current] = await Promise.all([
      api(`/api/v1/devices?unit=${unit}`), api(`/api/v1/alarms?unit=${unit}&state=active`), api('/api/v1/ingest'),
      withSnapshot ? api(`/api/v1/devices/snapshot?unit=${unit}`) : null]);
    for (const d of list.devices) {
      const before = devices.get(d.id);
      if (before && before.last_seen !== d.last_seen) {
        const s = sparks.get(d.id) || { latency: [], loss: [] };
        if (d.metrics?.latency_ms != null) s.latency.push(d.metrics.latency_ms);
        if (d.metrics?.loss_pct != null) s.loss.push(d.metrics.loss_pct);
        s.latency = s.latency.slice(-120); s.loss = s.loss.slice(-120);
        sparks.set(d.id, s);
      }
    }
    devices = new Map(list.devices.map((d) => [d.id, d]));
    alarms = al.alarms;
    lastStats = stats;
    if (current) adopt(current);
    await loadNotified();
    render();
  } catch (e) { if (e.message !== '401') $('health').textContent = t('err', { m: e.message }); }
}

// Events say that something changed; the device list follows at most every
// 2 s (at once when a status, incident or alarm changed).
let refreshTimer = null, lastRefresh = 0;
function scheduleRefresh(urgent) {
  if (refreshTimer) { if (!urgent) return; clearTimeout(refreshTimer); }
  const wait = urgent ? 0 : Math.max(0, 2000 - (Date.now() - lastRefresh));
  refreshTimer = setTimeout(() => { refreshTimer = null; lastRefresh = Date.now(); refresh(false); }, wait);
}

async function loadSparks() {
  const from = '-1h';
  await Promise.all([...devices.keys()].map(async (id) => {
    const get = async (m) => (await api(`/api/v1/devices/${unit}/${encodeURIComponent(id)}/telemetry?metric=${m}&from=${from}&step=1m`)).points.map((p) => p.avg);
    try { sparks.set(id, { latency: await get('latency_ms'), loss: await get('loss_pct') }); } catch { /* shown without */ }
  }));
  renderDevices();
}

// adopt keeps the newer of the fetched snapshot and the last event.
function adopt(s) { if (!snap || Date.parse(s.as_of) >= Date.parse(snap.as_of)) snap = s; }

function onSnapshot(data) {
  const prev = snap;
  adopt(data);
  const key = (x) => JSON.stringify([x?.counts, x?.incidents?.map((i) => i.id + i.affected), x?.alarms?.map((a) => a.id + a.state)]);
  scheduleRefresh(key(prev) !== key(data));
  renderCounts(); renderIncidents(); renderAlarms(); renderHealth(lastStats);
}

function connect() {
  if (ws) ws.close();
  const proto = location.protocol === 'https:' ? 'wss' : 'ws';
  ws = new WebSocket(`${proto}://${location.host}/ws?topic=commune/${unit}/devices`);
  const mine = ws;
  ws.onopen = () => { wsRetry = 500; wsOpen = true; renderLive(); refresh(); }; // events from now on; the state as of now
  ws.onmessage = (m) => { const f = JSON.parse(m.data); if (f.type === 'event') onSnapshot(f.data); };
  ws.onclose = () => {
    if (mine !== ws) return;
    wsOpen = false; renderLive();
    setTimeout(connect, wsRetry); wsRetry = Math.min(wsRetry * 2, 15000);
  };
}

async function showDetail(id) {
  selected = id;
  const d = devices.get(id) || (await api(`/api/v1/devices/${unit}/${encodeURIComponent(id)}`));
  $('detail').hidden = false;
  $('detail-title').textContent = `${d.name || d.id} (${d.id})`;
  $('detail-info').textContent = [d.kind, d.ip, d.mac, d.location, d.parent && '↑ ' + d.parent, d.agent && 'agent ' + d.agent, ago(d.last_seen)].filter(Boolean).join(' · ');
  const metrics = Object.keys(d.metrics || {}).sort();
  const cur = $('metric').value;
  $('metric').innerHTML = metrics.map((m) => `<option ${m === (metrics.includes(cur) ? cur : 'latency_ms') ? 'selected' : ''}>${esc(m)}</option>`).join('');
  await drawChart();
  $('detail').scrollIntoView({ behavior: 'smooth' });
}

async function drawChart() {
  if (!selected || !$('metric').value) { $('chart').innerHTML = ''; $('chart-note').textContent = t('no_data'); return; }
  const r = await api(`/api/v1/devices/${unit}/${encodeURIComponent(selected)}/telemetry?metric=${encodeURIComponent($('metric').value)}&from=-${$('range').value}`);
  const pts = r.points, W = 900, H = 260, P = 34;
  if (!pts.length) { $('chart').innerHTML = ''; $('chart-note').textContent = t('no_data'); return; }
  const x0 = Date.parse(r.from), x1 = Date.parse(r.to);
  const lo = Math.min(...pts.map((p) => p.min)), hi = Math.max(...pts.map((p) => p.max)), span = hi - lo || 1;
  const X = (ts) => P + (Date.parse(ts) - x0) / (x1 - x0) * (W - P - 8), Y = (v) => H - 20 - (v - lo) / span * (H - 34);
  const band = pts.map((p) => `${X(p.t)},${Y(p.max)}`).concat(pts.slice().reverse().map((p) => `${X(p.t)},${Y(p.min)}`)).join(' ');
  const line = pts.map((p) => `${X(p.t)},${Y(p.avg)}`).join(' ');
  const grid = [lo, lo + span / 2, hi].map((v) => `<line class="grid" x1="${P}" x2="${W}" y1="${Y(v)}" y2="${Y(v)}"/><text x="2" y="${Y(v) + 4}">${Math.round(v * 100) / 100}</text>`).join('');
  const labels = [x0, (x0 + x1) / 2, x1].map((ts, i) => `<text x="${[P, W / 2 - 30, W - 80][i]}" y="${H - 4}">${esc(fmtTime(ts, false))}</text>`).join('');
  const dots = pts.length < 30 ? pts.map((p) => `<circle cx="${X(p.t)}" cy="${Y(p.avg)}" r="3" fill="#0b5cad"/>`).join('') : '';
  $('chart').innerHTML = `${grid}<polygon class="band" points="${band}"/><polyline class="line" points="${line}"/>${dots}${labels}`;
  $('chart-note').textContent = t('points', { n: pts.length, step: r.step, src: r.source }) + ' · ' + t('times_in', { z: zoneLabel(new Date(x1)) });
}

document.addEventListener('click', async (e) => {
  const el = e.target.closest('button, tr.dev');
  if (!el) return;
  try {
    if (el.dataset.ack) {
      $('ack-what').textContent = el.dataset.what; $('ack-comment').value = ''; $('ack-err').textContent = '';
      $('ackdlg').dataset.id = el.dataset.ack; $('ackdlg').showModal();
    } else if (el.dataset.adopt) {
      const name = prompt(t('adopt_name'), el.dataset.adopt); if (name === null) return;
      const kind = prompt(t('adopt_kind'), 'other'); if (kind === null) return;
      await api(`/api/v1/devices/${unit}/${encodeURIComponent(el.dataset.adopt)}/adopt`, { method: 'POST', body: JSON.stringify({ name, kind }) });
      refresh();
    } else if (el.dataset.ignore) {
      await api(`/api/v1/devices/${unit}/${encodeURIComponent(el.dataset.ignore)}/ignore`, { method: 'POST' });
      refresh();
    } else if (el.id === 'close') {
      $('detail').hidden = true; selected = null;
    } else if (el.matches('tr.dev')) {
      showDetail(el.dataset.id);
    }
  } catch (err) { alert(t('err', { m: err.message })); }
});

$('ackform').addEventListener('submit', async (e) => {
  if (e.submitter?.value !== 'ok') return;
  e.preventDefault();
  try {
    await api(`/api/v1/alarms/${$('ackdlg').dataset.id}/ack`, { method: 'POST', body: JSON.stringify({ comment: $('ack-comment').value }) });
    $('ackdlg').close();
    refresh();
  } catch (err) { $('ack-err').textContent = err.message; }
});

$('metric').addEventListener('change', drawChart);
$('range').addEventListener('change', drawChart);
$('unit').value = unit;
$('unit').addEventListener('change', () => {
  const v = $('unit').value.trim();
  if (!/^\d{5}$/.test(v)) { alert(t('unit_bad')); $('unit').value = unit; return; }
  unit = v; localStorage.setItem('communehub.devices.unit', unit);
  history.replaceState(null, '', `?unit=${unit}`);
  snap = null; sparks.clear(); $('detail').hidden = true; start();
});
langToggle($('lang'), () => { tzButton(); render(); if (selected) drawChart(); });
$('tz').addEventListener('click', () => {
  toggleTZ();
  tzButton(); render(); if (selected) drawChart();
});
setInterval(() => document.querySelectorAll('td[data-seen]').forEach((td) => { td.textContent = ago(td.dataset.seen || null); }), 5000);
setInterval(refresh, 30000);

async function start() {
  t.apply();
  tzButton();
  await refresh();
  connect();
  loadSparks();
}

api('/api/v1/me').then((m) => { me = m; start(); }).catch(() => {});
