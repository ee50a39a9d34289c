// Layouts of the wall. Each layout builds its tiles once; render() then
// updates text and attributes in place. A tile lists the topics it draws
// from, so the page can show its data age and mark it stale.
import { lineChart } from './chart.js';
import { num, pct } from '/static/hub/format.js';

export function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

// tile creates a tile shell: title, age line, stale badge and a body.
function tile(grid, cls, title, topics) {
  const age = h('span', { class: 'age' });
  const badge = h('span', { class: 'badge' });
  const body = h('div', { class: 'body' });
  const el = h('section', { class: `tile ${cls}` },
    h('header', {}, h('h2', { text: title }), h('span', { class: 'meta' }, badge, age)), body);
  grid.append(el);
  return { el, title, age, badge, body, topics };
}

function stat(parent, label, cls = '') {
  const value = h('span', { class: 'value', text: '–' });
  parent.append(h('div', { class: `stat ${cls}` }, value, h('span', { class: 'label', text: label })));
  return value;
}

const isList = (v) => Array.isArray(v);
const listCount = (v) => (Array.isArray(v) ? v.length : v && typeof v.count === 'number' ? v.count : 0);

// Layout constructors get (root, ctx) and return {tiles, render(state)}.
// ctx: {t, time, date, display, pageSeconds}. A layout may also return
// tick(now), which the page calls every second (the province ranking turns
// its pages with it).
export const layouts = { commune: communeLayout, province: provinceLayout, meeting: meetingLayout };

function communeLayout(root, ctx) {
  const { t } = ctx;
  const c = `commune/${ctx.display.scope}`;
  const T = { kpi: `${c}/kpi`, backlog: `${c}/backlog`, devices: `${c}/devices`, meetings: `${c}/meetings` };
  const grid = h('div', { class: 'grid commune' });
  root.append(grid);

  const dossiers = tile(grid, 'dossiers', t('dossiers'), [T.kpi]);
  const big = h('div', { class: 'stats big' });
  const small = h('div', { class: 'stats small' });
  dossiers.body.append(big, small);
  const dv = {
    open: stat(big, t('open')), overdue: stat(big, t('overdue'), 'bad'), dueSoon: stat(big, t('dueSoon'), 'warn'),
    onTime: stat(small, t('onTime'), 'good'), received: stat(small, t('received')), finished: stat(small, t('finished')),
  };

  const trend = tile(grid, 'trend', t('trend'), [T.backlog]);
  trend.body.append(h('div', { class: 'legend' }, h('span', { class: 'k received', text: t('trendReceived') }),
    h('span', { class: 'k finished', text: t('trendFinished') })));
  const trendChart = lineChart(trend.body, [{ key: 'received', cls: 'received' }, { key: 'finished', cls: 'finished' }]);

  const docs = tile(grid, 'documents', t('documents'), [T.kpi]);
  const ds = h('div', { class: 'stats big' });
  docs.body.append(ds);
  const docv = { backlog: stat(ds, t('docBacklog')), overdue: stat(ds, t('docOverdue'), 'bad'), urgent: stat(ds, t('docUrgent'), 'warn') };

  const lists = tile(grid, 'lists', t('actionList'), [T.backlog]);
  const overdueUl = h('ul', { class: 'items bad' });
  const dueUl = h('ul', { class: 'items warn' });
  lists.body.append(h('h3', { text: t('overdueList') }), overdueUl, h('h3', { text: t('dueSoonList') }), dueUl);

  const dev = tile(grid, 'devices', t('devices'), [T.devices]);
  const devStats = h('div', { class: 'stats row' });
  const incUl = h('ul', { class: 'items bad incidents' });
  const alarmLine = h('p', { class: 'alarms' });
  const latencyBox = h('div', { class: 'latency' }, h('h3', { text: t('latency') }));
  dev.body.append(devStats, alarmLine, incUl, latencyBox);
  const devv = {
    online: stat(devStats, t('dOnline'), 'good'), offline: stat(devStats, t('dOffline'), 'bad'),
    unreachable: stat(devStats, t('dUnreachable'), 'bad'), flapping: stat(devStats, t('dFlapping'), 'warn'),
  };
  const latencyChart = lineChart(latencyBox, [{ key: 'avg', cls: 'latency' }], { height: 160, yTicks: 2 });

  const meet = tile(grid, 'meetings', t('meetings'), [T.meetings]);
  const meetBody = h('div', { class: 'meet' });
  meet.body.append(meetBody);

  function render(state) {
    const kpi = state.topics[T.kpi]?.data;
    const d = kpi?.dossiers || {};
    dv.open.textContent = num(d.open);
    dv.overdue.textContent = num(d.open_overdue);
    dv.dueSoon.textContent = num(d.open_due_soon);
    dv.onTime.textContent = pct(d.on_time_rate);
    dv.received.textContent = num(d.received);
    dv.finished.textContent = num(d.finished);
    const doc = kpi?.documents || {};
    docv.backlog.textContent = num(doc.backlog);
    docv.overdue.textContent = num(doc.overdue);
    const backlog = state.topics[T.backlog]?.data;
    docv.urgent.textContent = backlog ? num(listCount(backlog.documents?.urgent)) : '–';

    const tr = Array.isArray(backlog?.trend) ? backlog.trend : [];
    trendChart.update(tr.map((p) => ({ label: (p.date || '').slice(5), received: p.received, finished: p.finished })));
    renderDossierList(overdueUl, backlog?.dossiers?.overdue, 'overdue', ctx, state.now);
    renderDossierList(dueUl, backlog?.dossiers?.due_soon, 'due', ctx, state.now);
    fitRows(lists.body, [overdueUl, dueUl]);

    const devData = state.topics[T.devices]?.data;
    const cnt = devData?.counts || {};
    for (const k of Object.keys(devv)) devv[k].textContent = num(cnt[k]);
    renderIncidents(incUl, devData?.incidents, ctx);
    const al = devData?.alarms;
    alarmLine.textContent = devData ? `${t('alarms')}: ${num(listCount(al))}` : '';
    latencyChart.update(state.latency.map((p) => ({ label: ctx.time(p.t).slice(0, 5), avg: p.avg })));

    renderMeetings(meetBody, state.topics[T.meetings]?.data, ctx);
  }
  return { tiles: [dossiers, trend, docs, lists, dev, meet], render };
}

