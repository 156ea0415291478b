// The viewer's pure modules, without a browser: URL state and the classes
// of values of the thematic map.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readView, writeView } from '../../web/src/state.js';
import { PALETTE, ZERO, classOf, classify, fillColor } from '../../web/src/choropleth.js';

test('a view survives the URL', () => {
  const view = {
    center: [118.78123, 32.06456],
    zoom: 15.25,
    hidden: new Set(['unit', '03']),
    lang: 'en',
    choropleth: { level: 'community', cls: '0101' },
    selected: '320102001001001',
  };
  const back = readView(writeView(view));
  assert.deepEqual(back, view);
  assert.equal(writeView(view), '#c=118.78123,32.06456&z=15.25&hide=03,unit&lang=en&choro=community:0101&sel=320102001001001');
});

test('a malformed URL gives the default view, not an error', () => {
  for (const hash of ['', '#', '#c=abc&z=x', '#c=500,20&z=99', '#hide=<script>&choro=../x&sel=1;2', '#lang=fr']) {
    const v = readView(hash);
    assert.equal(v.center, undefined, hash);
    assert.equal(v.zoom, undefined, hash);
    assert.equal(v.hidden.size, 0, hash);
    assert.equal(v.lang, 'zh', hash);
    assert.equal(v.choropleth, undefined, hash);
    assert.equal(v.selected, undefined, hash);
  }
});

test('classes of values cover every count once, zero apart', () => {
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let run = 0; run < 200; run++) {
    const n = 1 + Math.floor(rand() * 300);
    const counts = Array.from({ length: n }, () => (rand() < 0.1 ? 0 : Math.floor(rand() ** 3 * 500)));
    const classes = classify(counts);
    for (const c of counts) {
      const hits = classes.filter((k) => c >= k.min && c <= k.max);
      assert.equal(hits.length, 1, `count ${c} in ${JSON.stringify(classes)}`);
    }
    for (let i = 1; i < classes.length; i++) assert.ok(classes[i].min > classes[i - 1].max);
    assert.equal(classes.some((k) => k.max === 0), counts.includes(0));
    assert.ok(classes.filter((k) => k.max > 0).length <= PALETTE.length);
    assert.equal(new Set(classes.map((k) => k.color)).size, classes.length, 'one colour per class');
  }
});

test('few distinct counts make few classes; the darkest colour is the largest', () => {
  assert.deepEqual(classify([]), []);
  assert.deepEqual(classify([0, 0]), [{ min: 0, max: 0, color: ZERO }]);
  const one = classify([5, 5, 5]);
  assert.equal(one.length, 1);
  assert.equal(one[0].color, PALETTE.at(-1));
  const many = classify(Array.from({ length: 100 }, (_, i) => i + 1));
  assert.equal(many.length, 5);
  assert.deepEqual(many.map((k) => k.max), [20, 40, 60, 80, 100]);
});

test('the fill expression gives each grid its class colour', () => {
  const grids = [
    { code: 'a', count: 0 },
    { code: 'b', count: 1 },
    { code: 'c', count: 50 },
  ];
  const classes = classify(grids.map((g) => g.count));
  const expr = fillColor(grids, classes);
  assert.equal(expr[0], 'match');
  for (const g of grids) {
    const i = expr.findIndex((x) => Array.isArray(x) && x.includes(g.code));
    assert.equal(expr[i + 1], classOf(classes, g.count).color);
  }
  assert.equal(fillColor([], []), 'rgba(0,0,0,0)');
});

test('every interface text exists in Chinese and English, with the same placeholders', async () => {
  const { TEXT } = await import('../../web/src/i18n.js');
  assert.deepEqual(Object.keys(TEXT.en).sort(), Object.keys(TEXT.zh).sort());
  const holes = (s) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
  for (const k of Object.keys(TEXT.zh)) {
    assert.deepEqual(holes(TEXT.en[k]), holes(TEXT.zh[k]), k);
    assert.ok(/[\u4e00-\u9fff]/.test(TEXT.zh[k]) || ['lang.switch', 'crs.wgs84'].includes(k), `${k} is Chinese`);
  }
  // Every key the page and the modules use is defined.
  const { readFile, readdir } = await import('node:fs/promises');
  const src = new URL('../../web/', import.meta.url);
  let text = await readFile(new URL('index.html', src), 'utf8');
  for (const f of await readdir(new URL('src/', src))) if (f.endsWith('.js')) text += await readFile(new URL(`src/${f}`, src), 'utf8');
  const used = new Set([
    ...[...text.matchAll(/data-i18n(?:-[a-z-]+)?="([\w.]+)"/g)].map((m) => m[1]),
    ...[...text.matchAll(/\bt\('([\w.]+)'/g)].map((m) => m[1]),
  ]);
  for (const k of used) assert.ok(k in TEXT.zh, `text ${k} is defined`);
  // And every text is used (keys built at run time: level., state., search.kind., crs., role.).
  const dynamic = /^(level|state|search\.kind|crs|role)\./;
  for (const k of Object.keys(TEXT.zh)) assert.ok(used.has(k) || dynamic.test(k), `text ${k} is used`);
  assert.ok(used.size > 40, `${used.size} keys found`);
});
