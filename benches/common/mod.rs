//! Shared by the benchmarks: the seeded city of a given size, generated once
//! into `target/bench-data/` and reused across runs.

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
    if wangge::store::resolve(&dir).is_ok() {
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
    let mut manifest = wangge::store::manifest_for(&data, "bench");
    manifest.components = components;
    std::fs::create_dir_all(&dir).expect("bench data dir");
    wangge::store::write_version(
        &dir,
        &manifest,
        &data,
        city.components(&classes).map(|c| c.0),
    )
    .expect("write bench city");
    dir
}
