//! Component statistics of one grid and of every grid of a level (for the
//! thematic map and the command center's tables).

use serde::Serialize;
use serde_json::{Value, json};

use super::nearest::class_param;
use super::{QueryError, Result, Scoped};
use crate::snapshot::{GridCounts, Snapshot, state_names};

/// Counts as JSON: total, by class code, by state name.
fn counts_json(snap: &Snapshot, c: &GridCounts) -> Value {
    let classes = &snap.data().classes;
    let by_class: serde_json::Map<String, Value> = c
        .by_class
        .iter()
        .map(|&(k, n)| (classes.def(k).code.clone(), json!(n)))
        .collect();
    let by_state: serde_json::Map<String, Value> = state_names()
        .iter()
        .zip(c.by_state)
        .map(|(s, n)| (s.to_string(), json!(n)))
        .collect();
    json!({ "total": c.total, "by_class": by_class, "by_state": by_state })
}

/// The component counts of the grid with `code` (its own and its
/// descendants'), with its name, level, area (m², on the sphere) and number
/// of children.
pub fn grid_stats(s: &Scoped<'_>, code: &str) -> Result<Value> {
    let snap = s.snap;
    snap.data().scheme.level_of(code)?;
    let index = snap
        .grid_index(code)
        .ok_or_else(|| QueryError::NotFound(format!("no grid has code {code}")))?;
    let g = snap.grid(index);
    let mut v = counts_json(snap, s.stats().grid(index));
    v["code"] = json!(g.code);
    v["name"] = json!(g.name);
    v["level"] = json!(snap.data().scheme.levels[g.level].name);
    v["area_m2"] = json!((crate::measure::area_m2(&g.geometry) * 10.0).round() / 10.0);
    v["children"] = json!(snap.children(g).len());
    Ok(v)
}

/// Counts by state, named.
#[derive(Debug, Serialize)]
pub struct StateCounts {
    /// 完好.
    pub intact: u64,
    /// 破损.
    pub damaged: u64,
    /// 丢失.
    pub lost: u64,
    /// 占用.
    pub occupied: u64,
}

/// One grid of a level's statistics.
#[derive(Debug, Serialize)]
pub struct LevelGrid<'a> {
    /// Grid code.
    pub code: &'a str,
    /// Grid name.
    pub name: &'a str,
    /// Components in the grid.
    pub total: u64,
    /// Components in the grid by state.
    pub by_state: StateCounts,
    /// Components of the asked class, when a class was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_count: Option<u64>,
    /// Components by class code, when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_class: Option<std::collections::BTreeMap<&'a str, u64>>,
}

/// The statistics of every grid of a level.
#[derive(Debug, Serialize)]
pub struct LevelStats<'a> {
    /// Level name.
    pub level: &'a str,
    /// The class asked for.
    pub class: Option<&'a str>,
    /// Every grid of the level, in code order.
    pub grids: Vec<LevelGrid<'a>>,
}

/// Statistics of every grid of `level` (by name; the finest when `None`),
/// with the count of `class` and, when `by_class`, the counts of every class.
pub fn level_stats<'a>(
    s: &Scoped<'a>,
    level: Option<&str>,
    class: Option<&'a str>,
    by_class: bool,
) -> Result<LevelStats<'a>> {
    let snap = s.snap;
    let stats = s.stats();
    let scheme = &snap.data().scheme;
    let level = match level {
        None => scheme.finest(),
        Some(l) => scheme.level_index(l).ok_or_else(|| {
            let names: Vec<&str> = scheme.levels.iter().map(|l| l.name.as_str()).collect();
            QueryError::bad("level", l, format!("is not one of {}", names.join(", ")))
        })?,
    };
    let filter = class_param(snap, class)?;
    let li = snap.level(level);
    let classes = &snap.data().classes;
    let grids = (0..li.len())
        .map(|i| {
            let index = li.dataset_index(i as u32);
            let g = snap.grid(index);
            let c = stats.grid(index);
            let [intact, damaged, lost, occupied] = c.by_state;
            LevelGrid {
                code: &g.code,
                name: &g.name,
                total: c.total,
                by_state: StateCounts {
                    intact,
                    damaged,
                    lost,
                    occupied,
                },
                class_count: filter.as_ref().map(|f| {
                    c.by_class
                        .iter()
                        .filter(|&&(k, _)| f.accepts(snap, k))
                        .map(|&(_, n)| n)
                        .sum()
                }),
                by_class: by_class.then(|| {
                    c.by_class
                        .iter()
                        .map(|&(k, n)| (classes.def(k).code.as_str(), n))
                        .collect()
                }),
            }
        })
        .collect();
    Ok(LevelStats {
        level: &scheme.levels[level].name,
        class,
        grids,
    })
}
