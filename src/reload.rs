//! Hot reload: a running server notices when `wangge import` (or
//! `wangge generate`) makes another version of its data directory current,
//! loads and indexes it off the request threads, and publishes it; requests
//! in flight finish on the version they started with.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::datadir;
use crate::http::AppState;

/// Polls `data`'s `current` version every `every` and publishes each new
/// one into `state`. Runs until the task is dropped. A version that fails to
/// load is logged and skipped; the server keeps serving the one it has.
pub async fn watch(state: AppState, data: PathBuf, every: Duration) {
    // The version directory last tried (a version that failed to load is not
    // retried until another one is published).
    let mut tried: Option<PathBuf> = None;
    loop {
        tokio::time::sleep(every).await;
        let now = match datadir::resolve(&data) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!("reload check: {e}");
                continue;
            }
        };
        let version = datadir::read_manifest(&now).ok().map(|m| m.version);
        if tried.as_ref() == Some(&now) || version == Some(state.snapshot().revision()) {
            continue;
        }
        let started = Instant::now();
        let dir = now.clone();
        let loaded =
            tokio::task::spawn_blocking(move || datadir::open_snapshot(&dir, |_| {})).await;
        match loaded {
            Ok(Ok((manifest, snap))) => {
                let seconds = started.elapsed().as_secs_f64();
                tracing::info!(
                    version = manifest.version,
                    grids = manifest.grids,
                    components = manifest.components,
                    seconds,
                    "new data version published from {}",
                    now.display()
                );
                state.publish(snap, seconds);
                // Build the tile indexes now rather than on the first tile request.
                let warm = state.clone();
                tokio::task::spawn_blocking(move || warm.warm());
                tried = Some(now);
            }
            Ok(Err(e)) => {
                tracing::warn!(
                    "cannot load the new version {}: {e}; still serving the previous one",
                    now.display()
                );
                tried = Some(now);
            }
            Err(e) => tracing::error!("reload task failed: {e}"),
        }
    }
}
