//! Loading a data directory (FlatGeobuf → indexed snapshot) and its memory.
//!
//! `cargo bench --bench load` measures a city of 100,000 unit grids and 10
//! million components (generated once, with the fixed seed, into
//! `target/bench-data/`; about 2 minutes and 2.8 GB the first time). Set
//! `WANGGE_BENCH_UNITS` / `WANGGE_BENCH_COMPONENTS` for other sizes.
//! `scripts/bench-load-large` measures the same load through the CLI with
//! `/usr/bin/time` (wall time and peak resident memory of the whole process).

mod common;

use criterion::{Criterion, criterion_group, criterion_main};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn bench(c: &mut Criterion) {
    let units = common::env("WANGGE_BENCH_UNITS", 100_000);
    let components = common::env("WANGGE_BENCH_COMPONENTS", 10_000_000);
    let dir = common::data_dir(units, components);
    let before = rss_kib();
    let (_, snap) = wangge::datadir::open_snapshot(&dir, |_| {}).expect("load");
    let after = rss_kib();
    eprintln!(
        "{} grids, {} components: resident +{} MiB after load ({:.0} bytes per component incl. grids); index heap estimate {} MiB",
        snap.data().grids.len(),
        snap.data().components.len(),
        (after.saturating_sub(before)) / 1024,
        (after.saturating_sub(before)) as f64 * 1024.0 / snap.data().components.len().max(1) as f64,
        snap.heap_bytes() >> 20
    );
    drop(snap);
    let mut g = c.benchmark_group(format!("load_{units}_grids_{components}_components"));
    g.sample_size(10);
    g.bench_function("open_snapshot", |b| {
        b.iter(|| wangge::datadir::open_snapshot(&dir, |_| {}).expect("load"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
