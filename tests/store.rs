//! The store of record through the router, in process: drafts edited with
//! OGC API - Features Part 4 and uploads, optimistic locking, validation of
//! crafted bad drafts (each rule), impact against brute force, publish,
//! conflicts and rebases, revert, history, time travel against an oracle
//! kept by the test, the change feed, and what GDAL sees in the file.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use geo::{
    BooleanOps, BoundingRect, Centroid, Contains, Coord, Intersects, MultiPolygon, Scale, Translate,
};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use common::{Reply, send};
use wangge::edit;
use wangge::http::{AppState, Editing, Limits, Planners, router};
use wangge::model::Grid;
use wangge::snapshot::Snapshot;
use wangge::store::{GeoPackage, Store, Timestamp, View};

const LI: &str = "Bearer 0123456789abcdef0123";
const WANG: &str = "Bearer fedcba9876543210fedc";

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample")
}

struct City {
    app: Router,
    state: AppState,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
    path: PathBuf,
}

/// A store created from the sample city, served in process.
fn city() -> City {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("city.gpkg");
    let (store, created) = edit::open_or_seed(&path, &sample()).unwrap();
    assert!(created);
    let store: Arc<dyn Store> = Arc::new(store);
    let view = edit::head_view(store.as_ref()).unwrap();
    let snap = Snapshot::from_store(store.as_ref(), view).unwrap();
    let planners =
        Planners::parse("li.ming:0123456789abcdef0123\nwang.fang:fedcba9876543210fedc").unwrap();
    let state =
        AppState::new(snap, Limits::default()).with_editing(Editing::new(store.clone(), planners));
    City {
        app: router(state.clone()),
        state,
        store,
        _dir: dir,
        path,
    }
}

/// A read as the planner li.ming (drafts and workers' names are not public).
async fn get(app: &Router, uri: &str) -> Reply {
    call(app, "GET", uri, Some(LI), "").await
}

async fn call(app: &Router, method: &str, uri: &str, auth: Option<&str>, body: &str) -> Reply {
    call_with(app, method, uri, auth, &[], body).await
}

async fn call_with(
    app: &Router,
    method: &str,
    uri: &str,
    auth: Option<&str>,
    headers: &[(&str, &str)],
    body: impl AsRef<[u8]>,
) -> Reply {
    let mut r = Request::builder().method(method).uri(uri);
    if let Some(a) = auth {
        r = r.header(header::AUTHORIZATION, a);
    }
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    send(app, r.body(Body::from(body.as_ref().to_vec())).unwrap()).await
}

async fn new_draft(app: &Router, auth: &str, body: &str) -> u64 {
    let r = call(app, "POST", "/drafts", Some(auth), body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()["id"].as_u64().unwrap()
}

fn feature(g: &Grid) -> String {
    json!({
        "type": "Feature",
        "geometry": geojson::Geometry::new(geojson::Value::from(&g.geometry)),
        "properties": { "code": g.code, "name": g.name, "worker": g.worker }
    })
    .to_string()
}

fn level_name(level: usize) -> &'static str {
    ["district", "street", "community", "unit"][level]
}

/// PUT a grid into a draft (no If-Match).
async fn put(app: &Router, id: u64, g: &Grid) -> Reply {
    call(
        app,
        "PUT",
        &format!(
            "/drafts/{id}/ogc/collections/{}/items/{}",
            level_name(g.level),
            g.code
        ),
        Some(LI),
        &feature(g),
    )
    .await
}

async fn publish(app: &Router, id: u64, message: &str) -> Reply {
    call(
        app,
        "POST",
        &format!("/drafts/{id}/publish"),
        Some(LI),
        &json!({ "message": message }).to_string(),
    )
    .await
}

async fn worker_of(app: &Router, code: &str) -> Value {
    get(app, &format!("/grids/{code}")).await.json()["properties"]["worker"].clone()
}

fn grids_now(store: &dyn Store) -> Vec<Grid> {
    store
        .grids(View {
            revision: store.head().unwrap().unwrap().revision,
            valid_at: Timestamp::now(),
        })
        .unwrap()
}

fn grid<'a>(grids: &'a [Grid], code: &str) -> &'a Grid {
    grids.iter().find(|g| g.code == code).unwrap()
}

/// Two unit grids of one community that share a border, and the community.
fn neighbours(grids: &[Grid]) -> (Grid, Grid, Grid) {
    let units: Vec<&Grid> = grids.iter().filter(|g| g.level == 3).collect();
    for a in &units {
        for b in &units {
            if a.code < b.code && a.code[..12] == b.code[..12] && a.geometry.intersects(&b.geometry)
            {
                let community = grid(grids, &a.code[..12]).clone();
                return ((*a).clone(), (*b).clone(), community);
            }
        }
    }
    panic!("no neighbouring unit grids in the sample");
}

/// The half of `g` west (`west`) or east of the vertical line through its centroid.
fn half(g: &MultiPolygon<f64>, west: bool) -> MultiPolygon<f64> {
    let c = g.centroid().unwrap();
    let b = g.bounding_rect().unwrap();
    let (x0, x1) = if west {
        (b.min().x - 1.0, c.x())
    } else {
        (c.x(), b.max().x + 1.0)
    };
    let cut = wangge::validate::rect_polygon(x0, b.min().y - 1.0, x1, b.max().y + 1.0);
    g.intersection(&MultiPolygon(vec![cut]))
}

