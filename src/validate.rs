//! Validation of a city's grids: geometry of each grid, and the rules of grid
//! management ("横向到边、纵向到底"): within a level grids do not overlap, the
//! children of a grid cover it with no gap, and every grid lies inside its
//! parent.
//!
//! Problems are collected in a [`Report`] that names every problem with the
//! feature's code or row and a location (WGS84 lon/lat degrees).

use std::collections::HashMap;

use geo::line_intersection::line_intersection;
use geo::{
    BooleanOps, BoundingRect, Coord, InteriorPoint, LineIntersection, MultiPolygon, Polygon,
    Validation,
};
use rayon::prelude::*;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree, RTreeObject};
use serde::Serialize;

use crate::codes::GridScheme;
use crate::measure;
use crate::model::Grid;

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The dataset is refused unless `--allow-invalid` is given; the feature is left out.
    Error,
    /// Reported; the data is imported as is.
    Warning,
}

/// Kinds of problems, as machine-readable names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A code breaks the scheme (length, digits, parent prefix, class).
    InvalidCode,
    /// Two features share a code.
    DuplicateCode,
    /// A required attribute is missing.
    MissingField,
    /// An attribute value is malformed (state, date, level).
    BadValue,
    /// The geometry is missing or of the wrong type.
    BadGeometryType,
    /// A coordinate is NaN, infinite or out of range.
    BadCoordinate,
    /// A ring is not closed in the source file.
    UnclosedRing,
    /// A ring has fewer than 4 positions (3 distinct points).
    TooFewPoints,
    /// A ring crosses itself.
    SelfIntersection,
    /// Rings of one polygon cross or a hole lies outside its exterior.
    InvalidRings,
    /// A grid's parent code names no grid in the data.
    MissingParent,
    /// A grid extends outside its parent.
    ChildOutsideParent,
    /// Two grids of one level overlap.
    Overlap,
    /// Part of a parent is covered by none of its children.
    Gap,
    /// A component's recorded grid code differs from the grid its location is in.
    GridMismatch,
    /// A component lies in no unit grid.
    OutsideGrids,
}

/// One problem found in the input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// What kind.
    pub kind: ProblemKind,
    /// The input file, when the problem is about one feature of a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based feature or row number in that file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<usize>,
    /// The feature's code (or codes, for pairs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Where, WGS84 lon/lat degrees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<[f64; 2]>,
    /// What is wrong, and how to fix it.
    pub message: String,
}

impl Problem {
    /// An error about a grid (no file/row).
    pub fn grid(
        kind: ProblemKind,
        code: &str,
        location: Option<Coord<f64>>,
        message: String,
    ) -> Self {
        Problem {
            severity: Severity::Error,
            kind,
            file: None,
            row: None,
            code: Some(code.to_string()),
            location: location.map(|c| [c.x, c.y]),
            message,
        }
    }
}

/// All problems found, in the order found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// The problems.
    pub problems: Vec<Problem>,
}

impl Report {
    /// Number of errors.
    pub fn errors(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count()
    }

    /// Number of warnings.
    pub fn warnings(&self) -> usize {
        self.problems.len() - self.errors()
    }

    /// A human-readable listing, one problem per line, at most `max` lines.
    pub fn to_text(&self, max: usize) -> String {
        let mut out = String::new();
        for p in self.problems.iter().take(max) {
            let mut line = format!(
                "{}: {}",
                match p.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                },
                serde_json::to_value(p.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            );
            if let Some(f) = &p.file {
                line.push_str(&format!(" {f}"));
                if let Some(r) = p.row {
                    line.push_str(&format!(" feature {r}"));
                }
            }
            if let Some(c) = &p.code {
                line.push_str(&format!(" [{c}]"));
            }
            if let Some([x, y]) = p.location {
                line.push_str(&format!(" at {x:.6},{y:.6}"));
            }
            line.push_str(&format!(": {}\n", p.message));
            out.push_str(&line);
        }
        if self.problems.len() > max {
            out.push_str(&format!(
                "... and {} more (see the JSON report)\n",
                self.problems.len() - max
            ));
        }
        out
    }
}

