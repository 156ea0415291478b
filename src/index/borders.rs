//! The nearest grid to a point outside every grid: an R-tree of the grids'
//! border segments, so that the answer costs a few tree steps and one exact
//! distance instead of a walk over whole polygons.
//!
//! Segments are stored as chords between unit vectors on the sphere (3D),
//! so the tree's distance is the chord distance for every query point, near
//! the city or half a world away: the first segments the tree returns are
//! the nearest, with no latitude-dependent bound to widen the search.
//! Edges are drawn straight in lon/lat; one longer than [`MAX_PIECE_DEG`] is
//! stored as pieces of at most that length, so that a chord never lies more
//! than a few centimetres below the edge it stands for. Distances are
//! great-circle metres on the sphere of radius [`EARTH_RADIUS_M`].

use geo::Coord;
use rstar::RTree;
use rstar::primitives::{GeomWithData, Line};

use crate::measure::EARTH_RADIUS_M;

/// A border segment (or a piece of one) as a 3D chord, with the
/// level-local grid it bounds.
type SegmentEntry = GeomWithData<Line<[f64; 3]>, u32>;

/// Longest piece of an edge stored as one chord, degrees (about 1.1 km: the
/// chord of such a piece lies at most 2.5 cm below the sphere).
pub const MAX_PIECE_DEG: f64 = 0.01;

/// The unit vector of a lon/lat point (degrees).
fn unit(c: Coord<f64>) -> [f64; 3] {
    let (lon, lat) = (c.x.to_radians(), c.y.to_radians());
    [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
}

/// Border segments of one level's grids.
#[derive(Debug)]
pub struct BorderIndex {
    tree: RTree<SegmentEntry>,
}

impl BorderIndex {
    /// Indexes the segments of grids `0..n`; `segments(g)` gives grid `g`'s
    /// edges (lon/lat degrees).
    pub fn build<'s>(n: usize, segments: impl Fn(usize) -> &'s [[Coord<f64>; 2]]) -> Self {
        let mut entries: Vec<SegmentEntry> = Vec::new();
        for g in 0..n {
            for &[a, b] in segments(g) {
                let span = ((b.x - a.x) * a.y.to_radians().cos())
                    .abs()
                    .max((b.y - a.y).abs());
                let pieces = (span / MAX_PIECE_DEG).ceil().clamp(1.0, 1e6) as usize;
                let at = |i: usize| {
                    let t = i as f64 / pieces as f64;
                    Coord {
                        x: a.x + (b.x - a.x) * t,
                        y: a.y + (b.y - a.y) * t,
                    }
                };
                let mut from = unit(a);
                for i in 1..=pieces {
                    let to = if i == pieces { unit(b) } else { unit(at(i)) };
                    entries.push(GeomWithData::new(Line::new(from, to), g as u32));
                    from = to;
                }
            }
        }
        BorderIndex {
            tree: RTree::bulk_load(entries),
        }
    }

    /// The grid whose border is nearest to `p` (lon/lat degrees) and that
    /// distance in great-circle metres; among grids at the same distance
    /// (a shared border), the lowest index.
    pub fn nearest(&self, p: Coord<f64>) -> Option<(u32, f64)> {
        if !p.x.is_finite() || !p.y.is_finite() {
            return None;
        }
        let mut best: Option<(u32, f64)> = None;
        for (e, d2) in self.tree.nearest_neighbor_iter_with_distance_2(&unit(p)) {
            match best {
                Some((_, bd2)) if d2 > bd2 => break,
                Some((bg, _)) if e.data >= bg => {}
                _ => best = Some((e.data, d2)),
            }
        }
        // Chord length on the unit sphere → great-circle metres.
        best.map(|(g, d2)| (g, 2.0 * EARTH_RADIUS_M * (d2.sqrt() / 2.0).min(1.0).asin()))
    }

    /// Approximate heap bytes.
    pub fn heap_bytes(&self) -> usize {
        self.tree.size() * (std::mem::size_of::<SegmentEntry>() + 8)
    }
}
