// Proceedings panels of a meeting: agenda with the current item, documents
// with a viewer that follows the chair, raise hand and the speaker queue,
// the vote panel, the attendance register, chair and secretary controls and
// the minutes. Used by the paperless page (/meetings/{id}/paperless) and by
// the meeting page with media, which passes its own websocket:
//
//   import { mountProceedings, socketTransport } from '/static/proceedings/proceedings.js';
//   const proc = await mountProceedings(el, { meetingId, transport: socketTransport(ws) });
//
// Requests carry the browser's cookies: a user's session or a guest's
// meeting pass.
//
// A transport has request(msg) → Promise<body> (rejecting with the hub's
// {code,message,field} error) and subscribe(onEvent, onRestart) → stop().
// The protocol is in docs/meeting-protocol.md ("Proceedings").
import { translator, lang } from '/static/hub/i18n.js';

const t = translator({
  vi: {
    agenda: 'Chương trình họp', documents: 'Tài liệu', queue: 'Đăng ký phát biểu', vote: 'Biểu quyết',
    attendance: 'Điểm danh', minutes: 'Biên bản', chair: 'Chủ trì', secretary: 'Thư ký', member: 'Thành viên',
    guest: 'Khách mời', observer: 'Quan sát', scheduled: 'Chưa khai mạc', open: 'Đang họp', closed: 'Đã kết thúc',
    cancelled: 'Đã hủy', openMeeting: 'Khai mạc', closeMeeting: 'Bế mạc', openItem: 'Chuyển sang', current: 'Đang thảo luận',
    quorum: 'Có mặt {present}/{seats} thành viên', quorate: 'đủ số', notQuorate: 'chưa đủ số',
    raise: 'Giơ tay phát biểu', lower: 'Hạ tay', give: 'Mời phát biểu', endFloor: 'Kết thúc phát biểu',
    speaking: 'Đang phát biểu', nobody: 'Chưa có ai phát biểu', queueEmpty: 'Chưa có ai đăng ký',
    question: 'Nội dung biểu quyết', secret: 'Bỏ phiếu kín', openVote: 'Mở biểu quyết', closeVote: 'Kết thúc biểu quyết',
    yes: 'Đồng ý', no: 'Không đồng ý', abstain: 'Không biểu quyết', voted: 'Bạn đã biểu quyết',
    votedCount: 'Đã biểu quyết: {n}/{of}', passed: 'THÔNG QUA', failed: 'KHÔNG THÔNG QUA', noVote: 'Không có biểu quyết',
    result: '{yes} đồng ý / {seats} ghế, {no} không đồng ý, {abstain} không biểu quyết — cần {needed}',
    in_hall: 'Tại hội trường', online: 'Trực tuyến', reconnecting: 'Đang kết nối lại', absent: 'Vắng', left: 'Đã rời',
    expected: 'Chưa đến', reason: 'Lý do', mark: 'Ghi', show: 'Trình chiếu', page: 'Trang', prev: 'Trang trước',
    next: 'Trang sau', download: 'Tải về', prefetch: 'Tải trước toàn bộ tài liệu', prefetched: 'Đã tải {n}/{of}',
    following: 'Chủ trì đang mở: {title}, trang {page}', noDoc: 'Chủ trì chưa mở tài liệu',
    noItem: 'Chưa vào nội dung nào', save: 'Lưu', redraft: 'Lập lại từ nhật ký', approve: 'Phê duyệt và ký số',
    signed: 'Đã phê duyệt, ký số', pdf: 'Tải biên bản (PDF có chữ ký)', sha: 'SHA-256', keyId: 'Khóa', verify: 'Kiểm tra chữ ký', valid: 'Chữ ký hợp lệ',
    invalid: 'Chữ ký KHÔNG hợp lệ', draftRev: 'Bản nháp, lần sửa {rev}', minutesLater: 'Biên bản được lập khi bế mạc.',
    you: 'bạn', conn: 'Mất kết nối, đang thử lại…', versionN: 'phiên bản {v}', allItems: 'Chung',
  },
  en: {
    agenda: 'Agenda', documents: 'Documents', queue: 'Speakers', vote: 'Vote', attendance: 'Attendance',
    minutes: 'Minutes', chair: 'Chair', secretary: 'Secretary', member: 'Member', guest: 'Guest', observer: 'Observer',
    scheduled: 'Not yet opened', open: 'In session', closed: 'Closed', cancelled: 'Cancelled', openMeeting: 'Open meeting',
    closeMeeting: 'Close meeting', openItem: 'Go to', current: 'Under discussion',
    quorum: '{present}/{seats} members present', quorate: 'quorate', notQuorate: 'no quorum',
    raise: 'Raise hand', lower: 'Lower hand', give: 'Give the floor', endFloor: 'End speech', speaking: 'Speaking',
    nobody: 'Nobody has the floor', queueEmpty: 'No hands raised', question: 'Motion', secret: 'Secret ballot',
    openVote: 'Open vote', closeVote: 'Close vote', yes: 'Yes', no: 'No', abstain: 'Abstain', voted: 'You have voted',
    votedCount: 'Voted: {n}/{of}', passed: 'PASSED', failed: 'NOT PASSED', noVote: 'No vote',
    result: '{yes} yes / {seats} seats, {no} no, {abstain} abstain — needs {needed}',
    in_hall: 'In the hall', online: 'Online', reconnecting: 'Reconnecting', absent: 'Absent', left: 'Left',
    expected: 'Not arrived', reason: 'Reason', mark: 'Set', show: 'Show', page: 'Page', prev: 'Previous page',
    next: 'Next page', download: 'Download', prefetch: 'Download all documents now', prefetched: 'Downloaded {n}/{of}',
    following: 'The chair shows: {title}, page {page}', noDoc: 'The chair has not opened a document',
    noItem: 'No item opened yet', save: 'Save', redraft: 'Redraft from the log', approve: 'Approve and sign',
    signed: 'Approved and signed', pdf: 'Download the minutes (signed PDF)', sha: 'SHA-256', keyId: 'Key', verify: 'Verify signature', valid: 'Signature valid',
    invalid: 'Signature NOT valid', draftRev: 'Draft, revision {rev}', minutesLater: 'Minutes are drafted when the meeting closes.',
    you: 'you', conn: 'Connection lost, retrying…', versionN: 'version {v}', allItems: 'General',
  },
});

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const api = (id) => `/api/v1/meetings/${id}`;

