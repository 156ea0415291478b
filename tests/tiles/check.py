#!/usr/bin/env python3
"""Checks wangge's vector tiles with decoders and geometry code we did not write.

Decoder: mapbox-vector-tile (PyPI). Geometry: shapely 2 (GEOS). Archive reader:
pmtiles (PyPI). Against a running `wangge serve`:

- layers and fields as the TileJSON says;
- every polygon valid (GEOS), exteriors with positive and holes with negative
  area in the specification's y-down shoelace formula;
- per grid level, the polygons of a tile form a valid coverage (GEOS
  coverage_is_valid: no overlaps, neighbours' shared edges identical, no
  gap narrower than half a tile unit) at every zoom from the level's
  minzoom to 18 (or --minzoom..--maxzoom), except between grids that
  overlap in the source (--overlapping);
- at zoom 18 every unit grid and its source polygon (from /grids/{code})
  lie within one tile unit of each other inside the tile;
- cluster counts plus single points equal the number of components in the
  tile, counted here from the component coordinates (--components CSV);
- no tile over 500 KB or 200,000 features;
- with --pmtiles, the archive opens in the pmtiles reader and each of its
  tiles equals the server's tile.

Exits non-zero on the first failed check family, after printing a summary.
"""

import argparse
import csv
import gzip
import json
import math
import random
import sys
import urllib.error
import urllib.request

import mapbox_vector_tile
import numpy as np
import shapely
from shapely.geometry import Polygon, box, shape

EXTENT = 4096
MAX_BYTES = 500 * 1024
MAX_FEATURES = 200_000
SOURCES = "grids,components"


def fetch(url):
    req = urllib.request.Request(url, headers={"Accept-Encoding": "identity"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def world(lon, lat):
    lat = max(min(lat, 85.0511287798), -85.0511287798)
    x = (lon + 180.0) / 360.0
    y = 0.5 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat))) / (2 * math.pi)
    return x, y


def tiles_covering(bounds, z):
    n = 2**z
    x0, y0 = world(bounds[0], bounds[3])
    x1, y1 = world(bounds[2], bounds[1])
    clamp = lambda v: min(max(int(math.floor(v * n)), 0), n - 1)
    return [(z, x, y) for y in range(clamp(y0), clamp(y1) + 1) for x in range(clamp(x0), clamp(x1) + 1)]


def ring_area2(ring):
    # The MVT specification's shoelace sum, y down; the decoder closes rings.
    pts = ring[:-1] if len(ring) > 1 and ring[0] == ring[-1] else ring
    return sum(pts[i][0] * pts[(i + 1) % len(pts)][1] - pts[(i + 1) % len(pts)][0] * pts[i][1] for i in range(len(pts)))


