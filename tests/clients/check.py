"""Checks wangge's OGC API - Features with clients we did not write."""

import json
import re
import subprocess
import sys
import time
import urllib.request

import shapely
from owslib.ogcapi.features import Features

base = sys.argv[1]
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(("ok   " if ok else "FAIL ") + name + (f": {detail}" if detail else ""))


def get(path):
    with urllib.request.urlopen(base + path, timeout=30) as r:
        return json.load(r)


for _ in range(100):
    try:
        get("/health")
        break
    except Exception:
        time.sleep(0.1)

BOX = (118.770, 32.050, 118.780, 32.060)
box_q = ",".join(map(str, BOX))
matched = get(f"/ogc/collections/unit/items?bbox={box_q}&limit=1")["numberMatched"]
# Independent count: every unit grid through the API, intersected with shapely.
everything = get("/ogc/collections/unit/items?limit=10000")
polys = [shapely.geometry.shape(f["geometry"]) for f in everything["features"]]
expected = int(shapely.intersects(polys, shapely.box(*BOX)).sum())
check("the API's numberMatched equals shapely's count for the bbox", matched == expected, f"{matched} vs {expected}")
check("the bbox holds some but not all unit grids", 0 < expected < len(polys), f"{expected} of {len(polys)}")

# GDAL: ogrinfo on OAPIF lists the collections and counts features in a bbox.
url = f"OAPIF:{base}/ogc"
out = subprocess.run(["ogrinfo", "-ro", "-so", url], capture_output=True, text=True, timeout=120).stdout
layers = re.findall(r"^\d+: (\S+)", out, re.M)
check("ogrinfo lists the collections", layers == ["district", "street", "community", "unit", "components"], str(layers))
out = subprocess.run(["ogrinfo", "-ro", "-so", url, "unit", "-spat", *map(str, BOX)], capture_output=True, text=True, timeout=120).stdout
m = re.search(r"Feature Count: (\d+)", out)
check("ogrinfo reads the unit grids in a bbox with the right count", m is not None and int(m.group(1)) == expected, m.group(0) if m else out[-300:])
out = subprocess.run(["ogrinfo", "-ro", "-al", "-q", url, "district"], capture_output=True, text=True, timeout=120).stdout
check("ogrinfo reads district features with their Chinese names", "区" in out and "MULTIPOLYGON" in out)

# OWSLib.
w = Features(base + "/ogc")
ids = [c["id"] for c in w.collections()["collections"]]
check("OWSLib lists the collections", ids == ["district", "street", "community", "unit", "components"], str(ids))
items = w.collection_items("unit", bbox=list(BOX), limit=1000)
check("OWSLib reads the unit grids in a bbox", items["numberReturned"] == expected, f"{items['numberReturned']} vs {expected}")
comp = w.collection_items("components", limit=5, state="damaged")
check("OWSLib filters components by state", comp["numberReturned"] == 5 and all(f["properties"]["state_en"] == "damaged" for f in comp["features"]))
# Paging: follow next links with a small limit; every grid once, numberMatched in total.
seen, page = [], get("/ogc/collections/community/items?limit=3")
while True:
    seen += [f["id"] for f in page["features"]]
    nxt = [l["href"] for l in page["links"] if l["rel"] == "next"]
    if not nxt:
        break
    with urllib.request.urlopen(nxt[0], timeout=30) as r:
        page = json.load(r)
check("next links page through every community exactly once", 3 < len(seen) == len(set(seen)) == page["numberMatched"], f"{len(seen)} of {page['numberMatched']}")

# Compressed answers over a real connection, streamed batches included: the
# whole body arrives (a broken chunked stream raises IncompleteRead) and
# decompresses to the uncompressed answer.
import gzip
import http.client


def raw(method, path, body=None, headers=None):
    c = http.client.HTTPConnection(base.split("//")[1], timeout=30)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, r.getheader("Content-Encoding"), data


batch = json.dumps([[118.765 + i * 1e-5, 32.05 + i * 1e-5] for i in range(5000)])
for path, body in [("/lookup", batch), ("/stats?level=unit", None)]:
    method = "POST" if body else "GET"
    hdr = {"Content-Type": "application/json"} if body else {}
    try:
        s1, e1, plain = raw(method, path, body, hdr)
        s2, e2, packed = raw(method, path, body, {**hdr, "Accept-Encoding": "gzip"})
        same = s1 == s2 == 200 and e1 is None and e2 == "gzip" and gzip.decompress(packed) == plain
        check(f"{method} {path} gzip over HTTP decompresses to the plain answer", same, f"{len(plain)} -> {len(packed)} bytes")
    except Exception as e:  # noqa: BLE001 - the failure is the finding
        check(f"{method} {path} gzip over HTTP decompresses to the plain answer", False, repr(e))

# schemathesis, bounded: no 5xx, every response as the OpenAPI document says.
st = subprocess.run(
    ["schemathesis", "run", base + "/api", "-n", "15", "--request-timeout", "10", "--seed", "1",
     "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,unsupported_method"],
    capture_output=True, text=True, timeout=600,
)
tail = st.stdout.strip().splitlines()[-3:]
check("schemathesis finds no 5xx and no response breaking the schema", st.returncode == 0, " / ".join(tail))

failed = results.count(False)
print(f"clients: {len(results) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
