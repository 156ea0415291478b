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
//! great-circle distance in metres (see [`crate::index::BorderIndex`]).
//!
//! **Geometry decides.** The chain names, per level, the grid whose polygon
//! contains the point; a level where no grid does (a polygon left out by
//! `--allow-invalid`, a gap) has no entry. Where real data disagrees with
//! itself the answer says so instead of hiding it: `overlaps` lists the
//! grids of a level that all contain the point (their polygons overlap), and
//! `parent_mismatches` names a grid whose code says its parent is one grid
//! while the point lies in another (or in none) at the parent's level.
//!
//! ```
//! use geo::{Coord, MultiPolygon};
//! use wangge::codes::GridScheme;
//! use wangge::model::{Dataset, Grid};
//! use wangge::validate::rect_polygon;
//!
//! // Two districts of the GB/T 2260 scheme's county level, side by side.
//! let mut data = Dataset::empty();
//! data.scheme = GridScheme::preset("gbt2260").unwrap();
//! let county = |code: &str, x0: f64| Grid {
//!     code: code.into(),
//!     name: format!("区{code}"),
//!     level: 2,
//!     worker: Some("张三".into()),
//!     geometry: MultiPolygon(vec![rect_polygon(x0, 39.9, x0 + 0.01, 39.91)]),
//! };
//! data.grids = vec![county("110101", 116.40), county("110102", 116.41)];
//! let snapshot = wangge::snapshot::Snapshot::build(data, 1);
//!
//! let answer = wangge::query::lookup::lookup(&snapshot, Coord { x: 116.402, y: 39.905 });
//! let grid = answer.grid.as_ref().unwrap();
//! assert_eq!((grid.code, answer.worker.as_deref()), ("110101", Some("张三")));
//! // 0.002° of longitude at 39.9° N from the western border: about 171 m.
//! assert!((answer.border_distance_m.unwrap() - 170.6).abs() < 1.0);
//! // The counties' city (1101) and province (11) are not in the data: the
//! // answer says so instead of inventing them.
//! assert_eq!(answer.parent_mismatches[0].expected_parent, "1101");
//!
//! // A point beside the city gets the nearest grid and its distance.
//! let outside = wangge::query::lookup::lookup(&snapshot, Coord { x: 116.44, y: 39.905 });
//! assert!(!outside.inside);
//! assert_eq!(outside.nearest.unwrap().grid.code, "110102");
//! ```

use geo::Coord;
use serde::Serialize;

use crate::index::Position;
use crate::model::{Grid, GridId};
use crate::snapshot::Snapshot;

/// One grid of a lookup chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GridRef<'a> {
    /// Level index (0 = top), for writers that place codes by level.
    #[serde(skip)]
    pub level_index: usize,
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
    /// Great-circle distance from the point to the grid's boundary, metres.
    pub distance_m: f64,
}

/// Several grids of one level contain the point: their polygons overlap.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overlap<'a> {
    /// Level machine name.
    pub level: &'a str,
    /// Codes of every grid of the level whose interior contains the point,
    /// ascending (the chain names the first, by the border rule).
    pub codes: Vec<&'a str>,
}

/// A grid whose code names a parent that does not contain the point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParentMismatch<'a> {
    /// Machine name of the parent's level.
    pub level: &'a str,
    /// The grid of the chain whose code names the parent.
    pub grid: &'a str,
    /// The parent its code names (the code prefix of the level above).
    pub expected_parent: &'a str,
    /// The grid of that level that contains the point, if any.
    pub found: Option<&'a str>,
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
    /// Per level, top level first, the grid containing the point; levels
    /// with no grid there are left out.
    pub chain: Vec<GridRef<'a>>,
    /// Levels where more than one grid contains the point (a data error).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub overlaps: Vec<Overlap<'a>>,
    /// Grids of the chain whose code-parent is not the chain's grid of the
    /// level above (code hierarchy and geometry disagree).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parent_mismatches: Vec<ParentMismatch<'a>>,
    /// The grid worker (网格员) of `grid`, as the reader may see them
    /// ([`lookup_as`]).
    pub worker: Option<std::borrow::Cow<'a, str>>,
    /// Distance from the point to the nearest boundary of `grid`, metres.
    pub border_distance_m: Option<f64>,
    /// For a point outside every grid: the nearest grid and its distance.
    pub nearest: Option<Nearest<'a>>,
}

