//! The embedded store: one SQLite file in GeoPackage 1.3 form.
//!
//! Through rusqlite with its bundled SQLite (R-tree and JSON built in, the
//! same SQLite on every machine, nothing to install): the store is
//! synchronous and local, so an async pool (sqlx) would add a runtime
//! without adding concurrency, and geozero's GeoPackage support is tied to
//! sqlx 0.8; geometry blobs are written with geozero's WKB writer instead.
//!
//! What QGIS and GDAL see: one layer per grid level (`grids_<level>`, a view
//! of the versions valid now), `grid_versions` (every version, with its
//! validity and revision, for a GIS's time filter) and `components_current`.
//! The wangge tables (`wangge_*`) hold revisions, drafts and the audit log.
//!
//! Durability: WAL journal, `synchronous = FULL`: a commit that returned is
//! on the disk, and a killed process leaves the last committed state.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use super::geom::{decode_multipolygon, encode_multipolygon, encode_point};
use super::{
    ApiKeyRecord, AuditEntry, AuditFilter, Commit, ComponentChange, DraftGrid, DraftInfo,
    GridChange, GridEdits, GridVersion, MAX_EDITS, NewApiKey, Result, Revision, RevisionInfo,
    Setup, Store, StoreError, Timestamp, View,
};
use crate::codes::{ClassTable, ComponentScheme, GridScheme};
use crate::io::quote_ident;
use crate::model::{ComponentRecord, ComponentState, Components, Dataset, Grid};

/// `application_id` of a GeoPackage ("GPKG").
const GPKG_APPLICATION_ID: i64 = 0x4750_4B47;
/// `user_version` of GeoPackage 1.3.0 (what GDAL 3.6 reads without a warning).
const GPKG_USER_VERSION: i64 = 10300;
/// The layout of the wangge tables.
const SCHEMA_VERSION: &str = "1";
/// How long a writer waits for another writer's transaction, milliseconds.
const BUSY_TIMEOUT_MS: u64 = 10_000;

/// SQLite's time "now" in the store's text form.
const SQL_NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ','now')";

/// The embedded GeoPackage store.
#[derive(Debug)]
pub struct GeoPackage {
    path: PathBuf,
    /// The one writing connection (SQLite has one writer at a time).
    conn: Mutex<Connection>,
    /// The city's setup, written once when the store is created; read on
    /// first use.
    setup: std::sync::OnceLock<Setup>,
}

