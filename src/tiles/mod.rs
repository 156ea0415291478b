//! Vector tiles (Mapbox Vector Tile 2.1) of the grids and components.
//!
//! Pipeline for grid polygons: project to Web Mercator, simplify each shared
//! border once for the zoom ([`topology`]), clip to the tile plus a buffer
//! ([`clip`]), snap to the 4096-unit tile lattice, drop what collapsed,
//! orient rings as the specification requires (exterior positive area,
//! holes negative, y down), encode ([`mvt`]). Components are drawn one by
//! one from [`RAW_MIN_ZOOM`] (when a tile holds at most [`RAW_MAX_POINTS`]),
//! and as clusters on a 32 × 32 cell lattice per tile below that
//! ([`points`]).
//!
//! *World units*: Web Mercator scaled so that the whole map is `0..1` on
//! both axes, x to the east, y to the south; tile `z/x/y` covers
//! `[x/2^z, (x+1)/2^z] × [y/2^z, (y+1)/2^z]`.

pub mod cache;
pub mod clip;
pub mod export;
pub mod mvt;
pub mod points;
pub mod prepared;
pub mod topology;
mod valid;

use geo::{Coord, Rect};
use serde_json::{Value as Json, json};

use crate::index::Snapshot;
use crate::model::ComponentRef;
use clip::Bounds;
use mvt::{GeomType, Geometry, Layer, Value};
use topology::LevelTopology;

/// Tile units per tile side.
pub const EXTENT: u32 = 4096;
/// Buffer around each tile, tile units, included in polygon clipping and raw points.
pub const BUFFER: u32 = 64;
/// Highest zoom served; clients overzoom beyond it.
pub const MAX_ZOOM: u8 = 18;
/// Components are drawn one by one from this zoom (when the tile is not too full).
pub const RAW_MIN_ZOOM: u8 = 15;
/// A tile with more components than this is clustered at any zoom.
pub const RAW_MAX_POINTS: usize = 6000;
/// Cluster cells per tile side, log2 (32 × 32 cells of 128 tile units).
pub const CLUSTER_CELLS_LOG2: u32 = 5;
/// Grids are drawn from the zoom where the median grid of their level spans this many tile units (8 pixels of a 256-pixel tile).
const MIN_MEDIAN_UNITS: f64 = 128.0;
/// Labels appear from the zoom where the median grid spans this many tile units.
const LABEL_MEDIAN_UNITS: f64 = 384.0;
/// A single grid smaller than this (tile units, about one pixel) is not drawn.
const MIN_GRID_UNITS: f64 = 16.0;
/// Name of the grid label layer.
pub const LABEL_LAYER: &str = "grid_labels";
/// Name of the component layer.
pub const COMPONENT_LAYER: &str = "components";

const MAX_LAT: f64 = 85.051_128_779_806_59;

/// WGS84 longitude/latitude (degrees) to world units.
pub fn world(lon: f64, lat: f64) -> [f64; 2] {
    let lat = lat.clamp(-MAX_LAT, MAX_LAT).to_radians();
    let x = (lon + 180.0) / 360.0;
    let y = 0.5 - (lat.tan() + 1.0 / lat.cos()).ln() / (2.0 * std::f64::consts::PI);
    [x, y]
}

/// World units to WGS84 longitude/latitude (degrees).
pub fn lonlat(p: [f64; 2]) -> Coord<f64> {
    let n = std::f64::consts::PI * (1.0 - 2.0 * p[1]);
    Coord {
        x: p[0] * 360.0 - 180.0,
        y: n.sinh().atan().to_degrees(),
    }
}

/// Errors in a tile request.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TileError {
    /// The source list names an unknown source or is empty.
    #[error("{0}")]
    BadSource(String),
    /// z, x or y is outside the tile pyramid.
    #[error("{0}")]
    OutOfRange(String),
}

/// A tile address in the XYZ scheme (y = 0 at the north).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    /// Zoom, `0..=MAX_ZOOM`.
    pub z: u8,
    /// Column, `0..2^z`, from the west.
    pub x: u32,
    /// Row, `0..2^z`, from the north.
    pub y: u32,
}

impl TileId {
    /// A checked tile address.
    pub fn new(z: u32, x: u64, y: u64) -> Result<TileId, TileError> {
        if z > MAX_ZOOM as u32 {
            return Err(TileError::OutOfRange(format!(
                "zoom {z} is above the highest zoom {MAX_ZOOM}; clients overzoom tiles of zoom {MAX_ZOOM}"
            )));
        }
        let n = 1u64 << z;
        if x >= n || y >= n {
            return Err(TileError::OutOfRange(format!(
                "tile {z}/{x}/{y} does not exist: at zoom {z} x and y run from 0 to {}",
                n - 1
            )));
        }
        Ok(TileId {
            z: z as u8,
            x: x as u32,
            y: y as u32,
        })
    }

