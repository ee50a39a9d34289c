// Alarm rules and maintenance windows, edited in the page: list, add,
// edit, delete. The API checks every field; its error names the field and
// the message is shown next to it (in Vietnamese when the page knows the
// message, else as the hub wrote it).
import { translator, langToggle, lang } from '/static/hub/i18n.js';
import { $, esc, api, initialUnit, unitInput, clearErrors, showError, fmtVN, toLocalInput, fromLocalInput } from '/static/devices/workbench.js';

const t = translator({
  vi: {
    unit: 'Xã', nav_devices: 'Thiết bị', nav_topology: 'Sơ đồ mạng', nav_rules: 'Cảnh báo & bảo trì', nav_provision: 'Cấp phát',
    rules: 'Quy tắc cảnh báo', rule_add: 'Thêm quy tắc', rule_new: 'Quy tắc mới', rule_edit: 'Sửa quy tắc #{id}',
    rules_help: 'Một chỉ số vượt ngưỡng đủ lâu thì báo; hết báo khi qua ngưỡng hết (trễ). Quy tắc cụ thể nhất (thiết bị, loại, xã) được áp dụng.',
    metric: 'Chỉ số', op: 'So sánh', op_gt: 'lớn hơn (>)', op_lt: 'nhỏ hơn (<)', threshold: 'Ngưỡng báo', clear_threshold: 'Ngưỡng hết báo',
    for_s: 'Kéo dài (giây)', severity: 'Mức độ', scope: 'Phạm vi', scope_unit: 'Chỉ xã', scope_kind: 'Chỉ loại thiết bị', scope_device: 'Chỉ thiết bị',
    any: 'tất cả', all: 'Mọi thiết bị', enabled: 'Đang bật', state: 'Trạng thái', on: 'bật', off: 'tắt',
    condition: 'Điều kiện', cond: '{op} {th} (hết khi {cop} {cl})',
    windows: 'Lịch bảo trì', win_add: 'Thêm lịch bảo trì', win_new: 'Lịch bảo trì mới', win_edit: 'Sửa lịch bảo trì #{id}',
    windows_help: 'Trong lịch bảo trì, thiết bị vẫn gửi dữ liệu nhưng không sinh sự cố hay cảnh báo. Giờ theo giờ Việt Nam (GMT+7).',
    starts_at: 'Bắt đầu (GMT+7)', ends_at: 'Kết thúc (GMT+7)', reason: 'Lý do', created_by: 'Người tạo', all_devices: 'cả xã',
    whole_unit: 'Cả xã {u}', save: 'Lưu', cancel: 'Huỷ', edit: 'Sửa', del: 'Xoá',
    del_rule: 'Xoá quy tắc #{id} ({m})?', del_win: 'Xoá lịch bảo trì #{id}?',
    no_rules: 'Chưa có quy tắc nào.', no_windows: 'Không có lịch bảo trì nào sắp tới.', required: 'Bắt buộc',
    saved: 'Đã lưu.', unit_bad: 'Mã xã gồm 5 chữ số', err: 'Lỗi: {m}', readonly: 'Chỉ kỹ thuật viên và quản trị viên được sửa.',
    // The hub's messages, as it words them for each field.
    'is required': 'Bắt buộc', 'must be a device id': 'Phải là mã thiết bị (A-Z a-z 0-9 _ . -)', 'must be a device kind': 'Phải là một loại thiết bị',
    'must be ">" or "<"': 'Phải là > hoặc <', 'must be on the healthy side of threshold (hysteresis)': 'Phải ở phía bình thường của ngưỡng báo (ví dụ: báo khi > 150, hết khi < 100)',
    'must be 0–86400': 'Từ 0 đến 86400 giây', 'must be critical, major, minor or warning': 'Phải là critical, major, minor hoặc warning',
    'must be a 5-digit commune code': 'Mã xã gồm 5 chữ số', 'is required (RFC 3339)': 'Bắt buộc', 'must be after starts_at': 'Phải sau thời điểm bắt đầu',
    'a window lasts at most 31 days': 'Một lịch bảo trì dài tối đa 31 ngày', 'at most 500 bytes': 'Tối đa 500 byte',
  },
  en: {
    unit: 'Commune', nav_devices: 'Devices', nav_topology: 'Network map', nav_rules: 'Alarms & maintenance', nav_provision: 'Provisioning',
    rules: 'Alarm rules', rule_add: 'Add rule', rule_new: 'New rule', rule_edit: 'Edit rule #{id}',
    rules_help: 'A metric past its threshold long enough raises an alarm; it clears past the clear threshold (hysteresis). The most specific rule (device, kind, commune) applies.',
    metric: 'Metric', op: 'Comparison', op_gt: 'greater than (>)', op_lt: 'less than (<)', threshold: 'Threshold', clear_threshold: 'Clear threshold',
    for_s: 'For (seconds)', severity: 'Severity', scope: 'Scope', scope_unit: 'Only commune', scope_kind: 'Only kind', scope_device: 'Only device',
    any: 'any', all: 'All devices', enabled: 'Enabled', state: 'State', on: 'on', off: 'off',
    condition: 'Condition', cond: '{op} {th} (clears {cop} {cl})',
    windows: 'Maintenance windows', win_add: 'Add window', win_new: 'New maintenance window', win_edit: 'Edit window #{id}',
    windows_help: 'During a window devices keep reporting but raise no incidents or alarms. Times are Vietnam time (GMT+7).',
    starts_at: 'Starts (GMT+7)', ends_at: 'Ends (GMT+7)', reason: 'Reason', created_by: 'Created by', all_devices: 'whole commune',
    whole_unit: 'Commune {u}', save: 'Save', cancel: 'Cancel', edit: 'Edit', del: 'Delete',
    del_rule: 'Delete rule #{id} ({m})?', del_win: 'Delete window #{id}?',
    no_rules: 'No rules.', no_windows: 'No current or coming windows.', required: 'Required',
    saved: 'Saved.', unit_bad: 'A commune code has 5 digits', err: 'Error: {m}', readonly: 'Only technicians and admins may edit.',
  },
});
// tr maps a hub message to the page's language (English: as written).
const tr = (m) => (lang() === 'vi' ? t(m) : m);

