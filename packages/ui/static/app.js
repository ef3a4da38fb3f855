// The p2 dashboard page. Every value from the store is untrusted text: it reaches the page only
// through textContent and attribute-free elements, never innerHTML.

const $ = (id) => document.getElementById(id);

/** The fleet as last received: per section, records by key. */
const state = {
  pods: new Map(),
  nodes: new Map(),
  problems: new Map(),
  rcs: new Map(),
  rolls: new Map(),
  daemonSets: new Map(),
};
const KEY = {
  pods: 'key',
  nodes: 'node',
  problems: 'key',
  rcs: 'id',
  rolls: 'id',
  daemonSets: 'id',
};
const VERDICTS = [
  'converged',
  'crashlooping',
  'deploying',
  'failed',
  'pending',
  'removing',
  'unknown',
];
const HEALTHS = ['passing', 'warning', 'critical', 'unknown'];

let selector = null; // requirements of the label filter, or null for none
let store = { ok: true, error: null };
let serverUp = false;

// ---- small DOM helpers ------------------------------------------------------------------------

function el(tag, text, className) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (className) e.className = className;
  return e;
}

function cell(tr, text, className) {
  const td = el('td', text, className);
  tr.appendChild(td);
  return td;
}

function short(sha) {
  return sha ? sha.slice(0, 12) : '-';
}

function clear(tbody) {
  tbody.replaceChildren();
}

function labelsText(labels) {
  return Object.entries(labels || {})
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
}

// ---- banner and connection --------------------------------------------------------------------

function showBanner() {
  const banner = $('banner');
  let text = '';
  if (!serverUp) text = 'Lost the connection to the dashboard server; reconnecting…';
  else if (!store.ok) text = `Store unreachable: ${store.error || 'no answer'}. Retrying…`;
  banner.textContent = text;
  banner.hidden = text === '';
  $('live').textContent = serverUp && store.ok ? 'live' : 'offline';
}

/**
 * The first paint reads `/api/fleet` (gzipped, and preloaded by index.html while the script loads);
 * the live stream then sends only changes after it. Without that answer (the server still reading
 * the fleet, or gone), the stream's own snapshot fills the page.
 */
async function start() {
  let since = '';
  try {
    const res = await fetch('/api/fleet');
    if (res.ok) {
      const body = await res.json();
      store = body.store;
      applySnapshot(body);
      since = body.time;
    }
  } catch {
    // The stream says whether the server is there, and sends the snapshot.
  }
  connect(since);
}

function connect(since) {
  const events = new EventSource(
    `/api/events${since ? `?since=${encodeURIComponent(since)}` : ''}`,
  );
  events.addEventListener('open', () => {
    serverUp = true;
    showBanner();
  });
  events.addEventListener('error', () => {
    serverUp = false;
    showBanner();
  });
  events.addEventListener('store', (e) => {
    store = JSON.parse(e.data);
    showBanner();
  });
  events.addEventListener('snapshot', (e) => {
    performance.mark('p2-snapshot-event');
    applySnapshot(JSON.parse(e.data));
  });
  events.addEventListener('diff', (e) => applyDiff(JSON.parse(e.data)));
}

// ---- state ------------------------------------------------------------------------------------

function applySnapshot(snapshot) {
  // Marks for the benchmark (`pnpm bench ui`): when the data arrived and when the table was built.
  performance.mark('p2-snapshot');
  for (const section of Object.keys(state)) {
    state[section] = new Map((snapshot[section] || []).map((r) => [String(r[KEY[section]]), r]));
  }
  rendered = null;
  renderAll();
  performance.mark('p2-rendered');
  // After the next frame is painted: the table is on screen.
  requestAnimationFrame(() => setTimeout(() => performance.mark('p2-painted')));
}

function applyDiff(diff) {
  let reorder = false;
  const changedPods = new Set();
  for (const [section, change] of Object.entries(diff.sections)) {
    const map = state[section];
    if (!map) continue;
    for (const key of change.remove) {
      map.delete(key);
      if (section === 'pods') reorder = true;
    }
    for (const record of change.upsert) {
      const key = String(record[KEY[section]]);
      if (section === 'pods') {
        if (!map.has(key)) reorder = true;
        changedPods.add(record.pod);
      }
      map.set(key, record);
    }
  }
  if (diff.sections.pods || diff.sections.problems) updateFleet(diff.sections.pods, reorder);
  if (diff.sections.rcs || diff.sections.rolls || diff.sections.daemonSets) renderControllers();
  const open = currentPod();
  if (open !== null && changedPods.has(open)) showPod(open);
}

