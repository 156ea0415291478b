//! Vector tiles (Mapbox Vector Tile 2.1) of the grids and components.
//!
//! Pipeline for grid polygons: project to Web Mercator, simplify each shared
//! border once for the zoom ([`topology`]), clip to the tile plus a buffer
//! ([`clip`]), snap to the 4096-unit tile lattice, drop what collapsed,
//! orient rings as the specification requires (exterior positive area,
//! holes negative, y down), encode ([`mvt`]). Components are drawn one by
//! one from [`RAW_MIN_ZOOM`] (when a tile holds at most [`RAW_MAX_POINTS`]),
//! and as clusters on a 32 × 32 cell lattice per tile below that
//! ([`points`]).
//!
//! *World units*: Web Mercator scaled so that the whole map is `0..1` on
//! both axes, x to the east, y to the south; tile `z/x/y` covers
//! `[x/2^z, (x+1)/2^z] × [y/2^z, (y+1)/2^z]`.

pub mod cache;
pub mod clip;
pub mod export;
pub mod mvt;
pub mod points;
pub mod prepared;
mod render;
mod rings;
mod set;
mod tile;
mod tilejson;
pub mod topology;
mod valid;

use std::sync::Arc;

use crate::snapshot::Snapshot;
use topology::LevelTopology;

pub use render::{Dropped, render, render_as, render_counted};
pub(crate) use rings::emit_polygon;
pub use set::TileSet;
pub use tile::{
    Source, TileError, TileId, lonlat, lonlat_rect, tile_ranges, tiles_covering, world,
};
pub use tilejson::{LayerInfo, data_bounds, layers, tilejson};

/// Tile units per tile side.
pub const EXTENT: u32 = 4096;
/// Buffer around each tile, tile units, included in polygon clipping and raw points.
pub const BUFFER: u32 = 64;
/// Highest zoom served; clients overzoom beyond it.
pub const MAX_ZOOM: u8 = 18;
/// Components are drawn one by one from this zoom (when the tile is not too full).
pub const RAW_MIN_ZOOM: u8 = 15;
/// A tile with more components than this is clustered at any zoom.
pub const RAW_MAX_POINTS: usize = 6000;
/// Cluster cells per tile side, log2 (32 × 32 cells of 128 tile units).
pub const CLUSTER_CELLS_LOG2: u32 = 5;
/// Grids are drawn from the zoom where the median grid of their level spans this many tile units (8 pixels of a 256-pixel tile).
const MIN_MEDIAN_UNITS: f64 = 128.0;
/// Labels appear from the zoom where the median grid spans this many tile units.
const LABEL_MEDIAN_UNITS: f64 = 384.0;
/// A single grid smaller than this (tile units, about one pixel) is not drawn.
const MIN_GRID_UNITS: f64 = 16.0;
/// Name of the grid label layer.
pub const LABEL_LAYER: &str = "grid_labels";
/// Name of the component layer.
pub const COMPONENT_LAYER: &str = "components";

const MAX_LAT: f64 = 85.051_128_779_806_59;

/// Tile-side indexes of a snapshot: border topology per level and the
/// components in Morton order. Built on first use (see [`TileSet::index`]);
/// the index of a revision that changed some grids shares what did not
/// change with its predecessor's ([`TileIndex::succeeding`]).
#[derive(Debug)]
pub struct TileIndex {
    /// Per level, built on first use where a revision changed the level.
    levels: Vec<std::sync::OnceLock<Arc<LevelTiles>>>,
    minzoom: Vec<u8>,
    label_minzoom: Vec<u8>,
    points: Arc<points::MortonIndex>,
}

/// One level's border topology and, per zoom, its grids prepared for that
/// zoom (on first use).
#[derive(Debug)]
struct LevelTiles {
    topology: LevelTopology,
    prepared: Vec<std::sync::OnceLock<prepared::Prepared>>,
}

impl LevelTiles {
    fn build(grids: &[crate::model::Grid]) -> Arc<LevelTiles> {
        Arc::new(LevelTiles {
            topology: LevelTopology::build(grids),
            prepared: (0..=MAX_ZOOM).map(|_| std::sync::OnceLock::new()).collect(),
        })
    }
}

/// Rings of neighbours around a tile's grids that a tile drawn before its
/// level's topology is built takes in (see [`TileIndex::for_tile`]): one
/// gives every border of the tile's grids both sides; the others keep the
/// rare repairs that make a neighbour valid at a zoom, which reach across
/// its borders, the same as in the whole level.
const NEAR_RINGS: usize = 3;

