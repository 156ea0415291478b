//! Spatial indexes and the immutable [`Snapshot`] that readers share.
//!
//! Per grid level: an R-tree of grid bounding boxes, an [`IndexedPolygon`] per
//! grid for exact point tests, and a [`Raster`] that answers most points with
//! no polygon test. For components: an R-tree of points. All in WGS84 lon/lat
//! degrees.

mod borders;
mod polygon;
mod raster;

use std::collections::HashMap;

use geo::{Coord, Rect};
use rayon::prelude::*;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};

use crate::measure::{self, M_PER_DEG};
use crate::model::{Dataset, Grid, NO_GRID};
pub use borders::BorderIndex;
pub use polygon::{IndexedPolygon, Position};
pub use raster::{Cell, LocalCell, Raster};

type BoxEntry = GeomWithData<Rectangle<[f64; 2]>, u32>;
/// A component location in the point R-tree: `[lon · point_scale, lat]`,
/// with its dense store index.
type PointEntry = GeomWithData<[f64; 2], u32>;

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
enum Probe {
    /// This grid (level-local) holds the point.
    Found(u32, Position),
    /// No grid of this level holds it; a coarser level might.
    Empty,
    /// No grid of this level or any coarser level holds it.
    Nowhere,
}

/// Indexes of one grid level. Grid numbers here are level-local (`0..len`),
/// in ascending code order; add [`LevelIndex::first`] for the dataset index.
#[derive(Debug)]
pub struct LevelIndex {
    /// Dataset index of this level's first grid.
    pub first: usize,
    polys: Vec<IndexedPolygon>,
    tree: RTree<BoxEntry>,
    raster: Option<Raster>,
    extent: Option<Rect<f64>>,
    /// Border segments for nearest-grid answers, built on first use.
    borders: std::sync::OnceLock<BorderIndex>,
}

impl LevelIndex {
    /// Builds the indexes over `grids` (all of one level, sorted by code).
    pub fn build(first: usize, grids: &[Grid]) -> Self {
        let polys: Vec<IndexedPolygon> = grids
            .par_iter()
            .map(|g| IndexedPolygon::new(&g.geometry))
            .collect();
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
        let mut li = LevelIndex {
            first,
            polys,
            tree,
            raster: None,
            extent,
            borders: std::sync::OnceLock::new(),
        };
        if let Some(extent) = extent {
            // About 256 cells per grid, at most 4 million cells (16 MB plus the
            // edges of mixed cells) for the largest cities.
            let target = (li.polys.len() * 256).clamp(4096, 4 << 20);
            let raster = Raster::build(
                extent,
                li.polys.len(),
                target,
                |g| li.polys[g].segments(),
                |c, skip| li.inside_exact(c, skip),
                |g, c| li.position(g, c),
            );
            li.raster = Some(raster);
        }
        li
    }

    /// The dataset index of level-local grid `g` (the two numberings are
    /// both `u32`; this is the one place that converts).
    #[inline]
    pub fn dataset_index(&self, g: u32) -> u32 {
        (self.first + g as usize) as u32
    }

    /// The dataset indexes of this level's grids.
    pub fn dataset_range(&self) -> std::ops::Range<usize> {
        self.first..self.first + self.len()
    }

    /// Number of grids at this level.
    pub fn len(&self) -> usize {
        self.polys.len()
    }

    /// True when the level has no grids.
    pub fn is_empty(&self) -> bool {
        self.polys.is_empty()
    }

    /// Exact position of `p` relative to level-local grid `g`.
    pub fn position(&self, g: u32, p: Coord<f64>) -> Position {
        self.polys[g as usize].position(p)
    }

    /// The envelope of the level's grids, lon/lat degrees.
    pub fn extent(&self) -> Option<Rect<f64>> {
        self.extent
    }

