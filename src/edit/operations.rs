//! Geometry operations planners need on hierarchical grids, done so that
//! the result stays a partition: split a grid by a line, merge neighbouring
//! grids, move the border two neighbours share, and re-number the children
//! of a parent west→east, north→south. Each gives the draft changes that a
//! draft then validates and publishes.

use geo::{
    BooleanOps, BoundingRect, Centroid, Coord, Intersects, LineString, MultiPolygon, Polygon,
    Validation,
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

/// How far (degrees, about 10 cm at Beijing) a new border's ends may lie
/// from the ends of the shared border they replace; they are snapped onto
/// them exactly.
pub const BORDER_END_SNAP_DEG: f64 = 1e-6;

/// One stretch of border two grids share vertex for vertex: the ring of `a`
/// it lies on (polygon, ring; ring 0 is the exterior, `i` is interior
/// `i - 1`) and where it runs on that ring (vertex positions, along the
/// ring's order, `start` to `start + len` modulo the ring's open length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stretch {
    polygon: usize,
    ring: usize,
    start: usize,
    len: usize,
}

/// Moves the border that grids `a` and `b` (neighbours of one level) share:
/// `line` (lon/lat degrees) is the new border, from one end of the shared
/// stretch to the other (its ends are snapped onto them when within
/// [`BORDER_END_SNAP_DEG`]). Both grids change together: each ring that held
/// the old stretch holds the new line instead, with the very same
/// coordinates, so the two stay vertex for vertex neighbours and every
/// other border of theirs (to third grids) is untouched. The grids must
/// share exactly one stretch, vertex for vertex; the line must stay within
/// the two grids (their total area is kept).
pub fn move_border(a: &Grid, b: &Grid, line: &[Coord<f64>]) -> Result<Vec<GridChange>> {
    if a.level != b.level || a.code == b.code {
        return Err(EditError::Refused(format!(
            "{} and {} are not two grids of one level: a border moves between neighbours",
            a.code, b.code
        )));
    }
    if line.len() < 2 || line.iter().any(|c| !c.x.is_finite() || !c.y.is_finite()) {
        return Err(EditError::Refused(
            "a new border needs two or more finite [lon, lat] points".into(),
        ));
    }
    let in_a = shared_stretches(&a.geometry, &b.geometry);
    if in_a.iter().any(|s| s.len == 0) {
        return Err(EditError::Refused(format!(
            "a ring of {} is shared with {} all the way round (one is an island in the other): there is no border end to keep; redraw the inner grid instead",
            a.code, b.code
        )));
    }
    let stretch = match in_a.as_slice() {
        [one] => *one,
        [] => {
            return Err(EditError::Refused(format!(
                "{} and {} share no border vertex for vertex: only neighbours whose shared border has the same vertices on both sides can move it",
                a.code, b.code
            )));
        }
        many => {
            return Err(EditError::Refused(format!(
                "{} and {} share {} separate stretches of border: split or merge first so that they share one",
                a.code,
                b.code,
                many.len()
            )));
        }
    };
    let old = stretch_coords(&a.geometry, stretch);
    let (p, q) = (old[0], old[old.len() - 1]);
    let near = |u: Coord<f64>, v: Coord<f64>| {
        (u.x - v.x).abs() <= BORDER_END_SNAP_DEG && (u.y - v.y).abs() <= BORDER_END_SNAP_DEG
    };
    let (first, last) = (line[0], line[line.len() - 1]);
    // The new border, oriented as the stretch runs on a's ring, P → Q.
    let mut new: Vec<Coord<f64>> = if near(first, p) && near(last, q) {
        line.to_vec()
    } else if near(first, q) && near(last, p) {
        line.iter().rev().copied().collect()
    } else {
        return Err(EditError::Refused(format!(
            "the new border must start and end where the border of {} and {} does: at [{}, {}] and [{}, {}]",
            a.code, b.code, p.x, p.y, q.x, q.y
        )));
    };
    let n = new.len();
    new[0] = p;
    new[n - 1] = q;
    new.dedup();
    if new.len() < 2 {
        return Err(EditError::Refused(
            "the new border has no length: draw it from one end of the shared border to the other"
                .into(),
        ));
    }
    let moved_a = replace_stretch(&a.geometry, stretch, &new);
    let Some(stretch_b) = find_stretch(&b.geometry, &old) else {
        return Err(EditError::Refused(format!(
            "{} and {} share no border vertex for vertex",
            a.code, b.code
        )));
    };
    // On b's ring the stretch runs Q → P when the rings wind alike.
    let on_b = stretch_coords(&b.geometry, stretch_b);
    let new_b: Vec<Coord<f64>> = if on_b[0] == p {
        new.clone()
    } else {
        new.iter().rev().copied().collect()
    };
    let moved_b = replace_stretch(&b.geometry, stretch_b, &new_b);
    for (code, m) in [(&a.code, &moved_a), (&b.code, &moved_b)] {
        if !m.is_valid() {
            return Err(EditError::Refused(format!(
                "with the new border, {code} would cross itself or another of its borders: keep the line inside the two grids, without loops"
            )));
        }
    }
    let area = crate::measure::area_m2;
    let (before, after) = (
        area(&a.geometry) + area(&b.geometry),
        area(&moved_a) + area(&moved_b),
    );
    if (after - before).abs() > before * 1e-9 + 1e-3 || area(&moved_a) < 1.0 || area(&moved_b) < 1.0
    {
        return Err(EditError::Refused(format!(
            "the new border leaves {} and {} (their area would go from {before:.1} m² to {after:.1} m²): draw it inside the two grids, so that neither vanishes",
            a.code, b.code
        )));
    }
    Ok(vec![
        GridChange::Put(Grid {
            geometry: moved_a,
            ..a.clone()
        }),
        GridChange::Put(Grid {
            geometry: moved_b,
            ..b.clone()
        }),
    ])
}