/// The border topology one tile of one level is drawn from.
enum TileTopology<'a> {
    /// The level's own, with its grids prepared per zoom.
    Level(&'a LevelTiles),
    /// Built for the grids near the tile; `ids` are their level-local
    /// numbers, sorted, in the order of the topology's grids.
    Near {
        topology: LevelTopology,
        ids: Vec<u32>,
    },
}

impl TileTopology<'_> {
    fn topology(&self) -> &LevelTopology {
        match self {
            TileTopology::Level(t) => &t.topology,
            TileTopology::Near { topology, .. } => topology,
        }
    }

    /// The topology's number of level-local grid `g` (one of the tile's).
    fn local(&self, g: u32) -> usize {
        match self {
            TileTopology::Level(_) => g as usize,
            TileTopology::Near { ids, .. } => ids
                .binary_search(&g)
                .expect("every grid meeting the tile is in its near topology"),
        }
    }

    /// Grid `g` (the topology's number) prepared for zoom `z` (see
    /// [`prepared`]): the level's prepared copy, or prepared now.
    fn prepared(&self, g: usize, z: u8) -> Option<([i32; 2], std::borrow::Cow<'_, [u8]>)> {
        match self {
            TileTopology::Level(t) => {
                let p = t.prepared[z as usize]
                    .get_or_init(|| prepared::Prepared::build(&t.topology, z));
                p.grid(g).map(|(first, rest)| (first, rest.into()))
            }
            TileTopology::Near { topology, .. } => {
                prepared::encode(topology, g, z).map(|(first, rest)| (first, rest.into()))
            }
        }
    }
}

/// Smallest zoom where a feature of `size` world units spans `units` tile units.
fn zoom_for(size: f64, units: f64) -> u8 {
    (0..=MAX_ZOOM)
        .find(|&z| size * EXTENT as f64 * (1u64 << z) as f64 >= units)
        .unwrap_or(MAX_ZOOM)
}

impl TileIndex {
    /// Builds the tile indexes of `snap`. Uses all cores.
    pub fn build(snap: &Snapshot) -> TileIndex {
        let grids = &snap.data().grids;
        let levels: Vec<Arc<LevelTiles>> = snap
            .levels()
            .iter()
            .map(|l| LevelTiles::build(&grids[l.dataset_range()]))
            .collect();
        // Derived from the grids' sizes for any extent (a city's districts
        // from zoom 9 or so, a country's provinces from zoom 2), unless the
        // scheme sets a level's zoom.
        let mut minzoom: Vec<u8> = levels
            .iter()
            .map(|t| zoom_for(t.topology.median_size(), MIN_MEDIAN_UNITS))
            .collect();
        // A finer level never appears before a coarser one.
        for i in 1..minzoom.len() {
            minzoom[i] = minzoom[i].max(minzoom[i - 1]);
        }
        for (z, def) in minzoom.iter_mut().zip(&snap.data().scheme.levels) {
            if let Some(set) = def.minzoom {
                *z = set.min(MAX_ZOOM);
            }
        }
        let label_minzoom = levels
            .iter()
            .zip(&minzoom)
            .map(|(t, &m)| zoom_for(t.topology.median_size(), LABEL_MEDIAN_UNITS).max(m))
            .collect();
        TileIndex {
            levels: levels.into_iter().map(std::sync::OnceLock::from).collect(),
            minzoom,
            label_minzoom,
            points: Arc::new(points::MortonIndex::build(&snap.data().components)),
        }
    }

