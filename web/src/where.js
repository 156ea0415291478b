// "Which grid am I in": the card that looks up a point typed in WGS84, GCJ-02
// or BD-09, the browser's location or a point picked on the map, marks it,
// lists its grid chain and selects its unit grid (or the nearest one).

import { api } from './api.js';
import { $ } from './dom.js';
import { t } from './i18n.js';
import { markHere } from './map.js';
import { lookupResult } from './panels.js';

/**
 * Wires the card. Returns picking() (whether the next map click is a point
 * to look up) and pick(lngLat), which looks that click up and ends picking.
 */
export function createWhere({ map }, selection) {
  const status = $('where-status');
  /** Whether the next click on the map is the point to look up. */
  let picking = false;
  const flyToGrid = (code) => selection.grid(code, { fly: true });

  function setPicking(on) {
    picking = on;
    $('where-pick').setAttribute('aria-pressed', String(on));
    map.getCanvas().style.cursor = on ? 'crosshair' : '';
    if (on) status.replaceChildren(t('where.pick.hint'));
  }

  async function lookUp(lon, lat, crs) {
    try {
      const r = await api.lookup(lon, lat, crs);
      markHere(map, [r.lon, r.lat]);
      status.replaceChildren(lookupResult(r, flyToGrid));
      map.flyTo({ center: [r.lon, r.lat], zoom: Math.max(map.getZoom(), 16), speed: 2 });
      const unit = r.inside ? r.grid.code : r.nearest?.code;
      if (unit) selection.grid(unit);
    } catch (e) {
      status.replaceChildren(t(e.status ? 'error.server' : 'error.network', { detail: e.message }));
    }
  }

  function locate() {
    if (!window.isSecureContext) {
      status.replaceChildren(t('where.insecure'));
      return;
    }
    if (!navigator.geolocation) {
      status.replaceChildren(t('where.unsupported'));
      return;
    }
    status.replaceChildren(t('where.locating'));
    navigator.geolocation.getCurrentPosition(
      (pos) => {
        $('where-lon').value = pos.coords.longitude.toFixed(6);
        $('where-lat').value = pos.coords.latitude.toFixed(6);
        $('where-crs').value = 'EPSG:4326';
        lookUp(pos.coords.longitude, pos.coords.latitude, 'EPSG:4326');
      },
      (err) => status.replaceChildren(t('where.denied', { reason: err.message || err.code })),
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 },
    );
  }

  function submit(e) {
    e.preventDefault();
    const lon = Number($('where-lon').value.trim());
    const lat = Number($('where-lat').value.trim());
    const typed = $('where-lon').value.trim() && $('where-lat').value.trim();
    if (!typed || !Number.isFinite(lon) || !Number.isFinite(lat) || Math.abs(lon) > 180 || Math.abs(lat) > 90) {
      status.replaceChildren(t('where.bad'));
      return;
    }
    lookUp(lon, lat, $('where-crs').value);
  }

  $('btn-where').addEventListener('click', () => {
    const open = $('where').hidden;
    $('where').hidden = !open;
    $('btn-where').setAttribute('aria-pressed', String(open));
    if (!open) setPicking(false);
  });
  $('where-pick').addEventListener('click', () => setPicking(!picking));
  $('where-gps').addEventListener('click', locate);
  $('where-form').addEventListener('submit', submit);

  return {
    picking: () => picking,
    pick({ lng, lat }) {
      setPicking(false);
      lookUp(lng, lat, 'EPSG:4326');
    },
  };
}
