//! Real data, made here with the shapes real boundary files have: many
//! vertices, shared borders whose two sides do not share every vertex,
//! islands, holes, overlaps, rejected parents, zero-part GB/T 2260 codes, GBK
//! text without a `.cpg`, polygons a country wide. Each test names the
//! property it checks; each failed before the fix it covers (issue 12).
//!
//! Oracles are independent of the code under test: geo's own predicates
//! (`Contains`, `Intersects`) on lattices of points, areas of planted
//! rectangles computed by hand, and brute force over every grid.

mod common;

use std::collections::HashMap;
use std::path::Path;

use geo::{BooleanOps, Contains, Coord, Intersects, LineString, MultiPolygon, Point, Polygon};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use wangge::codes::GridScheme;
use wangge::import::{ImportOptions, Imported};
use wangge::model::{Dataset, Grid};
use wangge::snapshot::Snapshot;
use wangge::validate::{self, Problem, ProblemKind, Severity};

/// Metres per degree of latitude on the mean sphere (an independent constant).
const M_PER_DEG: f64 = 6_371_008.8 * std::f64::consts::PI / 180.0;

fn c(x: f64, y: f64) -> Coord<f64> {
    Coord { x, y }
}

fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Polygon<f64> {
    validate::rect_polygon(x0, y0, x1, y1)
}

/// Area in m² of a lon/lat rectangle, by hand.
fn rect_area_m2(x0: f64, y0: f64, x1: f64, y1: f64) -> f64 {
    let lat = (y0 + y1) / 2.0;
    (x1 - x0) * M_PER_DEG * lat.to_radians().cos() * (y1 - y0) * M_PER_DEG
}

/// A closed jittered ring around `centre`: `n` vertices at radius `r`
/// degrees ± 8%, like a digitised boundary.
fn blob(rng: &mut ChaCha8Rng, centre: Coord<f64>, r: f64, n: usize) -> LineString<f64> {
    let mut pts: Vec<Coord<f64>> = (0..n)
        .map(|i| {
            let a = i as f64 / n as f64 * std::f64::consts::TAU;
            let rr = r * (1.0 + rng.random_range(-0.08..0.08));
            c(centre.x + rr * a.cos(), centre.y + rr * a.sin())
        })
        .collect();
    pts.push(pts[0]);
    LineString(pts)
}

/// A south-to-north line from `a` to `b` with `n` vertices that wanders
/// ±0.0045° east and west; its ends are exactly `a` and `b`.
fn wavy(rng: &mut ChaCha8Rng, a: Coord<f64>, b: Coord<f64>, n: usize) -> Vec<Coord<f64>> {
    (0..n)
        .map(|i| {
            if i == 0 {
                return a;
            }
            if i == n - 1 {
                return b;
            }
            let t = i as f64 / (n - 1) as f64;
            let y = a.y + (b.y - a.y) * t;
            let x = a.x + (b.x - a.x) * t;
            let taper = (t * std::f64::consts::PI).sin();
            c(
                x + taper * (0.004 * (y * 90.0).sin() + rng.random_range(-0.0005..0.0005)),
                y,
            )
        })
        .collect()
}

/// The same line with a midpoint inserted in every segment: vertices that
/// lie on the other side's edges only to within rounding, as in two files
/// digitised separately.
fn densified(line: &[Coord<f64>]) -> Vec<Coord<f64>> {
    let mut out = Vec::with_capacity(line.len() * 2);
    for w in line.windows(2) {
        out.push(w[0]);
        out.push(c((w[0].x + w[1].x) / 2.0, (w[0].y + w[1].y) / 2.0));
    }
    out.push(*line.last().unwrap());
    out
}

fn grid(code: &str, level: usize, geometry: MultiPolygon<f64>) -> Grid {
    Grid {
        code: code.into(),
        name: format!("网格{code}"),
        level,
        worker: None,
        geometry,
    }
}

fn closed(mut ring: Vec<Coord<f64>>) -> LineString<f64> {
    ring.dedup();
    ring.push(ring[0]);
    LineString(ring)
}

