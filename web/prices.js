// prices.js — one listing's page (/{id}/prices): its details, its price history as a table
// (date, price, change from the previous price in € and %) and as a step chart, and the
// form that edits it (PUT). After a save the listing and its history are read again, so a
// new price shows in the table and the chart at once. Saving and deleting are conditional
// (If-Match): if the listing changed meanwhile (another tab, another person), nothing is
// overwritten and the page offers to reload it.
//
// The page follows the listing's live events (GET /listings/{id}/events, Server-Sent
// Events): a change made anywhere else shows in the details, the table, the summary and
// the chart as it happens, without a reload. The edit form is left as it is (it may hold
// edits), so saving it after such a change is refused with 412 and offers to reload.

import { h, showStatus } from './dom.js';
import { deleteListing, getListingForEdit, getPrices, updateListing } from './api.js';
import { priceStepChart } from './chart.js';
import {
  buildingTypeLabel, countryName, formatDateTime, formatPercentChange, formatPrice,
  formatPriceChange, formatRooms, formatShortDateTime, formatSurface,
} from './format.js';
import { setupListingForm } from './listing-form.js';
import { setupTokenForm } from './token.js';

const id = (/^\/(\d+)\/prices$/.exec(location.pathname) || [])[1];
const status = document.getElementById('page-status');
const chartArea = document.getElementById('chart');
const tableBody = document.querySelector('#price-table tbody');

let history = [];  // the listing's prices, oldest first, as the API gives them
let chartWidth = 0;
let etag = null;   // the listing's ETag as last read or written: the If-Match of a write

// What a write refused with 412 says: the listing changed since this page read it.
function changedMeanwhile(what) {
  return [`Not ${what}: this listing was changed meanwhile (in another tab, or by someone else). `,
    h('button', { type: 'button', class: 'reload', onclick: () => load(), text: 'Reload it' }),
    ' (your edits here will be replaced by the listing as it is now).'];
}

function renderListing(listing) {
  const address = listing.postal_address;
  document.title = `${listing.name} — price history — listingd`;
  document.getElementById('listing-name').textContent = listing.name;
  document.getElementById('listing-price').textContent = formatPrice(listing.latest_price_eur);
  document.getElementById('listing-description').textContent = listing.description;
  const phone = listing.contact_phone_number;
  const facts = [
    ['Building type', buildingTypeLabel(listing.building_type)],
    ['Surface', formatSurface(listing.surface_area_m2)],
    ['Rooms', formatRooms(listing.rooms_count, listing.bedrooms_count)],
    ['Address', `${address.street_address}, ${address.postal_code} ${address.city}, ${countryName(address.country)}`],
    ['Contact', phone ? h('a', { href: `tel:${phone}`, text: phone }) : 'none given'],
    ['Listed', h('time', { datetime: listing.created_date, text: formatDateTime(listing.created_date) })],
    ['Updated', h('time', { datetime: listing.updated_date, text: formatDateTime(listing.updated_date) })],
  ];
  document.getElementById('listing-facts').replaceChildren(
    ...facts.flatMap(([term, value]) => [h('dt', { text: term }), h('dd', {}, value)]));
}

const cents = (eur) => Math.round(eur * 100);

// "First price 710 000 € → now 699 000,50 € (3 prices): −10 999,50 € (−1,5 %)".
function renderSummary() {
  const el = document.getElementById('price-summary');
  if (!history.length) return el.replaceChildren();
  const first = history[0].price_eur;
  const last = history[history.length - 1].price_eur;
  const delta = (cents(last) - cents(first)) / 100;
  const trend = delta > 0 ? 'up' : delta < 0 ? 'down' : 'same';
  if (history.length === 1) return el.replaceChildren(`One price so far: ${formatPrice(first)}.`);
  el.replaceChildren(
    `First price ${formatPrice(first)} → now ${formatPrice(last)} (${history.length} prices): `,
    h('strong', { class: `change ${trend}`,
      text: `${formatPriceChange(delta)}${first ? ` (${formatPercentChange((cents(last) - cents(first)) / cents(first))})` : ''}` }),
    ' in all.');
}

function renderTable() {
  tableBody.replaceChildren(...history.map((entry, i) => {
    const previous = i > 0 ? history[i - 1].price_eur : null;
    const delta = previous === null ? null : (cents(entry.price_eur) - cents(previous)) / 100;
    const trend = delta > 0 ? 'up' : delta < 0 ? 'down' : 'same';
    const percent = delta === null || previous === 0 ? '—' : formatPercentChange(delta / previous);
    // On a phone the % column is hidden and the % shows under the change, in its cell.
    return h('tr', { class: i === history.length - 1 ? 'latest' : null },
      h('td', {}, h('time', { datetime: entry.created_date, text: formatShortDateTime(entry.created_date) })),
      h('td', { class: 'num', text: formatPrice(entry.price_eur) }),
      h('td', { class: `num change ${delta === null ? '' : trend}` },
        h('span', { class: 'delta', text: delta === null ? 'first price' : formatPriceChange(delta) }),
        delta === null ? null : h('span', { class: 'pct-inline', text: percent })),
      h('td', { class: `num change pct ${delta === null ? '' : trend}`, text: percent }));
  }));
}

