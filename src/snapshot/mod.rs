//! The immutable read model of one revision: a city's grids and components
//! with every index readers need, shared behind an `Arc`.
//!
//! A [`Snapshot`] is built from a [`Dataset`] (what the store holds for one
//! revision) and never changes; publishing a revision builds the next one off
//! the request threads and swaps it in. It sits above [`crate::index`] (pure
//! spatial structures) and below [`crate::query`] (what readers ask of it).

mod revise;
mod stats;

use std::collections::HashMap;
use std::sync::Arc;

use geo::{Coord, Rect};
use rayon::prelude::*;

use crate::index::{LevelIndex, NameIndex, PointIndex, Position, Probe, merge_rects};
use crate::model::{ComponentRef, Dataset, Grid, GridId};
pub use stats::{GridCounts, Stats, state_names};

/// A store-issued revision number: revisions are numbered 1, 2, 3... in the
/// order they were recorded.
pub type Revision = u64;

/// An immutable, indexed city: what every reader shares behind an `Arc`.
#[derive(Debug)]
pub struct Snapshot {
    data: Dataset,
    levels: Vec<LevelIndex>,
    by_code: HashMap<String, GridId>,
    /// Each grid's parent (the code prefix of the level above), if the data has it.
    parents: Vec<Option<GridId>>,
    /// Per component (store order), the dataset index of the finest grid
    /// it lies in, or [`NO_GRID`].
    unit_grids: Vec<u32>,
    /// Shared by the snapshots of revisions that did not change components.
    points: Arc<PointIndex>,
    stats: Stats,
    names: NameIndex,
    /// The envelope of every level's grids.
    bounds: Option<Rect<f64>>,
    revision: Revision,
    /// The store's epoch of the view it was built from (see
    /// [`Store::epoch`](crate::store::Store::epoch)); `None` when not built
    /// from a store.
    epoch: Option<crate::store::Timestamp>,
    /// Unique among the snapshots built by this process.
    id: u64,
    /// Statistics of subsets of the components ([`Snapshot::stats_for`]),
    /// most recently used last.
    subset_stats: std::sync::Mutex<Vec<(String, Arc<Stats>)>>,
}

/// How many subsets' statistics a snapshot keeps.
const SUBSET_STATS: usize = 8;

/// How the unit grid column marks "not inside any grid" (a plain `u32`
/// column for memory; read as `Option<GridId>`).
const NO_GRID: u32 = u32::MAX;

/// The next [`Snapshot::id`].
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A snapshot's successor ([`Snapshot::next`]) and how it came about.
#[derive(Debug)]
pub struct Succession {
    /// The next snapshot.
    pub snapshot: Snapshot,
    /// When it was revised from its predecessor: the codes (sorted) of
    /// every grid whose valid version may differ, and nothing else differs
    /// (components included), so what is drawn differs only where those
    /// grids are, before or after. `None` when it was loaded whole.
    pub revised: Option<Vec<String>>,
}

impl Snapshot {
    /// Indexes a dataset: sorts grids by level and code, builds the level
    /// indexes, assigns every component its unit grid from its location, and
    /// builds the component R-tree. Uses all cores.
    pub fn build(mut data: Dataset, revision: Revision) -> Self {
        data.grids
            .sort_by(|a, b| (a.level, &a.code).cmp(&(b.level, &b.code)));
        let (by_code, parents) = links(&data);
        let ranges = level_ranges(&data);
        // The component R-tree is scaled at the city's middle latitude.
        let mid_lat = data
            .grids
            .iter()
            .filter_map(|g| geo::BoundingRect::bounding_rect(&g.geometry))
            .reduce(merge_rects)
            .map_or(0.0, |b| (b.min().y + b.max().y) / 2.0);
        // The level indexes and the components' order and R-tree need
        // nothing of each other: built side by side (the R-tree's bulk load
        // keeps one core, the levels take the rest).
        let grids = &data.grids;
        let components = Arc::make_mut(&mut data.components);
        let (mut levels, points) = rayon::join(
            || {
                ranges
                    .into_iter()
                    .map(|r| LevelIndex::build(r.start, &grids[r]))
                    .collect::<Vec<LevelIndex>>()
            },
            || {
                components.finish();
                components.shrink();
                PointIndex::build(components.locations(), mid_lat)
            },
        );
        // Where the finest level is empty and every coarser level is empty
        // too, a lookup can stop at the finest level.
        crate::index::mark_nowhere(&mut levels, None);
        let mut snap = Snapshot::assemble(data, levels, by_code, parents, revision);
        let assigned: Vec<u32> = snap
            .data
            .components
            .locations()
            .par_iter()
            .map(|&[x, y]| snap.locate_id(Coord { x, y }))
            .collect();
        snap.unit_grids = assigned;
        snap.stats = snap.count();
        snap.points = Arc::new(points);
        snap
    }

