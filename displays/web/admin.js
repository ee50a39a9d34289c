import { translator, langToggle } from '/static/hub/i18n.js';
import { api, fillUnits, scopeOf } from './staff-common.js';

const t = translator({
  vi: {
    nav: 'Màn hình', title: 'Màn hình hiển thị', showRevoked: 'Hiện cả màn hình đã thu hồi', pair: 'Ghép nối màn hình',
    name: 'Tên', scope: 'Phạm vi', layout: 'Bố cục', status: 'Trạng thái', lastSeen: 'Lần cuối', behind: 'Chậm',
    heap: 'Bộ nhớ JS', errors: 'Lỗi', lastCommand: 'Lệnh gần nhất', actions: 'Thao tác',
    online: 'trực tuyến', offline: 'ngoại tuyến', revoked: 'đã thu hồi', never: 'chưa kết nối',
    behindN: '{n} sự kiện', offlineSince: 'Ngoại tuyến từ {time}', upToDate: 'kịp thời', switching: 'đang chuyển',
    identify: 'Nhận diện', reload: 'Tải lại', switchTo: 'Chuyển bố cục…', revoke: 'Thu hồi', schedule: 'Lịch',
    schedulePrompt: 'Lịch chuyển bố cục (JSON), ví dụ [{"days":[1,2,3,4,5],"from":"08:00","to":"11:30","layout":"meeting"}]:',
    confirmRevoke: 'Thu hồi màn hình “{name}”? Màn hình sẽ quay về mã ghép nối.',
    waiting: 'chờ xác nhận…', acked: '✓ {result}', nacked: '✗ {result}', expired: 'không phản hồi',
    lCommune: 'Xã', lProvince: 'Tỉnh', lMeeting: 'Phòng họp', cInternal: 'Nội bộ', cPublic: 'Công khai',
    summary: '{online}/{total} màn hình trực tuyến · bản {build}', secAgo: '{n} giây trước', minAgo: '{n} phút trước', hourAgo: '{n} giờ trước',
    createTitle: 'Tạo màn hình bằng mã truy cập', createIntro: 'Dùng khi chuẩn bị nhiều màn hình: mở đường dẫn dưới đây trên TV. Mã chỉ hiện một lần.',
    province: 'Tỉnh', commune: 'Xã, phường', whole: '— Toàn tỉnh —', classification: 'Phân loại', create: 'Tạo',
    created: 'Mở trên TV: {url}',
  },
  en: {
    nav: 'Screens', title: 'Display screens', showRevoked: 'Show revoked screens', pair: 'Pair a screen',
    name: 'Name', scope: 'Scope', layout: 'Layout', status: 'Status', lastSeen: 'Last seen', behind: 'Behind',
    heap: 'JS heap', errors: 'Errors', lastCommand: 'Last command', actions: 'Actions',
    online: 'online', offline: 'offline', revoked: 'revoked', never: 'never connected',
    behindN: '{n} events', offlineSince: 'Offline since {time}', upToDate: 'up to date', switching: 'switching',
    identify: 'Identify', reload: 'Reload', switchTo: 'Switch layout…', revoke: 'Revoke', schedule: 'Schedule',
    schedulePrompt: 'Layout schedule (JSON), e.g. [{"days":[1,2,3,4,5],"from":"08:00","to":"11:30","layout":"meeting"}]:',
    confirmRevoke: 'Revoke screen “{name}”? It falls back to a pairing code.',
    waiting: 'waiting for ack…', acked: '✓ {result}', nacked: '✗ {result}', expired: 'no answer',
    lCommune: 'Commune', lProvince: 'Province', lMeeting: 'Meeting', cInternal: 'Internal', cPublic: 'Public',
    summary: '{online}/{total} screens online · build {build}', secAgo: '{n} s ago', minAgo: '{n} min ago', hourAgo: '{n} h ago',
    createTitle: 'Create a screen with an access token', createIntro: 'For provisioning many screens: open the link below on the TV. The token is shown once.',
    province: 'Province', commune: 'Commune', whole: '— Whole province —', classification: 'Classification', create: 'Create',
    created: 'Open on the TV: {url}',
  },
});
const $ = (id) => document.getElementById(id);
// "HH:MM dd/mm", Vietnam time, whatever the browser's zone.
const sinceFmt = new Intl.DateTimeFormat('en-GB', { timeZone: 'Asia/Ho_Chi_Minh', hour: '2-digit', minute: '2-digit', day: '2-digit', month: '2-digit', hour12: false });
function since(iso) {
  const p = Object.fromEntries(sinceFmt.formatToParts(new Date(iso)).map((x) => [x.type, x.value]));
  return `${p.hour}:${p.minute} ${p.day}/${p.month}`;
}
const layoutName = (l) => t({ commune: 'lCommune', province: 'lProvince', meeting: 'lMeeting' }[l] || l);

function ago(iso) {
  if (!iso) return t('never');
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 90) return t('secAgo', { n: s });
  if (s < 5400) return t('minAgo', { n: Math.round(s / 60) });
  return t('hourAgo', { n: Math.round(s / 3600) });
}

