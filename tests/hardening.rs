//! What a hostile client found, kept as tests: in process through the router
//! (trust boundaries, error bodies, limits), and over real sockets through
//! `wangge::server::serve` (timeouts, connection cap, hyper's own errors,
//! graceful shutdown).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceExt;

use wangge::http::{AppState, Cors, Limits, PublicUrl, router};
use wangge::server::ServerConfig;

use common::{get, get_with, load, send};

fn state_with(limits: Limits) -> AppState {
    let (_, snap) = load();
    AppState::new(snap, limits)
}

fn app() -> Router {
    router(state_with(Limits::default()))
}

fn from(addr: &str, request: Request<Body>) -> Request<Body> {
    let mut request = request;
    let peer: SocketAddr = addr.parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    request
}

// ---- trust boundaries --------------------------------------------------------

#[tokio::test]
async fn crs_from_the_network_cannot_name_files_or_arbitrary_codes() {
    let app = app();
    for crs in [
        "%2Bproj%3Dlonglat%20%2Bellps%3Dclrk66%20%2Bnadgrids%3D%2Fetc%2Fhosts",
        "EPSG:2000",
        "EPSG:9999",
        "GEOGCS%5B%22x%22%5D",
    ] {
        let r = get(&app, &format!("/lookup?lon=500000&lat=3500000&crs={crs}")).await;
        let m = r.assert_error(StatusCode::BAD_REQUEST, "unknown_crs");
        assert!(m.contains("over HTTP"), "{m}");
        assert!(
            !m.contains("/etc/hosts"),
            "the message repeats the file name: {m}"
        );
    }
    // The documented systems still work.
    let r = get(&app, "/lookup?lon=39500000&lat=3550000&crs=EPSG:4527").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // A deployment may allow more.
    let limits = Limits {
        crs_allow: vec![32650],
        ..Limits::default()
    };
    let r = get(
        &router(state_with(limits)),
        "/lookup?lon=500000&lat=3500000&crs=EPSG:32650",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

#[tokio::test]
async fn a_clients_host_header_cannot_poison_the_urls_others_get() {
    let app = app();
    let r = get_with(
        &app,
        "/styles/wangge.json",
        &[(header::HOST, "evil.example/#")],
    )
    .await;
    r.assert_error(StatusCode::BAD_REQUEST, "bad_host");
    // An untrusted client's X-Forwarded-Proto is ignored.
    let r = get_with(
        &app,
        "/tiles/grids",
        &[
            (header::HOST, "127.0.0.1:8080"),
            (
                header::HeaderName::from_static("x-forwarded-proto"),
                "https://evil.example/#",
            ),
        ],
    )
    .await;
    let tiles = r.json()["tiles"][0].as_str().unwrap().to_string();
    assert!(
        tiles.starts_with("http://127.0.0.1:8080/tiles/grids/"),
        "{tiles}"
    );
    let vary: Vec<_> = r.headers.get_all(header::VARY).iter().collect();
    assert!(
        vary.iter().any(|v| v.to_str().unwrap().contains("host")),
        "{vary:?}"
    );
    assert!(r.headers.contains_key(header::CACHE_CONTROL));
    // With --public-url every document names that URL, whatever the headers.
    let state = state_with(Limits::default()).with_public_url(PublicUrl {
        base: Some("https://grid.example.cn".into()),
        trusted_proxies: vec![],
    });
    let r = get_with(
        &router(state),
        "/styles/wangge.json",
        &[(header::HOST, "evil.example")],
    )
    .await;
    let text = r.text();
    assert!(text.contains("https://grid.example.cn/tiles/"), "{text}");
    assert!(!text.contains("evil.example"));
}

#[tokio::test]
async fn forwarded_headers_are_believed_from_a_trusted_proxy() {
    let state = state_with(Limits::default()).with_public_url(PublicUrl {
        base: None,
        trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
    });
    let app = router(state);
    let request = |peer: &str| {
        from(
            peer,
            Request::get("/ogc")
                .header(header::HOST, "127.0.0.1:8080")
                .header("x-forwarded-proto", "https")
                .header("x-forwarded-host", "grid.example.cn")
                .body(Body::empty())
                .unwrap(),
        )
    };
    let r = send(&app, request("10.0.0.2:5000")).await;
    assert!(
        r.text().contains("https://grid.example.cn/ogc"),
        "{}",
        r.text()
    );
    let r = send(&app, request("192.0.2.9:5000")).await;
    assert!(
        r.text().contains("http://127.0.0.1:8080/ogc"),
        "{}",
        r.text()
    );
}

// ---- every error is JSON, with the request id --------------------------------

#[tokio::test]
async fn errors_below_the_handlers_have_json_bodies_with_the_request_id() {
    let app = app();
    for uri in ["/grids/%ff%fe", "/components/%ff", "/tiles/grids/%ff/1/1"] {
        let r = get(&app, uri).await;
        assert!(r.status.is_client_error(), "{uri}: {}", r.status);
        let v = r.json();
        assert!(
            v["error"].is_string() && v["message"].is_string(),
            "{uri}: {v}"
        );
        let id = r.headers.get("x-request-id").unwrap().to_str().unwrap();
        assert_eq!(v["request_id"], id, "{uri}");
        assert_eq!(
            r.headers.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(),
            "nosniff"
        );
        assert_eq!(r.headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
        let text = r.text();
        assert!(
            !text.contains("Invalid URL") && !text.contains("`"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn batch_errors_say_what_to_send_without_naming_rust_types() {
    let app = app();
    let body = r#"[{"lon":"x","lat":1}, "str", true, {"lon":1,"lat":2,"z":3}, [1,2,3]]"#;
    let r = send(
        &app,
        Request::post("/lookup")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap(),
    )
    .await;
    let text = r.text();
    let v: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(v.len(), 5);
    for entry in &v {
        let m = entry["message"].as_str().unwrap();
        assert!(
            !m.contains("enum") && !m.contains("variant") && !m.contains("JsonPoint"),
            "{m}"
        );
    }
    assert!(
        v[1]["message"]
            .as_str()
            .unwrap()
            .contains(r#"{"lon": 116.4"#)
    );
    assert!(v[3]["message"].as_str().unwrap().contains("'z'"));
}

// ---- batch limits -----------------------------------------------------------

/// A body stream fed by the test, and the sender.
fn fed_body() -> (
    Body,
    tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let body = Body::from_stream(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)));
    (body, tx)
}

#[tokio::test]
async fn batches_beyond_the_concurrent_cap_get_503_with_retry_after() {
    let limits = Limits {
        max_concurrent_batches: 2,
        ..Limits::default()
    };
    let app = router(state_with(limits));
    let mut open = Vec::new();
    for _ in 0..2 {
        let (body, tx) = fed_body();
        tx.send(Ok(Bytes::from("[[118.78,32.06],"))).await.unwrap();
        let request = Request::post("/lookup")
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        open.push((response, tx));
    }
    let third = send(
        &app,
        Request::post("/lookup")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("[[118.78,32.06]]"))
            .unwrap(),
    )
    .await;
    third.assert_error(StatusCode::SERVICE_UNAVAILABLE, "too_many_batches");
    assert_eq!(third.headers.get(header::RETRY_AFTER).unwrap(), "5");
    // When one finishes, a new batch is taken again.
    let (response, tx) = open.pop().unwrap();
    tx.send(Ok(Bytes::from("[118.79,32.05]]"))).await.unwrap();
    drop(tx);
    let done = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        serde_json::from_slice::<Vec<serde_json::Value>>(&done)
            .unwrap()
            .len(),
        2
    );
    let again = send(
        &app,
        Request::post("/lookup")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("[[118.78,32.06]]"))
            .unwrap(),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text());
}

#[tokio::test]
async fn a_client_that_does_not_read_gets_an_error_entry_not_unbounded_buffering() {
    let limits = Limits {
        batch_buffer_points: 4096,
        batch_stall: Duration::from_millis(300),
        ..Limits::default()
    };
    let app = router(state_with(limits));
    let (body, tx) = fed_body();
    let request = Request::post("/lookup")
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(body)
        .unwrap();
    // 20,000 points sent before a byte of the answer is read: the reader
    // holds at most the buffer, then gives up on the rest of the body.
    let line = "{\"lon\":118.78,\"lat\":32.06}\n".repeat(100);
    tx.send(Ok(Bytes::from(line.clone()))).await.unwrap();
    let mut sent = 100;
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    for _ in 0..200 {
        // The server stops reading (the send waits) or drops the body (it fails).
        let sent_one = tokio::time::timeout(
            Duration::from_secs(2),
            tx.send(Ok(Bytes::from(line.clone()))),
        )
        .await;
        if !matches!(sent_one, Ok(Ok(()))) {
            break;
        }
        sent += 100;
    }
    assert!(sent < 20_000, "the server kept reading all {sent} points");
    drop(tx);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let lines: Vec<serde_json::Value> = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let last = lines.last().unwrap();
    assert_eq!(last["error"], "payload_too_large", "{last}");
    assert!(
        last["message"]
            .as_str()
            .unwrap()
            .contains("read the answers while sending")
    );
    let answered = lines.iter().filter(|l| l["inside"] == true).count();
    assert!(
        (4000..=4096).contains(&answered),
        "{answered} answered of {sent}"
    );
}

#[tokio::test]
async fn a_record_without_end_is_refused_at_64_kib() {
    let app = app();
    let body = format!(
        "[{{\"lon\":118.78,\"lat\":32.06,\"id\":\"{}\"}}]",
        "x".repeat(100_000)
    );
    let r = send(
        &app,
        Request::post("/lookup")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap(),
    )
    .await;
    let m = r.assert_error(StatusCode::BAD_REQUEST, "malformed_json");
    assert!(m.contains("64 KiB"), "{m}");
}

// ---- metrics, CORS ------------------------------------------------------------

#[tokio::test]
async fn metrics_are_served_only_to_allowed_addresses_and_count_requests() {
    let app = app();
    get(&app, "/lookup?lon=118.78&lat=32.06").await;
    get(&app, "/tiles/grids/14/13583/6671").await;
    get(&app, "/tiles/grids/14/13583/6671").await;
    let r = send(
        &app,
        from(
            "192.0.2.1:1000",
            Request::get("/metrics").body(Body::empty()).unwrap(),
        ),
    )
    .await;
    r.assert_error(StatusCode::FORBIDDEN, "forbidden");
    let r = send(&app, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    r.assert_error(StatusCode::FORBIDDEN, "forbidden");
    let r = send(
        &app,
        from(
            "127.0.0.1:1000",
            Request::get("/metrics").body(Body::empty()).unwrap(),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let text = r.text();
    assert!(
        text.contains(r#"wangge_http_requests_total{method="GET",route="/lookup",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains("wangge_tile_cache_hits_total 1"), "{text}");
    assert!(text.contains("wangge_tile_cache_misses_total 1"), "{text}");
    assert!(text.contains("wangge_snapshot_version"), "{text}");
    assert!(
        text.contains("wangge_http_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn cors_follows_the_configuration_and_preflight_is_answered() {
    let preflight = || {
        Request::builder()
            .method("OPTIONS")
            .uri("/lookup")
            .header(header::ORIGIN, "https://map.example.cn")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .body(Body::empty())
            .unwrap()
    };
    let r = send(&app(), preflight()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers.contains_key("x-request-id"),
        "a preflight answer has no request id"
    );
    assert_eq!(
        r.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).unwrap(),
        "*"
    );
    let only = router(state_with(Limits::default()).with_cors(Cors::Origins(vec![
        "https://map.example.cn".parse().unwrap(),
    ])));
    let r = send(&only, preflight()).await;
    assert_eq!(
        r.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).unwrap(),
        "https://map.example.cn"
    );
    let r = get_with(
        &only,
        "/health",
        &[(header::ORIGIN, "https://evil.example")],
    )
    .await;
    assert!(!r.headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
    let off = router(state_with(Limits::default()).with_cors(Cors::Off));
    let r = get_with(
        &off,
        "/tiles/grids/14/13583/6671",
        &[(header::ORIGIN, "https://a.cn")],
    )
    .await;
    assert!(!r.headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
}

// ---- hot reload ---------------------------------------------------------------

#[tokio::test]
async fn a_running_server_picks_up_a_newly_published_version() {
    let dir = tempfile::tempdir().unwrap();
    let (_, snap) = load();
    let publish = |source: &str| {
        let d = snap.data();
        wangge::datadir::publish(
            dir.path(),
            wangge::datadir::manifest_for(d, source),
            d,
            d.components.iter().map(|c| c.record(&d.classes)),
        )
        .unwrap()
    };
    assert_eq!(publish("first"), 1);
    let (_, first) = wangge::datadir::open_snapshot(dir.path(), |_| {}).unwrap();
    let state = AppState::new(first, Limits::default());
    let app = router(state.clone());
    let watcher = tokio::spawn(wangge::reload::watch(
        state,
        dir.path().to_path_buf(),
        Duration::from_millis(50),
    ));
    assert_eq!(get(&app, "/health").await.json()["version"], 1);
    assert_eq!(publish("second"), 2);
    let started = Instant::now();
    loop {
        if get(&app, "/health").await.json()["version"] == 2 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "version 2 never served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    watcher.abort();
}

// ---- over real sockets -----------------------------------------------------------

struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(config: ServerConfig) -> Running {
    let state = state_with(Limits::default());
    let metrics = state.metrics();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(wangge::server::serve(
        listener,
        router(state),
        config,
        metrics,
        async move {
            let _ = stopped.await;
        },
    ));
    Running {
        addr,
        stop: Some(stop),
        done,
    }
}

/// Connects and sends `bytes` (a request head, a partial request).
async fn send_raw(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    s
}

/// Reads until the peer closes (or `limit` passes); what was read.
async fn read_to_close(s: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut all = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(all),
            Ok(Ok(n)) => all.extend_from_slice(&buf[..n]),
            Err(_) => return None,
        }
    }
}

fn body_of(response: &[u8]) -> serde_json::Value {
    let text = String::from_utf8_lossy(response);
    let (_, body) = text.split_once("\r\n\r\n").expect("a response head");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[tokio::test]
async fn slow_headers_are_cut_at_the_header_timeout() {
    let server = start(ServerConfig {
        header_timeout: Duration::from_millis(500),
        ..ServerConfig::default()
    })
    .await;
    let mut s = send_raw(server.addr, b"GET /health HTTP/1.1\r\nHost: x\r\n").await;
    let started = Instant::now();
    let closed = read_to_close(&mut s, Duration::from_secs(10)).await;
    assert!(closed.is_some(), "a slow-header client was never closed");
    assert!(started.elapsed() < Duration::from_secs(9));
}

#[tokio::test]
async fn a_stalled_upload_is_closed_at_the_idle_timeout() {
    let server = start(ServerConfig {
        idle_timeout: Duration::from_millis(500),
        ..ServerConfig::default()
    })
    .await;
    let mut s = send_raw(server.addr, b"POST /lookup HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 1000000\r\n\r\nid,lon,lat\n").await;
    assert!(
        read_to_close(&mut s, Duration::from_secs(10))
            .await
            .is_some(),
        "a stalled upload was never closed"
    );
}

#[tokio::test]
async fn connections_over_the_cap_get_a_json_503() {
    let server = start(ServerConfig {
        max_connections: 2,
        ..ServerConfig::default()
    })
    .await;
    let _a = TcpStream::connect(server.addr).await.unwrap();
    let _b = TcpStream::connect(server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut c = TcpStream::connect(server.addr).await.unwrap();
    let answer = read_to_close(&mut c, Duration::from_secs(5)).await.unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 503 "),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(body_of(&answer)["error"], "too_many_connections");
}

#[tokio::test]
async fn requests_hyper_cannot_parse_get_json_errors() {
    let server = start(ServerConfig::default()).await;
    let long_uri = format!(
        "GET /lookup?x={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(70_000)
    );
    let many_headers = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..200)
            .map(|i| format!("X-H{i}: v\r\n"))
            .collect::<String>()
    );
    let big_header = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: {}\r\n\r\n",
        "b".repeat(80_000)
    );
    for (request, status) in [
        (big_header, "431"),
        ("GARBAGE\r\n\r\n".to_string(), "400"),
        (
            "GET /health HTTP/1.1\r\nHo st: x\r\n\r\n".to_string(),
            "400",
        ),
        (long_uri, "414"),
        (many_headers, "431"),
    ] {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        let _ = s.write_all(request.as_bytes()).await;
        let answer = read_to_close(&mut s, Duration::from_secs(5)).await.unwrap();
        let head = String::from_utf8_lossy(&answer[..answer.len().min(40)]).to_string();
        assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{head}");
        let v = body_of(&answer);
        assert!(
            v["error"].is_string() && v["message"].is_string() && v["request_id"].is_string(),
            "{v}"
        );
    }
}

#[tokio::test]
async fn shutdown_lets_a_streamed_batch_finish_and_then_returns() {
    let mut server = start(ServerConfig {
        shutdown_deadline: Duration::from_secs(20),
        ..ServerConfig::default()
    })
    .await;
    let mut s = send_raw(server.addr, b"POST /lookup HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n").await;
    let chunk = |text: &str| format!("{:x}\r\n{text}\r\n", text.len());
    s.write_all(chunk("{\"lon\":118.78,\"lat\":32.06,\"id\":1}\n").as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.stop.take().unwrap().send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // New connections are refused once shutdown began...
    assert!(TcpStream::connect(server.addr).await.is_err());
    // ...while the batch in flight goes on to its end.
    for i in 2..=12 {
        s.write_all(chunk(&format!("{{\"lon\":118.78,\"lat\":32.06,\"id\":{i}}}\n")).as_bytes())
            .await
            .unwrap();
    }
    s.write_all(b"0\r\n\r\n").await.unwrap();
    let answer = read_to_close(&mut s, Duration::from_secs(15))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&answer);
    let answers = text.matches("\"inside\":true").count();
    assert_eq!(answers, 12, "{text}");
    let r = tokio::time::timeout(Duration::from_secs(15), server.done).await;
    assert!(
        matches!(r, Ok(Ok(Ok(())))),
        "serve did not return after the batch"
    );
}

#[tokio::test]
async fn shutdown_cuts_a_stalled_upload_at_the_deadline() {
    let mut server = start(ServerConfig {
        shutdown_deadline: Duration::from_millis(500),
        ..ServerConfig::default()
    })
    .await;
    let _stalled_upload = send_raw(server.addr, b"POST /lookup HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 100000\r\n\r\nid,lon,lat\n").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop.take().unwrap().send(()).unwrap();
    let started = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(10), server.done).await;
    assert!(matches!(r, Ok(Ok(Ok(())))), "serve outlived its deadline");
    assert!(started.elapsed() < Duration::from_secs(9));
}
