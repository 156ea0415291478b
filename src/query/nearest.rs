//! The k components nearest to a point: "the nearest hydrant to me".
//!
//! Distances are metres in the point's local equirectangular frame (see
//! [`crate::measure`]). The component R-tree stores longitudes scaled by the
//! cosine of the city's middle latitude, so its distances are metric up to a
//! fraction of a percent; the search walks it in that order and stops once
//! a lower bound in metres proves that no closer component remains.

use geo::Coord;

use crate::measure::LocalFrame;
use crate::snapshot::Snapshot;

/// Why a class filter cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClassFilterError {
    /// A 4-digit class the table does not have.
    #[error("class '{0}' is not in the class table (GET /classes lists them)")]
    UnknownClass(String),
    /// A 2-digit major class with no classes.
    #[error("major class '{0}' has no classes in the class table (GET /classes lists them)")]
    UnknownMajor(String),
    /// Neither 4 nor 2 digits.
    #[error("class '{0}' must be 4 digits (class) or 2 digits (major class)")]
    Malformed(String),
}

/// Which classes a query keeps: a 4-digit class or a 2-digit major class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassFilter {
    /// One class (dense index into the class table).
    Class(u16),
    /// A major class, by its 2-digit code.
    Major(String),
}

impl ClassFilter {
    /// Parses `0101` (class) or `01` (major class) against the snapshot's class table.
    pub fn parse(snap: &Snapshot, text: &str) -> Result<Self, ClassFilterError> {
        let classes = &snap.data().classes;
        match text.len() {
            4 => classes
                .get(text)
                .map(ClassFilter::Class)
                .ok_or_else(|| ClassFilterError::UnknownClass(text.into())),
            2 if classes.all().iter().any(|c| c.major() == text) => {
                Ok(ClassFilter::Major(text.to_string()))
            }
            2 => Err(ClassFilterError::UnknownMajor(text.into())),
            _ => Err(ClassFilterError::Malformed(text.into())),
        }
    }

    /// True when the dense class index passes.
    pub fn accepts(&self, snap: &Snapshot, class: u16) -> bool {
        match self {
            ClassFilter::Class(c) => *c == class,
            ClassFilter::Major(m) => snap.data().classes.def(class).major() == m,
        }
    }
}

/// The `k` components nearest to `p` (WGS84 degrees) within `max_m` metres,
/// nearest first: (store index, distance in metres). Ties break by code.
pub fn nearest(
    s: &super::Scoped<'_>,
    p: Coord<f64>,
    k: usize,
    class: Option<&ClassFilter>,
    max_m: f64,
) -> Vec<(usize, f64)> {
    let snap = s.snap;
    let frame = LocalFrame::new(p);
    let comps = &snap.data().components;
    let mut best: Vec<(usize, f64)> = Vec::with_capacity(k + 1);
    if k == 0 {
        return best;
    }
    for (i, bound) in snap.components_by_distance(p) {
        if bound > max_m || (best.len() == k && bound > best[k - 1].1) {
            break;
        }
        let c = comps.get(i);
        if !s.component(i) {
            continue;
        }
        if let Some(f) = class
            && !f.accepts(snap, c.class())
        {
            continue;
        }
        let m = frame.to_m(c.location());
        let d = (m.x * m.x + m.y * m.y).sqrt();
        if d > max_m {
            continue;
        }
        let at = best.partition_point(|&(j, bd)| bd < d || (bd == d && j < i));
        if at < k {
            best.insert(at, (i, d));
            best.truncate(k);
        }
    }
    best
}

/// The `class` parameter of a query (a class or major class), if given.
pub fn class_param(snap: &Snapshot, value: Option<&str>) -> super::Result<Option<ClassFilter>> {
    value
        .map(|c| {
            ClassFilter::parse(snap, c)
                .map_err(|e| super::QueryError::bad("class", c, e.to_string()))
        })
        .transpose()
}