// Draws the chart at the width of its box (again when that changes, e.g. a phone turned).
function renderChart() {
  if (!history.length) return;
  chartWidth = chartArea.clientWidth || 640;
  chartArea.replaceChildren(priceStepChart(history, {
    width: chartWidth, height: chartWidth < 480 ? 220 : 280,
  }));
}

new ResizeObserver(() => {
  if (chartArea.clientWidth !== chartWidth) renderChart();
}).observe(chartArea);

function renderHistory(prices) {
  history = prices;
  renderSummary();
  renderTable();
  renderChart();
}

function show(...sections) {
  for (const section of sections) document.getElementById(section).hidden = false;
}

const form = setupListingForm(document.getElementById('edit-form'), {
  prefix: 'edit',
  submitLabel: 'Save changes',
  busyLabel: 'Saving…',
  async save(body) {
    let listing;
    try {
      ({ listing, etag } = await updateListing(id, body, etag));
    } catch (err) {
      if (err.status === 412) return changedMeanwhile('saved');
      throw err;
    }
    renderListing(listing);
    form.fill(listing);
    try {
      renderHistory(await getPrices(id));
    } catch (err) {
      return `Saved, but the price history could not be read again: ${err.message}`;
    }
    return `Saved at ${formatDateTime(listing.updated_date)}.`;
  },
});

async function load() {
  showStatus(status, 'loading', 'Loading the listing…');
  try {
    const [{ listing, etag: tag }, prices] = await Promise.all([getListingForEdit(id), getPrices(id)]);
    etag = tag;
    renderListing(listing);
    form.fill(listing);
    show('listing', 'history', 'edit');  // before the chart, which takes its box's width
    renderHistory(prices);
    showStatus(status, 'info', '');
  } catch (err) {
    document.title = 'Listing not available — listingd';
    if (err.status === 404) {
      showStatus(status, 'error', `There is no listing ${id}. `, h('a', { href: '/', text: 'See all listings' }));
    } else {
      showStatus(status, 'error', `The listing could not be loaded: ${err.message} `,
        h('button', { type: 'button', onclick: load, text: 'Try again' }));
    }
  }
}

document.getElementById('delete-listing').addEventListener('click', async () => {
  const name = document.getElementById('listing-name').textContent;
  const said = document.getElementById('delete-status');
  if (!confirm(`Delete “${name}” and its whole price history? This cannot be undone.`)) return;
  try {
    await deleteListing(id, etag);
  } catch (err) {
    if (err.status === 412) return showStatus(said, 'error', ...changedMeanwhile('deleted'));
    return showStatus(said, 'error', `The listing could not be deleted: ${err.message}`);
  }
  events?.close();  // its own deletion: no need to be told
  for (const section of ['listing', 'history', 'edit']) document.getElementById(section).hidden = true;
  document.title = 'Listing deleted — listingd';
  showStatus(status, 'info', `“${name}” is deleted. `, h('a', { href: '/', text: 'See all listings' }));
});

// Live changes: each event of this listing reads it and its history again (cached reads),
// so the page shows exactly what the API has. EventSource reconnects by itself, sending
// the last event's id, so nothing is missed while it was away.
let events = null;
let liveReads = Promise.resolve();
function followChanges() {
  if (events || typeof EventSource === 'undefined') return;
  const live = document.getElementById('live-status');
  events = new EventSource(`/listings/${id}/events`);
  events.onopen = () => {
    live.dataset.live = 'on';
    live.textContent = 'Live: a change made elsewhere shows here at once.';
  };
  events.onerror = () => {
    live.dataset.live = 'off';
    // Closed for good (e.g. 401 with --auth-reads, or the listing is gone): say nothing live.
    live.textContent = events.readyState === EventSource.CLOSED ? '' : 'Reconnecting to live changes…';
  };
  events.onmessage = (message) => {
    let change;
    try {
      change = JSON.parse(message.data);
    } catch {
      return;
    }
    if (change.type === 'deleted') {
      events.close();
      for (const section of ['listing', 'history', 'edit']) document.getElementById(section).hidden = true;
      document.title = 'Listing deleted — listingd';
      live.textContent = '';
      return showStatus(status, 'info', 'This listing was just deleted. ',
        h('a', { href: '/', text: 'See all listings' }));
    }
    // One read at a time, in order: the page ends with the latest state.
    liveReads = liveReads.then(async () => {
      try {
        const [{ listing }, prices] = await Promise.all([getListingForEdit(id), getPrices(id)]);
        renderListing(listing);
        renderHistory(prices);
        const what = change.type === 'price_changed'
          ? `the price changed to ${formatPrice(change.new_price_eur)}` : 'it was changed';
        live.dataset.live = 'on';
        live.textContent = `Live: ${what} at ${formatShortDateTime(change.at)}.`;
      } catch {
        // Read again at the next event, or on reload.
      }
    });
  };
}

load().then(() => {
  if (!document.getElementById('listing').hidden) followChanges();
});

setupTokenForm();
