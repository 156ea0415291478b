//! Coordinate reference systems and transforms to WGS84 lon/lat.
//!
//! wangge stores everything as WGS84 longitude/latitude in degrees (EPSG:4326,
//! x = lon). Input arrives in WGS84, CGCS2000 (EPSG:4490) and its Gauss-Krüger
//! zones (EPSG:4491-4554, metres), Web Mercator (EPSG:3857, metres), any other
//! CRS PROJ knows (EPSG code, WKT from a `.prj`, PROJ string), and the two
//! Chinese web-map datums GCJ-02 and BD-09, which PROJ does not have and which
//! are implemented here.
//!
//! ## GCJ-02 and BD-09 accuracy
//! The GCJ-02 forward transform (WGS84 → GCJ-02) is the published public
//! algorithm; it reproduces reference values to 1e-9 degrees (tests). The
//! inverse has no closed form: it is solved by fixed-point iteration to
//! 1e-10 degrees (≈ 0.01 mm), far below the ~0.5 m by which the common
//! one-step approximation errs. BD-09 → GCJ-02 likewise refines the published
//! closed-form inverse (which errs by up to 2e-6 degrees, ≈ 0.2 m) by
//! iteration; round trips of both stay below 1e-9 degrees (≈ 0.1 mm). Outside mainland China (the usual bounding box) both are the
//! identity, as in the official SDKs.
//!
//! ```
//! use wangge::crs::{Crs, Transformer};
//! use geo::Coord;
//! let t = Transformer::to_wgs84(&"gcj02".parse::<Crs>().unwrap()).unwrap();
//! let w = t.transform(Coord { x: 116.41024449916938, y: 39.91640428150164 }).unwrap();
//! assert!((w.x - 116.404).abs() < 1e-9 && (w.y - 39.915).abs() < 1e-9);
//! ```

use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

use geo::Coord;

/// Errors about a CRS or a coordinate in it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CrsError {
    /// The CRS name is not understood.
    #[error(
        "unknown CRS '{0}': use EPSG:4326 (WGS84), EPSG:4490 (CGCS2000), EPSG:4491-4554 (CGCS2000 Gauss-Krüger), EPSG:3857, another EPSG code, gcj02 or bd09"
    )]
    Unknown(String),
    /// The CRS is valid but not accepted from network clients.
    #[error(
        "{0} is not accepted as a CRS over HTTP: use EPSG:4326 (WGS84), gcj02, bd09, EPSG:4490 (CGCS2000), EPSG:4491-4554 (CGCS2000 Gauss-Krüger) or EPSG:3857; a deployment can allow more EPSG codes with `wangge serve --crs-allow`. Convert other data with `wangge import --crs` or `wangge lookup --crs` on the command line"
    )]
    NotAllowed(String),
    /// PROJ could not build a transform.
    #[error("PROJ cannot transform from '{crs}' to WGS84: {message}")]
    Proj {
        /// The CRS.
        crs: String,
        /// PROJ's message.
        message: String,
    },
    /// A coordinate is NaN or infinite.
    #[error("coordinate ({x}, {y}) is not a finite number")]
    NotFinite {
        /// x as given.
        x: f64,
        /// y as given.
        y: f64,
    },
    /// The coordinate does not transform to a valid lon/lat.
    #[error(
        "coordinate ({x}, {y}) in {crs} is outside the CRS's valid range (longitude must be within -180..180 and latitude within -90..90 after transformation)"
    )]
    OutOfRange {
        /// x as given.
        x: f64,
        /// y as given.
        y: f64,
        /// CRS name.
        crs: String,
    },
}

/// Result alias for CRS work.
pub type Result<T> = std::result::Result<T, CrsError>;

/// A coordinate reference system for input coordinates.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Crs {
    /// WGS84 lon/lat degrees (EPSG:4326, OGC CRS84). No transform.
    Wgs84,
    /// GCJ-02 lon/lat degrees (Chinese web maps: AMap, Tencent, phone SDKs).
    Gcj02,
    /// BD-09 lon/lat degrees (Baidu maps).
    Bd09,
    /// An EPSG code, transformed by PROJ.
    Epsg(u32),
    /// Any other definition PROJ accepts: WKT (e.g. a `.prj` file) or a PROJ string.
    Definition(String),
}

