//! Pure spatial structures, built from grids and component locations and
//! knowing nothing of revisions, queries or HTTP.
//!
//! Per grid level: an R-tree of grid bounding boxes, an [`IndexedPolygon`] per
//! grid for exact point tests, and a [`Raster`] that answers most points with
//! no polygon test. For components: a [`PointIndex`]. For names: a
//! [`NameIndex`]. All in WGS84 lon/lat degrees.

mod borders;
mod names;
mod points;
mod polygon;
mod raster;

use geo::{Coord, Rect};
use rayon::prelude::*;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};

use crate::measure;
use crate::model::{Grid, GridId};
pub use borders::BorderIndex;
pub use names::NameIndex;
pub use points::PointIndex;
pub use polygon::{IndexedPolygon, Position};
pub use raster::{Cell, LocalCell, Raster};

type BoxEntry = GeomWithData<Rectangle<[f64; 2]>, u32>;

/// The smallest rectangle holding both.
pub fn merge_rects(a: Rect<f64>, b: Rect<f64>) -> Rect<f64> {
    Rect::new(
        Coord {
            x: a.min().x.min(b.min().x),
            y: a.min().y.min(b.min().y),
        },
        Coord {
            x: a.max().x.max(b.max().x),
            y: a.max().y.max(b.max().y),
        },
    )
}

/// The overlap of two rectangles, or `None` when they do not meet.
pub fn intersect_rects(a: Rect<f64>, b: Rect<f64>) -> Option<Rect<f64>> {
    let min = Coord {
        x: a.min().x.max(b.min().x),
        y: a.min().y.max(b.min().y),
    };
    let max = Coord {
        x: a.max().x.min(b.max().x),
        y: a.max().y.min(b.max().y),
    };
    (min.x <= max.x && min.y <= max.y).then(|| Rect::new(min, max))
}

/// The deterministic border rule, applied to one level.
///
/// A point belongs to the grid whose interior contains it. A point on the
/// boundary of several grids (a shared border or vertex) belongs to the one
/// among them with the smallest code (string order). Candidates must be given
/// in ascending code order.
#[inline]
fn pick(
    candidates: impl Iterator<Item = u32>,
    position: impl Fn(u32) -> Position,
) -> Option<(u32, Position)> {
    let mut boundary = None;
    for c in candidates {
        match position(c) {
            Position::Inside => return Some((c, Position::Inside)),
            Position::Boundary if boundary.is_none() => boundary = Some((c, Position::Boundary)),
            _ => {}
        }
    }
    boundary
}

/// What one level says about a point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Probe {
    /// This grid (level-local) holds the point.
    Found(u32, Position),
    /// No grid of this level holds it; a coarser level might.
    Empty,
    /// No grid of this level or any coarser level holds it.
    Nowhere,
}

/// Indexes of one grid level. Grid numbers here are level-local (`0..len`,
/// plain `u32`), in ascending code order; [`LevelIndex::dataset_index`] gives
/// the [`GridId`] of the snapshot's dataset and [`LevelIndex::local_index`]
/// goes back.
#[derive(Debug, Clone)]
pub struct LevelIndex {
    /// Dataset index of this level's first grid.
    first: usize,
    /// The indexes proper, shared by the snapshots whose level is the same.
    l: std::sync::Arc<Level>,
}

/// What [`LevelIndex`] shares between snapshots.
#[derive(Debug)]
struct Level {
    /// Shared one by one with the next revision of the level.
    polys: Vec<std::sync::Arc<IndexedPolygon>>,
    tree: RTree<BoxEntry>,
    raster: Option<Raster>,
    extent: Option<Rect<f64>>,
    /// Border segments for nearest-grid answers, built on first use.
    borders: std::sync::OnceLock<BorderIndex>,
}

impl LevelIndex {
    /// Builds the indexes over `grids` (all of one level, sorted by code).
    pub fn build(first: usize, grids: &[Grid]) -> Self {
        let polys: Vec<std::sync::Arc<IndexedPolygon>> = grids
            .par_iter()
            .map(|g| std::sync::Arc::new(IndexedPolygon::new(&g.geometry)))
            .collect();
        let mut li = Self::without_raster(first, polys);
        if let Some(extent) = li.l.extent {
            // About 256 cells per grid, at most 4 million cells (16 MB plus the
            // edges of mixed cells) for the largest cities.
            let target = (li.len() * 256).clamp(4096, 4 << 20);
            let raster = Raster::build(
                extent,
                li.len(),
                target,
                |g| li.l.polys[g].segments(),
                |c, skip| li.inside_exact(c, skip),
                |g, c| li.position(g, c),
            );
            li.set_raster(raster);
        }
        li
    }

