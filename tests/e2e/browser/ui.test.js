// ui.test.js — the browser UI of listingd, in headless Chromium (Debian's, driven by
// playwright-core), against a real `listingd serve` that run.sh started on a temporary
// database and seeded with fixtures.js. Tests run in order and build on each other (the
// listing created by one is there for the next). Each page visited is also saved as a
// screenshot in $SCREENSHOT_DIR.
//
// Environment: LISTINGD_URL (http://127.0.0.1:PORT), SCREENSHOT_DIR; LISTINGD_BIN and
// LISTINGD_DB, the binary and the server's database, for the last test (it creates the
// first API token, which ends protected mode: no test after it could write without one).
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { chromium } = require('playwright-core');
const { RIVOLI, SEEDED, writeBody } = require('./fixtures.js');

const BASE = process.env.LISTINGD_URL;
const SHOTS = process.env.SCREENSHOT_DIR;
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

let context;   // one browser with a fresh profile (--user-data-dir) for the whole run
let profile;
const ids = {};  // seeded listing name → id

// Text as a reader sees it, with every kind of space (Intl uses narrow no-break ones) as ' '.
const plain = (s) => s.replace(/\s+/g, ' ').trim();

before(async () => {
  assert.ok(BASE, 'LISTINGD_URL must name the server');
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'listingd-chromium-'));
  // launchPersistentContext is how playwright takes a --user-data-dir.
  context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
  });
  context.setDefaultTimeout(15000);
  for (const listing of await (await fetch(`${BASE}/listings`)).json()) ids[listing.name] = listing.id;
  for (const { name } of SEEDED) assert.ok(ids[name], `seeded listing missing: ${name}`);
});

after(async () => {
  if (context) await context.close();
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
});

// A new tab on `url`, recording what the page complains about: script errors, console
// errors, Content-Security-Policy violations. `expectedErrors`: console messages that the
// test causes on purpose (Chromium logs every 4xx/5xx answer to fetch as an error).
async function open(url, { width = 1280, height = 900 } = {}) {
  const page = await context.newPage();
  await page.setViewportSize({ width, height });
  page.problems = [];
  page.on('pageerror', (err) => page.problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => { if (msg.type() === 'error') page.problems.push(msg.text()); });
  page.response = await page.goto(BASE + url);
  return page;
}

