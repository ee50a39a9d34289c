import { translator, langToggle } from '/static/hub/i18n.js';

const t = translator({
  vi: {
    title: ' — Thông báo', channels: 'Kênh gửi', rules: 'Quy tắc: ai nhận gì', sends: 'Gửi gần đây',
    name: 'Tên', kind: 'Loại', rate: 'Tối đa / phút', enabled: 'Bật', save: 'Lưu', cancel: 'Huỷ', edit: 'Sửa',
    delete: 'Xoá', test: 'Gửi thử', send: 'Gửi', add_channel: 'Thêm kênh', edit_channel: 'Sửa kênh',
    add_rule: 'Thêm quy tắc', unit: 'Xã', all_units: 'mọi xã', kinds: 'Loại sự kiện', severity: 'Mức tối thiểu',
    recipients: 'Người nhận', quiet: 'Giờ yên lặng', quiet_from: 'Yên lặng từ (giờ VN)', quiet_to: 'đến',
    escalate: 'Báo tiếp sau (giây, 0 = mặc định)',
    recipients_help: 'Người nhận, mỗi dòng: mã kênh, địa chỉ (email / chat id / user id Zalo; webhook: -), cấp (0 báo đầu, 1 báo tiếp), tên người nhận (tuỳ chọn)',
    time: 'Lúc', phase: 'Giai đoạn', channel: 'Kênh', to: 'Tới', subject: 'Tiêu đề', state: 'Trạng thái',
    attempts: 'Lần thử', last_error: 'Lỗi gần nhất', none: 'Chưa có', every: 'tất cả', confirm_delete: 'Xoá {name}?',
    queued: 'đang chờ', sent: 'đã gửi', failed: 'thất bại', opened: 'mở', escalated: 'báo tiếp', recovered: 'khắc phục',
    host: 'Máy chủ SMTP', port: 'Cổng', security: 'Bảo mật', username: 'Tài khoản', password: 'Mật khẩu', from: 'Người gửi', ca_pem: 'Chứng chỉ CA của máy chủ thư (PEM, tuỳ chọn)',
    url: 'URL', secret: 'Khoá ký (≥ 16 ký tự)', token: 'Token của bot', access_token: 'Access token OA', base_url: 'URL API (để trống: mặc định)',
    keep_secret: '(để trống: giữ nguyên)', test_queued: 'Đã xếp hàng tin thử; xem bảng "Gửi gần đây".',
    device_down: 'Thiết bị mất kết nối', parent_down: 'Thiết bị cha mất kết nối', power_cut: 'Mất điện',
    agent_offline: 'Agent mất kết nối', alarm: 'Cảnh báo ngưỡng', broker_dropped: 'Broker bỏ tin', dossier_overdue: 'Hồ sơ quá hạn',
  },
  en: {
    title: ' — Notifications', channels: 'Channels', rules: 'Rules: who gets what', sends: 'Recent sends',
    name: 'Name', kind: 'Kind', rate: 'Max / minute', enabled: 'Enabled', save: 'Save', cancel: 'Cancel', edit: 'Edit',
    delete: 'Delete', test: 'Send a test message', send: 'Send', add_channel: 'Add a channel', edit_channel: 'Edit channel',
    add_rule: 'Add a rule', unit: 'Commune', all_units: 'every commune', kinds: 'Event kinds', severity: 'Minimum severity',
    recipients: 'Recipients', quiet: 'Quiet hours', quiet_from: 'Quiet from (Vietnam time)', quiet_to: 'to',
    escalate: 'Escalate after (seconds, 0 = default)',
    recipients_help: 'Recipients, one a line: channel id, address (email / chat id / Zalo user id; webhook: -), level (0 first, 1 escalation), name of the person (optional)',
    time: 'When', phase: 'Phase', channel: 'Channel', to: 'To', subject: 'Subject', state: 'State',
    attempts: 'Attempts', last_error: 'Last error', none: 'None yet', every: 'all', confirm_delete: 'Delete {name}?',
    queued: 'queued', sent: 'sent', failed: 'failed', opened: 'opened', escalated: 'escalated', recovered: 'recovered',
    host: 'SMTP server', port: 'Port', security: 'Security', username: 'Username', password: 'Password', from: 'From', ca_pem: 'Mail server CA certificate (PEM, optional)',
    url: 'URL', secret: 'Signing secret (≥ 16 characters)', token: 'Bot token', access_token: 'OA access token', base_url: 'API URL (empty: default)',
    keep_secret: '(empty: keep)', test_queued: 'Test message queued; see "Recent sends".',
    device_down: 'Device down', parent_down: 'Parent device down', power_cut: 'Power cut',
    agent_offline: 'Agent offline', alarm: 'Threshold alarm', broker_dropped: 'Broker dropping messages', dossier_overdue: 'Dossier overdue',
  },
});

