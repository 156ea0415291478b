//! Files written next to their destination and renamed into place, with the
//! permissions any other program's files get.
//!
//! `tempfile` creates files as 0600 and directories as 0700 so that other
//! users cannot read them while they are written. wangge's outputs (tile
//! archives, data versions) are meant to be read by other programs, such as a
//! static web server, so they are created as 0666 / 0777 and the process's
//! umask decides, exactly as for a file written with `std::fs::write`.

use std::path::Path;

#[cfg(unix)]
fn mode(bits: u32) -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    std::fs::Permissions::from_mode(bits)
}

/// A temporary file in `dir` (renamed into place with `persist`), mode 0666
/// less the umask.
pub fn temp_file_in(dir: &Path, prefix: &str) -> std::io::Result<tempfile::NamedTempFile> {
    let mut b = tempfile::Builder::new();
    b.prefix(prefix);
    #[cfg(unix)]
    b.permissions(mode(0o666));
    b.tempfile_in(dir)
}

/// A temporary directory in `dir` (renamed into place after `keep`), mode
/// 0777 less the umask.
pub fn temp_dir_in(dir: &Path, prefix: &str) -> std::io::Result<tempfile::TempDir> {
    let mut b = tempfile::Builder::new();
    b.prefix(prefix);
    #[cfg(unix)]
    b.permissions(mode(0o777));
    b.tempdir_in(dir)
}

/// Flushes a directory's entries (files created, renamed or removed in it)
/// to the disk.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Puts the finished directory `new` (a [`temp_dir_in`] beside `dest`) at
/// `dest`, replacing what is there: the old directory is first renamed
/// aside, the new one renamed into place and the parent synced, and only
/// then is the old one removed, so an interruption leaves either the old or
/// the new directory at `dest` (or the old one beside it), never a half of one.
pub fn replace_dir(new: tempfile::TempDir, dest: &Path) -> std::io::Result<()> {
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let aside = if dest.exists() {
        let old = temp_dir_in(parent, ".wangge-replaced-")?.keep();
        std::fs::remove_dir(&old)?;
        std::fs::rename(dest, &old)?;
        Some(old)
    } else {
        None
    };
    std::fs::rename(new.keep(), dest)?;
    sync_dir(parent)?;
    if let Some(old) = aside {
        std::fs::remove_dir_all(old)?;
    }
    Ok(())
}
