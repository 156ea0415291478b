//! OGC API - Features Part 1 (Core, GeoJSON) under `/ogc`: one collection per
//! grid level and one for components, so QGIS, GDAL and OWSLib open them directly.
//!
//! Paging is by `offset` in `next` links; items come in code order, so pages
//! are stable. Unknown query parameters are a 400 naming the parameter.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use geo::Rect;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, AppState, BaseUrl, parse_query};
use crate::query::Selector;
use crate::query::features::{component_feature, grid_feature};
use crate::query::items::{self, ComponentFilter, GridFilter, Page};
use crate::snapshot::Snapshot;

/// The collection id of the components.
const COMPONENTS: &str = "components";

/// Checks `f` and `Accept`: only JSON is served.
pub(super) fn negotiate(headers: &HeaderMap, f: Option<&str>) -> Result<(), ApiError> {
    if let Some(f) = f
        && !matches!(f, "json" | "geojson")
    {
        return Err(ApiError::bad(
            "bad_parameter",
            format!("parameter 'f' = '{f}' is not supported: use f=json"),
        ));
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("*/*");
    if f.is_none()
        && !accept.contains("json")
        && !accept.contains("*/*")
        && !accept.contains("application/*")
    {
        return Err(ApiError::NotAcceptable(format!(
            "this server answers application/json and application/geo+json, not '{accept}'"
        )));
    }
    Ok(())
}

/// A JSON answer of `media` type.
pub(super) fn json_response(media: &'static str, v: Value) -> Response {
    ([(header::CONTENT_TYPE, media)], v.to_string()).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FOnly {
    f: Option<String>,
}

pub(super) async fn landing(
    headers: HeaderMap,
    BaseUrl(b): BaseUrl,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p: FOnly = parse_query(q.as_deref())?;
    negotiate(&headers, p.f.as_deref())?;
    Ok(json_response(
        "application/json",
        json!({
            "title": "wangge 网格",
            "description": "Urban grid management: grids of every level and city components (城市部件)",
            "links": [
                {"href": format!("{b}/ogc"), "rel": "self", "type": "application/json", "title": "this document"},
                {"href": format!("{b}/api"), "rel": "service-desc", "type": "application/vnd.oai.openapi+json;version=3.0", "title": "the API definition"},
                {"href": format!("{b}/ogc/conformance"), "rel": "conformance", "type": "application/json", "title": "conformance classes"},
                {"href": format!("{b}/ogc/collections"), "rel": "data", "type": "application/json", "title": "collections"}
            ]
        }),
    ))
}

pub(super) async fn conformance(
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p: FOnly = parse_query(q.as_deref())?;
    negotiate(&headers, p.f.as_deref())?;
    Ok(json_response(
        "application/json",
        json!({"conformsTo": [
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30"
        ]}),
    ))
}

/// A collection: a grid level, or the components.
enum Collection {
    Level(usize),
    Components,
}

fn collection(snap: &Snapshot, id: &str) -> Result<Collection, ApiError> {
    if id == COMPONENTS {
        return Ok(Collection::Components);
    }
    snap.data()
        .scheme
        .level_index(id)
        .map(Collection::Level)
        .ok_or_else(|| {
            let ids: Vec<&str> = snap
                .data()
                .scheme
                .levels
                .iter()
                .map(|l| l.name.as_str())
                .chain([COMPONENTS])
                .collect();
            ApiError::NotFound(format!(
                "no collection '{id}': the collections are {}",
                ids.join(", ")
            ))
        })
}

fn extent(snap: &Snapshot, c: &Collection) -> Option<Rect<f64>> {
    match c {
        Collection::Level(l) => snap.level(*l).extent(),
        Collection::Components => snap.components_extent(),
    }
}

fn collection_json(snap: &Snapshot, b: &str, c: &Collection) -> Value {
    let (id, title, description) = match c {
        Collection::Level(l) => {
            let def = &snap.data().scheme.levels[*l];
            (
                def.name.clone(),
                format!("{} ({})", def.label, def.name),
                format!(
                    "{} grids, {}-digit codes",
                    snap.level(*l).len(),
                    def.code_len
                ),
            )
        }
        Collection::Components => (
            COMPONENTS.to_string(),
            "城市部件 (components)".to_string(),
            format!(
                "{} city components with class, state, owner and unit grid",
                snap.data().components.len()
            ),
        ),
    };
    let bbox = extent(snap, c).map(|r| vec![r.min().x, r.min().y, r.max().x, r.max().y]);
    json!({
        "id": id,
        "title": title,
        "description": description,
        "itemType": "feature",
        "crs": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"],
        "extent": {"spatial": {"bbox": [bbox.unwrap_or_else(|| vec![-180.0, -90.0, 180.0, 90.0])], "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}},
        "links": [
            {"href": format!("{b}/ogc/collections/{id}"), "rel": "self", "type": "application/json", "title": "this collection"},
            {"href": format!("{b}/ogc/collections/{id}/items"), "rel": "items", "type": "application/geo+json", "title": "items"}
        ]
    })
}

fn all_collections(snap: &Snapshot) -> Vec<Collection> {
    (0..snap.data().scheme.depth())
        .map(Collection::Level)
        .chain([Collection::Components])
        .collect()
}

pub(super) async fn collections(
    State(state): State<AppState>,
    headers: HeaderMap,
    BaseUrl(b): BaseUrl,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p: FOnly = parse_query(q.as_deref())?;
    negotiate(&headers, p.f.as_deref())?;
    let snap = state.snapshot();
    let list: Vec<Value> = all_collections(&snap)
        .iter()
        .map(|c| collection_json(&snap, &b, c))
        .collect();
    Ok(json_response(
        "application/json",
        json!({
            "links": [{"href": format!("{b}/ogc/collections"), "rel": "self", "type": "application/json", "title": "collections"}],
            "collections": list
        }),
    ))
}

pub(super) async fn one_collection(
    State(state): State<AppState>,
    headers: HeaderMap,
    BaseUrl(origin): BaseUrl,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p: FOnly = parse_query(q.as_deref())?;
    negotiate(&headers, p.f.as_deref())?;
    let snap = state.snapshot();
    let c = collection(&snap, &id)?;
    Ok(json_response(
        "application/json",
        collection_json(&snap, &origin, &c),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemsParams {
    f: Option<String>,
    bbox: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
    parent: Option<String>,
    class: Option<String>,
    grid: Option<String>,
    state: Option<String>,
    owner: Option<String>,
    datetime: Option<String>,
}

/// `limit` (within the server's OGC limits) and `offset` of an items request.
pub(super) fn page_params(
    limit: Option<&str>,
    offset: Option<&str>,
    limits: &super::Limits,
) -> Result<(usize, usize), ApiError> {
    let limit = super::queries::parse_count(
        "limit",
        limit,
        limits.ogc_default_limit,
        limits.ogc_max_limit,
    )?;
    let offset = match offset {
        None => 0,
        Some(v) => v.trim().parse::<usize>().map_err(|_| {
            ApiError::bad(
                "bad_parameter",
                format!("parameter 'offset' = '{v}' must be a whole number from 0"),
            )
        })?,
    };
    Ok((limit, offset))
}

/// The `bbox` parameter.
pub(super) fn parse_bbox(v: &str) -> Result<Rect<f64>, ApiError> {
    crate::bbox::parse(v)
        .map_err(|e| ApiError::bad("bad_parameter", format!("parameter 'bbox' = '{v}': {e}")))
}

fn unsupported(name: &str, collection: &str) -> ApiError {
    ApiError::bad(
        "bad_parameter",
        format!("parameter '{name}' does not apply to collection '{collection}'"),
    )
}

pub(super) async fn items(
    State(state): State<AppState>,
    reader: super::access::Reader,
    headers: HeaderMap,
    BaseUrl(b): BaseUrl,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p: ItemsParams = parse_query(q.as_deref())?;
    negotiate(&headers, p.f.as_deref())?;
    let selector = Selector::parse(None, p.datetime.as_deref(), "datetime")?;
    let snap = super::editing::snapshot_for(&state, selector).await?;
    let c = collection(&snap, &id)?;
    let (limit, offset) = page_params(p.limit.as_deref(), p.offset.as_deref(), &state.limits)?;
    let bbox = p.bbox.as_deref().map(parse_bbox).transpose()?;
    let page = Page::new(offset, limit);
    let page = match c {
        Collection::Level(level) => {
            for (name, given) in [
                ("class", p.class.is_some()),
                ("grid", p.grid.is_some()),
                ("state", p.state.is_some()),
                ("owner", p.owner.is_some()),
            ] {
                if given {
                    return Err(unsupported(name, &id));
                }
            }
            let filter = GridFilter::new(p.parent.as_deref(), bbox)?;
            items::grid_items(&reader.sees(&snap), level, &filter, page)
        }
        Collection::Components => {
            if p.parent.is_some() {
                return Err(unsupported("parent", &id));
            }
            let filter = ComponentFilter::parse(
                &snap,
                p.class.as_deref(),
                p.state.as_deref(),
                p.grid.as_deref(),
                p.owner.as_deref(),
                bbox,
            )?;
            items::component_items(&reader.sees(&snap), &filter, page)
        }
    };
    let links = page_links(&b, &id, q.as_deref(), &page);
    Ok(json_response(
        "application/geo+json",
        json!({
            "type": "FeatureCollection",
            "numberMatched": page.matched,
            "numberReturned": page.features.len(),
            "links": links,
            "features": page.features,
        }),
    ))
}

/// `self`, `next` and `prev` links of a page, keeping the request's other parameters.
fn page_links(base: &str, id: &str, query: Option<&str>, page: &Page) -> Vec<Value> {
    let mut query: Vec<(String, String)> =
        serde_urlencoded::from_str::<Vec<(String, String)>>(query.unwrap_or(""))
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| k != "offset" && k != "limit")
            .collect();
    query.push(("limit".into(), page.limit.to_string()));
    let link = |rel: &str, off: usize| {
        let mut qs = query.clone();
        qs.push(("offset".into(), off.to_string()));
        json!({
            "href": format!("{base}/ogc/collections/{id}/items?{}", serde_urlencoded::to_string(&qs).unwrap_or_default()),
            "rel": rel,
            "type": "application/geo+json"
        })
    };
    let mut links = vec![link("self", page.offset)];
    if page.has_next() {
        links.push(link("next", page.offset + page.features.len()));
    }
    if page.offset > 0 {
        links.push(link("prev", page.offset.saturating_sub(page.limit)));
    }
    links
}

pub(super) async fn item(
    State(state): State<AppState>,
    reader: super::access::Reader,
    headers: HeaderMap,
    BaseUrl(b): BaseUrl,
    Path((id, fid)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p: FOnly = parse_query(q.as_deref())?;
    negotiate(&headers, p.f.as_deref())?;
    let snap = state.snapshot();
    let seen = reader.sees(&snap);
    let feature = match collection(&snap, &id)? {
        Collection::Level(level) => snap
            .grid_by_code(&fid)
            .filter(|g| g.level == level)
            .and_then(|g| grid_feature(&seen, &g.code)),
        Collection::Components => component_feature(&seen, &fid),
    };
    let mut f = feature.ok_or_else(|| {
        ApiError::NotFound(format!(
            "collection '{id}' has no feature '{fid}'{}",
            seen.hint()
        ))
    })?;
    f["links"] = json!([
        {"href": format!("{b}/ogc/collections/{id}/items/{fid}"), "rel": "self", "type": "application/geo+json"},
        {"href": format!("{b}/ogc/collections/{id}"), "rel": "collection", "type": "application/json"}
    ]);
    Ok(json_response("application/geo+json", f))
}
