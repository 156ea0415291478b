//! `wangge import --store`: the first import creates the store; an import of
//! the same city records a revision that changes nothing; an import with one
//! grid renamed records exactly that grid.

use std::path::Path;
use std::process::Command;

use wangge::store::{GeoPackage, Store};

fn import(store: &Path, grids: &Path, message: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_wangge"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["import", "--grids"])
        .arg(grids)
        .args(["--components", "data/sample/components.fgb", "--store"])
        .arg(store)
        .args(["--author", "li.ming", "--message", message])
        .output()
        .expect("run wangge import");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("recorded revision"));
}

#[test]
fn imports_into_a_store_record_only_what_differs() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("city.gpkg");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample/grids.fgb");
    import(&store, &sample, "first survey");
    import(&store, &sample, "the same again");
    // One grid renamed, through GeoJSON written by the test from the sample.
    let (_, data) = wangge::datadir::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample"),
        |_| {},
    )
    .unwrap();
    let renamed = data
        .grids
        .iter()
        .find(|g| g.level == 3)
        .unwrap()
        .code
        .clone();
    let features: Vec<serde_json::Value> = data
        .grids
        .iter()
        .map(|g| {
            let name = if g.code == renamed {
                "改名网格".to_string()
            } else {
                g.name.clone()
            };
            serde_json::json!({
                "type": "Feature",
                "geometry": geojson::Geometry::new(geojson::Value::from(&g.geometry)),
                "properties": { "code": g.code, "name": name, "worker": g.worker }
            })
        })
        .collect();
    let file = dir.path().join("grids.geojson");
    std::fs::write(
        &file,
        serde_json::json!({ "type": "FeatureCollection", "features": features }).to_string(),
    )
    .unwrap();
    import(&store, &file, "one grid renamed");

    let s = GeoPackage::open(&store).unwrap();
    let revs = s.revisions(10).unwrap();
    assert_eq!(revs.len(), 3);
    let (third, second, first) = (&revs[0], &revs[1], &revs[2]);
    assert_eq!(first.grids_changed as usize, data.grids.len());
    assert_eq!(first.components_changed as usize, data.components.len());
    assert_eq!(
        (second.grids_changed, second.components_changed),
        (0, 0),
        "{second:?}"
    );
    assert_eq!(second.author, "li.ming");
    assert_eq!(second.message, "the same again");
    assert_eq!(
        (third.grids_changed, third.components_changed),
        (1, 0),
        "{third:?}"
    );
    let changed = s.changes(2, 3).unwrap();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].code, renamed);
    assert_eq!(changed[0].name, "改名网格");
}