async function fetchJSON(url, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  if (opts.body && typeof opts.body === 'string') headers['Content-Type'] = 'application/json';
  const r = await fetch(url, { ...opts, headers, credentials: 'same-origin' });
  const body = r.status === 204 ? null : await r.json().catch(() => null);
  if (!r.ok) throw (body && body.error) || { code: 'unavailable', message: `HTTP ${r.status}` };
  return body;
}

// restTransport sends messages with POST …/proceedings and follows the log
// on the hub's /ws event socket, or by polling …/events when polling is set
// (guests: their meeting pass does not open the hub's event socket) and
// when the socket cannot be opened.
export function restTransport(meetingId, { polling = false } = {}) {
  return {
    request(msg) {
      if (msg.type === 'proc.sync') return fetchJSON(`${api(meetingId)}/proceedings`);
      return fetchJSON(`${api(meetingId)}/proceedings`, { method: 'POST', body: JSON.stringify(msg) });
    },
    subscribe(onEvent, onRestart) {
      let stopped = false, ws = null, timer = null, after = null;
      const poll = async () => {
        if (stopped) return;
        try {
          if (after !== null) {
            const r = await fetchJSON(`${api(meetingId)}/events?after=${after}`);
            for (const ev of r.events) { after = ev.seq; onEvent(ev); }
          }
        } catch { /* retried below */ }
        timer = setTimeout(poll, 2000);
      };
      const socket = (delay) => {
        if (stopped) return;
        const proto = location.protocol === 'https:' ? 'wss' : 'ws';
        ws = new WebSocket(`${proto}://${location.host}/ws?topic=${encodeURIComponent(`meeting/${meetingId}/log`)}`);
        let opened = false;
        ws.onopen = () => { opened = true; onRestart(); };
        ws.onmessage = (e) => { const m = JSON.parse(e.data); if (m.type === 'event') onEvent(m.data); };
        ws.onclose = () => {
          if (stopped) return;
          if (!opened && delay > 8000) { onRestart(); poll(); return; } // no socket: poll instead
          setTimeout(() => socket(Math.min(delay * 2, 16000)), delay);
        };
      };
      if (polling) { poll(); onRestart(); } else socket(500);
      return {
        stop() { stopped = true; if (ws) ws.close(); clearTimeout(timer); },
        seen(seq) { after = Math.max(after ?? 0, seq); }, // the poll goes on from the synced state
      };
    },
  };
}

