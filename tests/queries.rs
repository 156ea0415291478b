//! Nearest components, statistics, search and the OGC API - Features endpoints,
//! in-process, against brute-force answers computed here from the snapshot.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use geo::{BoundingRect, Coord, Intersects, Rect};
use http_body_util::BodyExt;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tower::ServiceExt;

use wangge::http::{AppState, Limits, router};
use wangge::measure::LocalFrame;
use wangge::snapshot::Snapshot;

fn setup() -> (axum::Router, Arc<Snapshot>) {
    let (_, snap) = wangge::datadir::open_snapshot(Path::new("data/sample"), |_| {}).unwrap();
    let state = AppState::new(snap, Limits::default());
    (router(state.clone()), state.snapshot())
}

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, String, Value) {
    let req = Request::builder()
        .uri(uri)
        .header(header::HOST, "example.org:8080")
        .body(Body::empty())
        .unwrap();
    get_req(app, req).await
}

async fn get_req(app: &axum::Router, req: Request<Body>) -> (StatusCode, String, Value) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let ct = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    // JSON answers must parse; other media types (CSV, tiles) are not looked into here.
    let v: Value = if ct.contains("json") || !status.is_success() {
        serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "{status} {ct} body is not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        })
    } else {
        Value::Null
    };
    if !status.is_success() {
        assert!(
            v["error"].is_string() && v["message"].is_string(),
            "error body for {status}: {v}"
        );
    }
    (status, ct, v)
}

fn dist_m(p: Coord<f64>, q: Coord<f64>) -> f64 {
    let m = LocalFrame::new(p).to_m(q);
    (m.x * m.x + m.y * m.y).sqrt()
}

/// A rectangle as an OGC `bbox` parameter: `min_lon,min_lat,max_lon,max_lat`.
fn bbox_param(r: Rect<f64>) -> String {
    format!("{},{},{},{}", r.min().x, r.min().y, r.max().x, r.max().y)
}