fn grid_ref<'a>(snap: &'a Snapshot, g: &'a Grid) -> GridRef<'a> {
    let def = &snap.data().scheme.levels[g.level];
    GridRef {
        level_index: g.level,
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

fn chain_of(snap: &Snapshot, index: GridId) -> Vec<GridRef<'_>> {
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
    let scheme = &snap.data().scheme;
    let mut chain = Vec::with_capacity(scheme.depth());
    let mut overlaps = Vec::new();
    let mut finest: Option<(GridId, Position)> = None;
    let in_bounds = snap.extent().is_some_and(|b| {
        p.x >= b.min().x && p.x <= b.max().x && p.y >= b.min().y && p.y <= b.max().y
    });
    if in_bounds {
        for (level, li) in snap.levels().iter().enumerate() {
            let (pick, overlap) = li.locate_all(p);
            let Some((g, pos)) = pick else { continue };
            let gi = li.dataset_index(g);
            chain.push(grid_ref(snap, snap.grid(gi)));
            finest = Some((gi, pos));
            if !overlap.is_empty() {
                overlaps.push(Overlap {
                    level: &scheme.levels[level].name,
                    codes: overlap
                        .iter()
                        .map(|&k| snap.grid(li.dataset_index(k)).code.as_str())
                        .collect(),
                });
            }
        }
    }
    let mut parent_mismatches = Vec::new();
    for (i, g) in chain.iter().enumerate() {
        let Some(parent_level) = g.level_index.checked_sub(1) else {
            continue;
        };
        let expected = &g.code[..scheme.levels[parent_level].code_len.min(g.code.len())];
        let found = chain[..i]
            .iter()
            .find(|c| c.level_index == parent_level)
            .map(|c| c.code);
        if found != Some(expected) {
            parent_mismatches.push(ParentMismatch {
                level: &scheme.levels[parent_level].name,
                grid: g.code,
                expected_parent: expected,
                found,
            });
        }
    }
    match finest {
        Some((gi, pos)) => {
            let g = snap.grid(gi);
            Answer {
                lon: p.x,
                lat: p.y,
                inside: true,
                on_border: pos == Position::Boundary,
                grid: Some(grid_ref(snap, g)),
                chain,
                overlaps,
                parent_mismatches,
                worker: g.worker.as_deref().map(std::borrow::Cow::Borrowed),
                border_distance_m: Some(snap.boundary_distance_m(gi, p)),
                nearest: None,
            }
        }
        None => {
            let finest = snap.levels().iter().rev().find(|l| !l.is_empty());
            let nearest = finest.and_then(|l| {
                l.nearest(p).map(|(g, d)| Nearest {
                    grid: grid_ref(snap, snap.grid(l.dataset_index(g))),
                    distance_m: d,
                })
            });
            Answer {
                lon: p.x,
                lat: p.y,
                inside: false,
                on_border: false,
                grid: None,
                chain,
                overlaps,
                parent_mismatches,
                worker: None,
                border_distance_m: None,
                nearest,
            }
        }
    }
}

/// Looks up one WGS84 point for a reader: the grid worker's name as they
/// may see it.
pub fn lookup_as<'a>(s: &super::Scoped<'a>, p: Coord<f64>) -> Answer<'a> {
    let mut a = lookup(s.snap, p);
    a.worker = s
        .worker(a.worker.as_deref())
        .map(|w| std::borrow::Cow::Owned(w.into_owned()));
    a
}

/// The answer's data warnings in one line (empty when there are none), for
/// tabular outputs: `overlap county 440103 440104; parent_mismatch city
/// 440105 names 4401, point in 4402`.
pub fn warnings_text(a: &Answer<'_>) -> String {
    let mut parts: Vec<String> = a
        .overlaps
        .iter()
        .map(|o| format!("overlap {} {}", o.level, o.codes.join(" ")))
        .collect();
    parts.extend(a.parent_mismatches.iter().map(|m| {
        format!(
            "parent_mismatch {} {} names {}, point in {}",
            m.level,
            m.grid,
            m.expected_parent,
            m.found.unwrap_or("none")
        )
    }));
    parts.join("; ")
}

/// Locates many WGS84 points on all cores: the finest grid (dataset index)
/// containing each, with its [`Position`], in input order.
pub fn locate_many(snap: &Snapshot, points: &[Coord<f64>]) -> Vec<Option<(GridId, Position)>> {
    use rayon::prelude::*;
    points.par_iter().map(|p| snap.locate(*p)).collect()
}
