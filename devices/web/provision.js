// Provisioning: the devices that appeared on their own (unregistered),
// registered with a name, kind and parent; MQTT credentials per device or
// per commune, with the password shown once and the Mosquitto and
// Telegraf lines ready to paste (the hub writes them: GET never returns
// a password again).
import { translator, langToggle, lang } from '/static/hub/i18n.js';
import { $, esc, api, initialUnit, unitInput, clearErrors, showError, fmtVN } from '/static/devices/workbench.js';

const t = translator({
  vi: {
    unit: 'Xã', nav_devices: 'Thiết bị', nav_topology: 'Sơ đồ mạng', nav_rules: 'Cảnh báo & bảo trì', nav_provision: 'Cấp phát',
    unregistered: 'Thiết bị chưa đăng ký',
    unregistered_help: 'Thiết bị tự xuất hiện (gửi số liệu mà chưa khai báo, hoặc được tác tử Telegraf đo). Đăng ký để đặt tên, loại và thiết bị cha.',
    device: 'Thiết bị', agent: 'Tác tử', last_seen: 'Lần cuối', register: 'Đăng ký', ignore: 'Bỏ qua', cancel: 'Huỷ', close: 'Đóng',
    adopt_title: 'Đăng ký {id}', name: 'Tên', kind: 'Loại', parent: 'Thiết bị cha', no_parent: '(không có — gốc mạng)',
    with_cred: 'Tạo luôn thông tin đăng nhập MQTT riêng', no_unreg: 'Không có thiết bị nào chưa đăng ký.',
    creds: 'Thông tin đăng nhập MQTT',
    creds_help: 'Mỗi thiết bị một tài khoản (chỉ được gửi vào chủ đề của chính nó), hoặc một tài khoản cho cả xã (cổng, Telegraf). Mật khẩu chỉ hiện một lần.',
    cred_device: 'Mã thiết bị', whole_unit: 'để trống: cả xã', cred_create: 'Tạo thông tin đăng nhập',
    username: 'Tên đăng nhập', password: 'Mật khẩu', created: 'Tạo lúc', state: 'Trạng thái', active: 'đang dùng', revoked: 'đã thu hồi {t}',
    revoke: 'Thu hồi', revoke_q: 'Thu hồi {u}? Thiết bị dùng nó sẽ bị từ chối từ lần kết nối sau.', whole: 'cả xã', no_creds: 'Chưa có thông tin đăng nhập nào.',
    result: 'Thông tin đăng nhập mới', once: 'Mật khẩu chỉ hiện lần này: hãy dán vào thiết bị ngay. Hub chỉ lưu mã băm.',
    sn_mosq_pw: 'Mosquitto: password_file', sn_mosq_pw_help: 'Chỉ khi dùng Mosquitto riêng: thêm dòng này vào password_file rồi gửi SIGHUP cho mosquitto. Broker nhúng của hub đã nhận ngay.',
    sn_mosq_acl: 'Mosquitto: acl_file', sn_mosq_acl_help: 'Quyền của tài khoản này (chỉ chủ đề của nó).',
    sn_telegraf: 'Telegraf (telegraf.conf)', sn_pub: 'Thử bằng mosquitto_pub',
    readonly: 'Chỉ kỹ thuật viên và quản trị viên được đăng ký thiết bị và tạo thông tin đăng nhập.',
    unit_bad: 'Mã xã gồm 5 chữ số', err: 'Lỗi: {m}', never: 'chưa bao giờ',
    'must be 1–64 of A-Z a-z 0-9 _ . -': 'Mã thiết bị gồm 1–64 ký tự A-Z a-z 0-9 _ . -', 'must be a device id': 'Phải là mã thiết bị',
    'must be one of router, switch, ap, camera, pc, printer, ups, agent, other': 'Phải là router, switch, ap, camera, pc, printer, ups, agent hoặc other',
  },
  en: {
    unit: 'Commune', nav_devices: 'Devices', nav_topology: 'Network map', nav_rules: 'Alarms & maintenance', nav_provision: 'Provisioning',
    unregistered: 'Unregistered devices',
    unregistered_help: 'Devices that appeared on their own (telemetry without meta, or a Telegraf agent\'s target). Register one to give it a name, kind and parent.',
    device: 'Device', agent: 'Agent', last_seen: 'Last seen', register: 'Register', ignore: 'Ignore', cancel: 'Cancel', close: 'Close',
    adopt_title: 'Register {id}', name: 'Name', kind: 'Kind', parent: 'Parent device', no_parent: '(none — top of the LAN)',
    with_cred: 'Also create its own MQTT login', no_unreg: 'No unregistered devices.',
    creds: 'MQTT credentials',
    creds_help: 'One login per device (it may only publish under its own topics), or one for the whole commune (a gateway, Telegraf). The password is shown once.',
    cred_device: 'Device id', whole_unit: 'empty: whole commune', cred_create: 'Create credential',
    username: 'Username', password: 'Password', created: 'Created', state: 'State', active: 'active', revoked: 'revoked {t}',
    revoke: 'Revoke', revoke_q: 'Revoke {u}? Devices using it are refused from their next connection.', whole: 'whole commune', no_creds: 'No credentials yet.',
    result: 'New credential', once: 'The password is shown this once: paste it into the device now. The hub keeps only a hash.',
    sn_mosq_pw: 'Mosquitto: password_file', sn_mosq_pw_help: 'With your own Mosquitto only: add this line to its password_file and send mosquitto a SIGHUP. The hub\'s embedded broker takes it at once.',
    sn_mosq_acl: 'Mosquitto: acl_file', sn_mosq_acl_help: 'This login\'s rights (its own topics only).',
    sn_telegraf: 'Telegraf (telegraf.conf)', sn_pub: 'Try it with mosquitto_pub',
    readonly: 'Only technicians and admins may register devices and create credentials.',
    unit_bad: 'A commune code has 5 digits', err: 'Error: {m}', never: 'never',
  },
});
const tr = (m) => (lang() === 'vi' ? t(m) : m);

