//! The HTTP layer, in process: every request goes through the real router
//! with `tower::ServiceExt::oneshot`, no sockets and no sleeps.

use std::str::FromStr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Method, Request, StatusCode, header};
use geo::{Coord, InteriorPoint};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use wangge::http::{AppState, Limits, router};
use wangge::snapshot::Snapshot;

mod common;

use common::{Reply, assert_error_value, get, load, send};

// ---- helpers ----------------------------------------------------------------

/// A router over the sample city with `limits`, and the snapshot it serves.
fn setup_with(limits: Limits) -> (Router, Arc<Snapshot>) {
    let (_, snap) = load();
    let state = AppState::new(snap, limits);
    let snap = state.snapshot();
    (router(state), snap)
}

fn setup() -> (Router, Arc<Snapshot>) {
    setup_with(Limits::default())
}

fn app() -> Router {
    setup().0
}

/// POST with a Content-Type and a Content-Length, the body in one chunk.
async fn post(app: &Router, uri: &str, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
    let body: Vec<u8> = body.into();
    let request = Request::post(uri)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::from(body))
        .unwrap();
    send(app, request).await
}

/// POST with no Content-Length, the body streamed in chunks of `chunk` bytes.
async fn post_streamed(
    app: &Router,
    uri: &str,
    content_type: &str,
    body: &[u8],
    chunk: usize,
) -> Reply {
    let chunks: Vec<Result<Bytes, std::io::Error>> = body
        .chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let request = Request::post(uri)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from_stream(futures::stream::iter(chunks)))
        .unwrap();
    send(app, request).await
}

fn lookup_uri(p: Coord<f64>, crs: Option<&str>) -> String {
    match crs {
        Some(c) => format!("/lookup?lon={}&lat={}&crs={}", p.x, p.y, c),
        None => format!("/lookup?lon={}&lat={}", p.x, p.y),
    }
}

/// Unit grids (finest level) spread over the city, each with a point that the
/// library places strictly inside it at least `margin_m` from its border.
fn unit_points(snap: &Snapshot, n: usize, margin_m: f64) -> Vec<(String, Coord<f64>)> {
    let finest = snap.data().scheme.depth() - 1;
    let units: Vec<_> = snap
        .data()
        .grids
        .iter()
        .filter(|g| g.level == finest)
        .collect();
    assert!(
        units.len() >= n,
        "the sample has {} unit grids",
        units.len()
    );
    let mut out = Vec::new();
    for g in units.iter().step_by(units.len() / n) {
        let p = g
            .geometry
            .interior_point()
            .expect("grid has an interior point")
            .0;
        let a = wangge::query::lookup::lookup(snap, p);
        assert_eq!(
            a.grid.as_ref().map(|r| r.code),
            Some(g.code.as_str()),
            "interior point of {}",
            g.code
        );
        if a.border_distance_m.unwrap() > margin_m {
            out.push((g.code.clone(), p));
        }
        if out.len() == n {
            break;
        }
    }
    assert!(
        out.len() >= n / 2,
        "too few unit grids with a {margin_m} m margin"
    );
    out
}

fn assert_close(a: f64, b: f64, tol: f64, what: &str) {
    assert!((a - b).abs() <= tol, "{what}: {a} vs {b}");
}

/// The grid code of a lookup answer, or None when it is outside.
fn answer_code(v: &Value) -> Option<&str> {
    v["grid"]
        .as_object()
        .map(|g| g["code"].as_str().expect("grid.code is a string"))
}

fn library_code(snap: &Snapshot, p: Coord<f64>) -> Option<String> {
    wangge::query::lookup::lookup(snap, p)
        .grid
        .map(|g| g.code.to_string())
}

/// A point far outside the sample city.
const FAR: Coord<f64> = Coord { x: 100.0, y: 30.0 };

const CSV_HEADER: &str = "id,lon,lat,inside,on_border,district_code,street_code,community_code,unit_code,\
                          grid_name,worker,border_distance_m,nearest_code,nearest_distance_m,warnings,error";

// ---- /health and unknown routes ------------------------------------------------

#[tokio::test]
async fn health_reports_counts_of_the_loaded_data() {
    let (manifest, _) = load();
    let r = get(&app(), "/health").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.content_type().starts_with("application/json"));
    let v = r.json();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["grids"], json!(manifest.grids));
    assert_eq!(v["components"], json!(manifest.components));
    assert_eq!(v["version"], json!(manifest.version));
    assert!(manifest.grids > 0 && manifest.components > 0);
}

#[tokio::test]
async fn unknown_route_is_a_json_404() {
    let app = app();
    for uri in ["/nope", "/", "/grids", "/lookup/extra", "/components/"] {
        let r = get(&app, uri).await;
        let message = r.assert_error(StatusCode::NOT_FOUND, "not_found");
        if uri == "/nope" {
            assert!(message.contains("/nope"), "{message}");
        }
    }
}

