// The layout checks of hubtest.Page.Layout, evaluated in the page. It
// returns a list of {kind, selector, text, detail}; the rules are in the
// doc comment of Layout (layout.go).
(() => {
  const out = [];
  const root = document.documentElement;
  const text = (el) => (el.textContent || '').replace(/\s+/g, ' ').trim().slice(0, 80);
  const path = (el) => {
    const parts = [];
    for (let e = el; e && e.nodeType === 1 && e !== root; e = e.parentElement) {
      let s = e.localName;
      if (e.id) { parts.unshift(s + '#' + e.id); break; }
      const cls = [...e.classList].slice(0, 2).map((c) => '.' + CSS.escape(c)).join('');
      s += cls;
      const p = e.parentElement;
      if (p && [...p.children].filter((c) => c.localName === e.localName && c.className === e.className).length > 1) {
        s += ':nth-child(' + ([...p.children].indexOf(e) + 1) + ')';
      }
      parts.unshift(s);
      if (parts.length === 5) break;
    }
    return parts.join(' > ');
  };
  const optedOut = (el) => !!el.closest('[data-layout-clip]');
  const shown = (el, cs) => {
    if (cs.display === 'none' || cs.visibility === 'hidden' || cs.visibility === 'collapse') return false;
    const r = el.getBoundingClientRect();
    // 1 px boxes are the visually-hidden pattern, for screen readers.
    return r.width > 1 && r.height > 1 && !el.closest('[hidden],[aria-hidden="true"]');
  };
  const clips = (v) => v === 'hidden' || v === 'clip';
  const ownText = (el) => [...el.childNodes].some((n) => n.nodeType === 3 && n.data.trim() !== '');
  // Deliberate truncation: an ellipsis (or a line clamp) with the whole text
  // in a title on the element or an ancestor.
  const titled = (el, cs) => {
    if (cs.textOverflow !== 'ellipsis' && !(cs.webkitLineClamp && cs.webkitLineClamp !== 'none')) return false;
    const t = el.closest('[title]');
    return !!t && t.title.replace(/\s+/g, ' ').trim().includes(text(el).slice(0, 79));
  };

  // (a) horizontal overflow of the page, with the elements that stick out.
  const vw = root.clientWidth;
  if (root.scrollWidth > vw) {
    const wide = [];
    for (const el of document.body.querySelectorAll('*')) {
      const cs = getComputedStyle(el);
      if (!shown(el, cs) || cs.position === 'fixed') continue;
      const r = el.getBoundingClientRect();
      if (r.right + window.scrollX > vw + 1 && ![...el.children].some((c) => c.getBoundingClientRect().right + window.scrollX > vw + 1)) wide.push(el);
    }
    out.push({kind: 'overflow', selector: 'html', text: '', detail: `page is ${root.scrollWidth}px wide in a ${vw}px viewport`});
    for (const el of wide.slice(0, 8)) {
      out.push({kind: 'overflow', selector: path(el), text: text(el), detail: `right edge at ${Math.round(el.getBoundingClientRect().right + window.scrollX)}px > ${vw}px`});
    }
  }

  // (b) clipped text.
  const seen = new Set();
  for (const el of document.body.querySelectorAll('*')) {
    if (!ownText(el) || optedOut(el) || ['script', 'style', 'noscript', 'option', 'textarea', 'title'].includes(el.localName)) continue;
    const cs = getComputedStyle(el);
    if (!shown(el, cs)) continue;
    // The element cuts its own text.
    const cutX = clips(cs.overflowX) && el.scrollWidth > el.clientWidth + 1;
    const cutY = clips(cs.overflowY) && el.scrollHeight > el.clientHeight + 1;
    if ((cutX || cutY) && !titled(el, cs)) {
      seen.add(el);
      out.push({kind: 'clipped', selector: path(el), text: text(el),
        detail: `${cutX ? `content ${el.scrollWidth}px wide in ${el.clientWidth}px` : ''}${cutX && cutY ? ', ' : ''}${cutY ? `content ${el.scrollHeight}px tall in ${el.clientHeight}px` : ''} (overflow ${cs.overflowX}/${cs.overflowY})`});
      continue;
    }
    // An ancestor that clips and does not scroll cuts the element's box.
    const r = el.getBoundingClientRect();
    for (let a = el.parentElement; a && a !== document.body && a !== root; a = a.parentElement) {
      const as = getComputedStyle(a);
      const ax = clips(as.overflowX), ay = clips(as.overflowY);
      if (as.overflowX === 'auto' || as.overflowX === 'scroll' || as.overflowY === 'auto' || as.overflowY === 'scroll') break; // a scroll container: its content is reachable
      if (!ax && !ay) continue;
      const b = a.getBoundingClientRect();
      const left = b.left + a.clientLeft, top = b.top + a.clientTop;
      const right = left + a.clientWidth, bottom = top + a.clientHeight;
      const outside = r.right <= left || r.left >= right || r.bottom <= top || r.top >= bottom;
      if (outside) break; // wholly out of view: hidden on purpose (a slide, a ticker's next item)
      const overX = ax && (r.left < left - 1 || r.right > right + 1);
      const overY = ay && (r.top < top - 1 || r.bottom > bottom + 1);
      if ((overX || overY) && !titled(el, cs) && !titled(a, as)) {
        out.push({kind: 'clipped', selector: path(el), text: text(el),
          detail: `cut by ${path(a)} (${overX ? `box ${Math.round(r.left)}–${Math.round(r.right)}px, visible ${Math.round(left)}–${Math.round(right)}px` : ''}${overX && overY ? '; ' : ''}${overY ? `box ${Math.round(r.top)}–${Math.round(r.bottom)}px, visible ${Math.round(top)}–${Math.round(bottom)}px` : ''})`});
      }
      break; // the nearest clipping ancestor decides
    }
  }
  return out;
})()
