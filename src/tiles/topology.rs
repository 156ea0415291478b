//! Shared borders of one grid level, so that simplification keeps
//! neighbouring grids meeting exactly.
//!
//! Every ring is cut into *chains* at the vertices where the grid on the
//! other side changes (a junction), and long chains into pieces of at most
//! `PIECE` (32) edges. A chain between grids A and B is stored
//! once and referenced by both rings (by B in reverse), so simplifying the
//! chain once simplifies the common border identically for both grids. Rings
//! with no junction (a grid enclosed by one neighbour, or an island) start
//! at their smallest vertex, which the neighbour's matching ring shares.
//!
//! Borders are matched by exact vertex equality: neighbouring grids must
//! share their border vertices (generated cities do; imported data that was
//! digitised without snapping simplifies each side on its own).
//!
//! Coordinates are Web Mercator *world units*: x and y in `0..1` over the
//! whole map, y growing to the south (see [`super::world`]).

use rustc_hash::FxHashMap as HashMap;

use std::sync::OnceLock;

use geo::{Area, InteriorPoint, MultiPolygon};
use rayon::prelude::*;

use super::clip::Bounds;
use super::{MAX_ZOOM, world};
use crate::model::Grid;

/// A reference from a ring to a shared chain.
#[derive(Debug, Clone, Copy)]
struct ChainRef {
    chain: u32,
    reversed: bool,
}

/// One grid's shape: polygons, each a list of rings (exterior first), each a
/// list of chains.
#[derive(Debug, Default)]
struct Shape {
    polygons: Vec<Vec<Vec<ChainRef>>>,
}

/// Rings of polygons in world units, exterior first, without closing points.
pub type Polygons = Vec<Vec<Vec<[f64; 2]>>>;

/// The border topology and tile geometry of one level's grids (level-local numbering).
#[derive(Debug)]
pub struct LevelTopology {
    shapes: Vec<Shape>,
    /// Chain vertices; a closed loop repeats its first vertex at the end.
    chains: Vec<Vec<[f64; 2]>>,
    chain_bounds: Vec<Bounds>,
    /// Per zoom, each chain simplified for that zoom's tile unit (`None`:
    /// nothing to remove), computed on first use of the zoom.
    simplified: Vec<OnceLock<Simplified>>,
    bounds: Vec<Bounds>,
    labels: Vec<[f64; 2]>,
    median_size: f64,
}

const NONE: u32 = u32::MAX;

/// Directed edges (exact coordinate bits of both ends) to a ring or chain number.
type EdgeMap = HashMap<((u64, u64), (u64, u64)), u32>;

/// A stored border's first directed edge → its first piece, number of
/// pieces, and number of vertices.
type ChainStarts = HashMap<((u64, u64), (u64, u64)), (u32, u32, u32)>;

/// One zoom's geometry: every chain simplified (`None` where nothing was
/// removed, or where the full chain is needed to keep a grid valid), and
/// the grids that collapse on the zoom's lattice even with full chains.
#[derive(Debug)]
struct Simplified {
    chains: Vec<Option<Box<[[f64; 2]]>>>,
    collapsed: Vec<bool>,
}

/// Most edges in one stored piece of a border.
const PIECE: usize = 32;

fn bits(p: [f64; 2]) -> (u64, u64) {
    (p[0].to_bits(), p[1].to_bits())
}

/// Rings of a multipolygon in world units, without closing points and
/// consecutive duplicates, oriented as MVT wants them (see [`super::clip::area2`]).
fn project(mp: &MultiPolygon<f64>) -> Polygons {
    mp.0.iter()
        .map(|poly| {
            std::iter::once(poly.exterior())
                .chain(poly.interiors())
                .map(|ring| {
                    let mut pts: Vec<[f64; 2]> = Vec::with_capacity(ring.0.len());
                    for c in &ring.0 {
                        let p = world(c.x, c.y);
                        if pts.last() != Some(&p) {
                            pts.push(p);
                        }
                    }
                    if pts.len() > 1 && pts.first() == pts.last() {
                        pts.pop();
                    }
                    pts
                })
                .enumerate()
                .map(|(k, mut pts)| {
                    // Exteriors positive, holes negative: then two grids
                    // sharing a border always walk it in opposite directions.
                    if (k == 0) != (super::clip::area2(&pts) > 0.0) {
                        pts.reverse();
                    }
                    pts
                })
                .collect()
        })
        .collect()
}

