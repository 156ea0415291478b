//! Geometry columns in GeoPackage binary form (a `GP` header with the SRS id
//! and the envelope, then WKB), written and read with geozero.

use geo::{BoundingRect, MultiPolygon};
use geozero::wkb::GpkgWkb;
use geozero::{CoordDimensions, ToGeo, ToWkb};

/// The SRS of every geometry in the store: WGS84 lon/lat degrees.
pub const SRS_ID: i32 = 4326;

/// A grid's boundary as a GeoPackage geometry blob (with its envelope, so
/// that GIS clients can skip it without reading the WKB).
pub fn encode_multipolygon(mp: &MultiPolygon<f64>) -> Result<Vec<u8>, String> {
    let env = mp
        .bounding_rect()
        .map(|r| vec![r.min().x, r.max().x, r.min().y, r.max().y])
        .unwrap_or_default();
    geo::Geometry::MultiPolygon(mp.clone())
        .to_gpkg_wkb(CoordDimensions::xy(), Some(SRS_ID), env)
        .map_err(|e| e.to_string())
}

/// A point (lon/lat degrees) as a GeoPackage geometry blob.
pub fn encode_point(x: f64, y: f64) -> Result<Vec<u8>, String> {
    geo::Geometry::Point(geo::Point::new(x, y))
        .to_gpkg_wkb(CoordDimensions::xy(), Some(SRS_ID), vec![])
        .map_err(|e| e.to_string())
}

/// Reads a polygonal GeoPackage geometry blob.
pub fn decode_multipolygon(blob: &[u8]) -> Result<MultiPolygon<f64>, String> {
    match GpkgWkb(blob.to_vec()).to_geo().map_err(|e| e.to_string())? {
        geo::Geometry::MultiPolygon(mp) => Ok(mp),
        geo::Geometry::Polygon(p) => Ok(MultiPolygon(vec![p])),
        other => Err(format!(
            "a grid geometry must be polygonal, found {}",
            geometry_name(&other)
        )),
    }
}

fn geometry_name(g: &geo::Geometry<f64>) -> &'static str {
    match g {
        geo::Geometry::Point(_) => "a point",
        geo::Geometry::Line(_) | geo::Geometry::LineString(_) => "a line",
        geo::Geometry::MultiLineString(_) => "lines",
        geo::Geometry::MultiPoint(_) => "points",
        _ => "another geometry",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::rect_polygon;

    #[test]
    fn a_multipolygon_survives_the_blob_exactly() {
        let mp = MultiPolygon(vec![
            rect_polygon(116.1, 39.9, 116.2, 40.0),
            rect_polygon(116.3, 39.9, 116.300_000_000_1, 39.95),
        ]);
        let blob = encode_multipolygon(&mp).unwrap();
        assert_eq!(&blob[..2], b"GP", "GeoPackage magic");
        assert_eq!(decode_multipolygon(&blob).unwrap(), mp);
        assert!(decode_multipolygon(&encode_point(1.0, 2.0).unwrap()).is_err());
    }
}
