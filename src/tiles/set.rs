//! One revision's tiles: its snapshot with the tile indexes built for it.

use std::sync::{Arc, OnceLock};

use super::TileIndex;
use crate::snapshot::{Revision, Snapshot};

/// A revision's snapshot with its vector tile indexes (border topology,
/// components in Morton order), built on first use: about a second per
/// million grid vertices and components. The tile service holds one per
/// revision it serves.
#[derive(Debug)]
pub struct TileSet {
    snap: Arc<Snapshot>,
    index: OnceLock<TileIndex>,
    /// This set's id and those of the sets it succeeds, newest first, each
    /// with the tile ranges (`[z, x_min, y_min, x_max, y_max]`) that changed
    /// from the one after it; the last is drawn whole.
    lineage: Vec<(u64, Vec<[u32; 5]>)>,
}

/// How many predecessors a tile set remembers.
const LINEAGE: usize = 32;

impl TileSet {
    /// The tiles of `snap`; nothing is built yet.
    pub fn new(snap: Arc<Snapshot>) -> TileSet {
        TileSet {
            lineage: vec![(snap.id(), Vec::new())],
            snap,
            index: OnceLock::new(),
        }
    }

    /// The tiles of `snap`, which differs from `before`'s snapshot only in
    /// the tile ranges `changed` (`[z, x_min, y_min, x_max, y_max]`, every
    /// zoom listed): every other tile is the same as `before`'s, and is
    /// cached under the same key, so a publish invalidates only the tiles
    /// it touches.
    /// Its tile index shares with `before`'s what the revision did not
    /// change ([`TileIndex::succeeding`]).
    pub fn succeeding(snap: Arc<Snapshot>, before: &TileSet, changed: Vec<[u32; 5]>) -> TileSet {
        let mut lineage = vec![(snap.id(), changed)];
        lineage.extend(before.lineage.iter().take(LINEAGE - 1).cloned());
        let index = before
            .index
            .get()
            .and_then(|i| TileIndex::succeeding(i, &before.snap, &snap))
            .map_or_else(OnceLock::new, OnceLock::from);
        TileSet {
            snap,
            index,
            lineage,
        }
    }

    /// The id of the oldest snapshot in this set's lineage whose tile `t`
    /// is the same as this set's: what the tile cache keys `t` by.
    pub fn content_key(&self, t: super::TileId) -> u64 {
        let z = t.z as u32;
        for (i, (id, ranges)) in self.lineage.iter().enumerate() {
            let changed = ranges
                .iter()
                .any(|r| r[0] == z && (r[1]..=r[3]).contains(&t.x) && (r[2]..=r[4]).contains(&t.y));
            if changed || i + 1 == self.lineage.len() {
                return *id;
            }
        }
        self.snap.id()
    }

    /// The snapshot the tiles are drawn from.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snap
    }

    /// The snapshot's id (see [`Snapshot::id`]).
    pub fn id(&self) -> u64 {
        self.snap.id()
    }

    /// The snapshot's revision.
    pub fn revision(&self) -> Revision {
        self.snap.revision()
    }

    /// Builds now, off the request threads, what the first tiles would
    /// otherwise wait for: the tile index and every level's topology.
    pub fn warm(&self) {
        self.index().warm(&self.snap);
    }

    /// The tile indexes, built on the first call.
    pub fn index(&self) -> &TileIndex {
        self.index.get_or_init(|| TileIndex::build(&self.snap))
    }
}