// ---- fleet view -------------------------------------------------------------------------------
//
// The table is virtualised: only the rows in (and just around) the viewport are in the DOM, each
// of a fixed height (style.css); a spacer row in the table's head and one in its foot stand for the
// rows above and below. `sorted` is every pod in table order, `shown` those the filters keep.

/** Every pod row, in table order (node, then key). */
let sorted = [];
/** The rows the filters keep, in table order. */
let shown = [];
/** Row elements in the DOM now, by row key. */
const rowElements = new Map();
/** The rows rendered now: [first, end) of `shown`; null to render again whatever the scroll. */
let rendered = null;
/** Rows rendered above and below the viewport (scrolling a little shows no blank). */
const OVERSCAN = 20;
/** A row's height in pixels, measured from the first row rendered (style.css sets it). */
let rowHeight = 0;

function problemKeys() {
  return new Set([...state.problems.values()].map((p) => p.key));
}

/** One row of the fleet table, cloned from the page's row template. */
function fleetRow(row, problems) {
  const tr = rowTemplate.cloneNode(true);
  tr.dataset.key = row.key;
  const td = tr.cells;
  td[0].textContent = row.node;
  td[1].textContent = row.pod;
  if (row.uniqueKey) td[1].appendChild(el('span', ` ${row.uniqueKey}`, 'dim'));
  td[2].textContent = labelsText(row.labels);
  td[3].textContent = short(row.intentSha);
  const differs = row.realitySha && row.realitySha !== row.intentSha;
  td[4].textContent = short(row.realitySha);
  if (differs) td[4].className = 'sha differs';
  td[5].textContent = row.health || '-';
  td[5].className = HEALTHS.includes(row.health) ? `h-${row.health}` : 'dim';
  const status = row.status;
  td[6].textContent = status ? `${status.state}${status.code ? ` (${status.code})` : ''}` : '-';
  if (!status) td[6].className = 'dim';
  td[7].textContent = String((row.exits || []).reduce((n, e) => n + e.restarts, 0));
  td[8].textContent = row.verdict;
  if (VERDICTS.includes(row.verdict)) td[8].className = `v-${row.verdict}`;
  const bad = ['intent', 'reality'].some((tree) =>
    problems.has(`${tree}/${row.node}/${row.uniqueKey || row.pod}`),
  );
  if (bad) td[8].appendChild(el('span', ' malformed record', 'malformed'));
  tr.title = status?.error ? status.error : '';
  return tr;
}

/** The template every fleet row is cloned from: nine cells, the classes most rows keep. */
const rowTemplate = (() => {
  const tr = document.createElement('tr');
  tr.tabIndex = -1;
  for (const className of ['', '', 'dim', 'sha', 'sha', '', '', '', '']) {
    const td = document.createElement('td');
    if (className) td.className = className;
    tr.appendChild(td);
  }
  return tr;
})();