class Checker:
    def __init__(self, base, seed, overlapping=()):
        self.base = base.rstrip("/")
        self.overlapping = set(overlapping)
        self.rng = random.Random(seed)
        self.failures = []
        self.stats = {"tiles": 0, "polygons": 0, "coverage_checks": 0, "hausdorff_checks": 0, "count_checks": 0}
        self.max_bytes = {}
        self.max_features = {}
        status, body = fetch(f"{self.base}/tiles/{SOURCES}")
        assert status == 200, f"TileJSON: HTTP {status}"
        self.tilejson = json.loads(body)
        self.layers = {l["id"]: l for l in self.tilejson["vector_layers"]}

    def fail(self, what):
        if len(self.failures) < 50:
            print("FAIL:", what)
        self.failures.append(what)

    def tile(self, z, x, y):
        status, body = fetch(f"{self.base}/tiles/{SOURCES}/{z}/{x}/{y}")
        if status == 204:
            return b"", {}
        if status != 200:
            self.fail(f"{z}/{x}/{y}: HTTP {status} {body[:200]!r}")
            return b"", {}
        return body, mapbox_vector_tile.decode(body, default_options={"y_coord_down": True})

    def check_tile(self, z, x, y, points=None, hausdorff=False):
        body, layers = self.tile(z, x, y)
        self.stats["tiles"] += 1
        key = f"{z}/{x}/{y}"
        nfeat = sum(len(l["features"]) for l in layers.values())
        if len(body) > self.max_bytes.get(z, (0, ""))[0]:
            self.max_bytes[z] = (len(body), key)
        if nfeat > self.max_features.get(z, (0, ""))[0]:
            self.max_features[z] = (nfeat, key)
        if len(body) > MAX_BYTES:
            self.fail(f"{key}: {len(body)} bytes > 500 KB")
        if nfeat > MAX_FEATURES:
            self.fail(f"{key}: {nfeat} features")
        tile_box = box(0, 0, EXTENT, EXTENT)
        for name, layer in layers.items():
            meta = self.layers.get(name)
            if meta is None:
                self.fail(f"{key}: layer {name} not in TileJSON")
                continue
            if z < meta["minzoom"]:
                self.fail(f"{key}: layer {name} below its minzoom {meta['minzoom']}")
            if layer["extent"] != EXTENT:
                self.fail(f"{key}: layer {name} extent {layer['extent']}")
            polys = []
            for f in layer["features"]:
                extra = set(f["properties"]) - set(meta["fields"])
                if extra:
                    self.fail(f"{key}: {name} fields {extra} not in TileJSON")
                g = f["geometry"]
                if g["type"] in ("Polygon", "MultiPolygon"):
                    self.stats["polygons"] += 1
                    parts = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
                    for part in parts:
                        if ring_area2(part[0]) <= 0:
                            self.fail(f"{key}: {name} {f['properties'].get('code')} exterior ring not positive")
                        for hole in part[1:]:
                            if ring_area2(hole) >= 0:
                                self.fail(f"{key}: {name} {f['properties'].get('code')} hole not negative")
                    geom = shape(g)
                    if not geom.is_valid:
                        self.fail(f"{key}: {name} {f['properties'].get('code')} invalid: {shapely.validation.explain_validity(geom)}")
                        continue
                    polys.append((f["properties"]["code"], geom.intersection(tile_box), geom))
            if polys and name != "grid_labels":
                geoms = [p for _, p, _ in polys if not p.is_empty]
                self.stats["coverage_checks"] += 1
                if not shapely.coverage_is_valid(shapely.GeometryCollection(geoms), gap_width=0.5):
                    bad = shapely.coverage_invalid_edges(shapely.GeometryCollection(geoms), gap_width=0.5)
                    where = [c for (c, _, _), e in zip([p for p in polys if not p[1].is_empty], shapely.get_parts(bad)) if not e.is_empty]
                    if where and set(where) <= self.overlapping:
                        # The source grids overlap here (--overlapping): the tile shows it.
                        self.stats["known_overlaps"] = self.stats.get("known_overlaps", 0) + 1
                    else:
                        self.fail(f"{key}: layer {name} is not an exact coverage (grids {where[:5]})")
            if hausdorff and name == "unit":
                for code, _, whole in polys[:40]:
                    self.check_source_distance(z, x, y, code, whole)
        if points is not None:
            self.check_counts(z, x, y, layers.get("components", {"features": []}), points)

    def check_source_distance(self, z, x, y, code, decoded):
        status, body = fetch(f"{self.base}/grids/{code}")
        if status != 200:
            self.fail(f"/grids/{code}: HTTP {status}")
            return
        src = shape(json.loads(body)["geometry"])
        scale = EXTENT * 2**z

        def to_tile(coords):
            return [((world(lon, lat)[0] * scale) - x * EXTENT, (world(lon, lat)[1] * scale) - y * EXTENT) for lon, lat in coords]

        polys = [src] if src.geom_type == "Polygon" else list(src.geoms)
        projected = shapely.MultiPolygon([Polygon(to_tile(p.exterior.coords), [to_tile(h.coords) for h in p.interiors]) for p in polys])
        # Within the tile, each lies within one tile unit of the other. The
        # decoded polygon reaches into the tile's buffer, the source is whole:
        # clip only the side being tested, so no clipping edge is compared.
        tile_box = box(0, 0, EXTENT, EXTENT)
        self.stats["hausdorff_checks"] += 1
        off = max(
            decoded.intersection(tile_box).difference(projected.buffer(1.0)).area,
            projected.intersection(tile_box).difference(decoded.buffer(1.0)).area,
        )
        if off > 1e-6:
            self.fail(f"{z}/{x}/{y}: unit {code} strays more than one tile unit from its source ({off:.3f} units² beyond)")

    def check_counts(self, z, x, y, layer, points):
        n = 2**z
        inside = ((points[0] * n).astype(np.int64) == x) & ((points[1] * n).astype(np.int64) == y)
        truth = int(np.count_nonzero(inside))
        clustered = strict = edge = 0
        for f in layer["features"]:
            p = f["properties"]
            if p.get("cluster"):
                clustered += int(p["point_count"])
                continue
            px, py = f["geometry"]["coordinates"]
            # Single points are snapped to the lattice: one on the tile's
            # edge line may belong to either side; those in the buffer
            # belong to the neighbour.
            if 0 < px < EXTENT and 0 < py < EXTENT:
                strict += 1
            elif 0 <= px <= EXTENT and 0 <= py <= EXTENT:
                edge += 1
        self.stats["count_checks"] += 1
        got = clustered + strict
        if not (got <= truth <= got + edge):
            self.fail(f"{z}/{x}/{y}: tile counts {got} (+{edge} on its edge) components, there are {truth}")


