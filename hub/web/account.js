// The account page (/account): every logged-in user changes their own
// password (current + new, at least 8 characters, as the command line asks).
// Their other sessions end; this one stays.
import { translator, langToggle } from '/static/hub/i18n.js';

const t = translator({
  vi: {
    title: ' — Tài khoản', users: 'Quản lý người dùng', heading: 'Đổi mật khẩu', who: 'Đăng nhập với tên {u}',
    current: 'Mật khẩu hiện tại', new: 'Mật khẩu mới', again: 'Nhập lại mật khẩu mới', save: 'Đổi mật khẩu',
    policy: 'Ít nhất 8 ký tự, khác mật khẩu hiện tại.',
    e_current: 'Hãy nhập mật khẩu hiện tại.', e_current_wrong: 'Mật khẩu hiện tại không đúng.',
    e_new: 'Mật khẩu mới cần ít nhất 8 ký tự và khác mật khẩu hiện tại.', e_again: 'Hai lần nhập không khớp.',
    e_locked: 'Nhập sai quá nhiều lần. Thử lại sau {s} giây.', e_token: 'Mã truy cập API không có mật khẩu để đổi.',
    e_other: 'Lỗi: {m}', e_down: 'Không kết nối được máy chủ.',
    done: 'Đã đổi mật khẩu. Các phiên đăng nhập khác của bạn đã kết thúc.',
  },
  en: {
    title: ' — Account', users: 'Manage users', heading: 'Change password', who: 'Logged in as {u}',
    current: 'Current password', new: 'New password', again: 'New password again', save: 'Change password',
    policy: 'At least 8 characters, not the current one.',
    e_current: 'Enter your current password.', e_current_wrong: 'The current password is wrong.',
    e_new: 'The new password needs at least 8 characters and must differ from the current one.', e_again: 'The two entries differ.',
    e_locked: 'Too many wrong attempts. Try again in {s} s.', e_token: 'An API token has no password to change.',
    e_other: 'Error: {m}', e_down: 'Cannot reach the server.',
    done: 'Password changed. Your other sessions have ended.',
  },
});

const $ = (id) => document.getElementById(id);
const form = $('form');
let me = null;
let msgs = []; // [field, key, vars]
let done = false;

function render() {
  t.apply();
  $('who').textContent = me ? t('who', { u: me.name }) : '';
  $('users-link').hidden = !(me && me.role === 'admin');
  form.querySelectorAll('.msg').forEach((el) => { el.textContent = ''; el.classList.remove('ok'); });
  form.querySelectorAll('.bad').forEach((el) => el.classList.remove('bad'));
  for (const [field, key, vars] of msgs) {
    form.querySelector(`.msg[data-for="${field}"]`).textContent = t(key, vars);
    if (field) $(field).classList.add('bad');
  }
  if (done && !msgs.length) {
    const el = form.querySelector('.msg[data-for=""]');
    el.textContent = t('done');
    el.classList.add('ok');
  }
}

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  done = false;
  msgs = [];
  const current = $('current').value, next = $('new').value;
  if (!current) msgs.push(['current', 'e_current']);
  if (next.length < 8 || next === current) msgs.push(['new', 'e_new']);
  if ($('again').value !== next) msgs.push(['again', 'e_again']);
  if (msgs.length) { render(); return; }
  $('save').disabled = true;
  try {
    const r = await fetch('/api/v1/me/password', { method: 'PUT', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ current, new: next }) });
    if (r.status === 401) { location.href = '/login?next=/account'; return; }
    if (r.ok) {
      done = true;
      form.reset();
    } else {
      const e = ((await r.json().catch(() => ({}))).error) || {};
      if (r.status === 429) msgs.push(['current', 'e_locked', { s: r.headers.get('Retry-After') || '1' }]);
      else if (e.field === 'current') msgs.push(['current', r.status === 403 ? 'e_current_wrong' : 'e_current']);
      else if (e.field === 'new') msgs.push(['new', 'e_new']);
      else if (r.status === 403) msgs.push(['', 'e_token']);
      else msgs.push(['', 'e_other', { m: e.message || r.status }]);
    }
  } catch { msgs.push(['', 'e_down']); } finally { $('save').disabled = false; }
  render();
});

langToggle($('lang'), render);
render();
fetch('/api/v1/me', { credentials: 'same-origin' }).then((r) => (r.ok ? r.json() : null)).then((m) => { me = m; render(); });
