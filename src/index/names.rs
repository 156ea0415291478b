//! Grid names in one buffer, for substring search.

use crate::model::Grid;

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

    /// Dataset indexes of the grids whose names contain `q`, ascending.
    pub fn containing(&self, q: &str) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        if q.is_empty() || q.contains('\n') {
            return out;
        }
        for (pos, _) in self.text.match_indices(q) {
            let i = self.starts.partition_point(|&s| s as usize <= pos) - 1;
            if out.last() != Some(&(i as u32)) {
                out.push(i as u32);
            }
        }
        out
    }
}
