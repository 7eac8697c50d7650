// The operations center in a real browser (Chromium driven by playwright-core).
//
//   node tests/browser/ops_center.mjs <base-url> <screenshot.png>
//
// Opens the overview, posts a word_count job whose inputs a server of this script holds back,
// sees its row appear at 0 %, lets the inputs go and watches the row reach 100 % without a
// reload, opens its page, checks its units and output, pages through a bigger job's units,
// cancels a running job from its page, and checks the banner shown while /events is
// unreachable. Then the operator's side of the page: the graphs are drawn from the server's
// history before the first live snapshot; word_count is paused from the Actions panel (a job's
// units wait), resumed (the job succeeds); a job whose input answers 500 fails, shows in the
// Failed units panel with its error, and its Retry button makes it succeed once the input
// answers; a failed job's own page has a Retry button too. Last, the whole page through a
// reverse proxy of this script that serves it under /crowd/ (prefix stripped, as nginx would):
// it loads, gets live updates, pauses and resumes, opens a job, and no request leaves /crowd/.
//
// Saves the overview (with graphs, an action at work and a failed unit) to <screenshot.png>
// and a job's page beside it (<screenshot>-job.png); with UPDATE_SCREENSHOTS=1 also to
// docs/ops-center.png and docs/ops-job.png, the README's pictures. Exits non-zero, naming the
// step, on any failure. tests/browser/main.rs runs it against a stack started in-process.
//
// OPS_ASSETS_FROM_DISK=1 serves the page (ops.html, ops.js, ops.css) from api/assets/ on disk
// instead of the copies compiled into the binary, through proxies of this script (one at the
// root, one under /crowd/): to try edits of the page against an already built `crowd up`.

import { readFile, copyFile } from 'node:fs/promises';
import http from 'node:http';
import { chromium } from 'playwright-core';

const WAIT_MS = 30_000;
const INPUTS = 40;
const PREFIX = '/crowd';
const ASSETS_FROM_DISK = process.env.OPS_ASSETS_FROM_DISK === '1';
const UPDATE_SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1';

const [base, screenshot] = process.argv.slice(2).map((a, i) => (i === 0 ? a.replace(/\/+$/, '') : a));
if (!base || !screenshot) {
  console.error('usage: node tests/browser/ops_center.mjs <base-url> <screenshot.png>');
  process.exit(2);
}
const jobScreenshot = screenshot.replace(/(\.png)?$/i, '-job.png');