async function close(page, expectedErrors = []) {
  const unexpected = page.problems.filter((p) => !expectedErrors.some((re) => re.test(p)));
  await page.close();
  assert.deepEqual(unexpected, [], 'the page logged errors');
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

async function waitForCount(page, selector, count) {
  await page.waitForFunction(([s, n]) => document.querySelectorAll(s).length === n, [selector, count]);
}

// Types each value into the field its selector names.
async function fillFields(page, fields) {
  for (const [selector, value] of Object.entries(fields)) await page.fill(selector, value);
}

async function texts(page, selector) {
  return (await page.locator(selector).allTextContents()).map(plain);
}

test('the home page shows the seeded listings as cards, prices formatted', async () => {
  const page = await open('/');
  assert.equal(page.response.status(), 200);
  await waitForCount(page, '#grid .card', SEEDED.length);
  assert.deepEqual(await texts(page, '#grid .card-title'), SEEDED.map((l) => l.name));
  const rivoli = page.locator(`#grid .card[data-id="${ids[RIVOLI.name]}"]`);
  assert.equal(plain(await rivoli.locator('.card-price').textContent()), '699 000,50 €');
  assert.equal(plain(await rivoli.locator('.card-facts').textContent()), 'Apartment · 167 m²');
  assert.equal(plain(await rivoli.locator('.card-rooms').textContent()), '5 rooms, 3 bedrooms');
  assert.equal(plain(await rivoli.locator('.card-street').textContent()), '12 rue de Rivoli');
  assert.equal(plain(await rivoli.locator('.card-place').textContent()), '75004 Paris, France');
  // Price per m²: 699 000,50 € / 167 m², to the euro.
  assert.equal(plain(await rivoli.locator('.card-ppm').textContent()), '4 186 €/m²');
  // The price-change badge: the last change (695 000 → 699 000,50) and since listed (710 000).
  await rivoli.locator('.card-change').waitFor();
  assert.equal(plain(await rivoli.locator('.badge-change').textContent()), '↑ +4 000,50 € (+0,6 %)');
  assert.equal(plain(await rivoli.locator('.since-listed').textContent()), '−1,5 % since listed');
  assert.equal(await rivoli.locator('.card-change').getAttribute('class'), 'card-change up');
  const house = page.locator(`#grid .card[data-id="${ids[SEEDED[1].name]}"]`);
  assert.equal(plain(await house.locator('.card-price').textContent()), '489 000 €');
  // A placeholder picture per building type, drawn inline (no image is fetched).
  assert.equal(await rivoli.locator('svg.card-picture.pic-apartment').count(), 1);
  assert.equal(await house.locator('svg.card-picture.pic-house').count(), 1);
  assert.equal(await page.locator(`#grid .card[data-id="${ids[SEEDED[2].name]}"] svg.pic-studio`).count(), 1);
  // No badge for a listing whose price never changed; the studio's went down.
  const studio = page.locator(`#grid .card[data-id="${ids[SEEDED[2].name]}"]`);
  await studio.locator('.card-change.down').waitFor();
  assert.equal(plain(await studio.locator('.badge-change').textContent()), '↓ −6 000 € (−3,2 %)');
  // A drop: the price before it, struck through, beside the new one; a rise shows none.
  assert.equal(plain(await studio.locator('s.card-old-price').textContent()), 'was 185 000 €');
  assert.equal(await studio.getAttribute('class'), 'card price-drop');
  assert.equal(await rivoli.locator('.card-old-price').count(), 0);
  assert.equal(await house.locator('.card-change').count(), 0);
  assert.equal(plain(await page.locator('#result-count').textContent()), `${SEEDED.length} listings`);
  assert.equal(plain(await page.locator('#grid-status').textContent()), `Showing ${SEEDED.length} listings.`);
  assert.equal(await page.locator('#more').isVisible(), false);
  await shot(page, 'home');
  await close(page);
});

test('search as people type it: words anywhere, city by its first letters, accents ignored', async () => {
  for (const [width, suffix] of [[1280, ''], [390, '-phone']]) {
    const page = await open('/', { width, height: 844 });
    await waitForCount(page, '#grid .card', SEEDED.length);
    // The search box is there at every width, above the listings.
    await page.fill('#f-q', 'JARDIN croix');
    await page.press('#f-q', 'Enter');
    await waitForCount(page, '#grid .card', 1);
    assert.deepEqual(await texts(page, '#grid .card-title'), [SEEDED[1].name]);
    assert.equal(plain(await page.locator('#result-count').textContent()), '1 listing');
    assert.match(page.url(), /\?q=JARDIN\+croix&limit=24$/);
    // Accents and case do not matter, the last word is a prefix.
    await page.fill('#f-q', 'etag');
    await page.press('#f-q', 'Enter');
    await waitForCount(page, '#grid .card', 1);
    assert.deepEqual(await texts(page, '#grid .card-title'), [RIVOLI.name]);
    await shot(page, `search${suffix}`);
    // Best match first: "de" in the name before "de" (or "Decken") in the description
    // only, unless the sort asks for another order.
    await page.fill('#f-q', 'de');
    await page.press('#f-q', 'Enter');
    await waitForCount(page, '#grid .card', 4);
    assert.deepEqual(await texts(page, '#grid .card-title'),
      [RIVOLI.name, SEEDED[2].name, SEEDED[1].name, SEEDED[3].name]);
    assert.equal(plain(await page.locator('#f-sort option:checked').textContent()), 'Best match');
    if (width === 1280) await page.selectOption('#f-sort', 'id');  // (on phones, in the drawer)
    else await page.locator('#f-sort').evaluate((select) => { select.value = 'id'; });
    await page.press('#f-q', 'Enter');
    await page.waitForURL(/[?&]sort=id(&|$)/);
    await waitForCount(page, '#grid .card', 4);
    assert.deepEqual(await texts(page, '#grid .card-title'),
      [RIVOLI.name, SEEDED[1].name, SEEDED[2].name, SEEDED[3].name]);
    assert.match(page.url(), /[?&]sort=id(&|$)/);
    await page.locator('#f-sort').evaluate((select) => { select.value = ''; });
    // Syntax characters are plain text: no error, just no match.
    await page.fill('#f-q', '"NEAR( * -');
    await page.press('#f-q', 'Enter');
    await page.locator('#grid-status[data-kind="empty"]').waitFor();
    assert.equal(plain(await page.locator('#result-count').textContent()), '0 listings');
    await page.fill('#f-q', '');
    await page.press('#f-q', 'Enter');
    await waitForCount(page, '#grid .card', SEEDED.length);
    await close(page);
  }
  // The city filter takes its first letters, in any case, without accents.
  const page = await open('/?city_prefix=bru&limit=24');
  await waitForCount(page, '#grid .card', 1);
  assert.deepEqual(await texts(page, '#grid .card-title'), [SEEDED[2].name]);
  assert.equal(await page.inputValue('#f-city_prefix'), 'bru');
  await close(page);
});

test('the grid pages through the API, filters and sorts', async () => {
  const page = await open('/?limit=2');
  await waitForCount(page, '#grid .card', 2);
  assert.equal(await page.locator('#more').isVisible(), true);
  await page.click('#more');
  await waitForCount(page, '#grid .card', 4);
  assert.equal(await page.locator('#more').isVisible(), false);
  assert.deepEqual(await texts(page, '#grid .card-title'), SEEDED.map((l) => l.name));

  // A filter typed and sent with Enter, as a keyboard user would.
  await page.fill('#f-city_prefix', 'pari');
  await page.press('#f-city_prefix', 'Enter');
  await waitForCount(page, '#grid .card', 1);
  assert.deepEqual(await texts(page, '#grid .card-title'), [RIVOLI.name]);
  assert.match(page.url(), /\?city_prefix=pari&limit=2$/);
  assert.equal(plain(await page.locator('#filters-toggle').textContent()), 'Filters (1)');

  // The country from a list, by name.
  await page.fill('#f-city_prefix', '');
  await page.selectOption('#f-country', { label: 'Germany' });
  await page.click('#filters button[type="submit"]');
  await waitForCount(page, '#grid .card', 1);
  assert.deepEqual(await texts(page, '#grid .card-title'), [SEEDED[3].name]);
  assert.match(page.url(), /\?country=DE&limit=2$/);
  await page.selectOption('#f-country', '');
  await page.check('input[name="building_type"][value="HOUSE"]');
  await page.check('input[name="building_type"][value="STUDIO"]');
  await page.selectOption('#f-sort', '-price');
  await page.selectOption('#f-limit', '24');
  await page.click('#filters button[type="submit"]');
  await waitForCount(page, '#grid .card', 2);
  assert.deepEqual(await texts(page, '#grid .card-price'), ['489 000 €', '179 000 €']);

  // Empty: a plain message, no cards.
  await page.fill('#f-city_prefix', 'Nowhere');
  await page.press('#f-city_prefix', 'Enter');
  await page.locator('#grid-status[data-kind="empty"]').waitFor();
  assert.equal(await page.locator('#grid .card').count(), 0);
  assert.equal(plain(await page.locator('#grid-status').textContent()), 'No listing matches these filters.');

  // Back to every listing, by price; the filters are in the page's URL (bookmarkable).
  await page.click('#filters button[type="reset"]');
  await waitForCount(page, '#grid .card', 4);
  await page.goto(`${BASE}/?sort=price&limit=24`);
  await waitForCount(page, '#grid .card', 4);
  assert.deepEqual(await texts(page, '#grid .card-price'), ['179 000 €', '489 000 €', '545 000 €', '699 000,50 €']);
  assert.equal(await page.locator('#f-sort').inputValue(), 'price');
  await close(page);
});

test('loading and error states are visible, and Try again recovers', async () => {
  const page = await context.newPage();
  page.problems = [];
  let release;
  const gate = new Promise((resolve) => { release = resolve; });
  const isPage = (url) => url.pathname === '/listings';  // the grid's API calls
  await page.route(isPage, async (route) => { await gate; await route.continue(); });
  await page.goto(`${BASE}/`);
  const status = page.locator('#grid-status');
  await status.waitFor();
  assert.equal(plain(await status.textContent()), 'Loading listings…');
  assert.equal(await status.getAttribute('data-kind'), 'loading');
  await shot(page, 'home-loading');
  release();
  await waitForCount(page, '#grid .card', 4);
  await page.unroute(isPage);

  await page.route(isPage, (route) => route.fulfill({
    status: 503, contentType: 'application/json', body: '{"message":"the database is busy; try again"}',
  }));
  await page.reload();
  await page.locator('#grid-status[data-kind="error"]').waitFor();
  assert.equal(plain(await status.textContent()),
    'The listings could not be loaded: the database is busy; try again Try again');
  await shot(page, 'home-error');
  await page.unroute(isPage);
  await status.getByRole('button', { name: 'Try again' }).click();
  await waitForCount(page, '#grid .card', 4);
  await page.close();
});

test('"New listing" is a page of its own; what people type is read and shown back normalised', async () => {
  for (const [width, suffix] of [[1280, ''], [390, '-phone']]) {
    const home = await open('/', { width, height: 844 });
    await home.click('nav >> text=New listing');
    await home.waitForURL(`${BASE}/new`);
    await home.locator('#create-name').waitFor();
    // No building type is chosen for the user.
    assert.equal(await home.inputValue('#create-building_type'), '');
    await shot(home, `new${suffix}`);
    await close(home);
  }
  const page = await open('/new');
  const name = 'Loft sur le canal Saint-Martin';
  await fillFields(page, {
    '#create-name': name,
    '#create-latest_price_eur': '1 250 000 €',
    '#create-surface_area_m2': '143,5',
    '#create-rooms_count': '4',
    '#create-bedrooms_count': '2',
    '#create-description': 'Ancien atelier.\nVerrière, 4 m sous plafond.',
    '#create-postal_address-street_address': '80 quai de Jemmapes',
    '#create-postal_address-postal_code': '75010',
    '#create-postal_address-city': 'Paris',
    '#create-postal_address-country': 'france',
    '#create-contact_phone_number': '06 12 34 56 78',
  });
  await page.selectOption('#create-building_type', 'HOUSE');
  // Leaving a field shows what will be sent.
  await page.focus('#create-name');
  assert.equal(await page.inputValue('#create-latest_price_eur'), '1250000');
  assert.equal(await page.inputValue('#create-surface_area_m2'), '143.5');
  assert.equal(await page.inputValue('#create-postal_address-country'), 'France (FR)');
  assert.equal(await page.inputValue('#create-contact_phone_number'), '+33612345678');
  await page.click('#create-form button[type="submit"]');
  await page.locator('#create-form .form-done a.created-link').waitFor();
  assert.match(plain(await page.locator('#create-form .form-done').textContent()),
    /^Created “Loft sur le canal Saint-Martin” \(listing \d+\)\. See its page or all listings\.$/);
  assert.equal(await page.inputValue('#create-name'), '', 'the form is emptied for the next one');
  assert.equal(await page.inputValue('#create-building_type'), '');
  const href = await page.getAttribute('#create-form .form-done a.created-link', 'href');
  const id = Number(/^\/(\d+)\/prices$/.exec(href)[1]);
  const stored = await (await fetch(`${BASE}/listings/${id}`)).json();
  assert.equal(stored.name, name);
  assert.equal(stored.latest_price_eur, 1250000);
  assert.equal(stored.surface_area_m2, 143.5);
  assert.equal(stored.building_type, 'HOUSE');
  assert.equal(stored.postal_address.country, 'FR');
  assert.equal(stored.contact_phone_number, '+33612345678');
  // The edit form shows the stored listing the same way.
  await page.goto(BASE + href);
  await page.locator('#edit-name').waitFor();
  await page.waitForFunction(() => document.querySelector('#edit-name').value !== '');
  assert.equal(await page.inputValue('#edit-postal_address-country'), 'France (FR)');
  assert.equal(await page.inputValue('#edit-contact_phone_number'), '+33612345678');
  assert.equal(await page.inputValue('#edit-building_type'), 'HOUSE');
  // ...and the home page has its card.
  await page.goto(`${BASE}/`);
  await waitForCount(page, '#grid .card', 5);
  await close(page);
});

test('a create whose answer is lost is sent again with its Idempotency-Key: one listing', async () => {
  const page = await open('/new');
  const name = 'Studio retry-safe';
  await fillFields(page, {
    '#create-name': name,
    '#create-description': 'Un test.',
    '#create-latest_price_eur': '150000',
    '#create-surface_area_m2': '20',
    '#create-rooms_count': '1',
    '#create-bedrooms_count': '0',
    '#create-postal_address-street_address': '1 rue du Test',
    '#create-postal_address-postal_code': '75011',
    '#create-postal_address-city': 'Paris',
    '#create-postal_address-country': 'FR',
  });
  await page.selectOption('#create-building_type', 'STUDIO');
  // The first POST reaches the server, which creates the listing, but its answer is lost.
  const keys = [];
  let lost = false;
  await page.route((url) => url.pathname === '/listings', async (route) => {
    keys.push(route.request().headers()['idempotency-key']);
    if (lost) return route.continue();
    lost = true;
    await route.fetch();
    await route.abort('connectionreset');
  });
  const created = async () => (await (await fetch(`${BASE}/listings`)).json()).filter((l) => l.name === name);
  try {
    await page.click('#create-form button[type="submit"]');
    await page.locator('#create-form .form-error').waitFor();
    await page.click('#create-form button[type="submit"]');  // the person tries again
    await page.locator('#create-form .form-done a.created-link').waitFor();
    assert.equal(keys.length, 2);
    assert.match(keys[0] || '', /^[0-9a-f]{32}$/);
    assert.equal(keys[1], keys[0], 'the retry carries the first key');
    assert.equal((await created()).length, 1, 'the server created it once');
  } finally {  // the later tests count the listings
    for (const l of await created()) await fetch(`${BASE}/listings/${l.id}`, { method: 'DELETE' });
  }
  await close(page, [/ERR_CONNECTION_RESET|Failed to fetch|net::/]);
});

test("a bad listing is refused: errors under their fields, a summary linking them, then the server's 422", async () => {
  for (const [width, suffix] of [[1280, ''], [390, '-phone']]) {
    const page = await open('/new', { width, height: 844 });
    await page.locator('#create-name').waitFor();
    const posts = [];
    page.on('request', (req) => { if (req.method() === 'POST') posts.push(req.url()); });

    // Checked in the browser: nothing is sent.
    await page.fill('#create-rooms_count', '2');
    await page.fill('#create-bedrooms_count', '3');
    await page.fill('#create-latest_price_eur', '12 abc');
    await page.fill('#create-postal_address-country', 'Atlantis');
    await page.fill('#create-contact_phone_number', '12');
    await page.click('#create-form button[type="submit"]');
    await page.locator('#create-error').waitFor();
    assert.equal(plain(await page.locator('#create-name-error').textContent()), 'Title: must not be blank');
    assert.equal(plain(await page.locator('#create-building_type-error').textContent()), 'Building type: is required: choose one');
    assert.equal(plain(await page.locator('#create-latest_price_eur-error').textContent()),
      'Price in euros: must be a number of euros, e.g. 450 000 or 249 500,50');
    assert.equal(plain(await page.locator('#create-bedrooms_count-error').textContent()),
      'Bedrooms: must not be more than rooms_count');
    assert.equal(plain(await page.locator('#create-postal_address-country-error').textContent()),
      'Country: must be a country, e.g. France or FR');
    assert.match(plain(await page.locator('#create-contact_phone_number-error').textContent()), /^Contact phone \(optional\): must be a phone number/);
    assert.equal(await page.getAttribute('#create-name', 'aria-invalid'), 'true');
    // The summary names the fields by label, each a link to its field.
    const summary = page.locator('#create-error');
    assert.equal(await summary.evaluate((el) => el === document.activeElement), true);
    const links = await texts(page, '#create-error .error-summary a');
    assert.ok(links.includes('Title') && links.includes('Country') && links.includes('Bedrooms'), links.join(', '));
    assert.equal(plain(await summary.locator('strong').textContent()), `${links.length} fields need a correction:`);
    assert.match(plain(await summary.textContent()), /^\d+ fields need a correction:\s*Title: must not be blank/);
    assert.doesNotMatch(await summary.textContent(), /null|undefined/);
    await summary.locator('.error-summary a', { hasText: 'Country' }).click();
    assert.equal(await page.evaluate(() => document.activeElement.id), 'create-postal_address-country');
    // The error is under its field: after the input, inside the field's box.
    assert.equal(await page.evaluate(() => {
      const input = document.getElementById('create-postal_address-country');
      const error = document.getElementById('create-postal_address-country-error');
      return input.parentElement === error.parentElement &&
        !!(input.compareDocumentPosition(error) & Node.DOCUMENT_POSITION_FOLLOWING);
    }), true);
    assert.deepEqual(posts, []);
    await page.locator('#create-form').screenshot({ path: path.join(SHOTS, `create-invalid${suffix}.png`) });
    await close(page);
  }

  // Valid in the browser, refused by the server: its message is shown, and the field it
  // names is marked. (The browser checks everything the server does, so the server's 422
  // is played back here from a real answer to the same body.)
  const page = await open('/new');
  await page.locator('#create-name').waitFor();
  const bad = { ...writeBody(RIVOLI), name: 'Nulle part', postal_address: { ...RIVOLI.postal_address, country: 'XX' } };
  const answer = await fetch(`${BASE}/listings`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(bad),
  });
  assert.equal(answer.status, 422);
  const serverMessage = (await answer.json()).message;
  assert.match(serverMessage, /^postal_address\.country: /);
  await page.route((url) => url.pathname === '/listings', (route) => route.fulfill({
    status: 422, contentType: 'application/json', body: JSON.stringify({ message: serverMessage }),
  }));
  await fillFields(page, {
    '#create-name': bad.name,
    '#create-description': 'Un test.',
    '#create-latest_price_eur': '100000',
    '#create-surface_area_m2': '50',
    '#create-rooms_count': '2',
    '#create-bedrooms_count': '1',
    '#create-postal_address-street_address': '1 rue du Test',
    '#create-postal_address-postal_code': '00000',
    '#create-postal_address-city': 'Ailleurs',
    '#create-postal_address-country': 'FR',
  });
  await page.selectOption('#create-building_type', 'STUDIO');
  await page.click('#create-form button[type="submit"]');
  await page.waitForFunction(() => document.querySelector('#create-error strong')?.textContent
    .startsWith('The server refused'));
  assert.equal(await page.getAttribute('#create-postal_address-country', 'aria-invalid'), 'true');
  assert.deepEqual(await texts(page, '#create-error .error-summary a'), ['Country']);
  assert.equal(plain(await page.locator('#create-postal_address-country-error').textContent()),
    `Country: ${serverMessage.slice('postal_address.country: '.length)}`);
  await page.locator('section.create').screenshot({ path: path.join(SHOTS, 'create-refused.png') });
  await close(page, [/status of 422/]);
});