fn db_err(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |e| StoreError::Database {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// A level's layer name: `grids_` and the level name in lower-case ASCII
/// letters, digits and underscores.
pub fn level_layer(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("grids_{clean}")
}

impl GeoPackage {
    /// Opens an existing store.
    pub fn open(path: &Path) -> Result<GeoPackage> {
        if !path.is_file() {
            return Err(StoreError::NotAStore {
                path: path.display().to_string(),
                message: "no such file (create one with `wangge import --store FILE` or let `wangge serve` create it from the bundled sample)".into(),
            });
        }
        let conn = Self::connect(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        let version: Option<String> = conn
            .query_row(
                "SELECT value FROM wangge_meta WHERE key = 'schema'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| StoreError::NotAStore {
                path: path.display().to_string(),
                message: format!("no wangge tables ({e})"),
            })?;
        if version.as_deref() != Some(SCHEMA_VERSION) {
            return Err(StoreError::NotAStore {
                path: path.display().to_string(),
                message: format!(
                    "store layout {} is not the layout {SCHEMA_VERSION} this wangge reads",
                    version.as_deref().unwrap_or("(none)")
                ),
            });
        }
        // Added since the first layout, created where missing: API keys,
        // and the rule that the audit log is only ever appended to.
        conn.execute_batch(ACCESS_SCHEMA).map_err(db_err(path))?;
        Ok(GeoPackage {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            setup: std::sync::OnceLock::new(),
        })
    }

    /// Creates a new, empty store for `setup` (refused if the file exists).
    /// The file appears complete or not at all: it is written under a
    /// temporary name and renamed.
    pub fn create(path: &Path, setup: &Setup) -> Result<GeoPackage> {
        if path.exists() {
            return Err(StoreError::Conflict(format!(
                "{} exists: wangge does not overwrite a store",
                path.display()
            )));
        }
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let io = |e: std::io::Error| StoreError::Database {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        let tmp = crate::files::temp_file_in(dir, ".wangge-store-").map_err(io)?;
        let tmp_path = tmp.path().to_path_buf();
        {
            let conn = Self::connect(&tmp_path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
            create_schema(&conn, setup).map_err(db_err(&tmp_path))?;
            // Leave no WAL beside the temporary name.
            conn.pragma_update(None, "wal_checkpoint", "TRUNCATE")
                .map_err(db_err(&tmp_path))?;
        }
        tmp.persist_noclobber(path).map_err(|e| io(e.error))?;
        crate::files::sync_dir(dir).map_err(io)?;
        Self::open(path)
    }

    fn connect(path: &Path, flags: OpenFlags) -> Result<Connection> {
        let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(db_err(path))?;
        conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))
            .map_err(db_err(path))?;
        if !flags.contains(OpenFlags::SQLITE_OPEN_READ_ONLY) {
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(db_err(path))?;
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db_err(path))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(db_err(path))?;
        Ok(conn)
    }

    /// A connection for a long read (a load), so that writers are not held up.
    fn reader(&self) -> Result<Connection> {
        Self::connect(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY)
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        db_err(&self.path)
    }

    fn corrupt(&self, message: String) -> StoreError {
        StoreError::Corrupt {
            path: self.path.display().to_string(),
            message,
        }
    }

    /// The setup as the store's metadata holds it.
    fn read_setup(&self) -> Result<Setup> {
        let conn = self.lock();
        let get = |k: &str| -> Result<String> {
            conn.query_row(
                "SELECT value FROM wangge_meta WHERE key = ?1",
                params![k],
                |r| r.get(0),
            )
            .map_err(self.err())
        };
        let scheme: GridScheme = serde_json::from_str(&get("scheme")?)
            .map_err(|e| self.corrupt(format!("grid scheme: {e}")))?;
        let component_scheme: ComponentScheme = serde_json::from_str(&get("component_scheme")?)
            .map_err(|e| self.corrupt(format!("component scheme: {e}")))?;
        let classes = ClassTable::from_csv_str(&get("classes")?, "store")
            .map_err(|e| self.corrupt(format!("class table: {e}")))?;
        Ok(Setup {
            scheme,
            component_scheme,
            classes,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// API keys, and triggers that keep the audit log append-only (an
/// UPDATE or DELETE of it fails).
const ACCESS_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS wangge_api_keys (
  id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, role TEXT NOT NULL,
  worker TEXT, classes TEXT NOT NULL DEFAULT '', hash TEXT NOT NULL,
  created_at TEXT NOT NULL, revoked_at TEXT);
CREATE TRIGGER IF NOT EXISTS wangge_audit_no_update BEFORE UPDATE ON wangge_audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS wangge_audit_no_delete BEFORE DELETE ON wangge_audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
";

fn api_key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKeyRecord> {
    let classes: String = r.get(4)?;
    Ok(ApiKeyRecord {
        id: r.get::<_, i64>(0)? as u64,
        name: r.get(1)?,
        role: r.get(2)?,
        worker: r.get(3)?,
        classes: classes
            .split(',')
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect(),
        hash: r.get(5)?,
        created_at: ts(r.get(6)?),
        revoked_at: r.get::<_, Option<String>>(7)?.map(ts),
    })
}

const API_KEY_COLUMNS: &str = "id, name, role, worker, classes, hash, created_at, revoked_at";

/// The GeoPackage core tables, the wangge tables, and the layers.
fn create_schema(conn: &Connection, setup: &Setup) -> rusqlite::Result<()> {
    conn.pragma_update(None, "application_id", GPKG_APPLICATION_ID)?;
    conn.pragma_update(None, "user_version", GPKG_USER_VERSION)?;
    let mut sql = String::from(
        r#"
BEGIN;
CREATE TABLE gpkg_spatial_ref_sys (
  srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
INSERT INTO gpkg_spatial_ref_sys VALUES
 ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', 'undefined cartesian coordinate reference system'),
 ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', 'undefined geographic coordinate reference system'),
 ('WGS 84 geodetic', 4326, 'EPSG', 4326,
  'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]',
  'longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid');
CREATE TABLE gpkg_contents (
  table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
  description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
CREATE TABLE gpkg_geometry_columns (
  table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
  CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));

CREATE TABLE wangge_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE wangge_revisions (
  revision INTEGER PRIMARY KEY, parent INTEGER, author TEXT NOT NULL, message TEXT NOT NULL,
  recorded_at TEXT NOT NULL, effective_at TEXT NOT NULL, kind TEXT NOT NULL, draft INTEGER,
  grids_changed INTEGER NOT NULL DEFAULT 0, components_changed INTEGER NOT NULL DEFAULT 0);
CREATE TABLE grid_versions (
  fid INTEGER PRIMARY KEY AUTOINCREMENT, code TEXT NOT NULL, level INTEGER NOT NULL,
  name TEXT NOT NULL, worker TEXT, retired INTEGER NOT NULL, valid_from TEXT NOT NULL,
  revision INTEGER NOT NULL REFERENCES wangge_revisions(revision), area_m2 REAL NOT NULL,
  geom MULTIPOLYGON);
CREATE INDEX grid_versions_code ON grid_versions(code, valid_from, revision);
CREATE INDEX grid_versions_revision ON grid_versions(revision);
CREATE INDEX grid_versions_valid ON grid_versions(valid_from, revision);
CREATE TABLE components (
  fid INTEGER PRIMARY KEY AUTOINCREMENT, code TEXT NOT NULL, class TEXT NOT NULL,
  name TEXT NOT NULL, department TEXT NOT NULL, owner TEXT NOT NULL, maintainer TEXT NOT NULL,
  state TEXT NOT NULL, initial_date TEXT NOT NULL, change_date TEXT NOT NULL,
  source TEXT NOT NULL, remarks TEXT NOT NULL, lon REAL NOT NULL, lat REAL NOT NULL,
  rev_from INTEGER NOT NULL, rev_to INTEGER, geom POINT);
CREATE INDEX components_live ON components(rev_to, code);
CREATE TABLE wangge_drafts (
  id INTEGER PRIMARY KEY AUTOINCREMENT, base INTEGER NOT NULL REFERENCES wangge_revisions(revision),
  scope TEXT, title TEXT NOT NULL, author TEXT NOT NULL, created_at TEXT NOT NULL,
  state TEXT NOT NULL, published INTEGER);
CREATE TABLE wangge_draft_grids (
  draft INTEGER NOT NULL REFERENCES wangge_drafts(id), code TEXT NOT NULL, level INTEGER NOT NULL,
  name TEXT NOT NULL, worker TEXT, retired INTEGER NOT NULL, geom BLOB, etag TEXT NOT NULL,
  updated_at TEXT NOT NULL, PRIMARY KEY (draft, code));
CREATE TABLE wangge_audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
  target TEXT NOT NULL, outcome TEXT NOT NULL, origin TEXT NOT NULL, detail TEXT NOT NULL);

CREATE VIEW components_current AS
  SELECT fid AS OGC_FID, code, class, name, department, owner, maintainer, state,
         initial_date, change_date, source, remarks, rev_from AS revision, geom
  FROM components WHERE rev_to IS NULL;
INSERT INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) VALUES
 ('grid_versions', 'features', 'grid_versions', 'every version of every grid, with valid_from and the revision that recorded it', 4326),
 ('components_current', 'features', 'components', 'city components (城市部件) as of the newest revision', 4326);
INSERT INTO gpkg_geometry_columns VALUES
 ('grid_versions', 'geom', 'MULTIPOLYGON', 4326, 0, 0),
 ('components_current', 'geom', 'POINT', 4326, 0, 0);
"#,
    );
    for (i, level) in setup.scheme.levels.iter().enumerate() {
        let layer = level_layer(&level.name);
        let q = quote_ident(&layer);
        // The version valid now of each code of this level, unless it retires the grid.
        sql.push_str(&format!(
            "CREATE VIEW {q} AS SELECT v.fid AS OGC_FID, v.code, v.name, v.worker, v.valid_from, v.revision, v.area_m2, v.geom \
             FROM grid_versions v WHERE v.level = {i} AND v.retired = 0 AND v.valid_from <= {SQL_NOW} \
             AND NOT EXISTS (SELECT 1 FROM grid_versions w WHERE w.code = v.code AND w.valid_from <= {SQL_NOW} \
             AND (w.valid_from > v.valid_from OR (w.valid_from = v.valid_from AND w.revision > v.revision)));\n"
        ));
        sql.push_str(&format!(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) VALUES ('{layer}', 'features', '{layer}', '{} ({}): grids valid now', 4326);\n",
            level.label.replace('\'', "''"),
            level.name.replace('\'', "''")
        ));
        sql.push_str(&format!(
            "INSERT INTO gpkg_geometry_columns VALUES ('{layer}', 'geom', 'MULTIPOLYGON', 4326, 0, 0);\n"
        ));
    }
    sql.push_str("COMMIT;");
    conn.execute_batch(&sql)?;
    let meta = [
        ("schema", SCHEMA_VERSION.to_string()),
        (
            "scheme",
            serde_json::to_string(&setup.scheme).unwrap_or_default(),
        ),
        (
            "component_scheme",
            serde_json::to_string(&setup.component_scheme).unwrap_or_default(),
        ),
        ("classes", setup.classes.to_csv()),
    ];
    for (k, v) in meta {
        conn.execute(
            "INSERT INTO wangge_meta (key, value) VALUES (?1, ?2)",
            params![k, v],
        )?;
    }
    Ok(())
}

fn ts(text: String) -> Timestamp {
    Timestamp::parse(&text).unwrap_or(Timestamp::from_millis(0))
}

fn revision_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RevisionInfo> {
    Ok(RevisionInfo {
        revision: r.get::<_, i64>(0)? as u64,
        parent: r.get::<_, Option<i64>>(1)?.map(|p| p as u64),
        author: r.get(2)?,
        message: r.get(3)?,
        recorded_at: ts(r.get(4)?),
        effective_at: ts(r.get(5)?),
        kind: r.get(6)?,
        draft: r.get::<_, Option<i64>>(7)?.map(|d| d as u64),
        grids_changed: r.get::<_, i64>(8)? as u64,
        components_changed: r.get::<_, i64>(9)? as u64,
    })
}

const REVISION_COLUMNS: &str = "revision, parent, author, message, recorded_at, effective_at, kind, draft, grids_changed, components_changed";

fn draft_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DraftInfo> {
    Ok(DraftInfo {
        id: r.get::<_, i64>(0)? as u64,
        base: r.get::<_, i64>(1)? as u64,
        scope: r.get(2)?,
        title: r.get(3)?,
        author: r.get(4)?,
        created_at: ts(r.get(5)?),
        state: r.get(6)?,
        published: r.get::<_, Option<i64>>(7)?.map(|d| d as u64),
    })
}

const DRAFT_COLUMNS: &str = "id, base, scope, title, author, created_at, state, published";

/// The versions valid in a view: for each code the newest (valid_from,
/// revision) recorded up to `?1` and valid from `?2` or earlier.
const VIEW_GRIDS: &str = "SELECT v.code, v.level, v.name, v.worker, v.geom FROM grid_versions v \
     WHERE v.revision <= ?1 AND v.valid_from <= ?2 AND v.retired = 0 \
     AND NOT EXISTS (SELECT 1 FROM grid_versions w WHERE w.code = v.code AND w.revision <= ?1 AND w.valid_from <= ?2 \
     AND (w.valid_from > v.valid_from OR (w.valid_from = v.valid_from AND w.revision > v.revision)))";

/// One code's version valid in a view (`?3`: the code).
static VIEW_GRID: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("{VIEW_GRIDS} AND v.code = ?3"));

/// A component row's columns, in [`component_record`]'s order.
const COMPONENT_COLUMNS: &str = "code, class, name, department, owner, maintainer, state, initial_date, change_date, source, remarks, lon, lat";
/// How many [`COMPONENT_COLUMNS`] there are.
const COMPONENT_COLUMN_COUNT: usize = 13;

fn component_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<ComponentRecord> {
    let mut rec = ComponentRecord::default();
    read_component(r, &mut rec)?;
    Ok(rec)
}

/// Reads a row of [`COMPONENT_COLUMNS`] into `rec`, reusing its strings.
fn read_component(r: &rusqlite::Row<'_>, rec: &mut ComponentRecord) -> rusqlite::Result<()> {
    let text = |i: usize, into: &mut String| -> rusqlite::Result<()> {
        into.clear();
        match r.get_ref(i)? {
            rusqlite::types::ValueRef::Text(t) => {
                into.push_str(std::str::from_utf8(t).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        i,
                        rusqlite::types::Type::Text,
                        Box::new(e),
                    )
                })?);
            }
            rusqlite::types::ValueRef::Null => {}
            other => {
                return Err(rusqlite::Error::InvalidColumnType(
                    i,
                    format!("column {i}"),
                    other.data_type(),
                ));
            }
        }
        Ok(())
    };
    text(0, &mut rec.code)?;
    text(1, &mut rec.class)?;
    text(2, &mut rec.name)?;
    text(3, &mut rec.department)?;
    text(4, &mut rec.owner)?;
    text(5, &mut rec.maintainer)?;
    let state = match r.get_ref(6)? {
        rusqlite::types::ValueRef::Text(t) => {
            std::str::from_utf8(t).ok().and_then(ComponentState::parse)
        }
        _ => None,
    };
    rec.state = state.unwrap_or_default();
    text(7, &mut rec.initial_date)?;
    text(8, &mut rec.change_date)?;
    text(9, &mut rec.source)?;
    text(10, &mut rec.remarks)?;
    rec.location = geo::Coord {
        x: r.get(11)?,
        y: r.get(12)?,
    };
    Ok(())
}