let current = 'start';
/** Runs one named check, so a failure says which. */
async function step(name, fn) {
  current = name;
  console.log(`ops center: ${name}`);
  return fn();
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function apiCall(method, path, body) {
  const reply = await fetch(`${base}/${path}`, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await reply.text();
  let json = null;
  try { json = JSON.parse(text); } catch (_) { /* reported below */ }
  return { status: reply.status, ok: reply.ok, text, json };
}

async function getJson(path) {
  const reply = await apiCall('GET', path);
  check(reply.ok && reply.json !== null, `GET /${path} answered ${reply.status}: ${reply.text}`);
  return reply.json;
}

async function postJob(job) {
  const reply = await apiCall('POST', 'jobs', job);
  check(reply.ok && reply.json, `POST /jobs answered ${reply.status}: ${reply.text}`);
  return reply.json;
}

/** Polls `fn` (an API read, which has no event to wait on) until it returns a truthy value, for at most WAIT_MS. */
async function eventually(what, fn) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = await fn();
    if (value) return value;
    check(Date.now() < deadline, `timed out after ${WAIT_MS} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

// The inputs' server.
//   /<i>            i + 1 words, every reply held until release() (to watch a job still running)
//   /flaky/<name>/<i> answers 500 while `failing` has <name> (a transient failure, retried up to
//                   work_unit_retries attempts), then i + 1 words
//   /gone           404 (a permanent failure: the unit fails at its first attempt)
const held = [];
let holding = true;
const failing = new Set();
const hits = new Map();
const words = (i) => Array.from({ length: i + 1 }, (_, w) => `w${w}`).join(' ');
const inputs = http.createServer((request, response) => {
  hits.set(request.url, (hits.get(request.url) || 0) + 1);
  const flaky = /^\/flaky\/([\w-]+)\/(\d+)$/.exec(request.url);
  if (flaky) {
    if (failing.has(flaky[1])) {
      response.statusCode = 500;
      response.end('not now');
    } else {
      response.end(words(Number(flaky[2])));
    }
    return;
  }
  if (request.url === '/gone') {
    response.statusCode = 404;
    response.end('no such input');
    return;
  }
  const i = Number(request.url.slice(1));
  const reply = () => response.end(words(i));
  if (holding) held.push(reply);
  else reply();
});
await new Promise((resolve) => inputs.listen(0, '127.0.0.1', resolve));
const inputsBase = `http://127.0.0.1:${inputs.address().port}`;
const inputUrl = (i) => `${inputsBase}/${i}`;
const flakyUrl = (name, i = 0) => `${inputsBase}/flaky/${name}/${i}`;
function release() {
  holding = false;
  held.splice(0).forEach((reply) => reply());
}

// A reverse proxy to the api, as an operator may put in front of it: requests under `prefix`
// go to the api with the prefix stripped (the SSE stream included, passed on as it comes), the
// Host header kept (as nginx's `proxy_set_header Host $http_host`); anything else is a 404,
// and is recorded. With OPS_ASSETS_FROM_DISK=1 the page's three files come from api/assets/.
const DISK_ASSETS = {
  '/': ['ops.html', 'text/html; charset=utf-8'],
  '/ops/ops.js': ['ops.js', 'text/javascript; charset=utf-8'],
  '/ops/ops.css': ['ops.css', 'text/css; charset=utf-8'],
};
async function startProxy(prefix) {
  const target = new URL(base);
  const outside = [];
  const server = http.createServer(async (request, response) => {
    if (prefix && request.url !== prefix && !request.url.startsWith(`${prefix}/`)) {
      outside.push(`${request.method} ${request.url}`);
      response.writeHead(404, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: 'not_found', message: `the proxy serves only ${prefix}/` }));
      return;
    }
    const path = request.url.slice(prefix.length) || '/';
    const asset = DISK_ASSETS[path.split('?')[0]];
    if (ASSETS_FROM_DISK && asset && (request.method === 'GET' || request.method === 'HEAD')) {
      try {
        const body = await readFile(new URL(`../../api/assets/${asset[0]}`, import.meta.url));
        response.writeHead(200, { 'content-type': asset[1], 'cache-control': 'no-cache' });
        response.end(request.method === 'HEAD' ? undefined : body);
      } catch (error) {
        response.writeHead(500, { 'content-type': 'text/plain' });
        response.end(String(error));
      }
      return;
    }
    const upstream = http.request(
      { host: target.hostname, port: target.port, method: request.method, path, headers: request.headers },
      (reply) => {
        response.writeHead(reply.statusCode, reply.headers);
        response.flushHeaders();
        reply.pipe(response);
      });
    upstream.on('error', () => {
      if (!response.headersSent) response.writeHead(502, { 'content-type': 'text/plain' });
      response.end();
    });
    // The browser left (an EventSource closed, a page changed): so does the request upstream.
    response.on('close', () => upstream.destroy());
    request.pipe(upstream);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    url: `${origin}${prefix}`,
    outside,
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

const rootProxy = ASSETS_FROM_DISK ? await startProxy('') : null;
const prefixProxy = await startProxy(PREFIX);
/** Where the browser opens the page: the api itself, or the page's files from disk in front of it. */
const pageBase = rootProxy ? rootProxy.url : base;
if (ASSETS_FROM_DISK) console.log(`ops center: the page's files come from api/assets/ on disk (${pageBase})`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // No background networking: this machine's network is closed and Chromium's calls home only add noise.
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
page.setDefaultTimeout(WAIT_MS);
const pageErrors = [];
page.on('pageerror', (error) => pageErrors.push(error.message));

const GRAPH_IDS = ['graph-units', 'graph-jobs', 'graph-workers', 'graph-rate'];
const ERROR_LINES = ['history-error', 'actions-error', 'failed-error', 'jobs-error'];

/** Waits until `count` more snapshots than now have reached `p` (each is one second of the server's). */
async function snapshotsPass(p, count) {
  const now = Number(await p.locator('#live').getAttribute('data-snapshots')) || 0;
  await p.waitForFunction((want) => Number(document.getElementById('live').dataset.snapshots || 0) >= want, now + count);
}

/** No error line of the overview is showing. */
async function noErrorsShown(p) {
  for (const id of ERROR_LINES) {
    const line = p.locator(`#${id}`);
    check(!(await line.isVisible()), `#${id} shows: ${await line.textContent()}`);
  }
}

const actionRow = (p, name) => p.locator(`#actions tr[data-action="${name}"]`);
const jobRow = (p, id) => p.locator(`#jobs tr[data-job-id="${id}"]`);
const failedRows = (p, id) => p.locator(`#failed-units tr[data-job-id="${id}"]`);

let gate = null; // an /events request held back, released in `finally` if a step failed with it held

try {
  // Input i has i + 1 words, so the merged count is 1 + 2 + … + 40.
  const expectedCount = (INPUTS * (INPUTS + 1)) / 2;
  await step('open the overview', async () => {
    await page.goto(`${pageBase}/`);
    await page.locator('#live.on').waitFor();
  });

  await step('the Actions panel lists word_count with its counts, not paused', async () => {
    const row = actionRow(page, 'word_count');
    await row.waitFor();
    for (const cell of ['waiting', 'running', 'workers']) {
      const text = (await row.locator(`td.${cell}`).textContent()).trim();
      check(/^\d+$/.test(text), `word_count's ${cell} shows ${JSON.stringify(text)}, not a count`);
    }
    check(await row.getAttribute('data-paused') === 'false', 'word_count shows paused');
    await row.locator('button.pause').waitFor();
  });

  const job = await step('post a word_count job with 40 held inputs', () =>
    postJob({ action: 'word_count', inputs: Array.from({ length: INPUTS }, (_, i) => inputUrl(i)) }));
  const row = jobRow(page, job.id);

  await step(`job ${job.id}'s row appears by itself, processing at 0%`, async () => {
    await row.locator('.bar[role="progressbar"][aria-valuenow="0"]').waitFor();
    await row.locator('.badge', { hasText: 'processing' }).waitFor();
  });

  await step(`while held, word_count's row counts job ${job.id}'s units as waiting or running`, async () => {
    await page.waitForFunction(() => {
      const r = document.querySelector('#actions tr[data-action="word_count"]');
      return r && Number(r.dataset.waiting) + Number(r.dataset.running) > 0;
    });
  });

  await step(`released, job ${job.id}'s row reaches 100% and succeeded without a reload`, async () => {
    release();
    await row.locator('.bar[role="progressbar"][aria-valuenow="100"]').waitFor();
    await row.locator('.badge', { hasText: 'succeeded' }).waitFor();
  });

  await step('the counts, nodes and graphs are shown', async () => {
    await page.waitForFunction(() => /^\d/.test(document.getElementById('stat-jobs').textContent));
    for (const id of ['stat-jobs', 'stat-units', 'stat-nodes', 'stat-rate']) {
      const text = await page.locator(`#${id}`).textContent();
      check(/^[\d.,]+$/.test(text.trim()), `#${id} shows ${JSON.stringify(text)}, not a number`);
    }
    const workers = await page.locator('#stat-workers').textContent();
    check(/^\d+ \/ \d+$/.test(workers.trim()), `#stat-workers shows ${JSON.stringify(workers)}, not "running / max"`);
    await page.locator('#nodes tbody tr').first().waitFor();
    // Two points make a line; then every graph has drawn something besides its grid.
    await page.waitForFunction((ids) => ids.every((id) => Number(document.getElementById(id).dataset.points) >= 2), GRAPH_IDS);
    await page.waitForFunction((ids) => ids.every((id) => {
      const canvas = document.getElementById(id);
      if (!canvas || !canvas.width || !canvas.height) return false;
      const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) return true;
      return false;
    }), GRAPH_IDS);
    await noErrorsShown(page);
  });

  await step(`clicking job ${job.id}'s row opens its page`, async () => {
    await row.locator('td').nth(1).click();
    await page.waitForURL(`**/#/jobs/${job.id}`);
  });

  await step('the job page lists 41 units (40 process, 1 merge) and the output', async () => {
    await page.waitForFunction(() => document.querySelectorAll('#units tbody tr').length === 41);
    const stages = await page.locator('#units tbody tr td:nth-child(2)').allTextContents();
    const process = stages.filter((s) => s === 'process').length;
    const merge = stages.filter((s) => s === 'merge').length;
    check(process === 40 && merge === 1, `stages: ${process} process and ${merge} merge`);
    const statuses = await page.locator('#units tbody tr td:nth-child(3)').allTextContents();
    check(statuses.every((s) => s === 'succeeded'), `unit statuses: ${[...new Set(statuses)].join(', ')}`);
    const outputs = await page.locator('#job-outputs').textContent();
    check(outputs.replace(/\s/g, '') === `[${expectedCount}]`, `outputs are ${outputs}, not [${expectedCount}]`);
    const bar = await page.locator('#job-body .bar[role="progressbar"]').getAttribute('aria-valuenow');
    check(bar === '100', `the job page's bar is at ${bar}`);
    check(await page.locator('#job-retry').count() === 0, 'a succeeded job has a Retry button');
  });

  await step('a job of 600 units shows them 500 to a page, and "Next" shows the rest', async () => {
    const big = await postJob({ action: 'noop', inputs: Array.from({ length: 600 }, (_, i) => i) });
    await page.goto(`${pageBase}/#/jobs/${big.id}`);
    // 600 process units and the merge, once the job is done.
    const pageInfo = (text) => page.waitForFunction(
      (want) => document.querySelector('#units-page-info')?.textContent === want, text, { timeout: WAIT_MS });
    await pageInfo('1–500 of 601');
    const rows = await page.locator('#units tbody tr').count();
    check(rows === 500, `the first page has ${rows} rows`);
    await page.locator('#units-next').click();
    await pageInfo('501–601 of 601');
    const rest = await page.locator('#units tbody tr').count();
    check(rest === 101, `the second page has ${rest} rows`);
    check(await page.locator('#units-next').isDisabled(), '"Next" is enabled on the last page');
  });

  await step('"Cancel job" deletes a running job and returns to the overview', async () => {
    holding = true;
    const other = await postJob({ action: 'word_count', inputs: [inputUrl(0)] });
    await page.goto(`${pageBase}/#/jobs/${other.id}`);
    await page.locator('#job-body button.danger', { hasText: 'Cancel job' }).waitFor();
    page.once('dialog', (dialog) => dialog.accept());
    await page.locator('#job-body button.danger').click();
    await page.waitForURL((url) => url.hash === '#/' || url.hash === '');
    const reply = await apiCall('GET', `jobs/${other.id}`);
    check(reply.status === 404, `GET /jobs/${other.id} after cancelling answered ${reply.status}`);
    await page.goto(`${pageBase}/#/jobs/${other.id}`);
    await page.getByText('Job not found').waitFor();
    release(); // the worker's late completion of a deleted job changes nothing
  });

  await step('the banner shows while /events is unreachable and hides once it is back', async () => {
    await page.goto(`${pageBase}/`);
    const banner = page.locator('#connection-banner');
    await page.locator('#live.on').waitFor();
    check(!(await banner.isVisible()), 'the banner is visible while connected');
    await page.route('**/events', (route) => route.abort());
    await page.reload();
    await banner.waitFor({ state: 'visible' });
    check(/connection lost/i.test(await banner.textContent()), `the banner says ${await banner.textContent()}`);
    await page.unroute('**/events');
    await banner.waitFor({ state: 'hidden' });
  });

  await step('reopened, the graphs are drawn from /status/history before the first /events snapshot', async () => {
    // The api samples every 5 s from its start: by now it has some.
    const history = await eventually('a sample in GET /status/history', async () => {
      const reply = await getJson('status/history');
      return Array.isArray(reply.samples) && reply.samples.length > 0 && reply;
    });
    const fields = ['time', 'job_count', 'work_unit_count', 'node_count', 'worker_count', 'max_workers', 'finished_per_sec'];
    const missing = fields.filter((f) => typeof history.samples[0][f] !== 'number');
    check(missing.length === 0, `a history sample lacks ${missing.join(', ')}: ${JSON.stringify(history.samples[0])}`);
    // /events is held back until the graphs have been checked, so what they show came from the history.
    let open;
    gate = new Promise((resolve) => { open = resolve; });
    gate.open = open;
    await page.route('**/events', async (route) => { await gate; await route.continue().catch(() => {}); });
    const historyReply = page.waitForResponse((r) => new URL(r.url()).pathname.endsWith('/status/history'));
    await page.reload();
    const reply = await historyReply;
    check(reply.ok(), `the page's GET status/history answered ${reply.status()}`);
    const body = await reply.json();
    check(Array.isArray(body.samples) && body.samples.length > 0, `the page's history had ${body.samples && body.samples.length} samples`);
    await page.waitForFunction((ids) => ids.every((id) => {
      const data = document.getElementById(id).dataset;
      return Number(data.historyPoints) > 0 && Number(data.points) > 0;
    }), GRAPH_IDS);
    const drawn = await page.locator('#graph-units').evaluate((c) => ({ ...c.dataset, snapshots: document.getElementById('live').dataset.snapshots || '0' }));
    check(drawn.livePoints === '0' && drawn.snapshots === '0', `a snapshot arrived while /events was held: ${JSON.stringify(drawn)}`);
    check(Number(drawn.historyPoints) <= body.samples.length, `${drawn.historyPoints} history points from ${body.samples.length} samples`);
    check(Number(drawn.windowSecs) >= 300 && Number(drawn.windowSecs) <= 3600, `the graphs' window is ${drawn.windowSecs} s`);
    check(/\d+/.test(await page.locator('#stat-jobs').textContent()), 'the counts are empty before the first snapshot');
    // Let /events through: live snapshots extend the same graphs.
    gate.open();
    await page.locator('#live.on').waitFor();
    await page.waitForFunction(() => Number(document.getElementById('graph-units').dataset.livePoints) > 0);
    const after = await page.locator('#graph-units').evaluate((c) => ({ ...c.dataset }));
    check(Number(after.historyPoints) > 0, `the history's points went once snapshots came: ${JSON.stringify(after)}`);
    await page.unroute('**/events');
    gate = null;
  });

  await step('pausing word_count from the page makes a new job\'s units wait; resuming lets it succeed', async () => {
    const action = actionRow(page, 'word_count');
    await action.locator('button.pause').click();
    await page.locator('#actions tr[data-action="word_count"][data-paused="true"]').waitFor();
    await action.locator('.badge', { hasText: 'paused' }).waitFor();
    await action.locator('button.resume').waitFor();
    const paused = await getJson('blacklist');
    check(Array.isArray(paused) && paused.some((r) => r.action === 'word_count'), `GET /blacklist after Pause: ${JSON.stringify(paused)}`);

    holding = false;
    const waiting = await postJob({ action: 'word_count', inputs: [inputUrl(2), inputUrl(3), inputUrl(4)] });
    await jobRow(page, waiting.id).locator('.badge', { hasText: 'processing' }).waitFor();
    await page.waitForFunction(() => {
      const r = document.querySelector('#actions tr[data-action="word_count"]');
      return r && r.dataset.paused === 'true' && Number(r.dataset.waiting) >= 3;
    });
    // Three more seconds of snapshots: the units still wait and the job has not moved.
    await snapshotsPass(page, 3);
    const still = await getJson(`jobs/${waiting.id}`);
    check(still.status === 'processing', `job ${waiting.id} is ${still.status} while word_count is paused`);
    const stillRow = await action.evaluate((r) => ({ ...r.dataset }));
    check(Number(stillRow.waiting) >= 3 && stillRow.paused === 'true', `word_count's row while paused: ${JSON.stringify(stillRow)}`);
    check(await jobRow(page, waiting.id).locator('.bar').getAttribute('aria-valuenow') === '0', `job ${waiting.id}'s bar moved while paused`);
    const oldest = (await action.locator('td.oldest').textContent()).trim();
    check(/^\d+ (s|min)$/.test(oldest), `the oldest waiting unit's age shows ${JSON.stringify(oldest)}`);

    await action.locator('button.resume').click();
    await page.locator('#actions tr[data-action="word_count"][data-paused="false"]').waitFor();
    await jobRow(page, waiting.id).locator('.badge', { hasText: 'succeeded' }).waitFor();
    const resumed = await getJson('blacklist');
    check(!resumed.some((r) => r.action === 'word_count'), `GET /blacklist after Resume: ${JSON.stringify(resumed)}`);
    await noErrorsShown(page);
  });

  await step('a job whose input answers 500 shows in Failed units; Retry makes it succeed', async () => {
    failing.add('a');
    const failed = await postJob({ action: 'word_count', inputs: [flakyUrl('a', 4)] });
    const unit = failedRows(page, failed.id).first();
    await unit.waitFor();
    const cells = await unit.locator('td').allTextContents();
    check(cells[0].trim() === `#${failed.id}`, `the job cell shows ${JSON.stringify(cells[0])}`);
    check(await unit.locator('td a').getAttribute('href') === `#/jobs/${failed.id}`, 'the job cell does not link to its page');
    check(cells[1].trim() === 'word_count' && cells[2].trim() === 'process', `action and stage: ${cells[1]}, ${cells[2]}`);
    check(/^\d+$/.test(cells[3].trim()) && Number(cells[3]) >= 1, `attempts show ${JSON.stringify(cells[3])}`);
    check(/500/.test(cells[4]), `the error shown does not name the 500: ${JSON.stringify(cells[4])}`);
    const title = await unit.locator('td.error-cell span').getAttribute('title');
    check(title && /500/.test(title) && title.length >= cells[4].replace(/…$/, '').length, `the error's tooltip: ${JSON.stringify(title)}`);
    const failedHits = hits.get('/flaky/a/4') || 0;
    check(failedHits >= Number(cells[3]), `the input was asked ${failedHits} times for ${cells[3]} attempts`);
    await jobRow(page, failed.id).locator('.badge', { hasText: 'failed' }).waitFor();

    failing.delete('a');
    await unit.locator('button.retry').click();
    await failedRows(page, failed.id).first().waitFor({ state: 'detached' });
    await jobRow(page, failed.id).locator('.badge', { hasText: 'succeeded' }).waitFor();
    const done = await getJson(`jobs/${failed.id}`);
    check(done.status === 'succeeded', `job ${failed.id} is ${done.status} after Retry`);
    await noErrorsShown(page);
  });

  await step('a failed job\'s page has a Retry button that makes it succeed', async () => {
    failing.add('b');
    const failed = await postJob({ action: 'word_count', inputs: [flakyUrl('b', 1)] });
    // Opened from the Failed units panel's link.
    await failedRows(page, failed.id).first().locator('td a').click();
    await page.waitForURL(`**/#/jobs/${failed.id}`);
    await page.locator('#job-body .facts .badge', { hasText: 'failed' }).waitFor();
    await page.locator('#units .error-text', { hasText: '500' }).first().waitFor();
    failing.delete('b');
    await page.locator('#job-retry').click();
    await page.locator('#job-body .facts .badge', { hasText: 'succeeded' }).waitFor();
    const outputs = await page.locator('#job-outputs').textContent();
    check(outputs.replace(/\s/g, '') === '[2]', `outputs after the retry are ${outputs}, not [2]`);
    check(!(await page.locator('#job-error').isVisible()), `the job page shows: ${await page.locator('#job-error').textContent()}`);
    check(await page.locator('#job-retry').count() === 0, 'the Retry button stays once the job succeeded');
  });

  await step(`under a path prefix (${prefixProxy.url}/), the page loads, updates live, acts and opens a job, no request leaving the prefix`, async () => {
    const proxied = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    proxied.setDefaultTimeout(WAIT_MS);
    proxied.on('pageerror', (error) => pageErrors.push(`(under ${PREFIX}) ${error.message}`));
    const requests = [];
    proxied.on('request', (request) => requests.push(request.url()));
    try {
      await proxied.goto(`${prefixProxy.url}/`);
      await proxied.locator('#live.on').waitFor();
      await proxied.waitForFunction(() => /^\d/.test(document.getElementById('stat-jobs').textContent));
      // Live: snapshots keep coming through the proxy's stream.
      await snapshotsPass(proxied, 2);
      await proxied.waitForFunction(() => Number(document.getElementById('graph-units').dataset.historyPoints) > 0);
      await proxied.locator(`#jobs tr[data-job-id="${job.id}"]`).waitFor();
      // Pause and resume through the proxy (POST and DELETE, same origin as the page).
      const action = actionRow(proxied, 'word_count');
      await action.locator('button.pause').click();
      await proxied.locator('#actions tr[data-action="word_count"][data-paused="true"]').waitFor();
      await action.locator('button.resume').click();
      await proxied.locator('#actions tr[data-action="word_count"][data-paused="false"]').waitFor();
      await noErrorsShown(proxied);
      // A job's page.
      await proxied.locator(`#jobs tr[data-job-id="${job.id}"] a`).click();
      await proxied.waitForURL(`**${PREFIX}/#/jobs/${job.id}`);
      await proxied.waitForFunction(() => document.querySelectorAll('#units tbody tr').length === 41);
      const escaped = requests.filter((url) => !url.startsWith('data:') && !url.startsWith(`${prefixProxy.url}/`));
      check(escaped.length === 0, `requests left ${PREFIX}/: ${escaped.join(', ')}`);
      check(prefixProxy.outside.length === 0, `the proxy was asked for paths outside ${PREFIX}/: ${prefixProxy.outside.join(', ')}`);
      for (const path of ['/ops/ops.js', '/ops/ops.css', '/events', '/status/history', '/actions', '/units?', '/jobs?']) {
        check(requests.some((url) => url.startsWith(`${prefixProxy.url}${path}`)), `no request for ${PREFIX}${path} (${requests.length} requests)`);
      }
    } finally {
      await proxied.close();
    }
  });

  await step('the overview shows activity: graphs, an action at work, a failed unit', async () => {
    holding = true;
    const gone = await postJob({ action: 'word_count', inputs: [`${inputsBase}/gone`] });
    const busy = await postJob({ action: 'word_count', inputs: Array.from({ length: 12 }, (_, i) => inputUrl(i)) });
    await page.goto(`${pageBase}/`);
    await page.locator('#live.on').waitFor();
    await failedRows(page, gone.id).first().locator('td.error-cell', { hasText: '404' }).waitFor();
    await jobRow(page, busy.id).waitFor();
    await page.waitForFunction(() => {
      const r = document.querySelector('#actions tr[data-action="word_count"]');
      return r && Number(r.dataset.running) > 0;
    });
    await page.waitForFunction((ids) => ids.every((id) => Number(document.getElementById(id).dataset.points) >= 2), GRAPH_IDS);
    await noErrorsShown(page);
  });

  await step(`save the overview to ${screenshot} and job ${job.id}'s page to ${jobScreenshot}`, async () => {
    await page.screenshot({ path: screenshot, fullPage: true });
    release();
    await page.goto(`${pageBase}/#/jobs/${job.id}`);
    await page.waitForFunction(() => document.querySelectorAll('#units tbody tr').length === 41);
    await page.screenshot({ path: jobScreenshot, fullPage: true });
    if (UPDATE_SCREENSHOTS) {
      await copyFile(screenshot, new URL('../../docs/ops-center.png', import.meta.url));
      await copyFile(jobScreenshot, new URL('../../docs/ops-job.png', import.meta.url));
      console.log('ops center: docs/ops-center.png and docs/ops-job.png updated');
    }
  });

  check(pageErrors.length === 0, `the page threw: ${pageErrors.join('; ')}`);
  console.log('ops center: all checks passed');
} catch (error) {
  console.error(`ops center: FAILED at "${current}": ${error.message}`);
  if (pageErrors.length) console.error(`ops center: the page threw: ${pageErrors.join('; ')}`);
  const failure = screenshot.replace(/(\.png)?$/i, '-failure.png');
  await page.screenshot({ path: failure, fullPage: true }).then(
    () => console.error(`ops center: the page as it was: ${failure}`),
    () => {});
  process.exitCode = 1;
} finally {
  if (gate) gate.open();
  failing.clear();
  release();
  // Nothing stays paused for whoever uses the api next.
  await apiCall('DELETE', 'blacklist/word_count').catch(() => {});
  await browser.close();
  for (const proxy of [rootProxy, prefixProxy]) if (proxy) proxy.close();
  inputs.closeAllConnections();
  inputs.close();
}
