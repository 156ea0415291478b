// The viewer in Debian's chromium (playwright-core, no downloaded browser)
// against `wangge serve` on a store made from the bundled sample city:
// WANGGE_URL is the server, WANGGE_TOKEN a viewer's API key (the pages are
// signed in with it unless a test signs in itself), WANGGE_SCREENSHOTS the
// folder for screenshots (tests/viewer/run).
//
// Expected answers come from the data, not from the viewer: a grid's code
// chain is its code's prefixes, points are taken inside grid polygons, and
// GCJ-02 / BD-09 coordinates are made here with the published formulas.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { inflateSync } from 'node:zlib';
import { join } from 'node:path';
import { classOf, classify } from '../../web/src/choropleth.js';

const require = createRequire(new URL('../../web/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const BASE = process.env.WANGGE_URL;
const SHOTS = process.env.WANGGE_SCREENSHOTS || 'target/viewer-screenshots';
assert.ok(BASE, 'WANGGE_URL must name the server (tests/viewer/run sets it)');
const ORIGIN = new URL(BASE).origin;
const TOKEN = process.env.WANGGE_TOKEN;
assert.ok(TOKEN, "WANGGE_TOKEN must be a viewer's API key (tests/viewer/run makes one)");

let browser;
before(async () => {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--enable-unsafe-swiftshader',
      // Nothing may leave the machine even if the page tried.
      '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
      '--proxy-server=http://127.0.0.1:9',
    ],
  });
});
after(async () => browser?.close());

async function json(path, token = TOKEN) {
  const res = await fetch(BASE + path, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  assert.equal(res.status, 200, path);
  return res.json();
}

/** A point inside a polygon ring: the ring's vertex mean, checked by ray casting. */
function inside(ring, [x, y]) {
  let c = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) c = !c;
  }
  return c;
}
function interiorPoint(geometry) {
  const ring = geometry.type === 'MultiPolygon' ? geometry.coordinates[0][0] : geometry.coordinates[0];
  const pts = ring.slice(0, -1);
  const p = [pts.reduce((s, q) => s + q[0], 0) / pts.length, pts.reduce((s, q) => s + q[1], 0) / pts.length];
  assert.ok(inside(ring, p), 'vertex mean inside the grid');
  return p;
}
const chainOf = (code) => [6, 9, 12, 15].filter((n) => n <= code.length).map((n) => code.slice(0, n));

// WGS84 -> GCJ-02 -> BD-09, the published formulas (GB 20263 obfuscation as
// reimplemented in open source; BD-09 is Baidu's offset on top of GCJ-02).
const A = 6378245.0;
const EE = 0.006693421622965943;
function gcj02([lon, lat]) {
  const x = lon - 105;
  const y = lat - 35;
  let dLat = -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
  dLat += ((20 * Math.sin(6 * x * Math.PI) + 20 * Math.sin(2 * x * Math.PI)) * 2) / 3;
  dLat += ((20 * Math.sin(y * Math.PI) + 40 * Math.sin((y / 3) * Math.PI)) * 2) / 3;
  dLat += ((160 * Math.sin((y / 12) * Math.PI) + 320 * Math.sin((y * Math.PI) / 30)) * 2) / 3;
  let dLon = 300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
  dLon += ((20 * Math.sin(6 * x * Math.PI) + 20 * Math.sin(2 * x * Math.PI)) * 2) / 3;
  dLon += ((20 * Math.sin(x * Math.PI) + 40 * Math.sin((x / 3) * Math.PI)) * 2) / 3;
  dLon += ((150 * Math.sin((x / 12) * Math.PI) + 300 * Math.sin((x / 30) * Math.PI)) * 2) / 3;
  const rad = (lat / 180) * Math.PI;
  const magic = 1 - EE * Math.sin(rad) ** 2;
  const sq = Math.sqrt(magic);
  dLat = (dLat * 180) / (((A * (1 - EE)) / (magic * sq)) * Math.PI);
  dLon = (dLon * 180) / ((A / sq) * Math.cos(rad) * Math.PI);
  return [lon + dLon, lat + dLat];
}
function bd09(p) {
  const [x, y] = gcj02(p);
  const XPI = (Math.PI * 3000) / 180;
  const z = Math.sqrt(x * x + y * y) + 0.00002 * Math.sin(y * XPI);
  const th = Math.atan2(y, x) + 0.000003 * Math.cos(x * XPI);
  return [z * Math.cos(th) + 0.0065, z * Math.sin(th) + 0.006];
}

