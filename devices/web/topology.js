// The topology view: the commune LAN as a tree built from each device's
// parent (router → switches → APs, cameras, PCs), coloured by status and
// kept live over /ws (commune/{unit}/devices). A down device shows how many
// devices behind it cannot be reached, and its subtree is greyed.
import { translator, langToggle, lang } from '/static/hub/i18n.js';
import { $, esc, api, initialUnit, unitInput, liveTopic } from '/static/devices/workbench.js';

const t = translator({
  vi: {
    title: 'Sơ đồ mạng', unit: 'Xã', live: 'Trực tiếp', offline: 'Mất kết nối',
    nav_devices: 'Thiết bị', nav_topology: 'Sơ đồ mạng', nav_rules: 'Cảnh báo & bảo trì', nav_provision: 'Cấp phát',
    online: 'Hoạt động', offline_st: 'Mất kết nối', unreachable: 'Không truy cập được', unknown: 'Không rõ',
    flapping: 'Chập chờn', unregistered: 'Chưa đăng ký',
    behind: '{n} thiết bị không truy cập được', behind_ok: '{n} thiết bị phía sau',
    down_title: '{name} mất kết nối — {n} thiết bị không truy cập được',
    no_devices: 'Chưa có thiết bị nào gửi dữ liệu.', maint: 'bảo trì', agent: 'qua tác tử {a}',
    lost_parent: 'thiết bị cha {p} không có trong danh sách', unit_bad: 'Mã xã gồm 5 chữ số', err: 'Lỗi: {m}',
    router: 'router', switch: 'switch', ap: 'wifi', camera: 'camera', pc: 'máy tính', printer: 'máy in', ups: 'UPS', agent_k: 'tác tử', other: 'khác',
  },
  en: {
    title: 'Network map', unit: 'Commune', live: 'Live', offline: 'Disconnected',
    nav_devices: 'Devices', nav_topology: 'Network map', nav_rules: 'Alarms & maintenance', nav_provision: 'Provisioning',
    online: 'Online', offline_st: 'Offline', unreachable: 'Unreachable', unknown: 'Unknown',
    flapping: 'Flapping', unregistered: 'Unregistered',
    behind: '{n} devices unreachable', behind_ok: '{n} devices behind',
    down_title: '{name} down — {n} devices unreachable',
    no_devices: 'No device has reported yet.', maint: 'maintenance', agent: 'via agent {a}',
    lost_parent: 'parent {p} is not in the list', unit_bad: 'A commune code has 5 digits', err: 'Error: {m}',
    router: 'router', switch: 'switch', ap: 'AP', camera: 'camera', pc: 'PC', printer: 'printer', ups: 'UPS', agent_k: 'agent', other: 'other',
  },
});

let unit = initialUnit();
let devices = [];     // GET /api/v1/devices
let snap = null;      // last commune/{unit}/devices event: incidents
let wsOpen = false;
let stop = null;

const down = (d) => d.status === 'offline' || d.status === 'unreachable';
const statusLabel = (s) => (s === 'offline' ? t('offline_st') : t(s));
const kindLabel = (k) => (k === 'agent' ? t('agent_k') : t(k || 'other'));
const kindRank = { router: 0, ups: 1, switch: 2, agent: 3, ap: 4, camera: 5, pc: 6, printer: 7, other: 8 };

// build makes the forest: a device hangs under its parent when the parent
// is listed; a loop (a → b → a) is cut where it closes.
function build(list) {
  const byId = new Map(list.map((d) => [d.id, { d, kids: [] }]));
  const roots = [];
  for (const n of byId.values()) {
    const p = n.d.parent && n.d.parent !== n.d.id ? byId.get(n.d.parent) : null;
    let loop = false;
    for (let a = p, i = 0; a && i < 64; a = a.d.parent ? byId.get(a.d.parent) : null, i++) if (a === n) { loop = true; break; }
    if (p && !loop) p.kids.push(n); else roots.push(n);
  }
  const sort = (ns) => ns.sort((a, b) => (kindRank[a.d.kind] ?? 9) - (kindRank[b.d.kind] ?? 9) || (a.d.name || a.d.id).localeCompare(b.d.name || b.d.id));
  const walk = (ns) => { sort(ns); ns.forEach((n) => walk(n.kids)); };
  walk(roots);
  return { roots, byId };
}

const count = (n) => n.kids.reduce((a, k) => a + 1 + count(k), 0);
const countDown = (n) => n.kids.reduce((a, k) => a + (down(k.d) ? 1 : 0) + countDown(k), 0);

