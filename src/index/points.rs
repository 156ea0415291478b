//! The component point index: an R-tree of component locations.

use geo::{Coord, Rect};
use rstar::primitives::GeomWithData;
use rstar::{AABB, RTree};

use crate::measure::M_PER_DEG;

/// A component location in the R-tree: `[lon · scale, lat]`, with its dense
/// store index.
type PointEntry = GeomWithData<[f64; 2], u32>;

/// Component locations (WGS84 lon/lat degrees) in an R-tree whose longitudes
/// are multiplied by cos(latitude) at the middle of the city, so that its
/// distances are nearly metric.
#[derive(Debug)]
pub struct PointIndex {
    tree: RTree<PointEntry>,
    scale: f64,
}

impl Default for PointIndex {
    fn default() -> Self {
        PointIndex {
            tree: RTree::new(),
            scale: 1.0,
        }
    }
}

impl PointIndex {
    /// Indexes `locations` (lon/lat degrees, in store order); `mid_lat` is
    /// the latitude (degrees) at which the scale is taken.
    pub fn build(locations: &[[f64; 2]], mid_lat: f64) -> Self {
        let scale = mid_lat.to_radians().cos().max(0.01);
        let entries: Vec<PointEntry> = locations
            .iter()
            .enumerate()
            .map(|(i, &[x, y])| GeomWithData::new([x * scale, y], i as u32))
            .collect();
        PointIndex {
            tree: RTree::bulk_load(entries),
            scale,
        }
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.tree.size()
    }

    /// Whether there are no points.
    pub fn is_empty(&self) -> bool {
        self.tree.size() == 0
    }

    /// Store indexes of the points inside `r` (lon/lat degrees, borders
    /// included), ascending; `locations` are the ones the index was built on.
    pub fn in_box(&self, r: Rect<f64>, locations: &[[f64; 2]]) -> Vec<usize> {
        let c = self.scale;
        let env = AABB::from_corners([r.min().x * c, r.min().y], [r.max().x * c, r.max().y]);
        // Scaling can merge neighbouring longitudes: check each hit exactly.
        let mut v: Vec<usize> = self
            .tree
            .locate_in_envelope(&env)
            .map(|e| e.data as usize)
            .filter(|&i| {
                let [x, y] = locations[i];
                x >= r.min().x && x <= r.max().x && y >= r.min().y && y <= r.max().y
            })
            .collect();
        v.sort_unstable();
        v
    }

    /// The envelope of all points, lon/lat degrees.
    pub fn extent(&self) -> Option<Rect<f64>> {
        if self.is_empty() {
            return None;
        }
        let e = self.tree.root().envelope();
        let c = self.scale;
        Some(Rect::new(
            Coord {
                x: e.lower()[0] / c,
                y: e.lower()[1],
            },
            Coord {
                x: e.upper()[0] / c,
                y: e.upper()[1],
            },
        ))
    }

    /// Points by increasing distance from `p` (lon/lat degrees): each with a
    /// lower bound, in metres, of its distance and of every later one's.
    pub fn by_distance(&self, p: Coord<f64>) -> impl Iterator<Item = (usize, f64)> + '_ {
        let c = self.scale;
        // metres ≥ M · min(1, cos(lat_p) / c) · (distance in the tree's space)
        let k = M_PER_DEG * (p.y.to_radians().cos().abs() / c).min(1.0);
        self.tree
            .nearest_neighbor_iter_with_distance_2(&[p.x * c, p.y])
            .map(move |(e, d2)| (e.data as usize, d2.sqrt() * k))
    }

    /// Approximate heap bytes.
    pub fn heap_bytes(&self) -> usize {
        self.tree.size() * 32
    }
}
