// token.js — the API token the pages send with every request (Authorization: Bearer),
// kept in this tab's sessionStorage only (it ends with the tab), and the small form in the
// page header that sets and forgets it. Without a token the pages send none: reads are
// public, and writes work from this machine while listingd has no token at all.

const KEY = 'listingd-token';

export function currentToken() {
  try {
    return sessionStorage.getItem(KEY) || '';
  } catch {
    return '';  // storage turned off: no token
  }
}

function store(token) {
  try {
    if (token) sessionStorage.setItem(KEY, token);
    else sessionStorage.removeItem(KEY);
    return true;
  } catch {
    return false;
  }
}

// Wires the header's token form (#token-form): "Use" keeps the token typed in, "Forget"
// drops it; the status line says which is in force.
export function setupTokenForm() {
  const form = document.getElementById('token-form');
  if (!form) return;
  const input = form.querySelector('#api-token');
  const status = form.querySelector('#api-token-status');
  // Until a write is refused (401), the page cannot know whether the server has tokens:
  // it says what holds either way, then what the refusal showed.
  let serverHasTokens = false;
  let tokenRefused = false;  // the tab's token, refused since it was set
  const say = () => {
    if (currentToken()) {
      status.textContent = tokenRefused
        ? 'The server refused this tab\'s token (revoked, or mistyped?): paste another one.'
        : 'A token is set for this tab.';
    } else {
      status.textContent = serverHasTokens
        ? 'This server has tokens: writes need one. Paste it here (listingd token create prints one).'
        : 'No token set for this tab: writes work from this machine while the server has no token, and need one once it has.';
    }
  };
  window.addEventListener('listingd:token-refused', () => {
    serverHasTokens = true;
    tokenRefused = Boolean(currentToken());
    say();
    form.closest('details')?.setAttribute('open', '');
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) {
      status.textContent = 'Paste a token first (listingd token create prints one).';
      return;
    }
    if (!store(token)) {
      status.textContent = 'This browser keeps no data for this page: the token cannot be kept.';
      return;
    }
    input.value = '';
    tokenRefused = false;
    say();
  });
  form.querySelector('#api-token-forget').addEventListener('click', () => {
    store('');
    input.value = '';
    say();
  });
  say();
}