/**
 * Opens the viewer at `hash` in a fresh context and waits until the map has
 * drawn. Records console messages, page errors and every request, so tests
 * can assert nothing went wrong and nothing left the server's origin.
 */
async function open(hash = '', { signedOut = false, ...options } = {}) {
  const context = await browser.newContext({ viewport: { width: 1600, height: 1000 }, ...options });
  // Signed in as the viewer, as if the token had been pasted before.
  if (!signedOut) await context.addInitScript((t) => sessionStorage.setItem('wangge.token', t), TOKEN);
  const seen = { console: [], errors: [], requests: [], failed: [], all: [] };
  context.on('request', (r) => {
    seen.requests.push(r.url());
    seen.all.push(r);
  });
  context.on('requestfailed', (r) => seen.failed.push(`${r.url()} ${r.failure()?.errorText}`));
  const page = await context.newPage();
  page.on('console', (m) => seen.console.push({ type: m.type(), text: m.text() }));
  page.on('pageerror', (e) => seen.errors.push(String(e)));
  await page.goto(`${BASE}/${hash}`);
  await page.waitForFunction(() => window.wangge?.map, null, { timeout: 30_000 });
  await page.evaluate(() => window.wangge.ready);
  await idle(page);
  return { context, page, seen };
}

/** Waits until the map has loaded every tile and finished moving. */
async function idle(page) {
  await page.waitForFunction(
    () => {
      const m = window.wangge.map;
      return m.loaded() && m.areTilesLoaded() && !m.isMoving();
    },
    null,
    { timeout: 30_000, polling: 100 },
  );
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.jpg`), type: 'jpeg', quality: 85 });
}

/** The problems a page reported: console errors and warnings, uncaught errors, failed requests. */
function problems(seen) {
  const noise = /GPU stall due to ReadPixels|WebGL.*performance/i;
  return [
    ...seen.errors,
    ...seen.failed,
    ...seen.console.filter((m) => (m.type === 'error' || m.type === 'warning') && !noise.test(m.text)).map((m) => `${m.type}: ${m.text}`),
  ];
}

/** The RGB colour of one screen pixel (a 1×1 PNG screenshot, decoded here). */
async function pixel(page, [x, y]) {
  const png = await page.screenshot({ clip: { x: Math.round(x), y: Math.round(y), width: 1, height: 1 } });
  const chunks = [];
  let colorType;
  for (let i = 8; i < png.length; ) {
    const len = png.readUInt32BE(i);
    const type = png.toString('ascii', i + 4, i + 8);
    if (type === 'IHDR') colorType = png[i + 8 + 9];
    if (type === 'IDAT') chunks.push(png.subarray(i + 8, i + 8 + len));
    i += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(chunks));
  // One pixel: every PNG filter leaves it unchanged (no left or upper neighbour).
  assert.ok(colorType === 2 || colorType === 6, `PNG colour type ${colorType}`);
  return [raw[1], raw[2], raw[3]];
}
const hex = (c) => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16));
const dist = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);

/** Screen position of a WGS84 point on the page's map. */
const project = (page, lonlat) =>
  page.evaluate((p) => {
    const { x, y } = window.wangge.map.project(p);
    const r = window.wangge.map.getContainer().getBoundingClientRect();
    return [r.left + x, r.top + y];
  }, lonlat);

/**
 * A screen point inside `geometry` with no component drawn within 12 px, so
 * a click there means the grid (candidates on a 9×9 lattice over its box).
 */
async function freePoint(page, geometry) {
  const ring = geometry.type === 'MultiPolygon' ? geometry.coordinates[0][0] : geometry.coordinates[0];
  const xs = ring.map((p) => p[0]);
  const ys = ring.map((p) => p[1]);
  const [w, e, s, n] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const candidates = [];
  for (let i = 1; i < 10; i++) {
    for (let j = 1; j < 10; j++) {
      const p = [w + ((e - w) * i) / 10, s + ((n - s) * j) / 10];
      if (inside(ring, p)) candidates.push(p);
    }
  }
  const free = await page.evaluate((pts) => {
    const m = window.wangge.map;
    const r = m.getContainer().getBoundingClientRect();
    for (const p of pts) {
      const { x, y } = m.project(p);
      const near = m.queryRenderedFeatures([[x - 12, y - 12], [x + 12, y + 12]], {
        layers: ['component-points', 'component-clusters'],
      });
      if (!near.length) return [r.left + x, r.top + y];
    }
    return null;
  }, candidates);
  assert.ok(free, 'a spot in the grid without components');
  return free;
}

// The sample's first unit grid and one of its components, from the API.
let unit;
let unitPoint;
let component;
before(async () => {
  const stats = await json('/stats?level=unit');
  const busiest = stats.grids.reduce((a, b) => (b.total > a.total ? b : a));
  unit = await json(`/grids/${busiest.code}`);
  unitPoint = interiorPoint(unit.geometry);
  const items = await json(`/ogc/collections/components/items?limit=1&offset=1234`);
  component = items.features[0];
});

test('the page loads with no console error and no request off the server', async (t) => {
  const started = Date.now();
  const { context, page, seen } = await open();
  const loadMs = Date.now() - started;
  assert.deepEqual(problems(seen), []);
  const foreign = seen.requests.filter((u) => !u.startsWith('data:') && !u.startsWith('blob:') && new URL(u).origin !== ORIGIN);
  assert.deepEqual(foreign, [], 'requests leaving the server');
  const paths = seen.requests.map((u) => decodeURIComponent(new URL(u).pathname));
  for (const p of ['/viewer/vendor/maplibre-gl.mjs', '/viewer/vendor/maplibre-gl-worker.mjs', '/styles/wangge.json', '/fonts/Noto Sans Regular/0-255.pbf']) {
    assert.ok(paths.includes(p), `${p} requested`);
  }
  assert.ok(paths.some((p) => p.startsWith('/tiles/grids/')), 'grid tiles requested');
  // Reported, not asserted (shared machines are noisy): what a first visit costs.
  let sizes = 0;
  for (const r of seen.all) sizes += (await r.sizes()).responseBodySize;
  t.diagnostic(`first visit: ${seen.requests.length} requests, ${(sizes / 1024).toFixed(0)} KiB transferred, map idle after ${loadMs} ms (software WebGL)`);
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'zh-CN');
  assert.equal(await page.locator('#btn-where').textContent(), '我在哪个网格');
  await shot(page, 'city');
  await context.close();
});

test('grid labels are drawn, with Chinese names and codes', async () => {
  const [lon, lat] = unitPoint;
  const { context, page, seen } = await open(`#c=${lon},${lat}&z=15`);
  const labels = await page.evaluate(() =>
    window.wangge.map.queryRenderedFeatures({ layers: ['grid-labels'] }).map((f) => f.properties),
  );
  assert.ok(labels.length >= 3, `${labels.length} labels placed`);
  assert.ok(labels.some((l) => l.level === 'unit' && /^\d{15}$/.test(l.code) && /[\u4e00-\u9fff]/.test(l.name)));
  assert.ok(labels.some((l) => l.level === 'community'), 'community labels too');
  assert.deepEqual(problems(seen), [], 'no glyph range missing');
  await shot(page, 'labels');
  await context.close();
});

