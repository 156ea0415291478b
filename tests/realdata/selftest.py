#!/usr/bin/env python3
"""Checks a country written by make_country.py on its own (no wangge):

    tests/realdata/selftest.py OUT_DIR

- the files: provinces.shp/.shx/.dbf/.prj with no .cpg, a .dbf with no
  code page (language driver id 0) whose names decode as GBK and not as
  UTF-8; GeoJSON cities and counties; codes of 2, 4 and 6 digits whose
  prefixes name their parents (zero-sequence codes included);
- every feature valid (GEOS) except the planted invalid ones, which are
  invalid for the planted reason; the spike at the least vertex; the
  repeated vertex;
- coverage: per parent, the GEOS gaps over 1 m^2 and the overlaps of one
  level over 1 m^2 are exactly the planted ones (with the planted invalid
  features made valid, the bow-tie county as it was before the twist), areas
  within 1 %; every sliver from unshared vertices under 0.01 m^2; unshared
  vertices and bumps present;
- islands (several parts) at every level, holes (an enclave province and an
  enclave county), slivers, the duplicate code, the missing city 4290;
- points.csv: 200,000 points, about 90 % inside; components.csv inside
  their counties.
Exits non-zero on any failure.
"""

import csv
import math
import os
import sys
from collections import Counter, defaultdict

import numpy as np
import shapely
from shapely.geometry import Point, shape

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import M_PER_DEG, area_m2, load_truth, polygons_only, read_geojson, read_shapefile, valid_version  # noqa: E402