    /// Parses `z/x/y` path segments (y may end in `.mvt` or `.pbf`).
    pub fn parse(z: &str, x: &str, y: &str) -> Result<TileId, TileError> {
        let y = y
            .strip_suffix(".mvt")
            .or_else(|| y.strip_suffix(".pbf"))
            .unwrap_or(y);
        let num = |what: &str, s: &str| {
            s.parse::<u64>().map_err(|_| {
                TileError::OutOfRange(format!(
                    "tile {what} `{s}` is not a non-negative integer; use /tiles/{{source}}/{{z}}/{{x}}/{{y}}"
                ))
            })
        };
        let zz = num("z", z)?;
        TileId::new(zz.min(u32::MAX as u64) as u32, num("x", x)?, num("y", y)?)
    }

    /// World units per tile unit at this zoom.
    pub fn unit(&self) -> f64 {
        1.0 / (EXTENT as f64 * (1u64 << self.z) as f64)
    }

    /// The tile's box grown by `buffer` tile units on each side, world units.
    pub fn bounds(&self, buffer: u32) -> Bounds {
        let n = (1u64 << self.z) as f64;
        let b = buffer as f64 * self.unit();
        Bounds {
            min_x: self.x as f64 / n - b,
            min_y: self.y as f64 / n - b,
            max_x: (self.x + 1) as f64 / n + b,
            max_y: (self.y + 1) as f64 / n + b,
        }
    }

    /// World point to tile units (rounded to the lattice).
    fn tile_units(&self, p: [f64; 2]) -> [i32; 2] {
        let s = (EXTENT as f64) * (1u64 << self.z) as f64;
        [
            (p[0] * s - (self.x as f64) * EXTENT as f64).round() as i32,
            (p[1] * s - (self.y as f64) * EXTENT as f64).round() as i32,
        ]
    }
}

/// Longitude/latitude envelope of a world box.
pub fn lonlat_rect(b: &Bounds) -> Rect<f64> {
    Rect::new(lonlat([b.min_x, b.max_y]), lonlat([b.max_x, b.min_y]))
}

/// A tile source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// Grid polygons, one layer per level, and the grid label layer.
    Grids,
    /// Components: points, or clusters at low zoom.
    Components,
}

impl Source {
    /// Every source, in catalog order.
    pub const ALL: [Source; 2] = [Source::Grids, Source::Components];

    /// Identifier used in URLs.
    pub fn id(self) -> &'static str {
        match self {
            Source::Grids => "grids",
            Source::Components => "components",
        }
    }

    /// Parses a comma-separated list of sources (`grids,components`),
    /// keeping the given order and dropping repeats.
    pub fn parse_list(s: &str) -> Result<Vec<Source>, TileError> {
        let mut out = Vec::new();
        for part in s.split(',') {
            let src = Source::ALL
                .into_iter()
                .find(|x| x.id() == part.trim())
                .ok_or_else(|| {
                    TileError::BadSource(format!(
                        "unknown tile source `{part}`; sources are `grids` and `components` (several separated by commas, see /catalog)"
                    ))
                })?;
            if !out.contains(&src) {
                out.push(src);
            }
        }
        Ok(out)
    }

    /// The comma-separated form of a list.
    pub fn list_id(sources: &[Source]) -> String {
        sources.iter().map(|s| s.id()).collect::<Vec<_>>().join(",")
    }
}

/// Tile-side indexes of a snapshot: border topology per level and the
/// components in Morton order. Built on first use (see [`Snapshot::tiles`]).
#[derive(Debug)]
pub struct TileIndex {
    levels: Vec<LevelTopology>,
    /// Per level and zoom, the grids prepared for that zoom (on first use).
    prepared: Vec<Vec<std::sync::OnceLock<prepared::Prepared>>>,
    minzoom: Vec<u8>,
    label_minzoom: Vec<u8>,
    points: points::MortonIndex,
}

/// Smallest zoom where a feature of `size` world units spans `units` tile units.
fn zoom_for(size: f64, units: f64) -> u8 {
    (0..=MAX_ZOOM)
        .find(|&z| size * EXTENT as f64 * (1u64 << z) as f64 >= units)
        .unwrap_or(MAX_ZOOM)
}