/// Checks one polygon geometry: coordinates finite and in range, rings of at
/// least 4 positions, no self-intersection, rings that do not cross.
/// Returns the problems as (kind, location, message).
pub fn check_polygon(mp: &MultiPolygon<f64>) -> Vec<(ProblemKind, Option<Coord<f64>>, String)> {
    let mut out = Vec::new();
    for poly in &mp.0 {
        for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
            if let Some(c) = ring.0.iter().find(|c| {
                !c.x.is_finite()
                    || !c.y.is_finite()
                    || !(-180.0..=180.0).contains(&c.x)
                    || !(-90.0..=90.0).contains(&c.y)
            }) {
                out.push((
                    ProblemKind::BadCoordinate,
                    None,
                    format!("coordinate ({}, {}) is not a valid longitude/latitude: check the CRS (--crs) and the data", c.x, c.y),
                ));
                return out;
            }
            let mut distinct = ring.0.clone();
            distinct.dedup();
            if distinct.len() < 4 {
                out.push((
                    ProblemKind::TooFewPoints,
                    ring.0.first().copied(),
                    format!(
                        "a ring has {} distinct points; a polygon ring needs at least 3",
                        distinct.len().saturating_sub(1)
                    ),
                ));
                return out;
            }
        }
    }
    {
        for e in mp.validation_errors().iter().take(3) {
            let text = e.to_string();
            if text.contains("self-intersection") {
                let at = mp.0.iter().find_map(|p| {
                    std::iter::once(p.exterior())
                        .chain(p.interiors())
                        .find_map(self_intersection)
                });
                out.push((
                    ProblemKind::SelfIntersection,
                    at,
                    format!("{text}: redraw the ring so that it does not cross itself"),
                ));
            } else if text.contains("at least") {
                out.push((ProblemKind::TooFewPoints, None, text));
            } else if text.contains("non-finite") {
                out.push((ProblemKind::BadCoordinate, None, text));
            } else {
                out.push((
                    ProblemKind::InvalidRings,
                    mp.interior_point().map(|p| p.0),
                    text,
                ));
            }
        }
    }
    out
}

/// A point where a ring crosses itself (brute force; run only on invalid rings).
fn self_intersection(ring: &geo::LineString<f64>) -> Option<Coord<f64>> {
    let lines: Vec<geo::Line<f64>> = ring.lines().collect();
    let n = lines.len();
    for i in 0..n {
        for j in i + 2..n {
            if i == 0 && j == n - 1 {
                continue;
            }
            match line_intersection(lines[i], lines[j]) {
                Some(LineIntersection::SinglePoint { intersection, .. }) => {
                    return Some(intersection);
                }
                Some(LineIntersection::Collinear { intersection }) => {
                    return Some(intersection.start);
                }
                None => {}
            }
        }
    }
    None
}

type Boxed = GeomWithData<Rectangle<[f64; 2]>, usize>;

fn boxed(i: usize, mp: &MultiPolygon<f64>) -> Option<Boxed> {
    let b = mp.bounding_rect()?;
    Some(GeomWithData::new(
        Rectangle::from_corners([b.min().x, b.min().y], [b.max().x, b.max().y]),
        i,
    ))
}

fn big_enough(mp: &MultiPolygon<f64>, tolerance_m2: f64) -> Option<(f64, Coord<f64>)> {
    let a = measure::area_m2(mp);
    if a > tolerance_m2 {
        // Report the largest piece's interior point.
        let piece = mp
            .0
            .iter()
            .max_by(|x, y| measure::polygon_area_m2(x).total_cmp(&measure::polygon_area_m2(y)))?;
        Some((
            a,
            piece
                .interior_point()
                .map_or(piece.exterior().0[0], |p| p.0),
        ))
    } else {
        None
    }
}

