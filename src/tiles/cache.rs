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
use crate::query::{Reach, Scope};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    sources: Vec<Source>,
    tile: TileId,
    /// The snapshot drawn ([`TileSet::id`]).
    snapshot: u64,
    /// The components drawn, when a scope limits them (grids are the same
    /// for every reader): a scoped reader's tile never comes from another
    /// scope's entry.
    reach: Option<Reach>,
}

impl Key {
    fn new(set: &TileSet, sources: &[Source], tile: TileId, scope: &Scope) -> Key {
        let reach = (sources.contains(&Source::Components) && scope.limits_components())
            .then(|| scope.reach.clone());
        Key {
            sources: sources.to_vec(),
            tile,
            snapshot: set.content_key(tile),
            reach,
        }
    }
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

    /// The tile as a reader with `scope` sees it, from the cache or
    /// rendered (and cached) now, and whether it came from the cache.
    /// Concurrent requests for a missing tile render it once.
    pub fn get(
        &self,
        set: &TileSet,
        sources: &[Source],
        tile: TileId,
        scope: &Scope,
    ) -> (Arc<Encoded>, bool) {
        let render = || Arc::new(Encoded::new(super::render_as(set, sources, tile, scope)));
        match &self.inner {
            None => (render(), false),
            Some(c) => {
                let entry = c
                    .entry(Key::new(set, sources, tile, scope))
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
    pub fn cached(
        &self,
        set: &TileSet,
        sources: &[Source],
        tile: TileId,
        scope: &Scope,
    ) -> Option<Arc<Encoded>> {
        self.inner
            .as_ref()?
            .get(&Key::new(set, sources, tile, scope))
    }
}
