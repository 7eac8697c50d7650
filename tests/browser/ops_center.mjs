// The operations center in a real browser (Chromium driven by playwright-core).
//
//   node tests/browser/ops_center.mjs <base-url> <screenshot.png>
//
// Opens the overview, posts a word_count job whose inputs a server of this script holds back,
// sees its row appear at 0 %, lets the inputs go and watches the row reach 100 % without a
// reload, opens its page, checks its units and output, pages through a bigger job's units,
// cancels a running job from its page, and
// checks the banner shown while /events is unreachable. Saves the overview to <screenshot.png> and the job page beside it
// (<screenshot>-job.png). Exits non-zero, naming the step, on any failure.
// tests/browser/main.rs runs it against a stack started in-process.

import http from 'node:http';
import { chromium } from 'playwright-core';

const WAIT_MS = 30_000;
const INPUTS = 40;

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

async function postJob(job) {
  const reply = await fetch(`${base}/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(job),
  });
  const body = await reply.text();
  check(reply.ok, `POST /jobs answered ${reply.status}: ${body}`);
  return JSON.parse(body);
}

// Serves input i (i + 1 words), holding every reply until release() so the test can watch a job
// that is still running.
const held = [];
let holding = true;
const inputs = http.createServer((request, response) => {
  const i = Number(request.url.slice(1));
  const reply = () => response.end(Array.from({ length: i + 1 }, (_, w) => `w${w}`).join(' '));
  if (holding) held.push(reply);
  else reply();
});
await new Promise((resolve) => inputs.listen(0, '127.0.0.1', resolve));
const inputUrl = (i) => `http://127.0.0.1:${inputs.address().port}/${i}`;
function release() {
  holding = false;
  held.splice(0).forEach((reply) => reply());
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // No background networking: this machine's network is closed and Chromium's calls home only add noise.
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
page.setDefaultTimeout(WAIT_MS);
const pageErrors = [];
page.on('pageerror', (error) => pageErrors.push(error.message));

try {
  // Input i has i + 1 words, so the merged count is 1 + 2 + … + 40.
  const expectedCount = (INPUTS * (INPUTS + 1)) / 2;
  await step('open the overview', async () => {
    await page.goto(`${base}/`);
    await page.locator('#live.on').waitFor();
  });
  const job = await step('post a word_count job with 40 held inputs', () =>
    postJob({ action: 'word_count', inputs: Array.from({ length: INPUTS }, (_, i) => inputUrl(i)) }));
  const row = page.locator(`#jobs tr[data-job-id="${job.id}"]`);

  await step(`job ${job.id}'s row appears by itself, processing at 0%`, async () => {
    await row.locator('.bar[role="progressbar"][aria-valuenow="0"]').waitFor();
    await row.locator('.badge', { hasText: 'processing' }).waitFor();
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
    // Two snapshots make a line; then every graph has drawn something besides its grid.
    await page.waitForFunction(() => ['graph-units', 'graph-jobs', 'graph-workers', 'graph-rate'].every((id) => {
      const canvas = document.getElementById(id);
      if (!canvas || !canvas.width || !canvas.height) return false;
      const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) return true;
      return false;
    }));
  });

  await step(`save the overview to ${screenshot}`, () => page.screenshot({ path: screenshot, fullPage: true }));

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
    await page.screenshot({ path: jobScreenshot, fullPage: true });
  });

  await step('a job of 600 units shows them 500 to a page, and "Next" shows the rest', async () => {
    const big = await postJob({ action: 'noop', inputs: Array.from({ length: 600 }, (_, i) => i) });
    await page.goto(`${base}/#/jobs/${big.id}`);
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
    await page.goto(`${base}/#/jobs/${other.id}`);
    await page.locator('#job-body button.danger', { hasText: 'Cancel job' }).waitFor();
    page.once('dialog', (dialog) => dialog.accept());
    await page.locator('#job-body button.danger').click();
    await page.waitForURL((url) => url.hash === '#/' || url.hash === '');
    const reply = await fetch(`${base}/jobs/${other.id}`);
    check(reply.status === 404, `GET /jobs/${other.id} after cancelling answered ${reply.status}`);
    await page.goto(`${base}/#/jobs/${other.id}`);
    await page.getByText('Job not found').waitFor();
    release(); // the worker's late completion of a deleted job changes nothing
  });

  await step('the banner shows while /events is unreachable and hides once it is back', async () => {
    await page.goto(`${base}/`);
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
  release();
  await browser.close();
  inputs.closeAllConnections();
  inputs.close();
}