function renderDossierList(ul, list, kind, ctx, now) {
  const { t } = ctx;
  const rows = [];
  if (isList(list)) {
    for (const it of list.slice(0, 6)) {
      const due = Date.parse(it.due_at);
      let when = '';
      if (!Number.isNaN(due)) {
        if (kind === 'overdue') when = t('overdueBy', { n: Math.max(1, Math.floor((now - due) / 86400000)) });
        else {
          const hours = Math.max(0, Math.round((due - now) / 3600000));
          when = hours >= 48 ? t('dueInDays', { n: Math.round(hours / 24) }) : t('dueIn', { n: hours });
        }
      }
      const name = it.procedure_name || it.procedure || '';
      rows.push(h('li', { class: 'row' }, h('span', { class: 'code', text: shortCode(it.code) }),
        h('span', { class: 'name', text: name, title: name }), h('span', { class: 'when', text: when })));
    }
    if (list.length > 6) rows.push(h('li', { class: 'more', 'data-hidden': list.length - 6, text: `+${list.length - 6}` }));
  } else if (list && list.redacted) {
    // A public screen: counts by procedure, no codes or names.
    const by = Object.entries(list.by || {}).sort((a, b) => b[1] - a[1]).slice(0, 6);
    for (const [name, n] of by) rows.push(h('li', { class: 'row' }, h('span', { class: 'name', text: name, title: name }), h('span', { class: 'when', text: t('countItems', { n }) })));
  }
  if (!rows.length) rows.push(h('li', { class: 'none', text: t(kind === 'overdue' ? 'noneOverdue' : 'noneDueSoon') }));
  ul.replaceChildren(...rows);
}

// shortCode keeps the distinctive end of a long dossier code
// (000.00.11.H17-260612-0003 → …260612-0003).
function shortCode(code) {
  if (!code) return '';
  return code.length > 14 ? `…${code.slice(-11)}` : code;
}

