//! Export of a tile pyramid to a PMTiles v3 archive, for static and CDN
//! hosting. Tiles are the server's tiles byte for byte (gzip-compressed in
//! the archive, as PMTiles viewers expect), rendered on all cores and written
//! in Hilbert order. The archive is written to a temporary file next to the
//! target and renamed into place at the end: a failed export leaves no
//! partial archive behind.

use std::path::Path;

use geo::Rect;
use pmtiles::{Compression, PmTilesWriter, TileCoord, TileType};
use rayon::prelude::*;

use super::{MAX_ZOOM, Source, TileId, TileSet, data_bounds, render, tiles_covering};
use crate::encoded::gzip;

/// Errors of an export.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Bad zoom range or bounding box.
    #[error("{0}")]
    Invalid(String),
    /// Writing the archive failed.
    #[error("cannot write {path}: {message}")]
    Write {
        /// Target path.
        path: String,
        /// Cause.
        message: String,
    },
}

/// What an export wrote.
#[derive(Debug, Clone, Default)]
pub struct ExportSummary {
    /// Tiles rendered (including empty ones, which are not stored).
    pub tiles: u64,
    /// Tiles stored (non-empty).
    pub stored: u64,
    /// Archive size, bytes.
    pub bytes: u64,
}

/// Options of an export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Sources written into each tile.
    pub sources: Vec<Source>,
    /// First zoom; `None`: the lowest zoom at which the data draws anything
    /// ([`super::TileIndex::source_minzoom`]).
    pub minzoom: Option<u8>,
    /// Last zoom (at most [`MAX_ZOOM`]).
    pub maxzoom: u8,
    /// Area to cover, lon/lat degrees; the data's envelope when `None`.
    pub bbox: Option<Rect<f64>>,
}

impl ExportOptions {
    /// The first zoom written.
    pub fn first_zoom(&self, set: &TileSet) -> u8 {
        self.minzoom.unwrap_or_else(|| set.index().source_minzoom())
    }
}

/// The area an export covers (lon/lat) and its tiles, in Hilbert (PMTiles
/// tile id) order.
fn plan(set: &TileSet, o: &ExportOptions) -> Result<(Rect<f64>, Vec<TileId>), ExportError> {
    let snap = set.snapshot();
    let minzoom = o.first_zoom(set);
    if minzoom > o.maxzoom || o.maxzoom > MAX_ZOOM {
        return Err(ExportError::Invalid(format!(
            "zoom range {minzoom}..{} is invalid: need minzoom ≤ maxzoom ≤ {MAX_ZOOM}",
            o.maxzoom
        )));
    }
    let bbox = match o.bbox.or_else(|| data_bounds(snap)) {
        Some(b) => b,
        None => {
            return Err(ExportError::Invalid(
                "the dataset is empty and no --bbox was given".into(),
            ));
        }
    };
    let mut tiles: Vec<(u64, TileId)> = (minzoom..=o.maxzoom)
        .flat_map(|z| tiles_covering(bbox, z))
        .map(|t| {
            let coord = TileCoord::new(t.z, t.x, t.y).expect("checked tile address");
            (pmtiles::TileId::from(coord).value(), t)
        })
        .collect();
    tiles.sort_unstable_by_key(|t| t.0);
    Ok((bbox, tiles.into_iter().map(|t| t.1).collect()))
}

/// Writes the archive. `progress` is called with the number of tiles done
/// so far and the number in all.
pub fn export_pmtiles(
    set: &TileSet,
    o: &ExportOptions,
    out: &Path,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<ExportSummary, ExportError> {
    let (bounds, tiles) = plan(set, o)?;
    let werr = |e: &dyn std::fmt::Display| ExportError::Write {
        path: out.display().to_string(),
        message: e.to_string(),
    };
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = crate::files::temp_file_in(dir, ".wangge-export-").map_err(|e| werr(&e))?;
    let file = std::io::BufWriter::new(tmp.as_file().try_clone().map_err(|e| werr(&e))?);
    let metadata = serde_json::json!({
        "name": format!("wangge {}", Source::list_id(&o.sources)),
        "format": "pbf",
        "version": set.revision().to_string(),
        "vector_layers": super::tilejson(set, &o.sources, "", "")["vector_layers"],
    });
    let mut writer = PmTilesWriter::new(TileType::Mvt)
        .precompressed(Compression::Gzip)
        .internal_compression(Compression::Gzip)
        .min_zoom(o.first_zoom(set))
        .max_zoom(o.maxzoom)
        .bounds(
            bounds.min().x,
            bounds.min().y,
            bounds.max().x,
            bounds.max().y,
        )
        .center(bounds.center().x, bounds.center().y)
        .center_zoom(
            o.first_zoom(set)
                .max(set.index().source_minzoom())
                .min(o.maxzoom),
        )
        .metadata(metadata.to_string())
        .create(file)
        .map_err(|e| werr(&e))?;
    let mut summary = ExportSummary::default();
    // Render in batches on all cores, write each batch in order.
    for batch in tiles.chunks(256) {
        let encoded: Vec<Option<Vec<u8>>> = batch
            .par_iter()
            .map(|&t| {
                let raw = render(set, &o.sources, t);
                (!raw.is_empty()).then(|| gzip(&raw))
            })
            .collect();
        for (t, data) in batch.iter().zip(encoded) {
            summary.tiles += 1;
            if let Some(data) = data {
                let coord = TileCoord::new(t.z, t.x, t.y).expect("checked tile address");
                writer.add_tile(coord, &data).map_err(|e| werr(&e))?;
                summary.stored += 1;
            }
        }
        progress(summary.tiles, tiles.len() as u64);
    }
    writer.finalize().map_err(|e| werr(&e))?;
    tmp.as_file().sync_all().map_err(|e| werr(&e))?;
    summary.bytes = tmp.as_file().metadata().map_err(|e| werr(&e))?.len();
    tmp.persist(out).map_err(|e| werr(&e.error))?;
    Ok(summary)
}