impl TileIndex {
    /// Builds the tile indexes of `snap`. Uses all cores.
    pub fn build(snap: &Snapshot) -> TileIndex {
        let grids = &snap.data().grids;
        let levels: Vec<LevelTopology> = snap
            .levels()
            .iter()
            .map(|l| LevelTopology::build(&grids[l.first..l.first + l.len()]))
            .collect();
        // Derived from the grids' sizes for any extent (a city's districts
        // from zoom 9 or so, a country's provinces from zoom 2), unless the
        // scheme sets a level's zoom.
        let mut minzoom: Vec<u8> = levels
            .iter()
            .map(|t| zoom_for(t.median_size(), MIN_MEDIAN_UNITS))
            .collect();
        // A finer level never appears before a coarser one.
        for i in 1..minzoom.len() {
            minzoom[i] = minzoom[i].max(minzoom[i - 1]);
        }
        for (z, def) in minzoom.iter_mut().zip(&snap.data().scheme.levels) {
            if let Some(set) = def.minzoom {
                *z = set.min(MAX_ZOOM);
            }
        }
        let label_minzoom = levels
            .iter()
            .zip(&minzoom)
            .map(|(t, &m)| zoom_for(t.median_size(), LABEL_MEDIAN_UNITS).max(m))
            .collect();
        TileIndex {
            prepared: levels
                .iter()
                .map(|_| (0..=MAX_ZOOM).map(|_| std::sync::OnceLock::new()).collect())
                .collect(),
            levels,
            minzoom,
            label_minzoom,
            points: points::MortonIndex::build(&snap.data().components),
        }
    }

    /// The grids of `level` prepared for zoom `z`.
    fn prepared(&self, level: usize, z: u8) -> &prepared::Prepared {
        self.prepared[level][z as usize]
            .get_or_init(|| prepared::Prepared::build(&self.levels[level], z))
    }

    /// Zoom from which grids of `level` are drawn.
    pub fn level_minzoom(&self, level: usize) -> u8 {
        self.minzoom[level]
    }

    /// Zoom from which grids of `level` are labelled.
    pub fn label_minzoom(&self, level: usize) -> u8 {
        self.label_minzoom[level]
    }

    /// Lowest zoom at which the sources have anything to draw.
    pub fn source_minzoom(&self) -> u8 {
        self.minzoom.first().copied().unwrap_or(0)
    }

    /// Number of components inside tile `t` (west and north edges included).
    pub fn components_in_tile(&self, t: TileId) -> usize {
        self.points.tile_range(t.z, t.x, t.y).len()
    }
}

/// Encodes tile `t` of `sources`. An empty vector means the tile has no features.
pub fn render(snap: &Snapshot, sources: &[Source], t: TileId) -> Vec<u8> {
    render_counted(snap, sources, t).0
}

/// What rendering a tile left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Grids in the tile smaller than about a pixel at its zoom, not drawn
    /// (their neighbours' shared borders still are).
    pub tiny_grids: usize,
}

/// Like [`render`], and says what was left out.
pub fn render_counted(snap: &Snapshot, sources: &[Source], t: TileId) -> (Vec<u8>, Dropped) {
    let index = snap.tiles();
    let mut layers: Vec<Layer> = Vec::new();
    let mut dropped = Dropped::default();
    for s in sources {
        match s {
            Source::Grids => grid_layers(snap, index, t, &mut layers, &mut dropped),
            Source::Components => layers.push(component_layer(snap, index, t)),
        }
    }
    let mut out = Vec::new();
    for l in layers.iter().filter(|l| !l.is_empty()) {
        l.write(&mut out);
    }
    (out, dropped)
}

/// Adds one polygon (exterior first, then holes, world units) that crosses
/// the edge of the buffered tile `clip` to `geom`: oriented, clipped,
/// snapped to the tile lattice (grids wholly inside come prepared, see
/// [`prepared`]).
/// Rings that collapse are dropped; a polygon whose exterior collapses is
/// dropped with its holes.
fn polygon_geometry(t: &TileId, poly: Vec<Vec<[f64; 2]>>, clip: &Bounds, geom: &mut Geometry) {
    // Rings come oriented from the topology (exterior positive, holes
    // negative); one whose sign simplification flipped has collapsed, as
    // the prepared path (`emit_polygon`) treats it too.
    if poly.first().is_none_or(|e| clip::area2(e) <= 0.0) {
        return;
    }
    let oriented: Vec<Vec<[f64; 2]>> = poly
        .into_iter()
        .enumerate()
        .filter(|(k, r)| *k == 0 || clip::area2(r) < 0.0)
        .map(|(_, r)| r)
        .collect();
    let rings = clip::clip_rings(oriented, clip);
    // After clipping, exteriors are the rings with positive area; each hole
    // goes with the exterior that contains it.
    let (exteriors, holes): (Vec<_>, Vec<_>) =
        rings.into_iter().partition(|r| clip::area2(r) > 0.0);
    let snap = |r: &[[f64; 2]]| drop_spikes(drop_buffer_spikes(snap_clipped_ring(t, r)));
    for ext in &exteriors {
        let mut rings = vec![snap(ext)];
        rings.extend(
            holes
                .iter()
                .filter(|h| exteriors.len() == 1 || clip::ring_contains(ext, h[0]))
                .map(|h| snap(h)),
        );
        emit_polygon(geom, rings);
    }
}