// socketTransport uses the meeting websocket of the page with media: it
// sends {type, ref, …}, matches the reply by ref and takes the log events
// ({"type":"event","topic":"meeting/{id}/log"}) from the same socket.
export function socketTransport(ws) {
  let n = 0;
  const waiting = new Map();
  const listeners = new Set();
  ws.addEventListener('message', (e) => {
    let m; try { m = JSON.parse(e.data); } catch { return; }
    if (m.type === 'event' && /^meeting\/\d+\/log$/.test(m.topic)) { listeners.forEach((l) => l.onEvent(m.data)); return; }
    if ((m.type === 'proc.ok' || m.type === 'proc.state' || m.type === 'proc.error') && waiting.has(m.ref)) {
      const w = waiting.get(m.ref); waiting.delete(m.ref);
      if (m.type === 'proc.error') w.reject(m.error); else w.resolve(m.body);
    }
  });
  ws.addEventListener('open', () => listeners.forEach((l) => l.onRestart()));
  ws.addEventListener('close', () => { // nothing more will come on this socket
    waiting.forEach((w) => w.reject({ code: 'unavailable', message: 'connection closed' }));
    waiting.clear();
  });
  return {
    request(msg) {
      const ref = `p${++n}`;
      return new Promise((resolve, reject) => {
        if (ws.readyState !== WebSocket.OPEN) { reject({ code: 'unavailable', message: 'not connected' }); return; }
        waiting.set(ref, { resolve, reject });
        ws.send(JSON.stringify({ ...msg, ref }));
      });
    },
    subscribe(onEvent, onRestart) {
      const l = { onEvent, onRestart };
      listeners.add(l);
      return { stop() { listeners.delete(l); }, seen() {} };
    },
  };
}

// apply advances the client's copy of the state by one log event; false
// means the event needs a full resync (records changed).
function apply(view, ev) {
  const s = view.state, d = ev.data || {};
  const who = (id) => (s.attendance[id] ||= { status: 'expected' });
  const endFloor = () => { if (s.floor) { s.speeches.push({ ...s.floor, to: ev.at }); s.floor = null; } };
  const lower = (item, inv) => { s.queues[item] = (s.queues[item] || []).filter((q) => q.invitee !== inv); };
  switch (ev.kind) {
    case 'meeting.opened': s.status = 'open'; view.meeting.state = 'open'; break;
    case 'attendance.joined': who(d.invitee).status = d.mode; break;
    case 'attendance.dropped': who(d.invitee).status = 'reconnecting'; break;
    case 'attendance.left': who(d.invitee).status = 'left'; break;
    case 'attendance.marked': Object.assign(who(d.invitee), { status: d.status, reason: d.reason || '' }); break;
    case 'agenda.opened': endFloor(); s.current_item = d.item; s.doc = null; break;
    case 'doc.shown': s.doc = { doc: d.doc, version: d.version, page: d.page }; break;
    case 'hand.raised': (s.queues[d.item] ||= []).push({ invitee: d.invitee, at: ev.at }); break;
    case 'hand.lowered': lower(d.item, d.invitee); break;
    case 'floor.given': endFloor(); lower(d.item, d.invitee); s.floor = { invitee: d.invitee, item: d.item, from: ev.at }; break;
    case 'floor.ended': endFloor(); break;
    case 'vote.opened':
      s.votes.push({ id: d.vote, item: d.item, question: d.question, secret: d.secret, rule: d.rule, open: true, voters: [], ballots: d.secret ? null : {} });
      break;
    case 'vote.cast': {
      const v = s.votes.find((x) => x.id === d.vote);
      if (!v) return false;
      v.voters.push(d.invitee);
      if (!v.secret) v.ballots[d.invitee] = d.choice;
      break;
    }
    case 'vote.closed': {
      const v = s.votes.find((x) => x.id === d.vote);
      if (!v) return false;
      v.open = false; v.result = d;
      break;
    }
    default: return false; // meeting.closed, agenda.changed, doc.uploaded, minutes.*: reload
  }
  s.seq = ev.seq;
  return true;
}

