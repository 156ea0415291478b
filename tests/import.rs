//! Import of every supported format (GeoJSON, NDJSON, FlatGeobuf, a GBK
//! Shapefile in a Gauss-Krüger zone, CSV), every validation problem on
//! crafted bad files, a custom scheme, and atomic publishing: leftovers of
//! killed imports removed, concurrent publishes taking turns, retention of
//! three versions, and the real binary killed with SIGKILL at random moments.

mod common;

use common::{collection, grid_feature};
use std::path::{Path, PathBuf};

use geo::Coord;
use wangge::codes::{GridScheme, LevelDef};
use wangge::crs::Crs;
use wangge::import::{ImportOptions, Imported, import};
use wangge::model::Grid;
use wangge::validate::{ProblemKind, Severity};

fn sample() -> (wangge::datadir::Manifest, wangge::model::Dataset) {
    wangge::datadir::load(Path::new("data/sample"), |_| {}).unwrap()
}

fn run(grids: &[PathBuf], components: &[PathBuf], f: impl FnOnce(&mut ImportOptions)) -> Imported {
    let mut o = ImportOptions {
        grid_files: grids.to_vec(),
        component_files: components.to_vec(),
        ..Default::default()
    };
    f(&mut o);
    import(&o, |_, _| {}).unwrap()
}

fn kinds(i: &Imported) -> Vec<ProblemKind> {
    i.report.problems.iter().map(|p| p.kind).collect()
}

fn sq(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<Coord<f64>> {
    vec![
        Coord { x: x0, y: y0 },
        Coord { x: x1, y: y0 },
        Coord { x: x1, y: y1 },
        Coord { x: x0, y: y1 },
        Coord { x: x0, y: y0 },
    ]
}

const D: f64 = 0.001; // ~100 m at this latitude

#[test]
fn sample_round_trips_through_geojson_ndjson_fgb_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let (_, data) = sample();
    // Grids as GeoJSON, via the geojson crate's writer of geo types.
    let features: Vec<String> = data
        .grids
        .iter()
        .map(|g| {
            let geom = geojson::Geometry::new(geojson::Value::from(&g.geometry));
            format!(
                r#"{{"type":"Feature","properties":{{"code":"{}","name":"{}","worker":{}}},"geometry":{}}}"#,
                g.code,
                g.name,
                g.worker.as_ref().map_or("null".into(), |w| format!("\"{w}\"")),
                geom
            )
        })
        .collect();
    let gj = dir.path().join("grids.geojson");
    std::fs::write(&gj, collection(&features)).unwrap();
    let nd = dir.path().join("grids.ndjson");
    std::fs::write(&nd, features.join("\n")).unwrap();
    // Components as CSV with Chinese headers.
    let csv_path = dir.path().join("components.csv");
    let mut w = csv::Writer::from_path(&csv_path).unwrap();
    w.write_record([
        "部件编码",
        "名称",
        "经度",
        "纬度",
        "状态",
        "权属单位",
        "所在单元网格",
    ])
    .unwrap();
    for c in data.components.iter().take(500) {
        let r = c.record(&data.classes);
        w.write_record([
            r.code.clone(),
            r.name.clone(),
            r.location.x.to_string(),
            r.location.y.to_string(),
            r.state.chinese().into(),
            r.owner.clone(),
            "320102001001001".into(),
        ])
        .unwrap();
    }
    w.flush().unwrap();

    let a = run(&[gj], &[csv_path], |_| {});
    assert_eq!(a.report.errors(), 0, "{}", a.report.to_text(10));
    let b = run(&[nd], &[], |_| {});
    assert_eq!(b.report.errors(), 0);
    let fgb = dir.path().join("grids.fgb");
    wangge::io::write_grids_fgb(&fgb, &data.grids).unwrap();
    let c = run(&[fgb], &[], |_| {});
    assert_eq!(c.report.errors(), 0);
    let mut want = data.grids.clone();
    want.sort_by(|x, y| (x.level, &x.code).cmp(&(y.level, &y.code)));
    for (name, imported) in [("geojson", &a), ("ndjson", &b), ("fgb", &c)] {
        let got = &imported.snapshot.data().grids;
        assert_eq!(got.len(), want.len(), "{name}");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(
                (&g.code, &g.name, g.level, &g.worker),
                (&w.code, &w.name, w.level, &w.worker),
                "{name}"
            );
            assert!(
                g.geometry == w.geometry,
                "{name}: geometry of {} differs",
                g.code
            );
        }
    }
    // Components: 500 read, their grid derived from location; the recorded
    // grid code is wrong for most of them and reported as a warning.
    let comps = &a.snapshot.data().components;
    assert_eq!(comps.len(), 500);
    let first = data.components.get(0).record(&data.classes);
    let got = comps
        .find(&first.code)
        .unwrap()
        .record(&a.snapshot.data().classes);
    assert_eq!(got.location, first.location);
    assert_eq!(got.owner, first.owner);
    assert!(
        a.report
            .problems
            .iter()
            .any(|p| p.kind == ProblemKind::GridMismatch && p.severity == Severity::Warning)
    );
}

