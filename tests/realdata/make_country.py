#!/usr/bin/env python3
"""Generates a test "country" shaped like real administrative boundary data.

    tests/realdata/make_country.py OUT_DIR [--seed N]

Three levels of GB/T 2260-style codes (province 2 digits, city 4, county 6)
over lon 100-122, lat 22-42 (EPSG:4490, lon/lat degrees), built top-down:
each level is a Voronoi partition of its parent whose borders are densified
and jittered (midpoint displacement), clipped to the parent, so that every
child's outer edges follow its parent's vertices and siblings share their
borders exactly. Then, as in files digitised separately and edited by hand:

- unshared vertices on shared borders: one side has extra vertices on the
  other side's edges (computed as A + t(B-A)), or small bumps a few cm off
  the line (slivers < 0.01 m^2, never to be reported at 1 m^2);
- islands (separate parts offshore) at every level, an island province, an
  enclave province in another province's hole, an enclave county in another
  county's hole (same city), two thin sliver counties;
- zero-sequence codes as in real data: 441900 / 442000 (a city whose only
  county is the city), 8200 / 820000 (a province whose city and county are
  the province), 1100 (a city that is its whole province), counties 4290xx
  whose city 4290 is absent from the city file (省直辖县级行政区划);
- planted errors, each listed in OUT_DIR/truth.json: gaps of 0.2-5 km^2 (two
  in one city), a gap in a province's city coverage, county overlaps, a city
  overlap, a province with a small bow-tie twist in its coast, a county that is
  a large bow-tie, a spike at a ring's lexicographically least vertex, a hole
  poking out of its exterior, a repeated consecutive vertex (valid), a
  duplicate code, and a county whose code names a city that does not contain
  it.

Writes provinces.shp (+ .shx .dbf .prj, attributes in GBK, no .cpg),
cities.geojson, counties.geojson, scheme.json (the three levels as a scheme
file for binaries without the gbt2260 preset), points.csv (200,000 points
id,lon,lat; the id's prefix says how it was drawn: land, border (0.01-30 m
from a county border), vertex (exactly on a county vertex), island,
enclave, overlap, gap, special (near a planted error), sea, far),
components.csv (code,name,class,state,lon,lat), truth.json (the list of
planted things: {kind, codes, note, geometry and area_m2 where relevant,
...}) and country.json (seed, counts, features per file, every name by
level and code). Deterministic for a seed. Needs numpy and shapely 2.1+ (GEOS
3.12+); the Shapefile is written with pyshp when it is installed, else with
ogr2ogr (GDAL).
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter

import numpy as np
import shapely
import shapely.ops
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box, mapping

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import M_PER_DEG, area_m2  # noqa: E402

EXTENT = (100.0, 22.0, 122.0, 42.0)

# Vertex spacing of the jittered borders, metres.
SPACING = {"coast": 1500.0, "province": 2800.0, "city": 2000.0, "county": 1200.0, "island": 700.0}
TARGET_CITIES = 190
TARGET_COUNTIES = 1500

PROVINCE_NAMES = {
    "11": "北京市", "12": "天津市", "13": "河北省", "14": "山西省", "15": "内蒙古自治区",
    "21": "辽宁省", "22": "吉林省", "23": "黑龙江省", "31": "上海市", "32": "江苏省",
    "33": "浙江省", "34": "安徽省", "35": "福建省", "36": "江西省", "37": "山东省",
    "41": "河南省", "42": "湖北省", "43": "湖南省", "44": "广东省", "45": "广西壮族自治区",
    "50": "重庆市", "51": "四川省", "52": "贵州省", "53": "云南省", "61": "陕西省",
    "62": "甘肃省", "71": "台湾省", "82": "澳门特别行政区",
}
# Mainland provinces (Voronoi cells of the land); 11 is carved out of 13,
# 71 and 82 are islands.
MAINLAND_CODES = ["12", "13", "14", "15", "21", "22", "31", "32", "33", "34",
                  "35", "36", "37", "41", "42", "43", "44", "45"]
BEIJING_DISTRICTS = ["东城区", "西城区", "朝阳区", "丰台区", "石景山区", "海淀区", "门头沟区",
                     "房山区", "通州区", "顺义区", "昌平区", "大兴区", "怀柔区", "平谷区",
                     "密云区", "延庆区"]
NAME_FIRST = list("安宝北长成大东丰广海和华黄吉嘉江金锦靖开乐丽临龙隆洛梅南宁平普庆清仁瑞沙上邵石寿双顺泰天通万文武西仙湘新兴永玉云枣昭镇中舟遵白赤德凤阜高固桂汉合鹤怀会建交晋景九康莱蓝利连灵柳六泸罗茂蒙孟绵牡内盘彭莆齐黔钦秦衢曲饶汝商韶绍深沈随遂唐桃铁潼铜威渭温乌吴梧芜息峡咸孝忻信邢许宣延盐阳宜益银鹰营榆岳郧漳张肇郑资淄")
NAME_SECOND = list("安城川德丰阳江山州平宁源口水河林海化兴泽原南门阴乡溪岭湖台都定远康乐昌武义和清田沙峰阜陵丘泉谷坪桥塘浦滨洲")
COUNTY_SEQ = ["02", "03", "04", "05", "06", "07", "08", "11", "12", "13", "14", "15",
              "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31", "32",
              "81", "82", "83", "84", "85"]
CITY_SEQ = ["01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12",
            "13", "14", "15", "16", "17", "18", "21", "22", "23", "24", "25", "26", "27", "28"]
COMPONENT_CLASSES = [("0101", "上水井盖"), ("0102", "污水井盖"), ("0103", "雨水井盖"),
                     ("0113", "消防设施"), ("0118", "路灯")]
CGCS2000_PRJ = ('GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",'
                'DATUM["D_China_2000",SPHEROID["CGCS2000",6378137.0,298.257222101]],'
                'PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]')


# ---------------------------------------------------------------- geometry


def metres_to_deg(dx_m, dy_m, lat):
    return dx_m / (M_PER_DEG * math.cos(math.radians(lat))), dy_m / M_PER_DEG


def seg_len_m(a, b):
    c = math.cos(math.radians((a[1] + b[1]) / 2))
    return math.hypot((b[0] - a[0]) * c, b[1] - a[1]) * M_PER_DEG


def jitter_line(a, b, spacing, rng, amp0=0.15, amp=0.12):
    """Midpoint displacement between a and b (lon/lat), ending exactly at both."""
    lat0 = (a[1] + b[1]) / 2
    c = math.cos(math.radians(lat0))
    pts = np.array([[a[0] * c, a[1]], [b[0] * c, b[1]]])
    length = math.hypot(*(pts[1] - pts[0])) * M_PER_DEG
    levels = 0 if length <= spacing else min(10, int(math.ceil(math.log2(length / spacing))))
    for k in range(levels):
        seg = pts[1:] - pts[:-1]
        mid = (pts[1:] + pts[:-1]) / 2
        ln = np.hypot(seg[:, 0], seg[:, 1])
        normal = np.column_stack([-seg[:, 1], seg[:, 0]]) / ln[:, None]
        f = amp0 if k == 0 else amp
        mid = mid + normal * (rng.uniform(-f, f, len(mid)) * ln)[:, None]
        new = np.empty((2 * len(pts) - 1, 2))
        new[0::2] = pts
        new[1::2] = mid
        pts = new
    out = [tuple(a)] + [(x / c, y) for x, y in pts[1:-1]] + [tuple(b)]
    return out


def jittered_ring(control, spacing, rng, amp0=0.12, amp=0.10):
    """A closed ring through the control points, each edge jittered."""
    coords = []
    for i in range(len(control)):
        a, b = control[i], control[(i + 1) % len(control)]
        coords.extend(jitter_line(a, b, spacing, rng, amp0, amp)[:-1])
    coords.append(coords[0])
    return coords


def blob(cx, cy, r_m, rng, n=40, rough=0.18, spacing=None, aspect=1.0):
    """A jittered disk of radius about r_m metres around (cx, cy)."""
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    noise = np.zeros(n)
    for k in range(1, 5):
        noise += rng.uniform(-1, 1) * np.cos(k * t + rng.uniform(0, 6.3)) / k
    r = r_m * (1 + rough * noise / 1.6)
    xs, ys = metres_to_deg(r * np.cos(t) * aspect, r * np.sin(t), cy)
    ctrl = list(zip(cx + xs, cy + ys))
    if spacing:
        ring = jittered_ring(ctrl, spacing, rng, 0.08, 0.08)
    else:
        ring = ctrl + [ctrl[0]]
    p = Polygon(ring)
    if not p.is_valid:
        p = Polygon(ctrl + [ctrl[0]])
    return p


def largest_part(g):
    parts = [p for p in shapely.get_parts(g) if p.geom_type == "Polygon" and not p.is_empty]
    return max(parts, key=lambda p: p.area) if parts else None


def polygonal(g):
    """Only the polygons of an overlay result (drops stray lines and points)."""
    parts = [p for p in shapely.get_parts(g) if p.geom_type == "Polygon" and not p.is_empty and p.area > 0]
    if not parts:
        return Polygon()
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def shared_length(a, b):
    return a.boundary.intersection(b.boundary).length


# ---------------------------------------------------------------- partition


def sample_seeds(main, n, rng):
    minx, miny, maxx, maxy = main.bounds
    lat0 = (miny + maxy) / 2
    c = math.cos(math.radians(lat0))
    area = main.area * c * M_PER_DEG**2
    r = 0.6 * math.sqrt(area / n)
    seeds = []
    shapely.prepare(main)
    tries = 0
    while len(seeds) < n:
        xs = rng.uniform(minx, maxx, 256)
        ys = rng.uniform(miny, maxy, 256)
        ok = shapely.contains_xy(main, xs, ys)
        for x, y in zip(xs[ok], ys[ok]):
            if all(math.hypot((x - sx) * c, y - sy) * M_PER_DEG >= r for sx, sy in seeds):
                seeds.append((x, y))
                if len(seeds) == n:
                    break
        tries += 1
        if tries % 8 == 0:
            r *= 0.9
    return seeds


def partition(region, n, spacing, rng):
    """Splits a (multi)polygon into about n children that cover it exactly:
    Voronoi cells of seeds in its largest part, borders jittered, clipped to
    the region; other parts (islands) go whole to the nearest child.
    Returns (children, seeds), ordered west to east within north-south bands."""
    parts = sorted([p for p in shapely.get_parts(region)], key=lambda p: p.area, reverse=True)
    main, islands = parts[0], parts[1:]
    if n <= 1:
        return [region], [main.representative_point().coords[0]]
    seeds = sample_seeds(main, n, rng)
    minx, miny, maxx, maxy = main.bounds
    w, h = maxx - minx, maxy - miny
    env = box(minx - w, miny - h, maxx + w, maxy + h)
    mp = shapely.MultiPoint(seeds)
    cells = list(shapely.voronoi_polygons(mp, extend_to=env, ordered=True).geoms)
    edges = list(shapely.voronoi_polygons(mp, extend_to=env, only_edges=True).geoms)
    # Canonical endpoints, so that ridges meeting at a Voronoi vertex meet exactly.
    canon = {}

    def key(p):
        k = (round(p[0], 9), round(p[1], 9))
        return canon.setdefault(k, (float(p[0]), float(p[1])))

    ends = []
    degree = {}
    for e in edges:
        cs = list(e.coords)
        a, b = key(cs[0]), key(cs[-1])
        ends.append((a, b))
        degree[a] = degree.get(a, 0) + 1
        degree[b] = degree.get(b, 0) + 1
    lines = []
    for a, b in ends:
        if a == b:
            continue
        coords = jitter_line(a, b, spacing, rng)
        # A ridge ending on the envelope is extended past it, so that it is noded.
        for end, other, at_start in ((a, b, True), (b, a, False)):
            if degree[end] == 1:
                d = (end[0] - other[0], end[1] - other[1])
                ln = math.hypot(*d)
                ext = (end[0] + d[0] / ln * w * 0.5, end[1] + d[1] / ln * w * 0.5)
                if at_start:
                    coords = [ext] + coords
                else:
                    coords = coords + [ext]
        lines.append(LineString(coords))
    lines.append(env.boundary)
    noded = shapely.union_all(lines)
    faces = list(shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))))
    faces = [f for f in faces if main.intersects(f)]
    tree = shapely.STRtree(cells)
    owner_faces = [[] for _ in seeds]
    for f in faces:
        cand = tree.query(f)
        best = max(cand, key=lambda i: cells[i].intersection(f).area)
        owner_faces[best].append(f)
    children = []
    for fs in owner_faces:
        cell = shapely.union_all(fs) if fs else Polygon()
        children.append(polygonal(cell.intersection(main)) if not cell.is_empty else Polygon())
    # Fragments: each child keeps its largest part; the others go to the
    # sibling they share the longest border with.
    for _round in range(3):
        moved = False
        for i, ch in enumerate(children):
            if ch.is_empty or ch.geom_type == "Polygon":
                continue
            keep = largest_part(ch)
            for frag in shapely.get_parts(ch):
                if frag.equals_exact(keep, 0):
                    continue
                best, best_len = None, 0.0
                for j, other in enumerate(children):
                    if j == i or other.is_empty or not other.intersects(frag):
                        continue
                    ln = shared_length(frag, other)
                    if ln > best_len:
                        best, best_len = j, ln
                if best is None:
                    continue
                children[best] = polygonal(shapely.union(children[best], frag))
                ch = polygonal(ch.difference(frag))
                moved = True
            children[i] = ch
        if not moved:
            break
    # Children much smaller than the mean join their longest-border sibling.
    mean = main.area / n
    order = sorted(range(len(children)), key=lambda i: children[i].area)
    for i in order:
        ch = children[i]
        if ch.is_empty or ch.area >= 0.2 * mean:
            continue
        best, best_len = None, 0.0
        for j, other in enumerate(children):
            if j == i or other.is_empty or not other.intersects(ch):
                continue
            ln = shared_length(ch, other)
            if ln > best_len:
                best, best_len = j, ln
        if best is not None:
            children[best] = polygonal(shapely.union(children[best], ch))
            children[i] = Polygon()
    keep = [i for i, c in enumerate(children) if not c.is_empty]
    children = [children[i] for i in keep]
    seeds = [seeds[i] for i in keep]
    for isl in islands:
        j = min(range(len(children)), key=lambda j: children[j].distance(isl))
        children[j] = polygonal(shapely.union(children[j], isl))
    order = sorted(range(len(children)), key=lambda i: (-round(seeds[i][1] / 1.5), seeds[i][0]))
    return [children[i] for i in order], [seeds[i] for i in order]


# ---------------------------------------------------------------- the country


class Country:
    def __init__(self, seed):
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.features = {"province": {}, "city": {}, "county": {}}  # code -> dict
        self.truth = []
        self.used_names = set()
        self.no_parent_attr = set()

    # -- names
    def name(self, suffix):
        for _ in range(10000):
            n = self.rng.choice(NAME_FIRST) + self.rng.choice(NAME_SECOND)
            if n not in self.used_names:
                self.used_names.add(n)
                return n + suffix
        raise RuntimeError("out of names")

    def add(self, level, code, name, geom, parent=None):
        self.features[level][code] = {"code": code, "name": name, "geom": geom, "parent": parent, "level": level}

    def note(self, kind, codes, note, geometry=None, **extra):
        t = {"kind": kind, "codes": list(codes), "note": note}
        if geometry is not None:
            t["geometry"] = mapping(geometry)
            t["area_m2"] = round(area_m2(geometry), 3)
        t.update(extra)
        self.truth.append(t)

    # -- land
    def land(self):
        ctrl = [(100.0, 22.6), (100.3, 30.0), (100.2, 41.6), (110.0, 41.8), (118.5, 41.5),
                (121.2, 40.7), (121.7, 40.0), (121.1, 39.0), (118.6, 38.9), (118.0, 38.0), (119.0, 37.0),
                (121.0, 37.6), (121.6, 37.2), (120.0, 35.5), (121.0, 32.0), (121.8, 31.0), (121.0, 29.0),
                (119.5, 26.0), (117.5, 24.0), (114.5, 22.6), (110.0, 22.3), (105.0, 22.4)]
        ring = jittered_ring(ctrl, SPACING["coast"], self.rng, 0.10, 0.10)
        land = Polygon(ring)
        if not land.is_valid:
            land = polygonal(shapely.make_valid(land))
            land = largest_part(land)
        self.land_main = land
        # Small islands 8-60 km off the east and south coasts.
        islands = []
        coast_pts = [(121.9, 29.8), (122.0, 30.6), (120.6, 26.7), (118.9, 24.4), (116.6, 22.9),
                     (112.9, 21.9), (108.3, 21.9), (121.85, 36.6), (120.2, 34.4), (122.0, 39.4),
                     (119.2, 25.2), (121.3, 32.9)]
        for cx, cy in coast_pts:
            for _ in range(30):
                r = self.rng.uniform(2500, 9000)
                isl = blob(cx + self.rng.uniform(-0.15, 0.15), cy + self.rng.uniform(-0.1, 0.1), r, self.rng,
                           n=16, spacing=SPACING["island"])
                if isl.is_valid and isl.distance(land) > 0.04 and all(isl.distance(o) > 0.03 for o in islands) \
                        and EXTENT[0] < isl.bounds[0] and isl.bounds[2] < EXTENT[2] and isl.bounds[1] > EXTENT[1] - 0.3:
                    islands.append(isl)
                    break
        self.islands = islands
        return land, islands

    def build(self):
        rng = self.rng
        land, islands = self.land()
        land_all = MultiPolygon([land] + islands)
        self.land_area = area_m2(land_all)
        provinces, _ = partition(land_all, len(MAINLAND_CODES), SPACING["province"], rng)
        # The province that can hold the enclave (largest inscribed circle) is 13.
        best = max(range(len(provinces)), key=lambda i: shapely.ops.polylabel(largest_part(provinces[i]), 0.01)
                   .distance(largest_part(provinces[i]).exterior) if provinces[i].geom_type == "Polygon" else 0)
        codes = [c for c in MAINLAND_CODES if c != "13"]
        assigned = {}
        k = 0
        for i in range(len(provinces)):
            if i == best:
                assigned[i] = "13"
            else:
                assigned[i] = codes[k]
                k += 1
        for i, g in enumerate(provinces):
            self.add("province", assigned[i], PROVINCE_NAMES[assigned[i]], g)
        # 11: an enclave in a hole of 13.
        p13 = self.features["province"]["13"]["geom"]
        centre = shapely.ops.polylabel(p13, 0.01)
        r_in = centre.distance(p13.exterior) * M_PER_DEG
        d11 = blob(centre.x, centre.y, min(0.55 * r_in, 70000), rng, n=24, rough=0.2, spacing=SPACING["province"])
        assert p13.buffer(-0.02).contains(d11), "enclave does not fit"
        self.features["province"]["13"]["geom"] = Polygon(p13.exterior.coords, [d11.exterior.coords] + [h.coords for h in p13.interiors])
        self.add("province", "11", PROVINCE_NAMES["11"], d11)
        self.note("enclave", ["11", "13"], "province 11 fills a hole of province 13 (a province with a hole, an enclave province)")
        # 71: an island province; 82: a small island province (one city, one county).
        p71 = blob(120.9, 23.4, 60000, rng, n=28, rough=0.15, spacing=SPACING["island"], aspect=0.5)
        self.add("province", "71", PROVINCE_NAMES["71"], p71)
        p82 = blob(113.62, 22.08, 4000, rng, n=14, rough=0.15, spacing=300)
        self.add("province", "82", PROVINCE_NAMES["82"], p82)
        assert not p71.intersects(land_all) and not p82.intersects(land_all) and not p71.intersects(p82)
        self.note("island", ["71"], "an island province (no land border)")
        self.note("zero_sequence", ["82", "8200", "820000"], "province, city and county are the same polygon; 8200 and 820000 have zero sequence parts")
        self.build_cities()
        self.build_counties()

    def build_cities(self):
        rng = self.rng
        target = self.land_area / TARGET_CITIES
        for pcode in sorted(self.features["province"]):
            p = self.features["province"][pcode]
            g = p["geom"]
            if pcode == "11":
                self.add("city", "1100", "北京市", g, parent="11")
                continue
            if pcode == "82":
                self.add("city", "8200", "澳门特别行政区", g, parent="82")
                continue
            n = max(2, int(round(area_m2(g) / target)))
            if pcode == "44":
                n = max(n, 6)
            if pcode == "42":
                n = max(n, 5)
            kids, _ = partition(g, n, SPACING["city"], rng)
            if pcode == "44":
                # 4419 and 4420 (cities without counties) are its two smallest cities.
                small = sorted(range(len(kids)), key=lambda i: kids[i].area)[:2]
                kids = [kids[i] for i in range(len(kids)) if i not in small] + [kids[i] for i in small]
                seqs = CITY_SEQ[: len(kids) - 2] + ["19", "20"]
            elif pcode == "42":
                seqs = CITY_SEQ[: len(kids) - 1] + ["90"]
            else:
                seqs = CITY_SEQ[: len(kids)]
            for seq, kg in zip(seqs, kids):
                code = pcode + seq
                name = {"4419": "东莞市", "4420": "中山市", "4290": "省直辖县级行政区划"}.get(code) or self.name("市")
                self.add("city", code, name, kg, parent=pcode)

    def build_counties(self):
        rng = self.rng
        target = self.land_area / TARGET_COUNTIES
        for ccode in sorted(self.features["city"]):
            c = self.features["city"][ccode]
            g = c["geom"]
            if ccode in ("4419", "4420", "8200"):
                self.add("county", ccode + "00", c["name"], g, parent=ccode)
                continue
            n = max(2, int(round(area_m2(g) / target)))
            if ccode == "1100":
                n = max(n, 6)
            if ccode == "4290":
                n = 4
            kids, _ = partition(g, n, SPACING["county"], rng)
            if ccode == "1100":
                seqs = ["%02d" % (i + 1) for i in range(len(kids))]
                names = BEIJING_DISTRICTS
            elif ccode == "4290":
                seqs = ["04", "05", "06", "21"][: len(kids)]
                names = ["仙桃市", "潜江市", "天门市", "神农架林区"]
            else:
                seqs = COUNTY_SEQ[: len(kids)]
                names = None
            for i, (seq, kg) in enumerate(zip(seqs, kids)):
                code = ccode + seq
                if names:
                    name = names[i]
                else:
                    name = self.name("区" if seq < "20" else ("县" if seq < "80" else "市"))
                self.add("county", code, name, kg, parent=ccode)
        self.note("zero_sequence", ["4419", "441900", "4420", "442000"], "cities without counties: the county polygon equals the city polygon")
        self.note("zero_sequence", ["1100"], "a city whose code has a zero sequence part and whose polygon is its whole province")

    # -- helpers for planting
    def county_codes_of(self, ccode):
        return [k for k in self.features["county"] if k[:4] == ccode]

    def ordinary_cities(self, exclude):
        out = []
        for code in sorted(self.features["city"]):
            if code[:2] in ("11", "42", "71", "82") or code in ("4419", "4420") or code in exclude:
                continue
            kids = self.county_codes_of(code)
            if len(kids) >= 5 and all(self.features["county"][k]["geom"].geom_type == "Polygon" for k in kids):
                out.append(code)
        return out

    def border_point(self, a, b):
        """Midpoint of the longest piece of the border between a and b."""
        line = shapely.line_merge(a.boundary.intersection(b.boundary))
        parts = [p for p in shapely.get_parts(line) if p.geom_type == "LineString"]
        if not parts:
            return None, 0
        longest = max(parts, key=lambda p: p.length)
        return longest.interpolate(0.5, normalized=True), longest.length

    def neighbour_pairs(self, codes, level="county"):
        feats = self.features[level]
        out = []
        for i, a in enumerate(codes):
            for b in codes[i + 1:]:
                ga, gb = feats[a]["geom"], feats[b]["geom"]
                if ga.intersects(gb):
                    pt, ln = self.border_point(ga, gb)
                    if pt is not None and ln * M_PER_DEG > 8000:
                        out.append((a, b, pt))
        return out

    def plant(self):
        rng = self.rng
        C = self.features["county"]
        Y = self.features["city"]
        taken = set()
        cities = self.ordinary_cities(taken)
        rng.shuffle(cities)
        cities = list(cities)

        def next_city():
            while cities:
                c = cities.pop()
                if c not in taken:
                    taken.add(c)
                    return c
            raise RuntimeError("no more ordinary cities")

        # Gaps 1 and 2 in one city: a disk on the border of two counties, and a hole inside a third.
        city = next_city()
        kids = self.county_codes_of(city)
        for a, b, pt in self.neighbour_pairs(kids):
            d = blob(pt.x, pt.y, 900, rng)
            if shapely.union(C[a]["geom"], C[b]["geom"]).buffer(-1e-4).contains(d):
                break
        else:
            raise RuntimeError("no place for gap 1")
        C[a]["geom"] = polygonal(C[a]["geom"].difference(d))
        C[b]["geom"] = polygonal(C[b]["geom"].difference(d))
        self.note("gap", [city, a, b], f"a real gap in city {city}'s coverage, on the border of {a} and {b}", d, parent=city)
        others = [k for k in kids if k not in (a, b)]
        h = max(others, key=lambda k: C[k]["geom"].area)
        hg = C[h]["geom"]
        centre = shapely.ops.polylabel(hg, 0.001)
        d2 = blob(centre.x, centre.y, 600, rng)
        assert hg.buffer(-1e-3).contains(d2)
        C[h]["geom"] = Polygon(hg.exterior.coords, [d2.exterior.coords] + [r.coords for r in hg.interiors])
        self.note("gap", [city, h], f"a second gap in city {city}: an empty hole in county {h}", d2, parent=city)

        # Gap 4: a small hole (about 0.2 km^2) at a vertex shared by three counties.
        city = next_city()
        kids = self.county_codes_of(city)
        cnt = Counter()
        for k in kids:
            for xy in set(C[k]["geom"].exterior.coords):
                cnt[xy] += 1
        triple = sorted([xy for xy, n in cnt.items() if n >= 3])
        placed = False
        for xy in triple:
            d4 = blob(xy[0], xy[1], 260, rng, n=24)
            around = [k for k in kids if C[k]["geom"].intersects(d4)]
            if len(around) == 3 and shapely.union_all([C[k]["geom"] for k in around]).buffer(-1e-5).contains(d4):
                for k in around:
                    C[k]["geom"] = polygonal(C[k]["geom"].difference(d4))
                self.note("gap", [city] + around, f"a small gap in city {city} where three counties meet", d4, parent=city)
                placed = True
                break
        assert placed, "no triple point for gap 4"

        # Gap 3: a gap in a province's coverage by cities (the counties follow their cities).
        pcode = None
        for pc in sorted(self.features["province"]):
            if pc in ("11", "13", "42", "44", "71", "82"):
                continue
            cs = [c for c in Y if c[:2] == pc and c not in taken]
            pairs = self.neighbour_pairs(cs, "city")
            for x, y, pt in pairs:
                d3 = blob(pt.x, pt.y, 1200, rng)
                if shapely.union(Y[x]["geom"], Y[y]["geom"]).buffer(-1e-4).contains(d3):
                    pcode = pc
                    break
            if pcode:
                break
        assert pcode, "no place for gap 3"
        taken.update([x, y])
        hit = []
        for cc in (x, y):
            Y[cc]["geom"] = polygonal(Y[cc]["geom"].difference(d3))
            for k in self.county_codes_of(cc):
                if C[k]["geom"].intersects(d3):
                    C[k]["geom"] = polygonal(C[k]["geom"].difference(d3))
                    hit.append(k)
        self.note("gap", [pcode, x, y] + hit, f"a gap in province {pcode}'s coverage by cities, between cities {x} and {y} (their counties follow them)", d3, parent=pcode)

        # County overlap of a few km^2 (same city).
        city = next_city()
        kids = self.county_codes_of(city)
        for a, b, pt in self.neighbour_pairs(kids):
            d5 = blob(pt.x, pt.y, 1300, rng)
            if shapely.union(C[a]["geom"], C[b]["geom"]).buffer(-1e-4).contains(d5):
                break
        else:
            raise RuntimeError("no place for the county overlap")
        extra = polygonal(d5.intersection(C[b]["geom"]))
        C[a]["geom"] = polygonal(shapely.union(C[a]["geom"], extra))
        self.note("overlap", [a, b], f"county {a} reaches into county {b}", extra, level="county")

        # City overlap: city X and its county x1 reach into city Y (and Y's counties).
        placed = False
        for pc in sorted(self.features["province"]):
            if pc in ("11", "13", "42", "44", "71", "82", pcode):
                continue
            cs = [c for c in Y if c[:2] == pc and c not in taken]
            for x, y, pt in self.neighbour_pairs(cs, "city"):
                d6 = blob(pt.x, pt.y, 1500, rng)
                if not shapely.union(Y[x]["geom"], Y[y]["geom"]).buffer(-1e-4).contains(d6):
                    continue
                extra = polygonal(d6.intersection(Y[y]["geom"]))
                x1s = [k for k in self.county_codes_of(x) if C[k]["geom"].intersects(d6)]
                if len(x1s) != 1:
                    continue
                x1 = x1s[0]
                Y[x]["geom"] = polygonal(shapely.union(Y[x]["geom"], extra))
                C[x1]["geom"] = polygonal(shapely.union(C[x1]["geom"], extra))
                ys = [k for k in self.county_codes_of(y) if C[k]["geom"].intersection(extra).area > 0]
                self.note("overlap", [x, y], f"city {x} reaches into city {y}", extra, level="city")
                for k in ys:
                    self.note("overlap", [x1, k], f"county {x1} follows its city {x} into county {k} of {y}",
                              polygonal(extra.intersection(C[k]["geom"])), level="county")
                taken.update([x, y])
                placed = True
                break
            if placed:
                break
        assert placed, "no place for the city overlap"

        # Enclave county in a hole of another county of the same city.
        city = next_city()
        kids = self.county_codes_of(city)
        h = max(kids, key=lambda k: C[k]["geom"].area)
        hg = C[h]["geom"]
        centre = shapely.ops.polylabel(hg, 0.001)
        r = centre.distance(hg.exterior) * M_PER_DEG * 0.5
        de = blob(centre.x, centre.y, min(r, 9000), rng, n=20, spacing=SPACING["county"])
        assert hg.buffer(-1e-3).contains(de)
        C[h]["geom"] = Polygon(hg.exterior.coords, [de.exterior.coords] + [q.coords for q in hg.interiors])
        ecode = city + next(s for s in COUNTY_SEQ[::-1] if city + s not in C)
        self.add("county", ecode, self.name("区"), de, parent=city)
        self.note("enclave", [ecode, h], f"county {ecode} fills a hole of county {h}; both in city {city}")

        # Two thin sliver counties along a border (about 60 m wide).
        for _ in range(2):
            city = next_city()
            kids = self.county_codes_of(city)
            a, b, pt = self.neighbour_pairs(kids)[0]
            wdeg = 60.0 / M_PER_DEG
            strip = largest_part(C[a]["geom"].intersection(C[b]["geom"].buffer(wdeg, quad_segs=2)))
            C[a]["geom"] = polygonal(C[a]["geom"].difference(strip))
            if C[a]["geom"].geom_type == "MultiPolygon":
                # keep county a in one piece: give its small pieces to the sliver
                keep = largest_part(C[a]["geom"])
                rest = polygonal(C[a]["geom"].difference(keep))
                strip = polygonal(shapely.union(strip, rest))
                C[a]["geom"] = keep
            scode = city + next(s for s in COUNTY_SEQ[::-1] if city + s not in C)
            self.add("county", scode, self.name("林区"), strip, parent=city)
            self.note("sliver", [scode, a, b], f"county {scode} is a strip about 60 m wide between {a} and {b}",
                      width_m=60.0)

        # A county whose code names another city (of the same province) than the one containing it.
        city = next_city()
        kids = self.county_codes_of(city)
        victim = sorted(kids)[len(kids) // 2]
        other = next(c for c in sorted(Y) if c[:2] == city[:2] and c != city and c not in taken
                     and not Y[c]["geom"].intersects(C[victim]["geom"]))
        new_code = other + next(s for s in ["89", "88", "87", "86"] if other + s not in C)
        f = C.pop(victim)
        f["code"], f["parent"] = new_code, other
        C[new_code] = f
        self.note("code_geometry_mismatch", [new_code, city, other],
                  f"county {new_code} lies inside city {city} but its code names city {other}",
                  geometry_city=city, code_city=other)
        taken.add(other)

        # 4290: counties whose city is absent from the city file.
        self.missing_cities = {"4290"}
        self.note("missing_city_level", ["4290"] + self.county_codes_of("4290"),
                  "city 4290 (省直辖县级行政区划) is not in cities.geojson: its counties have no city, province 42 has a gap there",
                  Y["4290"]["geom"], parent="42")
        self.taken = taken

    def unshared_vertices(self, level, share_exact, share_bump, max_per_border):
        """On some shared borders of `level`, one side gets extra vertices on
        the other's edges (exact to float rounding) or cm-size bumps."""
        rng = self.rng
        feats = self.features[level]
        edge_owner = {}
        rings = {}
        for code in sorted(feats):
            g = feats[code]["geom"]
            for pi, part in enumerate(shapely.get_parts(g)):
                for ri, ring in enumerate([part.exterior] + list(part.interiors)):
                    cs = np.asarray(ring.coords)
                    rings[(code, pi, ri)] = cs
                    for i in range(len(cs) - 1):
                        p, q = tuple(cs[i]), tuple(cs[i + 1])
                        k = (p, q) if p < q else (q, p)
                        edge_owner.setdefault(k, []).append((code, pi, ri, i))
        by_pair = {}
        for k, owners in edge_owner.items():
            codes = sorted({o[0] for o in owners})
            if len(codes) == 2:
                by_pair.setdefault(tuple(codes), []).append(owners)
        inserts = {}
        bumped = set()
        n_exact = n_bump = 0
        bumps_area = 0.0
        for pair in sorted(by_pair):
            u = rng.uniform()
            if u >= share_exact + share_bump:
                continue
            bump = u >= share_exact
            side = pair[int(rng.integers(2))]
            shared = by_pair[pair]
            for _ in range(int(rng.integers(1, max_per_border + 1))):
                owners = shared[int(rng.integers(len(shared)))]
                o = next(o for o in owners if o[0] == side)
                cs = rings[o[:3]]
                a, b = cs[o[3]], cs[o[3] + 1]
                L = seg_len_m(a, b)
                if L < 5:
                    continue
                if not bump:
                    t = rng.uniform(0.1, 0.9)
                    inserts.setdefault(o[:3], {}).setdefault(o[3], []).append((t, tuple(a + t * (b - a))))
                    n_exact += 1
                elif o[:3] + (o[3],) not in bumped:
                    bumped.add(o[:3] + (o[3],))
                    t0 = rng.uniform(0.2, 0.8)
                    dt = 0.10 / L
                    off = rng.uniform(0.02, 0.035) * (1 if rng.uniform() < 0.5 else -1)
                    lat = a[1]
                    c = math.cos(math.radians(lat))
                    dx, dy = (b[0] - a[0]) * c, b[1] - a[1]
                    ln = math.hypot(dx, dy)
                    nx, ny = -dy / ln, dx / ln  # unit normal in a metric frame
                    mx, my = metres_to_deg(nx * off, ny * off, lat)
                    mid = a + t0 * (b - a)
                    pts = [(t0 - dt, tuple(a + (t0 - dt) * (b - a))), (t0, (mid[0] + mx, mid[1] + my)),
                           (t0 + dt, tuple(a + (t0 + dt) * (b - a)))]
                    inserts.setdefault(o[:3], {}).setdefault(o[3], []).extend(pts)
                    n_bump += 1
                    bumps_area += 0.5 * (2 * 0.10) * abs(off)
        for code in sorted({k[0] for k in inserts}):
            g = feats[code]["geom"]
            parts = []
            for pi, part in enumerate(shapely.get_parts(g)):
                rs = []
                for ri in range(1 + len(part.interiors)):
                    cs = rings[(code, pi, ri)]
                    ins = inserts.get((code, pi, ri))
                    if ins:
                        out = []
                        for i in range(len(cs) - 1):
                            out.append(tuple(cs[i]))
                            for _, p in sorted(ins.get(i, [])):
                                out.append(p)
                        out.append(tuple(cs[-1]))
                        rs.append(out)
                    else:
                        rs.append([tuple(p) for p in cs])
                parts.append(Polygon(rs[0], rs[1:]))
            feats[code]["geom"] = parts[0] if len(parts) == 1 else MultiPolygon(parts)
        self.note("unshared_vertices", [], f"{level}: {n_exact} extra vertices on a neighbour's edges, "
                  f"{n_bump} bumps 2-3.5 cm off a shared edge (20 cm wide) (each sliver < 0.01 m^2, {bumps_area:.3f} m^2 in all): "
                  "none may be reported at the default tolerance of 1 m^2",
                  level=level, exact_vertices=n_exact, bumps=n_bump)

    def plant_invalid(self):
        rng = self.rng
        C = self.features["county"]
        P = self.features["province"]
        taken = self.taken
        # A province with a small bow-tie twist on its coast (repair changes its area by far less than 1 %).
        land_all = shapely.union_all([f["geom"] for f in P.values()])
        twisted = None
        for pc in ["33", "35", "37", "32", "21", "36", "45"]:
            if pc not in P or P[pc]["geom"].geom_type != "Polygon":
                continue
            g = P[pc]["geom"]
            cs = list(g.exterior.coords)
            for i in range(len(cs) // 3, len(cs) - 1):
                a, b = np.array(cs[i]), np.array(cs[i + 1])
                L = seg_len_m(a, b)
                if L < 800:
                    continue
                c = math.cos(math.radians(a[1]))
                dx, dy = (b[0] - a[0]) * c, b[1] - a[1]
                ln = math.hypot(dx, dy)
                for sgn in (1, -1):
                    nx, ny = sgn * -dy / ln, sgn * dx / ln
                    h = 0.3 * L
                    mx, my = metres_to_deg(nx * h, ny * h, a[1])
                    m = (a + b) / 2
                    probe = Point(m[0] + 2 * mx, m[1] + 2 * my).buffer(abs(my) * 3)
                    if not probe.intersects(land_all):
                        break
                else:
                    continue
                p, q = a + 0.35 * (b - a), a + 0.65 * (b - a)
                p2, q2 = (p[0] + mx, p[1] + my), (q[0] + mx, q[1] + my)
                new = cs[: i + 1] + [tuple(p), q2, p2, tuple(q)] + cs[i + 1:]
                before = g
                P[pc]["geom"] = Polygon(new, [r.coords for r in g.interiors])
                repaired = polygonal(shapely.make_valid(P[pc]["geom"]))
                change = abs(area_m2(repaired) - area_m2(before))
                twisted = pc
                self.note("self_intersection", [pc], f"province {pc}: a small bow-tie twist in its coast ring; "
                          "a repair changes its area by far less than 1 % (its cities, without --repair, name a rejected parent)",
                          Point(*((p + q) / 2)), repair_area_change_m2=round(change, 1),
                          repair_relative_change=change / area_m2(before), repairable=True)
                break
            if twisted:
                break
        assert twisted, "no coastal edge for the twist"
        self.note("rejected_parent", [twisted] + sorted(c for c in self.features["city"] if c[:2] == twisted),
                  f"without --repair province {twisted} is rejected: its cities name a parent that is in the file but rejected")

        def pick_county(avoid_islands=True, need_polygon=True):
            for code in sorted(C, key=lambda k: (k[::-1], k)):
                if code[:4] in taken or code[:2] in ("11", "42", "71", "82", twisted) or code[:4] in ("4419", "4420"):
                    continue
                g = C[code]["geom"]
                if need_polygon and (g.geom_type != "Polygon" or len(g.interiors) > 0):
                    continue
                taken.add(code[:4])
                return code
            raise RuntimeError("no county left")

        # A county that is a large bow-tie: part of its ring reversed (lobes of 65 % and 35 %).
        k = pick_county()
        g = C[k]["geom"]
        cs = list(g.exterior.coords)[:-1]
        n = len(cs)
        best = None
        for i in range(0, n // 2, 3):
            for j in range(i + 6, n - 4):
                lobe = Polygon(cs[i + 1: j + 1])
                if not lobe.is_valid:
                    continue
                frac = lobe.area / g.area
                if best is None or abs(frac - 0.35) < abs(best[2] - 0.35):
                    best = (i, j, frac)
        i, j, frac = best
        new = cs[: i + 1] + cs[i + 1: j + 1][::-1] + cs[j + 1:] + [cs[0]]
        C[k]["geom"] = Polygon(new)
        signed = abs(shapely.area(Polygon(new)))
        self.note("bowtie", [k], f"county {k} is a large bow-tie (a reversed lobe of {frac:.0%} of its area): "
                  "any repair changes its area a lot, so --repair must refuse it; once left out, its city has a gap there",
                  g, lobe_fraction=round(frac, 3), shoelace_area_ratio=round(signed / g.area, 3), repairable=False,
                  city=k[:4])

        # A spike (zero-width needle) at the ring's lexicographically least vertex.
        k = pick_county()
        g = C[k]["geom"]
        cs = list(g.exterior.coords)[:-1]
        li = min(range(len(cs)), key=lambda i: cs[i])
        v = cs[li]
        tip = (v[0] - 0.012, v[1] - 0.002)
        new = cs[: li + 1] + [tip, v] + cs[li + 1:]
        if li == 0:
            new = cs + [cs[0], tip]
        C[k]["geom"] = Polygon(new + [new[0]])
        self.note("spike", [k], f"county {k}: a zero-width needle out of its least vertex (x, then y) "
                  "(what makes geo log 'polygon had no winding order'); removing it changes no area",
                  Point(tip), repairable=True, repair_area_change_m2=0.0)

        # A hole that pokes outside its exterior.
        k = pick_county()
        g = C[k]["geom"]
        cs = list(g.exterior.coords)
        v = cs[len(cs) // 2]
        hole = blob(v[0], v[1], 600, rng, n=24, rough=0.05)
        C[k]["geom"] = Polygon(cs, [list(hole.exterior.coords)[::-1]])
        inside = g.intersection(hole)
        outside = hole.difference(g)
        self.note("hole_outside", [k], f"county {k}: a hole that crosses its exterior ring. Repaired as the county "
                  "minus the hole, its city has a gap of the hole's inner part; repaired as GEOS make_valid (and QGIS "
                  "Fix Geometries) do, the hole's outer part joins the county instead, overlapping its neighbour",
                  inside, repairable=True, repair_area_change_m2=round(area_m2(inside), 1),
                  outer_part_m2=round(area_m2(outside), 1), city=k[:4])

        # A repeated consecutive vertex (valid).
        k = pick_county()
        g = C[k]["geom"]
        cs = list(g.exterior.coords)
        i = len(cs) // 3
        C[k]["geom"] = Polygon(cs[: i + 1] + [cs[i]] + cs[i + 1:], [r.coords for r in g.interiors])
        self.note("repeated_vertex", [k], f"county {k}: one vertex repeated consecutively (valid)")

        # A duplicate code: a second, simplified copy of a county (appended at the end of the file).
        k = pick_county()
        dup = C[k]["geom"].simplify(0.004)
        self.duplicate = {"code": k, "name": C[k]["name"] + "(重复)", "geom": dup, "parent": C[k]["parent"], "level": "county"}
        self.note("duplicate_code", [k], f"county {k} appears twice in counties.geojson (the second, last in the file, a simplified copy)")
        self.twisted = twisted


# ---------------------------------------------------------------- output


def geojson_geometry(g):
    """GeoJSON geometry written ring by ring (shapely's mapping keeps coordinates as they are)."""
    m = mapping(g)
    return {"type": m["type"], "coordinates": m["coordinates"]}


def write_geojson(path, feats, crs=True):
    out = {"type": "FeatureCollection", "name": os.path.splitext(os.path.basename(path))[0]}
    if crs:
        out["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4490"}}
    out["features"] = []
    for f in feats:
        props = {"code": f["code"], "name": f["name"]}
        if f.get("parent") and not f.get("no_parent"):
            props["parent"] = f["parent"]
        out["features"].append({"type": "Feature", "properties": props, "geometry": geojson_geometry(f["geom"])})
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(out, fh, ensure_ascii=False, separators=(",", ":"))


def write_shapefile(out_dir, feats):
    base = os.path.join(out_dir, "provinces")
    try:
        import shapefile as pyshp  # pyshp
    except ImportError:
        pyshp = None
    if pyshp is not None:
        w = pyshp.Writer(base, shapeType=pyshp.POLYGON, encoding="gbk")
        w.field("code", "C", size=10)
        w.field("name", "C", size=60)
        for f in feats:
            rings = []
            for part in shapely.get_parts(f["geom"]):
                ext = list(part.exterior.coords)
                if shapely.LinearRing(ext).is_ccw:
                    ext = ext[::-1]  # Shapefile exteriors are clockwise
                rings.append(ext)
                for h in part.interiors:
                    hc = list(h.coords)
                    if not shapely.LinearRing(hc).is_ccw:
                        hc = hc[::-1]
                    rings.append(hc)
            w.poly(rings)
            w.record(f["code"], f["name"])
        w.close()
        writer = "pyshp"
    else:
        if shutil.which("ogr2ogr") is None:
            sys.exit("make_country.py: neither pyshp (pip install pyshp) nor ogr2ogr (apt-get install gdal-bin) is available to write provinces.shp")
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "provinces.geojson")
            write_geojson(src, feats, crs=False)
            for ext in ("shp", "shx", "dbf", "prj", "cpg"):
                if os.path.exists(base + "." + ext):
                    os.remove(base + "." + ext)
            subprocess.run(["ogr2ogr", "-q", "-f", "ESRI Shapefile", base + ".shp", src,
                            "-nlt", "MULTIPOLYGON", "-lco", "ENCODING=GBK"], check=True)
        writer = "ogr2ogr"
    # Like files from older tools: no code page anywhere (no .cpg, language driver id 0).
    if os.path.exists(base + ".cpg"):
        os.remove(base + ".cpg")
    with open(base + ".dbf", "r+b") as fh:
        fh.seek(29)
        fh.write(b"\x00")
    with open(base + ".prj", "w") as fh:
        fh.write(CGCS2000_PRJ)
    return writer


def random_points_in(geom, n, rng):
    if n <= 0 or geom.is_empty:
        return np.zeros((0, 2))
    minx, miny, maxx, maxy = geom.bounds
    shapely.prepare(geom)
    out = []
    got = 0
    while got < n:
        m = max(64, int((n - got) * 1.5 * (box(minx, miny, maxx, maxy).area / max(geom.area, 1e-18))))
        m = min(m, 2_000_000)
        xs = rng.uniform(minx, maxx, m)
        ys = rng.uniform(miny, maxy, m)
        ok = shapely.contains_xy(geom, xs, ys)
        pts = np.column_stack([xs[ok], ys[ok]])[: n - got]
        out.append(pts)
        got += len(pts)
    return np.vstack(out)


def make_points(country, rng, total=200_000):
    P, Y, C = (country.features[k] for k in ("province", "city", "county"))
    land = shapely.union_all([polygonal(shapely.make_valid(f["geom"])) for f in P.values()])
    pts = []

    def add(prefix, arr):
        for x, y in arr:
            pts.append((prefix, float(x), float(y)))

    n_inside = int(total * 0.9)
    n_out = total - n_inside
    # Special places first.
    islands = MultiPolygon([p for f in P.values() for p in shapely.get_parts(f["geom"])
                            if not p.equals(largest_part(land)) and p.area < largest_part(land).area])
    add("island", random_points_in(islands, 6000, rng))
    enclaves = [t for t in country.truth if t["kind"] == "enclave"]
    for t in enclaves:
        code = t["codes"][0]
        g = (P if len(code) == 2 else C)[code]["geom"]
        add("enclave", random_points_in(g, 1500, rng))
    for t in country.truth:
        if t["kind"] in ("overlap", "gap") and "geometry" in t:
            g = shapely.geometry.shape(t["geometry"])
            add(t["kind"], random_points_in(g, 300 if t["kind"] == "overlap" else 250, rng))
    for t in country.truth:
        if t["kind"] in ("bowtie", "spike", "hole_outside", "repeated_vertex", "duplicate_code", "sliver",
                         "code_geometry_mismatch", "missing_city_level", "self_intersection"):
            code = t["codes"][0]
            if t["kind"] == "self_intersection":
                g = shapely.geometry.shape(t["geometry"]).buffer(0.05).intersection(land)
            elif t["kind"] == "missing_city_level":
                g = Y["4290"]["geom"]
            elif t["kind"] == "hole_outside":
                g = shapely.geometry.shape(t["geometry"]).buffer(0.01)
            elif t["kind"] == "spike":
                g = shapely.geometry.shape(t["geometry"]).buffer(0.03).intersection(land)
            else:
                g = polygonal(shapely.make_valid(C[code]["geom"]))
            add("special", random_points_in(g, 400, rng))
    # Points near shared county borders (0.01-30 m off, either side) and on shared vertices.
    edges = []
    for code in sorted(C):
        for part in shapely.get_parts(C[code]["geom"]):
            cs = np.asarray(part.exterior.coords)
            edges.append(cs)
    allc = np.vstack(edges)
    idx = rng.integers(0, len(allc) - 1, 30000)
    for i in idx:
        a, b = allc[i], allc[i + 1]
        if np.array_equal(a, b) or abs(b[0] - a[0]) > 1:
            continue
        t = rng.uniform()
        d = 10 ** rng.uniform(-2, math.log10(30)) * (1 if rng.uniform() < 0.5 else -1)
        c = math.cos(math.radians(a[1]))
        dx, dy = (b[0] - a[0]) * c, b[1] - a[1]
        ln = math.hypot(dx, dy)
        if ln == 0:
            continue
        mx, my = metres_to_deg(-dy / ln * d, dx / ln * d, a[1])
        m = a + t * (b - a)
        pts.append(("border", float(m[0] + mx), float(m[1] + my)))
    for i in rng.integers(0, len(allc), 1000):
        pts.append(("vertex", float(allc[i][0]), float(allc[i][1])))
    # The rest: uniform over the land.
    add("land", random_points_in(land, n_inside - len(pts), rng))
    # Outside: at sea near the coast, and far away.
    coast = np.asarray(largest_part(land).exterior.coords)
    sea = []
    while len(sea) < n_out - 4000:
        i = rng.integers(0, len(coast), 4000)
        ang = rng.uniform(0, 2 * math.pi, 4000)
        dist = 10 ** rng.uniform(2, math.log10(50000), 4000)
        xs = coast[i, 0] + dist * np.cos(ang) / (M_PER_DEG * np.cos(np.radians(coast[i, 1])))
        ys = coast[i, 1] + dist * np.sin(ang) / M_PER_DEG
        ok = ~shapely.intersects_xy(land.buffer(1e-6), xs, ys)
        sea.extend(zip(xs[ok], ys[ok]))
    add("sea", sea[: n_out - 4000])
    far = []
    while len(far) < 4000:
        xs = rng.uniform(40, 180, 2000)
        ys = rng.uniform(-30, 70, 2000)
        ok = ~((xs > EXTENT[0] - 3) & (xs < EXTENT[2] + 3) & (ys > EXTENT[1] - 3) & (ys < EXTENT[3] + 3))
        far.extend(zip(xs[ok], ys[ok]))
    add("far", far[:4000])
    assert len(pts) == total, len(pts)
    order = rng.permutation(len(pts))
    return [pts[i] for i in order]


def make_components(country, rng, n=3000):
    C = country.features["county"]
    bad = {c for t in country.truth if t["kind"] in ("bowtie", "duplicate_code") for c in t["codes"]}
    codes = sorted(c for c in C if c not in bad)
    rows = []
    seq = {}
    picks = rng.choice(len(codes), n)
    for i in picks:
        code = codes[i]
        g = polygonal(shapely.make_valid(C[code]["geom"]))
        (x, y), = random_points_in(g, 1, rng)
        cls, name = COMPONENT_CLASSES[int(rng.integers(len(COMPONENT_CLASSES)))]
        k = (code, cls)
        seq[k] = seq.get(k, 0) + 1
        rows.append((f"{code}{cls}{seq[k]:06d}", name, cls, "完好", float(x), float(y)))
    rows.sort()
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=20261202)
    ap.add_argument("--exact-borders", action="store_true",
                    help="leave out the unshared vertices and bumps (neighbours share every border vertex), "
                         "to tell their effect from the rest")
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    t0 = time.time()
    country = Country(a.seed)
    country.build()
    country.plant()
    # Orient like RFC 7946 before the hand edits (exteriors counter-clockwise).
    for level in country.features.values():
        for f in level.values():
            f["geom"] = shapely.orient_polygons(f["geom"], exterior_cw=False)
    if not a.exact_borders:
        country.unshared_vertices("county", 0.25, 0.10, 4)
        country.unshared_vertices("city", 0.20, 0.05, 3)
        country.unshared_vertices("province", 0.20, 0.0, 3)
    # Polygons that are one and the same in the source stay identical after the edits.
    for low, lv_low, high, lv_high in (("1100", "city", "11", "province"), ("8200", "city", "82", "province"),
                                       ("820000", "county", "8200", "city"), ("441900", "county", "4419", "city"),
                                       ("442000", "county", "4420", "city")):
        country.features[lv_low][low]["geom"] = country.features[lv_high][high]["geom"]
    country.plant_invalid()
    rng = country.rng
    P, Y, C = (country.features[k] for k in ("province", "city", "county"))
    # Optional parent attribute: left out for about one feature in five.
    for level in (Y, C):
        for code in sorted(level):
            if rng.uniform() < 0.2 and not code.startswith("4290"):
                level[code]["no_parent"] = True
    writer = write_shapefile(a.out_dir, [P[k] for k in sorted(P)])
    write_geojson(os.path.join(a.out_dir, "cities.geojson"),
                  [Y[k] for k in sorted(Y) if k not in country.missing_cities])
    write_geojson(os.path.join(a.out_dir, "counties.geojson"), [C[k] for k in sorted(C)] + [country.duplicate])
    scheme = {"levels": [
        {"name": "province", "label": "省级", "code_len": 2, "legacy_lens": [], "allow_zero_sequence": True},
        {"name": "city", "label": "地级", "code_len": 4, "legacy_lens": [], "allow_zero_sequence": True},
        {"name": "county", "label": "县级", "code_len": 6, "legacy_lens": [], "allow_zero_sequence": True}],
        "component": {"district_len": 6, "sequence_len": 6}}
    with open(os.path.join(a.out_dir, "scheme.json"), "w", encoding="utf-8") as fh:
        json.dump(scheme, fh, ensure_ascii=False, indent=1)
    pts = make_points(country, rng)
    with open(os.path.join(a.out_dir, "points.csv"), "w", encoding="utf-8") as fh:
        fh.write("id,lon,lat\n")
        counters = {}
        for prefix, x, y in pts:
            counters[prefix] = counters.get(prefix, 0) + 1
            fh.write(f"{prefix}-{counters[prefix]:06d},{x!r},{y!r}\n")
    comps = make_components(country, rng)
    with open(os.path.join(a.out_dir, "components.csv"), "w", encoding="utf-8") as fh:
        fh.write("code,name,class,state,lon,lat\n")
        for r in comps:
            fh.write(f"{r[0]},{r[1]},{r[2]},{r[3]},{r[4]!r},{r[5]!r}\n")
    stored_levels = {"province": P, "city": {k: v for k, v in Y.items() if k not in country.missing_cities}, "county": C}
    summary = {
        "seed": a.seed,
        "shapefile_writer": writer,
        "counts": {lv: len(v) for lv, v in stored_levels.items()},
        "features_in_files": {"provinces.shp": len(P), "cities.geojson": len(stored_levels["city"]),
                              "counties.geojson": len(C) + 1},
        "names": {lv: {k: v["name"] for k, v in sorted(feats.items())} for lv, feats in stored_levels.items()},
        "missing_cities": sorted(country.missing_cities),
    }
    with open(os.path.join(a.out_dir, "truth.json"), "w", encoding="utf-8") as fh:
        json.dump(country.truth, fh, ensure_ascii=False, indent=1)
    with open(os.path.join(a.out_dir, "country.json"), "w", encoding="utf-8") as fh:
        json.dump(summary, fh, ensure_ascii=False, indent=1)
    verts = [len(shapely.get_coordinates(f["geom"])) for f in C.values()]
    print(f"make_country: seed {a.seed}: {len(P)} provinces, {len(stored_levels['city'])} cities "
          f"(+{len(country.missing_cities)} left out), {len(C)} counties (+1 duplicate), vertices per county "
          f"{min(verts)}..{max(verts)} (median {int(np.median(verts))}), {len(pts)} points, {len(comps)} components, "
          f"{len(country.truth)} truth entries; Shapefile by {writer}; {time.time() - t0:.1f} s -> {a.out_dir}")


if __name__ == "__main__":
    main()
