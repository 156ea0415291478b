// Keeps the view in the page's URL fragment (its format: state.js), so that
// a link reproduces it. The history entry is replaced, not added to.

import { writeView } from './state.js';

/** Writes `view` into the URL. */
export function saveView(view) {
  history.replaceState(null, '', writeView(view));
}

/** Keeps the map's centre and zoom in the view and the URL after each move. */
export function followMap({ map, view }) {
  map.on('moveend', () => {
    const c = map.getCenter();
    view.center = [c.lng, c.lat];
    view.zoom = map.getZoom();
    saveView(view);
  });
}