/// A draft grid's ETag: a hash of what it holds (level, name, worker,
/// retired, geometry blob), so that it changes with every edit that changes
/// the grid.
fn etag_for(
    code: &str,
    level: usize,
    name: &str,
    worker: Option<&str>,
    retired: bool,
    geom: Option<&[u8]>,
) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (level, name, worker, retired, geom).hash(&mut h);
    format!("\"{code}-{:016x}\"", h.finish())
}

impl GeoPackage {
    /// The grids valid in `view` (only the one with `code`, when given).
    fn grids_with(&self, conn: &Connection, view: View, code: Option<&str>) -> Result<Vec<Grid>> {
        let (revision, at) = (view.revision as i64, view.valid_at.to_rfc3339());
        let mut stmt = match code {
            None => conn.prepare_cached(VIEW_GRIDS),
            Some(_) => conn.prepare_cached(&VIEW_GRID),
        }
        .map_err(self.err())?;
        let rows = stmt
            .query_map(
                rusqlite::params_from_iter(
                    [rusqlite::types::Value::from(revision), at.into()]
                        .into_iter()
                        .chain(code.map(|c| c.to_string().into())),
                ),
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, Option<Vec<u8>>>(4)?,
                    ))
                },
            )
            .map_err(self.err())?;
        let mut grids = Vec::new();
        for row in rows {
            let (code, level, name, worker, geom) = row.map_err(self.err())?;
            let blob = geom.ok_or_else(|| self.corrupt(format!("grid {code} has no geometry")))?;
            let geometry = decode_multipolygon(&blob)
                .map_err(|e| self.corrupt(format!("grid {code}: {e}")))?;
            grids.push(Grid {
                code,
                name,
                level: level as usize,
                worker,
                geometry,
            });
        }
        Ok(grids)
    }

    /// Records the components of a replacement: only what was added,
    /// changed or removed. Returns how many.
    fn replace_components(
        &self,
        tx: &rusqlite::Transaction<'_>,
        revision: Revision,
        new: &[ComponentRecord],
    ) -> Result<u64> {
        let mut live: HashMap<String, (i64, ComponentRecord)> = HashMap::new();
        {
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT {COMPONENT_COLUMNS}, fid FROM components WHERE rev_to IS NULL"
                ))
                .map_err(self.err())?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i64>(COMPONENT_COLUMN_COUNT)?,
                        component_record(r)?,
                    ))
                })
                .map_err(self.err())?;
            for row in rows {
                let (fid, rec) = row.map_err(self.err())?;
                live.insert(rec.code.clone(), (fid, rec));
            }
        }
        let mut changed = 0u64;
        let mut close = tx
            .prepare("UPDATE components SET rev_to = ?1 WHERE fid = ?2")
            .map_err(self.err())?;
        let mut insert = tx
            .prepare(&format!(
                "INSERT INTO components ({COMPONENT_COLUMNS}, rev_from, geom) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
            ))
            .map_err(self.err())?;
        let mut seen: HashSet<&str> = HashSet::with_capacity(new.len());
        for c in new {
            seen.insert(&c.code);
            if let Some((fid, old)) = live.get(&c.code) {
                if old == c {
                    continue;
                }
                close
                    .execute(params![revision as i64, fid])
                    .map_err(self.err())?;
            }
            let geom = encode_point(c.location.x, c.location.y).map_err(|e| self.corrupt(e))?;
            insert
                .execute(params![
                    c.code,
                    c.class,
                    c.name,
                    c.department,
                    c.owner,
                    c.maintainer,
                    c.state.chinese(),
                    c.initial_date,
                    c.change_date,
                    c.source,
                    c.remarks,
                    c.location.x,
                    c.location.y,
                    revision as i64,
                    geom
                ])
                .map_err(self.err())?;
            changed += 1;
        }
        for (code, (fid, _)) in &live {
            if !seen.contains(code.as_str()) {
                close
                    .execute(params![revision as i64, fid])
                    .map_err(self.err())?;
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// The components of revision `revision` with fids in `a..=b`, on a
    /// connection of their own.
    /// The components of `revision` with fids in `a..=b`, in fid order, as
    /// a column store (one record's buffers reused for every row).
    fn components_in(
        &self,
        revision: Revision,
        a: i64,
        b: i64,
        setup: &Setup,
    ) -> Result<Components> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {COMPONENT_COLUMNS} FROM components WHERE fid BETWEEN ?2 AND ?3 AND rev_from <= ?1 AND (rev_to IS NULL OR rev_to > ?1) ORDER BY fid"
            ))
            .map_err(self.err())?;
        let mut rows = stmt
            .query(params![revision as i64, a, b])
            .map_err(self.err())?;
        let mut out = Components::new(setup.component_scheme.len());
        let mut rec = ComponentRecord::default();
        while let Some(r) = rows.next().map_err(self.err())? {
            read_component(r, &mut rec).map_err(self.err())?;
            let class = setup.classes.get(&rec.class).ok_or_else(|| {
                self.corrupt(format!(
                    "component {} has class {} that the class table does not list",
                    rec.code, rec.class
                ))
            })?;
            out.push(&rec, class);
        }
        Ok(out)
    }

    fn draft_with(&self, conn: &Connection, id: u64) -> Result<DraftInfo> {
        conn.query_row(
            &format!("SELECT {DRAFT_COLUMNS} FROM wangge_drafts WHERE id = ?1"),
            params![id as i64],
            draft_row,
        )
        .optional()
        .map_err(self.err())?
        .ok_or_else(|| StoreError::NotFound(format!("no draft {id}")))
    }

    fn open_draft(&self, conn: &Connection, id: u64) -> Result<DraftInfo> {
        let d = self.draft_with(conn, id)?;
        if d.state != "open" {
            return Err(StoreError::Conflict(format!(
                "draft {id} is {}{}: open a new draft to make more changes",
                d.state,
                d.published
                    .map(|r| format!(" (as revision {r})"))
                    .unwrap_or_default()
            )));
        }
        Ok(d)
    }

    fn draft_etag(&self, conn: &Connection, id: u64, code: &str) -> Result<Option<String>> {
        conn.query_row(
            "SELECT etag FROM wangge_draft_grids WHERE draft = ?1 AND code = ?2",
            params![id as i64, code],
            |r| r.get(0),
        )
        .optional()
        .map_err(self.err())
    }
}

