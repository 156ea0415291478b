//! The record: `/revisions` (list, one with its grid versions, revert),
//! `/grids/{code}/history`, `/audit` and the change feed `/changes`
//! (server-sent events, resumable with `Last-Event-ID`).

use std::convert::Infallible;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::tiles::tile_ranges;

use super::access::Reader;
use super::drafts::command;
use super::editing::{Change, admin, blocking, editing, planner, revision_made};
use super::{ApiError, AppState, parse_query};
use crate::edit;

/// Most revisions or audit entries listed at once.
const MAX_LIST: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    limit: Option<String>,
}

fn limit(p: &ListParams) -> Result<usize, ApiError> {
    super::queries::parse_count("limit", p.limit.as_deref(), 100, MAX_LIST)
}

fn revision_number(text: &str) -> Result<u64, ApiError> {
    text.parse::<u64>().ok().filter(|&n| n >= 1).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no revision '{text}': revisions are numbered from 1"
        ))
    })
}

/// `GET /revisions`: newest first.
pub(super) async fn list(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p: ListParams = parse_query(q.as_deref())?;
    let n = limit(&p)?;
    let store = editing(&state)?.store().clone();
    let revisions = blocking(move || Ok(store.revisions(n)?)).await?;
    Ok(Json(
        json!({ "served": state.snapshot().revision(), "revisions": revisions }),
    ))
}

