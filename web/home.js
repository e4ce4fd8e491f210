// home.js — the home page (/): the listings as a grid of cards, one page of the API at a
// time ("Show more listings" follows the answer's Link header), filtered and sorted as the
// filter form says; and the form that creates a listing, whose card then appears at the top
// without a reload. The page's own query string is the API's (/?city=Paris&sort=-price
// shows /listings?city=Paris&sort=-price), so a filtered view can be bookmarked.

import { h, showStatus } from './dom.js';
import { createListing, listingsPage } from './api.js';
import {
  buildingTypeLabel, countryName, formatDateTime, formatPrice, formatRooms, formatSurface,
} from './format.js';
import { setupListingForm } from './listing-form.js';
import { setupTokenForm } from './token.js';

const TEXT_FILTERS = ['city', 'postal_code', 'country', 'min_price', 'max_price',
  'min_surface', 'max_surface', 'min_rooms', 'max_rooms'];
const NUMBER_FILTERS = new Set(['min_price', 'max_price', 'min_surface', 'max_surface']);
const DEFAULT_LIMIT = '24';

const filters = document.getElementById('filters');
const grid = document.getElementById('grid');
const status = document.getElementById('grid-status');
const more = document.getElementById('more');

let next = null;      // the next page's URL, from the last answer's Link header
let generation = 0;   // each new search makes the answers of older ones stale

// The API query the filter form describes: the filled-in fields only, and always `limit`,
// so that the answer is one page.
function queryFromForm() {
  const query = new URLSearchParams();
  for (const name of TEXT_FILTERS) {
    let value = filters.elements[name].value.trim();
    if (NUMBER_FILTERS.has(name)) value = value.replace(/[\s\u00a0\u202f]/g, '').replace(',', '.');
    if (name === 'country') value = value.toUpperCase();
    if (value) query.set(name, value);
  }
  for (const box of filters.querySelectorAll('input[name="building_type"]:checked')) {
    query.append('building_type', box.value);
  }
  const sort = filters.elements.sort.value;
  if (sort !== 'id') query.set('sort', sort);
  query.set('limit', filters.elements.limit.value);
  return query;
}

// Sets the filter form from a query string (the page's own, or an empty one to clear it).
function formFromQuery(query) {
  for (const name of TEXT_FILTERS) filters.elements[name].value = query.get(name) || '';
  const types = query.getAll('building_type');
  for (const box of filters.querySelectorAll('input[name="building_type"]')) {
    box.checked = types.includes(box.value);
  }
  filters.elements.sort.value = query.get('sort') || 'id';
  if (!filters.elements.sort.value) filters.elements.sort.value = 'id';  // an unknown sort
  const limit = query.get('limit') || DEFAULT_LIMIT;
  const select = filters.elements.limit;
  if (/^\d+$/.test(limit) && ![...select.options].some((o) => o.value === limit)) {
    select.append(h('option', { value: limit, text: limit }));
  }
  select.value = limit;
  if (!select.value) select.value = DEFAULT_LIMIT;
}

function hasFilters(query) {
  return [...query.keys()].some((key) => key !== 'limit' && key !== 'sort');
}

function card(listing, isNew = false) {
  const address = listing.postal_address;
  return h('li', { class: isNew ? 'card card-new' : 'card', 'data-id': listing.id },
    isNew ? h('span', { class: 'badge', text: 'New' }) : null,
    h('h3', { class: 'card-title' },
      h('a', { class: 'card-link', href: `/${listing.id}/prices`, text: listing.name })),
    h('p', { class: 'card-price', text: formatPrice(listing.latest_price_eur) }),
    h('p', { class: 'card-facts',
      text: `${buildingTypeLabel(listing.building_type)} · ${formatSurface(listing.surface_area_m2)}` }),
    h('p', { class: 'card-rooms', text: formatRooms(listing.rooms_count, listing.bedrooms_count) }),
    h('p', { class: 'card-place', text: `${address.city}, ${countryName(address.country)}` }),
    h('p', { class: 'card-updated' }, 'Updated ',
      h('time', { datetime: listing.updated_date, text: formatDateTime(listing.updated_date) })));
}

function summary(query) {
  const shown = grid.children.length;
  if (shown === 0) {
    return hasFilters(query)
      ? 'No listing matches these filters.'
      : 'There are no listings yet. Create the first one with the form below.';
  }
  return `Showing ${shown} listing${shown === 1 ? '' : 's'}${next ? '; more below' : ''}.`;
}

function showMoreButton() {
  more.hidden = !next;
  more.disabled = false;
  more.textContent = 'Show more listings';
}

// Shows the first page of `query`.
async function search(query) {
  const mine = ++generation;
  next = null;
  more.hidden = true;
  grid.replaceChildren();
  grid.setAttribute('aria-busy', 'true');
  showStatus(status, 'loading', 'Loading listings…');
  try {
    const page = await listingsPage(query);
    if (mine !== generation) return;
    grid.append(...page.listings.map((l) => card(l)));
    next = page.next;
    showStatus(status, page.listings.length ? 'info' : 'empty', summary(query));
    showMoreButton();
  } catch (err) {
    if (mine !== generation) return;
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
  search(query);
}

filters.addEventListener('submit', (event) => {
  event.preventDefault();
  apply();
});
filters.addEventListener('reset', (event) => {
  event.preventDefault();
  formFromQuery(new URLSearchParams());
  apply();
});
more.addEventListener('click', showMore);
window.addEventListener('popstate', () => {
  formFromQuery(new URLSearchParams(location.search));
  search(queryFromForm());
});

setupListingForm(document.getElementById('create-form'), {
  prefix: 'create',
  submitLabel: 'Create listing',
  busyLabel: 'Creating…',
  async save(body) {
    const listing = await createListing(body);
    grid.prepend(card(listing, true));
    showStatus(status, 'info', summary(queryFromForm()));
    document.getElementById('create-form').reset();
    return `Created “${listing.name}” (listing ${listing.id}); it is now first in the list above.`;
  },
});

formFromQuery(new URLSearchParams(location.search));
search(queryFromForm());

setupTokenForm();
