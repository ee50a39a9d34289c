// The meeting room: camera and microphone (or audio only) through the hub's
// SFU, a grid of participants with the active speaker highlighted, mute,
// camera off, screen share, leave, connection quality, and the proceedings
// panels (agenda, documents, queue, votes, minutes) on the same websocket.
//
// Two RTCPeerConnections, each with one offerer, so renegotiation cannot
// glare: "up" carries what we publish (we offer), "down" what we receive
// (the server offers). Protocol: docs/meeting-protocol.md.
import { translator, lang, langToggle } from '/static/hub/i18n.js';
import { mountProceedings, socketTransport } from '/static/proceedings/proceedings.js';
import { LinkWatch, weakSample } from '/static/meeting/link.js';

const t = translator({
  vi: {
    room: 'Phòng họp trực tuyến', when: '{date}, {time} (giờ Việt Nam)', chair: 'Chủ trì: {name}', noChair: 'Chưa có người chủ trì',
    lobbyNote: 'Chọn cách tham gia. Trên đường truyền yếu, hãy chọn chỉ âm thanh.',
    joinAV: 'Tham gia với camera và micro', joinAudio: 'Chỉ âm thanh', mic: 'Micro', camera: 'Camera',
    screen: 'Chia sẻ màn hình', audioOnly: 'Chỉ âm thanh', dataSaver: 'Tiết kiệm dữ liệu', leave: 'Rời cuộc họp', leftNote: 'Bạn đã rời cuộc họp.',
    rejoin: 'Tham gia lại', you: '(bạn)', muted: 'Đã tắt micro', camOff: 'Đã tắt camera', sharing: 'đang chia sẻ màn hình',
    good: 'Kết nối tốt', fair: 'Kết nối trung bình', poor: 'Kết nối kém', connecting: 'Đang kết nối…',
    autoAudio: 'Đường truyền yếu: đã tự chuyển sang chỉ âm thanh. Hình ảnh sẽ trở lại khi đường truyền tốt hơn.',
    autoScreen: 'Đường truyền yếu: chỉ nhận màn hình chia sẻ, tạm tắt camera của mọi người.',
    autoLow: 'Đường truyền yếu: đang nhận hình ảnh chất lượng thấp.',
    weak: 'Đường truyền yếu: mất {loss}% gói tin, trễ {rtt} ms. Nếu tiếng bị ngắt, hãy chọn chỉ âm thanh.',
    chosenAudio: 'Bạn đang ở chế độ chỉ âm thanh.',
    chosenSaver: 'Tiết kiệm dữ liệu: nhận hình camera chất lượng thấp, màn hình chia sẻ vẫn rõ nét.', noDevice: 'Không mở được camera hoặc micro ({err}): bạn chỉ nghe và xem.',
    insecure: 'Trình duyệt chỉ cho dùng camera và micro qua https (hoặc localhost): bạn chỉ nghe và xem.',
    noCamera: 'Không mở được camera, tham gia chỉ với micro.', reconnecting: 'Mất kết nối, đang kết nối lại…',
    denied: 'Bạn không có quyền tham gia cuộc họp này.', closed: 'Kết nối bị đóng: {reason}',
    revoked: 'Bạn không còn quyền tham dự cuộc họp này',
    ended: 'Cuộc họp đã kết thúc.', cancelled: 'Cuộc họp đã bị hủy.',
    audioOnlyBadge: 'chỉ âm thanh', speaking: 'đang nói', loss: 'mất gói {down}% nhận / {up}% gửi, trễ {rtt} ms',
  },
  en: {
    room: 'Online meeting room', when: '{date}, {time} (Vietnam time)', chair: 'Chair: {name}', noChair: 'No chair yet',
    lobbyNote: 'Choose how to join. On a weak link, choose audio only.',
    joinAV: 'Join with camera and microphone', joinAudio: 'Audio only', mic: 'Microphone', camera: 'Camera',
    screen: 'Share screen', audioOnly: 'Audio only', dataSaver: 'Data saver', leave: 'Leave', leftNote: 'You left the meeting.',
    rejoin: 'Join again', you: '(you)', muted: 'Microphone off', camOff: 'Camera off', sharing: 'is sharing the screen',
    good: 'Good connection', fair: 'Fair connection', poor: 'Poor connection', connecting: 'Connecting…',
    autoAudio: 'Weak link: switched to audio only. Video comes back when the link improves.',
    autoScreen: 'Weak link: receiving only the shared screen; cameras are paused.',
    autoLow: 'Weak link: receiving low-quality video.',
    weak: 'Weak link: {loss}% of packets lost, {rtt} ms round trip. If the sound breaks up, choose audio only.',
    chosenAudio: 'You are in audio-only mode.',
    chosenSaver: 'Data saver: cameras come in low quality; shared screens stay sharp.', noDevice: 'Cannot open the camera or microphone ({err}): you can listen and watch.',
    insecure: 'Browsers allow the camera and microphone only over https (or localhost): you can listen and watch.',
    noCamera: 'Cannot open the camera; joining with the microphone only.', reconnecting: 'Connection lost, reconnecting…',
    denied: 'You may not join this meeting.', closed: 'Connection closed: {reason}',
    revoked: 'You no longer have access to this meeting',
    ended: 'The meeting has ended.', cancelled: 'The meeting was cancelled.',
    audioOnlyBadge: 'audio only', speaking: 'speaking', loss: 'loss {down}% in / {up}% out, RTT {rtt} ms',
  },
});

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const meetingId = Number(location.pathname.split('/')[2]);
// Who we are travels in cookies: a user's session, or the meeting pass a
// guest's invite link gave (the link itself is used up by then).
const params = new URLSearchParams(location.search);

