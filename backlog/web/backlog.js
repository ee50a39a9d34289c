// Officer page: dossiers and documents of a commune (or a whole province)
// with filters, a dossier's history, and the import with its per-row report.
import { translator, langToggle, lang } from '/static/hub/i18n.js';
import { num, pct } from '/static/hub/format.js';

const t = translator({
  vi: {
    title: 'Hồ sơ TTHC và văn bản', province: 'Tỉnh', commune: 'Xã/phường', wholeProvince: '— Toàn tỉnh —',
    tabDossiers: 'Hồ sơ TTHC', tabIncoming: 'Văn bản đến', tabOutgoing: 'Văn bản đi', tabImport: 'Nhập tệp',
    status: 'Trạng thái', situation: 'Tình trạng', any: 'Tất cả', search: 'Tìm', searchHint: 'Mã hồ sơ hoặc người nộp',
    apply: 'Lọc', more: 'Xem thêm', code: 'Mã hồ sơ', procedure: 'Thủ tục', applicant: 'Người nộp', received: 'Tiếp nhận',
    due: 'Hẹn trả', classOpen: 'Đang giải quyết', classOverdue: 'Quá hạn', classDueSoon: 'Sắp đến hạn',
    classWithin: 'Trong hạn', classPaused: 'Tạm dừng', classClosed: 'Đã kết thúc', class_not_received: 'Chưa tiếp nhận',
    class_closed_ontime: 'Đúng hạn', class_closed_late: 'Trễ hạn',
    kReceived: 'Tiếp nhận', kOpen: 'Đang xử lý', kOverdue: 'Quá hạn', kDueSoon: 'Sắp đến hạn', kOnTime: 'Đúng hạn (766)',
    kDocBacklog: 'VB tồn đọng', kDocOverdue: 'VB quá hạn', kPeriod: 'Từ {from} đến {to}',
    doc_cho_vao_so: 'Chờ vào sổ', doc_cho_xu_ly: 'Chờ xử lý', doc_dang_xu_ly: 'Đang xử lý', doc_da_xu_ly: 'Đã xử lý',
    doc_tra_lai: 'Trả lại', doc_thu_hoi: 'Thu hồi', backlogOnly: 'Chỉ tồn đọng', overdueOnly: 'Chỉ quá hạn', urgentOnly: 'Chỉ khẩn',
    number: 'Số đến', receivedOn: 'Ngày đến', reference: 'Số, ký hiệu', issuer: 'Cơ quan ban hành', subject: 'Trích yếu',
    urgency: 'Độ khẩn', deadline: 'Hạn xử lý', issuedOn: 'Ngày ban hành', signer: 'Người ký', signatures: 'Ký số',
    u_thuong: 'Thường', u_khan: 'Khẩn', u_thuong_khan: 'Thượng khẩn', u_hoa_toc: 'Hỏa tốc',
    signedBoth: 'Cá nhân + cơ quan', signedPersonal: 'Chỉ cá nhân', signedOrg: 'Chỉ cơ quan', signedNone: 'Chưa ký số',
    importHelp: 'Tệp CSV (dòng đầu là tên trường) hoặc JSON-lines, dùng tên trường đồng bộ của Cổng DVCQG và MaDVHC. Dòng hợp lệ được ghi, dòng lỗi được liệt kê; chọn “Tất cả hoặc không” để không ghi gì khi có dòng lỗi.',
    atomic: 'Tất cả hoặc không', import: 'Nhập', importing: 'Đang nhập…', row: 'Dòng', line: 'Dòng tệp', field: 'Trường', reason: 'Lý do',
    importDone: '{rows} dòng: {created} mới, {updated} cập nhật, {unchanged} không đổi, {rejected} lỗi — {committed}',
    committed: 'đã ghi', notCommitted: 'không ghi gì', truncated: '(chỉ liệt kê {n} lỗi đầu)',
    detailTitle: 'Hồ sơ {code}', history: 'Lịch sử', close: 'Đóng', channel: 'Kênh', ch1: 'Trực tiếp', ch2: 'Trực tuyến', ch3: 'Bưu chính',
    processed: 'Kết thúc xử lý', returned: 'Trả kết quả', effDeadline: 'Hạn (đã trừ tạm dừng)', fee: 'Phí, lệ phí', paidOnline: 'Thanh toán trực tuyến',
    eResult: 'Kết quả điện tử', digitized: 'Số hóa', pauses: 'Tạm dừng', allowed: 'Chuyển tiếp được', yes: 'Có', no: 'Không',
    ev_created: 'Tạo hồ sơ', ev_status: 'Đổi trạng thái', ev_updated: 'Cập nhật', by: 'bởi', none: 'Không có dữ liệu',
    forbidden: 'Bạn không có quyền thực hiện thao tác này.', down: 'Không kết nối được máy chủ.',
  },
  en: {
    title: 'Dossiers and documents', province: 'Province', commune: 'Commune', wholeProvince: '— Whole province —',
    tabDossiers: 'Dossiers', tabIncoming: 'Incoming', tabOutgoing: 'Outgoing', tabImport: 'Import',
    status: 'Status', situation: 'Situation', any: 'Any', search: 'Search', searchHint: 'Dossier code or applicant',
    apply: 'Filter', more: 'More', code: 'Code', procedure: 'Procedure', applicant: 'Applicant', received: 'Received',
    due: 'Due', classOpen: 'In progress', classOverdue: 'Overdue', classDueSoon: 'Due soon', classWithin: 'Within deadline',
    classPaused: 'Paused', classClosed: 'Closed', class_not_received: 'Not received',
    class_closed_ontime: 'On time', class_closed_late: 'Late',
    kReceived: 'Received', kOpen: 'In progress', kOverdue: 'Overdue', kDueSoon: 'Due soon', kOnTime: 'On time (766)',
    kDocBacklog: 'Document backlog', kDocOverdue: 'Documents overdue', kPeriod: '{from} to {to}',
    doc_cho_vao_so: 'To register', doc_cho_xu_ly: 'Pending', doc_dang_xu_ly: 'In progress', doc_da_xu_ly: 'Done',
    doc_tra_lai: 'Returned', doc_thu_hoi: 'Recalled', backlogOnly: 'Backlog only', overdueOnly: 'Overdue only', urgentOnly: 'Urgent only',
    number: 'Reg. no.', receivedOn: 'Received', reference: 'Ref. no.', issuer: 'Issuer', subject: 'Subject',
    urgency: 'Urgency', deadline: 'Deadline', issuedOn: 'Issued', signer: 'Signer', signatures: 'Digital signatures',
    u_thuong: 'Normal', u_khan: 'Urgent', u_thuong_khan: 'Very urgent', u_hoa_toc: 'Express',
    signedBoth: 'Personal + agency', signedPersonal: 'Personal only', signedOrg: 'Agency only', signedNone: 'Not signed',
    importHelp: 'A CSV file (first line: field names) or JSON lines, with the national portal’s sync field names and MaDVHC. Good rows are written and bad rows listed; choose “All or nothing” to write nothing when a row is bad.',
    atomic: 'All or nothing', import: 'Import', importing: 'Importing…', row: 'Row', line: 'Line', field: 'Field', reason: 'Reason',
    importDone: '{rows} rows: {created} new, {updated} updated, {unchanged} unchanged, {rejected} rejected — {committed}',
    committed: 'written', notCommitted: 'nothing written', truncated: '(only the first {n} errors are listed)',
    detailTitle: 'Dossier {code}', history: 'History', close: 'Close', channel: 'Channel', ch1: 'In person', ch2: 'Online', ch3: 'Postal',
    processed: 'Processing ended', returned: 'Result returned', effDeadline: 'Deadline (pauses credited)', fee: 'Fees', paidOnline: 'Paid online',
    eResult: 'Electronic result', digitized: 'Digitized', pauses: 'Pauses', allowed: 'Allowed next statuses', yes: 'Yes', no: 'No',
    ev_created: 'Created', ev_status: 'Status change', ev_updated: 'Updated', by: 'by', none: 'Nothing here',
    forbidden: 'You are not allowed to do this.', down: 'Cannot reach the server.',
  },
});

