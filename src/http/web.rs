//! `/` (the web viewer's page), `/viewer/{path}` (its scripts, styles and
//! MapLibre GL JS) and `/fonts/{fontstack}/{start}-{end}.pbf` (map glyphs).
//!
//! Everything comes from the [`Viewer`] loaded at start; nothing is read
//! from disk per request.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use super::{ApiError, AppState, accept_encoding, encoded_response};
use crate::encoded::Encoded;
use crate::web::{GlyphRange, Viewer};

/// The page's Content-Security-Policy: scripts, styles, workers and
/// requests from this server only, so the viewer cannot reach the internet
/// even by mistake (MapLibre draws into `blob:`/`data:` images; its worker
/// is a module from this server, so workers need no `blob:`). Inline
/// style attributes are allowed: MapLibre positions its markers and controls
/// with them, and they cannot fetch anything under `img-src`/`font-src`.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; \
                   worker-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; \
                   base-uri 'none'; frame-ancestors 'self'";

fn viewer(state: &AppState) -> Result<&Viewer, ApiError> {
    state.viewer.as_ref().as_ref().ok_or_else(|| {
        ApiError::NotFound(
            "the web viewer is not served: build it with `scripts/build-web` and start \
             `wangge serve --web web/dist` (the API is under /api)"
                .into(),
        )
    })
}

fn send(
    headers: &HeaderMap,
    body: &Encoded,
    content_type: &'static str,
    cache_control: &'static str,
) -> Response {
    let mut h = HeaderMap::new();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if content_type.starts_with("text/html") {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    encoded_response(headers, body, accept_encoding(headers), content_type, h)
}

/// `GET /`: the viewer's page. It and its files are revalidated on every
/// load (`no-cache` + ETag), so an upgraded server never mixes versions.
pub async fn index(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let v = viewer(&state)?;
    let page = v
        .file("index.html")
        .ok_or_else(|| ApiError::Internal("the loaded viewer has no index.html".into()))?;
    Ok(send(&headers, &page.body, page.content_type, "no-cache"))
}

/// `GET /viewer/{path}`: a file of the viewer.
pub async fn file(
    State(state): State<AppState>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let v = viewer(&state)?;
    let asset = v.file(&path).ok_or_else(|| {
        ApiError::NotFound(format!(
            "the viewer has no file `{path}`; the viewer itself is at /"
        ))
    })?;
    Ok(send(&headers, &asset.body, asset.content_type, "no-cache"))
}

/// `GET /fonts/{fontstack}/{start}-{end}.pbf`: one glyph range of the
/// first font of the stack that has it. A range the fonts do not cover is a
/// 404, and MapLibre then draws those characters with the browser's fonts;
/// Chinese is always drawn that way (the viewer's `localIdeographFontFamily`).
pub async fn glyphs(
    State(state): State<AppState>,
    Path((fontstack, range)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let v = viewer(&state)?;
    let r = GlyphRange::parse(&range).ok_or_else(|| {
        ApiError::bad(
            "bad_glyph_range",
            format!(
                "`{range}` is not a glyph range: ask for <start>-<end>.pbf with start a multiple of 256 \
                 below 65536 and end = start + 255, e.g. 0-255.pbf"
            ),
        )
    })?;
    let glyphs = v
        .glyphs(&fontstack, r)
        .map_err(|known| {
            ApiError::NotFound(format!(
                "no font in `{fontstack}` is served; fonts: {known}"
            ))
        })?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "`{fontstack}` has no glyphs in {range}; the map draws them with local fonts"
            ))
        })?;
    Ok(send(
        &headers,
        glyphs,
        "application/x-protobuf",
        "public, max-age=86400",
    ))
}