let unit = initialUnit();
let me = { role: 'viewer' };
let devices = [], creds = [];
let adopting = null;
const canWrite = () => me.role === 'technician' || me.role === 'admin';

function showErr(e) { $('err').hidden = !e; $('err').textContent = e ? t('err', { m: e.message }) : ''; }

function renderUnreg() {
  const list = devices.filter((d) => d.registration === 'unregistered');
  $('unreg').tBodies[0].innerHTML = list.length ? list.map((d) => `<tr data-id="${esc(d.id)}">
    <td><strong>${esc(d.name || d.id)}</strong> <small class="muted">${esc(d.id)}</small></td><td>${esc(d.ip)}</td><td>${esc(d.agent || '')}</td>
    <td>${esc(d.last_seen ? fmtVN(d.last_seen, lang()) : t('never'))}</td>
    <td class="acts">${canWrite() ? `<button data-adopt="${esc(d.id)}">${esc(t('register'))}</button>
      <button class="secondary" data-ignore="${esc(d.id)}">${esc(t('ignore'))}</button>` : ''}</td></tr>`).join('')
    : `<tr><td colspan="5" class="muted">${esc(t('no_unreg'))}</td></tr>`;
}

function renderCreds() {
  $('creds').tBodies[0].innerHTML = creds.length ? creds.map((c) => `<tr data-cred="${c.id}">
    <td><code>${esc(c.username)}</code></td><td>${esc(c.device || t('whole'))}</td><td>${esc(fmtVN(c.created_at, lang()))}</td>
    <td>${esc(c.revoked_at ? t('revoked', { t: fmtVN(c.revoked_at, lang()) }) : t('active'))}</td>
    <td class="acts">${canWrite() && !c.revoked_at ? `<button class="secondary" data-revoke="${c.id}" data-user="${esc(c.username)}">${esc(t('revoke'))}</button>` : ''}</td></tr>`).join('')
    : `<tr><td colspan="5" class="muted">${esc(t('no_creds'))}</td></tr>`;
}

