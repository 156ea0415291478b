#!/usr/bin/env python3
"""Checks a running `wangge serve` on the country of make_country.py, with
GEOS (shapely 2) as the oracle and nothing taken from wangge's code:

    tests/realdata/check.py --base URL --data OUT_DIR --report REPORT.json [--repaired]

OUT_DIR is the generator's directory (truth.json, country.json, points.csv
and the source files); REPORT.json the JSON report of the `wangge import`
that made the served data (with --repaired: an import with --repair). The polygons are read back from the
server (OGC API items of every level, paged by their `next` links; a sample
also from /grids/{code}), and every check is made against them:

- stored: the codes stored are those of the files minus the features the
  import must refuse (duplicate, bow-tie; without --repaired also the twisted
  province, the spike and the hole poking out), names as in the source
  (provinces.dbf is GBK without a .cpg), every stored polygon valid (GEOS),
  /grids/{code} the same as the OGC item, every polygon that was not
  repaired the source's (to 1e-9 degrees; ring order, start and direction
  and repeated vertices aside);
- gaps: per parent, the pieces of difference(parent, union(children by code
  prefix)); every piece over 10 m^2 reported once as a `gap` problem with the
  parent's code, a location inside the piece (inside the parent, in no
  child) and its area within 1 % (or 0.5 m^2); no reported gap outside
  GEOS's pieces over 1 m^2 (pieces of 1-10 m^2 may be reported or not);
- overlaps: per level, intersection areas of pairs; every pair over 10 m^2
  reported as `overlap` "a,b" with the total area within 1 % (or 0.5 m^2),
  none invented, locations inside both grids;
- lookups (GET, about 2,000 points of every kind, and the reported
  problems' locations) and the batch (POST text/csv of all of points.csv):
  per level the grids containing the point (a point within 1e-9 degrees of
  a border may have any touching grid or none at that level); chain, grid,
  inside, on_border and the border rule (a point exactly on borders belongs
  to the touching grid with the smallest code), overlaps, parent_mismatches,
  border distance; per CSV row the code of each level, the name, the
  warnings column; outside every grid, the nearest grid of the finest level
  and its distance (great-circle metres, or metres in the equirectangular
  frame at the point: either is accepted, and the summary says which
  matched; ties within 1 m or 0.5 %).

Areas are exact on the sphere (R = 6,371,008.8 m) for polygons with edges
straight in lon/lat (common.area_m2; pyproj is not used). Prints a summary
per check family and exits 1 if any check failed, 2 if the server or the
files could not be read.
"""

import argparse
import csv
import http.client
import io
import json
import math
import os
import random
import sys
import time
import urllib.parse
from collections import defaultdict

import numpy as np
import shapely
from shapely.geometry import Point, shape

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import M_PER_DEG, R_EARTH, area_m2, load_truth, polygons_only, read_geojson, read_shapefile  # noqa: E402

BORDER_EPS_DEG = 1e-9
CSV_HEADER = ["id", "lon", "lat", "inside", "on_border", "province_code", "city_code", "county_code", "grid_name",
              "worker", "border_distance_m", "nearest_code", "nearest_distance_m", "warnings", "error"]


class Fatal(Exception):
    pass


# ---------------------------------------------------------------- results


class Results:
    def __init__(self):
        self.fam = {}
        self.order = []

    def _f(self, family):
        if family not in self.fam:
            self.fam[family] = {"ok": 0, "fail": 0, "skipped": 0, "examples": [], "notes": []}
            self.order.append(family)
        return self.fam[family]

    def check(self, family, ok, what=""):
        f = self._f(family)
        if ok:
            f["ok"] += 1
        else:
            f["fail"] += 1
            if len(f["examples"]) < 12:
                f["examples"].append(what)
        return ok

    def skip(self, family, n=1):
        self._f(family)["skipped"] += n

    def note(self, family, text):
        self._f(family)["notes"].append(text)

    def summary(self):
        failed = 0
        if not self.order:
            return 0
        print()
        print("summary:")
        for name in self.order:
            f = self.fam[name]
            status = "FAIL" if f["fail"] else "ok  "
            extra = f", {f['skipped']} skipped" if f["skipped"] else ""
            print(f"  {status} {name}: {f['ok']} passed, {f['fail']} failed{extra}")
            for n in f["notes"]:
                print(f"         note: {n}")
            for e in f["examples"]:
                print(f"         - {e}")
            if f["fail"] > len(f["examples"]):
                print(f"         ... and {f['fail'] - len(f['examples'])} more")
            failed += f["fail"]
        return failed


# ---------------------------------------------------------------- HTTP


class Client:
    def __init__(self, base):
        u = urllib.parse.urlsplit(base.rstrip("/"))
        if u.scheme != "http" or not u.hostname:
            raise Fatal(f"--base must be an http:// URL, not {base!r}")
        self.host, self.port = u.hostname, u.port or 80
        self.prefix = u.path
        self.conn = None
        self.requests = 0

    def _conn(self, timeout=120):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        return self.conn

    def request(self, method, path, body=None, headers=None):
        if path.startswith("http://"):
            u = urllib.parse.urlsplit(path)
            path = u.path + ("?" + u.query if u.query else "")
        else:
            path = self.prefix + path
        for attempt in range(2):
            try:
                c = self._conn()
                c.request(method, path, body=body, headers=headers or {})
                r = c.getresponse()
                data = r.read()
                self.requests += 1
                return r.status, r.getheader("Content-Type", ""), data
            except (http.client.HTTPException, OSError) as e:
                if self.conn:
                    self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise Fatal(f"{method} {path}: {type(e).__name__}: {e}") from None

    def get_json(self, path):
        status, ctype, data = self.request("GET", path)
        try:
            value = json.loads(data)
        except ValueError:
            value = None
        return status, value, data


# ---------------------------------------------------------------- geometry helpers