/// ESRI WKT of CGCS2000 3-degree Gauss-Krüger zone 40 (EPSG:4528), as GIS tools write it.
const GK40_PRJ: &str = r#"PROJCS["CGCS2000_3_Degree_GK_Zone_40",GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",DATUM["D_China_2000",SPHEROID["CGCS2000",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Gauss_Kruger"],PARAMETER["False_Easting",40500000.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",120.0],PARAMETER["Scale_Factor",1.0],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]"#;

#[test]
fn gbk_shapefile_in_a_gauss_kruger_zone() {
    use shapefile::dbase::{self, FieldValue, TableWriterBuilder};
    let dir = tempfile::tempdir().unwrap();
    let (_, data) = sample();
    let units: Vec<&Grid> = data
        .grids
        .iter()
        .filter(|g| g.level == 3)
        .take(40)
        .collect();
    let to_gk = proj::Proj::new_known_crs("EPSG:4326", "EPSG:4528", None).unwrap();
    let shp = dir.path().join("网格.shp");
    let table =
        TableWriterBuilder::with_encoding(dbase::encoding::EncodingRs::from(encoding_rs::GBK))
            .add_character_field("BM".try_into().unwrap(), 20)
            .add_character_field("MC".try_into().unwrap(), 60);
    let mut writer = shapefile::Writer::from_path(&shp, table).unwrap();
    for g in &units {
        let rings: Vec<shapefile::Point> = g.geometry.0[0]
            .exterior()
            .0
            .iter()
            .rev() // shapefile outer rings are clockwise
            .map(|c| {
                let (x, y) = to_gk.convert((c.x, c.y)).unwrap();
                shapefile::Point::new(x, y)
            })
            .collect::<Vec<_>>();
        let rings = vec![shapefile::PolygonRing::Outer(rings)];
        let mut rec = dbase::Record::default();
        rec.insert("BM".into(), FieldValue::Character(Some(g.code.clone())));
        rec.insert("MC".into(), FieldValue::Character(Some(g.name.clone())));
        writer
            .write_shape_and_record(&shapefile::Polygon::with_rings(rings), &rec)
            .unwrap();
    }
    drop(writer);
    std::fs::write(shp.with_extension("cpg"), "GBK").unwrap();
    std::fs::write(shp.with_extension("prj"), GK40_PRJ).unwrap();
    // The .dbf really is GBK: the UTF-8 bytes of the first name are not in it.
    let dbf = std::fs::read(shp.with_extension("dbf")).unwrap();
    let gbk_name = encoding_rs::GBK.encode(&units[0].name).0.into_owned();
    assert!(
        dbf.windows(gbk_name.len())
            .any(|w| w == gbk_name.as_slice())
    );
    assert!(
        !dbf.windows(units[0].name.len())
            .any(|w| w == units[0].name.as_bytes())
    );

    let imported = run(&[shp], &[], |_| {});
    // Only unit grids were imported, so their parents are missing: that is reported.
    assert!(
        kinds(&imported)
            .iter()
            .all(|k| *k == ProblemKind::MissingParent),
        "{}",
        imported.report.to_text(5)
    );
    let got = &imported.snapshot.data().grids;
    assert_eq!(got.len(), units.len());
    for g in units {
        let back = got.iter().find(|x| x.code == g.code).expect("code decoded");
        assert_eq!(back.name, g.name, "GBK name decoded");
        // Through PROJ and back: within 1e-8 degrees (about a millimetre).
        for (a, b) in back.geometry.0[0]
            .exterior()
            .0
            .iter()
            .zip(g.geometry.0[0].exterior().0.iter().rev())
        {
            assert!(
                (a.x - b.x).abs() < 1e-8 && (a.y - b.y).abs() < 1e-8,
                "{a:?} vs {b:?}"
            );
        }
    }
}

