// The wangge viewer: wires the map, the legend, search, "which grid am I in",
// the thematic map and the information panel, and keeps the view in the URL.

import { api } from './api.js';
import { classify, fillColor } from './choropleth.js';
import { el, showError } from './dom.js';
import { language, majorName, number, setLanguage, t } from './i18n.js';
import {
  LEVELS,
  Toggles,
  addOverlays,
  bbox,
  createMap,
  hideChoropleth,
  highlight,
  markHere,
  scaleLabels,
  showChoropleth,
} from './map.js';
import { closePanel, componentPanel, gridPanel, lookupResult } from './panels.js';
import { readView, writeView } from './state.js';

const $ = (id) => document.getElementById(id);
const view = readView(location.hash);
setLanguage(view.lang);

/** Reports a failed request in the alert line (network or server error). */
function failed(e) {
  if (e.name === 'AbortError') return;
  showError(e.status ? t('error.server', { detail: e.message }) : t('error.network', { detail: e.message }));
}

function saveView() {
  history.replaceState(null, '', writeView(view));
}

async function start() {
  const [tilejson, classList] = await Promise.all([api.tilejson(), api.classes()]);
  const minzoom = new Map(tilejson.vector_layers.map((l) => [l.id, l.minzoom ?? 0]));
  const levels = LEVELS.filter((l) => minzoom.has(l));
  const classes = new Map(classList.classes.map((c) => [c.code, c]));
  const map = createMap('map', { center: view.center, zoom: view.zoom, bounds: tilejson.bounds });
  Object.assign(window.wangge, { map, view });
  await map.once('load');
  addOverlays(map);
  scaleLabels(map, parseFloat(getComputedStyle(document.documentElement).getPropertyValue('--label-scale')) || 1);
  const toggles = new Toggles(map);

  // ---- selection: a grid or a component in the panel, highlighted on the map
  /** Redraws the open panel from the data it was drawn with (a language switch). */
  let redrawPanel = null;
  function showSelection(code, feature, draw) {
    highlight(map, feature);
    redrawPanel = draw;
    draw();
    view.selected = code;
    saveView();
  }

  async function selectGrid(code, { fly = false } = {}) {
    try {
      const [grid, stats] = await Promise.all([api.grid(code), api.gridStats(code)]);
      if (fly) map.fitBounds(bbox(grid.geometry), { padding: 60, maxZoom: 17 });
      showSelection(code, grid, () => gridPanel(grid, stats, classes, (c) => selectGrid(c, { fly: true })));
    } catch (e) {
      failed(e);
    }
  }

  async function selectComponent(code, { fly = false } = {}) {
    try {
      const f = await api.component(code);
      if (fly) map.flyTo({ center: f.geometry.coordinates, zoom: Math.max(map.getZoom(), 17.5), speed: 2 });
      showSelection(code, f, () => componentPanel(f, (c) => selectGrid(c, { fly: true })));
    } catch (e) {
      failed(e);
    }
  }

  /**
   * Selects a code from a link, where its kind is not said: the server's
   * search tells a grid from a component (code lengths depend on the
   * deployment's scheme, so they are not used to tell).
   */
  async function selectCode(code, opts) {
    try {
      const hit = (await api.search(code)).hits.find((h) => h.code === code && h.kind !== 'class');
      if (hit?.kind === 'component') return selectComponent(code, opts);
      if (hit) return selectGrid(code, opts);
    } catch (e) {
      failed(e);
    }
  }

  function clearSelection() {
    redrawPanel = null;
    highlight(map, null);
    closePanel();
    delete view.selected;
    saveView();
  }
  $('panel-close').addEventListener('click', clearSelection);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && e.target === document.body) clearSelection();
  });

  // ---- legend: one toggle per grid level and per component major class
  const majorColors = toggles.majorColors();
  function toggleItem(key, label, swatch, count) {
    const input = el('input', { type: 'checkbox', dataset: { key }, checked: !view.hidden.has(key) });
    input.addEventListener('change', () => {
      if (input.checked) view.hidden.delete(key);
      else view.hidden.add(key);
      toggles.apply(view.hidden);
      saveView();
    });
    return el('li', {}, el('label', {}, input, swatch, el('span', { class: 'name' }, label), count));
  }
  function renderLegend() {
    $('legend-levels').replaceChildren(
      ...levels.map((l) =>
        toggleItem(l, t(`level.${l}`), el('i', { class: `swatch line ${l}`, style: `--c:${toggles.levelColor(l)}` })),
      ),
    );
    $('legend-majors').replaceChildren(
      ...classList.majors
        .filter((m) => m.count > 0)
        .map((m) =>
          toggleItem(
            m.code,
            majorName(m.code, m.name),
            el('i', { class: 'swatch dot', style: `--c:${majorColors.get(m.code) ?? majorColors.get('*')}` }),
            el('span', { class: 'count' }, number(m.count)),
          ),
        ),
    );
    for (const input of $('legend-majors').querySelectorAll('input')) input.disabled = Boolean(view.choropleth);
  }
  renderLegend();
  toggles.apply(view.hidden);
  $('btn-legend').addEventListener('click', () => {
    const open = document.body.classList.toggle('legend-open');
    $('btn-legend').setAttribute('aria-expanded', String(open));
  });

  // ---- clicks on the map
  let picking = false;
  /** The finest level the tiles draw at the current zoom. */
  const drawnLevel = () => levels.filter((l) => map.getZoom() >= minzoom.get(l)).at(-1) ?? levels[0];
  function finestShownLevel() {
    const z = map.getZoom();
    return levels.filter((l) => !view.hidden.has(l) && z >= minzoom.get(l)).at(-1) ?? drawnLevel();
  }
  map.on('click', async (e) => {
    const { lng, lat } = e.lngLat;
    if (picking) {
      setPicking(false);
      whichGrid(lng, lat, 'EPSG:4326');
      return;
    }
    const r = 6;
    // Component points are invisible under the thematic map: clicks mean grids.
    const layers = view.choropleth ? [] : ['component-points', 'component-clusters'].filter((id) => map.getLayer(id));
    const box = [
      [e.point.x - r, e.point.y - r],
      [e.point.x + r, e.point.y + r],
    ];
    const hit = layers.length ? map.queryRenderedFeatures(box, { layers })[0] : undefined;
    if (hit?.properties.cluster) {
      map.easeTo({ center: hit.geometry.coordinates, zoom: Math.min(map.getZoom() + 2, 19) });
      return;
    }
    if (hit) return selectComponent(String(hit.properties.code));
    try {
      const found = await api.lookup(lng, lat, 'EPSG:4326');
      if (!found.inside) return clearSelection();
      const level = finestShownLevel();
      const grid = found.chain.find((c) => c.level === level) ?? found.chain.at(-1);
      selectGrid(grid.code);
    } catch (err) {
      failed(err);
    }
  });
  for (const id of ['component-points', 'component-clusters']) {
    map.on('mouseenter', id, () => (map.getCanvas().style.cursor = 'pointer'));
    map.on('mouseleave', id, () => (map.getCanvas().style.cursor = picking ? 'crosshair' : ''));
  }

  // ---- search
  let searchAbort;
  let searchTimer;
  const results = $('search-results');
  function choose(hit) {
    results.hidden = true;
    $('search').value = hit.code;
    if (hit.kind === 'class') {
      setChoropleth(view.choropleth?.level ?? drawnLevel(), hit.code);
    } else if (hit.kind === 'component') selectComponent(hit.code, { fly: true });
    else selectGrid(hit.code, { fly: true });
  }
  async function runSearch() {
    const q = $('search').value.trim();
    searchAbort?.abort();
    if (!q) {
      results.hidden = true;
      return;
    }
    searchAbort = new AbortController();
    try {
      const { hits } = await api.search(q, searchAbort.signal);
      results.replaceChildren(
        ...(hits.length
          ? hits.map((h, i) =>
              el(
                'li',
                { role: 'option', id: `hit-${i}`, dataset: { code: h.code, kind: h.kind }, onclick: () => choose(h) },
                el('span', { class: 'kind' }, t(`search.kind.${h.kind}`)),
                el('span', { class: 'name' }, h.name),
                el('span', { class: 'code' }, h.code),
                h.kind === 'grid' ? el('span', { class: 'detail' }, t(`level.${h.detail}`)) : null,
                h.kind === 'class' ? el('span', { class: 'detail' }, number(h.count)) : null,
              ),
            )
          : [el('li', { class: 'none' }, t('search.none', { q }))]),
      );
      results.hidden = false;
      results.hits = hits;
      results.active = -1;
    } catch (e) {
      failed(e);
    }
  }
  $('search').addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(runSearch, 150);
  });
  $('search').addEventListener('keydown', async (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      clearTimeout(searchTimer);
      if (results.hidden || !results.hits) await runSearch();
      const hit = results.hits?.[Math.max(results.active, 0)];
      if (hit) choose(hit);
    } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      const n = results.hits?.length ?? 0;
      if (!n) return;
      results.active = (results.active + (e.key === 'ArrowDown' ? 1 : n - 1) + (results.active < 0 ? 1 : 0)) % n;
      for (const li of results.children) li.classList.toggle('active', li.id === `hit-${results.active}`);
    } else if (e.key === 'Escape') results.hidden = true;
  });
  document.addEventListener('click', (e) => {
    if (!$('search-box').contains(e.target)) results.hidden = true;
  });

  // ---- which grid am I in
  const status = $('where-status');
  function setPicking(on) {
    picking = on;
    $('where-pick').setAttribute('aria-pressed', String(on));
    map.getCanvas().style.cursor = on ? 'crosshair' : '';
    if (on) status.replaceChildren(t('where.pick.hint'));
  }
  async function whichGrid(lon, lat, crs) {
    try {
      const r = await api.lookup(lon, lat, crs);
      markHere(map, [r.lon, r.lat]);
      status.replaceChildren(lookupResult(r, (c) => selectGrid(c, { fly: true })));
      map.flyTo({ center: [r.lon, r.lat], zoom: Math.max(map.getZoom(), 16), speed: 2 });
      const unit = r.inside ? r.grid.code : r.nearest?.code;
      if (unit) selectGrid(unit);
    } catch (e) {
      status.replaceChildren(t(e.status ? 'error.server' : 'error.network', { detail: e.message }));
    }
  }
  $('btn-where').addEventListener('click', () => {
    const open = $('where').hidden;
    $('where').hidden = !open;
    $('btn-where').setAttribute('aria-pressed', String(open));
    if (!open) setPicking(false);
  });
  $('where-pick').addEventListener('click', () => setPicking(!picking));
  $('where-gps').addEventListener('click', () => {
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
        whichGrid(pos.coords.longitude, pos.coords.latitude, 'EPSG:4326');
      },
      (err) => status.replaceChildren(t('where.denied', { reason: err.message || err.code })),
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 },
    );
  });
  $('where-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const lon = Number($('where-lon').value.trim());
    const lat = Number($('where-lat').value.trim());
    const typed = $('where-lon').value.trim() && $('where-lat').value.trim();
    if (!typed || !Number.isFinite(lon) || !Number.isFinite(lat) || Math.abs(lon) > 180 || Math.abs(lat) > 90) {
      status.replaceChildren(t('where.bad'));
      return;
    }
    whichGrid(lon, lat, $('where-crs').value);
  });

  // ---- thematic map
  function renderChoroplethPickers() {
    const { level, cls } = view.choropleth ?? { level: drawnLevel(), cls: '' };
    $('choro-level').replaceChildren(
      ...levels.map((l) => el('option', { value: l, selected: l === level }, t(`level.${l}`))),
    );
    const groups = classList.majors
      .filter((m) => m.count > 0)
      .map((m) =>
        el(
          'optgroup',
          { label: majorName(m.code, m.name) },
          el('option', { value: m.code, selected: m.code === cls }, `${m.code} ${majorName(m.code, m.name)}`),
          classList.classes
            .filter((c) => c.major === m.code && c.count > 0)
            .map((c) => el('option', { value: c.code, selected: c.code === cls }, `${c.code} ${c.name}`)),
        ),
      );
    $('choro-class').replaceChildren(el('option', { value: '' }, t('choro.all')), ...groups);
  }
  let choroRequest = 0;
  async function setChoropleth(level, cls) {
    view.choropleth = { level, cls };
    saveView();
    toggles.showComponents(false);
    for (const input of $('legend-majors').querySelectorAll('input')) input.disabled = true;
    $('choropleth').hidden = false;
    $('btn-choropleth').setAttribute('aria-pressed', 'true');
    renderChoroplethPickers();
    const mine = ++choroRequest;
    $('choro-status').replaceChildren(t('choro.loading'));
    try {
      const stats = await api.levelStats(level, cls);
      if (mine !== choroRequest) return;
      const grids = stats.grids.map((g) => ({ code: g.code, count: cls ? g.class_count : g.total }));
      const bins = classify(grids.map((g) => g.count));
      showChoropleth(map, level, fillColor(grids, bins));
      choroDrawn = { grids, bins };
      renderChoroplethLegend();
    } catch (e) {
      failed(e);
    }
  }
  /** The counts and classes the thematic map shows, for its legend. */
  let choroDrawn = null;
  function renderChoroplethLegend() {
    if (!choroDrawn) return;
    const { grids, bins } = choroDrawn;
    const total = grids.reduce((s, g) => s + g.count, 0);
    $('choro-legend').replaceChildren(
      ...bins.map((b) =>
        el(
          'li',
          { dataset: { min: b.min, max: b.max } },
          el('i', { class: 'swatch fill', style: `--c:${b.color}` }),
          el('span', {}, b.min === b.max ? number(b.min) : `${number(b.min)} – ${number(b.max)}`),
          el('span', { class: 'count' }, number(grids.filter((g) => g.count >= b.min && g.count <= b.max).length)),
        ),
      ),
    );
    $('choro-status').replaceChildren(t('choro.summary', { n: number(grids.length), total: number(total) }));
    zoomHint();
  }
  function clearChoropleth() {
    choroRequest++;
    choroDrawn = null;
    delete view.choropleth;
    zoomHint();
    hideChoropleth(map);
    toggles.showComponents(true);
    for (const input of $('legend-majors').querySelectorAll('input')) input.disabled = false;
    $('choropleth').hidden = true;
    $('btn-choropleth').setAttribute('aria-pressed', 'false');
    saveView();
  }
  $('btn-choropleth').addEventListener('click', () =>
    view.choropleth ? clearChoropleth() : setChoropleth(drawnLevel(), ''),
  );
  /** Says when the thematic level is not drawn at this zoom. */
  function zoomHint() {
    const level = view.choropleth?.level;
    const need = level ? minzoom.get(level) : 0;
    $('choro-zoom').hidden = !(level && map.getZoom() < need);
    if (level) $('choro-zoom').textContent = t('choro.zoomin', { level: t(`level.${level}`), z: need });
  }
  map.on('zoomend', zoomHint);
  $('choro-level').addEventListener('change', () => setChoropleth($('choro-level').value, $('choro-class').value));
  $('choro-class').addEventListener('change', () => setChoropleth($('choro-level').value, $('choro-class').value));

  // ---- language and the view in the URL
  $('btn-lang').addEventListener('click', () => {
    view.lang = language() === 'en' ? 'zh' : 'en';
    setLanguage(view.lang);
    // Only the text changes: nothing is fetched or drawn on the map again.
    renderLegend();
    if (view.choropleth) {
      renderChoroplethPickers();
      renderChoroplethLegend();
    }
    redrawPanel?.();
    saveView();
  });
  map.on('moveend', () => {
    const c = map.getCenter();
    view.center = [c.lng, c.lat];
    view.zoom = map.getZoom();
    saveView();
  });
  if (view.choropleth && levels.includes(view.choropleth.level)) {
    await setChoropleth(view.choropleth.level, view.choropleth.cls);
  } else delete view.choropleth;
  if (view.selected) await selectCode(view.selected, { fly: view.center === undefined });
  saveView();
  document.body.classList.add('ready');
}

window.wangge = {};
window.wangge.ready = start().catch((e) => {
  failed(e);
  throw e;
});
