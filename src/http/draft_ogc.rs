//! Each draft as its own OGC API - Features landing page, with Part 4
//! (Create, Replace, Update, Delete) on its grid levels:
//! `/drafts/{id}/ogc/collections/{level}/items[/{code}]`. Every feature has
//! an `ETag`; `PUT`, `PATCH` and `DELETE` with `If-Match` are refused with
//! 412 when the grid changed since the client read it, so that two planners
//! never silently overwrite each other. A desktop GIS that speaks Part 4
//! edits the draft directly.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use geo::{BoundingRect, Intersects};
use serde::Deserialize;
use serde_json::{Value, json};

use super::access::Reader;
use super::drafts::{MAX_UPLOAD_BYTES, draft_id};
use super::editing::{audit, audited, blocking, draft_reader, editing, planner};
use super::{ApiError, AppState, BaseUrl, parse_query};
use crate::edit::{self, DraftState};
use crate::model::Grid;
use crate::store::{GridChange, Setup};

const GEOJSON: &str = "application/geo+json";

/// A JSON answer with a status (the OGC endpoints' one form, with a status).
fn json_response(status: StatusCode, media: &'static str, v: Value) -> Response {
    let mut r = super::ogc::json_response(media, v);
    *r.status_mut() = status;
    r
}

fn with_etag(mut r: Response, etag: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

/// The level of a collection id (a level name).
fn level_of(setup: &Setup, cid: &str) -> Result<usize, ApiError> {
    setup.scheme.level_index(cid).ok_or_else(|| {
        let ids: Vec<&str> = setup
            .scheme
            .levels
            .iter()
            .map(|l| l.name.as_str())
            .collect();
        ApiError::NotFound(format!(
            "no collection '{cid}' in a draft: its collections are the grid levels {}",
            ids.join(", ")
        ))
    })
}

/// A grid as a draft's feature.
fn feature(b: &str, id: u64, setup: &Setup, g: &Grid) -> Value {
    let mut f =
        crate::query::features::grid_json(&setup.scheme, g, &crate::query::Scope::EVERYTHING);
    let level = &setup.scheme.levels[g.level].name;
    f["links"] = json!([{ "rel": "self", "type": GEOJSON, "href": format!("{b}/drafts/{id}/ogc/collections/{level}/items/{}", g.code) }]);
    f
}

/// Reads a GeoJSON Feature sent to a collection into a grid of `level`.
/// `code` comes from the path for PUT/PATCH (the body's, if any, must agree);
/// `old` is the grid a PATCH updates.
fn grid_from_feature(
    body: &Bytes,
    level: usize,
    code: Option<&str>,
    old: Option<&Grid>,
) -> Result<Grid, ApiError> {
    if body.len() > MAX_UPLOAD_BYTES {
        return Err(ApiError::TooLarge(format!(
            "the feature is {} bytes; at most {MAX_UPLOAD_BYTES} are accepted",
            body.len()
        )));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad(
            "bad_feature",
            format!("the body is not JSON: {e}; send a GeoJSON Feature"),
        )
    })?;
    if v.get("type").and_then(Value::as_str) != Some("Feature") {
        return Err(ApiError::bad(
            "bad_feature",
            "the body must be one GeoJSON Feature ({\"type\": \"Feature\", \"geometry\": ..., \"properties\": {\"code\": ..., \"name\": ...}})",
        ));
    }
    let props = v.get("properties").and_then(Value::as_object);
    let prop = |k: &str| props.and_then(|p| p.get(k));
    let text = |k: &str| prop(k).and_then(Value::as_str).map(str::to_string);
    let body_code =
        text("code").or_else(|| v.get("id").and_then(Value::as_str).map(str::to_string));
    let code = match (code, body_code) {
        (Some(path), Some(b)) if path != b => {
            return Err(ApiError::bad(
                "bad_feature",
                format!(
                    "the feature's code {b} differs from the {path} in the URL: a grid's code cannot be changed (retire it and create the new code)"
                ),
            ));
        }
        (Some(path), _) => path.to_string(),
        (None, Some(b)) => b,
        (None, None) => {
            return Err(ApiError::bad(
                "bad_feature",
                "the feature needs a code: properties.code",
            ));
        }
    };
    let geometry = match v.get("geometry") {
        Some(Value::Null) | None => match old {
            Some(o) => o.geometry.clone(),
            None => {
                return Err(ApiError::bad(
                    "bad_feature",
                    format!("grid {code} needs a polygon geometry"),
                ));
            }
        },
        Some(g) => {
            let g: geojson::Geometry = serde_json::from_value(g.clone()).map_err(|e| {
                ApiError::bad("bad_feature", format!("the geometry is not GeoJSON: {e}"))
            })?;
            let g: geo::Geometry<f64> = g.try_into().map_err(|e: geojson::Error| {
                ApiError::bad("bad_feature", format!("the geometry cannot be read: {e}"))
            })?;
            crate::validate::as_multipolygon(g).ok_or_else(|| {
                ApiError::bad("bad_feature", format!("grid {code}: the geometry must be a Polygon or MultiPolygon (lon/lat, WGS84)"))
            })?
        }
    };
    let keep = |k: &str, f: fn(&Grid) -> Option<String>| -> Option<String> {
        match prop(k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Null) => None,
            Some(other) => Some(other.to_string()),
            None => old.and_then(f),
        }
    };
    Ok(Grid {
        name: keep("name", |g| Some(g.name.clone())).unwrap_or_default(),
        worker: keep("worker", |g| g.worker.clone()),
        code,
        level,
        geometry,
    })
}

