//! Mapbox Vector Tile 2.1 encoding: the protobuf wire format of `vector_tile.proto`,
//! written directly (the message set is small and fixed).
//!
//! Coordinates here are tile units: integers in `0..extent` inside the tile,
//! x to the east, y to the south, as the specification defines them.

use indexmap::IndexSet;
use rustc_hash::FxBuildHasher;
use std::borrow::Cow;

/// A feature property value. Strings, unsigned integers and booleans are
/// what our layers carry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value<'a> {
    /// `string_value` (field 1); borrowed where the snapshot holds the text.
    Str(Cow<'a, str>),
    /// `uint_value` (field 5).
    Uint(u64),
    /// `bool_value` (field 7).
    Bool(bool),
}

/// MVT geometry types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeomType {
    /// One or more points.
    Point = 1,
    /// Polygons: exterior rings with positive area, holes negative.
    Polygon = 3,
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, ((field as u64) << 3) | wire as u64);
}

fn bytes_field(out: &mut Vec<u8>, field: u32, data: &[u8]) {
    key(out, field, 2);
    varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

fn uint_field(out: &mut Vec<u8>, field: u32, v: u64) {
    key(out, field, 0);
    varint(out, v);
}

fn zigzag(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

fn command(id: u32, count: usize) -> u32 {
    (id & 7) | ((count as u32) << 3)
}

/// Geometry commands of one feature, built with a moving cursor.
#[derive(Debug, Default, PartialEq)]
pub struct Geometry {
    cmds: Vec<u32>,
    cursor: [i32; 2],
}

impl Geometry {
    fn delta(&mut self, p: [i32; 2]) {
        self.cmds.push(zigzag(p[0] - self.cursor[0]));
        self.cmds.push(zigzag(p[1] - self.cursor[1]));
        self.cursor = p;
    }

    /// Adds points (a `MoveTo` with all of them).
    pub fn points(&mut self, pts: &[[i32; 2]]) {
        if pts.is_empty() {
            return;
        }
        self.cmds.push(command(1, pts.len()));
        for &p in pts {
            self.delta(p);
        }
    }

    /// Adds one ring, given without its closing point; the caller has
    /// oriented it and checked it has at least three vertices.
    pub fn ring(&mut self, ring: &[[i32; 2]]) {
        debug_assert!(ring.len() >= 3);
        self.cmds.push(command(1, 1));
        self.delta(ring[0]);
        self.cmds.push(command(2, ring.len() - 1));
        for &p in &ring[1..] {
            self.delta(p);
        }
        self.cmds.push(command(7, 1));
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.cmds.is_empty()
    }

    /// Splits the commands into the first point (the parameters of the
    /// leading `MoveTo`, absolute since the cursor starts at the origin) and
    /// the encoded varints of every later command; `None` when empty.
    pub fn split_first(&self) -> Option<([i32; 2], Vec<u8>)> {
        if self.cmds.len() < 3 {
            return None;
        }
        let unzig = |v: u32| ((v >> 1) as i32) ^ -((v & 1) as i32);
        let mut rest = Vec::with_capacity(self.cmds.len() * 2);
        for &c in &self.cmds[3..] {
            varint(&mut rest, c as u64);
        }
        Some(([unzig(self.cmds[1]), unzig(self.cmds[2])], rest))
    }

    /// Empties the geometry for reuse.
    pub fn clear(&mut self) {
        self.cmds.clear();
        self.cursor = [0, 0];
    }
}

/// One layer being built: features plus its deduplicated key and value tables.
#[derive(Debug)]
pub struct Layer<'a> {
    name: String,
    extent: u32,
    features: Vec<u8>,
    count: usize,
    keys: IndexSet<&'static str, FxBuildHasher>,
    values: IndexSet<Value<'a>, FxBuildHasher>,
    scratch_tags: Vec<u32>,
    scratch_feature: Vec<u8>,
}

impl<'a> Layer<'a> {
    /// An empty layer called `name` with `extent` tile units per side.
    pub fn new(name: &str, extent: u32) -> Self {
        Layer {
            name: name.to_string(),
            extent,
            features: Vec::new(),
            count: 0,
            keys: IndexSet::default(),
            values: IndexSet::default(),
            scratch_tags: Vec::new(),
            scratch_feature: Vec::new(),
        }
    }

    /// Number of features added.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when no feature was added.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn key_id(&mut self, k: &'static str) -> u32 {
        self.keys.insert_full(k).0 as u32
    }

    fn value_id(&mut self, v: Value<'a>) -> u32 {
        self.values.insert_full(v).0 as u32
    }

    /// Adds a feature. Empty geometries are skipped.
    pub fn add(
        &mut self,
        id: Option<u64>,
        kind: GeomType,
        geom: &Geometry,
        props: impl IntoIterator<Item = (&'static str, Value<'a>)>,
    ) {
        if geom.is_empty() {
            return;
        }
        self.feature(id, kind, props, |f| packed(f, 4, &geom.cmds));
    }

    /// Adds a polygon feature whose geometry was prepared by
    /// [`Geometry::split_first`]: `first` is its first point, `origin` the
    /// tile's origin in the same lattice, `rest` the later commands.
    pub fn add_prepared(
        &mut self,
        id: Option<u64>,
        first: [i32; 2],
        origin: [i32; 2],
        rest: &[u8],
        props: impl IntoIterator<Item = (&'static str, Value<'a>)>,
    ) {
        self.feature(id, GeomType::Polygon, props, |f| {
            let zx = zigzag(first[0] - origin[0]) as u64;
            let zy = zigzag(first[1] - origin[1]) as u64;
            key(f, 4, 2);
            varint(f, (1 + varint_len(zx) + varint_len(zy) + rest.len()) as u64);
            varint(f, command(1, 1) as u64);
            varint(f, zx);
            varint(f, zy);
            f.extend_from_slice(rest);
        });
    }

    /// Writes one feature: id, tags, type, and the geometry field written by
    /// `geometry`. Scratch buffers live in the layer: no allocation per feature.
    fn feature(
        &mut self,
        id: Option<u64>,
        kind: GeomType,
        props: impl IntoIterator<Item = (&'static str, Value<'a>)>,
        geometry: impl FnOnce(&mut Vec<u8>),
    ) {
        let mut tags = std::mem::take(&mut self.scratch_tags);
        let mut f = std::mem::take(&mut self.scratch_feature);
        tags.clear();
        f.clear();
        for (k, v) in props {
            tags.push(self.key_id(k));
            tags.push(self.value_id(v));
        }
        if let Some(id) = id {
            uint_field(&mut f, 1, id);
        }
        if !tags.is_empty() {
            packed(&mut f, 2, &tags);
        }
        uint_field(&mut f, 3, kind as u64);
        geometry(&mut f);
        bytes_field(&mut self.features, 2, &f);
        self.count += 1;
        self.scratch_tags = tags;
        self.scratch_feature = f;
    }

    /// Appends the encoded layer (field 3 of `Tile`) to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut l = Vec::with_capacity(self.features.len() + 64 * self.keys.len());
        uint_field(&mut l, 15, 2);
        bytes_field(&mut l, 1, self.name.as_bytes());
        l.extend_from_slice(&self.features);
        for k in &self.keys {
            bytes_field(&mut l, 3, k.as_bytes());
        }
        for v in &self.values {
            let mut m = Vec::new();
            match v {
                Value::Str(s) => bytes_field(&mut m, 1, s.as_bytes()),
                Value::Uint(u) => uint_field(&mut m, 5, *u),
                Value::Bool(b) => uint_field(&mut m, 7, *b as u64),
            }
            bytes_field(&mut l, 4, &m);
        }
        uint_field(&mut l, 5, self.extent as u64);
        bytes_field(out, 3, &l);
    }
}

