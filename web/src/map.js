// The MapLibre map over wangge's style and tiles, and the layers the viewer
// adds to it: thematic fill, highlight of the selected feature, the looked-up
// point. Everything comes from this server; nothing from the internet.

import * as maplibregl from './vendor/maplibre-gl.mjs';
import { authHeaders, ownServer } from './token.js';

/** Grid levels, coarse to fine, as the tiles name their layers. */
export const LEVELS = ['district', 'street', 'community', 'unit'];

const EMPTY = { type: 'FeatureCollection', features: [] };

/**
 * Creates the map in `container` with the server's style. Chinese labels are
 * drawn by the browser from its own CJK fonts (`localIdeographFontFamily`);
 * Latin letters and digits come from the server's glyphs at /fonts.
 */
export function createMap(container, { center, zoom, bounds }) {
  const map = new maplibregl.Map({
    container,
    style: '/styles/wangge.json',
    center: center ?? [(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2],
    zoom: zoom ?? 12,
    maxZoom: 19,
    localIdeographFontFamily:
      "'Noto Sans CJK SC', 'Source Han Sans SC', 'Microsoft YaHei', 'PingFang SC', 'WenQuanYi Micro Hei', sans-serif",
    attributionControl: false,
    dragRotate: false,
    pitchWithRotate: false,
    touchPitch: false,
    // Tiles and the style carry the signed-in token: a scoped reader's
    // tiles hold only what they may read.
    transformRequest: (url) => {
      const headers = authHeaders();
      return headers.Authorization && ownServer(url) ? { url, headers } : undefined;
    },
  });
  if (zoom === undefined && center === undefined) {
    map.fitBounds(
      [
        [bounds[0], bounds[1]],
        [bounds[2], bounds[3]],
      ],
      { padding: 40, animate: false },
    );
  }
  map.touchZoomRotate.disableRotation();
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'bottom-right');
  map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-left');
  return map;
}

/** Adds the viewer's own sources and layers once the style has loaded. */
export function addOverlays(map) {
  map.addSource('wg-highlight', { type: 'geojson', data: EMPTY });
  map.addSource('wg-here', { type: 'geojson', data: EMPTY });
  const above = map.getLayer('component-clusters') ? 'component-clusters' : undefined;
  map.addLayer(
    {
      id: 'wg-highlight-fill',
      type: 'fill',
      source: 'wg-highlight',
      filter: ['==', ['geometry-type'], 'Polygon'],
      paint: { 'fill-color': '#ffd400', 'fill-opacity': 0.25 },
    },
    above,
  );
  map.addLayer(
    {
      id: 'wg-highlight-line',
      type: 'line',
      source: 'wg-highlight',
      filter: ['==', ['geometry-type'], 'Polygon'],
      layout: { 'line-join': 'round' },
      paint: { 'line-color': '#e65c00', 'line-width': 3 },
    },
    above,
  );
  map.addLayer({
    id: 'wg-highlight-point',
    type: 'circle',
    source: 'wg-highlight',
    filter: ['==', ['geometry-type'], 'Point'],
    paint: {
      'circle-radius': 11,
      'circle-color': 'rgba(0,0,0,0)',
      'circle-stroke-color': '#e65c00',
      'circle-stroke-width': 3,
    },
  });
  map.addLayer({
    id: 'wg-here',
    type: 'circle',
    source: 'wg-here',
    paint: {
      'circle-radius': 7,
      'circle-color': '#d7263d',
      'circle-stroke-color': '#ffffff',
      'circle-stroke-width': 2.5,
    },
  });
}

/**
 * Scales the style's label sizes by `factor` (wall screens viewed from afar).
 * Sizes that depend on the zoom are left alone (a zoom expression must stay
 * at the top level).
 */
export function scaleLabels(map, factor) {
  if (Math.abs(factor - 1) < 0.05) return;
  for (const layer of map.getStyle().layers) {
    if (layer.type !== 'symbol') continue;
    const size = map.getLayoutProperty(layer.id, 'text-size') ?? 16;
    if (JSON.stringify(size).includes('"zoom"')) continue;
    map.setLayoutProperty(layer.id, 'text-size', ['*', factor, size]);
  }
}