    /// A snapshot of `data` with its level indexes and links, and no
    /// component assignment, statistics or point index yet.
    fn assemble(
        data: Dataset,
        levels: Vec<LevelIndex>,
        by_code: HashMap<String, GridId>,
        parents: Vec<Option<GridId>>,
        revision: Revision,
    ) -> Snapshot {
        let bounds = levels.iter().filter_map(|l| l.extent()).reduce(merge_rects);
        let names = NameIndex::new(&data.grids);
        Snapshot {
            data,
            levels,
            by_code,
            parents,
            unit_grids: Vec::new(),
            points: Arc::default(),
            stats: Stats::default(),
            names,
            bounds,
            revision,
            epoch: None,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            subset_stats: Default::default(),
        }
    }

    /// The component statistics from the unit grid assignment.
    fn count(&self) -> Stats {
        self.count_over(self.data.components.iter())
    }

    /// The component statistics of only these components (a scoped
    /// reader's, see [`crate::query::scope`]), given in store order.
    pub fn stats_of(&self, components: impl Iterator<Item = usize>) -> Stats {
        self.count_over(components.map(|i| self.data.components.get(i)))
    }

    /// The statistics of a subset of the components named `key` (a scoped
    /// reader's), counted over `components()` (store order) on first use and
    /// kept for the next reads of this snapshot (the last few subsets).
    pub fn stats_for(&self, key: &str, components: impl FnOnce() -> Vec<usize>) -> Arc<Stats> {
        {
            let mut kept = self.subset_stats.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(i) = kept.iter().position(|(k, _)| k == key) {
                let hit = kept.remove(i);
                let stats = hit.1.clone();
                kept.push(hit);
                return stats;
            }
        }
        let stats = Arc::new(self.stats_of(components().into_iter()));
        let mut kept = self.subset_stats.lock().unwrap_or_else(|e| e.into_inner());
        kept.retain(|(k, _)| k != key);
        kept.push((key.to_string(), stats.clone()));
        if kept.len() > SUBSET_STATS {
            kept.remove(0);
        }
        stats
    }

