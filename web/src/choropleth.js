// Thematic map: grids of one level coloured by their component count.
// Counts are split into at most five classes of values at quantiles (so each
// colour covers about as many grids), with grids without any component in a
// class of their own.

/** Colours of the classes of values, light to dark (ColorBrewer YlOrRd). */
export const PALETTE = ['#ffffb2', '#fecc5c', '#fd8d3c', '#f03b20', '#bd0026'];
/** Colour of grids with no component. */
export const ZERO = '#e0e0e0';

/**
 * Splits counts (non-negative integers) into classes of values.
 * Returns [{min, max, color}] in increasing order; the classes cover every
 * count, do not overlap, and a class {min: 0, max: 0} exists when a count is 0.
 */
export function classify(counts, k = PALETTE.length) {
  const positive = counts.filter((c) => c > 0).sort((a, b) => a - b);
  const classes = [];
  if (counts.some((c) => c === 0)) classes.push({ min: 0, max: 0, color: ZERO });
  if (!positive.length) return classes;
  const uppers = [];
  for (let i = 1; i <= k; i++) {
    const q = positive[Math.min(positive.length - 1, Math.ceil((i * positive.length) / k) - 1)];
    if (!uppers.length || q > uppers[uppers.length - 1]) uppers.push(q);
  }
  let min = positive[0];
  const colors = spread(uppers.length);
  uppers.forEach((max, i) => {
    classes.push({ min, max, color: colors[i] });
    min = max + 1;
  });
  return classes;
}

/** `n` palette colours spread from light to dark. */
function spread(n) {
  if (n >= PALETTE.length) return PALETTE.slice(0, n);
  if (n === 1) return [PALETTE[PALETTE.length - 1]];
  return Array.from({ length: n }, (_, i) => PALETTE[Math.round((i * (PALETTE.length - 1)) / (n - 1))]);
}

/** The class of values a count falls in. */
export function classOf(classes, count) {
  return classes.find((c) => count >= c.min && count <= c.max);
}

/**
 * A MapLibre `fill-color` expression giving each grid (by its `code`
 * property) the colour of its count's class.
 */
export function fillColor(grids, classes) {
  const byColor = new Map(classes.map((c) => [c.color, []]));
  for (const g of grids) byColor.get(classOf(classes, g.count)?.color)?.push(g.code);
  const expr = ['match', ['get', 'code']];
  for (const [color, codes] of byColor) if (codes.length) expr.push(codes, color);
  expr.push('rgba(0,0,0,0)');
  return expr.length > 3 ? expr : 'rgba(0,0,0,0)';
}