impl fmt::Display for Crs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Crs::Wgs84 => f.write_str("EPSG:4326"),
            Crs::Gcj02 => f.write_str("gcj02"),
            Crs::Bd09 => f.write_str("bd09"),
            Crs::Epsg(c) => write!(f, "EPSG:{c}"),
            Crs::Definition(d) => {
                let short: String = d.chars().take(60).collect();
                f.write_str(&short)
            }
        }
    }
}

impl FromStr for Crs {
    type Err = CrsError;

    /// Accepts `EPSG:nnnn`, `nnnn`, OGC CRS URIs, `wgs84`, `cgcs2000`, `gcj02`, `bd09`.
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim();
        let lower = t.to_ascii_lowercase();
        let crs = match lower.as_str() {
            "wgs84"
            | "wgs-84"
            | "crs84"
            | "ogc:crs84"
            | "epsg:4326"
            | "4326"
            | "http://www.opengis.net/def/crs/ogc/1.3/crs84"
            | "http://www.opengis.net/def/crs/epsg/0/4326" => Crs::Wgs84,
            "gcj02" | "gcj-02" | "gcj" => Crs::Gcj02,
            "bd09" | "bd-09" | "bd09ll" | "baidu" => Crs::Bd09,
            "cgcs2000" => Crs::Epsg(4490),
            _ => {
                let num = lower
                    .strip_prefix("epsg:")
                    .or_else(|| lower.strip_prefix("http://www.opengis.net/def/crs/epsg/0/"))
                    .unwrap_or(&lower);
                match num.parse::<u32>() {
                    Ok(4326) => Crs::Wgs84,
                    Ok(code) if code > 0 => Crs::Epsg(code),
                    _ if t.starts_with("PROJCS[")
                        || t.starts_with("GEOGCS[")
                        || t.starts_with("PROJCRS[")
                        || t.starts_with("GEOGCRS[")
                        || t.starts_with("+proj=") =>
                    {
                        Crs::Definition(t.to_string())
                    }
                    _ => return Err(CrsError::Unknown(t.to_string())),
                }
            }
        };
        Ok(crs)
    }
}

/// EPSG codes every server accepts from network clients: WGS84, CGCS2000
/// (geographic and its Gauss-Krüger zones 4491-4554) and Web Mercator.
/// Raw PROJ strings and WKT are never taken from the network: PROJ would
/// open files they name (`+nadgrids=/etc/hosts`), and every distinct
/// definition grows PROJ's process-wide caches (about 0.8 MB each).
pub const NETWORK_EPSG: [std::ops::RangeInclusive<u32>; 3] =
    [4326..=4326, 4490..=4554, 3857..=3857];

impl Crs {
    /// Parses a CRS sent by a network client: the names `FromStr` takes,
    /// but of EPSG codes only [`NETWORK_EPSG`] and those in `also_allowed`,
    /// and no PROJ strings or WKT.
    pub fn parse_from_network(s: &str, also_allowed: &[u32]) -> Result<Crs> {
        let t = s.trim();
        let definition = || CrsError::NotAllowed("a PROJ string or WKT definition".into());
        if t.len() > 64 {
            return Err(definition());
        }
        match t.parse::<Crs>()? {
            Crs::Definition(_) => Err(definition()),
            Crs::Epsg(code)
                if !NETWORK_EPSG.iter().any(|r| r.contains(&code))
                    && !also_allowed.contains(&code) =>
            {
                Err(CrsError::NotAllowed(format!("EPSG:{code}")))
            }
            crs => Ok(crs),
        }
    }
}

