// The sidecar's live page (GET /, sidecar/http/web/index.html) in a real browser: Debian's
// headless Chromium driven by playwright-core, against the real `shmlog sidecar` and shmlog-demo
// processes logging into it. Plain node, no test framework: exit status 0 is a pass, and every
// failure says what broke.
//
//   SHMLOG_CLI=build/gcc/sidecar/shmlog SHMLOG_DEMO=build/gcc/bench/shmlog-demo \
//     node tests/browser/live_page.test.mjs
//
// ctest sets both (tests/browser/CMakeLists.txt). The screenshot goes to $SHMLOG_ARTIFACT_DIR
// (default: the working directory, ctest's build directory for this test) as live_page.png.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'];
const WHOLE_TEST_MS = 55_000;   // ctest's TIMEOUT is above this: the test ends itself, and cleans up
const TAIL_WITHIN_MS = 2_000;   // a record logged now is in the live tail within this
const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'];
const INSTALL_HINT = 'run scripts/install-deps.sh (it installs chromium and runs npm ci --prefix tests/browser)';

const started = Date.now();
const log = (msg) => console.log(`[${((Date.now() - started) / 1000).toFixed(2).padStart(6)} s] ${msg}`);

class TestFailure extends Error {}
const fail = (msg) => { throw new TestFailure(msg); };

// ---------------------------------------------------------------- what the test needs

function prerequisites() {
  const problems = [];
  if (!fs.existsSync(CHROMIUM)) problems.push(`${CHROMIUM} is missing: ${INSTALL_HINT}`);
  for (const name of ['SHMLOG_CLI', 'SHMLOG_DEMO']) {
    const p = process.env[name];
    if (!p) problems.push(`${name} is not set (the path of the built program; ctest sets it)`);
    else if (!fs.existsSync(p)) problems.push(`${name}=${p} does not exist: build it first`);
  }
  return problems;
}

async function loadPlaywright() {
  try {
    return (await import('playwright-core')).chromium;
  } catch (e) {
    throw new TestFailure(`playwright-core cannot be loaded from tests/browser/node_modules (${e.code || e.message}): ${INSTALL_HINT}`);
  }
}

// ---------------------------------------------------------------- processes

const children = [];
let openBrowser = null;   // closed by main's cleanup too, should run() be cut off by the time limit

