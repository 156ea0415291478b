//! FlatGeobuf: generic reading for import, and the data directory's own
//! grid and component files (written with a packed Hilbert R-tree index).

use std::io::{BufReader, BufWriter};
use std::path::Path;

use flatgeobuf::{
    ColumnType, FallibleStreamingIterator, FgbCrs, FgbReader, FgbWriter, FgbWriterOptions,
    GeometryType,
};
use geo::{Coord, Geometry, MultiPolygon, Point};
use geozero::{ColumnValue, FeatureProperties, PropertyProcessor, ToGeo};

use super::{RawFeature, ReadError, Result, crs_from_name, malformed, open};
use crate::codes::ClassTable;
use crate::crs::Crs;
use crate::model::{ComponentRecord, ComponentState, Components, Grid};

fn column_text(v: &ColumnValue) -> String {
    match v {
        ColumnValue::String(s) | ColumnValue::Json(s) | ColumnValue::DateTime(s) => s.to_string(),
        ColumnValue::Byte(n) => n.to_string(),
        ColumnValue::UByte(n) => n.to_string(),
        ColumnValue::Bool(b) => b.to_string(),
        ColumnValue::Short(n) => n.to_string(),
        ColumnValue::UShort(n) => n.to_string(),
        ColumnValue::Int(n) => n.to_string(),
        ColumnValue::UInt(n) => n.to_string(),
        ColumnValue::Long(n) => n.to_string(),
        ColumnValue::ULong(n) => n.to_string(),
        ColumnValue::Float(n) => n.to_string(),
        ColumnValue::Double(n) => n.to_string(),
        ColumnValue::Binary(_) => String::new(),
    }
}

/// Collects properties by column index.
struct Props<'a>(&'a mut Vec<(String, String)>);

impl PropertyProcessor for Props<'_> {
    fn property(&mut self, _i: usize, name: &str, v: &ColumnValue) -> geozero::error::Result<bool> {
        self.0.push((name.to_string(), column_text(v)));
        Ok(false)
    }
}

fn fgb_error(path: &Path, row: Option<usize>, e: impl std::fmt::Display) -> ReadError {
    malformed(path, row, format!("not a valid FlatGeobuf file: {e}"))
}

/// Opens a FlatGeobuf reader, refusing headers the flatgeobuf crate would
/// panic on (an index node size of 1).
fn open_reader<R: std::io::Read>(path: &Path, file: R) -> Result<FgbReader<R>> {
    let reader = FgbReader::open(file).map_err(|e| fgb_error(path, None, e))?;
    if reader.header().index_node_size() == 1 {
        return Err(fgb_error(
            path,
            None,
            "the header's index node size is 1 (0, no index, or at least 2)",
        ));
    }
    Ok(reader)
}

pub(super) fn declared_crs(path: &Path) -> Result<Option<Crs>> {
    let mut file = BufReader::new(open(path)?);
    let reader = open_reader(path, &mut file)?;
    Ok(reader.header().crs().and_then(|c| {
        if c.code() > 0 {
            format!("EPSG:{}", c.code()).parse().ok()
        } else {
            c.wkt()
                .map(|w| Crs::Definition(w.to_string()))
                .or_else(|| c.code_string().and_then(crs_from_name))
        }
    }))
}

pub(super) fn read(path: &Path, sink: &mut dyn FnMut(RawFeature) -> Result<()>) -> Result<()> {
    let mut file = BufReader::new(open(path)?);
    let reader = open_reader(path, &mut file)?;
    let mut iter = reader
        .select_all_seq()
        .map_err(|e| fgb_error(path, None, e))?;
    let mut row = 0;
    while let Some(f) = iter.next().map_err(|e| fgb_error(path, Some(row + 1), e))? {
        row += 1;
        let geometry = f.to_geo().ok();
        let mut props = Vec::new();
        f.process_properties(&mut Props(&mut props))
            .map_err(|e| fgb_error(path, Some(row), e))?;
        sink(RawFeature {
            row,
            geometry,
            props,
            unclosed_rings: 0,
        })?;
    }
    Ok(())
}

fn write_error(path: &Path, e: impl std::fmt::Display) -> ReadError {
    ReadError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    }
}