/// Checks the hierarchy rules over valid grids: overlaps within each level,
/// missing parents, children outside their parent, and gaps in each parent's
/// coverage. Areas under `tolerance_m2` square metres are ignored
/// (digitising noise). Uses all cores.
pub fn check_hierarchy(scheme: &GridScheme, grids: &[Grid], tolerance_m2: f64) -> Vec<Problem> {
    let mut problems = Vec::new();
    let by_code: HashMap<&str, usize> = grids
        .iter()
        .enumerate()
        .map(|(i, g)| (g.code.as_str(), i))
        .collect();

    // Overlaps within each level.
    for level in 0..scheme.depth() {
        let members: Vec<usize> = (0..grids.len())
            .filter(|&i| grids[i].level == level)
            .collect();
        let tree = RTree::bulk_load(
            members
                .iter()
                .filter_map(|&i| boxed(i, &grids[i].geometry))
                .collect(),
        );
        let found: Vec<Problem> = members
            .par_iter()
            .flat_map_iter(|&i| {
                let g = &grids[i];
                let env = boxed(i, &g.geometry).map(|b| b.geom().envelope());
                let tree = &tree;
                env.into_iter()
                    .flat_map(move |env: AABB<[f64; 2]>| tree.locate_in_envelope_intersecting(&env).map(|e| e.data).collect::<Vec<_>>())
                    .filter(move |&j| j > i)
                    .filter_map(move |j| {
                        let o = grids[i].geometry.intersection(&grids[j].geometry);
                        big_enough(&o, tolerance_m2).map(|(area, at)| {
                            Problem::grid(
                                ProblemKind::Overlap,
                                &format!("{},{}", grids[i].code, grids[j].code),
                                Some(at),
                                format!(
                                    "grids {} and {} overlap by {:.1} m²: a point there would belong to both; move their shared border so that they only touch",
                                    grids[i].code, grids[j].code, area
                                ),
                            )
                        })
                    })
            })
            .collect();
        problems.extend(found);
    }

    // Parents: missing, child outside, gaps.
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, g) in grids.iter().enumerate() {
        if g.level == 0 {
            continue;
        }
        let parent_code = &g.code[..scheme.levels[g.level - 1].code_len.min(g.code.len())];
        match by_code.get(parent_code) {
            Some(&p) => children.entry(p).or_default().push(i),
            None => problems.push(Problem::grid(
                ProblemKind::MissingParent,
                &g.code,
                g.geometry.interior_point().map(|p| p.0),
                format!(
                    "grid {} has parent code {} but no {} grid has that code: import the parent level too, or fix the code",
                    g.code, parent_code, scheme.levels[g.level - 1].name
                ),
            )),
        }
    }
    let mut parents: Vec<(&usize, &Vec<usize>)> = children.iter().collect();
    parents.sort();
    let found: Vec<Problem> = parents
        .par_iter()
        .flat_map_iter(|&(&p, kids)| {
            let parent = &grids[p];
            let mut out = Vec::new();
            for &k in kids {
                let outside = grids[k].geometry.difference(&parent.geometry);
                if let Some((area, at)) = big_enough(&outside, tolerance_m2) {
                    out.push(Problem::grid(
                        ProblemKind::ChildOutsideParent,
                        &grids[k].code,
                        Some(at),
                        format!(
                            "{:.1} m² of grid {} lies outside its parent {}: every grid must lie inside its parent",
                            area, grids[k].code, parent.code
                        ),
                    ));
                }
            }
            let union = kids
                .iter()
                .fold(MultiPolygon::<f64>(vec![]), |acc, &k| acc.union(&grids[k].geometry));
            let gap = parent.geometry.difference(&union);
            if let Some((area, at)) = big_enough(&gap, tolerance_m2) {
                out.push(Problem::grid(
                    ProblemKind::Gap,
                    &parent.code,
                    Some(at),
                    format!(
                        "{:.1} m² of {} is covered by none of its children: every point of a parent must lie in one child grid",
                        area, parent.code
                    ),
                ));
            }
            out
        })
        .collect();
    problems.extend(found);
    problems
}

/// Converts any polygonal geometry to a multipolygon.
pub fn as_multipolygon(g: geo::Geometry<f64>) -> Option<MultiPolygon<f64>> {
    match g {
        geo::Geometry::Polygon(p) => Some(MultiPolygon(vec![p])),
        geo::Geometry::MultiPolygon(mp) => Some(mp),
        geo::Geometry::Rect(r) => Some(MultiPolygon(vec![r.to_polygon()])),
        geo::Geometry::Triangle(t) => Some(MultiPolygon(vec![t.to_polygon()])),
        _ => None,
    }
}

/// Builds a polygon helper for tests: a rectangle in lon/lat degrees.
pub fn rect_polygon(x0: f64, y0: f64, x1: f64, y1: f64) -> Polygon<f64> {
    geo::Rect::new(Coord { x: x0, y: y0 }, Coord { x: x1, y: y1 }).to_polygon()
}
