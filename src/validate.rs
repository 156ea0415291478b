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
    BooleanOps, BoundingRect, Centroid, Coord, InteriorPoint, LineIntersection, MakeValid,
    MultiPolygon, Polygon, Validation, Winding,
};
use rayon::prelude::*;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree, RTreeObject};
use serde::Serialize;

use crate::codes::GridScheme;
use crate::index::{IndexedPolygon, Position};
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
    /// An invalid geometry was repaired (`--repair`); the area change is given.
    Repaired,
    /// A file's text was not UTF-8 and no encoding was declared: it was
    /// decoded with the encoding named in the message.
    EncodingGuessed,
}

/// Advice for geometry problems, appended to their messages.
pub const GEOMETRY_ADVICE: &str =
    "run the import with --repair, or fix it in QGIS (Vector ▸ Geometry Tools ▸ Fix Geometries)";

/// The part of [`GEOMETRY_ADVICE`] that still applies when `--repair` was given.
pub const QGIS_ADVICE: &str = "fix it in QGIS (Vector ▸ Geometry Tools ▸ Fix Geometries)";

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
    /// Area concerned, m²: of a gap piece, of an overlap, of the part of a
    /// child outside its parent; for a repair, the area change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub area_m2: Option<f64>,
    /// What is wrong, and how to fix it.
    pub message: String,
    /// The problem's own geometry, for a map to draw (WGS84 lon/lat): the
    /// gap piece, the overlap, the part outside the parent.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "geometry_json"
    )]
    pub geometry: Option<MultiPolygon<f64>>,
}

fn geometry_json<S: serde::Serializer>(
    g: &Option<MultiPolygon<f64>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match g {
        Some(mp) => geojson::Geometry::new(geojson::Value::from(mp)).serialize(s),
        None => s.serialize_none(),
    }
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
            area_m2: None,
            message,
            geometry: None,
        }
    }

    /// The same problem with its geometry.
    pub fn with_geometry(mut self, geometry: MultiPolygon<f64>) -> Self {
        self.geometry = Some(geometry);
        self
    }

    /// The same problem with an area (m²).
    pub fn with_area(mut self, area_m2: f64) -> Self {
        self.area_m2 = Some(area_m2);
        self
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
        self.listing(max, None)
    }

    /// Like [`Report::to_text`]; `full_report` names the file holding every
    /// problem (the JSON report), if one is written.
    pub fn listing(&self, max: usize, full_report: Option<&str>) -> String {
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
            let more = self.problems.len() - max;
            out.push_str(&match full_report {
                Some(path) => format!("... and {more} more (all of them are in {path})\n"),
                None => format!("... and {more} more (write all of them with --report FILE)\n"),
            });
        }
        out
    }
}

/// Checks one polygon geometry: coordinates finite and in range, rings of at
/// least 4 positions, no ring that doubles back on itself (a zero-width
/// spike), no self-intersection, rings that do not cross.
/// Returns the problems as (kind, location, message); every message says how
/// to fix it.
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
                        "a ring has {} distinct points; a polygon ring needs at least 3: delete the ring, or {GEOMETRY_ADVICE}",
                        distinct.len().saturating_sub(1)
                    ),
                ));
                return out;
            }
            // A ring whose extreme vertex has collinear neighbours goes out and
            // back along one line there (or has no area at all). geo's
            // topology code cannot orient such a ring (it logs "polygon had no
            // winding order"), so it is reported here, on its feature.
            if geo::LineString(distinct).winding_order().is_none() {
                let at = ring
                    .0
                    .iter()
                    .copied()
                    .min_by(|a, b| a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y)));
                out.push((
                    ProblemKind::SelfIntersection,
                    at,
                    format!("a ring doubles back on itself here (a spike of zero width, or a ring with no area): remove the spike's vertex, or {GEOMETRY_ADVICE}"),
                ));
                return out;
            }
        }
    }
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
                format!(
                    "{text}: redraw the ring so that it does not cross itself, or {GEOMETRY_ADVICE}"
                ),
            ));
        } else if text.contains("at least") {
            out.push((
                ProblemKind::TooFewPoints,
                None,
                format!("{text}: {GEOMETRY_ADVICE}"),
            ));
        } else if text.contains("non-finite") {
            out.push((
                ProblemKind::BadCoordinate,
                None,
                format!("{text}: check the CRS (--crs) and the data"),
            ));
        } else {
            out.push((
                ProblemKind::InvalidRings,
                mp.interior_point().map(|p| p.0),
                format!("{text}: holes must lie inside their polygon's exterior, and rings and parts may only touch at single points; {GEOMETRY_ADVICE}"),
            ));
        }
    }
    out
}

