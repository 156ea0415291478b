//! Planners' drafts: `/drafts` (open, list), `/drafts/{id}` (read,
//! discard), `/drafts/{id}/upload` (a file of changed grids),
//! `/drafts/{id}/validation`, `/drafts/{id}/impact` and
//! `/drafts/{id}/publish`. Feature-level edits are OGC API - Features
//! Part 4 under `/drafts/{id}/ogc` (see `draft_ogc`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::access::Reader;
use super::editing::{audit, audited, blocking, draft_reader, editing, planner, revision_made};
use super::{ApiError, AppState, BaseUrl, parse_query};
use crate::edit::upload::UploadFormat;
use crate::edit::{self, DraftState};
use crate::store::{DraftInfo, GridChange, Timestamp};

/// Largest JSON body of a draft command (not an upload), bytes.
const MAX_COMMAND_BYTES: usize = 64 << 10;
/// Largest uploaded file of changed grids, bytes.
pub const MAX_UPLOAD_BYTES: usize = 64 << 20;

/// Parses a small JSON command body (`{}` when empty).
pub(crate) fn command<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    if body.len() > MAX_COMMAND_BYTES {
        return Err(ApiError::TooLarge(format!(
            "the command is {} bytes; at most {MAX_COMMAND_BYTES} are accepted",
            body.len()
        )));
    }
    let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(text).map_err(|e| {
        ApiError::bad(
            "bad_body",
            format!("the body is not the JSON object expected: {e}"),
        )
    })
}

/// Parses a draft id from the path.
pub(crate) fn draft_id(text: &str) -> Result<u64, ApiError> {
    text.parse::<u64>().ok().filter(|&n| n >= 1).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no draft '{text}': draft ids are numbers (GET /drafts lists them)"
        ))
    })
}

