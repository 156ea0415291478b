//! `GET /grids/{code}` and `GET /components/{code}` as GeoJSON features.

use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::access::Reader;
use super::{ApiError, AppState};
use crate::query::{Selector, features};

fn geojson_response(value: serde_json::Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/geo+json")],
        value.to_string(),
    )
        .into_response()
}

/// `revision` and `at` of a read.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TimeParams {
    at: Option<String>,
    revision: Option<String>,
}

impl TimeParams {
    /// The snapshot these parameters ask for.
    pub(super) async fn snapshot(
        q: Option<&str>,
        state: &AppState,
    ) -> Result<std::sync::Arc<crate::snapshot::Snapshot>, ApiError> {
        let p: TimeParams = super::parse_query(q)?;
        let selector = Selector::parse(p.revision.as_deref(), p.at.as_deref(), "at")?;
        super::editing::snapshot_for(state, selector).await
    }
}

pub(super) async fn get_grid(
    State(state): State<AppState>,
    reader: Reader,
    Path(code): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let snap = TimeParams::snapshot(q.as_deref(), &state).await?;
    Ok(geojson_response(features::grid(
        &reader.sees(&snap),
        &code,
    )?))
}

pub(super) async fn get_component(
    State(state): State<AppState>,
    reader: Reader,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    let snap = state.snapshot();
    Ok(geojson_response(features::component(
        &reader.sees(&snap),
        &code,
    )?))
}
