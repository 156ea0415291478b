"""The measuring half of benches/compare/run: the same seeded points answered by
PostGIS, shapely and wangge, answers compared, one table printed.

Run through benches/compare/run, which starts PostgreSQL and the wangge server.
"""

import argparse
import csv
import json
import math
import os
import platform
import re
import resource
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np
import psycopg
import shapely

BORDER_M = 0.0001  # points this close to a border (≈1e-9 degrees) are excepted


def json_get(url):
    with urllib.request.urlopen(url) as r:
        return json.loads(r.read())


def conn():
    return psycopg.connect(autocommit=True)


def rss_kib_of(pids):
    out = subprocess.run(["ps", "-o", "rss=", "-p", ",".join(map(str, pids))], capture_output=True, text=True).stdout
    return sum(int(x) for x in out.split() if x.strip().isdigit())


def postgres_rss_kib():
    out = subprocess.run(["ps", "-C", "postgres", "-o", "rss="], capture_output=True, text=True).stdout
    vals = [int(x) for x in out.split() if x.strip().isdigit()]
    return max(vals) if vals else 0


def tiles_covering(bounds, z):
    n = 2**z

    def world(lon, lat):
        return (lon + 180.0) / 360.0, 0.5 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat))) / (2 * math.pi)

    x0, y0 = world(bounds[0], bounds[3])
    x1, y1 = world(bounds[2], bounds[1])
    c = lambda v: min(max(int(v * n), 0), n - 1)
    return [(z, x, y) for y in range(c(y0), c(y1) + 1) for x in range(c(x0), c(x1) + 1)]


