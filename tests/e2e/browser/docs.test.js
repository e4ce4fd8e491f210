// docs.test.js — the API reference page (/docs, rendered from openapi.yaml at build time)
// in headless Chromium, against the server run.sh started: it renders every path and
// operation of the contract the server serves, under the UI's Content-Security-Policy with
// no violation, loads nothing from another host, never scrolls sideways (at desktop or
// phone width), and the UI's pages link to it. Screenshots in $SCREENSHOT_DIR.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const BASE = process.env.LISTINGD_URL;
const SHOTS = process.env.SCREENSHOT_DIR;
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

let context;
let profile;
let contract;  // /openapi.yaml as the server serves it

before(async () => {
  assert.ok(BASE, 'LISTINGD_URL must name the server');
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'listingd-chromium-docs-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  context.setDefaultTimeout(15000);
  contract = await (await fetch(`${BASE}/openapi.yaml`)).text();
});

after(async () => {
  if (context) await context.close();
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
});

// A tab on `url` that records script errors, console errors, CSP violations (the page's own
// securitypolicyviolation events, seen by a script the browser adds outside the page's CSP)
// and every URL the page requests.
async function open(url, viewport) {
  const page = await context.newPage();
  await page.setViewportSize(viewport);
  page.problems = [];
  page.requests = [];
  page.on('pageerror', (err) => page.problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => { if (msg.type() === 'error') page.problems.push(msg.text()); });
  page.on('request', (req) => page.requests.push(req.url()));
  await page.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener('securitypolicyviolation',
      (e) => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  page.response = await page.goto(BASE + url);
  await page.waitForLoadState('load');
  return page;
}

async function checkClean(page) {
  assert.deepEqual(await page.evaluate(() => window.cspViolations), [], 'CSP violations');
  assert.deepEqual(page.problems, [], 'the page logged errors');
  const origin = new URL(BASE).origin;
  const elsewhere = page.requests.filter((u) => !u.startsWith('data:') && new URL(u).origin !== origin);
  assert.deepEqual(elsewhere, [], 'requests to another host');
}

test('/docs renders every path and operation of the contract, clean under the CSP', async () => {
  const page = await open('/docs', { width: 1280, height: 900 });
  assert.equal(page.response.status(), 200);
  assert.equal(page.response.headers()['content-security-policy'], CSP);
  assert.match(await page.locator('h1').textContent(), /ListingAPI/);

  const paths = [...contract.matchAll(/^ {2}(\/\S*):$/gm)].map((m) => m[1]);
  const operations = [...contract.matchAll(/operationId: (\S+)/g)].map((m) => m[1]);
  assert.ok(paths.length >= 12 && operations.length >= 13, 'the contract was read');
  const shown = await page.locator('main .op h3 code.path').allTextContents();
  for (const p of paths) assert.ok(shown.includes(p), `${p} is on the page`);
  for (const id of operations) assert.equal(await page.locator(`#op-${id}`).count(), 1, id);
  // Field rules, an example request and an error example.
  const write = page.locator('#schema-ListingWrite');
  assert.match(await write.textContent(), /rooms_count/);
  assert.match(await page.locator('#op-createListing').textContent(), /curl -i -X POST http:\/\/127\.0\.0\.1:8080\/listings/);
  assert.match(await page.locator('#error-UnprocessableEntity').textContent(), /422/);

  // No sideways scrolling: a long example line scrolls in its own box.
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth), 'the page is wider than the window');
  await page.screenshot({ path: path.join(SHOTS, 'docs-top.png') });
  // The stylesheets load (same origin): method badges are coloured.
  const badge = await page.locator('#op-createListing .method').evaluate((e) => getComputedStyle(e).backgroundColor);
  assert.equal(badge, 'rgb(29, 122, 58)');
  // The contents link to the sections.
  await page.click('.docs-toc a[href="#op-getListingPrices"]');
  assert.match(page.url(), /\/docs#op-getListingPrices$/);
  await page.screenshot({ path: path.join(SHOTS, 'docs.png') });
  await checkClean(page);
  await page.close();
});

test('/docs at phone width: no sideways scrolling of the page; examples scroll in place', async () => {
  const page = await open('/docs', { width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
  await page.locator('#op-listListings').scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(SHOTS, 'docs-phone.png') });
  await checkClean(page);
  await page.close();
});

test('the UI pages link to /docs', async () => {
  for (const url of ['/', '/1/prices']) {
    const page = await open(url, { width: 1280, height: 900 });
    await page.click('.site-header nav a[href="/docs"]');
    await page.waitForURL(`${BASE}/docs`);
    assert.match(await page.locator('h1').textContent(), /ListingAPI/);
    await checkClean(page);
    await page.close();
  }
});
