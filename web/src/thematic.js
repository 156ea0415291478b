// The thematic map's controls: the button that shows or hides it, the card
// picking its grid level and component class (`choro=` in the URL), its
// legend of classes of values, and the hint to zoom in when that level is not
// drawn yet. The colours are worked out by choropleth.js.

import { api } from './api.js';
import { classify, fillColor } from './choropleth.js';
import { drawnLevel } from './context.js';
import { $, el, reportFailure } from './dom.js';
import { majorName, number, t } from './i18n.js';
import { hideChoropleth, showChoropleth } from './map.js';
import { saveView } from './url.js';

/**
 * Wires the controls. Returns set(level, cls) and clear(), which show and
 * hide the thematic map; restore(), which shows the one the view asks for
 * (if the level exists); relabel(), which redraws the card's texts.
 */
export function createThematic(ctx, legend) {
  const { map, toggles, view, levels, minzoom, classList } = ctx;
  /** Numbers the requests for counts: only the latest one is drawn. */
  let request = 0;
  /** The counts and classes of values the map shows, for the legend; null when none. */
  let drawn = null;

  function renderPickers() {
    const { level, cls } = view.choropleth ?? { level: drawnLevel(ctx), cls: '' };
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

  function renderLegend() {
    if (!drawn) return;
    const { grids, bins } = drawn;
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

  /** Says when the thematic level is not drawn at this zoom. */
  function zoomHint() {
    const level = view.choropleth?.level;
    const need = level ? minzoom.get(level) : 0;
    $('choro-zoom').hidden = !(level && map.getZoom() < need);
    if (level) $('choro-zoom').textContent = t('choro.zoomin', { level: t(`level.${level}`), z: need });
  }

  async function set(level, cls) {
    view.choropleth = { level, cls };
    saveView(view);
    toggles.showComponents(false);
    legend.lockMajors(true);
    $('choropleth').hidden = false;
    $('btn-choropleth').setAttribute('aria-pressed', 'true');
    renderPickers();
    const mine = ++request;
    $('choro-status').replaceChildren(t('choro.loading'));
    try {
      const stats = await api.levelStats(level, cls);
      if (mine !== request) return;
      const grids = stats.grids.map((g) => ({ code: g.code, count: cls ? g.class_count : g.total }));
      const bins = classify(grids.map((g) => g.count));
      showChoropleth(map, level, fillColor(grids, bins));
      drawn = { grids, bins };
      renderLegend();
    } catch (e) {
      reportFailure(e);
    }
  }

  function clear() {
    request++;
    drawn = null;
    delete view.choropleth;
    zoomHint();
    hideChoropleth(map);
    toggles.showComponents(true);
    legend.lockMajors(false);
    $('choropleth').hidden = true;
    $('btn-choropleth').setAttribute('aria-pressed', 'false');
    saveView(view);
  }

  async function restore() {
    const asked = view.choropleth;
    if (asked && levels.includes(asked.level)) await set(asked.level, asked.cls);
    else delete view.choropleth;
  }

  function relabel() {
    if (!view.choropleth) return;
    renderPickers();
    renderLegend();
  }

  const picked = () => set($('choro-level').value, $('choro-class').value);
  $('btn-choropleth').addEventListener('click', () => (view.choropleth ? clear() : set(drawnLevel(ctx), '')));
  $('choro-level').addEventListener('change', picked);
  $('choro-class').addEventListener('change', picked);
  map.on('zoomend', zoomHint);
  return { set, clear, restore, relabel };
}
