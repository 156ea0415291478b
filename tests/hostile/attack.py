"""Hostile clients against `wangge serve` on the bundled sample, on loopback.

Starts the server with short limits, keeps a normal client asking lookups
(and a tile) every ~50 ms on one keep-alive connection, and runs bounded
attacks one after the other: malformed and oversized requests, query fuzz,
rotating CRS parameters (raw PROJ strings must be refused and never make the
server open a file), slowloris, an idle-connection flood past
--max-connections, stalled uploads and clients that stop reading, batches
never read, a body that never ends, and finally a graceful shutdown with a
batch in flight. Samples the server's RSS every 0.2 s.

Every loop is bounded in count and time; a watchdog ends the script if it
still runs after HOSTILE_MAX_SECONDS (default 300). Usage (normally through
tests/hostile/run):

    python3 tests/hostile/attack.py [--bin target/release/wangge] [--data data/sample]
                                    [--log PATH] [--only PHASE,PHASE]

Environment: HOSTILE_SLACK (seconds added to every timeout bound, default 4),
HOSTILE_RSS_MIB (RSS bound, default 1536), HOSTILE_STRACE=0 (skip strace).
Closing line: `hostile: N passed, M failed`; exits 1 on any failed check.
"""

import argparse
import asyncio
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
from collections import Counter

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from wgtest import (LOOPBACK, BadResponse, Checks, Closed, KeepAlive, RawConn, RssMonitor,  # noqa: E402
                    Tally, fd_targets, fmt_mib, install_exit_on_signals, mean, now, quantile,
                    raise_fd_limit, request, serve_flags, server_lets_go, start_server, watchdog)

HOST = LOOPBACK
SLACK = float(os.environ.get("HOSTILE_SLACK", "4"))
RSS_LIMIT_KIB = int(os.environ.get("HOSTILE_RSS_MIB", "1536")) * 1024

# The limits the server is started with (flag, value).
LIMITS = {
    "header_timeout": ("--header-timeout-secs", 2),
    "idle_timeout": ("--idle-timeout-secs", 4),
    "max_connections": ("--max-connections", 1500),
    "max_batch_mib": ("--max-batch-mib", 16),
    "max_batches": ("--max-concurrent-batches", 4),
    "shutdown_deadline": ("--shutdown-deadline-secs", 5),
}
LOOKUP = "/lookup?lon=118.78&lat=32.06"
TILES = ["/tiles/grids/14/13598/6650", "/tiles/components/15/27196/13300", "/tiles/grids/12/3399/1662"]
JSON_CT = "Content-Type: application/json"
PHASES = ["basics", "malformed", "fuzz", "crs", "slowloris", "idle", "stalled", "unread", "endless", "shutdown"]

# EPSG codes the server may document beyond the core set (Chinese national and
# local systems, world systems): for those any answer but a 5xx is accepted.
MAYBE_DOCUMENTED = [(2327, 2442), (3395, 3395), (3857, 3857), (4214, 4214), (4326, 4326), (4479, 4480),
                    (4490, 4555), (4610, 4610), (4978, 4979), (4547, 4554)]
CORE_DOCUMENTED = [(4326, 4326), (4490, 4554), (3857, 3857)]

HOSTILE_CRS = [
    "+proj=longlat +ellps=clrk66 +nadgrids=/etc/hosts",
    "+proj=pipeline +step +proj=hgridshift +grids=/etc/hosts",
    "+init=/etc/hosts:wgs84",
    "+proj=longlat +datum=WGS84 +nadgrids=@/etc/passwd",
    "proj=longlat +ellps=WGS84 +geoidgrids=/etc/hosts",
    "EPSG:4326 +nadgrids=/etc/hosts",
    'GEOGCS["x",DATUM["y",SPHEROID["z",6378137,298.257223563],TOWGS84[0,0,0,0,0,0,0]],'
    'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]]',
    'PROJCRS["x",BASEGEOGCRS["WGS 84",DATUM["World Geodetic System 1984",ELLIPSOID["WGS 84",6378137,298.257223563]]],'
    'CONVERSION["y",METHOD["Transverse Mercator"]],CS[Cartesian,2],AXIS["x",east],AXIS["y",north],LENGTHUNIT["metre",1]]',
    "file:///etc/hosts",
    "IGNF:LAMB93",
    "ESRI:102100",
    "EPSG:" + "9" * 3000,
]
LEGIT_CRS = [("EPSG:4326", 118.78, 32.06), ("wgs84", 118.78, 32.06), ("gcj02", 118.785, 32.058),
             ("bd09", 118.791, 32.064), ("EPSG:4490", 118.78, 32.06), ("EPSG:3857", 13222400.0, 3773400.0)]


# A line of `strace -f -o`: "PID syscall(...": the name; the network calls of %network.
STRACE_CALL = re.compile(r"^(?:\d+\s+)?(\w+)\(")
NETWORK_CALLS = {"accept", "accept4", "recvfrom", "recvmsg", "recvmmsg", "sendto", "sendmsg", "sendmmsg", "socket",
                 "socketpair", "connect", "bind", "listen", "shutdown", "getsockopt", "setsockopt", "getsockname",
                 "getpeername"}


def in_ranges(code, ranges):
    return any(a <= code <= b for a, b in ranges)


def q(v):
    return urllib.parse.quote(str(v), safe="")


def json_batch(n_bytes, seed, start="[", end="]"):
    """A JSON array of random points around Nanjing of about `n_bytes`; (bytes, points)."""
    rnd = random.Random(seed)
    parts, size, i = [], len(start) + len(end), 0
    while size < n_bytes:
        s = '{"lon":%.6f,"lat":%.6f,"id":"p%d"}' % (118.70 + rnd.random() * 0.2, 31.98 + rnd.random() * 0.15, i)
        parts.append(s)
        size += len(s) + 1
        i += 1
    return (start + ",".join(parts) + end).encode(), i


# ---------------------------------------------------------------- the normal client


