// lvsnode's status page: polls /v1/status (director.Status) every second
// and draws it. Read-only: it only ever sends GET.
//
// DOM contract (tests read it): every real server is a <tr class="node">
// with data-service, data-address, data-port, data-health, data-drain,
// data-agent and data-weight; <body> carries data-updates (successful
// polls so far), data-generation, data-first-render-ms (load to the
// first full drawing) and data-draw-ms (the last drawing's script time). A section #sync shows status.sync when the status
// has one (connection sync daemons), as its keys and values.
'use strict';

const POLL_MS = 1000;
const FETCH_TIMEOUT_MS = 3000; // a hung director is a failed poll, not a live one
const STALE_AFTER = 2; // failed polls in a row before the table is shown as stale
const HISTORY = 60; // chart samples: one minute at one poll a second
const OPEN_ALL_BELOW = 200; // real servers: up to this many, services start open

const $ = (id) => document.getElementById(id);
const state = {
  token: sessionStorage.getItem('lvsnode-token') || '',
  services: new Map(), // name -> view of one service
  history: new Map(), // service or node key -> {cps: [], bps: []}
  userOpen: new Map(), // name -> open, as the user left it
  filterOpen: new Map(), // the same while a filter is on (reset when it changes)
  updates: 0,
  lastOK: 0,
  fails: 0, // failed polls in a row
  skew: 0, // server clock minus browser clock at the last answer (status.now)
  timer: 0,
  status: null,
};

// ---- formatting -----------------------------------------------------------

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// human is 950, 1.2K, 34M: rates as ipvsadm --rate prints them, shorter.
function human(n) {
  const steps = ['', 'K', 'M', 'G', 'T'];
  let i = 0;
  while (n >= 1000 && i < steps.length - 1) { n /= 1000; i++; }
  return (i === 0 ? String(Math.round(n)) : n.toFixed(n < 10 ? 1 : 0)) + steps[i];
}

// serverNow is the director's clock: ages are its now minus its check
// times, plus what elapsed here since its answer (never the browser's
// clock against the server's timestamps).
function serverNow() { return Date.now() + state.skew; }

function ago(at, now) {
  const t = Date.parse(at);
  if (!t || t < 0) return '';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 90) return s + 's ago';
  if (s < 5400) return Math.round(s / 60) + 'm ago';
  return Math.round(s / 3600) + 'h ago';
}

function nodeAddr(n) {
  if (!n.port) return n.address;
  return (n.address.includes(':') ? '[' + n.address + ']' : n.address) + ':' + n.port;
}

function nodeKey(svc, n) { return svc + ' ' + nodeAddr(n); }

function checkText(c, now) {
  if (!c || !c.at || c.at.startsWith('0001-')) return '–';
  const verdict = c.ok ? 'ok' : 'FAIL' + (c.reason ? ' ' + c.reason : '');
  return verdict + ' · ' + (c.latency_ms || 0).toFixed(1) + ' ms · ' + ago(c.at, now);
}

function remaining(n) { return (n.active_conn || 0) + (n.inact_conn || 0) + (n.persist_conn || 0); }

function drainText(n, now) {
  const d = n.drain || 'none';
  if (d === 'none') return 'none';
  let s = d;
  if (n.drain_since && !n.drain_since.startsWith('0001-')) s += ' ' + ago(n.drain_since, now).replace(' ago', '');
  if (d === 'draining') s += ' · ' + remaining(n) + ' conns left';
  return s;
}

// ---- charts ---------------------------------------------------------------

const SVGNS = 'http://www.w3.org/2000/svg';

function spark(cls) {
  const s = document.createElementNS(SVGNS, 'svg');
  s.setAttribute('class', 'spark ' + cls);
  s.setAttribute('aria-hidden', 'true'); // the cell's text says the rate; the chart is decoration
  s.setAttribute('viewBox', '0 0 ' + (HISTORY - 1) + ' 18');
  s.setAttribute('preserveAspectRatio', 'none');
  s.appendChild(document.createElementNS(SVGNS, 'polyline'));
  return s;
}

function drawSpark(svg, values) {
  const max = Math.max(1, ...values);
  const off = HISTORY - values.length;
  const pts = values.map((v, i) => (off + i) + ',' + (17 - (v / max) * 16).toFixed(1));
  svg.firstChild.setAttribute('points', pts.join(' '));
}

function record(key, stats) {
  let h = state.history.get(key);
  if (!h) { h = { cps: [], bps: [], seen: 0 }; state.history.set(key, h); }
  if (h.seen === state.updates && h.cps.length) return h; // a redraw, not a new answer
  const st = stats || {};
  h.cps.push(st.cps || 0);
  h.bps.push((st.in_bps || 0) + (st.out_bps || 0));
  if (h.cps.length > HISTORY) { h.cps.shift(); h.bps.shift(); }
  h.seen = state.updates;
  return h;
}

