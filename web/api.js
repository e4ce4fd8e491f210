// api.js — the ListingAPI as the pages use it: one function per call, JSON in and out.
// A refused or failed call throws an ApiError carrying the HTTP status and the server's
// own message ({"message": ...}), which the pages show as they are. Every request
// carries the tab's API token, if one is set (token.js).

import { currentToken } from './token.js';

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;  // 0 when the server could not be reached
  }
}

async function call(method, url, body, headers = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers } };
  const token = currentToken();
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(0, 'The server could not be reached. Is listingd running?');
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON (e.g. a proxy's error page): reported below by status.
  }
  if (!response.ok) {
    let message = data && typeof data.message === 'string'
      ? data.message : `The server answered HTTP ${response.status}.`;
    if (response.status === 401 || response.status === 403)
      message += ' (In this page: “API token” at the top.)';
    // The server has tokens (or this one is refused): the header's token form says so.
    if (response.status === 401) window.dispatchEvent(new CustomEvent('listingd:token-refused'));
    throw new ApiError(response.status, message);
  }
  return { data, response };
}

// The URL of the next page from a `Link: </listings?...>; rel="next"` header, or null.
export function nextLink(header) {
  const match = /<([^>]*)>\s*;\s*rel="?next"?/.exec(header || '');
  return match ? match[1] : null;
}

// One page of listings. `query` is a URLSearchParams of the API's paging, filter and sort
// parameters (it must hold at least `limit`, so that the answer is a page), or the URL of
// a next page as a string. Resolves to {listings, next, total, totalOver} (next: the next
// page's URL or null, without count=exact: a count is for the first page; total: the
// X-Total-Count of count=exact, or null; totalOver: X-Total-Count-Over, or null).
export async function listingsPage(query) {
  const url = typeof query === 'string' ? query : `/listings?${query}`;
  const { data, response } = await call('GET', url);
  let next = nextLink(response.headers.get('Link'));
  if (next) {
    const [path, search] = next.split('?');
    const params = new URLSearchParams(search);
    params.delete('count');
    next = `${path}?${params}`;
  }
  const number = (name) => {
    const value = response.headers.get(name);
    return value === null ? null : Number(value);
  };
  return { listings: data, next, total: number('X-Total-Count'), totalOver: number('X-Total-Count-Over') };
}

// The listing with its ETag: {listing, etag}. The ETag makes a later write conditional.
export async function getListingForEdit(id) {
  const { data, response } = await call('GET', `/listings/${id}`);
  return { listing: data, etag: response.headers.get('ETag') };
}

// [{price_eur, created_date}], oldest first.
export async function getPrices(id) {
  return (await call('GET', `/listings/${id}/prices`)).data;
}

// `write`: the listing's writable fields; `key`, when given, its Idempotency-Key (a retry
// with the same key and body gets the first answer: one listing). Resolves to the new
// listing.
export async function createListing(write, key) {
  return (await call('POST', '/listings', write, key ? { 'Idempotency-Key': key } : {})).data;
}

// A new random Idempotency-Key (crypto.randomUUID exists only on https and localhost).
export function newIdempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// Replaces every writable field, only if the listing is still as read when `etag` (its
// ETag then) is given: else an ApiError with status 412, nothing changed. Resolves to
// {listing, etag}, the updated listing and its new ETag.
export async function updateListing(id, write, etag) {
  const { data, response } = await call('PUT', `/listings/${id}`, write, etag ? { 'If-Match': etag } : {});
  return { listing: data, etag: response.headers.get('ETag') };
}

// Deletes the listing and its price history (as updateListing for `etag`).
export async function deleteListing(id, etag) {
  await call('DELETE', `/listings/${id}`, undefined, etag ? { 'If-Match': etag } : {});
}
