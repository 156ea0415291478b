//! What each role reads, on every read path, through the router in
//! process over a store made from the sample city: a worker's token never
//! returns a component outside their own unit grids, a department's never
//! one outside its classes, whichever endpoint is asked (feature API, OGC
//! API, search, statistics, nearest, tiles, batch lookups); other workers'
//! names are masked for them; a scoped tile never comes from another
//! scope's cache entry; drafts are read by planners only; `--public none`
//! asks a token for every read.
//!
//! The oracle is the data itself: the grids whose `worker` field names the
//! worker, and point-in-polygon tests of geo on their polygons (not the
//! snapshot's raster index that the code under test uses).

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use geo::{Contains, Intersects};
use serde_json::Value;

use common::{Reply, send};
use wangge::auth::keys::KeyRequest;
use wangge::auth::{Policy, PublicAccess, Role};
use wangge::http::{AppState, Editing, Limits, Planners, router};
use wangge::model::Dataset;
use wangge::snapshot::Snapshot;
use wangge::store::Store;

struct City {
    app: Router,
    store: Arc<dyn Store>,
    snap: Arc<Snapshot>,
    _dir: tempfile::TempDir,
}

fn city(policy: Policy) -> City {
    let dir = tempfile::tempdir().unwrap();
    let (store, snap) = common::sample_store(dir.path());
    let state = AppState::new(snap, Limits::default())
        .with_policy(policy)
        .with_editing(Editing::new(store.clone(), Planners::default()));
    City {
        app: router(state.clone()),
        snap: state.snapshot(),
        store,
        _dir: dir,
    }
}

fn key(c: &City, role: Role, worker: Option<&str>, classes: &[&str]) -> String {
    wangge::auth::keys::create(
        c.store.as_ref(),
        &KeyRequest {
            name: format!("{role} test"),
            role,
            worker: worker.map(str::to_string),
            classes: classes.iter().map(|s| s.to_string()).collect(),
        },
    )
    .unwrap()
    .1
}

async fn get(app: &Router, uri: &str, token: Option<&str>) -> Reply {
    let mut r = Request::get(uri);
    if let Some(t) = token {
        r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    send(app, r.body(Body::empty()).unwrap()).await
}

async fn get_json(app: &Router, uri: &str, token: Option<&str>) -> Value {
    let r = get(app, uri, token).await;
    assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text());
    r.json()
}

/// Which components a scope must and may show: those strictly inside
/// (must) and those touching (may: a component on a border of a grid in
/// reach) the allowed grids, or of the allowed classes.
struct Expected {
    must: BTreeSet<String>,
    may: BTreeSet<String>,
}

impl Expected {
    fn of_worker(data: &Dataset, worker: &str) -> Expected {
        let unit = data.scheme.finest();
        let grids: Vec<_> = data
            .grids
            .iter()
            .filter(|g| g.level == unit && g.worker.as_deref() == Some(worker))
            .collect();
        assert!(!grids.is_empty(), "{worker} has grids");
        let (mut must, mut may) = (BTreeSet::new(), BTreeSet::new());
        for c in data.components.iter() {
            let p = geo::Point(c.location());
            if grids.iter().any(|g| g.geometry.contains(&p)) {
                must.insert(c.code());
            }
            if grids.iter().any(|g| g.geometry.intersects(&p)) {
                may.insert(c.code());
            }
        }
        Expected { must, may }
    }

    fn of_major(data: &Dataset, major: &str) -> Expected {
        let codes: BTreeSet<String> = data
            .components
            .iter()
            .filter(|c| data.classes.def(c.class()).code.starts_with(major))
            .map(|c| c.code())
            .collect();
        Expected {
            must: codes.clone(),
            may: codes,
        }
    }

    fn check(&self, got: &BTreeSet<String>, path: &str) {
        let outside: Vec<&String> = got.difference(&self.may).take(5).collect();
        assert!(
            outside.is_empty(),
            "{path} returned components out of scope: {outside:?}"
        );
        let missing: Vec<&String> = self.must.difference(got).take(5).collect();
        assert!(
            missing.is_empty(),
            "{path} left out components in scope: {missing:?}"
        );
    }
}