def segments_of(g):
    """Boundary segments of a (multi)polygon as an (n, 4) array x1, y1, x2, y2."""
    out = []
    for part in shapely.get_parts(g):
        for ring in [part.exterior] + list(part.interiors):
            c = np.asarray(ring.coords)
            if len(c) > 1:
                out.append(np.hstack([c[:-1], c[1:]]))
    return np.vstack(out) if out else np.zeros((0, 4))


def dist_to_segments_m(px, py, segs):
    """Metres from (px, py) to the nearest segment, in the equirectangular
    frame at the point (metres east = dlon * cos(lat) * M, north = dlat * M)."""
    if len(segs) == 0:
        return math.inf
    kx = M_PER_DEG * math.cos(math.radians(py))
    ax = (segs[:, 0] - px) * kx
    ay = (segs[:, 1] - py) * M_PER_DEG
    bx = (segs[:, 2] - px) * kx
    by = (segs[:, 3] - py) * M_PER_DEG
    return _nearest_to_origin(ax, ay, bx, by)


def _nearest_to_origin(ax, ay, bx, by):
    """Metres from the origin to the nearest of the segments a-b (arrays, metres)."""
    dx, dy = bx - ax, by - ay
    len2 = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(len2 > 0, np.clip(-(ax * dx + ay * dy) / len2, 0.0, 1.0), 0.0)
    qx, qy = ax + t * dx, ay + t * dy
    return float(np.sqrt(np.min(qx * qx + qy * qy)))


def gc_metres(px, py, lon, lat):
    """Great-circle metres (haversine, R = 6,371,008.8 m) from (px, py) to arrays of points."""
    p0, phi = math.radians(py), np.radians(lat)
    hav = np.sin((phi - p0) / 2) ** 2 + math.cos(p0) * np.cos(phi) * np.sin(np.radians(lon - px) / 2) ** 2
    return 2 * R_EARTH * np.arcsin(np.sqrt(np.clip(hav, 0.0, 1.0)))


def _aeqd(px, py, lon, lat):
    """Azimuthal equidistant coordinates (metres) centred on (px, py): the
    distance from the centre is the great-circle distance."""
    p0, phi, lam = math.radians(py), np.radians(lat), np.radians(lon - px)
    c = gc_metres(px, py, lon, lat)
    az = np.arctan2(np.sin(lam) * np.cos(phi), math.cos(p0) * np.sin(phi) - math.sin(p0) * np.cos(phi) * np.cos(lam))
    return c * np.sin(az), c * np.cos(az)


def gc_dist_to_segments_m(px, py, segs):
    """Great-circle metres from (px, py) to the nearest segment, each segment
    taken straight between its ends projected azimuthal-equidistant around the
    point (the border vertices are about a kilometre apart)."""
    if len(segs) == 0:
        return math.inf
    ax, ay = _aeqd(px, py, segs[:, 0], segs[:, 1])
    bx, by = _aeqd(px, py, segs[:, 2], segs[:, 3])
    return _nearest_to_origin(ax, ay, bx, by)


class Level:
    def __init__(self, name, index, grids):
        self.name = name
        self.index = index
        self.codes = sorted(grids)
        self.geoms = [grids[c] for c in self.codes]
        self.pos = {c: i for i, c in enumerate(self.codes)}
        self.tree = shapely.STRtree(self.geoms)
        self.bounds_tree = shapely.STRtree([g.boundary for g in self.geoms])
        self.code_len = len(self.codes[0]) if self.codes else 0
        self._segs = {}
        self.bboxes = np.array([g.bounds for g in self.geoms]) if self.geoms else np.zeros((0, 4))
        for g in self.geoms:
            shapely.prepare(g)

    def segs(self, i):
        if i not in self._segs:
            self._segs[i] = segments_of(self.geoms[i])
        return self._segs[i]

    def sets(self, xs, ys):
        """Per point: the grids whose interior contains it, those within
        BORDER_EPS_DEG of whose boundary it lies, and those on whose boundary
        it lies exactly (lists of level-local indexes)."""
        pts = shapely.points(np.column_stack([xs, ys]))
        inside = [[] for _ in range(len(xs))]
        near = [[] for _ in range(len(xs))]
        if not self.geoms:
            return inside, near, [[] for _ in range(len(xs))]
        pi, gi = self.tree.query(pts, predicate="within")
        for p, g in zip(pi, gi):
            inside[p].append(int(g))
        on = [[] for _ in range(len(xs))]
        pi, gi = self.bounds_tree.query(pts, predicate="dwithin", distance=BORDER_EPS_DEG)
        exact = shapely.distance(pts[pi], np.array([self.geoms[g].boundary for g in gi], dtype=object)) == 0 if len(pi) else []
        for p, g, e in zip(pi, gi, exact):
            near[p].append(int(g))
            if e:
                on[p].append(int(g))
        return inside, near, on

    def caps(self):
        """Per grid: the centre of its bounding box and the largest
        great-circle distance (metres) from it to a vertex."""
        if not hasattr(self, "_caps"):
            b = self.bboxes
            cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
            rad = np.array([float(np.max(gc_metres(cx[i], cy[i], c[:, 0], c[:, 1]))) for i, c in
                            enumerate(shapely.get_coordinates(g) for g in self.geoms)])
            self._caps = (cx, cy, rad)
        return self._caps

    def nearest(self, px, py, metric):
        """(index, metres, {index: metres}) of the grid whose border is
        nearest, by great-circle distance (metric "gc") or in the
        equirectangular frame at the point ("frame"); branch and bound on
        lower bounds from bounding boxes (frame) or caps (gc)."""
        if metric == "frame":
            kx = M_PER_DEG * math.cos(math.radians(py))
            b = self.bboxes
            dx = np.maximum(np.maximum(b[:, 0] - px, px - b[:, 2]), 0) * kx
            dy = np.maximum(np.maximum(b[:, 1] - py, py - b[:, 3]), 0) * M_PER_DEG
            lb = np.sqrt(dx * dx + dy * dy)
            dist = dist_to_segments_m
        else:
            cx, cy, rad = self.caps()
            lb = np.maximum(gc_metres(px, py, cx, cy) - rad, 0)
            dist = gc_dist_to_segments_m
        order = np.argsort(lb, kind="stable")
        best, best_d = None, math.inf
        dists = {}
        for i in order:
            if lb[i] > best_d * 1.006 + 1.0:
                break
            d = dist(px, py, self.segs(int(i)))
            dists[int(i)] = d
            if d < best_d:
                best, best_d = int(i), d
        return best, best_d, dists

    def distance(self, px, py, i, metric):
        return (dist_to_segments_m if metric == "frame" else gc_dist_to_segments_m)(px, py, self.segs(i))