test('opening a card shows its price history: the table and a step chart, one point per entry', async () => {
  const page = await open('/');
  const id = ids[RIVOLI.name];
  // A click anywhere on the card (here its middle, not its title) follows its link.
  await page.click(`#grid .card[data-id="${id}"]`);
  await page.waitForURL(`${BASE}/${id}/prices`);
  await waitForCount(page, '#price-table tbody tr', 3);
  assert.equal(await page.textContent('h1'), RIVOLI.name);
  assert.equal(await page.title(), `${RIVOLI.name} — price history — listingd`);
  assert.equal(plain(await page.textContent('#listing-price')), '699 000,50 €');
  assert.deepEqual(await texts(page, '#price-table tbody td:nth-child(2)'), ['710 000 €', '695 000 €', '699 000,50 €']);
  assert.deepEqual(await texts(page, '#price-table tbody td:nth-child(3) .delta'), ['first price', '−15 000 €', '+4 000,50 €']);
  assert.deepEqual(await texts(page, '#price-table tbody td:nth-child(4)'), ['—', '−2,1 %', '+0,6 %']);
  // The summary line: first price → current, the change in all in € and %.
  assert.equal(plain(await page.textContent('#price-summary')),
    'First price 710 000 € → now 699 000,50 € (3 prices): −10 999,50 € (−1,5 %) in all.');
  assert.equal(await page.locator('#chart svg circle.point').count(), 3);
  const d = await page.getAttribute('#chart svg path.chart-line', 'd');
  assert.match(d, /^M[\d.]+,[\d.]+(H[\d.]+V[\d.]+){2}H[\d.]+$/, 'a step line: flat, then a step at each entry');
  // The three prices were set within a second: still three steps side by side, not a
  // column of dots at one x.
  const xs = (await page.locator('#chart svg circle.point').evaluateAll(
    (circles) => circles.map((c) => Number(c.getAttribute('cx')))));
  for (let i = 1; i < xs.length; i++) assert.ok(xs[i] - xs[i - 1] >= 17, `steps apart: ${xs.join(', ')}`);
  const facts = plain(await page.textContent('#listing-facts'));
  assert.match(facts, /12 rue de Rivoli, 75004 Paris, France/);
  assert.match(facts, /\+33612345678/);
  await shot(page, 'prices');
  await close(page);
});

