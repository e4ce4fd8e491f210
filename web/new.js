// new.js — the page that creates a listing (/new): the listing form; once the server has
// the listing, a link to its page, and the form emptied for the next one.

import { h } from './dom.js';
import { createListing, newIdempotencyKey } from './api.js';
import { setupListingForm } from './listing-form.js';
import { setupTokenForm } from './token.js';

const formElement = document.getElementById('create-form');
// A second click, or a retry after the answer was lost (the server unreachable), sends the
// same listing with the same Idempotency-Key: the server creates it once. A changed form
// is a new listing, with a new key.
let attempt = { body: null, key: null };
setupListingForm(formElement, {
  prefix: 'create',
  submitLabel: 'Create listing',
  busyLabel: 'Creating…',
  async save(body) {
    const text = JSON.stringify(body);
    if (attempt.body !== text) attempt = { body: text, key: newIdempotencyKey() };
    const listing = await createListing(body, attempt.key);
    attempt = { body: null, key: null };
    formElement.reset();
    return [`Created “${listing.name}” (listing ${listing.id}). `,
      h('a', { href: `/${listing.id}/prices`, class: 'created-link', text: 'See its page' }),
      ' or ', h('a', { href: '/', text: 'all listings' }), '.'];
  },
});
setupTokenForm();