/// A transform from one CRS to WGS84 lon/lat degrees.
///
/// Holds a PROJ object for EPSG/WKT systems, which is not `Send`: build one per
/// thread (see [`with_transformer`]) or transform at import time.
pub struct Transformer {
    crs: Crs,
    proj: Option<proj::Proj>,
}

impl fmt::Debug for Transformer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Transformer({})", self.crs)
    }
}

impl Transformer {
    /// Builds the transform from `crs` to WGS84. Fails for CRSs PROJ does not know.
    pub fn to_wgs84(crs: &Crs) -> Result<Self> {
        let proj = match crs {
            Crs::Wgs84 | Crs::Gcj02 | Crs::Bd09 => None,
            Crs::Epsg(code) => Some(build_proj(&format!("EPSG:{code}"), crs)?),
            Crs::Definition(d) => Some(build_proj(d, crs)?),
        };
        Ok(Transformer {
            crs: crs.clone(),
            proj,
        })
    }

    /// The source CRS.
    pub fn crs(&self) -> &Crs {
        &self.crs
    }

    /// True when the transform is the identity.
    pub fn is_identity(&self) -> bool {
        self.crs == Crs::Wgs84
    }

    /// Transforms one coordinate (in the source CRS's units and axis order
    /// x/east, y/north) to WGS84 lon/lat degrees. Rejects NaN, infinities and
    /// results outside -180..180 / -90..90.
    pub fn transform(&self, c: Coord<f64>) -> Result<Coord<f64>> {
        if !c.x.is_finite() || !c.y.is_finite() {
            return Err(CrsError::NotFinite { x: c.x, y: c.y });
        }
        let out_of_range = || CrsError::OutOfRange {
            x: c.x,
            y: c.y,
            crs: self.crs.to_string(),
        };
        let r = match (&self.crs, &self.proj) {
            (_, Some(p)) => {
                let (x, y) = p.convert((c.x, c.y)).map_err(|_| out_of_range())?;
                Coord { x, y }
            }
            (Crs::Gcj02, None) => {
                check_lonlat(c).map_err(|_| out_of_range())?;
                gcj02_to_wgs84(c)
            }
            (Crs::Bd09, None) => {
                check_lonlat(c).map_err(|_| out_of_range())?;
                gcj02_to_wgs84(bd09_to_gcj02(c))
            }
            _ => c,
        };
        check_lonlat(r).map_err(|_| out_of_range())?;
        Ok(r)
    }
}

fn build_proj(definition: &str, crs: &Crs) -> Result<proj::Proj> {
    proj::Proj::new_known_crs(definition, "EPSG:4326", None).map_err(|e| CrsError::Proj {
        crs: crs.to_string(),
        message: e.to_string(),
    })
}

fn check_lonlat(c: Coord<f64>) -> std::result::Result<(), ()> {
    if c.x.is_finite()
        && c.y.is_finite()
        && (-180.0..=180.0).contains(&c.x)
        && (-90.0..=90.0).contains(&c.y)
    {
        Ok(())
    } else {
        Err(())
    }
}

/// Transforms each thread keeps (most recently used last). A PROJ transform
/// holds about 0.7 MB; a server's threads are its cores, so the cache holds
/// at most `cores × 8` of them.
const CACHED_PER_THREAD: usize = 8;

thread_local! {
    static CACHE: std::cell::RefCell<Vec<Transformer>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's cached transformer for `crs` (built on first
/// use; the least recently used one is dropped beyond 8). This is how
/// request handlers transform: PROJ objects are not `Send`, so they cannot be
/// shared between threads. Callers taking a CRS from the network parse it with
/// [`Crs::parse_from_network`] first, which bounds how many distinct
/// transforms can ever be built.
pub fn with_transformer<R>(crs: &Crs, f: impl FnOnce(&Transformer) -> R) -> Result<R> {
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        match cache.iter().position(|t| &t.crs == crs) {
            // The usual case (one CRS per batch): already the most recent.
            Some(p) if p + 1 == cache.len() => {}
            Some(p) => {
                let t = cache.remove(p);
                cache.push(t);
            }
            None => {
                let t = Transformer::to_wgs84(crs)?;
                if cache.len() >= CACHED_PER_THREAD {
                    cache.remove(0);
                }
                cache.push(t);
            }
        }
        Ok(f(cache.last().expect("just pushed")))
    })
}