const S = {
  ws: null, up: null, down: null, me: null, myId: '', local: null, videoSender: null, audioSender: null,
  screenTr: null, audioOnly: false, dataSaver: localStorage.getItem('meeting.dataSaver') === '1', micOn: true, camOn: true, leaving: false, participants: [],
  tracks: new Map(), // down mid → {participant, source, kind}
  streams: new Map(), // participant id → {camera: MediaStream, screen: MediaStream, audio: MediaStream}
  active: '', speaking: new Set(), upBusy: false, upAgain: false, pendingUp: [], pendingDown: [],
  quality: null, link: null, retries: 0, proc: null, iceServers: [],
};

function send(msg) { if (S.ws && S.ws.readyState === WebSocket.OPEN) S.ws.send(JSON.stringify(msg)); }

// ---- lobby -------------------------------------------------------------

async function openMedia(video) {
  const audio = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
  if (!video) return navigator.mediaDevices.getUserMedia({ audio });
  try {
    return await navigator.mediaDevices.getUserMedia({ audio, video: { width: 640, height: 360, frameRate: 15 } });
  } catch (e) {
    showBanner(t('noCamera'));
    return navigator.mediaDevices.getUserMedia({ audio });
  }
}

async function join(video) {
  $('lobby-error').hidden = true;
  let note = '';
  if (!navigator.mediaDevices?.getUserMedia) {
    S.local = null; // not a secure context: take part listening and watching only
    note = t('insecure');
  } else {
    try {
      S.local = await openMedia(video);
    } catch (e) {
      S.local = null;
      note = t('noDevice', { err: e.message });
    }
  }
  S.audioOnly = !video;
  S.camOn = !!S.local && S.local.getVideoTracks().length > 0;
  S.micOn = !!S.local;
  document.body.dataset.state = 'room';
  $('lobby').hidden = true; $('left').hidden = true; $('room').hidden = false;
  const pv = $('preview'); if (pv.srcObject) { pv.srcObject.getTracks().forEach((x) => x.stop()); pv.srcObject = null; }
  connect();
  if (note) setTimeout(() => showBanner(note), 1500);
}

// showMeeting fills the lobby with what the meeting is: its title, when it
// starts (in Vietnam time, whatever the device's zone) and who chairs it.
let lobbyInfo = null;
async function loadLobby() {
  const r = await fetch(`/api/v1/meetings/${meetingId}`, { credentials: 'same-origin' }).catch(() => null);
  if (!r || !r.ok) return;
  lobbyInfo = await r.json();
  showMeeting();
}

