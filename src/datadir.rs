//! The data directory: FlatGeobuf files of one city, what `wangge generate`
//! writes and `wangge export` can write, and a fast-start copy of a store
//! revision. The record itself is the store ([`crate::store`]).
//!
//! Layout of one version:
//! ```text
//! wangge.json      manifest: format, grid scheme, component scheme, counts
//! classes.csv      the class table the data was validated against
//! grids.fgb        grids, WGS84, FlatGeobuf with packed R-tree
//! components.fgb   components, WGS84 points, FlatGeobuf with packed R-tree
//! ```
//! A data directory either holds one version directly (the bundled sample),
//! or is versioned (what `wangge import` writes):
//! ```text
//! current -> versions/000007   symlink to the version served
//! versions/000005/ … 000007/   the three most recent versions
//! .lock                        locked by an import while it publishes
//! ```
//! [`publish`] writes a new version into `versions/.incoming-XXXX`, makes it
//! durable, renames it to its number and swaps `current` with an atomic
//! rename, so a failed, interrupted or killed import leaves the previous data
//! intact and `current` always names a complete version. What a killed import
//! leaves behind (an `.incoming-*` directory, a `.current.tmp` link) is
//! removed by the next [`publish`] and by [`clean_stale`], under the lock, so
//! that the directory of an import still running is never touched.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::codes::{ClassTable, ComponentScheme, GridScheme};
use crate::io::{self, ReadError};
use crate::model::{ComponentRecord, Dataset};

/// Errors of the data directory.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// Path involved.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The data directory's lock file could not be opened or locked.
    #[error(
        "{path}: cannot lock the data directory (an import holds this lock while it publishes, so that cleaning up never removes the files of a running import): {source}"
    )]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Not a wangge data directory.
    #[error(
        "{0} is not a wangge data directory (no wangge.json and no 'current' version): create one with `wangge import` or `wangge generate`"
    )]
    NotData(PathBuf),
    /// The manifest is unreadable, or the version's files disagree with it.
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
pub type Result<T> = std::result::Result<T, DataDirError>;

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

/// Lock file of a versioned data directory, locked while a version is published.
const LOCK_FILE: &str = ".lock";
/// Prefix of a version being written, in `versions/`.
const INCOMING: &str = ".incoming-";
/// Prefix of an old version being removed, in `versions/`.
const REMOVING: &str = ".removing-";
/// The new `current` link before it is renamed over `current`.
const LINK_TMP: &str = ".current.tmp";
/// Versions kept by [`publish`], the new one included.
const KEEP_VERSIONS: usize = 3;
/// Largest `wangge.json` read (a manifest is a few hundred bytes).
const MANIFEST_MAX_BYTES: u64 = 1 << 20;
/// Largest `classes.csv` read (10,000 four-digit classes of ~100 bytes each fit).
const CLASSES_MAX_BYTES: u64 = 16 << 20;
/// Longest component code a data directory may declare: codes are stored as `u64`.
const MAX_COMPONENT_CODE_LEN: usize = 19;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DataDirError + '_ {
    move |source| DataDirError::Io {
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
    Err(DataDirError::NotData(dir.to_path_buf()))
}

/// Reads a text file of at most `max` bytes.
fn read_text(path: &Path, max: u64) -> std::io::Result<String> {
    let mut text = String::new();
    File::open(path)?.take(max + 1).read_to_string(&mut text)?;
    if text.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {max} bytes: not a file wangge wrote"),
        ));
    }
    Ok(text)
}

