// The administrator's users page: the users with role, commune scope and
// status; a form to add or edit one (per-field messages from the API's
// error.field); a reset with its one-time password; the audit log.
import { translator, langToggle } from '/static/hub/i18n.js';

const t = translator({
  vi: {
    title: ' — Người dùng', account: 'Đổi mật khẩu của tôi', users: 'Người dùng', add: 'Thêm người dùng',
    username: 'Tên đăng nhập', display_name: 'Họ và tên', role: 'Vai trò', scope: 'Phạm vi', status: 'Trạng thái',
    last_seen: 'Hoạt động gần nhất', edit: 'Sửa', you: '(bạn)',
    role_admin: 'Quản trị viên', role_officer: 'Cán bộ', role_technician: 'Kỹ thuật viên', role_viewer: 'Chỉ xem',
    active: 'Hoạt động', disabled_st: 'Đã khóa', whole: 'Toàn hệ thống', never: 'chưa đăng nhập',
    scope_placeholder: 'ví dụ 03244', scope_hint: 'Mã xã (5 số) hoặc tỉnh (2 số); để trống: toàn hệ thống.',
    disable: 'Khóa tài khoản (kết thúc mọi phiên đăng nhập)',
    form_add: 'Thêm người dùng', form_edit: 'Sửa người dùng {u}', save_add: 'Thêm và tạo mật khẩu', save_edit: 'Lưu thay đổi',
    reset: 'Đặt lại mật khẩu', reset_confirm: 'Bấm lần nữa để đặt lại', cancel: 'Huỷ',
    reset_note: 'Đặt lại mật khẩu sẽ kết thúc mọi phiên đăng nhập của người này.',
    secret_add: 'Mật khẩu ban đầu của {u}', secret_reset: 'Mật khẩu mới của {u}',
    secret_once: 'Mật khẩu chỉ hiện một lần. Hãy chép và trao tận tay người dùng; họ nên đổi mật khẩu khi đăng nhập.',
    secret_done: 'Tôi đã chép mật khẩu', copy: 'Chép', copied: 'Đã chép',
    saved: 'Đã lưu.', added: 'Đã thêm {u}.',
    e_username: 'Tên đăng nhập gồm 1–64 ký tự, không có khoảng trắng hay dấu /.',
    e_username_taken: 'Đã có người dùng với tên đăng nhập này.',
    e_display_name: 'Họ tên tối đa 100 ký tự, không có ký tự điều khiển.',
    e_role: 'Hãy chọn một vai trò.',
    e_scope: 'Không có xã hoặc tỉnh nào đang dùng mã này.',
    e_scope_format: 'Mã xã gồm 5 chữ số, mã tỉnh 2 chữ số.',
    e_last_admin_role: 'Đây là quản trị viên cuối cùng còn hoạt động: hãy cấp quyền quản trị cho người khác trước.',
    e_last_admin_disable: 'Không thể khóa quản trị viên cuối cùng còn hoạt động.',
    e_other: 'Lỗi: {m}', e_down: 'Không kết nối được máy chủ.', e_forbidden: 'Chỉ quản trị viên được quản lý người dùng.',
    audit: 'Nhật ký quản trị', at: 'Thời gian (giờ VN)', actor: 'Người thực hiện', action: 'Hành động', target: 'Đối tượng',
    details: 'Chi tiết', more: 'Xem cũ hơn', no_audit: 'Chưa có thao tác nào.', cli: 'dòng lệnh',
    'a_user.add': 'Thêm người dùng', 'a_user.disable': 'Khóa tài khoản', 'a_user.enable': 'Mở khóa tài khoản',
    'a_user.role': 'Đổi vai trò', 'a_user.scope': 'Đổi phạm vi', 'a_user.rename': 'Đổi họ tên',
    'a_user.password_reset': 'Đặt lại mật khẩu', 'a_user.password_change': 'Tự đổi mật khẩu',
    'a_token.create': 'Tạo mã truy cập API', 'a_token.revoke': 'Thu hồi mã truy cập API',
    d_sessions: '{n} phiên đã kết thúc', d_signed: 'có chữ ký',
  },
  en: {
    title: ' — Users', account: 'Change my password', users: 'Users', add: 'Add user',
    username: 'Username', display_name: 'Full name', role: 'Role', scope: 'Scope', status: 'Status',
    last_seen: 'Last active', edit: 'Edit', you: '(you)',
    role_admin: 'Administrator', role_officer: 'Officer', role_technician: 'Technician', role_viewer: 'Viewer',
    active: 'Active', disabled_st: 'Disabled', whole: 'Whole hub', never: 'never logged in',
    scope_placeholder: 'e.g. 03244', scope_hint: 'A commune (5 digits) or province (2 digits) code; empty: the whole hub.',
    disable: 'Disable the account (ends every session)',
    form_add: 'Add a user', form_edit: 'Edit user {u}', save_add: 'Add and make a password', save_edit: 'Save changes',
    reset: 'Reset password', reset_confirm: 'Click again to reset', cancel: 'Cancel',
    reset_note: 'Resetting the password ends all of this user\'s sessions.',
    secret_add: 'Initial password of {u}', secret_reset: 'New password of {u}',
    secret_once: 'The password is shown once. Copy it and hand it to the user; they should change it when they log in.',
    secret_done: 'I have copied the password', copy: 'Copy', copied: 'Copied',
    saved: 'Saved.', added: '{u} added.',
    e_username: 'A username is 1–64 characters without spaces or slashes.',
    e_username_taken: 'A user with this username already exists.',
    e_display_name: 'A full name is at most 100 characters, without control characters.',
    e_role: 'Choose a role.',
    e_scope: 'No current commune or province has this code.',
    e_scope_format: 'A commune code has 5 digits, a province code 2.',
    e_last_admin_role: 'This is the last active administrator: make someone else an administrator first.',
    e_last_admin_disable: 'The last active administrator cannot be disabled.',
    e_other: 'Error: {m}', e_down: 'Cannot reach the server.', e_forbidden: 'Only administrators manage users.',
    audit: 'Administration log', at: 'Time (Vietnam)', actor: 'By', action: 'Action', target: 'Target',
    details: 'Details', more: 'Show older', no_audit: 'Nothing done yet.', cli: 'command line',
    'a_user.add': 'Added user', 'a_user.disable': 'Disabled account', 'a_user.enable': 'Enabled account',
    'a_user.role': 'Changed role', 'a_user.scope': 'Changed scope', 'a_user.rename': 'Renamed',
    'a_user.password_reset': 'Reset password', 'a_user.password_change': 'Changed own password',
    'a_token.create': 'Created API token', 'a_token.revoke': 'Revoked API token',
    d_sessions: '{n} sessions ended', d_signed: 'signed',
  },
});

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const form = $('form');
let me = null;
let users = [];
let entries = [];
let moreBefore = 0;
let editing = null;   // the user being edited, or null to add
let secret = null;    // {kind, user, password} shown once
let resetArmed = false;