test('editing the price adds a row to the table and a point to the chart at once', async () => {
  const id = ids[RIVOLI.name];
  const page = await open(`/${id}/prices`);
  await waitForCount(page, '#price-table tbody tr', 3);
  assert.equal(await page.inputValue('#edit-name'), RIVOLI.name);
  assert.equal(await page.inputValue('#edit-latest_price_eur'), '699000.5');
  // The page follows its listing's events: its own edit comes back as one and renders the
  // table again. Read the table once that is done, not while a row is being replaced (a
  // row taken out of the page reads its hidden phone-only % too).
  await page.locator('#live-status[data-live="on"]').waitFor();
  await page.fill('#edit-latest_price_eur', '720000');
  await page.click('#edit-form button[type="submit"]');
  await page.locator('#live-status', { hasText: /the price changed to 720.000/ }).waitFor();
  await waitForCount(page, '#price-table tbody tr', 4);
  assert.equal(await page.locator('#chart svg circle.point').count(), 4);
  assert.deepEqual((await page.locator('#price-table tbody tr:last-child td').allInnerTexts()).map(plain).slice(1),
    ['720 000 €', '+20 999,50 €', '+3,0 %']);
  assert.equal(plain(await page.textContent('#listing-price')), '720 000 €');
  assert.match(plain(await page.textContent('#edit-form .form-done')), /^Saved at /);

  // A change that keeps the price adds no entry.
  await page.fill('#edit-description', 'Lumineux, au 3e étage. Refait à neuf.');
  await page.click('#edit-form button[type="submit"]');
  await page.waitForFunction(() => document.querySelector('#listing-description').textContent.includes('neuf'));
  assert.equal(await page.locator('#price-table tbody tr').count(), 4);
  const history = await (await fetch(`${BASE}/listings/${id}/prices`)).json();
  assert.deepEqual(history.map((p) => p.price_eur), [710000, 695000, 699000.5, 720000]);
  await close(page);
});