    /// The tile indexes of `snap`, a revision of `before`'s snapshot
    /// (`index` is `before`'s tile index): levels whose grid shapes are the
    /// same, and the components when they are shared, are shared; changed
    /// levels are built on first use. Zoom ranges are kept, so that a
    /// revision does not move what is drawn at which zoom; `None` when the
    /// two have different levels or components.
    pub fn succeeding(index: &TileIndex, before: &Snapshot, snap: &Snapshot) -> Option<TileIndex> {
        if before.levels().len() != snap.levels().len()
            || !Arc::ptr_eq(&before.data().components, &snap.data().components)
        {
            return None;
        }
        let same = |l: usize| {
            let (a, b) = (
                before.level(l).dataset_range(),
                snap.level(l).dataset_range(),
            );
            let (a, b) = (&before.data().grids[a], &snap.data().grids[b]);
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(x, y)| x.code == y.code && x.geometry == y.geometry)
        };
        let levels = (0..snap.levels().len())
            .map(|l| match index.levels[l].get() {
                Some(tiles) if same(l) => std::sync::OnceLock::from(tiles.clone()),
                _ => std::sync::OnceLock::new(),
            })
            .collect();
        Some(TileIndex {
            levels,
            minzoom: index.minzoom.clone(),
            label_minzoom: index.label_minzoom.clone(),
            points: index.points.clone(),
        })
    }

    /// The tiles of `level` of `snap` (this index's snapshot).
    fn level(&self, snap: &Snapshot, level: usize) -> &LevelTiles {
        self.levels[level].get_or_init(|| {
            LevelTiles::build(&snap.data().grids[snap.level(level).dataset_range()])
        })
    }

    /// The border topology tile `rect` (lon/lat, the tile's buffered box)
    /// of `level` is drawn from: the level's own when it is built; while it
    /// is not (just after a publish, before [`TileIndex::warm`] is done),
    /// one built for the grids meeting the tile and [`NEAR_RINGS`] rings
    /// of their neighbours, in level order. Every border of a grid in the
    /// tile then has all its grids on both sides, so it is cut into chains
    /// and simplified as the level's own topology does it: the tile is the
    /// same, drawn in a millisecond instead of the level's build.
    fn for_tile(&self, snap: &Snapshot, level: usize, rect: geo::Rect<f64>) -> TileTopology<'_> {
        if let Some(tiles) = self.levels[level].get() {
            return TileTopology::Level(tiles);
        }
        use geo::BoundingRect;
        let li = snap.level(level);
        let grid = |g: u32| snap.grid(li.dataset_index(g));
        let mut ids = li.grids_in_box(rect);
        for _ in 0..NEAR_RINGS {
            let around = ids
                .iter()
                .filter_map(|&g| grid(g).geometry.bounding_rect())
                .reduce(crate::index::merge_rects);
            match around {
                Some(r) => ids = li.grids_in_box(r),
                None => break,
            }
        }
        ids.sort_unstable();
        ids.dedup();
        let grids: Vec<crate::model::Grid> = ids.iter().map(|&g| grid(g).clone()).collect();
        TileTopology::Near {
            topology: LevelTopology::build(&grids),
            ids,
        }
    }

    /// Builds every level not built yet (`snap`: this index's snapshot).
    pub fn warm(&self, snap: &Snapshot) {
        for level in 0..self.levels.len() {
            self.level(snap, level);
        }
    }

    /// Zoom from which grids of `level` are drawn.
    pub fn level_minzoom(&self, level: usize) -> u8 {
        self.minzoom[level]
    }

    /// Zoom from which grids of `level` are labelled.
    pub fn label_minzoom(&self, level: usize) -> u8 {
        self.label_minzoom[level]
    }

    /// Lowest zoom at which the sources have anything to draw.
    pub fn source_minzoom(&self) -> u8 {
        self.minzoom.first().copied().unwrap_or(0)
    }

    /// Number of components inside tile `t` (west and north edges included).
    pub fn components_in_tile(&self, t: TileId) -> usize {
        self.points.tile_range(t.z, t.x, t.y).len()
    }
}

#[cfg(test)]
mod tests {
    use super::mvt::{self, Geometry};
    use super::render::dominant_class;
    use super::rings::{drop_spikes, emit_polygon, snap_clipped_ring, split_touching};
    use super::*;

    #[test]
    fn a_cluster_shows_the_most_common_major_class() {
        let classes = crate::codes::ClassTable::builtin();
        let mut counts = vec![0u32; classes.len()];
        let mut touched = Vec::new();
        for (code, n) in [("0402", 5), ("0102", 3), ("0101", 3), ("0205", 2)] {
            let c = classes.get(code).unwrap();
            counts[c as usize] = n;
            touched.push(c);
        }
        // Trees are the most common class, but utilities (6) outnumber
        // greenery (5); among utilities 0101 and 0102 tie: the smaller code.
        let d = classes.def(dominant_class(&touched, &counts, &classes));
        assert_eq!(d.code, "0101");
        counts[classes.get("0402").unwrap() as usize] = 7;
        let d = classes.def(dominant_class(&touched, &counts, &classes));
        assert_eq!(d.code, "0402");
    }

