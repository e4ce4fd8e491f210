// dom.js — one small helper to build DOM elements in code. Text always goes in as text
// (textContent), never as HTML, so data from the API cannot inject markup or script.

// h('a', {href: '/1/prices', class: 'card-link'}, 'Studio') builds <a ...>Studio</a>.
// Props: `class`, `text`, on<event> listeners, `hidden`/`disabled`-style booleans, and any
// other attribute. Children: nodes or strings; null, undefined and false are skipped.
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

// Shows a plain message in a status element (loading, empty, error) and marks its kind,
// which the stylesheet colours. An empty text hides it.
export function showStatus(el, kind, text, ...extra) {
  el.replaceChildren(text, ...extra);
  el.dataset.kind = kind;
  el.hidden = !text;
}