/// A province (code 44) shaped like real data, built vertex by vertex (no
/// boolean operation rounds it): wavy southern and northern borders of 601
/// vertices, cut into four cities (4401..4404, west to east) along wavy
/// lines of 300 vertices; on every shared border the western city has twice
/// the vertices of the eastern one. City 4402 has a lake (a hole, also in
/// the province) and city 4404 an island (a second part of it and of the
/// province). `bump` moves city 4402's eastern border east over 4403 between
/// latitudes 22.98 and 22.99 (an overlap, as two separately digitised files
/// have). Cities get `holes` (lon/lat rectangles, by city index 0..4) cut out.
fn province(seed: u64, bump: bool, holes: &[(usize, [f64; 4])]) -> Vec<Grid> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let edge = |rng: &mut ChaCha8Rng, y: f64| -> Vec<Coord<f64>> {
        (0..=600)
            .map(|i| {
                let x = 112.9 + 0.2 * i as f64 / 600.0;
                c(
                    x,
                    y + 0.01 * (x * 300.0).sin() + rng.random_range(-0.0003..0.0003),
                )
            })
            .collect()
    };
    let south = edge(&mut rng, 22.9);
    let north = edge(&mut rng, 23.1);
    let cuts = [0usize, 150, 300, 450, 600];
    let lines: Vec<Vec<Coord<f64>>> = cuts
        .iter()
        .map(|&i| wavy(&mut rng, south[i], north[i], 300))
        .collect();
    let ring = |k0: usize, k1: usize, east: &[Coord<f64>]| -> Vec<Coord<f64>> {
        let mut r: Vec<Coord<f64>> = south[cuts[k0]..=cuts[k1]].to_vec();
        r.extend(&east[1..]);
        r.extend(north[cuts[k0]..cuts[k1]].iter().rev());
        r.extend(lines[k0][1..lines[k0].len() - 1].iter().rev());
        r
    };
    let mut lake = blob(&mut rng, c(112.975, 23.0), 0.008, 40);
    lake.0.reverse();
    let island = Polygon::new(blob(&mut rng, c(113.15, 23.0), 0.01, 60), vec![]);
    let province = MultiPolygon(vec![
        Polygon::new(closed(ring(0, 4, &lines[4])), vec![lake.clone()]),
        island.clone(),
    ]);
    let mut grids = vec![grid("44", 0, province)];
    for k in 0..4 {
        let mut east = densified(&lines[k + 1]);
        if bump && k == 1 {
            for p in &mut east {
                if p.y > 22.98 && p.y < 22.99 {
                    p.x += 0.01 * ((p.y - 22.98) / 0.01 * std::f64::consts::PI).sin();
                }
            }
        }
        let mut interiors: Vec<LineString<f64>> = holes
            .iter()
            .filter(|(city, _)| *city == k)
            .map(|(_, [x0, y0, x1, y1])| {
                LineString(vec![
                    c(*x0, *y0),
                    c(*x0, *y1),
                    c(*x1, *y1),
                    c(*x1, *y0),
                    c(*x0, *y0),
                ])
            })
            .collect();
        if k == 1 {
            interiors.push(lake.clone());
        }
        let mut parts = vec![Polygon::new(closed(ring(k, k + 1, &east)), interiors)];
        if k == 3 {
            parts.push(island.clone());
        }
        grids.push(grid(&format!("44{:02}", k + 1), 1, MultiPolygon(parts)));
    }
    grids
}

fn hierarchy_problems(scheme: &GridScheme, grids: &[Grid]) -> Vec<Problem> {
    validate::check_hierarchy(scheme, grids, 1.0, &HashMap::new())
}

fn gbt2260() -> GridScheme {
    GridScheme::preset("gbt2260").expect("built-in scheme")
}

fn of_kind(problems: &[Problem], kind: ProblemKind) -> Vec<&Problem> {
    problems.iter().filter(|p| p.kind == kind).collect()
}

#[test]
fn gaps_are_reported_once_per_uncovered_piece_and_border_noise_never() {
    // The unshared vertices alone leave sub-millimetre slivers between
    // neighbours and along the province's border: no gap.
    let grids = province(1, false, &[]);
    let problems = hierarchy_problems(&gbt2260(), &grids);
    assert!(problems.is_empty(), "border noise reported: {problems:#?}");
    // Two real gaps cut out of two cities, one tiny one under the tolerance.
    let holes = [
        (2, [113.02, 23.01, 113.0207, 23.0107]),     // about 5,600 m²
        (3, [113.07, 22.96, 113.0715, 22.9615]),     // about 25,000 m²
        (3, [113.08, 23.05, 113.080005, 23.050005]), // about 0.3 m²
    ];
    let grids = province(1, false, &holes);
    let problems = hierarchy_problems(&gbt2260(), &grids);
    let gaps = of_kind(&problems, ProblemKind::Gap);
    assert_eq!(gaps.len(), 2, "{gaps:#?}");
    let parent = &grids[0].geometry;
    // The report lists the larger piece first.
    for (gap, (_, [x0, y0, x1, y1])) in gaps.iter().zip([holes[1], holes[0]]) {
        assert_eq!(gap.code.as_deref(), Some("44"));
        // Largest first: the report's areas match the planted rectangles.
        let want = rect_area_m2(x0, y0, x1, y1);
        let got = gap.area_m2.expect("a gap has an area");
        assert!((got - want).abs() < 0.01 * want, "area {got} vs {want}");
        // Its location is really uncovered: in the parent, in no child (geo's predicates).
        let [x, y] = gap.location.expect("a gap has a location");
        let at = Point::new(x, y);
        assert!(
            parent.contains(&at),
            "gap location {at:?} outside the parent"
        );
        for child in &grids[1..] {
            assert!(
                !child.geometry.intersects(&at),
                "gap location {at:?} inside {}",
                child.code
            );
        }
    }
    // Brute force on a lattice: every uncovered lattice point lies in a planted hole.
    let mut uncovered = 0;
    for i in 0..400 {
        for j in 0..400 {
            let p = Point::new(112.9 + i as f64 * 0.0006, 22.9 + j as f64 * 0.0006);
            if parent.contains(&p) && !grids[1..].iter().any(|g| g.geometry.intersects(&p)) {
                uncovered += 1;
                assert!(
                    holes
                        .iter()
                        .any(|&(_, [x0, y0, x1, y1])| rect(x0, y0, x1, y1).intersects(&p)),
                    "lattice point {p:?} is uncovered outside the planted holes"
                );
            }
        }
    }
    assert!(uncovered > 0, "the lattice must see the planted holes");
}