fn options() -> FgbWriterOptions<'static> {
    FgbWriterOptions {
        write_index: true,
        crs: FgbCrs {
            code: 4326,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn finish(fgb: FgbWriter<'_>, path: &Path) -> Result<()> {
    let file = std::fs::File::create(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = BufWriter::new(file);
    fgb.write(&mut out).map_err(|e| write_error(path, e))?;
    let file = out.into_inner().map_err(|e| write_error(path, e))?;
    file.sync_all().map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })
}

const GRID_COLUMNS: [&str; 4] = ["code", "name", "level", "worker"];

/// Writes grids (WGS84) to a FlatGeobuf file with columns code, name, level, worker.
pub fn write_grids_fgb(path: &Path, grids: &[Grid]) -> Result<()> {
    let mut fgb = FgbWriter::create_with_options("grids", GeometryType::MultiPolygon, options())
        .map_err(|e| write_error(path, e))?;
    for name in GRID_COLUMNS {
        let t = if name == "level" {
            ColumnType::Int
        } else {
            ColumnType::String
        };
        fgb.add_column(name, t, |_, col| col.nullable = name == "worker");
    }
    for g in grids {
        let geom = Geometry::MultiPolygon(g.geometry.clone());
        fgb.add_feature_geom(geom, |feat| {
            let _ = feat.property(0, "code", &ColumnValue::String(&g.code));
            let _ = feat.property(1, "name", &ColumnValue::String(&g.name));
            let _ = feat.property(2, "level", &ColumnValue::Int(g.level as i32));
            if let Some(w) = &g.worker {
                let _ = feat.property(3, "worker", &ColumnValue::String(w));
            }
        })
        .map_err(|e| write_error(path, e))?;
    }
    finish(fgb, path)
}

const COMPONENT_COLUMNS: [&str; 11] = [
    "code",
    "name",
    "class",
    "department",
    "owner",
    "maintainer",
    "state",
    "initial_date",
    "change_date",
    "source",
    "remarks",
];

/// Writes components (WGS84 points) to a FlatGeobuf file, streaming.
pub fn write_components_fgb(
    path: &Path,
    components: impl Iterator<Item = ComponentRecord>,
) -> Result<()> {
    let mut fgb = FgbWriter::create_with_options("components", GeometryType::Point, options())
        .map_err(|e| write_error(path, e))?;
    for name in COMPONENT_COLUMNS {
        fgb.add_column(name, ColumnType::String, |_, _| {});
    }
    for c in components {
        let geom = Geometry::Point(Point(c.location));
        fgb.add_feature_geom(geom, |feat| {
            let values: [&str; 11] = [
                &c.code,
                &c.name,
                &c.class,
                &c.department,
                &c.owner,
                &c.maintainer,
                c.state.chinese(),
                &c.initial_date,
                &c.change_date,
                &c.source,
                &c.remarks,
            ];
            for (i, (name, v)) in COMPONENT_COLUMNS.iter().zip(values).enumerate() {
                let _ = feat.property(i, name, &ColumnValue::String(v));
            }
        })
        .map_err(|e| write_error(path, e))?;
    }
    finish(fgb, path)
}

/// Fills a reused record from a component feature's properties.
struct ComponentProps<'a>(&'a mut ComponentRecord);

impl PropertyProcessor for ComponentProps<'_> {
    fn property(&mut self, i: usize, _name: &str, v: &ColumnValue) -> geozero::error::Result<bool> {
        let ColumnValue::String(s) = v else {
            return Ok(false);
        };
        let r = &mut *self.0;
        let field = match i {
            0 => &mut r.code,
            1 => &mut r.name,
            2 => &mut r.class,
            3 => &mut r.department,
            4 => &mut r.owner,
            5 => &mut r.maintainer,
            6 => {
                r.state = ComponentState::parse(s).unwrap_or_default();
                return Ok(false);
            }
            7 => &mut r.initial_date,
            8 => &mut r.change_date,
            9 => &mut r.source,
            10 => &mut r.remarks,
            _ => return Ok(false),
        };
        field.push_str(s);
        Ok(false)
    }
}

/// Reads the data directory's grid and component files (written by
/// [`write_grids_fgb`] and [`write_components_fgb`]). Component classes not in
/// `classes` are an error: the data directory was written with its class table.
pub fn read_dataset_fgb(
    grids_path: &Path,
    components_path: &Path,
    classes: &ClassTable,
    code_len: usize,
    mut progress: impl FnMut(u64),
) -> Result<(Vec<Grid>, Components)> {
    let mut grids = Vec::new();
    read(grids_path, &mut |f: RawFeature| {
        let get = |n: &str| f.get(&[n]).unwrap_or("").to_string();
        let geometry = match f.geometry.clone() {
            Some(Geometry::MultiPolygon(mp)) => mp,
            Some(Geometry::Polygon(p)) => MultiPolygon(vec![p]),
            _ => {
                return Err(malformed(
                    grids_path,
                    Some(f.row),
                    "grid without polygon geometry",
                ));
            }
        };
        grids.push(Grid {
            code: get("code"),
            name: get("name"),
            level: get("level")
                .parse()
                .map_err(|_| malformed(grids_path, Some(f.row), "grid without level"))?,
            worker: f
                .get(&["worker"])
                .filter(|w| !w.is_empty())
                .map(str::to_string),
            geometry,
        });
        Ok(())
    })?;

    let file = open(components_path)?;
    // The header's count is a hint: never reserve for more features than the
    // file has bytes for (a point feature takes well over 24 bytes).
    let file_len = file.metadata().map_or(0, |m| m.len());
    let mut file = BufReader::with_capacity(1 << 20, file);
    let reader = open_reader(components_path, &mut file)?;
    let count = reader.header().features_count().min(file_len / 24) as usize;
    let mut iter = reader
        .select_all_seq()
        .map_err(|e| fgb_error(components_path, None, e))?;
    let mut components = Components::new(code_len);
    components.reserve(count);
    let mut rec = ComponentRecord::default();
    let mut row = 0usize;
    while let Some(f) = iter
        .next()
        .map_err(|e| fgb_error(components_path, Some(row + 1), e))?
    {
        row += 1;
        for s in [
            &mut rec.code,
            &mut rec.name,
            &mut rec.class,
            &mut rec.department,
            &mut rec.owner,
            &mut rec.maintainer,
            &mut rec.initial_date,
            &mut rec.change_date,
            &mut rec.source,
            &mut rec.remarks,
        ] {
            s.clear();
        }
        let xy = f
            .fbs_feature()
            .geometry()
            .and_then(|g| g.xy())
            .filter(|xy| xy.len() >= 2)
            .ok_or_else(|| {
                malformed(
                    components_path,
                    Some(row),
                    "component without point geometry",
                )
            })?;
        rec.location = Coord {
            x: xy.get(0),
            y: xy.get(1),
        };
        f.process_properties(&mut ComponentProps(&mut rec))
            .map_err(|e| fgb_error(components_path, Some(row), e))?;
        let class = classes.get(&rec.class).ok_or_else(|| {
            malformed(
                components_path,
                Some(row),
                format!("unknown class '{}'", rec.class),
            )
        })?;
        components.push(&rec, class);
        if row.is_multiple_of(65536) {
            progress(65536);
        }
    }
    progress((row % 65536) as u64);
    Ok((grids, components))
}