test('the prices page is live: a price set elsewhere shows in the table, summary and chart without a reload', async () => {
  const created = await fetch(`${BASE}/listings`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ ...writeBody(RIVOLI), name: 'Watched live', latest_price_eur: 500000 }),
  });
  assert.equal(created.status, 201);
  const { id } = await created.json();
  const page = await open(`/${id}/prices`);
  await waitForCount(page, '#price-table tbody tr', 1);
  await page.locator('#live-status[data-live="on"]').waitFor();
  await page.evaluate(() => { window.notReloaded = true; });
  // Another client (not this page) sets a new price, then another one.
  for (const price of [480000, 470000.5]) {
    const put = await fetch(`${BASE}/listings/${id}`, {
      method: 'PUT', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ ...writeBody(RIVOLI), name: 'Watched live', latest_price_eur: price }),
    });
    assert.equal(put.status, 200);
  }
  await waitForCount(page, '#price-table tbody tr', 3);
  assert.deepEqual(await texts(page, '#price-table tbody td:nth-child(2)'), ['500 000 €', '480 000 €', '470 000,50 €']);
  await page.waitForFunction(() => document.querySelector('#listing-price').textContent.includes('470'));
  assert.equal(plain(await page.textContent('#listing-price')), '470 000,50 €');
  assert.equal(plain(await page.textContent('#price-summary')),
    'First price 500 000 € → now 470 000,50 € (3 prices): −29 999,50 € (−6,0 %) in all.');
  assert.equal(await page.locator('#chart svg circle.point').count(), 3);
  assert.match(plain(await page.textContent('#live-status')), /^Live: the price changed to 470 000,50 €/);
  assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was not reloaded');
  await shot(page, 'prices-live');
  // Deleted elsewhere: the page says so.
  assert.equal((await fetch(`${BASE}/listings/${id}`, { method: 'DELETE' })).status, 204);
  await page.waitForFunction(() => document.querySelector('#page-status').textContent.includes('just deleted'));
  assert.equal(await page.locator('#listing').isVisible(), false);
  await close(page);
});