#[test]
fn overlapping_grids_are_reported_with_their_area_and_named_by_lookups() {
    // City 4402 reaches over its eastern border into 4403 in this window.
    let grids = province(2, true, &[]);
    let (x0, y0, x1, y1) = (112.99, 22.98, 113.02, 22.99);
    let problems = hierarchy_problems(&gbt2260(), &grids);
    let overlaps = of_kind(&problems, ProblemKind::Overlap);
    assert_eq!(overlaps.len(), 1, "{overlaps:#?}");
    assert_eq!(overlaps[0].code.as_deref(), Some("4402,4403"));
    // Brute force: the overlap is the part of the rectangle east of the
    // border, measured on a fine lattice with geo's predicates.
    let (n, mut both) = (200, 0);
    for i in 0..n {
        for j in 0..n {
            let p = Point::new(
                x0 + (i as f64 + 0.5) * (x1 - x0) / n as f64,
                y0 + (j as f64 + 0.5) * (y1 - y0) / n as f64,
            );
            if grids[2].geometry.contains(&p) && grids[3].geometry.contains(&p) {
                both += 1;
            }
        }
    }
    let want = rect_area_m2(x0, y0, x1, y1) * both as f64 / (n * n) as f64;
    let got = overlaps[0].area_m2.unwrap();
    assert!(
        (got - want).abs() < 0.02 * want,
        "overlap {got} m² vs lattice {want} m²"
    );

    // A lookup in the overlap says which grids contain the point.
    let mut data = Dataset::empty();
    data.scheme = gbt2260();
    data.grids = grids.clone();
    let snap = Snapshot::build(data, 1);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut seen = 0;
    for _ in 0..2000 {
        let p = c(rng.random_range(x0..x1), rng.random_range(y0..y1));
        let a = wangge::query::lookup::lookup(&snap, p);
        let want: Vec<&str> = grids[1..]
            .iter()
            .filter(|g| g.geometry.contains(&Point(p)))
            .map(|g| g.code.as_str())
            .collect();
        let on_a_border = grids[1..]
            .iter()
            .any(|g| g.geometry.intersects(&Point(p)) && !g.geometry.contains(&Point(p)));
        if on_a_border {
            continue;
        }
        if want.len() > 1 {
            seen += 1;
            assert_eq!(a.overlaps.len(), 1, "{p:?}: {:?}", a.overlaps);
            assert_eq!(a.overlaps[0].level, "city");
            assert_eq!(a.overlaps[0].codes, want, "{p:?}");
            assert_eq!(a.chain[1].code, want[0], "the border rule names the first");
        } else {
            assert!(
                a.overlaps.is_empty(),
                "{p:?} is in {want:?} only: {:?}",
                a.overlaps
            );
        }
    }
    assert!(seen > 100, "too few points in the overlap ({seen})");
}

/// Province 44 with cities 4401..4404 and, in city 4402's area, counties:
/// 440201 (normal), 440301 (its code says city 4403, but it lies in 4402),
/// and 440501 (its city 4405 is not in the data). City 4401 is left out, as
/// `--allow-invalid` leaves a rejected polygon out; county 440101 lies there.
fn mismatched() -> (Snapshot, Vec<Grid>) {
    let mut grids = province(4, false, &[]);
    let county = |code: &str, r: Polygon<f64>| grid(code, 2, MultiPolygon(vec![r]));
    grids.push(county("440201", rect(112.975, 22.95, 112.985, 22.96)));
    grids.push(county("440301", rect(112.975, 23.02, 112.985, 23.03)));
    grids.push(county("440501", rect(112.975, 23.04, 112.985, 23.05)));
    // West of every wavy border: inside city 4401.
    grids.push(county("440101", rect(112.92, 23.0, 112.93, 23.01)));
    let kept: Vec<Grid> = grids.iter().filter(|g| g.code != "4401").cloned().collect();
    let mut data = Dataset::empty();
    data.scheme = gbt2260();
    data.grids = kept;
    (Snapshot::build(data, 1), grids)
}

