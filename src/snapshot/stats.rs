//! Component counts per grid, by class and by state, precomputed when a
//! snapshot is built so that statistics and choropleth maps never scan
//! millions of components per request.

use crate::model::{ComponentState, Components, GridId};

/// Counts of the components inside one grid.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GridCounts {
    /// All components in the grid.
    pub total: u64,
    /// By state, in [`ComponentState::ALL`] order.
    pub by_state: [u64; 4],
    /// By class: (dense class index, count), ascending class index, no zeros.
    pub by_class: Vec<(u16, u64)>,
}

impl GridCounts {
    /// The count of one class (dense index).
    pub fn class(&self, class: u16) -> u64 {
        self.by_class
            .binary_search_by_key(&class, |c| c.0)
            .map_or(0, |i| self.by_class[i].1)
    }

    fn add(&mut self, other: &GridCounts) {
        self.total += other.total;
        for (a, b) in self.by_state.iter_mut().zip(other.by_state) {
            *a += b;
        }
        let mut merged = Vec::with_capacity(self.by_class.len().max(other.by_class.len()));
        let (mut i, mut j) = (0, 0);
        let (a, b) = (&self.by_class, &other.by_class);
        while i < a.len() || j < b.len() {
            match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) if x.0 == y.0 => {
                    merged.push((x.0, x.1 + y.1));
                    i += 1;
                    j += 1;
                }
                (Some(x), Some(y)) if x.0 < y.0 => {
                    merged.push(*x);
                    i += 1;
                }
                (Some(_), Some(y)) | (None, Some(y)) => {
                    merged.push(*y);
                    j += 1;
                }
                (Some(x), None) => {
                    merged.push(*x);
                    i += 1;
                }
                (None, None) => break,
            }
        }
        self.by_class = merged;
    }
}

/// Counts for every grid of a snapshot, by dataset grid index, plus city totals by class.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    per_grid: Vec<GridCounts>,
    /// Components per class over the whole city (dense class index).
    pub class_totals: Vec<u64>,
}

impl Stats {
    /// Counts components per unit grid, then adds children into parents,
    /// finest level first. `parents[g]` is grid `g`'s parent, if the data
    /// has it; `levels[g]` its level.
    pub fn build(
        components: &Components,
        n_classes: usize,
        parents: &[Option<GridId>],
        levels: &[usize],
    ) -> Self {
        let n = parents.len();
        let mut per_grid = vec![GridCounts::default(); n];
        let mut class_totals = vec![0u64; n_classes];
        // Dense counting per grid in one pass, then kept sparse.
        let mut dense: Vec<Vec<u64>> = vec![Vec::new(); n];
        for c in components.iter() {
            let cls = c.class() as usize;
            if cls < n_classes {
                class_totals[cls] += 1;
            }
            let Some(g) = c.unit_grid() else {
                continue;
            };
            let gc = &mut per_grid[g.index()];
            gc.total += 1;
            gc.by_state[c.state() as usize] += 1;
            let d = &mut dense[g.index()];
            if d.is_empty() {
                d.resize(n_classes, 0);
            }
            d[cls] += 1;
        }
        for (gc, d) in per_grid.iter_mut().zip(dense) {
            gc.by_class = d
                .into_iter()
                .enumerate()
                .filter(|&(_, v)| v > 0)
                .map(|(k, v)| (k as u16, v))
                .collect();
        }
        let depth = levels.iter().copied().max().map_or(0, |m| m + 1);
        for level in (1..depth).rev() {
            for g in 0..n {
                if levels[g] == level
                    && let Some(parent) = parents[g]
                {
                    let child = per_grid[g].clone();
                    per_grid[parent.index()].add(&child);
                }
            }
        }
        Stats {
            per_grid,
            class_totals,
        }
    }

    /// Counts of the grid at a dataset index.
    pub fn grid(&self, g: GridId) -> &GridCounts {
        &self.per_grid[g.index()]
    }
}

/// State names in count order, for output.
pub fn state_names() -> [&'static str; 4] {
    ComponentState::ALL.map(|s| s.english())
}
