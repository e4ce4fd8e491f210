// home.js — the home page (/): a search box, the listings as a grid of cards, one page of
// the API at a time ("Show more listings" follows the answer's Link header), filtered and
// sorted as the filter form says, with the number of matching listings (count=exact on the
// first page). At phone width the filters are a drawer behind "Filters (n)", so the
// listings come first. The page's own query string is the API's (/?q=jardin&sort=-price
// shows /listings?q=jardin&sort=-price), so a search can be bookmarked.

import { h, showStatus } from './dom.js';
import { getPrices, listingsPage } from './api.js';
import {
  buildingTypeLabel, countryList, countryName, formatCount, formatDateTime,
  formatPercentChange, formatPrice, formatPriceChange, formatPricePerM2, formatRooms,
  formatSurface, parseAmount,
} from './format.js';
import { placeholderPicture } from './pictures.js';
import { setupTokenForm } from './token.js';

const TEXT_FILTERS = ['q', 'city_prefix', 'postal_code', 'country', 'min_price', 'max_price',
  'min_surface', 'max_surface', 'min_rooms', 'max_rooms'];
const NUMBER_FILTERS = new Set(['min_price', 'max_price', 'min_surface', 'max_surface']);
const DEFAULT_LIMIT = '24';

const filters = document.getElementById('filters');
const toggle = document.getElementById('filters-toggle');
const grid = document.getElementById('grid');
const status = document.getElementById('grid-status');
const count = document.getElementById('result-count');
const more = document.getElementById('more');

let next = null;      // the next page's URL, from the last answer's Link header
let generation = 0;   // each new search makes the answers of older ones stale

for (const [code, name] of countryList()) {
  filters.elements.country.append(h('option', { value: code, text: name }));
}

// The API query the filter form describes: the filled-in fields only, and always `limit`,
// so that the answer is one page.
function queryFromForm() {
  const query = new URLSearchParams();
  for (const name of TEXT_FILTERS) {
    let value = filters.elements[name].value.trim();
    if (NUMBER_FILTERS.has(name) && value) {
      const n = parseAmount(value);  // "450 000 €" → 450000
      if (!Number.isNaN(n)) value = String(n);
    }
    if (value) query.set(name, value);
  }
  for (const box of filters.querySelectorAll('input[name="building_type"]:checked')) {
    query.append('building_type', box.value);
  }
  // No sort: the API's own default, best match first for a search, else oldest first.
  const sort = filters.elements.sort.value;
  if (sort && (sort !== 'id' || query.has('q') || query.has('city_prefix'))) query.set('sort', sort);
  query.set('limit', filters.elements.limit.value);
  return query;
}

// Sets the filter form from a query string (the page's own, or an empty one to clear it).
function formFromQuery(query) {
  // An old bookmark's exact city= is searched as a city prefix.
  if (query.has('city') && !query.has('city_prefix')) query.set('city_prefix', query.get('city'));
  for (const name of TEXT_FILTERS) filters.elements[name].value = query.get(name) || '';
  const types = query.getAll('building_type');
  for (const box of filters.querySelectorAll('input[name="building_type"]')) {
    box.checked = types.includes(box.value);
  }
  filters.elements.sort.value = query.get('sort') || '';
  if (!filters.elements.sort.value) filters.elements.sort.value = '';  // relevance, or unknown
  showSortChoices();
  const limit = query.get('limit') || DEFAULT_LIMIT;
  const select = filters.elements.limit;
  if (/^\d+$/.test(limit) && ![...select.options].some((o) => o.value === limit)) {
    select.append(h('option', { value: limit, text: limit }));
  }
  select.value = limit;
  if (!select.value) select.value = DEFAULT_LIMIT;
}

// The first sort choice is the API's default: "Best match" while the search box or the
// city has words, else "Oldest first" (and the explicit "Oldest first" is then the same,
// so hidden).
function showSortChoices() {
  const searching = ['q', 'city_prefix'].some((name) => filters.elements[name].value.trim() !== '');
  const select = filters.elements.sort;
  const [fallback, oldest] = select.options;
  fallback.text = searching ? 'Best match' : 'Oldest first';
  oldest.hidden = !searching;
  if (!searching && select.value === 'id') select.value = '';
}

