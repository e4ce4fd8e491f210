// seed.js — writes the test listings (fixtures.js) into a running listingd through its
// API: a POST each, then a PUT per later price. usage: node seed.js http://127.0.0.1:PORT
'use strict';
const { SEEDED, writeBody } = require('./fixtures.js');

async function send(method, url, body, expected) {
  const res = await fetch(url, {
    method, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== expected) throw new Error(`${method} ${url}: ${res.status} ${text}`);
  return JSON.parse(text);
}

async function main(base) {
  for (const listing of SEEDED) {
    const created = await send('POST', `${base}/listings`, writeBody(listing), 201);
    for (const price of listing.prices) {
      await send('PUT', `${base}/listings/${created.id}`, { ...writeBody(listing), latest_price_eur: price }, 200);
    }
  }
  console.log(`seeded ${SEEDED.length} listings`);
}

main(process.argv[2]).catch((err) => {
  console.error(`seed: ${err.message}`);
  process.exit(1);
});
