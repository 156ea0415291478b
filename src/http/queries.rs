//! Field and command-center queries: nearest components, statistics per grid
//! and per level, and search.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::lookup::point_param;
use super::{ApiError, AppState, parse_number, parse_query};
use crate::index::Snapshot;
use crate::nearest::{ClassFilter, nearest};
use crate::stats::{GridCounts, state_names};

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

pub(crate) fn parse_class(
    snap: &Snapshot,
    value: Option<&str>,
) -> Result<Option<ClassFilter>, ApiError> {
    value
        .map(|c| {
            ClassFilter::parse(snap, c)
                .map_err(|e| ApiError::bad("bad_parameter", format!("parameter 'class': {e}")))
        })
        .transpose()
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
    let class = parse_class(&snap, p.class.as_deref())?;
    let found = nearest(&snap, point, k, class.as_ref(), max_m);
    let features: Vec<Value> = found
        .iter()
        .map(|&(i, d)| {
            let mut f = super::features::component_json(&snap, snap.data().components.get(i));
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

fn counts_json(snap: &Snapshot, c: &GridCounts) -> Value {
    let classes = &snap.data().classes;
    let by_class: serde_json::Map<String, Value> = c
        .by_class
        .iter()
        .map(|&(k, n)| (classes.def(k).code.clone(), json!(n)))
        .collect();
    let by_state: serde_json::Map<String, Value> = state_names()
        .iter()
        .zip(c.by_state)
        .map(|(s, n)| (s.to_string(), json!(n)))
        .collect();
    json!({ "total": c.total, "by_class": by_class, "by_state": by_state })
}

pub(super) async fn get_grid_stats(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let snap = state.snapshot();
    snap.data().scheme.level_of(&code)?;
    let index = snap
        .grid_index(&code)
        .ok_or_else(|| ApiError::NotFound(format!("no grid has code {code}")))?;
    let g = snap.grid(index);
    let mut v = counts_json(&snap, snap.stats().grid(index));
    v["code"] = json!(g.code);
    v["name"] = json!(g.name);
    v["level"] = json!(snap.data().scheme.levels[g.level].name);
    v["area_m2"] = json!((crate::measure::area_m2(&g.geometry) * 10.0).round() / 10.0);
    v["children"] = json!(snap.children(g).len());
    Ok(Json(v))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LevelStatsParams {
    level: Option<String>,
    class: Option<String>,
    by_class: Option<String>,
}

/// Counts by state, named.
#[derive(Debug, Serialize)]
struct StateCounts {
    intact: u64,
    damaged: u64,
    lost: u64,
    occupied: u64,
}

/// One grid of a level's statistics.
#[derive(Debug, Serialize)]
struct LevelGrid<'a> {
    code: &'a str,
    name: &'a str,
    total: u64,
    by_state: StateCounts,
    #[serde(skip_serializing_if = "Option::is_none")]
    class_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    by_class: Option<std::collections::BTreeMap<&'a str, u64>>,
}

#[derive(Debug, Serialize)]
struct LevelStats<'a> {
    level: &'a str,
    class: Option<&'a str>,
    grids: Vec<LevelGrid<'a>>,
}

pub(super) async fn get_level_stats(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p: LevelStatsParams = parse_query(q.as_deref())?;
    let snap = state.snapshot();
    let scheme = &snap.data().scheme;
    let names: Vec<&str> = scheme.levels.iter().map(|l| l.name.as_str()).collect();
    let level = match p.level.as_deref() {
        None => scheme.finest(),
        Some(l) => scheme.level_index(l).ok_or_else(|| {
            ApiError::bad(
                "bad_parameter",
                format!(
                    "parameter 'level' = '{l}' is not one of {}",
                    names.join(", ")
                ),
            )
        })?,
    };
    let class = parse_class(&snap, p.class.as_deref())?;
    let with_classes = match p.by_class.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad(
                "bad_parameter",
                format!("parameter 'by_class' = '{other}' must be true or false"),
            ));
        }
    };
    let li = snap.level(level);
    let classes = &snap.data().classes;
    let grids = (0..li.len())
        .map(|i| {
            let index = li.dataset_index(i as u32);
            let g = snap.grid(index);
            let c = snap.stats().grid(index);
            let [intact, damaged, lost, occupied] = c.by_state;
            LevelGrid {
                code: &g.code,
                name: &g.name,
                total: c.total,
                by_state: StateCounts {
                    intact,
                    damaged,
                    lost,
                    occupied,
                },
                class_count: class.as_ref().map(|f| {
                    c.by_class
                        .iter()
                        .filter(|&&(k, _)| f.accepts(&snap, k))
                        .map(|&(_, n)| n)
                        .sum()
                }),
                by_class: with_classes.then(|| {
                    c.by_class
                        .iter()
                        .map(|&(k, n)| (classes.def(k).code.as_str(), n))
                        .collect()
                }),
            }
        })
        .collect();
    let body = LevelStats {
        level: names[level],
        class: p.class.as_deref(),
        grids,
    };
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
    let hits = crate::search::search(&snap, text, limit);
    Ok(Json(
        json!({ "q": text, "numberReturned": hits.len(), "hits": hits }),
    ))
}

/// `GET /classes`: the component classes with their names and how many
/// components of each the city has, and the same per major class (legends,
/// class pickers).
pub(super) async fn get_classes(State(state): State<AppState>) -> Json<Value> {
    let snap = state.snapshot();
    let table = &snap.data().classes;
    let totals = &snap.stats().class_totals;
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