/// Splits a snapped ring where it passes through the same vertex twice
/// (snapping can pinch a narrow neck into one point) into simple rings.
pub(crate) fn split_touching(ring: Vec<[i32; 2]>, out: &mut Vec<Vec<[i32; 2]>>) {
    let mut seen: rustc_hash::FxHashMap<[i32; 2], usize> = Default::default();
    for (j, &p) in ring.iter().enumerate() {
        if let Some(&i) = seen.get(&p) {
            let inner: Vec<[i32; 2]> = ring[i..j].to_vec();
            let mut outer: Vec<[i32; 2]> = ring[..i].to_vec();
            outer.extend_from_slice(&ring[j..]);
            split_touching(inner, out);
            split_touching(outer, out);
            return;
        }
        seen.insert(p, j);
    }
    out.push(ring);
}

/// Adds one snapped polygon (exterior first, then holes, tile or world
/// lattice units) to `geom` as the MVT specification wants it: rings that
/// pinch are split, collapsed rings dropped; the largest exterior piece
/// comes first with every hole, other exterior pieces follow as polygons of
/// their own. Nothing is added when the exterior collapsed.
pub(crate) fn emit_polygon(geom: &mut Geometry, rings: Vec<Vec<[i32; 2]>>) {
    let mut exterior: Vec<(i64, Vec<[i32; 2]>)> = Vec::new();
    let mut holes: Vec<Vec<[i32; 2]>> = Vec::new();
    for (k, ring) in rings.into_iter().enumerate() {
        let mut pieces = Vec::new();
        split_touching(ring, &mut pieces);
        for piece in pieces {
            let area = if piece.len() >= 3 {
                mvt::ring_area2(&piece)
            } else {
                0
            };
            if area > 0 && k == 0 {
                exterior.push((area, piece));
            } else if area < 0 {
                holes.push(piece);
            }
        }
        if k == 0 && exterior.is_empty() {
            return;
        }
    }
    exterior.sort_by_key(|p| std::cmp::Reverse(p.0));
    let mut pieces = exterior.into_iter();
    if let Some((_, main)) = pieces.next() {
        geom.ring(&main);
        for h in &holes {
            geom.ring(h);
        }
    }
    for (_, p) in pieces {
        geom.ring(&p);
    }
}

/// A clipped ring snapped to tile units, consecutive duplicates and the
/// closing point removed. A vertex near the
/// buffer's edge but not on it is kept one unit inside instead of being
/// rounded onto the edge, where the ring could touch its own edge segment.
/// (The buffer is outside the visible tile; the vertex moves at most 1.5
/// units, the same way in both neighbours' rings.)
fn snap_clipped_ring(t: &TileId, ring: &[[f64; 2]]) -> Vec<[i32; 2]> {
    let s = (EXTENT as f64) * (1u64 << t.z) as f64;
    let (lo, hi) = (-(BUFFER as f64), (EXTENT + BUFFER) as f64);
    let keep_off = |v: f64, q: i32| -> i32 {
        if q as f64 == hi && (v - hi).abs() > 1e-6 {
            q - 1
        } else if q as f64 == lo && (v - lo).abs() > 1e-6 {
            q + 1
        } else {
            q
        }
    };
    let mut out: Vec<[i32; 2]> = Vec::with_capacity(ring.len());
    for &p in ring {
        let f = [
            p[0] * s - (t.x as f64) * EXTENT as f64,
            p[1] * s - (t.y as f64) * EXTENT as f64,
        ];
        let q = [
            keep_off(f[0], f[0].round() as i32),
            keep_off(f[1], f[1].round() as i32),
        ];
        if out.last() != Some(&q) {
            out.push(q);
        }
    }
    while out.len() > 1 && out.first() == out.last() {
        out.pop();
    }
    out
}

/// Removes the zero-width spikes that snapping to the lattice can make: a
/// vertex where the ring turns straight back on itself (its neighbours and
/// it on one line, the direction reversed). A neighbouring grid walks the
/// same vertices the other way and removes the same ones.
pub(crate) fn drop_spikes(mut r: Vec<[i32; 2]>) -> Vec<[i32; 2]> {
    let mut i = 0;
    let mut since_change = 0;
    while r.len() >= 3 && since_change < r.len() {
        let n = r.len();
        let (a, b, c) = (r[(i + n - 1) % n], r[i % n], r[(i + 1) % n]);
        let (u, v) = (
            [(b[0] - a[0]) as i64, (b[1] - a[1]) as i64],
            [(c[0] - b[0]) as i64, (c[1] - b[1]) as i64],
        );
        if u[0] * v[1] - u[1] * v[0] == 0 && u[0] * v[0] + u[1] * v[1] < 0 {
            r.remove(i % n);
            // The previous vertex may now be a spike in turn.
            i = (i + r.len() - 1) % r.len().max(1);
            since_change = 0;
            // Consecutive duplicates can appear when the spike folded back exactly.
            r.dedup();
            while r.len() > 1 && r.first() == r.last() {
                r.pop();
            }
        } else {
            i = (i + 1) % n;
            since_change += 1;
        }
    }
    r
}