FAILS = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        FAILS.append(what)
    return ok


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: selftest.py OUT_DIR (a directory written by make_country.py)")
    d = sys.argv[1]
    try:
        truth = load_truth(d)
    except (OSError, ValueError) as e:
        sys.exit(f"selftest.py: cannot read the country in {d}: {e}")
    problems = truth["problems"]
    by_kind = defaultdict(list)
    for t in problems:
        by_kind[t["kind"]].append(t)

    # ---- files
    check(all(os.path.exists(os.path.join(d, "provinces." + e)) for e in ("shp", "shx", "dbf", "prj")), "provinces.shp, .shx, .dbf and .prj exist")
    check(not os.path.exists(os.path.join(d, "provinces.cpg")), "no provinces.cpg")
    raw = open(os.path.join(d, "provinces.dbf"), "rb").read()
    check(raw[29] == 0, f"provinces.dbf has no language driver id (byte 29 = {raw[29]})")
    try:
        raw[raw.index(b"\r") + 1:].decode("utf-8")
        check(False, "provinces.dbf names are not valid UTF-8")
    except UnicodeDecodeError:
        check(True, "provinces.dbf names are not valid UTF-8")
    prov_rows, _dbf = read_shapefile(os.path.join(d, "provinces"), "gbk")
    P = {row["code"]: (row, g) for row, g in prov_rows}
    check(P.get("44", ({}, None))[0].get("name") == "广东省", "provinces.dbf decodes as GBK (44 = 广东省)")
    check(all(truth["names"]["province"][c] == P[c][0]["name"] for c in P), "every province name decodes as in country.json")
    Y = {}
    for props, g in read_geojson(os.path.join(d, "cities.geojson")):
        Y[props["code"]] = (props, g)
    Cl = read_geojson(os.path.join(d, "counties.geojson"))
    codes = Counter(p["code"] for p, _ in Cl)
    dups = [c for c, n in codes.items() if n > 1]
    check(dups == [t["codes"][0] for t in by_kind["duplicate_code"]], f"one duplicate county code: {dups}")
    C = {}
    for props, g in Cl:
        C.setdefault(props["code"], (props, g))  # the first one wins
    n_p, n_y, n_c = len(P), len(Y), len(C)
    check(15 <= n_p <= 25 and 150 <= n_y <= 300 and 1000 <= n_c <= 2500, f"{n_p} provinces, {n_y} cities, {n_c} counties")
    check(all(len(c) == 2 for c in P) and all(len(c) == 4 for c in Y) and all(len(c) == 6 for c in C), "code lengths 2 / 4 / 6")
    check(all(c[:2] in P for c in Y), "every city's prefix names a province")
    orphans = sorted(c for c in C if c[:4] not in Y)
    check(set(orphans) == {c for c in C if c.startswith("4290")} and "4290" not in Y and orphans,
          f"counties without a city are exactly 4290xx ({orphans})")
    for code in ("441900", "442000", "820000"):
        check(code in C, f"zero-sequence county {code}")
    for code in ("1100", "4419", "4420", "8200"):
        check(code in Y, f"zero-sequence city {code}")
    for county, city in (("441900", "4419"), ("442000", "4420"), ("820000", "8200")):
        check(C[county][1].equals(Y[city][1]), f"county {county} has its city's polygon")
    check(Y["8200"][1].equals(P["82"][1]) and Y["1100"][1].equals(P["11"][1]), "cities 8200 and 1100 have their province's polygon")
    check(all("parent" not in p or p["parent"] == c[:2] for c, (p, _) in Y.items()), "cities' parent attributes match their codes")
    check(all("parent" not in p or p["parent"] == c[:4] for c, (p, _) in C.items()), "counties' parent attributes match their codes")
    np_ = sum("parent" in p for p, _ in C.values())
    check(0 < np_ < len(C), f"the parent attribute is optional ({np_} of {len(C)} counties have one)")

    # ---- validity
    invalid_planted = {t["codes"][0]: t["kind"] for t in problems if t["kind"] in ("self_intersection", "bowtie", "spike", "hole_outside")}
    for level, feats in (("province", P), ("city", Y), ("county", C)):
        bad = sorted(c for c, (_, g) in feats.items() if not g.is_valid and c not in invalid_planted)
        check(not bad, f"{level}: every feature valid except the planted ones (invalid: {bad[:10]})")
    for code, kind in invalid_planted.items():
        g = (P if len(code) == 2 else C)[code][1]
        why = shapely.is_valid_reason(g)
        check(not g.is_valid, f"{kind} {code} is invalid ({why})")
    sp = by_kind["spike"][0]["codes"][0]
    ring = list(C[sp][1].exterior.coords)[:-1]
    li = min(range(len(ring)), key=lambda i: ring[i])
    check(ring[li - 1] == ring[(li + 1) % len(ring)], f"spike {sp}: the least vertex's neighbours are one point (no winding order)")
    rv = by_kind["repeated_vertex"][0]["codes"][0]
    cs = list(C[rv][1].exterior.coords)
    check(C[rv][1].is_valid and any(cs[i] == cs[i + 1] for i in range(len(cs) - 1)), f"county {rv} is valid with a repeated consecutive vertex")
    bt = by_kind["bowtie"][0]
    check(bt["shoelace_area_ratio"] < 0.5, f"bow-tie {bt['codes'][0]}: its shoelace area is {bt['shoelace_area_ratio']:.0%} of the county's (a repair changes it a lot)")
    tw = by_kind["self_intersection"][0]
    check(tw["repair_relative_change"] < 0.01, f"twisted province {tw['codes'][0]}: repair changes its area by {tw['repair_relative_change']:.2e} (< 1 %)")

    # ---- vertices, parts, holes
    verts = np.array([len(shapely.get_coordinates(g)) for _, g in C.values()])
    check(np.percentile(verts, 2) >= 50 and np.percentile(verts, 98) <= 400,
          f"vertices per county {verts.min()}..{verts.max()}, 2nd-98th percentile {np.percentile(verts, 2):.0f}..{np.percentile(verts, 98):.0f}")
    for level, feats in (("province", P), ("city", Y), ("county", C)):
        multi = [c for c, (_, g) in feats.items() if len(shapely.get_parts(g)) > 1]
        check(len(multi) >= 2, f"{level}: {len(multi)} features with several parts (islands), e.g. {multi[:5]}")
    p13 = P["13"][1]
    off = area_m2(shapely.symmetric_difference(shapely.Polygon(p13.interiors[0]), P["11"][1])) if len(p13.interiors) == 1 else math.inf
    check(off < 1, f"province 13 has a hole that province 11 fills ({off:.2g} m² off)")
    en = [t for t in by_kind["enclave"] if len(t["codes"][0]) == 6][0]
    e, h = en["codes"]
    holes = [shapely.Polygon(r) for r in C[h][1].interiors]
    off = min((area_m2(shapely.symmetric_difference(q, C[e][1])) for q in holes), default=math.inf)
    check(off < 1 and e[:4] == h[:4], f"county {e} fills a hole of county {h} (same city; {off:.2g} m² off, border noise)")
    for t in by_kind["sliver"]:
        g = C[t["codes"][0]][1]
        width = area_m2(g) / (g.length * M_PER_DEG / 2 * math.cos(math.radians(g.centroid.y)) ** 0.5)
        check(g.is_valid and width < 100, f"sliver {t['codes'][0]}: about {width:.0f} m wide, {area_m2(g) / 1e6:.2f} km²")

    # ---- coverage and overlaps, with the planted invalid features made valid
    fixed = {}
    for code, kind in invalid_planted.items():
        if kind == "bowtie":
            fixed[code] = shape(by_kind["bowtie"][0]["geometry"])
        elif kind == "hole_outside":  # the county minus its hole
            fixed[code] = polygons_only(shapely.make_valid((P if len(code) == 2 else C)[code][1], method="structure"))
        else:
            fixed[code] = valid_version((P if len(code) == 2 else C)[code][1])
    levels = {"province": {c: fixed.get(c, g) for c, (_, g) in P.items()},
              "city": {c: g for c, (_, g) in Y.items()},
              "county": {c: fixed.get(c, g) for c, (_, g) in C.items()}}
    expected_gaps = [(t["parent"], shape(t["geometry"]), t["note"]) for t in by_kind["gap"]]
    expected_gaps += [(t["parent"], shape(t["geometry"]), t["note"]) for t in by_kind["missing_city_level"]]
    ho = by_kind["hole_outside"][0]
    expected_gaps.append((ho["city"], shape(ho["geometry"]), "hole_outside made valid"))
    mm = by_kind["code_geometry_mismatch"][0]
    expected_gaps.append((mm["geometry_city"], C[mm["codes"][0]][1], "code/geometry mismatch"))
    tw_code = tw["codes"][0]
    twist_pieces = polygons_only(levels["province"][tw_code].difference(P[tw_code][1].buffer(0)))
    twist_lobes = shapely.get_parts(polygons_only(shapely.difference(levels["province"][tw_code],
                                                   shapely.union_all([g for c, g in levels["city"].items() if c[:2] == tw_code]))))
    found_gaps = []
    small = []
    for lname, parent_level in (("city", "province"), ("county", "city")):
        plen = 2 if parent_level == "province" else 4
        kids = defaultdict(list)
        for c, g in levels[lname].items():
            kids[c[:plen]].append(g)
        for pc, pg in levels[parent_level].items():
            if pc not in kids:
                continue
            gap = polygons_only(pg.difference(shapely.union_all(kids[pc])))
            for piece in shapely.get_parts(gap):
                a = area_m2(piece)
                if a > 1.0:
                    found_gaps.append((pc, piece, a))
                elif a > 0:
                    small.append(a)
    matched = set()
    for pc, g, note in expected_gaps:
        hits = [i for i, (fpc, piece, a) in enumerate(found_gaps) if fpc == pc and piece.intersection(g).area > 0.5 * piece.area]
        tot = sum(found_gaps[i][2] for i in hits)
        exp = area_m2(g)
        check(hits and abs(tot - exp) <= 0.01 * exp + 1, f"gap in {pc}: {note[:70]}: GEOS {tot:.0f} m² vs planted {exp:.0f} m²")
        matched.update(hits)
    lobes = [i for i, (fpc, piece, a) in enumerate(found_gaps) if fpc == tw_code and i not in matched]
    check(len(lobes) == len([p for p in twist_lobes if area_m2(p) > 1]) == 2, f"twist of province {tw_code}: {len(lobes)} gap pieces from the repaired lobes ({[round(found_gaps[i][2]) for i in lobes]} m²)")
    matched.update(lobes)
    extra = [(found_gaps[i][0], round(found_gaps[i][2], 2), found_gaps[i][1].representative_point().coords[0]) for i in range(len(found_gaps)) if i not in matched]
    check(not extra, f"no gap over 1 m² but the planted ones ({len(found_gaps)} pieces; unexplained: {extra[:8]})")
    check(small and max(small) < 0.01, f"{len(small)} gap slivers under 1 m², the largest {max(small) if small else 0:.2e} m² (< 0.01)")
    del twist_pieces

    expected_ov = {tuple(sorted(t["codes"])): area_m2(shape(t["geometry"])) for t in by_kind["overlap"]}
    found_ov = {}
    tiny_ov = []
    for lname, feats in levels.items():
        codes = sorted(feats)
        geoms = [feats[c] for c in codes]
        tree = shapely.STRtree(geoms)
        left, right = tree.query(geoms, predicate="intersects")
        keep = left < right
        left, right = left[keep], right[keep]
        inter = shapely.intersection(np.array(geoms, dtype=object)[left], np.array(geoms, dtype=object)[right])
        for i, j, g in zip(left, right, inter):
            a = area_m2(g)
            if a > 1.0:
                found_ov[(codes[i], codes[j])] = a
            elif a > 0:
                tiny_ov.append((a, max(area_m2(q) for q in shapely.get_parts(g))))
    # The code/geometry mismatch county and the gap-4 neighbours are no overlaps; all found must be planted.
    for k, exp in expected_ov.items():
        got = found_ov.get(k)
        check(got is not None and abs(got - exp) <= 0.01 * exp + 1, f"overlap {k}: GEOS {got} m² vs planted {exp:.0f} m²")
    unexpected = {k: round(v, 2) for k, v in found_ov.items() if k not in expected_ov}
    check(not unexpected, f"no overlap over 1 m² but the planted ones (unexpected: {dict(list(unexpected.items())[:8])})")
    check(tiny_ov and max(p for _, p in tiny_ov) < 0.01 and max(a for a, _ in tiny_ov) < 0.1,
          f"{len(tiny_ov)} pairs overlap by less than 1 m²: the largest piece {max(p for _, p in tiny_ov):.2e} m² (< 0.01), "
          f"the largest total of a pair {max(a for a, _ in tiny_ov):.2e} m² (< 0.1)")

    # ---- children inside parents (by code), except the planted mismatch
    outside = []
    for lname, plen, parent_level in (("city", 2, "province"), ("county", 4, "city")):
        for c, g in levels[lname].items():
            pg = levels[parent_level].get(c[:plen])
            if pg is None:
                continue
            a = area_m2(polygons_only(g.difference(pg)))
            if a > 1.0:
                outside.append((c, round(a)))
    allowed = {mm["codes"][0]}
    check({c for c, _ in outside} == allowed, f"children outside their parent over 1 m²: {outside[:8]} (expected only {sorted(allowed)})")

    # ---- unshared vertices, counted independently
    edge_pts = 0
    vert_sets = {c: set(map(tuple, shapely.get_coordinates(g))) for c, g in levels["county"].items()}
    codes = sorted(levels["county"])
    geoms = [levels["county"][c] for c in codes]
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    for i, j in zip(left, right):
        if i == j:
            continue
        a, b = codes[i], codes[j]
        bb = geoms[j].boundary
        cand = [p for p in vert_sets[a] if p not in vert_sets[b]]
        if not cand:
            continue
        pts = shapely.points(np.array(cand))
        near = shapely.dwithin(pts, bb, 1e-9)
        edge_pts += int(near.sum())
    check(edge_pts > 500, f"{edge_pts} county vertices lie within 1e-9° of a neighbour's border without being its vertices")

    # ---- points and components
    rows = list(csv.reader(open(os.path.join(d, "points.csv"), encoding="utf-8")))
    check(rows[0] == ["id", "lon", "lat"] and len(rows) == 200_001, f"points.csv: header {rows[0]}, {len(rows) - 1} points")
    xs = np.array([float(r[1]) for r in rows[1:]])
    ys = np.array([float(r[2]) for r in rows[1:]])
    land = shapely.union_all([g for g in levels["province"].values()])
    shapely.prepare(land)
    inside = shapely.intersects_xy(land, xs, ys)
    share = inside.mean()
    check(0.88 <= share <= 0.92, f"{share:.1%} of the points are inside the land")
    kinds = Counter(r[0].split("-")[0] for r in rows[1:])
    check(all(kinds[k] > 0 for k in ("land", "island", "enclave", "overlap", "gap", "border", "vertex", "special", "sea", "far")), f"point kinds {dict(kinds)}")
    comps = list(csv.DictReader(open(os.path.join(d, "components.csv"), encoding="utf-8")))
    bad = [c["code"] for c in comps if len(c["code"]) != 16 or c["code"][:6] not in C or c["state"] != "完好"
           or not levels["county"][c["code"][:6]].intersects(Point(float(c["lon"]), float(c["lat"])))]
    check(1000 <= len(comps) <= 10000 and not bad, f"{len(comps)} components, each in its county ({bad[:5]})")

    print(f"selftest: {len(FAILS)} failures")
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
