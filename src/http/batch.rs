//! `POST /lookup`: batches of points in JSON, NDJSON or CSV, streamed both
//! ways: the body is read record by record and answers are written as soon
//! as a block of points is looked up, so a million points never sit in memory.
//!
//! - `application/json`: an array of `{"lon":..,"lat":..,"id":..}` objects or
//!   `[lon, lat]` pairs → an array of answers.
//! - `application/x-ndjson`: one such object per line → one answer per line.
//! - `text/csv`: a header with `lon`/`lat` (or `x`/`y`) and optional `id` →
//!   CSV with one row per point.
//!
//! A malformed start (not an array, a CSV without coordinate columns) is a
//! 400 before any answer. A bad point later on gets an error entry in its
//! place (`"error"` member or CSV column), and the batch continues. Bodies
//! larger than the limit are refused with 413 when they declare their length,
//! or cut off with a final error entry when they do not.

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use geo::Coord;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::lookup::{parse_crs, to_wgs84};
use super::{ApiError, AppState, parse_query};
use crate::crs::Crs;
use crate::index::Snapshot;
use crate::lookup::{Answer, lookup, table};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchParams {
    crs: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Json,
    Ndjson,
    Csv,
}

fn kind(headers: &HeaderMap) -> Result<Kind, ApiError> {
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
struct Splitter {
    buf: Vec<u8>,
    /// JSON array state: started, depth, in string, escaped, finished.
    started: bool,
    depth: usize,
    in_str: bool,
    esc: bool,
    done: bool,
    scan_from: usize,
    elem_start: usize,
}

/// Longest accepted record (one CSV/NDJSON line or JSON array element),
/// bytes: a point with an id is well under 1 KiB; a longer record is an error
/// rather than a buffer that grows with whatever the client sends.
const MAX_RECORD_BYTES: usize = 64 << 10;

fn record_too_long() -> String {
    format!(
        "a point record is longer than {} KiB: send one point per line (or array element) with a short id",
        MAX_RECORD_BYTES >> 10
    )
}

impl Splitter {
    /// Appends bytes and returns complete lines (without the newline).
    fn lines(&mut self, chunk: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), String> {
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
    fn rest(&mut self) -> Option<Vec<u8>> {
        let rest = std::mem::take(&mut self.buf);
        (!rest.iter().all(|b| b.is_ascii_whitespace())).then_some(rest)
    }

    /// Appends bytes and returns complete top-level array elements.
    fn elements(&mut self, chunk: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), String> {
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

/// One input point: coordinates and an optional caller id echoed back.
#[derive(Debug)]
struct Item {
    id: Option<serde_json::Value>,
    point: Result<Coord<f64>, ApiError>,
}

fn json_number(name: &str, v: Option<serde_json::Value>) -> Result<f64, ApiError> {
    match v {
        Some(serde_json::Value::Number(n)) => n
            .as_f64()
            .ok_or_else(|| ApiError::bad("bad_coordinate", format!("{name} is not a number"))),
        Some(serde_json::Value::String(s)) => super::parse_number(name, Some(&s)),
        Some(other) => Err(ApiError::bad(
            "bad_coordinate",
            format!("{name} = {other} is not a number"),
        )),
        None => Err(ApiError::bad(
            "missing_coordinate",
            format!("the point has no '{name}'"),
        )),
    }
}

const POINT_FORMS: &str = r#"write {"lon": 116.4, "lat": 39.9, "id": "a"} or [116.4, 39.9]"#;

fn parse_json_item(bytes: &[u8], crs: &Crs) -> Item {
    use serde_json::Value;
    let bad = |code, message: String| Item {
        id: None,
        point: Err(ApiError::bad(code, message)),
    };
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Array(v)) if v.len() == 2 => Item {
            id: None,
            point: to_point(
                json_number("lon", Some(v[0].clone())),
                json_number("lat", Some(v[1].clone())),
                crs,
            ),
        },
        Ok(Value::Array(v)) => bad(
            "bad_point",
            format!(
                "a point given as an array must be [lon, lat]; this one has {} members",
                v.len()
            ),
        ),
        Ok(Value::Object(mut o)) => {
            let id = o.remove("id");
            let point = match o.keys().find(|k| !matches!(k.as_str(), "lon" | "lat")) {
                Some(k) => Err(ApiError::bad(
                    "bad_point",
                    format!("unknown member '{k}' in a point: {POINT_FORMS}"),
                )),
                None => to_point(
                    json_number("lon", o.remove("lon")),
                    json_number("lat", o.remove("lat")),
                    crs,
                ),
            };
            Item { id, point }
        }
        Ok(other) => bad(
            "malformed_point",
            format!(
                "a point must be an object or a [lon, lat] pair, not {}: {POINT_FORMS}",
                match other {
                    Value::Null => "null",
                    Value::Bool(_) => "true/false",
                    Value::Number(_) => "a single number",
                    _ => "a string",
                }
            ),
        ),
        Err(e) => bad("malformed_point", format!("not JSON ({e}): {POINT_FORMS}")),
    }
}

fn to_point(
    lon: Result<f64, ApiError>,
    lat: Result<f64, ApiError>,
    crs: &Crs,
) -> Result<Coord<f64>, ApiError> {
    let (x, y) = (lon?, lat?);
    if !x.is_finite() || !y.is_finite() {
        return Err(ApiError::bad(
            "bad_coordinate",
            "coordinates must be finite numbers",
        ));
    }
    to_wgs84(crs, Coord { x, y })
}

/// CSV column positions, from the header.
#[derive(Debug, Clone)]
struct CsvColumns {
    lon: usize,
    lat: usize,
    id: Option<usize>,
}

fn csv_record(line: &[u8]) -> Result<csv::StringRecord, String> {
    // Fast path: no quoting, split on commas.
    if !line.contains(&b'"') {
        let text = std::str::from_utf8(line).map_err(|_| "the row is not UTF-8".to_string())?;
        return Ok(text
            .trim_end_matches('\r')
            .split(',')
            .collect::<Vec<_>>()
            .into());
    }
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(line);
    match rdr.records().next() {
        Some(Ok(r)) => Ok(r),
        Some(Err(e)) => Err(e.to_string()),
        None => Ok(csv::StringRecord::new()),
    }
}

fn csv_columns(header: &[u8]) -> Result<CsvColumns, ApiError> {
    let rec = csv_record(header)
        .map_err(|e| ApiError::bad("malformed_csv", format!("cannot read the CSV header: {e}")))?;
    let (lon, lat) = crate::io::lonlat_columns(rec.iter(), None, None);
    let id = rec.iter().position(|h| {
        h.trim()
            .trim_start_matches('\u{feff}')
            .eq_ignore_ascii_case("id")
    });
    match (lon, lat) {
        (Some(lon), Some(lat)) => Ok(CsvColumns { lon, lat, id }),
        _ => Err(ApiError::bad(
            "malformed_csv",
            format!(
                "the CSV header must name a longitude column ({}) and a latitude column ({}), e.g. 'id,lon,lat'",
                crate::io::X_NAMES.join(", "),
                crate::io::Y_NAMES.join(", ")
            ),
        )),
    }
}

fn parse_csv_item(line: &[u8], cols: &CsvColumns, crs: &Crs) -> Item {
    let rec = match csv_record(line) {
        Ok(r) => r,
        Err(e) => {
            return Item {
                id: None,
                point: Err(ApiError::bad(
                    "malformed_csv",
                    format!("malformed CSV row: {e}"),
                )),
            };
        }
    };
    let id = cols
        .id
        .and_then(|i| rec.get(i))
        .map(|s| serde_json::Value::String(s.to_string()));
    let num = |i: usize, name: &str| super::parse_number(name, rec.get(i));
    Item {
        id,
        point: to_point(num(cols.lon, "lon"), num(cols.lat, "lat"), crs),
    }
}

/// Appends one CSV field, quoted only when it must be.
/// Serializes one answer (or error) for the output format.
fn write_item(
    out: &mut Vec<u8>,
    kind: Kind,
    first: &mut bool,
    item: &Item,
    answer: Option<&Answer<'_>>,
    levels: usize,
) {
    match kind {
        Kind::Json | Kind::Ndjson => {
            if kind == Kind::Json && !*first {
                out.push(b',');
            }
            let mut v = match (answer, &item.point) {
                (Some(a), _) => serde_json::to_value(a).unwrap_or_default(),
                (None, Err(e)) => e.body(),
                (None, Ok(_)) => serde_json::Value::Null,
            };
            if let (Some(id), Some(obj)) = (&item.id, v.as_object_mut()) {
                obj.insert("id".into(), id.clone());
            }
            let _ = serde_json::to_writer(&mut *out, &v);
            if kind == Kind::Ndjson {
                out.push(b'\n');
            }
        }
        Kind::Csv => {
            let id = item.id.as_ref().and_then(|v| v.as_str()).unwrap_or("");
            match (answer, &item.point) {
                (Some(a), _) => table::row(out, id, Ok(a), levels),
                (None, Err(e)) => table::row(out, id, Err(&e.to_string()), levels),
                (None, Ok(_)) => {}
            }
        }
    }
    *first = false;
}

/// Looks up a block of items and serializes the answers.
/// Looks up a block of items and serializes the answers, in input order.
/// Large blocks are split over all cores.
fn answer_block(snap: &Snapshot, kind: Kind, items: &[Item], first: &mut bool) -> Bytes {
    use rayon::prelude::*;
    let levels = snap.data().scheme.depth();
    let serialize = |chunk: &[Item], mut first: bool| {
        let mut out = Vec::with_capacity(chunk.len() * 200);
        for item in chunk {
            let answer = item.point.as_ref().ok().map(|p| lookup(snap, *p));
            write_item(&mut out, kind, &mut first, item, answer.as_ref(), levels);
        }
        out
    };
    let leading = *first;
    *first = items.is_empty() && leading;
    if items.len() < 1024 {
        return Bytes::from(serialize(items, leading));
    }
    let parts: Vec<Vec<u8>> = items
        .par_chunks(512)
        .enumerate()
        .map(|(i, chunk)| serialize(chunk, leading && i == 0))
        .collect();
    Bytes::from(parts.concat())
}

/// Reads a batch body record by record: one place that counts bytes against
/// the limit, splits records and tells a broken body from a finished one.
struct BodyReader {
    stream: axum::body::BodyDataStream,
    splitter: Splitter,
    kind: Kind,
    received: u64,
    limit: u64,
    ended: bool,
}

impl BodyReader {
    /// Reads one more chunk of the body into `out` (complete records only).
    /// `Ok(false)` once the body has ended (the last records are in `out`).
    async fn read(&mut self, out: &mut Vec<Vec<u8>>) -> Result<bool, ApiError> {
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

/// Points parsed from one read, handed to the answer stream in blocks of at
/// most this many.
const BLOCK_POINTS: usize = 4096;

pub(super) async fn post_lookup(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
    request: Request,
) -> Result<Response, ApiError> {
    let params: BatchParams = parse_query(q.as_deref())?;
    let crs = parse_crs(params.crs.as_deref(), &state.limits)?;
    let kind = kind(request.headers())?;
    let limits = state.limits.clone();
    let limit = limits.max_batch_bytes;
    if let Some(len) = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit
    {
        return Err(ApiError::TooLarge(format!(
            "the batch is {len} bytes; the limit is {limit} bytes: split it into smaller batches"
        )));
    }
    let Ok(permit) = state.batches.clone().try_acquire_owned() else {
        state.metrics.batch_rejected();
        return Err(ApiError::Unavailable {
            code: "too_many_batches",
            message: format!(
                "{} batch lookups are being answered, the server's limit: retry in a few seconds",
                limits.max_concurrent_batches
            ),
        });
    };
    let snap = state.snapshot();
    let mut body = BodyReader {
        stream: request.into_body().into_data_stream(),
        splitter: Splitter::default(),
        kind,
        received: 0,
        limit,
        ended: false,
    };
    let mut records: Vec<Vec<u8>> = Vec::new();

    // Read until the first record (or the end) so a malformed start is a 400.
    let mut csv_cols: Option<CsvColumns> = None;
    loop {
        let more = body.read(&mut records).await?;
        if kind == Kind::Csv && csv_cols.is_none() && !records.is_empty() {
            let header = records.remove(0);
            csv_cols = Some(csv_columns(&header)?);
        }
        if !records.is_empty() || !more {
            break;
        }
    }
    if kind == Kind::Csv && csv_cols.is_none() {
        return Err(ApiError::bad(
            "malformed_csv",
            "the CSV body is empty: send a header line 'id,lon,lat' and rows",
        ));
    }
    if kind == Kind::Ndjson
        && let Some(first) = records
            .iter()
            .find(|r| !r.iter().all(u8::is_ascii_whitespace))
        && serde_json::from_slice::<serde_json::Value>(first).is_err()
    {
        return Err(ApiError::bad(
            "malformed_json",
            "the first line is not JSON: send one {\"lon\":..,\"lat\":..} object per line",
        ));
    }

    let content_type = match kind {
        Kind::Json => "application/json",
        Kind::Ndjson => "application/x-ndjson",
        Kind::Csv => "text/csv; charset=utf-8",
    };
    // The reader parses the body while the answer stream looks points up as
    // the client reads. Between them at most `batch_buffer_points` parsed
    // points wait: a client that stops reading stops the reader too (TCP
    // pushes back on its upload). A client that sends its whole body before
    // reading (Python's http.client, many HTTP libraries) gets its answers
    // as long as the rest of its body fits in that buffer; beyond it, after
    // `batch_stall` without a read, the batch ends with an error entry that
    // says so, instead of buffering without bound.
    let budget = std::sync::Arc::new(tokio::sync::Semaphore::new(
        limits.batch_buffer_points.max(BLOCK_POINTS),
    ));
    let (tx, rx) = mpsc::unbounded_channel::<Block>();
    let failure: Failure = Default::default();
    let points = std::sync::Arc::new(crate::metrics::PointCount::default());
    state.metrics.batch_started();
    let guard = std::sync::Arc::new(BatchGuard {
        metrics: state.metrics.clone(),
        points: points.clone(),
        _permit: permit,
    });
    let reader_failure = failure.clone();
    let reader_guard = guard.clone();
    tokio::spawn(async move {
        let _guard = reader_guard;
        let parse = |rec: &[u8]| -> Option<Item> {
            if rec.iter().all(u8::is_ascii_whitespace) {
                return None;
            }
            Some(match (kind, &csv_cols) {
                (Kind::Csv, Some(cols)) => parse_csv_item(rec, cols, &crs),
                _ => parse_json_item(rec, &crs),
            })
        };
        loop {
            for chunk in records.chunks(BLOCK_POINTS) {
                let block: Vec<Item> = chunk.iter().filter_map(|r| parse(r)).collect();
                if block.is_empty() {
                    continue;
                }
                let n = block.len();
                let room = budget.clone().acquire_many_owned(n as u32);
                match tokio::time::timeout(limits.batch_stall, room).await {
                    Ok(Ok(permit)) => {
                        if tx.send((block, permit)).is_err() {
                            // The client went away.
                            return;
                        }
                        points.add(n as u64);
                    }
                    Ok(Err(_)) => return,
                    Err(_) => {
                        *reader_failure.lock().expect("unpoisoned") = Some(ApiError::TooLarge(
                            format!(
                                "the client did not read the answers for {} s while it sent more than {} points: read the answers while sending, or send batches of at most {} points; the points after this were not looked up",
                                limits.batch_stall.as_secs(),
                                limits.batch_buffer_points,
                                limits.batch_buffer_points
                            ),
                        ));
                        return;
                    }
                }
            }
            records.clear();
            match body.read(&mut records).await {
                Ok(true) => {}
                Ok(false) if records.is_empty() => return,
                Ok(false) => {}
                Err(e) => {
                    let items: Vec<Item> = records.drain(..).filter_map(|r| parse(&r)).collect();
                    if !items.is_empty()
                        && let Ok(permit) =
                            budget.clone().try_acquire_many_owned(items.len() as u32)
                    {
                        // Without room, the last complete points are dropped:
                        // the error entry says where the answers stop.
                        let _ = tx.send((items, permit));
                    }
                    *reader_failure.lock().expect("unpoisoned") = Some(e);
                    return;
                }
            }
        }
    });
    let body = Body::from_stream(answers(snap, kind, rx, failure, guard));
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

/// Parsed points on their way to the answer stream, with their share of the
/// batch's buffer budget (returned when they are answered).
type Block = (Vec<Item>, tokio::sync::OwnedSemaphorePermit);

/// Where the body reader leaves the error that ended a batch early.
type Failure = std::sync::Arc<std::sync::Mutex<Option<ApiError>>>;

/// Held by a batch's reader and its answer stream: the batch counts against
/// the concurrent cap, and is recorded in the metrics, until both are done.
struct BatchGuard {
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    points: std::sync::Arc<crate::metrics::PointCount>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for BatchGuard {
    fn drop(&mut self) {
        self.metrics.batch_ended(self.points.get());
    }
}

/// The response body: opening, one block of answers per block of points
/// (computed when the client reads), then the closing (and a final error entry
/// if the body failed).
fn answers(
    snap: std::sync::Arc<Snapshot>,
    kind: Kind,
    rx: mpsc::UnboundedReceiver<Block>,
    failure: Failure,
    guard: std::sync::Arc<BatchGuard>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    let opening = match kind {
        Kind::Json => Bytes::from_static(b"["),
        Kind::Csv => Bytes::from(table::header(&snap.data().scheme)),
        Kind::Ndjson => Bytes::new(),
    };
    let state = (snap, rx, true, false, guard);
    futures::stream::once(async move { Ok(opening) })
        .chain(futures::stream::unfold(
            state,
            move |(snap, mut rx, mut first, done, guard)| {
                let failure = failure.clone();
                async move {
                    if done {
                        return None;
                    }
                    let levels = snap.data().scheme.depth();
                    let (out, done) = match rx.recv().await {
                        Some((items, _room)) => {
                            (answer_block(&snap, kind, &items, &mut first), false)
                        }
                        None => {
                            let mut tail = Vec::new();
                            if let Some(e) = failure.lock().expect("unpoisoned").take() {
                                write_item(
                                    &mut tail,
                                    kind,
                                    &mut first,
                                    &Item {
                                        id: None,
                                        point: Err(e),
                                    },
                                    None,
                                    levels,
                                );
                            }
                            if kind == Kind::Json {
                                tail.push(b']');
                            }
                            (Bytes::from(tail), true)
                        }
                    };
                    Some((Ok(out), (snap, rx, first, done, guard)))
                }
            },
        ))
        // Fused: a reader that polls again after the end (the response
        // compressor does) gets the end again instead of a panic.
        .fuse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_answer_stream_can_be_polled_after_its_end() {
        // Response compressors poll a body again after its end.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample");
        let (_, snap) = crate::store::open_snapshot(&dir, |_| {}).unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        drop(tx);
        let guard = std::sync::Arc::new(BatchGuard {
            metrics: Default::default(),
            points: Default::default(),
            _permit: std::sync::Arc::new(tokio::sync::Semaphore::new(1))
                .try_acquire_owned()
                .unwrap(),
        });
        let mut s = std::pin::pin!(answers(
            std::sync::Arc::new(snap),
            Kind::Json,
            rx,
            Default::default(),
            guard
        ));
        let mut all = Vec::new();
        while let Some(b) = s.next().await {
            all.extend_from_slice(&b.unwrap());
        }
        assert_eq!(all, b"[]");
        assert!(s.next().await.is_none());
        assert!(s.next().await.is_none());
    }

    #[test]
    fn splits_json_arrays_across_chunks() {
        let text = br#" [ {"lon": 1, "lat": 2, "id": "a,]"}, [3, 4] ,{"lon":5,"lat":6}] "#;
        for cut in 1..text.len() {
            let mut s = Splitter::default();
            let mut out = Vec::new();
            s.elements(&text[..cut], &mut out).unwrap();
            s.elements(&text[cut..], &mut out).unwrap();
            assert!(s.done);
            let parsed: Vec<serde_json::Value> = out
                .iter()
                .map(|e| serde_json::from_slice(e).unwrap())
                .collect();
            assert_eq!(parsed.len(), 3, "cut at {cut}");
            assert_eq!(parsed[0]["id"], "a,]");
            assert_eq!(parsed[1], serde_json::json!([3, 4]));
        }
        let mut s = Splitter::default();
        assert!(s.elements(b"{\"lon\":1}", &mut Vec::new()).is_err());
        let mut s = Splitter::default();
        assert!(s.elements(b"[1] x", &mut Vec::new()).is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;
        use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

        /// A deterministic runner: the same cases on every machine.
        fn runner(cases: u32) -> TestRunner {
            TestRunner::new_with_rng(
                Config {
                    cases,
                    failure_persistence: None,
                    ..Config::default()
                },
                TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
            )
        }

        /// Bytes that look like batch bodies: JSON/CSV punctuation, digits,
        /// quotes, escapes, newlines, and arbitrary bytes.
        fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
            prop::collection::vec(
                prop_oneof![
                    prop::sample::select(b"[]{},:\"\\\n\r 0123456789.-elonat".to_vec()),
                    any::<u8>(),
                ],
                0..400,
            )
        }

        #[test]
        fn the_json_splitter_never_panics_and_keeps_records_bounded() {
            runner(2000)
                .run(&(body_bytes(), 1usize..64), |(bytes, cut)| {
                    let mut s = Splitter::default();
                    let mut out = Vec::new();
                    for chunk in bytes.chunks(cut) {
                        if s.elements(chunk, &mut out).is_err() {
                            break;
                        }
                    }
                    prop_assert!(out.iter().all(|r| r.len() <= MAX_RECORD_BYTES));
                    prop_assert!(s.buf.len() <= MAX_RECORD_BYTES + cut);
                    Ok(())
                })
                .unwrap();
        }

        #[test]
        fn splitting_in_chunks_gives_the_records_of_splitting_whole() {
            let point = (-180.0f64..180.0, -90.0f64..90.0, "[a-z0-9,\\]\\[\"]{0,6}");
            runner(500)
                .run(
                    &(prop::collection::vec(point, 0..20), 1usize..40),
                    |(points, cut)| {
                        let body = serde_json::to_vec(
                            &points
                                .iter()
                                .map(|(x, y, id)| serde_json::json!({"lon": x, "lat": y, "id": id}))
                                .collect::<Vec<_>>(),
                        )
                        .unwrap();
                        let mut whole = Vec::new();
                        Splitter::default().elements(&body, &mut whole).unwrap();
                        let mut parts = Vec::new();
                        let mut s = Splitter::default();
                        for chunk in body.chunks(cut) {
                            s.elements(chunk, &mut parts).unwrap();
                        }
                        prop_assert_eq!(&whole, &parts);
                        prop_assert_eq!(whole.len(), points.len());
                        for (rec, (x, y, id)) in whole.iter().zip(&points) {
                            let item = parse_json_item(rec, &Crs::Wgs84);
                            let p = item.point.unwrap();
                            prop_assert_eq!((p.x, p.y), (*x, *y));
                            prop_assert_eq!(item.id, Some(serde_json::Value::String(id.clone())));
                        }
                        Ok(())
                    },
                )
                .unwrap();
        }

        #[test]
        fn point_and_csv_parsers_answer_every_input_with_a_point_or_an_error() {
            let cols = CsvColumns {
                lon: 1,
                lat: 2,
                id: Some(0),
            };
            runner(3000)
                .run(&body_bytes(), |bytes| {
                    let json = parse_json_item(&bytes, &Crs::Gcj02);
                    let csv = parse_csv_item(&bytes, &cols, &Crs::Bd09);
                    for item in [json, csv] {
                        if let Err(e) = &item.point {
                            let m = e.to_string();
                            prop_assert!(
                                !m.is_empty() && !m.contains("JsonPoint") && !m.contains("variant")
                            );
                        }
                    }
                    let mut lines = Vec::new();
                    let mut s = Splitter::default();
                    if s.lines(&bytes, &mut lines).is_ok() {
                        prop_assert!(lines.iter().all(|l| !l.contains(&b'\n')));
                    }
                    let _ = csv_columns(&bytes);
                    Ok(())
                })
                .unwrap();
        }

        #[test]
        fn an_endless_line_is_refused_once_it_passes_the_record_limit() {
            let mut s = Splitter::default();
            let mut out = Vec::new();
            let chunk = vec![b'1'; 8192];
            let mut refused = false;
            for _ in 0..20 {
                if s.lines(&chunk, &mut out).is_err() {
                    refused = true;
                    break;
                }
            }
            assert!(refused && out.is_empty() && s.buf.len() <= MAX_RECORD_BYTES + 8192);
        }
    }

    #[test]
    fn a_waiting_point_takes_about_100_bytes() {
        // What `Limits::batch_buffer_points` costs in memory rests on this
        // (plus the id's text, when the client sends one).
        let size = std::mem::size_of::<Item>();
        assert!((64..=112).contains(&size), "an Item is {size} bytes");
    }

    #[test]
    fn splits_lines() {
        let mut s = Splitter::default();
        let mut out = Vec::new();
        s.lines(b"a\nbb", &mut out).unwrap();
        s.lines(b"b\nc", &mut out).unwrap();
        assert_eq!(out, vec![b"a".to_vec(), b"bbb".to_vec()]);
        assert_eq!(s.rest(), Some(b"c".to_vec()));
    }
}