#[tokio::test]
async fn wrong_method_is_refused() {
    let app = app();
    for (method, uri, allowed) in [
        (Method::DELETE, "/lookup", "GET,HEAD,POST"),
        (Method::POST, "/health", "GET,HEAD"),
        (Method::PUT, "/grids/320102", "GET,HEAD"),
    ] {
        let r = send(
            &app,
            Request::builder()
                .method(method.clone())
                .uri(uri)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        let message = r.assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
        assert!(message.contains(method.as_str()), "{message}");
        let allow = r
            .headers
            .get(header::ALLOW)
            .expect("an Allow header")
            .to_str()
            .unwrap();
        let mut allow: Vec<&str> = allow.split(',').map(str::trim).collect();
        allow.sort_unstable();
        assert_eq!(allow.join(","), allowed, "{method} {uri}");
    }
}

// ---- GET /lookup ---------------------------------------------------------------

#[tokio::test]
async fn lookup_inside_returns_the_unit_grid_and_its_chain() {
    let (app, snap) = setup();
    let scheme = &snap.data().scheme;
    let levels: Vec<&str> = scheme.levels.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(levels, ["district", "street", "community", "unit"]);
    for (code, p) in unit_points(&snap, 25, 0.0) {
        let r = get(&app, &lookup_uri(p, None)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert!(r.content_type().starts_with("application/json"));
        let v = r.json();
        assert_close(v["lon"].as_f64().unwrap(), p.x, 1e-12, "lon echoed");
        assert_close(v["lat"].as_f64().unwrap(), p.y, 1e-12, "lat echoed");
        assert_eq!(v["inside"], true);
        assert_eq!(v["on_border"], false);
        assert_eq!(v["nearest"], Value::Null);

        let g = snap.grid_by_code(&code).unwrap();
        let grid = &v["grid"];
        assert_eq!(grid["code"], code.as_str());
        assert_eq!(grid["name"], g.name.as_str());
        assert_eq!(grid["level"], "unit");
        assert_eq!(grid["level_label"], "单元网格");
        // Workers' names are not public by default.
        assert!(g.worker.is_some());
        assert_eq!(v["worker"], Value::Null);

        let chain = v["chain"].as_array().expect("chain array");
        assert_eq!(chain.len(), 4, "chain of {code}: {chain:?}");
        for (i, link) in chain.iter().enumerate() {
            let c = link["code"].as_str().unwrap();
            assert_eq!(c.len(), [6, 9, 12, 15][i], "chain[{i}] of {code}");
            assert!(
                code.starts_with(c),
                "chain[{i}] {c} is not a prefix of {code}"
            );
            assert_eq!(link["level"], levels[i]);
            assert_eq!(link["level_label"], scheme.levels[i].label.as_str());
            assert_eq!(link["name"], snap.grid_by_code(c).unwrap().name.as_str());
        }
        assert_eq!(&chain[3], grid, "the last chain entry is the grid");

        let d = v["border_distance_m"].as_f64().expect("border distance");
        assert!(d > 0.0, "border distance {d} of an interior point");
        assert_close(
            d,
            wangge::measure::boundary_distance_m(p, &g.geometry),
            1e-6,
            "border distance",
        );
    }
}

#[tokio::test]
async fn lookup_agrees_with_brute_force_at_component_locations() {
    // Oracle: geo's own predicates over every grid of the finest level (not
    // the index that assigned the components their grids).
    use geo::{Contains, Intersects};
    let (app, snap) = setup();
    let comps = &snap.data().components;
    let finest = snap.data().scheme.depth() - 1;
    let units: Vec<&wangge::model::Grid> = snap
        .data()
        .grids
        .iter()
        .filter(|g| g.level == finest)
        .collect();
    for i in (0..comps.len()).step_by(comps.len() / 40) {
        let c = comps.get(i);
        let p = geo::Point(c.location());
        let r = get(&app, &lookup_uri(c.location(), None)).await;
        assert_eq!(r.status, StatusCode::OK);
        let v = r.json();
        let inside: Vec<&str> = units
            .iter()
            .filter(|g| g.geometry.contains(&p))
            .map(|g| g.code.as_str())
            .collect();
        let touching: Vec<&str> = units
            .iter()
            .filter(|g| g.geometry.intersects(&p))
            .map(|g| g.code.as_str())
            .collect();
        let expected = match (inside.as_slice(), touching.iter().min()) {
            ([one], _) => Some(*one),
            // On a border: the smallest code among the grids it touches.
            ([], Some(smallest)) => Some(*smallest),
            ([], None) => None,
            (many, _) => panic!("component {} in several unit grids {many:?}", c.code()),
        };
        if expected.is_some() {
            assert_eq!(answer_code(&v), expected, "component {}", c.code());
        }
    }
}

#[tokio::test]
async fn lookup_on_a_vertex_is_on_the_border() {
    let (app, snap) = setup();
    let finest = snap.data().scheme.depth() - 1;
    let g = snap
        .data()
        .grids
        .iter()
        .filter(|g| g.level == finest)
        .nth(7)
        .unwrap();
    let vertex = g.geometry.0[0].exterior().0[0];
    let v = get(&app, &lookup_uri(vertex, None)).await.json();
    assert_eq!(v["inside"], true);
    assert_eq!(v["on_border"], true);
    let picked = answer_code(&v).unwrap();
    // Border rule: the smallest code among the grids whose boundary holds
    // the point, found here by brute force with geo's predicate.
    let smallest = snap
        .data()
        .grids
        .iter()
        .filter(|o| o.level == finest)
        .filter(|o| geo::Intersects::intersects(&o.geometry, &geo::Point(vertex)))
        .map(|o| o.code.as_str())
        .min()
        .unwrap();
    assert_eq!(
        picked, smallest,
        "picked {picked} at a vertex of {}",
        g.code
    );
    let pg = snap.grid_by_code(picked).unwrap();
    assert!(wangge::measure::boundary_distance_m(vertex, &pg.geometry) < 1e-6);
    assert!(v["border_distance_m"].as_f64().unwrap() < 1e-6);
}

#[tokio::test]
async fn lookup_outside_names_the_nearest_grid() {
    let (app, snap) = setup();
    let r = get(&app, &lookup_uri(FAR, None)).await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(v["inside"], false);
    assert_eq!(v["on_border"], false);
    assert_eq!(v["grid"], Value::Null);
    assert_eq!(v["chain"], json!([]));
    assert_eq!(v["worker"], Value::Null);
    assert_eq!(v["border_distance_m"], Value::Null);
    let nearest = &v["nearest"];
    let code = nearest["code"].as_str().expect("nearest.code");
    assert_eq!(code.len(), 15);
    assert_eq!(nearest["level"], "unit");
    let g = snap.grid_by_code(code).expect("nearest is a real grid");
    assert_eq!(nearest["name"], g.name.as_str());
    let d = nearest["distance_m"].as_f64().unwrap();
    assert!(
        d > 100_000.0,
        "the sample city is far from {FAR:?}, got {d} m"
    );
    // Oracle, by brute force with the haversine formula: the nearest border
    // point lies on an edge, within half an edge of one of its vertices.
    let haversine = |a: Coord<f64>, b: Coord<f64>| {
        let (p1, p2) = (a.y.to_radians(), b.y.to_radians());
        let h = ((p2 - p1) / 2.0).sin().powi(2)
            + p1.cos() * p2.cos() * ((b.x - a.x).to_radians() / 2.0).sin().powi(2);
        2.0 * 6_371_008.8 * h.sqrt().asin()
    };
    let units: Vec<&wangge::model::Grid> = snap
        .data()
        .grids
        .iter()
        .filter(|g| g.level == snap.data().scheme.finest())
        .collect();
    let mut longest_edge = 0.0f64;
    let vertex_distance = |g: &wangge::model::Grid| {
        g.geometry
            .0
            .iter()
            .flat_map(|p| p.exterior().0.iter())
            .map(|&c| haversine(FAR, c))
            .fold(f64::INFINITY, f64::min)
    };
    for g in &units {
        for w in g.geometry.0.iter().flat_map(|p| p.exterior().0.windows(2)) {
            longest_edge = longest_edge.max(haversine(w[0], w[1]));
        }
    }
    let best = units
        .iter()
        .map(|g| vertex_distance(g))
        .fold(f64::INFINITY, f64::min);
    assert!(
        d <= best + 1e-6 * best && d >= best - longest_edge,
        "nearest distance {d} m, nearest vertex {best} m, edges up to {longest_edge} m"
    );
    assert!(
        vertex_distance(g) - best <= longest_edge,
        "{code} is {} m away at its nearest vertex; another grid is {best} m",
        vertex_distance(g)
    );
}

#[tokio::test]
async fn lookup_transforms_gcj02_bd09_and_cgcs2000() {
    let (app, snap) = setup();
    for (code, w) in unit_points(&snap, 10, 1.0) {
        let gcj = wangge::crs::wgs84_to_gcj02(w);
        let bd = wangge::crs::wgs84_to_bd09(w);
        // The offsets are hundreds of metres: without the transform the answer would differ.
        assert!((gcj.x - w.x).abs() + (gcj.y - w.y).abs() > 1e-4);
        for (p, crs, tol) in [
            (gcj, "gcj02", 1e-8),
            (gcj, "GCJ-02", 1e-8),
            // The usual BD-09 inverse is approximate to about 2e-6 degrees (20 cm).
            (bd, "bd09", 3e-6),
            (w, "EPSG:4490", 1e-7),
            (w, "EPSG%3A4326", 0.0),
            (w, "wgs84", 0.0),
        ] {
            let r = get(&app, &lookup_uri(p, Some(crs))).await;
            assert_eq!(r.status, StatusCode::OK, "crs {crs}: {}", r.text());
            let v = r.json();
            assert_eq!(answer_code(&v), Some(code.as_str()), "crs {crs}");
            // The answer echoes the point in WGS84.
            assert_close(v["lon"].as_f64().unwrap(), w.x, tol + 1e-12, crs);
            assert_close(v["lat"].as_f64().unwrap(), w.y, tol + 1e-12, crs);
        }
    }
}

#[tokio::test]
async fn lookup_refuses_bad_parameters() {
    let app = app();
    let cases: &[(&str, &str, &str)] = &[
        ("/lookup?lon=116.4", "missing_parameter", "lat"),
        ("/lookup?lat=39.9", "missing_parameter", "lon"),
        ("/lookup", "missing_parameter", "lon"),
        ("/lookup?lon=abc&lat=39.9", "bad_parameter", "lon"),
        ("/lookup?lon=116.4&lat=", "bad_parameter", "lat"),
        ("/lookup?lon=NaN&lat=39.9", "bad_parameter", "lon"),
        ("/lookup?lon=116.4&lat=inf", "bad_parameter", "lat"),
        ("/lookup?lon=200&lat=39.9", "bad_coordinate", "200"),
        ("/lookup?lon=116.4&lat=-91", "bad_coordinate", "-91"),
        (
            "/lookup?lon=200&lat=39.9&crs=gcj02",
            "bad_coordinate",
            "200",
        ),
        ("/lookup?lon=116.4&lat=39.9&crs=mars", "unknown_crs", "mars"),
        (
            "/lookup?lon=116.4&lat=39.9&crs=EPSG:999999",
            "unknown_crs",
            "999999",
        ),
        ("/lookup?lon=116.4&lat=39.9&foo=1", "bad_parameter", "foo"),
        ("/lookup?lng=116.4&lat=39.9", "bad_parameter", "lng"),
        (
            "/lookup?lon=116.4&lon=116.5&lat=39.9",
            "bad_parameter",
            "lon",
        ),
    ];
    for &(uri, code, named) in cases {
        let r = get(&app, uri).await;
        let message = r.assert_error(StatusCode::BAD_REQUEST, code);
        assert!(
            message.contains(named),
            "{uri}: message {message:?} does not name {named:?}"
        );
    }
}

// ---- POST /lookup --------------------------------------------------------------

#[tokio::test]
async fn batch_json_answers_in_order_and_survives_bad_points() {
    let (app, snap) = setup();
    let pts = unit_points(&snap, 3, 0.0);
    let (a, b, c) = (&pts[0], &pts[1], &pts[2]);
    let body = json!([
        {"lon": a.1.x, "lat": a.1.y, "id": "a"},
        [b.1.x, b.1.y],
        {"lon": "x", "lat": 1, "id": "bad"},
        {"lat": 1, "id": 5},
        [1, 2, 3],
        "hello",
        {"lon": FAR.x, "lat": FAR.y, "id": 7},
        {"lon": c.1.x.to_string(), "lat": c.1.y.to_string(), "id": {"k": ["]", "},{"]}},
        {"lon": 200, "lat": 1, "id": "range"},
    ]);
    let r = post(
        &app,
        "/lookup",
        "application/json; charset=utf-8",
        body.to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.content_type(), "application/json");
    let out = r.json();
    let out = out.as_array().expect("an array");
    assert_eq!(out.len(), 9, "{out:#?}");

    assert_eq!(out[0]["id"], "a");
    assert_eq!(answer_code(&out[0]), Some(a.0.as_str()));
    assert_eq!(out[0]["chain"].as_array().unwrap().len(), 4);
    assert!(out[1].get("id").is_none(), "a pair has no id: {}", out[1]);
    assert_eq!(answer_code(&out[1]), Some(b.0.as_str()));

    assert_error_value(&out[2], "bad_parameter");
    assert_eq!(out[2]["id"], "bad");
    assert!(
        out[2].get("inside").is_none(),
        "an error is not an answer: {}",
        out[2]
    );
    assert_error_value(&out[3], "missing_coordinate");
    assert_eq!(out[3]["id"], 5);
    assert_error_value(&out[4], "bad_point");
    assert_error_value(&out[5], "malformed_point");

    assert_eq!(out[6]["id"], 7);
    assert_eq!(out[6]["inside"], false);
    assert_eq!(out[6]["nearest"]["code"].as_str().map(str::len), Some(15));

    assert_eq!(out[7]["id"], json!({"k": ["]", "},{"]}));
    assert_eq!(answer_code(&out[7]), Some(c.0.as_str()));
    assert_error_value(&out[8], "bad_coordinate");
    assert_eq!(out[8]["id"], "range");
}

#[tokio::test]
async fn batch_json_edge_shapes() {
    let (app, snap) = setup();
    let (code, p) = unit_points(&snap, 1, 0.0).remove(0);
    // Empty array.
    let r = post(&app, "/lookup", "application/json", " [ ] ").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), json!([]));
    // BOM, whitespace and newlines around elements.
    let body = format!(
        "\u{feff}\n[\n  [{}, {}]\n ,\n  {{\"lat\": {}, \"lon\": {}}}\n]\n",
        p.x, p.y, p.y, p.x
    );
    let r = post(&app, "/lookup", "application/json", body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let out = r.json();
    assert_eq!(out.as_array().unwrap().len(), 2);
    assert!(
        out.as_array()
            .unwrap()
            .iter()
            .all(|v| answer_code(v) == Some(code.as_str())),
        "{out}"
    );
}

#[tokio::test]
async fn batch_ndjson_answers_one_line_per_point() {
    let (app, snap) = setup();
    let pts = unit_points(&snap, 4, 0.0);
    let mut body = String::new();
    for (i, (_, p)) in pts.iter().enumerate() {
        body.push_str(&format!(
            "{{\"id\":\"p{i}\",\"lon\":{},\"lat\":{}}}\n",
            p.x, p.y
        ));
        if i == 1 {
            body.push_str("\n{\"lon\":\"x\",\"lat\":1,\"id\":\"bad\"}\r\n");
        }
    }
    // The last line has no newline.
    body.push_str(&format!("[{}, {}]", FAR.x, FAR.y));
    let r = post(&app, "/lookup", "application/x-ndjson", body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.content_type(), "application/x-ndjson");
    let text = r.text();
    assert!(text.ends_with('\n'));
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), pts.len() + 2, "{text}");
    let mut answers = lines.iter();
    for (i, (code, _)) in pts.iter().enumerate() {
        let v = answers.next().unwrap();
        assert_eq!(v["id"], format!("p{i}"));
        assert_eq!(answer_code(v), Some(code.as_str()));
        if i == 1 {
            let bad = answers.next().unwrap();
            assert_error_value(bad, "bad_parameter");
            assert_eq!(bad["id"], "bad");
        }
    }
    let far = answers.next().unwrap();
    assert_eq!(far["inside"], false);
    assert!(far["nearest"]["code"].is_string());
}

