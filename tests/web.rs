//! The viewer's files, the glyphs and the class list over HTTP, in process,
//! with a small viewer folder written by the test (the real viewer is tested
//! in a browser by tests/viewer/run).

mod common;

use std::io::Read;

use axum::Router;
use axum::http::{StatusCode, header};
use common::{get, get_with, load};
use wangge::http::{AppState, Limits, router};
use wangge::web::Viewer;

const GLYPHS: &[u8] = &[0x0a, 0x03, 0x61, 0x62, 0x63];

fn viewer_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(
        p.join("index.html"),
        "<!doctype html><title>网格</title>".repeat(40),
    )
    .unwrap();
    std::fs::write(p.join("app.js"), "export const a = 1;\n").unwrap();
    std::fs::create_dir_all(p.join("vendor")).unwrap();
    std::fs::write(p.join("vendor/maplibre-gl.mjs"), "export {};\n").unwrap();
    std::fs::write(p.join("app.css"), "body{}").unwrap();
    let font = p.join("fonts/Noto Sans Regular");
    std::fs::create_dir_all(&font).unwrap();
    std::fs::write(font.join("0-255.pbf"), GLYPHS).unwrap();
    dir
}

fn app_with_viewer() -> Router {
    let dir = viewer_dir();
    let viewer = Viewer::load(dir.path()).unwrap();
    router(AppState::new(load().1, Limits::default()).with_viewer(viewer))
}

fn app_without_viewer() -> Router {
    router(AppState::new(load().1, Limits::default()))
}

#[tokio::test]
async fn the_page_is_served_at_the_root_with_a_strict_policy() {
    let app = app_with_viewer();
    let r = get(&app, "/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.content_type(), "text/html; charset=utf-8");
    assert!(r.text().contains("网格"));
    let csp = r.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    for directive in [
        "default-src 'self'",
        "connect-src 'self'",
        "script-src 'self'",
        "worker-src 'self'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("http"), "no remote origin allowed: {csp}");
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-cache");
    // Revalidation: the same tag gives 304, another gives the page.
    let tag = r.headers[header::ETAG].to_str().unwrap().to_string();
    let again = get_with(&app, "/", &[(header::IF_NONE_MATCH, &tag)]).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    let other = get_with(&app, "/", &[(header::IF_NONE_MATCH, "\"0-1\"")]).await;
    assert_eq!(other.status, StatusCode::OK);
}

#[tokio::test]
async fn files_are_compressed_when_the_client_accepts_it() {
    let app = app_with_viewer();
    let plain = get(&app, "/").await;
    let gz = get_with(&app, "/", &[(header::ACCEPT_ENCODING, "gzip")]).await;
    assert_eq!(gz.headers[header::CONTENT_ENCODING], "gzip");
    assert!(gz.body.len() < plain.body.len());
    let mut back = Vec::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, plain.body.to_vec());
    assert_ne!(gz.headers[header::ETAG], plain.headers[header::ETAG]);
    let br = get_with(&app, "/", &[(header::ACCEPT_ENCODING, "gzip, br")]).await;
    assert_eq!(br.headers[header::CONTENT_ENCODING], "br");
    assert!(br.body.len() < plain.body.len());
    let mut back = Vec::new();
    brotli::Decompressor::new(&br.body[..], 4096)
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, plain.body.to_vec(), "brotli decodes to the page");
}