test('a listing changed meanwhile is not overwritten: the page says so and reloads it; then delete, confirmed', async () => {
  const created = await fetch(`${BASE}/listings`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ ...writeBody(RIVOLI), name: 'Edited from two tabs' }),
  });
  assert.equal(created.status, 201);
  const { id } = await created.json();
  const page = await open(`/${id}/prices`);
  await waitForCount(page, '#price-table tbody tr', 1);
  // Another client changes the listing after this page read it.
  const meanwhile = await fetch(`${BASE}/listings/${id}`, {
    method: 'PATCH', headers: { 'Content-Type': 'application/merge-patch+json' },
    body: JSON.stringify({ description: 'Changé ailleurs.' }),
  });
  assert.equal(meanwhile.status, 200);
  await page.fill('#edit-latest_price_eur', '730000');
  await page.click('#edit-form button[type="submit"]');
  await page.locator('#edit-form .form-done button.reload').waitFor();
  assert.match(plain(await page.textContent('#edit-form .form-done')),
    /^Not saved: this listing was changed meanwhile/);
  await shot(page, 'prices-changed-meanwhile');
  let history = await (await fetch(`${BASE}/listings/${id}/prices`)).json();
  assert.equal(history.length, 1, 'nothing was saved over the other change');
  // Reload: the form shows the listing as it is now, and saving works again.
  await page.click('#edit-form .form-done button.reload');
  await page.waitForFunction(() => document.querySelector('#listing-description').textContent.includes('ailleurs'));
  assert.equal(await page.inputValue('#edit-description'), 'Changé ailleurs.');
  await page.fill('#edit-latest_price_eur', '730000');
  await page.click('#edit-form button[type="submit"]');
  await waitForCount(page, '#price-table tbody tr', 2);
  history = await (await fetch(`${BASE}/listings/${id}/prices`)).json();
  assert.deepEqual(history.map((p) => p.price_eur), [RIVOLI.latest_price_eur, 730000]);

  // Delete: asks first; a "no" keeps it, a "yes" deletes it and its history.
  page.once('dialog', (dialog) => dialog.dismiss());
  await page.click('#delete-listing');
  assert.equal((await fetch(`${BASE}/listings/${id}`)).status, 200);
  page.once('dialog', (dialog) => {
    assert.match(dialog.message(), /Delete “Edited from two tabs” and its whole price history/);
    dialog.accept();
  });
  await page.click('#delete-listing');
  await page.waitForFunction(() => document.querySelector('#page-status').textContent.includes('is deleted'));
  assert.equal(await page.locator('#listing').isVisible(), false);
  await shot(page, 'prices-deleted');
  assert.equal((await fetch(`${BASE}/listings/${id}`)).status, 404);
  assert.equal((await fetch(`${BASE}/listings/${id}/prices`)).status, 404);
  await close(page, [/status of 412/]);
});

