//! Exact point-in-polygon with boundary detection, indexed by horizontal bands.
//!
//! A plain ring walk costs one test per edge; a district polygon has thousands
//! of edges. [`IndexedPolygon`] files every edge under the horizontal bands its
//! y-range overlaps, so a query walks only the edges of one band. Orientation
//! tests use Shewchuk's robust predicates, so "on the boundary" is exact.

use geo::{BoundingRect, Coord, MultiPolygon, Rect};

/// Where a point lies relative to a polygon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// Strictly inside.
    Inside,
    /// Exactly on an edge or vertex.
    Boundary,
    /// Strictly outside.
    Outside,
}

/// A multipolygon prepared for fast exact point queries (lon/lat degrees).
#[derive(Debug, Clone)]
pub struct IndexedPolygon {
    bbox: Rect<f64>,
    segs: Vec<[Coord<f64>; 2]>,
    y0: f64,
    inv_h: f64,
    /// `band_start[b]..band_start[b+1]` indexes `band_segs` for band `b`.
    band_start: Vec<u32>,
    band_segs: Vec<u32>,
}

/// Polygons with fewer edges than this are walked edge by edge.
const BANDING_THRESHOLD: usize = 24;

impl IndexedPolygon {
    /// Prepares a multipolygon. An empty one contains nothing.
    pub fn new(mp: &MultiPolygon<f64>) -> Self {
        let bbox = mp.bounding_rect().unwrap_or(Rect::new(
            Coord { x: 0.0, y: 0.0 },
            Coord { x: 0.0, y: 0.0 },
        ));
        let segs: Vec<[Coord<f64>; 2]> =
            mp.0.iter()
                .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
                .flat_map(|r| r.0.windows(2).map(|w| [w[0], w[1]]))
                .filter(|[a, b]| a != b)
                .collect();
        let mut ip = IndexedPolygon {
            bbox,
            y0: bbox.min().y,
            inv_h: 0.0,
            band_start: vec![0, segs.len() as u32],
            band_segs: (0..segs.len() as u32).collect(),
            segs,
        };
        let height = bbox.height();
        if ip.segs.len() >= BANDING_THRESHOLD && height > 0.0 {
            let nbands = (ip.segs.len() / 4).clamp(1, 4096);
            ip.inv_h = nbands as f64 / height;
            let mut lists: Vec<Vec<u32>> = vec![Vec::new(); nbands];
            for (i, [a, b]) in ip.segs.iter().enumerate() {
                let lo = ip.band(a.y.min(b.y), nbands);
                let hi = ip.band(a.y.max(b.y), nbands);
                for l in &mut lists[lo..=hi] {
                    l.push(i as u32);
                }
            }
            ip.band_start = Vec::with_capacity(nbands + 1);
            ip.band_segs = Vec::new();
            ip.band_start.push(0);
            for l in lists {
                ip.band_segs.extend(l);
                ip.band_start.push(ip.band_segs.len() as u32);
            }
        }
        ip
    }

    #[inline]
    fn band(&self, y: f64, nbands: usize) -> usize {
        let b = (y - self.y0) * self.inv_h;
        if b <= 0.0 {
            0
        } else {
            (b as usize).min(nbands - 1)
        }
    }

    /// Bounding box, lon/lat degrees.
    pub fn bbox(&self) -> Rect<f64> {
        self.bbox
    }

    /// The polygon's edges (all rings), lon/lat degrees.
    pub fn segments(&self) -> &[[Coord<f64>; 2]] {
        &self.segs
    }

