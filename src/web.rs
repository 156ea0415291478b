//! The built web viewer and the map glyphs, held in memory to be served.
//!
//! `web/build.mjs` writes the viewer into a folder (`web/dist`): the page,
//! its scripts and styles, MapLibre GL JS, and `fonts/<fontstack>/<start>-<end>.pbf`
//! glyph ranges (signed-distance-field glyphs in MapLibre's protobuf format, 256
//! code points per range). [`Viewer::load`] reads the whole folder once at start:
//! a request never touches the file system, so no path a client sends can
//! reach a file outside it. Every file is compressed (gzip and brotli) at
//! load, so answering never compresses on the request path.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::encoded::{Encoded, Encoding};

/// A body with its compressed forms made now.
fn precompressed(bytes: Vec<u8>) -> Encoded {
    let body = Encoded::new(bytes);
    body.encoded(Encoding::Gzip);
    body.encoded(Encoding::Brotli);
    body
}

/// Why the viewer folder cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The folder or a file in it cannot be read.
    #[error("cannot read the viewer folder {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The folder is not a built viewer.
    #[error(
        "{0} is not a built viewer (no index.html): build it with `scripts/build-web` (node web/build.mjs)"
    )]
    NotBuilt(PathBuf),
    /// A glyph file's name is not `<start>-<end>.pbf` of a 256-code-point range.
    #[error("{0}: glyph files must be named <start>-<end>.pbf for a range of 256 code points")]
    BadGlyphFile(PathBuf),
}

/// A glyph range: the first of its 256 code points, a multiple of 256 up to 65,280.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GlyphRange(u32);

impl GlyphRange {
    /// Parses `<start>-<end>` (optionally with `.pbf`): `start` a multiple of
    /// 256 below 65,536 and `end = start + 255`.
    pub fn parse(s: &str) -> Option<GlyphRange> {
        let s = s.strip_suffix(".pbf").unwrap_or(s);
        let (a, b) = s.split_once('-')?;
        let (start, end): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
        (start.is_multiple_of(256) && start < 65_536 && end == start + 255)
            .then_some(GlyphRange(start))
    }

    /// The first code point.
    pub fn start(self) -> u32 {
        self.0
    }
}

/// One file of the viewer.
#[derive(Debug)]
pub struct Asset {
    /// Its media type, from the file name's extension.
    pub content_type: &'static str,
    /// Its bytes, entity tag and compressed forms.
    pub body: Encoded,
}

/// The viewer's files by path (relative to the folder, `/`-separated) and
/// the glyphs by font name and range.
#[derive(Debug, Default)]
pub struct Viewer {
    files: HashMap<String, Asset>,
    fonts: BTreeMap<String, HashMap<GlyphRange, Encoded>>,
}

/// The media type of a file name, by extension.
pub fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()) {
        Some(e) => match e.as_str() {
            "html" => "text/html; charset=utf-8",
            "js" | "mjs" => "text/javascript; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "json" | "map" => "application/json",
            "svg" => "image/svg+xml",
            "png" => "image/png",
            "ico" => "image/x-icon",
            "pbf" => "application/x-protobuf",
            "txt" => "text/plain; charset=utf-8",
            "woff2" => "font/woff2",
            _ => "application/octet-stream",
        },
        None => "application/octet-stream",
    }
}