test('/{id}/prices is a real URL: reloaded or opened directly it shows the same page', async () => {
  const id = ids[RIVOLI.name];
  const page = await open(`/${id}/prices`);
  assert.equal(page.response.status(), 200);
  assert.match(page.response.headers()['content-type'], /^text\/html/);
  await waitForCount(page, '#price-table tbody tr', 4);
  const response = await page.reload();
  assert.equal(response.status(), 200);
  await waitForCount(page, '#price-table tbody tr', 4);
  assert.equal(await page.locator('#chart svg circle.point').count(), 4);
  assert.equal(await page.textContent('h1'), RIVOLI.name);
  await close(page);

  const missing = await open('/999999/prices');
  await missing.locator('#page-status[data-kind="error"]').waitFor();
  assert.equal(plain(await missing.textContent('#page-status')), 'There is no listing 999999. See all listings');
  assert.equal(await missing.locator('#listing').isVisible(), false);
  await shot(missing, 'prices-not-found');
  await close(missing, [/status of 404/]);
});

test('keyboard only: tab to a card, Enter opens it; every input has a label', async () => {
  const page = await open('/');
  await waitForCount(page, '#grid .card', 5);
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.className), 'skip-link');
  let onCard = false;
  for (let i = 0; i < 60 && !onCard; i++) {
    await page.keyboard.press('Tab');
    onCard = await page.evaluate(() => document.activeElement.classList.contains('card-link'));
  }
  assert.ok(onCard, 'a card link can be reached with Tab');
  const href = await page.evaluate(() => document.activeElement.getAttribute('href'));
  await page.keyboard.press('Enter');
  await page.waitForURL(BASE + href);
  await page.locator('#price-table tbody tr').first().waitFor();

  for (const url of ['/', '/new', href]) {
    await page.goto(BASE + url);
    await page.locator(url === '/' ? '#grid .card' : 'form.listing-form input').first().waitFor();
    const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
      .filter((el) => el.labels.length === 0 || !el.labels[0].textContent.trim())
      .map((el) => el.id || el.name));
    assert.deepEqual(unlabelled, [], `inputs without a label on ${url}`);
  }
  await close(page);
});

test('the prices page at phone width: change and % in one column', async () => {
  const id = ids[RIVOLI.name];
  const page = await open(`/${id}/prices`, { width: 390, height: 844 });
  await waitForCount(page, '#price-table tbody tr', 4);
  assert.equal(await page.locator('#price-table th.pct').isVisible(), false);
  assert.deepEqual((await page.locator('#price-table tbody tr:nth-child(2) td:visible').allInnerTexts())
    .map(plain), [
    plain(await page.locator('#price-table tbody tr:nth-child(2) td:first-child').innerText()),
    '695 000 €', '−15 000 € −2,1 %']);
  assert.match(plain(await page.textContent('#price-summary')), /^First price 710 000 € → now /);
  await shot(page, 'prices-table-phone');
  await close(page);
});

test('readable at phone width: no sideways scrolling, the chart fits', async () => {
  const id = ids[RIVOLI.name];
  for (const [url, name] of [['/', 'home-phone'], ['/new', 'new-phone'], [`/${id}/prices`, 'prices-phone']]) {
    const page = await open(url, { width: 390, height: 844 });
    await page.locator(url === '/' ? '#grid .card' : url === '/new' ? '#create-name' : '#chart svg').first().waitFor();
    const widths = await page.evaluate(() => ({
      page: document.documentElement.scrollWidth, viewport: window.innerWidth,
      chart: document.querySelector('#chart svg')?.getBoundingClientRect().right ?? 0,
    }));
    assert.ok(widths.page <= widths.viewport, `${url}: the page is ${widths.page}px wide in ${widths.viewport}px`);
    assert.ok(widths.chart <= widths.viewport, `${url}: the chart sticks out`);
    await shot(page, name);
    await close(page);
  }
});

test('phone width: listings first, the filters in a "Filters (n)" drawer', async () => {
  const page = await open('/?building_type=HOUSE&building_type=STUDIO&min_rooms=1&limit=24', { width: 390, height: 844 });
  await waitForCount(page, '#grid .card', 3);
  const toggle = page.locator('#filters-toggle');
  // Two filters: building type and rooms (the search box, sort and page size are not filters).
  assert.equal(plain(await toggle.textContent()), 'Filters (2)');
  assert.equal(await page.locator('#f-min_price').isVisible(), false);
  // The first card is on the first screen, right under the search box.
  const top = await page.locator('#grid .card').first().evaluate((el) => el.getBoundingClientRect().top);
  assert.ok(top < 844 * 0.6, `the first card starts at ${top}px`);
  await shot(page, 'home-phone-filters-closed');
  await toggle.click();
  assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
  await page.locator('#f-min_price').waitFor({ state: 'visible' });
  assert.equal(await page.evaluate(() => document.activeElement.id), 'f-city_prefix');
  await shot(page, 'home-phone-filters-open');
  await page.fill('#f-min_price', '400 000 €');
  await page.click('#filter-fields button[type="submit"]');
  await waitForCount(page, '#grid .card', 2);
  assert.equal(await page.locator('#f-min_price').isVisible(), false, 'the drawer closes on Show');
  assert.equal(plain(await toggle.textContent()), 'Filters (3)');
  assert.match(page.url(), /min_price=400000/);
  // Escape closes it too, and focus goes back to its button.
  await toggle.click();
  await page.keyboard.press('Escape');
  assert.equal(await page.locator('#f-min_price').isVisible(), false);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'filters-toggle');
  await close(page);

  // At desktop width the filters are shown beside the search box, no drawer button.
  const wide = await open('/');
  await waitForCount(wide, '#grid .card', 5);
  assert.equal(await wide.locator('#filters-toggle').isVisible(), false);
  assert.equal(await wide.locator('#f-min_price').isVisible(), true);
  await close(wide);
});