function render() {
  t.apply();
  $('readonly').hidden = canWrite();
  $('cred-form').hidden = !canWrite();
  if (adopting) $('adopt-title').textContent = t('adopt_title', { id: adopting.id });
  const parent = $('adopt-form').parent, keep = parent.value;
  parent.innerHTML = `<option value="">${esc(t('no_parent'))}</option>` + devices.filter((d) => d.registration === 'registered' && d.id !== adopting?.id)
    .map((d) => `<option value="${esc(d.id)}">${esc(d.name || d.id)} (${esc(d.kind)})</option>`).join('');
  parent.value = keep;
  renderUnreg(); renderCreds();
}

async function load() {
  try {
    const d = await api(`/api/v1/devices?unit=${unit}`);
    devices = d.devices;
    $('device-ids').innerHTML = devices.map((x) => `<option value="${esc(x.id)}">${esc(x.name || '')}</option>`).join('');
    creds = canWrite() ? (await api(`/api/v1/device-credentials?unit=${unit}`)).credentials : [];
    showErr(null);
    render();
  } catch (e) { if (e.status !== 401) showErr(e); }
}

function showResult(r) {
  $('res-user').textContent = r.credential.username;
  $('res-pass').textContent = r.password;
  $('sn-pw').textContent = r.snippets.mosquitto_password;
  $('sn-acl').textContent = r.snippets.mosquitto_acl;
  $('sn-telegraf').textContent = r.snippets.telegraf;
  $('sn-pub-box').hidden = !r.snippets.mosquitto_pub;
  $('sn-pub').textContent = r.snippets.mosquitto_pub || '';
  $('result').hidden = false;
  $('result').scrollIntoView({ block: 'start' });
}

async function createCred(device) {
  const r = await api('/api/v1/device-credentials', { method: 'POST', body: JSON.stringify({ unit, device }) });
  showResult(r);
  await load();
}

$('adopt-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = e.target;
  clearErrors(f);
  const d = adopting;
  try {
    // The device's own address and place are kept: adopt replaces the meta.
    await api(`/api/v1/devices/${unit}/${encodeURIComponent(d.id)}/adopt`, { method: 'POST', body: JSON.stringify({
      name: f.devname.value.trim(), kind: f.kind.value, parent: f.parent.value, ip: d.ip || '', mac: d.mac || '', location: d.location || '' }) });
    if (f.cred.checked) await createCred(d.id);
    f.hidden = true; adopting = null;
    await load();
  } catch (err) { if (err.status !== 401) showError(f, err, tr); }
});

$('cred-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = e.target;
  clearErrors(f);
  try { await createCred(f.device.value.trim()); f.device.value = ''; } catch (err) { if (err.status !== 401) showError(f, err, tr); }
});

document.addEventListener('click', async (e) => {
  const b = e.target.closest('button');
  if (!b) return;
  try {
    if (b.dataset.adopt) {
      adopting = devices.find((d) => d.id === b.dataset.adopt);
      const f = $('adopt-form');
      clearErrors(f);
      render();
      f.devname.value = adopting.name || adopting.id; f.kind.value = adopting.kind || 'other'; f.parent.value = adopting.parent || ''; f.cred.checked = false;
      f.hidden = false; f.devname.focus();
    } else if (b.dataset.ignore) {
      await api(`/api/v1/devices/${unit}/${encodeURIComponent(b.dataset.ignore)}/ignore`, { method: 'POST' }); await load();
    } else if (b.dataset.revoke) {
      if (!confirm(t('revoke_q', { u: b.dataset.user }))) return;
      await api(`/api/v1/device-credentials/${b.dataset.revoke}`, { method: 'DELETE' }); await load();
    } else if (b.hasAttribute('data-cancel')) {
      b.closest('form').hidden = true; adopting = null;
    } else if (b.id === 'result-close') {
      $('result').hidden = true;
      ['res-pass', 'sn-pw', 'sn-telegraf', 'sn-pub'].forEach((id) => { $(id).textContent = ''; }); // the password leaves the page
    }
  } catch (err) { if (err.status !== 401) showErr(err); }
});

unitInput($('unit'), unit, () => t('unit_bad'), (u) => { unit = u; $('result').hidden = true; load(); });
langToggle($('lang'), render);
t.apply();
api('/api/v1/me').then((m) => { me = m; load(); }).catch(() => {});
