//! Clipping polygon rings to an axis-aligned box (a tile with its buffer).
//!
//! One side's half-plane at a time: the parts of the rings inside it are cut
//! out and re-joined along the side's line, pairing each exit with the entry
//! that bounds the same inside interval of the line (so a concave grid that
//! leaves the tile and comes back becomes two pieces, not one ring with a
//! zero-width spur), and a ring that wraps a tile corner keeps the corner.
//!
//! The crossing point of an edge with a side is computed from the edge's
//! endpoints in a canonical order, so the two grids sharing an edge (which
//! walk it in opposite directions) get bit-identical crossing points.

/// An axis-aligned box `[min_x, max_x] × [min_y, max_y]` in any planar unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    /// Western edge.
    pub min_x: f64,
    /// Edge with the smaller y.
    pub min_y: f64,
    /// Eastern edge.
    pub max_x: f64,
    /// Edge with the larger y.
    pub max_y: f64,
}

impl Bounds {
    /// True when the two boxes overlap (touching counts).
    pub fn intersects(&self, o: &Bounds) -> bool {
        self.min_x <= o.max_x
            && o.min_x <= self.max_x
            && self.min_y <= o.max_y
            && o.min_y <= self.max_y
    }

    /// True when `o` lies entirely inside `self`.
    pub fn contains(&self, o: &Bounds) -> bool {
        self.min_x <= o.min_x
            && o.max_x <= self.max_x
            && self.min_y <= o.min_y
            && o.max_y <= self.max_y
    }

    /// The envelope of `pts`; `None` for no points.
    pub fn of(pts: &[[f64; 2]]) -> Option<Bounds> {
        let first = pts.first()?;
        let mut b = Bounds {
            min_x: first[0],
            min_y: first[1],
            max_x: first[0],
            max_y: first[1],
        };
        for p in pts {
            b.min_x = b.min_x.min(p[0]);
            b.max_x = b.max_x.max(p[0]);
            b.min_y = b.min_y.min(p[1]);
            b.max_y = b.max_y.max(p[1]);
        }
        Some(b)
    }
}

#[derive(Clone, Copy)]
enum Side {
    MinX,
    MaxX,
    MinY,
    MaxY,
}

impl Side {
    fn inside(self, b: &Bounds, p: [f64; 2]) -> bool {
        match self {
            Side::MinX => p[0] >= b.min_x,
            Side::MaxX => p[0] <= b.max_x,
            Side::MinY => p[1] >= b.min_y,
            Side::MaxY => p[1] <= b.max_y,
        }
    }

    /// Where segment `a`–`b` crosses this side; `a` and `b` are on opposite sides.
    fn crossing(self, bx: &Bounds, a: [f64; 2], b: [f64; 2]) -> [f64; 2] {
        let (p, q) = if (a[0], a[1]) <= (b[0], b[1]) {
            (a, b)
        } else {
            (b, a)
        };
        match self {
            Side::MinX | Side::MaxX => {
                let x = if matches!(self, Side::MinX) {
                    bx.min_x
                } else {
                    bx.max_x
                };
                let t = (x - p[0]) / (q[0] - p[0]);
                [x, p[1] + t * (q[1] - p[1])]
            }
            Side::MinY | Side::MaxY => {
                let y = if matches!(self, Side::MinY) {
                    bx.min_y
                } else {
                    bx.max_y
                };
                let t = (y - p[1]) / (q[1] - p[1]);
                [p[0] + t * (q[0] - p[0]), y]
            }
        }
    }
}

/// Twice the signed shoelace area of a ring (positive when its interior is
/// on the right walking along it in a y-down frame, as MVT exteriors are).
pub fn area2(ring: &[[f64; 2]]) -> f64 {
    let n = ring.len();
    (0..n)
        .map(|i| {
            let (p, q) = (ring[i], ring[(i + 1) % n]);
            p[0] * q[1] - q[0] * p[1]
        })
        .sum()
}

