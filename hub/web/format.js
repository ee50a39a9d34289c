// One number formatter per language, shared by the walls and the staff
// pages, so "2.618" and "94,3%" in Vietnamese read "2,618" and "94.3%" in
// English on every screen. The language is the page's current one (i18n.js),
// read at each call, so a page that switches language needs no new formatter.
import { lang } from './i18n.js';

const locales = { vi: 'vi-VN', en: 'en-US' };
const cache = new Map(); // "lang|kind" → Intl.NumberFormat

function fmt(l, kind) {
  const key = `${l}|${kind}`;
  let f = cache.get(key);
  if (!f) {
    const opts = kind === 'pct' ? { style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1 } : { maximumFractionDigits: 1 };
    f = new Intl.NumberFormat(locales[l] || locales.vi, opts);
    cache.set(key, f);
  }
  return f;
}

// num formats a count or amount ("2.618" / "2,618"); anything that is not a
// number is shown as a dash.
export function num(v, l = lang()) {
  return typeof v === 'number' && Number.isFinite(v) ? fmt(l, 'num').format(v) : '–';
}

// pct formats a ratio (0.943 → "94,3%" / "94.3%"), given as a number or as a
// KPI rate object {num, den, value}; a missing value is a dash.
export function pct(r, l = lang()) {
  const v = typeof r === 'number' ? r : r && typeof r.value === 'number' ? r.value : null;
  return v != null && Number.isFinite(v) ? fmt(l, 'pct').format(v) : '–';
}
