// new.js — the page that creates a listing (/new): the listing form; once the server has
// the listing, a link to its page, and the form emptied for the next one.

import { h } from './dom.js';
import { createListing } from './api.js';
import { setupListingForm } from './listing-form.js';
import { setupTokenForm } from './token.js';

const formElement = document.getElementById('create-form');
setupListingForm(formElement, {
  prefix: 'create',
  submitLabel: 'Create listing',
  busyLabel: 'Creating…',
  async save(body) {
    const listing = await createListing(body);
    formElement.reset();
    return [`Created “${listing.name}” (listing ${listing.id}). `,
      h('a', { href: `/${listing.id}/prices`, class: 'created-link', text: 'See its page' }),
      ' or ', h('a', { href: '/', text: 'all listings' }), '.'];
  },
});
setupTokenForm();
