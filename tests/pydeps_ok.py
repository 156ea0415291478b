"""Whether the named Python packages are installed at the versions pinned in
tests/requirements.txt, and import. Exit status 0 if so; otherwise 1, with
what differs on stderr. The test scripts run it before pip, so a machine that
has the pinned packages starts its tests without asking PyPI:

    python3 tests/pydeps_ok.py OWSLib schemathesis shapely ||
      python3 -m pip install -q --disable-pip-version-check -r tests/requirements.txt
"""

import importlib
import importlib.metadata
import os
import re
import sys

# Distribution name -> the module it is imported as.
MODULES = {"owslib": "owslib", "schemathesis": "schemathesis", "shapely": "shapely",
           "mapbox-vector-tile": "mapbox_vector_tile", "pmtiles": "pmtiles", "numpy": "numpy",
           "psycopg": "psycopg", "psycopg-binary": "psycopg_binary"}


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def pins():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "requirements.txt")
    out = {}
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            m = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^\s;]+)", line)
            if m:
                out[canonical(m.group(1))] = m.group(3)
                if m.group(2) and "binary" in m.group(2) and canonical(m.group(1)) == "psycopg":
                    out["psycopg-binary"] = m.group(3)
    return out


def main(names):
    pinned = pins()
    wrong = []
    for name in names:
        dist = canonical(name)
        wanted = [dist] + (["psycopg-binary"] if dist == "psycopg" and "psycopg-binary" in pinned else [])
        for d in wanted:
            if d not in pinned:
                wrong.append(f"{d} is not pinned in tests/requirements.txt")
                continue
            try:
                have = importlib.metadata.version(d)
            except importlib.metadata.PackageNotFoundError:
                wrong.append(f"{d} is not installed (pinned {pinned[d]})")
                continue
            if have != pinned[d]:
                wrong.append(f"{d} {have} is installed, {pinned[d]} pinned")
                continue
            try:
                importlib.import_module(MODULES.get(d, d.replace("-", "_")))
            except Exception as e:  # a broken install is as good as none
                wrong.append(f"{d} does not import: {type(e).__name__}: {e}")
    if wrong:
        print("pinned test packages to install: " + "; ".join(wrong), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