#[test]
fn a_chain_names_only_grids_that_contain_the_point_and_says_where_codes_disagree() {
    let (snap, grids) = mismatched();
    let kept: Vec<&Grid> = grids.iter().filter(|g| g.code != "4401").collect();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for _ in 0..20_000 {
        let p = c(
            rng.random_range(112.88..113.12),
            rng.random_range(22.88..23.12),
        );
        let a = wangge::query::lookup::lookup(&snap, p);
        // Oracle: per level, the kept grids whose closed polygon holds p.
        for level in 0..3 {
            let holding: Vec<&str> = kept
                .iter()
                .filter(|g| g.level == level && g.geometry.intersects(&Point(p)))
                .map(|g| g.code.as_str())
                .collect();
            let named: Vec<&str> = a
                .chain
                .iter()
                .filter(|g| g.level_index == level)
                .map(|g| g.code)
                .collect();
            match holding.len() {
                0 => assert!(
                    named.is_empty(),
                    "{p:?} level {level}: {named:?} does not contain it"
                ),
                _ => {
                    assert_eq!(named.len(), 1, "{p:?} level {level}: {named:?}");
                    assert!(
                        holding.contains(&named[0]),
                        "{p:?}: {named:?} not in {holding:?}"
                    );
                }
            }
        }
    }
    let at = |x, y| wangge::query::lookup::lookup(&snap, c(x, y));
    // 440301 lies in 4402 although its code names 4403.
    let a = at(112.98, 23.025);
    let codes: Vec<&str> = a.chain.iter().map(|g| g.code).collect();
    assert_eq!(codes, ["44", "4402", "440301"]);
    assert_eq!(a.parent_mismatches.len(), 1, "{:?}", a.parent_mismatches);
    let m = &a.parent_mismatches[0];
    assert_eq!(
        (m.level, m.grid, m.expected_parent, m.found),
        ("city", "440301", "4403", Some("4402"))
    );
    // 440101's city was left out: the chain skips the city level and says so.
    let a = at(112.925, 23.005);
    let codes: Vec<&str> = a.chain.iter().map(|g| g.code).collect();
    assert_eq!(codes, ["44", "440101"]);
    assert_eq!(a.parent_mismatches[0].found, None);
    assert_eq!(a.parent_mismatches[0].expected_parent, "4401");
    // A county in agreement with its city has no note.
    let a = at(112.98, 22.955);
    assert!(
        a.parent_mismatches.is_empty() && a.overlaps.is_empty(),
        "{a:?}"
    );
}

#[tokio::test]
async fn csv_answers_put_each_code_in_its_own_level_column_when_a_level_is_missing() {
    let (snap, _) = mismatched();
    let app = wangge::http::router(wangge::http::AppState::new(snap, Default::default()));
    let body =
        "id,lon,lat\nmissing_city,112.925,23.005\nmismatch,112.98,23.025\nfull,112.98,22.955\n";
    let r = common::send(
        &app,
        axum::http::Request::post("/lookup")
            .header("content-type", "text/csv")
            .body(axum::body::Body::from(body))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut rdr = csv::Reader::from_reader(r.body.as_ref());
    let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    let col = |n: &str| {
        header
            .iter()
            .position(|h| h == n)
            .unwrap_or_else(|| panic!("no {n} in {header:?}"))
    };
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    let cell = |row: usize, name: &str| rows[row][col(name)].to_string();
    assert_eq!(
        [
            cell(0, "province_code"),
            cell(0, "city_code"),
            cell(0, "county_code")
        ],
        ["44", "", "440101"]
    );
    assert!(
        cell(0, "warnings").contains("parent_mismatch city 440101 names 4401"),
        "{}",
        cell(0, "warnings")
    );
    assert_eq!(
        [
            cell(1, "province_code"),
            cell(1, "city_code"),
            cell(1, "county_code")
        ],
        ["44", "4402", "440301"]
    );
    assert_eq!(
        [
            cell(2, "province_code"),
            cell(2, "city_code"),
            cell(2, "county_code")
        ],
        ["44", "4402", "440201"]
    );
    assert_eq!(cell(2, "warnings"), "");
    // The JSON form carries the same notes.
    let r = common::get(&app, "/lookup?lon=112.925&lat=23.005").await;
    let v = r.json();
    assert_eq!(v["parent_mismatches"][0]["expected_parent"], "4401");
    assert!(v["parent_mismatches"][0]["found"].is_null());
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn feature(code: &str, name: &str, rings: &[&[(f64, f64)]]) -> String {
    let rings: Vec<Vec<Coord<f64>>> = rings
        .iter()
        .map(|r| r.iter().map(|&(x, y)| c(x, y)).collect())
        .collect();
    common::grid_feature(code, name, &rings)
}

use common::collection;

fn import(files: &[std::path::PathBuf], f: impl FnOnce(&mut ImportOptions)) -> Imported {
    let mut o = ImportOptions {
        grid_files: files.to_vec(),
        ..Default::default()
    };
    f(&mut o);
    wangge::import::import(&o, |_, _| {}).expect("import runs")
}

fn square(x0: f64, y0: f64, d: f64) -> Vec<(f64, f64)> {
    vec![
        (x0, y0),
        (x0 + d, y0),
        (x0 + d, y0 + d),
        (x0, y0 + d),
        (x0, y0),
    ]
}

#[test]
fn gbt2260_codes_with_zero_parts_are_accepted_and_the_urban_scheme_keeps_its_rule() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "divisions.geojson",
        &collection(&[
            feature("44", "广东省", &[&square(113.0, 22.0, 1.0)]),
            feature("4419", "东莞市", &[&square(113.0, 22.0, 1.0)]),
            feature("441900", "东莞市", &[&square(113.0, 22.0, 1.0)]),
            feature("82", "澳门", &[&square(115.0, 22.0, 0.1)]),
            feature("8200", "澳门", &[&square(115.0, 22.0, 0.1)]),
            feature("820000", "澳门", &[&square(115.0, 22.0, 0.1)]),
        ]),
    );
    let a = import(std::slice::from_ref(&f), |o| o.scheme = gbt2260());
    assert_eq!(a.report.errors(), 0, "{}", a.report.to_text(20));
    assert_eq!(a.snapshot.data().grids.len(), 6);
    // The urban scheme still refuses a unit grid numbered 000.
    let urban = write(
        dir.path(),
        "urban.geojson",
        &collection(&[feature(
            "110101001001000",
            "零号",
            &[&square(116.0, 39.0, 0.001)],
        )]),
    );
    let a = import(&[urban], |_| {});
    let p = &a.report.problems[0];
    assert_eq!(p.kind, ProblemKind::InvalidCode);
    assert!(p.message.contains("allow_zero_sequence"), "{}", p.message);
}

