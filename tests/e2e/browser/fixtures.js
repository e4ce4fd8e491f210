// fixtures.js — the listings the browser tests start from (seed.js writes them through the
// API) and a valid listing body to build others from. CommonJS, shared by seed.js and
// ui.test.js.
'use strict';

const RIVOLI = {
  name: 'Bel appartement rue de Rivoli',
  description: 'Lumineux, au 3e étage.\nParquet, moulures, vue sur les toits.',
  postal_address: { street_address: '12 rue de Rivoli', postal_code: '75004', city: 'Paris', country: 'FR' },
  building_type: 'APARTMENT',
  latest_price_eur: 710000,
  surface_area_m2: 167,
  rooms_count: 5,
  bedrooms_count: 3,
  contact_phone_number: '+33612345678',
};

// Written in this order (ids 1, 2, ...); `prices` are PUT after the creation, so that the
// listing's history has 1 + prices.length entries.
const SEEDED = [
  { ...RIVOLI, prices: [695000, 699000.5] },
  {
    name: 'Maison avec jardin à la Croix-Rousse',
    description: 'Maison de ville, jardin de 200 m².',
    postal_address: { street_address: '4 rue Dumenge', postal_code: '69004', city: 'Lyon', country: 'FR' },
    building_type: 'HOUSE', latest_price_eur: 489000, surface_area_m2: 120, rooms_count: 6, bedrooms_count: 4,
    contact_phone_number: null, prices: [],
  },
  {
    name: 'Studio près de la gare du Midi',
    description: 'Idéal pour un étudiant.',
    postal_address: { street_address: '8 avenue Fonsny', postal_code: '1060', city: 'Bruxelles', country: 'BE' },
    building_type: 'STUDIO', latest_price_eur: 185000, surface_area_m2: 28.5, rooms_count: 1, bedrooms_count: 0,
    contact_phone_number: null, prices: [179000],
  },
  {
    name: 'Altbauwohnung in Kreuzberg',
    description: 'Hohe Decken, Dielenboden, Balkon zum Hof.',
    postal_address: { street_address: 'Oranienstraße 25', postal_code: '10999', city: 'Berlin', country: 'DE' },
    building_type: 'APARTMENT', latest_price_eur: 545000, surface_area_m2: 92, rooms_count: 3, bedrooms_count: 2,
    contact_phone_number: '+4930123456', prices: [],
  },
];

// The body of a write: a seeded listing without its test-only `prices`.
function writeBody({ prices, ...fields }) {
  return fields;
}

module.exports = { RIVOLI, SEEDED, writeBody };