fn codes_of(features: &Value) -> BTreeSet<String> {
    features
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["code"].as_str().unwrap().to_string())
        .collect()
}

/// The slippy-map tile holding a lon/lat point at zoom `z`.
fn tile_of(lon: f64, lat: f64, z: u32) -> (u32, u32) {
    let n = f64::from(1u32 << z);
    let x = ((lon + 180.0) / 360.0 * n).floor() as u32;
    let r = lat.to_radians();
    let y =
        ((1.0 - (r.tan() + 1.0 / r.cos()).ln() / std::f64::consts::PI) / 2.0 * n).floor() as u32;
    (x, y)
}

/// Whether an MVT holds the string `s` (component codes are string values).
fn tile_has(tile: &[u8], s: &str) -> bool {
    tile.windows(s.len()).any(|w| w == s.as_bytes())
}

/// Every read path that lists or counts components, asked with `token`,
/// checked against `expected`; `outsider` is a component out of scope.
async fn every_path_keeps_to(c: &City, token: &str, expected: &Expected, outsider: &str) {
    let app = &c.app;
    let t = Some(token);
    let data = c.snap.data();

    // OGC API items, all pages at once.
    let v = get_json(app, "/ogc/collections/components/items?limit=10000", t).await;
    expected.check(&codes_of(&v["features"]), "OGC items");
    assert_eq!(
        v["numberMatched"].as_u64().unwrap() as usize,
        v["features"].as_array().unwrap().len()
    );

    // One component: in scope 200, out of scope 404 (the feature API and OGC).
    let inside = expected
        .must
        .iter()
        .next()
        .expect("the scope holds components");
    get_json(app, &format!("/components/{inside}"), t).await;
    for uri in [
        format!("/components/{outsider}"),
        format!("/ogc/collections/components/items/{outsider}"),
    ] {
        let r = get(app, &uri, t).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{uri}: {}", r.text());
    }

    // Search by the full code.
    let v = get_json(app, &format!("/search?q={outsider}"), t).await;
    assert!(
        v["hits"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["code"] != outsider),
        "search found {outsider}"
    );
    let v = get_json(app, &format!("/search?q={inside}"), t).await;
    assert!(
        v["hits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["code"] == inside.as_str())
    );

    // Statistics: the unit level's counts add up to the scope; the grid of
    // the outsider counts none of it unless it is in scope.
    let v = get_json(app, "/stats?level=unit", t).await;
    let total: u64 = v["grids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["total"].as_u64().unwrap())
        .sum();
    assert!(
        (expected.must.len()..=expected.may.len()).contains(&(total as usize)),
        "/stats total {total} vs {}..{}",
        expected.must.len(),
        expected.may.len()
    );
    let v = get_json(app, "/classes", t).await;
    let classes: u64 = v["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_u64().unwrap())
        .sum();
    assert!(
        (expected.must.len()..=expected.may.len()).contains(&(classes as usize)),
        "/classes {classes}"
    );

    // Nearest around the outsider: it, and every other answer, in scope or not returned.
    let o = data.components.find(outsider).unwrap().location();
    let v = get_json(
        app,
        &format!("/components/nearest?lon={}&lat={}&k=50", o.x, o.y),
        t,
    )
    .await;
    let near = codes_of(&v["features"]);
    assert!(!near.is_empty(), "the scope has components somewhere");
    assert!(near.is_subset(&expected.may), "nearest returned {near:?}");

    // Tiles at a zoom where components are drawn one by one: the tile around
    // the outsider, asked by an admin first (so it is cached), then by this
    // token: the outsider is not in it.
    let admin = key(c, Role::Admin, None, &[]);
    let i = data.components.find(inside).unwrap().location();
    for (p, code, shown) in [(o, outsider, false), (i, inside.as_str(), true)] {
        let (x, y) = tile_of(p.x, p.y, 17);
        let uri = format!("/tiles/components/17/{x}/{y}");
        let full = get(app, &uri, Some(&admin)).await;
        assert!(tile_has(&full.body, code), "the admin's tile shows {code}");
        let mine = get(app, &uri, t).await;
        assert_eq!(
            tile_has(&mine.body, code),
            shown,
            "{uri} as the scoped reader"
        );
        let cc = mine
            .headers
            .get(header::CACHE_CONTROL)
            .unwrap()
            .to_str()
            .unwrap();
        assert!(
            cc.contains("private") && !cc.contains("public"),
            "Cache-Control {cc}"
        );
        // And the admin's tile is not served from the scoped entry either.
        let again = get(app, &uri, Some(&admin)).await;
        assert_eq!(again.body, full.body);
    }
    // A clustered zoom counts only the scope: the whole city's tile at z 12.
    let e = c.snap.components_extent().unwrap();
    let (x, y) = tile_of(e.center().x, e.center().y, 12);
    let scoped = get(app, &format!("/tiles/components/12/{x}/{y}"), t).await;
    let full = get(app, &format!("/tiles/components/12/{x}/{y}"), Some(&admin)).await;
    assert_ne!(
        scoped.body, full.body,
        "a scoped cluster tile differs from the whole city's"
    );
    assert!(!tile_has(&scoped.body, outsider));
}

#[tokio::test]
async fn a_workers_token_reads_only_the_components_of_their_own_grids() {
    let c = city(Policy::default());
    let data = c.snap.data();
    let unit = data.scheme.finest();
    let first = data.grids.iter().find(|g| g.level == unit).unwrap();
    let worker = first.worker.clone().unwrap();
    let expected = Expected::of_worker(data, &worker);
    let outsider = data
        .components
        .iter()
        .map(|c| c.code())
        .find(|code| !expected.may.contains(code))
        .unwrap();
    let token = key(&c, Role::Worker, Some(&worker), &[]);
    every_path_keeps_to(&c, &token, &expected, &outsider).await;

    // Their own name in full, every other worker's masked, on grids,
    // lookups and the record.
    let other = data
        .grids
        .iter()
        .find(|g| g.level == unit && g.worker.as_deref().is_some_and(|w| w != worker))
        .unwrap();
    let other_name = other.worker.as_deref().unwrap();
    let masked: String = other_name
        .chars()
        .enumerate()
        .map(|(i, ch)| if i == 0 { ch } else { '*' })
        .collect();
    let t = Some(token.as_str());
    let v = get_json(&c.app, &format!("/grids/{}", first.code), t).await;
    assert_eq!(v["properties"]["worker"], worker.as_str());
    let v = get_json(&c.app, &format!("/grids/{}", other.code), t).await;
    assert_eq!(v["properties"]["worker"], masked.as_str());
    let p = geo::InteriorPoint::interior_point(&other.geometry).unwrap();
    let v = get_json(&c.app, &format!("/lookup?lon={}&lat={}", p.x(), p.y()), t).await;
    assert_eq!(
        v["worker"],
        masked.as_str(),
        "lookups work anywhere, names masked"
    );
    let v = get_json(&c.app, &format!("/grids/{}/history", other.code), t).await;
    assert_eq!(v["versions"][0]["worker"], masked.as_str());
    let v = get_json(&c.app, "/revisions/1", t).await;
    assert!(
        v["grids"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["worker"].is_null()
                || g["worker"] == worker.as_str()
                || g["worker"]
                    .as_str()
                    .unwrap()
                    .chars()
                    .skip(1)
                    .all(|c| c == '*')),
        "a revision's diff masks other workers"
    );
    // Drafts are plans: not for workers.
    let r = get(&c.app, "/drafts", t).await;
    r.assert_error(StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn a_departments_token_reads_only_the_components_of_its_classes() {
    let c = city(Policy::default());
    let data = c.snap.data();
    let major = data
        .classes
        .def(data.components.get(0).class())
        .major()
        .to_string();
    let expected = Expected::of_major(data, &major);
    let outsider = data
        .components
        .iter()
        .find(|c| !data.classes.def(c.class()).code.starts_with(&major))
        .unwrap()
        .code();
    let token = key(&c, Role::Department, None, &[&major]);
    every_path_keeps_to(&c, &token, &expected, &outsider).await;
    // Workers' names masked.
    let unit = data.scheme.finest();
    let g = data.grids.iter().find(|g| g.level == unit).unwrap();
    let v = get_json(&c.app, &format!("/grids/{}", g.code), Some(&token)).await;
    let w = v["properties"]["worker"].as_str().unwrap();
    assert!(
        w.chars().skip(1).all(|ch| ch == '*') && w.chars().count() > 1,
        "{w}"
    );
}

#[tokio::test]
async fn viewers_and_planners_read_everything_and_the_public_by_policy() {
    let c = city(Policy::default());
    let data = c.snap.data();
    let n = data.components.len();
    let unit = data.scheme.finest();
    let g = data.grids.iter().find(|g| g.level == unit).unwrap();
    for role in [Role::Viewer, Role::Planner, Role::Admin] {
        let t = key(&c, role, None, &[]);
        let v = get_json(
            &c.app,
            "/ogc/collections/components/items?limit=10000",
            Some(&t),
        )
        .await;
        assert_eq!(v["numberMatched"].as_u64().unwrap() as usize, n, "{role}");
        let v = get_json(&c.app, &format!("/grids/{}", g.code), Some(&t)).await;
        assert_eq!(
            v["properties"]["worker"],
            g.worker.as_deref().unwrap(),
            "{role}"
        );
    }
    // The default public: every component, no workers' names, no drafts.
    let v = get_json(
        &c.app,
        "/ogc/collections/components/items?limit=10000",
        None,
    )
    .await;
    assert_eq!(v["numberMatched"].as_u64().unwrap() as usize, n);
    let v = get_json(&c.app, &format!("/grids/{}", g.code), None).await;
    assert!(v["properties"]["worker"].is_null());
    get(&c.app, "/drafts", None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    let viewer = key(&c, Role::Viewer, None, &[]);
    get(&c.app, "/drafts/1/impact", Some(&viewer))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    // A public (cacheable) tile says so; a token's does not.
    let r = get(&c.app, "/tiles/grids/12/3399/1662", None).await;
    let cc = r
        .headers
        .get(header::CACHE_CONTROL)
        .unwrap()
        .to_str()
        .unwrap();
    assert!(cc.contains("public"), "{cc}");
}

#[tokio::test]
async fn a_closed_server_answers_only_tokens_but_serves_the_viewer_shell() {
    let c = city(Policy {
        public: PublicAccess::None,
        ..Policy::default()
    });
    for uri in [
        "/lookup?lon=118.78&lat=32.06",
        "/grids/320102",
        "/ogc/collections",
        "/tiles/grids/12/3399/1662",
        "/search?q=3201",
    ] {
        get(&c.app, uri, None)
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    for uri in ["/health", "/api"] {
        assert_eq!(get(&c.app, uri, None).await.status, StatusCode::OK, "{uri}");
    }
    let t = key(&c, Role::Viewer, None, &[]);
    get_json(&c.app, "/lookup?lon=118.78&lat=32.06", Some(&t)).await;
    // Each refusal is in the audit log.
    let log = c
        .store
        .audit_log(&wangge::store::AuditFilter::newest(100))
        .unwrap();
    assert!(
        log.iter()
            .any(|e| e.action == "GET /lookup" && e.outcome == "refused")
    );
}

#[tokio::test]
async fn metrics_are_for_allowed_addresses_and_admins() {
    let c = city(Policy::default());
    // In process there is no peer address: not an allowed one.
    get(&c.app, "/metrics", None)
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    let viewer = key(&c, Role::Viewer, None, &[]);
    get(&c.app, "/metrics", Some(&viewer))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    let admin = key(&c, Role::Admin, None, &[]);
    let r = get(&c.app, "/metrics", Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().contains("wangge_"));
}
