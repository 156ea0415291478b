//! wangge (网格): a geospatial tile and query service for China's urban grid
//! management.
//!
//! A city's grid hierarchy (district > street > community > unit grid) and its
//! coded city components are imported ([`io`]), validated ([`validate`]) and
//! recorded in a store of record ([`store`]) as revisions, changed through
//! drafts ([`edit`]), held in memory as one immutable
//! [`snapshot::Snapshot`] per revision behind spatial indexes ([`index`]) and
//! queried ([`query`]): "which grid is this point in", now or at any time,
//! features by code, vector tiles ([`tiles`]), and over HTTP ([`http`]). All
//! geometry is WGS84 lon/lat degrees (EPSG:4326); other coordinate systems are
//! converted at the edge ([`crs`]).

pub mod auth;
pub mod bbox;
pub mod codes;
pub mod crs;
pub mod datadir;
pub mod edit;
pub mod encoded;
pub mod files;
pub mod generate;
pub mod http;
pub mod import;
pub mod index;
pub mod io;
pub mod measure;
pub mod metrics;
pub mod model;
pub mod query;
pub mod reload;
pub mod server;
pub mod snapshot;
pub mod store;
pub mod tiles;
pub mod tls;
pub mod validate;
pub mod web;