#[tokio::test]
async fn batch_csv_answers_one_row_per_point() {
    let (app, snap) = setup();
    let pts = unit_points(&snap, 4, 0.0);
    // CRLF line ends, as spreadsheets write them, and a quoted id with a comma.
    let mut body = String::from("id,lon,lat\r\n");
    for (i, (_, p)) in pts.iter().enumerate() {
        body.push_str(&format!("\"pt {i}, ok\",{},{}\r\n", p.x, p.y));
    }
    body.push_str("bad,abc,39.9\r\n");
    body.push_str(&format!("far,{},{}", FAR.x, FAR.y));
    let r = post(&app, "/lookup", "text/csv", body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(
        r.content_type().starts_with("text/csv"),
        "{}",
        r.content_type()
    );
    let text = r.text();
    assert_eq!(text.lines().next(), Some(CSV_HEADER));

    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = rdr
        .records()
        .map(|r| r.expect("well-formed CSV row"))
        .collect();
    assert_eq!(rows.len(), pts.len() + 2);
    for (i, (code, p)) in pts.iter().enumerate() {
        let row = &rows[i];
        assert_eq!(row.len(), header.len());
        assert_eq!(&row[col("id")], format!("pt {i}, ok"));
        assert_close(row[col("lon")].parse().unwrap(), p.x, 1e-12, "lon");
        assert_close(row[col("lat")].parse().unwrap(), p.y, 1e-12, "lat");
        assert_eq!(&row[col("inside")], "true");
        assert_eq!(&row[col("on_border")], "false");
        assert_eq!(&row[col("unit_code")], code.as_str());
        assert_eq!(&row[col("community_code")], &code[..12]);
        assert_eq!(&row[col("street_code")], &code[..9]);
        assert_eq!(&row[col("district_code")], &code[..6]);
        let g = snap.grid_by_code(code).unwrap();
        assert_eq!(&row[col("grid_name")], g.name.as_str());
        // Not public by default.
        assert_eq!(&row[col("worker")], "");
        assert!(row[col("border_distance_m")].parse::<f64>().unwrap() >= 0.0);
        assert_eq!(&row[col("nearest_code")], "");
        assert_eq!(&row[col("error")], "");
    }
    let bad = &rows[pts.len()];
    assert_eq!(bad.len(), header.len());
    assert_eq!(&bad[0], "bad");
    assert!(bad[col("error")].contains("lon"), "{bad:?}");
    assert!(
        bad.iter().skip(1).take(header.len() - 2).all(str::is_empty),
        "{bad:?}"
    );
    let far = &rows[pts.len() + 1];
    assert_eq!(&far[0], "far");
    assert_eq!(&far[col("inside")], "false");
    assert_eq!(&far[col("unit_code")], "");
    assert_eq!(far[col("nearest_code")].len(), 15);
    assert!(far[col("nearest_distance_m")].parse::<f64>().unwrap() > 100_000.0);
    assert_eq!(&far[col("error")], "");
}

#[tokio::test]
async fn batch_csv_finds_columns_by_name() {
    let (app, snap) = setup();
    let (code, p) = unit_points(&snap, 1, 0.0).remove(0);
    // Other column order, other names, no id column, extra columns.
    for body in [
        format!("Latitude,note,Longitude\n{},hello,{}\n", p.y, p.x),
        format!("\u{feff}y,x,note\n{},{},hello\n", p.y, p.x),
    ] {
        let header = body.lines().next().unwrap().to_string();
        let r = post(&app, "/lookup", "text/csv", body).await;
        assert_eq!(r.status, StatusCode::OK, "{header}: {}", r.text());
        let text = r.text();
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(rows.len(), 2, "{text}");
        assert!(
            rows[1].starts_with(','),
            "no id column means an empty id: {}",
            rows[1]
        );
        assert!(
            rows[1].contains(&format!(",{code},")),
            "{header}: {}",
            rows[1]
        );
    }
    // A header alone is a valid, empty batch.
    let r = post(&app, "/lookup", "text/csv", "id,lon,lat\n").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), format!("{CSV_HEADER}\n"));
}

