//! The store of record on the seeded city of 16,000 unit grids and 2
//! million components: seeding a store, a year of one-grid redraws (300
//! revisions, seeded), storage bytes per revision of one grid, loading the
//! city from the store beside loading the FlatGeobuf data directory,
//! publish-to-visible (commit one redrawn grid, revise the served snapshot,
//! look it up, draw a tile over it), and lookups at a time a year back.
//!
//! `cargo bench --bench store`; `WANGGE_BENCH_UNITS` / `WANGGE_BENCH_COMPONENTS`
//! for other sizes (the 10-million-component city: 100000 / 10000000).

mod common;

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use geo::{Coord, Scale};
use rand::{Rng, SeedableRng};
use wangge::snapshot::Snapshot;
use wangge::store::{Commit, ComponentChange, GridChange, Store, Timestamp, View};

const DAY_MS: i64 = 86_400_000;

fn file_bytes(path: &std::path::Path) -> u64 {
    let wal = std::path::PathBuf::from(format!("{}-wal", path.display()));
    std::fs::metadata(path).map_or(0, |m| m.len()) + std::fs::metadata(wal).map_or(0, |m| m.len())
}

/// Moves the WAL into the database file, so that its size is the data's.
fn checkpoint(path: &std::path::Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_update(None, "wal_checkpoint", "TRUNCATE")
        .unwrap();
}

