//! Which encoding a file's text is in: the one asked for (`--encoding`), else
//! the one the file declares (a Shapefile's `.cpg`, or its `.dbf` language
//! driver), else UTF-8 when all of it is valid UTF-8, else GB18030 (a
//! superset of GBK and GB2312, what Chinese GIS files without a `.cpg` are
//! nearly always written in) when all of it decodes as that — with a note
//! saying so. Text that the chosen encoding cannot decode is refused: a
//! replacement character is never stored in place of a name.

use std::io::{BufRead, Read};
use std::path::Path;

use encoding_rs::Encoding;

use super::{Format, ReadOptions, Result, malformed, open};

/// The encoding named by a label such as `GBK`, `936`, `GB18030` or `UTF-8`.
pub fn encoding_for_label(label: &str) -> Option<&'static Encoding> {
    let norm = match label.trim().to_ascii_uppercase().as_str() {
        "936" | "CP936" | "GB2312" | "GBK" | "ANSI 936" => "gbk".to_string(),
        "54936" | "GB18030" => "gb18030".to_string(),
        "65001" | "UTF8" | "UTF-8" => "utf-8".to_string(),
        other => other.to_ascii_lowercase(),
    };
    Encoding::for_label(norm.as_bytes())
}

/// A file's text encoding, once settled.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The options with `encoding` set to what was chosen.
    pub options: ReadOptions,
    /// Set when the encoding was guessed from the content: what was used and why.
    pub note: Option<String>,
}

/// Settles the text encoding of `path` (see the module documentation). For
/// formats that are always UTF-8 (GeoJSON, FlatGeobuf) nothing is read.
pub fn resolve(path: &Path, options: &ReadOptions) -> Result<Resolved> {
    let format = super::format_of(path, options)?;
    let mut out = options.clone();
    if !matches!(format, Format::Shapefile | Format::Csv) {
        return Ok(Resolved {
            options: out,
            note: None,
        });
    }
    let dbf = path.with_extension("dbf");
    let scan = |f: &mut dyn FnMut(&[u8]) -> bool| match format {
        Format::Shapefile => dbf_text(&dbf, f),
        _ => csv_lines(path, f),
    };
    let declared = match &options.encoding {
        Some(label) => Some((label.clone(), "--encoding")),
        None if format == Format::Shapefile => cpg_label(path).map(|l| (l, ".cpg")).or_else(|| {
            dbf_language(&path.with_extension("dbf"))
                .map(|l| (l.to_string(), ".dbf language driver"))
        }),
        None => None,
    };
    if let Some((label, from)) = declared {
        let enc = encoding_for_label(&label).ok_or_else(|| {
            malformed(
                path,
                None,
                format!(
                    "unknown text encoding '{label}' (from {from}): use e.g. GBK, GB18030 or UTF-8"
                ),
            )
        })?;
        let mut bad = false;
        scan(&mut |bytes| {
            bad = enc
                .decode_without_bom_handling_and_without_replacement(bytes)
                .is_none();
            !bad
        })?;
        if bad {
            return Err(malformed(
                path,
                None,
                format!(
                    "the text is not valid {} (the encoding given by {from}): give the right one with --encoding (GBK, GB18030, UTF-8)",
                    enc.name()
                ),
            ));
        }
        out.encoding = Some(enc.name().to_string());
        return Ok(Resolved {
            options: out,
            note: None,
        });
    }
    let (mut utf8, mut gb) = (true, true);
    scan(&mut |bytes| {
        if utf8 && std::str::from_utf8(bytes).is_err() {
            utf8 = false;
        }
        if !utf8
            && encoding_rs::GB18030
                .decode_without_bom_handling_and_without_replacement(bytes)
                .is_none()
        {
            gb = false;
        }
        utf8 || gb
    })?;
    if utf8 {
        out.encoding = Some("UTF-8".into());
        return Ok(Resolved {
            options: out,
            note: None,
        });
    }
    if !gb {
        return Err(malformed(
            path,
            None,
            "the text is neither UTF-8 nor GBK/GB18030 and no encoding is declared: give it with --encoding (or add a .cpg file beside a Shapefile)",
        ));
    }
    // GBK is what a .cpg would say for such files; GB18030 decodes the same
    // bytes and a few more.
    out.encoding = Some("GB18030".into());
    Ok(Resolved {
        options: out,
        note: Some(format!(
            "{} declares no text encoding{} and its text is not UTF-8: decoded as GBK (GB18030), the encoding of Chinese GIS files; if names look wrong, give --encoding",
            path.display(),
            if format == Format::Shapefile {
                " (no .cpg)"
            } else {
                ""
            }
        )),
    })
}

fn cpg_label(path: &Path) -> Option<String> {
    std::fs::read_to_string(path.with_extension("cpg"))
        .ok()
        .map(|s| s.trim().trim_start_matches('\u{feff}').to_string())
        .filter(|s| !s.is_empty())
}

/// The code page a `.dbf` header's language driver byte names, for the
/// Chinese ones and UTF-8 (others are left to detection).
fn dbf_language(dbf: &Path) -> Option<&'static str> {
    let mut head = [0u8; 32];
    open(dbf).ok()?.read_exact(&mut head).ok()?;
    match head[29] {
        0x4D | 0x7A => Some("GBK"),
        _ => None,
    }
}

/// Calls `f` with the bytes of every character field of every record of a
/// `.dbf` until `f` returns false.
fn dbf_text(dbf: &Path, f: &mut dyn FnMut(&[u8]) -> bool) -> Result<()> {
    let bad = |m: &str| malformed(dbf, None, format!("not a valid .dbf file: {m}"));
    let mut r = std::io::BufReader::new(open(dbf)?);
    let mut head = [0u8; 32];
    r.read_exact(&mut head).map_err(|_| bad("too short"))?;
    let records = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
    let header_len = u16::from_le_bytes([head[8], head[9]]) as usize;
    let record_len = u16::from_le_bytes([head[10], head[11]]) as usize;
    if header_len < 33 || record_len == 0 {
        return Err(bad("header too short"));
    }
    let mut descriptors = vec![0u8; header_len - 32];
    r.read_exact(&mut descriptors)
        .map_err(|_| bad("truncated header"))?;
    // (offset in the record, length) of each character field.
    let mut fields: Vec<(usize, usize)> = Vec::new();
    let mut offset = 1; // the deletion flag
    for d in descriptors.chunks_exact(32) {
        if d[0] == 0x0D {
            break;
        }
        let len = d[16] as usize;
        if d[11] == b'C' {
            fields.push((offset, len));
        }
        offset += len;
    }
    let mut rec = vec![0u8; record_len];
    for _ in 0..records {
        if r.read_exact(&mut rec).is_err() {
            break; // a short file is the record reader's error to report
        }
        for &(o, l) in &fields {
            if let Some(bytes) = rec.get(o..o + l)
                && !bytes.is_ascii()
                && !f(bytes)
            {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Calls `f` with every line of a text file until `f` returns false. (No
/// byte of a GBK or UTF-8 multi-byte character is a newline.)
fn csv_lines(path: &Path, f: &mut dyn FnMut(&[u8]) -> bool) -> Result<()> {
    let mut r = std::io::BufReader::new(open(path)?);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = r
            .read_until(b'\n', &mut line)
            .map_err(|source| super::ReadError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        if n == 0 {
            return Ok(());
        }
        if !line.is_ascii() && !f(&line) {
            return Ok(());
        }
    }
}
