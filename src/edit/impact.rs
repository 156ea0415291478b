//! What publishing a draft would change, against the city served now:
//! grids added, retired and changed (areas before and after), the
//! components whose grid changes, the workers whose grid changes, and a
//! GeoJSON diff a map can draw.

use std::collections::BTreeMap;

use geo::{BoundingRect, Coord, Rect};
use serde::Serialize;
use serde_json::{Value, json};

use super::DraftState;
use crate::codes::GridScheme;
use crate::index::{LevelIndex, merge_rects};
use crate::measure::area_m2;
use crate::model::Grid;
use crate::snapshot::Snapshot;
use crate::store::GridChange;

/// One grid the draft changes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GridImpact {
    /// Grid code.
    pub code: String,
    /// `added`, `retired` or `changed`.
    pub change: &'static str,
    /// Area now, m² (none for an added grid).
    pub area_before_m2: Option<f64>,
    /// Area after publishing, m² (none for a retired grid).
    pub area_after_m2: Option<f64>,
    /// Worker now.
    pub worker_before: Option<String>,
    /// Worker after publishing.
    pub worker_after: Option<String>,
}

/// One component whose finest grid changes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentMove {
    /// Component code.
    pub code: String,
    /// Class code.
    pub class: String,
    /// Its grid now.
    pub from: Option<String>,
    /// Its grid after publishing.
    pub to: Option<String>,
}

/// A worker whose grid changes shape, hands over or disappears.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerImpact {
    /// The worker (as recorded on grids).
    pub worker: String,
    /// The grids the worker has now, among the changed ones.
    pub before: Vec<String>,
    /// The grids the worker has after publishing, among the changed ones.
    pub after: Vec<String>,
}

/// The impact of a draft.
#[derive(Debug, Clone, Serialize)]
pub struct Impact {
    /// The revision compared with (the one served now).
    pub against_revision: u64,
    /// Grids added.
    pub added: usize,
    /// Grids retired.
    pub retired: usize,
    /// Grids changed.
    pub changed: usize,
    /// Each changed grid.
    pub grids: Vec<GridImpact>,
    /// Components whose grid changes, counted by class code.
    pub components_by_class: BTreeMap<String, usize>,
    /// Each component whose grid changes.
    pub components: Vec<ComponentMove>,
    /// Workers whose grids change.
    pub workers: Vec<WorkerImpact>,
    /// The changed grids before and after, as GeoJSON Features.
    pub diff: Value,
}

/// A changed grid before or after, as a diff feature (id `code-role`).
fn feature(scheme: &GridScheme, g: &Grid, role: &str, change: &str) -> Value {
    let mut f = crate::query::features::grid_json(scheme, g, &crate::query::Scope::EVERYTHING);
    f["id"] = json!(format!("{}-{role}", g.code));
    f["properties"]["role"] = json!(role);
    f["properties"]["change"] = json!(change);
    f
}

/// The finest grid holding `p` among `levels` (coarsest first), under the
/// border rule of the level indexes.
fn locate(levels: &[(LevelIndex, Vec<Grid>)], p: Coord<f64>) -> Option<&Grid> {
    levels
        .iter()
        .rev()
        .find_map(|(li, grids)| li.locate(p).map(|(g, _)| &grids[g as usize]))
}

/// Compares the draft's proposed city with `snap`, the city served now.
pub fn impact(snap: &Snapshot, draft: &DraftState) -> Impact {
    let mut grids = Vec::new();
    let mut diff = Vec::new();
    let mut area: Option<Rect<f64>> = None;
    let mut grow = |r: Option<Rect<f64>>| {
        if let Some(r) = r {
            area = Some(area.map_or(r, |a| merge_rects(a, r)));
        }
    };
    let mut workers: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for c in &draft.changes {
        let code = c.change.code();
        let before = snap.grid_by_code(code);
        let after = match &c.change {
            GridChange::Put(g) => Some(g),
            GridChange::Retire { .. } => None,
        };
        if before.is_none() && after.is_none() {
            continue;
        }
        let change = match (before, after) {
            (None, _) => "added",
            (_, None) => "retired",
            _ => "changed",
        };
        if let (Some(b), Some(a)) = (before, after)
            && b == a
        {
            continue;
        }
        grow(before.and_then(|g| g.geometry.bounding_rect()));
        grow(after.and_then(|g| g.geometry.bounding_rect()));
        if let Some(b) = before {
            diff.push(feature(&snap.data().scheme, b, "before", change));
            if let Some(w) = &b.worker {
                workers
                    .entry(w.clone())
                    .or_default()
                    .0
                    .push(code.to_string());
            }
        }
        if let Some(a) = after {
            diff.push(feature(&snap.data().scheme, a, "after", change));
            if let Some(w) = &a.worker {
                workers
                    .entry(w.clone())
                    .or_default()
                    .1
                    .push(code.to_string());
            }
        }
        grids.push(GridImpact {
            code: code.to_string(),
            change,
            area_before_m2: before.map(|g| area_m2(&g.geometry)),
            area_after_m2: after.map(|g| area_m2(&g.geometry)),
            worker_before: before.and_then(|g| g.worker.clone()),
            worker_after: after.and_then(|g| g.worker.clone()),
        });
    }
    // Components in the changed area: their grid now (the snapshot's) and
    // after (the proposed grids whose boxes touch the area, indexed per level).
    let mut components = Vec::new();
    let mut by_class: BTreeMap<String, usize> = BTreeMap::new();
    if let Some(area) = area {
        let depth = snap.data().scheme.depth();
        let proposed = draft.proposed();
        let levels: Vec<(LevelIndex, Vec<Grid>)> = (0..depth)
            .map(|level| {
                let grids: Vec<Grid> = proposed
                    .iter()
                    .filter(|g| {
                        g.level == level
                            && g.geometry
                                .bounding_rect()
                                .is_some_and(|b| crate::index::intersect_rects(b, area).is_some())
                    })
                    .cloned()
                    .collect();
                (LevelIndex::build(0, &grids), grids)
            })
            .collect();
        let data = snap.data();
        for i in snap.components_in_box(area) {
            let c = data.components.get(i);
            let from = snap.unit_grid(c.index).map(|g| snap.grid(g).code.clone());
            let to = locate(&levels, c.location()).map(|g| g.code.clone());
            if from != to {
                let class = data.classes.def(c.class()).code.clone();
                *by_class.entry(class.clone()).or_default() += 1;
                components.push(ComponentMove {
                    code: c.code(),
                    class,
                    from,
                    to,
                });
            }
        }
    }
    let count = |k: &str| grids.iter().filter(|g| g.change == k).count();
    Impact {
        against_revision: snap.revision(),
        added: count("added"),
        retired: count("retired"),
        changed: count("changed"),
        components_by_class: by_class,
        components,
        workers: workers
            .into_iter()
            .filter(|(_, (b, a))| b != a || !a.is_empty())
            .map(|(worker, (before, after))| WorkerImpact {
                worker,
                before,
                after,
            })
            .collect(),
        grids,
        diff: json!({ "type": "FeatureCollection", "features": diff }),
    }
}
