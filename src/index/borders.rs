//! The nearest grid to a point outside every grid: an R-tree of the grids'
//! border segments, so that the answer costs a few tree steps and a handful
//! of exact distances instead of a walk over whole polygons.
//!
//! Coordinates in the tree are `[lon · scale, lat]` degrees, with `scale` the
//! cosine of the level's middle latitude, so tree distances are nearly
//! metric; exact distances are metres in the query point's local frame (see
//! [`crate::measure`]), the same as a grid's border distance.

use geo::Coord;
use rstar::RTree;
use rstar::primitives::{GeomWithData, Line};

use crate::measure::{self, M_PER_DEG};

/// A border segment, scaled, with the level-local grid it bounds and its
/// index among that grid's segments.
type SegmentEntry = GeomWithData<Line<[f64; 2]>, (u32, u32)>;

/// Border segments of one level's grids.
#[derive(Debug)]
pub struct BorderIndex {
    tree: RTree<SegmentEntry>,
    scale: f64,
}

impl BorderIndex {
    /// Indexes the segments of grids `0..n`; `segments(g)` gives grid `g`'s
    /// edges (lon/lat degrees). `mid_lat` is the level's middle latitude.
    pub fn build<'s>(
        n: usize,
        mid_lat: f64,
        segments: impl Fn(usize) -> &'s [[Coord<f64>; 2]],
    ) -> Self {
        let scale = mid_lat.to_radians().cos().max(0.01);
        let entries: Vec<SegmentEntry> = (0..n)
            .flat_map(|g| {
                segments(g).iter().enumerate().map(move |(s, [a, b])| {
                    GeomWithData::new(
                        Line::new([a.x * scale, a.y], [b.x * scale, b.y]),
                        (g as u32, s as u32),
                    )
                })
            })
            .collect();
        BorderIndex {
            tree: RTree::bulk_load(entries),
            scale,
        }
    }

    /// The grid whose border is nearest to `p` (lon/lat degrees) and that
    /// distance in metres; among grids at the same distance, the lowest index.
    /// `segments` must be the function the index was built with.
    pub fn nearest<'s>(
        &self,
        p: Coord<f64>,
        segments: impl Fn(usize) -> &'s [[Coord<f64>; 2]],
    ) -> Option<(u32, f64)> {
        if !p.x.is_finite() || !p.y.is_finite() {
            return None;
        }
        // Metres ≥ k · (distance in the tree's space): longitudes shrink by
        // cos(lat) at the point but by `scale` in the tree.
        let k = M_PER_DEG * (p.y.to_radians().cos().abs() / self.scale).min(1.0);
        let mut best: Option<(u32, f64)> = None;
        for (e, d2) in self
            .tree
            .nearest_neighbor_iter_with_distance_2(&[p.x * self.scale, p.y])
        {
            if let Some((_, bd)) = best
                && d2.sqrt() * k > bd
            {
                break;
            }
            let (g, s) = e.data;
            let d = measure::segments_distance_m(p, [segments(g as usize)[s as usize]]);
            if best.is_none_or(|(bg, bd)| d < bd || (d == bd && g < bg)) {
                best = Some((g, d));
            }
        }
        best
    }

    /// Approximate heap bytes.
    pub fn heap_bytes(&self) -> usize {
        self.tree.size() * (std::mem::size_of::<SegmentEntry>() + 8)
    }
}
