//! Search by code prefix and by name: grids, components and classes.
//!
//! Codes are sorted in the snapshot, so a code prefix is two binary searches
//! (grids per level; components as a numeric range). Grid names are scanned
//! (a city has at most a few hundred thousand grids). Components are found by
//! code, and by name through their class ("消防", "井盖"): scanning ten
//! million free-text names per keystroke would not be fast.

use serde::Serialize;

use crate::model::Grid;
use crate::snapshot::Snapshot;

/// What a hit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum HitKind {
    /// A grid of some level.
    Grid,
    /// A component.
    Component,
    /// A component class (its components are counted).
    Class,
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// Grid, component or class.
    pub kind: HitKind,
    /// Its code.
    pub code: String,
    /// Its name.
    pub name: String,
    /// For grids, the level name; for components, the class name; for classes, the major class name.
    pub detail: String,
    /// For classes: how many components the city has of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Lower is better: 0 exact code, 1 code prefix, 2 exact name, 3 name prefix, 4 name contains.
    pub rank: u8,
}

/// Searches `q` (trimmed, non-empty) and returns at most `limit` hits, best first.
pub fn search(s: &super::Scoped<'_>, q: &str, limit: usize) -> Vec<Hit> {
    let snap = s.snap;
    let q = q.trim();
    let data = snap.data();
    let mut hits: Vec<Hit> = Vec::new();
    if q.is_empty() || limit == 0 {
        return hits;
    }
    if q.bytes().all(|b| b.is_ascii_digit()) {
        for level in snap.levels() {
            let grids = &data.grids[level.dataset_range()];
            let start = grids.partition_point(|g| g.code.as_str() < q);
            for g in grids[start..]
                .iter()
                .take_while(|g| g.code.starts_with(q))
                .take(limit)
            {
                hits.push(Hit {
                    kind: HitKind::Grid,
                    code: g.code.clone(),
                    name: g.name.clone(),
                    detail: data.scheme.levels[g.level].name.clone(),
                    count: None,
                    rank: if g.code == q { 0 } else { 1 },
                });
            }
        }
        for i in data
            .components
            .prefix_range(q)
            .filter(|&i| s.component(i))
            .take(limit)
        {
            let c = data.components.get(i);
            let code = c.code();
            hits.push(Hit {
                kind: HitKind::Component,
                rank: if code == q { 0 } else { 1 },
                name: c.name().to_string(),
                detail: data.classes.def(c.class()).minor_name.clone(),
                count: None,
                code,
            });
        }
        let classes = data
            .classes
            .all()
            .iter()
            .enumerate()
            .filter(|(_, c)| c.code.starts_with(q) || c.major() == q);
        for (i, c) in classes.take(limit) {
            hits.push(class_hit(snap, i, if c.code == q { 0 } else { 1 }));
        }
    }
    let name_rank = |name: &str| {
        if name == q {
            Some(2)
        } else if name.starts_with(q) {
            Some(3)
        } else if name.contains(q) {
            Some(4)
        } else {
            None
        }
    };
    for i in snap.names().containing(q) {
        let g = snap.grid(i);
        if let Some(rank) = name_rank(&g.name) {
            hits.push(grid_hit(snap, g, rank));
        }
    }
    for (i, c) in data.classes.all().iter().enumerate() {
        let rank = name_rank(&c.minor_name).or_else(|| name_rank(&c.major_name).map(|r| r + 1));
        if let Some(rank) = rank {
            hits.push(class_hit(snap, i, rank.min(4)));
        }
    }
    hits.sort_by(|a, b| {
        (a.rank, a.kind, a.code.len(), &a.code).cmp(&(b.rank, b.kind, b.code.len(), &b.code))
    });
    hits.dedup_by(|a, b| a.kind == b.kind && a.code == b.code);
    hits.truncate(limit);
    if hits.iter().any(|h| h.kind == HitKind::Class) {
        // Counted once, of the components this reader may see.
        let totals = s.class_totals();
        for h in hits.iter_mut().filter(|h| h.kind == HitKind::Class) {
            h.count = Some(
                data.classes
                    .get(&h.code)
                    .map_or(0, |i| totals.get(i as usize).copied().unwrap_or(0)),
            );
        }
    }
    hits
}

fn grid_hit(snap: &Snapshot, g: &Grid, rank: u8) -> Hit {
    Hit {
        kind: HitKind::Grid,
        code: g.code.clone(),
        name: g.name.clone(),
        detail: snap.data().scheme.levels[g.level].name.clone(),
        count: None,
        rank,
    }
}

fn class_hit(snap: &Snapshot, index: usize, rank: u8) -> Hit {
    let c = &snap.data().classes.all()[index];
    Hit {
        kind: HitKind::Class,
        code: c.code.clone(),
        name: c.minor_name.clone(),
        detail: c.major_name.clone(),
        // Counted once the hits are known.
        count: None,
        rank,
    }
}