#[tokio::test]
async fn nearest_equals_brute_force() {
    let (app, snap) = setup();
    let comps = &snap.data().components;
    let ext = snap.extent().unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    for round in 0..40 {
        let p = Coord {
            x: ext.min().x + rng.random::<f64>() * ext.width(),
            y: ext.min().y + rng.random::<f64>() * ext.height(),
        };
        let (k, class) = if round % 2 == 0 {
            (7, None)
        } else {
            (3, Some("0118"))
        };
        let mut all: Vec<(f64, String)> = comps
            .iter()
            .filter(|c| class.is_none_or(|cl| snap.data().classes.def(c.class()).code == cl))
            .map(|c| (dist_m(p, c.location()), c.code()))
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let uri = format!(
            "/components/nearest?lon={}&lat={}&k={k}{}",
            p.x,
            p.y,
            class.map_or(String::new(), |c| format!("&class={c}"))
        );
        let (status, _, v) = get(&app, &uri).await;
        assert_eq!(status, StatusCode::OK);
        let got: Vec<(f64, String)> = v["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["properties"]["distance_m"].as_f64().unwrap(),
                    f["id"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(got.len(), k);
        for (g, w) in got.iter().zip(&all) {
            assert_eq!(g.1, w.1, "round {round}");
            assert!((g.0 - w.0).abs() < 0.01);
        }
    }
    // A radius keeps only what is inside it.
    let c0 = comps.get(0).location();
    let (_, _, v) = get(
        &app,
        &format!(
            "/components/nearest?lon={}&lat={}&k=1000&max_distance_m=30",
            c0.x, c0.y
        ),
    )
    .await;
    let n = comps
        .iter()
        .filter(|c| dist_m(c0, c.location()) <= 30.0)
        .count();
    assert_eq!(v["numberReturned"], n);
    assert!(n >= 1);
    // Bad input.
    for (uri, code) in [
        ("/components/nearest?lat=32", "missing_parameter"),
        ("/components/nearest?lon=118&lat=32&k=0", "bad_parameter"),
        ("/components/nearest?lon=118&lat=32&k=1001", "bad_parameter"),
        (
            "/components/nearest?lon=118&lat=32&class=9999",
            "bad_parameter",
        ),
        (
            "/components/nearest?lon=118&lat=32&class=1",
            "bad_parameter",
        ),
        (
            "/components/nearest?lon=118&lat=32&max_distance_m=-1",
            "bad_parameter",
        ),
        (
            "/components/nearest?lon=118&lat=32&radius=5",
            "bad_parameter",
        ),
    ] {
        let (status, _, v) = get(&app, uri).await;
        assert_eq!(
            (status, v["error"].as_str().unwrap()),
            (StatusCode::BAD_REQUEST, code),
            "{uri}"
        );
    }
}

#[tokio::test]
async fn stats_equal_brute_force_counts() {
    let (app, snap) = setup();
    let data = snap.data();
    for g in data.grids.iter().step_by(17) {
        let inside: Vec<_> = data
            .components
            .iter()
            .filter(|c| {
                snap.unit_grid(c.index)
                    .is_some_and(|u| snap.grid(u).code.starts_with(&g.code))
            })
            .collect();
        let (status, _, v) = get(&app, &format!("/grids/{}/stats", g.code)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(v["total"], inside.len());
        let damaged = inside
            .iter()
            .filter(|c| c.state() == wangge::model::ComponentState::Damaged)
            .count();
        assert_eq!(v["by_state"]["damaged"], damaged);
        let trees = inside
            .iter()
            .filter(|c| data.classes.def(c.class()).code == "0402")
            .count();
        assert_eq!(v["by_class"]["0402"].as_u64().unwrap_or(0), trees as u64);
        assert_eq!(v["children"], snap.children(g).len());
        assert!(v["area_m2"].as_f64().unwrap() > 0.0);
    }
    // Per level: every district, and the city total adds up.
    let (status, _, v) = get(&app, "/stats?level=district&class=01").await;
    assert_eq!(status, StatusCode::OK);
    let grids = v["grids"].as_array().unwrap();
    assert_eq!(grids.len(), snap.level(0).len());
    let total: u64 = grids.iter().map(|g| g["total"].as_u64().unwrap()).sum();
    assert_eq!(total as usize, data.components.len());
    let public: u64 = grids
        .iter()
        .map(|g| g["class_count"].as_u64().unwrap())
        .sum();
    let want = data
        .components
        .iter()
        .filter(|c| data.classes.def(c.class()).major() == "01")
        .count();
    assert_eq!(public as usize, want);
    let (_, _, v) = get(&app, "/stats").await;
    assert_eq!(v["level"], "unit");
    for (uri, status) in [
        ("/stats?level=planet", StatusCode::BAD_REQUEST),
        ("/stats?class=99", StatusCode::BAD_REQUEST),
        ("/grids/320102999/stats", StatusCode::NOT_FOUND),
        ("/grids/12a/stats", StatusCode::BAD_REQUEST),
    ] {
        assert_eq!(get(&app, uri).await.0, status, "{uri}");
    }
}

#[tokio::test]
async fn search_by_code_prefix_and_name() {
    let (app, snap) = setup();
    let data = snap.data();
    let unit = data.grids.iter().find(|g| g.level == 3).unwrap();
    // Exact code first.
    let (_, _, v) = get(&app, &format!("/search?q={}", unit.code)).await;
    assert_eq!(v["hits"][0]["code"], unit.code.as_str());
    assert_eq!(v["hits"][0]["rank"], 0);
    // A component code prefix lists components of that district and class.
    let c = data.components.get(100).code();
    let (_, _, v) = get(&app, &format!("/search?q={}&limit=100", &c[..10])).await;
    let comps: Vec<&Value> = v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["kind"] == "component")
        .collect();
    let want = data
        .components
        .iter()
        .filter(|x| x.code().starts_with(&c[..10]))
        .count()
        .min(100);
    assert!(!comps.is_empty() && comps.len() <= want);
    assert!(
        comps
            .iter()
            .all(|h| h["code"].as_str().unwrap().starts_with(&c[..10]))
    );
    // A Chinese name: grids whose names contain it, exact and prefix before substring.
    let name = &unit.name;
    let q = urlencode(name);
    let (_, _, v) = get(&app, &format!("/search?q={q}")).await;
    assert_eq!(v["hits"][0]["name"], name.as_str());
    let fragment: String = name.chars().take(2).collect();
    let (_, _, v) = get(
        &app,
        &format!("/search?q={}&limit=100", urlencode(&fragment)),
    )
    .await;
    let want = data
        .grids
        .iter()
        .filter(|g| g.name.contains(&fragment))
        .count()
        .min(100);
    let got = v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["kind"] == "grid")
        .count();
    assert_eq!(got, want);
    let ranks: Vec<u64> = v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["rank"].as_u64().unwrap())
        .collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "ranked: {ranks:?}");
    // Classes by name, with counts.
    let (_, _, v) = get(&app, &format!("/search?q={}", urlencode("路灯"))).await;
    let lamp = v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["code"] == "0118")
        .expect("路灯 class");
    let n = data
        .components
        .iter()
        .filter(|c| data.classes.def(c.class()).code == "0118")
        .count();
    assert_eq!(lamp["count"], n);
    for uri in [
        "/search",
        "/search?q=",
        "/search?q=%20",
        "/search?q=a&limit=0",
        "/search?q=a&limit=101",
        "/search?q=a&x=1",
    ] {
        assert_eq!(get(&app, uri).await.0, StatusCode::BAD_REQUEST, "{uri}");
    }
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("q", s)]).unwrap()[2..].to_string()
}