    #[test]
    fn mercator_round_trips() {
        for (lon, lat) in [(116.39, 39.9), (-70.0, -33.4), (0.0, 0.0), (179.9, 85.0)] {
            let c = lonlat(world(lon, lat));
            assert!((c.x - lon).abs() < 1e-9 && (c.y - lat).abs() < 1e-9);
        }
        assert_eq!(world(-180.0, 0.0), [0.0, 0.5]);
    }

    #[test]
    fn tile_ids_are_checked() {
        assert!(TileId::new(18, (1 << 18) - 1, 0).is_ok());
        assert!(TileId::new(19, 0, 0).is_err());
        assert!(TileId::new(3, 8, 0).is_err());
        assert_eq!(TileId::parse("2", "1", "3.mvt"), TileId::new(2, 1, 3));
        assert!(TileId::parse("2", "-1", "3").is_err());
        assert!(TileId::parse("99999999999", "0", "0").is_err());
    }

    #[test]
    fn spikes_from_snapping_are_removed() {
        // A square with a spike going out and straight back along the top.
        let r = vec![
            [0, 0],
            [10, 0],
            [10, 10],
            [5, 10],
            [5, 14],
            [5, 10],
            [0, 10],
        ];
        assert_eq!(
            drop_spikes(r),
            vec![[0, 0], [10, 0], [10, 10], [5, 10], [0, 10]]
        );
        // A vertex on the line between its neighbours, ring folded back.
        let r = vec![[0, 0], [4, 2], [2, 1], [2, 8]];
        assert_eq!(drop_spikes(r), vec![[0, 0], [2, 1], [2, 8]]);
        // A straight run is not a spike.
        let r = vec![[0, 0], [5, 0], [10, 0], [10, 10]];
        assert_eq!(drop_spikes(r.clone()), r);
    }

    #[test]
    fn a_pinched_ring_is_split_into_simple_rings() {
        // Two squares joined at the vertex (10, 10): a figure eight.
        let eight = vec![
            [0, 0],
            [10, 0],
            [10, 10],
            [20, 10],
            [20, 20],
            [10, 20],
            [10, 10],
            [0, 10],
        ];
        let mut out = Vec::new();
        split_touching(eight, &mut out);
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|r| r.len() == 4 && mvt::ring_area2(r) > 0));
        // A loop inside: the ring passes (10, 30) twice and encloses a hole.
        let looped = vec![
            [0, 0],
            [30, 0],
            [30, 30],
            [10, 30],
            [10, 20],
            [20, 20],
            [20, 10],
            [10, 10],
            [10, 30],
            [0, 30],
        ];
        let mut out = Vec::new();
        split_touching(looped.clone(), &mut out);
        let mut areas: Vec<i64> = out.iter().map(|r| mvt::ring_area2(r)).collect();
        areas.sort_unstable();
        // Twice the areas: the 30 × 30 square less the loop's 10 × 10 hole
        // (with its zero-width tail), as an exterior and a hole.
        assert_eq!(areas, vec![-200, 1800]);
        let mut g = Geometry::default();
        emit_polygon(&mut g, vec![looped]);
        let mut both = Geometry::default();
        both.ring(&out.iter().find(|r| mvt::ring_area2(r) > 0).unwrap().clone());
        both.ring(&out.iter().find(|r| mvt::ring_area2(r) < 0).unwrap().clone());
        assert_eq!(g, both, "emitted as the exterior, then the hole");
    }

    #[test]
    fn vertices_near_the_buffer_edge_stay_off_it() {
        let t = TileId::new(0, 0, 0).unwrap();
        let u = t.unit();
        let hi = (EXTENT + BUFFER) as f64 * u;
        // On the edge (a crossing point): stays; 0.2 units inside: kept one unit in.
        let r = snap_clipped_ring(&t, &[[hi, 0.5], [hi - 0.2 * u, 0.6], [0.5, 0.6]]);
        assert_eq!(r[0][0], (EXTENT + BUFFER) as i32);
        assert_eq!(r[1][0], (EXTENT + BUFFER) as i32 - 1);
    }

    #[test]
    fn source_lists_parse() {
        assert_eq!(
            Source::parse_list("components,grids,components").unwrap(),
            vec![Source::Components, Source::Grids]
        );
        assert!(Source::parse_list("roads").is_err());
        assert!(Source::parse_list("").is_err());
    }
}
