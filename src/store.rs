//! The data directory: what `wangge import` and `wangge generate` write and
//! `wangge serve` loads.
//!
//! Layout of one version:
//! ```text
//! wangge.json      manifest: format, grid scheme, component scheme, counts
//! classes.csv      the class table the data was validated against
//! grids.fgb        grids, WGS84, FlatGeobuf with packed R-tree
//! components.fgb   components, WGS84 points, FlatGeobuf with packed R-tree
//! ```
//! A data directory either holds one version directly (the bundled sample),
//! or holds `versions/NNNNNN/` and a `current` symlink to one of them. Writes
//! go to a fresh version directory and then swap `current` with an atomic
//! rename, so a failed or interrupted import leaves the previous data intact.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::codes::{ClassTable, ComponentScheme, GridScheme};
use crate::io::{self, ReadError};
use crate::model::{ComponentRecord, Dataset};

/// Errors of the data directory.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// Path involved.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Not a wangge data directory.
    #[error(
        "{0} is not a wangge data directory (no wangge.json and no 'current' version): create one with `wangge import` or `wangge generate`"
    )]
    NotData(PathBuf),
    /// The manifest is unreadable.
    #[error("{path}: bad manifest: {message}")]
    Manifest {
        /// Manifest path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A data file is unreadable.
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// Result alias for the store.
pub type Result<T> = std::result::Result<T, StoreError>;

/// `wangge.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Layout version of this directory format.
    pub format: u32,
    /// Grid levels.
    pub scheme: GridScheme,
    /// Component code structure.
    pub component_scheme: ComponentScheme,
    /// Number of grids.
    pub grids: usize,
    /// Number of components.
    pub components: usize,
    /// Data version (increments with each write to a versioned directory).
    pub version: u64,
    /// Free text: where the data came from.
    pub source: String,
}

const FORMAT: u32 = 1;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The directory holding the data version to load: `dir` itself or `dir/current`.
pub fn resolve(dir: &Path) -> Result<PathBuf> {
    if dir.join("wangge.json").is_file() {
        return Ok(dir.to_path_buf());
    }
    let current = dir.join("current");
    if current.join("wangge.json").is_file() {
        return std::fs::canonicalize(&current).map_err(io_err(&current));
    }
    Err(StoreError::NotData(dir.to_path_buf()))
}

/// Reads a data directory into a dataset (progress reports components read).
pub fn load(dir: &Path, progress: impl FnMut(u64)) -> Result<(Manifest, Dataset)> {
    let dir = resolve(dir)?;
    let mpath = dir.join("wangge.json");
    let text = std::fs::read_to_string(&mpath).map_err(io_err(&mpath))?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| StoreError::Manifest {
        path: mpath.clone(),
        message: e.to_string(),
    })?;
    if manifest.format != FORMAT {
        return Err(StoreError::Manifest {
            path: mpath,
            message: format!(
                "format {} is not supported (this wangge reads format {FORMAT})",
                manifest.format
            ),
        });
    }
    let cpath = dir.join("classes.csv");
    let classes = match std::fs::read_to_string(&cpath) {
        Ok(text) => ClassTable::from_csv_str(&text, &cpath.display().to_string()).map_err(|e| {
            StoreError::Manifest {
                path: cpath.clone(),
                message: e.to_string(),
            }
        })?,
        Err(_) => ClassTable::builtin(),
    };
    let (grids, components) = io::read_dataset_fgb(
        &dir.join("grids.fgb"),
        &dir.join("components.fgb"),
        &classes,
        manifest.component_scheme.len(),
        progress,
    )?;
    Ok((
        manifest.clone(),
        Dataset {
            scheme: manifest.scheme,
            component_scheme: manifest.component_scheme,
            classes,
            grids,
            components,
        },
    ))
}

/// Loads a data directory and indexes it: what `wangge serve` runs at start.
pub fn open_snapshot(
    dir: &Path,
    progress: impl FnMut(u64),
) -> Result<(Manifest, crate::index::Snapshot)> {
    let (manifest, data) = load(dir, progress)?;
    let version = manifest.version;
    Ok((manifest, crate::index::Snapshot::build(data, version)))
}

fn classes_csv(classes: &ClassTable) -> String {
    let mut out = String::from("kind,code,major_code,major_name,minor_code,minor_name\n");
    for c in classes.all() {
        out.push_str(&format!(
            "component,{},{},{},{},{}\n",
            c.code,
            c.major(),
            c.major_name,
            &c.code[2..],
            c.minor_name
        ));
    }
    out
}

/// Writes one version's files into `dir` (which must exist and be empty).
/// Components come from an iterator so that a generated city is streamed.
pub fn write_version(
    dir: &Path,
    manifest: &Manifest,
    data: &Dataset,
    components: impl Iterator<Item = ComponentRecord>,
) -> Result<()> {
    io::write_grids_fgb(&dir.join("grids.fgb"), &data.grids)?;
    io::write_components_fgb(&dir.join("components.fgb"), components)?;
    let cpath = dir.join("classes.csv");
    std::fs::write(&cpath, classes_csv(&data.classes)).map_err(io_err(&cpath))?;
    let mpath = dir.join("wangge.json");
    let text = serde_json::to_string_pretty(manifest).expect("manifest serializes");
    std::fs::write(&mpath, text).map_err(io_err(&mpath))?;
    Ok(())
}

/// Writes a new version into a data directory and makes it current,
/// atomically: readers see either the old version or the new one, and an
/// error or interruption leaves the old one in place. Returns the version
/// number. Keeps the three most recent versions.
pub fn publish(
    root: &Path,
    mut manifest: Manifest,
    data: &Dataset,
    components: impl Iterator<Item = ComponentRecord>,
) -> Result<u64> {
    let versions = root.join("versions");
    std::fs::create_dir_all(&versions).map_err(io_err(&versions))?;
    let mut existing: Vec<u64> = std::fs::read_dir(&versions)
        .map_err(io_err(&versions))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    existing.sort_unstable();
    let version = existing.last().map_or(1, |v| v + 1);
    manifest.version = version;
    let tmp = tempfile::Builder::new()
        .prefix(".incoming-")
        .tempdir_in(&versions)
        .map_err(io_err(&versions))?;
    write_version(tmp.path(), &manifest, data, components)?;
    let final_dir = versions.join(format!("{version:06}"));
    let tmp_path = tmp.keep();
    std::fs::rename(&tmp_path, &final_dir).map_err(io_err(&final_dir))?;
    let link_tmp = root.join(".current.tmp");
    let _ = std::fs::remove_file(&link_tmp);
    std::os::unix::fs::symlink(
        Path::new("versions").join(format!("{version:06}")),
        &link_tmp,
    )
    .map_err(io_err(&link_tmp))?;
    std::fs::rename(&link_tmp, root.join("current")).map_err(io_err(root))?;
    for old in existing.iter().rev().skip(2) {
        let _ = std::fs::remove_dir_all(versions.join(format!("{old:06}")));
    }
    Ok(version)
}

/// A manifest for a dataset.
pub fn manifest_for(data: &Dataset, source: &str) -> Manifest {
    Manifest {
        format: FORMAT,
        scheme: data.scheme.clone(),
        component_scheme: data.component_scheme,
        grids: data.grids.len(),
        components: data.components.len(),
        version: 0,
        source: source.to_string(),
    }
}