# ---------------------------------------------------------------- loading


def load_grids(client, res):
    status, cols, raw = client.get_json("/ogc/collections")
    if status != 200 or not isinstance(cols, dict):
        raise Fatal(f"GET /ogc/collections: HTTP {status} {raw[:200]!r}")
    level_ids = [c["id"] for c in cols.get("collections", []) if c.get("id") != "components"]
    if not level_ids:
        raise Fatal("GET /ogc/collections lists no grid level")
    grids = {}
    props = {}
    pages = 0
    for li, lid in enumerate(level_ids):
        url = f"/ogc/collections/{lid}/items?limit=500"
        seen = 0
        matched = None
        while url:
            status, page, raw = client.get_json(url)
            pages += 1
            if status != 200 or not isinstance(page, dict):
                raise Fatal(f"GET {url}: HTTP {status} {raw[:200]!r}")
            matched = page.get("numberMatched", matched)
            for f in page.get("features", []):
                p = f.get("properties", {})
                code = p.get("code") or f.get("id")
                try:
                    g = shape(f["geometry"])
                except Exception as e:  # noqa: BLE001 - any unreadable geometry is a failure
                    res.check("stored", False, f"{code}: geometry cannot be read ({e})")
                    continue
                if code in props:
                    res.check("stored", False, f"{code} appears twice in the OGC items")
                grids.setdefault(lid, {})[code] = g
                props[code] = dict(p, _level=lid, _level_index=li)
                seen += 1
            url = next((l["href"] for l in page.get("links", []) if l.get("rel") == "next"), None)
        res.check("stored", matched is None or matched == seen, f"collection {lid}: numberMatched {matched}, {seen} items read")
    res.note("stored", f"read {sum(len(v) for v in grids.values())} grids of levels {level_ids} in {pages} pages of OGC items")
    return level_ids, grids, props


def expected_codes(truth, repaired):
    files = set()
    for lv in ("province", "city", "county"):
        files.update(truth["names"][lv])
    refused = set()
    for t in truth["problems"]:
        if t["kind"] == "bowtie":
            refused.add(t["codes"][0])
        elif t["kind"] in ("self_intersection", "spike", "hole_outside") and not repaired:
            refused.add(t["codes"][0])
    return files - refused, refused


# ---------------------------------------------------------------- checks


def check_stored(client, res, truth, level_ids, grids, props, repaired, rng):
    stored = set(props)
    want, refused = expected_codes(truth, repaired)
    missing = sorted(want - stored)
    extra = sorted(stored - want)
    res.check("stored", not missing, f"grids missing from the server: {missing[:20]}")
    res.check("stored", not extra, f"grids on the server that the import should have refused: {extra[:20]} (refused: {sorted(refused)})")
    names = {}
    for lv in ("province", "city", "county"):
        names.update(truth["names"][lv])
    bad_names = [(c, props[c].get("name"), names[c]) for c in sorted(stored & set(names)) if props[c].get("name") != names[c]]
    res.check("stored", not bad_names, f"names differ from the source (code, stored, source): {bad_names[:6]}")
    for c in sorted(stored):
        lid = props[c]["_level"]
        g = grids[lid][c]
        ok = g.is_valid and g.geom_type in ("Polygon", "MultiPolygon") and not g.is_empty
        res.check("stored", ok, f"{c}: stored polygon not valid for GEOS: {shapely.is_valid_reason(g)}")
    sample = sorted(c for c in stored if len(c) == 2)
    others = sorted(c for c in stored if len(c) != 2)
    sample += rng.sample(others, min(100, len(others)))
    for c in sample:
        status, f, raw = client.get_json(f"/grids/{c}")
        if status != 200 or not isinstance(f, dict):
            res.check("grids endpoint", False, f"GET /grids/{c}: HTTP {status} {raw[:120]!r}")
            continue
        p = f.get("properties", {})
        ok = p.get("code") == c and p.get("name") == names.get(c) and p.get("level") == props[c]["_level"]
        res.check("grids endpoint", ok, f"/grids/{c}: code {p.get('code')}, name {p.get('name')!r} (source {names.get(c)!r}), level {p.get('level')}")
        try:
            same = shape(f["geometry"]).equals_exact(grids[props[c]["_level"]][c], 0)
        except Exception:  # noqa: BLE001
            same = False
        res.check("grids endpoint", same, f"/grids/{c}: geometry differs from its OGC item")


def as_multi(g):
    g = shapely.remove_repeated_points(g, 0.0)
    return shapely.normalize(shapely.MultiPolygon(list(shapely.get_parts(g))))