test('clicking a grid shows its code, chain, worker and counts', async () => {
  const [lon, lat] = unitPoint;
  const { context, page } = await open(`#c=${lon},${lat}&z=17`);
  await page.mouse.click(...(await freePoint(page, unit.geometry)));
  await page.locator('#panel-code').waitFor();
  assert.equal(await page.locator('#panel-code').textContent(), unit.properties.code);
  const chain = await page.locator('#panel .chain button').evaluateAll((b) => b.map((x) => x.dataset.code));
  assert.deepEqual(chain, chainOf(unit.properties.code).slice(0, -1));
  const text = await page.locator('#panel').textContent();
  assert.ok(text.includes(unit.properties.worker), 'grid worker shown');
  assert.ok(text.includes(unit.properties.name));
  const stats = await json(`/grids/${unit.properties.code}/stats`);
  assert.equal(await page.locator('#panel .counts tbody tr').count(), Object.keys(stats.by_class).length);
  assert.ok(page.url().includes(`sel=${unit.properties.code}`), 'selection in the URL');
  await shot(page, 'grid-panel');
  // A parent in the chain opens that grid.
  await page.locator(`#panel .chain button[data-code="${unit.properties.parent}"]`).click();
  await page.waitForFunction((c) => document.getElementById('panel-code')?.textContent === c, unit.properties.parent);
  await context.close();
});