/// `GET /revisions/{n}`: one revision and the grid versions it recorded
/// (the diff against its parent).
pub(super) async fn one(
    State(state): State<AppState>,
    reader: Reader,
    Path(n): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let n = revision_number(&n)?;
    let store = editing(&state)?.store().clone();
    let (info, mut versions) = blocking(move || {
        let info = store.revision(n)?;
        let versions = store.changes(info.parent.unwrap_or(0), n)?;
        Ok((info, versions))
    })
    .await?;
    reader.scope.mask_versions(&mut versions);
    Ok(Json(json!({ "revision": info, "grids": versions })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiffParams {
    from: Option<String>,
    to: Option<String>,
}

/// `GET /revisions/diff?from=A&to=B`: the grid versions recorded after A up to B.
pub(super) async fn diff(
    State(state): State<AppState>,
    reader: Reader,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p: DiffParams = parse_query(q.as_deref())?;
    let (Some(from), Some(to)) = (p.from.as_deref(), p.to.as_deref()) else {
        return Err(ApiError::bad(
            "missing_parameter",
            "parameters 'from' and 'to' (revision numbers) are required",
        ));
    };
    let from = from.parse::<u64>().map_err(|_| {
        ApiError::bad(
            "bad_parameter",
            format!("parameter 'from' = '{from}' must be a revision number"),
        )
    })?;
    let to = revision_number(to)?;
    if from >= to {
        return Err(ApiError::bad(
            "bad_parameter",
            "'from' must be an older revision than 'to'",
        ));
    }
    let store = editing(&state)?.store().clone();
    let mut versions = blocking(move || {
        store.revision(to)?;
        Ok(store.changes(from, to)?)
    })
    .await?;
    reader.scope.mask_versions(&mut versions);
    Ok(Json(json!({ "from": from, "to": to, "grids": versions })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevertRequest {
    message: Option<String>,
}

/// `POST /revisions/{n}/revert`: a new revision that puts every grid `n`
/// changed back as it was.
pub(super) async fn revert(
    State(state): State<AppState>,
    reader: Reader,
    Path(n): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let n = revision_number(&n)?;
    let action = format!("POST /revisions/{n}/revert");
    let caller = planner(&state, &reader, &action, "")?;
    let who = caller.audit_name();
    let req: RevertRequest = command(&body)?;
    let store = editing(&state)?.store().clone();
    let author = caller.name.clone();
    let result = blocking(move || {
        Ok(edit::revert(
            store.as_ref(),
            n,
            &author,
            req.message.as_deref().unwrap_or("").trim(),
        )?)
    })
    .await;
    revision_made(&state, &who, &action, &format!("revision {n}"), result).await
}

/// `GET /grids/{code}/history`: every version of a grid, oldest first,
/// with author, time and message.
pub(super) async fn history(
    State(state): State<AppState>,
    reader: Reader,
    Path(code): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let store = editing(&state)?.store().clone();
    let c = code.clone();
    let mut versions = blocking(move || {
        store.setup()?.scheme.level_of(&c)?;
        Ok(store.history(&c)?)
    })
    .await?;
    reader.scope.mask_versions(&mut versions);
    if versions.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no grid has ever had code {code}"
        )));
    }
    Ok(Json(json!({ "code": code, "versions": versions })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditParams {
    limit: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    outcome: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

/// `GET /audit`: the audit log, newest first, filtered by `actor`,
/// `action`, `target` (parts), `outcome`, `since` and `until` (admins only).
pub(super) async fn audit_log(
    State(state): State<AppState>,
    reader: Reader,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    admin(&state, &reader, "GET /audit", "")?;
    let p: AuditParams = parse_query(q.as_deref())?;
    let n = super::queries::parse_count("limit", p.limit.as_deref(), 100, MAX_LIST)?;
    let filter = crate::store::AuditFilter::newest(n)
        .with(
            p.actor.as_deref(),
            p.action.as_deref(),
            p.target.as_deref(),
            p.outcome.as_deref(),
            p.since.as_deref(),
            p.until.as_deref(),
        )
        .map_err(|e| ApiError::bad("bad_parameter", format!("parameter {e}")))?;
    let store = editing(&state)?.store().clone();
    let entries = blocking(move || Ok(store.audit_log(&filter)?)).await?;
    Ok(Json(json!({ "entries": entries })))
}

fn event(c: &Change) -> Event {
    Event::default()
        .id(c.revision.revision.to_string())
        .event("revision")
        .data(serde_json::to_string(c).unwrap_or_default())
}

/// `GET /changes`: server-sent events, one `revision` event per new
/// revision served (id = the revision number), with the grids and tile
/// ranges it changed. With `Last-Event-ID: n` the revisions after `n` are
/// sent first.
pub(super) async fn changes(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let editing = editing(&state)?.clone();
    // Subscribe before reading the backlog, so that nothing falls between.
    let live = editing.subscribe();
    let after: Option<u64> = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let store = editing.store().clone();
    let backlog: Vec<Change> = match after {
        None => Vec::new(),
        Some(after) => {
            blocking(move || {
                let mut out = Vec::new();
                let mut revs = store.revisions(MAX_LIST)?;
                revs.retain(|r| r.revision > after);
                revs.reverse();
                for r in revs {
                    let versions = store.changes(r.parent.unwrap_or(0), r.revision)?;
                    let bbox = crate::edit::revision_box(store.as_ref(), &r, &versions)?;
                    let mut grids: Vec<String> = versions.into_iter().map(|v| v.code).collect();
                    grids.sort();
                    grids.dedup();
                    out.push(Change {
                        revision: r,
                        grids,
                        tiles: bbox.map(tile_ranges).unwrap_or_default(),
                        bbox,
                    });
                }
                Ok(out)
            })
            .await?
        }
    };
    let last_sent = backlog.last().map(|c| c.revision.revision).or(after);
    let stream = change_stream(backlog, last_sent, live);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// The backlog, then live changes newer than the last sent. A subscriber
/// that fell too far behind is ended: it reconnects with `Last-Event-ID`
/// and gets the backlog from the store.
fn change_stream(
    backlog: Vec<Change>,
    mut last: Option<u64>,
    live: tokio::sync::broadcast::Receiver<Change>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    use futures::StreamExt;
    let head = futures::stream::iter(backlog.into_iter().map(|c| Ok(event(&c))));
    let tail = futures::stream::unfold(live, |mut rx| async move {
        rx.recv().await.ok().map(|c| (c, rx))
    })
    .filter_map(move |c| {
        let fresh = last.is_none_or(|l| c.revision.revision > l);
        if fresh {
            last = Some(c.revision.revision);
        }
        futures::future::ready(fresh.then(|| Ok(event(&c))))
    });
    head.chain(tail)
}
