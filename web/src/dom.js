// Small DOM helpers. Text from the server is always set as text, never as HTML.

import { t } from './i18n.js';

/** The page's element with this id. */
export const $ = (id) => document.getElementById(id);

/** Creates an element: el('li', {class: 'x', onclick: f}, 'text', child...). */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

/** A definition list from [label, value] rows, skipping empty values. */
export function facts(rows) {
  return el(
    'dl',
    { class: 'facts' },
    rows
      .filter(([, v]) => v !== undefined && v !== null && v !== '')
      .map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]),
  );
}

/** Shows a message in the page's alert line for a few seconds. */
export function showError(message) {
  const box = document.getElementById('error');
  box.textContent = message;
  box.hidden = false;
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => (box.hidden = true), 8000);
}

/** Reports a failed request in the alert line (network or server error); an aborted one is not. */
export function reportFailure(e) {
  if (e.name === 'AbortError') return;
  showError(e.status ? t('error.server', { detail: e.message }) : t('error.network', { detail: e.message }));
}