    /// Classifies a point (lon/lat degrees) exactly.
    #[inline]
    pub fn position(&self, p: Coord<f64>) -> Position {
        let (min, max) = (self.bbox.min(), self.bbox.max());
        if p.x < min.x || p.x > max.x || p.y < min.y || p.y > max.y {
            return Position::Outside;
        }
        let nbands = self.band_start.len() - 1;
        let b = self.band(p.y, nbands);
        let range = self.band_start[b] as usize..self.band_start[b + 1] as usize;
        // Crossing parity (even-odd), so holes count whatever their orientation.
        let mut inside = false;
        for &si in &self.band_segs[range] {
            let [a, c] = self.segs[si as usize];
            let (ylo, yhi) = if a.y <= c.y { (a.y, c.y) } else { (c.y, a.y) };
            if p.y < ylo || p.y > yhi || p.x > a.x.max(c.x) {
                continue;
            }
            let o = robust::orient2d(
                robust::Coord { x: a.x, y: a.y },
                robust::Coord { x: c.x, y: c.y },
                robust::Coord { x: p.x, y: p.y },
            );
            if o == 0.0 && p.x >= a.x.min(c.x) {
                return Position::Boundary;
            }
            // Half-open in y, so a vertex on the ray counts once.
            if (a.y <= p.y && c.y > p.y && o > 0.0) || (c.y <= p.y && a.y > p.y && o < 0.0) {
                inside = !inside;
            }
        }
        if inside {
            Position::Inside
        } else {
            Position::Outside
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Contains, Intersects, Point, polygon};
    use rand::{Rng, SeedableRng};

    #[test]
    fn square_with_hole() {
        let p = polygon!(
            exterior: [(x: 0.0, y: 0.0), (x: 10.0, y: 0.0), (x: 10.0, y: 10.0), (x: 0.0, y: 10.0), (x: 0.0, y: 0.0)],
            interiors: [[(x: 4.0, y: 4.0), (x: 6.0, y: 4.0), (x: 6.0, y: 6.0), (x: 4.0, y: 6.0), (x: 4.0, y: 4.0)]],
        );
        let ip = IndexedPolygon::new(&MultiPolygon(vec![p]));
        let c = |x, y| Coord { x, y };
        assert_eq!(ip.position(c(1.0, 1.0)), Position::Inside);
        assert_eq!(ip.position(c(5.0, 5.0)), Position::Outside);
        assert_eq!(ip.position(c(4.0, 5.0)), Position::Boundary);
        assert_eq!(ip.position(c(0.0, 0.0)), Position::Boundary);
        assert_eq!(ip.position(c(10.0, 3.0)), Position::Boundary);
        assert_eq!(ip.position(c(5.0, 10.0)), Position::Boundary);
        assert_eq!(ip.position(c(11.0, 5.0)), Position::Outside);
        assert_eq!(ip.position(c(-1.0, 0.0)), Position::Outside);
    }

    /// Against geo's own predicates on a many-sided star (banded path) with
    /// random points, including points snapped onto vertices and edges.
    #[test]
    fn matches_geo_on_random_points() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let n = 300;
        let mut ring: Vec<Coord<f64>> = (0..n)
            .map(|i| {
                let a = i as f64 / n as f64 * std::f64::consts::TAU;
                let r = if i % 2 == 0 { 1.0 } else { 0.55 } + rng.random_range(-0.1..0.1);
                Coord {
                    x: r * a.cos(),
                    y: r * a.sin(),
                }
            })
            .collect();
        ring.push(ring[0]);
        let poly = geo::Polygon::new(ring.clone().into(), vec![]);
        let mp = MultiPolygon(vec![poly.clone()]);
        let ip = IndexedPolygon::new(&mp);
        for i in 0..20_000 {
            let p = if i % 10 == 0 {
                ring[rng.random_range(0..n)]
            } else if i % 10 == 1 {
                let k = rng.random_range(0..n);
                let (a, b) = (ring[k], ring[k + 1]);
                let t = 0.5;
                Coord {
                    x: a.x + t * (b.x - a.x),
                    y: a.y + t * (b.y - a.y),
                }
            } else {
                Coord {
                    x: rng.random_range(-1.2..1.2),
                    y: rng.random_range(-1.2..1.2),
                }
            };
            let expected = if poly.contains(&Point(p)) {
                Position::Inside
            } else if poly.intersects(&Point(p)) {
                Position::Boundary
            } else {
                Position::Outside
            };
            assert_eq!(ip.position(p), expected, "point {p:?}");
        }
    }
}