def check_fidelity(res, data_dir, truth, grids, props, repaired):
    """Stored polygons are the source polygons (up to ring order, start and
    direction, and repeated vertices), except the repaired ones."""
    fam = "source fidelity"
    source = {}
    try:
        rows, _ = read_shapefile(os.path.join(data_dir, "provinces"), "gbk")
        for row, g in rows:
            source.setdefault(row["code"], g)
        for name in ("cities.geojson", "counties.geojson"):
            for p, g in read_geojson(os.path.join(data_dir, name)):
                source.setdefault(p["code"], g)  # the first of a duplicate code
    except (OSError, ValueError, KeyError) as e:
        res.check(fam, False, f"cannot read the source files: {e}")
        return
    repaired_codes = {t["codes"][0] for t in truth["problems"] if t["kind"] in ("self_intersection", "spike", "hole_outside")}
    differ = []
    for code, p in sorted(props.items()):
        if code in repaired_codes or code not in source:
            continue
        got = grids[p["_level"]][code]
        ok = as_multi(got).equals_exact(as_multi(source[code]), 1e-9)
        if not ok:
            a = shapely.get_coordinates(got)
            tree = shapely.STRtree(shapely.points(shapely.get_coordinates(source[code])))
            _, d = tree.query_nearest(shapely.points(a), return_distance=True)
            differ.append(f"{code} ({len(a)} vertices stored, {len(shapely.get_coordinates(source[code]))} in the source, "
                          f"a stored vertex up to {float(d.max()) * M_PER_DEG:.3g} m from every source vertex)")
        res.check(fam, ok, differ[-1] if not ok else "")
    if repaired:
        for code in sorted(repaired_codes & set(props)):
            got = grids[props[code]["_level"]][code]
            src = source.get(code)
            if src is None:
                continue
            change = abs(area_m2(got) - area_m2(polygons_only(shapely.make_valid(src, method="structure"))))
            res.note(fam, f"repaired {code}: stored area differs by {change:.1f} m² from GEOS make_valid(structure) of the source")


def children_by_prefix(level_ids, grids):
    out = []
    for li in range(1, len(level_ids)):
        parent_lv, child_lv = level_ids[li - 1], level_ids[li]
        plen = len(next(iter(grids[parent_lv]))) if grids.get(parent_lv) else 0
        kids = defaultdict(list)
        for c, g in grids.get(child_lv, {}).items():
            kids[c[:plen]].append(c)
        out.append((parent_lv, child_lv, kids))
    return out


def check_gaps(res, report, level_ids, grids):
    reported = defaultdict(list)
    for p in report:
        if p.get("kind") == "gap":
            reported[p.get("code")].append(p)
    parents = {}
    for lv in level_ids:
        parents.update(grids.get(lv, {}))
    pieces = {}
    t0 = time.time()
    for parent_lv, child_lv, kids in children_by_prefix(level_ids, grids):
        for pc, pg in grids.get(parent_lv, {}).items():
            ks = kids.get(pc)
            if not ks:
                continue  # a parent with no children has no coverage to check
            union = shapely.union_all([grids[child_lv][k] for k in ks])
            gap = polygons_only(shapely.difference(pg, union))
            ps = [(q, area_m2(q)) for q in shapely.get_parts(gap)]
            pieces[pc] = (ps, [grids[child_lv][k] for k in ks], pg)
    n_big = sum(1 for ps, _, _ in pieces.values() for _, a in ps if a > 10)
    n_mid = sum(1 for ps, _, _ in pieces.values() for _, a in ps if 1 < a <= 10)
    n_small = sum(1 for ps, _, _ in pieces.values() for _, a in ps if 0 < a <= 1)
    res.note("gaps", f"GEOS: {n_big} gap pieces over 10 m², {n_mid} of 1-10 m², {n_small} under 1 m² (largest "
             f"{max([a for ps, _, _ in pieces.values() for _, a in ps if a <= 1] or [0]):.2e} m²), in {time.time() - t0:.1f} s; "
             f"{sum(len(v) for v in reported.values())} gap problems reported")
    claimed = defaultdict(list)
    for code, probs in sorted(reported.items()):
        for p in probs:
            what = f"gap [{code}] at {p.get('location')} area_m2 {p.get('area_m2')}"
            if code not in parents:
                res.check("gaps", False, f"{what}: no stored grid has this code")
                continue
            loc = p.get("location")
            if not (isinstance(loc, list) and len(loc) == 2):
                res.check("gaps", False, f"{what}: no location [lon, lat]")
                continue
            if "area_m2" not in p or not isinstance(p["area_m2"], (int, float)):
                res.check("gaps", False, f"{what}: no area_m2")
                continue
            pt = Point(loc)
            entry = pieces.get(code)
            if entry is None:
                res.check("gaps", False, f"{what}: the parent has no stored children, so GEOS finds no gap")
                continue
            ps, kids, pg = entry
            res.check("gaps", pg.contains(pt) and not any(k.intersects(pt) for k in kids),
                      f"{what}: the location is not inside the parent and outside every child")
            hit = [i for i, (q, a) in enumerate(ps) if q.intersects(pt)]
            if not hit:
                hit = [i for i, (q, a) in enumerate(ps) if q.distance(pt) < BORDER_EPS_DEG]
            if not hit:
                res.check("gaps", False, f"{what}: GEOS has no gap piece there")
                continue
            i = hit[0]
            a = ps[i][1]
            claimed[(code, i)].append(p)
            if a > 10:
                res.check("gaps", abs(p["area_m2"] - a) <= max(0.01 * a, 0.5), f"{what}: GEOS piece is {a:.1f} m²")
            elif a > 0.5:
                res.check("gaps", True)
            else:
                res.check("gaps", False, f"{what}: GEOS piece there is only {a:.3g} m² (tolerance 1 m²)")
    for code, (ps, _, _) in sorted(pieces.items()):
        for i, (q, a) in enumerate(ps):
            if a <= 10:
                continue
            n = len(claimed.get((code, i), []))
            rp = q.representative_point()
            res.check("gaps", n == 1, f"GEOS gap of {a:.1f} m² in {code} at [{rp.x:.6f}, {rp.y:.6f}] reported {n} times (one problem per piece)")


