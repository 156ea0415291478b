//! Components in Z-order (Morton order) for clustering at low zoom.
//!
//! Each component's Web Mercator position is quantised to a 2^24 × 2^24
//! lattice over the world (about 2.4 m at the equator) and its x and y bits
//! are interleaved into one key. Sorted by key, the components of any tile
//! at zoom ≤ 24, and of any square cell inside it, form one contiguous run:
//! a tile's clusters come from one sequential pass over that run, with no
//! tree search and no sort.

use rayon::prelude::*;

use super::world;
use crate::model::Components;

/// Bits per axis of the lattice.
pub const BITS: u32 = 24;

/// Spreads the low 32 bits of `v` to the even bits of a u64.
fn spread(v: u32) -> u64 {
    let mut x = v as u64;
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    x = (x | (x << 1)) & 0x5555_5555_5555_5555;
    x
}

/// Gathers the even bits of `x` (inverse of [`spread`]).
fn gather(x: u64) -> u32 {
    let mut x = x & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF;
    x as u32
}

/// The Morton key of lattice cell (`x`, `y`).
pub fn key(x: u32, y: u32) -> u64 {
    spread(x) | (spread(y) << 1)
}

/// The lattice cell of a key.
pub fn cell(k: u64) -> (u32, u32) {
    (gather(k), gather(k >> 1))
}

/// The lattice cell of a world position (`0..1` each axis).
pub fn lattice(p: [f64; 2]) -> (u32, u32) {
    let max = (1u32 << BITS) - 1;
    let q = |v: f64| ((v * (1u64 << BITS) as f64).floor().max(0.0) as u64).min(max as u64) as u32;
    (q(p[0]), q(p[1]))
}

/// Components sorted by Morton key.
#[derive(Debug, Default)]
pub struct MortonIndex {
    keys: Vec<u64>,
    order: Vec<u32>,
    class: Vec<u16>,
}

impl MortonIndex {
    /// Sorts `components` by key. Uses all cores.
    pub fn build(components: &Components) -> Self {
        let classes: Vec<u16> = components.iter().map(|c| c.class()).collect();
        let mut pairs: Vec<(u64, u32)> = components
            .locations()
            .par_iter()
            .enumerate()
            .map(|(i, &[lon, lat])| {
                let (x, y) = lattice(world(lon, lat));
                (key(x, y), i as u32)
            })
            .collect();
        pairs.par_sort_unstable();
        MortonIndex {
            keys: pairs.iter().map(|p| p.0).collect(),
            class: pairs.iter().map(|p| classes[p.1 as usize]).collect(),
            order: pairs.into_iter().map(|p| p.1).collect(),
        }
    }

    /// Positions in the sorted arrays of the components inside tile
    /// `z`/`x`/`y` (z ≤ [`BITS`]), west and north edges included.
    pub fn tile_range(&self, z: u8, x: u32, y: u32) -> std::ops::Range<usize> {
        let shift = BITS - z as u32;
        let lo = key(x << shift, y << shift);
        let span = 1u64 << (2 * shift);
        let a = self.keys.partition_point(|&k| k < lo);
        let b = self.keys.partition_point(|&k| k < lo + span);
        a..b
    }

    /// Key of sorted position `i`.
    pub fn key_at(&self, i: usize) -> u64 {
        self.keys[i]
    }

    /// Store index of the component at sorted position `i`.
    pub fn component_at(&self, i: usize) -> usize {
        self.order[i] as usize
    }

    /// Class of the component at sorted position `i`.
    pub fn class_at(&self, i: usize) -> u16 {
        self.class[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_tiles_are_contiguous() {
        for (x, y) in [(0, 0), (1, 2), (12345, 67890), ((1 << 24) - 1, 77)] {
            assert_eq!(cell(key(x, y)), (x, y));
        }
        // Every lattice cell of tile 3/5/2 has a key inside the tile's run.
        let shift = BITS - 3;
        let lo = key(5 << shift, 2 << shift);
        for (dx, dy) in [
            (0, 0),
            ((1 << shift) - 1, 0),
            (0, (1 << shift) - 1),
            (999, 12345),
        ] {
            let k = key((5 << shift) + dx, (2 << shift) + dy);
            assert!(k >= lo && k < lo + (1u64 << (2 * shift)));
        }
    }
}