function showMeeting() {
  if (!lobbyInfo) return;
  const m = lobbyInfo.meeting, locale = lang() === 'en' ? 'en-GB' : 'vi-VN', at = new Date(m.starts_at);
  const tz = { timeZone: 'Asia/Ho_Chi_Minh' };
  const date = at.toLocaleDateString(locale, { ...tz, weekday: 'long', day: '2-digit', month: '2-digit', year: 'numeric' });
  const time = at.toLocaleTimeString(locale, { ...tz, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  $('lobby-title').textContent = m.title;
  $('lobby-when').textContent = t('when', { date, time }) + (m.location ? ` · ${m.location}` : '');
  const chair = (lobbyInfo.invitees || []).find((i) => i.role === 'chair');
  $('lobby-chair').textContent = chair ? t('chair', { name: chair.position ? `${chair.name} — ${chair.position}` : chair.name }) : t('noChair');
  if (document.body.dataset.state === 'lobby') { $('title').textContent = m.title; document.title = m.title; }
}

// ---- signaling ---------------------------------------------------------

function wsURL() {
  const q = new URLSearchParams();
  if (S.audioOnly) q.set('audio', '1');
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws/meetings/${meetingId}?${q}`;
}

function connect() {
  setQuality('unknown', t('connecting'));
  const ws = new WebSocket(wsURL());
  S.ws = ws;
  let opened = false;
  ws.onopen = () => { opened = true; };
  ws.onmessage = (e) => { let m; try { m = JSON.parse(e.data); } catch { return; } onMessage(m).catch((err) => console.error(m.type, err)); };
  ws.onclose = async (e) => {
    if (S.ws !== ws) return;
    closePeers();
    if (S.leaving || e.code === 4302) return;
    if (e.code === 4403 || e.code === 1008) { showBanner(t('denied')); return; }
    if (e.code === 4401) { revoked(e.reason); return; } // access ended while connected: final
    if (!opened) { // refused before the upgrade: retrying helps only if we still may come in
      const r = await fetch(`/api/v1/meetings/${meetingId}`, { credentials: 'same-origin' }).catch(() => null);
      if (r && [401, 403, 404].includes(r.status)) { showBanner(t('denied')); return; }
    }
    showBanner(t('reconnecting'));
    const delay = Math.min(1000 * 2 ** S.retries++, 15000);
    setTimeout(() => { if (!S.leaving) connect(); }, delay);
  };
}

async function onMessage(m) {
  switch (m.type) {
    case 'joined': return onJoined(m);
    case 'redirect': S.leaving = true; location.href = m.url; return;
    case 'offer': return onOffer(m);
    case 'answer':
      await S.up.setRemoteDescription({ type: 'answer', sdp: m.sdp });
      for (const c of S.pendingUp.splice(0)) await S.up.addIceCandidate(c).catch(() => {});
      S.upBusy = false;
      if (S.upAgain) { S.upAgain = false; negotiateUp(); }
      return;
    case 'candidate': {
      const pc = m.target === 'up' ? S.up : S.down;
      const pending = m.target === 'up' ? S.pendingUp : S.pendingDown;
      if (!pc) return;
      if (!pc.remoteDescription) { pending.push(m.candidate); return; }
      return pc.addIceCandidate(m.candidate).catch(() => {});
    }
    case 'participants': S.participants = m.participants || []; return render();
    case 'speakers': S.active = m.active || ''; S.speaking = new Set((m.speaking || []).map((s) => s.id)); return renderSpeakers();
    case 'quality': return onQuality(m);
    case 'error': console.warn('meeting error', m.code, m.message); if (m.code === 'forbidden') showBanner(m.message); return;
    case 'bye': showBanner(t('closed', { reason: m.reason })); return;
  }
}

function onJoined(m) {
  S.retries = 0;
  S.myId = m.id; S.me = m.me; S.iceServers = m.iceServers || [];
  S.link = new LinkWatch(performance.now()); // a new connection warms up again
  $('title').textContent = m.meeting.title;
  document.title = m.meeting.title;
  hideBanner();
  const config = { iceServers: S.iceServers, bundlePolicy: 'max-bundle' };
  S.down = new RTCPeerConnection(config);
  S.down.onicecandidate = (e) => { if (e.candidate) send({ type: 'candidate', target: 'down', candidate: e.candidate.toJSON() }); };
  S.down.ontrack = onTrack;
  S.up = new RTCPeerConnection(config);
  S.up.onicecandidate = (e) => { if (e.candidate) send({ type: 'candidate', target: 'up', candidate: e.candidate.toJSON() }); };
  S.videoSender = null; S.audioSender = null; S.screenTr = null;
  const a = S.local && S.local.getAudioTracks()[0];
  if (a) {
    a.enabled = S.micOn;
    const tr = S.up.addTransceiver(a, { direction: 'sendonly', streams: [S.local] });
    preferRED(tr);
    S.audioSender = tr.sender;
  }
  const v = S.local && S.local.getVideoTracks()[0];
  if (v && S.me.role !== 'observer') {
    S.videoSender = S.up.addTransceiver(v, {
      direction: 'sendonly', streams: [S.local],
      sendEncodings: [{ rid: 'l', scaleResolutionDownBy: 2, maxBitrate: 150000 }, { rid: 'h', maxBitrate: 700000 }],
    }).sender;
  }
  if (S.me.role !== 'observer' && (a || v)) negotiateUp();
  if (S.audioOnly) send({ type: 'quality', audioOnly: true });
  if (S.dataSaver) send({ type: 'quality', dataSaver: true });
  if (S.audioSender && !S.micOn) send({ type: 'mute', source: 'mic', muted: true });
  mountPanels();
  render();
  updateControls();
}

// preferRED puts redundant audio (audio/red: every packet also carries the
// previous frame) first among the audio codecs, so a lost packet on the
// way to a listener is filled from the next one; the hub forwards plain
// Opus to browsers without it. Where the browser cannot, Opus stays.
function preferRED(tr) {
  const codecs = (window.RTCRtpSender && RTCRtpSender.getCapabilities && RTCRtpSender.getCapabilities('audio')?.codecs) || [];
  const red = codecs.filter((c) => c.mimeType.toLowerCase() === 'audio/red');
  if (!red.length || !tr.setCodecPreferences) return;
  try { tr.setCodecPreferences([...red, ...codecs.filter((c) => c.mimeType.toLowerCase() !== 'audio/red')]); } catch (e) { console.warn('RED', e); }
}

// negotiateUp sends our offer for the up connection; a change while an
// offer is out waits for its answer.
async function negotiateUp() {
  if (S.upBusy) { S.upAgain = true; return; }
  S.upBusy = true;
  const offer = await S.up.createOffer();
  await S.up.setLocalDescription(offer);
  const sources = {};
  for (const tr of S.up.getTransceivers()) {
    if (tr.stopped || tr.currentDirection === 'stopped' || !tr.mid) continue;
    if (tr === S.screenTr) sources[tr.mid] = 'screen';
    else if (tr.sender === S.audioSender) sources[tr.mid] = 'mic';
    else if (tr.sender === S.videoSender) sources[tr.mid] = 'camera';
  }
  send({ type: 'offer', sdp: S.up.localDescription.sdp, sources });
}

async function onOffer(m) {
  for (const tr of m.tracks || []) S.tracks.set(tr.mid, tr);
  await S.down.setRemoteDescription({ type: 'offer', sdp: m.sdp });
  for (const c of S.pendingDown.splice(0)) await S.down.addIceCandidate(c).catch(() => {});
  const answer = await S.down.createAnswer();
  await S.down.setLocalDescription(answer);
  send({ type: 'answer', sdp: S.down.localDescription.sdp });
  render();
}

function onTrack(e) {
  const info = S.tracks.get(e.transceiver.mid);
  if (!info) return;
  const key = info.kind === 'audio' ? 'audio' : info.source;
  const set = S.streams.get(info.participant) || {};
  set[key] = new MediaStream([e.track]);
  S.streams.set(info.participant, set);
  e.track.onunmute = () => render();
  render();
}

function closePeers() {
  for (const pc of [S.up, S.down]) if (pc) pc.close();
  S.up = S.down = null;
  S.tracks.clear(); S.streams.clear(); S.pendingUp = []; S.pendingDown = []; S.upBusy = false; S.upAgain = false;
}

// ---- the grid ------------------------------------------------------------

function tileFor(p) {
  let el = document.querySelector(`.mt-tile[data-id="${CSS.escape(p.id)}"]`);
  if (!el) {
    el = document.createElement('figure');
    el.className = 'mt-tile';
    el.dataset.id = p.id;
    el.innerHTML = '<video playsinline autoplay></video><audio autoplay></audio><div class="mt-avatar"></div><figcaption></figcaption>';
    $('grid').append(el);
  }
  return el;
}

function render() {
  const grid = $('grid');
  const present = new Set(S.participants.map((p) => p.id));
  grid.querySelectorAll('.mt-tile').forEach((el) => { if (!present.has(el.dataset.id)) el.remove(); });
  let sharing = null;
  for (const p of S.participants) {
    const me = p.id === S.myId;
    const el = tileFor(p);
    const src = (k) => (p.tracks || []).find((x) => x.source === k);
    const cam = src('camera'), mic = src('mic'), scr = src('screen');
    if (scr) sharing = p;
    const set = S.streams.get(p.id) || {};
    const video = el.querySelector('video'), audio = el.querySelector('audio');
    let stream = null;
    if (me) stream = S.camOn && S.local && S.local.getVideoTracks().length ? S.local : null;
    else stream = (scr && set.screen) || (cam && !cam.muted && set.camera) || null;
    if (video.srcObject !== stream) video.srcObject = stream;
    video.muted = true;
    if (!me && set.audio && audio.srcObject !== set.audio) audio.srcObject = set.audio;
    const showVideo = !!stream && !(S.quality && S.quality.level === 'audio' && !me);
    el.classList.toggle('no-video', !showVideo);
    el.classList.toggle('screen', !!scr && !!set.screen);
    el.querySelector('.mt-avatar').textContent = (p.name || '?').trim().split(/\s+/).pop().slice(0, 2).toUpperCase();
    const flags = [];
    if (!mic || mic.muted) flags.push(`<span class="mt-flag" title="${esc(t('muted'))}">🔇</span>`);
    if (cam && cam.muted) flags.push(`<span class="mt-flag" title="${esc(t('camOff'))}">📷✕</span>`);
    if (p.audioOnly) flags.push(`<span class="mt-badge">${esc(t('audioOnlyBadge'))}</span>`);
    el.querySelector('figcaption').innerHTML = `${esc(p.name)} ${me ? esc(t('you')) : ''} ${flags.join(' ')}`;
  }
  grid.dataset.count = String(S.participants.length);
  grid.classList.toggle('has-screen', !!sharing);
  renderSpeakers();
}

function renderSpeakers() {
  document.querySelectorAll('.mt-tile').forEach((el) => {
    el.classList.toggle('active', el.dataset.id === S.active);
    el.classList.toggle('speaking', S.speaking.has(el.dataset.id));
  });
}

// ---- quality ---------------------------------------------------------------

function setQuality(level, text) {
  const q = $('quality');
  q.dataset.level = level;
  $('quality-text').textContent = text;
}

// onQuality shows the hub's report of our link. The weak-link banner and
// the "poor" mark follow the rule in link.js (measured loss, round trip,
// or a level the hub lowered, for seconds on end after a warm-up), not
// each report: a connection's first seconds look weak and are not.
async function onQuality(m) {
  S.quality = m;
  const at = performance.now();
  const sample = { ...m, ...(await uplink()) };
  if (S.quality !== m) return; // a newer report came while the stats were read
  const weak = S.link ? S.link.add(sample, at) : false;
  const loss = Math.max(m.lossDown || 0, m.lossUp || 0);
  const level = weak ? 'poor' : weakSample(sample) || m.auto ? 'fair' : 'good';
  setQuality(level, t(level));
  $('quality').title = t('loss', { down: Math.round((m.lossDown || 0) * 100), up: Math.round((m.lossUp || 0) * 100), rtt: Math.round(m.rttMs || 0) });
  if (weak && m.auto && m.level === 'audio') showBanner(t('autoAudio'));
  else if (weak && m.auto && m.level === 'screen') showBanner(t('autoScreen'));
  else if (weak && m.auto && m.level === 'low') showBanner(t('autoLow'));
  else if (weak) showBanner(t('weak', { loss: Math.round(loss * 100), rtt: Math.round(m.rttMs || 0) }));
  else if (!m.auto && m.audioOnly) showBanner(t('chosenAudio'));
  else if (!m.auto && m.dataSaver) showBanner(t('chosenSaver'));
  else hideBanner();
  render();
}

// uplink returns the browser's estimate of what it can send and what the
// least it sends needs: the low camera layer (150 kbit/s) when it sends a
// camera, and about 64 kbit/s for the microphone (Opus with RED).
async function uplink() {
  if (!S.up) return {};
  let upBps = 0;
  try {
    const rs = await S.up.getStats();
    rs.forEach((r) => { if (r.type === 'transport' && r.selectedCandidatePairId) upBps = rs.get(r.selectedCandidatePairId)?.availableOutgoingBitrate || 0; });
  } catch { return {}; }
  const upNeedBps = (S.audioSender && S.micOn ? 64000 : 0) + (S.videoSender && S.camOn ? 150000 : 0);
  return { upBps, upNeedBps };
}

function showBanner(s) { const b = $('banner'); b.textContent = s; b.hidden = false; }
function hideBanner() { $('banner').hidden = true; }

// ---- controls --------------------------------------------------------------

function updateControls() {
  $('mic').dataset.on = String(S.micOn);
  $('camera').dataset.on = String(S.camOn);
  $('camera').disabled = S.me?.role === 'observer';
  $('screen').disabled = S.me?.role === 'observer';
  $('screen').dataset.on = String(!!S.screenTr);
  $('audio-only').dataset.on = String(S.audioOnly);
  $('data-saver').dataset.on = String(S.dataSaver);
}

$('mic').onclick = () => {
  if (!S.audioSender) return;
  S.micOn = !S.micOn;
  S.local?.getAudioTracks().forEach((x) => { x.enabled = S.micOn; });
  send({ type: 'mute', source: 'mic', muted: !S.micOn });
  updateControls();
};

$('camera').onclick = async () => {
  if (S.camOn) {
    S.camOn = false;
    if (S.videoSender) await S.videoSender.replaceTrack(null);
    S.local?.getVideoTracks().forEach((x) => { x.stop(); S.local.removeTrack(x); });
    send({ type: 'mute', source: 'camera', muted: true });
  } else {
    let cam;
    try { cam = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360, frameRate: 15 } }); } catch (e) { showBanner(t('noDevice', { err: e.message })); return; }
    const v = cam.getVideoTracks()[0];
    S.local ||= new MediaStream();
    S.local.addTrack(v);
    S.camOn = true;
    if (S.videoSender) { await S.videoSender.replaceTrack(v); send({ type: 'mute', source: 'camera', muted: false }); }
    else if (S.up) {
      S.videoSender = S.up.addTransceiver(v, { direction: 'sendonly', streams: [S.local],
        sendEncodings: [{ rid: 'l', scaleResolutionDownBy: 2, maxBitrate: 150000 }, { rid: 'h', maxBitrate: 700000 }] }).sender;
      negotiateUp();
    }
  }
  updateControls();
  render();
};

$('screen').onclick = async () => {
  if (!S.up) return;
  if (S.screenTr) {
    S.screenTr.sender.track?.stop();
    S.screenTr.stop();
    S.screenTr = null;
  } else {
    let s;
    try { s = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 5 } }); } catch { return; }
    const v = s.getVideoTracks()[0];
    v.contentHint = 'detail';
    S.screenTr = S.up.addTransceiver(v, { direction: 'sendonly', sendEncodings: [{ maxBitrate: 800000 }] });
    v.onended = () => { if (S.screenTr && S.screenTr.sender.track === v) $('screen').click(); };
  }
  negotiateUp();
  updateControls();
};

$('audio-only').onclick = () => {
  S.audioOnly = !S.audioOnly;
  send({ type: 'quality', audioOnly: S.audioOnly });
  updateControls();
};

// Data saver (cameras on their low layer; kept for the next meeting too):
// for a metered mobile link, or a weak one before the hub notices.
$('data-saver').onclick = () => {
  S.dataSaver = !S.dataSaver;
  localStorage.setItem('meeting.dataSaver', S.dataSaver ? '1' : '0');
  send({ type: 'quality', dataSaver: S.dataSaver });
  updateControls();
};

function leave() {
  S.leaving = true;
  send({ type: 'leave' });
  setTimeout(() => S.ws && S.ws.close(), 200);
  closePeers();
  S.local?.getTracks().forEach((x) => x.stop());
  S.local = null;
  $('grid').innerHTML = '';
  $('room').hidden = true; $('left').hidden = false;
  document.body.dataset.state = 'left';
}
$('leave').onclick = leave;

// revoked ends the room for good: the hub closed the socket with 4401
// because the invitee was removed, their link re-issued, or the meeting
// cancelled or closed. Camera and microphone stop; nothing reconnects.
function revoked(reason) {
  const why = /cancelled$/.test(reason || '') ? 'cancelled' : /closed$/.test(reason || '') ? 'ended' : 'revoked';
  S.leaving = true;
  S.local?.getTracks().forEach((x) => x.stop());
  S.local = null;
  $('grid').innerHTML = '';
  document.querySelector('.mt-controls').hidden = true;
  document.body.dataset.state = 'revoked';
  setQuality('unknown', '');
  showBanner(t(why));
  $('banner').dataset.i18n = why; // follows the language switch
}
$('rejoin').onclick = () => { S.leaving = false; join(!S.audioOnly); };

$('join-av').onclick = () => join(true);
$('join-audio').onclick = () => join(false);

// ---- proceedings ---------------------------------------------------------

async function mountPanels() {
  const root = $('proceedings');
  root.innerHTML = '';
  try {
    S.proc = await mountProceedings(root, { meetingId, transport: socketTransport(S.ws) });
  } catch (e) {
    console.warn('proceedings', e);
  }
}

// ---- test and diagnostics hook -----------------------------------------------

// window.meetingStats summarises what this page receives, from getStats.
window.meetingStats = async () => {
  const out = { inboundVideo: [], inboundAudio: [], outbound: [], connected: S.down?.connectionState, upConnected: S.up?.connectionState, participants: S.participants.length, me: S.myId, weakLink: !!S.link?.shown };
  if (S.down) {
    (await S.down.getStats()).forEach((r) => {
      if (r.type !== 'inbound-rtp') return;
      const x = { mid: r.mid, packets: r.packetsReceived, lost: r.packetsLost, framesDecoded: r.framesDecoded, width: r.frameWidth, height: r.frameHeight, nacks: r.nackCount, samples: r.totalSamplesReceived, concealed: r.concealedSamples };
      (r.kind === 'video' ? out.inboundVideo : out.inboundAudio).push(x);
    });
  }
  if (S.up) {
    const rs = await S.up.getStats();
    rs.forEach((r) => {
      if (r.type === 'outbound-rtp') out.outbound.push({ kind: r.kind, rid: r.rid, packets: r.packetsSent, frames: r.framesEncoded });
      // the browser's own estimate of its uplink, from the hub's transport-cc feedback
      if (r.type === 'transport' && r.selectedCandidatePairId) out.upEstimate = rs.get(r.selectedCandidatePairId)?.availableOutgoingBitrate || 0;
    });
  }
  return out;
};

// ---- start ---------------------------------------------------------------

function applyLang() { t.apply(); showMeeting(); render(); }
langToggle($('lang'), applyLang);
t.apply();
loadLobby();
(async () => {
  if (params.get('autojoin') === 'av') return join(true);
  if (params.get('autojoin') === 'audio') return join(false);
  if (!navigator.mediaDevices?.getUserMedia) { $('lobby-error').textContent = t('insecure'); $('lobby-error').hidden = false; return; }
  try {
    const s = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 } });
    $('preview').srcObject = s;
  } catch { /* no camera: audio only still works */ }
})();
document.body.dataset.ready = 'true';