/// The rings of a multipolygon, open (without the closing vertex), with
/// their (polygon, ring) positions.
fn open_rings(m: &MultiPolygon<f64>) -> Vec<(usize, usize, &[Coord<f64>])> {
    let mut out = Vec::new();
    for (pi, poly) in m.0.iter().enumerate() {
        for (ri, ring) in std::iter::once(poly.exterior())
            .chain(poly.interiors())
            .enumerate()
        {
            let c = &ring.0[..];
            let open = if c.len() > 1 && c[0] == c[c.len() - 1] {
                &c[..c.len() - 1]
            } else {
                c
            };
            if open.len() >= 3 {
                out.push((pi, ri, open));
            }
        }
    }
    out
}

/// The maximal stretches of `a`'s rings whose every edge is also an edge of
/// `b` (same two vertices, bit for bit). A ring shared all the way round
/// (an island of one in the other) is not a border that can move.
fn shared_stretches(a: &MultiPolygon<f64>, b: &MultiPolygon<f64>) -> Vec<Stretch> {
    let key = |c: Coord<f64>| (c.x.to_bits(), c.y.to_bits());
    let mut edges = std::collections::HashSet::new();
    for (_, _, r) in open_rings(b) {
        for i in 0..r.len() {
            let (u, v) = (key(r[i]), key(r[(i + 1) % r.len()]));
            edges.insert((u.min(v), u.max(v)));
        }
    }
    let mut out = Vec::new();
    for (polygon, ring, r) in open_rings(a) {
        let n = r.len();
        let shared: Vec<bool> = (0..n)
            .map(|i| {
                let (u, v) = (key(r[i]), key(r[(i + 1) % n]));
                edges.contains(&(u.min(v), u.max(v)))
            })
            .collect();
        if shared.iter().all(|&s| s) {
            // Shared all the way round: marked by a length of 0.
            out.push(Stretch {
                polygon,
                ring,
                start: 0,
                len: 0,
            });
            continue;
        }
        // Runs start at a shared edge whose predecessor is not shared.
        for start in 0..n {
            if shared[start] && !shared[(start + n - 1) % n] {
                let len = (0..n).take_while(|k| shared[(start + k) % n]).count();
                out.push(Stretch {
                    polygon,
                    ring,
                    start,
                    len,
                });
            }
        }
    }
    out
}