function rateCell(svg, values, text) {
  drawSpark(svg, values);
  svg.nextSibling.textContent = text;
}

function rateBox(cls) {
  const box = el('span', 'rate');
  box.appendChild(spark(cls));
  box.appendChild(el('span', 'num'));
  return box;
}

// ---- filter ---------------------------------------------------------------

function filtering() { return terms().length > 0 || $('problems').checked; }

function terms() {
  return $('filter').value.toLowerCase().split(/\s+/).filter(Boolean);
}

function matches(text, ts) { return ts.every((t) => text.includes(t)); }

// A real server matches when every term is in its own text or its
// service's ("10.0.0.100 down": the down real servers of that VIP).
function svcText(s) { return (s.service + ' ' + s.scheduler + ' ' + (s.flags || '')).toLowerCase(); }

function nodeText(n) {
  return [nodeAddr(n), n.method, n.health, n.drain, n.agent,
    n.last_check && n.last_check.reason].join(' ').toLowerCase();
}

function problem(n) { return n.health !== 'up' || (n.drain && n.drain !== 'none'); }

// ---- services -------------------------------------------------------------

function serviceView(name) {
  const v = { name, rows: new Map() };
  v.details = el('details', 'svc');
  v.details.dataset.service = name;
  const sum = el('summary');
  v.nameEl = el('span', 'name', name);
  v.sched = el('span');
  v.flags = el('span', 'muted');
  v.up = el('span', 'badge');
  v.quorum = el('span', 'badge');
  v.sorry = el('span', 'badge s-sorry');
  v.managed = el('span', 'muted');
  v.cps = rateBox('conns');
  v.bps = rateBox('bytes');
  for (const e of [v.nameEl, v.sched, v.flags, v.up, v.quorum, v.sorry, v.managed, v.cps, v.bps]) sum.appendChild(e);
  v.details.appendChild(sum);
  // toggle also fires (later) for the page's own changes: only a state
  // other than the one the page set is the user's.
  v.details.addEventListener('toggle', () => {
    if (v.details.open === v.wantOpen) return;
    v.wantOpen = v.details.open;
    (filtering() ? state.filterOpen : state.userOpen).set(name, v.details.open);
    if (v.details.open && state.status) drawNodes(v, v.last, serverNow());
  });
  return v;
}

function table() {
  const t = el('table');
  const head = el('tr');
  for (const h of ['real server', 'method', 'weight', 'conf', 'health', 'last check', 'drain',
    'active', 'inact', 'persist', 'agent', 'conn/s', 'bytes/s']) head.appendChild(el('th', '', h));
  const th = el('thead');
  th.appendChild(head);
  t.appendChild(th);
  t.appendChild(el('tbody'));
  return t;
}

function rowView(svc, n) {
  const tr = el('tr', 'node');
  tr.dataset.service = svc;
  tr.dataset.address = n.address;
  tr.dataset.port = String(n.port || 0);
  const c = {};
  for (const [k, cls] of [['addr', 'addr'], ['method', ''], ['weight', 'num'], ['conf', 'num'], ['health', 'health'],
    ['check', 'check'], ['drain', ''], ['active', 'num'], ['inact', 'num'], ['persist', 'num'], ['agent', '']]) {
    c[k] = el('td', cls);
    tr.appendChild(c[k]);
  }
  c.healthBadge = el('span', 'badge');
  c.health.appendChild(c.healthBadge);
  c.agentBadge = el('span', 'badge');
  c.agent.appendChild(c.agentBadge);
  c.cps = rateBox('conns');
  c.bps = rateBox('bytes');
  const tc = el('td'); tc.appendChild(c.cps); tr.appendChild(tc);
  const tb = el('td'); tb.appendChild(c.bps); tr.appendChild(tb);
  c.addr.textContent = nodeAddr(n);
  return { tr, c };
}

function setText(e, s) { if (e.textContent !== s) e.textContent = s; }

function updateRow(r, n, h, now) {
  const { tr, c } = r;
  tr.dataset.health = n.health;
  tr.dataset.drain = n.drain || 'none';
  tr.dataset.agent = n.agent;
  tr.dataset.weight = String(n.weight);
  tr.className = 'node ' + n.health;
  setText(c.method, n.method);
  setText(c.weight, String(n.weight));
  setText(c.conf, String(n.configured_weight));
  setText(c.healthBadge, n.health);
  c.healthBadge.className = 'badge s-' + n.health;
  setText(c.check, checkText(n.last_check, now));
  c.check.className = 'check' + (n.last_check && n.last_check.at && !n.last_check.ok && !n.last_check.at.startsWith('0001-') ? ' s-fail' : '');
  setText(c.drain, drainText(n, now));
  c.drain.className = 's-' + (n.drain || 'none');
  setText(c.active, String(n.active_conn));
  setText(c.inact, String(n.inact_conn));
  setText(c.persist, String(n.persist_conn));
  setText(c.agentBadge, n.agent);
  c.agentBadge.className = 'badge ' + (n.agent === 'none' ? 'muted' : 's-' + n.agent); // none: not probed, not a problem
  const st = n.stats || {};
  rateCell(c.cps.firstChild, h.cps, human(st.cps || 0) + '/s');
  rateCell(c.bps.firstChild, h.bps, human((st.in_bps || 0) + (st.out_bps || 0)) + 'B/s');
}