#[tokio::test]
async fn viewer_files_have_their_media_types() {
    let app = app_with_viewer();
    for (uri, ty) in [
        ("/viewer/app.js", "text/javascript; charset=utf-8"),
        (
            "/viewer/vendor/maplibre-gl.mjs",
            "text/javascript; charset=utf-8",
        ),
        ("/viewer/app.css", "text/css; charset=utf-8"),
        ("/viewer/index.html", "text/html; charset=utf-8"),
    ] {
        let r = get(&app, uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        assert_eq!(r.content_type(), ty, "{uri}");
        assert_eq!(r.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    }
    // MapLibre asks for its worker with a version query.
    let r = get(&app, "/viewer/vendor/maplibre-gl.mjs?v=6.17.0").await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn no_path_reaches_outside_the_viewer() {
    let app = app_with_viewer();
    for uri in [
        "/viewer/missing.js",
        "/viewer/../Cargo.toml",
        "/viewer/%2e%2e/Cargo.toml",
        "/viewer/..%2fCargo.toml",
        "/viewer//etc/passwd",
        "/viewer/vendor",
        "/viewer/fonts/Noto%20Sans%20Regular/0-255.pbf",
    ] {
        let r = get(&app, uri).await;
        r.assert_error(StatusCode::NOT_FOUND, "not_found");
    }
}

#[tokio::test]
async fn glyph_ranges_are_served_from_the_first_font_that_has_them() {
    let app = app_with_viewer();
    for uri in [
        "/fonts/Noto%20Sans%20Regular/0-255.pbf",
        "/fonts/Noto%20Sans%20Regular,Arial%20Unicode%20MS%20Regular/0-255.pbf",
        "/fonts/Arial%20Unicode%20MS%20Regular,Noto%20Sans%20Regular/0-255.pbf",
    ] {
        let r = get(&app, uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        assert_eq!(r.content_type(), "application/x-protobuf");
        assert_eq!(&r.body[..], GLYPHS);
    }
    // A range the font lacks: 404, and the map draws those characters locally.
    let r = get(&app, "/fonts/Noto%20Sans%20Regular/19968-20223.pbf").await;
    let m = r.assert_error(StatusCode::NOT_FOUND, "not_found");
    assert!(m.contains("19968-20223"), "{m}");
    let r = get(&app, "/fonts/Arial/0-255.pbf").await;
    let m = r.assert_error(StatusCode::NOT_FOUND, "not_found");
    assert!(m.contains("Noto Sans Regular"), "names the fonts: {m}");
    for bad in [
        "0-256.pbf",
        "1-256.pbf",
        "65536-65791.pbf",
        "x-y.pbf",
        "0-255-1.pbf",
    ] {
        let r = get(&app, &format!("/fonts/Noto%20Sans%20Regular/{bad}")).await;
        let m = r.assert_error(StatusCode::BAD_REQUEST, "bad_glyph_range");
        assert!(m.contains("0-255.pbf"), "says how to fix it: {m}");
    }
}

#[tokio::test]
async fn without_a_built_viewer_the_api_says_how_to_build_it() {
    let app = app_without_viewer();
    for uri in [
        "/",
        "/viewer/app.js",
        "/fonts/Noto%20Sans%20Regular/0-255.pbf",
    ] {
        let r = get(&app, uri).await;
        let m = r.assert_error(StatusCode::NOT_FOUND, "not_found");
        assert!(m.contains("scripts/build-web"), "{m}");
    }
    assert_eq!(get(&app, "/health").await.status, StatusCode::OK);
}

#[tokio::test]
async fn classes_list_every_class_with_its_count() {
    let app = app_without_viewer();
    let r = get(&app, "/classes").await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    let health = get(&app, "/health").await.json();
    let total = health["components"].as_u64().unwrap();
    let classes = v["classes"].as_array().unwrap();
    let majors = v["majors"].as_array().unwrap();
    assert!(classes.len() >= 80, "{} classes", classes.len());
    let sum =
        |xs: &[serde_json::Value]| xs.iter().map(|c| c["count"].as_u64().unwrap()).sum::<u64>();
    assert_eq!(sum(classes), total);
    assert_eq!(sum(majors), total);
    for m in majors {
        let code = m["code"].as_str().unwrap();
        let of_major: Vec<serde_json::Value> = classes
            .iter()
            .filter(|c| c["major"] == code)
            .cloned()
            .collect();
        assert_eq!(sum(&of_major), m["count"].as_u64().unwrap(), "major {code}");
        assert!(of_major.iter().all(|c| c["major_name"] == m["name"]));
    }
    // The counts agree with the per-class search hits.
    let c = &classes[0];
    let hits = get(&app, &format!("/search?q={}", c["code"].as_str().unwrap()))
        .await
        .json();
    let hit = hits["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["kind"] == "class" && h["code"] == c["code"])
        .expect("class found by search");
    assert_eq!(hit["count"], c["count"]);
}

#[tokio::test]
async fn json_answers_are_compressed_for_clients_that_accept_it() {
    let app = app_without_viewer();
    let plain = get(&app, "/stats?level=unit").await;
    assert!(plain.headers.get(header::CONTENT_ENCODING).is_none());
    let gz = get_with(
        &app,
        "/stats?level=unit",
        &[(header::ACCEPT_ENCODING, "gzip")],
    )
    .await;
    assert_eq!(gz.status, StatusCode::OK);
    assert_eq!(gz.headers[header::CONTENT_ENCODING], "gzip");
    let mut back = Vec::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, plain.body.to_vec());
    assert!(
        gz.body.len() * 4 < plain.body.len(),
        "{} of {}",
        gz.body.len(),
        plain.body.len()
    );
    // Errors too stay JSON once decompressed.
    let bad = get_with(
        &app,
        "/stats?level=nope",
        &[(header::ACCEPT_ENCODING, "br")],
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let mut back = Vec::new();
    brotli::Decompressor::new(&bad.body[..], 4096)
        .read_to_end(&mut back)
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&back).unwrap();
    common::assert_error_value(&v, "bad_parameter");
}

#[tokio::test]
async fn streamed_batch_answers_are_compressed_whole() {
    let app = app_without_viewer();
    let points: Vec<String> = (0..2000)
        .map(|i| {
            format!(
                "[{}, {}]",
                118.765 + i as f64 * 1e-5,
                32.05 + i as f64 * 1e-5
            )
        })
        .collect();
    let body = format!("[{}]", points.join(","));
    let request = |encoding: Option<&str>| {
        let mut r =
            axum::http::Request::post("/lookup").header(header::CONTENT_TYPE, "application/json");
        if let Some(e) = encoding {
            r = r.header(header::ACCEPT_ENCODING, e);
        }
        r.body(axum::body::Body::from(body.clone())).unwrap()
    };
    let plain = common::send(&app, request(None)).await;
    assert_eq!(plain.status, StatusCode::OK);
    let gz = common::send(&app, request(Some("gzip"))).await;
    assert_eq!(gz.headers[header::CONTENT_ENCODING], "gzip");
    let mut back = Vec::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, plain.body.to_vec());
    let answers: serde_json::Value = serde_json::from_slice(&back).unwrap();
    assert_eq!(answers.as_array().unwrap().len(), 2000);
}