// ---- GCJ-02 / BD-09 --------------------------------------------------------

/// Krasovsky 1940 semi-major axis used by GCJ-02, metres.
const GCJ_A: f64 = 6_378_245.0;
/// Krasovsky 1940 first eccentricity squared.
const GCJ_EE: f64 = 0.006_693_421_622_965_943;
const BD_X_PI: f64 = PI * 3000.0 / 180.0;

/// True when the lon/lat (degrees) is outside the box where GCJ-02 is applied.
pub fn outside_china(c: Coord<f64>) -> bool {
    !(72.004..=137.8347).contains(&c.x) || !(0.8293..=55.8271).contains(&c.y)
}

fn gcj_offset_lat(x: f64, y: f64) -> f64 {
    let mut r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    r
}

fn gcj_offset_lon(x: f64, y: f64) -> f64 {
    let mut r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    r
}

/// WGS84 → GCJ-02, lon/lat degrees. Identity outside China.
pub fn wgs84_to_gcj02(c: Coord<f64>) -> Coord<f64> {
    if outside_china(c) {
        return c;
    }
    let dlat = gcj_offset_lat(c.x - 105.0, c.y - 35.0);
    let dlon = gcj_offset_lon(c.x - 105.0, c.y - 35.0);
    let radlat = c.y / 180.0 * PI;
    let magic = 1.0 - GCJ_EE * radlat.sin() * radlat.sin();
    let sqrt_magic = magic.sqrt();
    let dlat = dlat * 180.0 / ((GCJ_A * (1.0 - GCJ_EE)) / (magic * sqrt_magic) * PI);
    let dlon = dlon * 180.0 / (GCJ_A / sqrt_magic * radlat.cos() * PI);
    Coord {
        x: c.x + dlon,
        y: c.y + dlat,
    }
}

/// GCJ-02 → WGS84, lon/lat degrees, by fixed-point iteration to 1e-10 degrees.
pub fn gcj02_to_wgs84(g: Coord<f64>) -> Coord<f64> {
    if outside_china(g) {
        return g;
    }
    let mut w = g;
    for _ in 0..50 {
        let f = wgs84_to_gcj02(w);
        let (dx, dy) = (g.x - f.x, g.y - f.y);
        w.x += dx;
        w.y += dy;
        if dx.abs() < 1e-10 && dy.abs() < 1e-10 {
            break;
        }
    }
    w
}

/// GCJ-02 → BD-09, lon/lat degrees.
pub fn gcj02_to_bd09(c: Coord<f64>) -> Coord<f64> {
    let z = (c.x * c.x + c.y * c.y).sqrt() + 0.00002 * (c.y * BD_X_PI).sin();
    let theta = c.y.atan2(c.x) + 0.000003 * (c.x * BD_X_PI).cos();
    Coord {
        x: z * theta.cos() + 0.0065,
        y: z * theta.sin() + 0.006,
    }
}

/// The published closed-form BD-09 → GCJ-02 approximation (errs by up to ~2e-6°).
fn bd09_to_gcj02_approx(c: Coord<f64>) -> Coord<f64> {
    let x = c.x - 0.0065;
    let y = c.y - 0.006;
    let z = (x * x + y * y).sqrt() - 0.00002 * (y * BD_X_PI).sin();
    let theta = y.atan2(x) - 0.000003 * (x * BD_X_PI).cos();
    Coord {
        x: z * theta.cos(),
        y: z * theta.sin(),
    }
}

/// BD-09 → GCJ-02, lon/lat degrees: the closed-form approximation refined by
/// fixed-point iteration on the exact forward transform to 1e-10 degrees.
pub fn bd09_to_gcj02(b: Coord<f64>) -> Coord<f64> {
    let mut g = bd09_to_gcj02_approx(b);
    for _ in 0..20 {
        let f = gcj02_to_bd09(g);
        let (dx, dy) = (b.x - f.x, b.y - f.y);
        g.x += dx;
        g.y += dy;
        if dx.abs() < 1e-10 && dy.abs() < 1e-10 {
            break;
        }
    }
    g
}

