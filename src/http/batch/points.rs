//! One record of a batch to one point (or the error that takes its place
//! in the answer): JSON objects or pairs, CSV rows by their columns, in any
//! CRS a network client may name.

use geo::Coord;

use crate::crs::Crs;
use crate::http::ApiError;
use crate::http::lookup::to_wgs84;

/// One input point: coordinates and an optional caller id echoed back.
#[derive(Debug)]
pub(super) struct Item {
    pub(super) id: Option<serde_json::Value>,
    pub(super) point: Result<Coord<f64>, ApiError>,
}

pub(super) fn json_number(name: &str, v: Option<serde_json::Value>) -> Result<f64, ApiError> {
    match v {
        Some(serde_json::Value::Number(n)) => n
            .as_f64()
            .ok_or_else(|| ApiError::bad("bad_coordinate", format!("{name} is not a number"))),
        Some(serde_json::Value::String(s)) => crate::http::parse_number(name, Some(&s)),
        Some(other) => Err(ApiError::bad(
            "bad_coordinate",
            format!("{name} = {other} is not a number"),
        )),
        None => Err(ApiError::bad(
            "missing_coordinate",
            format!("the point has no '{name}'"),
        )),
    }
}

pub(super) const POINT_FORMS: &str =
    r#"write {"lon": 116.4, "lat": 39.9, "id": "a"} or [116.4, 39.9]"#;

pub(super) fn parse_json_item(bytes: &[u8], crs: &Crs) -> Item {
    use serde_json::Value;
    let bad = |code, message: String| Item {
        id: None,
        point: Err(ApiError::bad(code, message)),
    };
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Array(v)) if v.len() == 2 => Item {
            id: None,
            point: to_point(
                json_number("lon", Some(v[0].clone())),
                json_number("lat", Some(v[1].clone())),
                crs,
            ),
        },
        Ok(Value::Array(v)) => bad(
            "bad_point",
            format!(
                "a point given as an array must be [lon, lat]; this one has {} members",
                v.len()
            ),
        ),
        Ok(Value::Object(mut o)) => {
            let id = o.remove("id");
            let point = match o.keys().find(|k| !matches!(k.as_str(), "lon" | "lat")) {
                Some(k) => Err(ApiError::bad(
                    "bad_point",
                    format!("unknown member '{k}' in a point: {POINT_FORMS}"),
                )),
                None => to_point(
                    json_number("lon", o.remove("lon")),
                    json_number("lat", o.remove("lat")),
                    crs,
                ),
            };
            Item { id, point }
        }
        Ok(other) => bad(
            "malformed_point",
            format!(
                "a point must be an object or a [lon, lat] pair, not {}: {POINT_FORMS}",
                match other {
                    Value::Null => "null",
                    Value::Bool(_) => "true/false",
                    Value::Number(_) => "a single number",
                    _ => "a string",
                }
            ),
        ),
        Err(e) => bad("malformed_point", format!("not JSON ({e}): {POINT_FORMS}")),
    }
}

pub(super) fn to_point(
    lon: Result<f64, ApiError>,
    lat: Result<f64, ApiError>,
    crs: &Crs,
) -> Result<Coord<f64>, ApiError> {
    let (x, y) = (lon?, lat?);
    if !x.is_finite() || !y.is_finite() {
        return Err(ApiError::bad(
            "bad_coordinate",
            "coordinates must be finite numbers",
        ));
    }
    to_wgs84(crs, Coord { x, y })
}

/// CSV column positions, from the header.
#[derive(Debug, Clone)]
pub(super) struct CsvColumns {
    pub(super) lon: usize,
    pub(super) lat: usize,
    pub(super) id: Option<usize>,
}

/// Why a CSV row cannot be read.
#[derive(Debug, thiserror::Error)]
pub(super) enum RowError {
    /// Bytes that are not UTF-8.
    #[error("the row is not UTF-8: send CSV in UTF-8")]
    NotUtf8,
    /// Quoting the CSV reader could not parse.
    #[error("{0}")]
    Csv(#[from] csv::Error),
}

/// One CSV line as fields (quoted fields allowed).
pub(super) fn csv_record(line: &[u8]) -> Result<csv::StringRecord, RowError> {
    // Fast path: no quoting, split on commas.
    if !line.contains(&b'"') {
        let text = std::str::from_utf8(line).map_err(|_| RowError::NotUtf8)?;
        return Ok(text
            .trim_end_matches('\r')
            .split(',')
            .collect::<Vec<_>>()
            .into());
    }
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(line);
    match rdr.records().next() {
        Some(Ok(r)) => Ok(r),
        Some(Err(e)) => Err(e.into()),
        None => Ok(csv::StringRecord::new()),
    }
}

pub(super) fn csv_columns(header: &[u8]) -> Result<CsvColumns, ApiError> {
    let rec = csv_record(header)
        .map_err(|e| ApiError::bad("malformed_csv", format!("cannot read the CSV header: {e}")))?;
    let (lon, lat) = crate::io::lonlat_columns(rec.iter(), None, None);
    let id = rec.iter().position(|h| {
        h.trim()
            .trim_start_matches('\u{feff}')
            .eq_ignore_ascii_case("id")
    });
    match (lon, lat) {
        (Some(lon), Some(lat)) => Ok(CsvColumns { lon, lat, id }),
        _ => Err(ApiError::bad(
            "malformed_csv",
            format!(
                "the CSV header must name a longitude column ({}) and a latitude column ({}), e.g. 'id,lon,lat'",
                crate::io::X_NAMES.join(", "),
                crate::io::Y_NAMES.join(", ")
            ),
        )),
    }
}

pub(super) fn parse_csv_item(line: &[u8], cols: &CsvColumns, crs: &Crs) -> Item {
    let rec = match csv_record(line) {
        Ok(r) => r,
        Err(e) => {
            return Item {
                id: None,
                point: Err(ApiError::bad(
                    "malformed_csv",
                    format!("malformed CSV row: {e}"),
                )),
            };
        }
    };
    let id = cols
        .id
        .and_then(|i| rec.get(i))
        .map(|s| serde_json::Value::String(s.to_string()));
    let num = |i: usize, name: &str| crate::http::parse_number(name, rec.get(i));
    Item {
        id,
        point: to_point(num(cols.lon, "lon"), num(cols.lat, "lat"), crs),
    }
}