// drawNodes fills an open service's table (rows built on first opening).
function drawNodes(v, s, now) {
  if (!v.table) {
    v.table = table();
    v.details.appendChild(v.table);
  }
  const body = v.table.tBodies[0];
  const ts = terms();
  const only = $('problems').checked;
  const svcHit = ts.length > 0 && matches(svcText(s), ts);
  const seen = new Set();
  let prev = null;
  for (const n of s.nodes || []) {
    const key = nodeKey(s.service, n);
    seen.add(key);
    let r = v.rows.get(key);
    if (!r) { r = rowView(s.service, n); v.rows.set(key, r); }
    const want = prev ? prev.nextSibling : body.firstChild;
    if (want !== r.tr) body.insertBefore(r.tr, want);
    prev = r.tr;
    updateRow(r, n, state.history.get(key), now);
    const show = (!only || problem(n)) && (ts.length === 0 || svcHit || matches(svcText(s) + ' ' + nodeText(n), ts));
    if (r.tr.hidden === show) r.tr.hidden = !show;
  }
  for (const [key, r] of v.rows) {
    if (!seen.has(key)) { r.tr.remove(); v.rows.delete(key); }
  }
}

function drawService(v, s, total, now) {
  v.last = s;
  const nodes = s.nodes || [];
  setText(v.sched, s.scheduler);
  setText(v.flags, s.flags || '');
  setText(v.up, 'up ' + s.up + '/' + nodes.length);
  v.up.className = 'badge ' + (s.up === nodes.length ? 's-up' : s.up === 0 && nodes.length ? 's-down' : 's-draining');
  v.quorum.hidden = !s.quorum;
  setText(v.quorum, 'quorum ' + s.quorum);
  v.quorum.className = 'badge ' + (s.up >= s.quorum ? 's-up' : 's-down');
  v.sorry.hidden = !s.sorry;
  setText(v.sorry, 'SORRY SERVER ' + (s.sorry_server || ''));
  v.details.classList.toggle('sorry', !!s.sorry);
  setText(v.managed, s.managed ? '' : 'not managed by this director');
  const h = state.history.get('svc ' + s.service);
  const st = s.stats || {};
  rateCell(v.cps.firstChild, h.cps, human(st.cps || 0) + ' conn/s');
  rateCell(v.bps.firstChild, h.bps, human((st.in_bps || 0) + (st.out_bps || 0)) + 'B/s');

  // Open: as the user left it; while filtering, open where something matches.
  const ts = terms();
  const only = $('problems').checked;
  const svcHit = ts.length > 0 && matches(svcText(s), ts);
  let hits = 0;
  for (const n of nodes) if ((!only || problem(n)) && (ts.length === 0 || svcHit || matches(svcText(s) + ' ' + nodeText(n), ts))) hits++;
  const f = filtering();
  const visible = !f || hits > 0 || (svcHit && !only);
  if (v.details.hidden === visible) v.details.hidden = !visible;
  let open = state.userOpen.has(s.service) ? state.userOpen.get(s.service) : total <= OPEN_ALL_BELOW;
  if (f) open = state.filterOpen.has(s.service) ? state.filterOpen.get(s.service) : true;
  v.wantOpen = open;
  if (v.details.open !== open) v.details.open = open;
  if (open && visible) drawNodes(v, s, now);
  return visible ? (f ? hits : nodes.length) : 0;
}

// ---- the whole status -----------------------------------------------------

function drawSync(sync) {
  const box = $('sync');
  box.hidden = !sync;
  if (!sync) return;
  box.replaceChildren(el('h2', '', 'Connection sync'));
  const dl = el('dl');
  for (const [k, v] of Object.entries(sync)) {
    dl.appendChild(el('dt', '', k));
    dl.appendChild(el('dd', '', typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)));
  }
  box.appendChild(dl);
}