/// WGS84 → BD-09, lon/lat degrees.
pub fn wgs84_to_bd09(c: Coord<f64>) -> Coord<f64> {
    gcj02_to_bd09(wgs84_to_gcj02(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(x: f64, y: f64) -> Coord<f64> {
        Coord { x, y }
    }

    fn close(a: Coord<f64>, b: Coord<f64>, tol: f64) -> bool {
        (a.x - b.x).abs() < tol && (a.y - b.y).abs() < tol
    }

    // Published reference pairs (the widely used coordtransform library's
    // documented outputs for Tiananmen, input 116.404, 39.915).
    #[test]
    fn gcj_bd_reference_pairs() {
        let p = c(116.404, 39.915);
        assert!(close(
            wgs84_to_gcj02(p),
            c(116.41024449916938, 39.91640428150164),
            1e-9
        ));
        assert!(close(
            gcj02_to_bd09(p),
            c(116.41036949371029, 39.92133699351021),
            1e-9
        ));
        // The references' inverses are one-step approximations; ours are exact
        // (iterated), and differ from them by well under a metre (1e-5 degrees).
        assert!(close(
            bd09_to_gcj02(p),
            c(116.39762729119315, 39.90865673957631),
            1e-5
        ));
        assert!(close(
            bd09_to_gcj02_approx(p),
            c(116.39762729119315, 39.90865673957631),
            1e-9
        ));
        assert!(close(
            gcj02_to_wgs84(p),
            c(116.39775550083061, 39.91359571849836),
            1e-5
        ));
    }

    #[test]
    fn round_trips_are_sub_millimetre() {
        let mut worst_gcj: f64 = 0.0;
        let mut worst_bd: f64 = 0.0;
        for i in 0..200 {
            for j in 0..100 {
                let p = c(73.0 + i as f64 * 0.32, 18.0 + j as f64 * 0.35);
                let g = gcj02_to_wgs84(wgs84_to_gcj02(p));
                worst_gcj = worst_gcj.max((g.x - p.x).abs()).max((g.y - p.y).abs());
                let b = bd09_to_gcj02(gcj02_to_bd09(p));
                worst_bd = worst_bd.max((b.x - p.x).abs()).max((b.y - p.y).abs());
            }
        }
        assert!(worst_gcj < 1e-9, "gcj round trip {worst_gcj}");
        assert!(worst_bd < 1e-9, "bd round trip {worst_bd}");
        // The offset itself is hundreds of metres: make sure we transformed at all.
        let p = c(116.404, 39.915);
        assert!((wgs84_to_gcj02(p).x - p.x).abs() > 1e-3);
        // Outside China nothing moves.
        assert_eq!(wgs84_to_gcj02(c(2.35, 48.85)), c(2.35, 48.85));
    }

    #[test]
    fn parse_names() {
        assert_eq!("EPSG:4326".parse::<Crs>().unwrap(), Crs::Wgs84);
        assert_eq!("wgs84".parse::<Crs>().unwrap(), Crs::Wgs84);
        assert_eq!("epsg:4490".parse::<Crs>().unwrap(), Crs::Epsg(4490));
        assert_eq!("4547".parse::<Crs>().unwrap(), Crs::Epsg(4547));
        assert_eq!("GCJ-02".parse::<Crs>().unwrap(), Crs::Gcj02);
        assert_eq!("bd09".parse::<Crs>().unwrap(), Crs::Bd09);
        assert!(matches!("mars".parse::<Crs>(), Err(CrsError::Unknown(_))));
        assert!(matches!(
            Transformer::to_wgs84(&Crs::Epsg(999_999)),
            Err(CrsError::Proj { .. })
        ));
    }

    #[test]
    fn network_clients_get_only_the_allowed_systems() {
        let net = |s: &str| Crs::parse_from_network(s, &[]);
        assert_eq!(net("EPSG:4326").unwrap(), Crs::Wgs84);
        assert_eq!(net("gcj02").unwrap(), Crs::Gcj02);
        assert_eq!(net("bd09").unwrap(), Crs::Bd09);
        assert_eq!(net("cgcs2000").unwrap(), Crs::Epsg(4490));
        assert_eq!(net("EPSG:4527").unwrap(), Crs::Epsg(4527));
        assert_eq!(net("EPSG:3857").unwrap(), Crs::Epsg(3857));
        for refused in [
            "+proj=longlat +ellps=clrk66 +nadgrids=/etc/hosts",
            "GEOGCS[\"x\",DATUM[\"y\"]]",
            "EPSG:2000",
            "EPSG:9999",
            "EPSG:4555",
        ] {
            assert!(
                matches!(net(refused), Err(CrsError::NotAllowed(_))),
                "{refused} must be refused"
            );
        }
        assert!(matches!(net("mars"), Err(CrsError::Unknown(_))));
        // A deployment may allow more codes.
        assert_eq!(
            Crs::parse_from_network("EPSG:32650", &[32650]).unwrap(),
            Crs::Epsg(32650)
        );
        // The message never echoes a long definition back whole.
        let long = format!("+proj=longlat {}", "x".repeat(500));
        assert!(net(&long).unwrap_err().to_string().len() < 600);
    }

    #[test]
    fn the_thread_cache_keeps_the_most_recently_used_transforms() {
        for code in 4491..4491 + 3 * CACHED_PER_THREAD as u32 {
            with_transformer(&Crs::Epsg(code), |_| ()).unwrap();
        }
        with_transformer(&Crs::Epsg(4527), |_| ()).unwrap();
        CACHE.with(|c| {
            let c = c.borrow();
            assert_eq!(c.len(), CACHED_PER_THREAD);
            assert_eq!(c.last().unwrap().crs, Crs::Epsg(4527));
        });
    }

    #[test]
    fn gauss_kruger_zone_via_proj() {
        // CGCS2000 3-degree GK zone 39 (EPSG:4527, central meridian 117°E, false
        // easting 39,500,000 m): the central meridian at the equator is
        // x = 39500000, y = 0, and a point on it maps to lon 117 exactly.
        let t = Transformer::to_wgs84(&Crs::Epsg(4527)).unwrap();
        let r = t.transform(c(39_500_000.0, 4_419_000.0)).unwrap();
        assert!((r.x - 117.0).abs() < 1e-9, "{r:?}");
        assert!((r.y - 39.9).abs() < 0.05, "{r:?}");
        // CGCS2000 lon/lat is the same as WGS84 at this precision.
        let t = Transformer::to_wgs84(&Crs::Epsg(4490)).unwrap();
        let r = t.transform(c(116.4, 39.9)).unwrap();
        assert!(close(r, c(116.4, 39.9), 1e-7), "{r:?}");
        // Web Mercator origin.
        let t = Transformer::to_wgs84(&Crs::Epsg(3857)).unwrap();
        assert!(close(t.transform(c(0.0, 0.0)).unwrap(), c(0.0, 0.0), 1e-9));
    }

    #[test]
    fn bad_coordinates_are_refused() {
        let t = Transformer::to_wgs84(&Crs::Wgs84).unwrap();
        assert!(matches!(
            t.transform(c(f64::NAN, 1.0)),
            Err(CrsError::NotFinite { .. })
        ));
        assert!(matches!(
            t.transform(c(181.0, 1.0)),
            Err(CrsError::OutOfRange { .. })
        ));
        assert!(matches!(
            t.transform(c(1.0, 91.0)),
            Err(CrsError::OutOfRange { .. })
        ));
        let g = Transformer::to_wgs84(&Crs::Gcj02).unwrap();
        assert!(g.transform(c(116.4, 95.0)).is_err());
    }
}
