// pictures.js — a placeholder picture per building type, drawn as inline SVG (nothing is
// fetched: the API has no photos). Decorative: hidden from screen readers, whose card
// already says the type.

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  el.append(...children);
  return el;
}

const rect = (x, y, width, height, cls) => svg('rect', { x, y, width, height, class: cls });

// Windows of a facade: `cols` × `rows` from (x, y), each w × h, `gap` apart.
function windows(x, y, cols, rows, w, hgt, gap) {
  const out = [];
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) out.push(rect(x + c * (w + gap), y + r * (hgt + gap), w, hgt, 'pic-window'));
  return out;
}

const DRAWINGS = {
  // A block of flats: a tall facade with rows of windows.
  APARTMENT: () => [
    rect(0, 0, 160, 90, 'pic-sky'),
    rect(0, 78, 160, 12, 'pic-ground'),
    rect(45, 12, 70, 68, 'pic-wall'),
    ...windows(53, 19, 4, 4, 9, 8, 6),
    rect(74, 66, 12, 14, 'pic-door'),
  ],
  // A house: walls, a pitched roof, a door and two windows.
  HOUSE: () => [
    rect(0, 0, 160, 90, 'pic-sky'),
    rect(0, 78, 160, 12, 'pic-ground'),
    rect(52, 44, 56, 36, 'pic-wall'),
    svg('polygon', { points: '44,46 80,18 116,46', class: 'pic-roof' }),
    rect(74, 58, 12, 22, 'pic-door'),
    ...windows(58, 52, 1, 1, 11, 10, 0),
    ...windows(91, 52, 1, 1, 11, 10, 0),
  ],
  // A studio: one room seen from inside, a window and a bed.
  STUDIO: () => [
    rect(0, 0, 160, 90, 'pic-room'),
    rect(0, 70, 160, 20, 'pic-floor'),
    rect(58, 16, 44, 34, 'pic-window'),
    rect(79, 16, 2, 34, 'pic-frame'),
    rect(20, 56, 50, 16, 'pic-bed'),
    rect(20, 50, 14, 8, 'pic-pillow'),
  ],
};

// The picture of a building type ("STUDIO", "APARTMENT", "HOUSE").
export function placeholderPicture(type) {
  const draw = DRAWINGS[type] || DRAWINGS.APARTMENT;
  return svg('svg', {
    class: `card-picture pic-${String(type).toLowerCase()}`, viewBox: '0 0 160 90',
    'aria-hidden': 'true', focusable: 'false', preserveAspectRatio: 'xMidYMid slice',
  }, ...draw());
}
