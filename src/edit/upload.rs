//! Files of changed grids uploaded into a draft: GeoJSON, NDJSON,
//! FlatGeobuf, a GeoPackage, or a Shapefile as a zip of its parts. Each is
//! read with the import's field, encoding and CRS handling
//! ([`crate::import::read_grid_files`]); a file with any erroneous grid
//! gives nothing.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::crs::Crs;
use crate::model::Grid;
use crate::store::Setup;
use crate::validate::Problem;

/// Most bytes a zipped Shapefile may hold once unpacked (a zip bomb is
/// refused before it fills the disk).
pub const MAX_UNZIPPED_BYTES: u64 = 1 << 30;

/// The Shapefile parts taken from a zip; anything else in it is skipped.
const SHAPEFILE_PARTS: [&str; 5] = ["shp", "shx", "dbf", "prj", "cpg"];

/// Formats of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadFormat {
    /// A GeoJSON FeatureCollection.
    Geojson,
    /// Newline-delimited GeoJSON features.
    Ndjson,
    /// FlatGeobuf.
    Fgb,
    /// A zip holding one or more Shapefiles (`.shp`, `.shx`, `.dbf`, and
    /// `.prj`/`.cpg` when there are).
    ShapefileZip,
    /// A GeoPackage (its one feature table, or a store's `grids_*` tables).
    Gpkg,
}

impl UploadFormat {
    /// The names the `format` parameter accepts, for messages.
    pub const NAMES: &'static str = "geojson, ndjson, fgb, shapefile (a .zip), gpkg";

    /// The format a `format` parameter names.
    pub fn named(name: &str) -> Option<UploadFormat> {
        Some(match name.to_ascii_lowercase().as_str() {
            "geojson" | "json" => UploadFormat::Geojson,
            "ndjson" | "geojsonl" | "geojsonseq" => UploadFormat::Ndjson,
            "fgb" | "flatgeobuf" => UploadFormat::Fgb,
            "shapefile" | "shp" | "zip" => UploadFormat::ShapefileZip,
            "gpkg" | "geopackage" => UploadFormat::Gpkg,
            _ => return None,
        })
    }

    /// The format of an upload sent without a `format`: its first bytes
    /// for the binary formats (a zip, SQLite and FlatGeobuf each begin
    /// with their own signature), else its media type (GeoJSON when that
    /// names none we know).
    pub fn detect(media: &str, body: &[u8]) -> UploadFormat {
        let m = media.to_ascii_lowercase();
        if body.starts_with(b"PK\x03\x04") {
            UploadFormat::ShapefileZip
        } else if body.starts_with(b"SQLite format 3\0") {
            UploadFormat::Gpkg
        } else if body.starts_with(b"fgb\x03") || m.contains("flatgeobuf") {
            UploadFormat::Fgb
        } else if m.contains("ndjson") || m.contains("geo+json-seq") {
            UploadFormat::Ndjson
        } else if m.contains("zip") {
            UploadFormat::ShapefileZip
        } else if m.contains("geopackage") || m.contains("sqlite3") {
            UploadFormat::Gpkg
        } else {
            UploadFormat::Geojson
        }
    }

    fn extension(self) -> &'static str {
        match self {
            UploadFormat::Geojson => "geojson",
            UploadFormat::Ndjson => "ndjson",
            UploadFormat::Fgb => "fgb",
            UploadFormat::ShapefileZip => "zip",
            UploadFormat::Gpkg => "gpkg",
        }
    }
}

/// Why an upload gives no grids.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The file cannot be read as the format it was sent as.
    #[error("cannot read the upload: {0}")]
    Unreadable(String),
    /// It holds no grids.
    #[error("the upload holds no grids")]
    Empty,
    /// Some of its grids have errors; nothing is taken.
    #[error(
        "{count} grid(s) of the upload have errors and nothing was put into the draft: {summary}"
    )]
    Invalid {
        /// How many errors.
        count: usize,
        /// The first few, as text.
        summary: String,
        /// Every problem (errors and warnings).
        problems: Vec<Problem>,
    },
    /// The server could not hold the upload on disk.
    #[error("cannot hold the upload: {0}")]
    Disk(#[from] std::io::Error),
}

/// The grids an upload holds, and the warnings reading them gave. `crs`
/// overrides what the file declares; the city's `setup` gives the code
/// scheme the grids are checked against.
pub fn read_upload(
    body: &[u8],
    format: UploadFormat,
    crs: Option<Crs>,
    setup: &Setup,
) -> Result<(Vec<Grid>, Vec<Problem>), UploadError> {
    let dir = tempfile::tempdir()?;
    let files = if format == UploadFormat::ShapefileZip {
        unzip_shapefiles(body, dir.path())?
    } else {
        let path = dir.path().join(format!("upload.{}", format.extension()));
        std::fs::write(&path, body)?;
        vec![path]
    };
    let options = crate::import::ImportOptions {
        grid_files: files,
        crs,
        scheme: setup.scheme.clone(),
        component_scheme: setup.component_scheme,
        classes: setup.classes.clone(),
        ..Default::default()
    };
    let (grids, report) = crate::import::read_grid_files(&options)
        .map_err(|e| UploadError::Unreadable(e.to_string()))?;
    if report.errors() > 0 {
        return Err(UploadError::Invalid {
            count: report.errors(),
            summary: report.to_text(3).trim().to_string(),
            problems: report.problems,
        });
    }
    if grids.is_empty() {
        return Err(UploadError::Empty);
    }
    Ok((grids, report.problems))
}

/// Unpacks the Shapefile parts of a zip into `dir` (flattened: folders in
/// the zip are ignored, names kept) and returns the `.shp` files.
fn unzip_shapefiles(body: &[u8], dir: &Path) -> Result<Vec<PathBuf>, UploadError> {
    let bad = |m: String| UploadError::Unreadable(m);
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(body)).map_err(|e| {
        bad(format!(
            "not a zip file ({e}): zip the .shp, .shx, .dbf and .prj together"
        ))
    })?;
    let mut budget = MAX_UNZIPPED_BYTES;
    let mut shps = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| bad(format!("entry {} of the zip: {e}", i + 1)))?;
        if entry.is_dir() {
            continue;
        }
        let Some(name) = entry
            .enclosed_name()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        else {
            continue;
        };
        let ext = Path::new(&name)
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if name.starts_with('.') || !SHAPEFILE_PARTS.contains(&ext.as_str()) {
            continue;
        }
        let path = dir.join(&name);
        if path.exists() {
            return Err(bad(format!(
                "the zip holds {name} twice (in different folders): zip one Shapefile of each name"
            )));
        }
        let mut out = std::fs::File::create(&path)?;
        let copied = std::io::copy(&mut (&mut entry).take(budget + 1), &mut out)
            .map_err(|e| bad(format!("{name} in the zip: {e}")))?;
        if copied > budget {
            return Err(bad(format!(
                "the zip unpacks to more than {MAX_UNZIPPED_BYTES} bytes: upload the changed grids only"
            )));
        }
        budget -= copied;
        if ext == "shp" {
            shps.push(path);
        }
    }
    if shps.is_empty() {
        return Err(bad(
            "the zip holds no .shp file: zip the .shp, .shx, .dbf and .prj of the changed grids"
                .into(),
        ));
    }
    shps.sort();
    Ok(shps)
}
