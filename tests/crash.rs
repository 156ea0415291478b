//! An acknowledged publish survives `kill -9`: the server is killed at
//! seeded random moments while planners edit and publish, dozens of times;
//! after each kill the store must open, pass SQLite's integrity check, hold
//! every revision that was acknowledged (with its message) and nothing half
//! written, and a restarted server must serve the newest revision.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use serde_json::Value;
use wangge::store::{GeoPackage, Store, Timestamp, View};

const TOKEN: &str = "0123456789abcdef0123";

/// Starts `wangge serve STORE` on a free loopback port; returns it and its address.
fn start(store: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wangge"))
        .args(["serve", "--bind", "127.0.0.1", "--port", "0", "--seed"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample"))
        .arg(store)
        .env("WANGGE_PLANNERS", format!("li.ming:{TOKEN}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start wangge serve");
    let out = child.stdout.take().unwrap();
    let mut line = String::new();
    let mut reader = BufReader::new(out);
    while !line.contains(" at http://") {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "the server stopped before it listened"
        );
    }
    let addr = line
        .split(" at http://")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    // Keep draining stdout so that the server never blocks on it.
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = reader.read_to_end(&mut sink);
    });
    (child, addr)
}

/// One HTTP/1.1 request; the status and the JSON body (None: the
/// connection failed or the body is not JSON).
fn request(addr: &str, method: &str, path: &str, body: &str) -> Option<(u16, Value)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw);
    let status: u16 = text.split_whitespace().nth(1)?.parse().ok()?;
    let (_, body) = text.split_once("\r\n\r\n")?;
    Some((status, serde_json::from_str(body).ok()?))
}

/// Planner work until the server dies: draft, edit one grid, publish.
/// Every acknowledged publish is recorded as (revision, message).
fn edit_until_killed(
    addr: String,
    units: Vec<String>,
    tag: String,
    acked: Arc<Mutex<Vec<(u64, String)>>>,
) {
    for k in 0.. {
        let Some((201, d)) = request(&addr, "POST", "/drafts", r#"{"title":"crash"}"#) else {
            return;
        };
        let id = d["id"].as_u64().unwrap();
        let code = &units[k % units.len()];
        let body = format!(
            r#"{{"type":"Feature","geometry":null,"properties":{{"worker":"{tag}-{k}"}}}}"#
        );
        match request(
            &addr,
            "PATCH",
            &format!("/drafts/{id}/ogc/collections/unit/items/{code}"),
            &body,
        ) {
            Some((200, _)) => {}
            _ => return,
        }
        let message = format!("{tag}-{k}");
        match request(
            &addr,
            "POST",
            &format!("/drafts/{id}/publish"),
            &format!(r#"{{"message":"{message}"}}"#),
        ) {
            Some((201, r)) => acked
                .lock()
                .unwrap()
                .push((r["revision"].as_u64().unwrap(), message)),
            _ => return,
        }
    }
}

#[test]
fn acknowledged_publishes_survive_kill_9_at_random_moments() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("city.gpkg");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let acked: Arc<Mutex<Vec<(u64, String)>>> = Arc::default();
    let mut kills_mid_publish = 0;
    for round in 0..24 {
        let (mut child, addr) = start(&path);
        let store = GeoPackage::open(&path).unwrap();
        let head = store.head().unwrap().unwrap().revision;
        let units: Vec<String> = store
            .grids(View {
                revision: head,
                valid_at: Timestamp::now(),
            })
            .unwrap()
            .into_iter()
            .filter(|g| g.level == 3)
            .map(|g| g.code)
            .take(20)
            .collect();
        drop(store);
        let worker = {
            let (addr, acked) = (addr.clone(), acked.clone());
            let tag = format!("r{round}");
            std::thread::spawn(move || edit_until_killed(addr, units, tag, acked))
        };
        std::thread::sleep(Duration::from_millis(rng.random_range(30..400)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        worker.join().unwrap();

        // The store opens, is intact, and holds every acknowledged revision.
        let conn = rusqlite::Connection::open(&path).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "round {round}");
        let open_drafts_published: i64 = conn
            .query_row(
                "SELECT count(*) FROM wangge_drafts d WHERE d.state = 'published' AND NOT EXISTS (SELECT 1 FROM wangge_revisions r WHERE r.revision = d.published)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            open_drafts_published, 0,
            "a draft marked published without its revision"
        );
        drop(conn);
        let store = GeoPackage::open(&path).unwrap();
        let revisions = store.revisions(100_000).unwrap();
        let head = revisions[0].revision;
        assert_eq!(
            revisions.len() as u64,
            head,
            "revisions 1..={head} without holes"
        );
        for (rev, message) in acked.lock().unwrap().iter() {
            let info = store.revision(*rev).unwrap();
            assert_eq!(&info.message, message, "revision {rev}");
            assert_eq!(
                store.changes(rev - 1, *rev).unwrap().len(),
                1,
                "revision {rev} has its grid"
            );
        }
        // Every recorded revision is whole: its grid version is there.
        for r in &revisions[..revisions.len() - 1] {
            assert_eq!(
                r.grids_changed as usize,
                store
                    .changes(r.parent.unwrap_or(0), r.revision)
                    .unwrap()
                    .len()
            );
        }
        let last_acked = acked.lock().unwrap().last().map(|a| a.0).unwrap_or(1);
        if head > last_acked {
            // Recorded but not acknowledged: the kill came between the commit and the answer.
            kills_mid_publish += 1;
        }
    }
    let acked = acked.lock().unwrap().len();
    assert!(
        acked >= 24,
        "only {acked} publishes were acknowledged in 24 rounds"
    );
    eprintln!(
        "{acked} acknowledged publishes kept; {kills_mid_publish} kills between a commit and its answer"
    );
    // A restarted server serves the newest revision.
    let (mut child, addr) = start(&path);
    let head = GeoPackage::open(&path)
        .unwrap()
        .head()
        .unwrap()
        .unwrap()
        .revision;
    let (status, revs) = request(&addr, "GET", "/revisions?limit=1", "").unwrap();
    assert_eq!(status, 200);
    assert_eq!(revs["served"].as_u64().unwrap(), head);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// `wangge import --store` by another process while the server runs: the
/// server serves the new revision within seconds, without a restart.
#[test]
fn an_import_by_another_process_is_served_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("city.gpkg");
    let (mut child, addr) = start(&path);
    let (_, revs) = request(&addr, "GET", "/revisions?limit=1", "").unwrap();
    assert_eq!(revs["served"], 1);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_wangge"))
        .current_dir(root)
        .args(["import", "--grids", "data/sample/grids.fgb", "--store"])
        .arg(&path)
        .args(["--message", "spring survey"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut served = 0;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(100));
        served = request(&addr, "GET", "/revisions?limit=1", "").unwrap().1["served"]
            .as_u64()
            .unwrap();
        if served == 2 {
            break;
        }
    }
    let (_, health) = request(&addr, "GET", "/health", "").unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        served, 2,
        "the server did not serve the imported revision within 10 s"
    );
    assert_eq!(
        health["components"], 8000,
        "an import of grids alone keeps the components: {health}"
    );
}