/// Whether a stored ETag satisfies `If-Match` (`*` matches any existing one).
fn etag_matches(current: Option<&str>, expected: &str) -> bool {
    match current {
        Some(c) => expected == "*" || expected.split(',').any(|e| e.trim() == c),
        None => false,
    }
}

impl Store for GeoPackage {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn setup(&self) -> Result<Setup> {
        if let Some(s) = self.setup.get() {
            return Ok(s.clone());
        }
        let setup = self.read_setup()?;
        Ok(self.setup.get_or_init(|| setup).clone())
    }

    fn head(&self) -> Result<Option<RevisionInfo>> {
        let conn = self.lock();
        conn.query_row(
            &format!(
                "SELECT {REVISION_COLUMNS} FROM wangge_revisions ORDER BY revision DESC LIMIT 1"
            ),
            [],
            revision_row,
        )
        .optional()
        .map_err(self.err())
    }

    fn revision(&self, revision: Revision) -> Result<RevisionInfo> {
        let conn = self.lock();
        conn.query_row(
            &format!("SELECT {REVISION_COLUMNS} FROM wangge_revisions WHERE revision = ?1"),
            params![revision as i64],
            revision_row,
        )
        .optional()
        .map_err(self.err())?
        .ok_or_else(|| StoreError::NotFound(format!("no revision {revision}")))
    }

