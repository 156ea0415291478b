//! A uniform cell raster over one grid level that answers most point lookups
//! with no polygon test at all.
//!
//! A cell that no grid edge crosses lies wholly inside one grid (or wholly
//! outside all) and stores that answer ("pure" cells): a lookup there is two
//! multiplications and a memory read. A cell crossed by edges ("mixed") keeps,
//! in one place, a reference point whose grid membership is known, and the
//! few edges that cross the cell with the grids they belong to. A point's
//! membership is the reference point's, flipped by every edge the segment
//! between them crosses — exact orientation tests on a handful of edges in
//! adjacent memory, instead of whole polygons scattered over the heap. Cells
//! where that does not apply (more than [`MAX_LOCAL`] grids, or no usable
//! reference point) keep the list of grids to test whole.

use geo::{Coord, Rect};

/// What a raster cell says about the points in it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    /// Every point of the cell lies in this grid (level-local index).
    Pure(u32),
    /// No point of the cell lies in any grid of this level.
    Empty,
    /// No point of the cell lies in any grid of this level or of any coarser
    /// level (see [`Raster::mark_nowhere`]).
    Nowhere,
    /// Grid edges cross the cell; they are stored with the cell: see [`Raster::local`].
    Local(&'a LocalCell),
    /// Grid edges cross the cell: test these grids whole (level-local indexes, ascending).
    Mixed(&'a [u32]),
    /// The point is outside the raster's extent.
    Outside,
}

/// Most grids a cell may list to be answered from its own edges.
pub const MAX_LOCAL: usize = 4;

/// A mixed cell answered from its own edges.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalCell {
    /// Reference point (lon/lat degrees), on no edge.
    r: Coord<f64>,
    /// Candidate grids (level-local, ascending); `ncand` are used.
    cands: [u32; MAX_LOCAL],
    ncand: u8,
    /// Bit i set: the reference point is inside candidate i.
    inside: u8,
    edges_start: u32,
    nedges: u32,
}

impl LocalCell {
    /// The candidate grids, ascending.
    pub fn candidates(&self) -> &[u32] {
        &self.cands[..self.ncand as usize]
    }
}

/// An edge stored with a cell, with the candidates (bit mask) it bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct LocalEdge {
    a: Coord<f64>,
    b: Coord<f64>,
    owners: u8,
}

#[inline]
fn orient(a: Coord<f64>, b: Coord<f64>, c: Coord<f64>) -> f64 {
    robust::orient2d(
        robust::Coord { x: a.x, y: a.y },
        robust::Coord { x: b.x, y: b.y },
        robust::Coord { x: c.x, y: c.y },
    )
}

const MIXED: u32 = 1 << 31;
const EMPTY: u32 = u32::MAX;
const NOWHERE: u32 = u32::MAX - 1;
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
    locals: Vec<LocalCell>,
    edges: Vec<LocalEdge>,
    /// Entries of `lists`, `locals` and `edges` no cell names any more
    /// (left by [`Raster::revise`] until it next compacts).
    garbage: usize,
}

const LOCAL: u32 = 1 << 30;

/// A block of cells: columns `c0..=c1`, rows `r0..=r1`.
#[derive(Debug, Clone, Copy)]
struct Window {
    c0: usize,
    c1: usize,
    r0: usize,
    r1: usize,
}

impl Window {
    fn contains(&self, cx: usize, cy: usize) -> bool {
        (self.c0..=self.c1).contains(&cx) && (self.r0..=self.r1).contains(&cy)
    }
}

/// An undirected edge by the bits of its two vertices.
type EdgeKey = ((u64, u64), (u64, u64));

