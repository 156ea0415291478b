//! The HTTP interface: an axum router over the current [`Snapshot`].
//!
//! Handlers only parse, call the library and map the result. Every error is
//! an [`ApiError`], mapped to a status and a JSON body
//! `{"error": "<machine code>", "message": "<what is wrong and how to fix it>"}`
//! in exactly one place.

mod access;
mod batch;
mod draft_ogc;
mod drafts;
mod edge;
mod editing;
mod error;
mod features;
mod lookup;
mod ogc;
mod origin;
mod queries;
mod refusals;
mod revisions;
mod tiles;
mod web;

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;

pub use editing::{Change, Editing, Planners, refresher};
pub use error::ApiError;
pub use origin::{BaseUrl, PublicUrl};

use crate::encoded::{Encoded, Encoding};
use crate::metrics::Metrics;
use crate::snapshot::Snapshot;
use crate::tiles::TileSet;
use crate::web::Viewer;

/// Limits on requests.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest accepted body of a batch lookup, bytes.
    pub max_batch_bytes: u64,
    /// Largest accepted body of any other request, bytes.
    pub max_body_bytes: usize,
    /// Items per page of an OGC API items request when `limit` is not given.
    pub ogc_default_limit: usize,
    /// Largest `limit` of an OGC API items request.
    pub ogc_max_limit: usize,
    /// Batch lookups answered at once; more get 503.
    pub max_concurrent_batches: usize,
    /// Parsed points a batch may hold while its client is not reading the
    /// answers (about 100 bytes each).
    pub batch_buffer_points: usize,
    /// How long a batch waits for its client to read before it ends with an
    /// error entry (only when [`Limits::batch_buffer_points`] are waiting).
    pub batch_stall: std::time::Duration,
    /// EPSG codes accepted in `crs` beyond [`crate::crs::NETWORK_EPSG`].
    pub crs_allow: Vec<u32>,
    /// Client addresses that may read `/metrics`.
    pub metrics_allow: Vec<ipnet::IpNet>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_batch_bytes: 64 << 20,
            max_body_bytes: 1 << 20,
            ogc_default_limit: 100,
            ogc_max_limit: 10_000,
            max_concurrent_batches: 8,
            batch_buffer_points: 256 * 1024,
            batch_stall: std::time::Duration::from_secs(10),
            crs_allow: Vec::new(),
            metrics_allow: vec![
                "127.0.0.0/8".parse().expect("valid network"),
                "::1/128".parse().expect("valid network"),
            ],
        }
    }
}

/// Which browser origins may read answers (CORS).
#[derive(Debug, Clone, Default)]
pub enum Cors {
    /// Any origin (`Access-Control-Allow-Origin: *`): the data is public reads.
    #[default]
    Any,
    /// Only these origins (`https://map.example.cn`).
    Origins(Vec<axum::http::HeaderValue>),
    /// No CORS headers: only pages served by this server may read answers.
    Off,
}

impl Cors {
    /// The policy for `--cors-origin` values: `["*"]` any, `["none"]` off,
    /// otherwise each an origin (`https://map.example.cn`: scheme and host,
    /// no path).
    pub fn parse(values: &[String]) -> Result<Cors, String> {
        match values {
            [one] if one == "*" => Ok(Cors::Any),
            [one] if one == "none" => Ok(Cors::Off),
            list => list
                .iter()
                .map(|o| {
                    PublicUrl::parse_base(o)
                        .ok()
                        .filter(|b| b.matches('/').count() == 2)
                        .and_then(|b| axum::http::HeaderValue::from_str(&b).ok())
                        .ok_or_else(|| {
                            format!("--cors-origin '{o}' must be an origin like https://map.example.cn (scheme and host, no path), '*' or 'none'")
                        })
                })
                .collect::<Result<_, _>>()
                .map(Cors::Origins),
        }
    }
}

/// Shared server state: the current snapshot, swapped atomically on reload.
///
/// One `Arc`: the router clones the state for every request (each layer and
/// extractor), so a clone is one reference count, not one per part.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What an [`AppState`] holds (reached through it by `Deref`).
#[derive(Clone)]
pub struct Shared {
    snapshot: Arc<ArcSwap<Snapshot>>,
    limits: Arc<Limits>,
    tiles: Arc<TileService>,
    viewer: Arc<Option<Viewer>>,
    batches: Arc<tokio::sync::Semaphore>,
    metrics: Arc<Metrics>,
    public: Arc<PublicUrl>,
    cors: Arc<Cors>,
    /// The store of record and what writes need, when serving one.
    editing: Option<Arc<Editing>>,
    /// What each role may read.
    policy: Arc<crate::auth::Policy>,
}