/// Clips rings to one side's half-plane. The rings must be oriented
/// consistently (exteriors one way, holes the other) and not cross each
/// other; so are the results.
fn clip_half(rings: Vec<Vec<[f64; 2]>>, side: Side, b: &Bounds) -> Vec<Vec<[f64; 2]>> {
    let mut out = Vec::new();
    // Runs: the parts of rings inside the half-plane, each from an entry
    // point on the side's line to an exit point on it.
    let mut runs: Vec<Vec<[f64; 2]>> = Vec::new();
    for ring in rings {
        let n = ring.len();
        let inside: Vec<bool> = ring.iter().map(|&p| side.inside(b, p)).collect();
        if inside.iter().all(|&i| i) {
            out.push(ring);
            continue;
        }
        let Some(start) = (0..n).find(|&i| inside[i] && !inside[(i + n - 1) % n]) else {
            continue;
        };
        let mut run: Vec<[f64; 2]> = Vec::new();
        for k in 0..n {
            let i = (start + k) % n;
            let prev = ring[(i + n - 1) % n];
            if inside[i] {
                if !inside[(i + n - 1) % n] {
                    run.push(side.crossing(b, prev, ring[i]));
                }
                run.push(ring[i]);
                let next = (i + 1) % n;
                if !inside[next] {
                    run.push(side.crossing(b, ring[i], ring[next]));
                    run.dedup();
                    runs.push(std::mem::take(&mut run));
                }
            }
        }
    }
    if runs.is_empty() {
        return out;
    }
    // Along the line, the inside intervals run from one crossing to the
    // next: pair each exit with its interval's entry and link the runs.
    let along = |p: [f64; 2]| match side {
        Side::MinX | Side::MaxX => p[1],
        Side::MinY | Side::MaxY => p[0],
    };
    let mut events: Vec<(f64, usize, bool)> = runs
        .iter()
        .enumerate()
        .flat_map(|(i, r)| [(along(r[0]), i, false), (along(r[r.len() - 1]), i, true)])
        .collect();
    events.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut link = vec![usize::MAX; runs.len()];
    let mut open: Vec<(usize, bool)> = Vec::new();
    for (_, run, exit) in events {
        match open.last() {
            Some(&(other, other_exit)) if other_exit != exit => {
                open.pop();
                if exit {
                    link[run] = other;
                } else {
                    link[other] = run;
                }
            }
            _ => open.push((run, exit)),
        }
    }
    let mut used = vec![false; runs.len()];
    for first in 0..runs.len() {
        if used[first] {
            continue;
        }
        let mut ring: Vec<[f64; 2]> = Vec::new();
        let mut r = first;
        while r != usize::MAX && !used[r] {
            used[r] = true;
            ring.extend_from_slice(&runs[r]);
            r = link[r];
        }
        ring.dedup();
        while ring.len() > 1 && ring.first() == ring.last() {
            ring.pop();
        }
        if ring.len() >= 3 {
            out.push(ring);
        }
    }
    out
}

/// Clips a polygon's rings (given without closing points; exteriors with
/// positive [`area2`], holes negative) to `b`. Returns the clipped rings in
/// the same orientation convention: where a ring leaves the box and comes
/// back, the pieces are joined along the box sides as the polygon's
/// interior requires, so the result has no zero-width spurs.
pub fn clip_rings(rings: Vec<Vec<[f64; 2]>>, b: &Bounds) -> Vec<Vec<[f64; 2]>> {
    let mut cur = rings;
    for side in [Side::MinX, Side::MaxX, Side::MinY, Side::MaxY] {
        if cur.is_empty() {
            break;
        }
        cur = clip_half(cur, side, b);
    }
    cur
}

