//! How a batch body is cut into records: the media type, a streaming
//! splitter of JSON arrays, NDJSON and CSV lines (each record at most
//! [`MAX_RECORD_BYTES`]), and the reader that pulls body chunks with a limit
//! on the total.

use axum::http::{HeaderMap, header};
use futures::StreamExt;

use crate::http::ApiError;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Kind {
    Json,
    Ndjson,
    Csv,
}

pub(super) fn kind(headers: &HeaderMap) -> Result<Kind, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match ct.as_str() {
        "application/json" => Ok(Kind::Json),
        "application/x-ndjson"
        | "application/ndjson"
        | "application/jsonl"
        | "application/geo+json-seq" => Ok(Kind::Ndjson),
        "text/csv" => Ok(Kind::Csv),
        other => Err(ApiError::UnsupportedMedia(format!(
            "Content-Type '{other}' is not supported for batch lookups: send application/json, application/x-ndjson or text/csv"
        ))),
    }
}

/// Splits a byte stream into records: lines, or the elements of a top-level JSON array.
#[derive(Debug, Default)]
pub(super) struct Splitter {
    pub(super) buf: Vec<u8>,
    /// JSON array state: started, depth, in string, escaped, finished.
    started: bool,
    depth: usize,
    in_str: bool,
    esc: bool,
    pub(super) done: bool,
    scan_from: usize,
    elem_start: usize,
}

/// Longest accepted record (one CSV/NDJSON line or JSON array element),
/// bytes: a point with an id is well under 1 KiB; a longer record is an error
/// rather than a buffer that grows with whatever the client sends.
pub(super) const MAX_RECORD_BYTES: usize = 64 << 10;

pub(super) fn record_too_long() -> String {
    format!(
        "a point record is longer than {} KiB: send one point per line (or array element) with a short id",
        MAX_RECORD_BYTES >> 10
    )
}

impl Splitter {
    /// Appends bytes and returns complete lines (without the newline).
    pub(super) fn lines(&mut self, chunk: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), String> {
        self.buf.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(pos) = self.buf[start..].iter().position(|&b| b == b'\n') {
            if pos > MAX_RECORD_BYTES {
                return Err(record_too_long());
            }
            out.push(self.buf[start..start + pos].to_vec());
            start += pos + 1;
        }
        self.buf.drain(..start);
        if self.buf.len() > MAX_RECORD_BYTES {
            return Err(record_too_long());
        }
        Ok(())
    }

    /// The unterminated last line, at the end of the stream.
    pub(super) fn rest(&mut self) -> Option<Vec<u8>> {
        let rest = std::mem::take(&mut self.buf);
        (!rest.iter().all(|b| b.is_ascii_whitespace())).then_some(rest)
    }

    /// Appends bytes and returns complete top-level array elements.
    pub(super) fn elements(&mut self, chunk: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), String> {
        self.buf.extend_from_slice(chunk);
        let mut i = self.scan_from;
        while i < self.buf.len() {
            let b = self.buf[i];
            if self.done {
                if !b.is_ascii_whitespace() {
                    return Err("unexpected content after the closing ']'".into());
                }
            } else if !self.started {
                if b == b'[' {
                    self.started = true;
                    self.depth = 1;
                    self.elem_start = i + 1;
                } else if !b.is_ascii_whitespace() && b != 0xEF && b != 0xBB && b != 0xBF {
                    return Err(
                        "a JSON batch must be an array: [{\"lon\": 116.4, \"lat\": 39.9}, ...]"
                            .into(),
                    );
                }
            } else if self.in_str {
                if self.esc {
                    self.esc = false;
                } else if b == b'\\' {
                    self.esc = true;
                } else if b == b'"' {
                    self.in_str = false;
                }
            } else {
                match b {
                    b'"' => self.in_str = true,
                    b'[' | b'{' => self.depth += 1,
                    b']' | b'}' => {
                        self.depth = self.depth.checked_sub(1).ok_or("unbalanced brackets")?;
                        if self.depth == 0 {
                            let elem = &self.buf[self.elem_start..i];
                            if elem.len() > MAX_RECORD_BYTES {
                                return Err(record_too_long());
                            }
                            if !elem.iter().all(|c| c.is_ascii_whitespace()) {
                                out.push(elem.to_vec());
                            }
                            self.done = true;
                        }
                    }
                    b',' if self.depth == 1 => {
                        if i - self.elem_start > MAX_RECORD_BYTES {
                            return Err(record_too_long());
                        }
                        out.push(self.buf[self.elem_start..i].to_vec());
                        self.elem_start = i + 1;
                    }
                    _ => {}
                }
            }
            i += 1;
        }
        // Drop consumed bytes, keeping the element in progress.
        let keep_from = if self.started && !self.done {
            self.elem_start
        } else {
            i
        };
        self.buf.drain(..keep_from);
        self.elem_start -= keep_from.min(self.elem_start);
        self.scan_from = i - keep_from;
        if self.buf.len() > MAX_RECORD_BYTES {
            return Err(record_too_long());
        }
        Ok(())
    }
}

/// Reads a batch body record by record: one place that counts bytes against
/// the limit, splits records and tells a broken body from a finished one.
pub(super) struct BodyReader {
    stream: axum::body::BodyDataStream,
    splitter: Splitter,
    kind: Kind,
    received: u64,
    limit: u64,
    ended: bool,
}

impl BodyReader {
    /// Reads `stream`, a body of `kind`, refusing more than `limit` bytes.
    pub(super) fn new(stream: axum::body::BodyDataStream, kind: Kind, limit: u64) -> Self {
        BodyReader {
            stream,
            splitter: Splitter::default(),
            kind,
            received: 0,
            limit,
            ended: false,
        }
    }

    /// Reads one more chunk of the body into `out` (complete records only).
    /// `Ok(false)` once the body has ended (the last records are in `out`).
    pub(super) async fn read(&mut self, out: &mut Vec<Vec<u8>>) -> Result<bool, ApiError> {
        if self.ended {
            return Ok(false);
        }
        match self.stream.next().await {
            Some(Ok(chunk)) => {
                self.received += chunk.len() as u64;
                if self.received > self.limit {
                    return Err(ApiError::TooLarge(format!(
                        "the batch exceeds the limit of {} bytes: split it into smaller batches; the points after this were not looked up",
                        self.limit
                    )));
                }
                match self.kind {
                    Kind::Json => self
                        .splitter
                        .elements(&chunk, out)
                        .map_err(|m| ApiError::bad("malformed_json", m))?,
                    _ => self
                        .splitter
                        .lines(&chunk, out)
                        .map_err(|m| ApiError::bad("malformed_batch", m))?,
                }
                Ok(true)
            }
            Some(Err(e)) => Err(ApiError::bad(
                "bad_body",
                format!("the request body broke off: {e}"),
            )),
            None => {
                self.ended = true;
                if self.kind != Kind::Json {
                    out.extend(self.splitter.rest());
                } else if !self.splitter.done {
                    return Err(ApiError::bad(
                        "malformed_json",
                        "the JSON batch ended before its closing ']': send a complete array",
                    ));
                }
                Ok(false)
            }
        }
    }
}
