//! Tile addresses and Web Mercator *world units* (the whole map is `0..1`
//! on both axes, x east, y south; tile `z/x/y` covers
//! `[x/2^z, (x+1)/2^z] × [y/2^z, (y+1)/2^z]`), and the sources a tile holds.

use geo::{Coord, Rect};

use super::clip::Bounds;
use super::{EXTENT, MAX_LAT, MAX_ZOOM};

/// WGS84 longitude/latitude (degrees) to world units.
pub fn world(lon: f64, lat: f64) -> [f64; 2] {
    let lat = lat.clamp(-MAX_LAT, MAX_LAT).to_radians();
    let x = (lon + 180.0) / 360.0;
    let y = 0.5 - (lat.tan() + 1.0 / lat.cos()).ln() / (2.0 * std::f64::consts::PI);
    [x, y]
}

/// World units to WGS84 longitude/latitude (degrees).
pub fn lonlat(p: [f64; 2]) -> Coord<f64> {
    let n = std::f64::consts::PI * (1.0 - 2.0 * p[1]);
    Coord {
        x: p[0] * 360.0 - 180.0,
        y: n.sinh().atan().to_degrees(),
    }
}

/// Errors in a tile request.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TileError {
    /// The source list names an unknown source or is empty.
    #[error("{0}")]
    BadSource(String),
    /// z, x or y is outside the tile pyramid.
    #[error("{0}")]
    OutOfRange(String),
}

/// A tile address in the XYZ scheme (y = 0 at the north).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    /// Zoom, `0..=MAX_ZOOM`.
    pub z: u8,
    /// Column, `0..2^z`, from the west.
    pub x: u32,
    /// Row, `0..2^z`, from the north.
    pub y: u32,
}

impl TileId {
    /// A checked tile address.
    pub fn new(z: u32, x: u64, y: u64) -> Result<TileId, TileError> {
        if z > MAX_ZOOM as u32 {
            return Err(TileError::OutOfRange(format!(
                "zoom {z} is above the highest zoom {MAX_ZOOM}; clients overzoom tiles of zoom {MAX_ZOOM}"
            )));
        }
        let n = 1u64 << z;
        if x >= n || y >= n {
            return Err(TileError::OutOfRange(format!(
                "tile {z}/{x}/{y} does not exist: at zoom {z} x and y run from 0 to {}",
                n - 1
            )));
        }
        Ok(TileId {
            z: z as u8,
            x: x as u32,
            y: y as u32,
        })
    }

    /// Parses `z/x/y` path segments (y may end in `.mvt` or `.pbf`).
    pub fn parse(z: &str, x: &str, y: &str) -> Result<TileId, TileError> {
        let y = y
            .strip_suffix(".mvt")
            .or_else(|| y.strip_suffix(".pbf"))
            .unwrap_or(y);
        let num = |what: &str, s: &str| {
            s.parse::<u64>().map_err(|_| {
                TileError::OutOfRange(format!(
                    "tile {what} `{s}` is not a non-negative integer; use /tiles/{{source}}/{{z}}/{{x}}/{{y}}"
                ))
            })
        };
        let zz = num("z", z)?;
        TileId::new(zz.min(u32::MAX as u64) as u32, num("x", x)?, num("y", y)?)
    }

    /// World units per tile unit at this zoom.
    pub fn unit(&self) -> f64 {
        1.0 / (EXTENT as f64 * (1u64 << self.z) as f64)
    }

    /// The tile's box grown by `buffer` tile units on each side, world units.
    pub fn bounds(&self, buffer: u32) -> Bounds {
        let n = (1u64 << self.z) as f64;
        let b = buffer as f64 * self.unit();
        Bounds {
            min_x: self.x as f64 / n - b,
            min_y: self.y as f64 / n - b,
            max_x: (self.x + 1) as f64 / n + b,
            max_y: (self.y + 1) as f64 / n + b,
        }
    }

    /// World point to tile units (rounded to the lattice).
    pub(crate) fn tile_units(&self, p: [f64; 2]) -> [i32; 2] {
        let s = (EXTENT as f64) * (1u64 << self.z) as f64;
        [
            (p[0] * s - (self.x as f64) * EXTENT as f64).round() as i32,
            (p[1] * s - (self.y as f64) * EXTENT as f64).round() as i32,
        ]
    }
}

/// Longitude/latitude envelope of a world box.
pub fn lonlat_rect(b: &Bounds) -> Rect<f64> {
    Rect::new(lonlat([b.min_x, b.max_y]), lonlat([b.max_x, b.min_y]))
}

/// A tile source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// Grid polygons, one layer per level, and the grid label layer.
    Grids,
    /// Components: points, or clusters at low zoom.
    Components,
}

impl Source {
    /// Every source, in catalog order.
    pub const ALL: [Source; 2] = [Source::Grids, Source::Components];

    /// Identifier used in URLs.
    pub fn id(self) -> &'static str {
        match self {
            Source::Grids => "grids",
            Source::Components => "components",
        }
    }

    /// Parses a comma-separated list of sources (`grids,components`),
    /// keeping the given order and dropping repeats.
    pub fn parse_list(s: &str) -> Result<Vec<Source>, TileError> {
        let mut out = Vec::new();
        for part in s.split(',') {
            let src = Source::ALL
                .into_iter()
                .find(|x| x.id() == part.trim())
                .ok_or_else(|| {
                    TileError::BadSource(format!(
                        "unknown tile source `{part}`; sources are `grids` and `components` (several separated by commas, see /catalog)"
                    ))
                })?;
            if !out.contains(&src) {
                out.push(src);
            }
        }
        Ok(out)
    }

    /// The comma-separated form of a list.
    pub fn list_id(sources: &[Source]) -> String {
        sources.iter().map(|s| s.id()).collect::<Vec<_>>().join(",")
    }
}

/// The tiles covering `bounds` (lon/lat) at zoom `z`, row by row.
pub fn tiles_covering(bounds: Rect<f64>, z: u8) -> Vec<TileId> {
    let n = 1u64 << z;
    let idx = |v: f64| ((v * n as f64).floor().max(0.0) as u64).min(n - 1) as u32;
    let a = world(bounds.min().x, bounds.max().y);
    let b = world(bounds.max().x, bounds.min().y);
    let mut out = Vec::new();
    for y in idx(a[1])..=idx(b[1]) {
        for x in idx(a[0])..=idx(b[0]) {
            out.push(TileId { z, x, y });
        }
    }
    out
}

/// Per zoom (0 to [`MAX_ZOOM`]), the tiles `[z, x_min, y_min, x_max, y_max]`
/// a lon/lat box `[west, south, east, north]` (degrees) touches (with a one-tile margin for the
/// tile buffer and labels).
pub fn tile_ranges(b: [f64; 4]) -> Vec<[u32; 5]> {
    (0..=MAX_ZOOM as u32)
        .map(|z| {
            let n = 1u64 << z;
            let [x0, y0] = world(b[0], b[3]);
            let [x1, y1] = world(b[2], b[1]);
            let clamp = |v: f64| ((v * n as f64).floor() as i64).clamp(0, n as i64 - 1) as u32;
            let lo = |v: f64| clamp(v).saturating_sub(1);
            let hi = |v: f64| (clamp(v) + 1).min((n - 1) as u32);
            [z, lo(x0), lo(y0), hi(x1), hi(y1)]
        })
        .collect()
}
