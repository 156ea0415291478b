//! Lookups against a brute-force oracle (geo's own exact predicates) on a
//! generated city, border and vertex points, and the generated city's own
//! coverage rules.

use geo::coordinate_position::{CoordPos, CoordinatePosition};
use geo::{BoundingRect, Coord};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::OnceLock;

use wangge::codes::ClassTable;
use wangge::generate::{City, GenerateOptions};
use wangge::index::Position;
use wangge::model::{Dataset, Grid};
use wangge::snapshot::Snapshot;

const COMPONENTS: usize = 20_000;

fn city() -> &'static (City, Snapshot) {
    static CITY: OnceLock<(City, Snapshot)> = OnceLock::new();
    CITY.get_or_init(|| {
        let city = City::generate(&GenerateOptions {
            seed: 7,
            unit_grids: 1_500,
            components: COMPONENTS,
            ..GenerateOptions::default()
        });
        let mut data = Dataset::empty();
        let classes = ClassTable::builtin();
        data.grids = city.grids.clone();
        for (rec, _) in city.components(&classes) {
            let class = classes.get(&rec.class).unwrap();
            std::sync::Arc::make_mut(&mut data.components).push(&rec, class);
        }
        let snap = Snapshot::build(data, 1);
        (city, snap)
    })
}

/// The border rule, by brute force over every grid of the finest level with
/// geo's exact `coordinate_position`: interior first, else the smallest code
/// among grids whose boundary holds the point.
fn oracle(grids: &[Grid], finest: usize, p: Coord<f64>) -> Option<(String, Position)> {
    let mut boundary: Option<&Grid> = None;
    for g in grids.iter().filter(|g| g.level == finest) {
        let b = g.geometry.bounding_rect().unwrap();
        if p.x < b.min().x || p.x > b.max().x || p.y < b.min().y || p.y > b.max().y {
            continue;
        }
        match g.geometry.coordinate_position(&p) {
            CoordPos::Inside => return Some((g.code.clone(), Position::Inside)),
            CoordPos::OnBoundary => {
                if boundary.is_none_or(|b| g.code < b.code) {
                    boundary = Some(g);
                }
            }
            CoordPos::Outside => {}
        }
    }
    boundary.map(|g| (g.code.clone(), Position::Boundary))
}

fn located(snap: &Snapshot, p: Coord<f64>) -> Option<(String, Position)> {
    snap.locate(p)
        .map(|(g, pos)| (snap.grid(g).code.clone(), pos))
}

#[test]
fn lookups_equal_brute_force_on_100k_random_points() {
    let (_, snap) = city();
    let grids = &snap.data().grids;
    let ext = snap.extent().unwrap();
    let (w, h) = (ext.width(), ext.height());
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let mut outside = 0;
    // Points answered by pure, empty, nowhere, local, mixed and outside cells.
    let mut kinds = [0usize; 6];
    for _ in 0..100_000 {
        let p = Coord {
            x: ext.min().x - 0.05 * w + rng.random::<f64>() * 1.1 * w,
            y: ext.min().y - 0.05 * h + rng.random::<f64>() * 1.1 * h,
        };
        let expected = oracle(grids, 3, p);
        if expected.is_none() {
            outside += 1;
        }
        assert_eq!(located(snap, p), expected, "point {p:?}");
        // Every level's raster against its exact path, by the cell kind that answered.
        for (level, li) in snap.levels().iter().enumerate() {
            use wangge::index::Cell;
            let kind = match li.raster().map(|r| r.cell(p)) {
                Some(Cell::Pure(_)) => 0,
                Some(Cell::Empty) => 1,
                Some(Cell::Nowhere) => 2,
                Some(Cell::Local(_)) => 3,
                Some(Cell::Mixed(_)) => 4,
                Some(Cell::Outside) | None => 5,
            };
            kinds[kind] += 1;
            let fast = li.locate(p).map(|(g, _)| g);
            let exact = li.locate_exact(p).map(|(g, _)| g);
            // A Nowhere cell may answer None where a coarser level is empty
            // too; the exact path of this level then finds nothing either.
            assert_eq!(fast, exact, "level {level} cell kind {kind} at {p:?}");
        }
    }
    // The sample must exercise both answers and every kind of raster cell.
    assert!(outside > 5_000 && outside < 60_000, "outside: {outside}");
    // (Mixed cells, with more grids than a cell answers locally, do not
    // occur in generated cities; `many_grids_meeting_in_one_cell_...` has them.)
    for (k, n) in kinds.iter().enumerate().filter(|(k, _)| *k != 4) {
        assert!(*n > 50, "cell kind {k} answered only {n} points: {kinds:?}");
    }
}