def check_overlaps(res, report, level_ids, grids):
    reported = defaultdict(list)
    for p in report:
        if p.get("kind") == "overlap":
            codes = tuple(sorted(str(p.get("code", "")).split(",")))
            reported[codes].append(p)
    found = {}
    t0 = time.time()
    small = 0
    for lv in level_ids:
        codes = sorted(grids.get(lv, {}))
        geoms = np.array([grids[lv][c] for c in codes], dtype=object)
        if len(geoms) < 2:
            continue
        tree = shapely.STRtree(geoms)
        left, right = tree.query(geoms, predicate="intersects")
        keep = left < right
        left, right = left[keep], right[keep]
        inter = shapely.intersection(geoms[left], geoms[right])
        for i, j, g in zip(left, right, inter):
            a = area_m2(polygons_only(g))
            if a > 0.5:
                found[(codes[i], codes[j])] = (a, polygons_only(g))
            elif a > 0:
                small += 1
    res.note("overlaps", f"GEOS: {sum(1 for a, _ in found.values() if a > 10)} overlapping pairs over 10 m², "
             f"{sum(1 for a, _ in found.values() if a <= 10)} of 0.5-10 m², {small} pairs under 0.5 m², in {time.time() - t0:.1f} s; "
             f"{sum(len(v) for v in reported.values())} overlap problems reported")
    for key, probs in sorted(reported.items()):
        for p in probs:
            what = f"overlap [{p.get('code')}] area_m2 {p.get('area_m2')}"
            if len(probs) > 1:
                res.check("overlaps", False, f"{what}: the pair is reported {len(probs)} times")
            if key not in found:
                res.check("overlaps", False, f"{what}: GEOS finds no overlap over 0.5 m² between them")
                continue
            a, g = found[key]
            if "area_m2" not in p or not isinstance(p["area_m2"], (int, float)):
                res.check("overlaps", False, f"{what}: no area_m2")
            elif a > 10:
                res.check("overlaps", abs(p["area_m2"] - a) <= max(0.01 * a, 0.5), f"{what}: GEOS total is {a:.1f} m²")
            loc = p.get("location")
            if isinstance(loc, list) and len(loc) == 2:
                pt = Point(loc)
                lv_of = {c: lv for lv in level_ids for c in grids.get(lv, {})}
                ga, gb = grids[lv_of[key[0]]][key[0]], grids[lv_of[key[1]]][key[1]]
                res.check("overlaps", ga.intersects(pt) and gb.intersects(pt), f"{what}: location {loc} is not in both grids")
    for key, (a, g) in sorted(found.items()):
        if a > 10:
            res.check("overlaps", key in reported, f"GEOS overlap of {a:.1f} m² between {key[0]} and {key[1]} not reported")


class Oracle:
    def __init__(self, level_ids, grids, props):
        self.level_ids = level_ids
        self.levels = [Level(lv, i, grids.get(lv, {})) for i, lv in enumerate(level_ids)]
        self.props = props
        self.finest = max((l for l in self.levels if l.codes), key=lambda l: l.index)
        self.metric_hits = {}

    def answer(self, xs, ys):
        """Per point: per level a Verdict (inside, near-border and on-border codes)."""
        per_level = [l.sets(xs, ys) for l in self.levels]
        out = []
        for k in range(len(xs)):
            out.append([Verdict([l.codes[i] for i in per_level[li][0][k]], [l.codes[i] for i in per_level[li][1][k]],
                                [l.codes[i] for i in per_level[li][2][k]])
                        for li, l in enumerate(self.levels)])
        return out

    def code_len(self, li):
        return self.levels[li].code_len


def expected_mismatches(oracle, chain_by_level):
    """parent_mismatches implied by a chain (level index -> code or None)."""
    out = []
    for li in range(len(oracle.levels) - 1):
        child = chain_by_level.get(li + 1)
        if not child:
            continue
        exp = child[: oracle.code_len(li)]
        found = chain_by_level.get(li)
        if exp != found:
            out.append({"level": oracle.level_ids[li], "grid": child, "expected_parent": exp, "found": found})
    return out


def expected_inside(verdicts):
    """Whether some grid must hold the point (None: either way)."""
    has = [v.has_grid() for v in verdicts]
    if True in has:
        return True
    return False if None not in has else None


def expected_on_border(verdicts, by_level):
    """Whether the answer's grid (the finest in the chain) must have the point
    exactly on its boundary (None: either way)."""
    if not by_level:
        return False if all(v.kind == "clear" for v in verdicts) else None
    v = verdicts[max(by_level)]
    got = by_level[max(by_level)]
    if v.kind == "clear":
        return False
    if v.kind == "exact":
        return got not in v.inside
    return None


class Verdict:
    """What one level must answer for one point.

    kind "clear": the point is over 1e-9 degrees from every border of the
    level: the answer is the grid whose interior holds it (any of them where
    grids overlap), or none. kind "exact": every border within 1e-9 degrees
    passes exactly through the point: a grid whose interior holds it, else
    the touching grid with the smallest code (the border rule). kind "near":
    a border passes within 1e-9 degrees but not exactly through the point:
    any grid holding or touching it, or none if none holds it."""

    def __init__(self, inside, near, on):
        self.inside, self.near, self.on = sorted(inside), sorted(near), sorted(on)
        if not near:
            self.kind = "clear"
        elif set(on) == set(near):
            self.kind = "exact"
        else:
            self.kind = "near"

    def has_grid(self):
        """Whether the level must answer a grid (None: either way)."""
        if self.kind == "near":
            return True if self.inside else None
        return bool(self.inside or self.on)

    def overlap(self):
        """The codes an overlaps entry must list, [] for none, None when unknown."""
        if self.kind == "near":
            return None
        return self.inside if len(self.inside) >= 2 else []

    def judge(self, got):
        if self.kind == "clear":
            ok = got in self.inside if self.inside else got is None
            return ok, f"inside {self.inside}" if self.inside else "in no grid"
        if self.kind == "exact":
            if self.inside:
                return got in self.inside, f"inside {self.inside}, exactly on the border of {self.on}"
            return got == self.on[0], f"exactly on the border of {self.on} (the border rule gives {self.on[0]})"
        ok = got in self.inside or got in self.near or (got is None and not self.inside)
        return ok, f"within 1e-9° of the border of {self.near}, inside {self.inside}"


