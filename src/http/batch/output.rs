//! Answers written as they are found: JSON array, NDJSON lines or CSV rows
//! (the columns of [`crate::query::table`]), a block of points at a time on
//! all cores.

use axum::body::Bytes;

use super::points::Item;
use super::records::Kind;
use crate::query::Scoped;
use crate::query::lookup::{Answer, lookup_as};
use crate::query::table;

/// Appends one CSV field, quoted only when it must be.
/// Serializes one answer (or error) for the output format.
pub(super) fn write_item(
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

/// Looks up a block of items for a reader and serializes the answers, in
/// input order. Large blocks are split over all cores.
pub(super) fn answer_block(s: &Scoped<'_>, kind: Kind, items: &[Item], first: &mut bool) -> Bytes {
    use rayon::prelude::*;
    let snap = s.snap;
    let levels = snap.data().scheme.depth();
    let serialize = |chunk: &[Item], mut first: bool| {
        let mut out = Vec::with_capacity(chunk.len() * 200);
        for item in chunk {
            let answer = item.point.as_ref().ok().map(|p| lookup_as(s, *p));
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
