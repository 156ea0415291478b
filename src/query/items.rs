//! Feature collections with filters and paging: the grids of a level and the
//! components (what OGC API - Features `items` serves).

use geo::{Intersects, Rect};
use serde_json::Value;

use super::features::{component_feature, grid_feature};
use super::nearest::{ClassFilter, class_param};
use super::{QueryError, Result, Scoped};
use crate::index::intersect_rects;
use crate::model::{ComponentState, Grid};
use crate::snapshot::Snapshot;

/// One page of matching features: those from `offset`, at most `limit`,
/// and how many matched in all (OGC `numberMatched`).
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// Matches skipped before the first feature of the page.
    pub offset: usize,
    /// Most features on the page.
    pub limit: usize,
    /// How many features match in all.
    pub matched: usize,
    /// The page's features (GeoJSON Features).
    pub features: Vec<Value>,
}

impl Page {
    /// An empty page from `offset` holding at most `limit` features.
    pub fn new(offset: usize, limit: usize) -> Page {
        Page {
            offset,
            limit,
            matched: 0,
            features: Vec::new(),
        }
    }

    /// Counts a candidate; builds its feature only when it matches and falls on the page.
    fn take(&mut self, matches: bool, feature: impl FnOnce() -> Option<Value>) {
        if !matches {
            return;
        }
        if self.matched >= self.offset
            && self.features.len() < self.limit
            && let Some(f) = feature()
        {
            self.features.push(f);
        }
        self.matched += 1;
    }

    /// Whether matches remain after this page.
    pub fn has_next(&self) -> bool {
        self.offset + self.features.len() < self.matched
    }
}

/// Which grids of a level to serve.
#[derive(Debug, Clone, Default)]
pub struct GridFilter<'a> {
    /// Grids whose codes start with this prefix (and are not the prefix itself).
    pub parent: Option<&'a str>,
    /// Grids that intersect this box (lon/lat degrees, borders included).
    pub bbox: Option<Rect<f64>>,
}

impl<'a> GridFilter<'a> {
    /// A filter; `parent` must be a code prefix of digits.
    pub fn new(parent: Option<&'a str>, bbox: Option<Rect<f64>>) -> Result<Self> {
        if let Some(pc) = parent
            && (pc.is_empty() || !pc.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(QueryError::bad(
                "parent",
                pc,
                "must be a code prefix of digits",
            ));
        }
        Ok(GridFilter { parent, bbox })
    }
}

/// The grids of `level` that pass `f`, in code order, paged.
pub fn grid_items(s: &Scoped<'_>, level: usize, f: &GridFilter<'_>, mut page: Page) -> Page {
    let snap = s.snap;
    let li = snap.level(level);
    let candidates = match f.bbox {
        Some(r) => li.grids_in_box(r),
        None => (0..li.len() as u32).collect(),
    };
    for g in candidates {
        let grid = snap.grid(li.dataset_index(g));
        let ok = f
            .parent
            .is_none_or(|pc| grid.code.starts_with(pc) && grid.code != pc)
            && f.bbox.is_none_or(|r| grid.geometry.intersects(&r));
        page.take(ok, || grid_feature(s, &grid.code));
    }
    page
}

/// Which components to serve.
#[derive(Debug, Clone, Default)]
pub struct ComponentFilter<'a> {
    /// A class or major class.
    pub class: Option<ClassFilter>,
    /// One state.
    pub state: Option<ComponentState>,
    /// Components in this grid (of any level).
    pub grid: Option<&'a Grid>,
    /// One owner (权属单位), exactly.
    pub owner: Option<&'a str>,
    /// Components inside this box (lon/lat degrees, borders included).
    pub bbox: Option<Rect<f64>>,
}

impl<'a> ComponentFilter<'a> {
    /// Parses the filters of a component query against `snap`.
    pub fn parse(
        snap: &'a Snapshot,
        class: Option<&str>,
        state: Option<&str>,
        grid: Option<&str>,
        owner: Option<&'a str>,
        bbox: Option<Rect<f64>>,
    ) -> Result<Self> {
        let state = state
            .map(|s| {
                ComponentState::parse(s)
                    .filter(|_| !s.trim().is_empty())
                    .ok_or_else(|| {
                        QueryError::bad(
                            "state",
                            s,
                            "is not one of intact, damaged, lost, occupied (完好, 破损, 丢失, 占用)",
                        )
                    })
            })
            .transpose()?;
        let grid = grid
            .map(|code| {
                snap.data()
                    .scheme
                    .level_of(code)
                    .map_err(|e| QueryError::bad("grid", code, e.to_string()))?;
                snap.grid_by_code(code)
                    .ok_or_else(|| QueryError::bad("grid", code, "no grid has this code"))
            })
            .transpose()?;
        Ok(ComponentFilter {
            class: class_param(snap, class)?,
            state,
            grid,
            owner,
            bbox,
        })
    }
}

/// The components that pass `f` and that the reader may see, in store
/// order, paged.
pub fn component_items(s: &Scoped<'_>, f: &ComponentFilter<'_>, mut page: Page) -> Page {
    let snap = s.snap;
    let data = snap.data();
    // Candidates from the R-tree when a box (or a grid's box) narrows them.
    let boxes: Vec<Rect<f64>> = f
        .bbox
        .into_iter()
        .chain(
            f.grid
                .and_then(|g| geo::BoundingRect::bounding_rect(&g.geometry)),
        )
        .collect();
    let window = boxes
        .into_iter()
        .map(Some)
        .reduce(|a, b| a.zip(b).and_then(|(a, b)| intersect_rects(a, b)));
    let candidates: Box<dyn Iterator<Item = usize>> = match window {
        // The box and the grid's box do not meet.
        Some(None) => Box::new(std::iter::empty()),
        within => s.candidates(within.flatten()),
    };
    for i in candidates {
        let comp = data.components.get(i);
        let ok = s.component(i)
            && f.class
                .as_ref()
                .is_none_or(|c| c.accepts(snap, comp.class()))
            && f.state.is_none_or(|s| comp.state() == s)
            && f.grid.is_none_or(|g| {
                snap.unit_grid(comp.index)
                    .is_some_and(|u| snap.grid(u).code.starts_with(&g.code))
            })
            && f.owner.is_none_or(|o| comp.owner() == o);
        page.take(ok, || component_feature(s, &comp.code()));
    }
    page
}