#[tokio::test]
async fn batch_crs_parameter_applies_to_every_point() {
    let (app, snap) = setup();
    let pts = unit_points(&snap, 6, 1.0);
    let body: Vec<Value> = pts
        .iter()
        .map(|(_, w)| {
            let g = wangge::crs::wgs84_to_gcj02(*w);
            json!([g.x, g.y])
        })
        .collect();
    let r = post(
        &app,
        "/lookup?crs=gcj02",
        "application/json",
        Value::from(body).to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let out = r.json();
    let codes: Vec<Option<&str>> = out.as_array().unwrap().iter().map(answer_code).collect();
    let expected: Vec<Option<&str>> = pts.iter().map(|(c, _)| Some(c.as_str())).collect();
    assert_eq!(codes, expected);
}

#[tokio::test]
async fn batch_of_5000_matches_single_lookups() {
    let (app, snap) = setup();
    let comps = &snap.data().components;
    assert!(comps.len() >= 5000);
    // Component locations plus a jitter of a few metres, so that most points are not
    // exactly where the snapshot assigned them, and some far points.
    let points: Vec<Coord<f64>> = (0..5000)
        .map(|i| {
            if i % 997 == 0 {
                return Coord {
                    x: FAR.x + i as f64 * 1e-3,
                    y: FAR.y,
                };
            }
            let c = comps.get(i).location();
            let j = ((i % 7) as f64 - 3.0) * 2e-5;
            Coord {
                x: c.x + j,
                y: c.y - j,
            }
        })
        .collect();
    let body: Vec<Value> = points
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"id": i, "lon": p.x, "lat": p.y}))
        .collect();
    let body = Value::from(body).to_string();

    // In one chunk with a Content-Length, and streamed in odd-sized chunks.
    for streamed in [false, true] {
        let r = if streamed {
            post_streamed(&app, "/lookup", "application/json", body.as_bytes(), 4093).await
        } else {
            post(&app, "/lookup", "application/json", body.clone()).await
        };
        assert_eq!(r.status, StatusCode::OK);
        let out = r.json();
        let out = out.as_array().unwrap();
        assert_eq!(out.len(), 5000, "streamed: {streamed}");
        let mut inside = 0;
        for (i, (v, p)) in out.iter().zip(&points).enumerate() {
            assert_eq!(v["id"], i, "order");
            assert_eq!(
                answer_code(v).map(String::from),
                library_code(&snap, *p),
                "point {i} {p:?}"
            );
            inside += usize::from(v["inside"] == true);
        }
        assert!(inside > 4000, "only {inside} points inside");
    }

    // Spot-check against the GET endpoint too.
    for i in (0..5000).step_by(250) {
        let v = get(&app, &lookup_uri(points[i], None)).await.json();
        assert_eq!(
            answer_code(&v).map(String::from),
            library_code(&snap, points[i]),
            "GET point {i}"
        );
    }

    // The same points as NDJSON and CSV give the same codes.
    let ndjson: String = points
        .iter()
        .map(|p| format!("{{\"lon\":{},\"lat\":{}}}\n", p.x, p.y))
        .collect();
    let r = post(&app, "/lookup", "application/x-ndjson", ndjson).await;
    assert_eq!(r.status, StatusCode::OK);
    let text = r.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5000);
    for (i, (l, p)) in lines.iter().zip(&points).enumerate() {
        let v: Value = serde_json::from_str(l).unwrap();
        assert_eq!(
            answer_code(&v).map(String::from),
            library_code(&snap, *p),
            "ndjson point {i}"
        );
    }
    let csv_body: String = std::iter::once("id,lon,lat\n".to_string())
        .chain(
            points
                .iter()
                .enumerate()
                .map(|(i, p)| format!("{i},{},{}\n", p.x, p.y)),
        )
        .collect();
    let r = post(&app, "/lookup", "text/csv", csv_body).await;
    assert_eq!(r.status, StatusCode::OK);
    let mut rdr = csv::Reader::from_reader(r.body.as_ref());
    let unit = rdr
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "unit_code")
        .unwrap();
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 5000);
    for (i, (row, p)) in rows.iter().zip(&points).enumerate() {
        assert_eq!(&row[0], i.to_string());
        let expected = wangge::query::lookup::lookup(&snap, *p)
            .chain
            .get(3)
            .map(|g| g.code.to_string());
        assert_eq!(
            Some(&row[unit]).filter(|s| !s.is_empty()).map(String::from),
            expected,
            "csv point {i}"
        );
    }
}

