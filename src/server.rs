//! The connection layer under the router: what `wangge serve` runs on a
//! listening socket.
//!
//! axum's own `serve` has no header, idle or body timeouts and no cap on
//! connections, so one anonymous client could hold every file descriptor.
//! This module accepts connections itself and serves each with hyper:
//!
//! - **Connection cap**: at most [`ServerConfig::max_connections`] at once;
//!   one more is answered `503` with a JSON body and closed (and counted).
//! - **Header timeout**: a request whose headers are not complete within
//!   [`ServerConfig::header_timeout`] is closed (slow-header attacks). hyper
//!   starts this clock whenever it waits for a request, so an idle keep-alive
//!   connection is closed after the same time.
//! - **Idle timeout**: a connection on which no byte moves either way for
//!   [`ServerConfig::idle_timeout`] is closed: stalled uploads, clients that
//!   stop reading their answer.
//! - **Graceful shutdown**: on the shutdown signal the listener closes,
//!   requests in flight finish (their connections are then closed), and after
//!   [`ServerConfig::shutdown_deadline`] whatever is left is cut.
//! - **JSON errors from hyper**: a request hyper cannot parse (a malformed
//!   request line, a URI over 64 KiB, too many or too large headers) is
//!   answered by hyper itself with an empty body; [`JsonErrors`] rewrites that
//!   answer into the same JSON error body the router sends.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::metrics::Metrics;

/// Timeouts and caps of the connection layer.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Most connections open at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// Time a client has to send a request's headers (and to start the next
    /// request on a keep-alive connection).
    pub header_timeout: Duration,
    /// A connection on which no byte is read or written for this long is closed.
    pub idle_timeout: Duration,
    /// How long requests in flight may take to finish after the shutdown signal.
    pub shutdown_deadline: Duration,
    /// TLS for every connection (`https`), when configured; the handshake
    /// must end within `header_timeout`.
    pub tls: Option<Arc<crate::tls::Tls>>,
}

/// Largest request head (request line and headers) a request may have,
/// bytes: hyper refuses heads over twice this itself, the router's edge
/// layer those between (both 431, JSON).
pub const MAX_HEAD_BYTES: usize = 64 << 10;

/// A fresh request id: 16 hex digits.
pub fn new_request_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// The JSON body of every error wangge sends, from this layer or the router's:
/// a machine code, what is wrong and how to fix it, and the request id.
pub fn error_body(code: &str, message: &str, request_id: Option<&str>) -> serde_json::Value {
    let mut body = serde_json::json!({ "error": code, "message": message });
    if let Some(id) = request_id {
        body["request_id"] = serde_json::Value::String(id.to_string());
    }
    body
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_connections: 4096,
            header_timeout: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            shutdown_deadline: Duration::from_secs(10),
            tls: None,
        }
    }
}

