// Meeting list and scheduling for officers: create a meeting, invite,
// build the agenda and upload each item's documents.
import { translator, langToggle } from '/static/hub/i18n.js';

const t = translator({
  vi: {
    title: 'Lịch họp', meetings: 'Cuộc họp', unitCode: 'Mã xã/tỉnh', filter: 'Lọc', create: 'Tạo cuộc họp',
    mtitle: 'Tên cuộc họp', seats: 'Số thành viên (ghế)', startsDate: 'Ngày bắt đầu', startsTime: 'Giờ bắt đầu',
    endsDate: 'Ngày kết thúc (dự kiến)', endsTime: 'Giờ kết thúc', datePh: 'dd/mm/yyyy', timePh: 'hh:mm',
    timeHint: 'Ngày theo dạng ngày/tháng/năm (vd 09/12/2026), giờ theo 24 giờ (vd 14:30), giờ Việt Nam.', badDate: '{field}: cần ngày dạng ngày/tháng/năm, vd 09/12/2026',
    badTime: '{field}: cần giờ dạng giờ:phút (24 giờ), vd 14:30', noMeetings: 'Chưa có cuộc họp nào.',
    location: 'Địa điểm', online: 'Kết hợp trực tuyến', createBtn: 'Tạo', passRule: 'Điều kiện thông qua',
    quorumRule: 'Điều kiện đủ số', r_majority_of_seats: 'Quá nửa tổng số thành viên', r_two_thirds_of_seats: 'Hai phần ba tổng số thành viên',
    r_majority_of_present: 'Quá nửa số có mặt', r_majority_of_cast: 'Quá nửa số phiếu', r_more_yes_than_no: 'Đồng ý nhiều hơn không đồng ý',
    q_two_thirds_of_seats: 'Có mặt ít nhất 2/3', q_majority_of_seats: 'Có mặt quá nửa', q_none: 'Không yêu cầu',
    join: 'Vào phòng họp', paperless: 'Họp không giấy', cancel: 'Hủy cuộc họp', invitees: 'Thành phần mời',
    name: 'Họ tên', role: 'Vai trò', username: 'Tên đăng nhập', guestName: 'hoặc tên khách mời', position: 'Chức vụ',
    member: 'Thành viên', chair: 'Chủ trì', guest: 'Khách mời', observer: 'Quan sát', secretary: 'Thư ký',
    inviteBtn: 'Mời', agenda: 'Chương trình', itemTitle: 'Nội dung', presenter: 'Người trình bày', addItem: 'Thêm',
    upload: 'Tải tài liệu lên', remove: 'Xóa', up: '↑', down: '↓', newVersion: 'Phiên bản mới',
    link: 'Đường dẫn mời (chỉ hiện một lần, chỉ dùng được một lần): {url}', newLink: 'Cấp đường dẫn mới', limits: 'Tài liệu: {types}; tối đa {mb} MiB mỗi tệp.',
    scheduled: 'Chưa họp', open: 'Đang họp', closed: 'Đã họp', cancelled: 'Đã hủy', seatsN: '{n} ghế',
  },
  en: {
    title: 'Meetings', meetings: 'Meetings', unitCode: 'Commune/province code', filter: 'Filter', create: 'New meeting',
    mtitle: 'Title', seats: 'Seats (members)', startsDate: 'Start date', startsTime: 'Start time', endsDate: 'End date (planned)',
    endsTime: 'End time', datePh: 'dd/mm/yyyy', timePh: 'hh:mm',
    timeHint: 'Dates as day/month/year (e.g. 09/12/2026), times on the 24-hour clock (e.g. 14:30), Vietnam time.', badDate: '{field}: expected a date as dd/mm/yyyy, e.g. 09/12/2026',
    badTime: '{field}: expected a time as hh:mm (24-hour), e.g. 14:30', noMeetings: 'No meetings yet.', location: 'Location',
    online: 'Also online', createBtn: 'Create', passRule: 'Pass rule', quorumRule: 'Quorum rule',
    r_majority_of_seats: 'More than half of all seats', r_two_thirds_of_seats: 'Two thirds of all seats',
    r_majority_of_present: 'More than half of those present', r_majority_of_cast: 'More than half of votes cast',
    r_more_yes_than_no: 'More yes than no', q_two_thirds_of_seats: 'Two thirds present', q_majority_of_seats: 'More than half present',
    q_none: 'None', join: 'Join the meeting', paperless: 'Paperless view', cancel: 'Cancel meeting', invitees: 'Invitees',
    name: 'Name', role: 'Role', username: 'Username', guestName: 'or a guest\'s name', position: 'Position',
    member: 'Member', chair: 'Chair', guest: 'Guest', observer: 'Observer', secretary: 'Secretary', inviteBtn: 'Invite',
    agenda: 'Agenda', itemTitle: 'Item', presenter: 'Presenter', addItem: 'Add', upload: 'Upload a document',
    remove: 'Remove', up: '↑', down: '↓', newVersion: 'New version', link: 'Invite link (shown once, works once): {url}', newLink: 'New link',
    limits: 'Documents: {types}; at most {mb} MiB each.', scheduled: 'Scheduled', open: 'In session', closed: 'Held',
    cancelled: 'Cancelled', seatsN: '{n} seats',
  },
});

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
let selected = null, staff = true, limits = { types: [], max_bytes: 0 };

