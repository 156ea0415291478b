//! Every refused request is audited, but a client that sends thousands of
//! bad tokens must neither fill the audit log nor keep the store's writer
//! busy: per client address, the first [`PER_MINUTE`] refusals of a minute
//! are written one by one, the rest only counted, and the count is written
//! as one entry when that client's minute is over (at its next refusal).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Refusals of one client written one by one per minute.
pub const PER_MINUTE: u32 = 20;
/// The window.
const WINDOW: Duration = Duration::from_secs(60);
/// Clients followed at once (memory stays bounded under a flood from many
/// addresses: past it, windows that ended are forgotten, then all).
const MAX_CLIENTS: usize = 10_000;

/// What to write for one refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Admit {
    /// Write this refusal's entry.
    pub write: bool,
    /// First write one entry for this many refusals of the client's last
    /// window that were only counted.
    pub counted_before: u32,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    written: u32,
    counted: u32,
}

/// The refusal windows of the clients.
#[derive(Debug, Default)]
pub(crate) struct Refusals {
    windows: Mutex<HashMap<String, Window>>,
}

impl Refusals {
    /// Whether the refusal of a request from `client` at `now` is written.
    pub fn admit(&self, client: &str, now: Instant) -> Admit {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= MAX_CLIENTS && !windows.contains_key(client) {
            windows.retain(|_, w| now.duration_since(w.started) < WINDOW);
            if windows.len() >= MAX_CLIENTS {
                windows.clear();
            }
        }
        let w = windows.entry(client.to_string()).or_insert(Window {
            started: now,
            written: 0,
            counted: 0,
        });
        let mut counted_before = 0;
        if now.duration_since(w.started) >= WINDOW {
            counted_before = w.counted;
            *w = Window {
                started: now,
                written: 0,
                counted: 0,
            };
        }
        let write = w.written < PER_MINUTE;
        if write {
            w.written += 1;
        } else {
            w.counted += 1;
        }
        Admit {
            write,
            counted_before,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_written_one_by_one_only_up_to_the_limit_then_counted() {
        let r = Refusals::default();
        let t0 = Instant::now();
        let written = (0..500)
            .filter(|i| r.admit("203.0.113.9", t0 + Duration::from_millis(*i)).write)
            .count();
        assert_eq!(written, PER_MINUTE as usize);
        // Another client is not held back by the first.
        assert!(r.admit("198.51.100.7", t0).write);
        // The next minute: the count of the last one comes first.
        let next = r.admit("203.0.113.9", t0 + WINDOW + Duration::from_secs(1));
        assert_eq!(
            next,
            Admit {
                write: true,
                counted_before: 500 - PER_MINUTE
            }
        );
    }

    #[test]
    fn many_addresses_do_not_grow_memory_without_bound() {
        let r = Refusals::default();
        let t0 = Instant::now();
        for i in 0..(MAX_CLIENTS * 3) {
            r.admit(&format!("client {i}"), t0);
        }
        assert!(r.windows.lock().unwrap().len() <= MAX_CLIENTS);
    }
}