/// Twenty-four wedges meeting at one point: the cells there hold more grids
/// than a cell answers from its own edges, so they list the grids to test
/// whole ("mixed" cells). Their answers equal the exact ring test's.
#[test]
fn many_grids_meeting_in_one_cell_are_answered_like_the_exact_test() {
    use wangge::index::Cell;
    let n = 24;
    let centre = Coord { x: 100.0, y: 30.0 };
    let at = |k: usize, r: f64| {
        let a = k as f64 / n as f64 * std::f64::consts::TAU;
        Coord {
            x: centre.x + r * a.cos(),
            y: centre.y + r * a.sin(),
        }
    };
    let mut data = wangge::model::Dataset::empty();
    data.scheme = wangge::codes::GridScheme::preset("gbt2260").unwrap();
    data.grids = (0..n)
        .map(|k| Grid {
            code: format!("{}", 11 + k),
            name: String::new(),
            level: 0,
            worker: None,
            geometry: geo::MultiPolygon(vec![geo::Polygon::new(
                geo::LineString(vec![centre, at(k, 1.0), at(k + 1, 1.0), centre]),
                vec![],
            )]),
        })
        .collect();
    let snap = wangge::snapshot::Snapshot::build(data, 1);
    let li = snap.level(0);
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let mut mixed = 0;
    for _ in 0..20_000 {
        let p = Coord {
            x: centre.x + rng.random_range(-0.02..0.02),
            y: centre.y + rng.random_range(-0.02..0.02),
        };
        if matches!(li.raster().map(|r| r.cell(p)), Some(Cell::Mixed(_))) {
            mixed += 1;
        }
        assert_eq!(li.locate(p), li.locate_exact(p), "{p:?}");
    }
    assert!(mixed > 100, "mixed cells answered {mixed} points");
}

#[test]
fn vertices_and_edge_points_map_to_exactly_one_grid() {
    let (_, snap) = city();
    let grids = &snap.data().grids;
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let units: Vec<&Grid> = grids.iter().filter(|g| g.level == 3).collect();
    let mut on_border = 0;
    for _ in 0..3_000 {
        let g = units[rng.random_range(0..units.len())];
        let ring = &g.geometry.0[0].exterior().0;
        let i = rng.random_range(0..ring.len() - 1);
        // A vertex (shared by up to four grids), and a point on an edge.
        let t: f64 = rng.random();
        let on_edge = Coord {
            x: ring[i].x + t * (ring[i + 1].x - ring[i].x),
            y: ring[i].y + t * (ring[i + 1].y - ring[i].y),
        };
        for p in [ring[i], on_edge] {
            let got = located(snap, p);
            assert_eq!(got, oracle(grids, 3, p), "point {p:?}");
            // An interpolated edge point may round off the city's outer edge;
            // the oracle agreed above. A vertex is always in some grid.
            let Some((code, pos)) = got else {
                assert_ne!(p, ring[i], "vertex of grid {} is in no grid", g.code);
                continue;
            };
            if pos == Position::Boundary {
                on_border += 1;
                // Exactly one grid: the smallest code among all grids touching it.
                let touching: Vec<&str> = units
                    .iter()
                    .filter(|u| u.geometry.coordinate_position(&p) != CoordPos::Outside)
                    .map(|u| u.code.as_str())
                    .collect();
                assert_eq!(Some(code.as_str()), touching.iter().min().copied());
            }
        }
    }
    assert!(
        on_border >= 3_000,
        "every vertex is on a border: {on_border}"
    );
}