/// How tiles are served.
#[derive(Debug, Clone)]
pub struct TileConfig {
    /// Byte budget of the in-memory tile cache (0 turns it off).
    pub cache_bytes: u64,
    /// `Cache-Control` header of tile responses.
    pub cache_control: String,
}

impl Default for TileConfig {
    fn default() -> Self {
        TileConfig {
            cache_bytes: 256 << 20,
            cache_control: "public, max-age=300".into(),
        }
    }
}

/// How many revisions' tile indexes the tile service keeps (the current one
/// and the last few asked for by their own URLs).
const TILE_SETS: usize = 4;

/// The tile cache, the tile settings, and the tile indexes of the revisions
/// served.
#[derive(Debug)]
struct TileService {
    cache: crate::tiles::cache::TileCache,
    config: TileConfig,
    /// Most recently used last.
    sets: std::sync::Mutex<Vec<Arc<TileSet>>>,
}

impl TileService {
    fn new(config: TileConfig) -> Self {
        TileService {
            cache: crate::tiles::cache::TileCache::new(config.cache_bytes),
            config,
            sets: Default::default(),
        }
    }

    /// Makes `set` the tiles of its snapshot.
    fn adopt(&self, set: TileSet) {
        let mut sets = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        sets.retain(|s| s.id() != set.id());
        sets.push(Arc::new(set));
        if sets.len() > TILE_SETS {
            sets.remove(0);
        }
    }

    /// The tiles of `snap`'s revision (its indexes are built on first use).
    fn set(&self, snap: &Arc<Snapshot>) -> Arc<TileSet> {
        let mut sets = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        let set = match sets.iter().position(|s| s.id() == snap.id()) {
            Some(i) => sets.remove(i),
            None => Arc::new(TileSet::new(snap.clone())),
        };
        sets.push(set.clone());
        if sets.len() > TILE_SETS {
            sets.remove(0);
        }
        set
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// State serving `snapshot` with `limits`.
    pub fn new(snapshot: Snapshot, limits: Limits) -> Self {
        let metrics = Arc::new(Metrics::new());
        metrics.snapshot(snapshot.revision(), 0.0);
        AppState(Arc::new(Shared {
            snapshot: Arc::new(ArcSwap::from_pointee(snapshot)),
            batches: Arc::new(tokio::sync::Semaphore::new(limits.max_concurrent_batches)),
            limits: Arc::new(limits),
            tiles: Arc::new(TileService::new(TileConfig::default())),
            viewer: Arc::new(None),
            metrics,
            public: Arc::new(PublicUrl::default()),
            cors: Arc::new(Cors::default()),
            editing: None,
            policy: Arc::new(crate::auth::Policy::default()),
        }))
    }

    /// The same state with another read policy (what the public may read).
    pub fn with_policy(mut self, policy: crate::auth::Policy) -> Self {
        self.parts_mut().policy = Arc::new(policy);
        self
    }

    /// The parts, for a builder method (copied only if already shared).
    fn parts_mut(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.0)
    }

    /// The same state naming itself as `public` says in the documents it serves.
    pub fn with_public_url(mut self, public: PublicUrl) -> Self {
        self.parts_mut().public = Arc::new(public);
        self
    }

    /// The same state serving a store of record: revisions, drafts, time
    /// travel and the change feed (run [`refresher`] beside it).
    pub fn with_editing(mut self, editing: Editing) -> Self {
        self.parts_mut().editing = Some(Arc::new(editing));
        self
    }

    /// The store-backed state, if serving a store.
    pub fn editing(&self) -> Option<&Arc<Editing>> {
        self.editing.as_ref()
    }

    /// The same state with another CORS policy.
    pub fn with_cors(mut self, cors: Cors) -> Self {
        self.parts_mut().cors = Arc::new(cors);
        self
    }

    /// The server's metrics (shared with the connection layer).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// The same state with other tile settings (a fresh cache).
    pub fn with_tiles(mut self, config: TileConfig) -> Self {
        self.parts_mut().tiles = Arc::new(TileService::new(config));
        self
    }

    /// The same state serving the web viewer at `/` and its glyphs at `/fonts`.
    pub fn with_viewer(mut self, viewer: Viewer) -> Self {
        self.parts_mut().viewer = Arc::new(Some(viewer));
        self
    }

    /// The snapshot readers see now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// The tiles of the snapshot readers see now.
    pub fn tiles(&self) -> Arc<TileSet> {
        self.tiles.set(&self.snapshot())
    }

