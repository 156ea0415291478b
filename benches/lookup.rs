//! Point-in-grid lookup on a generated city of 16,000 unit grids.
//!
//! `cargo bench --bench lookup`. Points are seeded, uniform over the city's
//! bounding box (about 70% fall inside the city).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use geo::Coord;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use std::hint::black_box;

use wangge::generate::{City, GenerateOptions};
use wangge::model::Dataset;
use wangge::snapshot::Snapshot;

fn city() -> Snapshot {
    let city = City::generate(&GenerateOptions {
        unit_grids: 16_000,
        components: 0,
        ..GenerateOptions::default()
    });
    let mut data = Dataset::empty();
    data.grids = city.grids;
    Snapshot::build(data, 1)
}

fn points(snap: &Snapshot, n: usize) -> Vec<Coord<f64>> {
    let ext = snap.extent().expect("city has grids");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    (0..n)
        .map(|_| Coord {
            x: ext.min().x + rng.random::<f64>() * ext.width(),
            y: ext.min().y + rng.random::<f64>() * ext.height(),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let snap = city();
    let units = snap.levels()[3].len();
    eprintln!(
        "city: {} unit grids, raster answers {:.1}% of cells without a polygon test",
        units,
        snap.levels()[3].raster_pure_share() * 100.0
    );
    let pts = points(&snap, 1 << 20);
    let mut g = c.benchmark_group("lookup_16k_grids");
    let n = 100_000;
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("locate_1_thread", |b| {
        b.iter(|| {
            let mut hits = 0u32;
            for p in &pts[..n] {
                hits += snap.locate(*p).is_some() as u32;
            }
            black_box(hits)
        })
    });
    // Field workers' phones ask from inside the city: the same points, only those in some grid.
    let inside: Vec<Coord<f64>> = pts
        .iter()
        .copied()
        .filter(|p| snap.locate(*p).is_some())
        .take(n)
        .collect();
    g.bench_function("locate_inside_city_1_thread", |b| {
        b.iter(|| {
            let mut hits = 0u32;
            for p in &inside {
                hits += snap.locate(*p).is_some() as u32;
            }
            black_box(hits)
        })
    });
    g.bench_function("rtree_and_ring_test_1_thread", |b| {
        let level = snap.level(3);
        b.iter(|| {
            let mut hits = 0u32;
            for p in &pts[..n] {
                hits += level.locate_exact(*p).is_some() as u32;
            }
            black_box(hits)
        })
    });
    g.bench_function("full_answer_1_thread", |b| {
        b.iter(|| {
            let mut d = 0.0;
            for p in &pts[..n] {
                d += wangge::query::lookup::lookup(&snap, *p)
                    .border_distance_m
                    .unwrap_or(0.0);
            }
            black_box(d)
        })
    });
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("pool");
    let big = 1 << 20;
    g.throughput(Throughput::Elements(big as u64));
    for what in ["locate", "full_answer"] {
        g.bench_with_input(
            BenchmarkId::new("batch_2_threads", what),
            &what,
            |b, &what| {
                b.iter(|| {
                    pool.install(|| {
                        pts[..big]
                            .par_chunks(4096)
                            .map(|chunk| {
                                chunk
                                    .iter()
                                    .map(|p| match what {
                                        "locate" => snap.locate(*p).is_some() as u64,
                                        _ => wangge::query::lookup::lookup(&snap, *p).chain.len()
                                            as u64,
                                    })
                                    .sum::<u64>()
                            })
                            .sum::<u64>()
                    })
                })
            },
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