function renderIncidents(ul, list, ctx) {
  const { t } = ctx;
  const rows = [];
  if (isList(list)) {
    for (const it of list.slice(0, 4)) {
      const extra = [it.since ? t('since', { time: ctx.time(Date.parse(it.since)).slice(0, 5) }) : '',
        it.affected ? t('affected', { n: it.affected }) : '', it.ups_minutes ? t('ups', { n: Math.round(it.ups_minutes) }) : ''].filter(Boolean).join(' · ');
      const title = (ctx.display.lang === 'en' && it.title_en) || it.title || it.kind || '';
      rows.push(h('li', {}, h('span', { class: 'name', text: title }), h('span', { class: 'when', text: extra })));
    }
  } else if (list && list.redacted && list.count) {
    rows.push(h('li', {}, h('span', { class: 'name', text: `${t('incidents')}: ${list.count}` })));
  }
  if (!rows.length) rows.push(h('li', { class: 'none good', text: t('noIncidents') }));
  ul.replaceChildren(...rows);
  for (const n of ul.querySelectorAll('.name')) fitLines(n, 2);
}

// fitRows keeps a tile's lists inside its body: while the body overflows,
// the last row of the longest list gives way and is counted in that list's
// "+N", so a wall shows fewer whole rows rather than a cut one.
function fitRows(body, lists) {
  for (;;) {
    if (!body.clientHeight || body.scrollHeight <= body.clientHeight + 1) return; // not laid out, or fits
    const rowsOf = (ul) => ul.querySelectorAll(':scope > li.row');
    const ul = lists.filter((u) => rowsOf(u).length > 1).sort((a, b) => rowsOf(b).length - rowsOf(a).length)[0];
    if (!ul) return;
    const rows = rowsOf(ul);
    rows[rows.length - 1].remove();
    let more = ul.querySelector(':scope > li.more');
    if (!more) more = ul.appendChild(h('li', { class: 'more', 'data-hidden': 0 }));
    const n = Number(more.dataset.hidden) + 1;
    more.dataset.hidden = n;
    more.textContent = `+${n}`;
  }
}

// fitLines shrinks an element's text (down to 70 %) until it fits in the
// given number of lines, so a long incident title stays whole, count
// included, instead of being cut at the tile's edge.
function fitLines(el, lines) {
  el.style.fontSize = '';
  const base = parseFloat(getComputedStyle(el).fontSize);
  const lh = parseFloat(getComputedStyle(el).lineHeight) / base || 1.25; // line height per font size
  for (let scale = 1; scale > 0.7 && el.scrollHeight > lines * lh * base * scale + 1;) {
    scale -= 0.05;
    el.style.fontSize = `${(base * scale).toFixed(1)}px`;
  }
}

function renderMeetings(box, data, ctx) {
  const { t } = ctx;
  const rows = [];
  if (data?.now) {
    rows.push(h('div', { class: 'now' }, h('span', { class: 'tag live', text: t('meetingNow') }),
      h('p', { class: 'mtitle', text: data.now.title || '' }),
      h('p', { class: 'when', text: data.now.started_at ? t('startedAt', { time: ctx.time(Date.parse(data.now.started_at)).slice(0, 5) }) : '' })));
  }
  if (data?.next) {
    const at = Date.parse(data.next.starts_at);
    rows.push(h('div', { class: 'next' }, h('span', { class: 'tag', text: t('meetingNext') }),
      h('p', { class: 'mtitle', text: data.next.title || '' }),
      h('p', { class: 'when', text: Number.isNaN(at) ? '' : t('startsAt', { time: `${ctx.time(at).slice(0, 5)} ${ctx.date(at)}` }) })));
  }
  if (!rows.length) rows.push(h('p', { class: 'none', text: data ? t('noMeeting') : '' }));
  box.replaceChildren(...rows);
}