    /// The tiles of `snap` (the current snapshot or a past view's).
    pub fn tiles_of(&self, snap: &Arc<Snapshot>) -> Arc<TileSet> {
        self.tiles.set(snap)
    }

    /// Builds, now, the current revision's indexes otherwise built on first
    /// use (border segments, tile indexes). Blocks: run it off the request
    /// threads.
    pub fn warm(&self) {
        self.snapshot().warm();
        self.tiles().warm();
    }

    /// Publishes a new snapshot; requests in flight finish on the old one.
    /// `build_seconds` is how long loading and indexing it took (for metrics).
    pub fn publish(&self, snapshot: Snapshot, build_seconds: f64) {
        self.publish_changed(snapshot, build_seconds, None);
    }

    /// Publishes a new snapshot that differs from the current one only in
    /// the tile ranges `changed` (`[z, x_min, y_min, x_max, y_max]` for every
    /// zoom), when known: the cached tiles outside them stay valid.
    pub fn publish_changed(
        &self,
        snapshot: Snapshot,
        build_seconds: f64,
        changed: Option<Vec<[u32; 5]>>,
    ) {
        self.metrics.snapshot(snapshot.revision(), build_seconds);
        let snapshot = Arc::new(snapshot);
        if let Some(changed) = changed {
            let before = self.tiles();
            self.tiles
                .adopt(TileSet::succeeding(snapshot.clone(), &before, changed));
        }
        self.snapshot.store(snapshot);
    }
}

/// The content encoding to answer with, from `Accept-Encoding`.
pub(crate) fn accept_encoding(headers: &axum::http::HeaderMap) -> Encoding {
    Encoding::negotiate(
        headers
            .get(axum::http::header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok()),
    )
}

/// Answers with `body` in encoding `enc` and the headers in `h`: its
/// `ETag`, and `304 Not Modified` when the request's `If-None-Match` names it.
pub(crate) fn encoded_response(
    request: &axum::http::HeaderMap,
    body: &Encoded,
    enc: Encoding,
    content_type: &'static str,
    mut h: axum::http::HeaderMap,
) -> Response {
    use axum::http::{HeaderValue, header};
    h.insert(
        header::ETAG,
        HeaderValue::from_str(&body.etag_for(enc)).expect("hex tag is a valid header"),
    );
    let matched = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| body.matches(v));
    if matched {
        return (StatusCode::NOT_MODIFIED, h).into_response();
    }
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(name) = enc.header() {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(name));
    }
    (StatusCode::OK, h, body.encoded(enc)).into_response()
}

/// Parses a query string into `T`, naming the offending parameter on failure.
/// `T` should deny unknown fields, so that a misspelt parameter is an error.
pub(crate) fn parse_query<T: DeserializeOwned>(raw: Option<&str>) -> Result<T, ApiError> {
    serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| ApiError::bad("bad_parameter", format!("bad query parameters: {e}")))
}

/// Parses a finite number parameter.
pub(crate) fn parse_number(name: &str, value: Option<&str>) -> Result<f64, ApiError> {
    let v = value.ok_or_else(|| {
        ApiError::bad(
            "missing_parameter",
            format!("parameter '{name}' is required"),
        )
    })?;
    let n: f64 = v.trim().parse().map_err(|_| {
        ApiError::bad(
            "bad_parameter",
            format!("parameter '{name}' = '{v}' is not a number"),
        )
    })?;
    if !n.is_finite() {
        return Err(ApiError::bad(
            "bad_parameter",
            format!("parameter '{name}' = '{v}' must be a finite number"),
        ));
    }
    Ok(n)
}

async fn health(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::Json<serde_json::Value> {
    let snap = state.snapshot();
    axum::Json(serde_json::json!({
        "status": "ok",
        "version": snap.revision(),
        "grids": snap.data().grids.len(),
        "components": snap.data().components.len(),
    }))
}

/// The OpenAPI 3.0 document of every wangge endpoint.
pub const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/vnd.oai.openapi+json;version=3.0",
        )],
        OPENAPI,
    )
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!(
        "no endpoint at {}: see /api for the endpoints (/health, /lookup, /grids/{{code}}, /components/{{code}}, /search, /stats, /classes, /ogc, /catalog, /tiles/{{source}}, /styles/{{name}}.json)",
        uri.path()
    ))
}

/// A known path with an unsupported method: a JSON 405 like every other error
/// (axum adds the `Allow` header).
async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "{method} is not supported at {}: /lookup takes GET or POST, the other endpoints GET",
        uri.path()
    ))
}

