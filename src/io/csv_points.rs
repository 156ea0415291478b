//! CSV of points: one component per row, coordinates in two columns.

use std::path::Path;

use geo::{Geometry, Point};

use super::{RawFeature, ReadOptions, Result, malformed, open};

/// Column names taken for longitude / x, in order of preference (ASCII case-insensitive).
pub const X_NAMES: &[&str] = &["lon", "lng", "longitude", "x", "经度", "jd"];
/// Column names taken for latitude / y.
pub const Y_NAMES: &[&str] = &["lat", "latitude", "y", "纬度", "wd"];

/// The column named `wanted`, or else the first of `guesses` present
/// (names compared ASCII case-insensitively, spaces and a BOM trimmed).
fn find_column<'h>(
    headers: impl Iterator<Item = &'h str> + Clone,
    wanted: Option<&str>,
    guesses: &[&str],
) -> Option<usize> {
    let names: Vec<&str> = match wanted {
        Some(w) => vec![w],
        None => guesses.to_vec(),
    };
    names.iter().find_map(|n| {
        headers.clone().position(|h| {
            h.trim()
                .trim_start_matches('\u{feff}')
                .eq_ignore_ascii_case(n)
        })
    })
}

/// The positions of the x/longitude and y/latitude columns of a CSV header:
/// the named ones, else the first of [`X_NAMES`] / [`Y_NAMES`] present. The
/// one rule for files imported and batches posted to `/lookup`.
pub fn lonlat_columns<'h>(
    headers: impl Iterator<Item = &'h str> + Clone,
    x_field: Option<&str>,
    y_field: Option<&str>,
) -> (Option<usize>, Option<usize>) {
    (
        find_column(headers.clone(), x_field, X_NAMES),
        find_column(headers, y_field, Y_NAMES),
    )
}

/// A record's fields as text in `enc` (the encoding was checked by
/// [`super::text::resolve`], so nothing is replaced).
fn decode(rec: &csv::ByteRecord, enc: &'static encoding_rs::Encoding) -> csv::StringRecord {
    rec.iter()
        .map(|f| enc.decode_without_bom_handling(f).0)
        .collect()
}

pub(super) fn read(
    path: &Path,
    options: &ReadOptions,
    sink: &mut dyn FnMut(RawFeature) -> Result<()>,
) -> Result<()> {
    let enc = options
        .encoding
        .as_deref()
        .and_then(super::text::encoding_for_label)
        .unwrap_or(encoding_rs::UTF_8);
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(std::io::BufReader::new(open(path)?));
    let headers = decode(
        rdr.byte_headers()
            .map_err(|e| malformed(path, None, format!("cannot read the CSV header: {e}")))?,
        enc,
    );
    let (xi, yi) = lonlat_columns(
        headers.iter(),
        options.x_field.as_deref(),
        options.y_field.as_deref(),
    );
    let xi = xi.ok_or_else(|| {
        malformed(
            path,
            None,
            format!(
                "no x/longitude column: name one with --x-field (columns: {})",
                headers.iter().collect::<Vec<_>>().join(", ")
            ),
        )
    })?;
    let yi = yi.ok_or_else(|| {
        malformed(
            path,
            None,
            "no y/latitude column: name one with --y-field".to_string(),
        )
    })?;
    let names: Vec<String> = headers
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
        .collect();
    for (i, rec) in rdr.byte_records().enumerate() {
        let row = i + 1;
        let rec = decode(
            &rec.map_err(|e| malformed(path, Some(row), format!("malformed CSV row: {e}")))?,
            enc,
        );
        let num = |idx: usize, what: &str| -> Result<f64> {
            let t = rec.get(idx).unwrap_or("").trim();
            t.parse::<f64>()
                .map_err(|_| malformed(path, Some(row), format!("{what} '{t}' is not a number")))
        };
        let (x, y) = (num(xi, "x")?, num(yi, "y")?);
        let props = names
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != xi && *j != yi)
            .map(|(j, n)| (n.clone(), rec.get(j).unwrap_or("").to_string()))
            .collect();
        sink(RawFeature {
            row,
            geometry: Some(Geometry::Point(Point::new(x, y))),
            props,
            unclosed_rings: 0,
        })?;
    }
    Ok(())
}
