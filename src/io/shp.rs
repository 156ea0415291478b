//! ESRI Shapefiles: geometry from `.shp`, attributes from `.dbf` decoded with
//! the `.cpg` encoding (GBK is common in Chinese data), CRS from the `.prj`.

use std::io::BufReader;
use std::path::Path;

use geo::{Contains, Coord, Geometry, LineString, MultiPoint, MultiPolygon, Point, Polygon};
use shapefile::{PolygonRing, Shape};

use super::{RawFeature, ReadError, Result, malformed, open};
use crate::crs::Crs;

/// The encoding to decode `.dbf` text with: the option (settled by
/// [`super::text::resolve`]), else UTF-8.
fn encoding(path: &Path, requested: Option<&str>) -> Result<&'static encoding_rs::Encoding> {
    let Some(label) = requested else {
        return Ok(encoding_rs::UTF_8);
    };
    super::text::encoding_for_label(label).ok_or_else(|| {
        malformed(
            path,
            None,
            format!("unknown attribute encoding '{label}': use e.g. GBK, GB18030 or UTF-8"),
        )
    })
}

fn ring(points: &[shapefile::Point]) -> LineString<f64> {
    LineString(points.iter().map(|p| Coord { x: p.x, y: p.y }).collect())
}

/// Shapefile polygons list outer rings (clockwise) and holes (counter-clockwise)
/// in any order; each hole goes to the outer ring that contains it.
fn polygon(rings: &[PolygonRing<shapefile::Point>]) -> MultiPolygon<f64> {
    let mut outers: Vec<Polygon<f64>> = Vec::new();
    let mut holes: Vec<LineString<f64>> = Vec::new();
    for r in rings {
        match r {
            PolygonRing::Outer(pts) => outers.push(Polygon::new(ring(pts), vec![])),
            PolygonRing::Inner(pts) => holes.push(ring(pts)),
        }
    }
    for h in holes {
        let probe = h.0.first().copied().map(Point);
        let target = probe
            .and_then(|p| {
                outers
                    .iter()
                    .position(|o| Polygon::new(o.exterior().clone(), vec![]).contains(&p))
            })
            .or(if outers.is_empty() {
                None
            } else {
                Some(outers.len() - 1)
            });
        match target {
            Some(t) => outers[t].interiors_push(h),
            None => outers.push(Polygon::new(h, vec![])),
        }
    }
    MultiPolygon(outers)
}

fn geometry(shape: Shape) -> Option<Geometry<f64>> {
    let pt = |x: f64, y: f64| Point::new(x, y);
    Some(match shape {
        Shape::NullShape => return None,
        Shape::Point(p) => Geometry::Point(pt(p.x, p.y)),
        Shape::PointM(p) => Geometry::Point(pt(p.x, p.y)),
        Shape::PointZ(p) => Geometry::Point(pt(p.x, p.y)),
        Shape::Multipoint(m) => Geometry::MultiPoint(MultiPoint(
            m.points().iter().map(|p| pt(p.x, p.y)).collect(),
        )),
        Shape::Polygon(p) => Geometry::MultiPolygon(polygon(p.rings())),
        Shape::PolygonM(p) => Geometry::MultiPolygon(polygon_2d(p.rings(), |q| (q.x, q.y))),
        Shape::PolygonZ(p) => Geometry::MultiPolygon(polygon_2d(p.rings(), |q| (q.x, q.y))),
        Shape::Polyline(l) => Geometry::MultiLineString(geo::MultiLineString(
            l.parts().iter().map(|part| ring(part)).collect(),
        )),
        _ => return None,
    })
}

/// A polygon of M or Z points, flattened to x/y.
fn polygon_2d<P>(rings: &[PolygonRing<P>], xy: impl Fn(&P) -> (f64, f64)) -> MultiPolygon<f64> {
    let flat: Vec<PolygonRing<shapefile::Point>> = rings
        .iter()
        .map(|r| {
            map_ring(r, |q| {
                let (x, y) = xy(q);
                shapefile::Point::new(x, y)
            })
        })
        .collect();
    polygon(&flat)
}

