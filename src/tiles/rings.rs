//! Rings on the tile lattice: the one way every tile path snaps a ring
//! (prepared grids on the world lattice of a zoom, clipped grids on a
//! tile's lattice: the same integers, so shared borders meet), and the
//! clean-up snapping needs: zero-width spikes removed, rings that pinch
//! split, polygons emitted as the MVT specification orders them.

use super::mvt::{self, Geometry};
use super::{BUFFER, EXTENT, TileId};

/// A ring of world-unit vertices snapped to the world lattice of scale `s`
/// (tile units per world unit: 4096 × 2^zoom): rounded, consecutive
/// duplicates and the closing vertex removed, zero-width spikes dropped.
/// Prepared grids and the validity check both snap with this, so they agree.
pub(crate) fn snap_ring(ring: &[[f64; 2]], s: f64) -> Vec<[i32; 2]> {
    let mut r: Vec<[i32; 2]> = Vec::with_capacity(ring.len());
    for p in ring {
        let q = [(p[0] * s).round() as i32, (p[1] * s).round() as i32];
        if r.last() != Some(&q) {
            r.push(q);
        }
    }
    while r.len() > 1 && r.first() == r.last() {
        r.pop();
    }
    drop_spikes(r)
}

/// Splits a snapped ring where it passes through the same vertex twice
/// (snapping can pinch a narrow neck into one point) into simple rings.
pub(crate) fn split_touching(ring: Vec<[i32; 2]>, out: &mut Vec<Vec<[i32; 2]>>) {
    let mut seen: rustc_hash::FxHashMap<[i32; 2], usize> = Default::default();
    for (j, &p) in ring.iter().enumerate() {
        if let Some(&i) = seen.get(&p) {
            let inner: Vec<[i32; 2]> = ring[i..j].to_vec();
            let mut outer: Vec<[i32; 2]> = ring[..i].to_vec();
            outer.extend_from_slice(&ring[j..]);
            split_touching(inner, out);
            split_touching(outer, out);
            return;
        }
        seen.insert(p, j);
    }
    out.push(ring);
}

/// Adds one snapped polygon (exterior first, then holes, tile or world
/// lattice units) to `geom` as the MVT specification wants it: rings that
/// pinch are split, collapsed rings dropped; the largest exterior piece
/// comes first with every hole, other exterior pieces follow as polygons of
/// their own. Nothing is added when the exterior collapsed.
pub(crate) fn emit_polygon(geom: &mut Geometry, rings: Vec<Vec<[i32; 2]>>) {
    let mut exterior: Vec<(i64, Vec<[i32; 2]>)> = Vec::new();
    let mut holes: Vec<Vec<[i32; 2]>> = Vec::new();
    for (k, ring) in rings.into_iter().enumerate() {
        let mut pieces = Vec::new();
        split_touching(ring, &mut pieces);
        for piece in pieces {
            let area = if piece.len() >= 3 {
                mvt::ring_area2(&piece)
            } else {
                0
            };
            if area > 0 && k == 0 {
                exterior.push((area, piece));
            } else if area < 0 {
                holes.push(piece);
            }
        }
        if k == 0 && exterior.is_empty() {
            return;
        }
    }
    exterior.sort_by_key(|p| std::cmp::Reverse(p.0));
    let mut pieces = exterior.into_iter();
    if let Some((_, main)) = pieces.next() {
        geom.ring(&main);
        for h in &holes {
            geom.ring(h);
        }
    }
    for (_, p) in pieces {
        geom.ring(&p);
    }
}

/// A clipped ring snapped to tile units, consecutive duplicates and the
/// closing point removed. A vertex near the
/// buffer's edge but not on it is kept one unit inside instead of being
/// rounded onto the edge, where the ring could touch its own edge segment.
/// (The buffer is outside the visible tile; the vertex moves at most 1.5
/// units, the same way in both neighbours' rings.)
pub(crate) fn snap_clipped_ring(t: &TileId, ring: &[[f64; 2]]) -> Vec<[i32; 2]> {
    let s = (EXTENT as f64) * (1u64 << t.z) as f64;
    let (lo, hi) = (-(BUFFER as f64), (EXTENT + BUFFER) as f64);
    let keep_off = |v: f64, q: i32| -> i32 {
        if q as f64 == hi && (v - hi).abs() > 1e-6 {
            q - 1
        } else if q as f64 == lo && (v - lo).abs() > 1e-6 {
            q + 1
        } else {
            q
        }
    };
    let mut out: Vec<[i32; 2]> = Vec::with_capacity(ring.len());
    for &p in ring {
        let f = [
            p[0] * s - (t.x as f64) * EXTENT as f64,
            p[1] * s - (t.y as f64) * EXTENT as f64,
        ];
        let q = [
            keep_off(f[0], f[0].round() as i32),
            keep_off(f[1], f[1].round() as i32),
        ];
        if out.last() != Some(&q) {
            out.push(q);
        }
    }
    while out.len() > 1 && out.first() == out.last() {
        out.pop();
    }
    out
}

/// Removes the zero-width spikes that snapping to the lattice can make: a
/// vertex where the ring turns straight back on itself (its neighbours and
/// it on one line, the direction reversed). A neighbouring grid walks the
/// same vertices the other way and removes the same ones.
pub(crate) fn drop_spikes(mut r: Vec<[i32; 2]>) -> Vec<[i32; 2]> {
    let mut i = 0;
    let mut since_change = 0;
    while r.len() >= 3 && since_change < r.len() {
        let n = r.len();
        let (a, b, c) = (r[(i + n - 1) % n], r[i % n], r[(i + 1) % n]);
        let (u, v) = (
            [(b[0] - a[0]) as i64, (b[1] - a[1]) as i64],
            [(c[0] - b[0]) as i64, (c[1] - b[1]) as i64],
        );
        if u[0] * v[1] - u[1] * v[0] == 0 && u[0] * v[0] + u[1] * v[1] < 0 {
            r.remove(i % n);
            // The previous vertex may now be a spike in turn.
            i = (i + r.len() - 1) % r.len().max(1);
            since_change = 0;
            // Consecutive duplicates can appear when the spike folded back exactly.
            r.dedup();
            while r.len() > 1 && r.first() == r.last() {
                r.pop();
            }
        } else {
            i = (i + 1) % n;
            since_change += 1;
        }
    }
    r
}

/// Removes vertices that lie on the buffer's edge between two neighbours on
/// the same edge: snapping a clipped ring to the lattice can fold it back
/// along the edge (a zero-width spike there); straight runs along the edge
/// need no middle vertices either.
pub(crate) fn drop_buffer_spikes(mut r: Vec<[i32; 2]>) -> Vec<[i32; 2]> {
    let (lo, hi) = (-(BUFFER as i32), (EXTENT + BUFFER) as i32);
    let on = |p: [i32; 2], axis: usize, v: i32| p[axis] == v;
    loop {
        let n = r.len();
        if n < 3 {
            return r;
        }
        let found = (0..n).find(|&i| {
            let (p, v, q) = (r[(i + n - 1) % n], r[i], r[(i + 1) % n]);
            [(0, lo), (0, hi), (1, lo), (1, hi)]
                .iter()
                .any(|&(axis, edge)| on(p, axis, edge) && on(v, axis, edge) && on(q, axis, edge))
        });
        match found {
            Some(i) => {
                r.remove(i);
            }
            None => return r,
        }
    }
}