/// Removes vertices that lie on the buffer's edge between two neighbours on
/// the same edge: snapping a clipped ring to the lattice can fold it back
/// along the edge (a zero-width spike there); straight runs along the edge
/// need no middle vertices either.
fn drop_buffer_spikes(mut r: Vec<[i32; 2]>) -> Vec<[i32; 2]> {
    let (lo, hi) = (-(BUFFER as i32), (EXTENT + BUFFER) as i32);
    let on = |p: [i32; 2], axis: usize, v: i32| p[axis] == v;
    loop {
        let n = r.len();
        if n < 3 {
            return r;
        }
        let found = (0..n).find(|&i| {
            let (p, v, q) = (r[(i + n - 1) % n], r[i], r[(i + 1) % n]);
            [(0, lo), (0, hi), (1, lo), (1, hi)]
                .iter()
                .any(|&(axis, edge)| on(p, axis, edge) && on(v, axis, edge) && on(q, axis, edge))
        });
        match found {
            Some(i) => {
                r.remove(i);
            }
            None => return r,
        }
    }
}

fn code_id(code: &str) -> Option<u64> {
    code.parse().ok()
}

fn grid_layers<'a>(
    snap: &'a Snapshot,
    index: &TileIndex,
    t: TileId,
    layers: &mut Vec<Layer<'a>>,
    dropped: &mut Dropped,
) {
    let buffered = t.bounds(BUFFER);
    let inner = t.bounds(0);
    let rect = lonlat_rect(&buffered);
    let unit = t.unit();
    let scheme = &snap.data().scheme;
    let mut labels = Layer::new(LABEL_LAYER, EXTENT);
    for (level, topo) in index.levels.iter().enumerate() {
        if t.z < index.minzoom[level] {
            continue;
        }
        let level_name = &scheme.levels[level].name;
        let li = snap.level(level);
        let mut layer = Layer::new(level_name, EXTENT);
        let prepared = index.prepared(level, t.z);
        let origin = [(t.x * EXTENT) as i32, (t.y * EXTENT) as i32];
        let candidates = li.grids_in_box(rect);
        for &g in &candidates {
            let g = g as usize;
            let gb = topo.bounds(g);
            if !gb.intersects(&buffered) {
                continue;
            }
            if (gb.max_x - gb.min_x).max(gb.max_y - gb.min_y) < MIN_GRID_UNITS * unit
                || topo.collapsed(g, t.z)
            {
                dropped.tiny_grids += 1;
                continue;
            }
            let grid = snap.grid((li.first + g) as u32);
            let props = [
                ("code", Value::Str(grid.code.as_str().into())),
                ("name", Value::Str(grid.name.as_str().into())),
                ("level", Value::Str(level_name.as_str().into())),
            ];
            if buffered.contains(&gb) {
                if let Some((first, rest)) = prepared.grid(g) {
                    layer.add_prepared(code_id(&grid.code), first, origin, rest, props);
                }
                continue;
            }
            let mut geom = Geometry::default();
            for poly in topo.polygons(g, t.z, &buffered) {
                polygon_geometry(&t, poly, &buffered, &mut geom);
            }
            layer.add(code_id(&grid.code), GeomType::Polygon, &geom, props);
        }
        layers.push(layer);
        if t.z >= index.label_minzoom[level] {
            for &g in &candidates {
                let p = topo.label(g as usize);
                if !(p[0] >= inner.min_x
                    && p[0] < inner.max_x
                    && p[1] >= inner.min_y
                    && p[1] < inner.max_y)
                {
                    continue;
                }
                let grid = snap.grid((li.first + g as usize) as u32);
                let mut geom = Geometry::default();
                geom.points(&[t.tile_units(p)]);
                labels.add(
                    code_id(&grid.code),
                    GeomType::Point,
                    &geom,
                    [
                        ("code", Value::Str(grid.code.as_str().into())),
                        ("name", Value::Str(grid.name.as_str().into())),
                        ("level", Value::Str(level_name.as_str().into())),
                    ],
                );
            }
        }
    }
    layers.push(labels);
}

fn component_props<'a>(snap: &'a Snapshot, c: ComponentRef<'a>) -> [(&'static str, Value<'a>); 7] {
    let class = snap.data().classes.def(c.class());
    [
        ("code", Value::Str(c.code().into())),
        ("class", Value::Str(class.code.as_str().into())),
        ("class_name", Value::Str(class.minor_name.as_str().into())),
        ("major", Value::Str(class.major().into())),
        ("major_name", Value::Str(class.major_name.as_str().into())),
        ("state", Value::Str(c.state().english().into())),
        ("owner", Value::Str(c.owner().into())),
    ]
}

