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
pub mod search;
pub mod stats;
pub mod table;

pub use error::{QueryError, Result};
