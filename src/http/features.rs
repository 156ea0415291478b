//! `GET /grids/{code}` and `GET /components/{code}` as GeoJSON features.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};
use crate::query::features;

fn geojson_response(value: serde_json::Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/geo+json")],
        value.to_string(),
    )
        .into_response()
}

pub(super) async fn get_grid(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    Ok(geojson_response(features::grid(&state.snapshot(), &code)?))
}

pub(super) async fn get_component(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    Ok(geojson_response(features::component(
        &state.snapshot(),
        &code,
    )?))
}