#[test]
fn components_land_in_the_grid_they_were_placed_in() {
    let (city, snap) = city();
    let classes = ClassTable::builtin();
    let comps = &snap.data().components;
    assert_eq!(comps.len(), COMPONENTS);
    for (rec, cell) in city.components(&classes) {
        let c = comps.find(&rec.code).expect("component stored");
        let unit = snap
            .unit_grid(c.index)
            .expect("every component lies in a grid");
        assert_eq!(
            snap.grid(unit).code,
            city.unit_code_of_cell(cell),
            "component {}",
            rec.code
        );
        // The component's code starts with its district's code.
        assert!(snap.grid(unit).code.starts_with(&rec.code[..6]));
    }
}

#[test]
fn generated_city_keeps_the_grid_rules() {
    let (_, snap) = city();
    let data = snap.data();
    let problems =
        wangge::validate::check_hierarchy(&data.scheme, &data.grids, 1.0, &Default::default());
    assert!(
        problems.is_empty(),
        "{:#?}",
        &problems[..problems.len().min(5)]
    );
    for g in &data.grids {
        assert!(
            wangge::validate::check_polygon(&g.geometry).is_empty(),
            "grid {} invalid",
            g.code
        );
        data.scheme.validate(&g.code, Some(g.level), None).unwrap();
    }
    let mut areas: Vec<f64> = data
        .grids
        .iter()
        .filter(|g| g.level == 3)
        .map(|g| wangge::measure::area_m2(&g.geometry))
        .collect();
    areas.sort_by(f64::total_cmp);
    let median = areas[areas.len() / 2];
    assert!(
        (10_000.0..=20_000.0).contains(&median),
        "median unit grid area {median} m²"
    );
    let counts: Vec<usize> = (0..4)
        .map(|l| data.grids.iter().filter(|g| g.level == l).count())
        .collect();
    assert!(
        counts[0] >= 2 && counts[0] < counts[1] && counts[1] < counts[2] && counts[2] < counts[3],
        "{counts:?}"
    );
    assert!((1_300..=1_700).contains(&counts[3]), "{counts:?}");
    // One worker per unit grid.
    assert!(
        data.grids
            .iter()
            .filter(|g| g.level == 3)
            .all(|g| g.worker.is_some())
    );
}

#[test]
fn same_seed_same_city() {
    let opts = GenerateOptions {
        seed: 99,
        unit_grids: 200,
        components: 100,
        ..GenerateOptions::default()
    };
    let a = City::generate(&opts);
    let b = City::generate(&opts);
    assert_eq!(a.grids, b.grids);
    let classes = ClassTable::builtin();
    let ca: Vec<_> = a.components(&classes).map(|c| c.0).collect();
    let cb: Vec<_> = b.components(&classes).map(|c| c.0).collect();
    assert_eq!(ca, cb);
    let c = City::generate(&GenerateOptions { seed: 100, ..opts });
    assert_ne!(a.grids, c.grids);
}

#[test]
fn outside_points_get_the_nearest_grid() {
    let (_, snap) = city();
    let ext = snap.extent().unwrap();
    let p = Coord {
        x: ext.max().x + 0.01,
        y: (ext.min().y + ext.max().y) / 2.0,
    };
    let a = wangge::query::lookup::lookup(snap, p);
    assert!(!a.inside);
    let n = a.nearest.expect("nearest grid");
    // Brute force: the smallest boundary distance over all unit grids.
    let best = snap
        .data()
        .grids
        .iter()
        .filter(|g| g.level == 3)
        .map(|g| {
            (
                wangge::measure::boundary_distance_m(p, &g.geometry),
                g.code.clone(),
            )
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap();
    assert_eq!(n.grid.code, best.1);
    // The answer is great-circle metres; the local equirectangular frame of
    // `measure` agrees to far better than 0.1% a kilometre away.
    assert!(
        (n.distance_m - best.0).abs() < 1e-3 * best.0,
        "{} m vs {} m",
        n.distance_m,
        best.0
    );
    assert!(
        n.distance_m > 500.0,
        "0.01° east of the city is ~940 m away: {}",
        n.distance_m
    );
}
