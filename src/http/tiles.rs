//! `/catalog`, `/tiles/{source}` (TileJSON), `/tiles/{source}/{z}/{x}/{y}`
//! (Mapbox Vector Tiles) and `/styles/{name}.json` (MapLibre styles).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{ApiError, AppState, base};
use crate::tiles::cache::{Encoding, TileEntry};
use crate::tiles::{self, Source, TileError, TileId};

/// Media type of a Mapbox Vector Tile.
pub const MVT_TYPE: &str = "application/vnd.mapbox-vector-tile";

/// The bundled MapLibre styles; `{origin}` stands for the serving host.
const STYLES: &[(&str, &str)] = &[("wangge", include_str!("../../styles/wangge.json"))];

impl From<TileError> for ApiError {
    fn from(e: TileError) -> Self {
        match e {
            TileError::BadSource(m) => ApiError::bad("bad_source", m),
            TileError::OutOfRange(m) => ApiError::bad("bad_tile", m),
        }
    }
}

/// `GET /catalog`: the tile sources and styles.
pub async fn catalog(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> axum::Json<serde_json::Value> {
    let snap = state.snapshot();
    let b = base(&headers);
    let sources: serde_json::Map<String, serde_json::Value> = Source::ALL
        .iter()
        .map(|&s| {
            let layers: Vec<String> = tiles::layers(&snap, s).into_iter().map(|l| l.id).collect();
            (
                s.id().to_string(),
                json!({
                    "name": s.id(),
                    "content_type": MVT_TYPE,
                    "description": match s {
                        Source::Grids => "grid polygons, one layer per level, and grid labels",
                        Source::Components => "city components, clustered at low zoom",
                    },
                    "layers": layers,
                    "tilejson": format!("{b}/tiles/{}", s.id()),
                }),
            )
        })
        .collect();
    let styles: serde_json::Map<String, serde_json::Value> = STYLES
        .iter()
        .map(|(name, _)| {
            (
                name.to_string(),
                json!({ "url": format!("{b}/styles/{name}.json") }),
            )
        })
        .collect();
    axum::Json(json!({ "tiles": sources, "styles": styles }))
}

/// `GET /tiles/{source}`: TileJSON 3.0.0.
pub async fn tilejson(
    State(state): State<AppState>,
    Path(source): Path<String>,
    headers: HeaderMap,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let sources = Source::parse_list(&source)?;
    let snap = state.snapshot();
    Ok(axum::Json(tiles::tilejson(
        &snap,
        &sources,
        &base(&headers),
    )))
}

fn if_none_match(headers: &HeaderMap, entry: &TileEntry) -> bool {
    let Some(v) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    // Weak comparison: any encoding's tag of this tile matches.
    let plain = entry.etag().trim_end_matches('"');
    v.split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| {
            t == "*"
                || t == entry.etag()
                || (t.starts_with(plain) && t.ends_with('"') && t[plain.len()..].starts_with('-'))
        })
}

/// `GET /tiles/{source}/{z}/{x}/{y}`: one vector tile.
pub async fn tile(
    State(state): State<AppState>,
    Path((source, z, x, y)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let sources = Source::parse_list(&source)?;
    let t = TileId::parse(&z, &x, &y)?;
    let snap = state.snapshot();
    let enc = Encoding::negotiate(
        headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok()),
    );
    // A cached tile in a ready encoding is answered here; rendering and
    // compressing happen on the blocking pool.
    let ready = state
        .tiles
        .cache
        .cached(&snap, &sources, t)
        .filter(|e| e.has(enc));
    let entry: Arc<TileEntry> = match ready {
        Some(e) => e,
        None => {
            let service = state.tiles.clone();
            tokio::task::spawn_blocking(move || {
                let e = service.cache.get(&snap, &sources, t);
                e.encoded(enc);
                e
            })
            .await
            .map_err(|e| ApiError::Internal(format!("tile task failed: {e}")))?
        }
    };
    let cache_control = HeaderValue::from_str(&state.tiles.config.cache_control)
        .unwrap_or_else(|_| HeaderValue::from_static("no-cache"));
    let mut h = HeaderMap::new();
    h.insert(header::CACHE_CONTROL, cache_control);
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    if entry.is_empty() {
        return Ok((StatusCode::NO_CONTENT, h).into_response());
    }
    let etag = entry.etag_for(enc);
    h.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).expect("hex tag is a valid header"),
    );
    if if_none_match(&headers, &entry) {
        return Ok((StatusCode::NOT_MODIFIED, h).into_response());
    }
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(MVT_TYPE));
    if let Some(name) = enc.header() {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(name));
    }
    Ok((StatusCode::OK, h, entry.encoded(enc)).into_response())
}

/// `GET /styles/{name}.json`: a bundled MapLibre style with its URLs
/// pointing at this server.
pub async fn style(Path(name): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let known = || {
        STYLES
            .iter()
            .map(|(n, _)| format!("{n}.json"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let stem = name.strip_suffix(".json").ok_or_else(|| {
        ApiError::NotFound(format!(
            "styles are served as /styles/{{name}}.json; available: {}",
            known()
        ))
    })?;
    let (_, text) = STYLES
        .iter()
        .find(|(n, _)| *n == stem)
        .ok_or_else(|| ApiError::NotFound(format!("no style `{stem}`; available: {}", known())))?;
    let body = text.replace("{origin}", &base(&headers));
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}
