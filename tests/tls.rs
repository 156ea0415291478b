//! `wangge serve --tls-cert --tls-key`: the real server process speaks
//! https to curl (HTTP/1.1 and HTTP/2, a client we did not write) with a
//! certificate made by openssl; plain http to it gets nothing; after the
//! files are replaced, SIGHUP makes new connections see the new
//! certificate without a restart; a broken key is refused at start with
//! what to fix.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::keys::openssl;

/// A self-signed certificate for localhost and 127.0.0.1 (P-256), as
/// `name.crt` and `name.key` in `dir`.
fn certificate(dir: &Path, name: &str) {
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
        ],
        dir,
    );
}

/// `wangge serve` on a loopback port of a store in `dir` made from the
/// sample, with TLS from `cert` and `key` in `dir`.
fn serve(dir: &Path, cert: &str, key: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wangge"));
    c.args(["serve", "--bind", "127.0.0.1", "--port", "0", "--seed"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample"))
        .arg("--store")
        .arg(dir.join("city.gpkg"))
        .arg("--tls-cert")
        .arg(dir.join(cert))
        .arg("--tls-key")
        .arg(dir.join(key));
    c
}

/// Starts the server with TLS from `served.crt`/`served.key`; returns it
/// and its address.
fn start(dir: &Path) -> (Child, String) {
    let mut child = serve(dir, "served.crt", "served.key")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start wangge serve");
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains(" at https://") {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "the server stopped before it listened"
        );
    }
    let addr = line.split(" at https://").nth(1).unwrap();
    let addr = addr.split('/').next().unwrap().to_string();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = reader.read_to_end(&mut sink);
    });
    (child, addr)
}

/// curl's answer to `url` trusting only `ca`: (status code, body), or
/// `None` when the connection or the handshake failed.
fn curl(url: &str, ca: &Path, extra: &[&str]) -> Option<(u16, String)> {
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "10",
            "-w",
            "\n%{http_code} %{http_version}",
            "--cacert",
        ])
        .arg(ca)
        .args(extra)
        .arg(url)
        .output()
        .expect("curl is needed");
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, tail) = text.rsplit_once('\n')?;
    Some((
        tail.split(' ').next()?.parse().ok()?,
        format!("{body} [{tail}]"),
    ))
}

#[test]
fn the_server_speaks_https_and_takes_a_new_certificate_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    certificate(d, "first");
    certificate(d, "second");
    std::fs::copy(d.join("first.crt"), d.join("served.crt")).unwrap();
    std::fs::copy(d.join("first.key"), d.join("served.key")).unwrap();
    let (mut child, addr) = start(d);
    let url = |path: &str| {
        format!(
            "https://localhost:{}{path}",
            addr.split(':').nth(1).unwrap()
        )
    };

    let (status, body) = curl(&url("/health"), &d.join("first.crt"), &["--http1.1"]).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("\"status\":\"ok\"") && body.contains("[200 1.1]"),
        "{body}"
    );
    let (status, body) = curl(
        &url("/lookup?lon=118.78&lat=32.06"),
        &d.join("first.crt"),
        &["--http2"],
    )
    .unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("[200 2]"), "HTTP/2 by ALPN: {body}");
    // The other certificate is not trusted for this server yet.
    assert!(curl(&url("/health"), &d.join("second.crt"), &[]).is_none());
    // Plain http gets no answer.
    let plain = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "5",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .arg(format!("http://{addr}/health"))
        .output()
        .unwrap();
    assert_ne!(String::from_utf8_lossy(&plain.stdout), "200");

    // A renewed certificate: replace the files, SIGHUP.
    std::fs::copy(d.join("second.crt"), d.join("served.crt")).unwrap();
    std::fs::copy(d.join("second.key"), d.join("served.key")).unwrap();
    let hup = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some((200, _)) = curl(&url("/health"), &d.join("second.crt"), &[]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate is not presented after SIGHUP"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        curl(&url("/health"), &d.join("first.crt"), &[]).is_none(),
        "the old one is gone"
    );

    // A broken file on the next SIGHUP keeps the certificate in use.
    std::fs::write(d.join("served.key"), "not a key").unwrap();
    Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        curl(&url("/health"), &d.join("second.crt"), &[]).map(|r| r.0),
        Some(200)
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_key_that_is_not_the_certificates_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    certificate(d, "first");
    certificate(d, "second");
    let out = serve(d, "first.crt", "second.key").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not belong to the certificate"), "{err}");
    let out = serve(d, "missing.crt", "first.key").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--tls-cert") && err.contains("missing.crt"),
        "{err}"
    );
}