test('signing in with a token: the public does not see the grid worker, the viewer does', async () => {
  const [lon, lat] = unitPoint;
  const { context, page, seen } = await open(`#c=${lon},${lat}&z=17`, { signedOut: true });
  assert.equal(await page.locator('#btn-signin').textContent(), '登录');
  const click = async () => {
    await page.mouse.click(...(await freePoint(page, unit.geometry)));
    await page.waitForFunction((c) => document.getElementById('panel-code')?.textContent === c, unit.properties.code);
    return page.locator('#panel').textContent();
  };
  assert.ok(!(await click()).includes(unit.properties.worker), 'the public is not shown the worker');
  assert.equal((await json(`/grids/${unit.properties.code}`, null)).properties.worker, null);
  // A wrong token is refused with the server's reason; nothing is kept.
  await page.locator('#btn-signin').click();
  await page.locator('#signin-token').fill('wg_999_' + '0'.repeat(64));
  await page.locator('#signin-go').click();
  await page.waitForFunction(() => document.getElementById('signin-status').textContent.includes('令牌未被接受'));
  assert.equal(await page.evaluate(() => sessionStorage.getItem('wangge.token')), null);
  // The viewer's key: the page reloads signed in.
  await page.locator('#signin-token').fill(TOKEN);
  await Promise.all([page.waitForEvent('load'), page.locator('#signin-go').click()]);
  await page.waitForFunction(() => window.wangge?.ready);
  await page.evaluate(() => window.wangge.ready);
  await idle(page);
  assert.match(await page.locator('#btn-signin').textContent(), /浏览/);
  assert.ok((await click()).includes(unit.properties.worker), 'the viewer is shown the worker');
  const tileAuth = seen.all.filter((r) => new URL(r.url()).pathname.startsWith('/tiles/') && r.headers().authorization);
  assert.ok(tileAuth.length > 0, 'tiles are asked with the token');
  await shot(page, 'signed-in');
  // Signing out forgets the token.
  await page.locator('#btn-signin').click();
  await Promise.all([page.waitForEvent('load'), page.locator('#signin-out').click()]);
  await page.waitForFunction(() => window.wangge?.ready);
  await page.evaluate(() => window.wangge.ready);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('wangge.token')), null);
  assert.equal(await page.locator('#btn-signin').textContent(), '登录');
  assert.deepEqual(problems(seen).filter((p) => !p.includes('401')), []);
  await context.close();
});

