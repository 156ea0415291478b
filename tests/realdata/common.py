"""Helpers shared by make_country.py, selftest.py and check.py (numpy and
shapely only; nothing here knows about wangge).

- `area_m2`: areas in square metres on the sphere of mean radius
  6,371,008.8 m, computed exactly for polygons whose edges are straight in
  lon/lat (closed-form line integral; within about 0.1 % of the ellipsoid at
  these latitudes). Unlike a projection (LAEA, sinusoidal), it is linear: a
  vertex on an edge adds no area, so the zero-area slivers GEOS returns
  between unshared vertices measure ~0 m^2, not tens of m^2. pyproj is not
  used.
- `LocalFrame`: metres east/north of a point, equirectangular at the point's
  latitude (the "local metric frame" distances are compared in).
- `read_shapefile`: polygons and attributes of a .shp/.dbf pair, decoded with
  a given encoding (no GDAL).
- `load_truth`: the generator's country.json with truth.json as "problems".
"""

import json
import math
import os
import struct

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape

R_EARTH = 6371008.8
M_PER_DEG = R_EARTH * math.pi / 180.0


def _sinc_m1(x):
    """sin(x)/x - 1, accurate for small x."""
    small = np.abs(x) < 1e-3
    xs = np.where(small, 1.0, x)
    return np.where(small, -x * x / 6.0 + x**4 / 120.0, np.sin(xs) / xs - 1.0)


def ring_area_m2(coords):
    """Area on the sphere of a ring whose edges are straight lines in
    lon/lat (as GIS files mean them): R^2 * |closed integral of sin(lat) d(lon)|,
    edge by edge in closed form, relative to the ring's mean latitude so
    that small rings lose no precision. Exact for the sphere, and linear:
    a vertex lying on an edge adds no area (no projection can bend an
    edge into a sliver)."""
    c = np.asarray(coords, dtype=float)
    if len(c) < 4:
        return 0.0
    lam = np.radians(c[:, 0] - c[0, 0])
    phi = np.radians(c[:, 1])
    phi0 = phi.mean()
    dl = lam[1:] - lam[:-1]
    dp = phi[1:] - phi[:-1]
    pm = (phi[1:] + phi[:-1]) / 2
    term = dl * (np.sin(pm) * _sinc_m1(dp / 2) + 2 * np.cos((pm + phi0) / 2) * np.sin((pm - phi0) / 2))
    return abs(float(term.sum())) * R_EARTH * R_EARTH


def area_m2(g):
    """Area in m^2 of a (multi)polygon or collection: exterior minus holes,
    each ring by ring_area_m2."""
    total = 0.0
    for part in shapely.get_parts(g):
        if part.is_empty or part.geom_type != "Polygon":
            if part.geom_type in ("MultiPolygon", "GeometryCollection"):
                total += area_m2(part)
            continue
        total += ring_area_m2(part.exterior.coords) - sum(ring_area_m2(r.coords) for r in part.interiors)
    return total


class LocalFrame:
    """Metres east and north of (lon0, lat0), equirectangular at lat0."""

    def __init__(self, lon0, lat0):
        self.lon0, self.lat0 = lon0, lat0
        self.kx = M_PER_DEG * math.cos(math.radians(lat0))

    def project(self, g):
        lon0, lat0, kx = self.lon0, self.lat0, self.kx
        return shapely.transform(g, lambda xy: np.column_stack([(xy[:, 0] - lon0) * kx, (xy[:, 1] - lat0) * M_PER_DEG]))


def polygons_only(g):
    parts = [p for p in shapely.get_parts(g) if p.geom_type == "Polygon" and not p.is_empty]
    if not parts:
        return Polygon()
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def valid_version(g):
    """The geometry itself when valid, else GEOS make_valid's polygons."""
    return g if g.is_valid else polygons_only(shapely.make_valid(g))


def load_truth(out_dir):
    """make_country.py's country.json, with truth.json's list as "problems"."""
    with open(os.path.join(out_dir, "country.json"), encoding="utf-8") as fh:
        truth = json.load(fh)
    with open(os.path.join(out_dir, "truth.json"), encoding="utf-8") as fh:
        truth["problems"] = json.load(fh)
    return truth


def read_geojson(path):
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    return [(f["properties"], shape(f["geometry"])) for f in data["features"]]


def read_dbf(path, encoding):
    with open(path, "rb") as fh:
        data = fh.read()
    n = struct.unpack("<I", data[4:8])[0]
    header_len, rec_len = struct.unpack("<HH", data[8:12])
    fields = []
    pos = 32
    while data[pos] != 0x0D:
        name = data[pos:pos + 11].split(b"\0")[0].decode("ascii")
        fields.append((name, chr(data[pos + 11]), data[pos + 16]))
        pos += 32
    rows = []
    for i in range(n):
        rec = data[header_len + i * rec_len: header_len + (i + 1) * rec_len]
        off = 1
        row = {}
        for name, _typ, ln in fields:
            row[name] = rec[off:off + ln].decode(encoding).strip()
            off += ln
        rows.append(row)
    return {"ldid": data[29], "fields": fields, "rows": rows}


def read_shp_polygons(path):
    """Polygons of a .shp (types 5, 15, 25): clockwise rings are exteriors,
    counter-clockwise rings holes of the exterior containing them."""
    with open(path, "rb") as fh:
        data = fh.read()
    pos = 100
    out = []
    while pos < len(data):
        _num, length = struct.unpack(">ii", data[pos:pos + 8])
        content = data[pos + 8: pos + 8 + 2 * length]
        pos += 8 + 2 * length
        stype = struct.unpack("<i", content[:4])[0]
        if stype == 0:
            out.append(None)
            continue
        nparts, npoints = struct.unpack("<ii", content[36:44])
        parts = list(struct.unpack(f"<{nparts}i", content[44:44 + 4 * nparts])) + [npoints]
        pts = np.frombuffer(content[44 + 4 * nparts: 44 + 4 * nparts + 16 * npoints], dtype="<f8").reshape(-1, 2)
        rings = [pts[parts[i]:parts[i + 1]] for i in range(nparts)]
        shells, holes = [], []
        for r in rings:
            x, y = r[:, 0], r[:, 1]
            signed = 0.5 * np.sum(x[:-1] * y[1:] - x[1:] * y[:-1])
            (shells if signed < 0 else holes).append(r)
        polys = [[s, []] for s in shells]
        for h in holes:
            probe = shapely.Point(h[0])
            owners = [p for p in polys if Polygon(p[0]).buffer(1e-12).contains(probe)]
            if owners:
                min(owners, key=lambda p: Polygon(p[0]).area)[1].append(h)
            else:
                polys.append([h, []])
        geoms = [Polygon(s, hs) for s, hs in polys]
        out.append(geoms[0] if len(geoms) == 1 else MultiPolygon(geoms))
    return out


def read_shapefile(base, encoding):
    geoms = read_shp_polygons(base + ".shp")
    dbf = read_dbf(base + ".dbf", encoding)
    return [(row, g) for row, g in zip(dbf["rows"], geoms)], dbf