/// A point inside the grid's largest polygon, in world units.
fn label_point(mp: &MultiPolygon<f64>) -> [f64; 2] {
    let largest =
        mp.0.iter()
            .max_by(|a, b| a.unsigned_area().total_cmp(&b.unsigned_area()));
    largest
        .and_then(|p| p.interior_point())
        .map_or([f64::NAN, f64::NAN], |p| world(p.x(), p.y()))
}

impl LevelTopology {
    /// Builds the topology of `grids` (one level). Uses all cores for projection.
    pub fn build(grids: &[Grid]) -> Self {
        let projected: Vec<(Polygons, [f64; 2])> = grids
            .par_iter()
            .map(|g| (project(&g.geometry), label_point(&g.geometry)))
            .collect();
        // Every directed edge and the ring it belongs to.
        let mut ring_id = 0u32;
        let mut edges: EdgeMap = HashMap::default();
        for (polys, _) in &projected {
            for ring in polys.iter().flatten() {
                for i in 0..ring.len() {
                    edges.insert((bits(ring[i]), bits(ring[(i + 1) % ring.len()])), ring_id);
                }
                ring_id += 1;
            }
        }
        let mut chains: Vec<Vec<[f64; 2]>> = Vec::new();
        let mut first_edge: ChainStarts = HashMap::default();
        let mut shapes = Vec::with_capacity(grids.len());
        let mut bounds = Vec::with_capacity(grids.len());
        let mut labels = Vec::with_capacity(grids.len());
        for (polys, label) in projected {
            let mut shape = Shape::default();
            let mut b: Option<Bounds> = None;
            for poly in polys {
                let mut rings = Vec::new();
                for ring in poly {
                    if ring.len() < 3 {
                        continue;
                    }
                    if let Some(rb) = Bounds::of(&ring) {
                        b = Some(b.map_or(rb, |b| merge(b, rb)));
                    }
                    rings.push(cut_ring(&ring, &edges, &mut chains, &mut first_edge));
                }
                if !rings.is_empty() {
                    shape.polygons.push(rings);
                }
            }
            shapes.push(shape);
            bounds.push(b.unwrap_or(Bounds {
                min_x: f64::NAN,
                min_y: f64::NAN,
                max_x: f64::NAN,
                max_y: f64::NAN,
            }));
            labels.push(label);
        }
        let mut sizes: Vec<f64> = bounds
            .iter()
            .map(|b| (b.max_x - b.min_x).max(b.max_y - b.min_y))
            .filter(|s| s.is_finite())
            .collect();
        sizes.sort_by(f64::total_cmp);
        let median_size = sizes.get(sizes.len() / 2).copied().unwrap_or(0.0);
        let chain_bounds = chains
            .iter()
            .map(|c| Bounds::of(c).expect("a chain has two or more vertices"))
            .collect();
        LevelTopology {
            shapes,
            chains,
            chain_bounds,
            simplified: (0..=MAX_ZOOM).map(|_| OnceLock::new()).collect(),
            bounds,
            labels,
            median_size,
        }
    }

    /// Number of grids.
    pub fn len(&self) -> usize {
        self.shapes.len()
    }

    /// True when the level has no grids.
    pub fn is_empty(&self) -> bool {
        self.shapes.is_empty()
    }

    /// Envelope of level-local grid `g`, world units.
    pub fn bounds(&self, g: usize) -> Bounds {
        self.bounds[g]
    }

    /// A point inside grid `g` for its label, world units (NaN for an empty grid).
    pub fn label(&self, g: usize) -> [f64; 2] {
        self.labels[g]
    }

    /// Median of the grids' larger envelope side, world units.
    pub fn median_size(&self) -> f64 {
        self.median_size
    }