/// Records a revision that puts one grid.
fn redraw(
    store: &dyn Store,
    grid: wangge::model::Grid,
    message: &str,
    effective_at: Option<Timestamp>,
) -> wangge::store::RevisionInfo {
    store
        .commit(Commit {
            author: "bench".into(),
            message: message.into(),
            effective_at,
            kind: "publish",
            base: None,
            grids: vec![GridChange::Put(grid)],
            components: ComponentChange::Keep,
            draft: None,
        })
        .unwrap()
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn bench(c: &mut Criterion) {
    let units = common::env("WANGGE_BENCH_UNITS", 16_000);
    let components = common::env("WANGGE_BENCH_COMPONENTS", 2_000_000);
    let dir = common::data_dir(units, components);
    let tmp = tempfile::tempdir_in("target").expect("tempdir");
    let path = tmp.path().join("city.gpkg");

    let t = Instant::now();
    let (store, _) = wangge::edit::open_or_seed(&path, &dir).expect("seed the store");
    eprintln!(
        "seeded the store from {}: {:.1} s, {} MB",
        dir.display(),
        t.elapsed().as_secs_f64(),
        file_bytes(&path) >> 20
    );

    // A year of redraws: one unit grid per revision, effective a day apart.
    let head = store.head().unwrap().unwrap();
    let now = Timestamp::now().millis();
    let year_ago = now - 365 * DAY_MS;
    let grids = store
        .grids(View {
            revision: head.revision,
            valid_at: Timestamp::now(),
        })
        .unwrap();
    let finest = grids.iter().map(|g| g.level).max().unwrap();
    let unit_grids: Vec<_> = grids.iter().filter(|g| g.level == finest).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20261202);
    checkpoint(&path);
    let before = file_bytes(&path);
    let redraws = 300;
    for i in 0..redraws {
        let g = unit_grids[rng.random_range(0..unit_grids.len())];
        let mut redrawn = g.clone();
        redrawn.geometry = g.geometry.scale(0.999);
        redrawn.worker = Some(format!("网格员{i}"));
        let effective = Timestamp::from_millis(year_ago + i as i64 * DAY_MS);
        redraw(&store, redrawn, &format!("redraw {i}"), Some(effective));
    }
    checkpoint(&path);
    let mean_vertices = unit_grids
        .iter()
        .map(|g| geo::CoordsIter::coords_count(&g.geometry))
        .sum::<usize>() as f64
        / unit_grids.len() as f64;
    eprintln!(
        "{redraws} one-grid revisions: {:.0} bytes per revision (unit grids have {mean_vertices:.0} vertices on average)",
        (file_bytes(&path).saturating_sub(before)) as f64 / redraws as f64
    );

    // Loading: the store beside the FlatGeobuf data directory.
    let view_now = View {
        revision: store.head().unwrap().unwrap().revision,
        valid_at: Timestamp::now(),
    };
    let t = Instant::now();
    let snap_store = Snapshot::from_store(&store, view_now).unwrap();
    let store_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (_, snap_dir) = wangge::datadir::open_snapshot(&dir, |_| {}).unwrap();
    let dir_s = t.elapsed().as_secs_f64();
    eprintln!(
        "load + index, {} grids and {} components: store {store_s:.2} s, data directory {dir_s:.2} s",
        snap_store.data().grids.len(),
        snap_store.data().components.len()
    );
    drop(snap_dir);

    // Publish to visible: commit one redrawn grid, revise the served
    // snapshot (what the server does), look the grid up; then draw a tile
    // over it at zoom 15 from the next tile set (which builds the changed
    // level's tile topology on first use).
    let mut served = std::sync::Arc::new(snap_store);
    let mut tiles = wangge::tiles::TileSet::new(served.clone());
    tiles.warm();
    let sources = [
        wangge::tiles::Source::Grids,
        wangge::tiles::Source::Components,
    ];
    let mut times = Vec::new();
    for i in 0..20 {
        let g = unit_grids[rng.random_range(0..unit_grids.len())];
        let mut redrawn = g.clone();
        redrawn.geometry = g.geometry.scale(0.998);
        let inside = geo::InteriorPoint::interior_point(&redrawn.geometry).unwrap();
        let t = Instant::now();
        let info = redraw(&store, redrawn.clone(), &format!("live {i}"), None);
        let commit_s = t.elapsed().as_secs_f64();
        let view = View {
            revision: info.revision,
            valid_at: Timestamp::now(),
        };
        let epoch = store.epoch(view).unwrap();
        let next = served.next(&store, view, epoch).unwrap().snapshot;
        let next = std::sync::Arc::new(next);
        let found = next
            .locate(inside.0)
            .map(|(g, _)| next.grid(g).code.clone());
        assert_eq!(found.as_deref(), Some(redrawn.code.as_str()));
        let lookup_s = t.elapsed().as_secs_f64();
        let set = wangge::tiles::TileSet::succeeding(next.clone(), &tiles, Vec::new());
        let tile = wangge::tiles::tiles_covering(
            geo::BoundingRect::bounding_rect(&redrawn.geometry).unwrap(),
            15,
        )[0];
        assert!(!wangge::tiles::render(&set, &sources, tile).is_empty());
        times.push((commit_s, lookup_s, t.elapsed().as_secs_f64()));
        // The server warms the rest off the request threads before the next publish.
        set.warm();
        served = next;
        tiles = set;
    }
    let mut commits: Vec<f64> = times.iter().map(|t| t.0 * 1e3).collect();
    let mut lookups: Vec<f64> = times.iter().map(|t| t.1 * 1e3).collect();
    let mut tile_ms: Vec<f64> = times.iter().map(|t| t.2 * 1e3).collect();
    eprintln!(
        "publish one grid ({} revisions): commit median {:.1} ms (max {:.1}); to visible in lookups median {:.0} ms, p99 {:.0} ms; to a drawn zoom-15 tile median {:.0} ms, p99 {:.0} ms",
        times.len(),
        percentile(&mut commits, 0.5),
        percentile(&mut commits, 1.0),
        percentile(&mut lookups, 0.5),
        percentile(&mut lookups, 0.99),
        percentile(&mut tile_ms, 0.5),
        percentile(&mut tile_ms, 0.99)
    );
    drop(tiles);
    drop(served);

    // Lookups a year back: the snapshot of that time.
    let past = Snapshot::from_store(
        &store,
        View {
            revision: store.head().unwrap().unwrap().revision,
            valid_at: Timestamp::from_millis(year_ago + 10 * DAY_MS),
        },
    )
    .unwrap();
    let b = past.extent().unwrap();
    let points: Vec<Coord<f64>> = (0..100_000)
        .map(|_| Coord {
            x: rng.random_range(b.min().x..b.max().x),
            y: rng.random_range(b.min().y..b.max().y),
        })
        .collect();
    let mut g = c.benchmark_group("historical");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(points.len() as u64));
    g.bench_function("lookup_a_year_back_100k_points", |bench| {
        bench.iter(|| points.iter().filter(|&&p| past.locate(p).is_some()).count())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
