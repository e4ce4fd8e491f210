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

// Every officially assigned ISO 3166-1 alpha-2 code, as the server accepts them
// (src/domain/countries.cpp).
export const COUNTRY_CODES = 'AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW'.split(' ');

// The countries as [code, name], by name (for lists people choose from).
export function countryList() {
  return COUNTRY_CODES.map((code) => [code, countryName(code)])
    .sort((a, b) => a[1].localeCompare(b[1], 'en'));
}

// Letters only, without case or accents: "Côte d’Ivoire" → "cotedivoire".
function fold(text) {
  return text.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^a-z0-9]/g, '');
}

// Country names in the languages of the listings too: "Belgique", "Deutschland", "België".
let otherNames = [];
try {
  otherNames = ['fr', 'de', 'nl'].map((lang) => new Intl.DisplayNames([lang], { type: 'region' }));
} catch {
  // An old browser: English names and codes only.
}

// What people type for a country — "FR", "fr", "France", "france", "Belgique",
// "Côte d'Ivoire" — as its code; null when it is none.
export function parseCountry(text) {
  const t = text.trim();
  if (/^[A-Za-z]{2}$/.test(t) && COUNTRY_CODES.includes(t.toUpperCase())) return t.toUpperCase();
  const key = fold(t);
  if (!key) return null;
  const named = (code) => {
    if (fold(countryName(code)) === key) return true;
    return otherNames.some((names) => {
      try { return fold(names.of(code)) === key; } catch { return false; }
    });
  };
  return COUNTRY_CODES.find(named) || null;
}

// The international calling code of the countries whose listings are most common here,
// and whether their national numbers drop a leading 0 (the trunk prefix) once written
// with it. Other countries' numbers must be given in international form (+...).
const CALLING_CODES = {
  FR: '33', BE: '32', DE: '49', CH: '41', LU: '352', MC: '377', NL: '31', ES: '34',
  PT: '351', GB: '44', IE: '353', AT: '43', IT: '39', DK: '45', SE: '46', NO: '47',
  FI: '358', PL: '48', CZ: '420', GR: '30', US: '1', CA: '1', MA: '212', TN: '216',
  DZ: '213', RE: '262', GP: '590', MQ: '596', GF: '594', YT: '262', NC: '687', PF: '689',
};
const KEEPS_TRUNK_ZERO = new Set(['IT']);  // Italian numbers keep their leading 0

export function callingCode(country) {
  return CALLING_CODES[country] || null;
}

// A phone number as people type it — "06 12 34 56 78", "+33 6 12 34 56 78",
// "0033 6 12 34 56 78", "(06) 12.34.56.78" — in E.164 form ("+33612345678"), using the
// calling code of `country` for a national number. null when it cannot be read.
export function parsePhone(text, country) {
  let digits = text.trim().replace(/[\s\u00a0\u202f.\-()/]/g, '');
  if (!digits) return null;
  if (digits.startsWith('00')) digits = '+' + digits.slice(2);
  if (!digits.startsWith('+')) {
    const code = callingCode(country);
    if (!code || !/^\d+$/.test(digits)) return null;
    const national = KEEPS_TRUNK_ZERO.has(country) ? digits : digits.replace(/^0/, '');
    if (national.length < 6) return null;  // too short to be a whole national number
    digits = `+${code}${national}`;
  }
  return /^\+[1-9]\d{1,14}$/.test(digits) ? digits : null;
}

// A money amount as people type it — "450 000 €", "249 500,50", "710000.5", "1.250.000" —
// as a number of euros: spaces of any kind and the euro sign are dropped; one "," or "."
// before the last digits is the decimal mark; dots or commas every three digits group
// thousands. NaN when it is not such a number.
export function parseAmount(text) {
  const s = text.replace(/[\s\u00a0\u202f€]|EUR|eur/g, '');
  if (/^\d+([.,]\d+)?$/.test(s)) return Number(s.replace(',', '.'));
  // 1.234.567 or 1,234,567 (thousands groups) with nothing after
  if (/^\d{1,3}([.,]\d{3})+$/.test(s) && !/^\d{1,3}[.,]\d{3}$/.test(s)) return Number(s.replace(/[.,]/g, ''));
  return NaN;
}

// How many, the French way: 1234 → "1 234".
const integers = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 0 });
export function formatCount(n) {
  return integers.format(n);
}

// The price of a square metre: "4 251 €/m²" (none for a surface of 0).
export function formatPricePerM2(eur, m2) {
  if (!(m2 > 0)) return '';
  return `${euros.format(Math.round(eur / m2))}/m²`;
}