let unit = initialUnit();
let me = { role: 'viewer' };
let rules = [], windows = [];
let editingRule = null, editingWin = null;
const canWrite = () => me.role === 'technician' || me.role === 'admin';

function showErr(e) { $('err').hidden = !e; $('err').textContent = e ? t('err', { m: e.message }) : ''; }

function scopeText(r) {
  const parts = [r.unit && `${t('unit')} ${r.unit}`, r.kind, r.device].filter(Boolean);
  return parts.length ? parts.join(' · ') : t('all');
}

function renderRules() {
  const acts = (r) => (canWrite() ? `<button class="secondary" data-edit-rule="${r.id}">${esc(t('edit'))}</button>
    <button class="secondary" data-del-rule="${r.id}">${esc(t('del'))}</button>` : '');
  $('rules').tBodies[0].innerHTML = rules.length ? rules.map((r) => `<tr data-rule="${r.id}">
    <td><strong>${esc(r.metric)}</strong></td>
    <td>${esc(t('cond', { op: r.op, th: r.threshold, cop: r.op === '>' ? '<' : '>', cl: r.clear_threshold }))}</td>
    <td>${esc(r.for_s)}</td><td><span class="sev ${esc(r.severity)}">${esc(r.severity)}</span></td>
    <td>${esc(scopeText(r))}</td><td>${esc(r.enabled ? t('on') : t('off'))}</td><td class="acts">${acts(r)}</td></tr>`).join('')
    : `<tr><td colspan="7" class="muted">${esc(t('no_rules'))}</td></tr>`;
}

function renderWindows() {
  const acts = (w) => (canWrite() ? `<button class="secondary" data-edit-win="${w.id}">${esc(t('edit'))}</button>
    <button class="secondary" data-del-win="${w.id}">${esc(t('del'))}</button>` : '');
  $('windows').tBodies[0].innerHTML = windows.length ? windows.map((w) => `<tr data-win="${w.id}">
    <td>${esc(w.device ? `${w.device} (${w.unit})` : t('whole_unit', { u: w.unit }))}</td>
    <td>${esc(fmtVN(w.starts_at, lang()))}</td><td>${esc(fmtVN(w.ends_at, lang()))}</td>
    <td>${esc(w.reason)}</td><td>${esc(w.created_by)}</td><td class="acts">${acts(w)}</td></tr>`).join('')
    : `<tr><td colspan="6" class="muted">${esc(t('no_windows'))}</td></tr>`;
}

function render() {
  t.apply();
  $('rule-add').hidden = $('win-add').hidden = !canWrite();
  if (editingRule) $('rule-form-title').textContent = editingRule.id ? t('rule_edit', { id: editingRule.id }) : t('rule_new');
  if (editingWin) $('win-form-title').textContent = editingWin.id ? t('win_edit', { id: editingWin.id }) : t('win_new');
  renderRules(); renderWindows();
}

async function load() {
  try {
    const [r, w, d] = await Promise.all([api('/api/v1/alarm-rules'), api(`/api/v1/maintenance?unit=${unit}`), api(`/api/v1/devices?unit=${unit}`)]);
    rules = r.rules || []; windows = w.windows || [];
    $('device-ids').innerHTML = d.devices.map((x) => `<option value="${esc(x.id)}">${esc(x.name || '')}</option>`).join('');
    showErr(null);
    render();
  } catch (e) { if (e.status !== 401) showErr(e); }
}