def check_get_lookups(client, res, oracle, points, extra_points, rng):
    fam = "lookup GET"
    by_kind = defaultdict(list)
    for p in points:
        by_kind[p[0].split("-")[0]].append(p)
    quota = {"land": 400, "border": 400, "vertex": 150, "island": 150, "enclave": 150, "overlap": 150, "gap": 150,
             "special": 250, "sea": 150, "far": 100}
    sample = []
    for kind in sorted(by_kind):
        sample += rng.sample(by_kind[kind], min(quota.get(kind, 100), len(by_kind[kind])))
    sample += extra_points
    xs = np.array([p[1] for p in sample])
    ys = np.array([p[2] for p in sample])
    truth = oracle.answer(xs, ys)
    names = {c: oracle.props[c].get("name") for c in oracle.props}
    t0 = time.time()
    for (pid, x, y), sets in zip(sample, truth):
        try:
            check_one_get(client, res, oracle, names, pid, x, y, sets)
        except Fatal:
            raise
        except Exception as e:  # noqa: BLE001 - an answer check.py cannot read is a failed check, not a crash
            res.check(fam, False, f"{pid} ({x!r}, {y!r}): the answer could not be checked: {type(e).__name__}: {e}")
    res.note(fam, f"{len(sample)} points ({len(extra_points)} of them the report's problem locations) in {time.time() - t0:.1f} s")


def check_one_get(client, res, oracle, names, pid, x, y, sets):
    fam = "lookup GET"
    status, a, raw = client.get_json(f"/lookup?lon={x!r}&lat={y!r}")
    where = f"{pid} ({x!r}, {y!r})"
    if status != 200 or not isinstance(a, dict):
        res.check(fam, False, f"{where}: HTTP {status} {raw[:150]!r}")
        return
    chain = a.get("chain")
    if not isinstance(chain, list):
        res.check(fam, False, f"{where}: no chain in {raw[:150]!r}")
        return
    by_level = {}
    ok_shape = True
    for e in chain:
        lv = e.get("level")
        if lv not in oracle.level_ids or lv in [oracle.level_ids[i] for i in by_level]:
            ok_shape = False
            continue
        by_level[oracle.level_ids.index(lv)] = e.get("code")
        if e.get("name") != names.get(e.get("code")):
            res.check(fam, False, f"{where}: chain entry {e.get('code')} named {e.get('name')!r}, stored {names.get(e.get('code'))!r}")
    order = [oracle.level_ids.index(e.get("level")) for e in chain if e.get("level") in oracle.level_ids]
    res.check(fam, ok_shape and order == sorted(order), f"{where}: chain levels {[e.get('level') for e in chain]} (one entry per level, top first)")
    for li, v in enumerate(sets):
        got = by_level.get(li)
        ok, detail = v.judge(got)
        res.check(fam, ok, f"{where}: {oracle.level_ids[li]}: answered {got}, point {detail}")
        if got is not None:
            g = oracle.levels[li].geoms[oracle.levels[li].pos[got]] if got in oracle.levels[li].pos else None
            res.check(fam, g is not None and g.distance(Point(x, y)) <= BORDER_EPS_DEG,
                      f"{where}: chain grid {got} does not contain the point")
    # overlaps: compared on the levels where they are known
    want_ov = [{"level": oracle.level_ids[li], "codes": v.overlap()} for li, v in enumerate(sets) if v.overlap()]
    got_ov = a.get("overlaps") or []
    unknown = {oracle.level_ids[li] for li, v in enumerate(sets) if v.overlap() is None}
    got_ov_cmp = [o for o in got_ov if o.get("level") not in unknown]
    res.check("lookup overlaps", sorted(map(json.dumps, got_ov_cmp)) == sorted(map(json.dumps, want_ov)),
              f"{where}: overlaps {got_ov or 'absent'}, expected {want_ov or 'absent'}")
    if "overlaps" in a and not a["overlaps"]:
        res.check("lookup overlaps", False, f"{where}: an empty overlaps field (it should be omitted)")
    # parent mismatches, from the chain given
    want_pm = expected_mismatches(oracle, by_level)
    got_pm = a.get("parent_mismatches") or []
    res.check("lookup parent_mismatches", sorted(map(json.dumps, got_pm)) == sorted(map(json.dumps, want_pm)),
              f"{where}: parent_mismatches {got_pm or 'absent'}, expected {want_pm or 'absent'} (chain {[by_level.get(i) for i in range(len(oracle.levels))]})")
    want_inside = expected_inside(sets)
    if want_inside is not None:
        res.check(fam, a.get("inside") is want_inside, f"{where}: inside {a.get('inside')}, expected {want_inside}")
    want_border = expected_on_border(sets, by_level)
    if want_border is not None:
        res.check("lookup border rule", a.get("on_border") is want_border,
                  f"{where}: on_border {a.get('on_border')}, expected {want_border} ({[v.kind for v in sets]})")
    finest = by_level.get(max(by_level)) if by_level else None
    grid = a.get("grid")
    res.check(fam, (grid or {}).get("code") == finest, f"{where}: grid {grid and grid.get('code')}, last chain entry {finest}")
    lv = oracle.levels[max(by_level)] if by_level else None
    if finest and finest not in lv.pos:
        res.check(fam, False, f"{where}: grid {finest} is not a stored {lv.name} grid")
    elif finest and isinstance(a.get("border_distance_m"), (int, float)):
        d = dist_to_segments_m(x, y, lv.segs(lv.pos[finest]))
        res.check("lookup distances", abs(a["border_distance_m"] - d) <= max(1.0, 0.005 * d),
                  f"{where}: border_distance_m {a['border_distance_m']:.2f}, {d:.2f} in the frame at the point to {finest}'s border")
    elif finest:
        res.check("lookup distances", False, f"{where}: no border_distance_m")
    if want_inside is False:
        n = a.get("nearest")
        if not isinstance(n, dict) or "code" not in n:
            res.check("lookup nearest", False, f"{where}: outside every grid but no nearest grid: {raw[:150]!r}")
            return
        check_nearest(res, "lookup nearest", oracle, x, y, n.get("code"), n.get("distance_m"), where)