/// A packed repeated uint32 field.
fn packed(out: &mut Vec<u8>, field: u32, vals: &[u32]) {
    let len: usize = vals.iter().map(|&v| varint_len(v as u64)).sum();
    key(out, field, 2);
    varint(out, len as u64);
    for &v in vals {
        varint(out, v as u64);
    }
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Twice the signed area of a ring in tile units by the shoelace formula,
/// as the MVT specification computes it (y down): positive for exterior rings.
pub fn ring_area2(ring: &[[i32; 2]]) -> i64 {
    let n = ring.len();
    let mut s = 0i64;
    for i in 0..n {
        let [x0, y0] = ring[i];
        let [x1, y1] = ring[(i + 1) % n];
        s += x0 as i64 * y1 as i64 - x1 as i64 * y0 as i64;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_and_commands_follow_the_spec() {
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(-2), 3);
        // The specification's example: MoveTo(1) = 9, LineTo(3) = 26, ClosePath = 15.
        assert_eq!(command(1, 1), 9);
        assert_eq!(command(2, 3), 26);
        assert_eq!(command(7, 1), 15);
    }

    #[test]
    fn a_prepared_feature_encodes_like_a_direct_one() {
        let ring = [[103, 206], [108, 212], [120, 234]];
        let mut direct = Layer::new("l", 4096);
        let mut g = Geometry::default();
        g.ring(&ring.map(|p| [p[0] - 100, p[1] - 200]));
        direct.add(Some(7), GeomType::Polygon, &g, [("k", Value::Uint(1))]);
        let mut world = Geometry::default();
        world.ring(&ring);
        let (first, rest) = world.split_first().unwrap();
        let mut prepared = Layer::new("l", 4096);
        prepared.add_prepared(Some(7), first, [100, 200], &rest, [("k", Value::Uint(1))]);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        direct.write(&mut a);
        prepared.write(&mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn varint_lengths() {
        for v in [0u64, 1, 127, 128, 16383, 16384, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v), "{v}");
        }
    }

    #[test]
    fn ring_geometry_matches_the_spec_example() {
        // Specification 4.3.5.3: polygon (3,6) (8,12) (20,34).
        let mut g = Geometry::default();
        g.ring(&[[3, 6], [8, 12], [20, 34]]);
        assert_eq!(g.cmds, vec![9, 6, 12, 18, 10, 12, 24, 44, 15]);
    }
}
