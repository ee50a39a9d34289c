// The device page (/devices/{unit}/{id}): one device's status, its
// telemetry charted with uPlot (served from the binary, vendor/) over
// 1 h / 24 h / 7 d / 30 d from the server's buckets (min/avg/max), its
// status history, alarms, incidents, maintenance windows, parent and
// children, and a form that edits its meta with an error under each field.
import { translator, langToggle, lang } from '/static/hub/i18n.js';
import { VN_TZ, fmtTime as clockTime, tzMode, toggleTZ, zoneLabel } from './clock.js';

const t = translator({
  vi: {
    back: '← Danh sách thiết bị', maint: 'Đang bảo trì', kind: 'Loại', last_seen: 'Lần cuối', parent: 'Thiết bị cha',
    children: 'Thiết bị con', none: 'không có', telemetry: 'Số liệu đo', metric: 'Chỉ số',
    r1h: '1 giờ', r24h: '24 giờ', r7d: '7 ngày', r30d: '30 ngày',
    history: 'Lịch sử trạng thái', when: 'Thời điểm', change: 'Thay đổi', why: 'Lý do',
    alarms: 'Cảnh báo', incidents: 'Sự cố', maintenance: 'Lịch bảo trì', edit: 'Sửa thông tin thiết bị',
    name: 'Tên', save: 'Lưu', saved: 'Đã lưu.', saving: 'Đang lưu…', read_only: 'Chỉ kỹ thuật viên và quản trị viên sửa được.',
    online: 'Hoạt động', offline: 'Ngừng hoạt động', unreachable: 'Không truy cập được', unknown: 'Không rõ',
    flapping: 'Chập chờn', unregistered: 'Chưa đăng ký', ignored: 'Bỏ qua', first_seen: 'lần đầu',
    no_history: 'Chưa có thay đổi trạng thái nào được ghi.', no_alarms: 'Không có cảnh báo.', no_incidents: 'Không có sự cố.',
    no_windows: 'Không có lịch bảo trì.', no_data: 'Không có dữ liệu trong khoảng này.', no_metrics: 'Thiết bị chưa gửi số liệu đo.',
    points: '{n} điểm (tối thiểu/trung bình/tối đa mỗi {step}), nguồn: {src}', src_raw: 'dữ liệu gốc', u_h: '{n} giờ', u_m: '{n} phút', u_s: '{n} giây', src_hourly: 'bảng tổng hợp theo giờ',
    r_parent_down: 'thiết bị cha {p} hỏng', r_parent_rec: 'thiết bị cha {p} vừa hoạt động lại', r_agent: 'tác tử giám sát ngoại tuyến',
    r_reported: 'thiết bị báo ngừng (di chúc MQTT)', r_ping: 'ping không trả lời', r_silent: 'không có dữ liệu trong {d}',
    cleared: 'đã hết', acked_by: 'đã xác nhận: {who}', since: 'từ {t}', until: 'đến {t}', closed: 'đóng lúc {t}', open: 'đang mở',
    via_parent: 'qua thiết bị cha {p}', whole_commune: 'cả xã', by: 'do {who}',
    ago_s: '{n} giây trước', ago_m: '{n} phút trước', ago_h: '{n} giờ trước', ago_d: '{n} ngày trước', never: 'chưa bao giờ',
    tz_vn: 'Giờ Việt Nam', tz_local: 'Giờ máy này', tz_title: 'Đổi múi giờ hiển thị (giờ Việt Nam / giờ của máy này)',
    times_in: 'thời gian theo {z}', err: 'Lỗi: {m}', not_found: 'Không tìm thấy thiết bị {id} của xã {unit}.',
    e_name: 'Tên dài tối đa 200 byte.', e_kind: 'Chọn một loại thiết bị.', e_ip: 'Địa chỉ IPv4 (ví dụ 192.168.1.10) hoặc IPv6, hoặc để trống.',
    e_parent: 'Thiết bị không thể là cha của chính nó.', e_nothing: 'Chưa có gì thay đổi.',
    k_router: 'Bộ định tuyến', k_switch: 'Bộ chuyển mạch', k_ap: 'Điểm truy cập Wi-Fi', k_camera: 'Camera', k_pc: 'Máy tính',
    k_printer: 'Máy in', k_ups: 'Bộ lưu điện (UPS)', k_agent: 'Tác tử giám sát', k_other: 'Khác', no_parent: '(không có)',
  },
  en: {
    back: '← All devices', maint: 'In maintenance', kind: 'Kind', last_seen: 'Last seen', parent: 'Parent',
    children: 'Children', none: 'none', telemetry: 'Telemetry', metric: 'Metric',
    r1h: '1 hour', r24h: '24 hours', r7d: '7 days', r30d: '30 days',
    history: 'Status history', when: 'When', change: 'Change', why: 'Why',
    alarms: 'Alarms', incidents: 'Incidents', maintenance: 'Maintenance windows', edit: 'Edit device',
    name: 'Name', save: 'Save', saved: 'Saved.', saving: 'Saving…', read_only: 'Only technicians and administrators can edit.',
    online: 'Online', offline: 'Offline', unreachable: 'Unreachable', unknown: 'Unknown',
    flapping: 'Flapping', unregistered: 'Unregistered', ignored: 'Ignored', first_seen: 'first seen',
    no_history: 'No status change recorded yet.', no_alarms: 'No alarms.', no_incidents: 'No incidents.',
    no_windows: 'No maintenance windows.', no_data: 'No data in this range.', no_metrics: 'The device has sent no telemetry yet.',
    points: '{n} points (min/avg/max per {step}), from {src}', src_raw: 'raw data', u_h: '{n} h', u_m: '{n} min', u_s: '{n} s', src_hourly: 'hourly rollups',
    r_parent_down: 'parent {p} down', r_parent_rec: 'parent {p} just came back', r_agent: 'monitoring agent offline',
    r_reported: 'the device reported offline (MQTT last will)', r_ping: 'ping unanswered', r_silent: 'no data for {d}',
    cleared: 'cleared', acked_by: 'acknowledged by {who}', since: 'since {t}', until: 'until {t}', closed: 'closed {t}', open: 'open',
    via_parent: 'through parent {p}', whole_commune: 'whole commune', by: 'by {who}',
    ago_s: '{n} s ago', ago_m: '{n} min ago', ago_h: '{n} h ago', ago_d: '{n} days ago', never: 'never',
    tz_vn: 'Vietnam time', tz_local: 'This computer\'s time', tz_title: 'Switch the time zone shown (Vietnam time / this computer\'s)',
    times_in: 'times in {z}', err: 'Error: {m}', not_found: 'No device {id} in commune {unit}.',
    e_name: 'A name is at most 200 bytes.', e_kind: 'Choose a kind.', e_ip: 'An IPv4 (e.g. 192.168.1.10) or IPv6 address, or empty.',
    e_parent: 'A device cannot be its own parent.', e_nothing: 'Nothing changed.',
    k_router: 'Router', k_switch: 'Switch', k_ap: 'Wi-Fi access point', k_camera: 'Camera', k_pc: 'Computer',
    k_printer: 'Printer', k_ups: 'UPS', k_agent: 'Monitoring agent', k_other: 'Other', no_parent: '(none)',
  },
});

