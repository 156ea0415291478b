//! Field and command-center queries: nearest components, statistics per grid
//! and per level, and search.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::access::Reader;
use super::lookup::point_param;
use super::{ApiError, AppState, parse_number, parse_query};
use crate::query::nearest::{class_param, nearest};
use crate::query::{features, stats};

/// Largest `k` of a nearest query.
pub const MAX_K: usize = 1000;
/// Largest `limit` of a search.
pub const MAX_SEARCH: usize = 100;

/// Parses a whole number parameter within `range`.
pub(crate) fn parse_count(
    name: &str,
    value: Option<&str>,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    match value {
        None => Ok(default),
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if n >= 1 && n <= max => Ok(n),
            _ => Err(ApiError::bad(
                "bad_parameter",
                format!("parameter '{name}' = '{v}' must be a whole number from 1 to {max}"),
            )),
        },
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NearestParams {
    lon: Option<String>,
    lat: Option<String>,
    k: Option<String>,
    class: Option<String>,
    max_distance_m: Option<String>,
    crs: Option<String>,
}

pub(super) async fn get_nearest(
    State(state): State<AppState>,
    reader: Reader,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p: NearestParams = parse_query(q.as_deref())?;
    let point = point_param(
        p.lon.as_deref(),
        p.lat.as_deref(),
        p.crs.as_deref(),
        &state.limits,
    )?;
    let k = parse_count("k", p.k.as_deref(), 10, MAX_K)?;
    let max_m = match p.max_distance_m.as_deref() {
        None => f64::INFINITY,
        Some(v) => {
            let m = parse_number("max_distance_m", Some(v))?;
            if m < 0.0 {
                return Err(ApiError::bad(
                    "bad_parameter",
                    "parameter 'max_distance_m' must not be negative",
                ));
            }
            m
        }
    };
    let snap = state.snapshot();
    let class = class_param(&snap, p.class.as_deref())?;
    let found = nearest(&reader.sees(&snap), point, k, class.as_ref(), max_m);
    let features: Vec<Value> = found
        .iter()
        .map(|&(i, d)| {
            let mut f = features::component_json(&snap, snap.data().components.get(i));
            f["properties"]["distance_m"] = json!((d * 100.0).round() / 100.0);
            f
        })
        .collect();
    Ok(Json(json!({
        "type": "FeatureCollection",
        "lon": point.x,
        "lat": point.y,
        "numberReturned": features.len(),
        "features": features,
    })))
}

pub(super) async fn get_grid_stats(
    State(state): State<AppState>,
    reader: Reader,
    Path(code): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let snap = super::features::TimeParams::snapshot(q.as_deref(), &state).await?;
    Ok(Json(stats::grid_stats(&reader.sees(&snap), &code)?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LevelStatsParams {
    level: Option<String>,
    class: Option<String>,
    by_class: Option<String>,
    at: Option<String>,
    revision: Option<String>,
}

pub(super) async fn get_level_stats(
    State(state): State<AppState>,
    reader: Reader,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p: LevelStatsParams = parse_query(q.as_deref())?;
    let by_class = match p.by_class.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad(
                "bad_parameter",
                format!("parameter 'by_class' = '{other}' must be true or false"),
            ));
        }
    };
    let selector = crate::query::Selector::parse(p.revision.as_deref(), p.at.as_deref(), "at")?;
    let snap = super::editing::snapshot_for(&state, selector).await?;
    let seen = reader.sees(&snap);
    let body = stats::level_stats(&seen, p.level.as_deref(), p.class.as_deref(), by_class)?;
    Ok(Json(body).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchParams {
    q: Option<String>,
    limit: Option<String>,
}

pub(super) async fn get_search(
    State(state): State<AppState>,
    reader: Reader,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p: SearchParams = parse_query(q.as_deref())?;
    let text = p.q.as_deref().map(str::trim).unwrap_or("");
    if text.is_empty() {
        return Err(ApiError::bad(
            "missing_parameter",
            "parameter 'q' is required: a code prefix or part of a name",
        ));
    }
    if text.chars().count() > 64 {
        return Err(ApiError::bad(
            "bad_parameter",
            "parameter 'q' is longer than 64 characters",
        ));
    }
    let limit = parse_count("limit", p.limit.as_deref(), 20, MAX_SEARCH)?;
    let snap = state.snapshot();
    let hits = crate::query::search::search(&reader.sees(&snap), text, limit);
    Ok(Json(
        json!({ "q": text, "numberReturned": hits.len(), "hits": hits }),
    ))
}

/// `GET /classes`: the component classes with their names and how many
/// components of each the city has, and the same per major class (legends,
/// class pickers), counted of the components the reader may see.
pub(super) async fn get_classes(State(state): State<AppState>, reader: Reader) -> Json<Value> {
    let snap = state.snapshot();
    let table = &snap.data().classes;
    let seen = reader.sees(&snap);
    let totals = seen.class_totals();
    let mut majors: std::collections::BTreeMap<&str, (&str, u64)> = Default::default();
    let classes: Vec<Value> = table
        .all()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let count = totals.get(i).copied().unwrap_or(0);
            majors.entry(c.major()).or_insert((&c.major_name, 0)).1 += count;
            json!({
                "code": c.code,
                "major": c.major(),
                "major_name": c.major_name,
                "name": c.minor_name,
                "count": count,
            })
        })
        .collect();
    let majors: Vec<Value> = majors
        .into_iter()
        .map(|(code, (name, count))| json!({ "code": code, "name": name, "count": count }))
        .collect();
    Json(json!({ "majors": majors, "classes": classes }))
}