const statusNames = {
  vi: ['', 'Mới đăng ký', 'Được tiếp nhận', 'Không được tiếp nhận', 'Đang xử lý', 'Yêu cầu bổ sung', 'Chờ nghĩa vụ tài chính',
    'Công dân rút hồ sơ', 'Dừng xử lý', 'Đã xử lý xong', 'Đã trả kết quả'],
  en: ['', 'Submitted', 'Received', 'Refused at reception', 'Processing', 'Supplement requested', 'Awaiting payment',
    'Withdrawn', 'Stopped', 'Result ready', 'Result returned'],
};
const statusName = (n) => `${n} · ${statusNames[lang()][n] ?? ''}`;

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v; else if (k.startsWith('on')) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(k ?? ''));
  return e;
};
const fmtTime = (s) => (s ? new Date(s).toLocaleString(lang() === 'vi' ? 'vi-VN' : 'en-GB', { timeZone: 'Asia/Ho_Chi_Minh', dateStyle: 'short', timeStyle: 'short' }) : '');

async function api(path, opts = {}) {
  const r = await fetch(path, { credentials: 'same-origin', ...opts });
  if (r.status === 401) { location.href = `/login?next=${encodeURIComponent(location.pathname + location.search)}`; throw new Error('login'); }
  const body = r.headers.get('Content-Type')?.includes('json') ? await r.json() : null;
  if (!r.ok && !(opts.allow || []).includes(r.status)) {
    throw new Error(r.status === 403 ? t('forbidden') : body?.error?.message ?? `HTTP ${r.status}`);
  }
  return body;
}
const showError = (e) => { if (e.message !== 'login') $('error').textContent = e.message || t('down'); };

