//! Rendering one tile: grid layers (prepared or clipped polygons, labels)
//! and the component layer (single points, or clusters when the tile is
//! too full), encoded as MVT.

use super::clip::{self, Bounds};
use super::mvt::{GeomType, Geometry, Layer, Value};
use super::rings::{drop_buffer_spikes, drop_spikes, emit_polygon, snap_clipped_ring};
use super::{
    BUFFER, CLUSTER_CELLS_LOG2, COMPONENT_LAYER, EXTENT, LABEL_LAYER, MIN_GRID_UNITS,
    RAW_MAX_POINTS, RAW_MIN_ZOOM, Source, TileId, TileIndex, TileSet, lonlat_rect, points, world,
};
use crate::model::ComponentRef;
use crate::query::{Scope, Scoped};
use crate::snapshot::Snapshot;

/// Encodes tile `t` of `sources` with every component. An empty vector
/// means the tile has no features.
pub fn render(set: &TileSet, sources: &[Source], t: TileId) -> Vec<u8> {
    render_counted(set, sources, t, &Scope::EVERYTHING).0
}

/// Encodes tile `t` of `sources` as a reader with `scope` sees it: only
/// the components in their reach (grids are the same for every reader).
pub fn render_as(set: &TileSet, sources: &[Source], t: TileId, scope: &Scope) -> Vec<u8> {
    render_counted(set, sources, t, scope).0
}

/// What rendering a tile left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Grids in the tile smaller than about a pixel at its zoom, not drawn
    /// (their neighbours' shared borders still are).
    pub tiny_grids: usize,
}

/// Like [`render_as`], and says what was left out.
pub fn render_counted(
    set: &TileSet,
    sources: &[Source],
    t: TileId,
    scope: &Scope,
) -> (Vec<u8>, Dropped) {
    let (snap, index) = (set.snapshot(), set.index());
    let mut layers: Vec<Layer> = Vec::new();
    let mut dropped = Dropped::default();
    for s in sources {
        match s {
            Source::Grids => grid_layers(snap, index, t, &mut layers, &mut dropped),
            Source::Components => layers.push(component_layer(&Scoped::new(snap, scope), index, t)),
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
pub(super) fn polygon_geometry(
    t: &TileId,
    poly: Vec<Vec<[f64; 2]>>,
    clip: &Bounds,
    geom: &mut Geometry,
) {
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

pub(super) fn code_id(code: &str) -> Option<u64> {
    code.parse().ok()
}

pub(super) fn grid_layers<'a>(
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
    for level in 0..snap.levels().len() {
        if t.z < index.minzoom[level] {
            continue;
        }
        let near = index.for_tile(snap, level, rect);
        let topo = near.topology();
        let level_name = &scheme.levels[level].name;
        let li = snap.level(level);
        let mut layer = Layer::new(level_name, EXTENT);
        let origin = [(t.x * EXTENT) as i32, (t.y * EXTENT) as i32];
        let candidates = li.grids_in_box(rect);
        for &id in &candidates {
            let g = near.local(id);
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
            let grid = snap.grid(li.dataset_index(id));
            let props = [
                ("code", Value::Str(grid.code.as_str().into())),
                ("name", Value::Str(grid.name.as_str().into())),
                ("level", Value::Str(level_name.as_str().into())),
            ];
            if buffered.contains(&gb) {
                if let Some((first, rest)) = near.prepared(g, t.z) {
                    layer.add_prepared(code_id(&grid.code), first, origin, &rest, props);
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
            for &id in &candidates {
                let p = topo.label(near.local(id));
                if !(p[0] >= inner.min_x
                    && p[0] < inner.max_x
                    && p[1] >= inner.min_y
                    && p[1] < inner.max_y)
                {
                    continue;
                }
                let grid = snap.grid(li.dataset_index(id));
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

pub(super) fn component_props<'a>(
    snap: &'a Snapshot,
    c: ComponentRef<'a>,
) -> [(&'static str, Value<'a>); 7] {
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

pub(super) fn component_feature<'a>(
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

/// The component layer of tile `t`: the components a reader may see, one
/// by one, or in clusters when the tile holds too many.
pub(super) fn component_layer<'a>(s: &Scoped<'a>, index: &TileIndex, t: TileId) -> Layer<'a> {
    let snap = s.snap;
    let mut layer = Layer::new(COMPONENT_LAYER, EXTENT);
    let mut scratch = Geometry::default();
    if t.z < index.source_minzoom() {
        return layer;
    }
    let range = index.points.tile_range(t.z, t.x, t.y);
    if t.z >= RAW_MIN_ZOOM && range.len() <= RAW_MAX_POINTS {
        for i in snap.components_in_box(lonlat_rect(&t.bounds(BUFFER))) {
            if !s.component(i) {
                continue;
            }
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
    let scoped = s.scope().limits_components();
    while i < range.end {
        let cell = index.points.key_at(i) >> shift;
        let (mut sx, mut sy) = (0u64, 0u64);
        let (mut n, mut single) = (0usize, 0usize);
        while i < range.end && index.points.key_at(i) >> shift == cell {
            if scoped && !s.component(index.points.component_at(i)) {
                i += 1;
                continue;
            }
            n += 1;
            single = i;
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
        if n == 0 {
            continue;
        }
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
                index.points.component_at(single),
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
pub(super) fn dominant_class(
    touched: &[u16],
    counts: &[u32],
    classes: &crate::codes::ClassTable,
) -> u16 {
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
