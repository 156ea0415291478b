// The view as it lives in the URL's fragment, so that a link reproduces it:
//   #c=118.78000,32.06000&z=14.50&hide=unit,03&lang=en&choro=unit:01&sel=320102001001001
// c: map centre, WGS84 lon,lat (degrees); z: zoom; hide: grid levels and
// component major classes switched off; lang: interface language (zh by
// default); choro: thematic map "level" or "level:class"; sel: the selected
// grid or component code.

/** Reads the view from a location hash; absent or malformed parts are left out. */
export function readView(hash) {
  const p = new URLSearchParams(hash.replace(/^#/, ''));
  const view = { hidden: new Set(), lang: p.get('lang') === 'en' ? 'en' : 'zh' };
  const c = (p.get('c') || '').split(',').map(Number);
  if (c.length === 2 && c.every(Number.isFinite) && Math.abs(c[0]) <= 180 && Math.abs(c[1]) <= 85) {
    view.center = c;
  }
  const z = Number(p.get('z'));
  if (p.has('z') && Number.isFinite(z) && z >= 0 && z <= 22) view.zoom = z;
  for (const h of (p.get('hide') || '').split(',')) if (/^[a-z]+$|^\d{2}$/.test(h)) view.hidden.add(h);
  const choro = p.get('choro');
  if (choro && /^[a-z]+(:\d{2,4})?$/.test(choro)) {
    const [level, cls] = choro.split(':');
    view.choropleth = { level, cls: cls || '' };
  }
  const sel = p.get('sel');
  if (sel && /^\d{6,20}$/.test(sel)) view.selected = sel;
  return view;
}

/** Writes the view into a location hash. */
export function writeView(view) {
  const p = new URLSearchParams();
  if (view.center) p.set('c', `${view.center[0].toFixed(5)},${view.center[1].toFixed(5)}`);
  if (view.zoom !== undefined) p.set('z', view.zoom.toFixed(2));
  if (view.hidden.size) p.set('hide', [...view.hidden].sort().join(','));
  if (view.lang === 'en') p.set('lang', 'en');
  if (view.choropleth) {
    const { level, cls } = view.choropleth;
    p.set('choro', cls ? `${level}:${cls}` : level);
  }
  if (view.selected) p.set('sel', view.selected);
  return `#${p.toString().replaceAll('%2C', ',').replaceAll('%3A', ':')}`;
}
