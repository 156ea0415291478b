// Clicks on the map: a point being picked for "which grid am I in", else a
// component (a cluster zooms in), else the finest grid shown there; a click
// outside every grid clears the selection. The pointer shows what is clickable.

import { api } from './api.js';
import { reportFailure } from './dom.js';
import { finestShownLevel } from './context.js';

const COMPONENT_LAYERS = ['component-points', 'component-clusters'];

/** Sends the map's clicks to `where` (while picking) or `selection`. */
export function wireClicks(ctx, { selection, where }) {
  const { map, view } = ctx;
  map.on('click', async (e) => {
    const { lng, lat } = e.lngLat;
    if (where.picking()) return where.pick(e.lngLat);
    const r = 6;
    // Component points are invisible under the thematic map: clicks mean grids.
    const layers = view.choropleth ? [] : COMPONENT_LAYERS.filter((id) => map.getLayer(id));
    const box = [
      [e.point.x - r, e.point.y - r],
      [e.point.x + r, e.point.y + r],
    ];
    const hit = layers.length ? map.queryRenderedFeatures(box, { layers })[0] : undefined;
    if (hit?.properties.cluster) {
      map.easeTo({ center: hit.geometry.coordinates, zoom: Math.min(map.getZoom() + 2, 19) });
      return;
    }
    if (hit) return selection.component(String(hit.properties.code));
    try {
      const found = await api.lookup(lng, lat, 'EPSG:4326');
      if (!found.inside) return selection.clear();
      const level = finestShownLevel(ctx);
      const grid = found.chain.find((c) => c.level === level) ?? found.chain.at(-1);
      selection.grid(grid.code);
    } catch (err) {
      reportFailure(err);
    }
  });
  for (const id of COMPONENT_LAYERS) {
    map.on('mouseenter', id, () => (map.getCanvas().style.cursor = 'pointer'));
    map.on('mouseleave', id, () => (map.getCanvas().style.cursor = where.picking() ? 'crosshair' : ''));
  }
}
