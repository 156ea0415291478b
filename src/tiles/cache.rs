//! The in-memory tile cache (moka, bounded by bytes) of encoded tiles
//! ([`Encoded`]).
//!
//! The cache key holds the id of the snapshot the tile was drawn from, or of
//! an older one whose tile is known to be the same ([`TileSet::content_key`]):
//! once new data is published, only the tiles it changed are drawn again;
//! old entries age out of the byte budget.

use std::sync::Arc;

use super::{Source, TileId, TileSet};
use crate::encoded::Encoded;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    sources: Vec<Source>,
    tile: TileId,
    /// The snapshot drawn ([`TileSet::id`]).
    snapshot: u64,
}

/// The server's tile cache; a zero byte budget turns it off.
#[derive(Clone)]
pub struct TileCache {
    inner: Option<moka::sync::Cache<Key, Arc<Encoded>>>,
}

impl std::fmt::Debug for TileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TileCache")
            .field("entries", &self.inner.as_ref().map(|c| c.entry_count()))
            .finish()
    }
}

impl TileCache {
    /// A cache holding at most `budget_bytes` of tiles (0: no cache).
    pub fn new(budget_bytes: u64) -> TileCache {
        let inner = (budget_bytes > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(budget_bytes)
                .weigher(|_k: &Key, v: &Arc<Encoded>| v.weight())
                .build()
        });
        TileCache { inner }
    }

    /// The tile from the cache, or rendered (and cached) now, and whether it
    /// came from the cache. Concurrent requests for a missing tile render it
    /// once.
    pub fn get(&self, set: &TileSet, sources: &[Source], tile: TileId) -> (Arc<Encoded>, bool) {
        let render = || Arc::new(Encoded::new(super::render(set, sources, tile)));
        match &self.inner {
            None => (render(), false),
            Some(c) => {
                let entry = c
                    .entry(Key {
                        sources: sources.to_vec(),
                        tile,
                        snapshot: set.content_key(tile),
                    })
                    .or_insert_with(render);
                let hit = !entry.is_fresh();
                (entry.into_value(), hit)
            }
        }
    }

    /// Bytes the cache holds now (as weighed for its budget).
    pub fn bytes(&self) -> u64 {
        self.inner.as_ref().map_or(0, |c| c.weighted_size())
    }

    /// The tile if it is cached now, without rendering (cheap: callable
    /// from an async task).
    pub fn cached(&self, set: &TileSet, sources: &[Source], tile: TileId) -> Option<Arc<Encoded>> {
        let snapshot = set.content_key(tile);
        self.inner.as_ref()?.get(&Key {
            sources: sources.to_vec(),
            tile,
            snapshot,
        })
    }
}
