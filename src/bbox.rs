//! Bounding boxes as users write them: `min_lon,min_lat,max_lon,max_lat`
//! (WGS84 degrees), the OGC API `bbox` form. One parser for the command line
//! and the HTTP API.

use geo::{Coord, Rect};

/// Why a bounding box cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BboxError {
    /// Not four numbers.
    #[error("write four numbers: min_lon,min_lat,max_lon,max_lat")]
    NotFourNumbers,
    /// NaN or infinite.
    #[error("the numbers must be finite")]
    NotFinite,
    /// Outside the lon/lat ranges.
    #[error("longitudes must be within -180..180 and latitudes within -90..90")]
    OutOfRange,
    /// Minimum above maximum.
    #[error(
        "the minimum must not exceed the maximum (boxes across the antimeridian are not supported)"
    )]
    Inverted,
}

/// Parses `min_lon,min_lat,max_lon,max_lat` (degrees; spaces around numbers
/// allowed). A box of zero width or height (a line or a point) is valid.
pub fn parse(text: &str) -> Result<Rect<f64>, BboxError> {
    let nums: Vec<f64> = text
        .split(',')
        .map(|s| s.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| BboxError::NotFourNumbers)?;
    let [x0, y0, x1, y1] = nums[..] else {
        return Err(BboxError::NotFourNumbers);
    };
    if nums.iter().any(|n| !n.is_finite()) {
        return Err(BboxError::NotFinite);
    }
    let lon = -180.0..=180.0;
    let lat = -90.0..=90.0;
    if !(lon.contains(&x0) && lon.contains(&x1) && lat.contains(&y0) && lat.contains(&y1)) {
        return Err(BboxError::OutOfRange);
    }
    if x0 > x1 || y0 > y1 {
        return Err(BboxError::Inverted);
    }
    Ok(Rect::new(Coord { x: x0, y: y0 }, Coord { x: x1, y: y1 }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_are_checked() {
        let r = parse(" 118.7, 32.0,118.9 ,32.1").unwrap();
        assert_eq!((r.min().x, r.max().y), (118.7, 32.1));
        assert!(parse("1,2,1,2").is_ok(), "a point box is valid");
        assert_eq!(parse("1,2,3"), Err(BboxError::NotFourNumbers));
        assert_eq!(parse("1,2,3,4,5"), Err(BboxError::NotFourNumbers));
        assert_eq!(parse("a,2,3,4"), Err(BboxError::NotFourNumbers));
        assert_eq!(parse("NaN,2,3,4"), Err(BboxError::NotFinite));
        assert_eq!(parse("1,2,181,4"), Err(BboxError::OutOfRange));
        assert_eq!(parse("3,2,1,4"), Err(BboxError::Inverted));
    }
}