    /// The chains simplified for `zoom` (tolerance: one tile unit of that
    /// zoom; none at [`MAX_ZOOM`]). All cores, once per zoom.
    fn simplified(&self, zoom: u8) -> &Simplified {
        self.simplified[zoom as usize].get_or_init(|| {
            let scale = super::EXTENT as f64 * (1u64 << zoom) as f64;
            let chains = if zoom >= MAX_ZOOM {
                vec![None; self.chains.len()]
            } else {
                let tolerance = 1.0 / scale;
                self.chains
                    .par_iter()
                    .map(|c| {
                        let s = simplify(c, tolerance);
                        (s.len() < c.len()).then(|| s.into_boxed_slice())
                    })
                    .collect()
            };
            let mut s = Simplified {
                chains,
                collapsed: vec![false; self.shapes.len()],
            };
            self.keep_valid(scale, &mut s);
            s
        })
    }

    /// Grid `g`'s rings with the chains of `s`, snapped to the lattice of `scale`.
    fn snapped(&self, g: usize, s: &Simplified, scale: f64) -> Vec<Vec<Vec<[i32; 2]>>> {
        self.assemble(g, &s.chains, None)
            .iter()
            .map(|poly| {
                poly.iter()
                    .map(|r| super::rings::snap_ring(r, scale))
                    .collect()
            })
            .collect()
    }

    /// Makes every grid valid on the lattice of `scale` (tile units per
    /// world unit): the chains of a grid whose snapped polygons are not
    /// simple go back to their full vertices (for its neighbours too, which
    /// share them), and the grids that check changes are checked again,
    /// for a few rounds. A grid still not simple with every chain in full
    /// has collapsed at this zoom (a sliver narrower than a tile unit) and
    /// is marked so, to be left out of this zoom's tiles.
    fn keep_valid(&self, scale: f64, s: &mut Simplified) {
        let mut users: Vec<Vec<u32>> = vec![Vec::new(); self.chains.len()];
        for (g, shape) in self.shapes.iter().enumerate() {
            for r in shape.polygons.iter().flatten().flatten() {
                users[r.chain as usize].push(g as u32);
            }
        }
        let mut check: Vec<u32> = (0..self.shapes.len() as u32).collect();
        for _round in 0..4 {
            let bad: Vec<u32> = check
                .par_iter()
                .copied()
                .filter(|&g| {
                    !self
                        .snapped(g as usize, s, scale)
                        .iter()
                        .all(|poly| super::valid::is_simple(poly))
                })
                .collect();
            let mut next: Vec<u32> = Vec::new();
            for &g in &bad {
                let mut changed = false;
                for r in self.shapes[g as usize].polygons.iter().flatten().flatten() {
                    if s.chains[r.chain as usize].take().is_some() {
                        changed = true;
                        next.extend(&users[r.chain as usize]);
                    }
                }
                if !changed {
                    s.collapsed[g as usize] = true;
                }
            }
            next.sort_unstable();
            next.dedup();
            if next.is_empty() {
                return;
            }
            check = next;
        }
        // Rounds used up: whatever is still not simple is left out.
        for g in check {
            if !self
                .snapped(g as usize, s, scale)
                .iter()
                .all(|poly| super::valid::is_simple(poly))
            {
                s.collapsed[g as usize] = true;
            }
        }
    }

    /// True when grid `g` collapses at `zoom` (it is left out of that zoom's tiles).
    pub fn collapsed(&self, g: usize, zoom: u8) -> bool {
        self.simplified(zoom).collapsed[g]
    }

    /// Grid `g`'s polygons for a tile of zoom `zoom` whose buffered box is
    /// `window`, every shared chain simplified once for the zoom (see
    /// [`simplify`]). Chains wholly outside `window` are replaced by their
    /// two endpoints: their envelope lies beyond one side of the window, and
    /// so does the straight line between their ends, so clipping to the
    /// window gives the same result with a fraction of the vertices. Rings
    /// that collapse below three vertices are dropped, and a polygon whose
    /// exterior collapsed is dropped with its holes.
    pub fn polygons(&self, g: usize, zoom: u8, window: &Bounds) -> Polygons {
        self.assemble(g, &self.simplified(zoom).chains, Some(window))
    }