const KINDS = ['router', 'switch', 'ap', 'camera', 'pc', 'printer', 'ups', 'agent', 'other'];
const FIELDS = ['name', 'kind', 'ip', 'parent'];
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const [, , unit, rawID] = location.pathname.split('/');
const id = decodeURIComponent(rawID || '');
const base = `/api/v1/devices/${encodeURIComponent(unit)}/${encodeURIComponent(id)}`;
const devLink = (d) => `<a href="/devices/${encodeURIComponent(unit)}/${encodeURIComponent(d)}">${esc(d)}</a>`;

let me = { role: 'viewer' };
let dev = null;      // GET /api/v1/devices/{unit}/{id}
let peers = [];      // the commune's devices (parent, children, parent choices)
let hist = null;     // GET …/history
let range = localStorage.getItem('communehub.device.range') || '24h';
let plot = null;
const canWrite = () => me.role === 'technician' || me.role === 'admin';

// APIError carries the field a 4xx answer names.
class APIError extends Error { constructor(msg, field) { super(msg); this.field = field; } }

async function api(path, opts = {}) {
  const r = await fetch(path, { credentials: 'same-origin', ...opts, headers: { 'Content-Type': 'application/json', ...(opts.headers || {}) } });
  if (r.status === 401) { location.href = '/login?next=' + encodeURIComponent(location.pathname); throw new APIError('401'); }
  const body = r.status === 204 ? null : await r.json();
  if (!r.ok) throw new APIError(body?.error?.message || r.statusText, body?.error?.field);
  return body;
}

