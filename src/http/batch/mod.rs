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
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::lookup::parse_crs;
use super::{ApiError, AppState, parse_query};
use crate::query::table;
use crate::snapshot::Snapshot;

mod output;
mod points;
mod records;

use output::{answer_block, write_item};
use points::{CsvColumns, Item, csv_columns, parse_csv_item, parse_json_item};
use records::{BodyReader, Kind, kind};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchParams {
    crs: Option<String>,
    at: Option<String>,
    revision: Option<String>,
}

/// Points parsed from one read, handed to the answer stream in blocks of at
/// most this many.
const BLOCK_POINTS: usize = 4096;

pub(super) async fn post_lookup(
    State(state): State<AppState>,
    reader: super::access::Reader,
    RawQuery(q): RawQuery,
    request: Request,
) -> Result<Response, ApiError> {
    let params: BatchParams = parse_query(q.as_deref())?;
    let crs = parse_crs(params.crs.as_deref(), &state.limits)?;
    let selector =
        crate::query::Selector::parse(params.revision.as_deref(), params.at.as_deref(), "at")?;
    let snap = super::editing::snapshot_for(&state, selector).await?;
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
    let mut body = BodyReader::new(request.into_body().into_data_stream(), kind, limit);
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
    let body = Body::from_stream(answers(snap, reader.scope, kind, rx, failure, guard));
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
    scope: std::sync::Arc<crate::query::Scope>,
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
    let state = (snap, scope, rx, true, false, guard);
    futures::stream::once(async move { Ok(opening) })
        .chain(futures::stream::unfold(
            state,
            move |(snap, scope, mut rx, mut first, done, guard)| {
                let failure = failure.clone();
                async move {
                    if done {
                        return None;
                    }
                    let levels = snap.data().scheme.depth();
                    let (out, done) = match rx.recv().await {
                        Some((items, _room)) => {
                            let seen = crate::query::Scoped::new(&snap, &scope);
                            (answer_block(&seen, kind, &items, &mut first), false)
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
                    Some((Ok(out), (snap, scope, rx, first, done, guard)))
                }
            },
        ))
        // Fused: a reader that polls again after the end (the response
        // compressor does) gets the end again instead of a panic.
        .fuse()
}

#[cfg(test)]
mod tests {
    use super::records::{MAX_RECORD_BYTES, Splitter};
    use super::*;
    use crate::crs::Crs;

    #[tokio::test]
    async fn the_answer_stream_can_be_polled_after_its_end() {
        // Response compressors poll a body again after its end.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample");
        let (_, snap) = crate::datadir::open_snapshot(&dir, |_| {}).unwrap();
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
            std::sync::Arc::new(crate::query::Scope::EVERYTHING),
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