    /// Level-local grids whose bounding boxes intersect `r` (lon/lat degrees), ascending.
    pub fn grids_in_box(&self, r: Rect<f64>) -> Vec<u32> {
        let env = AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]);
        let mut v: Vec<u32> = self
            .tree
            .locate_in_envelope_intersecting(&env)
            .map(|e| e.data)
            .collect();
        v.sort_unstable();
        v
    }

    /// Distance in metres from `p` to the boundary of level-local grid `g`.
    pub fn boundary_distance_m(&self, g: u32, p: Coord<f64>) -> f64 {
        measure::segments_distance_m(p, self.polys[g as usize].segments().iter().copied())
    }

    /// The R-tree path: candidates by bounding box, then exact tests.
    /// Slower than [`LevelIndex::locate`]; same answer.
    pub fn locate_exact(&self, p: Coord<f64>) -> Option<(u32, Position)> {
        pick(self.candidates(p).into_iter(), |g| self.position(g, p))
    }

    /// Level-local grids whose bounding boxes hold `p`, ascending.
    fn candidates(&self, p: Coord<f64>) -> Vec<u32> {
        let mut cands: Vec<u32> = self
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
        let (inside, boundary) = self.raster.as_ref().map_or((0, 0), |r| r.local(cell, p));
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
        match self.raster.as_ref().map(|r| r.cell(p)) {
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
    fn probe(&self, p: Coord<f64>) -> Probe {
        let found =
            |r: Option<(u32, Position)>| r.map_or(Probe::Empty, |(g, pos)| Probe::Found(g, pos));
        found(match self.raster.as_ref().map(|r| r.cell(p)) {
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
        self.borders
            .get_or_init(|| BorderIndex::build(self.polys.len(), |g| self.polys[g].segments()))
    }

    /// The lookup raster, if the level has grids.
    pub fn raster(&self) -> Option<&Raster> {
        self.raster.as_ref()
    }

    /// Share of raster cells answered without a polygon test (0..1).
    pub fn raster_pure_share(&self) -> f64 {
        self.raster.as_ref().map_or(0.0, |r| r.pure_share())
    }

    /// Approximate heap bytes of the indexes.
    pub fn heap_bytes(&self) -> usize {
        self.polys
            .iter()
            .map(|p| p.segments().len() * 40 + 64)
            .sum::<usize>()
            + self.tree.size() * 48
            + self.raster.as_ref().map_or(0, |r| r.heap_bytes())
            + self.borders.get().map_or(0, |b| b.heap_bytes())
    }
}

/// An immutable, indexed city: what every reader shares behind an `Arc`.
#[derive(Debug)]
pub struct Snapshot {
    data: Dataset,
    levels: Vec<LevelIndex>,
    by_code: HashMap<String, u32>,
    /// Dataset index of each grid's parent (the code prefix of the level above), or [`NO_GRID`].
    parents: Vec<u32>,
    points: RTree<PointEntry>,
    /// cos(latitude) at the middle of the city: the point R-tree stores
    /// longitudes multiplied by it, so that its distances are nearly metric.
    point_scale: f64,
    stats: crate::stats::Stats,
    names: crate::search::NameIndex,
    /// The envelope of every level's grids.
    bounds: Option<Rect<f64>>,
    version: u64,
    /// Vector tile indexes, built on first use.
    tiles: std::sync::OnceLock<crate::tiles::TileIndex>,
}

impl Snapshot {
    /// Indexes a dataset: sorts grids by level and code, builds the level
    /// indexes, assigns every component its unit grid from its location, and
    /// builds the component R-tree. Uses all cores.
    pub fn build(mut data: Dataset, version: u64) -> Self {
        data.grids
            .sort_by(|a, b| (a.level, &a.code).cmp(&(b.level, &b.code)));
        let by_code = data
            .grids
            .iter()
            .enumerate()
            .map(|(i, g)| (g.code.clone(), i as u32))
            .collect::<HashMap<String, u32>>();
        let parents = data
            .grids
            .iter()
            .map(|g| {
                let len = g
                    .level
                    .checked_sub(1)
                    .map(|l| data.scheme.levels[l].code_len);
                len.and_then(|len| g.code.get(..len))
                    .and_then(|c| by_code.get(c).copied())
                    .unwrap_or(NO_GRID)
            })
            .collect();
        let mut levels = Vec::with_capacity(data.scheme.depth());
        let mut start = 0;
        for level in 0..data.scheme.depth() {
            let end = start
                + data.grids[start..]
                    .iter()
                    .take_while(|g| g.level == level)
                    .count();
            levels.push(LevelIndex::build(start, &data.grids[start..end]));
            start = end;
        }
        // Where the finest level is empty and every coarser level is empty
        // too, a lookup can stop at the finest level.
        if let Some((finest, coarser)) = levels.split_last_mut()
            && let Some(raster) = finest.raster.as_mut()
        {
            raster.mark_nowhere(|r| {
                coarser
                    .iter()
                    .all(|l| l.raster.as_ref().is_none_or(|c| c.all_empty_in(r)))
            });
        }
        data.components.finish();
        let bounds = levels.iter().filter_map(|l| l.extent).reduce(merge_rects);
        let mut snap = Snapshot {
            data,
            levels,
            by_code,
            parents,
            points: RTree::new(),
            point_scale: 1.0,
            stats: Default::default(),
            names: Default::default(),
            bounds,
            version,
            tiles: std::sync::OnceLock::new(),
        };
        let assigned: Vec<u32> = snap
            .data
            .components
            .locations()
            .par_iter()
            .map(|&[x, y]| snap.locate(Coord { x, y }).map_or(NO_GRID, |(g, _)| g))
            .collect();
        snap.data.components.set_unit_grids(assigned);
        snap.names = crate::search::NameIndex::new(&snap.data.grids);
        let levels_of: Vec<usize> = snap.data.grids.iter().map(|g| g.level).collect();
        snap.stats = crate::stats::Stats::build(
            &snap.data.components,
            snap.data.classes.len(),
            &snap.parents,
            &levels_of,
        );
        snap.data.components.shrink();
        let mid_lat = snap.bounds.map_or(0.0, |b| (b.min().y + b.max().y) / 2.0);
        snap.point_scale = mid_lat.to_radians().cos().max(0.01);
        let scale = snap.point_scale;
        let entries: Vec<PointEntry> = snap
            .data
            .components
            .locations()
            .iter()
            .enumerate()
            .map(|(i, &[x, y])| GeomWithData::new([x * scale, y], i as u32))
            .collect();
        snap.points = RTree::bulk_load(entries);
        snap
    }

    /// The dataset (grids sorted by level, then code).
    pub fn data(&self) -> &Dataset {
        &self.data
    }

    /// Data version this snapshot was built from.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The index of one level.
    pub fn level(&self, level: usize) -> &LevelIndex {
        &self.levels[level]
    }

    /// All level indexes, coarsest first.
    pub fn levels(&self) -> &[LevelIndex] {
        &self.levels
    }

    /// A grid by dataset index.
    pub fn grid(&self, index: u32) -> &Grid {
        &self.data.grids[index as usize]
    }

    /// A grid by code.
    pub fn grid_by_code(&self, code: &str) -> Option<&Grid> {
        self.by_code.get(code).map(|&i| self.grid(i))
    }

    /// The grids one level below `g` whose codes start with its code.
    pub fn children(&self, g: &Grid) -> &[Grid] {
        let Some(level) = self.levels.get(g.level + 1) else {
            return &[];
        };
        let grids = &self.data.grids[level.dataset_range()];
        let start = grids.partition_point(|c| c.code.as_str() < g.code.as_str());
        let len = grids[start..]
            .iter()
            .take_while(|c| c.code.starts_with(&g.code))
            .count();
        &grids[start..start + len]
    }

    /// Distance in metres from `p` to the boundary of the grid at dataset index `index`.
    pub fn boundary_distance_m(&self, index: u32, p: Coord<f64>) -> f64 {
        let level = &self.levels[self.grid(index).level];
        level.boundary_distance_m(index - level.first as u32, p)
    }

    /// Dataset index of a grid's parent, if the data has it.
    pub fn parent(&self, index: u32) -> Option<u32> {
        Some(self.parents[index as usize]).filter(|&p| p != NO_GRID)
    }

    /// Dataset index of a grid code.
    pub fn grid_index(&self, code: &str) -> Option<u32> {
        self.by_code.get(code).copied()
    }

    /// The finest-level grid containing `p` (lon/lat degrees) under the border
    /// rule, as a dataset index, with its [`Position`]. When no grid of the
    /// finest level contains `p`, coarser levels are tried in turn.
    #[inline]
    pub fn locate(&self, p: Coord<f64>) -> Option<(u32, Position)> {
        if let Some(b) = self.bounds
            && !(p.x >= b.min().x && p.x <= b.max().x && p.y >= b.min().y && p.y <= b.max().y)
        {
            return None;
        }
        for l in self.levels.iter().rev() {
            match l.probe(p) {
                Probe::Found(g, pos) => return Some((l.dataset_index(g), pos)),
                Probe::Nowhere => return None,
                Probe::Empty => {}
            }
        }
        None
    }

    /// Grid names, for substring search.
    pub fn names(&self) -> &crate::search::NameIndex {
        &self.names
    }

    /// Component counts per grid and per class.
    pub fn stats(&self) -> &crate::stats::Stats {
        &self.stats
    }

    /// Store indexes of the components inside `r` (lon/lat degrees, borders
    /// included), ascending.
    pub fn components_in_box(&self, r: Rect<f64>) -> Vec<usize> {
        let c = self.point_scale;
        let env = AABB::from_corners([r.min().x * c, r.min().y], [r.max().x * c, r.max().y]);
        // Scaling can merge neighbouring longitudes: check each hit exactly.
        let locations = self.data.components.locations();
        let mut v: Vec<usize> = self
            .points
            .locate_in_envelope(&env)
            .map(|e| e.data as usize)
            .filter(|&i| {
                let [x, y] = locations[i];
                x >= r.min().x && x <= r.max().x && y >= r.min().y && y <= r.max().y
            })
            .collect();
        v.sort_unstable();
        v
    }

    /// The envelope of all components, lon/lat degrees.
    pub fn components_extent(&self) -> Option<Rect<f64>> {
        if self.points.size() == 0 {
            return None;
        }
        let e = self.points.root().envelope();
        let c = self.point_scale;
        Some(Rect::new(
            Coord {
                x: e.lower()[0] / c,
                y: e.lower()[1],
            },
            Coord {
                x: e.upper()[0] / c,
                y: e.upper()[1],
            },
        ))
    }

    /// Components by increasing distance from `p` (lon/lat degrees): each with
    /// a lower bound, in metres, of its distance and of every later one's.
    pub fn components_by_distance(&self, p: Coord<f64>) -> impl Iterator<Item = (usize, f64)> + '_ {
        let c = self.point_scale;
        // metres ≥ M · min(1, cos(lat_p) / c) · (distance in the tree's space)
        let k = M_PER_DEG * (p.y.to_radians().cos().abs() / c).min(1.0);
        self.points
            .nearest_neighbor_iter_with_distance_2(&[p.x * c, p.y])
            .map(move |(e, d2)| (e.data as usize, d2.sqrt() * k))
    }

    /// Approximate heap bytes of indexes and component store.
    pub fn heap_bytes(&self) -> usize {
        self.levels.iter().map(|l| l.heap_bytes()).sum::<usize>()
            + self.data.components.heap_bytes()
            + self.points.size() * 32
    }

    /// The vector tile indexes (border topology, components in Morton
    /// order), built on the first call (about a second per million grid
    /// vertices and components).
    pub fn tiles(&self) -> &crate::tiles::TileIndex {
        self.tiles
            .get_or_init(|| crate::tiles::TileIndex::build(self))
    }

    /// Builds, now, the indexes otherwise built on first use: the border
    /// segments for nearest-grid answers and the vector tile indexes. Run it
    /// off the request threads after loading.
    pub fn warm(&self) {
        if let Some(finest) = self.levels.iter().rev().find(|l| !l.is_empty()) {
            finest.warm_borders();
        }
        self.tiles();
    }

    /// The envelope of all grids, lon/lat degrees.
    pub fn extent(&self) -> Option<Rect<f64>> {
        self.bounds
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::{GridScheme, LevelDef};
    use crate::validate::rect_polygon;
    use geo::MultiPolygon;

    /// A district only half covered by its one unit grid: points in the
    /// uncovered half fall back to the district, points outside get nothing.
    #[test]
    fn gaps_in_the_finest_level_fall_back_to_coarser_levels() {
        let level = |name: &str, len| LevelDef {
            name: name.into(),
            label: name.into(),
            code_len: len,
            legacy_lens: vec![],
            ..Default::default()
        };
        let mut data = Dataset::empty();
        data.scheme = GridScheme {
            levels: vec![level("district", 2), level("unit", 4)],
        };
        let grid = |code: &str, level, r: geo::Polygon<f64>| Grid {
            code: code.into(),
            name: code.into(),
            level,
            worker: None,
            geometry: MultiPolygon(vec![r]),
        };
        data.grids = vec![
            grid("11", 0, rect_polygon(100.0, 30.0, 100.02, 30.01)),
            grid("1101", 1, rect_polygon(100.0, 30.0, 100.01, 30.01)),
            grid("12", 0, rect_polygon(100.05, 30.0, 100.06, 30.01)),
        ];
        let snap = Snapshot::build(data, 1);
        let code = |x, y| {
            snap.locate(Coord { x, y })
                .map(|(g, _)| snap.grid(g).code.clone())
        };
        assert_eq!(code(100.005, 30.005).as_deref(), Some("1101"));
        assert_eq!(code(100.015, 30.005).as_deref(), Some("11"));
        assert_eq!(code(100.055, 30.005).as_deref(), Some("12"));
        assert_eq!(code(100.03, 30.005), None);
        assert_eq!(code(100.03, 31.0), None);
        assert_eq!(code(f64::NAN, 30.0), None);
        // Brute force over a fine lattice of points.
        for i in 0..=700 {
            for j in 0..=120 {
                let p = Coord {
                    x: 99.995 + i as f64 * 0.0001,
                    y: 29.995 + j as f64 * 0.0001,
                };
                // Grids sorted by (level, code): 0 = "11", 1 = "12", 2 = "1101"; finest first.
                let want = [2usize, 0, 1]
                    .iter()
                    .map(|&k| &snap.data().grids[k])
                    .find(|g| {
                        use geo::Intersects;
                        g.geometry.intersects(&geo::Point(p))
                    })
                    .map(|g| g.code.clone());
                // Points on borders shared by both levels belong to the finer grid.
                assert_eq!(code(p.x, p.y), want, "{p:?}");
            }
        }
    }
}