/// Checks what the rest of wangge relies on: a known format, a usable grid
/// scheme and component codes that fit the compact store.
fn check_manifest(path: &Path, m: &Manifest) -> Result<()> {
    let bad = |message: String| DataDirError::Manifest {
        path: path.to_path_buf(),
        message,
    };
    if m.format != FORMAT {
        return Err(bad(format!(
            "format {} is not supported (this wangge reads format {FORMAT})",
            m.format
        )));
    }
    m.scheme
        .check()
        .map_err(|e| bad(format!("invalid grid scheme: {e}")))?;
    let c = m.component_scheme;
    let len = c
        .district_len
        .checked_add(4)
        .and_then(|n| n.checked_add(c.sequence_len));
    if len.is_none_or(|n| n > MAX_COMPONENT_CODE_LEN) {
        return Err(bad(format!(
            "component codes of {} + 4 + {} digits are longer than the {MAX_COMPONENT_CODE_LEN} digits wangge stores",
            c.district_len, c.sequence_len
        )));
    }
    Ok(())
}

/// Reads and checks the manifest of one version directory (a path
/// [`resolve`] returned): cheap, for telling which version is current.
pub fn read_manifest(version_dir: &Path) -> Result<Manifest> {
    let mpath = version_dir.join("wangge.json");
    let text = read_text(&mpath, MANIFEST_MAX_BYTES).map_err(io_err(&mpath))?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| DataDirError::Manifest {
        path: mpath.clone(),
        message: e.to_string(),
    })?;
    check_manifest(&mpath, &manifest)?;
    Ok(manifest)
}

/// Reads a data directory into a dataset (progress reports components read).
///
/// The manifest is checked (format, grid scheme, component code length) and
/// so are the files against it: a version whose files hold other numbers of
/// grids or components than its manifest lists is an error, not half a city.
pub fn load(dir: &Path, progress: impl FnMut(u64)) -> Result<(Manifest, Dataset)> {
    let dir = resolve(dir)?;
    let mpath = dir.join("wangge.json");
    let manifest = read_manifest(&dir)?;
    let cpath = dir.join("classes.csv");
    let classes = match read_text(&cpath, CLASSES_MAX_BYTES) {
        Ok(text) => ClassTable::from_csv_str(&text, &cpath.display().to_string()).map_err(|e| {
            DataDirError::Manifest {
                path: cpath.clone(),
                message: e.to_string(),
            }
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => ClassTable::builtin(),
        Err(e) => return Err(io_err(&cpath)(e)),
    };
    let (grids, components) = io::read_dataset_fgb(
        &dir.join("grids.fgb"),
        &dir.join("components.fgb"),
        &classes,
        manifest.component_scheme.len(),
        progress,
    )?;
    if grids.len() != manifest.grids || components.len() != manifest.components {
        return Err(DataDirError::Manifest {
            path: mpath,
            message: format!(
                "the manifest lists {} grids and {} components but the files hold {} and {}: the version is incomplete or was changed after it was written",
                manifest.grids,
                manifest.components,
                grids.len(),
                components.len()
            ),
        });
    }
    Ok((
        manifest.clone(),
        Dataset {
            scheme: manifest.scheme,
            component_scheme: manifest.component_scheme,
            classes,
            grids,
            components: std::sync::Arc::new(components),
        },
    ))
}

/// Loads a data directory and indexes it: what `wangge serve` runs at start.
pub fn open_snapshot(
    dir: &Path,
    progress: impl FnMut(u64),
) -> Result<(Manifest, crate::snapshot::Snapshot)> {
    let (manifest, data) = load(dir, progress)?;
    let version = manifest.version;
    Ok((manifest, crate::snapshot::Snapshot::build(data, version)))
}

/// Writes a file and flushes it to the disk.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = File::create(path).map_err(io_err(path))?;
    file.write_all(bytes).map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))
}

/// Flushes a directory's entries (files created, renamed or removed in it) to the disk.
fn sync_dir(dir: &Path) -> Result<()> {
    crate::files::sync_dir(dir).map_err(io_err(dir))
}

