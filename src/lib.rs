//! wangge (网格): a geospatial tile and query service for China's urban grid
//! management.
//!
//! A city's grid hierarchy (district > street > community > unit grid) and its
//! coded city components are imported ([`io`]), validated ([`validate`]), held
//! in memory behind spatial indexes ([`index::Snapshot`]) and queried: "which
//! grid is this point in" ([`lookup`]), features by code, vector tiles
//! ([`tiles`]), and over HTTP ([`http`]). All geometry is WGS84 lon/lat degrees (EPSG:4326); other
//! coordinate systems are converted at the edge ([`crs`]).

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
pub mod validate;
pub mod web;