/// The vertices of a stretch, in ring order (`len + 1` of them).
fn stretch_coords(m: &MultiPolygon<f64>, s: Stretch) -> Vec<Coord<f64>> {
    let (_, _, r) = open_rings(m)
        .into_iter()
        .find(|(p, q, _)| (*p, *q) == (s.polygon, s.ring))
        .expect("the stretch was found on this ring");
    (0..=s.len).map(|k| r[(s.start + k) % r.len()]).collect()
}

/// Where `coords` (or its reverse) runs along one of `m`'s rings.
fn find_stretch(m: &MultiPolygon<f64>, coords: &[Coord<f64>]) -> Option<Stretch> {
    let len = coords.len() - 1;
    for (polygon, ring, r) in open_rings(m) {
        let n = r.len();
        for start in 0..n {
            let run = |k: usize| r[(start + k) % n];
            if (0..=len).all(|k| run(k) == coords[k])
                || (0..=len).all(|k| run(k) == coords[len - k])
            {
                return Some(Stretch {
                    polygon,
                    ring,
                    start,
                    len,
                });
            }
        }
    }
    None
}

/// `m` with the stretch's vertices replaced by `new` (whose ends are the
/// stretch's ends, in the same order).
fn replace_stretch(m: &MultiPolygon<f64>, s: Stretch, new: &[Coord<f64>]) -> MultiPolygon<f64> {
    let mut out = m.clone();
    let poly = &mut out.0[s.polygon];
    let old = if s.ring == 0 {
        poly.exterior().0.clone()
    } else {
        poly.interiors()[s.ring - 1].0.clone()
    };
    let open = &old[..old.len() - 1];
    let n = open.len();
    // The new ring: the new border, then the rest of the old ring after the
    // stretch's end, back to its start.
    let mut ring: Vec<Coord<f64>> = new.to_vec();
    ring.extend((s.len + 1..n).map(|k| open[(s.start + k) % n]));
    ring.push(new[0]);
    let ring = LineString::from(ring);
    if s.ring == 0 {
        poly.exterior_mut(|e| *e = ring);
    } else {
        poly.interiors_mut(|rings| rings[s.ring - 1] = ring);
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Lon/lat of a point `(x, y)` in units of 0.001° from 116.0°E, 39.9°N.
    fn at(x: f64, y: f64) -> Coord<f64> {
        Coord {
            x: 116.0 + x * 0.001,
            y: 39.9 + y * 0.001,
        }
    }

    fn grid(code: &str, ring: &[(f64, f64)]) -> Grid {
        let mut c: Vec<Coord<f64>> = ring.iter().map(|&(x, y)| at(x, y)).collect();
        c.push(c[0]);
        Grid {
            code: code.into(),
            geometry: MultiPolygon(vec![Polygon::new(LineString::from(c), vec![])]),
            name: code.into(),
            level: 3,
            worker: None,
        }
    }

    /// West (`a`) and east (`b`) squares sharing x = 1 with a middle vertex,
    /// and `c` over both, sharing their top vertices.
    fn three() -> (Grid, Grid, Grid) {
        let a = grid("a", &[(0., 0.), (1., 0.), (1., 0.5), (1., 1.), (0., 1.)]);
        let b = grid("b", &[(1., 0.), (2., 0.), (2., 1.), (1., 1.), (1., 0.5)]);
        let c = grid("c", &[(0., 1.), (1., 1.), (2., 1.), (2., 2.), (0., 2.)]);
        (a, b, c)
    }

    fn vertices(g: &Grid) -> std::collections::HashSet<(u64, u64)> {
        open_rings(&g.geometry)
            .iter()
            .flat_map(|(_, _, r)| r.iter().map(|c| (c.x.to_bits(), c.y.to_bits())))
            .collect()
    }

    fn put(c: &GridChange) -> &Grid {
        match c {
            GridChange::Put(g) => g,
            other => panic!("expected a put, got {other:?}"),
        }
    }

    #[test]
    fn a_moved_border_is_shared_vertex_for_vertex_and_keeps_the_union() {
        let (a, b, _) = three();
        // Drawn north to south (against a's ring order), ends a little off.
        let line = [
            at(1.0, 1.0 + 0.0004),
            at(1.4, 0.7),
            at(1.3, 0.2),
            at(1.0, 0.0),
        ];
        let out = move_border(&a, &b, &line).unwrap();
        let (a2, b2) = (put(&out[0]), put(&out[1]));
        assert_eq!((a2.code.as_str(), b2.code.as_str()), ("a", "b"));
        // The new border's vertices are on both, bit for bit; the ends are
        // the old ends exactly.
        let shared: Vec<_> = vertices(a2).intersection(&vertices(b2)).copied().collect();
        for v in [at(1.0, 1.0), at(1.4, 0.7), at(1.3, 0.2), at(1.0, 0.0)] {
            assert!(shared.contains(&(v.x.to_bits(), v.y.to_bits())), "{v:?}");
        }
        assert!(!vertices(a2).contains(&(at(1.0, 0.5).x.to_bits(), at(1.0, 0.5).y.to_bits())));
        // The border with c (above both) is untouched: its vertices remain.
        for v in [at(0.0, 1.0), at(1.0, 1.0), at(2.0, 1.0)] {
            let k = (v.x.to_bits(), v.y.to_bits());
            assert!(vertices(a2).contains(&k) || vertices(b2).contains(&k));
        }
        // Oracle: geo's boolean operations. The two cover what they covered
        // and do not overlap.
        let area = crate::measure::area_m2;
        let before = a.geometry.union(&b.geometry);
        let after = a2.geometry.union(&b2.geometry);
        assert!(area(&before.xor(&after)) < 1e-3, "the union is kept");
        assert!(area(&a2.geometry.intersection(&b2.geometry)) < 1e-3);
        assert!(area(&a2.geometry) > area(&a.geometry), "a grew eastwards");
        assert!(a2.geometry.is_valid() && b2.geometry.is_valid());
        // And in the other direction, b's order: the same result.
        let rev: Vec<_> = line.iter().rev().copied().collect();
        assert_eq!(move_border(&b, &a, &rev).unwrap()[1], out[0]);
    }

    #[test]
    fn a_border_move_that_leaves_the_grids_or_misses_the_ends_is_refused() {
        let (a, b, c) = three();
        let refused = |r: Result<Vec<GridChange>>, what: &str| match r {
            Err(EditError::Refused(m)) => assert!(m.contains(what), "{m}"),
            other => panic!("expected a refusal with {what:?}, got {other:?}"),
        };
        // Out of b on the east side.
        refused(
            move_border(&a, &b, &[at(1., 0.), at(2.5, 0.5), at(1., 1.)]),
            "cross itself",
        );
        // Below both grids.
        refused(
            move_border(
                &a,
                &b,
                &[at(1., 0.), at(1., -0.5), at(1.2, 0.5), at(1., 1.)],
            ),
            "cross itself",
        );
        // Ends elsewhere than the shared border's ends.
        refused(
            move_border(&a, &b, &[at(1., 0.1), at(1.2, 0.5), at(1., 1.)]),
            "start and end",
        );
        // Grids that do not share an edge (c and a share one: (0,1)-(1,1)).
        let far = grid("d", &[(5., 5.), (6., 5.), (6., 6.), (5., 6.)]);
        refused(
            move_border(&a, &far, &[at(1., 0.), at(1., 1.)]),
            "share no border",
        );
        assert!(move_border(&a, &c, &[at(0., 1.), at(0.5, 1.2), at(1., 1.)]).is_ok());
    }
}