#[test]
fn a_rejected_parent_is_named_as_rejected_and_counts_say_how_many_were_read() {
    let dir = tempfile::tempdir().unwrap();
    // Province 23 crosses itself (a bow-tie); its city 2310 is fine; 2410 has no province at all.
    let bowtie = [
        (120.0, 45.0),
        (121.0, 46.0),
        (121.0, 45.0),
        (120.0, 46.0),
        (120.0, 45.0),
    ];
    let f = write(
        dir.path(),
        "p.geojson",
        &collection(&[
            feature("23", "黑龙江省", &[&bowtie]),
            feature("2310", "牡丹江市", &[&square(120.2, 45.2, 0.1)]),
            feature("2410", "无省", &[&square(122.2, 45.2, 0.1)]),
        ]),
    );
    let a = import(&[f], |o| o.scheme = gbt2260());
    assert_eq!((a.grids_read, a.snapshot.data().grids.len()), (3, 2));
    let missing = of_kind(&a.report.problems, ProblemKind::MissingParent);
    let msg = |code: &str| {
        missing
            .iter()
            .find(|p| p.code.as_deref() == Some(code))
            .map(|p| p.message.clone())
            .unwrap_or_else(|| panic!("no missing_parent for {code}: {missing:?}"))
    };
    assert!(
        msg("2310").contains("rejected (self_intersection)"),
        "{}",
        msg("2310")
    );
    assert!(!msg("2410").contains("rejected"), "{}", msg("2410"));
}

#[test]
fn repair_fixes_small_self_intersections_and_refuses_big_area_changes() {
    let dir = tempfile::tempdir().unwrap();
    // A square whose east side has a small twist: a bow-tie lobe of 1/400 of the area.
    let twisted = [
        (110.0, 30.0),
        (111.0, 30.0),
        (111.0, 30.5),
        (111.05, 30.55),
        (111.05, 30.5),
        (111.0, 30.55),
        (111.0, 31.0),
        (110.0, 31.0),
        (110.0, 30.0),
    ];
    let bowtie = [
        (112.0, 30.0),
        (113.0, 31.0),
        (113.0, 30.0),
        (112.0, 31.0),
        (112.0, 30.0),
    ];
    // A hole poking out of its square (by 0.05°: the repair adds that part
    // and keeps the hole's inner part, 4% more area).
    let outer = square(114.0, 30.0, 1.0);
    let poking = [
        (114.95, 30.3),
        (114.95, 30.7),
        (115.05, 30.7),
        (115.05, 30.3),
        (114.95, 30.3),
    ];
    let f = write(
        dir.path(),
        "p.geojson",
        &collection(&[
            feature("11", "扭", &[&twisted]),
            feature("12", "蝶", &[&bowtie]),
            feature("13", "洞", &[&outer, &poking]),
        ]),
    );
    // Without --repair: each is refused, and every message says what to do.
    let a = import(std::slice::from_ref(&f), |o| o.scheme = gbt2260());
    assert_eq!(a.snapshot.data().grids.len(), 0);
    for p in a
        .report
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
    {
        assert!(p.message.contains("--repair"), "no advice: {}", p.message);
        assert!(
            p.message.contains("Fix Geometries"),
            "no advice: {}",
            p.message
        );
    }
    assert!(!of_kind(&a.report.problems, ProblemKind::InvalidRings).is_empty());
    // With --repair (at most 5% area change): the twist and the hole are
    // repaired, the big bow-tie (the rings' signed areas cancel) is refused.
    let a = import(&[f], |o| {
        o.scheme = gbt2260();
        o.repair = Some(0.05);
    });
    let kept: Vec<&str> = a
        .snapshot
        .data()
        .grids
        .iter()
        .map(|g| g.code.as_str())
        .collect();
    assert_eq!(kept, ["11", "13"], "{}", a.report.to_text(20));
    let repaired = of_kind(&a.report.problems, ProblemKind::Repaired);
    assert_eq!(repaired.len(), 2);
    for g in a.snapshot.data().grids.iter() {
        assert!(
            validate::check_polygon(&g.geometry).is_empty(),
            "{} still invalid",
            g.code
        );
    }
    // The twist: its outer lobe (a quarter of the 0.05° square it spans)
    // flips from negative to positive: +2 lobes of area.
    let lobe = rect_area_m2(111.0, 30.5, 111.05, 30.55) / 4.0;
    let change = repaired[0].area_m2.unwrap();
    assert!(
        (change - 2.0 * lobe).abs() < 0.02 * lobe,
        "{change} vs {}",
        2.0 * lobe
    );
    let refused = a
        .report
        .problems
        .iter()
        .find(|p| p.code.as_deref() == Some("12") && p.severity == Severity::Error)
        .expect("the bow-tie is refused");
    assert!(
        refused.message.contains("--repair refused"),
        "{}",
        refused.message
    );
    assert!(
        refused.message.contains("5.0% allowed"),
        "{}",
        refused.message
    );
}

