//! Component counts per grid, by class and by state, precomputed when a
//! snapshot is built so that statistics and choropleth maps never scan
//! millions of components per request.

use crate::model::{ComponentRef, ComponentState, GridId};

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

    /// Counts one component of `class` and `state` in (`plus`) or out.
    fn count(&mut self, class: u16, state: ComponentState, plus: bool) {
        let step = |v: &mut u64| *v = if plus { *v + 1 } else { v.saturating_sub(1) };
        step(&mut self.total);
        step(&mut self.by_state[state as usize]);
        match self.by_class.binary_search_by_key(&class, |c| c.0) {
            Ok(i) => {
                step(&mut self.by_class[i].1);
                if self.by_class[i].1 == 0 {
                    self.by_class.remove(i);
                }
            }
            Err(i) if plus => self.by_class.insert(i, (class, 1)),
            Err(_) => {}
        }
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
    /// finest level first. `unit_grid(i)` is the grid component `i` lies
    /// in; `parents[g]` is grid `g`'s parent, if the data has it;
    /// `levels[g]` its level.
    pub fn build<'c>(
        components: impl Iterator<Item = ComponentRef<'c>>,
        unit_grid: impl Fn(usize) -> Option<GridId>,
        n_classes: usize,
        parents: &[Option<GridId>],
        levels: &[usize],
    ) -> Self {
        let n = parents.len();
        let mut per_grid = vec![GridCounts::default(); n];
        let mut class_totals = vec![0u64; n_classes];
        // Dense counting per grid in one pass, then kept sparse.
        let mut dense: Vec<Vec<u64>> = vec![Vec::new(); n];
        for c in components {
            let cls = c.class() as usize;
            if cls < n_classes {
                class_totals[cls] += 1;
            }
            let Some(g) = unit_grid(c.index) else {
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

    /// These statistics after components moved between grids of a
    /// revision that added, changed or removed grids of the finest level
    /// only (so every other grid keeps its parent): `n` grids now,
    /// `remap[old]` the new dataset index of each old grid (`None` when
    /// gone), `moves` each moved component's (class, state, grid before,
    /// grid now), `parents_before` and `parents_now` the hierarchy.
    pub fn revise(
        &self,
        n: usize,
        remap: &[Option<GridId>],
        moves: &[(u16, ComponentState, Option<GridId>, Option<GridId>)],
        parents_before: &[Option<GridId>],
        parents_now: &[Option<GridId>],
    ) -> Stats {
        let mut per_grid = vec![GridCounts::default(); n];
        for (old, new) in remap.iter().enumerate() {
            if let Some(new) = new {
                per_grid[new.index()] = self.per_grid[old].clone();
            }
        }
        for &(class, state, before, now) in moves {
            // Out of the old grid and its ancestors (those still here)...
            let mut g = before;
            while let Some(old) = g {
                if let Some(new) = remap[old.index()] {
                    per_grid[new.index()].count(class, state, false);
                }
                g = parents_before[old.index()];
            }
            // ...into the new grid and its ancestors.
            let mut g = now;
            while let Some(new) = g {
                per_grid[new.index()].count(class, state, true);
                g = parents_now[new.index()];
            }
        }
        Stats {
            per_grid,
            class_totals: self.class_totals.clone(),
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