async function call(url, opts = {}) {
  $('msg').textContent = '';
  const headers = opts.json ? { 'Content-Type': 'application/json' } : {};
  const r = await fetch(url, { method: opts.method || 'GET', headers, body: opts.json ? JSON.stringify(opts.json) : undefined });
  if (r.status === 401) { location.href = `/login?next=${encodeURIComponent(location.pathname)}`; throw new Error('login'); }
  const body = r.status === 204 ? null : await r.json();
  if (!r.ok) { const e = body.error; $('msg').textContent = e.field ? `${e.message} (${e.field})` : e.message; throw e; }
  return body;
}

const when = (s) => new Date(s).toLocaleString(document.documentElement.lang === 'en' ? 'en-GB' : 'vi-VN', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'Asia/Ho_Chi_Minh' });

async function loadList() {
  const unit = $('unit').value.trim();
  const r = await call(`/api/v1/meetings${unit ? `?unit=${encodeURIComponent(unit)}` : ''}`);
  const ul = $('list'); ul.innerHTML = ''; ul.dataset.empty = t('noMeetings');
  for (const m of r.meetings) {
    const li = document.createElement('li');
    li.dataset.meeting = m.id;
    if (m.id === selected) li.className = 'sel';
    li.innerHTML = `${esc(m.title)} <span class="state">${esc(t(m.state))}</span><br><span class="muted">${esc(when(m.starts_at))} · ${esc(m.unit)}</span>`;
    li.addEventListener('click', () => { if (staff) select(m.id); else location.href = `/meetings/${m.id}`; });
    ul.append(li);
  }
}

