//! What a client learns before it asks for tiles: the layers of each
//! source with their fields and zoom ranges, and TileJSON 3.0.0.

use geo::{Coord, Rect};
use serde_json::{Value as Json, json};

use super::{
    COMPONENT_LAYER, LABEL_LAYER, MAX_ZOOM, RAW_MAX_POINTS, RAW_MIN_ZOOM, Source, TileSet,
};
use crate::snapshot::Snapshot;

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
pub fn layers(set: &TileSet, source: Source) -> Vec<LayerInfo> {
    let (snap, index) = (set.snapshot(), set.index());
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

/// TileJSON 3.0.0 for `sources`, with tile URLs under `base` (scheme and
/// host) ending in `query` (such as `?revision=12`, empty for none).
pub fn tilejson(set: &TileSet, sources: &[Source], base: &str, query: &str) -> Json {
    let (snap, index) = (set.snapshot(), set.index());
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
        .flat_map(|&s| layers(set, s))
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
        "version": format!("{}", snap.revision()),
        "scheme": "xyz",
        "tiles": [format!("{base}/tiles/{id}/{{z}}/{{x}}/{{y}}{query}")],
        "minzoom": minzoom,
        "maxzoom": MAX_ZOOM,
        "bounds": [bounds.min().x, bounds.min().y, bounds.max().x, bounds.max().y],
        "center": [bounds.center().x, bounds.center().y, center_zoom],
        "vector_layers": layers,
    })
}