// How many filters narrow the list (the search box, sort and page size are not filters).
function activeFilters(query) {
  const keys = [...query.keys()].filter((k) => !['q', 'limit', 'sort'].includes(k));
  return new Set(keys).size;
}

function hasFilters(query) {
  return [...query.keys()].some((key) => key !== 'limit' && key !== 'sort');
}

function showFilterCount(query) {
  toggle.textContent = `Filters (${activeFilters(query)})`;
}

function setDrawer(open) {
  filters.classList.toggle('open', open);
  toggle.setAttribute('aria-expanded', String(open));
  if (open) filters.elements.city_prefix.focus();
}

// "↓ −15 000 € (−2,1 %)" for the last change, "−1,5 % since listed": from the history,
// read once the card is shown. After a drop the card also shows the old price struck
// through beside the new one (see markDrop).
function priceBadge(prices) {
  if (prices.length < 2) return null;
  const cents = (eur) => Math.round(eur * 100);
  const first = prices[0].price_eur;
  const last = prices[prices.length - 1].price_eur;
  const previous = prices[prices.length - 2].price_eur;
  const delta = (cents(last) - cents(previous)) / 100;
  const trend = delta > 0 ? 'up' : delta < 0 ? 'down' : 'same';
  const arrow = delta > 0 ? '↑' : delta < 0 ? '↓' : '→';
  const lastPct = previous ? ` (${formatPercentChange(delta / previous)})` : '';
  const sinceListed = first ? `${formatPercentChange((cents(last) - cents(first)) / cents(first))} since listed` : '';
  return h('p', { class: `card-change ${trend}` },
    h('span', { class: 'badge-change', text: `${arrow} ${formatPriceChange(delta)}${lastPct}` }),
    sinceListed ? h('span', { class: 'since-listed', text: sinceListed }) : null);
}

// Price histories are read a few at a time, after the cards are shown (the list stays the
// API's own answer; a history is a cached, cheap read).
const badgeQueue = [];
let badgeReaders = 0;
function queueBadge(card, id) {
  badgeQueue.push([card, id]);
  // Started once the cards are in the page (a card not in it any more is skipped).
  setTimeout(() => {
    while (badgeReaders < 4 && badgeQueue.length > badgeReaders) readBadges();
  }, 0);
}
async function readBadges() {
  badgeReaders++;
  try {
    while (badgeQueue.length) {
      const [card, id] = badgeQueue.shift();
      if (!card.isConnected) continue;
      try {
        const prices = await getPrices(id);
        const badge = priceBadge(prices);
        if (badge) card.querySelector('.card-body').insertBefore(badge, card.querySelector('.card-facts'));
        markDrop(card, prices);
      } catch {
        // No badge: the card says what matters without it.
      }
    }
  } finally {
    badgeReaders--;
  }
}

// A price that fell at its last change: the previous price, struck through, before it.
function markDrop(card, prices) {
  if (prices.length < 2) return;
  const last = prices[prices.length - 1].price_eur;
  const previous = prices[prices.length - 2].price_eur;
  if (!(last < previous)) return;
  card.classList.add('price-drop');
  const price = card.querySelector('.card-price');
  price.before(h('s', { class: 'card-old-price', title: 'Price before the last drop' },
    h('span', { class: 'visually-hidden', text: 'was ' }), formatPrice(previous)));
}

function card(listing) {
  const address = listing.postal_address;
  const el = h('li', { class: 'card', 'data-id': listing.id },
    placeholderPicture(listing.building_type),
    h('div', { class: 'card-body' },
      h('h3', { class: 'card-title' },
        h('a', { class: 'card-link', href: `/${listing.id}/prices`, text: listing.name })),
      h('p', { class: 'card-prices' },
        h('span', { class: 'card-price', text: formatPrice(listing.latest_price_eur) }),
        h('span', { class: 'card-ppm', text: formatPricePerM2(listing.latest_price_eur, listing.surface_area_m2) })),
      h('p', { class: 'card-facts',
        text: `${buildingTypeLabel(listing.building_type)} · ${formatSurface(listing.surface_area_m2)}` }),
      h('p', { class: 'card-rooms', text: formatRooms(listing.rooms_count, listing.bedrooms_count) }),
      h('p', { class: 'card-street', text: address.street_address }),
      h('p', { class: 'card-place', text: `${address.postal_code} ${address.city}, ${countryName(address.country)}` }),
      h('p', { class: 'card-updated' }, 'Updated ',
        h('time', { datetime: listing.updated_date, text: formatDateTime(listing.updated_date) }))));
  queueBadge(el, listing.id);
  return el;
}

