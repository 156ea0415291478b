//! Geometry operations planners need on hierarchical grids, done so that
//! the result stays a partition: split a grid by a line, merge neighbouring
//! grids, and re-number the children of a parent west→east, north→south.
//! Each gives the draft changes that a draft then validates and publishes.

use geo::{
    BooleanOps, BoundingRect, Centroid, Coord, Intersects, LineString, MultiPolygon, Polygon,
};

use super::{EditError, Result};
use crate::codes::GridScheme;
use crate::model::Grid;
use crate::store::GridChange;

/// Splits `grid` by a line (lon/lat degrees, two or more points, crossing the
/// grid from one side to the other): the part left of the line keeps the
/// grid's code, the part right of it becomes `new_code` (same level, name
/// and worker until edited). The two parts are one boolean operation's
/// intersection and difference with the same half-plane, so their union is
/// the grid.
pub fn split(
    scheme: &GridScheme,
    grid: &Grid,
    line: &[Coord<f64>],
    new_code: &str,
    existing: &[Grid],
) -> Result<Vec<GridChange>> {
    if line.len() < 2 || line.iter().any(|c| !c.x.is_finite() || !c.y.is_finite()) {
        return Err(EditError::Refused(
            "a split line needs two or more finite [lon, lat] points".into(),
        ));
    }
    let level = scheme
        .level_of(new_code)
        .map_err(|e| EditError::Refused(format!("new code: {e}")))?;
    if level != grid.level
        || scheme.parent_code(new_code).ok() != scheme.parent_code(&grid.code).ok()
    {
        return Err(EditError::Refused(format!(
            "the new code {new_code} must be of the same level and parent as {}",
            grid.code
        )));
    }
    if existing.iter().any(|g| g.code == new_code) {
        return Err(EditError::Refused(format!(
            "{new_code} is already a grid's code: choose a free one"
        )));
    }
    let b = grid
        .geometry
        .bounding_rect()
        .ok_or_else(|| EditError::Refused(format!("grid {} has no area", grid.code)))?;
    let left = left_side(line, b.width().max(b.height()) * 4.0 + 1e-6);
    let keep = grid.geometry.intersection(&left);
    let cut = grid.geometry.difference(&left);
    let area = |m: &MultiPolygon<f64>| crate::measure::area_m2(m);
    if keep.0.is_empty() || cut.0.is_empty() || area(&keep) < 1.0 || area(&cut) < 1.0 {
        return Err(EditError::Refused(format!(
            "the line does not cut grid {} in two: draw it across the grid, from one side to the other",
            grid.code
        )));
    }
    Ok(vec![
        GridChange::Put(Grid {
            geometry: keep,
            ..grid.clone()
        }),
        GridChange::Put(Grid {
            code: new_code.to_string(),
            geometry: cut,
            ..grid.clone()
        }),
    ])
}

/// The region left of a polyline, as a polygon reaching `reach` degrees
/// past its ends and to its left.
fn left_side(line: &[Coord<f64>], reach: f64) -> MultiPolygon<f64> {
    let (a, z) = (line[0], line[line.len() - 1]);
    let (dx, dy) = (z.x - a.x, z.y - a.y);
    let len = (dx * dx + dy * dy).sqrt().max(1e-12);
    let (ux, uy) = (dx / len, dy / len);
    // Left normal of the chord.
    let (nx, ny) = (-uy, ux);
    let start = Coord {
        x: a.x - ux * reach,
        y: a.y - uy * reach,
    };
    let end = Coord {
        x: z.x + ux * reach,
        y: z.y + uy * reach,
    };
    let mut ring = vec![start];
    ring.extend_from_slice(line);
    ring.push(end);
    ring.push(Coord {
        x: end.x + nx * reach,
        y: end.y + ny * reach,
    });
    ring.push(Coord {
        x: start.x + nx * reach,
        y: start.y + ny * reach,
    });
    ring.push(start);
    MultiPolygon(vec![Polygon::new(LineString::from(ring), vec![])])
}

