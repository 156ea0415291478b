//! What every response passes through on its way out, in one middleware: a
//! request id, the access log line and metrics, JSON bodies for errors made
//! below the handlers (extractor rejections, body limits), and the headers
//! every answer carries (`X-Content-Type-Options`, `Cache-Control`, `Vary`).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};

tokio::task_local! {
    static REQUEST_ID: Arc<str>;
    static CLIENT: Option<std::net::IpAddr>;
}

/// The client address of the request being answered on this task, if known
/// (for the audit log): the peer, or the address a trusted proxy forwarded
/// for ([`super::PublicUrl::client`]).
pub(crate) fn current_client() -> Option<String> {
    CLIENT.try_with(|p| p.map(|a| a.to_string())).ok().flatten()
}

/// The id of the request being answered on this task, if any.
pub(crate) fn current_request_id() -> Option<Arc<str>> {
    REQUEST_ID.try_with(Arc::clone).ok()
}

/// Gives an error response that is not JSON (an extractor's rejection, the
/// body limit's 413) the JSON body every other error has.
fn json_error_body(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.contains("+json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let message = match status {
        StatusCode::BAD_REQUEST => {
            "the request path or parameters could not be read: percent-encode UTF-8 text in the path and query (see /api)"
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            "the request body is larger than this endpoint accepts: send a smaller body (batch lookups take larger ones, see /api)"
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            "the body's Content-Type is not accepted here: see /api for the media types of each endpoint"
        }
        StatusCode::UNPROCESSABLE_ENTITY => {
            "the request body is not in the form this endpoint expects: see /api"
        }
        StatusCode::METHOD_NOT_ALLOWED => "this method is not supported here: see /api",
        _ if status.is_server_error() => "the server failed to answer; the error is logged",
        _ => "the request was refused: see /api for the endpoints and their parameters",
    };
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        _ if status.is_server_error() => "internal",
        _ => "bad_request",
    };
    let mut fixed = (status, axum::Json(error_json(code, message))).into_response();
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = response.headers().get(&name) {
            fixed.headers_mut().insert(name, v.clone());
        }
    }
    fixed
}

/// The JSON error body, with the id of the request being answered.
pub(super) fn error_json(code: &str, message: &str) -> serde_json::Value {
    crate::server::error_body(code, message, current_request_id().as_deref())
}

/// Bytes of a request's line and headers, as sent (near enough: separators
/// counted as 4 bytes a header).
fn head_bytes(request: &Request) -> usize {
    let uri = request.uri();
    uri.path().len()
        + uri.query().map_or(0, |q| q.len() + 1)
        + request
            .headers()
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum::<usize>()
}

/// Outermost layer: assigns the request id, logs the request, records its
/// metrics and sets the headers every answer carries.
pub(super) async fn edge(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id: Arc<str> = crate::server::new_request_id().into();
    let method = request.method().clone();
    let uri = request.uri().clone();
    let peer = crate::server::peer(request.extensions());
    // Routing happened already: `Router::layer` wraps each route (and the
    // fallback, which has no pattern).
    let route = request.extensions().get::<MatchedPath>().cloned();
    let head = head_bytes(&request);
    let client = state.public.client(request.headers(), peer.map(|p| p.ip()));
    let mut signed_in = false;
    let mut response = CLIENT
        .scope(client, REQUEST_ID.scope(id.clone(), async {
            if head > crate::server::MAX_HEAD_BYTES {
                ApiError::HeadersTooLarge(format!(
                    "the request line and headers are {head} bytes, over the limit of {} bytes: send fewer or shorter headers, and large inputs in a POST body",
                    crate::server::MAX_HEAD_BYTES
                ))
                .into_response()
            } else {
                let mut request = request;
                match super::editing::identify(&state, &mut request) {
                    Err(refused) => refused.into_response(),
                    Ok(()) => {
                        signed_in = request.extensions().get::<crate::auth::Principal>().is_some();
                        json_error_body(next.run(request).await)
                    }
                }
            }
        }))
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status();
    let route = route.as_ref().map_or("unmatched", |m| m.as_str());
    let bytes = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert("x-request-id", v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        let value = if status.is_client_error() || status.is_server_error() {
            "no-store"
        } else {
            // Answers change when new data is published: caches revalidate.
            "no-cache"
        };
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    }
    if signed_in {
        // What a token reads is that reader's: no shared cache may keep it
        // for another.
        let own = h
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.replace("public", "private"));
        if let Some(v) = own.and_then(|v| HeaderValue::from_str(&v).ok()) {
            h.insert(header::CACHE_CONTROL, v);
        }
    }
    if let Some(vary) = state.public.varies_by() {
        h.append(header::VARY, HeaderValue::from_static(vary));
    }
    if state.editing().is_some() {
        h.append(header::VARY, HeaderValue::from_static("authorization"));
    }
    state
        .metrics
        .request(method.as_str(), route, status.as_u16(), seconds, bytes);
    tracing::info!(
        target: "wangge::access",
        method = %method,
        route,
        path = uri.path(),
        status = status.as_u16(),
        bytes,
        ms = seconds * 1e3,
        request_id = &*id,
        peer = peer.map(|p| p.to_string()),
        client = client.map(|c| c.to_string()),
    );
    response
}

/// `GET /metrics`: Prometheus text, for the addresses `--metrics-allow`
/// names and, from anywhere, for an admin's token (a scraper's API key of
/// role `admin`).
pub(super) async fn metrics(
    State(state): State<AppState>,
    reader: super::access::Reader,
    request: Request,
) -> Result<Response, ApiError> {
    let peer = crate::server::peer(request.extensions()).map(|a| a.ip());
    let allowed = peer.is_some_and(|ip| state.limits.metrics_allow.iter().any(|n| n.contains(&ip)));
    if !allowed && reader.principal.role != crate::auth::Role::Admin {
        let why = "metrics are served to the addresses named by `wangge serve --metrics-allow` (default: this machine) and to an admin's token";
        let who = reader.principal.audit_name();
        super::editing::audit(&state, &who, "GET /metrics", "", "refused", why);
        return Err(ApiError::Forbidden(why.into()));
    }
    state.metrics.tile_cache_bytes(state.tiles.cache.bytes());
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response())
}