impl Viewer {
    /// Reads a built viewer folder (see the module doc).
    pub fn load(dir: &Path) -> Result<Viewer, WebError> {
        if !dir.join("index.html").is_file() {
            return Err(WebError::NotBuilt(dir.to_path_buf()));
        }
        let mut viewer = Viewer::default();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let io = |source| WebError::Io {
                path: d.clone(),
                source,
            };
            for entry in std::fs::read_dir(&d).map_err(io)? {
                let path = entry.map_err(io)?.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let bytes = std::fs::read(&path).map_err(|source| WebError::Io {
                    path: path.clone(),
                    source,
                })?;
                let rel: Vec<String> = path
                    .strip_prefix(dir)
                    .expect("walked from dir")
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                viewer.add(&path, &rel, bytes)?;
            }
        }
        Ok(viewer)
    }

    fn add(&mut self, path: &Path, rel: &[String], bytes: Vec<u8>) -> Result<(), WebError> {
        if let [fonts, stack, file] = rel
            && fonts == "fonts"
        {
            let range =
                GlyphRange::parse(file).ok_or_else(|| WebError::BadGlyphFile(path.into()))?;
            self.fonts
                .entry(stack.clone())
                .or_default()
                .insert(range, precompressed(bytes));
            return Ok(());
        }
        let name = rel.join("/");
        self.files.insert(
            name.clone(),
            Asset {
                content_type: content_type(&name),
                body: precompressed(bytes),
            },
        );
        Ok(())
    }

    /// A file by its path relative to the folder (`index.html`, `app.js`...).
    pub fn file(&self, path: &str) -> Option<&Asset> {
        self.files.get(path)
    }

    /// The font names glyphs are served for.
    pub fn fonts(&self) -> impl Iterator<Item = &str> {
        self.fonts.keys().map(String::as_str)
    }

    /// The glyphs of `range` from the first font of a comma-separated font
    /// stack (as MapLibre asks: `Noto Sans Regular,Arial Unicode MS Regular`)
    /// that has it. `Err` lists the fonts when none of the stack is known.
    pub fn glyphs(&self, fontstack: &str, range: GlyphRange) -> Result<Option<&Encoded>, String> {
        let known: Vec<&HashMap<GlyphRange, Encoded>> = fontstack
            .split(',')
            .filter_map(|f| self.fonts.get(f.trim()))
            .collect();
        if known.is_empty() {
            return Err(self.fonts().collect::<Vec<_>>().join(", "));
        }
        Ok(known.into_iter().find_map(|f| f.get(&range)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glyph_ranges_are_256_aligned() {
        assert_eq!(GlyphRange::parse("0-255.pbf"), Some(GlyphRange(0)));
        assert_eq!(GlyphRange::parse("65280-65535"), Some(GlyphRange(65280)));
        assert_eq!(
            GlyphRange::parse("8192-8447.pbf").map(|r| r.start()),
            Some(8192)
        );
        for bad in [
            "",
            "0-256.pbf",
            "1-256.pbf",
            "65536-65791",
            "a-b.pbf",
            "-255",
            "0255",
            "0-255-3",
        ] {
            assert_eq!(GlyphRange::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_folder_without_index_is_not_a_viewer() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Viewer::load(dir.path()),
            Err(WebError::NotBuilt(_))
        ));
    }

    #[test]
    fn files_and_glyphs_are_read_and_looked_up() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "<!doctype html>").unwrap();
        std::fs::create_dir_all(dir.path().join("vendor")).unwrap();
        std::fs::write(dir.path().join("vendor/m.mjs"), "export {}").unwrap();
        let font = dir.path().join("fonts/Noto Sans Regular");
        std::fs::create_dir_all(&font).unwrap();
        std::fs::write(font.join("0-255.pbf"), [1u8, 2, 3]).unwrap();
        let v = Viewer::load(dir.path()).unwrap();
        assert_eq!(
            v.file("index.html").unwrap().content_type,
            content_type("x.html")
        );
        assert_eq!(
            v.file("vendor/m.mjs").unwrap().content_type,
            "text/javascript; charset=utf-8"
        );
        assert!(v.file("fonts/Noto Sans Regular/0-255.pbf").is_none());
        let r0 = GlyphRange::parse("0-255").unwrap();
        let r1 = GlyphRange::parse("256-511").unwrap();
        let g = v
            .glyphs("Other Font, Noto Sans Regular", r0)
            .unwrap()
            .unwrap();
        assert_eq!(&g.raw()[..], &[1, 2, 3]);
        assert!(v.glyphs("Noto Sans Regular", r1).unwrap().is_none());
        assert_eq!(v.glyphs("Arial Bold", r0).unwrap_err(), "Noto Sans Regular");
        std::fs::write(font.join("0-99.pbf"), [0u8]).unwrap();
        assert!(matches!(
            Viewer::load(dir.path()),
            Err(WebError::BadGlyphFile(_))
        ));
    }
}
