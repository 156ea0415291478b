//! `GET /lookup?lon=&lat=&crs=`: which grid is this point in.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use geo::Coord;
use serde::Deserialize;

use super::editing::snapshot_for;
use super::{ApiError, AppState, Limits, parse_number, parse_query};
use crate::crs::{self, Crs};
use crate::query::Selector;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LookupParams {
    lon: Option<String>,
    lat: Option<String>,
    crs: Option<String>,
    at: Option<String>,
    revision: Option<String>,
}

/// Parses a `crs` parameter (default WGS84) and checks that it can be
/// transformed, so that a CRS PROJ does not know (`EPSG:999999`) is a 400 for
/// the whole request, not an error entry per point of a batch.
/// Only the systems network clients may name are accepted
/// ([`Crs::parse_from_network`]: no PROJ strings, a bounded set of EPSG codes).
pub(crate) fn parse_crs(value: Option<&str>, limits: &Limits) -> Result<Crs, ApiError> {
    let crs = match value {
        None | Some("") => Crs::Wgs84,
        Some(v) => Crs::parse_from_network(v, &limits.crs_allow)?,
    };
    crs::with_transformer(&crs, |_| ())?;
    Ok(crs)
}

/// Transforms an input coordinate to WGS84, mapping CRS problems to 400s.
pub(crate) fn to_wgs84(crs: &Crs, c: Coord<f64>) -> Result<Coord<f64>, ApiError> {
    Ok(crs::with_transformer(crs, |t| t.transform(c))??)
}

/// The point named by `lon`, `lat` and `crs` query parameters, in WGS84.
pub(crate) fn point_param(
    lon: Option<&str>,
    lat: Option<&str>,
    crs: Option<&str>,
    limits: &Limits,
) -> Result<Coord<f64>, ApiError> {
    let lon = parse_number("lon", lon)?;
    let lat = parse_number("lat", lat)?;
    let crs = parse_crs(crs, limits)?;
    to_wgs84(&crs, Coord { x: lon, y: lat })
}

pub(super) async fn get_lookup(
    State(state): State<AppState>,
    reader: super::access::Reader,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p: LookupParams = parse_query(q.as_deref())?;
    let point = point_param(
        p.lon.as_deref(),
        p.lat.as_deref(),
        p.crs.as_deref(),
        &state.limits,
    )?;
    let selector = Selector::parse(p.revision.as_deref(), p.at.as_deref(), "at")?;
    let snap = snapshot_for(&state, selector).await?;
    let answer = crate::query::lookup::lookup_as(&reader.sees(&snap), point);
    Ok(Json(answer).into_response())
}