test('a browser asking for the API still gets JSON, not the UI', async () => {
  const page = await open('/listings');
  assert.equal(page.response.status(), 200);
  assert.match(page.response.headers()['content-type'], /^application\/json/);
  const listings = JSON.parse(await page.response.text());
  assert.ok(Array.isArray(listings) && listings.length === 5);
  for (const url of [`/listings/${ids[RIVOLI.name]}`, `/listings/${ids[RIVOLI.name]}/prices`,
    '/ui/no-such-file.js']) {
    const response = await page.goto(BASE + url);
    assert.match(response.headers()['content-type'], /^application\/json/, url);
    JSON.parse(await response.text());
  }
  await close(page, [/status of 404/]);
  // The contract, asked as a browser asks for a page (Chromium would download it).
  const yaml = await fetch(`${BASE}/openapi.yaml`, { headers: { Accept: 'text/html,*/*;q=0.8' } });
  assert.match(yaml.headers.get('content-type'), /^application\/yaml/);
});

test('UI answers: content types, strong ETags and 304, security headers, compression', async () => {
  const id = ids[RIVOLI.name];
  const cases = [
    ['/', /^text\/html; charset=utf-8$/, true],
    ['/new', /^text\/html; charset=utf-8$/, true],
    [`/${id}/prices`, /^text\/html; charset=utf-8$/, true],
    ['/ui/home.js', /^text\/javascript; charset=utf-8$/, false],
    ['/ui/style.css', /^text\/css; charset=utf-8$/, false],
    ['/ui/icon.svg', /^image\/svg\+xml$/, false],
  ];
  for (const [url, type, page] of cases) {
    const res = await fetch(BASE + url, { headers: { 'Accept-Encoding': 'identity' } });
    assert.equal(res.status, 200, url);
    assert.match(res.headers.get('content-type'), type, url);
    const etag = res.headers.get('etag');
    assert.match(etag, /^"[0-9a-f]{16}"$/, `${url}: a strong ETag`);
    assert.equal(res.headers.get('cache-control'), 'no-cache', url);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff', url);
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer', url);
    assert.equal(res.headers.get('content-security-policy'), page ? CSP : null, url);
    assert.equal(res.headers.get('x-frame-options'), page ? 'DENY' : null, url);
    const body = await res.text();

    const again = await fetch(BASE + url, { headers: { 'If-None-Match': etag } });
    assert.equal(again.status, 304, `${url}: If-None-Match`);
    // Compressed once, under a tag of its own (fetch decodes it: it must read back the same).
    for (const encoding of ['br', 'gzip']) {
      const packed = await fetch(BASE + url, { headers: { 'Accept-Encoding': encoding } });
      if (body.length >= 1024) {
        assert.equal(packed.headers.get('content-encoding'), encoding, url);
        assert.equal(packed.headers.get('etag'), `${etag.slice(0, -1)}-${encoding}"`, url);
      }
      assert.equal(await packed.text(), body, `${url} with ${encoding}`);
    }
  }
  // No inline script or style anywhere in the pages (the CSP would block it).
  for (const url of ['/', '/new', `/${id}/prices`]) {
    const html = await (await fetch(BASE + url)).text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>|<style|\sstyle=|\son[a-z]+=/i, url);
  }
});

// Last: it creates the first token, and protected mode ends for the rest of the run.
test('once tokens exist, the header takes one for the tab and writes work again', async () => {
  const page = await open('/new');
  await page.locator('#create-name').waitFor();
  assert.match(await page.locator('#api-token-status').textContent(), /^No token/);
  const token = execFileSync(process.env.LISTINGD_BIN,
    ['token', 'create', '--db', process.env.LISTINGD_DB, '--name', 'browser', '--role', 'writer'],
    { encoding: 'utf8' }).trim();
  assert.match(token, /^lsd_/);
  await new Promise((resolve) => setTimeout(resolve, 1200));  // a server rereads tokens each second

  const submit = async () => {
    await fillFields(page, {
      '#create-name': 'Appartement rue des Écoles',
      '#create-latest_price_eur': '350000',
      '#create-surface_area_m2': '60',
      '#create-rooms_count': '3',
      '#create-bedrooms_count': '2',
      '#create-description': 'Calme, sur cour.',
      '#create-postal_address-street_address': '3 rue des Écoles',
      '#create-postal_address-postal_code': '75005',
      '#create-postal_address-city': 'Paris',
      '#create-postal_address-country': 'FR',
    });
    await page.selectOption('#create-building_type', 'APARTMENT');
    await page.click('#create-form button[type="submit"]');
  };
  await submit();
  const error = page.locator('#create-form .form-error');
  await error.waitFor();
  assert.match(plain(await error.textContent()), /writer or admin token.*API token/);
  // The refusal showed that the server has tokens: the header's form opens and says so.
  assert.equal(await page.locator('.token').getAttribute('open'), '');
  assert.match(await page.locator('#api-token-status').textContent(), /^This server has tokens: writes need one/);

  await page.fill('#api-token', token);
  await page.click('#token-form button[type="submit"]');
  assert.equal(await page.locator('#api-token-status').textContent(), 'A token is set for this tab.');
  assert.equal(await page.inputValue('#api-token'), '', 'the token is not left on the screen');
  await shot(page, 'token-set');
  await submit();
  await page.locator('#create-form .form-done a.created-link').waitFor();
  assert.match(plain(await page.locator('#create-form .form-done').textContent()), /^Created “Appartement rue des Écoles”/);

  await page.click('#api-token-forget');
  assert.match(await page.locator('#api-token-status').textContent(), /^This server has tokens/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('listingd-token')), null);
  await close(page, [/status of 401/]);
});