function draw(st) {
  const now = serverNow();
  state.status = st;
  const services = st.services || [];
  let total = 0, up = 0, down = 0, draining = 0;
  for (const s of services) {
    record('svc ' + s.service, s.stats);
    for (const n of s.nodes || []) {
      total++;
      if (n.health === 'up') up++;
      if (n.health === 'down') down++;
      if (n.drain === 'draining' || n.health === 'draining') draining++;
      record(nodeKey(s.service, n), n.stats);
    }
  }
  // Charts of real servers that went away are dropped.
  for (const [k, h] of state.history) if (h.seen !== state.updates) state.history.delete(k);

  setText($('ready'), st.ready ? 'ready' : 'not ready');
  $('ready').className = 'badge ' + (st.ready ? 's-ready' : 's-down');
  markStale();
  setText($('summary'), services.length + ' services · ' + total + ' real servers: ' + up + ' up, ' + down + ' down, ' +
    draining + ' draining · generation ' + st.generation);
  drawSync(st.sync);

  const main = $('services');
  const seen = new Set();
  let prev = null, shown = 0;
  for (const s of services) {
    seen.add(s.service);
    let v = state.services.get(s.service);
    if (!v) { v = serviceView(s.service); state.services.set(s.service, v); }
    const want = prev ? prev.nextSibling : main.firstChild;
    if (want !== v.details) main.insertBefore(v.details, want);
    prev = v.details;
    shown += drawService(v, s, total, now);
  }
  for (const [name, v] of state.services) {
    if (!seen.has(name)) { v.details.remove(); state.services.delete(name); }
  }
  setText($('shown'), filtering() ? shown + ' of ' + total + ' real servers match' : '');
  document.body.dataset.generation = String(st.generation);
}

function redraw() { if (state.status) draw(state.status); }

function showError(msg) {
  const e = $('error');
  e.hidden = !msg;
  setText(e, msg || '');
}

// stale: STALE_AFTER failed polls in a row grey the table and say how old
// the data is in the ready badge (body.stale, data-stale for tests).
function stale() { return state.fails >= STALE_AFTER && state.lastOK > 0; }

function markStale() {
  const on = stale();
  document.body.classList.toggle('stale', on);
  document.body.dataset.stale = String(on);
  if (on) {
    setText($('ready'), 'stale ' + Math.round((Date.now() - state.lastOK) / 1000) + 's');
    $('ready').className = 'badge s-down';
  }
}

async function poll() {
  clearTimeout(state.timer);
  let ok = false;
  const abort = new AbortController();
  const timeout = setTimeout(() => abort.abort(), FETCH_TIMEOUT_MS);
  try {
    const headers = {};
    if (state.token) headers.Authorization = 'Bearer ' + state.token;
    const resp = await fetch('v1/status', { headers, cache: 'no-store', signal: abort.signal });
    if (resp.status === 401) {
      clearTimeout(timeout);
      $('login').hidden = false;
      showError(state.token ? 'The token was refused.' : '');
      return; // until a token is given
    }
    if (!resp.ok) {
      let msg = resp.status + ' ' + resp.statusText;
      try { msg = (await resp.json()).error || msg; } catch (_) { /* not JSON */ }
      showError('The director refused the status: ' + msg);
    } else {
      const st = await resp.json();
      ok = true;
      state.fails = 0;
      const at = Date.parse(st.now || '');
      state.skew = at > 0 ? at - Date.now() : 0;
      $('login').hidden = true;
      state.updates++;
      const t0 = performance.now();
      draw(st);
      document.body.dataset.drawMs = (performance.now() - t0).toFixed(1);
      showError('');
      state.lastOK = Date.now();
      document.body.dataset.updates = String(state.updates);
      if (state.updates === 1) document.body.dataset.firstRenderMs = String(Math.round(performance.now()));
    }
  } catch (err) {
    showError('No answer from the director' + (abort.signal.aborted ? ' within ' + FETCH_TIMEOUT_MS / 1000 + ' s' : ': ' + err.message));
  }
  clearTimeout(timeout);
  if (!ok) { state.fails++; redraw(); }
  if (state.lastOK) setText($('updated'), 'updated ' + new Date(state.lastOK).toLocaleTimeString());
  state.timer = setTimeout(poll, POLL_MS);
}

function init() {
  let pending = 0;
  $('filter').addEventListener('input', () => {
    clearTimeout(pending);
    pending = setTimeout(() => { state.filterOpen.clear(); redraw(); }, 120);
  });
  $('problems').addEventListener('change', () => { state.filterOpen.clear(); redraw(); });
  const all = (open) => {
    for (const v of state.services.values()) (filtering() ? state.filterOpen : state.userOpen).set(v.name, open);
    redraw();
  };
  $('expand').addEventListener('click', () => all(true));
  $('collapse').addEventListener('click', () => all(false));
  $('login').addEventListener('submit', (ev) => {
    ev.preventDefault();
    state.token = $('token').value.trim();
    sessionStorage.setItem('lvsnode-token', state.token);
    poll();
  });
  // Ages tick here between answers (and while the director is silent).
  setInterval(() => { if (Date.now() - state.lastOK > POLL_MS + 500) redraw(); }, POLL_MS);
  poll();
}

init();
