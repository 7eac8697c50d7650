// CloudCrowd's operations center: one page, no framework, served by the crowd binary itself
// (users may have no internet). Updates are pushed by the server as `snapshot` events on
// /events; the page fetches the job list and a job's units again when one arrives.
//
// Every piece of data reaches the DOM through `el()` (textContent and attributes), never
// through innerHTML: inputs, outputs and errors are user data.
'use strict';

(function () {
  /** Points kept for the graphs: 5 minutes of one-second snapshots. */
  const HISTORY_SECS = 300;
  /** A gap longer than this between two snapshots breaks the graph's line. */
  const GAP_SECS = 5;
  const JOBS_PER_PAGE = 20;
  /** A job page lists its units this many at a time, so a huge job does not hang the browser. */
  const UNITS_PER_PAGE = 500;
  /** Wait before recreating an EventSource that the browser gave up on. */
  const RECREATE_MS = 2000;

  const state = {
    route: { name: 'overview' },
    filter: '',
    page: 1,
    snapshots: [],
    latest: null,
    events: null,
    connected: false,
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
      const error = new Error((body && body.message) || `HTTP ${reply.status}`);
      error.status = reply.status;
      throw error;
    }
    return body;
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
      setConnected(true);
      onSnapshot(snapshot);
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

  function onSnapshot(snapshot) {
    state.latest = snapshot;
    state.snapshots.push(snapshot);
    const oldest = snapshot.time - HISTORY_SECS;
    while (state.snapshots.length && state.snapshots[0].time < oldest) state.snapshots.shift();
    if (state.route.name === 'overview') {
      renderCounts();
      renderNodes();
      drawGraphs();
      refreshJobs();
    } else if (state.route.name === 'job' && state.route.live) {
      refreshJob();
    }
  }

  // ---- overview ----------------------------------------------------------------------------

  function renderCounts() {
    const s = state.latest;
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
      $('jobs-error').textContent = `Could not load jobs: ${error.message}`;
      $('jobs-error').hidden = false;
      return;
    }
    $('jobs-error').hidden = true;
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

  // ---- graphs ------------------------------------------------------------------------------

  const GRAPHS = [
    { id: 'graph-units', integer: true, series: [{ label: 'units', color: '#2f6fde', fill: true, value: (s) => s.work_unit_count }] },
    { id: 'graph-jobs', integer: true, series: [{ label: 'jobs', color: '#8a4fd1', fill: true, value: (s) => s.job_count }] },
    {
      id: 'graph-workers', integer: true, series: [
        { label: 'max workers', color: '#9aa5b1', dash: [4, 3], value: (s) => s.max_workers },
        { label: 'workers running', color: '#e07b1a', fill: true, value: (s) => s.worker_count },
        { label: 'nodes', color: '#1a9e6a', value: (s) => s.node_count },
      ],
    },
    { id: 'graph-rate', series: [{ label: 'units/s', color: '#14938c', fill: true, value: (s) => s.finished_per_sec }] },
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

  function drawGraphs() {
    for (const graph of GRAPHS) drawGraph($(graph.id), graph, state.snapshots);
  }

  function drawGraph(canvas, graph, points) {
    const series = graph.series;
    const dpr = window.devicePixelRatio || 1;
    const width = canvas.clientWidth, height = canvas.clientHeight;
    if (!width || !height) return;
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
    const start = now - HISTORY_SECS;
    let max = 0;
    for (const p of points) for (const s of series) max = Math.max(max, Number(s.value(p)) || 0);
    const { top, step } = yTicks(max, graph.integer);
    const x = (t) => pad.left + ((t - start) / HISTORY_SECS) * plotW;
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
    for (let m = 0; m <= 5; m++) {
      const xx = x(start + m * 60);
      ctx.textAlign = m === 0 ? 'left' : m === 5 ? 'right' : 'center';
      ctx.fillText(m === 5 ? 'now' : `−${5 - m}m`, xx, pad.top + plotH + 5);
    }

    // The series, each broken where snapshots are missing.
    for (const s of series) {
      const segments = [];
      let current = [];
      for (const p of points) {
        if (current.length && p.time - current[current.length - 1].time > GAP_SECS) { segments.push(current); current = []; }
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
    let reply;
    try {
      const params = new URLSearchParams({ page: route.unitPage, per_page: UNITS_PER_PAGE });
      reply = await api(`jobs/${encodeURIComponent(route.id)}/units?${params}`);
    } catch (error) {
      if (state.route !== route) return;
      route.live = false;
      $('job-body').replaceChildren(error.status === 404
        ? el('div', { class: 'panel notfound' }, el('h2', {}, 'Job not found'), el('p', {}, `There is no job ${route.id}: it may have been deleted.`))
        : el('p', { class: 'error' }, `Could not load job ${route.id}: ${error.message}`));
      if (error.status !== 404) route.live = true; // try again on the next snapshot
      return;
    }
    if (state.route !== route) return;
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
    const facts = el('dl', { class: 'facts' },
      fact('Action', el('span', { class: 'mono' }, job.action)),
      fact('Status', statusBadge(job.status)),
      fact('Progress', progressBar(job.percent_complete, job.status)),
      fact('Units left', fmtNumber(job.work_units)),
      fact('Time taken', fmtDuration(job.time_taken)),
      fact('Created', fmtTimestamp(job.created_at), ' ', el('span', { class: 'muted' }, `(${fmtAgo(job.created_at)})`)),
      job.email ? fact('Email', job.email) : []);
    const head = el('div', { class: 'panel' },
      el('div', { class: 'panel-head' }, el('h1', {}, colorSwatch(job.color), `Job ${job.id}`), cancel),
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
      if (error.status !== 404) { alert(`Could not cancel job ${id}: ${error.message}`); return; }
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
    }
  }

  function start() {
    $('job-filter').addEventListener('change', (event) => { state.filter = event.target.value; state.page = 1; refreshJobs(); });
    $('page-prev').addEventListener('click', () => { if (state.page > 1) { state.page -= 1; refreshJobs(); } });
    $('page-next').addEventListener('click', () => { state.page += 1; refreshJobs(); });
    const jobs = $('jobs');
    jobs.addEventListener('click', openRow);
    jobs.addEventListener('keydown', (event) => { if (event.key === 'Enter') openRow(event); });
    window.addEventListener('hashchange', route);
    window.addEventListener('resize', () => { if (state.route.name === 'overview') drawGraphs(); });
    route();
    connect();
  }

  start();
})();
