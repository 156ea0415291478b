// What the viewer costs a user, measured in Debian's chromium (headless,
// software WebGL: a real GPU draws faster): the first visit (requests,
// bytes, time until the map has drawn), and the thematic map of the finest
// and a coarser level at the unit grids' first zoom + 0.5 (from the click to
// the coloured map). Figures only,
// no assertion: see BENCHMARKS.md for how they were taken.
//
//   node tests/viewer/measure.mjs http://127.0.0.1:8080

import { createRequire } from 'node:module';

const require = createRequire(new URL('../../web/package.json', import.meta.url));
const { chromium } = require('playwright-core');
const base = process.argv[2] || 'http://127.0.0.1:8080';

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-background-networking', '--enable-unsafe-swiftshader'],
});
const context = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
const requests = [];
context.on('request', (r) => requests.push(r));
const page = await context.newPage();
const drawn = () =>
  page.waitForFunction(
    () => {
      const m = window.wangge.map;
      return m.loaded() && m.areTilesLoaded() && !m.isMoving();
    },
    null,
    { polling: 50, timeout: 120_000 },
  );

let t0 = Date.now();
await page.goto(`${base}/`);
await page.waitForFunction(() => window.wangge?.map);
await page.evaluate(() => window.wangge.ready);
await drawn();
const firstMs = Date.now() - t0;
let bytes = 0;
for (const r of requests) bytes += (await r.sizes()).responseBodySize;
const health = await (await fetch(`${base}/health`)).json();
console.log(`city: ${health.grids} grids, ${health.components} components`);
console.log(`first visit (1920x1080): ${requests.length} requests, ${(bytes / 1024).toFixed(0)} KiB, map drawn after ${firstMs} ms`);

// The thematic maps at a zoom where every level is drawn.
const unitZoom = (await (await fetch(`${base}/tiles/grids`)).json()).vector_layers.find((l) => l.id === 'unit').minzoom;
await page.evaluate((zoom) => window.wangge.map.jumpTo({ zoom }), unitZoom + 0.5);
await drawn();
for (const level of ['unit', 'community']) {
  const previous = await page.locator('#choro-status').textContent();
  t0 = Date.now();
  const before = requests.length;
  if (level === 'unit') await page.locator('#btn-choropleth').click();
  else await page.locator('#choro-level').selectOption(level);
  // The button opens the finest level drawn: the unit level at this zoom.
  await page.waitForFunction((l) => location.hash.includes(`choro=${l}`), level);
  await page.waitForFunction(
    (p) => {
      const s = document.getElementById('choro-status').textContent;
      return s !== p && /\d/.test(s);
    },
    previous,
  );
  await drawn();
  const ms = Date.now() - t0;
  const stats = requests.slice(before).find((r) => new URL(r.url()).pathname === '/stats');
  const size = stats ? (await stats.sizes()).responseBodySize : 0;
  console.log(
    `thematic map of ${level}: ${ms} ms from click to drawn; /stats ${(size / 1024).toFixed(0)} KiB on the wire` +
      ` (${await page.locator('#choro-status').textContent()})`,
  );
}
await browser.close();