function byNodeThenKey(a, b) {
  return a.node < b.node ? -1 : a.node > b.node ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

function renderAll() {
  renderFleet();
  renderControllers();
  route();
}

/** Sorts every row again (a snapshot, or pods added or removed) and renders. */
function renderFleet() {
  sorted = [...state.pods.values()].sort(byNodeThenKey);
  renderProblems();
  applyFilter();
}

function updateFleet(podChange, reorder) {
  if (!podChange || reorder) {
    renderFleet();
    return;
  }
  // Changed rows only: same keys, same order; the records in `sorted` are replaced in place.
  const changed = new Set(podChange.upsert.map((r) => r.key));
  sorted = sorted.map((row) => (changed.has(row.key) ? state.pods.get(row.key) : row));
  renderProblems();
  applyFilter();
}

/** Where the table's rows begin, in the document's coordinates. */
function rowsTop() {
  return $('fleet-above').getBoundingClientRect().top + window.scrollY;
}

/** The range of `shown` the viewport needs now (a full window even past the end of a short list). */
function windowRange() {
  const height = rowHeight || 24;
  const count = Math.ceil(window.innerHeight / height) + 2 * OVERSCAN;
  const top = window.scrollY - rowsTop();
  const first = Math.max(0, Math.min(Math.floor(top / height) - OVERSCAN, shown.length - count));
  return [first, Math.min(shown.length, first + count)];
}

/** Renders the rows in view, unless they are rendered already (and `force` is not set). */
function renderWindow(force) {
  if ($('view-fleet').hidden) {
    rendered = null;
    return;
  }
  const [first, end] = windowRange();
  if (!force && rendered && rendered[0] === first && rendered[1] === end) return;
  const problems = problemKeys();
  const focused = document.activeElement?.dataset?.key;
  const fragment = document.createDocumentFragment();
  rowElements.clear();
  for (let i = first; i < end; i++) {
    const row = shown[i];
    const tr = fleetRow(row, problems);
    tr.setAttribute('aria-rowindex', String(i + 2));
    rowElements.set(row.key, tr);
    fragment.appendChild(tr);
  }
  $('fleet').tBodies[0].replaceChildren(fragment);
  rendered = [first, end];
  if (!rowHeight && end > first)
    rowHeight = rowElements.values().next().value.getBoundingClientRect().height || 24;
  $('fleet-above').style.height = `${first * (rowHeight || 24)}px`;
  $('fleet-below').style.height = `${(shown.length - end) * (rowHeight || 24)}px`;
  // A rebuilt window keeps the keyboard focus on the same row.
  if (focused !== undefined) rowElements.get(focused)?.focus({ preventScroll: true });
}

let scrollQueued = false;
function onScroll() {
  if (scrollQueued) return;
  scrollQueued = true;
  requestAnimationFrame(() => {
    scrollQueued = false;
    renderWindow(false);
  });
}
function renderProblems() {
  const list = $('problem-list');
  list.replaceChildren(
    ...[...state.problems.values()].map((p) => {
      const li = el('li');
      li.appendChild(el('code', p.key));
      li.appendChild(document.createTextNode(`: ${p.error}`));
      return li;
    }),
  );
  $('problems').hidden = state.problems.size === 0;
}

function nodeLabels(node) {
  const n = state.nodes.get(node);
  return n?.labels || {};
}

function requirementMatches(r, labels) {
  const has = Object.hasOwn(labels, r.key);
  switch (r.operator) {
    case '=':
    case '==':
    case 'in':
      return has && r.values.includes(labels[r.key]);
    case '!=':
    case 'notin':
      return !has || !r.values.includes(labels[r.key]);
    case 'exists':
      return has;
    case '!':
      return !has;
    default:
      return false;
  }
}

/** A row matches the selector with the node's labels, overridden by the pod's own. */
function matches(row, node, pod) {
  if (node && !row.node.includes(node)) return false;
  if (pod && !row.pod.includes(pod) && !(row.uniqueKey || '').includes(pod)) return false;
  if (selector) {
    const labels = { ...nodeLabels(row.node), ...row.labels };
    if (!selector.every((r) => requirementMatches(r, labels))) return false;
  }
  return true;
}

function applyFilter() {
  const node = $('filter-node').value.trim();
  const pod = $('filter-pod').value.trim();
  const counts = {};
  shown = sorted.filter((row) => matches(row, node, pod));
  for (const row of shown) counts[row.verdict] = (counts[row.verdict] || 0) + 1;
  // The whole table, for assistive technology (and the benchmark): the header row and every row.
  $('fleet').setAttribute('aria-rowcount', String(shown.length + 1));
  renderWindow(true);
  const verdicts = Object.entries(counts)
    .map(([v, n]) => `${n} ${v}`)
    .join(', ');
  $('summary').textContent =
    `${shown.length} of ${state.pods.size} pods on ${state.nodes.size} nodes${verdicts ? ` — ${verdicts}` : ''}`;
}

let selectorRequest = 0;
async function updateSelector() {
  const text = $('filter-selector').value.trim();
  const mine = ++selectorRequest;
  if (text === '') {
    selector = null;
    $('filter-error').textContent = '';
    applyFilter();
    return;
  }
  const res = await fetch(`/api/selector?q=${encodeURIComponent(text)}`);
  const body = await res.json();
  if (mine !== selectorRequest) return;
  if (!res.ok) {
    $('filter-error').textContent = body.error ? body.error.message : 'bad selector';
    return;
  }
  $('filter-error').textContent = '';
  selector = body.requirements;
  applyFilter();
}

// ---- controllers view -------------------------------------------------------------------------

function renderControllers() {
  const rcs = $('rcs').tBodies[0];
  clear(rcs);
  for (const rc of state.rcs.values()) {
    const tr = el('tr');
    cell(tr, rc.id);
    cell(tr, rc.podId);
    cell(tr, rc.replicasDesired);
    cell(tr, rc.nodeSelector || '(every node)');
    cell(tr, rc.disabled ? 'disabled' : 'enabled', rc.disabled ? 'dim' : '');
    rcs.appendChild(tr);
  }
  const rolls = $('rolls').tBodies[0];
  clear(rolls);
  for (const r of state.rolls.values()) {
    const tr = el('tr');
    cell(tr, r.id);
    cell(tr, r.roll ? `${r.roll.oldRc} → ${r.roll.newRc}` : '(finished)');
    const st = r.status;
    cell(tr, st ? st.state : r.roll?.paused ? 'paused' : 'not started');
    const desired = r.roll ? r.roll.desiredReplicas : st?.new ? st.new.desired : 0;
    const healthy = st?.new ? st.new.healthy : 0;
    const progress = cell(tr);
    const bar = el('progress');
    bar.max = Math.max(1, desired);
    bar.value = Math.min(healthy, bar.max);
    progress.appendChild(bar);
    progress.appendChild(el('span', ` ${healthy} / ${desired}`));
    cell(tr, st ? `${st.new ? st.new.healthy : 0} / ${st.old ? st.old.healthy : 0}` : '-');
    cell(tr, st ? st.message : '', 'dim');
    rolls.appendChild(tr);
  }
  const sets = $('daemon-sets').tBodies[0];
  clear(sets);
  for (const ds of state.daemonSets.values()) {
    const tr = el('tr');
    cell(tr, ds.id);
    cell(tr, ds.podId);
    cell(tr, ds.nodeSelector || '(every node)');
    const deployed = state.pods.size
      ? [...state.pods.values()].filter((p) => p.pod === ds.podId && p.verdict === 'converged')
          .length
      : 0;
    cell(tr, deployed);
    cell(tr, ds.disabled ? 'disabled' : 'enabled', ds.disabled ? 'dim' : '');
    sets.appendChild(tr);
  }
}

// ---- pod view ---------------------------------------------------------------------------------

function currentPod() {
  const m = /^#\/pod\/(.+)$/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}

function eventDetails(e) {
  switch (e.type) {
    case 'exit':
      return `${e.launchable || e.service || ''} ${e.exitCode === null || e.exitCode === undefined ? `signal ${e.signal}` : `exit ${e.exitCode}`}`;
    case 'health':
      return `${e.from || '?'} → ${e.to || '?'}`;
    case 'restart':
      return `${e.launchable || e.service || ''} pid ${e.pid ?? '?'}`;
    default:
      return [e.code, e.message].filter(Boolean).join(': ');
  }
}

let podRequest = 0;
async function loadPod(pod) {
  const mine = ++podRequest;
  $('pod-title').textContent = `pod ${pod}`;
  let res;
  try {
    res = await fetch(`/api/pod?id=${encodeURIComponent(pod)}`);
  } catch {
    $('pod-error').textContent = 'the dashboard server does not answer';
    return;
  }
  const body = await res.json();
  if (mine !== podRequest) return;
  $('pod-error').textContent = res.ok ? '' : body.error.message;
  if (!res.ok) return;
  renderPod(body);
}

function renderPod(view) {
  const launchables = $('pod-launchables').tBodies[0];
  clear(launchables);
  for (const [id, l] of Object.entries(view.launchables || {})) {
    const tr = el('tr');
    cell(tr, id);
    cell(tr, l.version || '-');
    cell(tr, l.location, 'dim');
    launchables.appendChild(tr);
  }
  const nodes = $('pod-nodes').tBodies[0];
  const deploys = $('pod-deploys').tBodies[0];
  const events = $('pod-events').tBodies[0];
  clear(nodes);
  clear(deploys);
  clear(events);
  const history = [];
  for (const n of view.nodes) {
    const tr = el('tr');
    cell(tr, n.node);
    cell(tr, n.verdict, VERDICTS.includes(n.verdict) ? `v-${n.verdict}` : '');
    cell(tr, short(n.intentSha), 'sha');
    cell(
      tr,
      short(n.realitySha),
      n.realitySha && n.realitySha !== n.intentSha ? 'sha differs' : 'sha',
    );
    cell(tr, n.health || '-', HEALTHS.includes(n.health) ? `h-${n.health}` : 'dim');
    cell(tr, n.state || '-');
    cell(
      tr,
      Object.entries(n.versions || {})
        .map(([id, l]) => `${id}=${l.version || '-'}`)
        .join(', '),
    );
    cell(tr, n.error || '', 'error');
    nodes.appendChild(tr);
    const deploy = [...n.events]
      .reverse()
      .find((e) => e.type === 'deployed' || e.type === 'deploy-failed');
    if (deploy) {
      const d = el('tr');
      cell(d, n.node);
      cell(d, deploy.time);
      cell(d, deploy.type, deploy.type === 'deployed' ? 'v-converged' : 'v-failed');
      const steps = cell(d);
      const list = el('ol', undefined, 'steps');
      for (const [step, ms] of Object.entries(deploy.steps || {}))
        list.appendChild(el('li', `${step} ${ms} ms`));
      steps.appendChild(list);
      cell(d, deploy.totalMs === undefined ? '-' : `${deploy.totalMs} ms`);
      deploys.appendChild(d);
    }
    for (const e of n.events)
      if (e.type === 'health' || e.type === 'exit' || e.type === 'restart')
        history.push({ node: n.node, e });
    for (const p of n.processes || [])
      history.push({ node: n.node, e: { time: '', type: 'process', message: JSON.stringify(p) } });
  }
  history.sort((a, b) => (a.e.time < b.e.time ? 1 : a.e.time > b.e.time ? -1 : 0));
  for (const { node, e } of history) {
    const tr = el('tr');
    cell(tr, e.time || 'now');
    cell(tr, node);
    cell(tr, e.type);
    cell(tr, eventDetails(e));
    events.appendChild(tr);
  }
  const manifests = $('pod-manifests');
  manifests.replaceChildren();
  for (const [sha, text] of Object.entries(view.manifests || {})) {
    manifests.appendChild(el('h4', `SHA ${sha}`, 'sha'));
    manifests.appendChild(el('pre', text, 'manifest'));
  }
  for (const p of view.problems || [])
    manifests.appendChild(el('p', `unreadable ${p.key}: ${p.error}`, 'error'));
}

/** Loads the pod view; an answer that is not JSON (a proxy's error page) shows as an error. */
function showPod(pod) {
  loadPod(pod).catch((error) => {
    $('pod-error').textContent = `cannot load the pod: ${error.message}`;
  });
}

// ---- routing and keys -------------------------------------------------------------------------

function route() {
  const pod = currentPod();
  const view = pod !== null ? 'pod' : location.hash === '#/controllers' ? 'controllers' : 'fleet';
  for (const name of ['fleet', 'pod', 'controllers']) $(`view-${name}`).hidden = name !== view;
  if (pod !== null) showPod(pod);
  else if (view === 'fleet') renderWindow(false);
}

/** Scrolls the page so that row `i` of `shown` is in view, and renders it. */
function scrollToRow(i) {
  const height = rowHeight || 24;
  const top = rowsTop() + i * height;
  if (top < window.scrollY) window.scrollTo(0, top);
  else if (top + height > window.scrollY + window.innerHeight)
    window.scrollTo(0, top + height - window.innerHeight);
  renderWindow(false);
}

function moveFocus(step) {
  if (shown.length === 0) return;
  const key = document.activeElement?.dataset?.key;
  const at = key === undefined ? -1 : shown.findIndex((r) => r.key === key);
  const next = at === -1 ? 0 : Math.min(shown.length - 1, Math.max(0, at + step));
  scrollToRow(next);
  rowElements.get(shown[next].key)?.focus();
}

function openRow(tr) {
  const row = state.pods.get(tr.dataset.key);
  if (row) location.hash = `#/pod/${encodeURIComponent(row.uniqueKey || row.pod)}`;
}

document.addEventListener('keydown', (event) => {
  const typing = event.target instanceof HTMLInputElement;
  if (event.key === 'Escape') {
    if (typing) event.target.blur();
    else location.hash = '#/';
    return;
  }
  if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
  const fleet = !$('view-fleet').hidden;
  if (event.key === '/' && fleet) {
    event.preventDefault();
    $('filter-pod').focus();
  } else if ((event.key === 'j' || event.key === 'ArrowDown') && fleet) {
    event.preventDefault();
    moveFocus(1);
  } else if ((event.key === 'k' || event.key === 'ArrowUp') && fleet) {
    event.preventDefault();
    moveFocus(-1);
  } else if (
    event.key === 'Enter' &&
    document.activeElement &&
    document.activeElement.dataset.key
  ) {
    openRow(document.activeElement);
  } else if (event.key === 'c') {
    location.hash = '#/controllers';
  } else if (event.key === 'f') {
    location.hash = '#/';
  }
});

$('fleet').tBodies[0].addEventListener('click', (event) => {
  const tr = event.target.closest('tr');
  if (tr) openRow(tr);
});
$('filters').addEventListener('submit', (event) => event.preventDefault());
$('filter-node').addEventListener('input', applyFilter);
$('filter-pod').addEventListener('input', applyFilter);
$('filter-selector').addEventListener('input', () => updateSelector().catch(() => {}));
window.addEventListener('hashchange', route);
window.addEventListener('scroll', onScroll, { passive: true });
window.addEventListener('resize', onScroll);
route();
// Should the first read fail half-way, the stream's snapshot fills the page again.
start().catch(() => connect(''));
