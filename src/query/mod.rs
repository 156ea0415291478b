//! The query layer: what readers ask of a [`Snapshot`](crate::snapshot::Snapshot),
//! between the HTTP handlers and the read model.
//!
//! Lookups, features in their one GeoJSON form, OGC items with their filters
//! and paging, statistics, nearest components and search live here once, so
//! that handlers only parse, call and map, and so that the choice of revision
//! (time travel) and, later, access scopes are applied in one place.

mod error;
pub mod features;
pub mod items;
pub mod lookup;
pub mod nearest;
pub mod scope;
pub mod search;
pub mod stats;
pub mod table;

pub use error::{QueryError, Result};
pub use scope::{Personal, Reach, Scope, Scoped};

/// Which city a read asks about: the one served now, a past (or future)
/// time in the city (`at`), or the city as a revision recorded it
/// (`revision`). Resolved to a snapshot once, before any query runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Selector {
    /// As recorded in this revision (default: the newest).
    pub revision: Option<crate::store::Revision>,
    /// Valid at this time in the city (default: now, or the revision's
    /// effective time when a revision is named).
    pub at: Option<crate::store::Timestamp>,
}

impl Selector {
    /// Parses the `revision` and `at` parameters (`datetime` for OGC API:
    /// an instant, not an interval).
    pub fn parse(revision: Option<&str>, at: Option<&str>, at_name: &'static str) -> Result<Self> {
        let revision = revision
            .map(|r| {
                r.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| {
                        QueryError::bad(
                            "revision",
                            r,
                            "must be a revision number from 1 (GET /revisions lists them)",
                        )
                    })
            })
            .transpose()?;
        let at = at
            .map(|t| {
                if t.contains('/') {
                    return Err(QueryError::bad(
                        at_name,
                        t,
                        "intervals are not supported: give one instant (RFC 3339), the time whose city you want",
                    ));
                }
                crate::store::Timestamp::parse(t).map_err(|e| QueryError::bad(at_name, t, e.to_string()))
            })
            .transpose()?;
        Ok(Selector { revision, at })
    }

    /// Whether this is the city served now.
    pub fn is_current(&self) -> bool {
        self.revision.is_none() && self.at.is_none()
    }
}