function present(status) { return status === 'in_hall' || status === 'online' || status === 'reconnecting'; }

// Documents fetched ahead of the meeting are kept in Cache Storage (when the
// page is a secure context) and shown from there, so the link is not used
// during the meeting; the download resumes with Range requests after a drop.
const CACHE = 'communehub-meeting-docs';

async function cachedBlob(url) {
  if (!('caches' in window)) return null;
  const c = await caches.open(CACHE);
  const r = await c.match(url);
  return r ? r.blob() : null;
}

async function resumableDownload(url, onProgress) {
  const chunk = 1 << 20;
  const parts = [];
  let got = 0, size = null, etag = null, failures = 0;
  while (size === null || got < size) {
    const headers = { Range: `bytes=${got}-${got + chunk - 1}` };
    if (etag) headers['If-Range'] = etag;
    try {
      const r = await fetch(url, { headers, credentials: 'same-origin' });
      if (r.status === 200) { parts.length = 0; got = 0; } // whole body: the file changed or ranges unsupported
      else if (r.status !== 206) throw new Error(`HTTP ${r.status}`);
      etag = r.headers.get('ETag');
      const m = /\/(\d+)$/.exec(r.headers.get('Content-Range') || '');
      const b = await r.arrayBuffer();
      size = m ? Number(m[1]) : b.byteLength;
      parts.push(b); got += b.byteLength; failures = 0;
      onProgress(got, size);
    } catch (e) {
      if (++failures > 8) throw e;
      await new Promise((res) => setTimeout(res, Math.min(500 * 2 ** failures, 15000)));
    }
  }
  return new Blob(parts);
}

