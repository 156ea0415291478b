// The legend: a checkbox per grid level and per component major class that
// switches its layers on the map (the `hide=` list of the URL), and the
// button that unfolds the legend on small screens.

import { $, el } from './dom.js';
import { majorName, number, t } from './i18n.js';
import { saveView } from './url.js';

/**
 * Draws the legend and applies the view's hidden layers. Returns render()
 * (redraws it, e.g. in another language) and lockMajors(locked), which
 * disables the major class checkboxes while the thematic map is shown.
 */
export function createLegend(ctx) {
  const { toggles, view, levels, classList } = ctx;
  const majorColors = toggles.majorColors();

  function item(key, label, swatch, count) {
    const input = el('input', { type: 'checkbox', dataset: { key }, checked: !view.hidden.has(key) });
    input.addEventListener('change', () => {
      if (input.checked) view.hidden.delete(key);
      else view.hidden.add(key);
      toggles.apply(view.hidden);
      saveView(view);
    });
    return el('li', {}, el('label', {}, input, swatch, el('span', { class: 'name' }, label), count));
  }

  function lockMajors(locked) {
    for (const input of $('legend-majors').querySelectorAll('input')) input.disabled = locked;
  }

  function render() {
    $('legend-levels').replaceChildren(
      ...levels.map((l) =>
        item(l, t(`level.${l}`), el('i', { class: `swatch line ${l}`, style: `--c:${toggles.levelColor(l)}` })),
      ),
    );
    $('legend-majors').replaceChildren(
      ...classList.majors
        .filter((m) => m.count > 0)
        .map((m) =>
          item(
            m.code,
            majorName(m.code, m.name),
            el('i', { class: 'swatch dot', style: `--c:${majorColors.get(m.code) ?? majorColors.get('*')}` }),
            el('span', { class: 'count' }, number(m.count)),
          ),
        ),
    );
    lockMajors(Boolean(view.choropleth));
  }

  render();
  toggles.apply(view.hidden);
  $('btn-legend').addEventListener('click', () => {
    const open = document.body.classList.toggle('legend-open');
    $('btn-legend').setAttribute('aria-expanded', String(open));
  });
  return { render, lockMajors };
}
