//! The one GeoJSON form of a grid and of a component (RFC 7946 Features,
//! WGS84 lon/lat), for `/grids/{code}`, `/components/{code}`, OGC items and
//! nearest answers.

use serde_json::json;

use super::{QueryError, Result, Scope, Scoped};
use crate::codes::GridScheme;
use crate::model::{ComponentRef, Grid};
use crate::snapshot::Snapshot;

/// A grid as a GeoJSON Feature (id = code), its worker as the reader may
/// see them.
pub fn grid_feature(s: &Scoped<'_>, code: &str) -> Option<serde_json::Value> {
    let snap = s.snap;
    let g = snap.grid_by_code(code)?;
    let chain = crate::query::lookup::chain(snap, g);
    let mut f = grid_json(&snap.data().scheme, g, s.scope());
    let p = &mut f["properties"];
    // The parent the data has (the scheme's parent code may name none).
    p["parent"] = json!(chain.len().checked_sub(2).map(|i| chain[i].code));
    p["children"] = json!(snap.children(g).len());
    p["chain"] = json!(chain);
    Some(f)
}

/// The one GeoJSON form of a grid on its own (a Feature, id = code, WGS84
/// lon/lat; area in m² on the sphere), which the forms with a city around it
/// (a snapshot's, a draft's, an impact's) add to. The worker's name
/// appears as `scope` says.
pub fn grid_json(scheme: &GridScheme, g: &Grid, scope: &Scope) -> serde_json::Value {
    let level = &scheme.levels[g.level];
    json!({
        "type": "Feature",
        "id": g.code,
        "geometry": geojson::Geometry::new(geojson::Value::from(&g.geometry)),
        "properties": {
            "code": g.code,
            "name": g.name,
            "level": level.name,
            "level_label": level.label,
            "parent": scheme.parent_code(&g.code).ok().flatten(),
            "worker": scope.worker(g.worker.as_deref()),
            "area_m2": (crate::measure::area_m2(&g.geometry) * 10.0).round() / 10.0,
        }
    })
}

/// A component as a GeoJSON Feature (id = code), if the reader may see it.
pub fn component_feature(s: &Scoped<'_>, code: &str) -> Option<serde_json::Value> {
    let c = s.snap.data().components.find(code)?;
    s.component(c.index).then(|| component_json(s.snap, c))
}

/// The one GeoJSON form of a component (a Feature, id = code, WGS84
/// lon/lat), for `/components/{code}`, OGC items and nearest answers.
pub fn component_json(snap: &Snapshot, c: ComponentRef<'_>) -> serde_json::Value {
    let data = snap.data();
    let r = c.record(&data.classes);
    let class = data.classes.def(c.class());
    let grid = snap.unit_grid(c.index).map(|g| snap.grid(g));
    json!({
        "type": "Feature",
        "id": r.code,
        "geometry": { "type": "Point", "coordinates": [r.location.x, r.location.y] },
        "properties": {
            "code": r.code,
            "name": r.name,
            "class": class.code,
            "class_name": class.minor_name,
            "major_class": class.major(),
            "major_name": class.major_name,
            "department": r.department,
            "owner": r.owner,
            "maintainer": r.maintainer,
            "state": r.state.chinese(),
            "state_en": r.state.english(),
            "initial_date": r.initial_date,
            "change_date": r.change_date,
            "source": r.source,
            "remarks": r.remarks,
            "grid": grid.map(|g| &g.code),
            "grid_name": grid.map(|g| &g.name),
        }
    })
}

/// The grid with `code` as a Feature; the code must fit the scheme.
pub fn grid(s: &Scoped<'_>, code: &str) -> Result<serde_json::Value> {
    s.snap.data().scheme.level_of(code)?;
    grid_feature(s, code).ok_or_else(|| QueryError::NotFound(format!("no grid has code {code}")))
}

/// The component with `code` as a Feature, if the reader may see it; the
/// code must fit the scheme.
pub fn component(s: &Scoped<'_>, code: &str) -> Result<serde_json::Value> {
    let data = s.snap.data();
    data.component_scheme.parse(code, &data.classes)?;
    component_feature(s, code)
        .ok_or_else(|| QueryError::NotFound(format!("no component has code {code}{}", s.hint())))
}