function summary(query) {
  const shown = grid.children.length;
  if (shown === 0) {
    return hasFilters(query)
      ? 'No listing matches these filters.'
      : 'There are no listings yet. Create the first one with “New listing” above.';
  }
  return `Showing ${shown} listing${shown === 1 ? '' : 's'}${next ? '; more below' : ''}.`;
}

function showCount(total, over) {
  if (over) count.textContent = `More than ${formatCount(over)} listings`;
  else if (total === null) count.textContent = '';
  else count.textContent = `${formatCount(total)} listing${total === 1 ? '' : 's'}`;
}

function showMoreButton() {
  more.hidden = !next;
  more.disabled = false;
  more.textContent = 'Show more listings';
}

// Shows the first page of `query`, with the count of every match.
async function search(query) {
  const mine = ++generation;
  next = null;
  more.hidden = true;
  grid.replaceChildren();
  badgeQueue.length = 0;
  grid.setAttribute('aria-busy', 'true');
  showFilterCount(query);
  showStatus(status, 'loading', 'Loading listings…');
  try {
    const counted = new URLSearchParams(query);
    counted.set('count', 'exact');
    const page = await listingsPage(counted);
    if (mine !== generation) return;
    grid.append(...page.listings.map((l) => card(l)));
    next = page.next;
    showCount(page.total, page.totalOver);
    showStatus(status, page.listings.length ? 'info' : 'empty', summary(query));
    showMoreButton();
  } catch (err) {
    if (mine !== generation) return;
    showCount(null);
    showStatus(status, 'error', `The listings could not be loaded: ${err.message} `,
      h('button', { type: 'button', onclick: () => search(query), text: 'Try again' }));
  } finally {
    if (mine === generation) grid.removeAttribute('aria-busy');
  }
}

// Appends the next page.
async function showMore() {
  const mine = generation;
  more.disabled = true;
  more.textContent = 'Loading more listings…';
  try {
    const page = await listingsPage(next);
    if (mine !== generation) return;
    const cards = page.listings.map((l) => card(l));
    grid.append(...cards);
    next = page.next;
    showStatus(status, 'info', summary(queryFromForm()));
    showMoreButton();
    if (cards.length) cards[0].querySelector('a').focus();  // keyboard users go on from there
  } catch (err) {
    if (mine !== generation) return;
    showStatus(status, 'error', `More listings could not be loaded: ${err.message}`);
    showMoreButton();
  }
}

function apply() {
  const query = queryFromForm();
  history.pushState(null, '', `/?${query}`);
  setDrawer(false);
  search(query);
}

for (const name of ['q', 'city_prefix']) filters.elements[name].addEventListener('input', showSortChoices);
filters.addEventListener('submit', (event) => {
  event.preventDefault();
  apply();
});
filters.addEventListener('reset', (event) => {
  event.preventDefault();
  formFromQuery(new URLSearchParams());
  apply();
});
toggle.addEventListener('click', () => setDrawer(!filters.classList.contains('open')));
document.getElementById('filters-close').addEventListener('click', () => {
  setDrawer(false);
  toggle.focus();
});
filters.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && filters.classList.contains('open')) {
    setDrawer(false);
    toggle.focus();
  }
});
more.addEventListener('click', showMore);
window.addEventListener('popstate', () => {
  formFromQuery(new URLSearchParams(location.search));
  search(queryFromForm());
});

formFromQuery(new URLSearchParams(location.search));
search(queryFromForm());

setupTokenForm();
