//! `wangge import --store`: the first import creates the store; an import of
//! the same city records a revision that changes nothing; an import with one
//! grid renamed records exactly that grid. `wangge export data` writes any
//! revision back out as a data directory; `wangge token` and `wangge audit`
//! manage API keys and read the audit log.

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

    // Exported: the newest revision and the first, each a data directory
    // the server's loader reads, with the grid's name of that revision.
    for (args, name) in [
        (vec![], "改名网格"),
        (
            vec!["--revision", "1"],
            data.grids
                .iter()
                .find(|g| g.code == renamed)
                .unwrap()
                .name
                .as_str(),
        ),
    ] {
        let out_dir = dir.path().join(format!("export-{}", args.len()));
        let out = wangge(
            &[
                &["export", "data"][..],
                &[
                    out_dir.to_str().unwrap(),
                    "--store",
                    store.to_str().unwrap(),
                ],
                &args,
            ]
            .concat(),
        );
        assert!(out.contains("written as version 1"), "{out}");
        let (_, snap) = wangge::datadir::open_snapshot(&out_dir, |_| {}).unwrap();
        assert_eq!(snap.data().grids.len(), data.grids.len());
        assert_eq!(snap.data().components.len(), data.components.len());
        assert_eq!(snap.grid_by_code(&renamed).unwrap().name, name, "{args:?}");
    }
}

/// Runs `wangge` with `args`; its standard error and output, which must succeed.
fn wangge(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_wangge"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .expect("run wangge");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.status.success(), "wangge {args:?}: {text}");
    text
}

/// `wangge token create` prints a key once, `list` shows it without the
/// secret, `revoke` ends it (the store says so); `wangge audit` prints the
/// log. A key with a role that needs more (a worker without --worker) is
/// refused.
#[test]
fn api_keys_are_made_listed_and_revoked_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("city.gpkg");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample/grids.fgb");
    import(&store, &sample, "first survey");
    let s = store.to_str().unwrap();
    let created = wangge(&[
        "token",
        "create",
        "--store",
        s,
        "--name",
        "district-gis",
        "--role",
        "planner",
    ]);
    let key = created.lines().last().unwrap().trim().to_string();
    assert!(
        key.starts_with("wg_1_") && key.len() == "wg_1_".len() + 64,
        "{created}"
    );
    let listed = wangge(&["token", "list", "--store", s]);
    assert!(
        listed.contains("district-gis") && listed.contains("planner") && listed.contains("active")
    );
    assert!(!listed.contains(&key[5..]), "the secret is never listed");
    let out = Command::new(env!("CARGO_BIN_EXE_wangge"))
        .args([
            "token", "create", "--store", s, "--name", "w", "--role", "worker",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--worker"));
    wangge(&["token", "revoke", "--store", s, "1"]);
    assert!(wangge(&["token", "list", "--store", s]).contains("revoked"));
    let g = GeoPackage::open(&store).unwrap();
    let err = wangge::auth::keys::check(&g, &key).unwrap_err();
    assert!(err.to_string().contains("revoked"), "{err}");
    g.audit(&wangge::store::AuditEntry {
        at: wangge::store::Timestamp::now(),
        actor: "ops".into(),
        action: "POST /drafts".into(),
        target: String::new(),
        outcome: "refused".into(),
        origin: "10.0.0.7".into(),
        detail: "a test entry".into(),
    })
    .unwrap();
    let log = wangge(&["audit", "--store", s, "--json"]);
    assert!(
        log.contains("a test entry") && log.contains("10.0.0.7"),
        "{log}"
    );
}