// fmtTime is the clock's, with the year (a device's history spans months).
const fmtTime = (ts, zone = true) => clockTime(ts, { zone, year: true });

function ago(ts) {
  if (!ts) return t('never');
  const s = Math.max(0, Math.round((Date.now() - Date.parse(ts)) / 1000));
  if (s < 90) return t('ago_s', { n: s });
  if (s < 5400) return t('ago_m', { n: Math.round(s / 60) });
  if (s < 129600) return t('ago_h', { n: Math.round(s / 3600) });
  return t('ago_d', { n: Math.round(s / 86400) });
}
function tzButton() { $('tz').textContent = `${tzMode() === 'vn' ? t('tz_vn') : t('tz_local')} (${zoneLabel()})`; $('tz').title = t('tz_title'); }

const statusLabel = (s) => (s ? t(s) : t('first_seen'));
const kindLabel = (k) => t('k_' + k);

// reasonText translates the reasons the hub records (history_store.go).
function reasonText(r) {
  if (!r) return '';
  let m;
  if ((m = /^parent (\S+) down$/.exec(r))) return t('r_parent_down', { p: m[1] });
  if ((m = /^parent (\S+) recovering$/.exec(r))) return t('r_parent_rec', { p: m[1] });
  if (r === 'agent offline') return t('r_agent');
  if (r === 'reported offline') return t('r_reported');
  if (r === 'ping failed') return t('r_ping');
  if ((m = /^no data for (\S+)$/.exec(r))) return t('r_silent', { d: m[1] });
  return r;
}

function renderHead() {
  document.title = `CommuneHub — ${dev.name || dev.id}`;
  $('back').href = `/devices?unit=${encodeURIComponent(unit)}`;
  $('title').innerHTML = `${esc(dev.name || dev.id)} <small class="muted">${esc(dev.id)}</small>`;
  $('status').className = `st ${dev.status}`;
  $('status').textContent = statusLabel(dev.status);
  $('maint').hidden = !dev.maintenance;
  $('reason').textContent = reasonText(dev.reason);
  $('f-kind').textContent = kindLabel(dev.kind);
  $('f-ip').textContent = dev.ip || '–';
  $('f-seen').textContent = ago(dev.last_seen);
  $('f-seen').title = dev.last_seen ? fmtTime(dev.last_seen) : '';
  $('f-parent').innerHTML = dev.parent ? devLink(dev.parent) : esc(t('none'));
  const kids = peers.filter((d) => d.parent === dev.id && d.status !== 'ignored').sort((a, b) => a.id.localeCompare(b.id));
  $('f-children').innerHTML = kids.length
    ? kids.map((d) => `<span class="child">${devLink(d.id)} <span class="st ${esc(d.status)} mini">${esc(statusLabel(d.status))}</span></span>`).join(' ')
    : esc(t('none'));
}

function renderMetrics() {
  const metrics = Object.keys(dev.metrics || {}).sort();
  const cur = $('metric').value || localStorage.getItem('communehub.device.metric') || 'latency_ms';
  $('metric').innerHTML = metrics.map((m) => `<option ${m === (metrics.includes(cur) ? cur : metrics[0]) ? 'selected' : ''}>${esc(m)}</option>`).join('');
  $('metric').disabled = !metrics.length;
}

