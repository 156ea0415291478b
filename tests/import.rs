//! Import of every supported format (GeoJSON, NDJSON, FlatGeobuf, a GBK
//! Shapefile in a Gauss-Krüger zone, CSV), every validation problem on
//! crafted bad files, a custom scheme, and atomic publishing.

use std::path::{Path, PathBuf};

use geo::Coord;
use wangge::codes::{GridScheme, LevelDef};
use wangge::crs::Crs;
use wangge::import::{ImportOptions, Imported, import};
use wangge::model::Grid;
use wangge::validate::{ProblemKind, Severity};

fn sample() -> (wangge::store::Manifest, wangge::model::Dataset) {
    wangge::store::load(Path::new("data/sample"), |_| {}).unwrap()
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

fn ring_json(ring: &[Coord<f64>]) -> String {
    let pts: Vec<String> = ring.iter().map(|c| format!("[{},{}]", c.x, c.y)).collect();
    format!("[{}]", pts.join(","))
}

fn grid_feature(code: &str, name: &str, rings: &[Vec<Coord<f64>>]) -> String {
    let rings: Vec<String> = rings.iter().map(|r| ring_json(r)).collect();
    format!(
        r#"{{"type":"Feature","properties":{{"code":"{code}","name":"{name}"}},"geometry":{{"type":"Polygon","coordinates":[{}]}}}}"#,
        rings.join(",")
    )
}

fn collection(features: &[String]) -> String {
    format!(
        r#"{{"type":"FeatureCollection","features":[{}]}}"#,
        features.join(",")
    )
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
    let a = wangge::lookup::lookup(
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
    let manifest = wangge::store::manifest_for(&data, "test");
    let classes = data.classes.clone();
    let v1 = wangge::store::publish(
        &root,
        manifest.clone(),
        &data,
        data.components.iter().map(|c| c.record(&classes)),
    )
    .unwrap();
    let (m1, d1) = wangge::store::load(&root, |_| {}).unwrap();
    assert_eq!(m1.version, v1);
    assert_eq!(d1.grids.len(), data.grids.len());
    assert_eq!(d1.components.len(), data.components.len());
    // A write that fails half-way (its component stream panics) leaves version 1 current.
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let comps = data.components.iter().enumerate().map(|(i, c)| {
            assert!(i < 100, "interrupted");
            c.record(&classes)
        });
        wangge::store::publish(&root, manifest.clone(), &data, comps)
    }));
    assert!(failed.is_err());
    let (m, _) = wangge::store::load(&root, |_| {}).unwrap();
    assert_eq!(m.version, v1);
    let v2 = wangge::store::publish(
        &root,
        manifest,
        &data,
        data.components.iter().map(|c| c.record(&classes)),
    )
    .unwrap();
    assert_eq!(wangge::store::load(&root, |_| {}).unwrap().0.version, v2);
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
    assert!(import(&o(bad), |_, _| {}).is_err());
    let weird = dir.path().join("grids.xyz");
    std::fs::write(&weird, "").unwrap();
    let e = import(&o(weird), |_, _| {}).unwrap_err().to_string();
    assert!(e.contains("--format"), "{e}");
    let shp = dir.path().join("lonely.shp");
    std::fs::write(&shp, [0u8; 100]).unwrap();
    let e = import(&o(shp), |_, _| {}).unwrap_err().to_string();
    assert!(e.contains(".dbf"), "{e}");
}
