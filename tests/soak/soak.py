"""A bounded soak of `wangge serve` on the bundled sample, on loopback.

Mixed load from SOAK_CONNECTIONS (default 8) keep-alive connections for
SOAK_SECONDS (default 180): GET /lookup 70 %, tiles of both sources across
zooms 9-18 20 % (half of them asking for gzip/brotli), small POST batches
(JSON, CSV, NDJSON), /search and /ogc items. The server runs with
--tile-cache-mib SOAK_TILE_CACHE_MIB (default 64; the sample's tiles take
about 7 MiB, so 4 makes the cache evict) and RUST_LOG=SOAK_RUST_LOG (default
"info,wangge::access=warn"); its RSS is sampled every second. Fails if memory keeps
growing (the mean RSS of the last third of the run above the middle third's
by more than 10 % + 20 MiB), on any answer that is not 2xx, an answer slower
than 5 s, a panic in the log, or an unclean exit on SIGTERM.

Usage (normally through tests/soak/run):
    python3 tests/soak/soak.py [--bin target/release/wangge] [--data data/sample] [--log PATH]
Closing line: `soak: N passed, M failed`; exits 1 on any failed check.
"""

import argparse
import asyncio
import math
import os
import random
import sys
import urllib.parse
from collections import Counter, defaultdict

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from wgtest import (LOOPBACK, Checks, KeepAlive, RawConn, RssMonitor, fmt_mib,  # noqa: E402
                    install_exit_on_signals, mean, now, quantile, request, start_server, watchdog)

HOST = LOOPBACK
SLOW_S = 5.0  # an answer slower than this is a problem
SEARCHES = ["3201", "320103", "明玉", "网格", "社区", "街道", "秦淮", "玄武", "井盖", "路灯", "消防栓", "0101"]


def tile_xy(lon, lat, z):
    n = 1 << z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


class Load:
    def __init__(self, port, bounds, seed):
        self.port = port
        self.rnd = random.Random(seed)
        w, s, e, n = bounds
        pad_x, pad_y = (e - w) * 0.2, (n - s) * 0.2
        self.box = (w - pad_x, s - pad_y, e + pad_x, n + pad_y)
        self.tile_box = bounds
        self.latency = defaultdict(list)
        self.statuses = Counter()
        self.problems = []
        self.count = 0
        self.bytes = 0
        self.clients = []

    def point(self):
        w, s, e, n = self.box
        return self.rnd.uniform(w, e), self.rnd.uniform(s, n)

    def next_request(self):
        """(kind, request bytes, method, accepted statuses)."""
        r = self.rnd.random()
        if r < 0.70:
            lon, lat = self.point()
            return "lookup", request("GET", f"/lookup?lon={lon:.6f}&lat={lat:.6f}"), "GET", (200,)
        if r < 0.90:
            z = self.rnd.choices(range(9, 19), weights=[1, 1, 1, 2, 2, 3, 4, 6, 8, 10])[0]
            w, s, e, n = self.tile_box
            x, y = tile_xy(self.rnd.uniform(w, e), self.rnd.uniform(s, n), z)
            src = self.rnd.choice(["grids", "components"])
            headers = ["Accept-Encoding: gzip, br"] if self.rnd.random() < 0.5 else []
            return "tile", request("GET", f"/tiles/{src}/{z}/{x}/{y}", headers), "GET", (200, 204)
        if r < 0.94:
            pts = [self.point() for _ in range(self.rnd.randint(20, 200))]
            fmt = self.rnd.choice(["json", "csv", "ndjson"])
            if fmt == "json":
                body = ("[" + ",".join(f'{{"lon":{a:.6f},"lat":{b:.6f},"id":"{i}"}}' for i, (a, b) in enumerate(pts))
                        + "]").encode()
                ctype = "application/json"
            elif fmt == "csv":
                body = ("id,lon,lat\n" + "".join(f"{i},{a:.6f},{b:.6f}\n" for i, (a, b) in enumerate(pts))).encode()
                ctype = "text/csv"
            else:
                body = "".join(f'{{"lon":{a:.6f},"lat":{b:.6f},"id":"{i}"}}\n' for i, (a, b) in enumerate(pts)).encode()
                ctype = "application/x-ndjson"
            return "batch", request("POST", "/lookup", [f"Content-Type: {ctype}"], body), "POST", (200,)
        if r < 0.97:
            qs = self.rnd.choice(SEARCHES)
            return "search", request("GET", f"/search?q={_quote(qs)}&limit={self.rnd.randint(1, 20)}"), "GET", (200,)
        (a, b), (c, d) = self.point(), self.point()
        coll = self.rnd.choice(["unit", "community", "components"])
        path = (f"/ogc/collections/{coll}/items?bbox={min(a, c):.6f},{min(b, d):.6f},{max(a, c):.6f},{max(b, d):.6f}"
                f"&limit={self.rnd.randint(10, 100)}")
        return "items", request("GET", path), "GET", (200,)

    async def worker(self, end):
        client = KeepAlive(lambda: RawConn.open(HOST, self.port, timeout=5))
        self.clients.append(client)
        try:
            while now() < end:
                kind, raw, method, ok = self.next_request()
                t0 = now()
                try:
                    resp = await client.ask(raw, method, timeout=SLOW_S, keep=1 << 16)
                except KeepAlive.ERRORS as e:
                    self.note(f"{kind}: {type(e).__name__} {e}")
                    continue
                secs = now() - t0
                self.count += 1
                self.bytes += resp.length
                self.statuses[resp.status] += 1
                self.latency[kind].append(secs)
                if resp.status not in ok or not resp.complete:
                    self.note(f"{kind} {raw[:90]!r}: {resp.status} complete={resp.complete} {bytes(resp.body[:120])!r}")
                elif secs > SLOW_S:  # each of send and read is bounded, not the two (and a resend) together
                    self.note(f"{kind} {raw[:90]!r}: answered after {secs:.1f} s")
        finally:
            client.close()

    def note(self, what):
        if len(self.problems) < 1000:
            self.problems.append(what)