class NormalClient(threading.Thread):
    """Asks a lookup (every tenth request a tile) every ~50 ms on one keep-alive
    connection, in its own thread and event loop, and notes every answer."""

    def __init__(self, port, tally):
        super().__init__(daemon=True)
        self.port, self.tally = port, tally
        self.halt = threading.Event()
        self.ok_times = []
        self.latencies = []
        self.problems = []
        self.requests = 0
        self.client = KeepAlive(lambda: RawConn.open(HOST, self.port, timeout=5))
        self.started_at = None
        self.stopped_at = None

    def run(self):
        try:
            asyncio.run(self.main())
        except Exception as e:  # noted, so the checks on the normal client fail
            self.problem(f"the normal client stopped: {type(e).__name__}: {e}")

    def problem(self, what):
        if len(self.problems) < 200:
            self.problems.append(f"{time.strftime('%H:%M:%S')} {what}")

    async def main(self):
        rnd = random.Random(7)
        self.started_at = now()
        i = 0
        try:
            while not self.halt.is_set():
                i += 1
                if i % 10 == 0:
                    path = TILES[(i // 10) % len(TILES)]
                else:
                    path = f"/lookup?lon={118.775 + rnd.random() * 0.01:.6f}&lat={32.055 + rnd.random() * 0.01:.6f}"
                t0 = now()
                self.requests += 1
                self.tally.request()
                try:
                    resp = await self.client.ask(request("GET", path))
                except KeepAlive.ERRORS as e:
                    self.problem(f"{path}: {type(e).__name__} {e}")
                else:
                    self.note(path, resp, now() - t0)
                await asyncio.sleep(max(0.0, 0.05 - (now() - t0)))
        finally:
            self.client.close()
            self.stopped_at = now()

    def note(self, path, resp, lat):
        self.tally.response(resp, f"normal GET {path}")
        if resp.status != 200 or not resp.complete:
            self.problem(f"{path}: status {resp.status} complete={resp.complete} {bytes(resp.body[:120])!r}")
        elif path.startswith("/lookup") and not isinstance(resp.json(), dict):
            self.problem(f"{path}: answer is not a JSON object")
        else:
            self.ok_times.append(now())
            self.latencies.append(lat)

    def max_gap(self, t0=None, t1=None):
        """The longest time without a good answer within [t0, t1]."""
        t0 = self.started_at if t0 is None else t0
        t1 = (self.stopped_at or now()) if t1 is None else t1
        points = [t0] + [t for t in self.ok_times if t0 <= t <= t1] + [t1]
        return max(b - a for a, b in zip(points, points[1:]))


# ---------------------------------------------------------------- the run


class Attack:
    def __init__(self, server, limits, tally, checks, monitor, workdir):
        self.server = server
        self.port = server.port
        self.L = limits
        self.tally = tally
        self.c = checks
        self.monitor = monitor
        self.workdir = workdir
        self.windows = []  # (phase, t0, t1)
        self.documented = sorted(MAYBE_DOCUMENTED)  # and what /api lists, once basics has read it
        self.timeout_closes = Counter()
        self.connections = 0

    # -- helpers

    async def phase(self, name, call):
        """Runs one phase (`await call()`), its time window and RSS tagged with
        `name`; a phase that raises is a failed check, and the run goes on."""
        print(f"== {name}", flush=True)
        self.monitor.phase = name
        self.windows.append([name, now(), None])
        try:
            await call()
        except Exception as e:
            self.c.check(f"{name}: the phase runs to its end", False,
                         f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=-3)}")
        finally:
            self.windows[-1][2] = now()

    async def open(self, timeout=5.0, **kw):
        conn = await RawConn.open(HOST, self.port, timeout=timeout, **kw)
        self.connections += 1
        return conn

    async def exchange(self, raw, what, method="GET", timeout=5.0, keep=1 << 20, allow_5xx=()):
        """One request on a new connection: (response or None, outcome, connection)."""
        try:
            conn = await self.open()
        except (OSError, TimeoutError) as e:
            return None, f"connect failed: {e}", None
        self.tally.request()
        try:
            await conn.send(raw, timeout)
        except (Closed, TimeoutError):
            pass  # the server may answer before it read everything; read what it said
        try:
            resp = await conn.read_response(method, timeout, keep)
        except Closed:
            return None, "closed", conn
        except TimeoutError:
            return None, "no answer", conn
        except BadResponse as e:
            if conn.buf[:2] == b"\x00\x00" and conn.buf[3:4] == b"\x04":
                return None, "HTTP/2 frames", conn  # a SETTINGS frame: the server speaks h2c
            return None, f"bad response: {e}", conn
        self.tally.response(resp, what, allow_5xx)
        return resp, "response", conn

    async def get(self, path, headers=(), method="GET", timeout=5.0, keep=1 << 20):
        resp, outcome, conn = await self.exchange(request(method, path, headers), f"{method} {path}",
                                                  method, timeout, keep)
        if conn:
            conn.close()
        return resp, outcome

    async def post(self, path, body, ctype="application/json", timeout=10.0, keep=1 << 22):
        raw = request("POST", path, [f"Content-Type: {ctype}"], body)
        resp, outcome, conn = await self.exchange(raw, f"POST {path} ({ctype})", "POST", timeout, keep)
        if conn:
            conn.close()
        return resp, outcome

    async def keep_alive_workers(self, n, end, pick, one, problems, per_worker=None):
        """`n` clients, each on its own keep-alive connection (KeepAlive), each
        calling `one(client, item)` for `label, item = pick()` until `end` (and
        at most `per_worker` times); a request that fails is noted in
        `problems` as "label: error". Returns the clients."""
        clients = [KeepAlive(self.open) for _ in range(n)]

        async def work(client):
            done = 0
            try:
                while now() < end and (per_worker is None or done < per_worker):
                    done += 1
                    label, item = pick()
                    try:
                        await one(client, item)
                    except KeepAlive.ERRORS as e:
                        problems.append(f"{label[:120]}: {type(e).__name__} {e}")
            finally:
                client.close()

        await asyncio.gather(*(work(k) for k in clients))
        return clients

    async def absorb(self, conn, what, timeout=2.0):
        """Reads a response the server started to send unasked (e.g. a 503 or 408)."""
        try:
            resp = await conn.read_response(timeout=timeout)
        except (Closed, TimeoutError, BadResponse):
            return None
        self.tally.response(resp, what)
        return resp

    # -- phases

    async def basics(self):
        c = self.c
        resp, out = await self.get("/health")
        c.check("GET /health answers 200 JSON", resp is not None and resp.status == 200 and isinstance(resp.json(), dict),
                f"{resp or out}")
        resp, out = await self.get(LOOKUP)
        doc = resp.json() if resp else None
        c.check("GET /lookup answers the sample's grid", resp is not None and resp.status == 200
                and isinstance(doc, dict) and doc.get("inside") is True, f"{resp or out}")
        one = b'[{"lon":118.78,"lat":32.06,"id":"a"},{"lon":118.79,"lat":32.05,"id":"b"}]'
        resp, out = await self.post("/lookup", one)
        doc = resp.json() if resp else None
        c.check("POST /lookup JSON batch answers 2 entries", resp is not None and resp.status == 200
                and isinstance(doc, list) and len(doc) == 2, f"{resp or out}")
        resp, out = await self.post("/lookup", b"id,lon,lat\na,118.78,32.06\nb,118.79,32.05\n", "text/csv")
        c.check("POST /lookup CSV batch answers a header and 2 rows", resp is not None and resp.status == 200
                and bytes(resp.body).strip().count(b"\n") == 2, f"{resp or out}")
        resp, out = await self.post("/lookup", b'{"lon":118.78,"lat":32.06,"id":"a"}\n{"lon":118.79,"lat":32.05}\n',
                                    "application/x-ndjson")
        c.check("POST /lookup NDJSON batch answers 2 lines", resp is not None and resp.status == 200
                and len(bytes(resp.body).strip().splitlines()) == 2, f"{resp or out}")
        deadline = now() + 60
        while True:  # the tile indexes are built in the background after start
            resp, out = await self.get(TILES[0], timeout=30)
            if (resp and resp.status == 200) or now() > deadline:
                break
            await asyncio.sleep(0.5)
        c.check("a grid tile answers 200 MVT", resp is not None and resp.status == 200 and resp.length > 0,
                f"{resp or out}")
        resp, out = await self.get(LOOKUP, ["Origin: http://viewer.example"])
        c.check("CORS: a GET with Origin gets Access-Control-Allow-Origin", resp is not None and resp.status == 200
                and resp.header("access-control-allow-origin") in ("*", "http://viewer.example"),
                f"{resp and resp.header('access-control-allow-origin')!r}")
        resp, out = await self.get("/lookup", ["Origin: http://viewer.example", "Access-Control-Request-Method: POST",
                                               "Access-Control-Request-Headers: content-type"], method="OPTIONS")
        c.check("CORS: OPTIONS preflight of POST /lookup is allowed", resp is not None and resp.status in (200, 204)
                and resp.header("access-control-allow-origin") in ("*", "http://viewer.example")
                and "POST" in (resp.header("access-control-allow-methods") or "").upper(),
                f"{resp} allow-origin={resp and resp.header('access-control-allow-origin')!r} "
                f"allow-methods={resp and resp.header('access-control-allow-methods')!r}")
        resp, out = await self.get("/tiles/grids", ["X-Forwarded-Host: evil.example", "X-Forwarded-Proto: https",
                                                    "Forwarded: host=evil.example;proto=https"])
        body = bytes(resp.body) if resp else b""
        c.check("X-Forwarded-Host/-Proto from a client that is no --trusted-proxy are ignored (TileJSON URLs)",
                resp is not None and resp.status == 200 and b"evil.example" not in body and b"https://" not in body,
                f"{resp or out} {body[:200]!r}")
        resp, out = await self.get("/metrics")
        text = bytes(resp.body).decode("utf-8", "replace") if resp else ""
        c.check("GET /metrics from loopback answers Prometheus text", resp is not None and resp.status == 200
                and (resp.header("content-type") or "").split(";")[0] in ("text/plain", "application/openmetrics-text")
                and "# TYPE " in text,
                f"{resp or out}")
        # Three requests in one write: three answers, in order.
        raw = request("GET", "/health") + request("GET", LOOKUP) + request("GET", "/health")
        conn = await self.open()
        got = []
        try:
            self.tally.request(3)
            await conn.send(raw)
            for _ in range(3):
                r = await conn.read_response()
                self.tally.response(r, "pipelined")
                got.append(r.status)
        except (Closed, TimeoutError, BadResponse) as e:
            got.append(type(e).__name__)
        finally:
            conn.close()
        c.check("three pipelined requests get three answers", got == [200, 200, 200], f"{got}")
        # The documented crs set, as /api tells it.
        resp, _ = await self.get("/api", keep=8 << 20)
        codes = set()
        if resp and resp.status == 200:
            for a, b in re.findall(r"EPSG:(\d{4,5})(?:\s*[-–]\s*(?:EPSG:)?(\d{4,5}))?", bytes(resp.body).decode("utf-8", "replace")):
                codes.add((int(a), int(b or a)))
        self.documented = sorted(set(MAYBE_DOCUMENTED) | codes)

    async def malformed(self):
        big_json_head = ["Content-Type: application/json"]
        H = "Host: 127.0.0.1\r\n"
        mib = self.L["max_batch_mib"]
        cases = [
            # name, raw bytes, accepted statuses, closing without an answer allowed
            ("garbage request line", b"GARBAGE\r\n\r\n", {400}, False),
            ("method alone", b"GET\r\n\r\n", {400}, False),
            ("request line with 4 parts", b"GET / HTTP/1.1 extra\r\n" + H.encode() + b"\r\n", {400}, False),
            ("control bytes", bytes(range(1, 32)) + b"\r\n\r\n", {400}, False),
            ("TLS client hello", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(range(64)) + b"\r\n\r\n", {400}, True),
            ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", {400, 505}, True),
            ("HTTP/9.9", b"GET /health HTTP/9.9\r\n" + H.encode() + b"\r\n", {400, 505}, False),
            ("NUL in the path", b"GET /health\x00 HTTP/1.1\r\n" + H.encode() + b"\r\n", {400}, False),
            ("invalid UTF-8 in a path parameter", request("GET", "/grids/%ff%fe"), {400}, False),
            ("invalid UTF-8 in lon/lat", request("GET", "/lookup?lon=%ff&lat=%fe"), {400}, False),
            ("invalid UTF-8 in q", request("GET", "/search?q=%ff%fe%fd"), {200, 400}, False),
            ("NUL escape in a code", request("GET", "/grids/%00"), {400, 404}, False),
            ("broken percent escape", request("GET", "/grids/%zz%"), {400, 404}, False),
            ("URI of 70 KB", request("GET", LOOKUP + "&pad=" + "a" * 70_000), {414}, False),
            ("URI of 200 KB", request("GET", LOOKUP + "&pad=" + "a" * 200_000), {414, 431}, True),
            ("200 headers", request("GET", "/health", [f"X-H{i}: v" for i in range(200)]), {431}, False),
            ("one header of 100 KB", request("GET", "/health", ["X-Big: " + "b" * 100_000]), {200, 431}, False),
            ("one header of 1 MB", request("GET", "/health", ["X-Big: " + "b" * 1_000_000]), {431}, True),
            ("header line without colon", b"GET /health HTTP/1.1\r\n" + H.encode() + b"Bad header line\r\n\r\n", {400}, False),
            ("space before the colon", b"GET /health HTTP/1.1\r\n" + H.encode() + b"X-A : b\r\n\r\n", {400}, False),
            ("folded header", b"GET /health HTTP/1.1\r\n" + H.encode() + b"X-A: b\r\n c\r\n\r\n", {400}, False),
            ("NUL in a header value", b"GET /health HTTP/1.1\r\n" + H.encode() + b"X-A: b\x00c\r\n\r\n", {400}, False),
            ("control byte in a header name", b"GET /health HTTP/1.1\r\n" + H.encode() + b"X\x01: y\r\n\r\n", {400}, False),
            ("Content-Length abc", request("POST", "/lookup", big_json_head + ["Content-Length: abc"], b"[]"), {400}, False),
            ("Content-Length -1", request("POST", "/lookup", big_json_head + ["Content-Length: -1"], b"[]"), {400}, False),
            ("two different Content-Length", request("POST", "/lookup", big_json_head + ["Content-Length: 2", "Content-Length: 3"], b"[] "), {400}, False),
            ("Content-Length of 25 digits", request("POST", "/lookup", big_json_head + ["Content-Length: " + "9" * 25], b"[]"), {400, 413}, False),
            ("chunk size not hex", request("POST", "/lookup", big_json_head + ["Transfer-Encoding: chunked"], b"ZZ\r\n[]\r\n0\r\n\r\n"), {400, 413}, True),
            ("chunk size past 64 bits", request("POST", "/lookup", big_json_head + ["Transfer-Encoding: chunked"], b"FFFFFFFFFFFFFFFFFFFF\r\n[]\r\n0\r\n\r\n"), {400, 413}, True),
            ("negative chunk size", request("POST", "/lookup", big_json_head + ["Transfer-Encoding: chunked"], b"-2\r\n[]\r\n0\r\n\r\n"), {400, 413}, True),
            ("chunk without its CRLF", request("POST", "/lookup", big_json_head + ["Transfer-Encoding: chunked"], b"2\r\n[]XX0\r\n\r\n"), {400, 413}, True),
            ("unknown transfer coding", request("POST", "/lookup", big_json_head + ["Transfer-Encoding: xchunked"], b"[]"), {400}, True),
            ("Transfer-Encoding with space before colon", request("POST", "/lookup", big_json_head + ["Transfer-Encoding : chunked"], b"0\r\n\r\n"), {400}, True),
            ("declared 10 GB body", request("POST", "/lookup", big_json_head + ["Content-Length: 10000000000"], b'[{"lon":118'), {413}, False),
            (f"declared {mib + 1} MiB body", request("POST", "/lookup", big_json_head + [f"Content-Length: {(mib + 1) << 20}"], b'[{"lon":118'), {413}, False),
            ("declared 10 GB with Expect: 100-continue", request("POST", "/lookup", big_json_head + ["Content-Length: 10000000000", "Expect: 100-continue"]), {413, 417}, False),
            ("wrong content type", request("POST", "/lookup", ["Content-Type: text/plain"], b"hello"), {400, 415}, False),
            ("invalid JSON batch", request("POST", "/lookup", big_json_head, b"[{nope"), {200, 400, 422}, False),
            ("empty batch body", request("POST", "/lookup", big_json_head + ["Content-Length: 0"]), {200, 400, 422}, False),
            ("GET with a body", request("GET", "/health", [], b"hello"), {200}, False),
            ("HTTP/1.0 without Host", b"GET /health HTTP/1.0\r\n\r\n", {200}, False),
            ("absolute-form target", b"GET http://127.0.0.1/health HTTP/1.1\r\n" + H.encode() + b"\r\n", {200, 400}, False),
            ("bare LF line ends", b"GET /health HTTP/1.1\n" + H.encode().replace(b"\r", b"") + b"\n", {200, 400}, False),
            ("method of 10 KB", ("X" * 10_000 + " /health HTTP/1.1\r\n" + H + "\r\n").encode(), {400, 405, 414, 431}, True),
            ("DELETE /lookup", request("DELETE", "/lookup"), {405}, False),
            ("PUT /health", request("PUT", "/health", [], b"x"), {405}, False),
            ("PATCH a tile", request("PATCH", TILES[0], [], b"x"), {405}, False),
            ("POST /health", request("POST", "/health", [], b"x"), {405}, False),
            ("TRACE /", request("TRACE", "/"), {405}, False),
            ("CONNECT", b"CONNECT 127.0.0.1:22 HTTP/1.1\r\n" + H.encode() + b"\r\n", {400, 405, 404}, True),
            ("unknown method FOO", request("FOO", "/health"), {400, 405}, False),
            ("lowercase method", request("get", "/health"), {400, 405}, False),
            ("HEAD /health", request("HEAD", "/health"), {200}, False),
        ]
        traversal = ["/viewer/../../etc/passwd", "/viewer/%2e%2e/%2e%2e/etc/passwd", "/viewer/..%2f..%2f..%2fetc%2fpasswd",
                     "/viewer/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/viewer/....//....//etc/passwd",
                     "/viewer/..%5c..%5c..%5cetc%5cpasswd", "/viewer/%252e%252e/%252e%252e/etc/passwd",
                     "/viewer//etc/passwd", "/viewer/%2fetc%2fpasswd", "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
                     "/fonts/..%2f..%2f..%2fetc%2fpasswd/0-255.pbf", "/fonts/Noto/..%2f..%2f..%2f..%2fetc%2fpasswd",
                     "/styles/..%2f..%2f..%2fetc%2fpasswd", "/styles/%2e%2e%2f%2e%2e%2fCargo.toml",
                     "/viewer/../Cargo.toml", "/viewer/%2e%2e/Cargo.toml"]
        for p in traversal:
            cases.append((f"traversal {p}", request("GET", p), {400, 403, 404}, False))
        sem = asyncio.Semaphore(16)
        results = {}
        slow = []

        async def run(case):
            name, raw, expect, allow_close = case
            async with sem:
                t_case = now()
                method = "HEAD" if raw.startswith(b"HEAD ") else "GET"  # a HEAD answer has no body to read
                resp, outcome, conn = await self.exchange(raw, f"malformed: {name}", method,
                                                          timeout=5.0, allow_5xx=(505,) if 505 in expect else ())
                second = None
                if conn and resp is not None and name.startswith("Content-Length and Transfer-Encoding"):
                    try:
                        second = await conn.read_response(timeout=1.5)
                        self.tally.response(second, f"malformed: {name} (second answer)")
                    except (Closed, TimeoutError, BadResponse):
                        second = None
                if conn:
                    conn.close()
                results[name] = (resp, outcome, expect, allow_close, second)
                if now() - t_case > 1.0:
                    slow.append(f"{name} ({now() - t_case:.1f} s)")

        smuggle = request("POST", "/lookup", big_json_head + ["Content-Length: 4", "Transfer-Encoding: chunked"],
                          b"0\r\n\r\n" + request("GET", "/health"))
        cases.append(("Content-Length and Transfer-Encoding (smuggling)", smuggle, {400}, True))
        await asyncio.gather(*(run(cs) for cs in cases))
        bad, leaks = [], []
        for name, (resp, outcome, expect, allow_close, second) in results.items():
            if resp is None:
                ok = (allow_close and outcome == "closed") or (name == "HTTP/2 preface" and outcome == "HTTP/2 frames")
                got = outcome
            else:
                ok = resp.status in expect
                got = str(resp.status)
                if b"root:x:0:0" in bytes(resp.body) or b"[package]" in bytes(resp.body):
                    leaks.append(name)
            if second is not None:
                ok = False
                got += f" and then {second.status} to the smuggled request"
            if not ok:
                bad.append(f"{name}: got {got}, expected {sorted(expect)}")
        if slow:
            print(f"  answered after more than a second: {', '.join(slow)}")
        self.c.check(f"malformed and oversized requests answered as expected ({len(results) - len(bad)}/{len(results)})",
                     not bad, "; ".join(bad))
        self.c.check("path traversal never serves a file from outside", not leaks, ", ".join(leaks))

    async def fuzz(self, seconds=15.0, workers=8, per_worker=2500):
        rnd = random.Random(20261201)
        weird_raw = ["%ff%fe", "%00", "%", "%zz", "%c0%ae%c0%ae", "%e4%b8", "%2e%2e%2f"]
        weird = ["", "0", "-0", "1e309", "-1e309", "nan", "NaN", "inf", "-Infinity", "1e-400", "0x1A", "118,78",
                 "１１８.７８", "118.78.1", "9" * 400, "abc", "null", "[]", "{}", "true", "'; DROP TABLE grids; --",
                 "<script>alert(1)</script>", "../../etc/passwd", "\u202e", "\U0001F600", "a" * 3000, "-180",
                 "180.0000001", "90.0000001", "-90.5", "1.7976931348623157e308", "4.9e-324", "+118.78", " 118.78",
                 "118.78\t", "2026-01-01T00:00:00Z", "9999-99-99", "-1", "4294967296", "18446744073709551616"]

        def val(number_range=None):
            k = rnd.random()
            if k < 0.12:
                return rnd.choice(weird_raw)
            if k < 0.5:
                return q(rnd.choice(weird))
            if number_range:
                return f"{rnd.uniform(*number_range):.6f}"
            return str(rnd.randint(-10, 10 ** rnd.randint(1, 20)))

        def lonlat():
            return val((118.6, 119.0)), val((31.9, 32.2))

        def path():
            k = rnd.random()
            if k < 0.3:
                lon, lat = lonlat()
                parts = [f"lon={lon}", f"lat={lat}"]
                if rnd.random() < 0.3:
                    parts.append("crs=" + rnd.choice(["gcj02", "bd09", "EPSG:4326", "EPSG:3857", val()]))
                if rnd.random() < 0.2:
                    parts.append("at=" + val())
                if rnd.random() < 0.15:
                    parts.append(f"lon={val()}")
                rnd.shuffle(parts)
                if rnd.random() < 0.1:
                    parts.pop()
                return "/lookup?" + "&".join(parts)
            if k < 0.45:
                return f"/search?q={val() if rnd.random() < 0.7 else q(rnd.choice(['明玉', '3201', '网格', '井盖']))}&limit={val()}"
            if k < 0.7:
                coll = rnd.choice(["unit", "components", "district", "street", "community", "nope", "%ff", ".."])
                n = rnd.choice([4, 4, 4, 3, 5, 6])
                bbox = ",".join(val((118.0, 120.0)) if rnd.random() < 0.7 else val((31.0, 33.0)) for _ in range(n))
                parts = [f"bbox={bbox}", f"limit={val()}"]
                if rnd.random() < 0.3:
                    parts.append(f"offset={val()}")
                if rnd.random() < 0.2:
                    parts.append(f"datetime={val()}")
                if rnd.random() < 0.1:
                    parts.append(f"f={val()}")
                return f"/ogc/collections/{coll}/items?" + "&".join(parts)
            if k < 0.9:
                src = rnd.choice(["grids", "components", "grids,components", "nope", "%ff", "..", "grids,grids"])
                z = rnd.choice([str(rnd.randint(0, 24)), "-1", "99", "4294967296", "a", "14.5", ""])
                zi = int(z) if z.isdigit() and int(z) < 30 else 14
                x = rnd.choice([str(rnd.randint(0, (1 << zi) - 1)), "-1", str(1 << zi), "18446744073709551616", "x"])
                y = rnd.choice([str(rnd.randint(0, (1 << zi) - 1)), "-1", str(1 << zi), "1e3", "y.pbf"])
                ext = rnd.choice(["", "", "", ".mvt", ".pbf", ".json"])
                return f"/tiles/{src}/{z}/{x}/{y}{ext}"
            lon, lat = lonlat()
            return rnd.choice([
                f"/grids/{val()}", f"/grids/{val()}/stats", f"/components/{val()}",
                f"/components/nearest?lon={lon}&lat={lat}&limit={val()}&radius_m={val()}",
                f"/stats?level={val()}", f"/ogc/collections/unit/items/{val()}", f"/fonts/{val()}/{val()}",
                f"/styles/{val()}", f"/tiles/{val()}", f"/classes?x={val()}"])

        problems, slowest = [], [0.0, ""]
        answered = [0]
        end = now() + seconds

        def pick():
            p = path()
            return p, p

        async def one(client, p):
            self.tally.request()
            resp = await client.ask(request("GET", p), keep=256 << 10)
            answered[0] += 1
            self.tally.response(resp, f"fuzz GET {p[:200]}")
            if resp.seconds > slowest[0]:
                slowest[:] = [resp.seconds, p[:120]]

        clients = await self.keep_alive_workers(workers, end, pick, one, problems, per_worker)
        sent = answered[0] + len(problems)
        print(f"  {sent} fuzzed requests on {sum(k.connects for k in clients)} connections "
              f"({sum(k.retries for k in clients)} resent after a keep-alive close); "
              f"slowest {slowest[0] * 1000:.0f} ms ({slowest[1]})")
        self.c.check("fuzzed queries all answered within 5 s", answered[0] > 0 and not problems,
                     f"{answered[0]} answered, {len(problems)} not: " + "; ".join(problems[:10]))

    async def crs(self, seconds=10.0, workers=16):
        pid = self.server.pid
        rnd = random.Random(4490)
        seen_files = []
        snapshots = [0]  # /proc/PID/fd listings that showed the server's descriptors
        stop_fd = threading.Event()

        def watch_fds():
            while not stop_fd.is_set():
                targets = fd_targets(pid)
                snapshots[0] += bool(targets)
                seen_files.extend(t for t in targets if "/etc/hosts" in t or "/etc/passwd" in t)
                stop_fd.wait(0.02)

        fdw = threading.Thread(target=watch_fds, daemon=True)
        fdw.start()
        wrong, wrong_kinds = [], Counter()
        answered = [0]

        async def one(client, item):
            crs, lon, lat, kind = item
            path = f"/lookup?lon={lon}&lat={lat}&crs={q(crs)}"
            self.tally.request()
            resp = await client.ask(request("GET", path))
            answered[0] += 1
            self.tally.response(resp, f"crs {crs[:60]}")
            doc = resp.json() if resp.status >= 400 else None
            err = doc.get("error") if isinstance(doc, dict) else None
            if kind == "hostile" or kind == "unknown":
                ok = resp.status == 400 and err == "unknown_crs"
            elif kind == "core":
                ok = resp.status == 200 or (resp.status == 400 and err not in (None, "unknown_crs"))
            elif kind == "legit":
                ok = resp.status == 200
            else:
                ok = resp.status < 500
            if not ok:
                wrong_kinds[kind] += 1
                if len(wrong) < 400:
                    wrong.append(f"{crs[:70]} ({kind}) -> {resp.status} {err}")

        def pick():
            k = rnd.random()
            if k < 0.45:
                code = rnd.randint(2000, 9999)
                kind = "core" if in_ranges(code, CORE_DOCUMENTED) else \
                    "maybe" if in_ranges(code, self.documented) else "unknown"
                item = f"EPSG:{code}", 118.78, 32.06, kind
            elif k < 0.9:
                item = rnd.choice(HOSTILE_CRS), 118.78, 32.06, "hostile"
            else:
                item = rnd.choice(LEGIT_CRS) + ("legit",)
            return item[0], item

        # 1. Under strace, a short burst of the hostile strings: no file may be
        # opened. Network calls are traced too, to see that strace saw the
        # requests at all (a trace with no file call proves nothing otherwise).
        straced = None
        if shutil.which("strace") and os.environ.get("HOSTILE_STRACE", "1") != "0":
            straced = await self.strace_burst(pid, one, wrong)
        else:
            print("  note: strace not available (or HOSTILE_STRACE=0): only /proc/PID/fd snapshots and the log are checked")

        # 2. Rotating codes and strings from `workers` connections for `seconds`.
        t0 = now()
        problems = []
        clients = await self.keep_alive_workers(workers, t0 + seconds, pick, one, problems)
        t1 = now()
        stop_fd.set()
        fdw.join(5)
        await asyncio.sleep(0.5)
        early = self.monitor.between(t0 + 1, t0 + 3)
        late = self.monitor.between(t1 - 2, t1 + 0.5)
        e_kib, l_kib = mean(early), mean(late)
        print(f"  {answered[0]} requests answered (under strace and) with rotating crs in {t1 - t0:.1f} s on "
              f"{sum(k.connects for k in clients)} connections, {len(problems)} not; RSS {fmt_mib(e_kib)} -> "
              f"{fmt_mib(l_kib)}; {snapshots[0]} fd snapshots")
        self.c.check("crs: raw PROJ strings and WKT get 400 unknown_crs; EPSG codes outside the documented set get "
                     "400 unknown_crs; documented ones work", not wrong,
                     f"{sum(wrong_kinds.values())} wrong answers {dict(wrong_kinds)}, e.g. " + "; ".join(wrong[:6]))
        self.c.check("crs: every request answered within 5 s", answered[0] > 0 and not problems,
                     f"{answered[0]} answered; " + "; ".join(problems[:5]))
        self.c.check("crs: memory stays flat under rotating codes (late mean <= early mean + 10% + 32 MiB)",
                     bool(early and late) and l_kib <= e_kib * 1.10 + 32 * 1024,
                     f"{fmt_mib(e_kib)} -> {fmt_mib(l_kib)}")
        self.c.check("crs: the server never holds /etc/hosts or /etc/passwd open (fd snapshots every 20 ms)",
                     snapshots[0] > 0 and not seen_files,
                     f"{snapshots[0]} snapshots of the server's descriptors, seen {sorted(set(seen_files))}")
        if straced is not None:
            net, files = straced
            self.c.check("crs: under strace the server touches no file named in a crs",
                         net > 0 and not files,
                         f"{net} network calls traced (0: strace saw nothing); {len(files)} file calls, e.g. {files[:3]}")
        # The access log names the paths asked for (the traversal attempts ask
        # for /etc/passwd): only the other lines count, e.g. PROJ's messages
        # about a grid file it tried to read.
        said = [line.strip() for line in self.server.log_text().splitlines()
                if ("/etc/hosts" in line or "/etc/passwd" in line) and "wangge::access" not in line]
        self.c.check("crs: the server log (but the access log) never mentions /etc/hosts or /etc/passwd", not said,
                     f"{len(said)} lines, e.g. " + " | ".join(x[:160] for x in said[:3]))

    async def strace_burst(self, pid, one, wrong):
        """Every hostile crs string three times on one connection, the server
        under `strace -e trace=%file,%network`: (network calls traced, file
        calls naming /etc/hosts or /etc/passwd), or None if strace could not
        attach."""
        out = os.path.join(self.workdir, "strace.txt")
        st = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=%file,%network", "-o", out, "-p", str(pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        await asyncio.sleep(1.0)
        if st.poll() is not None:
            print(f"  note: strace could not attach ({st.stderr.read().decode(errors='replace').strip()[:200]}); skipped")
            return None
        client = KeepAlive(self.open)
        try:
            for i in range(3 * len(HOSTILE_CRS)):
                await one(client, (HOSTILE_CRS[i % len(HOSTILE_CRS)], 118.78, 32.06, "hostile"))
        except KeepAlive.ERRORS as e:
            wrong.append(f"under strace: {type(e).__name__} {e}")
        finally:
            client.close()
        await asyncio.sleep(0.3)
        st.send_signal(signal.SIGINT)
        try:
            st.wait(10)
        except subprocess.TimeoutExpired:
            st.kill()
            st.wait(5)
        net, files = 0, []
        with open(out, errors="replace") as f:
            for line in f:
                m = STRACE_CALL.match(line)
                if not m:
                    continue
                if m.group(1) in NETWORK_CALLS:
                    net += 1  # a response body may quote the crs: these lines are not file calls
                elif "/etc/hosts" in line or "/etc/passwd" in line:
                    files.append(line.strip())
        return net, files

    async def slowloris(self, n=1000):
        ht = self.L["header_timeout"]
        bound = ht + SLACK
        limit = bound + 3
        sem = asyncio.Semaphore(200)
        results = []
        first = b"GET /lookup?lon=118.78&lat=32.06 HTTP/1.1\r\nHost: 127.0.0.1\r\n"

        async def one(i):
            async with sem:
                try:
                    conn = await self.open(timeout=10)
                except (OSError, TimeoutError) as e:
                    results.append(("connect failed", 0.0, str(e)))
                    return
            self.tally.request()
            t0 = now()
            # One in fifty sends even its request line a byte at a time.
            pending = [first[j:j + 1] for j in range(len(first))] if i % 50 == 0 else [first]
            k = 0
            answered = None
            try:
                while now() - t0 < limit:
                    piece = pending.pop(0) if pending else f"X-Slow-{k}: {k}\r\n".encode()
                    k += 1
                    try:
                        await conn.send(piece, 2)
                    except (Closed, TimeoutError):
                        break
                    try:
                        data = await conn.recv(1.0)
                    except TimeoutError:
                        continue
                    if not data:
                        break
                    conn.buf += data
                    answered = await self.absorb(conn, "slowloris (answer before the headers ended)")
                    if await conn.wait_closed(1.0):
                        break
                closed = conn.server_closed()
                results.append(("closed" if closed else "open", now() - t0, answered.status if answered else None))
            finally:
                conn.close()

        await asyncio.gather(*(one(i) for i in range(n)))
        outcomes = Counter(r[0] for r in results)
        closed_times = [r[1] for r in results if r[0] == "closed"]
        late = [r for r in results if r[0] == "closed" and r[1] > bound]
        answers = Counter(r[2] for r in results if r[2] is not None)
        self.timeout_closes["slowloris"] += len(closed_times)
        print(f"  {n} slow connections: {dict(outcomes)}; closed after {quantile(closed_times, 0.5):.1f} s median, "
              f"{max(closed_times, default=0):.1f} s max; answers {dict(answers)}")
        self.c.check(f"slowloris: every slow connection closed within header timeout + {SLACK:.0f} s ({bound:.0f} s)",
                     outcomes.get("closed", 0) == n and not late,
                     f"{outcomes.get('open', 0)} still open after {limit:.0f} s, {len(late)} closed late, "
                     f"{outcomes.get('connect failed', 0)} could not connect")

    async def idle(self, n=2000):
        it, cap = self.L["idle_timeout"], self.L["max_connections"]
        bound = it + SLACK
        pid = self.server.pid
        results = []
        held = [0, 0]  # now, peak (connections open and neither refused nor closed)
        server_sockets = [0]
        stop = threading.Event()

        def count_sockets():
            while not stop.is_set():
                server_sockets[0] = max(server_sockets[0], sum(1 for t in fd_targets(pid) if t.startswith("socket:")))
                stop.wait(0.2)

        sampler = threading.Thread(target=count_sockets, daemon=True)
        sampler.start()
        sem = asyncio.Semaphore(200)

        async def one(i):
            async with sem:
                try:
                    conn = await self.open(timeout=10)
                except (OSError, TimeoutError) as e:
                    results.append(("refused", 0.0, f"connect: {type(e).__name__}"))
                    return
            held[0] += 1
            held[1] = max(held[1], held[0])
            t_open = now()
            outcome = None
            try:
                if i % 2 == 0:  # a keep-alive connection that asked once, then says nothing
                    self.tally.request()
                    try:
                        await conn.send(request("GET", "/health"), 5)
                        resp = await conn.read_response(timeout=8)
                        self.tally.response(resp, "idle flood: GET /health")
                        if resp.status == 503:
                            outcome = ("refused", now() - t_open, "503")
                    except Closed as e:  # the 503 and its close can reach us as a reset before we read it
                        outcome = ("refused", now() - t_open, "reset" if conn.reset else f"closed ({e})")
                    except (TimeoutError, BadResponse) as e:  # neither served nor refused
                        outcome = ("no answer", now() - t_open, type(e).__name__)
                if outcome is None:
                    last = now()
                    deadline = last + bound + 3
                    while now() < deadline:
                        try:
                            data = await conn.recv(deadline - now())
                        except TimeoutError:
                            break
                        if not data:
                            break
                        conn.buf += data
                        resp = await self.absorb(conn, "idle flood: unasked answer")
                        if resp is not None and resp.status == 503:
                            outcome = ("refused", now() - t_open, "503")
                            break
                    if outcome is None:
                        outcome = ("closed" if conn.server_closed() else "open", now() - last,
                                   "reset" if conn.reset else "")
                if outcome[0] == "refused" and outcome[2] in ("503",) and not await conn.wait_closed(2.0):
                    outcome = ("503 but left open", outcome[1], outcome[2])
                results.append(outcome)
            finally:
                held[0] -= 1
                conn.close()

        t0 = now()
        await asyncio.gather(*(one(i) for i in range(n)))
        stop.set()
        sampler.join(5)
        out = Counter(r[0] for r in results)
        why = Counter(r[2] for r in results if r[0] in ("refused", "no answer"))
        closed = [r[1] for r in results if r[0] == "closed"]
        late = [r for r in results if r[0] == "closed" and r[1] > bound]
        self.timeout_closes["idle"] += len(closed)
        print(f"  {n} connections in {now() - t0:.1f} s: {dict(out)} (refused or unanswered: {dict(why)}); at most "
              f"{held[1]} held at once, the server held at most {server_sockets[0]} sockets; idle ones closed after "
              f"{quantile(closed, 0.5):.1f} s median, {max(closed, default=0):.1f} s max")
        # The server says 503 to at least one (the cap is below the flood), and
        # the sampler saw its sockets (0: it saw nothing, which proves nothing).
        self.c.check(f"connection flood: connections beyond --max-connections {cap} are answered 503 or refused",
                     why.get("503", 0) >= 1 and out.get("no answer", 0) == 0 and 0 < server_sockets[0] <= cap + 64,
                     f"{out.get('refused', 0)} refused ({why.get('503', 0)} with a 503), "
                     f"{out.get('no answer', 0)} neither served nor refused, server held up to {server_sockets[0]} sockets")
        self.c.check(f"connection flood: idle connections closed within idle timeout + {SLACK:.0f} s ({bound:.0f} s)",
                     out.get("closed", 0) > 0 and out.get("open", 0) == 0 and out.get("503 but left open", 0) == 0
                     and not late,
                     f"{out.get('closed', 0)} closed, {out.get('open', 0)} still open, "
                     f"{out.get('503 but left open', 0)} left open after a 503, {len(late)} closed late")
        ok = False
        deadline = now() + 10
        while now() < deadline and not ok:
            resp, _ = await self.get("/health")
            ok = resp is not None and resp.status == 200
            if not ok:
                await asyncio.sleep(0.5)
        self.c.check("connection flood: a new client is served right after it", ok)

    async def stalled(self):
        bound = self.L["idle_timeout"] + SLACK
        tasks = []

        async def upload(name, head, first_bytes):
            conn = await self.open()
            self.tally.request()
            await conn.send(head + first_bytes)
            t = now()
            closed = await conn.wait_closed(bound + 3, drain=True)
            if conn.buf:
                await self.absorb(conn, f"stalled: {name}")
            conn.close()
            return name, closed, now() - t, bound

        async def reader_stops(name, raw):
            conn = await self.open(rcvbuf=65536)
            self.tally.request(raw.count(b"HTTP/1.1\r\n"))
            try:
                await conn.send(raw, 3)
            except (Closed, TimeoutError):
                pass
            t = now()
            # Never read while the server writes; watch its end of the
            # connection in /proc/net/tcp until it lets go.
            let_go = await server_lets_go(self.port, [conn], bound + 2)
            secs = now() - t
            conn.close()
            return name, 0 in let_go, secs, bound

        mib1 = 1 << 20
        tasks.append(upload("POST /lookup, Content-Length 1 MiB, 10 bytes sent",
                            request("POST", "/lookup", [JSON_CT, f"Content-Length: {mib1}"]), b'[{"lon":11'))
        tasks.append(upload("POST /lookup, Content-Length 1 MiB, 10 bytes sent (2)",
                            request("POST", "/lookup", [JSON_CT, f"Content-Length: {mib1}"]), b'[{"lon":11'))
        tasks.append(upload("POST /lookup, chunked, one 10-byte chunk sent",
                            request("POST", "/lookup", [JSON_CT, "Transfer-Encoding: chunked"]), b'a\r\n[{"lon":11\r\n'))
        tasks.append(upload("half a request line", b"", b"GET /lookup?lon=118.7"))
        items = request("GET", "/ogc/collections/components/items?limit=10000")
        tasks.append(reader_stops("100 pipelined requests for 4 MB answers, never read", items * 100))
        tasks.append(reader_stops("100 pipelined requests for 4 MB answers, never read (2)", items * 100))
        results = await asyncio.gather(*tasks)
        bad = []
        for name, closed, secs, lim in results:
            print(f"  {name}: {'closed by the server after' if closed else 'still open after'} {secs:.1f} s")
            if closed:
                self.timeout_closes["stalled"] += 1
            if not closed or secs > lim:
                bad.append(f"{name}: {'closed after' if closed else 'open after'} {secs:.1f} s")
        self.c.check(f"stalled uploads and clients that stop reading are closed within idle timeout + {SLACK:.0f} s",
                     not bad, "; ".join(bad))

    async def unread(self, clients=6):
        it, cap, mib = self.L["idle_timeout"], self.L["max_batches"], self.L["max_batch_mib"]
        hold = it + SLACK + 3
        body, points = json_batch((mib - 1) << 20, 1)
        head = request("POST", "/lookup", [JSON_CT, f"Content-Length: {len(body)}"])
        print(f"  {clients} clients each send a {len(body) / (1 << 20):.1f} MiB batch of {points} points and never read "
              f"the answer; {hold:.0f} s hold")
        base_kib = self.monitor.latest_kib()
        conns = []

        async def sender(conn):
            try:
                await conn.send(head + body, hold)
            except (Closed, TimeoutError):
                pass

        t0 = now()
        senders = []
        for _ in range(clients):
            conn = await self.open(rcvbuf=65536)
            self.tally.request()
            conns.append(conn)
            senders.append(asyncio.ensure_future(sender(conn)))
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        # One more batch while the others are in flight: the server says 503.
        resp, out = await self.post("/lookup", b'[{"lon":118.78,"lat":32.06}]', timeout=5)
        self.c.check(f"unread batches: a batch beyond --max-concurrent-batches {cap} gets 503 JSON with Retry-After",
                     resp is not None and resp.status == 503 and bool(resp.header("retry-after")),
                     f"{resp or out} retry-after={resp and resp.header('retry-after')!r}")
        watch_from = now() - t0
        closed_at = {i: watch_from + s for i, s in
                     (await server_lets_go(self.port, conns, hold - watch_from, until_all=False)).items()}
        for s in senders:
            s.cancel()
        await asyncio.gather(*senders, return_exceptions=True)
        statuses = Counter()  # what each unread client finds when it reads at last (None: no answer)
        not_cut = 0  # answered 200 and still held by the server after the hold
        for i, conn in enumerate(conns):
            try:
                r = await conn.read_response("POST", timeout=3.0, keep=4096)
                status = r.status
                if r.status >= 400:
                    self.tally.response(r, "unread batch")
            except (Closed, BadResponse, TimeoutError):
                status = None
            statuses[status] += 1
            not_cut += status == 200 and i not in closed_at
            conn.close()
        peak = self.monitor.peak_kib("unread")
        self.timeout_closes["unread"] += len(closed_at)
        print(f"  answers {dict(statuses)}; closed by the server during the hold: {len(closed_at)} of "
              f"{clients} (after {', '.join(f'{t:.1f}' for t in sorted(closed_at.values()))} s); "
              f"RSS {fmt_mib(base_kib)} before, peak {fmt_mib(peak)}")
        self.c.check(f"unread batches: at most {cap} were answered 200 and the server closed each within the hold "
                     f"({hold:.0f} s, idle timeout {it} s)",
                     statuses.get(200, 0) <= cap and not not_cut and len(closed_at) == clients,
                     f"{statuses.get(200, 0)} answered 200, {not_cut} still being answered and "
                     f"{clients - len(closed_at)} still held after {hold:.0f} s")
        self.c.check("unread batches: server RSS stays within 512 MiB of where it was",
                     0 < base_kib and 0 < peak and peak - base_kib <= 512 * 1024,
                     f"{fmt_mib(base_kib)} -> peak {fmt_mib(peak)} (0: not sampled)")
        ok = False
        deadline = now() + 10
        while now() < deadline and not ok:
            resp, _ = await self.post("/lookup", b'[{"lon":118.78,"lat":32.06}]', timeout=5)
            ok = resp is not None and resp.status == 200
            if not ok:
                await asyncio.sleep(0.5)
        self.c.check("unread batches: batch slots are free again once those clients are gone", ok)

    async def endless(self):
        mib = self.L["max_batch_mib"]
        cap_bytes = 3 * (mib << 20)
        allowed = int(1.25 * (mib << 20)) + (16 << 20)
        conn = await self.open()
        self.tally.request()
        head = request("POST", "/lookup", [JSON_CT, "Transfer-Encoding: chunked"])
        piece, _ = json_batch(256 << 10, 2, start=",", end="")
        piece = piece[:piece.rfind(b"}") + 1]
        chunk = b"%x\r\n" % len(piece) + piece + b"\r\n"
        await conn.send(head + b'1\r\n[\r\n' + b"%x\r\n" % (len(piece) - 1) + piece[1:] + b"\r\n")
        base_kib = self.monitor.latest_kib()
        result = {}

        async def reader():
            try:
                result["resp"] = await conn.read_response("POST", timeout=60, keep=1 << 16)
            except (Closed, BadResponse, TimeoutError) as e:
                result["error"] = f"{type(e).__name__} {e}"

        rt = asyncio.ensure_future(reader())
        t0 = now()
        cut_at = None
        while now() - t0 < 30 and conn.sent < cap_bytes:
            if rt.done() or conn.server_closed():
                cut_at = conn.sent
                break
            try:
                await conn.send(chunk, 5)
            except Closed:
                cut_at = conn.sent
                break
            except TimeoutError:
                cut_at = conn.sent  # the server stopped reading
                break
        sent = conn.sent
        try:
            await asyncio.wait_for(rt, 20)
        except TimeoutError:
            rt.cancel()
        conn.close()
        resp = result.get("resp")
        peak = self.monitor.peak_kib("endless")
        status = resp.status if resp else result.get("error")
        tail = bytes(resp.tail[-300:]) if resp else b""
        print(f"  sent {sent / (1 << 20):.1f} MiB of a chunked body before {'the server cut it' if cut_at else 'giving up'}; "
              f"answer {status}, {resp.length / (1 << 20) if resp else 0:.1f} MiB, ends {tail[-120:]!r}; "
              f"RSS {fmt_mib(base_kib)} -> peak {fmt_mib(peak)}")
        cut_with_error = resp is not None and (
            resp.status == 413 or (resp.status == 200 and b'"error"' in tail))
        self.c.check(f"a body that never ends is cut with 413 or an error entry after about --max-batch-mib {mib}",
                     cut_at is not None and cut_at <= allowed and cut_with_error,
                     f"sent {sent / (1 << 20):.1f} MiB, cut={'yes' if cut_at else 'no'}, answer {status}")
        self.c.check("a body that never ends: server RSS stays within 512 MiB of where it was",
                     0 < base_kib and 0 < peak and peak - base_kib <= 512 * 1024,
                     f"{fmt_mib(base_kib)} -> peak {fmt_mib(peak)} (0: not sampled)")

    async def second_server(self, public_url, metrics_allow):
        """On a server started with --public-url http://grid.test and --metrics-allow 192.0.2.0/24."""
        c = self.c
        if public_url:
            resp, out = await self.get("/tiles/grids", ["Host: evil.example", "X-Forwarded-Host: evil.example"])
            body = bytes(resp.body) if resp else b""
            c.check("with --public-url, a client's Host and X-Forwarded-Host do not change the URLs it is given",
                    resp is not None and resp.status == 200 and b"evil.example" not in body and b"http://grid.test/" in body,
                    f"{resp or out} {body[:200]!r}")
        if metrics_allow:
            resp, out = await self.get("/metrics")
            c.check("/metrics is refused to an address outside --metrics-allow", resp is not None and resp.status in (403, 404),
                    f"{resp or out}")
            resp, out = await self.get("/metrics", ["X-Forwarded-For: 192.0.2.7", "Forwarded: for=192.0.2.7"])
            c.check("/metrics: X-Forwarded-For from a client that is no --trusted-proxy does not get it in",
                    resp is not None and resp.status in (403, 404), f"{resp or out}")

    async def shutdown(self):
        deadline = self.L["shutdown_deadline"]
        body, points = json_batch(2 << 20, 3)
        head = request("POST", "/lookup", [JSON_CT, f"Content-Length: {len(body)}"])
        batch = await self.open()
        self.tally.request()
        quarter = len(body) // 4
        await batch.send(head + body[:quarter])
        result = {}

        async def read_batch():
            try:
                result["resp"] = await batch.read_response("POST", timeout=deadline + SLACK + 5, keep=256 << 20)
            except (Closed, BadResponse, TimeoutError) as e:
                result["error"] = f"{type(e).__name__} {e}"

        reader = asyncio.ensure_future(read_batch())
        stalled = await self.open()
        await stalled.send(request("POST", "/lookup", [JSON_CT, "Content-Length: 1048576"]) + b'[{"lon":11')
        trickle = await self.open()
        await trickle.send(request("POST", "/lookup", [JSON_CT, "Content-Length: 1048576"]) + b"[")
        idle = []
        for _ in range(3):
            cn = await self.open()
            await cn.send(request("GET", "/health"))
            try:
                self.tally.response(await cn.read_response(), "shutdown: keep-alive")
            except (Closed, BadResponse, TimeoutError):
                pass
            idle.append(cn)
        self.tally.request(5)
        await asyncio.sleep(0.3)
        t_sig = now()
        self.server.signal(signal.SIGTERM)
        loop = asyncio.get_running_loop()
        exit_wait = loop.run_in_executor(None, self.server.wait, deadline + SLACK)

        async def send_rest():
            rest = body[quarter:]
            step = len(rest) // 8 + 1
            for i in range(0, len(rest), step):
                try:
                    await batch.send(rest[i:i + step], 5)
                except (Closed, TimeoutError):
                    return
                await asyncio.sleep(0.15)

        async def trickle_on():
            pad = b'{"lon":118.78,"lat":32.06},' * 10
            i = 0
            while now() - t_sig < deadline + SLACK + 1 and not trickle.server_closed():
                try:
                    await trickle.send(pad[i % len(pad):i % len(pad) + 1], 1)
                except (Closed, TimeoutError):
                    return
                i += 1
                await asyncio.sleep(0.5)

        async def new_client():
            await asyncio.sleep(0.7)
            try:
                cn = await self.open(timeout=2)
            except (ConnectionRefusedError, OSError, TimeoutError):
                return "refused"
            try:
                await cn.send(request("GET", "/health"), 2)
                r = await cn.read_response(timeout=2)
                self.tally.response(r, "after SIGTERM")
                return f"answered {r.status}"
            except (Closed, BadResponse):
                return "closed"
            except TimeoutError:
                return "no answer"
            finally:
                cn.close()

        sender = asyncio.ensure_future(send_rest())
        tr = asyncio.ensure_future(trickle_on())
        newc = await new_client()
        rc = await exit_wait
        exit_s = now() - t_sig
        if rc is None:
            self.server.kill()
        await asyncio.gather(sender, tr, return_exceptions=True)
        try:
            await asyncio.wait_for(reader, 5)
        except TimeoutError:
            reader.cancel()
        for cn in [stalled, trickle] + idle:
            cn.close()
        batch.close()
        resp = result.get("resp")
        answers = None
        if resp is not None and resp.complete:
            doc = resp.json()
            answers = len(doc) if isinstance(doc, list) else None
        print(f"  SIGTERM with a {len(body) / (1 << 20):.1f} MiB batch in flight, a stalled and a trickling upload, "
              f"3 idle keep-alive connections: exit status {rc} after {exit_s:.1f} s; the batch: "
              f"{resp if resp else result.get('error')} ends {bytes(resp.tail[-40:]) if resp else b''!r}; "
              f"a new client after the signal: {newc}")
        self.c.check("shutdown: the batch in flight is answered to its end (JSON ending with ']', every point)",
                     resp is not None and resp.status == 200 and resp.complete
                     and bytes(resp.tail).rstrip().endswith(b"]") and answers == points,
                     f"{resp or result.get('error')}, {answers} of {points} answers")
        self.c.check("shutdown: no new connection is served after SIGTERM",
                     newc == "refused" or newc == "closed" or newc.startswith("answered 503"), newc)
        self.c.check(f"shutdown: exits with status 0 within --shutdown-deadline-secs {deadline} + {SLACK:.0f} s "
                     "despite a stalled and a trickling upload",
                     rc == 0 and exit_s <= deadline + SLACK, f"status {rc} after {exit_s:.1f} s")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/wangge")
    ap.add_argument("--data", default="data/sample")
    ap.add_argument("--log", default="target/hostile/server.log")
    ap.add_argument("--only", default="", help="comma-separated phases to run (" + ",".join(PHASES) + ")")
    a = ap.parse_args()
    install_exit_on_signals()
    only = set(a.only.split(",")) - {""} if a.only else set(PHASES)
    workdir = os.path.dirname(os.path.abspath(a.log))
    os.makedirs(workdir, exist_ok=True)
    if os.path.exists(a.log):
        os.remove(a.log)
    t_start = now()
    checks = Checks("hostile")
    tally = Tally()

    fd_limit = raise_fd_limit(16384)
    limits = {k: v for k, (_, v) in LIMITS.items()}
    idle_n, slow_n = 2000, 1000
    if fd_limit < 2600:  # scale the floods to what this process may open
        idle_n = max(200, fd_limit - 600)
        slow_n = min(slow_n, idle_n // 2)
        limits["max_connections"] = idle_n * 3 // 4
        print(f"note: open file limit {fd_limit}: {idle_n} idle and {slow_n} slow connections, "
              f"--max-connections {limits['max_connections']}")

    if not os.access(a.bin, os.X_OK):
        checks.check(f"{a.bin} exists", False, "build it with `cargo build --release --locked`")
        print(checks.closing_line())
        return 1
    known = serve_flags(a.bin)
    argv = [a.bin, "serve", a.data, "--bind", HOST, "--port", "0"]
    missing = [f for f in ["--public-url", "--metrics-allow"] if f not in known]
    for k, (flag, _) in LIMITS.items():
        if flag in known:
            argv += [flag, str(limits[k])]
        else:
            missing.append(flag)
    checks.check("serve has the hardening flags", not missing,
                 f"`wangge serve --help` lacks {' '.join(missing)}: running without them" if missing else "")
    print("server:", " ".join(argv))
    server = start_server(argv, a.log)
    if server is None:
        checks.check("the server starts", False)
        print(checks.closing_line())
        return 1
    monitor = RssMonitor(server.pid)
    monitor.start()
    normal = NormalClient(server.port, tally)
    attack = Attack(server, limits, tally, checks, monitor, workdir)
    servers = [server]  # the watchdog ends every one of them
    dog = watchdog(float(os.environ.get("HOSTILE_MAX_SECONDS", "300")), lambda: [s.kill() for s in servers])
    alive_during_attacks = True
    try:
        async def attacks():
            await attack.phase("basics", attack.basics)  # always: it also reads the documented crs set
            normal.start()
            for name, call in [("malformed", attack.malformed), ("fuzz", attack.fuzz), ("crs", attack.crs),
                               ("slowloris", lambda: attack.slowloris(slow_n)), ("idle", lambda: attack.idle(idle_n)),
                               ("stalled", attack.stalled), ("unread", attack.unread), ("endless", attack.endless)]:
                if name not in only:
                    continue
                if not server.alive():
                    break
                await attack.phase(name, call)
            await asyncio.sleep(0.5)

        asyncio.run(attacks())
        alive_during_attacks = server.alive()
        normal.halt.set()
        normal.join(10)
        if "shutdown" in only and server.alive():
            asyncio.run(attack.phase("shutdown", attack.shutdown))
            # A second server: --public-url and --metrics-allow hold against
            # Host and X-Forwarded-For from a client; SIGINT ends it cleanly.
            extra = []
            if "--public-url" in known:
                extra += ["--public-url", "http://grid.test"]
            if "--metrics-allow" in known:
                extra += ["--metrics-allow", "192.0.2.0/24"]  # a documentation network: loopback is not in it
            s2 = start_server(argv + extra, a.log)
            if checks.check("a second server starts (--public-url, --metrics-allow)", s2 is not None):
                servers.append(s2)
                rc = None
                try:
                    second = Attack(s2, limits, tally, checks, monitor, workdir)
                    asyncio.run(second.phase("second server", lambda: second.second_server(
                        "--public-url" in known, "--metrics-allow" in known)))
                    s2.signal(signal.SIGINT)
                    rc = s2.wait(limits["shutdown_deadline"] + SLACK)
                finally:
                    s2.kill()
                checks.check("shutdown: SIGINT ends an idle server with status 0", rc == 0, f"status {rc}")
    finally:
        normal.halt.set()
        monitor.halt.set()
        server.kill()
        dog.cancel()

    # ---- verdicts over the whole run
    c = checks
    print("== the whole run")
    c.check("the server stayed up through the attacks", alive_during_attacks,
            "" if alive_during_attacks else f"it exited with status {server.proc.returncode}")
    gap = normal.max_gap()
    lat = normal.latencies
    c.check("normal client: every answer 200, none missing", normal.requests > 0 and not normal.problems,
            f"{len(normal.problems)} problems, e.g. " + "; ".join(normal.problems[:5]))
    c.check("normal client: never more than 5 s without an answer", normal.ok_times != [] and gap <= 5.0,
            f"longest gap {gap:.1f} s")
    peak = monitor.peak_kib()
    c.check(f"server RSS stays below {fmt_mib(RSS_LIMIT_KIB)}", 0 < peak <= RSS_LIMIT_KIB, f"peak {fmt_mib(peak)}")
    log = server.log_text()
    panics = [line for line in log.splitlines() if "panicked" in line]
    c.check("the server log has no panic", not panics, "; ".join(panics[:3]))
    # The malformed, fuzz and crs phases are mostly errors: if one ran, the
    # promises about error bodies were put to the test (none seen: they were not).
    errors = tally.classes["4xx"] + tally.classes["5xx"]
    need_errors = bool(only & {"malformed", "fuzz", "crs"})
    c.check("every error response is JSON with error and message",
            (errors > 0 or not need_errors) and not tally.bad_error_body,
            f"{errors} error responses seen, {len(tally.bad_error_body)} not JSON, e.g. "
            + " | ".join(tally.bad_error_body[:6]))
    c.check("every error body carries request_id", not tally.no_request_id_body,
            f"{len(tally.no_request_id_body)} without, e.g. " + " | ".join(tally.no_request_id_body[:3]))
    c.check("every response has an x-request-id header", not tally.no_request_id_header,
            f"{sum(tally.no_request_id_statuses.values())} without (by status: "
            + ", ".join(f"{k}: {v}" for k, v in sorted(tally.no_request_id_statuses.items())) + "), e.g. "
            + " | ".join(tally.no_request_id_header[:3]))
    c.check("no 5xx but the documented 503s", not tally.bad_5xx,
            f"{len(tally.bad_5xx)}, e.g. " + " | ".join(tally.bad_5xx[:5]))
    c.check("every 503 has Retry-After", not tally.no_retry_after,
            f"{len(tally.no_retry_after)} without, e.g. " + " | ".join(tally.no_retry_after[:3]))

    print("== summary")
    print(f"  requests sent: {tally.sent} on {attack.connections} connections; responses: {tally.total()} "
          + " ".join(f"{k}={v}" for k, v in sorted(tally.classes.items())))
    print("  statuses: " + " ".join(f"{k}:{v}" for k, v in sorted(tally.statuses.items())))
    print(f"  normal client: {normal.requests} requests on {normal.client.connects} connection(s), slowest answer "
          f"{max(lat, default=0) * 1000:.0f} ms, median {quantile(lat, 0.5) * 1000:.1f} ms, longest gap {gap:.2f} s")
    print(f"  peak RSS {fmt_mib(peak)}; per phase:")
    for name, t0, t1 in attack.windows:
        t1 = t1 or now()
        n0, n1 = max(t0, normal.started_at or t1), min(t1, normal.stopped_at or t1)
        g = f"{normal.max_gap(n0, n1):.2f} s" if n1 > n0 else "-"
        print(f"    {name:10s} {t1 - t0:5.1f} s  peak RSS {fmt_mib(monitor.peak_kib(name)):>9s}  "
              f"normal client longest gap {g}")
    print(f"  connections closed by the server's timeouts: {sum(attack.timeout_closes.values())} "
          f"({', '.join(f'{k} {v}' for k, v in attack.timeout_closes.items())})")
    print(f"  run time {now() - t_start:.0f} s; server log: {a.log}")
    if c.failed:
        lines = log.splitlines()
        other = [line for line in lines if "wangge::access" not in line]
        access = [line for line in lines if "wangge::access" in line]
        print(f"== server log ({a.log}): its last 50 lines other than the access log, then the last 10 access lines")
        print("\n".join(other[-50:]))
        print("\n".join(access[-10:]))
    print(c.closing_line())
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