// nodeHTML renders a device and its subtree; cut says an ancestor is down.
function nodeHTML(n, cut, byId) {
  const d = n.d;
  const total = count(n), hidden = countDown(n);
  const isRoot = d.status === 'offline' && hidden > 0; // the failure the others are behind
  let behind = '';
  if (isRoot) behind = `<span class="behind">${esc(t('behind', { n: hidden }))}</span>`;
  else if (total) behind = `<span class="meta">${esc(t('behind_ok', { n: total }))}</span>`;
  const extra = [d.ip, d.agent && t('agent', { a: d.agent }), d.parent && !byId.has(d.parent) && t('lost_parent', { p: d.parent })].filter(Boolean).join(' · ');
  const kids = n.kids.length ? `<ul>${n.kids.map((k) => nodeHTML(k, cut || down(d), byId)).join('')}</ul>` : '';
  // Greyed: down behind a down ancestor (a device still heard from is not).
  return `<li data-id="${esc(d.id)}" data-status="${esc(d.status)}"${cut && down(d) ? ' class="cut"' : ''}>
    <div class="node ${esc(d.status)}"><span class="kind">${esc(kindLabel(d.kind))}</span>
      <a href="/devices/${esc(unit)}/${encodeURIComponent(d.id)}">${esc(d.name || d.id)}</a>
      <span class="st ${esc(d.status)}">${esc(statusLabel(d.status))}</span>
      ${d.maintenance ? `<span class="maint">${esc(t('maint'))}</span>` : ''}
      ${extra ? `<span class="meta">${esc(extra)}</span>` : ''}${behind}</div>${kids}</li>`;
}

function renderTree() {
  const { roots, byId } = build(devices.filter((d) => d.status !== 'ignored'));
  $('tree').innerHTML = roots.length ? roots.map((n) => nodeHTML(n, false, byId)).join('')
    : `<li class="muted">${esc(t('no_devices'))}</li>`;
  const c = {};
  for (const d of devices) c[d.status] = (c[d.status] || 0) + 1;
  $('legend').innerHTML = ['online', 'offline', 'unreachable', 'unknown', 'flapping', 'unregistered']
    .map((s) => `<span class="st ${s}" data-count="${s}">${esc(statusLabel(s))}: ${c[s] || 0}</span>`).join('');
}

// The incidents of the snapshot head the page: "Switch tầng 2 mất kết nối
// — 4 thiết bị không truy cập được", as the hub words them.
function renderProblems() {
  const list = snap?.incidents || [];
  $('problems').innerHTML = list.map((i) => `<div class="problem ${esc(i.kind)}" data-root="${esc(i.root_device)}">
    ${esc(lang() === 'en' ? i.title_en : i.title)}</div>`).join('');
}

function renderLive() { $('live').className = wsOpen ? 'live' : 'live off'; $('live').textContent = t(wsOpen ? 'live' : 'offline'); }
function render() { t.apply(); renderLive(); renderTree(); renderProblems(); }

async function refresh() {
  try {
    const [list, s] = await Promise.all([api(`/api/v1/devices?unit=${unit}`), api(`/api/v1/devices/snapshot?unit=${unit}`)]);
    devices = list.devices;
    if (!snap || Date.parse(s.as_of) >= Date.parse(snap.as_of)) snap = s;
    $('err').hidden = true;
    render();
  } catch (e) {
    if (e.status !== 401) { $('err').hidden = false; $('err').textContent = t('err', { m: e.message }); }
  }
}

// An event says the commune changed; the device list follows at once when
// a count or incident changed, else at most every 2 s (telemetry only).
let timer = null, last = 0;
function schedule(urgent) {
  if (timer) { if (!urgent) return; clearTimeout(timer); }
  const wait = urgent ? 0 : Math.max(0, 2000 - (Date.now() - last));
  timer = setTimeout(() => { timer = null; last = Date.now(); refresh(); }, wait);
}

function onEvent(data) {
  const key = (x) => JSON.stringify([x?.counts, x?.incidents?.map((i) => i.id + i.affected)]);
  const urgent = key(snap) !== key(data);
  if (!snap || Date.parse(data.as_of) >= Date.parse(snap.as_of)) snap = data;
  renderProblems();
  schedule(urgent);
}

function start() {
  stop?.();
  snap = null;
  refresh();
  stop = liveTopic(`commune/${unit}/devices`, onEvent, (open) => { wsOpen = open; renderLive(); if (open) refresh(); });
}

unitInput($('unit'), unit, () => t('unit_bad'), (u) => { unit = u; start(); });
langToggle($('lang'), render);
setInterval(refresh, 30000);
t.apply();
renderLive();
start();