impl Raster {
    /// Builds the raster over `extent` with about `target_cells` cells.
    ///
    /// `edges(i)` yields the edges of grid `i` (level-local index, `0..n`);
    /// `classify_center(c, skip)` answers, for a point that lies on no edge,
    /// every grid not in `skip` that contains it (ascending; more than one
    /// where grids overlap, which such a cell then lists as mixed, so that an
    /// overlap is never hidden behind a pure cell); `position(g, c)` places a
    /// point exactly relative to grid `g`. Uses all cores.
    pub fn build<'s>(
        extent: Rect<f64>,
        n: usize,
        target_cells: usize,
        edges: impl Fn(usize) -> &'s [[Coord<f64>; 2]],
        classify_center: impl Fn(Coord<f64>, &[u32]) -> Vec<u32> + Sync,
        position: impl Fn(u32, Coord<f64>) -> super::Position,
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
            locals: Vec::new(),
            edges: Vec::new(),
            garbage: 0,
        };
        let all = Window {
            c0: 0,
            c1: nx - 1,
            r0: 0,
            r1: ny - 1,
        };
        r.fill(all, 0..n, &edges, &classify_center, &position);
        r
    }

    /// The lon/lat rectangle the cells cover.
    pub fn extent(&self) -> Rect<f64> {
        Rect::new(
            Coord {
                x: self.x0,
                y: self.y0,
            },
            Coord {
                x: self.x0 + self.nx as f64 / self.inv_w,
                y: self.y0 + self.ny as f64 / self.inv_h,
            },
        )
    }

    /// This raster's cells after some grids of the level changed, every
    /// change lying inside `area` (lon/lat degrees: the old and the new
    /// geometry of every changed grid): the same cell lattice, the cells
    /// meeting `area` (and one cell around it) drawn again, every other cell
    /// kept with its grid numbers renumbered. `renumber[old]` is the new
    /// level-local number of an old grid (it must keep their order;
    /// [`u32::MAX`] for a grid that is gone, which only cells near `area`
    /// can name); `grids_meeting(r)` lists the new grids whose boxes meet
    /// the lon/lat rectangle `r` (the cells drawn again); `edges`,
    /// `classify_center` and `position` are as for [`Raster::build`], over
    /// the new grids. When no grid was added or removed the kept cells are
    /// copied as they are (what the cells drawn again named before is left
    /// unused, until that is a sixteenth of the raster); otherwise kept
    /// lists, local cells and their edges are copied compactly.
    pub fn revise<'s>(
        &self,
        area: Rect<f64>,
        renumber: &[u32],
        grids_meeting: impl FnOnce(Rect<f64>) -> Vec<u32>,
        edges: impl Fn(usize) -> &'s [[Coord<f64>; 2]],
        classify_center: impl Fn(Coord<f64>, &[u32]) -> Vec<u32> + Sync,
        position: impl Fn(u32, Coord<f64>) -> super::Position,
    ) -> Raster {
        let w = self.window(area, 1);
        let same_grids = renumber.iter().enumerate().all(|(i, &g)| g == i as u32);
        let mut r = if same_grids && self.garbage < self.cells.len() / 16 {
            let mut r = self.clone();
            for cy in w.r0..=w.r1 {
                for cx in w.c0..=w.c1 {
                    let c = &mut r.cells[cy * r.nx + cx];
                    if *c & MIXED != 0 && *c != EMPTY && *c != NOWHERE {
                        r.garbage += if *c & LOCAL != 0 {
                            1 + self.locals[(*c & !(MIXED | LOCAL)) as usize].nedges as usize
                        } else {
                            1 + self.lists[(*c & !MIXED) as usize] as usize
                        };
                    }
                    *c = EMPTY;
                }
            }
            r
        } else {
            self.compacted(w, renumber)
        };
        let grids = grids_meeting(self.window_rect(w));
        r.fill(
            w,
            grids.into_iter().map(|g| g as usize),
            &edges,
            &classify_center,
            &position,
        );
        r
    }

    /// The lon/lat rectangle of the cells of `w`.
    fn window_rect(&self, w: Window) -> Rect<f64> {
        Rect::new(
            Coord {
                x: self.x0 + w.c0 as f64 / self.inv_w,
                y: self.y0 + w.r0 as f64 / self.inv_h,
            },
            Coord {
                x: self.x0 + (w.c1 + 1) as f64 / self.inv_w,
                y: self.y0 + (w.r1 + 1) as f64 / self.inv_h,
            },
        )
    }

    /// A copy with the cells of `w` emptied and every other cell's grids
    /// renumbered (`renumber[old]`), naming only what its cells use.
    fn compacted(&self, w: Window, renumber: &[u32]) -> Raster {
        let mut r = Raster {
            cells: Vec::with_capacity(self.cells.len()),
            lists: Vec::with_capacity(self.lists.len()),
            locals: Vec::with_capacity(self.locals.len()),
            edges: Vec::with_capacity(self.edges.len()),
            garbage: 0,
            ..*self
        };
        let map = |g: u32| renumber.get(g as usize).copied().unwrap_or(u32::MAX);
        for (i, &c) in self.cells.iter().enumerate() {
            let (cx, cy) = (i % self.nx, i / self.nx);
            let kept = if w.contains(cx, cy) {
                EMPTY
            } else if c == EMPTY || c == NOWHERE {
                c
            } else if c & MIXED != 0 && c & LOCAL != 0 {
                let old = &self.locals[(c & !(MIXED | LOCAL)) as usize];
                let mut l = old.clone();
                for k in 0..l.ncand as usize {
                    l.cands[k] = map(l.cands[k]);
                }
                if l.candidates().contains(&u32::MAX) {
                    debug_assert!(false, "a changed grid is named outside the changed area");
                    EMPTY
                } else {
                    let start = old.edges_start as usize;
                    l.edges_start = r.edges.len() as u32;
                    r.edges
                        .extend_from_slice(&self.edges[start..start + old.nedges as usize]);
                    r.locals.push(l);
                    MIXED | LOCAL | (r.locals.len() - 1) as u32
                }
            } else if c & MIXED != 0 {
                let start = (c & !MIXED) as usize;
                let len = self.lists[start] as usize;
                let list: Vec<u32> = self.lists[start + 1..start + 1 + len]
                    .iter()
                    .map(|&g| map(g))
                    .filter(|&g| g != u32::MAX)
                    .collect();
                debug_assert_eq!(
                    list.len(),
                    len,
                    "a changed grid is named outside the changed area"
                );
                let at = r.lists.len() as u32;
                r.lists.push(list.len() as u32);
                r.lists.extend(&list);
                MIXED | at
            } else {
                let g = map(c);
                debug_assert!(
                    g != u32::MAX,
                    "a changed grid is named outside the changed area"
                );
                if g == u32::MAX { EMPTY } else { g }
            };
            r.cells.push(kept);
        }
        r
    }

    /// The cells meeting `area` (lon/lat degrees), and `margin` cells around them.
    fn window(&self, area: Rect<f64>, margin: usize) -> Window {
        let u0 = (area.min().x - self.x0) * self.inv_w - EPS;
        let u1 = (area.max().x - self.x0) * self.inv_w + EPS;
        let v0 = (area.min().y - self.y0) * self.inv_h - EPS;
        let v1 = (area.max().y - self.y0) * self.inv_h + EPS;
        Window {
            c0: clamp_idx(u0, self.nx).saturating_sub(margin),
            c1: (clamp_idx(u1, self.nx) + margin).min(self.nx - 1),
            r0: clamp_idx(v0, self.ny).saturating_sub(margin),
            r1: (clamp_idx(v1, self.ny) + margin).min(self.ny - 1),
        }
    }

    /// Draws the cells of `w` (all empty) from the edges of `grids` (every
    /// grid whose edges may cross `w`) and the grids holding their centres.
    fn fill<'s>(
        &mut self,
        w: Window,
        grids: impl Iterator<Item = usize>,
        edges: &impl Fn(usize) -> &'s [[Coord<f64>; 2]],
        classify_center: &(impl Fn(Coord<f64>, &[u32]) -> Vec<u32> + Sync),
        position: &impl Fn(u32, Coord<f64>) -> super::Position,
    ) {
        let nx = self.nx;
        // (cell, grid, edge) for every cell of the window an edge of the grid may cross.
        let mut pairs: Vec<(u32, u32, u32)> = Vec::new();
        for g in grids {
            for (e, &[a, b]) in edges(g).iter().enumerate() {
                self.mark_segment(a, b, |cell| {
                    let (cx, cy) = (cell as usize % nx, cell as usize / nx);
                    if w.contains(cx, cy) {
                        pairs.push((cell, g as u32, e as u32));
                    }
                });
            }
        }
        pairs.sort_unstable();
        // Crossed cells: (cell, first pair, end of its pairs).
        let mut crossed: Vec<(u32, usize, usize)> = Vec::new();
        let mut i = 0;
        while i < pairs.len() {
            let end = i + pairs[i..].iter().take_while(|p| p.0 == pairs[i].0).count();
            crossed.push((pairs[i].0, i, end));
            i = end;
        }
        // A grid that holds a crossed cell's centre and has no edge in the
        // cell holds all of it: only where grids overlap, but then it must be
        // a candidate too, or points there would not see it.
        let (x0, y0, inv_w, inv_h) = (self.x0, self.y0, self.inv_w, self.inv_h);
        let center_of = |cell: u32| {
            let (cx, cy) = (cell as usize % nx, cell as usize / nx);
            Coord {
                x: x0 + (cx as f64 + 0.5) / inv_w,
                y: y0 + (cy as f64 + 0.5) / inv_h,
            }
        };
        let covering: Vec<Vec<u32>> = {
            use rayon::prelude::*;
            crossed
                .par_iter()
                .map(|&(cell, i, end)| {
                    let mut cands: Vec<u32> = pairs[i..end].iter().map(|p| p.1).collect();
                    cands.dedup();
                    classify_center(center_of(cell), &cands)
                })
                .collect()
        };
        for (&(cell, i, end), covering) in crossed.iter().zip(covering) {
            let mut cands: Vec<u32> = pairs[i..end].iter().map(|p| p.1).collect();
            cands.dedup();
            if !covering.is_empty() {
                cands.extend(covering);
                cands.sort_unstable();
            }
            let local = self.local_cell(cell, &cands, &pairs[i..end], edges, position);
            self.cells[cell as usize] = match local {
                Some(l) => {
                    self.locals.push(l);
                    MIXED | LOCAL | (self.locals.len() - 1) as u32
                }
                None => {
                    let at = self.lists.len() as u32;
                    self.lists.push(cands.len() as u32);
                    self.lists.extend(&cands);
                    MIXED | at
                }
            };
        }
        // Cells no edge crosses: the grids holding their centres, row by row
        // on all cores; where two or more do (an overlap) the cell is mixed.
        let overlapping: Vec<(usize, Vec<u32>)> = {
            use rayon::prelude::*;
            self.cells
                .par_chunks_mut(nx)
                .enumerate()
                .skip(w.r0)
                .take(w.r1 + 1 - w.r0)
                .flat_map_iter(|(cy, row)| {
                    let mut many = Vec::new();
                    for (cx, cell) in row.iter_mut().enumerate().take(w.c1 + 1).skip(w.c0) {
                        if *cell != EMPTY {
                            continue;
                        }
                        let center = Coord {
                            x: x0 + (cx as f64 + 0.5) / inv_w,
                            y: y0 + (cy as f64 + 0.5) / inv_h,
                        };
                        let inside = classify_center(center, &[]);
                        match inside.as_slice() {
                            [] => {}
                            [g] => *cell = *g,
                            _ => many.push((cy * nx + cx, inside)),
                        }
                    }
                    many
                })
                .collect()
        };
        for (idx, inside) in overlapping {
            let at = self.lists.len() as u32;
            self.lists.push(inside.len() as u32);
            self.lists.extend(&inside);
            self.cells[idx] = MIXED | at;
        }
    }

    /// The cell's reference point and edges, when the cell can be answered locally.
    fn local_cell<'s>(
        &mut self,
        cell: u32,
        cands: &[u32],
        pairs: &[(u32, u32, u32)],
        edges: &impl Fn(usize) -> &'s [[Coord<f64>; 2]],
        position: &impl Fn(u32, Coord<f64>) -> super::Position,
    ) -> Option<LocalCell> {
        if cands.len() > MAX_LOCAL {
            return None;
        }
        let (cx, cy) = (
            (cell as usize % self.nx) as f64,
            (cell as usize / self.nx) as f64,
        );
        // A reference point inside the cell on no edge of any candidate.
        let r = [
            (0.5, 0.5),
            (0.27, 0.61),
            (0.73, 0.38),
            (0.41, 0.22),
            (0.62, 0.79),
        ]
        .iter()
        .map(|&(u, v)| Coord {
            x: self.x0 + (cx + u) / self.inv_w,
            y: self.y0 + (cy + v) / self.inv_h,
        })
        .find(|&r| {
            cands
                .iter()
                .all(|&g| position(g, r) != super::Position::Boundary)
        })?;
        let mut inside = 0u8;
        for (k, &g) in cands.iter().enumerate() {
            if position(g, r) == super::Position::Inside {
                inside |= 1 << k;
            }
        }
        // Edges, each once with every candidate it bounds (shared borders are
        // the same two vertices in either direction).
        let key = |a: Coord<f64>, b: Coord<f64>| {
            let (p, q) = (
                (a.x.to_bits(), a.y.to_bits()),
                (b.x.to_bits(), b.y.to_bits()),
            );
            if p <= q { (p, q) } else { (q, p) }
        };
        let mut list: Vec<(EdgeKey, LocalEdge)> = pairs
            .iter()
            .map(|&(_, g, e)| {
                let [a, b] = edges(g as usize)[e as usize];
                let k = cands.iter().position(|&c| c == g).unwrap_or(0);
                (
                    key(a, b),
                    LocalEdge {
                        a,
                        b,
                        owners: 1 << k,
                    },
                )
            })
            .collect();
        list.sort_by_key(|x| x.0);
        let start = self.edges.len();
        for (k, e) in list {
            let len = self.edges.len();
            match self.edges.last_mut() {
                Some(last) if len > start && key(last.a, last.b) == k => last.owners |= e.owners,
                _ => self.edges.push(e),
            }
        }
        let mut c = LocalCell {
            r,
            cands: [0; MAX_LOCAL],
            ncand: cands.len() as u8,
            inside,
            edges_start: start as u32,
            nedges: (self.edges.len() - start) as u32,
        };
        c.cands[..cands.len()].copy_from_slice(cands);
        Some(c)
    }

    /// Exact membership of `p` (a point of this cell) in each candidate of a
    /// local cell: bit masks (inside, on boundary) over `cell.candidates()`.
    #[inline]
    pub fn local(&self, cell: &LocalCell, p: Coord<f64>) -> (u8, u8) {
        let r = cell.r;
        let mut flip = 0u8;
        let mut boundary = 0u8;
        let start = cell.edges_start as usize;
        for e in &self.edges[start..start + cell.nedges as usize] {
            let (a, b) = (e.a, e.b);
            let tp = orient(a, b, p);
            if tp == 0.0
                && p.x >= a.x.min(b.x)
                && p.x <= a.x.max(b.x)
                && p.y >= a.y.min(b.y)
                && p.y <= a.y.max(b.y)
            {
                boundary |= e.owners;
                continue;
            }
            // Does segment r→p cross edge a→b? Endpoints of the edge on the
            // line r→p count as on its positive side, so a path through a
            // vertex is counted once, consistently.
            let sa = orient(r, p, a) >= 0.0;
            let sb = orient(r, p, b) >= 0.0;
            if sa != sb {
                let tr = orient(a, b, r);
                if tr != 0.0 && tp != 0.0 && (tr > 0.0) != (tp > 0.0) {
                    flip ^= e.owners;
                }
            }
        }
        ((cell.inside ^ flip) & !boundary, boundary)
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
        } else if c == NOWHERE {
            Cell::Nowhere
        } else if c & MIXED != 0 && c & LOCAL != 0 {
            Cell::Local(&self.locals[(c & !(MIXED | LOCAL)) as usize])
        } else if c & MIXED != 0 {
            let start = (c & !MIXED) as usize;
            let len = self.lists[start] as usize;
            Cell::Mixed(&self.lists[start + 1..start + 1 + len])
        } else {
            Cell::Pure(c)
        }
    }

    /// True when no point of rectangle `r` (lon/lat degrees) lies in a grid of
    /// this level: every cell it may touch is empty (or `r` misses the raster).
    pub fn all_empty_in(&self, r: Rect<f64>) -> bool {
        let (u0, u1) = (
            (r.min().x - self.x0) * self.inv_w - EPS,
            (r.max().x - self.x0) * self.inv_w + EPS,
        );
        let (v0, v1) = (
            (r.min().y - self.y0) * self.inv_h - EPS,
            (r.max().y - self.y0) * self.inv_h + EPS,
        );
        if u1 < 0.0 || v1 < 0.0 || u0 >= self.nx as f64 || v0 >= self.ny as f64 {
            return true;
        }
        let (c0, c1) = (clamp_idx(u0, self.nx), clamp_idx(u1, self.nx));
        let (r0, r1) = (clamp_idx(v0, self.ny), clamp_idx(v1, self.ny));
        (r0..=r1)
            .all(|cy| (c0..=c1).all(|cx| matches!(self.cells[cy * self.nx + cx], EMPTY | NOWHERE)))
    }

    /// Turns every empty cell for which `elsewhere_empty(cell rectangle)`
    /// holds into a "nowhere" cell, so lookups there stop at this level.
    /// With `area` (lon/lat degrees), only the cells meeting it (and one
    /// around) are looked at, and those marked before are looked at again:
    /// what to do after coarser levels changed there.
    pub fn mark_nowhere(
        &mut self,
        area: Option<Rect<f64>>,
        elsewhere_empty: impl Fn(Rect<f64>) -> bool,
    ) {
        let w = match area {
            Some(a) => self.window(a, 1),
            None => Window {
                c0: 0,
                c1: self.nx - 1,
                r0: 0,
                r1: self.ny - 1,
            },
        };
        for cy in w.r0..=w.r1 {
            for cx in w.c0..=w.c1 {
                let i = cy * self.nx + cx;
                if self.cells[i] == NOWHERE {
                    self.cells[i] = EMPTY;
                }
                if self.cells[i] != EMPTY {
                    continue;
                }
                let r = Rect::new(
                    Coord {
                        x: self.x0 + cx as f64 / self.inv_w,
                        y: self.y0 + cy as f64 / self.inv_h,
                    },
                    Coord {
                        x: self.x0 + (cx + 1) as f64 / self.inv_w,
                        y: self.y0 + (cy + 1) as f64 / self.inv_h,
                    },
                );
                if elsewhere_empty(r) {
                    self.cells[i] = NOWHERE;
                }
            }
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
            .filter(|&&c| c == EMPTY || c == NOWHERE || c & MIXED == 0)
            .count();
        pure as f64 / self.cells.len() as f64
    }

    /// Heap bytes used.
    pub fn heap_bytes(&self) -> usize {
        (self.cells.capacity() + self.lists.capacity()) * 4
            + self.locals.capacity() * std::mem::size_of::<LocalCell>()
            + self.edges.capacity() * std::mem::size_of::<LocalEdge>()
    }
}

#[inline]
fn clamp_idx(u: f64, n: usize) -> usize {
    if u <= 0.0 { 0 } else { (u as usize).min(n - 1) }
}
