// The selection: one grid or component shown in the information panel and
// highlighted on the map, its code kept in the URL (`sel=`). The panel's
// close button and Escape clear it.

import { api } from './api.js';
import { $, reportFailure } from './dom.js';
import { bbox, highlight } from './map.js';
import { closePanel, componentPanel, gridPanel } from './panels.js';
import { saveView } from './url.js';

/**
 * Wires the panel and returns what selects: grid(code), component(code) and
 * code(code) (either kind), each with `{fly}` to move the map there; clear();
 * relabel() redraws the panel in the current language.
 */
export function createSelection(ctx) {
  const { map, view } = ctx;
  /** Redraws the open panel from the data it was drawn with; null when closed. */
  let redraw = null;
  const flyToGrid = (code) => grid(code, { fly: true });

  function show(code, feature, draw) {
    highlight(map, feature);
    redraw = draw;
    draw();
    view.selected = code;
    saveView(view);
  }

  async function grid(code, { fly = false } = {}) {
    try {
      const [g, stats] = await Promise.all([api.grid(code), api.gridStats(code)]);
      if (fly) map.fitBounds(bbox(g.geometry), { padding: 60, maxZoom: 17 });
      show(code, g, () => gridPanel(g, stats, ctx.classes, flyToGrid));
    } catch (e) {
      reportFailure(e);
    }
  }

  async function component(code, { fly = false } = {}) {
    try {
      const f = await api.component(code);
      if (fly) map.flyTo({ center: f.geometry.coordinates, zoom: Math.max(map.getZoom(), 17.5), speed: 2 });
      show(code, f, () => componentPanel(f, flyToGrid));
    } catch (e) {
      reportFailure(e);
    }
  }

  /**
   * Selects a code from a link, where its kind is not said: the server's
   * search tells a grid from a component (code lengths depend on the
   * deployment's scheme, so they are not used to tell).
   */
  async function code(c, opts) {
    try {
      const hit = (await api.search(c)).hits.find((h) => h.code === c && h.kind !== 'class');
      if (hit?.kind === 'component') return component(c, opts);
      if (hit) return grid(c, opts);
    } catch (e) {
      reportFailure(e);
    }
  }

  function clear() {
    redraw = null;
    highlight(map, null);
    closePanel();
    delete view.selected;
    saveView(view);
  }

  $('panel-close').addEventListener('click', clear);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && e.target === document.body) clear();
  });
  return { grid, component, code, clear, relabel: () => redraw?.() };
}
