// The language button: switches the interface between Chinese and English
// (`lang=en` in the URL). Only texts change: the modules that drew text
// redraw it from what they hold; nothing is fetched or drawn on the map again.

import { $ } from './dom.js';
import { language, setLanguage } from './i18n.js';
import { saveView } from './url.js';

/** Wires the button; `relabels` are the modules' functions that redraw their texts, in order. */
export function wireLanguage({ view }, relabels) {
  $('btn-lang').addEventListener('click', () => {
    view.lang = language() === 'en' ? 'zh' : 'en';
    setLanguage(view.lang);
    for (const relabel of relabels) relabel();
    saveView(view);
  });
}
