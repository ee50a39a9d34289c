// One clock for the technician's pages (the devices list, a device's page,
// the workbench): times in Vietnam time whatever the browser's zone, like
// the walls, with the zone written next to them; the list and the device
// page let the technician switch to this computer's zone, one choice for
// both, kept in localStorage.
import { lang } from '/static/hub/i18n.js';

export const VN_TZ = 'Asia/Ho_Chi_Minh';
const TZ_KEY = 'communehub.devices.tz';
let mode = localStorage.getItem(TZ_KEY) === 'local' ? 'local' : 'vn';

// tzMode is "vn" (Vietnam time) or "local" (this computer's zone).
export const tzMode = () => mode;

// toggleTZ switches between the two and remembers the choice.
export function toggleTZ() {
  mode = mode === 'vn' ? 'local' : 'vn';
  localStorage.setItem(TZ_KEY, mode);
  return mode;
}

// zoneLabel is "GMT+7" in Vietnam time, else the browser's offset at d.
export function zoneLabel(d = new Date(), m = mode) {
  if (m === 'vn') return 'GMT+7';
  const off = -d.getTimezoneOffset(), a = Math.abs(off), mm = a % 60;
  return `GMT${off < 0 ? '-' : '+'}${Math.floor(a / 60)}${mm ? ':' + String(mm).padStart(2, '0') : ''}`;
}

// fmtTime gives "04:26 08/12 (GMT+7)": zone false leaves the zone out
// (chart axis labels: a note names it once), year adds the year, vn
// shows Vietnam time whatever the choice (the workbench pages), l is the
// language (default: the page's).
export function fmtTime(ts, { zone = true, year = false, vn = false, l = lang() } = {}) {
  const d = new Date(ts), m = vn ? 'vn' : mode;
  const opts = { hour: '2-digit', minute: '2-digit', day: '2-digit', month: '2-digit', hourCycle: 'h23' };
  if (year) opts.year = 'numeric';
  if (m === 'vn') opts.timeZone = VN_TZ;
  const s = d.toLocaleString(l === 'en' ? 'en-GB' : 'vi-VN', opts);
  return zone ? `${s} (${zoneLabel(d, m)})` : s;
}
