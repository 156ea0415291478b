// The wangge viewer's entry: reads the view from the URL, loads what the
// server says about the data, creates the map and wires the modules, each
// with the shared state (context.js) and the few others it calls:
//   selection.js  the information panel and the highlight (sel=)
//   legend.js     layer toggles (hide=)
//   clicks.js     clicks on the map
//   search.js     the search box
//   where.js      "which grid am I in"
//   thematic.js   the thematic map (choro=)
//   language.js   the language button (lang=)
//   signin.js     signing in with a token (who is asking decides what is shown)
//   url.js        the view in the URL (c=, z=)
// Then it restores the thematic map and the selection a link asked for.

import { api } from './api.js';
import { wireClicks } from './clicks.js';
import { createContext } from './context.js';
import { reportFailure } from './dom.js';
import { setLanguage } from './i18n.js';
import { wireLanguage } from './language.js';
import { createLegend } from './legend.js';
import { addOverlays, createMap, scaleLabels } from './map.js';
import { wireSearch } from './search.js';
import { createSelection } from './selection.js';
import { createSignin, whoAmI } from './signin.js';
import { readView } from './state.js';
import { createThematic } from './thematic.js';
import { followMap, saveView } from './url.js';
import { createWhere } from './where.js';

const view = readView(location.hash);
setLanguage(view.lang);

async function start() {
  // Who is asking first: a stored token the server refuses is forgotten
  // before the map asks for anything with it.
  const me = await whoAmI();
  const signin = createSignin(me);
  const [tilejson, classList] = await Promise.all([api.tilejson(), api.classes()]);
  const map = createMap('map', { center: view.center, zoom: view.zoom, bounds: tilejson.bounds });
  Object.assign(window.wangge, { map, view, me });
  await map.once('load');
  addOverlays(map);
  scaleLabels(map, parseFloat(getComputedStyle(document.documentElement).getPropertyValue('--label-scale')) || 1);
  const ctx = createContext({ map, view, tilejson, classList });

  const selection = createSelection(ctx);
  const legend = createLegend(ctx);
  const where = createWhere(ctx, selection);
  wireClicks(ctx, { selection, where });
  const thematic = createThematic(ctx, legend);
  wireSearch(ctx, { selection, thematic });
  wireLanguage(ctx, [legend.render, thematic.relabel, selection.relabel, signin]);
  followMap(ctx);

  await thematic.restore();
  if (view.selected) await selection.code(view.selected, { fly: view.center === undefined });
  saveView(view);
  document.body.classList.add('ready');
}

window.wangge = {};
window.wangge.ready = start().catch((e) => {
  reportFailure(e);
  throw e;
});