const FIELDS = {
  email: [['host', 'text'], ['port', 'number'], ['security', ['starttls', 'tls', 'none']], ['username', 'text'], ['password', 'password'], ['from', 'email'], ['ca_pem', 'textarea']],
  webhook: [['url', 'url'], ['secret', 'password']],
  telegram: [['token', 'password'], ['base_url', 'url']],
  zalo: [['access_token', 'password'], ['base_url', 'url']],
};
const SECRET = ['password', 'secret', 'token', 'access_token'];
const KINDS = ['device_down', 'parent_down', 'power_cut', 'agent_offline', 'alarm', 'broker_dropped', 'dossier_overdue'];
const $ = (s) => document.querySelector(s);
let channels = []; let rules = []; let sends = [];

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) { if (k === 'class') e.className = v; else if (k.startsWith('on')) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v); }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k ?? '')));
  return e;
}

async function api(method, path, body) {
  const r = await fetch('/api/v1/alerts' + path, { method, headers: body ? { 'Content-Type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  if (r.status === 204) return null;
  const j = await r.json().catch(() => ({}));
  if (!r.ok) { const e = new Error(j.error?.message || r.statusText); e.field = j.error?.field; throw e; }
  return j;
}

// FORMS maps a form's key to its element, for placing a field's message.
const FORMS = { ch: '#chform', rule: '#ruleform', test: '#testform' };

// fieldInput finds the input an API error's field names: "config.url" is
// the input cfg.url, "recipients[0].to" the recipients box.
function fieldInput(form, field) {
  const f = $(FORMS[form]);
  if (!f || !field) return null;
  const name = field.startsWith('config.') ? 'cfg.' + field.slice(7) : field.replace(/\[.*$/, '');
  return f.querySelector(`[name="${CSS.escape(name)}"]`);
}

// showError puts err's message next to the field it names (under the
// form when it names none) and clears the form's earlier messages.
function showError(form, err) {
  for (const m of $(FORMS[form]).querySelectorAll('.msg')) m.remove();
  const p = document.querySelector(`.field-error[data-for="${form}"]`);
  const input = err && fieldInput(form, err.field);
  if (input) {
    input.closest('label').append(el('small', { class: 'msg field-error', 'data-for': err.field, role: 'alert' }, err.message));
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  }
  for (const i of $(FORMS[form]).querySelectorAll('[aria-invalid]')) if (i !== input) i.removeAttribute('aria-invalid');
  p.hidden = !err || !!input;
  p.textContent = err && !input ? (err.field ? `${err.field}: ` : '') + err.message : '';
}

function chFields(kind, cfg = {}) {
  const box = $('#chfields'); box.replaceChildren();
  for (const [name, type] of FIELDS[kind]) {
    let input;
    if (Array.isArray(type)) { input = el('select', { name: 'cfg.' + name }, ...type.map((o) => el('option', { value: o }, o))); input.value = cfg[name] || type[0]; }
    else if (type === 'textarea') { input = el('textarea', { name: 'cfg.' + name, rows: 2, placeholder: '-----BEGIN CERTIFICATE-----' }); input.value = cfg[name] ?? ''; }
    else { input = el('input', { name: 'cfg.' + name, type }); input.value = cfg[name] ?? ''; }
    if (SECRET.includes(name) && cfg[name + '_set']) input.placeholder = t('keep_secret');
    box.append(el('label', type === 'textarea' ? { class: 'wide' } : {}, el('span', {}, t(name)), input));
  }
}

function editChannel(ch) {
  const f = $('#chform');
  f.id.value = ch?.id ?? ''; f.name.value = ch?.name ?? ''; f.kind.value = ch?.kind ?? 'email';
  f.rate_per_min.value = ch?.rate_per_min ?? 30; f.enabled.checked = ch?.enabled ?? true;
  $('#chform-title').textContent = t(ch ? 'edit_channel' : 'add_channel');
  chFields(f.kind.value, ch?.config); showError('ch', null);
}

function editRule(r) {
  const f = $('#ruleform');
  f.id.value = r?.id ?? ''; f.name.value = r?.name ?? ''; f.unit.value = r?.unit ?? '';
  f.min_severity.value = r?.min_severity ?? 'warning'; f.quiet_from.value = r?.quiet_from ?? ''; f.quiet_to.value = r?.quiet_to ?? '';
  f.escalate_after_s.value = r?.escalate_after_s ?? 0;
  f.recipients.value = (r?.recipients ?? []).map((x) => `${x.channel} ${x.to || '-'} ${x.level}${x.name ? ' ' + x.name : ''}`).join('\n');
  for (const c of f.querySelectorAll('#kinds input')) c.checked = (r?.kinds ?? []).includes(c.value);
  showError('rule', null);
}

let testChannel = 0;
function render() {
  t.apply();
  const chName = (id) => channels.find((c) => c.id === id)?.name ?? `#${id}`;
  $('#channels tbody').replaceChildren(...(channels.length ? channels.map((c) => el('tr', {},
    el('td', {}, `#${c.id} ${c.name}`), el('td', {}, c.kind), el('td', {}, c.rate_per_min), el('td', {}, c.enabled ? '✓' : '—'),
    el('td', {}, el('button', { type: 'button', onclick: () => editChannel(c) }, t('edit')),
      el('button', { type: 'button', class: 'test', onclick: () => { testChannel = c.id; $('#test-to').value = ''; showError('test', null); $('#testdlg').showModal(); } }, t('test')),
      el('button', { type: 'button', class: 'secondary', onclick: async () => { if (confirm(t('confirm_delete', { name: c.name }))) { await api('DELETE', `/channels/${c.id}`); load(); } } }, t('delete')))))
    : [el('tr', {}, el('td', { colspan: 5 }, t('none')))]));
  $('#rules tbody').replaceChildren(...(rules.length ? rules.map((r) => el('tr', {},
    el('td', {}, r.name + (r.enabled ? '' : ' (—)')), el('td', {}, r.unit || t('every')), el('td', {}, r.kinds.length ? r.kinds.map((k) => t(k)).join(', ') : t('every')),
    el('td', {}, r.min_severity), el('td', {}, r.recipients.map((x) => `${x.name ? x.name + ' — ' : ''}${chName(x.channel)} ${x.to} [${x.level}]`).join('; ')),
    el('td', {}, r.quiet_from ? `${r.quiet_from}–${r.quiet_to}` : '—'),
    el('td', {}, el('button', { type: 'button', onclick: () => editRule(r) }, t('edit')),
      el('button', { type: 'button', class: 'secondary', onclick: async () => { if (confirm(t('confirm_delete', { name: r.name }))) { await api('DELETE', `/rules/${r.id}`); load(); } } }, t('delete')))))
    : [el('tr', {}, el('td', { colspan: 7 }, t('none')))]));
  const when = (s) => new Date(s).toLocaleString(document.documentElement.lang === 'en' ? 'en-GB' : 'vi-VN', { timeZone: 'Asia/Ho_Chi_Minh' });
  $('#sends tbody').replaceChildren(...(sends.length ? sends.map((s) => el('tr', {},
    el('td', {}, when(s.sent_at || s.created_at)), el('td', {}, t(s.phase)), el('td', {}, chName(s.channel)), el('td', {}, s.to),
    el('td', {}, s.subject), el('td', { class: 'state-' + s.state }, t(s.state)), el('td', {}, s.attempts), el('td', {}, s.last_error)))
    : [el('tr', {}, el('td', { colspan: 8 }, t('none')))]));
  const kinds = $('#kinds'); const checked = [...kinds.querySelectorAll('input:checked')].map((c) => c.value);
  kinds.replaceChildren(el('legend', {}, t('kinds')), ...KINDS.map((k) => {
    const c = el('input', { type: 'checkbox', value: k }); c.checked = checked.includes(k);
    return el('label', { class: 'inline' }, c, ' ' + t(k));
  }));
}

async function load() {
  try {
    [channels, rules, sends] = await Promise.all([api('GET', '/channels').then((j) => j.channels), api('GET', '/rules').then((j) => j.rules), api('GET', '/sends?limit=50').then((j) => j.sends)]);
    $('#error').hidden = true;
  } catch (e) { $('#error').hidden = false; $('#error').textContent = e.message; }
  render();
}

$('#chform').kind.addEventListener('change', (e) => chFields(e.target.value));
$('#chreset').addEventListener('click', () => editChannel(null));
$('#rulereset').addEventListener('click', () => editRule(null));
$('#chform').addEventListener('submit', async (e) => {
  e.preventDefault(); const f = e.target; const config = {};
  for (const i of f.querySelectorAll('[name^="cfg."]')) { const k = i.name.slice(4); if (i.value !== '') config[k] = i.type === 'number' ? Number(i.value) : i.value; }
  const body = { name: f.name.value, kind: f.kind.value, rate_per_min: Number(f.rate_per_min.value), enabled: f.enabled.checked, config };
  try { await api(f.id.value ? 'PUT' : 'POST', f.id.value ? `/channels/${f.id.value}` : '/channels', body); editChannel(null); load(); } catch (err) { showError('ch', err); }
});
$('#ruleform').addEventListener('submit', async (e) => {
  e.preventDefault(); const f = e.target;
  const recipients = f.recipients.value.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => {
    const [c, to, level, ...name] = l.split(/\s+/); return { channel: Number(c), to: to === '-' ? '' : (to ?? ''), level: Number(level ?? 0), name: name.join(' ') };
  });
  const body = { name: f.name.value, unit: f.unit.value, min_severity: f.min_severity.value, quiet_from: f.quiet_from.value, quiet_to: f.quiet_to.value,
    escalate_after_s: Number(f.escalate_after_s.value || 0), kinds: [...f.querySelectorAll('#kinds input:checked')].map((c) => c.value), recipients, enabled: true };
  try { await api(f.id.value ? 'PUT' : 'POST', f.id.value ? `/rules/${f.id.value}` : '/rules', body); editRule(null); load(); } catch (err) { showError('rule', err); }
});
$('#testform').addEventListener('submit', async (e) => {
  if (e.submitter?.value !== 'send') return;
  e.preventDefault();
  try {
    const { source } = await api('POST', `/channels/${testChannel}/test`, { to: $('#test-to').value });
    $('#testdlg').close(); $('#error').hidden = false; $('#error').textContent = t('test_queued');
    follow(source, Date.now() + 60000);
  }
  catch (err) { showError('test', err); }
});
// follow reloads the recent sends every second until the message of
// source has left the queue (or until the deadline).
async function follow(source, until) {
  await load();
  if (Date.now() < until && !sends.some((s) => s.source === source && s.state !== 'queued')) setTimeout(() => follow(source, until), 1000);
}

langToggle($('#lang'), () => { render(); editChannel(null); });
editChannel(null);
load();
setInterval(() => { if (!document.hidden) api('GET', '/sends?limit=50').then((j) => { sends = j.sends; render(); }).catch(() => {}); }, 10000);