#[tokio::test]
async fn ogc_api_features_core() {
    let (app, snap) = setup();
    let (status, ct, v) = get(&app, "/ogc").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("application/json"));
    let rels: Vec<&str> = v["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rel"].as_str().unwrap())
        .collect();
    for r in ["self", "service-desc", "conformance", "data"] {
        assert!(rels.contains(&r), "{rels:?}");
    }
    assert!(
        v["links"][0]["href"]
            .as_str()
            .unwrap()
            .starts_with("http://example.org:8080/")
    );
    let (_, _, v) = get(&app, "/ogc/conformance").await;
    assert!(
        v["conformsTo"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_str().unwrap().ends_with("/conf/geojson"))
    );
    let (_, _, v) = get(&app, "/ogc/collections").await;
    let ids: Vec<&str> = v["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["district", "street", "community", "unit", "components"]
    );
    let (_, _, v) = get(&app, "/ogc/collections/unit").await;
    let bbox = &v["extent"]["spatial"]["bbox"][0];
    let ext = snap.level(3).extent().unwrap();
    assert_eq!(bbox[0].as_f64().unwrap(), ext.min().x);

    // Items in a bbox: exactly the grids that intersect it, in pages.
    let r = Rect::new(
        Coord {
            x: 118.770,
            y: 32.050,
        },
        Coord {
            x: 118.780,
            y: 32.060,
        },
    );
    let mut want: Vec<&str> = snap
        .data()
        .grids
        .iter()
        .filter(|g| g.level == 3 && g.geometry.intersects(&r))
        .map(|g| g.code.as_str())
        .collect();
    want.sort();
    let mut got: Vec<String> = Vec::new();
    let mut uri =
        "/ogc/collections/unit/items?bbox=118.770,32.050,118.780,32.060&limit=10".to_string();
    loop {
        let (status, ct, v) = get(&app, &uri).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ct, "application/geo+json");
        assert_eq!(v["numberMatched"], want.len());
        assert_eq!(v["numberReturned"], v["features"].as_array().unwrap().len());
        got.extend(
            v["features"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["id"].as_str().unwrap().to_string()),
        );
        match v["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "next")
        {
            Some(l) => {
                uri = l["href"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("http://example.org:8080")
                    .to_string()
            }
            None => break,
        }
    }
    assert_eq!(got, want);
    // lon/lat order (RFC 7946): the first coordinate is a longitude.
    let (_, _, v) = get(&app, &format!("/ogc/collections/unit/items/{}", want[0])).await;
    let first = &v["geometry"]["coordinates"][0][0][0];
    assert!(first[0].as_f64().unwrap() > 100.0 && first[1].as_f64().unwrap() < 40.0);

    // Filters.
    let street = snap.data().grids.iter().find(|g| g.level == 1).unwrap();
    let (_, _, v) = get(
        &app,
        &format!("/ogc/collections/community/items?parent={}", street.code),
    )
    .await;
    assert_eq!(v["numberMatched"], snap.children(street).len());
    let community = &snap.children(street)[0];
    let (_, _, v) = get(
        &app,
        &format!(
            "/ogc/collections/components/items?grid={}&class=04&state=intact&limit=1000",
            community.code
        ),
    )
    .await;
    let data = snap.data();
    let want = data
        .components
        .iter()
        .filter(|c| {
            snap.unit_grid(c.index)
                .is_some_and(|u| snap.grid(u).code.starts_with(&community.code))
                && data.classes.def(c.class()).major() == "04"
                && c.state() == wangge::model::ComponentState::Intact
        })
        .count();
    assert_eq!(v["numberMatched"], want);
    assert!(want > 0);
    let owner = data.components.get(0).owner().to_string();
    let (_, _, v) = get(
        &app,
        &format!(
            "/ogc/collections/components/items?owner={}&limit=1",
            urlencode(&owner)
        ),
    )
    .await;
    assert_eq!(
        v["numberMatched"],
        data.components
            .iter()
            .filter(|c| c.owner() == owner)
            .count()
    );
    // Components in a bbox.
    let bb = community.geometry.bounding_rect().unwrap();
    let (_, _, v) = get(
        &app,
        &format!(
            "/ogc/collections/components/items?bbox={}&limit=1",
            bbox_param(bb)
        ),
    )
    .await;
    let n = data
        .components
        .iter()
        .filter(|c| bb.intersects(&c.location()))
        .count();
    assert_eq!(v["numberMatched"], n);

    // A grid and a bbox together: components in both; none when they do not meet.
    let half = Rect::new(
        bb.min(),
        Coord {
            x: (bb.min().x + bb.max().x) / 2.0,
            y: bb.max().y,
        },
    );
    let (_, _, v) = get(
        &app,
        &format!(
            "/ogc/collections/components/items?grid={}&bbox={}&limit=1",
            community.code,
            bbox_param(half)
        ),
    )
    .await;
    let want = data
        .components
        .iter()
        .filter(|c| {
            snap.unit_grid(c.index)
                .is_some_and(|u| snap.grid(u).code.starts_with(&community.code))
                && half.intersects(&c.location())
        })
        .count();
    assert_eq!(v["numberMatched"], want);
    assert!(want > 0);
    let (_, _, v) = get(
        &app,
        &format!(
            "/ogc/collections/components/items?grid={}&bbox=100,20,100.1,20.1",
            community.code
        ),
    )
    .await;
    assert_eq!(v["numberMatched"], 0);

    // Bad requests.
    for (uri, status) in [
        (
            "/ogc/collections/unit/items?bbox=1,2,3",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ogc/collections/unit/items?bbox=a,b,c,d",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ogc/collections/unit/items?bbox=10,20,5,30",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ogc/collections/unit/items?bbox=0,-95,1,1",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ogc/collections/unit/items?limit=0",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ogc/collections/unit/items?limit=10001",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ogc/collections/unit/items?offset=-1",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ogc/collections/unit/items?class=0101",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ogc/collections/components/items?parent=32",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ogc/collections/components/items?state=broken",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ogc/collections/components/items?grid=999",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ogc/collections/unit/items?frobnicate=1",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ogc/collections/unit/items?f=html",
            StatusCode::BAD_REQUEST,
        ),
        ("/ogc/collections/rivers/items", StatusCode::NOT_FOUND),
        ("/ogc/collections/rivers", StatusCode::NOT_FOUND),
        ("/ogc/collections/unit/items/320102", StatusCode::NOT_FOUND),
        ("/ogc/collections/components/items/1", StatusCode::NOT_FOUND),
    ] {
        let (s, _, v) = get(&app, uri).await;
        assert_eq!(s, status, "{uri}: {v}");
    }
    let (_, _, v) = get(&app, "/ogc/collections/unit/items?frobnicate=1").await;
    assert!(v["message"].as_str().unwrap().contains("frobnicate"));
    let req = Request::builder()
        .uri("/ogc/collections")
        .header(header::ACCEPT, "text/html")
        .body(Body::empty())
        .unwrap();
    assert_eq!(get_req(&app, req).await.0, StatusCode::NOT_ACCEPTABLE);
}