/// True when `p` is inside ring `r` (even-odd rule).
pub fn ring_contains(r: &[[f64; 2]], p: [f64; 2]) -> bool {
    let mut inside = false;
    let n = r.len();
    for i in 0..n {
        let (a, c) = (r[i], r[(i + 1) % n]);
        if (a[1] > p[1]) != (c[1] > p[1])
            && p[0] < a[0] + (p[1] - a[1]) / (c[1] - a[1]) * (c[0] - a[0])
        {
            inside = !inside;
        }
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area(r: &[[f64; 2]]) -> f64 {
        let n = r.len();
        (0..n)
            .map(|i| r[i][0] * r[(i + 1) % n][1] - r[(i + 1) % n][0] * r[i][1])
            .sum::<f64>()
            / 2.0
    }

    const UNIT: Bounds = Bounds {
        min_x: 0.0,
        min_y: 0.0,
        max_x: 1.0,
        max_y: 1.0,
    };

    #[test]
    fn a_polygon_around_a_corner_keeps_the_corner() {
        // An L-shaped region whose clip must include the box corner (1, 1).
        let ring = [[0.5, 0.5], [2.0, 0.5], [2.0, 2.0], [0.5, 2.0]];
        let c = clip_rings(vec![ring.to_vec()], &UNIT);
        assert_eq!(c.len(), 1);
        assert!(c[0].contains(&[1.0, 1.0]), "{c:?}");
        assert!((area(&c[0]).abs() - 0.25).abs() < 1e-12);
    }

    #[test]
    fn a_box_covering_the_tile_becomes_the_tile() {
        let ring = [[-1.0, -1.0], [3.0, -1.0], [3.0, 3.0], [-1.0, 3.0]];
        let c = clip_rings(vec![ring.to_vec()], &UNIT);
        assert!((area(&c[0]).abs() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn a_ring_outside_vanishes() {
        let ring = [[2.0, 2.0], [3.0, 2.0], [3.0, 3.0]];
        assert!(clip_rings(vec![ring.to_vec()], &UNIT).is_empty());
    }

    #[test]
    fn a_u_shape_leaving_the_box_becomes_two_pieces() {
        // A U open to the top whose arms cross the box's top side: the part
        // inside is two separate bars, not one ring with a spur.
        let u = vec![
            [0.2, 2.0],
            [0.2, 0.5],
            [0.8, 0.5],
            [0.8, 2.0],
            [0.7, 2.0],
            [0.7, 0.6],
            [0.3, 0.6],
            [0.3, 2.0],
        ];
        let u = if area2(&u) > 0.0 {
            u
        } else {
            u.into_iter().rev().collect()
        };
        let c = clip_rings(vec![u.clone()], &UNIT);
        assert_eq!(c.len(), 1, "{c:?}");
        let total: f64 = c.iter().map(|r| area(r).abs()).sum();
        // arms 0.1 × 0.4 each plus the bottom 0.6 × 0.1
        assert!((total - (0.04 + 0.04 + 0.06)).abs() < 1e-12, "{total}");
        // An n shape (open downwards) crossing the top: two pieces.
        let n: Vec<[f64; 2]> = u.iter().map(|p| [p[0], 2.5 - p[1]]).collect();
        let n = if area2(&n) > 0.0 {
            n
        } else {
            n.into_iter().rev().collect()
        };
        let c = clip_rings(vec![n], &UNIT);
        assert_eq!(c.len(), 2, "{c:?}");
        for r in &c {
            assert!(area2(r) > 0.0);
        }
    }

    #[test]
    fn a_hole_cut_by_the_box_opens_into_the_exterior() {
        let outer = vec![[-1.0, -1.0], [2.0, -1.0], [2.0, 2.0], [-1.0, 2.0]];
        let hole = vec![[0.5, 0.5], [0.5, 1.5], [1.5, 1.5], [1.5, 0.5]];
        let (outer, hole) = if area2(&outer) > 0.0 {
            (outer, hole)
        } else {
            (
                outer.into_iter().rev().collect(),
                hole.into_iter().rev().collect(),
            )
        };
        assert!(area2(&hole) < 0.0);
        let c = clip_rings(vec![outer, hole], &UNIT);
        assert_eq!(c.len(), 1, "{c:?}");
        assert!((area(&c[0]).abs() - 0.75).abs() < 1e-12);
    }

    #[test]
    fn crossings_do_not_depend_on_direction() {
        let a = [-0.3, 0.123456789];
        let b = [0.7, 0.987654321];
        let s = Side::MinX;
        assert_eq!(s.crossing(&UNIT, a, b), s.crossing(&UNIT, b, a));
    }

    /// Against geo's boolean operations (i_overlay), on seeded random
    /// star-shaped polygons with a hole and random boxes: the clipped area
    /// equals the area of the intersection, and every vertex lies in the box.
    #[test]
    fn clipped_areas_equal_geo_s_intersection_on_random_polygons() {
        use geo::{Area, BooleanOps};
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
        let star = |rng: &mut rand_chacha::ChaCha8Rng, cx: f64, cy: f64, r: f64, n: usize| {
            (0..n)
                .map(|i| {
                    let a = i as f64 / n as f64 * std::f64::consts::TAU;
                    let rr = r * rng.random_range(0.3..1.0);
                    [cx + rr * a.cos(), cy + rr * a.sin()]
                })
                .collect::<Vec<[f64; 2]>>()
        };
        let ring = |pts: &[[f64; 2]]| {
            let mut v: Vec<geo::Coord<f64>> = pts
                .iter()
                .map(|p| geo::Coord { x: p[0], y: p[1] })
                .collect();
            v.push(v[0]);
            geo::LineString(v)
        };
        for case in 0..300 {
            let n = rng.random_range(5..60);
            let exterior = star(&mut rng, 0.5, 0.5, 0.6, n);
            // A hole around the centre, well inside the exterior's smallest radius.
            let mut hole = star(&mut rng, 0.5, 0.5, 0.1, 12);
            hole.reverse();
            let (x0, y0) = (rng.random_range(-0.2..0.8), rng.random_range(-0.2..0.8));
            let (w, h) = (rng.random_range(0.05..0.8), rng.random_range(0.05..0.8));
            let b = Bounds {
                min_x: x0,
                min_y: y0,
                max_x: x0 + w,
                max_y: y0 + h,
            };
            let clipped = clip_rings(vec![exterior.clone(), hole.clone()], &b);
            let ours: f64 = clipped.iter().map(|r| area2(r)).sum::<f64>() / 2.0;
            for p in clipped.iter().flatten() {
                assert!(
                    p[0] >= b.min_x - 1e-12
                        && p[0] <= b.max_x + 1e-12
                        && p[1] >= b.min_y - 1e-12
                        && p[1] <= b.max_y + 1e-12,
                    "case {case}: vertex {p:?} outside the box"
                );
            }
            let poly = geo::Polygon::new(ring(&exterior), vec![ring(&hole)]);
            let rect = geo::Rect::new(
                geo::Coord {
                    x: b.min_x,
                    y: b.min_y,
                },
                geo::Coord {
                    x: b.max_x,
                    y: b.max_y,
                },
            );
            let theirs = poly.intersection(&rect.to_polygon()).unsigned_area();
            assert!(
                (ours - theirs).abs() <= 1e-9 + 1e-9 * theirs,
                "case {case}: clipped area {ours} vs geo {theirs}"
            );
        }
    }
}
