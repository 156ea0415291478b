//! Lookup answers as CSV rows: the one set of columns written by
//! `POST /lookup` (text/csv) and by `wangge lookup --points`.
//!
//! Columns: `id, lon, lat, inside, on_border`, one `<level>_code` per level
//! of the scheme (each code in its own level's column; empty where the
//! point lies in no grid of that level), `grid_name, worker,
//! border_distance_m, nearest_code, nearest_distance_m, warnings, error`.
//! A point that could not be read has only `id` and `error`.

use crate::codes::GridScheme;
use crate::query::lookup::{Answer, warnings_text};

/// Columns after the level codes, before `error`.
const TAIL: [&str; 6] = [
    "grid_name",
    "worker",
    "border_distance_m",
    "nearest_code",
    "nearest_distance_m",
    "warnings",
];

/// The header line (with its newline).
pub fn header(scheme: &GridScheme) -> Vec<u8> {
    let mut cols: Vec<String> = ["id", "lon", "lat", "inside", "on_border"]
        .map(String::from)
        .to_vec();
    cols.extend(scheme.levels.iter().map(|l| format!("{}_code", l.name)));
    cols.extend(TAIL.map(String::from));
    cols.push("error".into());
    let mut line = cols.join(",").into_bytes();
    line.push(b'\n');
    line
}

/// Appends one CSV field, quoted when it needs to be.
pub fn field(out: &mut Vec<u8>, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push(b'"');
        out.extend(s.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend(s.as_bytes());
    }
}

/// Appends the row (with its newline) of point `id`: its answer, or the
/// error that kept it from being looked up. `levels` is the scheme's depth.
pub fn row(out: &mut Vec<u8>, id: &str, answer: Result<&Answer<'_>, &str>, levels: usize) {
    field(out, id);
    match answer {
        Ok(a) => {
            let mut cells: Vec<String> = vec![
                a.lon.to_string(),
                a.lat.to_string(),
                a.inside.to_string(),
                a.on_border.to_string(),
            ];
            // By level, not by position: a chain may lack a level.
            cells.extend((0..levels).map(|l| {
                a.chain
                    .iter()
                    .find(|g| g.level_index == l)
                    .map_or(String::new(), |g| g.code.to_string())
            }));
            cells.push(
                a.grid
                    .as_ref()
                    .map_or(String::new(), |g| g.name.to_string()),
            );
            cells.push(a.worker.as_deref().unwrap_or("").to_string());
            cells.push(
                a.border_distance_m
                    .map_or(String::new(), |d| format!("{d:.4}")),
            );
            cells.push(
                a.nearest
                    .as_ref()
                    .map_or(String::new(), |n| n.grid.code.to_string()),
            );
            cells.push(
                a.nearest
                    .as_ref()
                    .map_or(String::new(), |n| format!("{:.2}", n.distance_m)),
            );
            cells.push(warnings_text(a));
            cells.push(String::new());
            for c in &cells {
                out.push(b',');
                field(out, c);
            }
        }
        Err(e) => {
            // Every column but `id` and `error` empty.
            for _ in 0..4 + levels + TAIL.len() + 1 {
                out.push(b',');
            }
            field(out, e);
        }
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row has as many fields as the header, answer or error.
    #[test]
    fn rows_have_the_header_s_columns() {
        let scheme = GridScheme::default();
        let head = header(&scheme);
        let n = csv::ReaderBuilder::new()
            .from_reader(&head[..])
            .headers()
            .unwrap()
            .len();
        let mut out = Vec::new();
        row(&mut out, "a,1", Err("bad \"point\""), scheme.depth());
        let a = Answer {
            lon: 1.0,
            lat: 2.0,
            inside: false,
            on_border: false,
            grid: None,
            chain: vec![],
            overlaps: vec![],
            parent_mismatches: vec![],
            worker: None,
            border_distance_m: None,
            nearest: None,
        };
        row(&mut out, "b", Ok(&a), scheme.depth());
        let mut all = head.clone();
        all.extend(out);
        let mut rdr = csv::Reader::from_reader(&all[..]);
        let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), 2);
        for r in &rows {
            assert_eq!(r.len(), n, "{r:?}");
        }
        assert_eq!((&rows[0][0], &rows[0][n - 1]), ("a,1", "bad \"point\""));
    }
}