/// Raises this process's open-files limit to what it may (the hard limit) and
/// returns the limit now in force, for sizing the connection cap.
pub fn raise_open_files_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!("cannot raise the open-files limit: {e}");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then drains
/// in-flight requests for at most the configured deadline.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: ServerConfig,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout)
        // Room for a request line up to hyper's own URI limit (64 KiB), so a
        // long URI is told 414 (see `MAX_HEAD_BYTES`).
        .max_buf_size(2 * MAX_HEAD_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(config.idle_timeout / 2))
        .keep_alive_timeout(config.idle_timeout / 2)
        .max_concurrent_streams(64);
    let builder = Arc::new(builder);
    let slots = Arc::new(tokio::sync::Semaphore::new(config.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let clock = Instant::now();
    let mut last_accept_error: Option<Instant> = None;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors (or a transient network error):
                    // say so once a second, back off, keep serving the
                    // connections already open.
                    if last_accept_error.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
                        tracing::warn!("cannot accept a connection: {e}");
                        last_accept_error = Some(Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            metrics.connection_rejected();
            tokio::spawn(reject(tcp, config.max_connections));
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let one = Connection {
            builder: builder.clone(),
            app: app.clone(),
            watcher: graceful.watcher(),
            idle: config.idle_timeout,
            clock,
            metrics: metrics.clone(),
            peer,
        };
        metrics.connection_opened();
        let tls = config.tls.clone();
        let handshake_timeout = config.header_timeout;
        tokio::spawn(async move {
            let metrics = one.metrics.clone();
            match tls {
                None => one.run(tcp).await,
                // The handshake runs on the connection's own task: a slow
                // client holds only its own slot, and only for the header
                // timeout.
                Some(tls) => {
                    match tokio::time::timeout(handshake_timeout, tls.acceptor().accept(tcp)).await
                    {
                        Ok(Ok(stream)) => one.run(stream).await,
                        Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake not finished in time");
                            metrics.connection_timed_out();
                        }
                    }
                }
            }
            metrics.connection_closed();
            drop(permit);
        });
    }
    drop(listener);
    let open = graceful.count();
    tracing::info!(
        open_connections = open,
        deadline_seconds = config.shutdown_deadline.as_secs_f64(),
        "shutting down: no new connections; finishing requests in flight"
    );
    match tokio::time::timeout(config.shutdown_deadline, graceful.shutdown()).await {
        Ok(()) => tracing::info!("all requests finished"),
        Err(_) => tracing::warn!(
            "shutdown deadline of {} s passed; cutting the connections still open",
            config.shutdown_deadline.as_secs_f64()
        ),
    }
    Ok(())
}

/// What serving one accepted connection needs.
struct Connection {
    builder: Arc<hyper_util::server::conn::auto::Builder<TokioExecutor>>,
    app: Router,
    watcher: hyper_util::server::graceful::Watcher,
    idle: Duration,
    clock: Instant,
    metrics: Arc<Metrics>,
    peer: SocketAddr,
}

impl Connection {
    /// Serves HTTP/1.1 or HTTP/2 on `stream` (plain TCP or TLS) until the
    /// client leaves, nothing moves for the idle timeout, or shutdown
    /// drains it.
    async fn run<S>(self, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            builder,
            app,
            watcher,
            idle,
            clock,
            metrics,
            peer,
        } = self;
        let activity = Arc::new(AtomicU64::new(0));
        let io = TokioIo::new(JsonErrors::new(stream, activity.clone(), clock));
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let mut app = app.clone();
            async move { tower::Service::call(&mut app, req).await }
        });
        let conn = builder
            .serve_connection_with_upgrades(io, service)
            .into_owned();
        let conn = watcher.watch(conn);
        tokio::select! {
            r = conn => if let Err(e) = r {
                tracing::debug!(%peer, "connection ended: {e}");
            },
            () = stalled(activity, clock, idle) => {
                tracing::debug!(%peer, "connection closed: nothing moved for {} s", idle.as_secs());
                metrics.connection_timed_out();
            }
        }
    }
}

/// Completes when nothing has moved on the connection for `idle`.
async fn stalled(activity: Arc<AtomicU64>, clock: Instant, idle: Duration) {
    let idle_ms = idle.as_millis() as u64;
    loop {
        let last = activity.load(Ordering::Relaxed);
        let now = clock.elapsed().as_millis() as u64;
        let quiet = now.saturating_sub(last);
        if quiet >= idle_ms {
            return;
        }
        tokio::time::sleep(Duration::from_millis((idle_ms - quiet).max(10))).await;
    }
}

/// Answers a connection over the cap with 503 and closes it.
async fn reject(mut tcp: TcpStream, cap: usize) {
    let (body, id) = error_text(
        "too_many_connections",
        &format!(
            "the server has {cap} connections open, its limit: retry in a few seconds, and reuse one connection for many requests"
        ),
    );
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nx-request-id: {id}\r\nx-content-type-options: nosniff\r\ncache-control: no-store\r\nretry-after: 5\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        tcp.write_all(response.as_bytes()).await?;
        tcp.shutdown().await
    })
    .await;
}

/// The JSON error body of an answer made below the router, with a fresh
/// request id; returns the body and the id.
fn error_text(code: &str, message: &str) -> (String, String) {
    let id = new_request_id();
    (error_body(code, message, Some(&id)).to_string(), id)
}