/// Writes one version's files into `dir` (which must exist and be empty).
/// Components come from an iterator so that a generated city is streamed.
///
/// The manifest is written last, with `grids` and `components` set to the
/// numbers written. When this returns, every file and `dir`'s own entries are
/// on the disk (fsynced); making `dir` reachable under its final name, and
/// syncing the directory that holds it, is the caller's part (see [`publish`]).
pub fn write_version(
    dir: &Path,
    manifest: &Manifest,
    data: &Dataset,
    components: impl Iterator<Item = ComponentRecord>,
) -> Result<()> {
    // The two FlatGeobuf writers fsync their files.
    io::write_grids_fgb(&dir.join("grids.fgb"), &data.grids)?;
    let mut written = 0usize;
    io::write_components_fgb(
        &dir.join("components.fgb"),
        components.inspect(|_| written += 1),
    )?;
    write_synced(&dir.join("classes.csv"), data.classes.to_csv().as_bytes())?;
    let manifest = Manifest {
        grids: data.grids.len(),
        components: written,
        ..manifest.clone()
    };
    let text = serde_json::to_string_pretty(&manifest).expect("manifest serializes");
    write_synced(&dir.join("wangge.json"), text.as_bytes())?;
    sync_dir(dir)
}

/// Creates `root` and its missing ancestors, syncing each new entry.
fn create_dir_synced(root: &Path) -> Result<()> {
    if root.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut p = root;
    while !p.exists() {
        missing.push(p);
        match p.parent() {
            Some(parent) => p = parent,
            None => break,
        }
    }
    std::fs::create_dir_all(root).map_err(io_err(root))?;
    for dir in missing.into_iter().rev() {
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        sync_dir(parent)?;
    }
    Ok(())
}

/// Opens and locks `root/.lock` exclusively. With `wait`, blocks until
/// another holder releases it; without, returns `None` when it is held. The
/// lock is released when the file is dropped, and by the kernel when the
/// process dies, however it dies.
fn lock_dir(root: &Path, wait: bool) -> Result<Option<File>> {
    let path = root.join(LOCK_FILE);
    let file = match OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
    {
        Ok(f) => f,
        Err(source) => return Err(DataDirError::Lock { path, source }),
    };
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) if wait => {
            tracing::info!(
                lock = %path.display(),
                "another import is publishing into this data directory: waiting for it to finish"
            );
            match file.lock() {
                Ok(()) => Ok(Some(file)),
                Err(source) => Err(DataDirError::Lock { path, source }),
            }
        }
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(source)) => Err(DataDirError::Lock { path, source }),
    }
}

/// Removes what interrupted imports left: `versions/.incoming-*` and
/// `versions/.removing-*`, and `.current.tmp`. The caller holds the lock, so
/// none of them belongs to a running import.
fn remove_stale(root: &Path) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let link_tmp = root.join(LINK_TMP);
    match std::fs::symlink_metadata(&link_tmp) {
        // A directory of that name is not ours: left alone, and making the
        // new link then fails with its name.
        Ok(m) if !m.is_dir() => {
            std::fs::remove_file(&link_tmp).map_err(io_err(&link_tmp))?;
            removed.push(link_tmp);
        }
        _ => {}
    }
    let versions = root.join("versions");
    let entries = match std::fs::read_dir(&versions) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(io_err(&versions)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err(&versions))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with(INCOMING) && !name.starts_with(REMOVING) {
            continue;
        }
        let path = entry.path();
        let is_dir = entry.file_type().map_err(io_err(&path))?.is_dir();
        if is_dir {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        }
        .map_err(io_err(&path))?;
        removed.push(path);
    }
    removed.sort();
    Ok(removed)
}

/// Removes what killed or failed imports left in a versioned data directory
/// (`versions/.incoming-*`, `versions/.removing-*`, `.current.tmp`) and
/// returns the paths removed. `wangge serve` calls this at start; [`publish`]
/// does the same before each write.
///
/// It takes the data directory's lock without waiting: while an import is
/// publishing, nothing is removed (that import cleaned up when it started,
/// and its own `.incoming-*` directory is live) and the list is empty. A
/// directory that is not versioned (no `versions/`, like the bundled sample)
/// is left untouched, without creating a lock file in it.
///
/// # Errors
///
/// When the lock file cannot be created (a read-only data directory) or a
/// leftover cannot be removed. Serving does not need the clean-up: a caller
/// at start-up can log the error and go on.
pub fn clean_stale(root: &Path) -> Result<Vec<PathBuf>> {
    if !root.join("versions").is_dir() {
        return Ok(Vec::new());
    }
    match lock_dir(root, false)? {
        Some(_lock) => remove_stale(root),
        None => Ok(Vec::new()),
    }
}

