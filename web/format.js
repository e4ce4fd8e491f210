// format.js — how numbers, money, dates and codes read on the page. Money and surfaces
// are written the French way ("710 000 €", "167 m²"), as the listings are priced in euros;
// dates follow the reader's browser language and time zone.

const LOCALE = 'fr-FR';

const euros = new Intl.NumberFormat(LOCALE, {
  style: 'currency', currency: 'EUR', minimumFractionDigits: 0, maximumFractionDigits: 2,
});
const eurosWithCents = new Intl.NumberFormat(LOCALE, {
  style: 'currency', currency: 'EUR', minimumFractionDigits: 2, maximumFractionDigits: 2,
});
const compactEuros = new Intl.NumberFormat(LOCALE, {
  style: 'currency', currency: 'EUR', notation: 'compact', maximumFractionDigits: 1,
});
const decimal = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 2 });
const percent = new Intl.NumberFormat(LOCALE, {
  style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1, signDisplay: 'exceptZero',
});
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const shortDateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'short', timeStyle: 'short' });
const monthYear = new Intl.DateTimeFormat(undefined, { month: 'short', year: 'numeric' });
const dayMonth = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const dayTime = new Intl.DateTimeFormat(undefined, {
  day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit',
});

// 710000 → "710 000 €"; 710000.5 → "710 000,50 €" (cents shown only when there are some).
export function formatPrice(eur) {
  return (Number.isInteger(eur) ? euros : eurosWithCents).format(eur);
}

// A price change: "+15 000 €", "−15 000 €", "0 €". (Callers subtract in cents, so that
// no float noise such as 0.30000000000000004 reaches the page.)
export function formatPriceChange(eur) {
  const sign = eur > 0 ? '+' : eur < 0 ? '\u2212' : '';
  return sign + formatPrice(Math.abs(eur));
}

// 0.021 → "+2,1 %".
export function formatPercentChange(ratio) {
  return percent.format(ratio).replace('-', '\u2212');
}

// For the chart's axis: 710000 → "710 k€".
export function formatPriceShort(eur) {
  return compactEuros.format(eur);
}

// 167 → "167 m²"; 42.5 → "42,5 m²".
export function formatSurface(m2) {
  return `${decimal.format(m2)} m²`;
}

// "2023-01-12T09:23:36.000Z" → "Jan 12, 2023, 10:23 AM" (in the reader's language and zone).
export function formatDateTime(iso) {
  return dateTime.format(new Date(iso));
}

// The same, shorter (for table rows): "11/26/26, 4:23 AM".
export function formatShortDateTime(iso) {
  return shortDateTime.format(new Date(iso));
}

// A chart tick, as precise as the chart's time range needs: "Jan 2024", "Jan 12", or
// "Jan 12, 09:23" for a range of a few days.
export function formatTick(ms, rangeMs) {
  const days = rangeMs / 86400000;
  return (days > 400 ? monthYear : days > 4 ? dayMonth : dayTime).format(new Date(ms));
}

export const BUILDING_TYPES = [
  ['STUDIO', 'Studio'],
  ['APARTMENT', 'Apartment'],
  ['HOUSE', 'House'],
];

// "APARTMENT" → "Apartment".
export function buildingTypeLabel(type) {
  return (BUILDING_TYPES.find(([value]) => value === type) || [type, type])[1];
}

let regions = null;
try {
  regions = new Intl.DisplayNames(['en'], { type: 'region' });
} catch {
  // An old browser: the code alone reads well enough.
}

// "FR" → "France" (the code itself when the browser does not know it).
export function countryName(code) {
  try {
    return (regions && regions.of(code)) || code;
  } catch {
    return code;
  }
}

// "3 rooms, 2 bedrooms" with the right plurals.
export function formatRooms(rooms, bedrooms) {
  const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
  return `${plural(rooms, 'room')}, ${plural(bedrooms, 'bedroom')}`;
}