function start(name, file, args, env) {
  const child = spawn(file, args, {env: {...process.env, ...env}, stdio: ['ignore', 'pipe', 'pipe']});
  child.label = name;
  child.output = '';
  child.exited = false;
  const keep = (d) => { child.output = (child.output + d.toString()).slice(-20_000); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.on('exit', (code, signal) => { child.exited = true; child.exitInfo = signal ? `signal ${signal}` : `exit ${code}`; });
  child.on('error', (e) => { child.exited = true; child.exitInfo = e.message; });
  children.push(child);
  return child;
}

function tailOf(child, lines = 15) {
  return child.output.trimEnd().split('\n').slice(-lines).map((l) => `    ${child.label}: ${l}`).join('\n');
}

// The sidecar says where it serves once it does: "... status at http://127.0.0.1:PORT/ ...".
async function sidecarPort(sidecar, withinMs) {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    const m = /status at http:\/\/127\.0\.0\.1:(\d+)\//.exec(sidecar.output);
    if (m) return Number(m[1]);
    if (sidecar.exited) fail(`the sidecar exited (${sidecar.exitInfo}) before serving:\n${tailOf(sidecar)}`);
    await sleep(25);
  }
  fail(`the sidecar printed no "status at http://127.0.0.1:PORT/" line within ${withinMs} ms:\n${tailOf(sidecar)}`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function stopAll() {
  for (const c of children.filter((c) => c.label !== 'sidecar' && !c.exited)) c.kill('SIGKILL');
  const sidecar = children.find((c) => c.label === 'sidecar');
  if (sidecar && !sidecar.exited) {
    sidecar.kill('SIGTERM');   // its --shutdown-deadline is short; SIGKILL if it still lingers
    for (let i = 0; i < 60 && !sidecar.exited; i++) await sleep(50);
    if (!sidecar.exited) sidecar.kill('SIGKILL');
  }
}

// ---------------------------------------------------------------- the page

// Levels of the tail rows in the DOM, newest first.
const rowLevels = (page) =>
  page.locator('[data-testid=tail-row]').evaluateAll((rows) => rows.map((r) => r.dataset.level));

async function waitFor(what, withinMs, check) {
  const deadline = Date.now() + withinMs;
  let last;
  for (;;) {
    last = await check();
    if (last === true) return;
    if (Date.now() >= deadline) fail(`${what}: not within ${withinMs} ms${typeof last === 'string' ? ` (${last})` : ''}`);
    await sleep(50);
  }
}

async function run(tmp) {
  const problems = prerequisites();
  if (problems.length) fail(problems.join('\n'));
  const chromium = await loadPlaywright();

  const rings = path.join(tmp, 'rings');
  fs.mkdirSync(rings);
  const sidecar = start('sidecar', process.env.SHMLOG_CLI,
    ['sidecar', '--dir', rings, '--out', path.join(tmp, 'out'), '--http-addr', '127.0.0.1:0', '--shutdown-deadline', '1s']);
  const port = await sidecarPort(sidecar, 10_000);
  const base = `http://127.0.0.1:${port}/`;
  log(`sidecar (pid ${sidecar.pid}) serves ${base}`);

  // Background traffic with every level from INFO up: about 6 ERROR records a second.
  start('demo', process.env.SHMLOG_DEMO, ['--seconds', '50', '--threads', '2', '--rate', '300'],
    {SHMLOG_DIR: rings, SHMLOG_SERVICE: 'browser-demo'});

  const status = await (await fetch(base + 'status')).json();
  const browser = await chromium.launch({executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 15_000});
  openBrowser = browser;
  try {
    const page = await browser.newPage({viewport: {width: 1280, height: 1000}});
    const pageErrors = [];
    const foreign = [];
    const tailUrls = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') log(`browser console error: ${m.text()}`); });
    page.on('request', (r) => {
      if (!r.url().startsWith(base) && !r.url().startsWith('data:')) foreign.push(r.url());
      if (r.url().startsWith(base + 'api/tail')) tailUrls.push(r.url());
    });

    const answer = await page.goto(base, {timeout: 5_000});
    if (!answer || answer.status() !== 200) fail(`GET / answered ${answer && answer.status()}`);
    await waitFor('the header showing the sidecar as live', 5_000, async () =>
      (await page.locator('#conn-status').getAttribute('data-state')) === 'ok' || 'no /status answer shown yet');
    const version = (await page.locator('#version').textContent()).trim();
    if (version !== status.sidecar.version) fail(`the header shows version "${version}", /status says "${status.sidecar.version}"`);
    log(`page loaded: version ${version}, health ${await page.locator('#health').textContent()}`);

    await waitFor('a ring card for service browser-demo', 5_000, async () =>
      (await page.locator('[data-testid=ring-card][data-service="browser-demo"]').count()) === 1);
    await waitFor('tail rows of browser-demo below ERROR (the filter below must have something to remove)', 5_000,
      async () => (await rowLevels(page)).some((l) => LEVELS.indexOf(l) < LEVELS.indexOf('ERROR')));

    // A record logged now, by a new process with a service of its own, is in the tail within 2 s
    // of being logged: its own timestamp against the moment its row entered the page (one clock).
    const marker = `browser-marker-${process.pid}`;
    await page.evaluate((service) => {
      new MutationObserver((mutations, observer) => {
        const shownAt = Date.now();
        const rows = mutations.flatMap((m) => [...m.addedNodes]).filter((n) => n.dataset && n.dataset.service === service);
        if (!rows.length) return;
        observer.disconnect();
        const loggedAt = rows.map((r) => Date.parse(r.querySelector('[data-testid=tail-time]').title.replace(/(\.\d{3})\d*Z$/, '$1Z')));
        window.markerSeen = {shownAt, worstMs: shownAt - Math.min(...loggedAt), rows: rows.length,
                             message: rows[rows.length - 1].querySelector('[data-testid=tail-message]').textContent};
      }).observe(document.getElementById('tail-list'), {childList: true});
    }, marker);
    const t0 = Date.now();
    start('marker', process.env.SHMLOG_DEMO, ['--seconds', '3', '--threads', '1', '--rate', '20'],
      {SHMLOG_DIR: rings, SHMLOG_SERVICE: marker});
    await waitFor(`a record of service ${marker} in the live tail (the process was started just now)`, 10_000,
      async () => (await page.evaluate(() => window.markerSeen !== undefined)) ||
        `tail state: ${await page.locator('#tail-state').textContent()}`);
    const seen = await page.evaluate(() => window.markerSeen);
    if (seen.worstMs > TAIL_WITHIN_MS)
      fail(`a record of ${marker} reached the live tail ${seen.worstMs} ms after it was logged (at most ${TAIL_WITHIN_MS} ms)`);
    log(`records of ${marker} in the live tail ${seen.worstMs} ms after they were logged ` +
        `(${seen.shownAt - t0} ms after starting the process), e.g. "${seen.message}"`);

    // A level filter: the list starts again with only ERROR and above.
    const before = await rowLevels(page);
    await page.selectOption('#level-filter', 'ERROR');
    const t1 = Date.now();
    await waitFor('tail rows after choosing minimum ERROR, all of them ERROR or CRITICAL', 5_000, async () => {
      const levels = await rowLevels(page);
      const below = levels.filter((l) => LEVELS.indexOf(l) < LEVELS.indexOf('ERROR'));
      if (below.length) return `${below.length} rows below ERROR still shown, e.g. ${below[0]}`;
      return levels.length > 0 || 'no rows yet';
    });
    await sleep(1_500);   // more records arrive meanwhile: still nothing below ERROR
    const after = await rowLevels(page);
    const below = after.filter((l) => LEVELS.indexOf(l) < LEVELS.indexOf('ERROR'));
    if (below.length) fail(`with minimum ERROR the tail shows ${below.length} rows below it (${[...new Set(below)]})`);
    if (!tailUrls.some((u) => new URL(u).searchParams.get('level') === 'ERROR'))
      fail(`the page did not reconnect with level=ERROR; tail requests: ${tailUrls.join(', ')}`);
    log(`level filter ERROR: ${before.length} rows (${[...new Set(before)]}) became ${after.length} ` +
        `(${[...new Set(after)]}), first ERROR row after ${Date.now() - t1 - 1_500} ms or less`);

    // The whole JSON of a row, on a click.
    await page.locator('[data-testid=tail-row] summary').first().click();
    const json = JSON.parse(await page.locator('[data-testid=tail-row-json]').first().textContent());
    if (json.level !== 'ERROR' && json.level !== 'CRITICAL') fail(`an expanded row's JSON has level ${json.level}`);

    // The level control: PUT /api/level through the page; the ring's header follows.
    const control = page.locator('[data-testid=level-control][data-service="browser-demo"]');
    await control.locator('[data-testid=level-select]').selectOption('WARNING');
    await control.locator('[data-testid=level-apply]').click();
    await waitFor('the level control answering "set to WARNING"', 3_000, async () =>
      (await control.locator('[data-testid=level-message]').textContent()) === 'set to WARNING' ||
      `it says "${await control.locator('[data-testid=level-message]').textContent()}"`);
    await waitFor('the browser-demo ring card showing min level WARNING', 3_000, async () =>
      (await page.locator('[data-testid=ring-card][data-service="browser-demo"] [data-testid=ring-min-level]').textContent()) === 'WARNING');
    log('level control: browser-demo set to WARNING, its ring card follows');

    // Pause keeps the rows still and counts what waits; resume shows it.
    const rowCount = () => page.locator('[data-testid=tail-row]').count();
    await page.click('#pause-button');
    const pausedRows = await rowCount();
    await waitFor('records counted as waiting while paused', 5_000, async () =>
      /^[1-9]/.test(await page.locator('#paused-count').textContent()) || 'none counted yet');
    if ((await rowCount()) !== pausedRows) fail(`rows changed while paused: ${pausedRows} -> ${await rowCount()}`);
    const waiting = await page.locator('#paused-count').textContent();
    await page.click('#pause-button');
    await waitFor('the waiting records shown after resuming', 2_000, async () => (await rowCount()) > pausedRows);
    log(`pause: "${waiting}", shown on resume`);

    const sparkPoints = await page.locator('[data-testid=ring-card][data-service="browser-demo"] polyline').getAttribute('points');
    if (!sparkPoints || sparkPoints.split(' ').length < 3) fail(`the throughput sparkline has too few points: "${sparkPoints}"`);

    if (pageErrors.length) fail(`the page threw: ${pageErrors.join('; ')}`);
    if (foreign.length) fail(`the page fetched beyond the sidecar: ${foreign.join(', ')}`);

    const dir = process.env.SHMLOG_ARTIFACT_DIR || process.cwd();
    fs.mkdirSync(dir, {recursive: true});
    const shot = path.resolve(dir, 'live_page.png');
    await page.evaluate(() => window.scrollTo(0, 0));   // the sticky header where it belongs
    await page.screenshot({path: shot, fullPage: true});
    log(`screenshot: ${shot}`);
  } finally {
    await browser.close().catch(() => {});
  }
}

// ---------------------------------------------------------------- main: bounded, and always cleaned up

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shmlog-browser-'));
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    console.error(`FAIL: live page: stopped by ${signal}`);
    await stopAll();
    fs.rmSync(tmp, {recursive: true, force: true});
    process.exit(1);
  });
}
let exitCode = 1;
let watchdog;
try {
  await Promise.race([
    run(tmp),
    new Promise((_, reject) => { watchdog = setTimeout(() => reject(new TestFailure(`the test took over ${WHOLE_TEST_MS / 1000} s`)), WHOLE_TEST_MS); }),
  ]);
  exitCode = 0;
  log('PASS: live page');
} catch (e) {
  console.error(`FAIL: live page: ${e instanceof TestFailure ? e.message : e.stack || e}`);
  const sidecar = children.find((c) => c.label === 'sidecar');
  if (sidecar && !String(e.message).includes(tailOf(sidecar))) console.error(`  the sidecar's last lines:\n${tailOf(sidecar)}`);
} finally {
  clearTimeout(watchdog);
  if (openBrowser) await Promise.race([openBrowser.close().catch(() => {}), sleep(5_000)]);
  await stopAll();
  fs.rmSync(tmp, {recursive: true, force: true});
}
process.exit(exitCode);