    fn count_over<'c>(&self, components: impl Iterator<Item = ComponentRef<'c>>) -> Stats {
        let levels_of: Vec<usize> = self.data.grids.iter().map(|g| g.level).collect();
        Stats::build(
            components,
            |i| self.unit_grid(i),
            self.data.classes.len(),
            &self.parents,
            &levels_of,
        )
    }

    /// [`Snapshot::locate`]'s grid as stored in the unit grid column.
    fn locate_id(&self, p: Coord<f64>) -> u32 {
        self.locate(p).map_or(NO_GRID, |(g, _)| g.get())
    }

    /// Loads a view of a store and indexes it (all cores).
    pub fn from_store(
        store: &dyn crate::store::Store,
        view: crate::store::View,
    ) -> crate::store::Result<Snapshot> {
        let epoch = store.epoch(view)?;
        let data = store.load(view)?;
        let mut snap = Snapshot::build(data, view.revision);
        snap.epoch = epoch;
        Ok(snap)
    }

    /// The next snapshot, for `view` of the store (whose epoch is `epoch`,
    /// as [`crate::store::Store::epoch`] gives it): this one revised with
    /// the grids that differ ([`Snapshot::revise`]) when the store can say
    /// which (no components changed, not too many grids), else the view
    /// loaded whole. `view` must be no earlier than this snapshot's.
    pub fn next(
        &self,
        store: &dyn crate::store::Store,
        view: crate::store::View,
        epoch: Option<crate::store::Timestamp>,
    ) -> crate::store::Result<Succession> {
        match store.edits_since(self.revision, self.epoch, view)? {
            Some(edits) => {
                let mut codes: Vec<String> = edits
                    .put
                    .iter()
                    .map(|g| g.code.clone())
                    .chain(edits.gone.iter().cloned())
                    .collect();
                codes.sort();
                codes.dedup();
                Ok(Succession {
                    snapshot: self.revise(edits, view.revision, epoch),
                    revised: Some(codes),
                })
            }
            None => Ok(Succession {
                snapshot: Snapshot::from_store(store, view)?,
                revised: None,
            }),
        }
    }

    /// The store's epoch of the view this snapshot shows: two views of
    /// one revision with the same epoch hold the same grids.
    pub fn epoch(&self) -> Option<crate::store::Timestamp> {
        self.epoch
    }

    /// The dataset (grids sorted by level, then code).
    pub fn data(&self) -> &Dataset {
        &self.data
    }

    /// Unique among the snapshots this process built: what caches of
    /// things derived from a snapshot (tile indexes, tiles) are keyed by,
    /// since two views of one revision at different times differ.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The store revision this snapshot was built from.
    pub fn revision(&self) -> Revision {
        self.revision
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
    pub fn grid(&self, g: GridId) -> &Grid {
        &self.data.grids[g.index()]
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
    pub fn boundary_distance_m(&self, g: GridId, p: Coord<f64>) -> f64 {
        let level = &self.levels[self.grid(g).level];
        level.boundary_distance_m(level.local_index(g), p)
    }

    /// Dataset index of a grid's parent, if the data has it.
    pub fn parent(&self, g: GridId) -> Option<GridId> {
        self.parents[g.index()]
    }

    /// Dataset index of a grid code.
    pub fn grid_index(&self, code: &str) -> Option<GridId> {
        self.by_code.get(code).copied()
    }

    /// The finest-level grid containing `p` (lon/lat degrees) under the border
    /// rule, as a dataset index, with its [`Position`]. When no grid of the
    /// finest level contains `p`, coarser levels are tried in turn.
    #[inline]
    pub fn locate(&self, p: Coord<f64>) -> Option<(GridId, Position)> {
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

    /// Dataset index of the finest grid component `index` (store order)
    /// lies in — its unit grid, or a coarser grid where no unit grid covers
    /// the location (a gap in the finest level) — or `None` when it lies in
    /// no grid.
    pub fn unit_grid(&self, index: usize) -> Option<GridId> {
        Some(self.unit_grids[index])
            .filter(|&g| g != NO_GRID)
            .map(GridId::new)
    }

    /// Grid names, for substring search.
    pub fn names(&self) -> &NameIndex {
        &self.names
    }

    /// Component counts per grid and per class.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Store indexes of the components inside `r` (lon/lat degrees, borders
    /// included), ascending.
    pub fn components_in_box(&self, r: Rect<f64>) -> Vec<usize> {
        self.points.in_box(r, self.data.components.locations())
    }

    /// The envelope of all components, lon/lat degrees.
    pub fn components_extent(&self) -> Option<Rect<f64>> {
        self.points.extent()
    }

    /// Components by increasing distance from `p` (lon/lat degrees): each with
    /// a lower bound, in metres, of its distance and of every later one's.
    pub fn components_by_distance(&self, p: Coord<f64>) -> impl Iterator<Item = (usize, f64)> + '_ {
        self.points.by_distance(p)
    }

    /// Approximate heap bytes of indexes and component store.
    pub fn heap_bytes(&self) -> usize {
        self.levels.iter().map(|l| l.heap_bytes()).sum::<usize>()
            + self.data.components.heap_bytes()
            + self.unit_grids.capacity() * 4
            + self.points.heap_bytes()
    }

    /// Builds, now, the border segments otherwise built on the first
    /// nearest-grid answer. Run it off the request threads after loading.
    pub fn warm(&self) {
        if let Some(finest) = self.levels.iter().rev().find(|l| !l.is_empty()) {
            finest.warm_borders();
        }
    }

    /// The envelope of all grids, lon/lat degrees.
    pub fn extent(&self) -> Option<Rect<f64>> {
        self.bounds
    }
}

/// The grids' positions by code, and each grid's parent (the grid whose
/// code is its prefix of the level above), for grids sorted by level and code.
fn links(data: &Dataset) -> (HashMap<String, GridId>, Vec<Option<GridId>>) {
    let by_code = data
        .grids
        .iter()
        .enumerate()
        .map(|(i, g)| (g.code.clone(), GridId::new(i as u32)))
        .collect::<HashMap<String, GridId>>();
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
        })
        .collect();
    (by_code, parents)
}

/// The dataset positions of each level's grids (sorted by level and code).
fn level_ranges(data: &Dataset) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::with_capacity(data.scheme.depth());
    let mut start = 0;
    for level in 0..data.scheme.depth() {
        let end = start
            + data.grids[start..]
                .iter()
                .take_while(|g| g.level == level)
                .count();
        ranges.push(start..end);
        start = end;
    }
    ranges
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