async function api(path, opts = {}) {
  const r = await fetch(path, { credentials: 'same-origin', ...opts,
    headers: { 'Content-Type': 'application/json', ...(opts.headers || {}) } });
  const body = r.status === 204 ? null : await r.json().catch(() => null);
  if (r.status === 401) { location.href = '/login?next=' + encodeURIComponent(location.pathname); }
  return { ok: r.ok, status: r.status, body };
}

// when shows a time in Vietnam time whatever the browser's zone,
// dd/mm/yyyy hh:mm:ss in both languages.
const vnTime = new Intl.DateTimeFormat('en-GB', { timeZone: 'Asia/Ho_Chi_Minh', year: 'numeric', month: '2-digit',
  day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
const when = (iso) => {
  const p = Object.fromEntries(vnTime.formatToParts(new Date(iso)).map((x) => [x.type, x.value]));
  return `${p.day}/${p.month}/${p.year} ${p.hour}:${p.minute}:${p.second}`;
};
const roleName = (r) => t('role_' + r);

function renderUsers() {
  const rows = users.map((u) => `<tr class="${u.disabled ? 'off' : ''} ${editing && editing.id === u.id ? 'selected' : ''}" data-id="${u.id}">
    <td>${esc(u.username)} ${me && me.id === u.id ? `<span class="muted">${t('you')}</span>` : ''}</td>
    <td>${esc(u.display_name)}</td>
    <td>${esc(roleName(u.role))}</td>
    <td>${u.scope ? esc(u.scope) : `<span class="muted">${t('whole')}</span>`}</td>
    <td><span class="st ${u.disabled ? 'off' : ''}">${t(u.disabled ? 'disabled_st' : 'active')}</span></td>
    <td>${u.last_seen ? esc(when(u.last_seen)) : `<span class="muted">${t('never')}</span>`}</td>
    <td class="actions"><button type="button" class="secondary edit" data-id="${u.id}">${t('edit')}</button></td>
  </tr>`);
  $('users').tBodies[0].innerHTML = rows.join('');
}

function detailText(e) {
  const d = e.details || {};
  const parts = [];
  if ('from' in d || 'to' in d) {
    const show = (v) => (e.action === 'user.role' ? roleName(v) : e.action === 'user.scope' && !v ? t('whole') : v || '–');
    parts.push(`${show(d.from)} → ${show(d.to)}`);
  }
  if (e.action === 'user.add' || e.action === 'token.create') {
    parts.push(roleName(d.role));
    if (d.scope) parts.push(d.scope);
    if (d.signed) parts.push(t('d_signed'));
  }
  if (typeof d.sessions === 'number') parts.push(t('d_sessions', { n: d.sessions }));
  if (typeof d.other_sessions === 'number') parts.push(t('d_sessions', { n: d.other_sessions }));
  return parts.join(' · ');
}

function renderAudit() {
  const body = $('audit').tBodies[0];
  if (!entries.length) { body.innerHTML = `<tr><td colspan="6" class="muted">${t('no_audit')}</td></tr>`; return; }
  body.innerHTML = entries.map((e) => `<tr data-action="${esc(e.action)}">
    <td class="when">${esc(when(e.at))}</td>
    <td>${e.actor_kind === 'cli' ? `<span class="muted">${t('cli')}</span>` : esc(e.actor)}</td>
    <td>${esc(t('a_' + e.action))}</td>
    <td>${esc(e.target)}</td>
    <td>${esc(detailText(e))}</td>
    <td class="ip">${esc(e.ip)}</td>
  </tr>`).join('');
  $('more').hidden = !moreBefore;
}

function renderSecret() {
  $('secret').hidden = !secret;
  if (!secret) { $('secret-value').textContent = ''; return; }
  $('secret-title').textContent = t(secret.kind === 'add' ? 'secret_add' : 'secret_reset', { u: secret.user });
  $('secret-value').textContent = secret.password;
}

// Field messages: each error is [field, key or {text}] from the client's
// checks or the API's error.field.
let errors = [];
let notice = null;
function renderErrors() {
  form.querySelectorAll('.msg').forEach((el) => { el.textContent = ''; });
  form.querySelectorAll('.bad').forEach((el) => el.classList.remove('bad'));
  for (const [field, msg] of errors) {
    const el = form.querySelector(`.msg[data-for="${field}"]`) || form.querySelector('.msg[data-for=""]');
    el.textContent = typeof msg === 'string' ? t(msg) : t('e_other', { m: msg.text });
    const input = $(field);
    if (input) input.classList.add('bad');
  }
  if (!errors.length && notice) form.querySelector('.msg[data-for=""]').textContent = t(notice.key, notice.vars);
  form.querySelector('.msg[data-for=""]').classList.toggle('ok', !errors.length && !!notice);
}

function renderForm() {
  $('form-title').textContent = editing ? t('form_edit', { u: editing.username }) : t('form_add');
  $('save').textContent = t(editing ? 'save_edit' : 'save_add');
  $('f-username').hidden = !!editing;
  $('f-disabled').hidden = !editing;
  $('reset').hidden = !editing;
  $('reset-note').hidden = !editing;
  $('cancel').hidden = !editing;
  $('reset').textContent = t(resetArmed ? 'reset_confirm' : 'reset');
  renderErrors();
}

function render() { t.apply(); renderUsers(); renderAudit(); renderSecret(); renderForm(); }

function startEdit(u) {
  editing = u; resetArmed = false; errors = []; notice = null;
  $('display_name').value = u ? u.display_name : '';
  $('role').value = u ? u.role : 'viewer';
  $('scope').value = u ? u.scope : '';
  $('disabled').checked = u ? u.disabled : false;
  $('username').value = '';
  renderUsers(); renderForm();
  (u ? $('display_name') : $('username')).focus();
}

// apiErrors turns a refusal into field messages in the page's language.
function apiErrors(r) {
  const e = (r.body && r.body.error) || {};
  switch (e.field) {
    case 'username': return [['username', r.status === 409 ? 'e_username_taken' : 'e_username']];
    case 'display_name': return [['display_name', 'e_display_name']];
    case 'role': return [['role', r.status === 409 ? 'e_last_admin_role' : 'e_role']];
    case 'scope': return [['scope', 'e_scope']];
    case 'disabled': return [['disabled', r.status === 409 ? 'e_last_admin_disable' : { text: e.message }]];
  }
  if (r.status === 403) return [['', 'e_forbidden']];
  return [['', { text: e.message || String(r.status) }]];
}

async function load() {
  const [m, u] = await Promise.all([api('/api/v1/me'), api('/api/v1/users')]);
  if (m.ok) me = m.body;
  if (!u.ok) { $('load-error').hidden = false; $('load-error').textContent = apiErrors(u)[0][1] === 'e_forbidden' ? t('e_forbidden') : t('e_other', { m: u.status }); return; }
  users = u.body.users;
  if (editing) editing = users.find((x) => x.id === editing.id) || null;
  renderUsers();
}

async function loadAudit(older = false) {
  const q = older && moreBefore ? `?limit=50&before=${moreBefore}` : '?limit=50';
  const r = await api('/api/v1/audit' + q);
  if (!r.ok) return;
  entries = older ? entries.concat(r.body.entries) : r.body.entries;
  moreBefore = r.body.entries.length === 50 ? r.body.entries[49].id : 0;
  renderAudit();
}

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  errors = []; notice = null;
  const scope = $('scope').value.trim();
  if (!editing && !/^[^\s/]{1,64}$/.test($('username').value)) errors.push(['username', 'e_username']);
  if (scope && !/^(\d{2}|\d{5})$/.test(scope)) errors.push(['scope', 'e_scope_format']);
  if (errors.length) { renderErrors(); return; }
  const body = { display_name: $('display_name').value.trim(), role: $('role').value, scope };
  $('save').disabled = true;
  try {
    let r;
    if (editing) {
      r = await api(`/api/v1/users/${editing.id}`, { method: 'PATCH', body: JSON.stringify({ ...body, disabled: $('disabled').checked }) });
    } else {
      r = await api('/api/v1/users', { method: 'POST', body: JSON.stringify({ username: $('username').value, ...body }) });
    }
    if (!r.ok) { errors = apiErrors(r); renderErrors(); return; }
    if (editing) {
      notice = { key: 'saved' };
    } else {
      secret = { kind: 'add', user: r.body.user.username, password: r.body.password };
      notice = { key: 'added', vars: { u: r.body.user.username } };
      $('username').value = ''; $('display_name').value = ''; $('scope').value = '';
      renderSecret();
    }
    renderErrors();
    await Promise.all([load(), loadAudit()]);
  } catch { errors = [['', 'e_down']]; renderErrors(); } finally { $('save').disabled = false; }
});

$('reset').addEventListener('click', async () => {
  if (!editing) return;
  if (!resetArmed) { resetArmed = true; renderForm(); return; }
  resetArmed = false;
  const r = await api(`/api/v1/users/${editing.id}/password`, { method: 'POST' }).catch(() => null);
  if (!r || !r.ok) { errors = r ? apiErrors(r) : [['', 'e_down']]; renderForm(); return; }
  secret = { kind: 'reset', user: editing.username, password: r.body.password };
  renderSecret(); renderForm();
  await Promise.all([load(), loadAudit()]);
});

$('users').addEventListener('click', (ev) => {
  const b = ev.target.closest('button.edit');
  if (b) startEdit(users.find((u) => u.id === Number(b.dataset.id)));
});
$('new').addEventListener('click', () => startEdit(null));
$('cancel').addEventListener('click', () => startEdit(null));
$('more').addEventListener('click', () => loadAudit(true));
$('secret-done').addEventListener('click', () => { secret = null; renderSecret(); });
$('copy').addEventListener('click', async () => {
  try { await navigator.clipboard.writeText(secret.password); $('copy').textContent = t('copied'); } catch { /* select it by hand */ }
});

langToggle($('lang'), render);
render();
load();
loadAudit();