test('searching a component code flies to it and highlights it', async () => {
  const code = component.properties.code;
  const { context, page } = await open();
  await page.locator('#search').fill(code);
  await page.locator(`#search-results li[data-code="${code}"]`).click();
  await page.waitForFunction((c) => document.getElementById('panel-code')?.textContent === c, code);
  await idle(page);
  const view = await page.evaluate(() => {
    const m = window.wangge.map;
    return { center: m.getCenter().toArray(), zoom: m.getZoom() };
  });
  const [lon, lat] = component.geometry.coordinates;
  const metres = Math.hypot((view.center[0] - lon) * 94_000, (view.center[1] - lat) * 111_000);
  assert.ok(metres < 2, `map centred on the component (${metres.toFixed(2)} m off)`);
  assert.ok(view.zoom >= 17, `zoomed in (${view.zoom})`);
  const drawn = await page.evaluate((p) => {
    const m = window.wangge.map;
    const { x, y } = m.project(p);
    return m
      .queryRenderedFeatures([[x - 3, y - 3], [x + 3, y + 3]], { layers: ['wg-highlight-point', 'component-points'] })
      .map((f) => [f.layer.id, String(f.properties.code ?? '')]);
  }, [lon, lat]);
  assert.ok(drawn.some(([l]) => l === 'wg-highlight-point'), 'highlight ring drawn');
  assert.ok(drawn.some(([l, c]) => l === 'component-points' && c === code), 'the component drawn from the tiles');
  const text = await page.locator('#panel').textContent();
  for (const v of [component.properties.class_name, component.properties.owner, component.properties.maintainer, component.properties.grid]) {
    assert.ok(text.includes(v), `panel shows ${v}`);
  }
  await shot(page, 'search-component');
  // The link of that view opens the component again.
  const again = await open(new URL(page.url()).hash);
  await again.page.waitForFunction((c) => document.getElementById('panel-code')?.textContent === c, code);
  assert.deepEqual(problems(again.seen), []);
  await again.context.close();
  // A part of a name lists grids.
  await page.locator('#search').fill(unit.properties.name.slice(0, 3));
  await page.locator('#search-results li[data-kind="grid"]').first().waitFor();
  await context.close();
});

test('which grid am I in: typed WGS84, GCJ-02 and BD-09, a picked point, the browser location', async () => {
  const expected = chainOf(unit.properties.code);
  const { context, page } = await open('', {
    geolocation: { longitude: unitPoint[0], latitude: unitPoint[1] },
    permissions: ['geolocation'],
  });
  const answer = async () => {
    await page.waitForFunction(
      (g) => document.querySelector('#where-status .lookup')?.dataset.grid === g,
      unit.properties.code,
    );
    return page.locator('#where-status .chain button').evaluateAll((b) => b.map((x) => x.dataset.code));
  };
  const clear = () => page.evaluate(() => document.getElementById('where-status').replaceChildren());
  await page.locator('#btn-where').click();
  for (const [crs, p] of [
    ['EPSG:4326', unitPoint],
    ['gcj02', gcj02(unitPoint)],
    ['bd09', bd09(unitPoint)],
  ]) {
    await clear();
    await page.locator('#where-lon').fill(p[0].toFixed(7));
    await page.locator('#where-lat').fill(p[1].toFixed(7));
    await page.locator('#where-crs').selectOption(crs);
    await page.locator('#where-go').click();
    assert.deepEqual(await answer(), expected, crs);
    const here = await page.evaluate(() => window.wangge.map.getSource('wg-here').getData());
    const [hx, hy] = here.geometry.coordinates;
    assert.ok(Math.hypot(hx - unitPoint[0], hy - unitPoint[1]) < 1e-5, `${crs}: marker at the WGS84 point`);
  }
  await shot(page, 'which-grid');
  // Bad input is explained, not sent.
  await clear();
  await page.locator('#where-lon').fill('abc');
  await page.locator('#where-go').click();
  assert.match(await page.locator('#where-status').textContent(), /经度/);
  // The browser's location.
  await clear();
  await page.locator('#where-gps').click();
  assert.deepEqual(await answer(), expected, 'geolocation');
  // A point picked on the map.
  await clear();
  await idle(page);
  await page.locator('#where-pick').click();
  await page.mouse.click(...(await project(page, unitPoint)));
  assert.deepEqual(await answer(), expected, 'picked');
  await context.close();
});