// join, when set ('online' or 'in_hall'), records the invitee as present on
// mount: the REST transport has no connection that would do it.
export async function mountProceedings(root, { meetingId, transport, join = null, polling = false } = {}) {
  if (root.proceedings) root.proceedings.destroy(); // mounted again, e.g. on a new socket after a reconnect
  transport ||= restTransport(meetingId, { polling });
  root.classList.add('proc');
  root.innerHTML = `
    <div class="proc-bar"><span class="proc-title"></span><span class="proc-state"></span><span class="proc-quorum"></span>
      <span class="proc-conn error" hidden></span><span class="proc-chair"></span></div>
    <div class="proc-msg error" role="alert"></div>
    <div class="proc-grid">
      <div class="proc-main">
        <section class="card proc-docs"><h2 data-i18n="documents"></h2><div class="proc-doclist"></div>
          <div class="proc-viewer"><p class="proc-follow muted"></p><div class="proc-frame"></div><div class="proc-doc-ctl"></div></div></section>
        <section class="card proc-minutes"><h2 data-i18n="minutes"></h2><div></div></section>
        <section class="card proc-attendance"><h2 data-i18n="attendance"></h2><table><tbody></tbody></table></section>
      </div>
      <div class="proc-side">
        <section class="card proc-agenda"><h2 data-i18n="agenda"></h2><ol></ol></section>
        <section class="card proc-queue"><h2 data-i18n="queue"></h2><div></div></section>
        <section class="card proc-vote"><h2 data-i18n="vote"></h2><div></div></section>
      </div>
    </div>`;
  t.apply(root);
  const $ = (sel) => root.querySelector(sel);
  let view = null, pending = [], syncing = null, shown = '', blobURL = null, tick = null;

  const say = (err) => { $('.proc-msg').textContent = err ? (err.message || String(err)) : ''; };
  const send = async (msg) => {
    say('');
    try { return await transport.request(msg); } catch (e) { say(e); throw e; }
  };

  const sync = () => {
    syncing ||= (async () => {
      try {
        const v = await transport.request({ type: 'proc.sync' });
        view = v; sub.seen(v.state.seq);
        const later = pending.filter((ev) => ev.seq > v.state.seq); pending = [];
        for (const ev of later) if (!step(ev)) break;
        render();
      } finally { syncing = null; }
    })();
    return syncing;
  };
  const step = (ev) => {
    if (!view || ev.seq <= view.state.seq) return true;
    if (ev.seq !== view.state.seq + 1 || !apply(view, ev)) { sync(); return false; }
    return true;
  };
  const sub = transport.subscribe((ev) => {
    $('.proc-conn').hidden = true;
    if (!view || syncing) { pending.push(ev); return; }
    if (step(ev)) render();
  }, () => { $('.proc-conn').hidden = true; sync(); });

  const inv = (id) => view.invitees.find((i) => i.id === id) || { name: `#${id}`, role: 'guest' };
  const me = () => view.me;
  const isChair = () => me() && me().role === 'chair';
  const isSecretary = () => me() && me().secretary;
  const status = (id) => (view.state.attendance[id] || { status: 'expected' }).status;
  const contentURL = (doc, v) => `${api(meetingId)}/documents/${doc}/versions/${v}/content`;

  function render() {
    const m = view.meeting, s = view.state;
    $('.proc-title').textContent = m.title;
    $('.proc-state').textContent = t(m.state);
    const seatHolders = view.invitees.filter((i) => i.role === 'chair' || i.role === 'member');
    const presentN = seatHolders.filter((i) => present(status(i.id))).length;
    const quorate = view.quorum && view.quorum.rule === 'none' ? true
      : view.quorum && view.quorum.rule === 'majority_of_seats' ? 2 * presentN > m.seats : 3 * presentN >= 2 * m.seats;
    $('.proc-quorum').textContent = `${t('quorum', { present: presentN, seats: m.seats })} — ${t(quorate ? 'quorate' : 'notQuorate')}`;
    $('.proc-quorum').className = `proc-quorum ${quorate ? 'ok' : 'error'}`;
    const chairCtl = $('.proc-chair');
    chairCtl.innerHTML = '';
    if (isChair() && m.state === 'scheduled') chairCtl.append(button(t('openMeeting'), () => send({ type: 'meeting.open' }), 'open-meeting'));
    if (isChair() && m.state === 'open') chairCtl.append(button(t('closeMeeting'), () => send({ type: 'meeting.close' }), 'close-meeting', true));
    renderAgenda(); renderDocs(); renderQueue(); renderVote(); renderAttendance(); renderMinutes();
  }

  function button(label, fn, name, secondary) {
    const b = document.createElement('button');
    b.type = 'button'; b.textContent = label;
    if (name) b.dataset.action = name;
    if (secondary) b.className = 'secondary';
    b.addEventListener('click', async () => { b.disabled = true; try { await fn(); } catch { /* shown */ } finally { b.disabled = false; } });
    return b;
  }

  function renderAgenda() {
    const ol = $('.proc-agenda ol'); ol.innerHTML = '';
    for (const it of view.agenda) {
      const li = document.createElement('li');
      li.dataset.item = it.id;
      if (it.id === view.state.current_item) li.className = 'current';
      li.innerHTML = `<span>${esc(it.title)}</span>${it.presenter ? ` <span class="muted">— ${esc(it.presenter)}</span>` : ''}`;
      if (it.id === view.state.current_item) li.insertAdjacentHTML('beforeend', ` <strong class="tag">${esc(t('current'))}</strong>`);
      else if (isChair() && view.meeting.state === 'open') li.append(' ', button(t('openItem'), () => send({ type: 'agenda.open', item: it.id }), 'open-item', true));
      ol.append(li);
    }
  }

  function docTitle(id) { const d = view.documents.find((x) => x.id === id); return d ? d.title : `#${id}`; }

  function renderDocs() {
    const list = $('.proc-doclist'); list.innerHTML = '';
    const items = [...view.agenda.map((it) => ({ id: it.id, title: it.title })), { id: null, title: t('allItems') }];
    for (const it of items) {
      const docs = view.documents.filter((d) => (d.item ?? null) === it.id);
      if (!docs.length) continue;
      const h = document.createElement('h3'); h.textContent = it.title; list.append(h);
      for (const d of docs) {
        const v = d.versions[d.versions.length - 1];
        const row = document.createElement('div'); row.className = 'proc-doc'; row.dataset.doc = d.id;
        row.innerHTML = `<a href="${contentURL(d.id, v.version)}">${esc(d.title)}</a>
          <span class="muted">${esc(v.filename)} · ${esc(t('versionN', { v: v.version }))} · ${(v.size / 1024).toFixed(0)} KB</span>`;
        if (isChair() && view.meeting.state === 'open') row.append(' ', button(t('show'), () => send({ type: 'doc.show', doc: d.id, version: v.version, page: 1 }), 'show-doc', true));
        list.append(row);
      }
    }
    if (view.documents.length) {
      const pre = button(t('prefetch'), prefetchAll, 'prefetch', true);
      list.append(pre);
    }
    renderViewer();
  }

  async function prefetchAll() {
    const latest = view.documents.map((d) => ({ d, v: d.versions[d.versions.length - 1] }));
    let done = 0;
    const note = document.createElement('span'); note.className = 'muted';
    $('.proc-doclist').append(note);
    for (const { d, v } of latest) {
      const url = contentURL(d.id, v.version);
      if (!(await cachedBlob(url))) {
        const blob = await resumableDownload(url, () => {});
        if ('caches' in window) await (await caches.open(CACHE)).put(url, new Response(blob, { headers: { 'Content-Type': v.content_type } }));
      }
      note.textContent = t('prefetched', { n: ++done, of: latest.length });
    }
  }

  async function renderViewer() {
    const s = view.state, follow = $('.proc-follow'), frame = $('.proc-frame'), ctl = $('.proc-doc-ctl');
    ctl.innerHTML = '';
    if (!s.doc) { follow.textContent = t('noDoc'); frame.innerHTML = ''; shown = ''; return; }
    follow.textContent = t('following', { title: docTitle(s.doc.doc), page: s.doc.page });
    if (isChair() && view.meeting.state === 'open') {
      const go = (p) => send({ type: 'doc.show', doc: s.doc.doc, version: s.doc.version, page: p });
      ctl.append(button(t('prev'), () => go(Math.max(1, s.doc.page - 1)), 'prev-page', true), ' ',
        button(t('next'), () => go(s.doc.page + 1), 'next-page', true));
    }
    const key = `${s.doc.doc}/${s.doc.version}/${s.doc.page}`;
    if (key === shown) return;
    shown = key;
    const d = view.documents.find((x) => x.id === s.doc.doc);
    const v = d && d.versions.find((x) => x.version === s.doc.version);
    if (!v || v.content_type !== 'application/pdf') { frame.innerHTML = ''; return; }
    const url = contentURL(s.doc.doc, s.doc.version);
    let src = `${url}?inline=1`;
    const blob = await cachedBlob(url);
    if (blob) { if (blobURL) URL.revokeObjectURL(blobURL); blobURL = URL.createObjectURL(blob); src = blobURL; }
    // A new frame per page: the versioned URL is immutable, so this comes from cache.
    frame.innerHTML = `<iframe title="${esc(d.title)}" src="${src}#page=${s.doc.page}"></iframe>`;
  }

  function renderQueue() {
    const box = $('.proc-queue div'), s = view.state; box.innerHTML = '';
    const floor = document.createElement('p');
    if (s.floor) {
      floor.innerHTML = `<strong>${esc(t('speaking'))}:</strong> ${esc(inv(s.floor.invitee).name)} <span class="proc-timer" data-since="${esc(s.floor.from)}"></span>`;
    } else floor.textContent = t('nobody');
    box.append(floor);
    if (s.floor && (isChair() || (me() && me().id === s.floor.invitee))) box.append(button(t('endFloor'), () => send({ type: 'floor.end' }), 'end-floor', true));
    const q = s.queues[s.current_item] || [];
    const ol = document.createElement('ol'); ol.className = 'proc-hands';
    if (!q.length) { // an empty state, not a numbered item
      const empty = document.createElement('p'); empty.className = 'muted proc-hands-empty'; empty.textContent = t('queueEmpty');
      box.append(empty);
    }
    for (const e of q) {
      const li = document.createElement('li'); li.textContent = inv(e.invitee).name; li.dataset.invitee = e.invitee;
      if (isChair() && view.meeting.state === 'open') li.append(' ', button(t('give'), () => send({ type: 'floor.give', invitee: e.invitee }), 'give-floor', true));
      ol.append(li);
    }
    if (q.length) box.append(ol);
    if (me() && me().role !== 'observer' && view.meeting.state === 'open') {
      const up = q.some((e) => e.invitee === me().id);
      box.append(up ? button(t('lower'), () => send({ type: 'hand.lower' }), 'lower-hand', true)
        : button(t('raise'), () => send({ type: 'hand.raise' }), 'raise-hand'));
    }
    if (isChair() && view.meeting.state === 'open') {
      const sel = document.createElement('select'); sel.className = 'proc-give-any';
      for (const i of view.invitees) if (i.role !== 'observer' && present(status(i.id))) sel.add(new Option(i.name, i.id));
      box.append(document.createElement('br'), sel, ' ', button(t('give'), () => send({ type: 'floor.give', invitee: Number(sel.value) }), 'give-any', true));
    }
    clearInterval(tick);
    const timer = box.querySelector('.proc-timer');
    if (timer) {
      const since = Date.parse(timer.dataset.since);
      const upd = () => { const s2 = Math.max(0, Math.round((Date.now() - since) / 1000)); timer.textContent = `${Math.floor(s2 / 60)}:${String(s2 % 60).padStart(2, '0')}`; };
      upd(); tick = setInterval(upd, 1000);
    }
  }

  function renderVote() {
    const box = $('.proc-vote div'), s = view.state; box.innerHTML = '';
    const open = s.votes.find((v) => v.open);
    const last = open || [...s.votes].reverse().find((v) => v.item === s.current_item);
    if (last) {
      const h = document.createElement('p'); h.className = 'proc-question';
      h.innerHTML = `<strong>${esc(last.question)}</strong>${last.secret ? ` <span class="tag">${esc(t('secret'))}</span>` : ''}`;
      box.append(h);
      const eligible = view.invitees.filter((i) => (i.role === 'chair' || i.role === 'member') && present(status(i.id))).length;
      const count = document.createElement('p'); count.className = 'proc-votecount';
      count.textContent = t('votedCount', { n: last.voters.length, of: eligible });
      box.append(count);
      if (last.result) {
        const r = last.result, res = document.createElement('p');
        res.className = `proc-result ${r.passed ? 'ok' : 'error'}`;
        res.innerHTML = `<strong>${esc(r.passed ? t('passed') : t('failed'))}</strong> — ${esc(t('result', r))}`;
        box.append(res);
      } else if (!last.secret) {
        const c = { yes: 0, no: 0, abstain: 0 };
        Object.values(last.ballots || {}).forEach((x) => { c[x]++; });
        const live = document.createElement('p'); live.className = 'muted proc-live';
        live.textContent = `${t('yes')} ${c.yes} · ${t('no')} ${c.no} · ${t('abstain')} ${c.abstain}`;
        box.append(live);
      }
      if (open && me() && (me().role === 'chair' || me().role === 'member')) {
        if (open.voters.includes(me().id)) box.insertAdjacentHTML('beforeend', `<p class="ok proc-voted">${esc(t('voted'))}</p>`);
        else if (present(status(me().id))) {
          const row = document.createElement('div'); row.className = 'proc-ballot';
          for (const c of ['yes', 'no', 'abstain']) row.append(button(t(c), () => send({ type: 'vote.cast', vote: open.id, choice: c }), `vote-${c}`, c !== 'yes'), ' ');
          box.append(row);
        }
      }
      if (open && isChair()) box.append(button(t('closeVote'), () => send({ type: 'vote.close', vote: open.id }), 'close-vote', true));
    } else box.insertAdjacentHTML('beforeend', `<p class="muted">${esc(t('noVote'))}</p>`);
    if (!open && isChair() && view.meeting.state === 'open') {
      const f = document.createElement('form'); f.className = 'proc-open-vote';
      f.innerHTML = `<input name="question" required maxlength="1000" placeholder="${esc(t('question'))}">
        <label><input type="checkbox" name="secret"> ${esc(t('secret'))}</label> <button type="submit" data-action="open-vote">${esc(t('openVote'))}</button>`;
      f.addEventListener('submit', async (e) => {
        e.preventDefault();
        try { await send({ type: 'vote.open', question: f.question.value, secret: f.secret.checked }); } catch { /* shown */ }
      });
      box.append(f);
    }
  }

  function renderAttendance() {
    const tb = $('.proc-attendance tbody'); tb.innerHTML = '';
    const keeper = (isChair() || isSecretary()) && (view.meeting.state === 'open' || view.meeting.state === 'scheduled');
    for (const i of view.invitees) {
      const a = view.state.attendance[i.id] || { status: 'expected' };
      const tr = document.createElement('tr'); tr.dataset.invitee = i.id;
      tr.innerHTML = `<td>${esc(i.name)}${me() && me().id === i.id ? ` <span class="muted">(${esc(t('you'))})</span>` : ''}<br><span class="muted">${esc(i.position || '')}</span></td>
        <td>${esc(t(i.role))}${i.secretary ? `, ${esc(t('secretary'))}` : ''}</td>
        <td class="att-${esc(a.status)}">${esc(t(a.status))}${a.reason ? ` — ${esc(a.reason)}` : ''}</td><td></td>`;
      if (keeper) {
        const sel = document.createElement('select');
        for (const st of ['in_hall', 'online', 'absent', 'expected']) sel.add(new Option(t(st), st, false, st === a.status));
        const reason = document.createElement('input'); reason.placeholder = t('reason'); reason.size = 12;
        tr.lastElementChild.append(sel, ' ', reason, ' ', button(t('mark'), () => send({ type: 'attendance.mark', invitee: i.id, status: sel.value, reason: sel.value === 'absent' ? reason.value : '' }), 'mark', true));
      }
      tb.append(tr);
    }
  }

  async function renderMinutes() {
    const box = $('.proc-minutes div');
    if (!view.minutes) { box.innerHTML = `<p class="muted">${esc(t('minutesLater'))}</p>`; return; }
    if (view.minutes.state === 'approved') {
      const s = await fetchJSON(`${api(meetingId)}/minutes`).catch(() => null);
      if (!s) return;
      box.innerHTML = `<p class="ok"><strong>${esc(t('signed'))}</strong></p>
        <p class="muted">${esc(t('sha'))}: <code>${esc(s.sha256)}</code><br>${esc(t('keyId'))}: <code>${esc(s.key_id)}</code></p>
        <p><a href="${api(meetingId)}/minutes.pdf" download="bien-ban-${meetingId}.pdf">${esc(t('pdf'))}</a></p>
        <pre class="proc-text">${esc(s.text)}</pre>`;
      const out = document.createElement('p');
      box.append(button(t('verify'), async () => {
        const v = await fetchJSON('/api/v1/minutes/verify', { method: 'POST', body: JSON.stringify(s) });
        out.className = v.valid ? 'ok' : 'error'; out.textContent = `${v.valid ? t('valid') : t('invalid')}: ${v.reason}`;
      }, 'verify', true), out);
      return;
    }
    const d = await fetchJSON(`${api(meetingId)}/minutes/draft`).catch(() => null);
    if (!d) return;
    box.innerHTML = `<p class="muted">${esc(t('draftRev', { rev: d.revision }))}</p>`;
    const ta = document.createElement('textarea'); ta.className = 'proc-text'; ta.value = d.text; ta.rows = 18; ta.readOnly = !isSecretary();
    box.append(ta);
    if (isSecretary()) {
      box.append(button(t('save'), () => send({ type: 'minutes.save', revision: d.revision, text: ta.value }), 'save-minutes'), ' ',
        button(t('redraft'), () => send({ type: 'minutes.redraft', revision: d.revision }), 'redraft', true), ' ');
    }
    if (isChair()) box.append(button(t('approve'), () => send({ type: 'minutes.approve', revision: d.revision }), 'approve'));
  }

  await sync();
  if (join && me() && !present(status(me().id)) && ['scheduled', 'open'].includes(view.meeting.state)) {
    await send({ type: 'attendance.join', mode: join }).catch(() => {});
  }
  root.proceedings = {
    refresh: sync,
    view: () => view,
    destroy() { sub.stop(); clearInterval(tick); if (blobURL) URL.revokeObjectURL(blobURL); root.innerHTML = ''; delete root.proceedings; },
    rerender() { t.apply(root); if (view) render(); },
    lang,
  };
  return root.proceedings;
}