/// The JSON answer for an automatic error response hyper writes (status,
/// reason, body) — `None` for anything else.
fn rewrite_automatic_error(head: &[u8]) -> Option<Vec<u8>> {
    // hyper's automatic answers to requests it cannot parse: a bare head
    // with `content-length: 0`, after which it closes the connection. The
    // router never sends these statuses with an empty body.
    if !head.ends_with(b"\r\n\r\n") || head.len() > 512 {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    let status: u16 = text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    if !text
        .to_ascii_lowercase()
        .contains("\r\ncontent-length: 0\r\n")
    {
        return None;
    }
    let (reason, code, message) = match status {
        400 => (
            "Bad Request",
            "malformed_request",
            "the request is not well-formed HTTP/1.1: send a request line 'GET /path HTTP/1.1' and headers 'Name: value', with the path percent-encoded",
        ),
        414 => (
            "URI Too Long",
            "uri_too_long",
            "the request URI is longer than 64 KiB: send large inputs in a POST body (for points: POST /lookup)",
        ),
        431 => (
            "Request Header Fields Too Large",
            "headers_too_large",
            "the request line and headers are too large or too many (at most 100 headers, 64 KiB in all): send fewer or shorter headers, and large inputs in a POST body",
        ),
        _ => return None,
    };
    let (body, id) = error_text(code, message);
    Some(
        format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\nx-request-id: {id}\r\nx-content-type-options: nosniff\r\ncache-control: no-store\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

/// A TCP stream that records when bytes last moved (for the idle timeout)
/// and gives hyper's automatic error answers a JSON body.
pub struct JsonErrors<S> {
    inner: S,
    activity: Arc<AtomicU64>,
    clock: Instant,
    /// A rewritten answer still to be written, and how much of it is.
    pending: Vec<u8>,
    written: usize,
}

impl<S> JsonErrors<S> {
    fn new(inner: S, activity: Arc<AtomicU64>, clock: Instant) -> Self {
        let s = JsonErrors {
            inner,
            activity,
            clock,
            pending: Vec::new(),
            written: 0,
        };
        s.touch();
        s
    }

    fn touch(&self) {
        self.activity
            .store(self.clock.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

impl<S: AsyncWrite + Unpin> JsonErrors<S> {
    /// Writes what is left of a rewritten answer.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while self.written < self.pending.len() {
            let n = std::task::ready!(
                Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..])
            )?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
            self.touch();
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for JsonErrors<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for JsonErrors<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        std::task::ready!(self.poll_pending(cx))?;
        if let Some(answer) = rewrite_automatic_error(buf) {
            self.pending = answer;
            self.written = 0;
            // hyper's bytes count as written; ours go out now or on flush.
            let _ = self.poll_pending(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        std::task::ready!(self.poll_pending(cx))?;
        let mut non_empty = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(only), None) = (non_empty.next(), non_empty.next())
            && let Some(answer) = rewrite_automatic_error(only)
        {
            self.pending = answer;
            self.written = 0;
            let _ = self.poll_pending(cx)?;
            return Poll::Ready(Ok(only.len()));
        }
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        std::task::ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        std::task::ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The peer address of a request served by [`serve`] (none in in-process tests).
pub fn peer(extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| *a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_automatic_errors_get_a_json_body() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Tue, 01 Dec 2026 10:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(rewrite_automatic_error(head).unwrap()).unwrap();
        let (h, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(h.starts_with("HTTP/1.1 431 "));
        assert!(h.contains("content-type: application/json"));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"], "headers_too_large");
        assert!(h.contains(&format!("content-length: {}", body.len())));
    }

    #[test]
    fn answers_with_a_body_or_other_statuses_are_left_alone() {
        assert!(
            rewrite_automatic_error(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 57\r\n\r\n")
                .is_none()
        );
        assert!(
            rewrite_automatic_error(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                .is_none()
        );
        assert!(
            rewrite_automatic_error(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n").is_none()
        );
    }
}