#[tokio::test]
async fn openapi_document_describes_every_route() {
    let (app, _) = setup();
    let (status, ct, v) = get(&app, "/api").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("application/vnd.oai.openapi+json"));
    assert_eq!(v["openapi"], "3.0.3");
    let paths = v["paths"].as_object().unwrap();
    for p in [
        "/health",
        "/lookup",
        "/grids/{code}",
        "/grids/{code}/stats",
        "/components/{code}",
        "/components/nearest",
        "/stats",
        "/search",
        "/api",
        "/ogc",
        "/ogc/conformance",
        "/ogc/collections",
        "/ogc/collections/{collectionId}",
        "/ogc/collections/{collectionId}/items",
        "/ogc/collections/{collectionId}/items/{featureId}",
        "/catalog",
        "/tiles/{source}",
        "/tiles/{source}/{z}/{x}/{y}",
        "/styles/{name}",
        "/classes",
        "/",
        "/viewer/{path}",
        "/fonts/{fontstack}/{range}",
        "/revisions",
        "/revisions/diff",
        "/revisions/{n}",
        "/revisions/{n}/revert",
        "/grids/{code}/history",
        "/audit",
        "/changes",
        "/drafts",
        "/drafts/{id}",
        "/drafts/{id}/upload",
        "/drafts/{id}/operations",
        "/drafts/{id}/validation",
        "/drafts/{id}/impact",
        "/drafts/{id}/publish",
        "/drafts/{id}/ogc",
        "/drafts/{id}/ogc/conformance",
        "/drafts/{id}/ogc/collections",
        "/drafts/{id}/ogc/collections/{cid}",
        "/drafts/{id}/ogc/collections/{cid}/items",
        "/drafts/{id}/ogc/collections/{cid}/items/{code}",
    ] {
        assert!(paths.contains_key(p), "{p} missing from /api");
    }
    // Every $ref resolves.
    let text = v.to_string();
    for r in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &r[..r.find('"').unwrap()];
        assert!(
            v["components"]["schemas"].get(name).is_some(),
            "dangling $ref {name}"
        );
    }
}
