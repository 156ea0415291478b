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
}

impl TileSet {
    /// The tiles of `snap`; nothing is built yet.
    pub fn new(snap: Arc<Snapshot>) -> TileSet {
        TileSet {
            snap,
            index: OnceLock::new(),
        }
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

    /// The tile indexes, built on the first call.
    pub fn index(&self) -> &TileIndex {
        self.index.get_or_init(|| TileIndex::build(&self.snap))
    }
}