/// Collects what `tracing` logs while `f` runs.
fn logged<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone, Default)]
    struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let out = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || out.clone())
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let r = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    (r, text)
}

#[test]
fn a_ring_with_a_spike_is_reported_on_its_feature_and_the_geometry_library_logs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // The western-most vertex is the tip of a zero-width spike.
    let spiked = [
        (110.0, 30.0),
        (111.0, 30.0),
        (111.0, 31.0),
        (110.0, 31.0),
        (110.0, 30.5),
        (109.5, 30.5),
        (110.0, 30.5),
        (110.0, 30.0),
    ];
    let f = write(
        dir.path(),
        "p.geojson",
        &collection(&[
            feature("11", "刺", &[&spiked]),
            feature("12", "好", &[&square(112.0, 30.0, 1.0)]),
        ]),
    );
    let (a, log) = logged(|| import(std::slice::from_ref(&f), |o| o.scheme = gbt2260()));
    assert!(
        !log.contains("winding order"),
        "library warning leaked: {log}"
    );
    let spike: Vec<&Problem> = a
        .report
        .problems
        .iter()
        .filter(|p| p.code.as_deref() == Some("11"))
        .collect();
    assert_eq!(spike.len(), 1, "{spike:?}");
    assert_eq!(spike[0].kind, ProblemKind::SelfIntersection);
    assert_eq!(spike[0].row, Some(1));
    assert_eq!(spike[0].location, Some([109.5, 30.5]));
    // --repair removes the spike without changing the area.
    let (a, log) = logged(|| {
        import(&[f], |o| {
            o.scheme = gbt2260();
            o.repair = Some(0.0001);
        })
    });
    assert!(
        !log.contains("winding order"),
        "library warning leaked: {log}"
    );
    assert_eq!(a.snapshot.data().grids.len(), 2, "{}", a.report.to_text(10));
}

#[test]
fn a_gbk_shapefile_without_cpg_is_decoded_as_gbk_and_the_guess_is_reported() {
    use shapefile::dbase::{self, FieldValue, TableWriterBuilder};
    let dir = tempfile::tempdir().unwrap();
    let shp = dir.path().join("provinces.shp");
    let table =
        TableWriterBuilder::with_encoding(dbase::encoding::EncodingRs::from(encoding_rs::GBK))
            .add_character_field("code".try_into().unwrap(), 8)
            .add_character_field("name".try_into().unwrap(), 40);
    let mut writer = shapefile::Writer::from_path(&shp, table).unwrap();
    let names = ["广东省", "黑龙江省", "内蒙古自治区"];
    for (i, name) in names.iter().enumerate() {
        let ring: Vec<shapefile::Point> = square(100.0 + 2.0 * i as f64, 30.0, 1.0)
            .iter()
            .rev() // Shapefile outer rings are clockwise
            .map(|&(x, y)| shapefile::Point::new(x, y))
            .collect();
        let mut rec = dbase::Record::default();
        rec.insert(
            "code".into(),
            FieldValue::Character(Some(format!("{}", 44 + i))),
        );
        rec.insert("name".into(), FieldValue::Character(Some(name.to_string())));
        writer
            .write_shape_and_record(
                &shapefile::Polygon::with_rings(vec![shapefile::PolygonRing::Outer(ring)]),
                &rec,
            )
            .unwrap();
    }
    drop(writer);
    assert!(!shp.with_extension("cpg").exists());
    // Files from older tools say nothing in the .dbf header either (language driver 0).
    let dbf = shp.with_extension("dbf");
    let mut bytes = std::fs::read(&dbf).unwrap();
    bytes[29] = 0;
    std::fs::write(&dbf, bytes).unwrap();
    let a = import(std::slice::from_ref(&shp), |o| o.scheme = gbt2260());
    let stored: Vec<&str> = a
        .snapshot
        .data()
        .grids
        .iter()
        .map(|g| g.name.as_str())
        .collect();
    assert_eq!(stored, names, "{}", a.report.to_text(10));
    let guessed = of_kind(&a.report.problems, ProblemKind::EncodingGuessed);
    assert_eq!(guessed.len(), 1, "{}", a.report.to_text(10));
    assert!(guessed[0].message.contains("GBK"), "{}", guessed[0].message);
    // A wrong declared encoding is refused, not decoded into replacement characters.
    std::fs::write(shp.with_extension("cpg"), "UTF-8").unwrap();
    let o = ImportOptions {
        grid_files: vec![shp],
        scheme: gbt2260(),
        ..Default::default()
    };
    let err = wangge::import::import(&o, |_, _| {}).expect_err("UTF-8 is wrong for this file");
    assert!(err.to_string().contains("--encoding"), "{err}");
}

