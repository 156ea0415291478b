//! GeoPackage (OGC 12-128r18, an SQLite file): the feature tables a GIS
//! team exports from QGIS or ArcGIS, read through rusqlite (the store's own
//! SQLite) with geometry blobs decoded by geozero.
//!
//! Which tables are read: the file's one feature table; or, when it has
//! several, the `grids_*` tables of wangge's own store layout (one per
//! level, so a store file edited in QGIS can be uploaded as it is). Any
//! other file with several feature tables is refused with their names.

use std::path::Path;

use geozero::ToGeo;
use geozero::wkb::GpkgWkb;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::{RawFeature, ReadError, Result, crs_from_name, malformed};
use crate::crs::Crs;

/// A feature table: its name, geometry column and SRS id.
struct Layer {
    table: String,
    column: String,
    srs_id: i64,
}

fn gpkg_error(path: &Path, e: impl std::fmt::Display) -> ReadError {
    malformed(path, None, format!("not a readable GeoPackage: {e}"))
}

fn connect(path: &Path) -> Result<Connection> {
    if !path.is_file() {
        return Err(ReadError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| gpkg_error(path, e))
}

/// An SQL identifier, quoted (`"` doubled): for table names read from a
/// file or made from level names.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The feature tables to read (see the module's rule).
fn layers(path: &Path, db: &Connection) -> Result<Vec<Layer>> {
    let mut stmt = db
        .prepare(
            "SELECT c.table_name, g.column_name, g.srs_id FROM gpkg_contents c \
             JOIN gpkg_geometry_columns g ON g.table_name = c.table_name \
             WHERE c.data_type = 'features' ORDER BY c.table_name",
        )
        .map_err(|e| gpkg_error(path, e))?;
    let all: Vec<Layer> = stmt
        .query_map([], |r| {
            Ok(Layer {
                table: r.get(0)?,
                column: r.get(1)?,
                srs_id: r.get(2)?,
            })
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(|e| gpkg_error(path, e))?;
    if all.len() <= 1 {
        if all.is_empty() {
            return Err(malformed(
                path,
                None,
                "the GeoPackage has no feature table (gpkg_contents lists none of data_type 'features')",
            ));
        }
        return Ok(all);
    }
    let names: Vec<String> = all.iter().map(|l| l.table.clone()).collect();
    let grids: Vec<Layer> = all
        .into_iter()
        .filter(|l| l.table.starts_with("grids_"))
        .collect();
    if grids.is_empty() {
        return Err(malformed(
            path,
            None,
            format!(
                "the GeoPackage has {} feature tables ({}): keep the one with the grids, e.g. ogr2ogr -f GPKG grids.gpkg in.gpkg {}",
                names.len(),
                names.join(", "),
                names[0]
            ),
        ));
    }
    Ok(grids)
}

/// The CRS of the layers' SRS (all must agree), from `gpkg_spatial_ref_sys`.
pub(super) fn declared_crs(path: &Path) -> Result<Option<Crs>> {
    let db = connect(path)?;
    let layers = layers(path, &db)?;
    let srs = layers[0].srs_id;
    if let Some(other) = layers.iter().find(|l| l.srs_id != srs) {
        return Err(malformed(
            path,
            None,
            format!(
                "tables {} and {} are in different spatial reference systems ({srs} and {}): export them in one",
                layers[0].table, other.table, other.srs_id
            ),
        ));
    }
    // 0 and -1 are the standard's "undefined" geographic and Cartesian systems.
    if srs <= 0 {
        return Ok(None);
    }
    let row: Option<(String, i64, Option<String>)> = db
        .query_row(
            "SELECT organization, organization_coordsys_id, definition \
             FROM gpkg_spatial_ref_sys WHERE srs_id = ?1",
            [srs],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .ok();
    Ok(match row {
        Some((org, id, _)) if org.eq_ignore_ascii_case("EPSG") => {
            crs_from_name(&format!("EPSG:{id}"))
        }
        Some((_, _, Some(wkt))) if !wkt.trim().is_empty() && wkt.trim() != "undefined" => {
            Some(Crs::Definition(wkt))
        }
        _ => crs_from_name(&format!("EPSG:{srs}")),
    })
}

/// Reads every feature of the chosen tables, table by table in name order,
/// rows in `fid` order; row numbers run on across tables.
pub(super) fn read(path: &Path, sink: &mut dyn FnMut(RawFeature) -> Result<()>) -> Result<()> {
    let db = connect(path)?;
    let mut row = 0usize;
    for layer in layers(path, &db)? {
        let mut stmt = db
            .prepare(&format!("SELECT * FROM {}", quote_ident(&layer.table)))
            .map_err(|e| gpkg_error(path, e))?;
        let names: Vec<String> = stmt.column_names().map(str::to_string).collect();
        let geom_at = names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(&layer.column));
        let mut rows = stmt.query([]).map_err(|e| gpkg_error(path, e))?;
        while let Some(r) = rows.next().map_err(|e| gpkg_error(path, e))? {
            row += 1;
            let mut geometry = None;
            let mut props = Vec::new();
            for (i, name) in names.iter().enumerate() {
                let v = r.get_ref(i).map_err(|e| gpkg_error(path, e))?;
                if Some(i) == geom_at {
                    if let ValueRef::Blob(b) = v {
                        geometry = Some(GpkgWkb(b.to_vec()).to_geo().map_err(|e| {
                            malformed(
                                path,
                                Some(row),
                                format!("geometry of table {}: {e}", layer.table),
                            )
                        })?);
                    }
                    continue;
                }
                let text = match v {
                    ValueRef::Null | ValueRef::Blob(_) => continue,
                    ValueRef::Integer(n) => n.to_string(),
                    ValueRef::Real(x) => x.to_string(),
                    ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                };
                props.push((name.clone(), text));
            }
            sink(RawFeature {
                row,
                geometry,
                props,
                unclosed_rings: 0,
            })?;
        }
    }
    Ok(())
}