#[tokio::test]
async fn writes_need_a_planner_token_and_every_write_and_refusal_is_audited() {
    let c = city();
    let r = call(&c.app, "POST", "/drafts", None, "{}").await;
    r.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(r.headers.contains_key(header::WWW_AUTHENTICATE));
    let r = call(
        &c.app,
        "POST",
        "/drafts",
        Some("Bearer not-a-planner-token"),
        "{}",
    )
    .await;
    r.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    let id = new_draft(&c.app, LI, r#"{"title":"t"}"#).await;
    // Reading the audit log is an admin's right: not anonymous, not a planner.
    call(&c.app, "GET", "/audit", None, "")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    call(&c.app, "GET", "/audit", Some(WANG), "")
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    let (_, admin) = wangge::auth::keys::create(
        c.store.as_ref(),
        &wangge::auth::keys::KeyRequest {
            name: "ops".into(),
            role: wangge::auth::Role::Admin,
            worker: None,
            classes: Vec::new(),
        },
    )
    .unwrap();
    let bearer = format!("Bearer {admin}");
    let log = call(&c.app, "GET", "/audit", Some(&bearer), "")
        .await
        .json();
    let entries = log["entries"].as_array().unwrap();
    let refused: Vec<&Value> = entries
        .iter()
        .filter(|e| e["outcome"] == "refused" && e["actor"] == "anonymous")
        .collect();
    assert!(refused.len() >= 3, "{log}");
    assert!(entries.iter().any(|e| e["outcome"] == "ok"
        && e["actor"] == "li.ming (planner:li.ming, planner)"
        && e["target"] == format!("draft {id}")));
    assert!(entries.iter().any(|e| e["outcome"] == "refused"
        && e["actor"] == "wang.fang (planner:wang.fang, planner)"
        && e["action"] == "GET /audit"));
}

#[tokio::test]
async fn a_stale_if_match_is_refused_with_412_and_loses_nothing() {
    let c = city();
    let grids = grids_now(c.store.as_ref());
    let (a, _, _) = neighbours(&grids);
    let id = new_draft(&c.app, LI, "{}").await;
    let uri = format!("/drafts/{id}/ogc/collections/unit/items/{}", a.code);
    let r = get(&c.app, &uri).await;
    assert_eq!(r.status, StatusCode::OK);
    let base_tag = r.headers[header::ETAG].to_str().unwrap().to_string();
    // Planner 1 renames it with the tag read.
    let mut renamed = a.clone();
    renamed.name = "一号".into();
    let r1 = call_with(
        &c.app,
        "PUT",
        &uri,
        Some(LI),
        &[("if-match", &base_tag)],
        &feature(&renamed),
    )
    .await;
    assert_eq!(r1.status, StatusCode::OK, "{}", r1.text());
    let tag1 = r1.headers[header::ETAG].to_str().unwrap().to_string();
    assert_ne!(tag1, base_tag);
    // Planner 2 still holds the base tag: refused.
    let mut other = a.clone();
    other.name = "二号".into();
    let r2 = call_with(
        &c.app,
        "PUT",
        &uri,
        Some(WANG),
        &[("if-match", &base_tag)],
        &feature(&other),
    )
    .await;
    r2.assert_error(StatusCode::PRECONDITION_FAILED, "stale");
    let r = get(&c.app, &uri).await;
    assert_eq!(
        r.json()["properties"]["name"],
        "一号",
        "the first edit is kept"
    );
    assert_eq!(r.headers[header::ETAG].to_str().unwrap(), tag1);
    // A delete with a stale tag is refused too; with the current one it retires.
    call_with(
        &c.app,
        "DELETE",
        &uri,
        Some(LI),
        &[("if-match", &base_tag)],
        "",
    )
    .await
    .assert_error(StatusCode::PRECONDITION_FAILED, "stale");
    let r = call_with(&c.app, "DELETE", &uri, Some(LI), &[("if-match", &tag1)], "").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(get(&c.app, &uri).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_features_get_a_400_that_says_what_to_fix() {
    let c = city();
    let id = new_draft(&c.app, LI, "{}").await;
    let items = format!("/drafts/{id}/ogc/collections/unit/items");
    for (body, what) in [
        ("not json", "not JSON"),
        (
            r#"{"type":"FeatureCollection","features":[]}"#,
            "one GeoJSON Feature",
        ),
        (
            r#"{"type":"Feature","geometry":{"type":"Point","coordinates":[118.7,32.0]},"properties":{"code":"320102001001099"}}"#,
            "Polygon",
        ),
        (
            r#"{"type":"Feature","geometry":null,"properties":{"code":"320102001001099"}}"#,
            "polygon geometry",
        ),
        (
            r#"{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[118.7,32.0],[118.71,32.0],[118.71,32.01],[118.7,32.0]]]},"properties":{"code":"3201"}}"#,
            "3201",
        ),
    ] {
        let r = call(&c.app, "POST", &items, Some(LI), body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text());
        let m = r.json()["message"].as_str().unwrap().to_string();
        assert!(m.contains(what), "{body}: {m}");
        assert!(!m.contains("serde") && !m.contains("wangge::"), "{m}");
    }
    assert!(
        call(&c.app, "GET", &format!("/drafts/{id}"), Some(LI), "")
            .await
            .json()["changes"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    call(&c.app, "GET", "/drafts/999", Some(LI), "")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    call(&c.app, "POST", "/drafts/1/publish", Some(LI), "{}")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "missing_message");
}

/// Each rule of grid management, broken by a crafted draft, is reported
/// with its kind and a geometry (or location) a map can draw, and blocks
/// the publish with a 422.
#[tokio::test]
async fn crafted_bad_drafts_are_reported_rule_by_rule_and_cannot_publish() {
    let c = city();
    let grids = grids_now(c.store.as_ref());
    let (a, b, community) = neighbours(&grids);
    let cases: Vec<(&str, Vec<Grid>, Vec<&str>)> = vec![
        // a grows into b: overlap (and a leaves its community where b's edge is the community's).
        (
            "overlap",
            vec![Grid {
                geometry: a.geometry.union(&b.geometry.scale(0.5)),
                ..a.clone()
            }],
            vec!["overlap"],
        ),
        // a shrinks: a gap in the community.
        (
            "gap",
            vec![Grid {
                geometry: a.geometry.scale(0.8),
                ..a.clone()
            }],
            vec!["gap"],
        ),
        // a moves out of its community by its own width.
        (
            "outside",
            vec![{
                let w = a.geometry.bounding_rect().unwrap().width();
                Grid {
                    geometry: a.geometry.translate(w * 40.0, 0.0),
                    ..a.clone()
                }
            }],
            vec!["child_outside_parent", "gap"],
        ),
        // a bow-tie ring.
        (
            "ring",
            vec![{
                let r = a.geometry.bounding_rect().unwrap();
                let (x0, y0, x1, y1) = (r.min().x, r.min().y, r.max().x, r.max().y);
                let ring = vec![
                    Coord { x: x0, y: y0 },
                    Coord { x: x1, y: y1 },
                    Coord { x: x1, y: y0 },
                    Coord { x: x0, y: y1 },
                    Coord { x: x0, y: y0 },
                ];
                Grid {
                    geometry: MultiPolygon(vec![geo::Polygon::new(ring.into(), vec![])]),
                    ..a.clone()
                }
            }],
            vec!["self_intersection"],
        ),
        // a new unit grid whose community does not exist.
        (
            "parent",
            vec![Grid {
                code: format!("{}999001", &a.code[..9]),
                geometry: a.geometry.translate(0.5, 0.5),
                ..a.clone()
            }],
            vec!["missing_parent"],
        ),
    ];
    for (name, changes, kinds) in cases {
        let id = new_draft(&c.app, LI, &json!({ "title": name }).to_string()).await;
        for g in &changes {
            let r = put(&c.app, id, g).await;
            if r.status == StatusCode::NOT_FOUND {
                let r = call(
                    &c.app,
                    "POST",
                    &format!("/drafts/{id}/ogc/collections/unit/items"),
                    Some(LI),
                    &feature(g),
                )
                .await;
                assert_eq!(r.status, StatusCode::CREATED, "{name}: {}", r.text());
            } else {
                assert_eq!(r.status, StatusCode::OK, "{name}: {}", r.text());
            }
        }
        let v = get(&c.app, &format!("/drafts/{id}/validation"))
            .await
            .json();
        assert_eq!(v["publishable"], false, "{name}: {v}");
        let found: Vec<&str> = v["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["properties"]["kind"].as_str().unwrap())
            .collect();
        for k in &kinds {
            assert!(found.contains(k), "{name}: expected {k} in {found:?}");
        }
        for f in v["features"].as_array().unwrap() {
            assert!(
                !f["geometry"].is_null(),
                "{name}: a problem without geometry: {f}"
            );
        }
        let r = publish(&c.app, id, name).await;
        r.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_draft");
        assert!(!r.json()["problems"].as_array().unwrap().is_empty());
    }
    // Retiring a parent whose children stay.
    let id = new_draft(&c.app, LI, "{}").await;
    let r = call(
        &c.app,
        "DELETE",
        &format!(
            "/drafts/{id}/ogc/collections/community/items/{}",
            community.code
        ),
        Some(LI),
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let v = get(&c.app, &format!("/drafts/{id}/validation"))
        .await
        .json();
    assert!(
        v["features"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["properties"]["kind"] == "missing_parent"
                && f["properties"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("children")),
        "{v}"
    );
    assert_eq!(
        c.store.head().unwrap().unwrap().revision,
        1,
        "nothing was published"
    );
}

/// Splits a unit grid in two along a line: valid, publishable, visible in
/// lookups at once; the impact matches a brute-force count; the old city
/// stays readable by revision and by time.
#[tokio::test]
async fn a_split_publishes_and_the_past_stays_readable() {
    let c = city();
    let grids = grids_now(c.store.as_ref());
    let (a, _, _) = neighbours(&grids);
    let new_code = {
        let mut n = 1;
        loop {
            let code = format!("{}{:03}", &a.code[..12], n);
            if !grids.iter().any(|g| g.code == code) {
                break code;
            }
            n += 1;
        }
    };
    let west = Grid {
        geometry: half(&a.geometry, true),
        ..a.clone()
    };
    let east = Grid {
        code: new_code.clone(),
        name: "新网格".into(),
        worker: Some("赵六".into()),
        geometry: half(&a.geometry, false),
        ..a.clone()
    };
    let id = new_draft(
        &c.app,
        LI,
        &json!({ "title": "split", "scope": &a.code[..12] }).to_string(),
    )
    .await;
    assert_eq!(put(&c.app, id, &west).await.status, StatusCode::OK);
    let r = call(
        &c.app,
        "POST",
        &format!("/drafts/{id}/ogc/collections/unit/items"),
        Some(LI),
        &feature(&east),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert!(
        r.headers[header::LOCATION]
            .to_str()
            .unwrap()
            .ends_with(&new_code)
    );
    // Outside the draft's scope: refused.
    let outside = grids
        .iter()
        .find(|g| g.level == 3 && !g.code.starts_with(&a.code[..12]))
        .unwrap();
    put(&c.app, id, outside)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "refused");
    let v = get(&c.app, &format!("/drafts/{id}/validation"))
        .await
        .json();
    assert_eq!(v["publishable"], true, "{v}");
    // Impact: the components that move are exactly those in the east half.
    let imp = get(&c.app, &format!("/drafts/{id}/impact")).await.json();
    assert_eq!(imp["added"], 1, "{imp}");
    assert_eq!(imp["changed"], 1);
    let snap = c.state.snapshot();
    let brute = snap
        .data()
        .components
        .iter()
        .filter(|comp| {
            let p = geo::Point(comp.location());
            snap.unit_grid(comp.index)
                .map(|g| snap.grid(g).code.as_str())
                == Some(a.code.as_str())
                && east.geometry.contains(&p)
        })
        .count();
    assert!(brute > 0, "the sample grid has components in its east half");
    assert_eq!(imp["components"].as_array().unwrap().len(), brute, "{imp}");
    let by_class: u64 = imp["components_by_class"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(by_class as usize, brute);
    assert!(
        imp["components"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["from"] == a.code.as_str() && m["to"] == new_code.as_str())
    );
    // Publish; lookups see it when the publish has answered.
    let tiles_before = c.state.tiles();
    // Its tile index is built, so the next revision's shares what did not change.
    tiles_before.warm();
    let r = publish(&c.app, id, "split for the new estate").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let rev = r.json()["revision"].as_u64().unwrap();
    assert_eq!(rev, 2);
    let p = east.geometry.centroid().unwrap();
    let now = get(&c.app, &format!("/lookup?lon={}&lat={}", p.x(), p.y()))
        .await
        .json();
    assert_eq!(now["grid"]["code"], new_code.as_str(), "{now}");
    let before = get(
        &c.app,
        &format!("/lookup?lon={}&lat={}&revision=1", p.x(), p.y()),
    )
    .await
    .json();
    assert_eq!(before["grid"]["code"], a.code.as_str());
    let r1 = c.store.revision(1).unwrap();
    let at = Timestamp::from_millis(r1.recorded_at.millis() + 1).to_rfc3339();
    let past = get(
        &c.app,
        &format!("/lookup?lon={}&lat={}&at={at}", p.x(), p.y()),
    )
    .await
    .json();
    assert_eq!(past["grid"]["code"], a.code.as_str());
    // Stats now count the new grid's components.
    let stats = get(&c.app, &format!("/grids/{new_code}/stats"))
        .await
        .json();
    assert_eq!(stats["total"].as_u64().unwrap() as usize, brute);
    // History and the revision's diff.
    let h = get(&c.app, &format!("/grids/{}/history", a.code))
        .await
        .json();
    let versions = h["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[1]["author"], "li.ming");
    assert_eq!(versions[1]["message"], "split for the new estate");
    assert_eq!(versions[0]["valid_to"], versions[1]["valid_from"]);
    let d = get(&c.app, "/revisions/2").await.json();
    let mut codes: Vec<&str> = d["grids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["code"].as_str().unwrap())
        .collect();
    codes.sort();
    let mut want = vec![a.code.as_str(), new_code.as_str()];
    want.sort();
    assert_eq!(codes, want);
    // Only the tiles the split touches are drawn again: every other tile
    // keeps its cache key, and is the same tile in both revisions.
    let after = c.state.tiles();
    assert_ne!(after.id(), tiles_before.id());
    let sources = [
        wangge::tiles::Source::Grids,
        wangge::tiles::Source::Components,
    ];
    let city_box = c.state.snapshot().extent().unwrap();
    // A tile set built from scratch for the new revision, beside the one
    // that shares its predecessor's unchanged levels.
    let fresh = wangge::tiles::TileSet::new(c.state.snapshot());
    // And one whose changed levels are never built: each of its tiles is
    // drawn from a topology of the grids near it.
    let unwarmed =
        wangge::tiles::TileSet::succeeding(c.state.snapshot(), &tiles_before, Vec::new());
    let (mut kept, mut redrawn) = (0, 0);
    for z in [12u8, 14, 15] {
        for t in wangge::tiles::tiles_covering(city_box, z) {
            let tile = wangge::tiles::render(&after, &sources, t);
            let scratch = wangge::tiles::render(&fresh, &sources, t);
            assert!(
                tile == scratch,
                "tile {t:?} differs from the one built from scratch"
            );
            assert!(
                wangge::tiles::render(&unwarmed, &sources, t) == scratch,
                "tile {t:?} drawn from the grids near it differs from the one built from scratch"
            );
            let same = tile == wangge::tiles::render(&tiles_before, &sources, t);
            if after.content_key(t) == tiles_before.id() {
                assert!(same, "tile {t:?} kept its key but changed");
                kept += 1;
            } else {
                redrawn += 1;
            }
        }
    }
    assert!(kept > 0 && redrawn > 0, "kept {kept}, redrawn {redrawn}");
    // The served snapshot, revised from the one before, is the city the
    // store holds: the same grids, components' grids and statistics as a
    // snapshot loaded whole.
    let served = c.state.snapshot();
    assert!(
        Arc::ptr_eq(
            &served.data().components,
            &tiles_before.snapshot().data().components
        ),
        "the publish revised the snapshot instead of loading the city again"
    );
    let loaded = Snapshot::from_store(
        c.store.as_ref(),
        View {
            revision: 2,
            valid_at: Timestamp::now(),
        },
    )
    .unwrap();
    assert_eq!(served.data().grids, loaded.data().grids);
    for i in 0..loaded.data().components.len() {
        let code = |s: &Snapshot| s.unit_grid(i).map(|g| s.grid(g).code.clone());
        assert_eq!(code(&served), code(&loaded), "component {i}");
    }
    for (i, g) in loaded.data().grids.iter().enumerate() {
        let id = wangge::model::GridId::new(i as u32);
        assert_eq!(
            served.stats().grid(id),
            loaded.stats().grid(id),
            "{}",
            g.code
        );
    }
    // The published draft is closed.
    let r = put(&c.app, id, &west).await;
    r.assert_error(StatusCode::CONFLICT, "conflict");
    // Tiles name the revision, and the old revision's tiles still render.
    let tj = get(&c.app, "/tiles/grids").await.json();
    assert!(
        tj["tiles"][0].as_str().unwrap().ends_with("?revision=2"),
        "{tj}"
    );
    let t = wangge::tiles::tiles_covering(a.geometry.bounding_rect().unwrap(), 14)[0];
    for q in ["", "?revision=1"] {
        let r = get(&c.app, &format!("/tiles/grids/{}/{}/{}{q}", t.z, t.x, t.y)).await;
        assert_eq!(r.status, StatusCode::OK);
    }
}

/// Two drafts that change the same grid cannot both publish; disjoint ones
/// are rebased; a revert puts the grids back and is itself refused when a
/// later revision changed them.
#[tokio::test]
async fn conflicts_are_refused_disjoint_drafts_rebase_and_reverts_restore() {
    let c = city();
    let grids = grids_now(c.store.as_ref());
    let (a, b, _) = neighbours(&grids);
    let d1 = new_draft(&c.app, LI, "{}").await;
    let d2 = new_draft(&c.app, WANG, "{}").await;
    let d3 = new_draft(&c.app, WANG, "{}").await;
    let worker = |g: &Grid, w: &str| Grid {
        worker: Some(w.into()),
        ..g.clone()
    };
    assert_eq!(
        put(&c.app, d1, &worker(&a, "甲")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        put(&c.app, d2, &worker(&a, "乙")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        put(&c.app, d3, &worker(&b, "丙")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        publish(&c.app, d1, "first").await.status,
        StatusCode::CREATED
    );
    let r = publish(&c.app, d2, "second").await;
    let m = r.assert_error(StatusCode::CONFLICT, "conflict");
    assert!(m.contains(&a.code) && m.contains("li.ming"), "{m}");
    let r = publish(&c.app, d3, "disjoint").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(worker_of(&c.app, &a.code).await, "甲");
    assert_eq!(worker_of(&c.app, &b.code).await, "丙");
    // Revert revision 2 (d1): a's worker is back.
    let r = call(&c.app, "POST", "/revisions/2/revert", Some(LI), "{}").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["kind"], "revert");
    assert_eq!(worker_of(&c.app, &a.code).await, json!(a.worker));
    assert_eq!(worker_of(&c.app, &b.code).await, "丙");
    // Reverting revision 2 again: a later revision (the revert) changed a.
    call(&c.app, "POST", "/revisions/2/revert", Some(LI), "{}")
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
    let revs = get(&c.app, "/revisions").await.json();
    assert_eq!(revs["revisions"].as_array().unwrap().len(), 4);
    assert_eq!(revs["served"], 4);
}

/// The oracle's record of one grid version: code, level, valid from (ms),
/// revision, geometry (none: retired).
type Version = (String, usize, i64, u64, Option<MultiPolygon<f64>>);
/// The newest version of a code so far: valid from, revision, level, geometry.
type Latest<'a> = (i64, u64, usize, Option<&'a MultiPolygon<f64>>);

/// Historical lookups against an oracle the test keeps itself: a year of
/// seeded redraws (splits and merges of unit grids, each effective at a
/// chosen time, some in the past, some in the future), then seeded random
/// points and times, each answered through `GET /lookup?at=` and compared
/// with a brute-force search over the versions valid at that time.
#[tokio::test]
async fn historical_lookups_match_a_brute_force_over_the_versions_valid_then() {
    let c = city();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20261202);
    let base = grids_now(c.store.as_ref());
    let t0 = c.store.revision(1).unwrap().effective_at.millis();
    let day = 86_400_000i64;
    // The oracle: per code, versions (valid_from, revision, geometry or retired).
    let mut versions: Vec<Version> = base
        .iter()
        .map(|g| (g.code.clone(), g.level, t0, 1, Some(g.geometry.clone())))
        .collect();
    let units: Vec<Grid> = base.iter().filter(|g| g.level == 3).cloned().collect();
    for step in 0..12 {
        let a = &units[rng.random_range(0..units.len())];
        let new_code = format!("{}{:03}", &a.code[..12], 900 + step);
        let effective = t0 + rng.random_range(-30..330) * day;
        let eff = Timestamp::from_millis(effective).to_rfc3339();
        let id = new_draft(&c.app, LI, "{}").await;
        let west = Grid {
            geometry: half(&a.geometry, true),
            ..a.clone()
        };
        let east = Grid {
            code: new_code.clone(),
            geometry: half(&a.geometry, false),
            ..a.clone()
        };
        assert_eq!(put(&c.app, id, &west).await.status, StatusCode::OK);
        let r = call(
            &c.app,
            "POST",
            &format!("/drafts/{id}/ogc/collections/unit/items"),
            Some(LI),
            &feature(&east),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let r = call(
            &c.app,
            "POST",
            &format!("/drafts/{id}/publish"),
            Some(LI),
            &json!({"message": format!("split {step}"), "effective_at": eff}).to_string(),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let rev = r.json()["revision"].as_u64().unwrap();
        versions.push((
            a.code.clone(),
            3,
            effective,
            rev,
            Some(west.geometry.clone()),
        ));
        versions.push((
            new_code.clone(),
            3,
            effective,
            rev,
            Some(east.geometry.clone()),
        ));
        // Half of the splits are merged back later.
        if rng.random_bool(0.5) {
            let later = effective + rng.random_range(1..60) * day;
            let id = new_draft(&c.app, LI, "{}").await;
            assert_eq!(put(&c.app, id, a).await.status, StatusCode::OK);
            let r = call(
                &c.app,
                "DELETE",
                &format!("/drafts/{id}/ogc/collections/unit/items/{new_code}"),
                Some(LI),
                "",
            )
            .await;
            assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
            let r = call(&c.app, "POST", &format!("/drafts/{id}/publish"), Some(LI), &json!({"message": "merge", "effective_at": Timestamp::from_millis(later).to_rfc3339()}).to_string()).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
            let rev = r.json()["revision"].as_u64().unwrap();
            versions.push((a.code.clone(), 3, later, rev, Some(a.geometry.clone())));
            versions.push((new_code.clone(), 3, later, rev, None));
        }
    }
    let finest_at = |p: Coord<f64>, t: i64| -> Option<String> {
        let mut best: std::collections::BTreeMap<&str, Latest<'_>> = Default::default();
        for (code, level, from, rev, geom) in &versions {
            if *from <= t {
                let e = best.entry(code).or_insert((i64::MIN, 0, *level, None));
                if (*from, *rev) > (e.0, e.1) {
                    *e = (*from, *rev, *level, geom.as_ref());
                }
            }
        }
        best.into_iter()
            .filter_map(|(code, (_, _, level, g))| {
                g.filter(|g| g.contains(&geo::Point(p)))
                    .map(|_| (level, code))
            })
            .max()
            .map(|(_, code)| code.to_string())
    };
    let extent = c.state.snapshot().extent().unwrap();
    let mut checked = 0;
    for _ in 0..40 {
        let t = t0 + rng.random_range(-40..400) * day + rng.random_range(0..day);
        let at = Timestamp::from_millis(t).to_rfc3339();
        for _ in 0..40 {
            let p = Coord {
                x: rng.random_range(extent.min().x..extent.max().x),
                y: rng.random_range(extent.min().y..extent.max().y),
            };
            let v = get(&c.app, &format!("/lookup?lon={}&lat={}&at={at}", p.x, p.y))
                .await
                .json();
            let got = v["grid"]["code"].as_str().map(str::to_string);
            assert_eq!(got, finest_at(p, t), "point {p:?} at {at}: {v}");
            checked += 1;
        }
    }
    assert_eq!(checked, 1600);
}

#[tokio::test]
async fn an_upload_of_changed_grids_goes_into_the_draft_with_the_import_rules() {
    let c = city();
    let grids = grids_now(c.store.as_ref());
    let (a, b, _) = neighbours(&grids);
    let id = new_draft(&c.app, LI, "{}").await;
    let body = json!({"type": "FeatureCollection", "features": [
        serde_json::from_str::<Value>(&feature(&Grid { name: "甲".into(), ..a.clone() })).unwrap(),
        serde_json::from_str::<Value>(&feature(&Grid { name: "乙".into(), ..b.clone() })).unwrap(),
    ]})
    .to_string();
    let r = call_with(
        &c.app,
        "POST",
        &format!("/drafts/{id}/upload"),
        Some(LI),
        &[("content-type", "application/geo+json")],
        &body,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["put"], 2);
    let d = get(&c.app, &format!("/drafts/{id}")).await.json();
    assert_eq!(d["changes"].as_array().unwrap().len(), 2);
    // An upload with an invalid grid changes nothing.
    let bad = body.replace(&a.code, "12");
    let r = call(
        &c.app,
        "POST",
        &format!("/drafts/{id}/upload"),
        Some(LI),
        &bad,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(
        get(&c.app, &format!("/drafts/{id}")).await.json()["changes"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    call(
        &c.app,
        "POST",
        &format!("/drafts/{id}/upload?format=kml"),
        Some(LI),
        &body,
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_parameter");
    // GeoJSON sent as a zipped Shapefile is not a zip.
    call(
        &c.app,
        "POST",
        &format!("/drafts/{id}/upload?format=shapefile"),
        Some(LI),
        &body,
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_upload");
}

/// Runs ogr2ogr (GDAL: an independent writer of the formats planners
/// export) with `args`.
fn ogr2ogr(args: &[&str]) {
    let out = std::process::Command::new("ogr2ogr")
        .args(args)
        .output()
        .expect("ogr2ogr (gdal-bin) is needed: scripts/deps installs it");
    assert!(
        out.status.success(),
        "ogr2ogr {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A zipped Shapefile (GBK attributes, parts in a folder of the zip) and
/// GeoPackages (one table in WGS84; one in Web Mercator; a store's
/// `grids_*` layout), all written by GDAL, upload like GeoJSON: the codes,
/// the Chinese names and the areas arrive. A GeoPackage with several
/// unrelated tables and a zip without a `.shp` are refused with what to do.
#[tokio::test]
async fn shapefile_zips_and_geopackages_upload_with_the_import_rules() {
    let c = city();
    let grids = grids_now(c.store.as_ref());
    let (a, b, _) = neighbours(&grids);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("changed.geojson");
    let renamed = [
        Grid {
            name: "甲网格".into(),
            ..a.clone()
        },
        Grid {
            name: "乙网格".into(),
            ..b.clone()
        },
    ];
    let fc = json!({"type": "FeatureCollection", "features": renamed.iter().map(|g| serde_json::from_str::<Value>(&feature(g)).unwrap()).collect::<Vec<_>>()});
    std::fs::write(&src, fc.to_string()).unwrap();
    let src = src.to_str().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let area = wangge::measure::area_m2;
    let check = |state: &edit::DraftState, what: &str| {
        let proposed = state.proposed();
        for want in &renamed {
            let got = grid(&proposed, &want.code);
            assert_eq!(got.name, want.name, "{what}: the name arrives");
            let (x, y) = (area(&got.geometry), area(&want.geometry));
            assert!((x - y).abs() < y * 1e-6, "{what}: area {x} vs {y}");
        }
    };
    // A Shapefile in GBK, zipped in a folder with a stray file.
    ogr2ogr(&[
        "-f",
        "ESRI Shapefile",
        "-lco",
        "ENCODING=GBK",
        &path("changed.shp"),
        src,
    ]);
    let mut zipped = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut zipped);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for ext in ["shp", "shx", "dbf", "prj", "cpg"] {
            z.start_file(format!("export/changed.{ext}"), opts).unwrap();
            std::io::Write::write_all(
                &mut z,
                &std::fs::read(path(&format!("changed.{ext}"))).unwrap(),
            )
            .unwrap();
        }
        z.start_file("export/readme.txt", opts).unwrap();
        std::io::Write::write_all(&mut z, b"exported from QGIS").unwrap();
        z.finish().unwrap();
    }
    let zipped = zipped.into_inner();
    let upload = |id: u64, q: &'static str, ctype: &'static str, body: Vec<u8>| {
        let app = c.app.clone();
        async move {
            call_with(
                &app,
                "POST",
                &format!("/drafts/{id}/upload{q}"),
                Some(LI),
                &[("content-type", ctype)],
                body,
            )
            .await
        }
    };
    let id = new_draft(&c.app, LI, "{}").await;
    let r = upload(id, "", "application/zip", zipped.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["put"], 2);
    check(
        &edit::DraftState::read(c.store.as_ref(), id).unwrap(),
        "shapefile",
    );
    // GeoPackages: WGS84, and Web Mercator (its SRS read from the file).
    for (name, extra) in [
        ("wgs84.gpkg", vec![]),
        ("mercator.gpkg", vec!["-t_srs", "EPSG:3857"]),
    ] {
        let mut args = vec!["-f", "GPKG", "-nln", "changed"];
        args.extend(extra);
        let out = path(name);
        args.extend([out.as_str(), src]);
        ogr2ogr(&args);
        let id = new_draft(&c.app, LI, "{}").await;
        // Sent without a format or media type: told by its first bytes.
        let r = upload(
            id,
            "",
            "application/octet-stream",
            std::fs::read(&out).unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{name}: {}", r.text());
        assert_eq!(r.json()["put"], 2);
        check(&edit::DraftState::read(c.store.as_ref(), id).unwrap(), name);
    }
    // Two tables that are not a store's grids: refused, naming them.
    let two = path("two.gpkg");
    ogr2ogr(&["-f", "GPKG", "-nln", "roads", &two, src]);
    ogr2ogr(&["-f", "GPKG", "-update", "-nln", "parks", &two, src]);
    let id = new_draft(&c.app, LI, "{}").await;
    let r = upload(
        id,
        "?format=gpkg",
        "application/geopackage+sqlite3",
        std::fs::read(&two).unwrap(),
    )
    .await;
    r.assert_error(StatusCode::BAD_REQUEST, "bad_upload");
    assert!(
        r.text().contains("parks") && r.text().contains("roads"),
        "{}",
        r.text()
    );
    // The same two tables named as a store's levels are read together.
    let store_like = path("store_like.gpkg");
    let (one, other) = (path("one.geojson"), path("other.geojson"));
    for (f, g) in [(&one, &renamed[0]), (&other, &renamed[1])] {
        std::fs::write(f, json!({"type": "FeatureCollection", "features": [serde_json::from_str::<Value>(&feature(g)).unwrap()]}).to_string()).unwrap();
    }
    ogr2ogr(&["-f", "GPKG", "-nln", "grids_unit", &store_like, &one]);
    ogr2ogr(&[
        "-f",
        "GPKG",
        "-update",
        "-nln",
        "grids_unit_more",
        &store_like,
        &other,
    ]);
    let r = upload(
        id,
        "",
        "application/octet-stream",
        std::fs::read(&store_like).unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["put"], 2);
    // A zip without a Shapefile.
    let mut empty = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut empty);
        z.start_file("notes.txt", zip::write::SimpleFileOptions::default())
            .unwrap();
        z.finish().unwrap();
    }
    let r = upload(id, "", "application/zip", empty.into_inner()).await;
    r.assert_error(StatusCode::BAD_REQUEST, "bad_upload");
    assert!(r.text().contains(".shp"), "{}", r.text());
}

#[tokio::test]
async fn the_change_feed_resumes_after_the_last_event_id() {
    let c = city();
    let grids = grids_now(c.store.as_ref());
    let (a, _, _) = neighbours(&grids);
    for w in ["甲", "乙"] {
        let id = new_draft(&c.app, LI, "{}").await;
        put(
            &c.app,
            id,
            &Grid {
                worker: Some(w.into()),
                ..a.clone()
            },
        )
        .await;
        assert_eq!(publish(&c.app, id, w).await.status, StatusCode::CREATED);
    }
    // Resume after revision 1: revisions 2 and 3 come first, in order.
    let r = c.app.clone().oneshot_sse("/changes", Some("1")).await;
    assert!(r.starts_with("id: 2") || r.contains("\nid: 2"), "{r}");
    let i2 = r.find("id: 2").unwrap();
    let i3 = r.find("id: 3").unwrap();
    assert!(i2 < i3);
    assert!(r.contains(&a.code));
}

/// Reads the first bytes of a server-sent event stream.
trait SseExt {
    async fn oneshot_sse(self, uri: &str, last: Option<&str>) -> String;
}

impl SseExt for Router {
    async fn oneshot_sse(self, uri: &str, last: Option<&str>) -> String {
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        let mut r = Request::get(uri);
        if let Some(l) = last {
            r = r.header("last-event-id", l);
        }
        let resp = self.oneshot(r.body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let mut body = resp.into_body();
        let mut out = String::new();
        while out.matches("event: revision").count() < 2 {
            let frame = tokio::time::timeout(std::time::Duration::from_secs(10), body.frame())
                .await
                .expect("events arrive")
                .unwrap()
                .unwrap();
            if let Ok(d) = frame.into_data() {
                out.push_str(&String::from_utf8_lossy(&d));
            }
        }
        out
    }
}

/// GDAL opens the store as a GeoPackage and lists one layer per level with
/// the grids valid now, and the components.
#[tokio::test]
async fn ogrinfo_lists_the_layers_with_the_current_feature_counts() {
    let c = city();
    let Ok(out) = std::process::Command::new("ogrinfo")
        .args(["-ro", "-so", "-al"])
        .arg(&c.path)
        .output()
    else {
        panic!("ogrinfo (gdal-bin) is needed: scripts/deps installs it");
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let snap = c.state.snapshot();
    let count = |layer: &str| -> usize {
        let at = text
            .find(&format!("Layer name: {layer}\n"))
            .unwrap_or_else(|| panic!("no layer {layer} in {text}"));
        let rest = &text[at..];
        let line = rest
            .lines()
            .find(|l| l.starts_with("Feature Count:"))
            .unwrap();
        line["Feature Count:".len()..].trim().parse().unwrap()
    };
    for (level, name) in ["district", "street", "community", "unit"]
        .iter()
        .enumerate()
    {
        assert_eq!(
            count(&format!("grids_{name}")),
            snap.level(level).len(),
            "{name}"
        );
    }
    assert_eq!(count("components_current"), snap.data().components.len());
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("Warning"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The store file holds what the snapshot was built from: reopening it
/// gives the same grids.
#[test]
fn a_reopened_store_loads_the_same_city() {
    let c = city();
    let again = GeoPackage::open(&c.path).unwrap();
    let mut a = grids_now(c.store.as_ref());
    let mut b = grids_now(&again);
    a.sort_by(|x, y| x.code.cmp(&y.code));
    b.sort_by(|x, y| x.code.cmp(&y.code));
    assert_eq!(a, b);
    let (_, data) = wangge::datadir::load(&sample(), |_| {}).unwrap();
    let mut src = data.grids.clone();
    src.sort_by(|x, y| x.code.cmp(&y.code));
    assert_eq!(a, src, "the store holds the sample's grids exactly");
}

/// Split by a line, then merge back, through `POST /drafts/{id}/operations`:
/// the parts partition the grid (checked with geo's boolean operations and
/// areas on the sphere), each step is publishable, lookups follow.
#[tokio::test]
async fn split_by_a_line_and_merge_back_keep_the_partition() {
    let c = city();
    let grids = grids_now(c.store.as_ref());
    let (a, _, _) = neighbours(&grids);
    let new_code = format!("{}{}", &a.code[..12], "950");
    let ctr = a.geometry.centroid().unwrap();
    let b = a.geometry.bounding_rect().unwrap();
    // A line with a bend, crossing the grid from south to north.
    let line = json!([
        [ctr.x(), b.min().y - 0.001],
        [ctr.x() + b.width() * 0.1, ctr.y()],
        [ctr.x(), b.max().y + 0.001]
    ]);
    let id = new_draft(&c.app, LI, "{}").await;
    let ops = format!("/drafts/{id}/operations");
    let r = call(
        &c.app,
        "POST",
        &ops,
        Some(LI),
        &json!({"op": "split", "code": a.code, "line": line, "new_code": new_code}).to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // A line that misses the grid is refused.
    let far = json!([[b.max().x + 1.0, b.min().y], [b.max().x + 1.0, b.max().y]]);
    call(&c.app, "POST", &ops, Some(LI), &json!({"op": "split", "code": a.code, "line": far, "new_code": format!("{}951", &a.code[..12])}).to_string())
        .await
        .assert_error(StatusCode::BAD_REQUEST, "refused");
    let state = edit::DraftState::read(c.store.as_ref(), id).unwrap();
    let proposed = state.proposed();
    let (west, east) = (grid(&proposed, &a.code), grid(&proposed, &new_code));
    let area = wangge::measure::area_m2;
    let whole = area(&a.geometry);
    assert!(
        (area(&west.geometry) + area(&east.geometry) - whole).abs() < whole * 1e-6,
        "the parts' areas add up: {} + {} vs {whole}",
        area(&west.geometry),
        area(&east.geometry)
    );
    assert!(
        area(&west.geometry.intersection(&east.geometry)) < 1e-3,
        "the parts do not overlap"
    );
    assert!(
        area(&a.geometry.difference(&west.geometry.union(&east.geometry))) < 1e-3,
        "the parts cover the grid"
    );
    let v = get(&c.app, &format!("/drafts/{id}/validation"))
        .await
        .json();
    assert_eq!(v["publishable"], true, "{v}");
    assert_eq!(
        publish(&c.app, id, "split by a line").await.status,
        StatusCode::CREATED
    );
    let p = east.geometry.centroid().unwrap();
    let r = get(&c.app, &format!("/lookup?lon={}&lat={}", p.x(), p.y()))
        .await
        .json();
    assert_eq!(r["grid"]["code"], new_code.as_str());
    // Merge back.
    let id = new_draft(&c.app, LI, "{}").await;
    let r = call(
        &c.app,
        "POST",
        &format!("/drafts/{id}/operations"),
        Some(LI),
        &json!({"op": "merge", "codes": [a.code, new_code]}).to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = get(&c.app, &format!("/drafts/{id}/validation"))
        .await
        .json();
    assert_eq!(v["publishable"], true, "{v}");
    assert_eq!(
        publish(&c.app, id, "merge back").await.status,
        StatusCode::CREATED
    );
    let r = get(&c.app, &format!("/lookup?lon={}&lat={}", p.x(), p.y()))
        .await
        .json();
    assert_eq!(r["grid"]["code"], a.code.as_str());
    let merged = grid(&grids_now(c.store.as_ref()), &a.code).geometry.clone();
    assert!((area(&merged) - whole).abs() < whole * 1e-6);
    // Grids of different parents do not merge.
    let other = grids
        .iter()
        .find(|g| g.level == 3 && g.code[..12] != a.code[..12])
        .unwrap();
    let id = new_draft(&c.app, LI, "{}").await;
    call(
        &c.app,
        "POST",
        &format!("/drafts/{id}/operations"),
        Some(LI),
        &json!({"op": "merge", "codes": [a.code, other.code]}).to_string(),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "refused");
}

/// Moving the border of two neighbouring unit grids through
/// `POST /drafts/{id}/operations`: a bulge drawn into one of them goes to
/// the other, both grids carry the new vertex bit for bit, their union is
/// kept (geo's boolean operations), the draft is publishable and lookups
/// follow the new border.
#[tokio::test]
async fn a_moved_border_changes_both_neighbours_and_lookups_follow() {
    let c = city();
    let grids = grids_now(c.store.as_ref());
    let (a, b, _) = neighbours(&grids);
    // The test's own reading of the shared border: a's exterior vertices
    // that are b's too, in a's order, starting after one that is not.
    let ring = &a.geometry.0[0].exterior().0;
    let ring = &ring[..ring.len() - 1];
    let on_b = |p: &Coord<f64>| {
        b.geometry
            .0
            .iter()
            .any(|poly| poly.exterior().0.iter().any(|q| q == p))
    };
    let n = ring.len();
    let first = (0..n)
        .find(|&i| !on_b(&ring[i]) && on_b(&ring[(i + 1) % n]))
        .expect("a has vertices off b");
    let shared: Vec<Coord<f64>> = (1..n)
        .map(|k| ring[(first + k) % n])
        .take_while(on_b)
        .collect();
    assert!(
        shared.len() >= 2,
        "the sample's neighbours share an edge vertex for vertex"
    );
    // A bulge 1 m deep at the middle of the middle edge, into b.
    let k = (shared.len() - 2) / 2;
    let (u, v) = (shared[k], shared[k + 1]);
    let mid = Coord {
        x: (u.x + v.x) / 2.0,
        y: (u.y + v.y) / 2.0,
    };
    let len = ((v.x - u.x).powi(2) + (v.y - u.y).powi(2)).sqrt();
    let normal = Coord {
        x: -(v.y - u.y) / len,
        y: (v.x - u.x) / len,
    };
    let d = 1e-5;
    let towards_b = if b
        .geometry
        .contains(&geo::Point::from(mid + normal * (d / 2.0)))
    {
        1.0
    } else {
        -1.0
    };
    let apex = mid + normal * (d * towards_b);
    let probe = geo::Point::from(mid + normal * (d / 3.0 * towards_b));
    assert!(b.geometry.contains(&probe), "the probe starts in b");
    let mut line: Vec<Coord<f64>> = shared[..=k].to_vec();
    line.push(apex);
    line.extend_from_slice(&shared[k + 1..]);
    let pairs = |l: &[Coord<f64>]| l.iter().map(|c| [c.x, c.y]).collect::<Vec<_>>();
    let id = new_draft(&c.app, LI, "{}").await;
    let ops = format!("/drafts/{id}/operations");
    let body = json!({"op": "move_border", "codes": [a.code, b.code], "line": pairs(&line)});
    let r = call(&c.app, "POST", &ops, Some(LI), &body.to_string()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let state = edit::DraftState::read(c.store.as_ref(), id).unwrap();
    let proposed = state.proposed();
    let (a2, b2) = (grid(&proposed, &a.code), grid(&proposed, &b.code));
    for g in [a2, b2] {
        assert!(
            g.geometry.0.iter().any(|p| p.exterior().0.contains(&apex)),
            "{} carries the new vertex exactly",
            g.code
        );
    }
    let area = wangge::measure::area_m2;
    let before = a.geometry.union(&b.geometry);
    assert!(
        area(&before.xor(&a2.geometry.union(&b2.geometry))) < 1e-3,
        "union kept"
    );
    assert!(
        area(&a2.geometry.intersection(&b2.geometry)) < 1e-3,
        "no overlap"
    );
    assert!(area(&a2.geometry) > area(&a.geometry));
    // Ends that are not the shared border's ends, a grid that is not a
    // neighbour: refused with what to do.
    let mut off = line.clone();
    off[0] = off[0] + Coord { x: 1e-4, y: 1e-4 };
    let body = json!({"op": "move_border", "codes": [a.code, b.code], "line": pairs(&off)});
    call(&c.app, "POST", &ops, Some(LI), &body.to_string())
        .await
        .assert_error(StatusCode::BAD_REQUEST, "refused");
    let v = get(&c.app, &format!("/drafts/{id}/validation"))
        .await
        .json();
    assert_eq!(v["publishable"], true, "{v}");
    let r = get(
        &c.app,
        &format!("/lookup?lon={}&lat={}", probe.x(), probe.y()),
    )
    .await
    .json();
    assert_eq!(r["grid"]["code"], b.code.as_str(), "before the publish");
    assert_eq!(
        publish(&c.app, id, "move a border").await.status,
        StatusCode::CREATED
    );
    let r = get(
        &c.app,
        &format!("/lookup?lon={}&lat={}", probe.x(), probe.y()),
    )
    .await
    .json();
    assert_eq!(r["grid"]["code"], a.code.as_str(), "after the publish");
}

/// Re-numbering a community: codes 001..n, every geometry kept, and the
/// order goes north to south by rows, west to east within a row.
#[tokio::test]
async fn renumbering_runs_west_to_east_then_north_to_south() {
    let c = city();
    let grids = grids_now(c.store.as_ref());
    let (_, _, community) = neighbours(&grids);
    let kids: Vec<&Grid> = grids
        .iter()
        .filter(|g| g.level == 3 && g.code.starts_with(&community.code))
        .collect();
    let id = new_draft(&c.app, LI, "{}").await;
    let r = call(
        &c.app,
        "POST",
        &format!("/drafts/{id}/operations"),
        Some(LI),
        &json!({"op": "renumber", "parent": community.code}).to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let map = r.json()["renumbered"].as_array().unwrap().clone();
    assert_eq!(map.len(), kids.len());
    let state = edit::DraftState::read(c.store.as_ref(), id).unwrap();
    let proposed = state.proposed();
    let mut seq: Vec<&Grid> = proposed
        .iter()
        .filter(|g| g.level == 3 && g.code.starts_with(&community.code))
        .collect();
    seq.sort_by(|x, y| x.code.cmp(&y.code));
    let want: Vec<String> = (1..=kids.len())
        .map(|i| format!("{}{i:03}", community.code))
        .collect();
    assert_eq!(seq.iter().map(|g| g.code.clone()).collect::<Vec<_>>(), want);
    // The same geometries, each under its new code.
    for m in &map {
        let old = grid(&grids, m["from"].as_str().unwrap());
        assert_eq!(
            grid(&proposed, m["to"].as_str().unwrap()).geometry,
            old.geometry
        );
    }
    // Order: a later number is south of an earlier one by more than half a
    // grid, or about as far north and east of it.
    let cy = |g: &Grid| g.geometry.centroid().unwrap();
    let mut h: Vec<f64> = seq
        .iter()
        .map(|g| g.geometry.bounding_rect().unwrap().height())
        .collect();
    h.sort_by(f64::total_cmp);
    let band = h[h.len() / 2];
    for w in seq.windows(2) {
        let (p, q) = (cy(w[0]), cy(w[1]));
        assert!(
            q.y() < p.y() + band,
            "{} then {}: the next is not further north than a row",
            w[0].code,
            w[1].code
        );
        if (q.y() / band).floor() == (p.y() / band).floor() {
            assert!(
                q.x() > p.x(),
                "{} then {} in one row: west to east",
                w[0].code,
                w[1].code
            );
        }
    }
    let v = get(&c.app, &format!("/drafts/{id}/validation"))
        .await
        .json();
    assert_eq!(v["publishable"], true, "{v}");
}