function renderRanges() {
  document.querySelectorAll('#ranges button').forEach((b) => {
    b.setAttribute('aria-pressed', String(b.dataset.range === range));
    b.className = b.dataset.range === range ? '' : 'secondary';
  });
}

// drawChart fetches the buckets of the chosen metric and range and draws
// the average with the min–max band. #chart's data-points and data-range
// say what is drawn (tests read them).
let chartSeq = 0;
async function drawChart() {
  const el = $('chart'), metric = $('metric').value, seq = ++chartSeq;
  if (!metric) { destroyPlot(); el.dataset.points = '0'; $('chart-note').textContent = t('no_metrics'); return; }
  const r = await api(`${base}/series?metric=${encodeURIComponent(metric)}&range=${range}`);
  if (seq !== chartSeq) return; // a newer request is on its way
  const data = [r.t, r.min, r.avg, r.max];
  const opts = {
    width: Math.max(300, el.clientWidth), height: 300,
    tzDate: tzMode() === 'vn' ? (ts) => uPlot.tzDate(new Date(ts * 1e3), VN_TZ) : (ts) => new Date(ts * 1e3),
    scales: { x: { time: true, range: [Date.parse(r.from) / 1e3, Date.parse(r.to) / 1e3] } },
    legend: { show: true },
    series: [
      { label: t('when'), value: (u, v) => (v == null ? '–' : fmtTime(v * 1e3, false)) },
      { label: 'min', stroke: '#0b5cad55', width: 1, points: { show: false } },
      { label: metric, stroke: '#0b5cad', width: 2, points: { show: r.points < 40 } },
      { label: 'max', stroke: '#0b5cad55', width: 1, points: { show: false } },
    ],
    bands: [{ series: [3, 1], fill: '#0b5cad22' }],
    axes: [{ stroke: '#5b6470', grid: { stroke: '#e3e6ea' }, values: (u, splits, ax, space, incr) => splits.map((s) => axisTime(s, incr)) },
      { stroke: '#5b6470', grid: { stroke: '#e3e6ea' }, size: 56 }],
  };
  destroyPlot();
  plot = new uPlot(opts, data, el);
  el.dataset.points = String(r.points);
  el.dataset.range = r.range;
  el.dataset.metric = metric;
  $('chart-note').textContent = r.points
    ? `${t('points', { n: r.points, step: stepText(r.step), src: t('src_' + r.source) })} · ${t('times_in', { z: zoneLabel() })}`
    : t('no_data');
}
// axisTime labels the time axis in the page's zone: hours and minutes
// when ticks are less than a day apart (with the date at midnight), else
// day/month as Vietnamese write it.
function axisTime(sec, incr) {
  const opts = { hourCycle: 'h23' };
  if (tzMode() === 'vn') opts.timeZone = VN_TZ;
  const d = new Date(sec * 1e3), loc = lang() === 'vi' ? 'vi-VN' : 'en-GB';
  const hm = d.toLocaleTimeString(loc, { ...opts, hour: '2-digit', minute: '2-digit' });
  const dm = d.toLocaleDateString(loc, { ...opts, day: '2-digit', month: '2-digit' });
  if (incr >= 86400) return dm;
  return hm === '00:00' ? `${hm}\n${dm}` : hm;
}
// stepText turns the server's Go duration ("1h0m0s", "2m0s", "10s") into words.
function stepText(step) {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(step) || [];
  const [h, min, s] = [m[1], m[2], m[3]].map((x) => +x || 0);
  if (h) return t('u_h', { n: h });
  if (min) return t('u_m', { n: min });
  return t('u_s', { n: s });
}
function destroyPlot() { if (plot) { plot.destroy(); plot = null; } }

