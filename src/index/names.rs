//! Grid names in one buffer, for substring search.

use crate::model::{Grid, GridId};

/// All grid names in one buffer, so a substring search is one scan with one
/// searcher instead of one per name.
#[derive(Debug, Clone, Default)]
pub struct NameIndex {
    text: String,
    starts: Vec<u32>,
}

impl NameIndex {
    /// Indexes grid names in dataset order.
    pub fn new(grids: &[Grid]) -> Self {
        let mut text = String::new();
        let mut starts = Vec::with_capacity(grids.len());
        for g in grids {
            starts.push(text.len() as u32);
            text.push_str(&g.name);
            text.push('\n');
        }
        NameIndex { text, starts }
    }

    /// The grids whose names contain `q`, ascending.
    pub fn containing(&self, q: &str) -> Vec<GridId> {
        let mut out: Vec<GridId> = Vec::new();
        if q.is_empty() || q.contains('\n') {
            return out;
        }
        for (pos, _) in self.text.match_indices(q) {
            let i = self.starts.partition_point(|&s| s as usize <= pos) - 1;
            let g = GridId::new(i as u32);
            if out.last() != Some(&g) {
                out.push(g);
            }
        }
        out
    }
}