    /// The level's polygons with their R-tree and extent, and no raster yet.
    fn without_raster(first: usize, polys: Vec<std::sync::Arc<IndexedPolygon>>) -> Self {
        let tree = RTree::bulk_load(
            polys
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let b = p.bbox();
                    GeomWithData::new(
                        Rectangle::from_corners([b.min().x, b.min().y], [b.max().x, b.max().y]),
                        i as u32,
                    )
                })
                .collect(),
        );
        let extent = polys.iter().map(|p| p.bbox()).reduce(merge_rects);
        LevelIndex {
            first,
            l: std::sync::Arc::new(Level {
                polys,
                tree,
                raster: None,
                extent,
                borders: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Sets the raster of an index being built (not yet shared).
    fn set_raster(&mut self, raster: Raster) {
        std::sync::Arc::get_mut(&mut self.l)
            .expect("an index being built is not shared")
            .raster = Some(raster);
    }

    /// The same level with its first grid at dataset index `first` (a
    /// coarser level gained or lost grids). Shares everything.
    pub fn starting_at(&self, first: usize) -> Self {
        LevelIndex {
            first,
            l: self.l.clone(),
        }
    }

    /// The index of this level after some of its grids changed, reusing
    /// what did not. `grids` are the level's grids now (sorted by code);
    /// `kept[i]` is, for new grid `i` whose geometry did not change, its
    /// old level-local number; `renumber[old]` is the new level-local
    /// number of each old grid ([`u32::MAX`] when gone); `area` (lon/lat
    /// degrees) holds the old and new geometry of every changed grid. Only
    /// the raster cells meeting `area` are drawn again, unless the level
    /// now reaches beyond its raster (then all is built anew, as by
    /// [`LevelIndex::build`]).
    pub fn revise(
        &self,
        first: usize,
        grids: &[Grid],
        kept: &[Option<u32>],
        renumber: &[u32],
        area: Rect<f64>,
    ) -> Self {
        let polys: Vec<std::sync::Arc<IndexedPolygon>> = grids
            .iter()
            .zip(kept)
            .map(|(g, k)| match k {
                Some(old) => self.l.polys[*old as usize].clone(),
                None => std::sync::Arc::new(IndexedPolygon::new(&g.geometry)),
            })
            .collect();
        let mut li = Self::without_raster(first, polys);
        let Some(old) = self.l.raster.as_ref() else {
            return Self::build(first, grids);
        };
        let within = |r: Rect<f64>| {
            let e = old.extent();
            r.min().x >= e.min().x
                && r.min().y >= e.min().y
                && r.max().x <= e.max().x
                && r.max().y <= e.max().y
        };
        if !li.l.extent.is_some_and(within) {
            return Self::build(first, grids);
        }
        let raster = old.revise(
            area,
            renumber,
            |r| li.grids_in_box(r),
            |g| li.l.polys[g].segments(),
            |c, skip| li.inside_exact(c, skip),
            |g, c| li.position(g, c),
        );
        li.set_raster(raster);
        li
    }

    /// The level-local number of grid `g` (of this level).
    #[inline]
    pub fn local_index(&self, g: GridId) -> u32 {
        debug_assert!(self.dataset_range().contains(&g.index()));
        g.get() - self.first as u32
    }

    /// The grid of level-local number `g`.
    #[inline]
    pub fn dataset_index(&self, g: u32) -> GridId {
        GridId::new(self.first as u32 + g)
    }

    /// The dataset indexes of this level's grids.
    pub fn dataset_range(&self) -> std::ops::Range<usize> {
        self.first..self.first + self.len()
    }

    /// Number of grids at this level.
    pub fn len(&self) -> usize {
        self.l.polys.len()
    }

    /// True when the level has no grids.
    pub fn is_empty(&self) -> bool {
        self.l.polys.is_empty()
    }

    /// Exact position of `p` relative to level-local grid `g`.
    pub fn position(&self, g: u32, p: Coord<f64>) -> Position {
        self.l.polys[g as usize].position(p)
    }

    /// The envelope of the level's grids, lon/lat degrees.
    pub fn extent(&self) -> Option<Rect<f64>> {
        self.l.extent
    }

    /// Level-local grids whose bounding boxes intersect `r` (lon/lat degrees), ascending.
    pub fn grids_in_box(&self, r: Rect<f64>) -> Vec<u32> {
        let env = AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]);
        let mut v: Vec<u32> = self
            .l
            .tree
            .locate_in_envelope_intersecting(&env)
            .map(|e| e.data)
            .collect();
        v.sort_unstable();
        v
    }

    /// Distance in metres from `p` to the boundary of level-local grid `g`.
    pub fn boundary_distance_m(&self, g: u32, p: Coord<f64>) -> f64 {
        measure::segments_distance_m(p, self.l.polys[g as usize].segments().iter().copied())
    }

    /// The R-tree path: candidates by bounding box, then exact tests.
    /// Slower than [`LevelIndex::locate`]; same answer.
    pub fn locate_exact(&self, p: Coord<f64>) -> Option<(u32, Position)> {
        pick(self.candidates(p).into_iter(), |g| self.position(g, p))
    }

    /// Level-local grids whose bounding boxes hold `p`, ascending.
    fn candidates(&self, p: Coord<f64>) -> Vec<u32> {
        let mut cands: Vec<u32> = self
            .l
            .tree
            .locate_in_envelope_intersecting(&AABB::from_point([p.x, p.y]))
            .map(|e| e.data)
            .collect();
        cands.sort_unstable();
        cands
    }

    /// A local cell's answer for `p` under the border rule, and the mask of
    /// its candidates whose interiors hold `p`.
    #[inline]
    fn local_pick(&self, cell: &LocalCell, p: Coord<f64>) -> (Option<(u32, Position)>, u8) {
        let (inside, boundary) = self.l.raster.as_ref().map_or((0, 0), |r| r.local(cell, p));
        let cands = cell.candidates();
        let answer = pick(0..cands.len() as u32, |k| {
            if inside & (1 << k) != 0 {
                Position::Inside
            } else if boundary & (1 << k) != 0 {
                Position::Boundary
            } else {
                Position::Outside
            }
        })
        .map(|(k, pos)| (cands[k as usize], pos));
        (answer, inside)
    }

    /// Every level-local grid not in `skip` (ascending) whose interior
    /// contains `p` (R-tree candidates, exact tests), ascending. More than
    /// one only where grids overlap.
    fn inside_exact(&self, p: Coord<f64>, skip: &[u32]) -> Vec<u32> {
        self.candidates(p)
            .into_iter()
            .filter(|g| skip.binary_search(g).is_err())
            .filter(|&g| self.position(g, p) == Position::Inside)
            .collect()
    }

    /// Like [`LevelIndex::locate`], and also lists the grids of this level
    /// whose interiors contain `p` when there are two or more (level-local,
    /// ascending; empty otherwise): the level's grids overlap there, a data
    /// error kept by `--allow-invalid`. Allocates nothing and costs what
    /// `locate` costs where there is no overlap and the raster cell is pure.
    pub fn locate_all(&self, p: Coord<f64>) -> (Option<(u32, Position)>, Vec<u32>) {
        let all = |cands: &mut dyn Iterator<Item = u32>| {
            let mut first = None;
            let mut overlap: Vec<u32> = Vec::new();
            let mut boundary = None;
            for g in cands {
                match self.position(g, p) {
                    Position::Inside => match first {
                        None => first = Some(g),
                        Some(f) => {
                            if overlap.is_empty() {
                                overlap.push(f);
                            }
                            overlap.push(g);
                        }
                    },
                    Position::Boundary if boundary.is_none() => boundary = Some(g),
                    _ => {}
                }
            }
            let pick = match (first, boundary) {
                (Some(g), _) => Some((g, Position::Inside)),
                (None, Some(g)) => Some((g, Position::Boundary)),
                (None, None) => None,
            };
            (pick, overlap)
        };
        match self.l.raster.as_ref().map(|r| r.cell(p)) {
            Some(Cell::Pure(g)) => (Some((g, Position::Inside)), Vec::new()),
            Some(Cell::Empty | Cell::Nowhere) => (None, Vec::new()),
            Some(Cell::Local(cell)) => {
                let (pick, inside) = self.local_pick(cell, p);
                let cands = cell.candidates();
                let overlap = if inside.count_ones() > 1 {
                    (0..cands.len())
                        .filter(|k| inside & (1 << k) != 0)
                        .map(|k| cands[k])
                        .collect()
                } else {
                    Vec::new()
                };
                (pick, overlap)
            }
            Some(Cell::Mixed(list)) => all(&mut list.iter().copied()),
            Some(Cell::Outside) | None => {
                if !p.x.is_finite() || !p.y.is_finite() {
                    return (None, Vec::new());
                }
                all(&mut self.candidates(p).into_iter())
            }
        }
    }

    /// The grid of this level that contains `p` (lon/lat degrees) under the
    /// border rule, with whether `p` is on its boundary.
    #[inline]
    pub fn locate(&self, p: Coord<f64>) -> Option<(u32, Position)> {
        match self.probe(p) {
            Probe::Found(g, pos) => Some((g, pos)),
            Probe::Empty | Probe::Nowhere => None,
        }
    }

    /// Like [`LevelIndex::locate`], and says when no coarser level can hold `p` either.
    #[inline]
    pub fn probe(&self, p: Coord<f64>) -> Probe {
        let found =
            |r: Option<(u32, Position)>| r.map_or(Probe::Empty, |(g, pos)| Probe::Found(g, pos));
        found(match self.l.raster.as_ref().map(|r| r.cell(p)) {
            Some(Cell::Pure(g)) => Some((g, Position::Inside)),
            Some(Cell::Empty) => None,
            Some(Cell::Nowhere) => return Probe::Nowhere,
            Some(Cell::Local(cell)) => self.local_pick(cell, p).0,
            Some(Cell::Mixed(list)) => pick(list.iter().copied(), |g| self.position(g, p)),
            Some(Cell::Outside) | None => {
                if !p.x.is_finite() || !p.y.is_finite() {
                    return Probe::Nowhere;
                }
                self.locate_exact(p)
            }
        })
    }

    /// The nearest grid to `p` (lon/lat degrees) and the great-circle
    /// distance in metres to its boundary; among grids at the same distance,
    /// the lowest index.
    /// Searches an R-tree of border segments (built on the first call, or by
    /// [`LevelIndex::warm_borders`]).
    pub fn nearest(&self, p: Coord<f64>) -> Option<(u32, f64)> {
        self.borders().nearest(p)
    }

    /// Builds the border-segment index now, so that the first nearest-grid
    /// answer does not wait for it.
    pub fn warm_borders(&self) {
        self.borders();
    }

    fn borders(&self) -> &BorderIndex {
        self.l
            .borders
            .get_or_init(|| BorderIndex::build(self.l.polys.len(), |g| self.l.polys[g].segments()))
    }

    /// The lookup raster, if the level has grids.
    pub fn raster(&self) -> Option<&Raster> {
        self.l.raster.as_ref()
    }

    /// Share of raster cells answered without a polygon test (0..1).
    pub fn raster_pure_share(&self) -> f64 {
        self.l.raster.as_ref().map_or(0.0, |r| r.pure_share())
    }

    /// Approximate heap bytes of the indexes.
    pub fn heap_bytes(&self) -> usize {
        self.l
            .polys
            .iter()
            .map(|p| p.segments().len() * 40 + 64)
            .sum::<usize>()
            + self.l.tree.size() * 48
            + self.l.raster.as_ref().map_or(0, |r| r.heap_bytes())
            + self.l.borders.get().map_or(0, |b| b.heap_bytes())
    }
}

/// Marks the raster cells of the finest level where every coarser level is
/// empty too, so that a lookup there stops at the finest level. `levels` are
/// coarsest first; the finest must not be shared yet (just built or
/// revised). With `area` (lon/lat degrees), only cells there are looked at
/// (again): where a revision changed grids.
pub fn mark_nowhere(levels: &mut [LevelIndex], area: Option<Rect<f64>>) {
    if let Some((finest, coarser)) = levels.split_last_mut()
        && let Some(level) = std::sync::Arc::get_mut(&mut finest.l)
        && let Some(raster) = level.raster.as_mut()
    {
        raster.mark_nowhere(area, |r| {
            coarser
                .iter()
                .all(|l| l.l.raster.as_ref().is_none_or(|c| c.all_empty_in(r)))
        });
    }
}