/// A repaired geometry and the area it gained or lost.
#[derive(Debug, Clone, PartialEq)]
pub struct Repair {
    /// The valid geometry.
    pub geometry: MultiPolygon<f64>,
    /// Area before the repair, m² (exteriors minus holes, as drawn).
    pub area_before_m2: f64,
    /// Area after, m².
    pub area_after_m2: f64,
}

impl Repair {
    /// The area change as a share of the area before (0.01 = 1%).
    pub fn change_share(&self) -> f64 {
        let d = (self.area_after_m2 - self.area_before_m2).abs();
        if self.area_before_m2 > 0.0 {
            d / self.area_before_m2
        } else if d == 0.0 {
            0.0
        } else {
            f64::INFINITY
        }
    }
}

/// Repairs an invalid polygonal geometry: each part with geo's `MakeValid`
/// (constrained triangulation, even-odd rule: a ring crossing itself becomes
/// the pieces it encloses, spikes and collapsed rings disappear), then the
/// parts merged with a union, as GEOS's `MakeValid` does for a multipolygon
/// whose parts overlap. `None` when the result is empty or still invalid.
pub fn repair(mp: &MultiPolygon<f64>) -> Option<Repair> {
    let parts: Vec<MultiPolygon<f64>> =
        mp.0.iter()
            .map(|p| p.make_valid().ok())
            .collect::<Option<_>>()?;
    let geometry = if parts.len() == 1 {
        parts.into_iter().next()?
    } else {
        geo::unary_union(parts.iter())
    };
    let geometry = MultiPolygon(
        geometry
            .0
            .into_iter()
            .filter(|p| measure::polygon_area_m2(p) > 0.0)
            .collect(),
    );
    if geometry.0.is_empty() || !check_polygon(&geometry).is_empty() {
        return None;
    }
    Some(Repair {
        area_before_m2: measure::area_m2(mp),
        area_after_m2: measure::area_m2(&geometry),
        geometry,
    })
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

/// A point strictly inside `piece`, strictly inside every polygon of
/// `inside` and strictly outside every polygon of `outside`, if one is found:
/// the piece's interior point, its centroid, and midpoints of its widest
/// spans on a few horizontal lines are tried. Pieces of boolean-operation
/// results so thin that no such point exists are numerical noise along a
/// shared border (unshared vertices), not gaps or overlaps.
fn witness(
    piece: &Polygon<f64>,
    inside: &[&IndexedPolygon],
    outside: &[&IndexedPolygon],
) -> Option<Coord<f64>> {
    let own = IndexedPolygon::new(&MultiPolygon(vec![piece.clone()]));
    let ok = |c: Coord<f64>| {
        own.position(c) == Position::Inside
            && inside.iter().all(|p| p.position(c) == Position::Inside)
            && outside.iter().all(|p| p.position(c) == Position::Outside)
    };
    let mut candidates: Vec<Coord<f64>> = Vec::new();
    candidates.extend(piece.interior_point().map(|p| p.0));
    candidates.extend(piece.centroid().map(|p| p.0));
    if let Some(b) = piece.bounding_rect() {
        for k in 1..8 {
            let y = b.min().y + b.height() * k as f64 / 8.0;
            let mut xs: Vec<f64> = own
                .segments()
                .iter()
                .filter(|[a, c]| (a.y <= y) != (c.y <= y))
                .map(|[a, c]| a.x + (y - a.y) * (c.x - a.x) / (c.y - a.y))
                .collect();
            xs.sort_by(f64::total_cmp);
            let mut spans: Vec<(f64, f64)> = xs.chunks_exact(2).map(|w| (w[0], w[1])).collect();
            spans.sort_by(|p, q| (q.1 - q.0).total_cmp(&(p.1 - p.0)));
            candidates.extend(spans.iter().take(2).map(|&(x0, x1)| Coord {
                x: (x0 + x1) / 2.0,
                y,
            }));
        }
    }
    candidates.into_iter().find(|&c| ok(c))
}

/// The pieces of `mp` over `tolerance_m2` that have a [`witness`] point,
/// with their areas (m²) and witnesses, largest first.
fn real_pieces<'a>(
    mp: &'a MultiPolygon<f64>,
    tolerance_m2: f64,
    inside: &[&IndexedPolygon],
    outside: &[&IndexedPolygon],
) -> Vec<(f64, Coord<f64>, &'a Polygon<f64>)> {
    let mut out: Vec<(f64, Coord<f64>, &Polygon<f64>)> =
        mp.0.iter()
            .filter_map(|piece| {
                let a = measure::polygon_area_m2(piece);
                if a <= tolerance_m2 {
                    return None;
                }
                witness(piece, inside, outside).map(|at| (a, at, piece))
            })
            .collect();
    out.sort_by(|p, q| q.0.total_cmp(&p.0));
    out
}