fn component_feature<'a>(
    snap: &'a Snapshot,
    t: &TileId,
    layer: &mut Layer<'a>,
    geom: &mut Geometry,
    i: usize,
) {
    let c = snap.data().components.get(i);
    let p = c.location();
    geom.clear();
    geom.points(&[t.tile_units(world(p.x, p.y))]);
    layer.add(
        Some(c.code_number()),
        GeomType::Point,
        geom,
        component_props(snap, c),
    );
}

fn component_layer<'a>(snap: &'a Snapshot, index: &TileIndex, t: TileId) -> Layer<'a> {
    let mut layer = Layer::new(COMPONENT_LAYER, EXTENT);
    let mut scratch = Geometry::default();
    if t.z < index.source_minzoom() {
        return layer;
    }
    let range = index.points.tile_range(t.z, t.x, t.y);
    if t.z >= RAW_MIN_ZOOM && range.len() <= RAW_MAX_POINTS {
        for i in snap.components_in_box(lonlat_rect(&t.bounds(BUFFER))) {
            component_feature(snap, &t, &mut layer, &mut scratch, i);
        }
        return layer;
    }
    let classes = &snap.data().classes;
    let shift = 2 * (points::BITS - t.z as u32 - CLUSTER_CELLS_LOG2);
    let mut counts = vec![0u32; classes.len()];
    let mut touched: Vec<u16> = Vec::new();
    let mut i = range.start;
    let lattice = (1u64 << points::BITS) as f64;
    while i < range.end {
        let cell = index.points.key_at(i) >> shift;
        let start = i;
        let (mut sx, mut sy) = (0u64, 0u64);
        while i < range.end && index.points.key_at(i) >> shift == cell {
            let (x, y) = points::cell(index.points.key_at(i));
            sx += x as u64;
            sy += y as u64;
            let c = index.points.class_at(i);
            if counts[c as usize] == 0 {
                touched.push(c);
            }
            counts[c as usize] += 1;
            i += 1;
        }
        let n = i - start;
        if n == 1 {
            for &c in &touched {
                counts[c as usize] = 0;
            }
            touched.clear();
            component_feature(
                snap,
                &t,
                &mut layer,
                &mut scratch,
                index.points.component_at(start),
            );
            continue;
        }
        let dominant = dominant_class(&touched, &counts, classes);
        for &c in &touched {
            counts[c as usize] = 0;
        }
        touched.clear();
        let centre = [
            (sx as f64 / n as f64 + 0.5) / lattice,
            (sy as f64 / n as f64 + 0.5) / lattice,
        ];
        let class = classes.def(dominant);
        let mut geom = Geometry::default();
        geom.points(&[t.tile_units(centre)]);
        layer.add(
            None,
            GeomType::Point,
            &geom,
            [
                ("cluster", Value::Bool(true)),
                ("point_count", Value::Uint(n as u64)),
                ("class", Value::Str(class.code.as_str().into())),
                ("class_name", Value::Str(class.minor_name.as_str().into())),
                ("major", Value::Str(class.major().into())),
                ("major_name", Value::Str(class.major_name.as_str().into())),
            ],
        );
    }
    layer
}

/// The class a cluster is shown as: the most common class of its most
/// common major class (ties: the smaller code), so that a cluster coloured by
/// major class shows what most of its components are. `touched` are the
/// classes present, `counts` their numbers by dense class index.
fn dominant_class(touched: &[u16], counts: &[u32], classes: &crate::codes::ClassTable) -> u16 {
    let mut majors: Vec<(&str, u32)> = Vec::new();
    for &c in touched {
        let m = classes.def(c).major();
        match majors.iter_mut().find(|(k, _)| *k == m) {
            Some((_, n)) => *n += counts[c as usize],
            None => majors.push((m, counts[c as usize])),
        }
    }
    let major = majors
        .iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
        .map(|(m, _)| *m)
        .unwrap_or("");
    touched
        .iter()
        .copied()
        .filter(|&c| classes.def(c).major() == major)
        .max_by(|&a, &b| {
            counts[a as usize]
                .cmp(&counts[b as usize])
                .then(classes.def(b).code.cmp(&classes.def(a).code))
        })
        .unwrap_or(0)
}

/// One vector layer of a source, as TileJSON describes it.
#[derive(Debug, Clone)]
pub struct LayerInfo {
    /// Layer name in the tiles.
    pub id: String,
    /// What the layer shows.
    pub description: String,
    /// First zoom with features.
    pub minzoom: u8,
    /// Field name → description.
    pub fields: Vec<(&'static str, &'static str)>,
}