test('the thematic map colours each grid by its class of values', async () => {
  const [lon, lat] = unitPoint;
  const { context, page, seen } = await open(`#c=${lon},${lat}&z=16`);
  // Hide what is drawn over the fill at that point; read the pixel under it.
  const overlays = (v) =>
    page.evaluate((v) => {
      for (const id of ['grid-labels', 'component-points', 'component-clusters', 'component-cluster-counts']) {
        window.wangge.map.setLayoutProperty(id, 'visibility', v);
      }
    }, v);
  await overlays('none');
  await idle(page);
  const at = await project(page, unitPoint);
  const under = await pixel(page, at);
  await page.locator('#btn-choropleth').click();
  await page.locator('#choro-legend li').first().waitFor();
  await overlays('none');
  await idle(page);
  const stats = await json('/stats?level=unit');
  const classes = classify(stats.grids.map((g) => g.total));
  assert.equal(await page.locator('#choro-legend li').count(), classes.length);
  const want = classOf(classes, stats.grids.find((g) => g.code === unit.properties.code).total).color;
  const opacity = await page.evaluate(() => window.wangge.map.getPaintProperty('wg-choropleth', 'fill-opacity'));
  const blend = (c) => hex(c).map((v, i) => v * opacity + under[i] * (1 - opacity));
  const got = await pixel(page, at);
  const nearest = classes.map((c) => c.color).sort((a, b) => dist(got, blend(a)) - dist(got, blend(b)))[0];
  assert.equal(nearest, want, `pixel ${got} is the grid's class colour over ${under}`);
  assert.ok(dist(got, blend(want)) < 6, `pixel ${got} vs ${blend(want)}`);
  assert.ok(page.url().includes('choro=unit'), 'thematic map in the URL');
  // One class: counts of that class only.
  await page.locator('#choro-class').selectOption('01');
  await page.waitForFunction(() => location.hash.includes('choro=unit:01'));
  await page.locator('#choro-level').selectOption('community');
  await page.waitForFunction(() => location.hash.includes('choro=community:01'));
  await page.locator('#choro-legend li').first().waitFor();
  assert.deepEqual(problems(seen), []);
  await overlays('visible');
  await idle(page);
  await shot(page, 'choropleth');
  await context.close();
});

test('the thematic map starts at the finest level drawn and says when to zoom in', async () => {
  const [lon, lat] = unitPoint;
  const tilejson = await json('/tiles/grids');
  const minzoom = Object.fromEntries(tilejson.vector_layers.map((l) => [l.id, l.minzoom]));
  assert.ok(minzoom.community < minzoom.unit);
  const z = (minzoom.community + minzoom.unit) / 2;
  const { context, page, seen } = await open(`#c=${lon},${lat}&z=${z}`);
  await page.locator('#btn-choropleth').click();
  await page.waitForFunction(() => location.hash.includes('choro=community'));
  assert.equal(await page.locator('#choro-zoom').isVisible(), false);
  await page.locator('#choro-level').selectOption('unit');
  await page.locator('#choro-zoom').waitFor();
  assert.ok((await page.locator('#choro-zoom').textContent()).includes(String(minzoom.unit)));
  await page.evaluate((zoom) => window.wangge.map.jumpTo({ zoom }), minzoom.unit + 0.5);
  await page.locator('#choro-zoom').waitFor({ state: 'hidden' });
  assert.deepEqual(problems(seen), []);
  await context.close();
});

test('a link reproduces the view: centre, zoom, toggles, language, thematic map', async () => {
  const [lon, lat] = unitPoint;
  const { context, page } = await open(`#c=${lon},${lat}&z=14.5`);
  await page.locator('#legend input[data-key="unit"]').uncheck();
  await page.locator('#legend input[data-key="02"]').uncheck();
  await page.locator('#btn-lang').click();
  assert.equal(await page.locator('#btn-where').textContent(), 'Which grid am I in');
  await page.locator('#btn-choropleth').click();
  await page.locator('#choro-level').selectOption('community');
  await page.waitForFunction(() => location.hash.includes('choro=community'));
  const link = page.url();
  await context.close();

  const hash = new URL(link).hash;
  const again = await open(hash);
  const p = again.page;
  const state = await p.evaluate(() => {
    const m = window.wangge.map;
    return {
      center: m.getCenter().toArray(),
      zoom: m.getZoom(),
      unitLine: m.getLayoutProperty('unit-line', 'visibility'),
      communityLine: m.getLayoutProperty('community-line', 'visibility'),
      pointFilter: JSON.stringify(m.getFilter('component-points')),
      choropleth: m.getLayer('wg-choropleth')?.sourceLayer,
    };
  });
  assert.ok(Math.abs(state.center[0] - lon) < 1e-5 && Math.abs(state.center[1] - lat) < 1e-5, 'centre');
  assert.ok(Math.abs(state.zoom - 14.5) < 1e-6, 'zoom');
  assert.equal(state.unitLine, 'none');
  assert.equal(state.communityLine, 'visible');
  assert.ok(state.pointFilter.includes('"02"'), 'major 02 filtered out');
  assert.equal(state.choropleth, 'community');
  assert.equal(await p.locator('#legend input[data-key="unit"]').isChecked(), false);
  assert.equal(await p.locator('#legend input[data-key="01"]').isChecked(), true);
  assert.equal(await p.evaluate(() => document.documentElement.lang), 'en');
  assert.equal(await p.locator('#btn-where').textContent(), 'Which grid am I in');
  assert.deepEqual(problems(again.seen), []);
  await shot(p, 'link-english');
  await again.context.close();
});

