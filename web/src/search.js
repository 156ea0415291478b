// The search box: grid and component codes and names, and component classes,
// listed as the user types (150 ms after the last key). Arrow keys move in
// the list, Enter takes the marked hit (the first if none is); a grid or a
// component is selected and flown to, a class opens the thematic map.

import { api } from './api.js';
import { $, el, reportFailure } from './dom.js';
import { number, t } from './i18n.js';
import { drawnLevel } from './context.js';

/** Wires the search box to `selection` and `thematic`. */
export function wireSearch(ctx, { selection, thematic }) {
  const input = $('search');
  const results = $('search-results');
  /**
   * abort: stops the search in flight; timer: the search waiting for typing
   * to pause; hits: those of the last search listed; active: the marked
   * one's index, -1 for none.
   */
  const state = { abort: undefined, timer: undefined, hits: undefined, active: -1 };

  function choose(hit) {
    results.hidden = true;
    input.value = hit.code;
    if (hit.kind === 'class') thematic.set(ctx.view.choropleth?.level ?? drawnLevel(ctx), hit.code);
    else if (hit.kind === 'component') selection.component(hit.code, { fly: true });
    else selection.grid(hit.code, { fly: true });
  }

  function option(h, i) {
    return el(
      'li',
      { role: 'option', id: `hit-${i}`, dataset: { code: h.code, kind: h.kind }, onclick: () => choose(h) },
      el('span', { class: 'kind' }, t(`search.kind.${h.kind}`)),
      el('span', { class: 'name' }, h.name),
      el('span', { class: 'code' }, h.code),
      h.kind === 'grid' ? el('span', { class: 'detail' }, t(`level.${h.detail}`)) : null,
      h.kind === 'class' ? el('span', { class: 'detail' }, number(h.count)) : null,
    );
  }

  async function run() {
    const q = input.value.trim();
    state.abort?.abort();
    if (!q) {
      results.hidden = true;
      return;
    }
    state.abort = new AbortController();
    try {
      const { hits } = await api.search(q, state.abort.signal);
      const none = el('li', { class: 'none' }, t('search.none', { q }));
      results.replaceChildren(...(hits.length ? hits.map(option) : [none]));
      results.hidden = false;
      state.hits = hits;
      state.active = -1;
    } catch (e) {
      reportFailure(e);
    }
  }

  /** Moves the mark down (+1) or up (-1), wrapping around. */
  function move(step) {
    const n = state.hits?.length ?? 0;
    if (!n) return;
    state.active = (state.active + (step > 0 ? 1 : n - 1) + (state.active < 0 ? 1 : 0)) % n;
    for (const li of results.children) li.classList.toggle('active', li.id === `hit-${state.active}`);
  }

  input.addEventListener('input', () => {
    clearTimeout(state.timer);
    state.timer = setTimeout(run, 150);
  });
  input.addEventListener('keydown', async (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      clearTimeout(state.timer);
      if (results.hidden || !state.hits) await run();
      const hit = state.hits?.[Math.max(state.active, 0)];
      if (hit) choose(hit);
    } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      move(e.key === 'ArrowDown' ? 1 : -1);
    } else if (e.key === 'Escape') results.hidden = true;
  });
  document.addEventListener('click', (e) => {
    if (!$('search-box').contains(e.target)) results.hidden = true;
  });
}