    fn revisions(&self, limit: usize) -> Result<Vec<RevisionInfo>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {REVISION_COLUMNS} FROM wangge_revisions ORDER BY revision DESC LIMIT ?1"
            ))
            .map_err(self.err())?;
        stmt.query_map(params![limit as i64], revision_row)
            .map_err(self.err())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err())
    }

    fn epoch(&self, view: View) -> Result<Option<Timestamp>> {
        let conn = self.lock();
        conn.query_row(
            "SELECT max(valid_from) FROM grid_versions WHERE revision <= ?1 AND valid_from <= ?2",
            params![view.revision as i64, view.valid_at.to_rfc3339()],
            |r| r.get::<_, Option<String>>(0),
        )
        .map(|r| r.map(ts))
        .map_err(self.err())
    }

    fn load(&self, view: View) -> Result<Dataset> {
        let setup = self.setup()?;
        let conn = self.reader()?;
        let grids = self.grids_with(&conn, view, None)?;
        let mut components = Components::new(setup.component_scheme.len());
        // Read in fid ranges on all cores (a connection each), a few ranges
        // at a time so that only those ranges' records are held at once.
        let (lo, hi): (Option<i64>, Option<i64>) = conn
            .query_row("SELECT min(fid), max(fid) FROM components", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(self.err())?;
        if let (Some(lo), Some(hi)) = (lo, hi) {
            // Each range is read into its own column store on some core;
            // the parts are joined in fid order.
            let threads = rayon::current_num_threads().max(1);
            let step = ((hi - lo + 1) / (threads as i64 * 16)).max(65_536);
            let ranges: Vec<(i64, i64)> = (lo..=hi)
                .step_by(step as usize)
                .map(|a| (a, (a + step - 1).min(hi)))
                .collect();
            let parts: Vec<Result<Components>> = ranges
                .par_iter()
                .map(|&(a, b)| self.components_in(view.revision, a, b, &setup))
                .collect();
            for part in parts {
                components.append(part?);
            }
        }
        Ok(Dataset {
            scheme: setup.scheme,
            component_scheme: setup.component_scheme,
            classes: setup.classes,
            grids,
            components: std::sync::Arc::new(components),
        })
    }

    fn edits_since(
        &self,
        revision: Revision,
        epoch: Option<Timestamp>,
        view: View,
    ) -> Result<Option<GridEdits>> {
        let conn = self.lock();
        let components: i64 = conn
            .query_row(
                "SELECT count(*) FROM wangge_revisions WHERE revision > ?1 AND revision <= ?2 AND components_changed > 0",
                params![revision as i64, view.revision as i64],
                |r| r.get(0),
            )
            .map_err(self.err())?;
        if components > 0 {
            return Ok(None);
        }
        // Versions recorded since, and versions recorded before whose
        // effective time came since the epoch (none came between the epoch
        // and the earlier view's time: the epoch is the latest of them).
        let since = epoch.map(|e| e.to_rfc3339()).unwrap_or_default();
        let mut stmt = conn
            .prepare_cached(
                "SELECT code FROM grid_versions WHERE revision > ?1 AND revision <= ?2 \
                 UNION SELECT code FROM grid_versions WHERE valid_from > ?3 AND valid_from <= ?4 AND revision <= ?2 \
                 LIMIT ?5",
            )
            .map_err(self.err())?;
        let codes = stmt
            .query_map(
                params![
                    revision as i64,
                    view.revision as i64,
                    since,
                    view.valid_at.to_rfc3339(),
                    MAX_EDITS as i64 + 1
                ],
                |r| r.get::<_, String>(0),
            )
            .map_err(self.err())?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(self.err())?;
        if codes.len() > MAX_EDITS {
            return Ok(None);
        }
        let mut edits = GridEdits::default();
        for code in codes {
            match self.grids_with(&conn, view, Some(&code))?.pop() {
                Some(g) => edits.put.push(g),
                None => edits.gone.push(code),
            }
        }
        Ok(Some(edits))
    }

    fn grids(&self, view: View) -> Result<Vec<Grid>> {
        let conn = self.reader()?;
        self.grids_with(&conn, view, None)
    }

    fn grid(&self, view: View, code: &str) -> Result<Option<Grid>> {
        let conn = self.lock();
        Ok(self.grids_with(&conn, view, Some(code))?.pop())
    }

    fn commit(&self, commit: Commit) -> Result<RevisionInfo> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err())?;
        let head: Option<i64> = tx
            .query_row("SELECT max(revision) FROM wangge_revisions", [], |r| {
                r.get(0)
            })
            .map_err(self.err())?;
        let head = head.map(|h| h as u64);
        if let (Some(base), Some(head)) = (commit.base, head)
            && base < head
        {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT v.revision, r.author, r.message FROM grid_versions v JOIN wangge_revisions r ON r.revision = v.revision \
                     WHERE v.code = ?1 AND v.revision > ?2 ORDER BY v.revision LIMIT 1",
                )
                .map_err(self.err())?;
            let mut conflicts = Vec::new();
            for change in &commit.grids {
                let hit: Option<(i64, String, String)> = stmt
                    .query_row(params![change.code(), base as i64], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .optional()
                    .map_err(self.err())?;
                if let Some((rev, author, message)) = hit {
                    conflicts.push(format!(
                        "{} (changed by revision {rev}, {author}: {message})",
                        change.code()
                    ));
                }
            }
            if !conflicts.is_empty() {
                return Err(StoreError::Conflict(format!(
                    "this change was made on revision {base}, and since then other revisions changed the same grids: {}. Start a new draft from revision {head} and make the change again",
                    conflicts.join(", ")
                )));
            }
        }
        let revision = head.unwrap_or(0) + 1;
        let recorded_at = Timestamp::now();
        let effective_at = commit.effective_at.unwrap_or(recorded_at);
        tx.execute(
            "INSERT INTO wangge_revisions (revision, parent, author, message, recorded_at, effective_at, kind, draft) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                revision as i64,
                head.map(|h| h as i64),
                commit.author,
                commit.message,
                recorded_at.to_rfc3339(),
                effective_at.to_rfc3339(),
                commit.kind,
                commit.draft.map(|d| d as i64)
            ],
        )
        .map_err(self.err())?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO grid_versions (code, level, name, worker, retired, valid_from, revision, area_m2, geom) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(self.err())?;
            let valid_from = effective_at.to_rfc3339();
            for change in &commit.grids {
                match change {
                    GridChange::Put(g) => {
                        let blob = encode_multipolygon(&g.geometry).map_err(|e| self.corrupt(e))?;
                        insert
                            .execute(params![
                                g.code,
                                g.level as i64,
                                g.name,
                                g.worker,
                                0,
                                valid_from,
                                revision as i64,
                                crate::measure::area_m2(&g.geometry),
                                blob
                            ])
                            .map_err(self.err())?;
                    }
                    GridChange::Retire { code, level } => {
                        insert
                            .execute(params![
                                code,
                                *level as i64,
                                "",
                                Option::<String>::None,
                                1,
                                valid_from,
                                revision as i64,
                                0.0,
                                Option::<Vec<u8>>::None
                            ])
                            .map_err(self.err())?;
                    }
                }
            }
        }
        let components_changed = match &commit.components {
            ComponentChange::Keep => 0,
            ComponentChange::Replace(all) => self.replace_components(&tx, revision, all)?,
        };
        tx.execute(
            "UPDATE wangge_revisions SET grids_changed = ?1, components_changed = ?2 WHERE revision = ?3",
            params![commit.grids.len() as i64, components_changed as i64, revision as i64],
        )
        .map_err(self.err())?;
        if let Some(d) = commit.draft {
            let n = tx
                .execute(
                    "UPDATE wangge_drafts SET state = 'published', published = ?1 WHERE id = ?2 AND state = 'open'",
                    params![revision as i64, d as i64],
                )
                .map_err(self.err())?;
            if n != 1 {
                return Err(StoreError::Conflict(format!(
                    "draft {d} is not open (published or discarded meanwhile)"
                )));
            }
        }
        tx.execute(
            &format!("UPDATE gpkg_contents SET last_change = {SQL_NOW}"),
            [],
        )
        .map_err(self.err())?;
        let info = tx
            .query_row(
                &format!("SELECT {REVISION_COLUMNS} FROM wangge_revisions WHERE revision = ?1"),
                params![revision as i64],
                revision_row,
            )
            .map_err(self.err())?;
        tx.commit().map_err(self.err())?;
        Ok(info)
    }

    fn history(&self, code: &str) -> Result<Vec<GridVersion>> {
        let conn = self.lock();
        versions(&conn, "v.code = ?1", params![code]).map_err(self.err())
    }

    fn changes(&self, from: Revision, to: Revision) -> Result<Vec<GridVersion>> {
        let conn = self.lock();
        versions(
            &conn,
            "v.revision > ?1 AND v.revision <= ?2",
            params![from as i64, to as i64],
        )
        .map_err(self.err())
    }

    fn create_draft(
        &self,
        base: Revision,
        scope: Option<&str>,
        title: &str,
        author: &str,
    ) -> Result<DraftInfo> {
        let conn = self.lock();
        let exists: bool = conn
            .query_row(
                "SELECT count(*) FROM wangge_revisions WHERE revision = ?1",
                params![base as i64],
                |r| r.get::<_, i64>(0),
            )
            .map_err(self.err())?
            > 0;
        if !exists {
            return Err(StoreError::NotFound(format!("no revision {base}")));
        }
        conn.execute(
            "INSERT INTO wangge_drafts (base, scope, title, author, created_at, state) VALUES (?1, ?2, ?3, ?4, ?5, 'open')",
            params![base as i64, scope, title, author, Timestamp::now().to_rfc3339()],
        )
        .map_err(self.err())?;
        let id = conn.last_insert_rowid() as u64;
        self.draft_with(&conn, id)
    }

    fn draft(&self, id: u64) -> Result<DraftInfo> {
        let conn = self.lock();
        self.draft_with(&conn, id)
    }

    fn drafts(&self) -> Result<Vec<DraftInfo>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {DRAFT_COLUMNS} FROM wangge_drafts ORDER BY id DESC"
            ))
            .map_err(self.err())?;
        stmt.query_map([], draft_row)
            .map_err(self.err())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err())
    }

    fn draft_grids(&self, id: u64) -> Result<Vec<DraftGrid>> {
        let conn = self.lock();
        self.draft_with(&conn, id)?;
        let mut stmt = conn
            .prepare(
                "SELECT code, level, name, worker, retired, geom, etag FROM wangge_draft_grids WHERE draft = ?1 ORDER BY code",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map(params![id as i64], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Option<Vec<u8>>>(5)?,
                    r.get::<_, String>(6)?,
                ))
            })
            .map_err(self.err())?;
        let mut out = Vec::new();
        for row in rows {
            let (code, level, name, worker, retired, geom, etag) = row.map_err(self.err())?;
            let change = if retired != 0 {
                GridChange::Retire {
                    code,
                    level: level as usize,
                }
            } else {
                let blob =
                    geom.ok_or_else(|| self.corrupt(format!("draft grid {code} has no geometry")))?;
                GridChange::Put(Grid {
                    geometry: decode_multipolygon(&blob)
                        .map_err(|e| self.corrupt(format!("draft grid {code}: {e}")))?,
                    code,
                    name,
                    level: level as usize,
                    worker,
                })
            };
            out.push(DraftGrid { change, etag });
        }
        Ok(out)
    }

    fn put_draft_grids(
        &self,
        id: u64,
        changes: &[(GridChange, Option<String>)],
    ) -> Result<Vec<String>> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err())?;
        self.open_draft(&tx, id)?;
        let now = Timestamp::now();
        let mut tags = Vec::with_capacity(changes.len());
        for (change, if_match) in changes {
            let code = change.code();
            let current = self.draft_etag(&tx, id, code)?;
            if let Some(expected) = if_match
                && !expected.is_empty()
                && !etag_matches(current.as_deref(), expected)
            {
                return Err(StoreError::Stale {
                    draft: id,
                    code: code.to_string(),
                    current: current
                        .unwrap_or_else(|| "none: the grid is as in the draft's base".into()),
                });
            }
            let (level, name, worker, retired, geom) = match change {
                GridChange::Put(g) => (
                    g.level,
                    g.name.clone(),
                    g.worker.clone(),
                    0,
                    Some(encode_multipolygon(&g.geometry).map_err(|e| self.corrupt(e))?),
                ),
                GridChange::Retire { level, .. } => (*level, String::new(), None, 1, None),
            };
            let etag = etag_for(
                code,
                level,
                &name,
                worker.as_deref(),
                retired == 1,
                geom.as_deref(),
            );
            tx.execute(
                "INSERT INTO wangge_draft_grids (draft, code, level, name, worker, retired, geom, etag, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                 ON CONFLICT (draft, code) DO UPDATE SET level = excluded.level, name = excluded.name, worker = excluded.worker, retired = excluded.retired, geom = excluded.geom, etag = excluded.etag, updated_at = excluded.updated_at",
                params![id as i64, code, level as i64, name, worker, retired, geom, etag, now.to_rfc3339()],
            )
            .map_err(self.err())?;
            tags.push(etag);
        }
        tx.commit().map_err(self.err())?;
        Ok(tags)
    }

    fn drop_draft_grid(&self, id: u64, code: &str, if_match: Option<&str>) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err())?;
        self.open_draft(&tx, id)?;
        let current = self.draft_etag(&tx, id, code)?;
        if let Some(expected) = if_match
            && !etag_matches(current.as_deref(), expected)
        {
            return Err(StoreError::Stale {
                draft: id,
                code: code.to_string(),
                current: current.unwrap_or_else(|| "none".into()),
            });
        }
        tx.execute(
            "DELETE FROM wangge_draft_grids WHERE draft = ?1 AND code = ?2",
            params![id as i64, code],
        )
        .map_err(self.err())?;
        tx.commit().map_err(self.err())
    }

    fn discard_draft(&self, id: u64) -> Result<()> {
        let conn = self.lock();
        self.open_draft(&conn, id)?;
        conn.execute(
            "UPDATE wangge_drafts SET state = 'discarded' WHERE id = ?1",
            params![id as i64],
        )
        .map_err(self.err())?;
        Ok(())
    }

    fn create_api_key(&self, key: NewApiKey) -> Result<ApiKeyRecord> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO wangge_api_keys (name, role, worker, classes, hash, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                key.name,
                key.role,
                key.worker,
                key.classes.join(","),
                key.hash,
                Timestamp::now().to_rfc3339()
            ],
        )
        .map_err(self.err())?;
        let id = conn.last_insert_rowid();
        conn.query_row(
            &format!("SELECT {API_KEY_COLUMNS} FROM wangge_api_keys WHERE id = ?1"),
            params![id],
            api_key_row,
        )
        .map_err(self.err())
    }

    fn api_key(&self, id: u64) -> Result<Option<ApiKeyRecord>> {
        let conn = self.lock();
        conn.query_row(
            &format!("SELECT {API_KEY_COLUMNS} FROM wangge_api_keys WHERE id = ?1"),
            params![id as i64],
            api_key_row,
        )
        .optional()
        .map_err(self.err())
    }

    fn api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {API_KEY_COLUMNS} FROM wangge_api_keys ORDER BY id"
            ))
            .map_err(self.err())?;
        stmt.query_map([], api_key_row)
            .map_err(self.err())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err())
    }

    fn revoke_api_key(&self, id: u64, at: Timestamp) -> Result<ApiKeyRecord> {
        let conn = self.lock();
        let n = conn
            .execute(
                "UPDATE wangge_api_keys SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1",
                params![id as i64, at.to_rfc3339()],
            )
            .map_err(self.err())?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("no API key {id}")));
        }
        conn.query_row(
            &format!("SELECT {API_KEY_COLUMNS} FROM wangge_api_keys WHERE id = ?1"),
            params![id as i64],
            api_key_row,
        )
        .map_err(self.err())
    }

    fn audit(&self, e: &AuditEntry) -> Result<()> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO wangge_audit (at, actor, action, target, outcome, origin, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![e.at.to_rfc3339(), e.actor, e.action, e.target, e.outcome, e.origin, e.detail],
        )
        .map_err(self.err())?;
        Ok(())
    }

    fn audit_log(&self, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let conn = self.lock();
        // Times are stored as UTC RFC 3339 with milliseconds: they sort as text.
        let mut stmt = conn
            .prepare(
                "SELECT at, actor, action, target, outcome, origin, detail FROM wangge_audit \
                 WHERE (?1 IS NULL OR instr(actor, ?1) > 0) AND (?2 IS NULL OR instr(action, ?2) > 0) \
                   AND (?3 IS NULL OR instr(target, ?3) > 0) AND (?4 IS NULL OR outcome = ?4) \
                   AND (?5 IS NULL OR at >= ?5) AND (?6 IS NULL OR at < ?6) \
                 ORDER BY id DESC LIMIT ?7",
            )
            .map_err(self.err())?;
        let p = params![
            f.actor,
            f.action,
            f.target,
            f.outcome,
            f.since.map(Timestamp::to_rfc3339),
            f.until.map(Timestamp::to_rfc3339),
            f.limit as i64
        ];
        stmt.query_map(p, |r| {
            Ok(AuditEntry {
                at: ts(r.get(0)?),
                actor: r.get(1)?,
                action: r.get(2)?,
                target: r.get(3)?,
                outcome: r.get(4)?,
                origin: r.get(5)?,
                detail: r.get(6)?,
            })
        })
        .map_err(self.err())?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(self.err())
    }
}