function provinceLayout(root, ctx) {
  const { t } = ctx;
  const topic = `province/${ctx.display.province}/kpi`;
  const grid = h('div', { class: 'grid province' });
  root.append(grid);
  const totals = tile(grid, 'totals', t('totals'), [topic]);
  const ts = h('div', { class: 'stats row big' });
  totals.body.append(ts);
  const tv = {
    received: stat(ts, t('received')), open: stat(ts, t('open')), overdue: stat(ts, t('overdue'), 'bad'),
    dueSoon: stat(ts, t('dueSoon'), 'warn'), onTime: stat(ts, t('onTime'), 'good'), docs: stat(ts, t('docsBacklog')),
  };
  const rank = tile(grid, 'ranking', t('communesRanked'), [topic]);
  const cols = h('div', { class: 'rankcols' });
  const pageEl = h('span', { class: 'page' });
  const idleEl = h('span', { class: 'idle' });
  rank.body.append(cols, h('p', { class: 'more' }, pageEl, idleEl));
  // Rows per column: the tile holds two columns of perCol. Communes with
  // something open are paged through, never hidden: a page every
  // pageSeconds, turned by the clock, so screens side by side stay in step.
  const perCol = 13;
  const pageMs = Math.max(2, ctx.pageSeconds || 10) * 1000;
  const tables = [0, 1].map(() => {
    const tbody = h('tbody');
    const table = h('table', { class: 'rank' },
      h('thead', {}, h('tr', {}, h('th', { text: '#' }), h('th', { text: t('colUnit') }), h('th', { class: 'n', text: t('colOverdue') }),
        h('th', { class: 'n', text: t('colDueSoon') }), h('th', { class: 'n', text: t('colOpen') }),
        h('th', { class: 'n', text: t('colOnTime') }), h('th', { class: 'n', text: t('colDocs') }))), tbody);
    cols.append(table);
    return { table, tbody };
  });
  let active = [];
  let shown = null; // {list, page} last drawn

  function drawPage(now) {
    // Two columns only when one would not hold them; pages of equal size,
    // so the last one does not leave the second column empty.
    const pages = Math.max(1, Math.ceil(active.length / (2 * perCol)));
    const page = pages > 1 ? Math.floor(now / pageMs) % pages : 0;
    if (shown && shown.list === active && shown.page === page) return;
    shown = { list: active, page };
    const size = Math.ceil(active.length / pages);
    const rows = active.slice(page * size, (page + 1) * size);
    const twoCols = rows.length > perCol;
    const left = twoCols ? Math.ceil(rows.length / 2) : rows.length;
    cols.classList.toggle('one', !twoCols);
    tables[1].table.hidden = !twoCols;
    [rows.slice(0, left), twoCols ? rows.slice(left) : []].forEach((part, col) => {
      const first = page * size + (col ? left : 0);
      tables[col].tbody.replaceChildren(...part.map((c, i) => h('tr', { class: c.open_overdue ? 'bad' : c.open_due_soon ? 'warn' : '' },
        h('td', { class: 'pos', text: String(first + i + 1) }), h('td', { text: c.name || c.code }),
        h('td', { class: 'n over', text: num(c.open_overdue) }), h('td', { class: 'n', text: num(c.open_due_soon) }),
        h('td', { class: 'n', text: num(c.open) }), h('td', { class: 'n', text: pct(c.on_time_rate) }),
        h('td', { class: 'n', text: num(c.documents_overdue) }))));
    });
    pageEl.textContent = pages > 1 ? t('page', { n: page + 1, of: pages }) : '';
  }

  function render(state) {
    const data = state.topics[topic]?.data;
    const d = data?.dossiers || {};
    tv.received.textContent = num(d.received);
    tv.open.textContent = num(d.open);
    tv.overdue.textContent = num(d.open_overdue);
    tv.dueSoon.textContent = num(d.open_due_soon);
    tv.onTime.textContent = pct(d.on_time_rate);
    tv.docs.textContent = num(data?.documents?.backlog);
    const communes = Array.isArray(data?.communes) ? [...data.communes] : [];
    communes.sort((a, b) => (b.open_overdue || 0) - (a.open_overdue || 0)
      || (b.documents_overdue || 0) - (a.documents_overdue || 0)
      || (rate(a) ?? 2) - (rate(b) ?? 2)
      || (b.open_due_soon || 0) - (a.open_due_soon || 0)
      || String(a.code).localeCompare(String(b.code)));
    // Communes with something open are ranked; idle ones are only counted.
    active = communes.filter((c) => c.open_overdue || c.documents_overdue || c.open_due_soon || c.open || c.documents_backlog);
    const idle = communes.length - active.length;
    idleEl.textContent = idle > 0 ? t('moreIdle', { n: num(idle) }) : '';
    drawPage(state.now);
  }
  return { tiles: [totals, rank], render, tick: drawPage };
}

function rate(c) {
  return c.on_time_rate && typeof c.on_time_rate.value === 'number' ? c.on_time_rate.value : null;
}