/// Merges neighbouring grids of one parent into the first: its code takes
/// their union, the others are retired.
pub fn merge(scheme: &GridScheme, grids: &[&Grid]) -> Result<Vec<GridChange>> {
    let Some((first, rest)) = grids.split_first() else {
        return Err(EditError::Refused("a merge needs two or more grids".into()));
    };
    if rest.is_empty() {
        return Err(EditError::Refused("a merge needs two or more grids".into()));
    }
    let parent = scheme.parent_code(&first.code).ok().flatten();
    for g in rest {
        if g.level != first.level || scheme.parent_code(&g.code).ok().flatten() != parent {
            return Err(EditError::Refused(format!(
                "{} and {} are not of the same level and parent: only siblings merge",
                first.code, g.code
            )));
        }
    }
    // Each grid must touch the union of those before it.
    let mut union = first.geometry.clone();
    for g in rest {
        if !union.intersects(&g.geometry) {
            return Err(EditError::Refused(format!(
                "{} does not touch {}: only neighbouring grids merge",
                g.code, first.code
            )));
        }
        union = union.union(&g.geometry);
    }
    let mut out = vec![GridChange::Put(Grid {
        geometry: union,
        ..(*first).clone()
    })];
    out.extend(rest.iter().map(|g| GridChange::Retire {
        code: g.code.clone(),
        level: g.level,
    }));
    Ok(out)
}

/// Old code → new code, in the new order.
pub type Renumbering = Vec<(String, String)>;

/// Re-numbers the children of `parent` (grids of the level below whose codes
/// start with it, none of which may have children of their own): rows from
/// north to south, each west to east (by centroid; a row is a band of the
/// children's median height), sequence numbers from 1. Returns the changes
/// (the new codes put, the codes no longer used retired) and the mapping.
pub fn renumber(
    scheme: &GridScheme,
    parent: &str,
    grids: &[Grid],
) -> Result<(Vec<GridChange>, Renumbering)> {
    let plevel = scheme
        .level_of(parent)
        .map_err(|e| EditError::Refused(format!("parent: {e}")))?;
    let Some(child_level) = scheme.levels.get(plevel + 1) else {
        return Err(EditError::Refused(format!(
            "{parent} is of the finest level: it has no children"
        )));
    };
    let kids: Vec<&Grid> = grids
        .iter()
        .filter(|g| g.level == plevel + 1 && g.code.starts_with(parent))
        .collect();
    if kids.is_empty() {
        return Err(EditError::Refused(format!(
            "{parent} has no children to re-number"
        )));
    }
    if let Some(g) = grids
        .iter()
        .find(|g| g.level == plevel + 2 && kids.iter().any(|k| g.code.starts_with(&k.code)))
    {
        return Err(EditError::Refused(format!(
            "the children of {parent} have children of their own ({}): re-number the finest level only",
            g.code
        )));
    }
    let mut heights: Vec<f64> = kids
        .iter()
        .filter_map(|g| g.geometry.bounding_rect().map(|b| b.height()))
        .collect();
    heights.sort_by(f64::total_cmp);
    let band = heights[heights.len() / 2].max(1e-9);
    let mut order: Vec<(i64, f64, &Grid)> = kids
        .iter()
        .map(|g| {
            let c = g
                .geometry
                .centroid()
                .map_or(Coord { x: 0.0, y: 0.0 }, |p| p.0);
            ((-c.y / band).floor() as i64, c.x, *g)
        })
        .collect();
    order.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let digits = child_level.code_len - scheme.levels[plevel].code_len;
    if order.len() >= 10usize.pow(digits as u32) {
        return Err(EditError::Refused(format!(
            "{} children do not fit in {digits}-digit sequence numbers",
            order.len()
        )));
    }
    let mut changes = Vec::new();
    let mut mapping = Vec::new();
    let mut new_codes = std::collections::HashSet::new();
    for (i, (_, _, g)) in order.iter().enumerate() {
        let code = format!("{parent}{:0width$}", i + 1, width = digits);
        new_codes.insert(code.clone());
        mapping.push((g.code.clone(), code.clone()));
        if code != g.code {
            changes.push(GridChange::Put(Grid {
                code,
                ..(*g).clone()
            }));
        }
    }
    for g in &kids {
        if !new_codes.contains(&g.code) {
            changes.push(GridChange::Retire {
                code: g.code.clone(),
                level: g.level,
            });
        }
    }
    Ok((changes, mapping))
}