#[tokio::test]
async fn batch_refuses_a_malformed_start() {
    let app = app();
    let cases: &[(&str, &str, &str)] = &[
        ("application/json", r#"{"lon":1}"#, "malformed_json"),
        (
            "application/json",
            r#"[{"lon":1,"lat":2}"#,
            "malformed_json",
        ),
        ("application/json", r#"[[1,2]] [3,4]"#, "malformed_json"),
        ("application/json", "", "malformed_json"),
        (
            "application/x-ndjson",
            "this is not json\n{\"lon\":1,\"lat\":2}\n",
            "malformed_json",
        ),
        ("text/csv", "a,b\n1,2\n", "malformed_csv"),
        ("text/csv", "lon,b\n1,2\n", "malformed_csv"),
        ("text/csv", "", "malformed_csv"),
    ];
    for &(ct, body, code) in cases {
        let r = post(&app, "/lookup", ct, body).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{ct} {body:?}: {}",
            r.text()
        );
        r.assert_error(StatusCode::BAD_REQUEST, code);
    }
}

#[tokio::test]
async fn batch_refuses_bad_query_parameters() {
    let app = app();
    let body = "[[116.4, 39.9]]";
    let r = post(&app, "/lookup?crs=mars", "application/json", body).await;
    r.assert_error(StatusCode::BAD_REQUEST, "unknown_crs");
    let r = post(&app, "/lookup?crs=EPSG:999999", "application/json", body).await;
    r.assert_error(StatusCode::BAD_REQUEST, "unknown_crs");
    let r = post(&app, "/lookup?foo=1", "application/json", body).await;
    let message = r.assert_error(StatusCode::BAD_REQUEST, "bad_parameter");
    assert!(message.contains("foo"), "{message}");
}

#[tokio::test]
async fn batch_refuses_unsupported_media_types() {
    let app = app();
    for ct in [
        "text/plain",
        "application/xml",
        "application/x-www-form-urlencoded",
    ] {
        let r = post(&app, "/lookup", ct, "[[116.4, 39.9]]").await;
        let message = r.assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
        assert!(message.contains(ct), "{message}");
    }
    // No Content-Type at all.
    let request = Request::post("/lookup")
        .body(Body::from("[[116.4, 39.9]]"))
        .unwrap();
    send(&app, request)
        .await
        .assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
}

#[tokio::test]
async fn batch_size_limit() {
    let (app, _) = setup_with(Limits {
        max_batch_bytes: 1000,
        max_body_bytes: 1 << 20,
        ..Limits::default()
    });
    let pad = |n: usize| {
        let mut s = String::from("[[116.4, 39.9]");
        s.push_str(&" ".repeat(n - s.len() - 1));
        s.push(']');
        assert_eq!(s.len(), n);
        s
    };
    // Declared too large: refused before reading.
    let r = post(&app, "/lookup", "application/json", pad(2000)).await;
    let message = r.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert!(message.contains("1000"), "{message}");
    // Exactly at the limit: accepted.
    let r = post(&app, "/lookup", "application/json", pad(1000)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    // Undeclared length, too large before the first point: refused.
    let big = format!("{}[[116.4, 39.9]]", " ".repeat(1990));
    let r = post_streamed(&app, "/lookup", "application/json", big.as_bytes(), 2000).await;
    r.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // CSV and NDJSON obey the same limit.
    let csv = format!("id,lon,lat\n{}", "a,116.4,39.9\n".repeat(200));
    post(&app, "/lookup", "text/csv", csv)
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
}

#[tokio::test]
async fn batch_limit_cuts_off_a_stream_with_a_final_error() {
    let (app, _) = setup_with(Limits {
        max_batch_bytes: 1000,
        max_body_bytes: 1 << 20,
        ..Limits::default()
    });
    // 100 points of about 20 bytes, streamed without a length: the first
    // points are answered, then the body crosses the limit.
    let items: Vec<String> = (0..100).map(|i| format!("[116.{i:03}, 39.9]")).collect();
    let body = format!("[{}]", items.join(","));
    assert!(body.len() > 1500);
    let r = post_streamed(&app, "/lookup", "application/json", body.as_bytes(), 100).await;
    assert_eq!(r.status, StatusCode::OK);
    let out = r.json();
    let out = out.as_array().expect("a complete JSON array");
    let (last, answers) = out.split_last().unwrap();
    assert_error_value(last, "payload_too_large");
    assert!(
        !answers.is_empty() && answers.len() < 100,
        "{} answers",
        answers.len()
    );
    assert!(
        answers.iter().all(|a| a.get("inside").is_some()),
        "{answers:?}"
    );

    // The same for NDJSON: the last line is the error.
    let body: String = (0..100).map(|i| format!("[116.{i:03}, 39.9]\n")).collect();
    let r = post_streamed(
        &app,
        "/lookup",
        "application/x-ndjson",
        body.as_bytes(),
        100,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let text = r.text();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_error_value(&last, "payload_too_large");
}

#[tokio::test]
async fn batch_truncated_mid_stream_ends_with_an_error_entry() {
    let app = app();
    let body = "[[116.4, 39.9], [116.41, 39.91], {\"lon\": 116.";
    let r = post_streamed(&app, "/lookup", "application/json", body.as_bytes(), 16).await;
    assert_eq!(r.status, StatusCode::OK);
    let out = r.json();
    let out = out
        .as_array()
        .expect("the response is still a complete array");
    assert_eq!(out.len(), 3, "{out:?}");
    assert!(out[0].get("inside").is_some() && out[1].get("inside").is_some());
    assert_error_value(&out[2], "malformed_json");
}

#[tokio::test]
async fn batch_is_not_bound_by_the_small_body_limit() {
    // max_body_bytes applies to other requests; batches have their own limit.
    let (app, snap) = setup_with(Limits {
        max_batch_bytes: 1 << 20,
        max_body_bytes: 64,
        ..Limits::default()
    });
    let pts = unit_points(&snap, 20, 0.0);
    let body: Vec<Value> = pts.iter().map(|(_, p)| json!([p.x, p.y])).collect();
    let body = Value::from(body).to_string();
    assert!(body.len() > 64);
    let r = post(&app, "/lookup", "application/json", body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let out = r.json();
    let codes: Vec<Option<&str>> = out.as_array().unwrap().iter().map(answer_code).collect();
    let expected: Vec<Option<&str>> = pts.iter().map(|(c, _)| Some(c.as_str())).collect();
    assert_eq!(codes, expected);
}

// ---- GET /grids/{code} ---------------------------------------------------------

#[tokio::test]
async fn grid_feature_for_every_level() {
    let (app, snap) = setup();
    let grids = &snap.data().grids;
    for level in 0..snap.data().scheme.depth() {
        let level_grids: Vec<_> = grids.iter().filter(|g| g.level == level).collect();
        for g in [
            level_grids[0],
            level_grids[level_grids.len() / 2],
            *level_grids.last().unwrap(),
        ] {
            let r = get(&app, &format!("/grids/{}", g.code)).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            assert_eq!(r.content_type(), "application/geo+json");
            let v = r.json();
            assert_eq!(v["type"], "Feature");
            assert_eq!(v["id"], g.code.as_str());

            let geometry = &v["geometry"];
            assert_eq!(geometry["type"], "MultiPolygon");
            let polys = geometry["coordinates"].as_array().unwrap();
            assert_eq!(polys.len(), g.geometry.0.len());
            for (pj, pg) in polys.iter().zip(&g.geometry.0) {
                let rings = pj.as_array().unwrap();
                assert_eq!(rings.len(), 1 + pg.interiors().len());
                let exterior = rings[0].as_array().unwrap();
                assert_eq!(exterior.len(), pg.exterior().0.len());
                for (cj, cg) in exterior.iter().zip(&pg.exterior().0) {
                    assert_close(cj[0].as_f64().unwrap(), cg.x, 1e-12, "x");
                    assert_close(cj[1].as_f64().unwrap(), cg.y, 1e-12, "y");
                }
            }

            let p = &v["properties"];
            let def = &snap.data().scheme.levels[level];
            assert_eq!(p["code"], g.code.as_str());
            assert_eq!(p["name"], g.name.as_str());
            assert_eq!(p["level"], def.name.as_str());
            assert_eq!(p["level_label"], def.label.as_str());
            assert_eq!(
                p["worker"],
                Value::Null,
                "workers are not public by default"
            );
            let area = p["area_m2"].as_f64().unwrap();
            assert!(area > 0.0);
            assert_close(
                area,
                wangge::measure::area_m2(&g.geometry),
                0.051,
                "area_m2",
            );
            let chain: Vec<&str> = p["chain"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["code"].as_str().unwrap())
                .collect();
            assert_eq!(chain.len(), level + 1);
            assert_eq!(*chain.last().unwrap(), g.code);
            for c in &chain {
                assert!(g.code.starts_with(c));
            }
            if level == 0 {
                assert_eq!(p["parent"], Value::Null);
            } else {
                assert_eq!(
                    p["parent"],
                    &g.code[..snap.data().scheme.levels[level - 1].code_len]
                );
            }
            assert_eq!(p["children"], snap.children(g).len());
            if level + 1 < snap.data().scheme.depth() {
                assert!(!snap.children(g).is_empty());
            } else {
                assert_eq!(p["children"], 0);
            }
        }
    }
}

#[tokio::test]
async fn grid_feature_parses_with_the_geojson_crate() {
    let (app, snap) = setup();
    let g = snap
        .data()
        .grids
        .iter()
        .rev()
        .find(|g| g.level == 3)
        .unwrap();
    let r = get(&app, &format!("/grids/{}", g.code)).await;
    assert_eq!(r.status, StatusCode::OK);
    let feature = geojson::Feature::from_str(&r.text()).expect("a valid GeoJSON Feature");
    assert_eq!(
        feature.id,
        Some(geojson::feature::Id::String(g.code.clone()))
    );
    assert_eq!(feature.property("code"), Some(&json!(g.code)));
    assert_eq!(feature.property("level"), Some(&json!("unit")));
    let geometry = feature.geometry.expect("a geometry");
    assert!(matches!(geometry.value, geojson::Value::MultiPolygon(_)));
    let mp: geo::MultiPolygon<f64> = geo::MultiPolygon::try_from(&geometry.value).unwrap();
    assert_eq!(mp.0.len(), g.geometry.0.len());
    let coords: Vec<Coord<f64>> = mp.0.iter().flat_map(|p| p.exterior().0.clone()).collect();
    let expected: Vec<Coord<f64>> = g
        .geometry
        .0
        .iter()
        .flat_map(|p| p.exterior().0.clone())
        .collect();
    assert_eq!(coords.len(), expected.len());
    for (a, b) in coords.iter().zip(&expected) {
        assert_close(a.x, b.x, 1e-12, "x");
        assert_close(a.y, b.y, 1e-12, "y");
    }
}

#[tokio::test]
async fn grid_errors() {
    let (app, snap) = setup();
    let unknown = "320102999999999";
    assert!(snap.grid_by_code(unknown).is_none());
    let message = get(&app, &format!("/grids/{unknown}"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    assert!(message.contains(unknown), "{message}");
    for bad in ["12ab", "1234567", "3201029999999999999", "32010299999999a"] {
        get(&app, &format!("/grids/{bad}"))
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_code");
    }
}

// ---- GET /components/{code} ----------------------------------------------------

#[tokio::test]
async fn component_feature() {
    let (app, snap) = setup();
    let data = snap.data();
    let states = [
        ("完好", "intact"),
        ("破损", "damaged"),
        ("丢失", "lost"),
        ("占用", "occupied"),
    ];
    let mut checked = 0;
    for i in (0..data.components.len()).step_by(data.components.len() / 30) {
        let c = data.components.get(i);
        let code = c.code();
        assert_eq!(code.len(), 16);
        let r = get(&app, &format!("/components/{code}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.content_type(), "application/geo+json");
        let v = r.json();
        assert_eq!(v["type"], "Feature");
        assert_eq!(v["id"], code.as_str());
        assert_eq!(v["geometry"]["type"], "Point");
        let xy = v["geometry"]["coordinates"].as_array().unwrap();
        assert_eq!(xy.len(), 2);
        let loc = c.location();
        assert_close(xy[0].as_f64().unwrap(), loc.x, 1e-12, "x");
        assert_close(xy[1].as_f64().unwrap(), loc.y, 1e-12, "y");

        let p = &v["properties"];
        assert_eq!(p["code"], code.as_str());
        assert_eq!(p["name"], c.name());
        assert_eq!(p["class"], &code[6..10]);
        let class = data.classes.def(c.class());
        assert_eq!(p["class_name"], class.minor_name.as_str());
        assert!(!class.minor_name.is_empty());
        assert_eq!(p["state"], c.state().chinese());
        let pair = (
            p["state"].as_str().unwrap(),
            p["state_en"].as_str().unwrap(),
        );
        assert!(states.contains(&pair), "{pair:?}");
        let expected = library_code(&snap, loc);
        assert_eq!(p["grid"].as_str(), expected.as_deref(), "component {code}");
        if let Some(grid) = p["grid"].as_str() {
            assert_eq!(grid.len(), 15);
            assert_eq!(
                p["grid_name"],
                snap.grid_by_code(grid).unwrap().name.as_str()
            );
            checked += 1;
        }
    }
    assert!(checked >= 25, "only {checked} components inside a grid");
}

#[tokio::test]
async fn component_errors() {
    let (app, snap) = setup();
    let comps = &snap.data().components;
    let existing = comps.get(0).code();
    // Same district and class, a sequence no component has.
    let unknown = (1..1000)
        .map(|s| format!("{}{:06}", &existing[..10], 999_999 - s))
        .find(|c| comps.find(c).is_none())
        .unwrap();
    let message = get(&app, &format!("/components/{unknown}"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    assert!(message.contains(&unknown), "{message}");

    let zero_sequence = format!("{}000000", &existing[..10]);
    let unknown_class = format!("{}9999{}", &existing[..6], &existing[10..]);
    assert!(snap.data().classes.get("9999").is_none());
    for bad in [
        "123".to_string(),
        format!("{existing}0"),
        existing[..15].to_string(),
        format!("{}x", &existing[..15]),
        zero_sequence,
        unknown_class,
    ] {
        get(&app, &format!("/components/{bad}"))
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_code");
    }
}

/// A client that sends its whole body before it reads the response (as many
/// HTTP libraries do) must not stall the batch: the server keeps reading.
#[tokio::test]
async fn batch_does_not_wait_for_the_client_to_read() {
    let (app, snap) = setup();
    let pts = unit_points(&snap, 50, 2.0);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
    let body = Body::from_stream(futures::stream::poll_fn({
        let mut rx = rx;
        move |cx| rx.poll_recv(cx)
    }));
    let request = Request::builder()
        .method(Method::POST)
        .uri("/lookup")
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(body)
        .unwrap();
    let response = app.oneshot(request);
    let lines = 20_000;
    let sender = tokio::spawn(async move {
        for i in 0..lines {
            let (_, p) = &pts[i % pts.len()];
            let line = format!("{{\"lon\":{},\"lat\":{},\"id\":{i}}}\n", p.x, p.y);
            tx.send(Ok(Bytes::from(line))).await.unwrap();
        }
    });
    let response = response.await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // The whole body goes in before a single byte of the answer is read.
    tokio::time::timeout(std::time::Duration::from_secs(120), sender)
        .await
        .expect("the server stopped reading the body while the client was not reading answers")
        .unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let answers: Vec<Value> = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(answers.len(), lines);
    assert!(
        answers
            .iter()
            .enumerate()
            .all(|(i, a)| a["id"] == i && a["inside"] == true)
    );
}

/// A router over the sample city whose public policy is `policy`.
fn app_with_policy(policy: wangge::auth::Policy) -> (Router, Arc<Snapshot>) {
    let (_, snap) = load();
    let state = AppState::new(snap, Limits::default()).with_policy(policy);
    let snap = state.snapshot();
    (router(state), snap)
}

#[tokio::test]
async fn workers_names_reach_the_public_only_as_the_policy_says() {
    use wangge::query::Personal;
    for rule in [Personal::Withheld, Personal::Masked, Personal::Shown] {
        let (app, snap) = app_with_policy(wangge::auth::Policy {
            public_workers: rule,
            ..Default::default()
        });
        let unit = snap.level(snap.data().scheme.finest());
        let g = snap.grid(unit.dataset_index(0));
        let name = g.worker.clone().expect("sample unit grids have workers");
        // The rule written out here, not taken from the code under test.
        let expected = match rule {
            Personal::Withheld => Value::Null,
            Personal::Shown => json!(name),
            Personal::Masked => {
                let mut chars = name.chars();
                let first = chars.next().unwrap();
                json!(format!("{first}{}", "*".repeat(chars.count())))
            }
        };
        let p = geo::InteriorPoint::interior_point(&g.geometry).unwrap();
        let v = get(&app, &format!("/lookup?lon={}&lat={}", p.x(), p.y()))
            .await
            .json();
        assert_eq!(v["grid"]["code"], g.code.as_str());
        assert_eq!(v["worker"], expected, "GET /lookup, {rule:?}");
        let v = get(&app, &format!("/grids/{}", g.code)).await.json();
        assert_eq!(v["properties"]["worker"], expected, "GET /grids, {rule:?}");
        let v = get(&app, &format!("/ogc/collections/unit/items/{}", g.code))
            .await
            .json();
        assert_eq!(v["properties"]["worker"], expected, "OGC item, {rule:?}");
        let v = get(&app, "/ogc/collections/unit/items?limit=10000")
            .await
            .json();
        let names: Vec<&Value> = v["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| &f["properties"]["worker"])
            .collect();
        match rule {
            Personal::Withheld => assert!(names.iter().all(|w| w.is_null())),
            Personal::Masked => assert!(names.iter().all(|w| {
                w.as_str()
                    .is_some_and(|s| s.chars().skip(1).all(|c| c == '*'))
            })),
            Personal::Shown => assert!(names.iter().any(|w| w.as_str() == Some(&name))),
        }
        let csv = post(
            &app,
            "/lookup",
            "text/csv",
            format!("id,lon,lat\na,{},{}\n", p.x(), p.y()),
        )
        .await
        .text();
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let row: Vec<&str> = lines.next().unwrap().split(',').collect();
        let col = header.iter().position(|h| *h == "worker").unwrap();
        assert_eq!(
            row[col],
            expected.as_str().unwrap_or(""),
            "batch CSV, {rule:?}"
        );
    }
}

#[tokio::test]
async fn a_grids_only_public_reads_grids_but_no_components() {
    let (app, snap) = app_with_policy(wangge::auth::Policy {
        public: wangge::auth::PublicAccess::Grids,
        ..Default::default()
    });
    let c = snap.data().components.get(0).code();
    let r = get(&app, &format!("/components/{c}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.json()["message"].as_str().unwrap().contains("not public"));
    let v = get(&app, "/ogc/collections/components/items?limit=10")
        .await
        .json();
    assert_eq!(v["numberMatched"], 0);
    let g = &snap.data().grids[0];
    let r = get(&app, &format!("/grids/{}", g.code)).await;
    assert_eq!(r.status, StatusCode::OK);
    let v = get(&app, &format!("/grids/{}/stats", g.code)).await.json();
    assert_eq!(v["total"], 0);
    let v = get(&app, "/classes").await.json();
    assert!(
        v["classes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["count"] == 0)
    );
    let v = get(&app, "/components/nearest?lon=118.78&lat=32.06&k=5")
        .await
        .json();
    assert_eq!(v["numberReturned"], 0);
}