function meetingLayout(root, ctx) {
  const { t } = ctx;
  const unitTopic = `commune/${ctx.display.scope}/meetings`;
  const grid = h('div', { class: 'grid meeting' });
  root.append(grid);
  const main = tile(grid, 'session', t('meetings'), [unitTopic]);
  const title = h('h1', { class: 'mtitle' });
  const stateTag = h('span', { class: 'tag live' });
  const started = h('p', { class: 'started' });
  const item = h('p', { class: 'item' });
  const itemTitle = h('p', { class: 'itemtitle' });
  const next = h('p', { class: 'next' });
  main.body.append(h('div', { class: 'head' }, stateTag, title), started, item, itemTitle, next);
  const side = tile(grid, 'floor', t('speaking'), [unitTopic]);
  const speaker = h('p', { class: 'speaker' });
  const quorum = h('p', { class: 'quorum' });
  side.body.append(speaker, quorum);
  const voteTile = tile(grid, 'vote', t('vote'), [unitTopic]);
  const question = h('p', { class: 'question' });
  const voteState = h('p', { class: 'votestate' });
  const bars = h('div', { class: 'bars' });
  const result = h('p', { class: 'result' });
  const noVote = h('p', { class: 'novote', text: t('noVote') });
  voteTile.body.append(noVote, question, voteState, bars, result);
  // Before any vote (or while one has no result yet) the bars are hidden:
  // labels without numbers read as a broken screen.
  const showVote = (hasVote, hasResult) => {
    noVote.style.display = hasVote ? 'none' : '';
    bars.style.display = hasResult ? '' : 'none';
  };
  const barEls = ['yes', 'no', 'abstain'].map((k) => {
    const fill = h('span', { class: 'fill' });
    const n = h('span', { class: 'n' });
    bars.append(h('div', { class: `vbar ${k}` }, h('span', { class: 'label', text: t(k) }), h('span', { class: 'track' }, fill), n));
    return { k, fill, n };
  });
  const at = (iso) => { const ms = Date.parse(iso); return Number.isNaN(ms) ? '' : `${ctx.time(ms).slice(0, 5)} ${ctx.date(ms)}`; };

  function render(state) {
    const unit = state.topics[unitTopic]?.data;
    const mt = Object.keys(state.topics).find((k) => k.startsWith('meeting/'));
    for (const tl of [main, side, voteTile]) tl.topics = mt ? [unitTopic, mt] : [unitTopic];
    const m = mt ? state.topics[mt]?.data : null;
    next.textContent = unit?.next ? `${t('meetingNext')}: ${unit.next.title || ''} — ${at(unit.next.starts_at)}` : '';
    if (!m) {
      title.textContent = t('noMeetingRoom');
      stateTag.style.display = 'none';
      for (const e of [started, item, itemTitle, speaker, quorum, question, voteState, result]) e.textContent = '';
      for (const b of barEls) { b.fill.style.width = '0'; b.n.textContent = ''; }
      voteTile.el.classList.add('empty');
      showVote(false, false);
      return;
    }
    stateTag.style.display = '';
    stateTag.textContent = t(`mState_${m.state}`) || m.state || '';
    title.textContent = m.title || '';
    started.textContent = unit?.now?.started_at ? t('startedAt', { time: at(unit.now.started_at) }) : '';
    const ai = m.agenda_item;
    item.textContent = ai ? t('agendaItem', { n: ai.position, of: ai.of }) : '';
    itemTitle.textContent = ai?.title || '';
    // A public screen gets no names: it only learns that someone speaks.
    speaker.textContent = m.speaker ? (m.speaker.name || t('someoneSpeaking')) : t('nobodySpeaking');
    const q = m.quorum || {};
    quorum.textContent = `${t('present')}: ${num(q.present ?? listCount(m.participants))}${q.seats ? `/${num(q.seats)}` : ''} · ${q.quorate ? t('quorate') : t('notQuorate')}`;
    quorum.className = `quorum ${q.quorate ? 'good' : 'warn'}`;
    const v = m.vote;
    voteTile.el.classList.toggle('empty', !v);
    question.textContent = v?.question || '';
    voteState.textContent = v && v.open ? t('voteOpen', { voted: num(v.voted), eligible: num(v.eligible) }) : '';
    const r = v?.result;
    showVote(!!v, !!r);
    const total = r ? Math.max(1, (r.yes || 0) + (r.no || 0) + (r.abstain || 0), r.present || 0) : 1;
    for (const b of barEls) {
      const val = r ? r[b.k] || 0 : 0;
      b.fill.style.width = `${(100 * val) / total}%`;
      b.n.textContent = r ? num(val) : '';
    }
    result.textContent = v && !v.open && r ? (r.passed ? t('passed') : t('failed')) : '';
    result.className = `result ${r?.passed ? 'good' : 'bad'}`;
  }
  return { tiles: [main, side, voteTile], render };
}