/// The layers a source writes, in tile order.
pub fn layers(snap: &Snapshot, source: Source) -> Vec<LayerInfo> {
    let index = snap.tiles();
    let grid_fields = vec![
        ("code", "String: grid code"),
        ("name", "String: grid name"),
        (
            "level",
            "String: grid level (district, street, community, unit)",
        ),
    ];
    match source {
        Source::Grids => {
            let scheme = &snap.data().scheme;
            let mut v: Vec<LayerInfo> = scheme
                .levels
                .iter()
                .enumerate()
                .map(|(l, def)| LayerInfo {
                    id: def.name.clone(),
                    description: format!("{} ({}) grid polygons", def.label, def.name),
                    minzoom: index.minzoom[l],
                    fields: grid_fields.clone(),
                })
                .collect();
            v.push(LayerInfo {
                id: LABEL_LAYER.into(),
                description: "one label point per grid, inside its polygon".into(),
                minzoom: index.label_minzoom.iter().copied().min().unwrap_or(0),
                fields: grid_fields,
            });
            v
        }
        Source::Components => vec![LayerInfo {
            id: COMPONENT_LAYER.into(),
            description: format!(
                "city components: one point each from zoom {RAW_MIN_ZOOM} (tiles with at most {RAW_MAX_POINTS}), clusters below"
            ),
            minzoom: index.source_minzoom(),
            fields: vec![
                ("code", "String: component code (points only)"),
                (
                    "class",
                    "String: 4-digit class code; for a cluster the most common class of its most common major class",
                ),
                ("class_name", "String: class name"),
                (
                    "major",
                    "String: 2-digit major class code; for a cluster its most common",
                ),
                ("major_name", "String: major class name"),
                (
                    "state",
                    "String: intact, damaged, lost or occupied (points only)",
                ),
                ("owner", "String: owner (points only)"),
                (
                    "cluster",
                    "Boolean: true for a cluster of several components",
                ),
                ("point_count", "Number: components in the cluster"),
            ],
        }],
    }
}

/// The envelope of the data (grids and components), lon/lat degrees.
pub fn data_bounds(snap: &Snapshot) -> Option<Rect<f64>> {
    match (snap.extent(), snap.components_extent()) {
        (Some(a), Some(b)) => Some(crate::index::merge_rects(a, b)),
        (a, b) => a.or(b),
    }
}

/// TileJSON 3.0.0 for `sources`, with tile URLs under `base` (scheme and host).
pub fn tilejson(snap: &Snapshot, sources: &[Source], base: &str) -> Json {
    let index = snap.tiles();
    let id = Source::list_id(sources);
    let bounds = data_bounds(snap).unwrap_or(Rect::new(
        Coord {
            x: -180.0,
            y: -85.0,
        },
        Coord { x: 180.0, y: 85.0 },
    ));
    let minzoom = index.source_minzoom();
    let center_zoom = (minzoom + 2).min(MAX_ZOOM);
    let layers: Vec<Json> = sources
        .iter()
        .flat_map(|&s| layers(snap, s))
        .map(|l| {
            let fields: serde_json::Map<String, Json> = l
                .fields
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect();
            json!({
                "id": l.id,
                "description": l.description,
                "minzoom": l.minzoom,
                "maxzoom": MAX_ZOOM,
                "fields": fields,
            })
        })
        .collect();
    json!({
        "tilejson": "3.0.0",
        "name": format!("wangge {id}"),
        "description": format!("wangge vector tiles: {id}"),
        "version": format!("{}", snap.version()),
        "scheme": "xyz",
        "tiles": [format!("{base}/tiles/{id}/{{z}}/{{x}}/{{y}}")],
        "minzoom": minzoom,
        "maxzoom": MAX_ZOOM,
        "bounds": [bounds.min().x, bounds.min().y, bounds.max().x, bounds.max().y],
        "center": [bounds.center().x, bounds.center().y, center_zoom],
        "vector_layers": layers,
    })
}

