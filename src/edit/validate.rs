//! Validation of a draft: the rules of grid management (ring validity,
//! codes, child inside parent, no overlap within a level, no gap in a
//! parent's coverage) on what changed and its neighbours, not on the city.

use std::collections::{BTreeMap, BTreeSet};

use geo::{BoundingRect, InteriorPoint, Intersects};

use crate::model::Grid;
use crate::store::{DraftGrid, GridChange, Setup};
use crate::validate::{Problem, ProblemKind, check_hierarchy, check_polygon};

/// Gap, overlap and outside pieces smaller than this (m²) are digitising
/// noise (the import's default).
pub const DEFAULT_TOLERANCE_M2: f64 = 1.0;

/// The problems `changes` make on top of `base`, each with its location and,
/// for gaps, overlaps and parts outside a parent, its geometry.
///
/// Checked: each changed grid's rings and code; that a retired grid leaves
/// no children behind; overlaps between a changed grid and the grids of its
/// level that its box touches; and, for the parent of every changed grid
/// and for every changed grid that has children, that the children lie
/// inside it and cover it.
pub fn validate_changes(
    setup: &Setup,
    base: &[Grid],
    changes: &[DraftGrid],
    tolerance_m2: f64,
) -> Vec<Problem> {
    let scheme = &setup.scheme;
    let mut proposed: BTreeMap<&str, &Grid> = base.iter().map(|g| (g.code.as_str(), g)).collect();
    let mut changed: BTreeSet<&str> = BTreeSet::new();
    let mut problems = Vec::new();
    for c in changes {
        changed.insert(c.change.code());
        match &c.change {
            GridChange::Put(g) => {
                proposed.insert(&g.code, g);
            }
            GridChange::Retire { code, .. } => {
                proposed.remove(code.as_str());
            }
        }
    }
    let parent_of = |code: &str| scheme.parent_code(code).ok().flatten();
    // Rings and codes of each changed grid.
    for c in changes {
        let GridChange::Put(g) = &c.change else {
            continue;
        };
        let parent = parent_of(&g.code);
        if let Err(e) = scheme.validate(&g.code, Some(g.level), parent.as_deref()) {
            problems.push(Problem::grid(
                ProblemKind::InvalidCode,
                &g.code,
                g.geometry.interior_point().map(|p| p.0),
                format!("grid {}: {e}", g.code),
            ));
        }
        for (kind, at, message) in check_polygon(&g.geometry) {
            problems.push(
                Problem::grid(kind, &g.code, at, format!("grid {}: {message}", g.code))
                    .with_geometry(g.geometry.clone()),
            );
        }
    }
    // A retired grid must not leave children behind.
    for c in changes {
        let GridChange::Retire { code, .. } = &c.change else {
            continue;
        };
        let orphans: Vec<&str> = proposed
            .range(code.as_str()..)
            .take_while(|(k, _)| k.starts_with(code.as_str()))
            .filter(|(k, _)| *k != code && parent_of(k).as_deref() == Some(code.as_str()))
            .map(|(k, _)| *k)
            .collect();
        if !orphans.is_empty() {
            problems.push(Problem::grid(
                ProblemKind::MissingParent,
                code,
                None,
                format!(
                    "grid {code} is retired but its children {} are not: retire or re-assign them in the same draft",
                    orphans.join(", ")
                ),
            ));
        }
    }
    // The parents whose coverage the draft can change.
    let mut parents: BTreeSet<String> = BTreeSet::new();
    for code in &changed {
        if let Some(p) = parent_of(code) {
            parents.insert(p);
        }
        if proposed.contains_key(code) {
            parents.insert(code.to_string());
        }
    }
    let children_of = |p: &str| -> Vec<&Grid> {
        proposed
            .range(p..)
            .take_while(|(k, _)| k.starts_with(p))
            .filter(|(k, _)| parent_of(k).as_deref() == Some(p))
            .map(|(_, g)| *g)
            .collect()
    };
    let mut subset: BTreeMap<&str, &Grid> = BTreeMap::new();
    for p in &parents {
        if let Some(g) = proposed.get(p.as_str()) {
            subset.insert(&g.code, g);
        }
        for k in children_of(p) {
            subset.insert(&k.code, k);
        }
    }
    // Same-level neighbours that a changed grid's box touches.
    for code in &changed {
        let Some(g) = proposed.get(code) else {
            continue;
        };
        subset.insert(&g.code, g);
        let Some(b) = g.geometry.bounding_rect() else {
            continue;
        };
        for other in proposed.values() {
            if other.level == g.level
                && other.code != g.code
                && other
                    .geometry
                    .bounding_rect()
                    .is_some_and(|o| o.intersects(&b))
            {
                subset.insert(&other.code, other);
            }
        }
    }
    let grids: Vec<Grid> = subset.values().map(|g| (*g).clone()).collect();
    let found = check_hierarchy(scheme, &grids, tolerance_m2, &Default::default());
    for p in found {
        let code = p.code.clone().unwrap_or_default();
        let keep = match p.kind {
            ProblemKind::Overlap => code.split(',').any(|c| changed.contains(c)),
            ProblemKind::Gap => parents.contains(&code),
            ProblemKind::ChildOutsideParent => {
                parent_of(&code).is_some_and(|pc| parents.contains(&pc))
            }
            ProblemKind::MissingParent => {
                changed.contains(code.as_str())
                    && parent_of(&code).is_some_and(|pc| !proposed.contains_key(pc.as_str()))
            }
            _ => true,
        };
        if keep {
            problems.push(p);
        }
    }
    problems
}