const state = { tab: 'dossiers', unit: '', dossierOffset: 0, seq: {} };

// latest returns a guard for one kind of request: answers of requests
// overtaken by a newer one of the same kind are dropped, so a slow answer
// never overwrites a newer list.
function latest(kind) {
  const n = (state.seq[kind] = (state.seq[kind] ?? 0) + 1);
  return () => state.seq[kind] === n;
}

function currentUnit() { return $('commune').value || $('province').value; }

async function loadUnits() {
  const provinces = (await api('/api/v1/units')).units;
  const saved = localStorage.getItem('communehub.backlog.province') || '11';
  $('province').replaceChildren(...provinces.map((p) => el('option', { value: p.code }, `${p.code} · ${p.name}`)));
  $('province').value = provinces.some((p) => p.code === saved) ? saved : provinces[0]?.code;
  await loadCommunes();
}

async function loadCommunes() {
  const p = $('province').value;
  localStorage.setItem('communehub.backlog.province', p);
  const communes = (await api(`/api/v1/units?parent=${encodeURIComponent(p)}`)).units;
  const saved = new URLSearchParams(location.search).get('unit') || localStorage.getItem('communehub.backlog.commune') || '';
  $('commune').replaceChildren(el('option', { value: '' }, t('wholeProvince')),
    ...communes.map((c) => el('option', { value: c.code }, `${c.code} · ${c.name}`)));
  $('commune').value = communes.some((c) => c.code === saved) ? saved : '';
}

async function loadSummary() {
  const current = latest('summary');
  const k = await api(`/api/v1/kpis?unit=${encodeURIComponent(currentUnit())}`);
  if (!current()) return;
  const d = k.dossiers; const doc = k.documents;
  const box = (label, value, cls = '') => el('div', { class: `kpi ${cls}` }, el('b', {}, typeof value === 'number' ? num(value) : String(value)), label);
  $('summary').replaceChildren(
    box(t('kReceived'), d.received), box(t('kOpen'), d.open), box(t('kOverdue'), d.open_overdue, d.open_overdue ? 'bad' : ''),
    box(t('kDueSoon'), d.open_due_soon, d.open_due_soon ? 'warn' : ''), box(t('kOnTime'), pct(d.on_time_rate)),
    box(t('kDocBacklog'), doc.backlog), box(t('kDocOverdue'), doc.overdue, doc.overdue ? 'bad' : ''),
    el('span', { class: 'muted' }, t('kPeriod', { from: k.from, to: k.to })));
}

function classBadge(d) {
  let cls = d.class; let label = t({ overdue: 'classOverdue', due_soon: 'classDueSoon', within: 'classWithin', closed: 'classClosed' }[cls] ?? `class_${cls}`);
  if (cls === 'closed' && d.on_time != null) label = t(d.on_time ? 'class_closed_ontime' : 'class_closed_late');
  if (d.class === 'within' && d.paused_since) label += ` · ${t('classPaused')}`;
  return el('span', { class: `badge ${cls}` }, label);
}