#[test]
fn gbk_csv_components_are_decoded_and_the_guess_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let grids = write(
        dir.path(),
        "g.geojson",
        &collection(&[feature("440101", "越秀区", &[&square(113.2, 23.1, 0.1)])]),
    );
    let text = "code,name,lon,lat,state\n4401010101000001,井盖,113.25,23.15,完好\n";
    let csv = dir.path().join("c.csv");
    std::fs::write(&csv, encoding_rs::GBK.encode(text).0).unwrap();
    let o = ImportOptions {
        grid_files: vec![grids],
        component_files: vec![csv],
        scheme: gbt2260(),
        ..Default::default()
    };
    let a = wangge::import::import(&o, |_, _| {}).expect("import runs");
    let comps = &a.snapshot.data().components;
    assert_eq!(comps.len(), 1, "{}", a.report.to_text(10));
    let c = comps.find("4401010101000001").expect("component");
    assert_eq!(c.name(), "井盖");
    assert_eq!(
        of_kind(&a.report.problems, ProblemKind::EncodingGuessed).len(),
        1
    );
}

/// Eight provinces of 2-4 degrees with 200-vertex borders across China, as
/// a country-wide dataset (province → city → county, 2/4/6 digits).
fn country() -> Snapshot {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut grids = Vec::new();
    for p in 0..8 {
        let (x, y) = (100.0 + (p % 4) as f64 * 5.0, 25.0 + (p / 4) as f64 * 6.0);
        let outer = MultiPolygon(vec![Polygon::new(
            blob(&mut rng, c(x, y), 2.0, 200),
            vec![],
        )]);
        let code = format!("{}", 11 + p);
        for k in 0..4 {
            let (x0, y0) = (
                x - 2.5 + (k % 2) as f64 * 2.5,
                y - 2.5 + (k / 2) as f64 * 2.5,
            );
            let city = outer.intersection(&MultiPolygon(vec![rect(x0, y0, x0 + 2.5, y0 + 2.5)]));
            for j in 0..4 {
                let (cx, cy) = (x0 + (j % 2) as f64 * 1.25, y0 + (j / 2) as f64 * 1.25);
                let county =
                    city.intersection(&MultiPolygon(vec![rect(cx, cy, cx + 1.25, cy + 1.25)]));
                if !county.0.is_empty() {
                    grids.push(grid(&format!("{code}{:02}{:02}", k + 1, j + 1), 2, county));
                }
            }
            grids.push(grid(&format!("{code}{:02}", k + 1), 1, city));
        }
        grids.push(grid(&code, 0, outer));
    }
    let mut data = Dataset::empty();
    data.scheme = gbt2260();
    data.grids = grids;
    Snapshot::build(data, 1)
}

#[test]
fn a_country_wide_dataset_is_drawn_from_low_zooms() {
    use wangge::tiles::{self, Source, TileId};
    let set = tiles::TileSet::new(std::sync::Arc::new(country()));
    let (snap, index) = (set.snapshot(), set.index());
    assert!(
        index.level_minzoom(0) <= 4,
        "provinces from zoom {}",
        index.level_minzoom(0)
    );
    assert!(
        index.level_minzoom(2) <= 7,
        "counties from zoom {}",
        index.level_minzoom(2)
    );
    // Zoom 4 over the country: tiles with polygons, decodable, within limits.
    let bounds = snap.extent().unwrap();
    let mut drawn = 0;
    for t in tiles::tiles_covering(bounds, 4) {
        let bytes = tiles::render(&set, &[Source::Grids], t);
        assert!(
            bytes.len() < 500 * 1024,
            "tile {t:?} is {} bytes",
            bytes.len()
        );
        if !bytes.is_empty() {
            drawn += 1;
        }
    }
    assert!(drawn >= 2, "zoom 4 draws {drawn} tiles");
    let t = TileId::new(4, 12, 6).unwrap();
    assert!(
        !tiles::render(&set, &[Source::Grids], t).is_empty(),
        "tile 4/12/6 is empty"
    );
    // A deployment can set a level's zoom.
    let mut data = Dataset::empty();
    data.scheme = gbt2260();
    data.scheme.levels[0].minzoom = Some(6);
    data.grids = snap.data().grids.clone();
    let set = tiles::TileSet::new(std::sync::Arc::new(Snapshot::build(data, 1)));
    assert_eq!(set.index().level_minzoom(0), 6);
}