#[test]
fn crafted_bad_grids_report_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = (118.70, 32.00);
    let bowtie = vec![
        Coord { x, y },
        Coord { x: x + D, y: y + D },
        Coord { x: x + D, y },
        Coord { x, y: y + D },
        Coord { x, y },
    ];
    let features = vec![
        // A district and two streets that overlap, leaving a gap.
        grid_feature("320102", "甲区", &[sq(x, y, x + 10.0 * D, y + 10.0 * D)]),
        grid_feature("320102001", "一街道", &[sq(x, y, x + 6.0 * D, y + 8.0 * D)]),
        grid_feature("320102002", "二街道", &[sq(x + 5.0 * D, y, x + 9.0 * D, y + 8.0 * D)]),
        // A street sticking out of its district.
        grid_feature("320102003", "三街道", &[sq(x, y + 8.0 * D, x + 10.0 * D, y + 11.0 * D)]),
        // Bad codes, duplicate, bad geometry.
        grid_feature("32010", "短码", &[sq(x, y, x + D, y + D)]),
        grid_feature("3201020a1", "字母", &[sq(x, y, x + D, y + D)]),
        grid_feature("320102001", "重复", &[sq(x, y, x + D, y + D)]),
        grid_feature("320102004", "自交", &[bowtie]),
        grid_feature("320102005", "太少", &[vec![Coord { x, y }, Coord { x: x + D, y }, Coord { x, y }]]),
        grid_feature("320102006", "越界", &[sq(190.0, y, 191.0, y + D)]),
        grid_feature("320199001", "无父", &[sq(x + 20.0 * D, y, x + 21.0 * D, y + D)]),
        r#"{"type":"Feature","properties":{"name":"无编码"},"geometry":{"type":"Polygon","coordinates":[[[118.7,32.0],[118.71,32.0],[118.71,32.01],[118.7,32.0]]]}}"#.to_string(),
        r#"{"type":"Feature","properties":{"code":"320102007"},"geometry":{"type":"Point","coordinates":[118.7,32.0]}}"#.to_string(),
        r#"{"type":"Feature","properties":{"code":"320102008"},"geometry":{"type":"Polygon","coordinates":[[[118.7,32.0],[118.71,32.0],[118.71,32.01],[118.70,32.01]]]}}"#.to_string(),
    ];
    let path = dir.path().join("bad.geojson");
    std::fs::write(&path, collection(&features)).unwrap();
    let imported = run(&[path], &[], |_| {});
    let ks = kinds(&imported);
    for want in [
        ProblemKind::Overlap,
        ProblemKind::Gap,
        ProblemKind::ChildOutsideParent,
        ProblemKind::InvalidCode,
        ProblemKind::DuplicateCode,
        ProblemKind::SelfIntersection,
        ProblemKind::TooFewPoints,
        ProblemKind::BadCoordinate,
        ProblemKind::MissingParent,
        ProblemKind::MissingField,
        ProblemKind::BadGeometryType,
        ProblemKind::UnclosedRing,
    ] {
        assert!(
            ks.contains(&want),
            "{want:?} not reported: {}",
            imported.report.to_text(40)
        );
    }
    // Every problem names a code or a row, and located ones have a location.
    for p in &imported.report.problems {
        assert!(p.code.is_some() || p.row.is_some(), "{p:?}");
    }
    let overlap = imported
        .report
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::Overlap)
        .unwrap();
    assert_eq!(overlap.code.as_deref(), Some("320102001,320102002"));
    let [ox, oy] = overlap.location.unwrap();
    assert!(
        ox > x + 5.0 * D && ox < x + 6.0 * D && oy > y && oy < y + 8.0 * D,
        "overlap located inside the shared strip"
    );
    let gap = imported
        .report
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::Gap)
        .unwrap();
    assert_eq!(gap.code.as_deref(), Some("320102"));
    let si = imported
        .report
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::SelfIntersection)
        .unwrap();
    let [sx, sy] = si.location.unwrap();
    assert!(
        (sx - (x + D / 2.0)).abs() < 1e-9 && (sy - (y + D / 2.0)).abs() < 1e-9,
        "crossing located"
    );
    // Only valid grids are kept.
    let kept: Vec<&str> = imported
        .snapshot
        .data()
        .grids
        .iter()
        .map(|g| g.code.as_str())
        .collect();
    assert!(
        kept.contains(&"320102001") && !kept.contains(&"320102004") && !kept.contains(&"32010")
    );
}