/** Highlights a GeoJSON feature (a grid or a component); null clears it. */
export function highlight(map, feature) {
  map.getSource('wg-highlight').setData(feature ? { type: 'FeatureCollection', features: [feature] } : EMPTY);
}

/** Marks the looked-up point (WGS84); null clears it. */
export function markHere(map, lonlat) {
  map
    .getSource('wg-here')
    .setData(lonlat ? { type: 'Feature', properties: {}, geometry: { type: 'Point', coordinates: lonlat } } : EMPTY);
}

/** The bounding box [[w, s], [e, n]] of a GeoJSON geometry. */
export function bbox(geometry) {
  let w = Infinity;
  let s = Infinity;
  let e = -Infinity;
  let n = -Infinity;
  const walk = (c) => {
    if (typeof c[0] === 'number') {
      w = Math.min(w, c[0]);
      e = Math.max(e, c[0]);
      s = Math.min(s, c[1]);
      n = Math.max(n, c[1]);
    } else c.forEach(walk);
  };
  walk(geometry.coordinates);
  return [
    [w, s],
    [e, n],
  ];
}

/**
 * Layer toggles. The style's layers are grouped by what they draw: a grid
 * level (its `source-layer`) or the components (filtered by major class).
 */
export class Toggles {
  constructor(map) {
    this.map = map;
    this.base = new Map();
    for (const layer of map.getStyle().layers) {
      if (layer.source === 'components' || layer['source-layer'] === 'grid_labels') {
        this.base.set(layer.id, map.getFilter(layer.id) ?? null);
      }
    }
  }

  /** The `circle-color` of each component major class, from the style. */
  majorColors() {
    const expr = this.map.getPaintProperty('component-points', 'circle-color');
    const colors = new Map();
    if (Array.isArray(expr) && expr[0] === 'match') {
      for (let i = 2; i + 1 < expr.length; i += 2) colors.set(String(expr[i]), expr[i + 1]);
      colors.set('*', expr[expr.length - 1]);
    }
    return colors;
  }

  /** The line colour a grid level is drawn with. */
  levelColor(level) {
    const layer = this.map.getStyle().layers.find((l) => l['source-layer'] === level && l.type === 'line');
    const c = layer && this.map.getPaintProperty(layer.id, 'line-color');
    return typeof c === 'string' ? c : '#808080';
  }

  /** Shows or hides every component layer (the thematic map replaces them). */
  showComponents(on) {
    for (const layer of this.map.getStyle().layers) {
      if (layer.source === 'components') this.map.setLayoutProperty(layer.id, 'visibility', on ? 'visible' : 'none');
    }
  }

  /** Shows only what `hidden` (levels and two-digit major codes) leaves on. */
  apply(hidden) {
    const levels = LEVELS.filter((l) => hidden.has(l));
    const majors = [...hidden].filter((h) => /^\d{2}$/.test(h));
    for (const layer of this.map.getStyle().layers) {
      if (LEVELS.includes(layer['source-layer'])) {
        this.map.setLayoutProperty(layer.id, 'visibility', hidden.has(layer['source-layer']) ? 'none' : 'visible');
      }
    }
    for (const [id, base] of this.base) {
      const isLabel = this.map.getLayer(id)?.sourceLayer === 'grid_labels';
      const off = isLabel ? levels : majors;
      const key = isLabel ? 'level' : 'major';
      const keep = off.length ? ['!', ['in', ['get', key], ['literal', off]]] : null;
      const filter = base && keep ? ['all', base, keep] : (base ?? keep);
      this.map.setFilter(id, filter);
    }
  }
}

/**
 * The thematic fill: one layer over the grids of `level`, coloured by
 * `color` (a MapLibre expression), drawn under the grid lines.
 */
export function showChoropleth(map, level, color) {
  hideChoropleth(map);
  const before = map.getStyle().layers.find((l) => l.type === 'line' && LEVELS.includes(l['source-layer']));
  map.addLayer(
    {
      id: 'wg-choropleth',
      type: 'fill',
      source: 'grids',
      'source-layer': level,
      paint: { 'fill-color': color, 'fill-opacity': 0.8 },
    },
    before?.id,
  );
}

/** Removes the thematic fill. */
export function hideChoropleth(map) {
  if (map.getLayer('wg-choropleth')) map.removeLayer('wg-choropleth');
}
