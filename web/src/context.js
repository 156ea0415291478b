// The state the viewer's modules share, in one object handed to each of them
// (no module reads a global; window.wangge shows the map and the view to the
// browser tests only): what the server said about the data, the map, and the
// view the URL keeps. Each module keeps its own private state (the open
// panel, a search in flight, ...) to itself.

import { LEVELS, Toggles } from './map.js';

/**
 * The shared state, once the map has loaded:
 *   map, toggles   the MapLibre map and its layer switches (map.js);
 *   view           the view the URL keeps (state.js): centre, zoom, hidden
 *                  layers, language, thematic map, selection. Modules change
 *                  it, then call saveView (url.js);
 *   levels         the grid levels the tiles have, coarse to fine;
 *   minzoom        level -> first zoom its tiles are drawn at;
 *   classList      `GET /classes` as it came; classes: class code -> class.
 * Everything but `view` is read only.
 */
export function createContext({ map, view, tilejson, classList }) {
  const minzoom = new Map(tilejson.vector_layers.map((l) => [l.id, l.minzoom ?? 0]));
  return {
    map,
    toggles: new Toggles(map),
    view,
    levels: LEVELS.filter((l) => minzoom.has(l)),
    minzoom,
    classList,
    classes: new Map(classList.classes.map((c) => [c.code, c])),
  };
}

/** The finest level the tiles draw at the current zoom. */
export function drawnLevel({ map, levels, minzoom }) {
  return levels.filter((l) => map.getZoom() >= minzoom.get(l)).at(-1) ?? levels[0];
}

/** The finest level drawn at the current zoom and not switched off in the legend. */
export function finestShownLevel(ctx) {
  const { map, levels, minzoom, view } = ctx;
  const z = map.getZoom();
  return levels.filter((l) => !view.hidden.has(l) && z >= minzoom.get(l)).at(-1) ?? drawnLevel(ctx);
}
