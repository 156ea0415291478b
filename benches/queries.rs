//! Latency of nearest components, per-grid statistics and search through the
//! HTTP router (in-process, handler and JSON included) on the city of 100,000
//! unit grids and 10 million components (generated once into
//! `target/bench-data/`, shared with `benches/load.rs`).
//!
//! `cargo bench --bench queries`. `WANGGE_BENCH_UNITS` / `WANGGE_BENCH_COMPONENTS`
//! choose another size.

mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};

use wangge::http::{AppState, Limits, router};

fn bench(c: &mut Criterion) {
    let units = common::env("WANGGE_BENCH_UNITS", 100_000);
    let components = common::env("WANGGE_BENCH_COMPONENTS", 10_000_000);
    let (_, snap) =
        wangge::datadir::open_snapshot(&common::data_dir(units, components), |_| {}).expect("load");
    let ext = snap.extent().expect("grids");
    let codes_at = |level: usize| -> Vec<String> {
        let l = snap.level(level);
        snap.data().grids[l.dataset_range()]
            .iter()
            .map(|g| g.code.clone())
            .collect()
    };
    let (unit_codes, district_codes) = (codes_at(3), codes_at(0));
    let app = router(AppState::new(snap, Limits::default()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let call = |uri: String| common::get(&rt, &app, &uri, &[]);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let mut point = move || {
        format!(
            "lon={}&lat={}",
            ext.min().x + rng.random::<f64>() * ext.width(),
            ext.min().y + rng.random::<f64>() * ext.height()
        )
    };
    let mut g = c.benchmark_group(format!("queries_{units}_grids_{components}_components"));
    g.bench_function("nearest_k10", |b| {
        b.iter(|| call(format!("/components/nearest?{}&k=10", point())))
    });
    g.bench_function("nearest_k5_hydrants", |b| {
        b.iter(|| call(format!("/components/nearest?{}&k=5&class=0113", point())))
    });
    let mut i = 0;
    g.bench_function("unit_grid_stats", |b| {
        b.iter(|| {
            i = (i + 7919) % unit_codes.len();
            call(format!("/grids/{}/stats", unit_codes[i]))
        })
    });
    let mut j = 0;
    g.bench_function("district_stats", |b| {
        b.iter(|| {
            j = (j + 1) % district_codes.len();
            call(format!("/grids/{}/stats", district_codes[j]))
        })
    });
    g.bench_function("search_code_prefix", |b| {
        b.iter(|| call("/search?q=32010204".to_string()))
    });
    g.bench_function("search_chinese_name", |b| {
        b.iter(|| call("/search?q=%E6%A1%83%E8%A1%97".to_string()))
    });
    g.sample_size(10);
    g.bench_function("level_stats_unit", |b| {
        b.iter(|| call("/stats?level=unit".to_string()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