/// The router shared by `wangge serve` and the tests.
pub fn router(state: AppState) -> Router {
    let body_limit = state.limits.max_body_bytes;
    Router::new()
        .route("/health", get(health))
        .route("/whoami", get(access::whoami))
        .route("/lookup", get(lookup::get_lookup).post(batch::post_lookup))
        .route("/grids/{code}", get(features::get_grid))
        .route("/grids/{code}/stats", get(queries::get_grid_stats))
        .route("/components/nearest", get(queries::get_nearest))
        .route("/components/{code}", get(features::get_component))
        .route("/stats", get(queries::get_level_stats))
        .route("/search", get(queries::get_search))
        .route("/classes", get(queries::get_classes))
        .route("/catalog", get(tiles::catalog))
        .route("/tiles/{source}", get(tiles::tilejson))
        .route("/tiles/{source}/{z}/{x}/{y}", get(tiles::tile))
        .route("/styles/{name}", get(tiles::style))
        .route("/", get(web::index))
        .route("/viewer/{*path}", get(web::file))
        .route("/fonts/{fontstack}/{range}", get(web::glyphs))
        .route("/api", get(openapi))
        .route("/ogc", get(ogc::landing))
        .route("/ogc/conformance", get(ogc::conformance))
        .route("/ogc/collections", get(ogc::collections))
        .route("/ogc/collections/{id}", get(ogc::one_collection))
        .route("/ogc/collections/{id}/items", get(ogc::items))
        .route("/ogc/collections/{id}/items/{fid}", get(ogc::item))
        .route("/metrics", get(edge::metrics))
        .route("/revisions", get(revisions::list))
        .route("/revisions/diff", get(revisions::diff))
        .route("/revisions/{n}", get(revisions::one))
        .route("/revisions/{n}/revert", post(revisions::revert))
        .route("/grids/{code}/history", get(revisions::history))
        .route("/audit", get(revisions::audit_log))
        .route("/changes", get(revisions::changes))
        .route("/drafts", get(drafts::list).post(drafts::create))
        .route("/drafts/{id}", get(drafts::get).delete(drafts::discard))
        .route("/drafts/{id}/upload", post(drafts::upload))
        .route("/drafts/{id}/operations", post(drafts::operation))
        .route("/drafts/{id}/validation", get(drafts::validation))
        .route("/drafts/{id}/impact", get(drafts::impact))
        .route("/drafts/{id}/publish", post(drafts::publish))
        .route("/drafts/{id}/ogc", get(draft_ogc::landing))
        .route("/drafts/{id}/ogc/conformance", get(draft_ogc::conformance))
        .route("/drafts/{id}/ogc/collections", get(draft_ogc::collections))
        .route(
            "/drafts/{id}/ogc/collections/{cid}",
            get(draft_ogc::one_collection),
        )
        .route(
            "/drafts/{id}/ogc/collections/{cid}/items",
            get(draft_ogc::items).post(draft_ogc::create),
        )
        .route(
            "/drafts/{id}/ogc/collections/{cid}/items/{code}",
            get(draft_ogc::item)
                .put(draft_ogc::replace)
                .patch(draft_ogc::update)
                .delete(draft_ogc::delete),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        // Inside the edge layer, so that preflight answers get a request id too.
        .layer(cors_layer(&state.cors))
        // One middleware for what every answer gets (request id, JSON error
        // bodies, headers, metrics, access log): each `from_fn` layer costs
        // a boxed future and a clone of the service below it per request.
        // It sees answers before compression.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            edge::edge,
        ))
        // JSON, GeoJSON, CSV answers compressed on the fly when the client
        // accepts it (brotli quality 4, gzip); tiles, glyphs and viewer files
        // come precompressed and are left alone (they set Content-Encoding).
        .layer(tower_http::compression::CompressionLayer::new())
        .with_state(state)
}

/// The CORS layer for a policy: reads (and batch lookups) from the allowed
/// origins, preflight answered; `Off` allows no other origin.
fn cors_layer(cors: &Cors) -> tower_http::cors::CorsLayer {
    use axum::http::{Method, header};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let origins = match cors {
        Cors::Any => AllowOrigin::any(),
        Cors::Origins(list) => AllowOrigin::list(list.clone()),
        Cors::Off => AllowOrigin::list([]),
    };
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::IF_NONE_MATCH,
            header::IF_MATCH,
        ])
        .expose_headers([
            header::ETAG,
            header::HeaderName::from_static("x-request-id"),
        ])
        .max_age(std::time::Duration::from_secs(3600))
}