def compare_tiles(a, wangge, base):
    """Step 4: the same tiles from wangge (in-process, no tile cache) and from
    PostGIS ST_AsMVT; warm tiles over HTTP with wrk; PMTiles export time."""
    tj = json_get(base + "/tiles/grids")
    level_minzoom = {l["id"]: l["minzoom"] for l in tj["vector_layers"]}
    bounds = tj["bounds"]
    with conn() as c:
        c.execute("ALTER TABLE grids ADD COLUMN g3857 geometry(MultiPolygon, 3857)")
        c.execute("UPDATE grids SET g3857 = ST_Transform(geom, 3857)")
        c.execute("CREATE INDEX grids_g3857 ON grids USING gist (g3857)")
        c.execute("ANALYZE grids")
        if a.components:
            c.execute("ALTER TABLE components ADD COLUMN g3857 geometry(Point, 3857)")
            c.execute("UPDATE components SET g3857 = ST_Transform(geom, 3857)")
            c.execute("CREATE INDEX components_g3857 ON components USING gist (g3857)")
            c.execute("ANALYZE components")
    rng = np.random.default_rng(20261129)
    per_zoom = 3 if a.smoke else 20
    tiles = []
    for z in range(8, 19):
        cover = tiles_covering(bounds, z)
        idx = rng.choice(len(cover), size=min(per_zoom, len(cover)), replace=False)
        tiles += [cover[i] for i in sorted(idx)]
    listing = os.path.join(a.work, "tiles.txt")
    with open(listing, "w") as f:
        f.writelines(f"{z}/{x}/{y}\n" for z, x, y in tiles)

    def wangge_times(source):
        out = subprocess.run([wangge, "tile", "--list", listing, "--sources", source, "--data", a.city],
                             capture_output=True, text=True, check=True).stdout
        return {(int(r["z"]), int(r["x"]), int(r["y"])): (float(r["micros"]), int(r["bytes"])) for r in csv.DictReader(out.splitlines())}

    levels = ["district", "street", "community", "unit"]
    grid_sql = " || ".join(
        f"(SELECT coalesce(ST_AsMVT(q, '{name}', 4096, 'geom'), '') FROM "
        f"(SELECT code, name, ST_AsMVTGeom(g.g3857, b.env, 4096, 64, true) AS geom FROM grids g, b "
        f"WHERE g.level = {lvl} AND %(z)s >= {level_minzoom[name]} AND g.g3857 && b.benv) q)"
        for lvl, name in enumerate(levels)
    )
    env = "WITH b AS (SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS env, ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => 64.0 / 4096) AS benv) "
    comp_sql = (env + "SELECT coalesce(ST_AsMVT(q, 'components', 4096, 'geom'), '') FROM "
                "(SELECT code, class, state, owner, ST_AsMVTGeom(c.g3857, b.env, 4096, 64, true) AS geom "
                "FROM components c, b WHERE c.g3857 && b.benv) q")

    def postgis_times(sql, pick):
        res = {}
        with conn() as c:
            for t in pick:
                z, x, y = t
                c.execute(sql, {"z": z, "x": x, "y": y}).fetchone()  # warm the cache for this tile's pages
                t0 = time.perf_counter()
                data = c.execute(sql, {"z": z, "x": x, "y": y}).fetchone()[0]
                res[t] = ((time.perf_counter() - t0) * 1e6, len(data))
        return res

    results = []  # (source, z, wangge median µs, postgis median µs, wangge median bytes, postgis median bytes)
    w_grids = wangge_times("grids")
    p_grids = postgis_times(env + "SELECT " + grid_sql, tiles)
    sources = [("grids", w_grids, p_grids)]
    if a.components:
        w_comp = wangge_times("components")
        # Raw points at low zoom are tens of MB per tile in PostGIS: fewer of them.
        pick = [t for t in tiles if t[0] >= 13]
        for z in range(8, 13):
            pick += [t for t in tiles if t[0] == z][:3]
        p_comp = postgis_times(comp_sql, pick)
        sources.append(("components", w_comp, p_comp))
    for name, w, p in sources:
        for z in range(8, 19):
            keys = [t for t in p if t[0] == z]
            if not keys:
                continue
            wm = float(np.median([w[t][0] for t in keys]))
            pm = float(np.median([p[t][0] for t in keys]))
            results.append((name, z, len(keys), wm, pm, float(np.median([w[t][1] for t in keys])),
                            float(np.median([p[t][1] for t in keys])), max(w[t][1] for t in keys), max(p[t][1] for t in keys)))

    # Warm: cached tiles over HTTP, gzip, wrk.
    z14 = [t for t in tiles if t[0] == 14]
    lua = os.path.join(a.work, "tiles.lua")
    with open(lua, "w") as f:
        f.write("local t = {" + ",".join(f'"/tiles/grids,components/{z}/{x}/{y}"' for z, x, y in z14) + "}\n")
        f.write("local i = 0\nrequest = function()\n  i = i % #t + 1\n")
        f.write('  return wrk.format("GET", t[i], {["Accept-Encoding"] = "gzip"})\nend\n')
    for z, x, y in z14:
        urllib.request.urlopen(urllib.request.Request(f"{base}/tiles/grids,components/{z}/{x}/{y}", headers={"Accept-Encoding": "gzip"})).read()
    dur = "2s" if a.smoke else "10s"
    wk = subprocess.run(["wrk", "-t2", "-c32", "-d" + dur, "-s", lua, base], capture_output=True, text=True, check=True)
    if re.search(r"Non-2xx or 3xx responses: (\d+)", wk.stdout):
        sys.exit("wrk saw error responses on tiles:\n" + wk.stdout)
    warm_rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", wk.stdout).group(1))
    warm_lat = re.search(r"Latency\s+(\S+)", wk.stdout).group(1)

    # PMTiles export of the pyramid to z16.
    t0 = time.perf_counter()
    subprocess.run([wangge, "export", "pmtiles", os.path.join(a.work, "city.pmtiles"), "--data", a.city,
                    "--minzoom", "8", "--maxzoom", "16"], check=True, capture_output=True)
    export_secs = time.perf_counter() - t0
    export_mb = os.path.getsize(os.path.join(a.work, "city.pmtiles")) / 1e6

    lines = ["", "Vector tiles, the same tiles from both (up to "
             f"{per_zoom} seeded tiles per zoom over the city; PostGIS components at zooms below 13: 3 tiles): "
             "wangge renders in process with no tile cache (`wangge tile --list`, grids with their label layer, "
             "components clustered below zoom 15); PostGIS `ST_AsMVT` + `ST_AsMVTGeom` on `ST_Transform`ed, "
             "GiST-indexed columns, the grid levels shown at the same zooms, components as raw points, "
             "each query run twice and the second timed (client side, psycopg).", "",
             "| source | zoom | tiles | wangge median | PostGIS median | × faster | wangge median / max size | PostGIS median / max size |",
             "|---|---|---|---|---|---|---|---|"]
    for name, z, n, wm, pm, wb, pb, wmax, pmax in results:
        lines.append(f"| {name} | {z} | {n} | {wm / 1000:.2f} ms | {pm / 1000:.2f} ms | {pm / wm:.1f} | "
                     f"{wb / 1024:.0f} / {wmax / 1024:.0f} KB | {pb / 1024:.0f} / {pmax / 1024:.0f} KB |")
    lines.append("")
    lines.append(f"Warm (cached) tiles over HTTP: {warm_rps:,.0f} requests/s (wrk, 2 threads, 32 connections, gzip, "
                 f"{len(z14)} zoom-14 tiles of both sources, mean latency {warm_lat}; wrk shares the 2 cores). "
                 f"PMTiles export, both sources, zooms 8–16: {export_secs:.1f} s, {export_mb:.1f} MB.")
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--city", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--points", type=int, required=True)
    ap.add_argument("--per-point", type=int, required=True)
    ap.add_argument("--server-port", type=int, required=True)
    ap.add_argument("--server-pid", type=int, required=True)
    ap.add_argument("--units", type=int, required=True)
    ap.add_argument("--components", type=int, required=True)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--write")
    a = ap.parse_args()
    wangge = os.path.abspath("target/release/wangge")
    rows = []  # (work, system, figure, unit, seconds-or-None)

    with conn() as c:
        c.execute("CREATE TABLE unit_grids AS SELECT code, geom FROM grids WHERE level = 3")
        c.execute("CREATE INDEX unit_grids_geom ON unit_grids USING gist (geom)")
        c.execute("ANALYZE unit_grids")
        n_units = c.execute("SELECT count(*) FROM unit_grids").fetchone()[0]
        xmin, ymin, xmax, ymax = c.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) e FROM unit_grids) s"
        ).fetchone()

    # The same seeded points for everyone: uniform over the unit grids' bounding box.
    rng = np.random.default_rng(20261129)
    xs = xmin + rng.random(a.points) * (xmax - xmin)
    ys = ymin + rng.random(a.points) * (ymax - ymin)
    xs, ys = xs.tolist(), ys.tolist()
    pts_csv = os.path.join(a.work, "points.csv")
    with open(pts_csv, "w") as f:
        f.write("id,lon,lat\n")
        for i in range(a.points):
            f.write(f"{i},{xs[i]!r},{ys[i]!r}\n")

    # ---- PostGIS, set-based.
    with conn() as c:
        c.execute("CREATE TABLE pts (id int PRIMARY KEY, geom geometry(Point, 4326))")
        with c.cursor().copy("COPY pts (id, geom) FROM STDIN") as cp:
            for i in range(a.points):
                cp.write_row((i, f"SRID=4326;POINT({xs[i]!r} {ys[i]!r})"))
        c.execute("ANALYZE pts")
        q = "SELECT p.id, g.code FROM pts p JOIN unit_grids g ON ST_Contains(g.geom, p.geom)"
        plan = "\n".join(r[0] for r in c.execute("EXPLAIN " + q).fetchall())
        if "unit_grids_geom" not in plan:
            sys.exit("PostGIS does not use the GiST index for the join:\n" + plan)
        t = time.perf_counter()
        pg = dict(c.execute(q).fetchall())
        secs = time.perf_counter() - t
    rows.append(("lookup, set-based", "PostGIS join (ST_Contains, GiST)", a.points / secs, "points/s", None))
    pg_rss = postgres_rss_kib()

    # ---- PostGIS, per-point prepared statements over a pool of 2 connections.
    per = min(a.per_point, a.points)
    counter = [0]

    def worker(lo, hi):
        with conn() as c:
            with c.cursor() as cur:
                for i in range(lo, hi):
                    cur.execute(
                        "SELECT code FROM unit_grids WHERE ST_Contains(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326))",
                        (float(xs[i]), float(ys[i])),
                        prepare=True,
                    )
                    cur.fetchall()
                    counter[0] += 1

    t = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k * per // 2, (k + 1) * per // 2)) for k in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    secs = time.perf_counter() - t
    rows.append(("lookup, one point per query", "PostGIS prepared, 2 connections", per / secs, "points/s", None))

    # ---- shapely 2, STRtree, vectorised.
    with conn() as c:
        recs = c.execute("SELECT code, ST_AsBinary(geom) FROM unit_grids").fetchall()
    codes = np.array([r[0] for r in recs])
    polys = shapely.from_wkb([bytes(r[1]) for r in recs])
    points = shapely.points(xs, ys)
    t = time.perf_counter()
    tree = shapely.STRtree(polys)
    built = time.perf_counter() - t
    t = time.perf_counter()
    pi, gi = tree.query(points, predicate="within")
    secs = time.perf_counter() - t
    shp = dict(zip(pi.tolist(), codes[gi].tolist()))
    rows.append(("lookup, in-process", "shapely 2 STRtree (1 thread)", a.points / secs, "points/s", None))
    py_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    # ---- wangge, in-process on all cores (load excluded, reported by the CLI).
    out_csv = os.path.join(a.work, "wangge.csv")
    r = subprocess.run(
        ["/usr/bin/time", "-f", "RSS %M", wangge, "lookup", "--points", pts_csv, "--out", out_csv, "--data", a.city],
        capture_output=True, text=True, check=True,
    )
    m = re.search(r"([0-9.]+) points/s", r.stderr)
    wg_rss = int(re.search(r"RSS (\d+)", r.stderr).group(1))
    rows.append(("lookup, in-process", "wangge (2 threads)", float(m.group(1)), "points/s", None))
    wg = {}
    border = {}
    with open(out_csv) as f:
        rows_in = csv.DictReader(f)
        # The finest level's code column (the unit grid), as in POST /lookup's CSV.
        finest = [c for c in rows_in.fieldnames if c.endswith("_code") and c != "nearest_code"][-1]
        for row in rows_in:
            i = int(row["id"])
            if row[finest]:
                wg[i] = row[finest]
                border[i] = row["on_border"] == "true" or float(row["border_distance_m"]) < BORDER_M

    # ---- wangge over HTTP.
    base = f"http://127.0.0.1:{a.server_port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(base + "/health", timeout=1).read()
            break
        except Exception:
            time.sleep(0.1)
    t = time.perf_counter()
    req = urllib.request.Request(base + "/lookup", data=open(pts_csv, "rb").read(), headers={"Content-Type": "text/csv"})
    body = urllib.request.urlopen(req, timeout=600).read()
    secs = time.perf_counter() - t
    n_answers = body.count(b"\n") - 1
    if n_answers != a.points:
        sys.exit(f"POST /lookup answered {n_answers} of {a.points} points")
    rows.append(("lookup over HTTP, batch", "wangge POST /lookup (CSV, streamed)", a.points / secs, "points/s", None))
    lua = os.path.join(a.work, "get.lua")
    sample = [(xs[i], ys[i]) for i in range(min(a.points, 1000))]
    with open(lua, "w") as f:
        f.write("local pts = {" + ",".join(f"{{{x!r},{y!r}}}" for x, y in sample) + "}\n")
        f.write("local i = 0\nrequest = function()\n  i = i % #pts + 1\n")
        f.write('  return wrk.format("GET", "/lookup?lon=" .. pts[i][1] .. "&lat=" .. pts[i][2])\nend\n')
    dur = "2s" if a.smoke else "10s"
    w = subprocess.run(["wrk", "-t2", "-c32", "-d" + dur, "-s", lua, base], capture_output=True, text=True, check=True)
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", w.stdout).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", w.stdout)
    if non2xx:
        sys.exit("wrk saw error responses:\n" + w.stdout)
    lat = re.search(r"Latency\s+(\S+)", w.stdout).group(1)
    rows.append(("lookup over HTTP, one point per request", f"wangge GET /lookup (wrk, 32 connections, mean latency {lat})", rps, "requests/s", None))
    server_rss = rss_kib_of([a.server_pid])

    # ---- Agreement with PostGIS (ST_Contains excludes boundary points).
    agree = disagree = excepted = 0
    bad = []
    for i in range(a.points):
        p, w_ = pg.get(i), wg.get(i)
        if p == w_:
            agree += 1
        elif p is None and w_ is not None and border.get(i):
            excepted += 1
        else:
            disagree += 1
            if len(bad) < 5:
                bad.append((i, xs[i], ys[i], p, w_))
    shp_disagree = sum(1 for i in range(a.points) if shp.get(i) != pg.get(i))
    compared = agree + disagree
    pct = 100.0 * agree / compared if compared else 100.0

    # ---- The table.
    by_work = {}
    for work, system, value, unit, _ in rows:
        by_work.setdefault(work, []).append((system, value, unit))
    pg_set = next(v for w_, s, v, u, _ in rows if s.startswith("PostGIS join"))
    lines = []
    lines.append(f"City: {n_units} unit grids (seed 20261129), {a.points:,} seeded points uniform over its bounding box "
                 f"({len(wg):,} inside a grid). Machine: {os.cpu_count()} cores, {platform.machine()}, "
                 f"PostgreSQL 15 + PostGIS {psycopg.connect(autocommit=True).execute('SELECT postgis_lib_version()').fetchone()[0]}, "
                 f"shapely {shapely.__version__}.")
    lines.append("")
    lines.append("| work | system | throughput | × PostGIS join |")
    lines.append("|---|---|---|---|")
    for work, system, value, unit, _ in rows:
        lines.append(f"| {work} | {system} | {value:,.0f} {unit} | {value / pg_set:.1f} |")
    lines.append("")
    lines.append(f"Agreement with PostGIS: {agree:,} of {compared:,} points give the same unit grid ({pct:.2f}%); "
                 f"{excepted} points within {BORDER_M} m of a border excepted (PostGIS `ST_Contains` leaves them out, "
                 f"wangge's border rule assigns them); shapely differs from PostGIS on {shp_disagree} points.")
    lines.append("")
    lines.append(f"Peak resident memory: wangge CLI {wg_rss // 1024} MiB, wangge server {server_rss // 1024} MiB, "
                 f"largest PostgreSQL process {pg_rss // 1024} MiB, Python with shapely {py_rss // 1024} MiB "
                 f"(STRtree build {built:.2f} s).")
    lines += compare_tiles(a, wangge, base)
    table = "\n".join(lines)
    print(table)
    if bad:
        print("\nfirst disagreements (id, lon, lat, postgis, wangge):", *bad, sep="\n  ")
    if disagree:
        sys.exit(f"{disagree} points disagree with PostGIS")
    if a.write:
        text = open(a.write).read()
        start, end = "<!-- compare:start -->", "<!-- compare:end -->"
        cmd = "benches/compare/run" + (f" --unit-grids {a.units}" if a.units != 16000 else "")
        section = f"{start}\nCommand: `{cmd}` ({time.strftime('%Y-%m-%d')}).\n\n{table}\n{end}"
        if start in text:
            text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: section, text, flags=re.S)
        else:
            text += "\n## Side by side with PostGIS and shapely\n\n" + section + "\n"
        open(a.write, "w").write(text)
        print(f"wrote the table into {a.write}")


if __name__ == "__main__":
    main()
