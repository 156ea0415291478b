//! Point-in-grid lookup: "which grid am I in".
//!
//! The answer is the whole chain (district, street, community, unit grid by
//! default), the unit grid's worker, and the distance in metres from the point
//! to the nearest boundary of its grid, so that a phone with 10 m GPS error
//! knows when it stands near a border.
//!
//! **Border rule.** A point strictly inside a grid belongs to it. A point
//! exactly on a shared border or vertex belongs to the one grid, among those
//! whose boundary it lies on, with the smallest code (string order). Every
//! point therefore maps to exactly one grid per level or to none.
//!
//! **Outside.** A point in no grid is an answer, not an error: `inside` is
//! false and `nearest` names the nearest grid of the finest level with its
//! distance in metres.
//!
//! ```no_run
//! # let snapshot: wangge::index::Snapshot = unimplemented!();
//! let answer = wangge::lookup::lookup(&snapshot, geo::Coord { x: 116.40, y: 39.91 });
//! if let Some(unit) = &answer.grid {
//!     println!("{} {} ({:.1} m from its border)", unit.code, unit.name, answer.border_distance_m.unwrap());
//! }
//! ```

use geo::Coord;
use serde::Serialize;

use crate::index::{Position, Snapshot};
use crate::model::Grid;

/// One grid of a lookup chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GridRef<'a> {
    /// Grid code.
    pub code: &'a str,
    /// Grid name.
    pub name: &'a str,
    /// Level machine name, e.g. `street`.
    pub level: &'a str,
    /// Level display name, e.g. `街道`.
    pub level_label: &'a str,
}

/// The nearest grid to a point that is in none.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Nearest<'a> {
    /// The grid.
    #[serde(flatten)]
    pub grid: GridRef<'a>,
    /// Distance from the point to the grid's boundary, metres.
    pub distance_m: f64,
}

/// The answer to one lookup. Borrowed from the snapshot: cheap to build and
/// serialize, no copies of names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer<'a> {
    /// The point looked up, WGS84 lon (degrees).
    pub lon: f64,
    /// The point looked up, WGS84 lat (degrees).
    pub lat: f64,
    /// True when some grid contains the point.
    pub inside: bool,
    /// True when the point lies exactly on its grid's boundary (border rule applied).
    pub on_border: bool,
    /// The finest grid containing the point.
    pub grid: Option<GridRef<'a>>,
    /// The containing grids from the top level down to `grid`.
    pub chain: Vec<GridRef<'a>>,
    /// The grid worker (网格员) of `grid`.
    pub worker: Option<&'a str>,
    /// Distance from the point to the nearest boundary of `grid`, metres.
    pub border_distance_m: Option<f64>,
    /// For a point outside every grid: the nearest grid and its distance.
    pub nearest: Option<Nearest<'a>>,
}

fn grid_ref<'a>(snap: &'a Snapshot, g: &'a Grid) -> GridRef<'a> {
    let def = &snap.data().scheme.levels[g.level];
    GridRef {
        code: &g.code,
        name: &g.name,
        level: &def.name,
        level_label: &def.label,
    }
}

/// The grid chain of a grid, top level first (it stops at the first ancestor
/// missing from the data).
pub fn chain<'a>(snap: &'a Snapshot, g: &'a Grid) -> Vec<GridRef<'a>> {
    match snap.grid_index(&g.code) {
        Some(i) => chain_of(snap, i),
        None => vec![grid_ref(snap, g)],
    }
}

fn chain_of(snap: &Snapshot, index: u32) -> Vec<GridRef<'_>> {
    let mut out = Vec::with_capacity(snap.data().scheme.depth());
    let mut at = Some(index);
    while let Some(i) = at {
        out.push(grid_ref(snap, snap.grid(i)));
        at = snap.parent(i);
    }
    out.reverse();
    out
}

/// Looks up one WGS84 point (lon/lat degrees, already validated as finite).
pub fn lookup(snap: &Snapshot, p: Coord<f64>) -> Answer<'_> {
    match snap.locate(p) {
        Some((gi, pos)) => {
            let g = snap.grid(gi);
            Answer {
                lon: p.x,
                lat: p.y,
                inside: true,
                on_border: pos == Position::Boundary,
                grid: Some(grid_ref(snap, g)),
                chain: chain_of(snap, gi),
                worker: g.worker.as_deref(),
                border_distance_m: Some(snap.boundary_distance_m(gi, p)),
                nearest: None,
            }
        }
        None => {
            let finest = snap.levels().iter().rev().find(|l| !l.is_empty());
            let nearest = finest.and_then(|l| {
                l.nearest(p).map(|(g, d)| Nearest {
                    grid: grid_ref(snap, snap.grid((l.first + g as usize) as u32)),
                    distance_m: d,
                })
            });
            Answer {
                lon: p.x,
                lat: p.y,
                inside: false,
                on_border: false,
                grid: None,
                chain: Vec::new(),
                worker: None,
                border_distance_m: None,
                nearest,
            }
        }
    }
}

/// Locates many WGS84 points on all cores: the finest grid (dataset index)
/// containing each, with its [`Position`], in input order.
pub fn locate_many(snap: &Snapshot, points: &[Coord<f64>]) -> Vec<Option<(u32, Position)>> {
    use rayon::prelude::*;
    points.par_iter().map(|p| snap.locate(*p)).collect()
}