#[test]
fn crafted_bad_components_report_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let grid = dir.path().join("g.geojson");
    std::fs::write(
        &grid,
        collection(&[grid_feature(
            "320102",
            "甲区",
            &[sq(118.7, 32.0, 118.71, 32.01)],
        )]),
    )
    .unwrap();
    let csv_path = dir.path().join("c.csv");
    std::fs::write(
        &csv_path,
        "code,name,lon,lat,state,initial_date,class\n\
         3201020101000001,上水井盖,118.705,32.005,完好,2020-01-02,0101\n\
         3201020101000001,重复,118.705,32.005,完好,,\n\
         320102010100002,短,118.705,32.005,完好,,\n\
         3201029999000001,未知类,118.705,32.005,完好,,\n\
         3201020102000001,错类,118.705,32.005,完好,,0103\n\
         3201020102000002,坏状态,118.705,32.005,坏了,,\n\
         3201020102000003,坏日期,118.705,32.005,破损,2020-13-45,\n\
         3201020102000004,越界,118.705,95,完好,,\n\
         3201020102000005,区外,118.9,32.5,完好,,\n",
    )
    .unwrap();
    let imported = run(&[grid], &[csv_path], |_| {});
    let ks = kinds(&imported);
    for want in [
        ProblemKind::DuplicateCode,
        ProblemKind::InvalidCode,
        ProblemKind::BadValue,
        ProblemKind::BadCoordinate,
        ProblemKind::OutsideGrids,
    ] {
        assert!(
            ks.contains(&want),
            "{want:?} not reported: {}",
            imported.report.to_text(40)
        );
    }
    let messages = imported.report.to_text(100);
    assert!(messages.contains("16"), "length rule named: {messages}");
    assert!(messages.contains("9999"), "unknown class named: {messages}");
    assert!(
        messages.contains("0103"),
        "class mismatch named: {messages}"
    );
    let comps = &imported.snapshot.data().components;
    assert_eq!(
        comps.len(),
        2,
        "the first good one and the one outside all grids"
    );
    assert!(comps.find("3201020101000001").is_some());
}

#[test]
fn gcj02_input_is_stored_as_wgs84() {
    let dir = tempfile::tempdir().unwrap();
    let wgs = Coord {
        x: 118.705,
        y: 32.005,
    };
    let gcj = wangge::crs::wgs84_to_gcj02(wgs);
    let p = dir.path().join("c.csv");
    std::fs::write(
        &p,
        format!("code,lon,lat\n3201020101000001,{},{}\n", gcj.x, gcj.y),
    )
    .unwrap();
    let imported = run(&[], &[p], |o| o.crs = Some(Crs::Gcj02));
    let c = imported
        .snapshot
        .data()
        .components
        .find("3201020101000001")
        .unwrap();
    assert!((c.location().x - wgs.x).abs() < 1e-9 && (c.location().y - wgs.y).abs() < 1e-9);
}