/// The `If-Match` header, if sent.
fn if_match(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
}

/// `GET /drafts/{id}/ogc`.
pub(super) async fn landing(
    State(state): State<AppState>,
    reader: Reader,
    BaseUrl(b): BaseUrl,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    draft_reader(&state, &reader, &format!("GET /drafts/{id}/ogc"))?;
    let id = draft_id(&id)?;
    let store = editing(&state)?.store().clone();
    let d = blocking(move || Ok(store.draft(id)?)).await?;
    Ok(json_response(
        StatusCode::OK,
        "application/json",
        json!({
            "title": format!("wangge draft {id}: {}", d.title),
            "description": format!("draft {id} on revision {} ({}); edit its grids with OGC API - Features Part 4, then POST {b}/drafts/{id}/publish", d.base, d.state),
            "links": [
                {"href": format!("{b}/drafts/{id}/ogc"), "rel": "self", "type": "application/json"},
                {"href": format!("{b}/drafts/{id}/ogc/conformance"), "rel": "conformance", "type": "application/json"},
                {"href": format!("{b}/drafts/{id}/ogc/collections"), "rel": "data", "type": "application/json"}
            ]
        }),
    ))
}

/// `GET /drafts/{id}/ogc/conformance`.
pub(super) async fn conformance() -> Response {
    json_response(
        StatusCode::OK,
        "application/json",
        json!({"conformsTo": [
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
            "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
            "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
            "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/optimistic-locking-etags"
        ]}),
    )
}

fn collection_json(b: &str, id: u64, setup: &Setup, level: usize) -> Value {
    let l = &setup.scheme.levels[level];
    json!({
        "id": l.name,
        "title": format!("{} ({})", l.label, l.name),
        "itemType": "feature",
        "crs": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"],
        "links": [
            {"href": format!("{b}/drafts/{id}/ogc/collections/{}", l.name), "rel": "self", "type": "application/json"},
            {"href": format!("{b}/drafts/{id}/ogc/collections/{}/items", l.name), "rel": "items", "type": GEOJSON}
        ]
    })
}

/// `GET /drafts/{id}/ogc/collections`.
pub(super) async fn collections(
    State(state): State<AppState>,
    reader: Reader,
    BaseUrl(b): BaseUrl,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    draft_reader(
        &state,
        &reader,
        &format!("GET /drafts/{id}/ogc/collections"),
    )?;
    let id = draft_id(&id)?;
    let store = editing(&state)?.store().clone();
    let setup = blocking(move || {
        store.draft(id)?;
        Ok(store.setup()?)
    })
    .await?;
    let list: Vec<Value> = (0..setup.scheme.depth())
        .map(|l| collection_json(&b, id, &setup, l))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        "application/json",
        json!({
            "links": [{"href": format!("{b}/drafts/{id}/ogc/collections"), "rel": "self", "type": "application/json"}],
            "collections": list
        }),
    ))
}