async function select(id) {
  selected = id;
  const [d, docs] = await Promise.all([call(`/api/v1/meetings/${id}`), call(`/api/v1/meetings/${id}/documents`)]);
  limits = docs;
  const m = d.meeting;
  $('detail').hidden = false;
  $('dtitle').textContent = m.title;
  $('dmeta').textContent = `${when(m.starts_at)} · ${m.location || ''} · ${t('seatsN', { n: m.seats })} · ${t(m.state)}`;
  $('join').href = `/meetings/${id}`;
  $('paperless').href = `/meetings/${id}/paperless`;
  $('cancel').hidden = m.state !== 'scheduled';
  $('limits').textContent = t('limits', { types: docs.types.join(', '), mb: Math.round(docs.max_bytes / 1048576) });
  const tb = $('invitees'); tb.innerHTML = '';
  for (const i of d.invitees) {
    const tr = document.createElement('tr');
    tr.innerHTML = `<td>${esc(i.name)}<br><span class="muted">${esc(i.position)}</span></td><td>${esc(t(i.role))}${i.secretary ? `, ${esc(t('secretary'))}` : ''}</td><td></td>`;
    if (m.state === 'scheduled') tr.lastChild.append(btn(t('remove'), async () => { await call(`/api/v1/meetings/${id}/invitees/${i.id}`, { method: 'DELETE' }); select(id); }));
    if (i.has_invite_link && (m.state === 'scheduled' || m.state === 'open')) {
      // A guest whose link was used by someone else, or lost: the old link and whoever used it are out.
      tr.lastChild.append(btn(t('newLink'), async () => showLink(await call(`/api/v1/meetings/${id}/invitees/${i.id}/link`, { method: 'POST' }))));
    }
    tb.append(tr);
  }
  const ol = $('agenda'); ol.innerHTML = '';
  d.agenda.forEach((it, n) => {
    const li = document.createElement('li'); li.dataset.item = it.id;
    li.innerHTML = `<strong>${esc(it.title)}</strong>${it.presenter ? ` — ${esc(it.presenter)}` : ''} `;
    const move = (pos) => async () => { await call(`/api/v1/meetings/${id}/agenda/${it.id}`, { method: 'PUT', json: { title: it.title, presenter: it.presenter || '', notes: it.notes || '', position: pos } }); select(id); };
    if (n > 0) li.append(btn(t('up'), move(n)));
    if (n < d.agenda.length - 1) li.append(btn(t('down'), move(n + 2)));
    li.append(btn(t('remove'), async () => { await call(`/api/v1/meetings/${id}/agenda/${it.id}`, { method: 'DELETE' }); select(id); }));
    const docsUl = document.createElement('ul');
    for (const doc of d.documents.filter((x) => x.item === it.id)) {
      const v = doc.versions[doc.versions.length - 1];
      const dl = document.createElement('li');
      dl.innerHTML = `<a href="/api/v1/meetings/${id}/documents/${doc.id}/versions/${v.version}/content">${esc(doc.title)}</a> <span class="muted">v${v.version} · ${esc(v.filename)} · ${(v.size / 1024).toFixed(0)} KB</span> `;
      dl.append(uploader(`/api/v1/meetings/${id}/documents/${doc.id}/versions`, t('newVersion')));
      docsUl.append(dl);
    }
    li.append(docsUl, uploader(`/api/v1/meetings/${id}/documents?item=${it.id}`, t('upload')));
    ol.append(li);
  });
  loadList();
}

function btn(label, fn) {
  const b = document.createElement('button'); b.type = 'button'; b.className = 'secondary'; b.textContent = label;
  b.addEventListener('click', () => fn().catch(() => {}));
  return b;
}

// uploader sends the chosen file as the raw request body, showing progress.
function uploader(url, label) {
  const wrap = document.createElement('label'); wrap.className = 'muted';
  const input = document.createElement('input'); input.type = 'file';
  input.accept = limits.types.map((x) => `.${x}`).join(',');
  const prog = document.createElement('progress'); prog.hidden = true;
  wrap.append(` ${label}: `, input, prog);
  input.addEventListener('change', () => {
    const f = input.files[0]; if (!f) return;
    const ext = f.name.split('.').pop().toLowerCase();
    if (!limits.types.includes(ext)) { $('msg').textContent = `.${ext}: ${limits.types.join(', ')}`; return; }
    if (f.size > limits.max_bytes) { $('msg').textContent = `${f.name}: > ${Math.round(limits.max_bytes / 1048576)} MiB`; return; }
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `${url}${url.includes('?') ? '&' : '?'}filename=${encodeURIComponent(f.name)}`);
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    prog.hidden = false;
    xhr.upload.onprogress = (e) => { prog.max = e.total; prog.value = e.loaded; };
    xhr.onload = () => {
      prog.hidden = true;
      if (xhr.status >= 400) { try { $('msg').textContent = JSON.parse(xhr.responseText).error.message; } catch { $('msg').textContent = `HTTP ${xhr.status}`; } return; }
      select(selected);
    };
    xhr.onerror = () => { prog.hidden = true; $('msg').textContent = 'upload failed'; };
    xhr.send(f);
  });
  return wrap;
}

