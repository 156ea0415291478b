// Builds the viewer into web/dist, the folder `wangge serve --web web/dist` serves:
//   index.html, the viewer's modules and styles (from src/),
//   vendor/: MapLibre GL JS from node_modules (ES modules, worker, CSS, licence),
//   fonts/<family style>/<start>-<end>.pbf: glyphs for map labels, rendered
//     by fontnik from a local font file (Latin, digits, punctuation; Chinese is
//     drawn by the browser, see src/map.js).
// Nothing is downloaded: run `npm ci` first (scripts/build-web does both).
// The result is written to a temporary folder and renamed into place, so a
// failed build never leaves a half-written dist/.
//
// Environment: WANGGE_GLYPH_FONT = the .ttf/.otf to render (default Debian's
// fonts-noto-core Noto Sans Regular).

import { cp, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const out = join(here, 'dist');
const tmp = join(here, `dist.tmp-${process.pid}`);
const fontFile =
  process.env.WANGGE_GLYPH_FONT || '/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf';

function fail(message) {
  throw new Error(message);
}

async function copyViewer() {
  await cp(join(here, 'index.html'), join(tmp, 'index.html'));
  for (const name of await readdir(join(here, 'src'))) {
    await cp(join(here, 'src', name), join(tmp, name), { recursive: true });
  }
}

async function copyMapLibre() {
  const pkg = dirname(require.resolve('maplibre-gl/package.json'));
  const vendor = join(tmp, 'vendor');
  await mkdir(vendor, { recursive: true });
  for (const f of ['maplibre-gl.mjs', 'maplibre-gl-worker.mjs', 'maplibre-gl.css']) {
    await cp(join(pkg, 'dist', f), join(vendor, f));
  }
  await cp(join(pkg, 'LICENSE.txt'), join(vendor, 'MAPLIBRE-LICENSE.txt'));
  const { version } = JSON.parse(await readFile(join(pkg, 'package.json'), 'utf8'));
  return version;
}

// Renders every 256-code-point range the font has glyphs in; ranges it
// lacks are not written (MapLibre then draws those characters locally,
// where an empty file would make them disappear).
async function buildGlyphs() {
  if (!existsSync(fontFile)) {
    fail(
      `no font at ${fontFile}: install Debian's fonts-noto-core (scripts/deps does) ` +
        'or set WANGGE_GLYPH_FONT to a .ttf/.otf file',
    );
  }
  const fontnik = require('fontnik');
  const load = promisify(fontnik.load);
  const range = promisify(fontnik.range);
  const font = await readFile(fontFile);
  const faces = await load(font);
  if (faces.length !== 1) {
    fail(`${fontFile} holds ${faces.length} faces; give a single-face .ttf/.otf`);
  }
  const face = faces[0];
  const name = [face.family_name, face.style_name].filter(Boolean).join(' ');
  const dir = join(tmp, 'fonts', name);
  await mkdir(dir, { recursive: true });
  const starts = [...new Set(face.points.map((p) => p - (p % 256)))].sort((a, b) => a - b);
  for (const start of starts) {
    const end = start + 255;
    await writeFile(join(dir, `${start}-${end}.pbf`), await range({ font, start, end }));
  }
  return { name, ranges: starts.length, points: face.points.length };
}

await rm(tmp, { recursive: true, force: true });
await mkdir(tmp, { recursive: true });
try {
  await copyViewer();
  const maplibre = await copyMapLibre();
  const glyphs = await buildGlyphs();
  await rm(out, { recursive: true, force: true });
  await rename(tmp, out);
  console.log(
    `web/dist: viewer, MapLibre GL JS ${maplibre}, glyphs "${glyphs.name}" ` +
      `(${glyphs.points} code points in ${glyphs.ranges} ranges)`,
  );
} catch (e) {
  await rm(tmp, { recursive: true, force: true });
  console.error(`web/build.mjs: ${e.message}`);
  process.exit(1);
}
