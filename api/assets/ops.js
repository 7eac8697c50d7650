// CloudCrowd's operations center: one page, no framework, served by the crowd binary itself
// (users may have no internet). Updates are pushed by the server as `snapshot` events on
// /events; the page fetches the job list, the actions, the failed units and a job's units again
// when one arrives. The graphs start from the server's last hour (/status/history).
//
// Every URL is relative (`jobs`, `events`, never `/jobs`): a reverse proxy may serve the page
// under a path prefix (http://proxy/crowd/ -> the api's /), and the page's requests must stay
// under it.
//
// Every piece of data reaches the DOM through `el()` (textContent and attributes), never
// through innerHTML: inputs, outputs and errors are user data.
'use strict';

(function () {
  /** The graphs show up to this much: the hour the server keeps (/status/history). */
  const HISTORY_SECS = 3600;
  /** The narrowest window the graphs show, and how long one-second snapshots are kept as they came. */
  const RECENT_SECS = 300;
  /** The windows the graphs pick from: the smallest that holds every point kept. */
  const WINDOWS = [300, 600, 900, 1800, 3600];
  /** The period of the server's samples when it does not say; older live points are thinned to it. */
  const SAMPLE_SECS = 5;
  /** A gap longer than this between two one-second snapshots breaks the graph's line. */
  const GAP_SECS = 5;
  const JOBS_PER_PAGE = 20;
  const FAILED_PER_PAGE = 20;
  /** An error longer than this is cut in the failed-units list; the whole is in its tooltip. */
  const ERROR_CHARS = 120;
  /** A job page lists its units this many at a time, so a huge job does not hang the browser. */
  const UNITS_PER_PAGE = 500;
  /** Wait before recreating an EventSource that the browser gave up on. */
  const RECREATE_MS = 2000;

  const state = {
    route: { name: 'overview' },
    filter: '',
    page: 1,
    /** The graphs' points, oldest first: history samples and snapshots, without their nodes. */
    points: [],
    /** The latest snapshot, nodes included. */
    latest: null,
    /** Snapshots received since the page opened (the test waits on it through #live's data-snapshots). */
    snapshotCount: 0,
    events: null,
    connected: false,
    /** Whether /events has ever answered: a reconnection after that fetches the history again. */
    everConnected: false,
    failedPage: 1,
    /** Actions with a pause or resume under way, so their buttons stay disabled. */
    busyActions: new Set(),
    /** Jobs with a retry under way. */
    busyJobs: new Set(),
    /** A load of /status/history is under way; when one failed, when to try again. */
    historyLoading: false,
    historyRetryAt: null,
    /** Loads started, so a reply overtaken by a later load is not shown over it. */
    actionsSeq: 0,
    failedSeq: 0,
  };

  // ---- small DOM helpers -------------------------------------------------------------------

  /** `el('td', {class: 'num'}, 'text', child)`: children are nodes or strings (made text nodes). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const $ = (id) => document.getElementById(id);

  async function api(path, options) {
    const reply = await fetch(path, Object.assign({ credentials: 'same-origin', headers: { accept: 'application/json' } }, options));
    if (reply.status === 204) return null;
    let body = null;
    try { body = await reply.json(); } catch (_) { /* not JSON: reported by the status below */ }
    if (!reply.ok) {
      // The api answers {"error": <code>, "message": <what is wrong>}; some replies carry only "error".
      const said = body && (body.message || body.error);
      const error = new Error(typeof said === 'string' && said ? said : `HTTP ${reply.status} ${reply.statusText}`.trim());
      error.status = reply.status;
      throw error;
    }
    return body;
  }

  /** POSTs `fields` as a form (application/x-www-form-urlencoded), as CloudCrowd's clients do. */
  function postForm(path, fields) {
    return api(path, {
      method: 'POST',
      headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
  }

  /**
   * Shows `message` in the error line `id` (hides it when null). `source` says what set it:
   * a successful load clears only what a load set, so an action's error stays until the next action.
   */
  function showError(id, message, source) {
    const line = $(id);
    if (!line) return;
    if (message === null) {
      if (source && line.dataset.source && line.dataset.source !== source) return;
      line.hidden = true;
      line.textContent = '';
      delete line.dataset.source;
      return;
    }
    // Unchanged text is left alone: an alert is read out again whenever its text is replaced.
    if (line.textContent !== message) line.textContent = message;
    line.dataset.source = source || '';
    line.hidden = false;
  }

  /** Runs `fn` soon after a burst of triggers, never twice at once; a trigger during a run runs it again after. */
  function coalesce(fn, delayMs) {
    let timer = null, running = false, again = false;
    const run = async () => {
      timer = null;
      if (running) { again = true; return; }
      running = true;
      try { await fn(); } finally {
        running = false;
        if (again) { again = false; trigger(); }
      }
    };
    const trigger = () => { if (!timer) timer = setTimeout(run, delayMs); };
    return trigger;
  }

  // ---- formatting --------------------------------------------------------------------------

  const numberFormat = new Intl.NumberFormat();
  const fmtNumber = (n) => (typeof n === 'number' ? numberFormat.format(n) : '–');

  function fmtDuration(secs) {
    if (typeof secs !== 'number' || !isFinite(secs)) return '–';
    if (secs < 1) return `${Math.round(secs * 1000)} ms`;
    if (secs < 10) return `${secs.toFixed(2)} s`;
    if (secs < 60) return `${secs.toFixed(1)} s`;
    const s = Math.round(secs);
    if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
    return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  }

  function fmtAgo(unixSecs) {
    if (typeof unixSecs !== 'number') return '–';
    const secs = Math.max(0, Date.now() / 1000 - unixSecs);
    if (secs < 60) return `${Math.floor(secs)} s ago`;
    if (secs < 3600) return `${Math.floor(secs / 60)} min ago`;
    if (secs < 86400) return `${Math.floor(secs / 3600)} h ago`;
    return new Date(unixSecs * 1000).toLocaleDateString();
  }

  /** How long something has waited, as a person says it: "5 s", "3 min", "2 h", "4 d". */
  function fmtAge(secs) {
    if (typeof secs !== 'number' || !isFinite(secs)) return '–';
    const s = Math.max(0, secs);
    if (s < 60) return `${Math.floor(s)} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min`;
    if (s < 86400) return `${Math.floor(s / 3600)} h`;
    return `${Math.floor(s / 86400)} d`;
  }

  /** A date as the api sends it (unix seconds, or an RFC 3339 string) in the reader's terms. */
  function fmtWhen(value) {
    const date = typeof value === 'number' ? new Date(value * 1000) : typeof value === 'string' ? new Date(value) : null;
    return date && !isNaN(date) ? date.toLocaleString() : '';
  }

  const fmtTimestamp = (unixSecs) => (typeof unixSecs === 'number' ? new Date(unixSecs * 1000).toLocaleString() : '');

  function timeCell(unixSecs) {
    return el('time', { datetime: typeof unixSecs === 'number' ? new Date(unixSecs * 1000).toISOString() : null, title: fmtTimestamp(unixSecs) }, fmtAgo(unixSecs));
  }

  function statusBadge(status) {
    return el('span', { class: `badge status-${String(status).replace(/[^a-z_]/g, '')}` }, status);
  }

  function progressBar(percent, status) {
    const p = Math.max(0, Math.min(100, Number(percent) || 0));
    return el('div', { class: 'progress' },
      el('div', { class: status === 'failed' ? 'bar failed' : 'bar', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': p, 'aria-label': `${p}% complete` },
        el('span', { class: 'fill', style: `width: ${p}%` })),
      el('span', { class: 'pct' }, `${p}%`));
  }

  function colorSwatch(color) {
    const ok = typeof color === 'string' && /^[0-9a-fA-F]{6}$/.test(color);
    return el('span', { class: 'swatch', style: ok ? `background: #${color}` : null, 'aria-hidden': 'true' });
  }

  const URL_PATTERN = /^(https?|file):\/\/\S+$/i;

  /** A unit's or job's output as compact JSON in which every string that is a URL is a link. */
  function renderValue(value, top) {
    if (value === null || value === undefined) return el('span', { class: 'muted' }, top ? '–' : 'null');
    if (typeof value === 'string') {
      if (URL_PATTERN.test(value)) {
        return el('a', { href: value, target: '_blank', rel: 'noopener noreferrer' }, value);
      }
      return top ? value : JSON.stringify(value);
    }
    if (Array.isArray(value)) {
      const parts = ['['];
      value.forEach((v, i) => { if (i) parts.push(', '); parts.push(renderValue(v, false)); });
      parts.push(']');
      return el('span', {}, parts);
    }
    if (typeof value === 'object') {
      const parts = ['{'];
      Object.entries(value).forEach(([k, v], i) => {
        if (i) parts.push(', ');
        parts.push(JSON.stringify(k) + ': ', renderValue(v, false));
      });
      parts.push('}');
      return el('span', {}, parts);
    }
    return String(value);
  }

  /** Inputs are often whole texts: long ones are cut, with the start of the rest in the tooltip. */
  const INPUT_CHARS = 160;
  function renderInput(input) {
    if (typeof input === 'string' && input.length > INPUT_CHARS && !URL_PATTERN.test(input)) {
      return el('span', { title: input.slice(0, 4000) }, `${input.slice(0, INPUT_CHARS)}…`);
    }
    return renderValue(input, true);
  }

  // ---- live updates ------------------------------------------------------------------------

  function connect() {
    if (state.events) state.events.close();
    const events = new EventSource('events');
    state.events = events;
    events.addEventListener('snapshot', (event) => {
      let snapshot;
      try { snapshot = JSON.parse(event.data); } catch (_) { return; }
      const reconnected = !state.connected && state.everConnected;
      state.everConnected = true;
      setConnected(true);
      onSnapshot(snapshot);
      // The graphs have a hole where the page was cut off: the server's samples fill it.
      if (reconnected) loadHistory();
    });
    events.addEventListener('error', () => {
      if (state.events !== events) return;
      setConnected(false);
      // The browser reconnects by itself unless it gave up (a non-200 reply, say): then start over.
      if (events.readyState === EventSource.CLOSED) {
        setTimeout(() => { if (state.events === events) connect(); }, RECREATE_MS);
      }
    });
  }

  function setConnected(connected) {
    state.connected = connected;
    $('connection-banner').hidden = connected;
    document.body.classList.toggle('offline', !connected); // what is shown may be stale
    const live = $('live');
    live.textContent = connected ? 'live' : 'offline';
    live.className = connected ? 'live on' : 'live off';
  }

  const refreshJobs = coalesce(loadJobs, 250);
  const refreshJob = coalesce(loadJob, 250);
  /** The actions' queues, at most about once a second whatever the snapshots do. */
  const refreshActions = coalesce(loadActions, 1000);
  const refreshFailed = coalesce(loadFailed, 1000);

  function onSnapshot(snapshot) {
    state.latest = snapshot;
    state.snapshotCount += 1;
    $('live').dataset.snapshots = String(state.snapshotCount);
    addPoints([figures(snapshot, 'live', 1)]);
    if (state.historyRetryAt && Date.now() >= state.historyRetryAt) loadHistory();
    if (state.route.name === 'overview') {
      renderCounts();
      renderNodes();
      drawGraphs();
      refreshJobs();
      refreshActions();
      refreshFailed();
    } else {
      updateGraphData(); // the canvases are hidden, but what they hold is kept up to date
      if (state.route.name === 'job' && state.route.live) refreshJob();
    }
  }

  // ---- the graphs' points ------------------------------------------------------------------

  /** A snapshot's or sample's figures, the only fields the graphs read. */
  function figures(s, source, period) {
    return {
      time: Number(s.time),
      job_count: s.job_count,
      work_unit_count: s.work_unit_count,
      node_count: s.node_count,
      worker_count: s.worker_count,
      max_workers: s.max_workers,
      finished_per_sec: s.finished_per_sec,
      source,
      period,
    };
  }

  /** Index of the first point at or after `time` (binary search: the points are in time order). */
  function firstAtOrAfter(points, time) {
    let lo = 0, hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (points[mid].time < time) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  /** Adds live points (in time order). */
  function addPoints(added) {
    for (const p of added) {
      if (!Number.isFinite(p.time)) continue;
      const last = state.points[state.points.length - 1];
      if (!last || p.time > last.time) state.points.push(p);
      else state.points.splice(firstAtOrAfter(state.points, p.time), 0, p);
    }
    prunePoints();
  }

  /**
   * Adds the server's samples where the page has nothing of its own: before its first snapshot
   * and in the holes a lost connection left. A sample within a period of a snapshot is left out.
   */
  function addHistory(samples, period) {
    const live = state.points.filter((p) => p.source === 'live');
    const kept = state.points.filter((p) => p.source !== 'live');
    const history = [];
    for (const sample of samples) {
      const p = figures(sample, 'history', period);
      if (!Number.isFinite(p.time)) continue;
      const i = firstAtOrAfter(live, p.time - period);
      if (i < live.length && live[i].time <= p.time + period) continue; // a snapshot covers it
      history.push(p);
    }
    // The newest history replaces the older copy of the same samples.
    const since = history.length ? history[0].time - period / 2 : Infinity;
    state.points = kept.filter((p) => p.time < since).concat(history, live).sort((a, b) => a.time - b.time);
    prunePoints();
  }

  /** Drops points older than the hour, and thins one-second points older than RECENT_SECS to one per sample period. */
  function prunePoints() {
    const points = state.points;
    if (!points.length) return;
    const now = points[points.length - 1].time;
    const oldest = now - HISTORY_SECS;
    const recent = now - RECENT_SECS;
    const out = [];
    let lastKept = null;
    for (const p of points) {
      if (p.time < oldest) continue;
      if (p.time < recent && p.period < SAMPLE_SECS) {
        // Within a period of the last point kept: dropped. Kept: it now stands for a period.
        if (lastKept && p.time - lastKept.time < SAMPLE_SECS - 0.5) continue;
        p.period = SAMPLE_SECS;
      }
      out.push(p);
      lastKept = p;
    }
    state.points = out;
  }

  /** After a failed load of the history, snapshots try again this often. */
  const HISTORY_RETRY_MS = 10000;

  /** Fetches the server's last hour of samples, so the graphs do not start empty. */
  async function loadHistory() {
    if (state.historyLoading) return;
    state.historyLoading = true;
    state.historyRetryAt = null;
    let reply;
    try {
      reply = await api('status/history');
    } catch (error) {
      showError('history-error', `Could not load the graphs' history: ${error.message}`);
      state.historyRetryAt = Date.now() + HISTORY_RETRY_MS;
      return;
    } finally {
      state.historyLoading = false;
    }
    showError('history-error', null);
    const samples = (reply && Array.isArray(reply.samples)) ? reply.samples : [];
    const period = Number(reply && reply.period_seconds) > 0 ? Number(reply.period_seconds) : SAMPLE_SECS;
    addHistory(samples, period);
    if (!state.latest && samples.length) renderCounts(samples[samples.length - 1]);
    if (state.route.name === 'overview') drawGraphs(); else updateGraphData();
  }

  // ---- overview ----------------------------------------------------------------------------

  /** The counts of the latest snapshot (or, before the first one, of the server's latest sample). */
  function renderCounts(fallback) {
    const s = state.latest || fallback;
    if (!s) return;
    $('stat-jobs').textContent = fmtNumber(s.job_count);
    $('stat-units').textContent = fmtNumber(s.work_unit_count);
    $('stat-nodes').textContent = fmtNumber(s.node_count);
    $('stat-workers').textContent = `${fmtNumber(s.worker_count)} / ${fmtNumber(s.max_workers)}`;
    $('stat-rate').textContent = typeof s.finished_per_sec === 'number' ? s.finished_per_sec.toFixed(1) : '–';
  }

  /** " · 40%" when the unit's action has said how far it has got. */
  function progressOf(node, id) {
    const percent = node.progress && node.progress[String(id)];
    return Number.isFinite(percent) ? ` · ${percent}%` : '';
  }

  function renderNodes() {
    const nodes = (state.latest && state.latest.nodes) || [];
    const body = $('nodes').tBodies[0];
    body.replaceChildren(...nodes.map((node) => {
      const workers = Array.isArray(node.workers) ? node.workers : [];
      return el('tr', {},
        el('td', { class: 'mono' }, node.host),
        el('td', {}, node.tag ? el('span', { class: 'tag' }, node.tag) : el('span', { class: 'muted' }, '–')),
        el('td', { title: node.throttled || null }, statusBadge(node.status)),
        el('td', { class: 'num' }, `${workers.length} / ${fmtNumber(node.max_workers)}`),
        el('td', {}, workers.length ? workers.map((id) => el('span', { class: 'chip' }, `unit ${id}${progressOf(node, id)}`)) : el('span', { class: 'muted' }, 'idle')));
    }));
    $('nodes').hidden = nodes.length === 0;
    $('nodes-empty').hidden = nodes.length !== 0;
  }

  async function loadJobs() {
    const params = new URLSearchParams({ page: state.page, per_page: JOBS_PER_PAGE });
    if (state.filter) params.set('status', state.filter);
    let reply;
    try {
      reply = await api(`jobs?${params}`);
    } catch (error) {
      showError('jobs-error', `Could not load jobs: ${error.message}`);
      return;
    }
    showError('jobs-error', null);
    const lastPage = Math.max(1, Math.ceil(reply.total / JOBS_PER_PAGE));
    if (state.page > lastPage) { // the page emptied under us (jobs deleted): show the last one
      state.page = lastPage;
      refreshJobs();
      return;
    }
    renderJobs(reply);
  }

  function renderJobs(reply) {
    const jobs = reply.jobs || [];
    $('jobs').tBodies[0].replaceChildren(...jobs.map((job) => el('tr', { 'data-job-id': job.id, tabindex: 0, title: `Open job ${job.id}` },
      el('td', { class: 'mono' }, colorSwatch(job.color), el('a', { href: `#/jobs/${encodeURIComponent(job.id)}` }, `#${job.id}`)),
      el('td', {}, job.action),
      el('td', {}, statusBadge(job.status)),
      el('td', { class: 'wide' }, progressBar(job.percent_complete, job.status)),
      el('td', { class: 'num' }, fmtNumber(job.work_units)),
      el('td', { class: 'num' }, fmtDuration(job.time_taken)),
      el('td', {}, timeCell(job.created_at)))));
    $('jobs-empty').hidden = jobs.length !== 0;
    $('jobs-empty').textContent = state.filter ? `No ${state.filter} jobs.` : 'No jobs yet.';
    const first = (reply.page - 1) * reply.per_page;
    $('page-info').textContent = reply.total ? `${first + 1}–${first + jobs.length} of ${fmtNumber(reply.total)}` : '';
    $('page-prev').disabled = state.page <= 1;
    $('page-next').disabled = first + jobs.length >= reply.total;
  }

  function openRow(event) {
    if (event.target.closest('a')) return; // the link does it
    const row = event.target.closest('tr[data-job-id]');
    if (row) location.hash = `#/jobs/${row.dataset.jobId}`;
  }

  // ---- actions: their queues, paused or not ------------------------------------------------

  async function loadActions() {
    const seq = ++state.actionsSeq;
    let reply;
    try {
      reply = await api('actions');
    } catch (error) {
      if (seq === state.actionsSeq) showError('actions-error', `Could not load the actions: ${error.message}`, 'load');
      return;
    }
    if (seq !== state.actionsSeq) return; // a later load (after a pause, say) has the newer state
    showError('actions-error', null, 'load');
    renderActions(Array.isArray(reply && reply.actions) ? reply.actions : []);
  }

  /** What an action is doing, in a word: paused, running, waiting (with no worker to take it), idle. */
  function actionState(action) {
    if (action.paused) return { word: 'paused', badge: 'paused' };
    if (action.running > 0) return { word: 'running', badge: 'running' };
    if (action.waiting > 0 && !(action.workers > 0)) return { word: 'no workers', badge: 'failed' };
    if (action.waiting > 0) return { word: 'waiting', badge: 'queued' };
    return { word: 'idle', badge: 'idle' };
  }

  function renderActions(actions) {
    $('actions').tBodies[0].replaceChildren(...actions.map((action) => {
      const name = String(action.action);
      const paused = !!action.paused;
      const busy = state.busyActions.has(name);
      const { word, badge } = actionState(action);
      const since = paused && action.paused_at ? `Paused since ${fmtWhen(action.paused_at)}` : null;
      const button = paused
        ? el('button', { type: 'button', class: 'resume', disabled: busy, 'aria-label': `Resume ${name}`, onclick: () => setPaused(name, false) }, busy ? 'Resuming…' : 'Resume')
        : el('button', { type: 'button', class: 'pause', disabled: busy, 'aria-label': `Pause ${name}`, onclick: () => setPaused(name, true) }, busy ? 'Pausing…' : 'Pause');
      return el('tr', { 'data-action': name, 'data-paused': String(paused), 'data-waiting': action.waiting, 'data-running': action.running },
        el('td', { class: 'mono' }, name),
        el('td', { class: 'num waiting' }, fmtNumber(action.waiting)),
        el('td', { class: 'num running' }, fmtNumber(action.running)),
        el('td', { class: 'num workers' }, fmtNumber(action.workers)),
        el('td', { class: 'num oldest', title: typeof action.oldest_waiting_seconds === 'number' ? `${action.oldest_waiting_seconds.toFixed(1)} s` : null }, fmtAge(action.oldest_waiting_seconds)),
        el('td', { class: 'state', title: since }, el('span', { class: `badge status-${badge}` }, word)),
        el('td', { class: 'num' }, button));
    }));
    $('actions').hidden = actions.length === 0;
    $('actions-empty').hidden = actions.length !== 0;
  }

  /** Pauses an action (POST blacklist) or resumes it (DELETE blacklist/<action>). */
  async function setPaused(name, pause) {
    state.busyActions.add(name);
    const row = [...$('actions').tBodies[0].rows].find((r) => r.dataset.action === name);
    const button = row && row.querySelector('button');
    if (button) { button.disabled = true; button.textContent = pause ? 'Pausing…' : 'Resuming…'; }
    try {
      if (pause) await postForm('blacklist', { action: name });
      else await api(`blacklist/${encodeURIComponent(name)}`, { method: 'DELETE' });
      showError('actions-error', null);
    } catch (error) {
      // Resuming what is no longer paused (someone else did it) leaves it as asked.
      if (pause || error.status !== 404) {
        showError('actions-error', `Could not ${pause ? 'pause' : 'resume'} ${name}: ${error.message}`, 'act');
      }
    } finally {
      state.busyActions.delete(name);
    }
    await loadActions();
  }

  // ---- failed units, across jobs -----------------------------------------------------------

  async function loadFailed() {
    const params = new URLSearchParams({ status: 'failed', page: state.failedPage, per_page: FAILED_PER_PAGE });
    const seq = ++state.failedSeq;
    let reply;
    try {
      reply = await api(`units?${params}`);
    } catch (error) {
      if (seq === state.failedSeq) showError('failed-error', `Could not load the failed units: ${error.message}`, 'load');
      return;
    }
    if (seq !== state.failedSeq) return; // a later load (after a retry, say) has the newer state
    showError('failed-error', null, 'load');
    const total = Number(reply.total) || 0;
    const lastPage = Math.max(1, Math.ceil(total / FAILED_PER_PAGE));
    if (state.failedPage > lastPage) { // the page emptied under us (retried, deleted): show the last one
      state.failedPage = lastPage;
      refreshFailed();
      return;
    }
    renderFailed(reply);
  }

  /** An error cut to ERROR_CHARS, the whole of it in the tooltip. */
  function shortError(error) {
    const text = String(error || '');
    if (!text) return el('span', { class: 'muted' }, '–');
    return el('span', { title: text.slice(0, 4000) }, text.length > ERROR_CHARS ? `${text.slice(0, ERROR_CHARS)}…` : text);
  }

  function retryButton(jobId, label, extra) {
    const busy = state.busyJobs.has(String(jobId));
    return el('button', Object.assign({ type: 'button', class: 'retry', 'data-job-id': jobId, disabled: busy, 'aria-label': `Retry job ${jobId}'s failed units`, onclick: () => retryJob(jobId) }, extra || {}),
      busy ? 'Retrying…' : label);
  }

  function renderFailed(reply) {
    const units = Array.isArray(reply.units) ? reply.units : [];
    const total = Number(reply.total) || 0;
    let previousJob = null;
    $('failed-units').tBodies[0].replaceChildren(...units.map((unit) => {
      // One Retry per job (it retries all of the job's failed units): on its first row here.
      const first = unit.job_id !== previousJob;
      previousJob = unit.job_id;
      return el('tr', { 'data-unit-id': unit.id, 'data-job-id': unit.job_id, class: first ? null : 'same-job' },
        el('td', { class: 'mono' }, el('a', { href: `#/jobs/${encodeURIComponent(unit.job_id)}`, title: `Open job ${unit.job_id}` }, `#${unit.job_id}`)),
        el('td', { class: 'mono' }, unit.action),
        el('td', {}, unit.stage),
        el('td', { class: 'num attempts' }, fmtNumber(unit.attempts)),
        el('td', { class: 'error-cell error-text' }, shortError(unit.error)),
        el('td', {}, timeCell(unit.updated_at)),
        el('td', { class: 'num' }, first ? retryButton(unit.job_id, 'Retry') : null));
    }));
    $('failed-count').textContent = total ? fmtNumber(total) : '';
    $('failed-units').hidden = units.length === 0;
    $('failed-empty').hidden = units.length !== 0;
    const first = (state.failedPage - 1) * FAILED_PER_PAGE;
    $('failed-pager').hidden = total <= FAILED_PER_PAGE && state.failedPage === 1;
    $('failed-page-info').textContent = total ? `${first + 1}–${first + units.length} of ${fmtNumber(total)}` : '';
    $('failed-prev').disabled = state.failedPage <= 1;
    $('failed-next').disabled = first + units.length >= total;
  }

  /** Runs a failed job's failed units again (POST jobs/<id>/retry). */
  async function retryJob(jobId) {
    const id = String(jobId);
    state.busyJobs.add(id);
    for (const button of document.querySelectorAll('button.retry')) {
      if (button.dataset.jobId === id) { button.disabled = true; button.textContent = 'Retrying…'; }
    }
    let error = null;
    try {
      await api(`jobs/${encodeURIComponent(id)}/retry`, { method: 'POST' });
    } catch (e) {
      error = e;
    } finally {
      state.busyJobs.delete(id);
    }
    const message = error && `Could not retry job ${id}: ${error.message}`;
    if (state.route.name === 'job' && state.route.id === id) {
      showError('job-error', message, 'act');
      state.route.live = true;
      await loadJob();
    } else {
      showError('failed-error', message, 'act');
      await loadFailed();
      refreshJobs();
    }
  }

  // ---- graphs ------------------------------------------------------------------------------

  const GRAPHS = [
    { id: 'graph-units', label: 'Work units in queue', integer: true, series: [{ label: 'units', color: '#2f6fde', fill: true, value: (s) => s.work_unit_count }] },
    { id: 'graph-jobs', label: 'Jobs in queue', integer: true, series: [{ label: 'jobs', color: '#8a4fd1', fill: true, value: (s) => s.job_count }] },
    {
      id: 'graph-workers', label: 'Nodes and workers', integer: true, series: [
        { label: 'max workers', color: '#9aa5b1', dash: [4, 3], value: (s) => s.max_workers },
        { label: 'workers running', color: '#e07b1a', fill: true, value: (s) => s.worker_count },
        { label: 'nodes', color: '#1a9e6a', value: (s) => s.node_count },
      ],
    },
    { id: 'graph-rate', label: 'Units finished per second', series: [{ label: 'units/s', color: '#14938c', fill: true, value: (s) => s.finished_per_sec }] },
  ];

  /** Y axis ticks: a round step (1, 2 or 5 × 10ⁿ; whole for counts) giving at most 4 intervals up to `max` or above. */
  function yTicks(max, integer) {
    if (!(max > 0)) return integer ? { top: 1, step: 1 } : { top: 1, step: 0.25 };
    const raw = max / 4;
    const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
    let step = [1, 2, 5, 10].map((m) => m * magnitude).find((m) => m >= raw);
    if (integer) step = Math.max(1, Math.round(step));
    return { top: step * Math.ceil(max / step - 1e-9), step };
  }

  const tickFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

  /** The window the graphs show: the smallest of WINDOWS that holds every point kept. */
  function graphWindow(points) {
    if (points.length < 2) return WINDOWS[0];
    const span = points[points.length - 1].time - points[0].time;
    return WINDOWS.find((w) => w >= span) || WINDOWS[WINDOWS.length - 1];
  }

  /** "5 minutes", "1 hour": the window in words, for the canvases' labels. */
  function windowWords(secs) {
    return secs >= 3600 && secs % 3600 === 0
      ? `${secs / 3600} hour${secs === 3600 ? '' : 's'}`
      : `${Math.round(secs / 60)} minutes`;
  }

  /** What each canvas shows, as data- attributes (for tests and tools: pixels say little) and its label. */
  function updateGraphData() {
    const points = state.points;
    const windowSecs = graphWindow(points);
    const history = points.filter((p) => p.source === 'history').length;
    for (const graph of GRAPHS) {
      const canvas = $(graph.id);
      if (!canvas) continue;
      canvas.dataset.points = String(points.length);
      canvas.dataset.historyPoints = String(history);
      canvas.dataset.livePoints = String(points.length - history);
      canvas.dataset.windowSecs = String(windowSecs);
      canvas.setAttribute('aria-label', `${graph.label} over the last ${windowWords(windowSecs)}`);
    }
  }

  function drawGraphs() {
    updateGraphData();
    for (const graph of GRAPHS) drawGraph($(graph.id), graph, state.points);
  }

  /** The spacing of the time axis' labels for a window, in seconds. */
  function timeStep(windowSecs) {
    return { 300: 60, 600: 120, 900: 180, 1800: 300, 3600: 600 }[windowSecs] || windowSecs / 5;
  }

  function timeLabel(secsAgo) {
    if (secsAgo <= 0) return 'now';
    const minutes = Math.round(secsAgo / 60);
    return minutes >= 60 && minutes % 60 === 0 ? `−${minutes / 60}h` : `−${minutes}m`;
  }

  function drawGraph(canvas, graph, points) {
    const series = graph.series;
    const dpr = window.devicePixelRatio || 1;
    const width = canvas.clientWidth, height = canvas.clientHeight;
    if (!width || !height) return;
    const windowSecs = graphWindow(points);
    if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const font = getComputedStyle(document.body).fontFamily;
    ctx.font = `11px ${font}`;

    const pad = { left: 36, right: 10, top: 8, bottom: 20 };
    const plotW = width - pad.left - pad.right, plotH = height - pad.top - pad.bottom;
    const now = points.length ? points[points.length - 1].time : Date.now() / 1000;
    const start = now - windowSecs;
    let max = 0;
    for (const p of points) for (const s of series) max = Math.max(max, Number(s.value(p)) || 0);
    const { top, step } = yTicks(max, graph.integer);
    const x = (t) => pad.left + ((t - start) / windowSecs) * plotW;
    const y = (v) => pad.top + plotH - (v / top) * plotH;

    // Grid and axes.
    ctx.strokeStyle = '#e6e9ee';
    ctx.fillStyle = '#7b8794';
    ctx.lineWidth = 1;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (let i = 0; i * step <= top + 1e-9; i++) {
      const v = i * step, yy = Math.round(y(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(pad.left, yy); ctx.lineTo(pad.left + plotW, yy); ctx.stroke();
      ctx.fillText(tickFormat.format(v), pad.left - 6, yy);
    }
    ctx.textBaseline = 'top';
    const tick = timeStep(windowSecs);
    for (let ago = windowSecs; ago >= 0; ago -= tick) {
      ctx.textAlign = ago === windowSecs ? 'left' : ago === 0 ? 'right' : 'center';
      ctx.fillText(timeLabel(ago), x(now - ago), pad.top + plotH + 5);
    }

    // The series, each broken where points are missing (a gap longer than the points' period allows).
    const broken = (a, b) => b.time - a.time > Math.max(GAP_SECS, 2.5 * Math.max(a.period || 1, b.period || 1));
    for (const s of series) {
      const segments = [];
      let current = [];
      for (const p of points) {
        if (current.length && broken(current[current.length - 1], p)) { segments.push(current); current = []; }
        current.push(p);
      }
      if (current.length) segments.push(current);
      for (const segment of segments) {
        ctx.beginPath();
        segment.forEach((p, i) => {
          const px = x(p.time), py = y(Number(s.value(p)) || 0);
          if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
        });
        if (s.fill && segment.length > 1) {
          ctx.save();
          ctx.lineTo(x(segment[segment.length - 1].time), y(0));
          ctx.lineTo(x(segment[0].time), y(0));
          ctx.closePath();
          ctx.globalAlpha = 0.12;
          ctx.fillStyle = s.color;
          ctx.fill();
          ctx.restore();
          ctx.beginPath();
          segment.forEach((p, i) => {
            const px = x(p.time), py = y(Number(s.value(p)) || 0);
            if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
          });
        }
        ctx.setLineDash(s.dash || []);
        ctx.strokeStyle = s.color;
        ctx.lineWidth = 1.75;
        ctx.lineJoin = 'round';
        ctx.stroke();
        ctx.setLineDash([]);
      }
    }

    renderLegend(canvas.parentElement.querySelector('.legend'), series, points[points.length - 1]);
  }

  /** Each series' colour, name and latest value, beside the graph's title. */
  function renderLegend(legend, series, latest) {
    if (!legend) return;
    legend.replaceChildren(...series.map((s) => {
      const v = latest ? Number(s.value(latest)) || 0 : null;
      return el('span', { class: 'key' }, el('i', { style: `background: ${s.color}` }), `${s.label} `,
        el('b', {}, v === null ? '–' : Number.isInteger(v) ? fmtNumber(v) : v.toFixed(1)));
    }));
  }

  // ---- job page ----------------------------------------------------------------------------

  const COMPLETE = ['succeeded', 'failed'];

  async function loadJob() {
    const route = state.route;
    if (route.name !== 'job') return;
    // Only the latest load shows: one overtaken by a later one (after a retry, say) is stale.
    const seq = route.seq = (route.seq || 0) + 1;
    let reply;
    try {
      const params = new URLSearchParams({ page: route.unitPage, per_page: UNITS_PER_PAGE });
      reply = await api(`jobs/${encodeURIComponent(route.id)}/units?${params}`);
    } catch (error) {
      if (state.route !== route || route.seq !== seq) return;
      route.live = false;
      $('job-body').replaceChildren(error.status === 404
        ? el('div', { class: 'panel notfound' }, el('h2', {}, 'Job not found'), el('p', {}, `There is no job ${route.id}: it may have been deleted.`))
        : el('p', { class: 'error' }, `Could not load job ${route.id}: ${error.message}`));
      if (error.status !== 404) route.live = true; // try again on the next snapshot
      return;
    }
    if (state.route !== route || route.seq !== seq) return;
    route.live = !COMPLETE.includes(reply.job.status);
    renderJob(reply.job, reply.units || [], reply);
  }

  function fact(label, ...value) {
    return [el('dt', {}, label), el('dd', {}, ...value)];
  }

  /** Shows another page of the job's units. */
  function turnUnitPage(by) {
    const route = state.route;
    if (route.name !== 'job') return;
    route.unitPage = Math.max(1, route.unitPage + by);
    loadJob();
  }

  function renderJob(job, units, paging) {
    const outputs = Array.isArray(job.outputs) ? job.outputs : null;
    const cancel = el('button', { type: 'button', class: 'danger', onclick: () => cancelJob(job.id) },
      COMPLETE.includes(job.status) ? 'Delete job' : 'Cancel job');
    // A failed job's failed units can run again, with their attempts back.
    const retry = job.status === 'failed' ? retryButton(job.id, 'Retry failed units', { id: 'job-retry' }) : null;
    const facts = el('dl', { class: 'facts' },
      fact('Action', el('span', { class: 'mono' }, job.action)),
      fact('Status', statusBadge(job.status)),
      fact('Progress', progressBar(job.percent_complete, job.status)),
      fact('Units left', fmtNumber(job.work_units)),
      fact('Time taken', fmtDuration(job.time_taken)),
      fact('Created', fmtTimestamp(job.created_at), ' ', el('span', { class: 'muted' }, `(${fmtAgo(job.created_at)})`)),
      job.email ? fact('Email', job.email) : []);
    const head = el('div', { class: 'panel' },
      el('div', { class: 'panel-head' }, el('h1', {}, colorSwatch(job.color), `Job ${job.id}`), el('div', { class: 'buttons' }, retry, cancel)),
      facts,
      outputs ? el('div', { class: 'outputs' }, el('h3', {}, 'Outputs'), el('pre', { class: 'output', id: 'job-outputs' }, renderValue(outputs, true))) : null);

    // The contract has no "running" status; the nodes' lists of running units say which are.
    const running = new Set(((state.latest && state.latest.nodes) || []).flatMap((n) => (Array.isArray(n.workers) ? n.workers : [])));
    const statusOf = (unit) => (unit.status === 'queued' && running.has(unit.id) ? 'running' : unit.status);
    const shown = units;
    const total = Number(paging.total) || units.length;
    const first = (paging.page - 1) * paging.per_page;
    const pager = total > units.length || paging.page > 1
      ? el('div', { class: 'pager' },
        el('button', { type: 'button', id: 'units-prev', disabled: paging.page <= 1, onclick: () => turnUnitPage(-1) }, '‹ Prev'),
        el('span', { class: 'muted', id: 'units-page-info' }, units.length ? `${fmtNumber(first + 1)}–${fmtNumber(first + units.length)} of ${fmtNumber(total)}` : `none of ${fmtNumber(total)}`),
        el('button', { type: 'button', id: 'units-next', disabled: first + units.length >= total, onclick: () => turnUnitPage(1) }, 'Next ›'))
      : null;
    const table = el('table', { class: 'grid', id: 'units' },
      el('thead', {}, el('tr', {}, ['Unit', 'Stage', 'Status', 'Attempts', 'Time', 'Input', 'Error', 'Output'].map((h) =>
        el('th', { class: ['Attempts', 'Time'].includes(h) ? 'num' : null }, h)))),
      el('tbody', {}, shown.map((unit) => el('tr', { 'data-unit-id': unit.id },
        el('td', { class: 'mono' }, unit.id),
        el('td', {}, unit.stage),
        el('td', {}, statusBadge(statusOf(unit))),
        el('td', { class: 'num' }, fmtNumber(unit.attempts)),
        el('td', { class: 'num' }, fmtDuration(unit.time)),
        el('td', { class: 'value' }, el('div', {}, renderInput(unit.input))),
        el('td', { class: 'value error-text' }, el('div', {}, unit.error ? unit.error : el('span', { class: 'muted' }, '–'))),
        el('td', { class: 'value' }, el('div', {}, renderValue(unit.output, true)))))));
    const unitsPanel = el('section', { class: 'panel' },
      el('div', { class: 'panel-head' }, el('h2', {}, `Work units (${fmtNumber(total)})`), unitSummary(units.map(statusOf))),
      el('div', { class: 'scroll' }, table),
      pager);
    $('job-body').replaceChildren(head, unitsPanel);
  }

  /** "38 succeeded · 2 queued": how a job's units stand, at a glance. */
  function unitSummary(statuses) {
    const counts = new Map();
    for (const status of statuses) counts.set(status, (counts.get(status) || 0) + 1);
    return el('span', { class: 'summary' }, [...counts].map(([status, n], i) =>
      [i ? ' · ' : null, el('span', { class: `count-${String(status).replace(/[^a-z_]/g, '')}` }, `${fmtNumber(n)} ${status}`)]));
  }

  async function cancelJob(id) {
    if (!confirm(`Cancel job ${id}? Its units and stored files are deleted.`)) return;
    try {
      await api(`jobs/${encodeURIComponent(id)}`, { method: 'DELETE' });
    } catch (error) {
      if (error.status !== 404) { showError('job-error', `Could not cancel job ${id}: ${error.message}`, 'act'); return; }
    }
    location.hash = '#/';
  }

  // ---- routing -----------------------------------------------------------------------------

  function route() {
    const match = /^#\/jobs\/([^/?#]+)$/.exec(location.hash);
    $('overview').hidden = !!match;
    $('job').hidden = !match;
    $('nav-overview').classList.toggle('active', !match);
    if (match) {
      const id = decodeURIComponent(match[1]);
      state.route = { name: 'job', id, live: true, unitPage: 1 };
      showError('job-error', null);
      document.title = `Job ${id} · CloudCrowd`;
      $('job-body').replaceChildren(el('p', { class: 'muted' }, 'Loading…'));
      loadJob();
    } else {
      state.route = { name: 'overview' };
      document.title = 'CloudCrowd · Operations';
      renderCounts();
      renderNodes();
      drawGraphs();
      refreshJobs();
      loadActions();
      loadFailed();
    }
  }

  function start() {
    $('job-filter').addEventListener('change', (event) => { state.filter = event.target.value; state.page = 1; refreshJobs(); });
    $('page-prev').addEventListener('click', () => { if (state.page > 1) { state.page -= 1; refreshJobs(); } });
    $('page-next').addEventListener('click', () => { state.page += 1; refreshJobs(); });
    $('failed-prev').addEventListener('click', () => { if (state.failedPage > 1) { state.failedPage -= 1; loadFailed(); } });
    $('failed-next').addEventListener('click', () => { state.failedPage += 1; loadFailed(); });
    const jobs = $('jobs');
    jobs.addEventListener('click', openRow);
    jobs.addEventListener('keydown', (event) => { if (event.key === 'Enter') openRow(event); });
    window.addEventListener('hashchange', route);
    window.addEventListener('resize', () => { if (state.route.name === 'overview') drawGraphs(); });
    route();
    loadHistory();
    connect();
  }

  start();
})();
