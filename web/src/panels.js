// The information panel: a grid, a component, or "which grid am I in".

import { el, facts } from './dom.js';
import { area, majorName, metres, number, t } from './i18n.js';

const panel = () => document.getElementById('panel');
const body = () => document.getElementById('panel-body');

/** Shows `content` in the panel. */
export function openPanel(kind, ...content) {
  body().replaceChildren(...content);
  panel().dataset.kind = kind;
  panel().hidden = false;
}

/** Hides the panel. */
export function closePanel() {
  panel().hidden = true;
  body().replaceChildren();
}

/** A grid chain as buttons (district > street > ...), each selecting its grid. */
export function chainLinks(chain, onGrid) {
  return el(
    'ol',
    { class: 'chain' },
    chain.map((c) =>
      el(
        'li',
        {},
        el(
          'button',
          { type: 'button', class: 'link', dataset: { code: c.code }, onclick: () => onGrid(c.code) },
          c.name,
        ),
        el('span', { class: 'code' }, c.code),
        el('span', { class: 'level' }, t(`level.${c.level}`)),
      ),
    ),
  );
}

/**
 * Renders a grid (`GET /grids/{code}` Feature) and its counts (`GET
 * /grids/{code}/stats`); `classes` maps class codes to their definitions.
 */
export function gridPanel(grid, stats, classes, onGrid) {
  const p = grid.properties;
  const ancestors = p.chain.filter((c) => c.code !== p.code);
  const byClass = Object.entries(stats.by_class).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const states = Object.entries(stats.by_state)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${t(`state.${s}`)} ${number(n)}`)
    .join(' · ');
  openPanel(
    'grid',
    el('h2', {}, p.name),
    facts([
      [t('grid.code'), el('span', { class: 'code', id: 'panel-code' }, p.code)],
      [t('grid.level'), t(`level.${p.level}`)],
      [t('grid.chain'), ancestors.length ? chainLinks(ancestors, onGrid) : null],
      [t('grid.worker'), p.worker],
      [t('grid.area'), area(p.area_m2)],
      [t('grid.children'), p.children ? number(p.children) : null],
      [t('grid.components'), `${number(stats.total)}${states ? ` (${states})` : ''}`],
    ]),
    byClass.length
      ? el(
          'table',
          { class: 'counts' },
          el('caption', {}, t('grid.byclass')),
          el(
            'tbody',
            {},
            byClass.map(([code, n]) => {
              const c = classes.get(code);
              return el(
                'tr',
                {},
                el('td', { class: 'code' }, code),
                el('td', {}, c ? c.name : code),
                el('td', { class: 'num' }, number(n)),
              );
            }),
          ),
        )
      : el('p', { class: 'muted' }, t('grid.none')),
  );
}

/** Renders a component (`GET /components/{code}` Feature). */
export function componentPanel(feature, onGrid) {
  const p = feature.properties;
  openPanel(
    'component',
    el('h2', {}, p.class_name),
    facts([
      [t('comp.code'), el('span', { class: 'code', id: 'panel-code' }, p.code)],
      [t('comp.class'), `${p.class} ${p.class_name} · ${majorName(p.major_class, p.major_name)}`],
      [t('comp.state'), p.state_en ? t(`state.${p.state_en}`) : p.state],
      [t('comp.owner'), p.owner],
      [t('comp.maintainer'), p.maintainer],
      [t('comp.department'), p.department],
      [t('comp.initial'), p.initial_date],
      [t('comp.changed'), p.change_date],
      [
        t('comp.grid'),
        p.grid
          ? el('button', { type: 'button', class: 'link', onclick: () => onGrid(p.grid) }, `${p.grid_name} ${p.grid}`)
          : null,
      ],
      [t('comp.source'), p.source],
    ]),
  );
}

/** The answer of `GET /lookup` as text and links, for the "which grid" card. */
export function lookupResult(r, onGrid) {
  if (!r.inside) {
    const n = r.nearest;
    return el(
      'div',
      { class: 'lookup', dataset: { inside: 'false' } },
      el('p', {}, n ? t('where.outside', { m: metres(n.distance_m) }) : t('where.outside', { m: '—' })),
      n ? chainLinks([n], onGrid) : null,
    );
  }
  return el(
    'div',
    { class: 'lookup', dataset: { inside: 'true', grid: r.grid.code } },
    chainLinks(r.chain, onGrid),
    facts([
      [t('grid.worker'), r.worker],
      [
        t('where.inside'),
        r.on_border ? t('where.onborder') : t('where.border', { m: metres(r.border_distance_m) }),
      ],
      ['WGS84', `${r.lon.toFixed(6)}, ${r.lat.toFixed(6)}`],
    ]),
  );
}
