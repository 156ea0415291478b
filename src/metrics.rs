//! The server's metrics in Prometheus text format (`GET /metrics`), kept with
//! the `prometheus-client` crate (the Prometheus project's Rust client: typed
//! metric families, one registry per server, no global state, so tests can run
//! many servers in one process).

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of a request: method, route pattern (not the path, so that the
/// number of series stays bounded), status code.
/// Labels are `&'static str` so that counting a request allocates nothing.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: &'static str,
    status: u16,
}

/// Labels of a latency series: the route pattern.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

/// The method as a label: the standard ones, anything else `other` (a
/// client can send any token as a method; the label set must stay bounded).
fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("other")
}

/// A route pattern as a `&'static str`, each distinct pattern leaked once.
/// Patterns come from the router's table (a few dozen), never from the
/// request path, so this is bounded.
fn route_label(route: &str) -> &'static str {
    static SEEN: std::sync::RwLock<Vec<&'static str>> = std::sync::RwLock::new(Vec::new());
    let find = |seen: &[&'static str]| seen.iter().find(|r| **r == route).copied();
    if let Some(r) = find(&SEEN.read().unwrap_or_else(|e| e.into_inner())) {
        return r;
    }
    let mut seen = SEEN.write().unwrap_or_else(|e| e.into_inner());
    find(&seen).unwrap_or_else(|| {
        let r: &'static str = Box::leak(route.to_string().into_boxed_str());
        seen.push(r);
        r
    })
}

fn latency_histogram() -> Histogram {
    // 0.1 ms .. ~3.3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// Every metric the server keeps.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    response_bytes: Counter,
    tile_hits: Counter,
    tile_misses: Counter,
    tile_cache_bytes: Gauge,
    snapshot_version: Gauge,
    snapshot_build_seconds: Gauge<f64, AtomicU64>,
    batch_points: Histogram,
    batches_in_flight: Gauge,
    batches_rejected: Counter,
    connections_open: Gauge,
    connections_rejected: Counter,
    connections_timed_out: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh set of metrics, all zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("wangge");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route pattern and status",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from request to response headers, seconds, by route pattern",
            latency.clone(),
        );
        let response_bytes = Counter::default();
        registry.register(
            "http_response_bytes",
            "Bytes of response bodies with a known length (before compression)",
            response_bytes.clone(),
        );
        let tile_hits = Counter::default();
        registry.register(
            "tile_cache_hits",
            "Tiles answered from the tile cache",
            tile_hits.clone(),
        );
        let tile_misses = Counter::default();
        registry.register(
            "tile_cache_misses",
            "Tiles rendered because the cache did not hold them",
            tile_misses.clone(),
        );
        let tile_cache_bytes = Gauge::default();
        registry.register(
            "tile_cache_bytes",
            "Bytes held by the tile cache",
            tile_cache_bytes.clone(),
        );
        let snapshot_version = Gauge::default();
        registry.register(
            "snapshot_version",
            "Data version being served",
            snapshot_version.clone(),
        );
        let snapshot_build_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "snapshot_build_seconds",
            "Time to load and index the data version being served, seconds",
            snapshot_build_seconds.clone(),
        );
        let batch_points = Histogram::new(exponential_buckets(1.0, 4.0, 12));
        registry.register(
            "batch_points",
            "Points per batch lookup (POST /lookup)",
            batch_points.clone(),
        );
        let batches_in_flight = Gauge::default();
        registry.register(
            "batches_in_flight",
            "Batch lookups being answered now",
            batches_in_flight.clone(),
        );
        let batches_rejected = Counter::default();
        registry.register(
            "batches_rejected",
            "Batch lookups refused because the concurrent cap was reached",
            batches_rejected.clone(),
        );
        let connections_open = Gauge::default();
        registry.register(
            "connections_open",
            "HTTP connections open now",
            connections_open.clone(),
        );
        let connections_rejected = Counter::default();
        registry.register(
            "connections_rejected",
            "Connections refused because the connection cap was reached",
            connections_rejected.clone(),
        );
        let connections_timed_out = Counter::default();
        registry.register(
            "connections_idle_closed",
            "Connections closed because nothing moved on them for the idle timeout",
            connections_timed_out.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            response_bytes,
            tile_hits,
            tile_misses,
            tile_cache_bytes,
            snapshot_version,
            snapshot_build_seconds,
            batch_points,
            batches_in_flight,
            batches_rejected,
            connections_open,
            connections_rejected,
            connections_timed_out,
        }
    }

    /// Records one answered request; `seconds` until its response headers.
    pub fn request(
        &self,
        method: &str,
        route: &str,
        status: u16,
        seconds: f64,
        bytes: Option<u64>,
    ) {
        let route = route_label(route);
        self.requests
            .get_or_create(&RequestLabels {
                method: method_label(method),
                route,
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels { route })
            .observe(seconds);
        if let Some(b) = bytes {
            self.response_bytes.inc_by(b);
        }
    }

    /// Records a tile answered from the cache (`hit`) or rendered.
    pub fn tile(&self, hit: bool) {
        if hit {
            self.tile_hits.inc();
        } else {
            self.tile_misses.inc();
        }
    }

    /// Sets the tile cache's size, bytes.
    pub fn tile_cache_bytes(&self, bytes: u64) {
        self.tile_cache_bytes.set(bytes as i64);
    }

    /// Records the data version now served and the seconds it took to build.
    pub fn snapshot(&self, version: u64, build_seconds: f64) {
        self.snapshot_version.set(version as i64);
        self.snapshot_build_seconds.set(build_seconds);
    }

    /// A batch lookup started.
    pub fn batch_started(&self) {
        self.batches_in_flight.inc();
    }

    /// A batch lookup ended after `points` points.
    pub fn batch_ended(&self, points: u64) {
        self.batches_in_flight.dec();
        self.batch_points.observe(points as f64);
    }

    /// A batch lookup was refused (cap reached).
    pub fn batch_rejected(&self) {
        self.batches_rejected.inc();
    }

    /// A connection was accepted.
    pub fn connection_opened(&self) {
        self.connections_open.inc();
    }

    /// A connection ended.
    pub fn connection_closed(&self) {
        self.connections_open.dec();
    }

    /// A connection was refused at the cap.
    pub fn connection_rejected(&self) {
        self.connections_rejected.inc();
    }

    /// A connection was closed by the idle timeout.
    pub fn connection_timed_out(&self) {
        self.connections_timed_out.inc();
    }

    /// The current values in Prometheus text format (OpenMetrics 1.0 text).
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// A counter of points shared between a batch's reader and its metrics.
#[derive(Debug, Default)]
pub struct PointCount(AtomicU64);

impl PointCount {
    /// Adds `n` points.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Points counted so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_values_appear_in_the_text_format() {
        let m = Metrics::new();
        m.request("GET", "/lookup", 200, 0.001, Some(120));
        m.request("GET", "/lookup", 200, 0.002, None);
        m.tile(true);
        m.snapshot(7, 1.5);
        m.connection_rejected();
        m.request("BREW", "/lookup", 405, 0.001, None);
        let text = m.render();
        assert!(
            text.contains(
                r#"wangge_http_requests_total{method="other",route="/lookup",status="405"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"wangge_http_requests_total{method="GET",route="/lookup",status="200"} 2"#
            ),
            "{text}"
        );
        assert!(text.contains("wangge_tile_cache_hits_total 1"), "{text}");
        assert!(text.contains("wangge_snapshot_version 7"), "{text}");
        assert!(
            text.contains("wangge_connections_rejected_total 1"),
            "{text}"
        );
        assert!(
            text.contains("wangge_http_response_bytes_total 120"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }
}
