// Signing in: the button in the bar opens a card where a token is pasted;
// the server says whose it is (GET /whoami) and the page reloads with it, so
// the map, the panels and the counts show what that role may read (a grid
// worker: the components of their own grids; workers' names only to roles
// that may see them). Signing out forgets the token.

import { ApiError, api } from './api.js';
import { $, el } from './dom.js';
import { t } from './i18n.js';
import { setToken, token } from './token.js';

/**
 * Asks the server who the stored token is. A token the server refuses
 * (expired, revoked) is forgotten; the page goes on as the public and says
 * why. Returns the principal (the public without a token).
 */
export async function whoAmI() {
  try {
    return await api.whoami();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401 && token()) {
      setToken('');
      const why = e.message;
      const p = await api.whoami().catch(() => ({ role: 'public', name: 'anonymous' }));
      return { ...p, refused: why };
    }
    throw e;
  }
}

/** Wires the sign-in button and card for `me` (from whoAmI); returns relabel(). */
export function createSignin(me) {
  const card = $('signin');
  const status = $('signin-status');

  function render() {
    const signedIn = me.role !== 'public';
    $('btn-signin').textContent = signedIn ? `${me.name} · ${t(`role.${me.role}`)}` : t('auth.signin');
    $('signin-form').hidden = signedIn;
    $('signin-out').hidden = !signedIn;
    $('signin-hint').hidden = signedIn;
    $('signin-who').replaceChildren(
      signedIn
        ? el('span', {}, t('auth.as', { name: me.name, role: t(`role.${me.role}`) }))
        : el('span', { class: 'muted' }, t('auth.public')),
    );
    if (me.refused) status.textContent = t('auth.refused', { detail: me.refused });
  }

  $('btn-signin').addEventListener('click', () => {
    const open = card.hidden;
    card.hidden = !open;
    $('btn-signin').setAttribute('aria-expanded', String(open));
    if (open && !$('signin-form').hidden) $('signin-token').focus();
  });
  $('signin-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const value = $('signin-token').value.trim();
    if (!value) {
      status.textContent = t('auth.empty');
      return;
    }
    status.textContent = t('auth.checking');
    try {
      const who = await api.whoami(value);
      setToken(value);
      status.textContent = t('auth.as', { name: who.name, role: t(`role.${who.role}`) });
      location.reload();
    } catch (e) {
      status.textContent = t('auth.refused', { detail: e.message });
    }
  });
  $('signin-out').addEventListener('click', () => {
    setToken('');
    location.reload();
  });
  render();
  return render;
}
