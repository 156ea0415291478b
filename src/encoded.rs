//! Response bodies with their entity tags and compressed forms, shared by
//! tiles, glyphs and the viewer's files: content negotiation
//! (`Accept-Encoding`), gzip and brotli, and `If-None-Match`.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::sync::OnceLock;

use bytes::Bytes;

/// A content encoding the server can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Uncompressed.
    Identity,
    /// `gzip`.
    Gzip,
    /// `br`.
    Brotli,
}

impl Encoding {
    /// The `Content-Encoding` value, `None` for identity.
    pub fn header(self) -> Option<&'static str> {
        match self {
            Encoding::Identity => None,
            Encoding::Gzip => Some("gzip"),
            Encoding::Brotli => Some("br"),
        }
    }

    /// Picks the encoding for an `Accept-Encoding` header: brotli over gzip
    /// over identity among those with a non-zero quality.
    pub fn negotiate(accept: Option<&str>) -> Encoding {
        let Some(accept) = accept else {
            return Encoding::Identity;
        };
        let mut best = Encoding::Identity;
        for item in accept.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .filter_map(|q| q.trim().parse::<f32>().ok())
                .next()
                .unwrap_or(1.0);
            if q <= 0.0 {
                continue;
            }
            match name.as_str() {
                "br" => best = Encoding::Brotli,
                "gzip" | "x-gzip" | "*" if best == Encoding::Identity => best = Encoding::Gzip,
                _ => {}
            }
        }
        best
    }
}

/// Gzip at the default level.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 3),
        flate2::Compression::default(),
    );
    enc.write_all(data).expect("writing to memory cannot fail");
    enc.finish().expect("writing to memory cannot fail")
}

/// Brotli at quality 5 (a good ratio at tile-serving speed).
pub fn brotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 3);
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        w.write_all(data).expect("writing to memory cannot fail");
    }
    out
}

/// A response body as the server keeps it: the bytes, an entity tag, and
/// the gzip and brotli forms made on first demand.
#[derive(Debug)]
pub struct Encoded {
    raw: Bytes,
    etag: String,
    gzip: OnceLock<Bytes>,
    br: OnceLock<Bytes>,
}

impl Encoded {
    /// Wraps a body (empty: a tile without features).
    pub fn new(raw: Vec<u8>) -> Encoded {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        raw.hash(&mut h);
        Encoded {
            etag: format!("\"{:016x}-{:x}\"", h.finish(), raw.len()),
            raw: Bytes::from(raw),
            gzip: OnceLock::new(),
            br: OnceLock::new(),
        }
    }

    /// True for an empty body (a tile without features).
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The uncompressed bytes.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// The entity tag of the uncompressed body (quoted).
    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// The entity tag of one encoding of the tile (quoted): a suffix per
    /// encoding, as each is a different representation.
    pub fn etag_for(&self, e: Encoding) -> String {
        match e.header() {
            None => self.etag.clone(),
            Some(name) => format!("{}-{name}\"", self.etag.trim_end_matches('"')),
        }
    }

    /// Whether an `If-None-Match` header value names this body: weak
    /// comparison, so the tag of any of its encodings matches, as does `*`.
    pub fn matches(&self, if_none_match: &str) -> bool {
        let plain = self.etag.trim_end_matches('"');
        if_none_match
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| {
                t == "*"
                    || t == self.etag
                    || (t.starts_with(plain)
                        && t.ends_with('"')
                        && t[plain.len()..].starts_with('-'))
            })
    }

    /// Whether encoding `e` is ready (identity always is).
    pub fn has(&self, e: Encoding) -> bool {
        match e {
            Encoding::Identity => true,
            Encoding::Gzip => self.gzip.get().is_some(),
            Encoding::Brotli => self.br.get().is_some(),
        }
    }

    /// The tile in encoding `e`, compressed on first demand.
    pub fn encoded(&self, e: Encoding) -> Bytes {
        match e {
            Encoding::Identity => self.raw.clone(),
            Encoding::Gzip => self
                .gzip
                .get_or_init(|| Bytes::from(gzip(&self.raw)))
                .clone(),
            Encoding::Brotli => self
                .br
                .get_or_init(|| Bytes::from(brotli(&self.raw)))
                .clone(),
        }
    }

    pub(crate) fn weight(&self) -> u32 {
        // Raw plus room for the compressed forms, plus bookkeeping.
        (self.raw.len() * 2 + 256).min(u32::MAX as usize) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_are_negotiated_by_quality() {
        assert_eq!(Encoding::negotiate(None), Encoding::Identity);
        assert_eq!(
            Encoding::negotiate(Some("gzip, deflate, br")),
            Encoding::Brotli
        );
        assert_eq!(Encoding::negotiate(Some("gzip")), Encoding::Gzip);
        assert_eq!(
            Encoding::negotiate(Some("br;q=0, gzip;q=0.5")),
            Encoding::Gzip
        );
        assert_eq!(Encoding::negotiate(Some("identity")), Encoding::Identity);
        assert_eq!(Encoding::negotiate(Some("*")), Encoding::Gzip);
    }

    #[test]
    fn compressed_forms_decompress_to_the_tile() {
        use std::io::Read;
        let data: Vec<u8> = (0..10_000u32)
            .flat_map(|i| (i % 97).to_le_bytes())
            .collect();
        let e = Encoded::new(data.clone());
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&e.encoded(Encoding::Gzip)[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        let mut back = Vec::new();
        brotli::Decompressor::new(&e.encoded(Encoding::Brotli)[..], 4096)
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        assert_ne!(e.etag_for(Encoding::Gzip), e.etag_for(Encoding::Brotli));
    }

    #[test]
    fn if_none_match_compares_weakly_across_encodings() {
        let e = Encoded::new(b"body".to_vec());
        let other = Encoded::new(b"other".to_vec());
        assert!(e.matches(e.etag()));
        assert!(e.matches(&e.etag_for(Encoding::Brotli)));
        assert!(e.matches(&format!("W/{}", e.etag_for(Encoding::Gzip))));
        assert!(e.matches(&format!("{}, {}", other.etag(), e.etag())));
        assert!(e.matches("*"));
        assert!(!e.matches(other.etag()));
        assert!(!e.matches(&other.etag_for(Encoding::Gzip)));
        assert!(!e.matches(""));
    }
}