    /// Grid `g`'s rings from `chains` (full chains where `None`); chains
    /// wholly outside `window`, when given, by their two ends.
    fn assemble(
        &self,
        g: usize,
        simplified: &[Option<Box<[[f64; 2]]>>],
        window: Option<&Bounds>,
    ) -> Polygons {
        let mut out = Vec::new();
        for poly in &self.shapes[g].polygons {
            let mut rings = Vec::with_capacity(poly.len());
            for (k, refs) in poly.iter().enumerate() {
                let mut ring: Vec<[f64; 2]> = Vec::new();
                for r in refs {
                    let chain = &self.chains[r.chain as usize];
                    let ends;
                    let pts: &[[f64; 2]] = if window
                        .is_some_and(|w| !self.chain_bounds[r.chain as usize].intersects(w))
                    {
                        ends = [chain[0], chain[chain.len() - 1]];
                        &ends
                    } else {
                        simplified[r.chain as usize].as_deref().unwrap_or(chain)
                    };
                    // Each chain starts where the previous one ended: skip that vertex.
                    let skip = usize::from(!ring.is_empty());
                    if r.reversed {
                        ring.extend(pts.iter().rev().skip(skip));
                    } else {
                        ring.extend(pts.iter().skip(skip));
                    }
                }
                if ring.len() > 1 && ring.first() == ring.last() {
                    ring.pop();
                }
                if ring.len() < 3 {
                    if k == 0 {
                        break;
                    }
                    continue;
                }
                rings.push(ring);
            }
            if !rings.is_empty() {
                out.push(rings);
            }
        }
        out
    }
}

fn merge(a: Bounds, b: Bounds) -> Bounds {
    Bounds {
        min_x: a.min_x.min(b.min_x),
        min_y: a.min_y.min(b.min_y),
        max_x: a.max_x.max(b.max_x),
        max_y: a.max_y.max(b.max_y),
    }
}

/// Cuts one ring into chains at its junctions, reusing the neighbour's chain
/// where the neighbour already stored it.
fn cut_ring(
    ring: &[[f64; 2]],
    edges: &EdgeMap,
    chains: &mut Vec<Vec<[f64; 2]>>,
    first_edge: &mut ChainStarts,
) -> Vec<ChainRef> {
    let n = ring.len();
    // The ring on the other side of edge i (ring[i] → ring[i+1]).
    let other: Vec<u32> = (0..n)
        .map(|i| {
            edges
                .get(&(bits(ring[(i + 1) % n]), bits(ring[i])))
                .copied()
                .unwrap_or(NONE)
        })
        .collect();
    let mut starts: Vec<usize> = (0..n)
        .filter(|&i| other[(i + n - 1) % n] != other[i])
        .collect();
    if starts.is_empty() {
        let smallest = (0..n)
            .min_by(|&a, &b| {
                ring[a][0]
                    .total_cmp(&ring[b][0])
                    .then(ring[a][1].total_cmp(&ring[b][1]))
            })
            .unwrap_or(0);
        starts.push(smallest);
    }
    let mut refs = Vec::with_capacity(starts.len());
    for (k, &s) in starts.iter().enumerate() {
        let e = if starts.len() == 1 {
            s + n
        } else {
            starts[(k + 1) % starts.len()]
        };
        let e = if e <= s { e + n } else { e };
        let pts: Vec<[f64; 2]> = (s..=e).map(|i| ring[i % n]).collect();
        let m = pts.len();
        if other[s] != NONE
            && let Some(&(first, count, len)) =
                first_edge.get(&(bits(pts[m - 1]), bits(pts[m - 2])))
            && len as usize == m
        {
            refs.extend((first..first + count).rev().map(|chain| ChainRef {
                chain,
                reversed: true,
            }));
            continue;
        }
        // Long borders are stored in pieces of at most PIECE edges, so that a
        // tile touches only the pieces near it.
        let first = chains.len() as u32;
        let mut count = 0;
        let mut i = 0;
        while i + 1 < m {
            let j = (i + PIECE).min(m - 1);
            chains.push(pts[i..=j].to_vec());
            refs.push(ChainRef {
                chain: first + count,
                reversed: false,
            });
            count += 1;
            i = j;
        }
        first_edge.insert((bits(pts[0]), bits(pts[1])), (first, count, m as u32));
    }
    refs
}