/// Grid versions matching `filter` (over `v`), oldest first, each with its
/// validity end as recorded now and its revision's author and message.
fn versions(
    conn: &Connection,
    filter: &str,
    p: impl rusqlite::Params,
) -> rusqlite::Result<Vec<GridVersion>> {
    let sql = format!(
        "SELECT v.code, v.level, v.revision, v.valid_from, v.retired, v.name, v.worker, v.area_m2, r.author, r.message, r.recorded_at, \
         (SELECT min(w.valid_from) FROM grid_versions w WHERE w.code = v.code AND (w.valid_from > v.valid_from OR (w.valid_from = v.valid_from AND w.revision > v.revision))) \
         FROM grid_versions v JOIN wangge_revisions r ON r.revision = v.revision WHERE {filter} ORDER BY v.code, v.revision, v.fid"
    );
    let mut stmt = conn.prepare(&sql)?;
    stmt.query_map(p, |r| {
        Ok(GridVersion {
            code: r.get(0)?,
            level: r.get::<_, i64>(1)? as usize,
            revision: r.get::<_, i64>(2)? as u64,
            valid_from: ts(r.get(3)?),
            retired: r.get::<_, i64>(4)? != 0,
            name: r.get(5)?,
            worker: r.get(6)?,
            area_m2: r.get(7)?,
            author: r.get(8)?,
            message: r.get(9)?,
            recorded_at: ts(r.get(10)?),
            valid_to: r.get::<_, Option<String>>(11)?.map(ts),
        })
    })?
    .collect()
}