NEAREST_METRICS = {"gc": "great-circle", "frame": "the equirectangular frame at the point"}


def check_nearest(res, fam, oracle, x, y, code, dist, where):
    """The answer's nearest grid must be at the least distance (ties within
    1 m or 0.5 %), and its distance_m right to 1 m or 0.5 %, in one of two
    metrics: great-circle metres, or metres in the equirectangular frame at
    the point (README's "local frame"; the two agree near the grids and part
    over thousands of kilometres). Which one matched is counted."""
    lv = oracle.finest
    if code not in lv.pos:
        best, best_d, _ = lv.nearest(x, y, "gc")
        res.check(fam, False, f"{where}: nearest {code} is not a {lv.name} grid (nearest is {lv.codes[best]} at {best_d:.1f} m)")
        return
    try:
        dist = float(dist)
    except (TypeError, ValueError):
        res.check(fam, False, f"{where}: nearest distance {dist!r} is not a number")
        return
    i = lv.pos[code]
    tried = []
    for metric in ("gc", "frame"):
        best, best_d, dists = lv.nearest(x, y, metric)
        d = dists.get(i)
        if d is None:
            d = lv.distance(x, y, i, metric)
        grid_ok = d <= best_d + max(1.0, 0.005 * best_d)
        dist_ok = abs(dist - d) <= max(1.0, 0.005 * d)
        if grid_ok and dist_ok:
            res.check(fam, True)
            oracle.metric_hits[metric] = oracle.metric_hits.get(metric, 0) + 1
            return
        tried.append(f"{NEAREST_METRICS[metric]}: {code} at {d:.1f} m, nearest {lv.codes[best]} at {best_d:.1f} m")
    res.check(fam, False, f"{where}: nearest {code} at distance_m {dist:.2f}; " + "; ".join(tried))


def check_csv_batch(client, res, oracle, points, rng):
    fam = "lookup CSV"
    body = "id,lon,lat\n" + "".join(f"{pid},{x!r},{y!r}\n" for pid, x, y in points)
    t0 = time.time()
    status, ctype, data = client.request("POST", "/lookup", body=body.encode(), headers={"Content-Type": "text/csv"})
    secs = time.time() - t0
    if status != 200:
        res.check(fam, False, f"POST /lookup (text/csv, {len(points)} points): HTTP {status} {data[:200]!r}")
        return
    text = data.decode("utf-8", errors="replace")
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0] if rows else []
    res.check(fam, header == CSV_HEADER, f"header {header}, expected {CSV_HEADER}")
    col = {h: i for i, h in enumerate(header)}
    missing = [h for h in CSV_HEADER if h not in col]
    if missing:
        res.check(fam, False, f"columns missing: {missing}: the checks that need them are skipped")
    rows = rows[1:]
    res.check(fam, len(rows) == len(points), f"{len(rows)} answer rows for {len(points)} points")
    xs = np.array([p[1] for p in points])
    ys = np.array([p[2] for p in points])
    t1 = time.time()
    truth = oracle.answer(xs, ys)
    res.note(fam, f"{len(points)} points answered in {secs:.1f} s; GEOS sets in {time.time() - t1:.1f} s")
    kinds = {k: sum(1 for sets in truth if any(v.kind == k for v in sets)) for k in ("exact", "near")}
    res.note(fam, f"{kinds['exact']} points lie exactly on a border (border rule checked), {kinds['near']} within 1e-9° "
             "of one without lying on it (any touching grid accepted)")
    names = {c: oracle.props[c].get("name") for c in oracle.props}

    def cell(row, name):
        i = col.get(name)
        return row[i] if i is not None and i < len(row) else None

    level_cols = [f"{lv}_code" for lv in oracle.level_ids]
    n_out = 0
    dist_sample = set(rng.sample(range(len(points)), min(5000, len(points))))
    for k, ((pid, x, y), sets) in enumerate(zip(points, truth)):
        if k >= len(rows):
            break
        try:
            n_out += check_one_csv(res, oracle, names, cell, level_cols, dist_sample, k, rows[k], pid, x, y, sets)
        except Exception as e:  # noqa: BLE001
            res.check(fam, False, f"row {k + 1} ({pid}): the answer could not be checked: {type(e).__name__}: {e}")
    res.note(fam, f"{n_out} points outside every grid checked for their nearest grid")