def load_points(path):
    lons, lats = [], []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            lons.append(float(row["X"] if "X" in row else row["lon"]))
            lats.append(float(row["Y"] if "Y" in row else row["lat"]))
    lon = np.array(lons)
    lat = np.clip(np.array(lats), -85.0511287798, 85.0511287798)
    wx = (lon + 180.0) / 360.0
    rad = np.radians(lat)
    wy = 0.5 - np.log(np.tan(rad) + 1 / np.cos(rad)) / (2 * np.pi)
    return wx, wy


def check_pmtiles(c, path, sample):
    from pmtiles.reader import MmapSource, Reader, all_tiles

    with open(path, "rb") as f:
        reader = Reader(MmapSource(f))
        header = reader.header()
        tiles = list(all_tiles(reader.get_bytes))
        print(f"pmtiles: {len(tiles)} tiles, zoom {header['min_zoom']}..{header['max_zoom']}, tile compression {header['tile_compression']}")
        if not tiles:
            c.fail("pmtiles archive holds no tiles")
        rng = random.Random(7)
        for (z, x, y), data in rng.sample(tiles, min(sample, len(tiles))):
            raw = gzip.decompress(data)
            status, body = fetch(f"{c.base}/tiles/{SOURCES}/{z}/{x}/{y}")
            if status != 200 or body != raw:
                c.fail(f"pmtiles tile {z}/{x}/{y} differs from the server's (HTTP {status})")
        meta = reader.metadata()
        ids = [l["id"] for l in meta.get("vector_layers", [])]
        if ids != [l["id"] for l in c.tilejson["vector_layers"]]:
            c.fail(f"pmtiles metadata layers {ids}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="server URL, e.g. http://127.0.0.1:18300")
    ap.add_argument("--components", help="CSV of component coordinates (X,Y or lon,lat) for the count check")
    ap.add_argument("--tiles-per-zoom", type=int, default=12)
    ap.add_argument("--pmtiles", help="archive exported from the same data, compared tile by tile")
    ap.add_argument("--seed", type=int, default=20261129)
    ap.add_argument("--minzoom", type=int, help="first zoom to check (default: the TileJSON's minzoom)")
    ap.add_argument("--maxzoom", type=int, help="last zoom to check (default: the TileJSON's maxzoom)")
    ap.add_argument("--overlapping", default="", help="comma-separated codes of grids that overlap in the source data: "
                    "a tile whose coverage fails only between them is counted, not failed")
    a = ap.parse_args()

    c = Checker(a.base, a.seed, [x for x in a.overlapping.split(",") if x])
    points = load_points(a.components) if a.components else None
    if points is not None:
        print(f"{len(points[0])} component coordinates loaded")
    bounds = c.tilejson["bounds"]
    minzoom = c.tilejson["minzoom"] if a.minzoom is None else a.minzoom
    maxzoom = c.tilejson["maxzoom"] if a.maxzoom is None else a.maxzoom
    for z in range(minzoom, maxzoom + 1):
        tiles = tiles_covering(bounds, z)
        centre = tiles_covering([(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2] * 2, z)[0]
        picked = [centre] + c.rng.sample(tiles, min(a.tiles_per_zoom, len(tiles)))
        for t in picked:
            c.check_tile(*t, points=points, hausdorff=(z == c.tilejson["maxzoom"]))
    if a.pmtiles:
        check_pmtiles(c, a.pmtiles, 60)
    print("checks:", json.dumps(c.stats))
    print("largest tile per zoom (bytes):", {z: v for z, v in sorted(c.max_bytes.items())})
    print("most features per zoom:", {z: v for z, v in sorted(c.max_features.items())})
    if c.failures:
        print(f"{len(c.failures)} failures")
        sys.exit(1)
    print("all tile checks passed")


if __name__ == "__main__":
    main()