fn map_ring<P, Q>(r: &PolygonRing<P>, f: impl Fn(&P) -> Q) -> PolygonRing<Q> {
    match r {
        PolygonRing::Outer(v) => PolygonRing::Outer(v.iter().map(&f).collect()),
        PolygonRing::Inner(v) => PolygonRing::Inner(v.iter().map(&f).collect()),
    }
}

fn field_text(v: &shapefile::dbase::FieldValue) -> String {
    use shapefile::dbase::FieldValue as F;
    match v {
        F::Character(Some(s)) | F::Memo(s) => s.trim().to_string(),
        F::Numeric(Some(n)) | F::Double(n) | F::Currency(n) => {
            if n.fract() == 0.0 && n.abs() < 1e15 {
                format!("{}", *n as i64)
            } else {
                n.to_string()
            }
        }
        F::Float(Some(n)) => n.to_string(),
        F::Integer(i) => i.to_string(),
        F::Logical(Some(b)) => b.to_string(),
        F::Date(Some(d)) => format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()),
        _ => String::new(),
    }
}

pub(super) fn read(
    path: &Path,
    requested_encoding: Option<&str>,
    sink: &mut dyn FnMut(RawFeature) -> Result<()>,
) -> Result<()> {
    let enc = encoding(path, requested_encoding)?;
    let dbf_path = path.with_extension("dbf");
    if !dbf_path.exists() {
        return Err(ReadError::Missing {
            path: path.to_path_buf(),
            message: format!(
                "the attribute file {} is missing: a Shapefile needs its .dbf beside the .shp",
                dbf_path.display()
            ),
        });
    }
    let shape_reader = shapefile::ShapeReader::new(BufReader::new(open(path)?))
        .map_err(|e| malformed(path, None, format!("not a valid .shp file: {e}")))?;
    let dbf = shapefile::dbase::ReaderBuilder::new()
        .with_encoding(shapefile::dbase::encoding::EncodingRs::from(enc))
        .build(BufReader::new(open(&dbf_path)?))
        .map_err(|e| malformed(&dbf_path, None, format!("not a valid .dbf file: {e}")))?;
    let mut reader = shapefile::Reader::new(shape_reader, dbf);
    for (i, item) in reader.iter_shapes_and_records().enumerate() {
        let row = i + 1;
        let (shape, record) = item.map_err(|e| {
            malformed(
                path,
                Some(row),
                format!("cannot read shape and record: {e}"),
            )
        })?;
        let props = record
            .into_iter()
            .map(|(k, v)| (k, field_text(&v)))
            .collect();
        let unclosed_rings = unclosed(&shape);
        sink(RawFeature {
            row,
            geometry: geometry(shape),
            props,
            unclosed_rings,
        })?;
    }
    Ok(())
}

/// The CRS of the `.prj` beside the `.shp`, if any (WKT, passed to PROJ).
pub(super) fn declared_crs(path: &Path) -> Option<Crs> {
    match std::fs::read_to_string(path.with_extension("prj")) {
        Ok(wkt) if !wkt.trim().is_empty() => Some(Crs::Definition(wkt.trim().to_string())),
        _ => None,
    }
}

fn unclosed(shape: &Shape) -> usize {
    fn count<P: PartialEq>(rings: &[PolygonRing<P>]) -> usize {
        rings
            .iter()
            .filter(|r| {
                let pts = r.points();
                pts.len() > 1 && pts.first() != pts.last()
            })
            .count()
    }
    match shape {
        Shape::Polygon(p) => count(p.rings()),
        Shape::PolygonM(p) => count(p.rings()),
        Shape::PolygonZ(p) => count(p.rings()),
        _ => 0,
    }
}
