//! GeoJSON FeatureCollections and newline-delimited GeoJSON.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use geo::Geometry;

use super::{RawFeature, Result, crs_from_name, malformed, open};
use crate::crs::Crs;

/// Renders a JSON property value as text (`null` becomes empty).
pub(crate) fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Rings whose last position differs from the first, in the raw GeoJSON.
fn unclosed(v: &geojson::Value) -> usize {
    let count = |rings: &Vec<Vec<Vec<f64>>>| {
        rings
            .iter()
            .filter(|r| r.len() > 1 && r.first() != r.last())
            .count()
    };
    match v {
        geojson::Value::Polygon(rings) => count(rings),
        geojson::Value::MultiPolygon(polys) => polys.iter().map(count).sum(),
        geojson::Value::GeometryCollection(gs) => gs.iter().map(|g| unclosed(&g.value)).sum(),
        _ => 0,
    }
}

fn convert(path: &Path, row: usize, f: geojson::Feature) -> Result<RawFeature> {
    let unclosed_rings = f.geometry.as_ref().map_or(0, |g| unclosed(&g.value));
    let geometry = match f.geometry {
        Some(g) => Some(
            Geometry::<f64>::try_from(g)
                .map_err(|e| malformed(path, Some(row), format!("unsupported geometry: {e}")))?,
        ),
        None => None,
    };
    let mut props: Vec<(String, String)> = f
        .properties
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| (k.clone(), value_text(v)))
        .collect();
    if let Some(id) = f.id {
        let id = match id {
            geojson::feature::Id::String(s) => s,
            geojson::feature::Id::Number(n) => n.to_string(),
        };
        props.push(("id".into(), id));
    }
    Ok(RawFeature {
        row,
        geometry,
        props,
        unclosed_rings,
    })
}

/// The legacy (2008) `crs` member, looked for near the start of the file.
fn legacy_crs(head: &str) -> Option<Crs> {
    let at = head.find("\"crs\"")?;
    let rest = &head[at..];
    let rest = &rest[rest.find("\"properties\"")?..];
    let name_at = rest.find("\"name\"")?;
    let rest = &rest[name_at + 6..];
    let start = rest.find('"')? + 1;
    let end = start + rest[start..].find('"')?;
    crs_from_name(&rest[start..end])
}

fn head(path: &Path) -> Result<String> {
    let mut head = vec![0u8; 4096];
    let n = open(path)?
        .read(&mut head)
        .map_err(|source| super::ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(String::from_utf8_lossy(&head[..n]).into_owned())
}

pub(super) fn declared_crs(path: &Path) -> Result<Option<Crs>> {
    Ok(legacy_crs(&head(path)?))
}

pub(super) fn read_collection(
    path: &Path,
    sink: &mut dyn FnMut(RawFeature) -> Result<()>,
) -> Result<()> {
    let trimmed = head(path)?;
    let reader = BufReader::new(open(path)?);
    if trimmed.trim_start().starts_with('{') && !trimmed.contains("FeatureCollection") {
        // A single Feature or bare geometry.
        let gj: geojson::GeoJson = serde_json::from_reader(reader)
            .map_err(|e| malformed(path, None, format!("not valid GeoJSON: {e}")))?;
        let features = geojson::FeatureCollection::try_from(gj)
            .map_err(|e| malformed(path, None, format!("not a GeoJSON feature collection: {e}")))?;
        for (i, f) in features.features.into_iter().enumerate() {
            sink(convert(path, i + 1, f)?)?;
        }
        return Ok(());
    }
    for (i, f) in geojson::FeatureReader::from_reader(reader)
        .features()
        .enumerate()
    {
        let f = f.map_err(|e| {
            malformed(
                path,
                Some(i + 1),
                format!("not a valid GeoJSON feature: {e}"),
            )
        })?;
        sink(convert(path, i + 1, f)?)?;
    }
    Ok(())
}

pub(super) fn read_lines(
    path: &Path,
    sink: &mut dyn FnMut(RawFeature) -> Result<()>,
) -> Result<()> {
    let reader = BufReader::new(open(path)?);
    let mut row = 0;
    for (i, line) in reader.lines().enumerate() {
        let line =
            line.map_err(|e| malformed(path, Some(i + 1), format!("cannot read line: {e}")))?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        row += 1;
        let f: geojson::Feature = line
            .parse::<geojson::GeoJson>()
            .map_err(|e| {
                malformed(
                    path,
                    Some(i + 1),
                    format!("line {} is not a GeoJSON feature: {e}", i + 1),
                )
            })
            .and_then(|g| {
                geojson::Feature::try_from(g).map_err(|e| {
                    malformed(
                        path,
                        Some(i + 1),
                        format!("line {} is not a GeoJSON feature: {e}", i + 1),
                    )
                })
            })?;
        sink(convert(path, row, f)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_crs_member() {
        let head = r#"{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::4547"}},"features":[]}"#;
        assert_eq!(legacy_crs(head), Some(Crs::Epsg(4547)));
        assert_eq!(legacy_crs(r#"{"type":"FeatureCollection"}"#), None);
        let head =
            r#"{"crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:OGC:1.3:CRS84"}}}"#;
        assert_eq!(legacy_crs(head), Some(Crs::Wgs84));
    }
}