/// Numbers of the complete versions in `versions/`, ascending.
fn version_numbers(versions: &Path) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(versions).map_err(io_err(versions))? {
        let entry = entry.map_err(io_err(versions))?;
        let name = entry.file_name();
        let Some(v) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse().ok())
        else {
            continue;
        };
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.push(v);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Writes a new version into a data directory and makes it current,
/// atomically: readers see either the old version or the new one, and an
/// error, a panic or a kill leaves the old one in place. Returns the version
/// number. Keeps the three most recent versions.
///
/// Concurrent publishes into one directory (threads or processes) take turns:
/// each holds the directory's lock file (`.lock`) from before it cleans up
/// leftovers of killed imports until its version is current, and a publish
/// that finds the lock held waits for it (saying so in the log).
///
/// When this returns, the new version is durable: its files and directory
/// are fsynced, then renamed into `versions/` (fsynced), then the `current`
/// link is swapped (the data directory fsynced), so a power cut after an
/// acknowledged import does not lose it or leave `current` naming a
/// half-written version.
pub fn publish(
    root: &Path,
    mut manifest: Manifest,
    data: &Dataset,
    components: impl Iterator<Item = ComponentRecord>,
) -> Result<u64> {
    create_dir_synced(root)?;
    let _lock = lock_dir(root, true)?;
    let versions = root.join("versions");
    std::fs::create_dir_all(&versions).map_err(io_err(&versions))?;
    remove_stale(root)?;
    let existing = version_numbers(&versions)?;
    let version = existing.last().map_or(1, |v| v + 1);
    manifest.version = version;
    let name = format!("{version:06}");

    // An error or a panic while writing removes the directory (TempDir's drop).
    let tmp = crate::files::temp_dir_in(&versions, INCOMING).map_err(io_err(&versions))?;
    write_version(tmp.path(), &manifest, data, components)?;
    let final_dir = versions.join(&name);
    let tmp_path = tmp.keep();
    if let Err(e) = std::fs::rename(&tmp_path, &final_dir) {
        let _ = std::fs::remove_dir_all(&tmp_path);
        return Err(io_err(&final_dir)(e));
    }
    sync_dir(&versions)?;

    let link_tmp = root.join(LINK_TMP);
    std::os::unix::fs::symlink(Path::new("versions").join(&name), &link_tmp)
        .map_err(io_err(&link_tmp))?;
    let current = root.join("current");
    std::fs::rename(&link_tmp, &current).map_err(io_err(&current))?;
    sync_dir(root)?;

    retire_old_versions(&versions, &existing);
    Ok(version)
}

/// Removes all but the newest `KEEP_VERSIONS - 1` of `existing` (the new
/// version, already current, is the last one kept). Each goes out of its
/// numbered name by a rename first, so that a numbered directory is always
/// complete; a kill half-way leaves a `.removing-*` for [`clean_stale`].
/// Failures are logged, not returned: the new version is already published.
fn retire_old_versions(versions: &Path, existing: &[u64]) {
    let old = &existing[..existing.len().saturating_sub(KEEP_VERSIONS - 1)];
    let mut doomed = Vec::new();
    for v in old {
        let from = versions.join(format!("{v:06}"));
        let to = versions.join(format!("{REMOVING}{v:06}"));
        match std::fs::rename(&from, &to) {
            Ok(()) => doomed.push(to),
            Err(e) => {
                tracing::warn!(version = %from.display(), "cannot remove an old version: {e}")
            }
        }
    }
    if doomed.is_empty() {
        return;
    }
    if let Err(e) = sync_dir(versions) {
        tracing::warn!("{e}");
    }
    for dir in doomed {
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(dir = %dir.display(), "cannot remove an old version: {e}");
        }
    }
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