/// Great-circle distance in metres from `p` to the great-circle segment
/// a-b, by the textbook cross-track formula (independent of the chord
/// geometry the index uses).
fn cross_track_m(p: Coord<f64>, a: Coord<f64>, b: Coord<f64>) -> f64 {
    const R: f64 = 6_371_008.8;
    let v = |q: Coord<f64>| {
        let (l, f) = (q.x.to_radians(), q.y.to_radians());
        [f.cos() * l.cos(), f.cos() * l.sin(), f.sin()]
    };
    let cross = |u: [f64; 3], w: [f64; 3]| {
        [
            u[1] * w[2] - u[2] * w[1],
            u[2] * w[0] - u[0] * w[2],
            u[0] * w[1] - u[1] * w[0],
        ]
    };
    let dot = |u: [f64; 3], w: [f64; 3]| u[0] * w[0] + u[1] * w[1] + u[2] * w[2];
    let norm = |u: [f64; 3]| dot(u, u).sqrt();
    let angle = |u: [f64; 3], w: [f64; 3]| norm(cross(u, w)).atan2(dot(u, w));
    let (pv, av, bv) = (v(p), v(a), v(b));
    let ends = angle(pv, av).min(angle(pv, bv));
    let n = cross(av, bv);
    if norm(n) == 0.0 {
        return ends * R;
    }
    let n = [n[0] / norm(n), n[1] / norm(n), n[2] / norm(n)];
    // The foot of the perpendicular lies between a and b when it is on the
    // inner side of both great circles through the ends perpendicular to a-b.
    let foot = {
        let d = dot(pv, n);
        let f = [pv[0] - d * n[0], pv[1] - d * n[1], pv[2] - d * n[2]];
        let l = norm(f);
        [f[0] / l, f[1] / l, f[2] / l]
    };
    let between = dot(cross(av, foot), n) >= 0.0 && dot(cross(foot, bv), n) >= 0.0;
    if between {
        dot(pv, n).abs().asin() * R
    } else {
        ends * R
    }
}

#[test]
fn the_nearest_grid_to_a_point_outside_agrees_with_brute_force() {
    let snap = country();
    let finest = snap.level(2);
    let counties: Vec<&Grid> = snap.data().grids.iter().filter(|g| g.level == 2).collect();
    // Edges are straight in lon/lat: each is cut into pieces of 0.005° or
    // less, and a piece's great-circle arc is within millimetres of it.
    let edge = |p: Coord<f64>, a: Coord<f64>, b: Coord<f64>| {
        let n = ((b.x - a.x).abs().max((b.y - a.y).abs()) / 0.005)
            .ceil()
            .max(1.0) as usize;
        let at = |i: usize| {
            c(
                a.x + (b.x - a.x) * i as f64 / n as f64,
                a.y + (b.y - a.y) * i as f64 / n as f64,
            )
        };
        (0..n)
            .map(|i| cross_track_m(p, at(i), at(i + 1)))
            .fold(f64::INFINITY, f64::min)
    };
    let distance = |p: Coord<f64>, g: &Grid| {
        g.geometry
            .0
            .iter()
            .flat_map(|poly| std::iter::once(poly.exterior()).chain(poly.interiors()))
            .flat_map(|r| {
                r.0.windows(2)
                    .map(|w| edge(p, w[0], w[1]))
                    .collect::<Vec<_>>()
            })
            .fold(f64::INFINITY, f64::min)
    };
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut checked = 0;
    while checked < 300 {
        // Near the country, and some half a world away.
        let p = if checked % 10 == 9 {
            c(
                rng.random_range(-180.0..180.0),
                rng.random_range(-80.0..80.0),
            )
        } else {
            c(rng.random_range(90.0..125.0), rng.random_range(15.0..40.0))
        };
        if counties.iter().any(|g| g.geometry.intersects(&Point(p))) {
            continue;
        }
        checked += 1;
        // Brute force over every segment of every county.
        let all: Vec<f64> = counties.iter().map(|g| distance(p, g)).collect();
        let want = all.iter().copied().fold(f64::INFINITY, f64::min);
        let (g, d) = finest.nearest(p).expect("a nearest grid");
        // The index's chords lie within centimetres of the edges.
        assert!(
            (d - want).abs() < 0.1 + 1e-9 * want,
            "{p:?}: {d} m vs {want} m"
        );
        assert!(
            all[g as usize] - want < 0.2,
            "{p:?}: grid {g} at {} m, nearest {want} m",
            all[g as usize]
        );
        let a = wangge::query::lookup::lookup(&snap, p);
        assert!(!a.inside);
        assert_eq!(a.nearest.unwrap().grid.code, counties[g as usize].code);
    }
}

#[test]
fn exported_tile_archives_respect_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let umask = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("Umask:")
                    .map(|v| u32::from_str_radix(v.trim(), 8))
            })
        })
        .expect("the umask from /proc")
        .unwrap();
    let set = wangge::tiles::TileSet::new(std::sync::Arc::new(country()));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("country.pmtiles");
    let options = wangge::tiles::export::ExportOptions {
        sources: vec![wangge::tiles::Source::Grids],
        minzoom: None,
        maxzoom: 5,
        bbox: None,
    };
    let summary = wangge::tiles::export::export_pmtiles(&set, &options, &out, &|_, _| {}).unwrap();
    assert!(summary.stored > 0, "tiles with features at zooms up to 5");
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666 & !umask, "mode {mode:o} with umask {umask:o}");
}