// Rules: the form fills from a rule (or the defaults) and sends the whole rule.
function openRule(r) {
  editingRule = r;
  const f = $('rule-form');
  clearErrors(f);
  f.metric.value = r.metric || ''; f.op.value = r.op || '>';
  f.threshold.value = r.threshold ?? ''; f.clear_threshold.value = r.clear_threshold ?? '';
  f.for_s.value = r.for_s ?? 60; f.severity.value = r.severity || 'warning';
  f.unit.value = r.unit || ''; f.kind.value = r.kind || ''; f.device.value = r.device || '';
  f.enabled.checked = r.enabled ?? true;
  f.hidden = false; render(); f.metric.focus();
}

function ruleBody(f) {
  const num = (v) => (v === '' ? undefined : Number(v));
  const opt = (v) => (v.trim() === '' ? null : v.trim());
  return { metric: f.metric.value.trim(), op: f.op.value, threshold: num(f.threshold.value), clear_threshold: num(f.clear_threshold.value),
    for_s: num(f.for_s.value), severity: f.severity.value, unit: opt(f.unit.value), kind: opt(f.kind.value), device: opt(f.device.value),
    enabled: f.enabled.checked };
}

// required marks an empty number field the API would read as 0.
function required(f, names) {
  for (const n of names) if (f[n].value === '') { showError(f, { field: n, message: t('required') }); return false; }
  return true;
}

$('rule-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = e.target;
  clearErrors(f);
  if (!required(f, ['threshold', 'clear_threshold'])) return;
  try {
    const body = JSON.stringify(ruleBody(f));
    if (editingRule.id) await api(`/api/v1/alarm-rules/${editingRule.id}`, { method: 'PUT', body });
    else await api('/api/v1/alarm-rules', { method: 'POST', body });
    f.hidden = true; editingRule = null;
    await load();
  } catch (err) { if (err.status !== 401) showError(f, err, tr); }
});

// Windows: times are typed and shown in Vietnam time.
function openWin(w) {
  editingWin = w;
  const f = $('win-form');
  clearErrors(f);
  f.unit.value = w.unit || unit; f.device.value = w.device || '';
  f.starts_at.value = w.starts_at ? toLocalInput(w.starts_at) : ''; f.ends_at.value = w.ends_at ? toLocalInput(w.ends_at) : '';
  f.reason.value = w.reason || '';
  f.hidden = false; render(); f.starts_at.focus();
}

$('win-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = e.target;
  clearErrors(f);
  const body = JSON.stringify({ unit: f.unit.value.trim(), device: f.device.value.trim() || null,
    starts_at: fromLocalInput(f.starts_at.value), ends_at: fromLocalInput(f.ends_at.value), reason: f.reason.value });
  try {
    if (editingWin.id) await api(`/api/v1/maintenance/${editingWin.id}`, { method: 'PUT', body });
    else await api('/api/v1/maintenance', { method: 'POST', body });
    f.hidden = true; editingWin = null;
    await load();
  } catch (err) { if (err.status !== 401) showError(f, err, tr); }
});

document.addEventListener('click', async (e) => {
  const b = e.target.closest('button');
  if (!b) return;
  try {
    if (b.id === 'rule-add') openRule({});
    else if (b.id === 'win-add') {
      const now = Date.now();
      openWin({ starts_at: new Date(now - now % 3600e3 + 3600e3).toISOString(), ends_at: new Date(now - now % 3600e3 + 3 * 3600e3).toISOString() });
    } else if (b.dataset.editRule) openRule(rules.find((r) => String(r.id) === b.dataset.editRule));
    else if (b.dataset.editWin) openWin(windows.find((w) => String(w.id) === b.dataset.editWin));
    else if (b.dataset.delRule) {
      const r = rules.find((x) => String(x.id) === b.dataset.delRule);
      if (!confirm(t('del_rule', { id: r.id, m: r.metric }))) return;
      await api(`/api/v1/alarm-rules/${r.id}`, { method: 'DELETE' }); await load();
    } else if (b.dataset.delWin) {
      if (!confirm(t('del_win', { id: b.dataset.delWin }))) return;
      await api(`/api/v1/maintenance/${b.dataset.delWin}`, { method: 'DELETE' }); await load();
    } else if (b.hasAttribute('data-cancel')) {
      const f = b.closest('form'); f.hidden = true;
      if (f.id === 'rule-form') editingRule = null; else editingWin = null;
    }
  } catch (err) { if (err.status !== 401) showErr(err); }
});

unitInput($('unit'), unit, () => t('unit_bad'), (u) => { unit = u; load(); });
langToggle($('lang'), render);
t.apply();
api('/api/v1/me').then((m) => { me = m; load(); }).catch(() => {});