#[test]
fn a_three_level_scheme_of_2_4_6_digits() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = (100.0, 20.0);
    let features = vec![
        grid_feature("11", "A", &[sq(x, y, x + 2.0 * D, y + D)]),
        grid_feature("1101", "B", &[sq(x, y, x + D, y + D)]),
        grid_feature("1102", "C", &[sq(x + D, y, x + 2.0 * D, y + D)]),
        grid_feature("110101", "D", &[sq(x, y, x + D, y + D)]),
        grid_feature("110201", "E", &[sq(x + D, y, x + 2.0 * D, y + D)]),
    ];
    let path = dir.path().join("g.geojson");
    std::fs::write(&path, collection(&features)).unwrap();
    let level = |name: &str, len| LevelDef {
        name: name.into(),
        label: name.into(),
        code_len: len,
        legacy_lens: vec![],
        ..Default::default()
    };
    let imported = run(&[path], &[], |o| {
        o.scheme = GridScheme {
            levels: vec![level("city", 2), level("area", 4), level("cell", 6)],
        }
    });
    assert_eq!(
        imported.report.errors(),
        0,
        "{}",
        imported.report.to_text(10)
    );
    // A point on the shared border x + D goes to the smaller code, 110101.
    let a = wangge::query::lookup::lookup(
        &imported.snapshot,
        Coord {
            x: x + D,
            y: y + D / 2.0,
        },
    );
    assert!(a.on_border);
    let codes: Vec<&str> = a.chain.iter().map(|g| g.code).collect();
    assert_eq!(codes, vec!["11", "1101", "110101"]);
}

#[test]
fn publishing_is_atomic_and_versioned() {
    let dir = tempfile::tempdir().unwrap();
    let (_, data) = sample();
    let root = dir.path().join("city");
    let manifest = wangge::datadir::manifest_for(&data, "test");
    let classes = data.classes.clone();
    let v1 = wangge::datadir::publish(
        &root,
        manifest.clone(),
        &data,
        data.components.iter().map(|c| c.record(&classes)),
    )
    .unwrap();
    let (m1, d1) = wangge::datadir::load(&root, |_| {}).unwrap();
    assert_eq!(m1.version, v1);
    assert_eq!(d1.grids.len(), data.grids.len());
    assert_eq!(d1.components.len(), data.components.len());
    // A write that fails half-way (its component stream panics) leaves version 1 current.
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let comps = data.components.iter().enumerate().map(|(i, c)| {
            assert!(i < 100, "interrupted");
            c.record(&classes)
        });
        wangge::datadir::publish(&root, manifest.clone(), &data, comps)
    }));
    let panic = failed.expect_err("the interrupted write panicked");
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"interrupted"));
    let (m, _) = wangge::datadir::load(&root, |_| {}).unwrap();
    assert_eq!(m.version, v1);
    assert_eq!(
        leftovers(&root),
        Vec::<String>::new(),
        "the failed write cleaned up"
    );
    let v2 = wangge::datadir::publish(
        &root,
        manifest,
        &data,
        data.components.iter().map(|c| c.record(&classes)),
    )
    .unwrap();
    assert_eq!(wangge::datadir::load(&root, |_| {}).unwrap().0.version, v2);
    assert!(v2 > v1);
}

#[test]
fn unreadable_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let o = |p: PathBuf| ImportOptions {
        grid_files: vec![p],
        ..Default::default()
    };
    let e = import(&o(dir.path().join("missing.geojson")), |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.geojson"), "{e}");
    let bad = dir.path().join("bad.geojson");
    std::fs::write(
        &bad,
        "{\"type\":\"FeatureCollection\",\"features\":[{\"type\":\"Feature\",",
    )
    .unwrap();
    let e = import(&o(bad), |_, _| {}).unwrap_err().to_string();
    assert!(e.contains("bad.geojson"), "{e}");
    assert!(
        e.to_lowercase().contains("json") || e.contains("EOF"),
        "{e}"
    );
    let weird = dir.path().join("grids.xyz");
    std::fs::write(&weird, "").unwrap();
    let e = import(&o(weird), |_, _| {}).unwrap_err().to_string();
    assert!(e.contains("--format"), "{e}");
    let shp = dir.path().join("lonely.shp");
    std::fs::write(&shp, [0u8; 100]).unwrap();
    let e = import(&o(shp), |_, _| {}).unwrap_err().to_string();
    assert!(e.contains(".dbf"), "{e}");
}

// ---- the data directory under failure: leftovers, locking, retention, kills

/// Numbers of the version directories in `root/versions`, ascending.
fn version_dirs(root: &Path) -> Vec<u64> {
    let mut v: Vec<u64> = std::fs::read_dir(root.join("versions"))
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str()?.parse().ok())
        .collect();
    v.sort_unstable();
    v
}

/// What interrupted writes may leave: `versions/.*` entries and `.current.tmp`.
fn leftovers(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(root.join("versions"))
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with('.'))
                .map(|n| format!("versions/{n}"))
                .collect()
        })
        .unwrap_or_default();
    if std::fs::symlink_metadata(root.join(".current.tmp")).is_ok() {
        out.push(".current.tmp".into());
    }
    out.sort();
    out
}

