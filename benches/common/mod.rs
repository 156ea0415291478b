//! Shared by the benchmarks: the seeded city of a given size, generated once
//! into `target/bench-data/` and reused across runs, and a GET through the
//! router in process.
#![allow(dead_code)]

use std::path::PathBuf;

use wangge::generate::{City, GenerateOptions};
use wangge::model::Dataset;

/// A size from the environment, or the default.
pub fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The data directory of the seeded city with `units` unit grids and
/// `components` components, generated on first use.
pub fn data_dir(units: usize, components: usize) -> PathBuf {
    let dir = PathBuf::from(format!("target/bench-data/city-{units}-{components}"));
    if wangge::datadir::resolve(&dir).is_ok() {
        return dir;
    }
    let city = City::generate(&GenerateOptions {
        unit_grids: units,
        components,
        ..GenerateOptions::default()
    });
    let mut data = Dataset::empty();
    data.grids = city.grids.clone();
    let classes = data.classes.clone();
    let mut manifest = wangge::datadir::manifest_for(&data, "bench");
    manifest.components = components;
    std::fs::create_dir_all(&dir).expect("bench data dir");
    wangge::datadir::write_version(
        &dir,
        &manifest,
        &data,
        city.components(&classes).map(|c| c.0),
    )
    .expect("write bench city");
    dir
}

/// GET `uri` with `headers` through `app` on `rt`; asserts a 2xx answer and
/// returns the body's length.
pub fn get(
    rt: &tokio::runtime::Runtime,
    app: &axum::Router,
    uri: &str,
    headers: &[(axum::http::HeaderName, &str)],
) -> usize {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    rt.block_on(async {
        let mut req = axum::http::Request::get(uri);
        for (k, v) in headers {
            req = req.header(k, *v);
        }
        let resp = app
            .clone()
            .oneshot(req.body(axum::body::Body::empty()).expect("request"))
            .await
            .expect("response");
        assert!(resp.status().is_success(), "{uri}: {}", resp.status());
        resp.into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .len()
    })
}