function renderHistory() {
  const rows = hist?.status || [];
  $('history').tBodies[0].innerHTML = rows.length ? rows.map((c) => `<tr>
      <td class="when">${esc(fmtTime(c.at))}</td>
      <td class="chg"><span class="st ${esc(c.from)} mini">${esc(statusLabel(c.from))}</span> → <span class="st ${esc(c.to)} mini">${esc(statusLabel(c.to))}</span></td>
      <td>${esc(reasonText(c.reason))}</td></tr>`).join('')
    : `<tr><td colspan="3" class="muted">${esc(t('no_history'))}</td></tr>`;
}

function renderAlarms() {
  const list = hist?.alarms || [];
  $('alarms').innerHTML = list.length ? list.map((a) => `<li><span class="sev ${esc(a.severity)}">${esc(a.severity)}</span>
      <span class="grow"><strong>${esc(a.metric)}</strong> = ${esc(Math.round(a.value * 100) / 100)}
      <br><small class="muted">${esc(t('since', { t: fmtTime(a.since) }))}${a.cleared_at ? ' · ' + esc(t('cleared')) + ' ' + esc(fmtTime(a.cleared_at)) : ''}${a.acked_by ? ' · ' + esc(t('acked_by', { who: a.acked_by })) + (a.ack_comment ? ' — ' + esc(a.ack_comment) : '') : ''}</small></span></li>`).join('')
    : `<li class="muted">${esc(t('no_alarms'))}</li>`;
}

function renderIncidents() {
  const list = hist?.incidents || [];
  $('incidents').innerHTML = list.length ? list.map((i) => `<li class="kind-${esc(i.kind)}"><span class="grow">
      <strong>${esc(lang() === 'en' && i.title_en ? i.title_en : i.title)}</strong>${i.root_device !== id ? ` <small class="muted">(${t('via_parent', { p: devLink(i.root_device) })})</small>` : ''}
      <br><small class="muted">${esc(t('since', { t: fmtTime(i.since) }))} · ${esc(i.closed_at ? t('closed', { t: fmtTime(i.closed_at) }) : t('open'))}</small></span></li>`).join('')
    : `<li class="muted">${esc(t('no_incidents'))}</li>`;
}

function renderWindows() {
  const list = hist?.maintenance || [];
  $('windows').innerHTML = list.length ? list.map((w) => `<li><span class="grow"><strong>${esc(w.reason || '–')}</strong>
      ${w.device ? '' : `<small class="muted">(${esc(t('whole_commune'))})</small>`}
      <br><small class="muted">${esc(t('since', { t: fmtTime(w.starts_at) }))} · ${esc(t('until', { t: fmtTime(w.ends_at) }))}${w.created_by ? ' · ' + esc(t('by', { who: w.created_by })) : ''}</small></span></li>`).join('')
    : `<li class="muted">${esc(t('no_windows'))}</li>`;
}

// The edit form: filled from the device, checked field by field here
// with the server's rules, and the server's own answer shown under the
// field it names.
function fillForm() {
  $('m-name').value = dev.name || '';
  $('m-kind').innerHTML = KINDS.map((k) => `<option value="${k}" ${k === dev.kind ? 'selected' : ''}>${esc(kindLabel(k))}</option>`).join('');
  $('m-ip').value = dev.ip || '';
  const choices = peers.filter((d) => d.id !== dev.id && d.status !== 'ignored').sort((a, b) => a.id.localeCompare(b.id));
  $('m-parent').innerHTML = `<option value="">${esc(t('no_parent'))}</option>` + choices.map((d) =>
    `<option value="${esc(d.id)}" ${d.id === dev.parent ? 'selected' : ''}>${esc(d.name ? `${d.name} (${d.id})` : d.id)}</option>`).join('');
  const ro = !canWrite();
  for (const f of FIELDS) $('m-' + f).disabled = ro;
  $('m-save').disabled = ro;
  $('m-msg').textContent = ro ? t('read_only') : '';
}

