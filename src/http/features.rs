//! `GET /grids/{code}` and `GET /components/{code}` as GeoJSON features.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{ApiError, AppState};
use crate::index::Snapshot;
use crate::model::ComponentRef;

fn geojson_response(value: serde_json::Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/geo+json")],
        value.to_string(),
    )
        .into_response()
}

/// A grid as a GeoJSON Feature (id = code).
pub fn grid_feature(snap: &Snapshot, code: &str) -> Option<serde_json::Value> {
    let g = snap.grid_by_code(code)?;
    let level = &snap.data().scheme.levels[g.level];
    let chain = crate::lookup::chain(snap, g);
    let parent = chain.len().checked_sub(2).map(|i| chain[i].code);
    let children = snap.children(g).len();
    Some(json!({
        "type": "Feature",
        "id": g.code,
        "geometry": geojson::Geometry::new(geojson::Value::from(&g.geometry)),
        "properties": {
            "code": g.code,
            "name": g.name,
            "level": level.name,
            "level_label": level.label,
            "parent": parent,
            "worker": g.worker,
            "area_m2": (crate::measure::area_m2(&g.geometry) * 10.0).round() / 10.0,
            "children": children,
            "chain": chain,
        }
    }))
}

/// A component as a GeoJSON Feature (id = code).
pub fn component_feature(snap: &Snapshot, code: &str) -> Option<serde_json::Value> {
    Some(component_json(snap, snap.data().components.find(code)?))
}

/// The one GeoJSON form of a component (a Feature, id = code, WGS84
/// lon/lat), for `/components/{code}`, OGC items and nearest answers.
pub fn component_json(snap: &Snapshot, c: ComponentRef<'_>) -> serde_json::Value {
    let data = snap.data();
    let r = c.record(&data.classes);
    let class = data.classes.def(c.class());
    let grid = c.unit_grid().map(|g| snap.grid(g));
    json!({
        "type": "Feature",
        "id": r.code,
        "geometry": { "type": "Point", "coordinates": [r.location.x, r.location.y] },
        "properties": {
            "code": r.code,
            "name": r.name,
            "class": class.code,
            "class_name": class.minor_name,
            "major_class": class.major(),
            "major_name": class.major_name,
            "department": r.department,
            "owner": r.owner,
            "maintainer": r.maintainer,
            "state": r.state.chinese(),
            "state_en": r.state.english(),
            "initial_date": r.initial_date,
            "change_date": r.change_date,
            "source": r.source,
            "remarks": r.remarks,
            "grid": grid.map(|g| &g.code),
            "grid_name": grid.map(|g| &g.name),
        }
    })
}

pub(super) async fn get_grid(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    let snap = state.snapshot();
    snap.data().scheme.level_of(&code)?;
    grid_feature(&snap, &code)
        .map(geojson_response)
        .ok_or_else(|| ApiError::NotFound(format!("no grid has code {code}")))
}

pub(super) async fn get_component(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    let snap = state.snapshot();
    let data = snap.data();
    if let Err(e) = data.component_scheme.parse(&code, &data.classes) {
        return Err(ApiError::bad("invalid_code", e.to_string()));
    }
    component_feature(&snap, &code)
        .map(geojson_response)
        .ok_or_else(|| ApiError::NotFound(format!("no component has code {code}")))
}