/// `GET /drafts/{id}/ogc/collections/{cid}`.
pub(super) async fn one_collection(
    State(state): State<AppState>,
    reader: Reader,
    BaseUrl(b): BaseUrl,
    Path((id, cid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    draft_reader(
        &state,
        &reader,
        &format!("GET /drafts/{id}/ogc/collections/{cid}"),
    )?;
    let id = draft_id(&id)?;
    let store = editing(&state)?.store().clone();
    let setup = blocking(move || {
        store.draft(id)?;
        Ok(store.setup()?)
    })
    .await?;
    let level = level_of(&setup, &cid)?;
    Ok(json_response(
        StatusCode::OK,
        "application/json",
        collection_json(&b, id, &setup, level),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemsParams {
    f: Option<String>,
    bbox: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

/// `GET /drafts/{id}/ogc/collections/{cid}/items`: the level's grids as the
/// draft has them, in code order, paged.
pub(super) async fn items(
    State(state): State<AppState>,
    reader: Reader,
    headers: HeaderMap,
    BaseUrl(b): BaseUrl,
    Path((id, cid)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    draft_reader(
        &state,
        &reader,
        &format!("GET /drafts/{id}/ogc/collections/{cid}/items"),
    )?;
    let id = draft_id(&id)?;
    let p: ItemsParams = parse_query(q.as_deref())?;
    super::ogc::negotiate(&headers, p.f.as_deref())?;
    let (limit, offset) =
        super::ogc::page_params(p.limit.as_deref(), p.offset.as_deref(), &state.limits)?;
    let bbox = p.bbox.as_deref().map(super::ogc::parse_bbox).transpose()?;
    let store = editing(&state)?.store().clone();
    let (setup, draft) =
        blocking(move || Ok((store.setup()?, DraftState::read(store.as_ref(), id)?))).await?;
    let level = level_of(&setup, &cid)?;
    let matching: Vec<Grid> = draft
        .proposed()
        .into_iter()
        .filter(|g| g.level == level)
        .filter(|g| {
            bbox.is_none_or(|r| {
                g.geometry
                    .bounding_rect()
                    .is_some_and(|gb| gb.intersects(&r))
                    && g.geometry.intersects(&r)
            })
        })
        .collect();
    let features: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|g| feature(&b, id, &setup, g))
        .collect();
    let mut links = vec![
        json!({"href": format!("{b}/drafts/{id}/ogc/collections/{cid}/items?limit={limit}&offset={offset}"), "rel": "self", "type": GEOJSON}),
    ];
    if offset + features.len() < matching.len() {
        links.push(json!({"href": format!("{b}/drafts/{id}/ogc/collections/{cid}/items?limit={limit}&offset={}", offset + features.len()), "rel": "next", "type": GEOJSON}));
    }
    Ok(json_response(
        StatusCode::OK,
        GEOJSON,
        json!({
            "type": "FeatureCollection",
            "numberMatched": matching.len(),
            "numberReturned": features.len(),
            "links": links,
            "features": features,
        }),
    ))
}

/// `GET /drafts/{id}/ogc/collections/{cid}/items/{code}`, with its ETag.
pub(super) async fn item(
    State(state): State<AppState>,
    reader: Reader,
    BaseUrl(b): BaseUrl,
    Path((id, cid, code)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    draft_reader(
        &state,
        &reader,
        &format!("GET /drafts/{id}/ogc/collections/{cid}/items/{code}"),
    )?;
    let id = draft_id(&id)?;
    let store = editing(&state)?.store().clone();
    let c = code.clone();
    let (setup, found) =
        blocking(move || Ok((store.setup()?, edit::draft_grid(store.as_ref(), id, &c)?))).await?;
    let level = level_of(&setup, &cid)?;
    let (g, etag) = found.filter(|(g, _)| g.level == level).ok_or_else(|| {
        ApiError::NotFound(format!(
            "draft {id} has no grid {code} in collection '{cid}'"
        ))
    })?;
    Ok(with_etag(
        json_response(StatusCode::OK, GEOJSON, feature(&b, id, &setup, &g)),
        &etag,
    ))
}

/// Which Part 4 operation.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Create,
    Replace,
    Update,
}

/// Where a write goes: the draft, the collection, the feature (none for a create).
struct Target {
    id: String,
    cid: String,
    code: Option<String>,
}

/// POST, PUT and PATCH.
async fn write(
    state: AppState,
    reader: Reader,
    headers: HeaderMap,
    b: String,
    target: Target,
    body: Bytes,
    op: Op,
) -> Result<Response, ApiError> {
    let Target { id, cid, code } = target;
    let id = draft_id(&id)?;
    let method = match op {
        Op::Create => "POST",
        Op::Replace => "PUT",
        Op::Update => "PATCH",
    };
    let action = format!(
        "{method} /drafts/{id}/ogc/collections/{cid}/items{}",
        code.as_deref().map(|c| format!("/{c}")).unwrap_or_default()
    );
    let caller = planner(&state, &reader, &action, "")?;
    let who = caller.audit_name();
    let expected = if_match(&headers);
    let store = editing(&state)?.store().clone();
    let target = code.clone().unwrap_or_default();
    let result = blocking(move || {
        let setup = store.setup()?;
        let level = level_of(&setup, &cid)?;
        let old = match code.as_deref() {
            Some(c) => edit::draft_grid(store.as_ref(), id, c)?,
            None => None,
        };
        if op != Op::Create && old.is_none() {
            return Err(ApiError::NotFound(format!(
                "draft {id} has no grid {} in '{cid}': create it with POST to the collection's items",
                code.as_deref().unwrap_or("")
            )));
        }
        let grid = grid_from_feature(&body, level, code.as_deref(), old.as_ref().map(|o| &o.0).filter(|_| op == Op::Update))?;
        if op == Op::Create && edit::draft_grid(store.as_ref(), id, &grid.code)?.is_some() {
            return Err(ApiError::Conflict(format!(
                "grid {} exists in draft {id}: replace it with PUT {}/drafts/{id}/ogc/collections/{cid}/items/{}",
                grid.code, b, grid.code
            )));
        }
        let feature_json = feature(&b, id, &setup, &grid);
        let code = grid.code.clone();
        let tags = edit::edit_draft(store.as_ref(), id, vec![(GridChange::Put(grid), expected)])?;
        Ok((code, feature_json, tags.into_iter().next().unwrap_or_default()))
    })
    .await;
    match result {
        Ok((code, f, etag)) => {
            audit(
                &state,
                &who,
                &action,
                &format!("draft {id} grid {code}"),
                "ok",
                "",
            );
            let status = if op == Op::Create {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let mut r = with_etag(json_response(status, GEOJSON, f.clone()), &etag);
            if op == Op::Create
                && let Some(href) = f["links"][0]["href"].as_str()
                && let Ok(v) = HeaderValue::from_str(href)
            {
                r.headers_mut().insert(header::LOCATION, v);
            }
            Ok(r)
        }
        Err(e) => {
            audit(
                &state,
                &who,
                &action,
                &format!("draft {id} grid {target}"),
                "refused",
                &e.to_string(),
            );
            Err(e)
        }
    }
}

/// `POST .../items`: Create.
pub(super) async fn create(
    State(state): State<AppState>,
    reader: Reader,
    headers: HeaderMap,
    BaseUrl(b): BaseUrl,
    Path((id, cid)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    write(
        state,
        reader,
        headers,
        b,
        Target {
            id,
            cid,
            code: None,
        },
        body,
        Op::Create,
    )
    .await
}

/// `PUT .../items/{code}`: Replace.
pub(super) async fn replace(
    State(state): State<AppState>,
    reader: Reader,
    headers: HeaderMap,
    BaseUrl(b): BaseUrl,
    Path((id, cid, code)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    write(
        state,
        reader,
        headers,
        b,
        Target {
            id,
            cid,
            code: Some(code),
        },
        body,
        Op::Replace,
    )
    .await
}

/// `PATCH .../items/{code}`: Update (the properties and geometry sent; the rest kept).
pub(super) async fn update(
    State(state): State<AppState>,
    reader: Reader,
    headers: HeaderMap,
    BaseUrl(b): BaseUrl,
    Path((id, cid, code)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    write(
        state,
        reader,
        headers,
        b,
        Target {
            id,
            cid,
            code: Some(code),
        },
        body,
        Op::Update,
    )
    .await
}

/// `DELETE .../items/{code}`: retires the grid in the draft.
pub(super) async fn delete(
    State(state): State<AppState>,
    reader: Reader,
    headers: HeaderMap,
    Path((id, cid, code)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let id = draft_id(&id)?;
    let action = format!("DELETE /drafts/{id}/ogc/collections/{cid}/items/{code}");
    let caller = planner(&state, &reader, &action, "")?;
    let who = caller.audit_name();
    let expected = if_match(&headers);
    let store = editing(&state)?.store().clone();
    let c = code.clone();
    let result = blocking(move || {
        let setup = store.setup()?;
        let level = level_of(&setup, &cid)?;
        if edit::draft_grid(store.as_ref(), id, &c)?.is_none_or(|(g, _)| g.level != level) {
            return Err(ApiError::NotFound(format!(
                "draft {id} has no grid {c} in '{cid}'"
            )));
        }
        edit::edit_draft(
            store.as_ref(),
            id,
            vec![(GridChange::Retire { code: c, level }, expected)],
        )?;
        Ok(())
    })
    .await;
    audited(
        &state,
        &who,
        &action,
        &format!("draft {id} grid {code}"),
        &result,
        |_| String::new(),
    );
    result?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