function showFieldError(field, msg) {
  $('err-' + field).textContent = msg;
  $('m-' + field).setAttribute('aria-invalid', msg ? 'true' : 'false');
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
function checkForm(v) {
  const errs = {};
  if (new TextEncoder().encode(v.name.trim()).length > 200) errs.name = t('e_name');
  if (!KINDS.includes(v.kind)) errs.kind = t('e_kind');
  const ip = v.ip.trim();
  if (ip && !IPV4.test(ip) && !(ip.includes(':') && /^[0-9a-fA-F:.]+$/.test(ip))) errs.ip = t('e_ip');
  if (v.parent === dev.id) errs.parent = t('e_parent');
  return errs;
}

async function saveMeta(e) {
  e.preventDefault();
  if (!canWrite()) return;
  const v = Object.fromEntries(FIELDS.map((f) => [f, $('m-' + f).value]));
  const errs = checkForm(v);
  for (const f of FIELDS) showFieldError(f, errs[f] || '');
  if (Object.keys(errs).length) { $('m-msg').textContent = ''; return; }
  const was = { name: dev.name || '', kind: dev.kind, ip: dev.ip || '', parent: dev.parent || '' };
  const body = Object.fromEntries(FIELDS.filter((f) => v[f].trim() !== was[f]).map((f) => [f, v[f].trim()]));
  if (!Object.keys(body).length) { $('m-msg').textContent = t('e_nothing'); return; }
  $('m-msg').textContent = t('saving');
  try {
    dev = await api(base, { method: 'PATCH', body: JSON.stringify(body) });
    $('m-msg').textContent = t('saved');
    await load(false);
  } catch (err) {
    if (FIELDS.includes(err.field)) { showFieldError(err.field, err.message); $('m-msg').textContent = ''; }
    else $('m-msg').textContent = t('err', { m: err.message });
  }
}

function pageError(msg) { $('page-error').hidden = !msg; $('page-error').textContent = msg || ''; }

// load reads the device, the commune's devices and the history; withForm
// refills the edit form (not while the technician types).
async function load(withForm = true) {
  try {
    const [d, list, h] = await Promise.all([api(base), api(`/api/v1/devices?unit=${encodeURIComponent(unit)}`), api(`${base}/history`)]);
    dev = d; peers = list.devices; hist = h;
    pageError('');
  } catch (err) {
    if (err.message === '401') return false;
    pageError(err.field === 'id' || err.field === 'unit' ? t('not_found', { id, unit }) : t('err', { m: err.message }));
    return false;
  }
  render();
  if (withForm) fillForm();
  return true;
}

function render() {
  t.apply(); tzButton(); renderHead(); renderRanges(); renderHistory(); renderAlarms(); renderIncidents(); renderWindows();
}

$('ranges').addEventListener('click', (e) => {
  const b = e.target.closest('button[data-range]');
  if (!b) return;
  range = b.dataset.range;
  localStorage.setItem('communehub.device.range', range);
  renderRanges();
  drawChart().catch((err) => pageError(t('err', { m: err.message })));
});
$('metric').addEventListener('change', () => {
  localStorage.setItem('communehub.device.metric', $('metric').value);
  drawChart().catch((err) => pageError(t('err', { m: err.message })));
});
$('meta-form').addEventListener('submit', saveMeta);
for (const f of FIELDS) $('m-' + f).addEventListener('input', () => showFieldError(f, ''));
langToggle($('lang'), () => { render(); fillForm(); drawChart().catch(() => {}); });
$('tz').addEventListener('click', () => {
  toggleTZ();
  render(); drawChart().catch(() => {});
});
let resizeTimer = null;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => { if (plot) plot.setSize({ width: Math.max(300, $('chart').clientWidth), height: 300 }); }, 150);
});
// The status and the 1-hour chart follow the device; the others change slowly.
setInterval(async () => {
  if (await load(false)) { renderMetrics(); if (range === '1h') drawChart().catch(() => {}); }
}, 30000);

if (!['1h', '24h', '7d', '30d'].includes(range)) range = '24h';
t.apply(); tzButton(); renderRanges();
api('/api/v1/me').then(async (m) => {
  me = m;
  if (await load()) { renderMetrics(); await drawChart(); }
}).catch((err) => { if (err.message !== '401') pageError(t('err', { m: err.message })); });