def check_one_csv(res, oracle, names, cell, level_cols, dist_sample, k, row, pid, x, y, sets):
    fam = "lookup CSV"
    where = f"{pid} ({x!r}, {y!r})"
    if cell(row, "id") != pid:
        res.check(fam, False, f"row {k + 1}: id {cell(row, 'id')!r}, expected {pid} (answers in input order)")
        return 0
    if cell(row, "error"):
        res.check(fam, False, f"{where}: error {cell(row, 'error')!r}")
        return 0
    by_level = {}
    for li, v in enumerate(sets):
        c = cell(row, level_cols[li])
        if c is None:
            continue
        got = c or None
        if got:
            by_level[li] = got
        ok, detail = v.judge(got)
        res.check(fam, ok, f"{where}: {level_cols[li]} {c!r}, point {detail}")
    want_inside = expected_inside(sets)
    if want_inside is not None:
        res.check(fam, cell(row, "inside") == ("true" if want_inside else "false"), f"{where}: inside {cell(row, 'inside')!r}, expected {want_inside}")
    want_border = expected_on_border(sets, by_level)
    if want_border is not None and cell(row, "on_border") is not None:
        res.check("lookup border rule", cell(row, "on_border") == ("true" if want_border else "false"),
                  f"{where}: CSV on_border {cell(row, 'on_border')!r}, expected {want_border} ({[v.kind for v in sets]})")
    finest = by_level.get(max(by_level)) if by_level else None
    if cell(row, "grid_name") is not None:
        res.check(fam, cell(row, "grid_name") == (names.get(finest) or "" if finest else ""),
                  f"{where}: grid_name {cell(row, 'grid_name')!r}, the name of {finest} is {names.get(finest)!r}")
    want_ov = [li for li, v in enumerate(sets) if v.overlap()]
    want_pm = expected_mismatches(oracle, by_level)
    w = cell(row, "warnings")
    if w is not None:
        if want_ov or want_pm:
            res.check("lookup CSV warnings", bool(w), f"{where}: empty warnings, expected {len(want_ov)} overlap(s) and {want_pm}")
        elif all(v.overlap() is not None for v in sets):
            res.check("lookup CSV warnings", not w, f"{where}: warnings {w!r} where no level overlaps and every parent matches")
    lv = oracle.levels[max(by_level)] if by_level else None
    if k in dist_sample and finest and finest in lv.pos and cell(row, "border_distance_m"):
        d = dist_to_segments_m(x, y, lv.segs(lv.pos[finest]))
        got_d = float(cell(row, "border_distance_m"))
        res.check("lookup distances", abs(got_d - d) <= max(1.0, 0.005 * d), f"{where}: CSV border_distance_m {got_d}, {d:.2f} in the frame at the point")
    if want_inside is False:
        code = cell(row, "nearest_code")
        if not code:
            res.check("lookup nearest", False, f"{where}: outside every grid but no nearest_code")
            return 1
        check_nearest(res, "lookup nearest", oracle, x, y, code, cell(row, "nearest_distance_m"), where + " (CSV)")
        return 1
    return 0


def check_names_are_chinese(res, props):
    # A GBK file read as something else gives mojibake: every province name must end in 省/市/区 and be CJK.
    for c, p in sorted(props.items()):
        if len(c) == 2:
            n = p.get("name") or ""
            res.check("stored", n and all("\u4e00" <= ch <= "\u9fff" for ch in n), f"province {c} name {n!r} is not Chinese text")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="server URL, e.g. http://127.0.0.1:18300")
    ap.add_argument("--data", required=True, help="make_country.py's output directory")
    ap.add_argument("--report", required=True, help="JSON report of the import that made the served data")
    ap.add_argument("--repaired", action="store_true", help="the import ran with --repair")
    ap.add_argument("--seed", type=int, default=20261202)
    ap.add_argument("--skip-csv", action="store_true", help="leave out the 200,000-point batch")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    res = Results()
    started = time.time()
    try:
        try:
            truth = load_truth(a.data)
            with open(os.path.join(a.data, "points.csv"), encoding="utf-8") as fh:
                r = csv.reader(fh)
                next(r)
                points = [(row[0], float(row[1]), float(row[2])) for row in r]
        except (OSError, ValueError, StopIteration, IndexError) as e:
            raise Fatal(f"cannot read the generated country in {a.data}: {e}") from None
        try:
            rep = json.load(open(a.report, encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise Fatal(f"cannot read the report {a.report}: {e}") from None
        report = rep.get("problems") if isinstance(rep, dict) else rep
        if not isinstance(report, list):
            raise Fatal(f"{a.report} has no list of problems")
        client = Client(a.base)
        status, health, raw = client.get_json("/health")
        if status != 200:
            raise Fatal(f"GET {a.base}/health: HTTP {status} {raw[:200]!r}")
        print(f"check.py: {a.base} ({health}), {len(points)} points, report {a.report} with {len(report)} problems"
              f"{', repaired import' if a.repaired else ''}")
        level_ids, grids, props = load_grids(client, res)
        check_stored(client, res, truth, level_ids, grids, props, a.repaired, rng)
        check_names_are_chinese(res, props)
        check_fidelity(res, a.data, truth, grids, props, a.repaired)
        print(f"  stored grids read and checked ({time.time() - started:.1f} s)")
        check_gaps(res, report, level_ids, grids)
        check_overlaps(res, report, level_ids, grids)
        print(f"  gaps and overlaps checked ({time.time() - started:.1f} s)")
        oracle = Oracle(level_ids, grids, props)
        extra = [(f"report-{p.get('kind')}-{i}", float(p["location"][0]), float(p["location"][1]))
                 for i, p in enumerate(report) if p.get("kind") in ("gap", "overlap") and isinstance(p.get("location"), list)]
        check_get_lookups(client, res, oracle, points, extra, rng)
        print(f"  GET lookups checked ({time.time() - started:.1f} s)")
        if not a.skip_csv:
            check_csv_batch(client, res, oracle, points, rng)
            print(f"  CSV batch checked ({time.time() - started:.1f} s)")
    except Fatal as e:
        res.summary()
        print(f"check.py: {e}")
        sys.exit(2)
    if "oracle" in locals() and oracle.metric_hits:
        res.note("lookup nearest", "distances matched " + ", ".join(f"{NEAREST_METRICS[m]} {n} times" for m, n in sorted(oracle.metric_hits.items())))
    failed = res.summary()
    print(f"check.py: {failed} failed checks, {client.requests} requests, {time.time() - started:.1f} s")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
