//! Polygons that stay valid on the tile lattice.
//!
//! Simplifying each shared border on its own (Douglas–Peucker within one
//! tile unit) keeps it close to where it was, but not apart from the other
//! borders of the same grid: at low zooms a simplified border can cut
//! across a neighbouring one, and snapping to the integer lattice can make
//! a ring touch itself. A tile decoder then gets a self-intersecting
//! polygon. [`is_simple`] tells whether the result is a valid polygon
//! (rings that pinch at a vertex are fine: they are split before encoding).

use super::rings::split_touching;

fn orient(a: [i32; 2], b: [i32; 2], c: [i32; 2]) -> i64 {
    let (ax, ay) = (a[0] as i64, a[1] as i64);
    ((b[0] as i64 - ax) * (c[1] as i64 - ay) - (b[1] as i64 - ay) * (c[0] as i64 - ax)).signum()
}

/// True when `p` lies on segment a-b strictly between its ends.
fn strictly_on(a: [i32; 2], b: [i32; 2], p: [i32; 2]) -> bool {
    p != a
        && p != b
        && orient(a, b, p) == 0
        && p[0] >= a[0].min(b[0])
        && p[0] <= a[0].max(b[0])
        && p[1] >= a[1].min(b[1])
        && p[1] <= a[1].max(b[1])
}

/// True when the rings (snapped, exterior first then holes, as given to
/// the encoder) make a valid polygon once pinched rings are split, as GEOS
/// judges validity: no two edges cross or overlap, and no vertex of a ring
/// lies inside another edge of the same ring. Different rings may touch at
/// single points (a hole touching its exterior, two pieces of a pinched ring).
pub(crate) fn is_simple(rings: &[Vec<[i32; 2]>]) -> bool {
    let mut pieces = Vec::new();
    for r in rings {
        split_touching(r.clone(), &mut pieces);
    }
    // Edges (a, b) with a <= b, and the ring they belong to, swept by x.
    let mut edges: Vec<([i32; 2], [i32; 2], usize)> = Vec::new();
    for (k, p) in pieces.iter().enumerate().filter(|(_, p)| p.len() >= 3) {
        for i in 0..p.len() {
            let (a, b) = (p[i], p[(i + 1) % p.len()]);
            edges.push(if a <= b { (a, b, k) } else { (b, a, k) });
        }
    }
    edges.sort_unstable();
    for i in 0..edges.len() {
        let (a, b, k) = edges[i];
        for &(c, d, l) in &edges[i + 1..] {
            if c[0] > b[0] {
                break;
            }
            if (a, b) == (c, d) {
                return false; // the same edge twice
            }
            let (o1, o2) = (orient(a, b, c), orient(a, b, d));
            let (o3, o4) = (orient(c, d, a), orient(c, d, b));
            if o1 * o2 < 0 && o3 * o4 < 0 {
                return false; // a proper crossing
            }
            let touch = [
                strictly_on(a, b, c),
                strictly_on(a, b, d),
                strictly_on(c, d, a),
                strictly_on(c, d, b),
            ];
            let touches = touch.iter().filter(|&&t| t).count();
            // Collinear edges sharing more than a point overlap.
            let overlap = o1 == 0 && o2 == 0 && touches > 0 && {
                let shared = [a, b].iter().filter(|p| **p == c || **p == d).count();
                touches + shared >= 2
            };
            if overlap || (k == l && touches > 0) {
                return false; // an overlap, or a ring touching itself
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossings_touches_and_overlaps_are_found_and_pinches_allowed() {
        let square = vec![[0, 0], [10, 0], [10, 10], [0, 10]];
        assert!(is_simple(std::slice::from_ref(&square)));
        let bowtie = vec![[0, 0], [10, 10], [10, 0], [0, 10]];
        assert!(!is_simple(&[bowtie]));
        // A vertex of the ring on another of its edges.
        let touching = vec![[0, 0], [10, 0], [10, 10], [5, 0], [0, 10]];
        assert!(!is_simple(&[touching]));
        // A ring through one vertex twice is split into two simple rings.
        let pinched = vec![[0, 0], [5, 5], [10, 0], [10, 10], [5, 5], [0, 10]];
        assert!(is_simple(&[pinched]));
        // A hole crossing its exterior; a hole touching it at a vertex is fine.
        let hole_out = vec![[8, 2], [8, 8], [12, 8], [12, 2]];
        assert!(!is_simple(&[square.clone(), hole_out]));
        let hole_touch = vec![[10, 5], [5, 3], [5, 7]];
        assert!(is_simple(&[square, hole_touch]));
    }
}