/// The version `root/current` links to, from the link's text.
fn current_link(root: &Path) -> u64 {
    let target = std::fs::read_link(root.join("current")).unwrap();
    assert_eq!(target.parent(), Some(Path::new("versions")), "{target:?}");
    target
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Publishes the sample with its first `n` components.
fn publish_sample(root: &Path, data: &wangge::model::Dataset, n: usize) -> u64 {
    let manifest = wangge::datadir::manifest_for(data, "test");
    let classes = &data.classes;
    wangge::datadir::publish(
        root,
        manifest,
        data,
        data.components.iter().take(n).map(|c| c.record(classes)),
    )
    .unwrap()
}

/// Leaves in `root` what `kill -9` during publish leaves: two half-written
/// versions, an old version half removed, and a new `current` link not yet
/// renamed. Returns their paths, sorted.
fn plant_leftovers(root: &Path) -> Vec<PathBuf> {
    let versions = root.join("versions");
    let a = versions.join(".incoming-Ab12Cd");
    std::fs::create_dir_all(a.join("nested")).unwrap();
    std::fs::write(a.join("grids.fgb"), [0u8; 4096]).unwrap();
    std::fs::write(a.join("nested/x"), "x").unwrap();
    let b = versions.join(".incoming-zz9");
    std::fs::create_dir(&b).unwrap();
    let c = versions.join(".removing-000000");
    std::fs::create_dir(&c).unwrap();
    std::fs::write(c.join("components.fgb"), "half").unwrap();
    let link = root.join(".current.tmp");
    std::os::unix::fs::symlink("versions/999999", &link).unwrap();
    let mut all = vec![a, b, c, link];
    all.sort();
    all
}

#[test]
fn leftovers_of_killed_imports_are_removed_by_clean_stale_and_by_the_next_publish() {
    let dir = tempfile::tempdir().unwrap();
    let (_, data) = sample();
    let root = dir.path().join("city");
    let v1 = publish_sample(&root, &data, 100);

    let planted = plant_leftovers(&root);
    let removed = wangge::datadir::clean_stale(&root).unwrap();
    let mut removed_sorted = removed.clone();
    removed_sorted.sort();
    assert_eq!(removed_sorted, planted);
    assert_eq!(leftovers(&root), Vec::<String>::new());
    assert_eq!(version_dirs(&root), vec![v1], "complete versions are kept");
    let (m, d) = wangge::datadir::open_snapshot(&root, |_| {}).unwrap();
    assert_eq!((m.version, d.data().components.len()), (v1, 100));
    assert!(wangge::datadir::clean_stale(&root).unwrap().is_empty());

    plant_leftovers(&root);
    let v2 = publish_sample(&root, &data, 200);
    assert_eq!(leftovers(&root), Vec::<String>::new());
    assert_eq!(version_dirs(&root), vec![v1, v2]);
    assert_eq!(current_link(&root), v2);
    let (m, d) = wangge::datadir::open_snapshot(&root, |_| {}).unwrap();
    assert_eq!((m.version, d.data().components.len()), (v2, 200));

    // A directory that is not versioned (like the bundled sample) is not
    // touched: no lock file is created in it.
    let plain = dir.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    std::fs::write(plain.join(".current.tmp"), "not ours").unwrap();
    assert!(wangge::datadir::clean_stale(&plain).unwrap().is_empty());
    assert!(!plain.join(".lock").exists());
    assert!(plain.join(".current.tmp").exists());
    assert!(
        wangge::datadir::clean_stale(&dir.path().join("missing"))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn clean_stale_spares_a_running_import_and_concurrent_publishes_take_turns() {
    use std::sync::mpsc;
    let dir = tempfile::tempdir().unwrap();
    let (_, data) = sample();
    let root = dir.path().join("city");
    let v1 = publish_sample(&root, &data, 10);
    let (data, root) = (&data, &root);
    let classes = &data.classes;
    let (paused_tx, paused_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        // A: pauses half-way through writing its components.
        let a = s.spawn(move || {
            let comps = data.components.iter().take(300).enumerate().map(|(i, c)| {
                if i == 150 {
                    paused_tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                }
                c.record(classes)
            });
            wangge::datadir::publish(root, wangge::datadir::manifest_for(data, "A"), data, comps)
        });
        paused_rx.recv().unwrap();
        let live = leftovers(root);
        assert_eq!(live.len(), 1, "{live:?}");
        assert!(live[0].starts_with("versions/.incoming-"), "{live:?}");
        // Start-up clean-up of a server while A writes: nothing is removed.
        assert!(wangge::datadir::clean_stale(root).unwrap().is_empty());
        assert_eq!(
            leftovers(root),
            live,
            "the running import's directory is untouched"
        );
        // B: a second import into the same directory waits for A.
        let b = s.spawn(|| publish_sample(root, data, 20));
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert_eq!(
            current_link(root),
            v1,
            "nothing published while A holds the lock"
        );
        go_tx.send(()).unwrap();
        let va = a.join().unwrap().unwrap();
        let vb = b.join().unwrap();
        // B numbered its version after A's was in place.
        assert_eq!((va, vb), (v1 + 1, v1 + 2));
    });
    assert_eq!(leftovers(root), Vec::<String>::new());
    assert_eq!(current_link(root), v1 + 2);
    let (m, d) = wangge::datadir::open_snapshot(root, |_| {}).unwrap();
    assert_eq!((m.version, d.data().components.len()), (v1 + 2, 20));
    let (m, _) =
        wangge::datadir::load(&root.join(format!("versions/{:06}", v1 + 1)), |_| {}).unwrap();
    assert_eq!(m.components, 300);
}

#[test]
fn publish_keeps_exactly_the_three_most_recent_versions() {
    let dir = tempfile::tempdir().unwrap();
    let (_, data) = sample();
    let root = dir.path().join("a/b/city"); // ancestors created too
    for k in 1..=6u64 {
        let v = publish_sample(&root, &data, k as usize);
        assert_eq!(v, k);
        let want: Vec<u64> = (k.saturating_sub(2).max(1)..=k).collect();
        assert_eq!(version_dirs(&root), want, "after publishing version {k}");
        assert_eq!(leftovers(&root), Vec::<String>::new());
        assert_eq!(current_link(&root), k);
        // Every kept version is complete and loads on its own.
        for old in want {
            let (m, d) =
                wangge::datadir::load(&root.join(format!("versions/{old:06}")), |_| {}).unwrap();
            assert_eq!((m.version, d.components.len()), (old, old as usize));
        }
    }
    let names: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(names, [".lock", "current", "versions"]);
}

#[test]
fn a_version_whose_files_disagree_with_its_manifest_does_not_load() {
    let dir = tempfile::tempdir().unwrap();
    let (_, data) = sample();
    let root = dir.path().join("city");
    let v = publish_sample(&root, &data, 50);
    let vdir = root.join(format!("versions/{v:06}"));
    let mpath = vdir.join("wangge.json");
    let text = std::fs::read_to_string(&mpath).unwrap();
    let mut m: serde_json::Value = serde_json::from_str(&text).unwrap();
    m["components"] = 51.into();
    std::fs::write(&mpath, m.to_string()).unwrap();
    let e = wangge::datadir::load(&root, |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("incomplete"), "{e}");
    m["components"] = 50.into();
    m["component_scheme"]["sequence_len"] = 12.into();
    std::fs::write(&mpath, m.to_string()).unwrap();
    let e = wangge::datadir::load(&root, |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("19 digits"), "{e}");
    m["component_scheme"]["sequence_len"] = 6.into();
    m["scheme"]["levels"] = serde_json::json!([]);
    std::fs::write(&mpath, m.to_string()).unwrap();
    let e = wangge::datadir::load(&root, |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("grid scheme"), "{e}");
}

/// `wangge <command>` of the sample's grids and, optionally, its components.
fn wangge_on_sample(command: &str, with_components: bool) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_wangge"));
    cmd.arg(command).arg("--grids").arg("data/sample/grids.fgb");
    if with_components {
        cmd.arg("--components").arg("data/sample/components.fgb");
    }
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd
}

/// `wangge import` of the sample's files into `data`.
fn import_command(data: &Path, with_components: bool) -> std::process::Command {
    let mut cmd = wangge_on_sample("import", with_components);
    cmd.arg("--data").arg(data);
    cmd
}

fn timed(mut cmd: std::process::Command) -> std::time::Duration {
    let started = std::time::Instant::now();
    let status = cmd.status().unwrap();
    assert!(status.success(), "{cmd:?}: {status}");
    started.elapsed()
}

#[test]
fn kill_9_at_random_moments_never_leaves_a_half_version_or_a_leak() {
    use rand::{Rng, SeedableRng};
    use std::time::Duration;
    const KILLS: usize = 16;
    let (_, data) = sample();
    let grids = data.grids.len();
    // Runs alternate between two inputs, told apart by their component count.
    let components_of = |with: bool| if with { data.components.len() } else { 0 };
    let dir = tempfile::tempdir().unwrap();

    // How long a full import of each input takes here, and how long until it
    // starts writing (`wangge validate` does all an import does but publish):
    // medians of three runs.
    let scratch = dir.path().join("scratch");
    let median = |cmd: &dyn Fn() -> std::process::Command| {
        let mut t: Vec<Duration> = (0..3).map(|_| timed(cmd())).collect();
        t.sort();
        t[1]
    };
    let timings = [false, true].map(|with| {
        let full = median(&|| import_command(&scratch, with));
        let before_writing = median(&|| wangge_on_sample("validate", with)).min(full);
        (full, before_writing)
    });

    let root = dir.path().join("city");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20261201);
    // version -> component count of the input imported as it
    let mut expected: std::collections::HashMap<u64, usize> = Default::default();
    let mut outcomes: std::collections::BTreeMap<&str, usize> = Default::default();
    for run in 0..KILLS {
        let with = run % 2 == 0;
        let versions_before = if root.join("versions").is_dir() {
            version_dirs(&root)
        } else {
            vec![]
        };
        let next = versions_before.last().map_or(1, |v| v + 1);
        // The first run starts from an empty directory.
        let previous = (run > 0).then(|| current_link(&root));
        // Half the kills anywhere in the run, half in its writing phase.
        let (full, before_writing) = timings[with as usize];
        let delay = if run % 4 < 2 {
            rng.random_range(Duration::ZERO..full)
        } else {
            rng.random_range(before_writing.mul_f64(0.9)..full)
        };
        let mut child = import_command(&root, with).spawn().unwrap();
        std::thread::sleep(delay);
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();

        // The directory serves the previous version or the new one, whole.
        let outcome = match wangge::datadir::open_snapshot(&root, |_| {}) {
            Err(wangge::datadir::DataDirError::NotData(_)) if previous.is_none() => {
                "killed before the first version"
            }
            Err(e) => panic!("run {run} (killed after {delay:?}): {e}"),
            Ok((m, snap)) => {
                let d = snap.data();
                let got = (m.version, d.grids.len(), d.components.len());
                assert_eq!(current_link(&root), m.version, "run {run}");
                if Some(m.version) == previous {
                    assert_eq!(got, (m.version, grids, expected[&m.version]), "run {run}");
                    if version_dirs(&root).contains(&next) {
                        "killed after the rename, before the switch"
                    } else if leftovers(&root).is_empty() {
                        "killed before writing"
                    } else {
                        "killed while writing"
                    }
                } else {
                    assert_eq!(got, (next, grids, components_of(with)), "run {run}");
                    expected.insert(next, components_of(with));
                    if finished || status.success() {
                        "finished before the kill"
                    } else {
                        "killed after the switch"
                    }
                }
            }
        };
        *outcomes.entry(outcome).or_default() += 1;

        // The next import succeeds and leaves nothing behind.
        timed(import_command(&root, !with));
        let v = current_link(&root);
        expected.insert(v, components_of(!with));
        assert_eq!(leftovers(&root), Vec::<String>::new(), "run {run}");
        let kept = version_dirs(&root);
        assert!(
            kept.len() <= 3 && kept.last() == Some(&v),
            "run {run}: {kept:?}"
        );
        let (m, snap) = wangge::datadir::open_snapshot(&root, |_| {}).unwrap();
        assert_eq!(
            (m.version, snap.data().components.len()),
            (v, components_of(!with)),
            "run {run}"
        );
    }
    eprintln!(
        "(full import, before writing) without and with components: {timings:?}; {KILLS} kills: {outcomes:?}"
    );
}