/// The pieces as one multipolygon.
fn pieces_geometry(pieces: &[(f64, Coord<f64>, &Polygon<f64>)]) -> MultiPolygon<f64> {
    MultiPolygon(pieces.iter().map(|p| p.2.clone()).collect())
}

/// Checks the hierarchy rules over valid grids: overlaps within each level,
/// missing parents, children outside their parent, and gaps in each parent's
/// coverage. Each uncovered piece of a parent is its own gap problem;
/// pieces under `tolerance_m2` square metres (digitising noise) and pieces
/// too thin to hold a point that is really uncovered are not reported.
/// `rejected` maps the codes of grids left out for errors to the reason, so
/// that their children's messages name the cause. Uses all cores.
pub fn check_hierarchy(
    scheme: &GridScheme,
    grids: &[Grid],
    tolerance_m2: f64,
    rejected: &HashMap<String, String>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let by_code: HashMap<&str, usize> = grids
        .iter()
        .enumerate()
        .map(|(i, g)| (g.code.as_str(), i))
        .collect();
    let prepared: Vec<IndexedPolygon> = grids
        .par_iter()
        .map(|g| IndexedPolygon::new(&g.geometry))
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
                let prepared = &prepared;
                env.into_iter()
                    .flat_map(move |env: AABB<[f64; 2]>| tree.locate_in_envelope_intersecting(&env).map(|e| e.data).collect::<Vec<_>>())
                    .filter(move |&j| j > i)
                    .filter_map(move |j| {
                        let o = grids[i].geometry.intersection(&grids[j].geometry);
                        let pieces = real_pieces(&o, tolerance_m2, &[&prepared[i], &prepared[j]], &[]);
                        let &(_, at, _) = pieces.first()?;
                        let area: f64 = pieces.iter().map(|p| p.0).sum();
                        let geometry = pieces_geometry(&pieces);
                        Some(Problem::grid(
                            ProblemKind::Overlap,
                            &format!("{},{}", grids[i].code, grids[j].code),
                            Some(at),
                            format!(
                                "grids {} and {} overlap by {:.1} m² (in {} piece(s)): a point there would belong to both; move their shared border so that they only touch",
                                grids[i].code, grids[j].code, area, pieces.len()
                            ),
                        ).with_area(area).with_geometry(geometry))
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
        let parent_level = &scheme.levels[g.level - 1].name;
        match by_code.get(parent_code) {
            Some(&p) => children.entry(p).or_default().push(i),
            None => problems.push(Problem::grid(
                ProblemKind::MissingParent,
                &g.code,
                g.geometry.interior_point().map(|p| p.0),
                match rejected.get(parent_code) {
                    Some(why) => format!(
                        "grid {} has parent code {parent_code}: that {parent_level} grid is in the input but was rejected ({why}); fix it (or import with --repair) and this grid finds its parent",
                        g.code
                    ),
                    None => format!(
                        "grid {} has parent code {parent_code} but the input has no {parent_level} grid with that code: import the parent level too, or fix the code",
                        g.code
                    ),
                },
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
                let pieces = real_pieces(&outside, tolerance_m2, &[&prepared[k]], &[&prepared[p]]);
                if let Some(&(_, at, _)) = pieces.first() {
                    let area: f64 = pieces.iter().map(|p| p.0).sum();
                    let geometry = pieces_geometry(&pieces);
                    out.push(Problem::grid(
                        ProblemKind::ChildOutsideParent,
                        &grids[k].code,
                        Some(at),
                        format!(
                            "{:.1} m² of grid {} lies outside its parent {}: every grid must lie inside its parent; redraw the border they should share",
                            area, grids[k].code, parent.code
                        ),
                    ).with_area(area).with_geometry(geometry));
                }
            }
            let union = geo::unary_union(kids.iter().map(|&k| &grids[k].geometry));
            let gap = parent.geometry.difference(&union);
            let kid_polys: Vec<&IndexedPolygon> = kids.iter().map(|&k| &prepared[k]).collect();
            for (area, at, piece) in real_pieces(&gap, tolerance_m2, &[&prepared[p]], &kid_polys) {
                out.push(Problem::grid(
                    ProblemKind::Gap,
                    &parent.code,
                    Some(at),
                    format!(
                        "{:.1} m² of {} is covered by none of its children: every point of a parent must lie in one child grid; extend a neighbouring child over it, or add a grid for it",
                        area, parent.code
                    ),
                ).with_area(area).with_geometry(MultiPolygon(vec![piece.clone()])));
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
