//! Helpers shared by the in-process HTTP tests: load the sample city, send a
//! request through the router, read the reply.
#![allow(dead_code)]

pub mod keys;

use std::path::Path;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode, header};
use geo::Coord;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use wangge::datadir::{Manifest, open_snapshot};
use wangge::snapshot::Snapshot;

/// A store of record made from the sample city in `dir` (as `city.gpkg`),
/// and the snapshot of its newest revision.
pub fn sample_store(dir: &Path) -> (std::sync::Arc<dyn wangge::store::Store>, Snapshot) {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample");
    let (store, _) = wangge::edit::open_or_seed(&dir.join("city.gpkg"), &sample).unwrap();
    let store: std::sync::Arc<dyn wangge::store::Store> = std::sync::Arc::new(store);
    let view = wangge::edit::head_view(store.as_ref()).unwrap();
    let snap = Snapshot::from_store(store.as_ref(), view).unwrap();
    (store, snap)
}

/// The bundled sample city.
pub fn load() -> (Manifest, Snapshot) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample");
    open_snapshot(&dir, |_| {}).expect("load data/sample")
}

/// A reply, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.to_vec()).expect("body is UTF-8")
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    /// Asserts an error reply: status, JSON content type, and a body with
    /// exactly the string members `error` (= `code`) and `message` (non-empty).
    pub fn assert_error(&self, status: StatusCode, code: &str) -> String {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert!(
            self.content_type().starts_with("application/json"),
            "error content type {:?}",
            self.content_type()
        );
        let v = self.json();
        assert_error_value(&v, code)
    }
}

/// Asserts a JSON error value `{"error": code, "message": "..."}` and returns the message.
pub fn assert_error_value(v: &Value, code: &str) -> String {
    assert_eq!(v["error"], code, "error body {v}");
    let message = v["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message string in {v}"));
    assert!(!message.trim().is_empty(), "empty message in {v}");
    message.to_string()
}

pub async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app
        .clone()
        .oneshot(request)
        .await
        .expect("router is infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("read body")
        .to_bytes();
    Reply {
        status,
        headers,
        body,
    }
}

pub async fn get(app: &Router, uri: &str) -> Reply {
    send(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

/// A GET with request headers.
pub async fn get_with(
    app: &Router,
    uri: &str,
    headers: &[(axum::http::HeaderName, &str)],
) -> Reply {
    let mut r = Request::get(uri);
    for (k, v) in headers {
        r = r.header(k, *v);
    }
    send(app, r.body(Body::empty()).unwrap()).await
}

/// A ring as GeoJSON coordinates.
pub fn ring_json(ring: &[Coord<f64>]) -> String {
    let pts: Vec<String> = ring.iter().map(|c| format!("[{},{}]", c.x, c.y)).collect();
    format!("[{}]", pts.join(","))
}

/// A grid as a GeoJSON Feature with `code` and `name`.
pub fn grid_feature(code: &str, name: &str, rings: &[Vec<Coord<f64>>]) -> String {
    let rings: Vec<String> = rings.iter().map(|r| ring_json(r)).collect();
    format!(
        r#"{{"type":"Feature","properties":{{"code":"{code}","name":"{name}"}},"geometry":{{"type":"Polygon","coordinates":[{}]}}}}"#,
        rings.join(",")
    )
}

/// Features as a GeoJSON FeatureCollection.
pub fn collection(features: &[String]) -> String {
    format!(
        r#"{{"type":"FeatureCollection","features":[{}]}}"#,
        features.join(",")
    )
}