async function loadDossiers(append = false) {
  if (!append) state.dossierOffset = 0;
  const f = new FormData($('dossierFilters'));
  const q = new URLSearchParams({ unit: currentUnit(), limit: '50', offset: String(state.dossierOffset) });
  for (const k of ['status', 'class', 'q']) if (f.get(k)) q.set(k, f.get(k));
  const current = latest('dossiers');
  const res = await api(`/api/v1/dossiers?${q}`);
  if (!current()) return;
  const rows = res.dossiers.map((d) => el('tr', { 'data-code': d.code, onclick: () => showDossier(d.code) },
    el('td', {}, d.code), el('td', {}, `${d.procedure} · ${d.procedure_name}`), el('td', {}, d.applicant),
    el('td', {}, statusName(d.status)), el('td', {}, fmtTime(d.received_at)), el('td', {}, fmtTime(d.deadline ?? d.due_at)),
    el('td', {}, classBadge(d))));
  if (append) $('dossierRows').append(...rows);
  else $('dossierRows').replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: '7', class: 'muted' }, t('none')))]));
  state.dossierOffset += res.dossiers.length;
  $('dossierMore').hidden = res.next_offset == null;
}

async function showDossier(code, scroll = true) {
  state.detail = code;
  const { dossier: d, history } = await api(`/api/v1/dossiers/${encodeURIComponent(code)}`);
  const yn = (b) => t(b ? 'yes' : 'no');
  const fields = [
    [t('procedure'), `${d.procedure} · ${d.procedure_name}`], [t('applicant'), d.applicant], [t('status'), statusName(d.status)],
    [t('situation'), classBadge(d)], [t('channel'), t(`ch${d.channel}`)], [t('received'), fmtTime(d.received_at)],
    [t('due'), fmtTime(d.due_at)], [t('effDeadline'), fmtTime(d.deadline)], [t('processed'), fmtTime(d.processed_at)],
    [t('returned'), fmtTime(d.returned_at)], [t('fee'), num(d.fee_total || 0)],
    [t('paidOnline'), yn(d.paid_online > 0)], [t('eResult'), yn(d.e_result)], [t('digitized'), yn(d.digitized)],
    [t('pauses'), d.pauses.map((p) => `${fmtTime(p.from)} → ${p.to ? fmtTime(p.to) : '…'}`).join('; ') || '—'],
    [t('allowed'), d.allowed_transitions.map(statusName).join(', ') || '—'],
  ];
  const dl = el('dl', {}, ...fields.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
  const items = history.map((e) => {
    const head = `${fmtTime(e.at)} — ${t(`ev_${e.kind}`)}${e.kind === 'status' ? `: ${statusName(e.from_status)} → ${statusName(e.to_status)}` : ''} (${t('by')} ${e.actor}, ${e.source})`;
    const ch = Object.entries(e.changes || {}).map(([k, v]) => `${k}: ${v.from ?? '∅'} → ${v.to ?? '∅'}`).join('; ');
    return el('li', { 'data-kind': e.kind }, head, ch ? el('div', { class: 'changes' }, ch) : '');
  });
  $('dossierDetail').replaceChildren(el('h2', {}, t('detailTitle', { code: d.code })), dl, el('h3', {}, t('history')),
    el('ol', { class: 'history', id: 'historyList' }, ...items),
    el('button', { type: 'button', class: 'secondary', onclick: () => { $('dossierDetail').hidden = true; state.detail = null; } }, t('close')));
  $('dossierDetail').hidden = false;
  if (scroll) $('dossierDetail').scrollIntoView({ block: 'start' });
}

async function loadIncoming() {
  const f = new FormData($('incomingFilters'));
  const q = new URLSearchParams({ unit: currentUnit(), limit: '100' });
  if (f.get('status')) q.set('status', f.get('status'));
  for (const k of ['backlog', 'overdue', 'urgent']) if (f.get(k)) q.set(k, 'true');
  const current = latest('incoming');
  const res = await api(`/api/v1/documents/incoming?${q}`);
  if (!current()) return;
  const now = Date.now();
  const rows = res.documents.map((d) => {
    const late = !d.ended_at && d.deadline && new Date(d.deadline).getTime() < now;
    return el('tr', {}, el('td', {}, d.number ?? '—'), el('td', {}, fmtTime(d.received_at)), el('td', {}, d.reference),
      el('td', {}, d.issuer), el('td', {}, d.subject),
      el('td', {}, d.urgency === 'thuong' ? t('u_thuong') : el('span', { class: 'badge urgent' }, t(`u_${d.urgency}`))),
      el('td', {}, t(`doc_${d.status}`)),
      el('td', {}, late ? el('span', { class: 'badge overdue' }, fmtTime(d.deadline)) : fmtTime(d.deadline)));
  });
  $('incomingRows').replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: '8', class: 'muted' }, t('none')))]));
}

