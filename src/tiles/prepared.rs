//! Grid geometry prepared once per zoom, so that a grid lying wholly inside
//! a tile's buffered box costs a copy, not a pipeline.
//!
//! At zoom z every grid is simplified (shared borders, see
//! [`super::topology`]), snapped to the *world lattice* of that zoom (4096 ×
//! 2^z units over the whole map, x east, y south), cleaned and encoded as
//! MVT geometry commands. In a tile, coordinates are world-lattice
//! coordinates minus the tile's origin, an integer: only the first `MoveTo`
//! depends on the tile, every later command is a difference. Snapping
//! `round(w·s) − x·4096` equals `round(w·s − x·4096)`, so a prepared grid
//! and a neighbour that had to be clipped share their vertices exactly.

use rayon::prelude::*;

use super::clip::Bounds;
use super::mvt::Geometry;
use super::rings::snap_ring;
use super::topology::LevelTopology;
use super::{EXTENT, emit_polygon};

/// Grid `g` of `topo` prepared for `zoom`: its first point (world
/// lattice) and the rest of its commands; `None` when it collapsed.
pub fn encode(topo: &LevelTopology, g: usize, zoom: u8) -> Option<([i32; 2], Vec<u8>)> {
    if topo.collapsed(g, zoom) {
        return None;
    }
    let s = EXTENT as f64 * (1u64 << zoom) as f64;
    let everywhere = Bounds {
        min_x: f64::NEG_INFINITY,
        min_y: f64::NEG_INFINITY,
        max_x: f64::INFINITY,
        max_y: f64::INFINITY,
    };
    let mut geom = Geometry::default();
    for poly in topo.polygons(g, zoom, &everywhere) {
        let rings = poly.iter().map(|r| snap_ring(r, s)).collect();
        emit_polygon(&mut geom, rings);
    }
    geom.split_first()
}

/// One level's grids prepared for one zoom.
#[derive(Debug, Default)]
pub struct Prepared {
    /// The encoded commands of every grid after its first `MoveTo` point.
    rest: Vec<u8>,
    /// Per grid: start and length in `rest`, and the first point (world
    /// lattice); `None` when the grid collapsed at this zoom.
    grids: Vec<Option<(u32, u32, [i32; 2])>>,
}

impl Prepared {
    /// Prepares every grid of `topo` for `zoom`. Uses all cores.
    pub fn build(topo: &LevelTopology, zoom: u8) -> Prepared {
        let encoded: Vec<Option<([i32; 2], Vec<u8>)>> = (0..topo.len())
            .into_par_iter()
            .map(|g| encode(topo, g, zoom))
            .collect();
        let mut p = Prepared::default();
        for e in encoded {
            p.grids.push(e.map(|(first, bytes)| {
                let start = p.rest.len() as u32;
                p.rest.extend_from_slice(&bytes);
                (start, bytes.len() as u32, first)
            }));
        }
        p.rest.shrink_to_fit();
        p
    }

    /// Grid `g`'s first point (world lattice) and the rest of its commands;
    /// `None` when it collapsed at this zoom.
    pub fn grid(&self, g: usize) -> Option<([i32; 2], &[u8])> {
        self.grids[g]
            .map(|(start, len, first)| (first, &self.rest[start as usize..(start + len) as usize]))
    }
}