def _quote(s):
    return urllib.parse.quote(s, safe="")


async def fetch(port, path, timeout=10):
    """GET `path` on a connection of its own; its Resp."""
    client = KeepAlive(lambda: RawConn.open(HOST, port, timeout=5))
    try:
        return await client.ask(request("GET", path), timeout=timeout, keep=8 << 20)
    finally:
        client.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/wangge")
    ap.add_argument("--data", default="data/sample")
    ap.add_argument("--log", default="target/soak/server.log")
    a = ap.parse_args()
    install_exit_on_signals()
    seconds = float(os.environ.get("SOAK_SECONDS", "180"))
    conns = int(os.environ.get("SOAK_CONNECTIONS", "8"))
    os.makedirs(os.path.dirname(os.path.abspath(a.log)), exist_ok=True)
    if os.path.exists(a.log):
        os.remove(a.log)
    c = Checks("soak")
    if not os.access(a.bin, os.X_OK):
        c.check(f"{a.bin} exists", False, "build it with `cargo build --release --locked`")
        print(c.closing_line())
        return 1
    cache_mib = int(os.environ.get("SOAK_TILE_CACHE_MIB", "64"))
    argv = [a.bin, "serve", a.data, "--bind", HOST, "--port", "0", "--tile-cache-mib", str(cache_mib)]
    # The access log of a million requests would fill the disk: kept at warn
    # unless SOAK_RUST_LOG says otherwise (panics are printed whatever the level).
    env = dict(os.environ, RUST_LOG=os.environ.get("SOAK_RUST_LOG", "info,wangge::access=warn"))
    print(f"server: RUST_LOG={env['RUST_LOG']} {' '.join(argv)}")
    server = start_server(argv, a.log, env=env)
    if server is None:
        c.check("the server starts", False)
        print(c.closing_line())
        return 1
    dog = watchdog(seconds + 180, server.kill)
    monitor = RssMonitor(server.pid, period=1.0)
    monitor.start()
    try:
        try:
            tj = asyncio.run(fetch(server.port, "/tiles/grids"))
            doc = tj.json() if tj.status == 200 else None
            bounds, got = doc.get("bounds") if isinstance(doc, dict) else None, f"{tj} {bytes(tj.body[:200])!r}"
        except KeepAlive.ERRORS as e:
            bounds, got = None, f"{type(e).__name__} {e}"
        if not c.check("GET /tiles/grids answers TileJSON with bounds", isinstance(bounds, list) and len(bounds) == 4,
                       got):
            bounds = [118.76, 32.04, 118.80, 32.08]  # the sample's, to soak on all the same
        load = Load(server.port, bounds, 20261202)
        print(f"soak: {seconds:.0f} s, {conns} connections, tiles within {[round(b, 4) for b in bounds]}")

        async def run():
            t0 = now()
            end = t0 + seconds
            workers = [asyncio.ensure_future(load.worker(end)) for _ in range(conns)]
            last_t, last_n = t0, 0
            while not all(w.done() for w in workers):
                await asyncio.sleep(min(1.0, max(0.05, end - now() + 0.05)))
                if now() - last_t >= 30 or all(w.done() for w in workers):
                    rate = (load.count - last_n) / (now() - last_t)
                    print(f"  {now() - t0:5.0f} s  {load.count:8d} requests  {rate:7.0f}/s  "
                          f"RSS {fmt_mib(monitor.latest_kib())}", flush=True)
                    last_t, last_n = now(), load.count
                if now() > end + 10:
                    break
            for w in workers:
                if not w.done():
                    load.note("a client was still busy 10 s after the end")
                w.cancel()
            for r in await asyncio.gather(*workers, return_exceptions=True):
                if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError):
                    load.note(f"a client failed: {type(r).__name__}: {r}")
            return t0, now()

        t_start, t_end = asyncio.run(run())
        elapsed = t_end - t_start
        try:
            m = asyncio.run(fetch(server.port, "/metrics"))
            metrics = bytes(m.body).decode("utf-8", "replace") if m.status == 200 else f"status {m.status}"
        except KeepAlive.ERRORS as e:
            metrics = f"{type(e).__name__} {e}"
        t_signal = now()
        rc = server.stop(timeout=20)
        stop_s = now() - t_signal
    finally:
        monitor.halt.set()
        server.kill()
        dog.cancel()

    ks = monitor.between(t_start, t_end)
    third = elapsed / 3
    middle = monitor.between(t_start + third, t_start + 2 * third)
    last = monitor.between(t_start + 2 * third, t_end)
    mid_mean, last_mean = mean(middle), mean(last)
    for v in load.latency.values():
        v.sort()
    all_lat = sorted(x for v in load.latency.values() for x in v)
    print("== results")
    print(f"  {load.count} requests in {elapsed:.0f} s on {sum(k.connects for k in load.clients)} connections: "
          f"{load.count / max(elapsed, 1e-9):.0f}/s, {load.bytes / (1 << 20):.0f} MiB received; statuses "
          + " ".join(f"{k}:{v}" for k, v in sorted(load.statuses.items())))
    print(f"  latency: median {quantile(all_lat, 0.5) * 1000:.2f} ms, p99 {quantile(all_lat, 0.99) * 1000:.2f} ms, "
          f"max {max(all_lat, default=0) * 1000:.0f} ms; {sum(all_lat) / max(elapsed, 1e-9):.1f} requests in flight on average")
    for kind in ("lookup", "tile", "batch", "search", "items"):
        v = load.latency.get(kind, [])
        print(f"    {kind:7s} {len(v):8d}  median {quantile(v, 0.5) * 1000:7.2f} ms  p99 {quantile(v, 0.99) * 1000:7.2f} ms")
    print(f"  RSS: start {fmt_mib(ks[0] if ks else 0)}, middle third mean {fmt_mib(mid_mean)}, "
          f"last third mean {fmt_mib(last_mean)}, end {fmt_mib(ks[-1] if ks else 0)}, peak {fmt_mib(max(ks, default=0))}")
    c.check(f"every request answered 2xx, in full, within {SLOW_S:.0f} s", load.count > 0 and not load.problems,
            f"{len(load.problems)} problems, e.g. " + " | ".join(load.problems[:5]))
    c.check("memory does not keep growing (last third mean <= middle third mean + 10% + 20 MiB)",
            bool(middle and last) and last_mean <= mid_mean * 1.10 + 20 * 1024,
            f"{fmt_mib(mid_mean)} -> {fmt_mib(last_mean)}")
    cached = [float(line.split()[-1]) for line in metrics.splitlines() if line.startswith("wangge_tile_cache_bytes")]
    c.check(f"the tile cache stays within --tile-cache-mib {cache_mib} (wangge_tile_cache_bytes in /metrics)",
            bool(cached) and max(cached) <= cache_mib * (1 << 20),
            f"{max(cached) / (1 << 20):.1f} MiB" if cached else f"no wangge_tile_cache_bytes in /metrics: {metrics[:200]!r}",
            info=f"{max(cached) / (1 << 20):.1f} MiB cached" if cached else "")
    log = server.log_text()
    panics = [line for line in log.splitlines() if "panicked" in line]
    c.check("the server log has no panic", not panics, "; ".join(panics[:3]))
    c.check("the server exits with status 0 on SIGTERM", rc == 0, f"status {rc} after {stop_s:.1f} s")
    if c.failed:
        other = [line for line in log.splitlines() if "wangge::access" not in line]
        print(f"== server log ({a.log}), its last 40 lines other than the access log")
        print("\n".join(other[-40:]))
    print(c.closing_line())
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