async function loadOutgoing() {
  const current = latest('outgoing');
  const res = await api(`/api/v1/documents/outgoing?unit=${encodeURIComponent(currentUnit())}&limit=100`);
  if (!current()) return;
  const sig = (d) => t(d.signed_personal && d.signed_org ? 'signedBoth' : d.signed_personal ? 'signedPersonal' : d.signed_org ? 'signedOrg' : 'signedNone');
  const rows = res.documents.map((d) => el('tr', {}, el('td', {}, d.reference), el('td', {}, fmtTime(d.issued_at)),
    el('td', {}, d.subject), el('td', {}, d.signer), el('td', {}, sig(d))));
  $('outgoingRows').replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: '5', class: 'muted' }, t('none')))]));
}

async function runImport(ev) {
  ev.preventDefault();
  const file = $('importFile').files[0];
  if (!file) return;
  $('importStatus').textContent = t('importing');
  $('importButton').disabled = true;
  try {
    const csv = /\.csv$/i.test(file.name) || file.type === 'text/csv';
    const rep = await api(`/api/v1/dossiers/import?atomic=${$('importAtomic').checked}`, {
      method: 'POST', body: file, headers: { 'Content-Type': csv ? 'text/csv' : 'application/x-ndjson' }, allow: [422],
    });
    $('importStatus').textContent = t('importDone', { ...rep, committed: t(rep.committed ? 'committed' : 'notCommitted') }) +
      (rep.errors_truncated ? ` ${t('truncated', { n: rep.errors.length })}` : '');
    $('importRows').replaceChildren(...rep.errors.map((e) => el('tr', {}, el('td', {}, e.row), el('td', {}, e.line ?? ''),
      el('td', {}, e.code ?? ''), el('td', {}, e.field), el('td', {}, e.reason))));
    $('importReport').hidden = rep.errors.length === 0;
    refresh();
  } catch (e) {
    $('importStatus').textContent = '';
    showError(e);
  } finally {
    $('importButton').disabled = false;
  }
}

function selectTab(name) {
  state.tab = name;
  document.querySelectorAll('.tabs button').forEach((b) => b.setAttribute('aria-selected', String(b.dataset.tab === name)));
  document.querySelectorAll('.tab').forEach((s) => { s.hidden = s.id !== `tab-${name}`; });
  refresh();
}

function refresh() {
  $('error').textContent = '';
  const jobs = [loadSummary()];
  if (state.tab === 'dossiers') jobs.push(loadDossiers());
  if (state.tab === 'incoming') jobs.push(loadIncoming());
  if (state.tab === 'outgoing') jobs.push(loadOutgoing());
  return Promise.all(jobs).catch(showError);
}

function labelStatuses() {
  const sel = $('statusSelect');
  const v = sel.value;
  sel.replaceChildren(el('option', { value: '' }, t('any')), ...Array.from({ length: 10 }, (_, i) => el('option', { value: String(i + 1) }, statusName(i + 1))));
  sel.value = v;
}

function render() {
  t.apply();
  labelStatuses();
  refresh();
  if (state.detail && !$('dossierDetail').hidden) showDossier(state.detail, false).catch(showError);
}

async function main() {
  t.apply();
  langToggle($('lang'), render);
  try {
    const me = await api('/api/v1/me');
    $('who').textContent = `${me.name} (${me.role})`;
    await loadUnits();
  } catch (e) { showError(e); return; }
  $('province').addEventListener('change', async () => { await loadCommunes(); refresh(); });
  $('commune').addEventListener('change', () => { localStorage.setItem('communehub.backlog.commune', $('commune').value); refresh(); });
  $('dossierFilters').addEventListener('submit', (e) => { e.preventDefault(); loadDossiers().catch(showError); });
  $('incomingFilters').addEventListener('submit', (e) => { e.preventDefault(); loadIncoming().catch(showError); });
  $('dossierMore').addEventListener('click', () => loadDossiers(true).catch(showError));
  $('importForm').addEventListener('submit', runImport);
  document.querySelectorAll('.tabs button').forEach((b) => b.addEventListener('click', () => selectTab(b.dataset.tab)));
  labelStatuses();
  selectTab(new URLSearchParams(location.search).get('tab') || 'dossiers');
}

main();
