//! `/catalog`, `/tiles/{source}` (TileJSON), `/tiles/{source}/{z}/{x}/{y}`
//! (Mapbox Vector Tiles) and `/styles/{name}.json` (MapLibre styles).

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{ApiError, AppState, BaseUrl, accept_encoding, encoded_response};
use crate::encoded::Encoded;
use crate::query::Selector;
use crate::tiles::{self, Source, TileId};

/// Media type of a Mapbox Vector Tile.
pub const MVT_TYPE: &str = "application/vnd.mapbox-vector-tile";

/// The bundled MapLibre styles; `{origin}` stands for the serving host.
const STYLES: &[(&str, &str)] = &[("wangge", include_str!("../../styles/wangge.json"))];

/// `GET /catalog`: the tile sources and styles.
pub async fn catalog(
    State(state): State<AppState>,
    BaseUrl(b): BaseUrl,
) -> axum::Json<serde_json::Value> {
    let set = state.tiles();
    let sources: serde_json::Map<String, serde_json::Value> = Source::ALL
        .iter()
        .map(|&s| {
            let layers: Vec<String> = tiles::layers(&set, s).into_iter().map(|l| l.id).collect();
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
/// With a store, the tile URLs name the revision (`?revision=N`): a new
/// revision gets new URLs, so that caches and CDNs never mix two.
pub async fn tilejson(
    State(state): State<AppState>,
    Path(source): Path<String>,
    BaseUrl(origin): BaseUrl,
    RawQuery(q): RawQuery,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let sources = Source::parse_list(&source)?;
    let (set, query) = revision_tiles(&state, q.as_deref()).await?;
    Ok(axum::Json(tiles::tilejson(&set, &sources, &origin, &query)))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TileParams {
    revision: Option<String>,
}

/// The tiles a request asks for (the served revision's, or `revision`'s as
/// it took effect) and the query that names them in tile URLs.
async fn revision_tiles(
    state: &AppState,
    q: Option<&str>,
) -> Result<(Arc<tiles::TileSet>, String), ApiError> {
    let p: TileParams = super::parse_query(q)?;
    let selector = Selector::parse(p.revision.as_deref(), None, "at")?;
    let snap = super::editing::snapshot_for(state, selector).await?;
    let query = if state.editing().is_some() {
        format!("?revision={}", snap.revision())
    } else {
        String::new()
    };
    Ok((state.tiles_of(&snap), query))
}

/// `GET /tiles/{source}/{z}/{x}/{y}`: one vector tile.
pub async fn tile(
    State(state): State<AppState>,
    reader: super::access::Reader,
    Path((source, z, x, y)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let sources = Source::parse_list(&source)?;
    let t = TileId::parse(&z, &x, &y)?;
    let (set, _) = revision_tiles(&state, q.as_deref()).await?;
    let enc = accept_encoding(&headers);
    // A cached tile in a ready encoding is answered here; rendering and
    // compressing happen on the blocking pool.
    let ready = state
        .tiles
        .cache
        .cached(&set, &sources, t, &reader.scope)
        .filter(|e| e.has(enc));
    let entry: Arc<Encoded> = match ready {
        Some(e) => {
            state.metrics.tile(true);
            e
        }
        None => {
            let service = state.tiles.clone();
            let scope = reader.scope.clone();
            let (e, hit) = tokio::task::spawn_blocking(move || {
                let (e, hit) = service.cache.get(&set, &sources, t, &scope);
                e.encoded(enc);
                (e, hit)
            })
            .await
            .map_err(|e| ApiError::Internal(format!("tile task failed: {e}")))?;
            state.metrics.tile(hit);
            state.metrics.tile_cache_bytes(state.tiles.cache.bytes());
            e
        }
    };
    let cache_control = HeaderValue::from_str(&state.tiles.config.cache_control)
        .unwrap_or_else(|_| HeaderValue::from_static("no-cache"));
    let mut h = HeaderMap::new();
    h.insert(header::CACHE_CONTROL, cache_control);
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if entry.is_empty() {
        return Ok((StatusCode::NO_CONTENT, h).into_response());
    }
    Ok(encoded_response(&headers, &entry, enc, MVT_TYPE, h))
}

/// `GET /styles/{name}.json`: a bundled MapLibre style with its URLs
/// pointing at this server.
pub async fn style(
    Path(name): Path<String>,
    BaseUrl(origin): BaseUrl,
) -> Result<Response, ApiError> {
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
    let body = text.replace("{origin}", &origin);
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}