/// The tiles covering `bounds` (lon/lat) at zoom `z`, row by row.
pub fn tiles_covering(bounds: Rect<f64>, z: u8) -> Vec<TileId> {
    let n = 1u64 << z;
    let idx = |v: f64| ((v * n as f64).floor().max(0.0) as u64).min(n - 1) as u32;
    let a = world(bounds.min().x, bounds.max().y);
    let b = world(bounds.max().x, bounds.min().y);
    let mut out = Vec::new();
    for y in idx(a[1])..=idx(b[1]) {
        for x in idx(a[0])..=idx(b[0]) {
            out.push(TileId { z, x, y });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_shows_the_most_common_major_class() {
        let classes = crate::codes::ClassTable::builtin();
        let mut counts = vec![0u32; classes.len()];
        let mut touched = Vec::new();
        for (code, n) in [("0402", 5), ("0102", 3), ("0101", 3), ("0205", 2)] {
            let c = classes.get(code).unwrap();
            counts[c as usize] = n;
            touched.push(c);
        }
        // Trees are the most common class, but utilities (6) outnumber
        // greenery (5); among utilities 0101 and 0102 tie: the smaller code.
        let d = classes.def(dominant_class(&touched, &counts, &classes));
        assert_eq!(d.code, "0101");
        counts[classes.get("0402").unwrap() as usize] = 7;
        let d = classes.def(dominant_class(&touched, &counts, &classes));
        assert_eq!(d.code, "0402");
    }

    #[test]
    fn mercator_round_trips() {
        for (lon, lat) in [(116.39, 39.9), (-70.0, -33.4), (0.0, 0.0), (179.9, 85.0)] {
            let c = lonlat(world(lon, lat));
            assert!((c.x - lon).abs() < 1e-9 && (c.y - lat).abs() < 1e-9);
        }
        assert_eq!(world(-180.0, 0.0), [0.0, 0.5]);
    }

    #[test]
    fn tile_ids_are_checked() {
        assert!(TileId::new(18, (1 << 18) - 1, 0).is_ok());
        assert!(TileId::new(19, 0, 0).is_err());
        assert!(TileId::new(3, 8, 0).is_err());
        assert_eq!(TileId::parse("2", "1", "3.mvt"), TileId::new(2, 1, 3));
        assert!(TileId::parse("2", "-1", "3").is_err());
        assert!(TileId::parse("99999999999", "0", "0").is_err());
    }

    #[test]
    fn spikes_from_snapping_are_removed() {
        // A square with a spike going out and straight back along the top.
        let r = vec![
            [0, 0],
            [10, 0],
            [10, 10],
            [5, 10],
            [5, 14],
            [5, 10],
            [0, 10],
        ];
        assert_eq!(
            drop_spikes(r),
            vec![[0, 0], [10, 0], [10, 10], [5, 10], [0, 10]]
        );
        // A vertex on the line between its neighbours, ring folded back.
        let r = vec![[0, 0], [4, 2], [2, 1], [2, 8]];
        assert_eq!(drop_spikes(r), vec![[0, 0], [2, 1], [2, 8]]);
        // A straight run is not a spike.
        let r = vec![[0, 0], [5, 0], [10, 0], [10, 10]];
        assert_eq!(drop_spikes(r.clone()), r);
    }

    #[test]
    fn a_pinched_ring_is_split_into_simple_rings() {
        // Two squares joined at the vertex (10, 10): a figure eight.
        let eight = vec![
            [0, 0],
            [10, 0],
            [10, 10],
            [20, 10],
            [20, 20],
            [10, 20],
            [10, 10],
            [0, 10],
        ];
        let mut out = Vec::new();
        split_touching(eight, &mut out);
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|r| r.len() == 4 && mvt::ring_area2(r) > 0));
        // A loop inside: the ring passes (10, 30) twice and encloses a hole.
        let looped = vec![
            [0, 0],
            [30, 0],
            [30, 30],
            [10, 30],
            [10, 20],
            [20, 20],
            [20, 10],
            [10, 10],
            [10, 30],
            [0, 30],
        ];
        let mut out = Vec::new();
        split_touching(looped.clone(), &mut out);
        let mut areas: Vec<i64> = out.iter().map(|r| mvt::ring_area2(r)).collect();
        areas.sort_unstable();
        // Twice the areas: the 30 × 30 square less the loop's 10 × 10 hole
        // (with its zero-width tail), as an exterior and a hole.
        assert_eq!(areas, vec![-200, 1800]);
        let mut g = Geometry::default();
        emit_polygon(&mut g, vec![looped]);
        let mut both = Geometry::default();
        both.ring(&out.iter().find(|r| mvt::ring_area2(r) > 0).unwrap().clone());
        both.ring(&out.iter().find(|r| mvt::ring_area2(r) < 0).unwrap().clone());
        assert_eq!(g, both, "emitted as the exterior, then the hole");
    }

    #[test]
    fn vertices_near_the_buffer_edge_stay_off_it() {
        let t = TileId::new(0, 0, 0).unwrap();
        let u = t.unit();
        let hi = (EXTENT + BUFFER) as f64 * u;
        // On the edge (a crossing point): stays; 0.2 units inside: kept one unit in.
        let r = snap_clipped_ring(&t, &[[hi, 0.5], [hi - 0.2 * u, 0.6], [0.5, 0.6]]);
        assert_eq!(r[0][0], (EXTENT + BUFFER) as i32);
        assert_eq!(r[1][0], (EXTENT + BUFFER) as i32 - 1);
    }

    #[test]
    fn source_lists_parse() {
        assert_eq!(
            Source::parse_list("components,grids,components").unwrap(),
            vec![Source::Components, Source::Grids]
        );
        assert!(Source::parse_list("roads").is_err());
        assert!(Source::parse_list("").is_err());
    }
}