// vnTime reads a date (dd/mm/yyyy) and a time (hh:mm, 24-hour) typed in
// the form as Vietnam time and returns it in RFC 3339 with +07:00, or null
// when both are empty. A wrong one marks its input and throws the message.
// Text inputs, not <input type=date>, whose format follows the browser's
// locale (mm/dd/yyyy and 12-hour in an English browser).
function vnTime(dateIn, timeIn, required) {
  const d = dateIn.value.trim(), tm = timeIn.value.trim();
  dateIn.setCustomValidity(''); timeIn.setCustomValidity('');
  if (!d && !tm && !required) return null;
  const bad = (input, key) => { const m = t(key, { field: input.closest('label').firstElementChild.textContent }); input.setCustomValidity(m); throw new Error(m); };
  const dm = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(d);
  const day = dm && Number(dm[1]), mon = dm && Number(dm[2]), yr = dm && Number(dm[3]);
  if (!dm || mon < 1 || mon > 12 || day < 1 || day > new Date(Date.UTC(yr, mon, 0)).getUTCDate()) bad(dateIn, 'badDate');
  const tmm = /^([01]?\d|2[0-3])[:h.]([0-5]\d)$/.exec(tm);
  if (!tmm) bad(timeIn, 'badTime');
  const two = (n) => String(n).padStart(2, '0');
  return `${yr}-${two(mon)}-${two(day)}T${two(tmm[1])}:${tmm[2]}:00+07:00`;
}

$('filter').addEventListener('submit', (e) => { e.preventDefault(); loadList().catch(() => {}); });
$('create').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = e.target;
  let starts, ends;
  try {
    starts = vnTime(f.starts_date, f.starts_time, true);
    ends = vnTime(f.ends_date, f.ends_time, false);
  } catch (err) { $('msg').textContent = err.message; return; }
  const m = await call('/api/v1/meetings', { method: 'POST', json: {
    title: f.title.value, unit: f.unit.value.trim(), seats: Number(f.seats.value), starts_at: starts,
    ends_at: ends, location: f.location.value, online: f.online.checked,
    pass_rule: f.pass_rule.value, quorum_rule: f.quorum_rule.value } }).catch(() => null);
  if (m) { f.reset(); select(m.id); }
});
$('invite').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = e.target;
  const r = await call(`/api/v1/meetings/${selected}/invitees`, { method: 'POST', json: {
    username: f.username.value.trim(), name: f.name.value.trim(), position: f.position.value.trim(), role: f.role.value, secretary: f.secretary.checked } }).catch(() => null);
  if (!r) return;
  f.reset();
  showLink(r);
  select(selected);
});

function showLink(r) {
  $('token').hidden = !r.invite_url;
  if (r.invite_url) $('token').textContent = t('link', { url: `${location.origin}${r.invite_url}` });
}
$('item').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = e.target;
  const r = await call(`/api/v1/meetings/${selected}/agenda`, { method: 'POST', json: { title: f.title.value, presenter: f.presenter.value } }).catch(() => null);
  if (r) { f.reset(); select(selected); }
});
$('cancel').addEventListener('click', async () => { await call(`/api/v1/meetings/${selected}/cancel`, { method: 'POST' }).catch(() => {}); select(selected); });

t.apply();
langToggle($('lang'), () => { t.apply(); loadList().catch(() => {}); if (selected) select(selected).catch(() => {}); });
const me = await call('/api/v1/me').catch(() => null);
staff = !!me && (me.role === 'admin' || me.role === 'officer');
if (!staff) { $('side').hidden = true; $('cols').classList.add('no-create'); }
const unit = new URLSearchParams(location.search).get('unit');
if (unit) $('unit').value = unit;
await loadList().catch(() => {});
const sel = Number(new URLSearchParams(location.search).get('meeting'));
if (sel && staff) await select(sel).catch(() => {});
document.body.dataset.ready = 'true';