function cell(text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function button(label, onClick, cls = 'secondary') {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = cls;
  b.textContent = label;
  b.addEventListener('click', onClick);
  return b;
}

async function command(d, body) {
  try {
    await api('POST', `/api/v1/displays/${d.id}/commands`, body);
    refresh();
  } catch (err) { showError(err); }
}

function showError(err) {
  $('msg').className = 'error';
  $('msg').textContent = err.message;
}

function row(d) {
  const tr = document.createElement('tr');
  const st = d.status || {};
  tr.append(cell(String(d.id)), cell(d.name), cell(`${d.scope_name || ''} (${d.scope})`),
    cell(`${layoutName(d.active_layout)}${d.active_layout !== d.layout ? ` ← ${layoutName(d.layout)}` : ''} · ${t(d.classification === 'public' ? 'cPublic' : 'cInternal')}`));
  const status = document.createElement('td');
  const pill = document.createElement('span');
  const s = d.revoked_at ? 'revoked' : st.online ? 'online' : 'offline';
  pill.className = `pill ${s}`;
  pill.textContent = t(s);
  pill.title = [st.instance, st.remote_ip, st.build].filter(Boolean).join(' · ');
  status.append(pill);
  tr.append(status, cell(ago(st.last_seen), 'small'));
  let behind = '–';
  let behindCls = st.behind_by > 0 ? 'behind' : '';
  if (d.revoked_at) behind = '';
  else if (!st.online) {
    // An offline screen is not "behind": it shows nothing new at all. Its
    // lag would only count the events since it went away.
    behind = st.last_seen ? t('offlineSince', { time: since(st.last_seen) }) : t('never');
    behindCls = 'offline';
  }
  else if (st.behind_by === 0) behind = t('upToDate');
  else if (st.behind_by > 0) behind = t('behindN', { n: st.behind_by });
  else if (st.rendered_at) behind = t('switching');
  tr.append(cell(behind, behindCls));
  tr.append(cell(st.js_heap ? `${(st.js_heap / 1048576).toFixed(1)} MB` : '–', 'num'));
  const errs = cell(String(st.error_count || 0), 'num');
  if (st.errors && st.errors.length) errs.title = st.errors.join('\n');
  tr.append(errs);
  const c = d.last_command;
  let cmdText = '';
  if (c) {
    const res = c.acked_at ? t(c.ok ? 'acked' : 'nacked', { result: c.result || c.command })
      : Date.now() - Date.parse(c.created_at) > 120000 ? t('expired') : t('waiting');
    cmdText = `${c.command}: ${res}`;
  }
  tr.append(cell(cmdText, 'small'));
  const actions = document.createElement('td');
  actions.className = 'actions';
  if (!d.revoked_at) {
    const sel = document.createElement('select');
    sel.append(new Option(t('switchTo'), ''));
    for (const l of d.scope_level === 'province' ? ['province'] : ['commune', 'province', 'meeting']) sel.append(new Option(layoutName(l), l));
    sel.addEventListener('change', () => { if (sel.value) command(d, { command: 'layout', layout: sel.value }); });
    const sched = button(t('schedule'), async () => {
      const v = prompt(t('schedulePrompt'), JSON.stringify(d.schedule || []));
      if (v == null) return;
      try {
        await api('PATCH', `/api/v1/displays/${d.id}`, { schedule: JSON.parse(v) });
        refresh();
      } catch (err) { showError(err); }
    });
    sched.title = (d.schedule || []).map((e) => `${(e.days || []).join(',') || '*'} ${e.from}–${e.to} ${layoutName(e.layout)}`).join('\n');
    actions.append(button(t('identify'), () => command(d, { command: 'identify' })), ' ',
      button(t('reload'), () => command(d, { command: 'reload' })), ' ', sel, ' ', sched, ' ',
      button(t('revoke'), async () => {
        if (!confirm(t('confirmRevoke', { name: d.name }))) return;
        try { await api('DELETE', `/api/v1/displays/${d.id}`); refresh(); } catch (err) { showError(err); }
      }));
  }
  tr.append(actions);
  return tr;
}

let busy = false;
async function refresh() {
  if (busy) return;
  busy = true;
  try {
    const { displays, build } = await api('GET', `/api/v1/displays${$('all').checked ? '?all=true' : ''}`);
    $('rows').replaceChildren(...displays.map(row));
    const live = displays.filter((d) => !d.revoked_at);
    $('summary').textContent = t('summary', { online: live.filter((d) => d.status?.online).length, total: live.length, build });
    if ($('msg').className === 'error' && $('msg').dataset.sticky !== '1') { $('msg').textContent = ''; $('msg').className = ''; }
  } catch (err) { showError(err); } finally { busy = false; }
}

t.apply();
langToggle($('lang'), () => { t.apply(); refresh(); });
$('all').addEventListener('change', refresh);
await fillUnits($('cprovince'), $('ccommune'), t('whole'), { province: '11' });
$('create').addEventListener('submit', async (e) => {
  e.preventDefault();
  try {
    const res = await api('POST', '/api/v1/displays', {
      name: $('cname').value, scope: scopeOf($('cprovince'), $('ccommune')), layout: $('clayout').value, classification: $('cclass').value,
    });
    $('token').hidden = false;
    $('token').textContent = t('created', { url: `${location.origin}${res.url}` });
    $('cname').value = '';
    refresh();
  } catch (err) { showError(err); }
});
refresh();
setInterval(refresh, 2000);
