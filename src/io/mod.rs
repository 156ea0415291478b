//! Readers for the files GIS teams have: FlatGeobuf, GeoJSON, newline-delimited
//! GeoJSON, ESRI Shapefile (with `.prj` CRS and `.cpg` encoding, GBK included),
//! GeoPackage and CSV of points.
//!
//! Every reader streams [`RawFeature`]s (geometry in the file's own CRS, all
//! attributes as text) to a callback, so a ten-million-row inventory is never
//! held in memory twice. Mapping attributes to grids and components is the
//! [`crate::import`] module's job.

mod csv_points;
mod fgb;
mod geojson_file;
mod gpkg;
mod shp;
mod text;

use std::path::{Path, PathBuf};

use geo::Geometry;

use crate::crs::Crs;

pub use csv_points::{X_NAMES, Y_NAMES, lonlat_columns};
pub use fgb::{read_dataset_fgb, write_components_fgb, write_grids_fgb};
pub(crate) use gpkg::quote_ident;
pub use text::{Resolved, encoding_for_label, resolve as resolve_encoding};

/// Errors reading an input file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// File path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The format could not be told from the file name.
    #[error(
        "cannot tell the format of {0}: use a .fgb, .geojson, .json, .ndjson, .geojsonl, .shp, .gpkg or .csv file, or pass --format"
    )]
    UnknownFormat(PathBuf),
    /// The file's content is malformed.
    #[error("{path}{}: {message}", row.map(|r| format!(", feature {r}")).unwrap_or_default())]
    Malformed {
        /// File path.
        path: PathBuf,
        /// 1-based feature or row number, when known.
        row: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A required companion file is missing.
    #[error("{path}: {message}")]
    Missing {
        /// The main file.
        path: PathBuf,
        /// What is missing and how to fix it.
        message: String,
    },
}

/// Result alias for reading.
pub type Result<T> = std::result::Result<T, ReadError>;

/// Input file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// FlatGeobuf (`.fgb`).
    Fgb,
    /// GeoJSON FeatureCollection (`.geojson`, `.json`).
    Geojson,
    /// Newline-delimited GeoJSON features (`.ndjson`, `.geojsonl`, `.geojsons`).
    Ndjson,
    /// ESRI Shapefile (`.shp` with `.shx`, `.dbf`, optional `.prj` and `.cpg`).
    Shapefile,
    /// CSV of points with x/y (lon/lat) columns.
    Csv,
    /// GeoPackage (`.gpkg`): its one feature table, or the `grids_*` tables
    /// of a wangge store.
    Gpkg,
}

impl Format {
    /// Guesses the format from the file extension.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "fgb" => Format::Fgb,
            "geojson" | "json" => Format::Geojson,
            "ndjson" | "geojsonl" | "geojsons" | "jsonl" => Format::Ndjson,
            "shp" => Format::Shapefile,
            "csv" | "txt" => Format::Csv,
            "gpkg" => Format::Gpkg,
            _ => return None,
        })
    }
}

/// One feature as read: geometry in the file's CRS, attributes as text.
#[derive(Debug, Clone, PartialEq)]
pub struct RawFeature {
    /// 1-based feature (or data row) number in the file.
    pub row: usize,
    /// Geometry in the source CRS; `None` when the feature has none.
    pub geometry: Option<Geometry<f64>>,
    /// Attributes, in file order; numbers and booleans rendered as text.
    pub props: Vec<(String, String)>,
    /// Rings that were not closed in the file (geometry closes them; import reports them).
    pub unclosed_rings: usize,
}

impl RawFeature {
    /// The first attribute whose name matches one of `names` (ASCII case-insensitive).
    pub fn get(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|n| {
            self.props
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.as_str())
        })
    }
}

/// How to read a file.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Format; guessed from the extension when `None`.
    pub format: Option<Format>,
    /// Text encoding of Shapefile attributes and CSV files (e.g. `GBK`);
    /// else what the file declares, else detected (see [`resolve_encoding`]).
    pub encoding: Option<String>,
    /// CSV column of x / longitude; guessed (`lon`, `lng`, `longitude`, `x`, `经度`) when `None`.
    pub x_field: Option<String>,
    /// CSV column of y / latitude; guessed (`lat`, `latitude`, `y`, `纬度`) when `None`.
    pub y_field: Option<String>,
}

/// The file's format: the option, else the extension.
fn format_of(path: &Path, options: &ReadOptions) -> Result<Format> {
    options
        .format
        .or_else(|| Format::from_path(path))
        .ok_or_else(|| ReadError::UnknownFormat(path.to_path_buf()))
}

/// Reads every feature of a file, in order, calling `f` on each, and returns
/// how many were read. Stops at the first error `f` returns (as
/// `Err(String)`, reported with the feature's row). The file's CRS is
/// [`declared_crs`]'s business.
pub fn read_features(
    path: &Path,
    options: &ReadOptions,
    mut f: impl FnMut(RawFeature) -> std::result::Result<(), String>,
) -> Result<usize> {
    let format = format_of(path, options)?;
    let resolved;
    let options = if options.encoding.is_none() && matches!(format, Format::Shapefile | Format::Csv)
    {
        resolved = resolve_encoding(path, options)?;
        &resolved.options
    } else {
        options
    };
    let mut count = 0usize;
    let mut sink = |feat: RawFeature| -> Result<()> {
        count += 1;
        let row = feat.row;
        f(feat).map_err(|message| ReadError::Malformed {
            path: path.to_path_buf(),
            row: Some(row),
            message,
        })
    };
    match format {
        Format::Fgb => fgb::read(path, &mut sink)?,
        Format::Geojson => geojson_file::read_collection(path, &mut sink)?,
        Format::Ndjson => geojson_file::read_lines(path, &mut sink)?,
        Format::Shapefile => shp::read(path, options.encoding.as_deref(), &mut sink)?,
        Format::Csv => csv_points::read(path, options, &mut sink)?,
        Format::Gpkg => gpkg::read(path, &mut sink)?,
    }
    Ok(count)
}

/// The CRS a file declares, without reading its features: a Shapefile's
/// `.prj`, a FlatGeobuf header, a GeoJSON legacy `crs` member, a
/// GeoPackage's spatial reference system. `None` when the
/// file declares none (GeoJSON per RFC 7946 and CSV are then WGS84).
pub fn declared_crs(path: &Path, options: &ReadOptions) -> Result<Option<Crs>> {
    match format_of(path, options)? {
        Format::Fgb => fgb::declared_crs(path),
        Format::Geojson => geojson_file::declared_crs(path),
        Format::Shapefile => Ok(shp::declared_crs(path)),
        Format::Gpkg => gpkg::declared_crs(path),
        Format::Ndjson | Format::Csv => Ok(None),
    }
}

fn open(path: &Path) -> Result<std::fs::File> {
    std::fs::File::open(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn malformed(path: &Path, row: Option<usize>, message: impl Into<String>) -> ReadError {
    ReadError::Malformed {
        path: path.to_path_buf(),
        row,
        message: message.into(),
    }
}

/// Parses a CRS name found in a file (GeoJSON `crs`, FlatGeobuf header), if understood.
fn crs_from_name(name: &str) -> Option<Crs> {
    let n = name.trim();
    let code = n
        .rsplit([':', '/'])
        .next()
        .filter(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()));
    if n.to_ascii_uppercase().contains("CRS84") {
        return Some(Crs::Wgs84);
    }
    code.and_then(|c| c.parse::<Crs>().ok())
}