fn draft_json(base: &str, d: &DraftInfo) -> Value {
    let id = d.id;
    json!({
        "id": id,
        "base": d.base,
        "scope": d.scope,
        "title": d.title,
        "author": d.author,
        "created_at": d.created_at,
        "state": d.state,
        "published": d.published,
        "links": [
            { "rel": "self", "href": format!("{base}/drafts/{id}") },
            { "rel": "ogc", "href": format!("{base}/drafts/{id}/ogc"), "title": "edit the draft with OGC API - Features Part 4" },
            { "rel": "validation", "href": format!("{base}/drafts/{id}/validation") },
            { "rel": "impact", "href": format!("{base}/drafts/{id}/impact") },
            { "rel": "publish", "href": format!("{base}/drafts/{id}/publish"), "method": "POST" },
        ]
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDraft {
    title: Option<String>,
    base: Option<u64>,
    scope: Option<String>,
}

/// `POST /drafts`: opens a draft on a revision (the newest by default),
/// of the whole city or of the grids inside one parent (`scope`).
pub(super) async fn create(
    State(state): State<AppState>,
    reader: Reader,
    BaseUrl(b): BaseUrl,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = planner(&state, &reader, "POST /drafts", "")?;
    let who = caller.audit_name();
    let req: NewDraft = command(&body)?;
    let store = editing(&state)?.store().clone();
    let author = caller.name.clone();
    let result = blocking(move || {
        let base = match req.base {
            Some(b) => b,
            None => edit::head_view(store.as_ref())?.revision,
        };
        if let Some(scope) = &req.scope {
            let setup = store.setup()?;
            setup.scheme.level_of(scope)?;
            let grids = store.grids(edit::planned(store.as_ref(), base)?)?;
            if !grids.iter().any(|g| &g.code == scope) {
                return Err(ApiError::bad(
                    "bad_scope",
                    format!("scope {scope}: revision {base} has no grid with this code"),
                ));
            }
        }
        let title = req.title.unwrap_or_default();
        Ok(store.create_draft(base, req.scope.as_deref(), title.trim(), &author)?)
    })
    .await;
    match result {
        Ok(d) => {
            audit(
                &state,
                &who,
                "POST /drafts",
                &format!("draft {}", d.id),
                "ok",
                &format!("on revision {}", d.base),
            );
            let mut r = (StatusCode::CREATED, Json(draft_json(&b, &d))).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("{b}/drafts/{}", d.id)) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            Ok(r)
        }
        Err(e) => {
            audit(&state, &who, "POST /drafts", "", "refused", &e.to_string());
            Err(e)
        }
    }
}

/// `GET /drafts`: every draft, newest first.
pub(super) async fn list(
    State(state): State<AppState>,
    reader: Reader,
    BaseUrl(b): BaseUrl,
) -> Result<Json<Value>, ApiError> {
    draft_reader(&state, &reader, "GET /drafts")?;
    let store = editing(&state)?.store().clone();
    let drafts = blocking(move || Ok(store.drafts()?)).await?;
    Ok(Json(json!({
        "drafts": drafts.iter().map(|d| draft_json(&b, d)).collect::<Vec<_>>()
    })))
}

/// `GET /drafts/{id}`: the draft and the grids it changes.
pub(super) async fn get(
    State(state): State<AppState>,
    reader: Reader,
    BaseUrl(b): BaseUrl,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    draft_reader(&state, &reader, &format!("GET /drafts/{id}"))?;
    let id = draft_id(&id)?;
    let store = editing(&state)?.store().clone();
    let (d, changes) = blocking(move || Ok((store.draft(id)?, store.draft_grids(id)?))).await?;
    let mut v = draft_json(&b, &d);
    v["changes"] = changes
        .iter()
        .map(|c| match &c.change {
            GridChange::Put(g) => {
                json!({ "code": g.code, "change": "put", "name": g.name, "etag": c.etag })
            }
            GridChange::Retire { code, .. } => {
                json!({ "code": code, "change": "retire", "etag": c.etag })
            }
        })
        .collect();
    Ok(Json(v))
}

/// `DELETE /drafts/{id}`: closes a draft without publishing it.
pub(super) async fn discard(
    State(state): State<AppState>,
    reader: Reader,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = draft_id(&id)?;
    let action = format!("DELETE /drafts/{id}");
    let caller = planner(&state, &reader, &action, "")?;
    let who = caller.audit_name();
    let store = editing(&state)?.store().clone();
    let r = blocking(move || Ok(store.discard_draft(id)?)).await;
    audited(&state, &who, &action, &format!("draft {id}"), &r, |_| {
        String::new()
    });
    r?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadParams {
    format: Option<String>,
    crs: Option<String>,
}

/// `POST /drafts/{id}/upload`: a file of changed grids (GeoJSON, NDJSON,
/// FlatGeobuf, GeoPackage or a zipped Shapefile; `format` or the media type
/// says which), read with the import's field and CRS handling; every grid
/// in it is put into the draft, or none when any has an error.
pub(super) async fn upload(
    State(state): State<AppState>,
    reader: Reader,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = draft_id(&id)?;
    let action = format!("POST /drafts/{id}/upload");
    let caller = planner(&state, &reader, &action, "")?;
    let who = caller.audit_name();
    let p: UploadParams = parse_query(q.as_deref())?;
    if body.len() > MAX_UPLOAD_BYTES {
        return Err(ApiError::TooLarge(format!(
            "the upload is {} bytes; at most {MAX_UPLOAD_BYTES} are accepted: upload the changed grids only",
            body.len()
        )));
    }
    let format = match p.format.as_deref() {
        Some(name) => UploadFormat::named(name).ok_or_else(|| {
            ApiError::bad(
                "bad_parameter",
                format!(
                    "parameter 'format' = '{name}' is not one of {}",
                    UploadFormat::NAMES
                ),
            )
        })?,
        None => UploadFormat::detect(
            headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(""),
            &body,
        ),
    };
    let crs = p
        .crs
        .as_deref()
        .map(|c| super::lookup::parse_crs(Some(c), &state.limits))
        .transpose()?;
    let store = editing(&state)?.store().clone();
    let result = blocking(move || {
        let setup = store.setup()?;
        let (grids, warnings) = edit::upload::read_upload(&body, format, crs, &setup)?;
        let n = grids.len();
        let codes: Vec<String> = grids.iter().map(|g| g.code.clone()).collect();
        let tags = edit::edit_draft(
            store.as_ref(),
            id,
            grids.into_iter().map(|g| (GridChange::Put(g), None)).collect(),
        )?;
        Ok(json!({
            "draft": id,
            "put": n,
            "grids": codes.iter().zip(tags).map(|(c, t)| json!({ "code": c, "etag": t })).collect::<Vec<_>>(),
            "warnings": warnings,
        }))
    })
    .await;
    audited(
        &state,
        &who,
        &action,
        &format!("draft {id}"),
        &result,
        |v| format!("{} grid(s) put", v["put"]),
    );
    Ok(Json(result?))
}

/// `GET /drafts/{id}/validation`: the problems the draft's changes make,
/// each with its geometry.
pub(super) async fn validation(
    State(state): State<AppState>,
    reader: Reader,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    draft_reader(&state, &reader, &format!("GET /drafts/{id}/validation"))?;
    let id = draft_id(&id)?;
    let store = editing(&state)?.store().clone();
    let problems = blocking(move || {
        let setup = store.setup()?;
        Ok(DraftState::read(store.as_ref(), id)?.validate(&setup))
    })
    .await?;
    let errors = problems
        .iter()
        .filter(|p| p.severity == crate::validate::Severity::Error)
        .count();
    let features: Vec<Value> = problems
        .iter()
        .map(|p| {
            let geometry = match (&p.geometry, p.location) {
                (Some(g), _) => serde_json::to_value(geojson::Geometry::new(geojson::Value::from(g))).unwrap_or(Value::Null),
                (None, Some([x, y])) => json!({ "type": "Point", "coordinates": [x, y] }),
                (None, None) => Value::Null,
            };
            json!({ "type": "Feature", "geometry": geometry, "properties": {
                "severity": p.severity, "kind": p.kind, "code": p.code, "area_m2": p.area_m2, "message": p.message, "location": p.location
            }})
        })
        .collect();
    Ok(Json(json!({
        "draft": id,
        "publishable": errors == 0,
        "errors": errors,
        "warnings": problems.len() - errors,
        "type": "FeatureCollection",
        "features": features,
    })))
}

/// `GET /drafts/{id}/impact`: what publishing would change, against the
/// city served now.
pub(super) async fn impact(
    State(state): State<AppState>,
    reader: Reader,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    draft_reader(&state, &reader, &format!("GET /drafts/{id}/impact"))?;
    let id = draft_id(&id)?;
    let store = editing(&state)?.store().clone();
    let snap = state.snapshot();
    let impact = blocking(move || {
        let draft = DraftState::read(store.as_ref(), id)?;
        Ok(edit::impact(&snap, &draft))
    })
    .await?;
    Ok(Json(serde_json::to_value(impact).unwrap_or_default()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishRequest {
    message: Option<String>,
    effective_at: Option<String>,
}

/// `POST /drafts/{id}/publish`: a new revision, effective now or at
/// `effective_at`; answered once it is served.
pub(super) async fn publish(
    State(state): State<AppState>,
    reader: Reader,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = draft_id(&id)?;
    let action = format!("POST /drafts/{id}/publish");
    let caller = planner(&state, &reader, &action, "")?;
    let who = caller.audit_name();
    let req: PublishRequest = command(&body)?;
    let message = req.message.unwrap_or_default();
    if message.trim().is_empty() {
        return Err(ApiError::bad(
            "missing_message",
            "a publish needs a message that says what changed and why: {\"message\": \"split 110101001 for the new estate\"}",
        ));
    }
    let effective_at = req
        .effective_at
        .as_deref()
        .map(|t| Timestamp::parse(t).map_err(|e| ApiError::bad("bad_effective_at", e.to_string())))
        .transpose()?;
    let store = editing(&state)?.store().clone();
    let author = caller.name.clone();
    let result = blocking(move || {
        Ok(edit::publish(
            store.as_ref(),
            id,
            &author,
            message.trim(),
            effective_at,
        )?)
    })
    .await;
    revision_made(&state, &who, &action, &format!("draft {id}"), result).await
}

#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
enum Operation {
    /// Split `code` by `line` ([[lon, lat], ...]); the right part becomes `new_code`.
    Split {
        code: String,
        line: Vec<[f64; 2]>,
        new_code: String,
    },
    /// Merge `codes` (siblings that touch) into the first.
    Merge { codes: Vec<String> },
    /// Move the border `codes` (two neighbours) share onto `line`
    /// ([[lon, lat], ...], from one end of the shared border to the other).
    #[serde(rename = "move_border")]
    MoveBorder {
        codes: [String; 2],
        line: Vec<[f64; 2]>,
    },
    /// Re-number the children of `parent` west→east, north→south.
    Renumber { parent: String },
}

/// `POST /drafts/{id}/operations`: a geometry operation on the draft's grids
/// (`{"op": "split", "code", "line", "new_code"}`, `{"op": "merge", "codes"}`,
/// `{"op": "move_border", "codes": [a, b], "line"}`, `{"op": "renumber",
/// "parent"}`); its changes go into the draft.
pub(super) async fn operation(
    State(state): State<AppState>,
    reader: Reader,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = draft_id(&id)?;
    let action = format!("POST /drafts/{id}/operations");
    let caller = planner(&state, &reader, &action, "")?;
    let who = caller.audit_name();
    let op: Operation = command(&body)?;
    let store = editing(&state)?.store().clone();
    let result = blocking(move || {
        let setup = store.setup()?;
        let draft = DraftState::read(store.as_ref(), id)?;
        let proposed = draft.proposed();
        let find = |code: &str| {
            proposed
                .iter()
                .find(|g| g.code == code)
                .ok_or_else(|| ApiError::NotFound(format!("draft {id} has no grid {code}")))
        };
        let (changes, mapping) = match &op {
            Operation::Split {
                code,
                line,
                new_code,
            } => {
                let line: Vec<geo::Coord<f64>> =
                    line.iter().map(|&[x, y]| geo::Coord { x, y }).collect();
                let g = find(code)?;
                (
                    edit::operations::split(&setup.scheme, g, &line, new_code, &proposed)?,
                    Vec::new(),
                )
            }
            Operation::Merge { codes } => {
                let grids = codes.iter().map(|c| find(c)).collect::<Result<Vec<_>, _>>()?;
                (edit::operations::merge(&setup.scheme, &grids)?, Vec::new())
            }
            Operation::MoveBorder { codes, line } => {
                let line: Vec<geo::Coord<f64>> =
                    line.iter().map(|&[x, y]| geo::Coord { x, y }).collect();
                (
                    edit::operations::move_border(find(&codes[0])?, find(&codes[1])?, &line)?,
                    Vec::new(),
                )
            }
            Operation::Renumber { parent } => {
                edit::operations::renumber(&setup.scheme, parent, &proposed)?
            }
        };
        let codes: Vec<String> = changes.iter().map(|c| c.code().to_string()).collect();
        let tags = edit::edit_draft(
            store.as_ref(),
            id,
            changes.into_iter().map(|c| (c, None)).collect(),
        )?;
        Ok(json!({
            "draft": id,
            "changed": codes.iter().zip(tags).map(|(c, t)| json!({ "code": c, "etag": t })).collect::<Vec<_>>(),
            "renumbered": mapping.iter().map(|(a, b)| json!({ "from": a, "to": b })).collect::<Vec<_>>(),
        }))
    })
    .await;
    audited(
        &state,
        &who,
        &action,
        &format!("draft {id}"),
        &result,
        |_| String::new(),
    );
    Ok(Json(result?))
}