/** Boxes of the visible page parts; asserts each lies in the viewport. */
async function boxes(page, ids) {
  const out = {};
  const vw = page.viewportSize();
  for (const id of ids) {
    const b = await page.locator(id).boundingBox();
    assert.ok(b, `${id} visible`);
    assert.ok(b.x >= 0 && b.y >= 0 && b.x + b.width <= vw.width + 0.5 && b.y + b.height <= vw.height + 0.5, `${id} inside the viewport: ${JSON.stringify(b)}`);
    out[id] = b;
  }
  return out;
}
const overlap = (a, b) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

test('on a phone: the bar fits, the legend opens from a button, a tap opens a bottom sheet', async () => {
  const [lon, lat] = unitPoint;
  const { context, page, seen } = await open(`#c=${lon},${lat}&z=17`, {
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
  });
  assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth), true, 'no sideways scroll');
  await boxes(page, ['#bar', '#search', '#btn-where', '#btn-choropleth', '#btn-lang', '#btn-legend']);
  assert.equal(await page.locator('#legend').isVisible(), false, 'legend folded away');
  await page.locator('#btn-legend').tap();
  await boxes(page, ['#legend']);
  await page.locator('#btn-legend').tap();
  await page.touchscreen.tap(...(await freePoint(page, unit.geometry)));
  await page.locator('#panel-code').waitFor();
  assert.equal(await page.locator('#panel-code').textContent(), unit.properties.code);
  const b = await boxes(page, ['#panel', '#search']);
  assert.ok(Math.abs(b['#panel'].y + b['#panel'].height - 844) < 1, 'panel sits at the bottom');
  assert.ok(b['#panel'].height <= 844 * 0.5, 'panel leaves the map visible');
  assert.ok(!overlap(b['#panel'], b['#search']));
  assert.deepEqual(problems(seen), []);
  await shot(page, 'phone');
  await context.close();
});

test('on a 4K wall screen: the interface scales up and nothing overlaps', async () => {
  const [lon, lat] = unitPoint;
  const { context, page, seen } = await open(`#c=${lon},${lat}&z=16&choro=unit&sel=${unit.properties.code}`, {
    viewport: { width: 3840, height: 2160 },
  });
  await page.locator('#panel-code').waitFor();
  const size = await page.evaluate(() => parseFloat(getComputedStyle(document.documentElement).fontSize));
  assert.ok(size >= 24, `root font ${size}px`);
  const b = await boxes(page, ['#bar', '#search', '#legend', '#choropleth', '#panel']);
  assert.ok(!overlap(b['#legend'], b['#panel']) && !overlap(b['#choropleth'], b['#panel']), 'cards apart');
  const labelSize = await page.evaluate(() => window.wangge.map.getLayoutProperty('grid-labels', 'text-size'));
  assert.ok(JSON.stringify(labelSize).includes('*'), 'map labels scaled with the screen');
  assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth), true);
  assert.deepEqual(problems(seen), []);
  await shot(page, 'wall-4k');
  await context.close();
});