/// Squared distance from `p` to segment `a`–`b`.
fn seg_dist2(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (x, y) = (a[0] + t * dx - p[0], a[1] + t * dy - p[1]);
    x * x + y * y
}

/// Douglas–Peucker keeping both endpoints; a closed chain (first = last) is
/// first split at its vertex farthest from the start.
pub fn simplify(pts: &[[f64; 2]], tolerance: f64) -> Vec<[f64; 2]> {
    let mut out = Vec::new();
    simplify_into(pts, tolerance, &mut out);
    out
}

/// [`simplify`], appending the result to `out`.
fn simplify_into(pts: &[[f64; 2]], tolerance: f64, out: &mut Vec<[f64; 2]>) {
    let n = pts.len();
    if tolerance <= 0.0 || n <= 2 {
        out.extend_from_slice(pts);
        return;
    }
    let mut keep = vec![false; n];
    keep[0] = true;
    keep[n - 1] = true;
    let mut stack = Vec::new();
    if pts[0] == pts[n - 1] {
        let far = (1..n - 1)
            .max_by(|&a, &b| {
                seg_dist2(pts[a], pts[0], pts[0]).total_cmp(&seg_dist2(pts[b], pts[0], pts[0]))
            })
            .unwrap_or(0);
        keep[far] = true;
        stack.push((0, far));
        stack.push((far, n - 1));
    } else {
        stack.push((0, n - 1));
    }
    let tol2 = tolerance * tolerance;
    while let Some((a, b)) = stack.pop() {
        if b <= a + 1 {
            continue;
        }
        let (mut best, mut best_d) = (a, -1.0);
        for i in a + 1..b {
            let d = seg_dist2(pts[i], pts[a], pts[b]);
            if d > best_d {
                best_d = d;
                best = i;
            }
        }
        if best_d > tol2 {
            keep[best] = true;
            stack.push((a, best));
            stack.push((best, b));
        }
    }
    out.extend(pts.iter().zip(keep).filter(|(_, k)| *k).map(|(p, _)| *p));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::rect_polygon;

    fn grid(code: &str, x0: f64, y0: f64, x1: f64, y1: f64) -> Grid {
        Grid {
            code: code.into(),
            name: code.into(),
            level: 0,
            worker: None,
            geometry: MultiPolygon(vec![rect_polygon(x0, y0, x1, y1)]),
        }
    }

    #[test]
    fn two_neighbours_share_their_common_chain() {
        let grids = [grid("a", 0.0, 0.0, 1.0, 1.0), grid("b", 1.0, 0.0, 2.0, 1.0)];
        let t = LevelTopology::build(&grids);
        let shared: Vec<u32> = t.shapes[0].polygons[0][0].iter().map(|r| r.chain).collect();
        let other: Vec<u32> = t.shapes[1].polygons[0][0].iter().map(|r| r.chain).collect();
        assert_eq!(shared.iter().filter(|c| other.contains(c)).count(), 1);
    }

    #[test]
    fn a_hole_and_its_filling_share_one_loop() {
        let mut outer = rect_polygon(0.0, 0.0, 3.0, 3.0);
        outer.interiors_push(rect_polygon(1.0, 1.0, 2.0, 2.0).exterior().clone());
        let grids = [
            Grid {
                geometry: MultiPolygon(vec![outer]),
                ..grid("o", 0.0, 0.0, 0.0, 0.0)
            },
            grid("i", 1.0, 1.0, 2.0, 2.0),
        ];
        let t = LevelTopology::build(&grids);
        assert_eq!(
            t.shapes[0].polygons[0][1][0].chain,
            t.shapes[1].polygons[0][0][0].chain
        );
    }

    #[test]
    fn douglas_peucker_keeps_ends_and_far_points() {
        let line = [
            [0.0, 0.0],
            [1.0, 0.01],
            [2.0, -0.01],
            [3.0, 5.0],
            [4.0, 0.0],
        ];
        assert_eq!(
            simplify(&line, 0.1),
            vec![[0.0, 0.0], [2.0, -0.01], [3.0, 5.0], [4.0, 0.0]]
        );
        assert_eq!(simplify(&line, 0.0), line.to_vec());
    }
}
