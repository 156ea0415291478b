//! A uniform cell raster over one grid level that answers most point lookups
//! with no polygon test at all.
//!
//! Every cell crossed by some grid edge keeps the short list of grids whose
//! edges cross it ("mixed" cells); every other cell lies wholly inside one grid
//! (or wholly outside all) and stores that answer ("pure" cells). A lookup in a
//! pure cell is two multiplications and a memory read; in a mixed cell it tests
//! only the listed grids exactly.

use geo::{Coord, Rect};

/// What a raster cell says about the points in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell<'a> {
    /// Every point of the cell lies in this grid (level-local index).
    Pure(u32),
    /// No point of the cell lies in any grid.
    Empty,
    /// Grid edges cross the cell: test these grids (level-local indexes, ascending).
    Mixed(&'a [u32]),
    /// The point is outside the raster's extent.
    Outside,
}

const MIXED: u32 = 1 << 31;
const EMPTY: u32 = u32::MAX;
/// Margin in cell units when marking cells crossed by an edge, so that
/// rounding never leaves a crossed cell marked pure.
const EPS: f64 = 1e-6;

/// The raster for one level (lon/lat degrees).
#[derive(Debug, Clone)]
pub struct Raster {
    x0: f64,
    y0: f64,
    inv_w: f64,
    inv_h: f64,
    nx: usize,
    ny: usize,
    cells: Vec<u32>,
    lists: Vec<u32>,
}

impl Raster {
    /// Builds the raster over `extent` with about `target_cells` cells.
    ///
    /// `edges(i)` yields the edges of grid `i` (level-local index, `0..n`);
    /// `classify_center(c)` answers, for a point that lies on no edge, which
    /// grid contains it (or `None`).
    pub fn build<'s>(
        extent: Rect<f64>,
        n: usize,
        target_cells: usize,
        edges: impl Fn(usize) -> &'s [[Coord<f64>; 2]],
        classify_center: impl Fn(Coord<f64>) -> Option<u32>,
    ) -> Self {
        let (w, h) = (extent.width().max(1e-9), extent.height().max(1e-9));
        let cell = (w * h / target_cells.max(1) as f64).sqrt();
        let nx = ((w / cell).ceil() as usize).clamp(1, 1 << 14);
        let ny = ((h / cell).ceil() as usize).clamp(1, 1 << 14);
        let mut r = Raster {
            x0: extent.min().x,
            y0: extent.min().y,
            inv_w: nx as f64 / w,
            inv_h: ny as f64 / h,
            nx,
            ny,
            cells: vec![EMPTY; nx * ny],
            lists: Vec::new(),
        };
        // (cell, grid) pairs for every cell an edge of the grid crosses.
        let mut pairs: Vec<(u32, u32)> = Vec::new();
        for g in 0..n {
            for &[a, b] in edges(g) {
                r.mark_segment(a, b, |cell| pairs.push((cell, g as u32)));
            }
        }
        pairs.sort_unstable();
        pairs.dedup();
        let mut i = 0;
        while i < pairs.len() {
            let cell = pairs[i].0;
            let end = i + pairs[i..].iter().take_while(|p| p.0 == cell).count();
            r.cells[cell as usize] = MIXED | r.lists.len() as u32;
            r.lists.push((end - i) as u32);
            r.lists.extend(pairs[i..end].iter().map(|p| p.1));
            i = end;
        }
        for cy in 0..ny {
            for cx in 0..nx {
                let idx = cy * nx + cx;
                if r.cells[idx] == EMPTY {
                    let center = Coord {
                        x: r.x0 + (cx as f64 + 0.5) / r.inv_w,
                        y: r.y0 + (cy as f64 + 0.5) / r.inv_h,
                    };
                    r.cells[idx] = classify_center(center).unwrap_or(EMPTY);
                }
            }
        }
        r
    }

    /// Calls `mark` with every cell index the segment a-b may touch (a superset).
    fn mark_segment(&self, a: Coord<f64>, b: Coord<f64>, mut mark: impl FnMut(u32)) {
        let (ua, va) = ((a.x - self.x0) * self.inv_w, (a.y - self.y0) * self.inv_h);
        let (ub, vb) = ((b.x - self.x0) * self.inv_w, (b.y - self.y0) * self.inv_h);
        let (umin, umax) = (ua.min(ub), ua.max(ub));
        let c0 = clamp_idx(umin - EPS, self.nx);
        let c1 = clamp_idx(umax + EPS, self.nx);
        for cx in c0..=c1 {
            // The segment's v-range within the column strip [cx, cx+1].
            let (s0, s1) = ((cx as f64).max(umin), ((cx + 1) as f64).min(umax));
            let v_at = |u: f64| {
                if ub == ua {
                    None
                } else {
                    Some(va + (vb - va) * ((u - ua) / (ub - ua)).clamp(0.0, 1.0))
                }
            };
            let (vlo, vhi) = match (v_at(s0), v_at(s1)) {
                (Some(p), Some(q)) if s0 <= s1 => (p.min(q), p.max(q)),
                _ => (va.min(vb), va.max(vb)),
            };
            let r0 = clamp_idx(vlo - EPS, self.ny);
            let r1 = clamp_idx(vhi + EPS, self.ny);
            for cy in r0..=r1 {
                mark((cy * self.nx + cx) as u32);
            }
        }
    }

    /// What the cell containing `p` (lon/lat degrees) says.
    #[inline]
    pub fn cell(&self, p: Coord<f64>) -> Cell<'_> {
        let u = (p.x - self.x0) * self.inv_w;
        let v = (p.y - self.y0) * self.inv_h;
        if !(u >= 0.0 && v >= 0.0 && u < self.nx as f64 && v < self.ny as f64) {
            return Cell::Outside;
        }
        let c = self.cells[v as usize * self.nx + u as usize];
        if c == EMPTY {
            Cell::Empty
        } else if c & MIXED != 0 {
            let start = (c & !MIXED) as usize;
            let len = self.lists[start] as usize;
            Cell::Mixed(&self.lists[start + 1..start + 1 + len])
        } else {
            Cell::Pure(c)
        }
    }

    /// Cells in x and y.
    pub fn dims(&self) -> (usize, usize) {
        (self.nx, self.ny)
    }

    /// Share of cells that are pure or empty (answered without a polygon test).
    pub fn pure_share(&self) -> f64 {
        let pure = self
            .cells
            .iter()
            .filter(|&&c| c == EMPTY || c & MIXED == 0)
            .count();
        pure as f64 / self.cells.len() as f64
    }

    /// Heap bytes used.
    pub fn heap_bytes(&self) -> usize {
        (self.cells.capacity() + self.lists.capacity()) * 4
    }
}

#[inline]
fn clamp_idx(u: f64, n: usize) -> usize {
    if u <= 0.0 { 0 } else { (u as usize).min(n - 1) }
}
