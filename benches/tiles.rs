//! Vector tiles on the city of 16,000 unit grids and 2 million components
//! (generated once with the fixed seed into `target/bench-data/`):
//!
//! - `cold/{grids,components}/z{8..18}`: one tile rendered from the
//!   snapshot with no tile cache, cycling over up to 64 seeded tiles of the
//!   city at that zoom (the tile indexes and the zoom's simplified borders
//!   are built before timing, as a server builds them once);
//! - `warm/z14`: a cached tile through the HTTP router (in process, gzip);
//! - `export/pmtiles_z8_16`: the whole pyramid, both sources, to a PMTiles file.
//!
//! `cargo bench --bench tiles`. `WANGGE_BENCH_UNITS` / `WANGGE_BENCH_COMPONENTS`
//! choose another size.

mod common;

use std::time::{Duration, Instant};

use axum::http::header;
use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::seq::SliceRandom;

use wangge::http::{AppState, Limits, TileConfig, router};
use wangge::tiles::export::{ExportOptions, export_pmtiles};
use wangge::tiles::{self, Source, TileId};

/// Up to `n` seeded tiles of the city at zoom `z`.
fn sample(bounds: geo::Rect<f64>, z: u8, n: usize) -> Vec<TileId> {
    let mut all = tiles::tiles_covering(bounds, z);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20261129 + z as u64);
    all.shuffle(&mut rng);
    all.truncate(n);
    all
}

fn bench(c: &mut Criterion) {
    let units = common::env("WANGGE_BENCH_UNITS", 16_000);
    let components = common::env("WANGGE_BENCH_COMPONENTS", 2_000_000);
    let dir = common::data_dir(units, components);
    let (_, snap) = wangge::datadir::open_snapshot(&dir, |_| {}).expect("load");
    let bounds = snap.extent().expect("grids");
    let set = wangge::tiles::TileSet::new(std::sync::Arc::new(snap));
    let t0 = Instant::now();
    set.index();
    eprintln!("tile indexes built in {:.2} s", t0.elapsed().as_secs_f64());

    let mut g = c.benchmark_group("cold");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    for source in [Source::Grids, Source::Components] {
        for z in 8..=tiles::MAX_ZOOM {
            let list = sample(bounds, z, 64);
            // First use of a zoom simplifies its borders: not part of a tile's cost.
            tiles::render(&set, &[source], list[0]);
            let mut i = 0;
            g.bench_function(format!("{}/z{z}", source.id()), |b| {
                b.iter(|| {
                    i = (i + 1) % list.len();
                    tiles::render(&set, &[source], list[i]).len()
                })
            });
        }
    }
    g.finish();

    let state = AppState::new(
        wangge::datadir::open_snapshot(&dir, |_| {})
            .expect("load")
            .1,
        Limits::default(),
    )
    .with_tiles(TileConfig::default());
    let app = router(state);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .build()
        .expect("runtime");
    let uris: Vec<String> = sample(bounds, 14, 256)
        .iter()
        .map(|t| format!("/tiles/grids,components/{}/{}/{}", t.z, t.x, t.y))
        .collect();
    let call = |uri: &str| common::get(&rt, &app, uri, &[(header::ACCEPT_ENCODING, "gzip")]);
    for u in &uris {
        call(u);
    }
    let mut g = c.benchmark_group("warm");
    let mut i = 0;
    g.bench_function("z14", |b| {
        b.iter(|| {
            i = (i + 1) % uris.len();
            call(&uris[i])
        })
    });
    g.finish();

    let mut g = c.benchmark_group("export");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    let out = tempfile::tempdir().expect("tempdir");
    let options = ExportOptions {
        sources: vec![Source::Grids, Source::Components],
        minzoom: Some(8),
        maxzoom: 16,
        bbox: None,
    };
    g.bench_function("pmtiles_z8_16", |b| {
        b.iter(|| {
            export_pmtiles(&set, &options, &out.path().join("city.pmtiles"), &|_, _| {})
                .expect("export")
                .bytes
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
