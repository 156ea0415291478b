//! Import: read grid and component files, map their attributes, transform
//! coordinates to WGS84, validate everything, and produce a [`Dataset`] with a
//! [`Report`].
//!
//! The unit grid of a component is derived from its location, never trusted
//! from input; an input grid code that disagrees is reported as a warning.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use geo::{Coord, Geometry, MapCoords};

use crate::codes::{ClassTable, ComponentScheme, GridScheme};
use crate::crs::{Crs, CrsError, Transformer};
use crate::io::{self, RawFeature, ReadOptions};
use crate::model::{ComponentRecord, ComponentState, Components, Dataset, Grid, parse_date};
use crate::snapshot::Snapshot;
use crate::validate::{self, Problem, ProblemKind, Report, Severity};

/// Errors that stop an import (as opposed to problems in the data, which go
/// into the [`Report`]).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file could not be read.
    #[error(transparent)]
    Read(#[from] io::ReadError),
    /// The CRS cannot be used.
    #[error("{0}")]
    Crs(#[from] CrsError),
    /// Nothing to import.
    #[error("nothing to import: give at least one --grids or --components file")]
    NoInput,
    /// The scheme is unusable.
    #[error("invalid grid scheme: {0}")]
    Scheme(#[from] crate::codes::SchemeError),
}

/// Attribute names to look for, per field. Each list is tried in order,
/// ASCII case-insensitively; the defaults cover English, pinyin initials and Chinese.
#[derive(Debug, Clone)]
pub struct FieldMap {
    /// Grid or component code.
    pub code: Vec<String>,
    /// Name.
    pub name: Vec<String>,
    /// Grid level (name like `street` or index); optional, the code length decides.
    pub level: Vec<String>,
    /// Parent grid code; optional, checked against the code prefix.
    pub parent: Vec<String>,
    /// Grid worker.
    pub worker: Vec<String>,
    /// Component class (4 digits); optional, the code decides.
    pub class: Vec<String>,
    /// 主管部门
    pub department: Vec<String>,
    /// 权属单位
    pub owner: Vec<String>,
    /// 养护单位
    pub maintainer: Vec<String>,
    /// 状态
    pub state: Vec<String>,
    /// 初始日期
    pub initial_date: Vec<String>,
    /// 变更日期
    pub change_date: Vec<String>,
    /// 数据来源
    pub source: Vec<String>,
    /// 备注
    pub remarks: Vec<String>,
    /// Unit grid code recorded with a component (checked, not trusted).
    pub grid: Vec<String>,
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

impl Default for FieldMap {
    fn default() -> Self {
        FieldMap {
            code: names(&[
                "code",
                "bm",
                "编码",
                "网格编码",
                "部件编码",
                "grid_code",
                "gridcode",
                "objcode",
            ]),
            name: names(&["name", "mc", "名称", "网格名称", "部件名称", "objname"]),
            level: names(&["level", "jb", "级别", "层级"]),
            parent: names(&["parent", "parent_code", "sjbm", "上级编码", "所属上级"]),
            worker: names(&["worker", "wgy", "网格员"]),
            class: names(&["class", "class_code", "lb", "类别", "部件类别", "小类"]),
            department: names(&["department", "zgbm", "主管部门"]),
            owner: names(&["owner", "qsdw", "权属单位"]),
            maintainer: names(&["maintainer", "yhdw", "养护单位"]),
            state: names(&["state", "status", "zt", "状态", "部件状态"]),
            initial_date: names(&["initial_date", "csrq", "初始日期"]),
            change_date: names(&["change_date", "bgrq", "变更日期"]),
            source: names(&["source", "sjly", "数据来源"]),
            remarks: names(&["remarks", "bz", "备注"]),
            grid: names(&["grid", "unit_grid", "wgbm", "所在单元网格", "单元网格"]),
        }
    }
}

/// Why a `--field` mapping cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldMapError {
    /// Not `field=ATTR`.
    #[error("field mapping '{0}' must look like code=BM")]
    Malformed(String),
    /// No such field.
    #[error(
        "unknown field '{0}': map one of code, name, level, parent, worker, class, department, owner, maintainer, state, initial_date, change_date, source, remarks, grid"
    )]
    UnknownField(String),
}

impl FieldMap {
    /// Sets one field's attribute name from `field=ATTR` (as given on the command line).
    pub fn set(&mut self, assignment: &str) -> Result<(), FieldMapError> {
        let (field, attr) = assignment
            .split_once('=')
            .ok_or_else(|| FieldMapError::Malformed(assignment.into()))?;
        let slot = match field.trim() {
            "code" => &mut self.code,
            "name" => &mut self.name,
            "level" => &mut self.level,
            "parent" => &mut self.parent,
            "worker" => &mut self.worker,
            "class" => &mut self.class,
            "department" => &mut self.department,
            "owner" => &mut self.owner,
            "maintainer" => &mut self.maintainer,
            "state" => &mut self.state,
            "initial_date" => &mut self.initial_date,
            "change_date" => &mut self.change_date,
            "source" => &mut self.source,
            "remarks" => &mut self.remarks,
            "grid" => &mut self.grid,
            other => return Err(FieldMapError::UnknownField(other.into())),
        };
        *slot = vec![attr.trim().to_string()];
        Ok(())
    }
}

fn get<'a>(f: &'a RawFeature, names: &[String]) -> Option<&'a str> {
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    f.get(&refs).map(str::trim).filter(|s| !s.is_empty())
}

/// What to import and how.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Grid files (any level; the code length tells the level).
    pub grid_files: Vec<PathBuf>,
    /// Component files.
    pub component_files: Vec<PathBuf>,
    /// Reading options (format, encoding, CSV columns).
    pub read: ReadOptions,
    /// The input CRS, overriding what files declare (default: declared, else WGS84).
    pub crs: Option<Crs>,
    /// Attribute names.
    pub fields: FieldMap,
    /// Grid levels.
    pub scheme: GridScheme,
    /// Component code structure.
    pub component_scheme: ComponentScheme,
    /// Component classes (built-in plus local).
    pub classes: ClassTable,
    /// Areas below this many m² are not reported as overlaps or gaps.
    pub tolerance_m2: f64,
    /// Repair invalid grid geometries instead of rejecting them: `Some(share)`
    /// refuses repairs that change a polygon's area by more than that share
    /// (0.01 = 1%).
    pub repair: Option<f64>,
    /// Check the hierarchy rules (overlaps, gaps, parents) over the grids read.
    pub check_hierarchy: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            grid_files: Vec::new(),
            component_files: Vec::new(),
            read: ReadOptions::default(),
            crs: None,
            fields: FieldMap::default(),
            scheme: GridScheme::default(),
            component_scheme: ComponentScheme::default(),
            classes: ClassTable::builtin(),
            tolerance_m2: 1.0,
            repair: None,
            check_hierarchy: true,
        }
    }
}

/// The outcome of an import: the valid part of the data, indexed, and the report.
#[derive(Debug)]
pub struct Imported {
    /// The valid features, indexed (components have their unit grids).
    pub snapshot: Snapshot,
    /// Everything found wrong.
    pub report: Report,
    /// Grid features read from the files (valid or not).
    pub grids_read: usize,
    /// Component features read from the files (valid or not).
    pub components_read: usize,
}

struct Ctx<'a> {
    file: String,
    report: &'a mut Report,
}

impl Ctx<'_> {
    fn problem(
        &mut self,
        severity: Severity,
        kind: ProblemKind,
        row: usize,
        code: Option<&str>,
        at: Option<Coord<f64>>,
        message: String,
    ) {
        self.report.problems.push(Problem {
            geometry: None,
            severity,
            kind,
            file: Some(self.file.clone()),
            row: Some(row),
            code: code.map(str::to_string),
            location: at.map(|c| [c.x, c.y]),
            area_m2: None,
            message,
        });
    }
}

fn transformer_for(declared: Option<Crs>, forced: &Option<Crs>) -> Result<Transformer, CrsError> {
    let crs = forced.clone().or(declared).unwrap_or(Crs::Wgs84);
    Transformer::to_wgs84(&crs)
}

/// Transforms a geometry's coordinates to WGS84, failing on the first bad one.
fn transform_geometry(t: &Transformer, g: Geometry<f64>) -> Result<Geometry<f64>, CrsError> {
    if t.is_identity() {
        return Ok(g);
    }
    g.try_map_coords(|c| t.transform(c))
}

/// Runs an import. Problems in the data go into the report; the features with
/// errors are left out of the result.
pub fn import(
    options: &ImportOptions,
    mut progress: impl FnMut(&str, u64),
) -> Result<Imported, ImportError> {
    if options.grid_files.is_empty() && options.component_files.is_empty() {
        return Err(ImportError::NoInput);
    }
    options.scheme.check()?;
    let mut report = Report::default();
    let (grids, grids_read) = read_grids(options, &mut report, &mut progress)?;
    let (components, recorded_grid, components_read) =
        read_components(options, &mut report, &mut progress)?;
    let classes = &options.classes;
    let cscheme = &options.component_scheme;
    let dataset = Dataset {
        scheme: options.scheme.clone(),
        component_scheme: *cscheme,
        classes: classes.clone(),
        grids,
        components: std::sync::Arc::new(components),
    };
    let snapshot = Snapshot::build(dataset, 0);
    check_component_grids(&snapshot, &recorded_grid, &mut report);
    Ok(Imported {
        snapshot,
        report,
        grids_read,
        components_read,
    })
}

/// Reads, maps, transforms and checks every grid file; returns the valid
/// grids (repaired where `--repair` allows) and how many features were read,
/// with the hierarchy checked over them.
fn read_grids(
    options: &ImportOptions,
    report: &mut Report,
    progress: &mut impl FnMut(&str, u64),
) -> Result<(Vec<Grid>, usize), ImportError> {
    let fields = &options.fields;
    let scheme = &options.scheme;
    let mut grids: Vec<Grid> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    // Codes of grids left out for errors, with why: their children say so.
    let mut rejected: HashMap<String, String> = HashMap::new();
    let mut grids_read = 0usize;
    for path in &options.grid_files {
        let t = transformer_for(io::declared_crs(path, &options.read)?, &options.crs)?;
        let read = resolve_text(path, &options.read, report)?;
        let mut raw: Vec<RawFeature> = Vec::new();
        io::read_features(path, &read, |f| {
            raw.push(f);
            Ok(())
        })?;
        let mut ctx = Ctx {
            file: path.display().to_string(),
            report,
        };
        for f in raw {
            progress("grids", 1);
            grids_read += 1;
            let (code, level, geometry) = match read_grid(&f, &mut ctx, options, &t) {
                Ok(g) => g,
                Err(why) => {
                    if let Some((code, why)) = why {
                        rejected.insert(code, why);
                    }
                    continue;
                }
            };
            let row = f.row;
            if !seen.insert(code.clone()) {
                ctx.problem(
                    Severity::Error,
                    ProblemKind::DuplicateCode,
                    row,
                    Some(&code),
                    None,
                    format!(
                        "code {code} is used by an earlier grid: every grid needs its own code"
                    ),
                );
                continue;
            }
            grids.push(Grid {
                code,
                name: get(&f, &fields.name).unwrap_or("").to_string(),
                level,
                worker: get(&f, &fields.worker).map(str::to_string),
                geometry,
            });
        }
    }
    // A code rejected once and then imported from a later feature is not rejected.
    rejected.retain(|code, _| !seen.contains(code));
    if options.check_hierarchy {
        report.problems.extend(validate::check_hierarchy(
            scheme,
            &grids,
            options.tolerance_m2,
            &rejected,
        ));
    }

    Ok((grids, grids_read))
}

/// Reads grid files alone, each feature mapped, transformed to WGS84 and
/// checked on its own (code, rings; repaired where allowed), without the
/// hierarchy rules: for a file of changed grids, whose neighbours and
/// parents are elsewhere. Returns the valid grids and the report.
pub fn read_grid_files(options: &ImportOptions) -> Result<(Vec<Grid>, Report), ImportError> {
    options.scheme.check()?;
    let mut report = Report::default();
    let options = ImportOptions {
        check_hierarchy: false,
        ..options.clone()
    };
    let (grids, _) = read_grids(&options, &mut report, &mut |_, _| {})?;
    Ok((grids, report))
}

/// A grid read from a feature: code, level index, geometry (WGS84).
type ReadGrid = (String, usize, geo::MultiPolygon<f64>);

/// A grid's code left out for errors, and why (the problem kinds).
type Rejected = (String, String);

/// One grid feature mapped, transformed to WGS84 and checked (repaired when
/// `--repair` allows): its code, level and geometry, or the problems in the
/// report and, when the feature had a code, that code with why it was left
/// out (its children's messages name it).
fn read_grid(
    f: &RawFeature,
    ctx: &mut Ctx<'_>,
    options: &ImportOptions,
    t: &Transformer,
) -> Result<ReadGrid, Option<Rejected>> {
    let (fields, scheme) = (&options.fields, &options.scheme);
    let row = f.row;
    let Some(code) = get(f, &fields.code).map(str::to_string) else {
        ctx.problem(Severity::Error, ProblemKind::MissingField, row, None, None, format!(
            "no grid code: expected an attribute named one of {:?} (map yours with --field code=NAME)", fields.code));
        return Err(None);
    };
    let declared_level = match get(f, &fields.level) {
        None => None,
        Some(l) => match scheme
            .level_index(l)
            .or_else(|| l.parse::<usize>().ok().filter(|&i| i < scheme.depth()))
        {
            Some(i) => Some(i),
            None => {
                ctx.problem(
                    Severity::Error,
                    ProblemKind::BadValue,
                    row,
                    Some(&code),
                    None,
                    format!(
                        "level '{l}' is not one of {:?} (or 0..{})",
                        scheme.levels.iter().map(|l| &l.name).collect::<Vec<_>>(),
                        scheme.depth() - 1
                    ),
                );
                return Err(None);
            }
        },
    };
    let level = match scheme.validate(&code, declared_level, get(f, &fields.parent)) {
        Ok(l) => l,
        Err(e) => {
            ctx.problem(
                Severity::Error,
                ProblemKind::InvalidCode,
                row,
                Some(&code),
                None,
                e.to_string(),
            );
            return Err(None);
        }
    };
    let Some(geometry) = f.geometry.clone().and_then(validate::as_multipolygon) else {
        ctx.problem(
            Severity::Error,
            ProblemKind::BadGeometryType,
            row,
            Some(&code),
            None,
            "a grid needs a Polygon or MultiPolygon geometry".to_string(),
        );
        return Err(Some((code, "bad_geometry_type".into())));
    };
    let geometry = match transform_geometry(t, Geometry::MultiPolygon(geometry)) {
        Ok(Geometry::MultiPolygon(mp)) => mp,
        Ok(_) => unreachable!("map_coords keeps the geometry type"),
        Err(e) => {
            ctx.problem(
                Severity::Error,
                ProblemKind::BadCoordinate,
                row,
                Some(&code),
                None,
                format!("{e}: check the CRS (--crs)"),
            );
            return Err(Some((code, "bad_coordinate".into())));
        }
    };
    let mut geom_problems = validate::check_polygon(&geometry);
    if f.unclosed_rings > 0 {
        geom_problems.insert(0, (
            ProblemKind::UnclosedRing,
            geometry.0.first().and_then(|p| p.exterior().0.first().copied()),
            format!("{} ring(s) do not end where they start: close every ring (last position = first), or run the import with --repair", f.unclosed_rings),
        ));
    }
    let geometry = if geom_problems.is_empty() {
        geometry
    } else {
        match repair_grid(&geometry, &geom_problems, options.repair) {
            Ok(repaired) => {
                ctx.report.problems.push(Problem {
                    geometry: None,
                    severity: Severity::Warning,
                    kind: ProblemKind::Repaired,
                    file: Some(ctx.file.clone()),
                    row: Some(row),
                    code: Some(code.clone()),
                    location: geom_problems[0].1.map(|c| [c.x, c.y]),
                    area_m2: Some(repaired.area_after_m2 - repaired.area_before_m2),
                    message: format!(
                        "repaired ({}): area {:.1} m² → {:.1} m² ({})",
                        kinds_text(&geom_problems),
                        repaired.area_before_m2,
                        repaired.area_after_m2,
                        percent_change(repaired.area_before_m2, repaired.area_after_m2)
                    ),
                });
                repaired.geometry
            }
            Err(refusal) => {
                for (kind, at, msg) in &geom_problems {
                    let msg = match &refusal {
                        // The advice to run with --repair is moot.
                        Some(why) => format!(
                            "{} (--repair refused: {why})",
                            msg.replace(validate::GEOMETRY_ADVICE, validate::QGIS_ADVICE)
                        ),
                        None => msg.clone(),
                    };
                    ctx.problem(Severity::Error, *kind, row, Some(&code), *at, msg);
                }
                return Err(Some((code, kinds_text(&geom_problems))));
            }
        }
    };
    Ok((code, level, geometry))
}

/// A component's unit grid code as its file recorded it: (numeric code,
/// recorded grid, row, file), checked after indexing.
type RecordedGrid = (u64, String, usize, String);

/// Reads, maps, transforms and checks every component file.
fn read_components(
    options: &ImportOptions,
    report: &mut Report,
    progress: &mut impl FnMut(&str, u64),
) -> Result<(Components, Vec<RecordedGrid>, usize), ImportError> {
    let fields = &options.fields;
    let classes = &options.classes;
    let cscheme = &options.component_scheme;
    let mut components = Components::new(cscheme.len());
    let mut seen_components: HashSet<u64> = HashSet::new();
    let mut recorded_grid: Vec<RecordedGrid> = Vec::new();
    let mut components_read = 0usize;
    for path in &options.component_files {
        let file = path.display().to_string();
        let declared = io::declared_crs(path, &options.read)?;
        let t = transformer_for(declared, &options.crs)?;
        let read = resolve_text(path, &options.read, report)?;
        io::read_features(path, &read, |f| {
            progress("components", 1);
            components_read += 1;
            let mut ctx = Ctx {
                file: file.clone(),
                report,
            };
            let row = f.row;
            let Some(code) = get(&f, &fields.code) else {
                ctx.problem(Severity::Error, ProblemKind::MissingField, row, None, None, format!(
                    "no component code: expected an attribute named one of {:?} (map yours with --field code=NAME)", fields.code));
                return Ok(());
            };
            let declared_class = get(&f, &fields.class);
            let parsed = cscheme
                .parse(code, classes)
                .and_then(|parsed| match declared_class {
                    Some(declared) if declared != parsed.class => {
                        Err(crate::codes::CodeError::ClassMismatch {
                            code: code.into(),
                            encoded: parsed.class.into(),
                            declared: declared.into(),
                        })
                    }
                    _ => Ok(parsed),
                });
            let parsed = match parsed {
                Ok(p) => p,
                Err(e) => {
                    ctx.problem(
                        Severity::Error,
                        ProblemKind::InvalidCode,
                        row,
                        Some(code),
                        None,
                        e.to_string(),
                    );
                    return Ok(());
                }
            };
            let location = match &f.geometry {
                Some(Geometry::Point(p)) => p.0,
                Some(Geometry::MultiPoint(mp)) if mp.0.len() == 1 => mp.0[0].0,
                _ => {
                    ctx.problem(
                        Severity::Error,
                        ProblemKind::BadGeometryType,
                        row,
                        Some(code),
                        None,
                        "a component needs a Point geometry".into(),
                    );
                    return Ok(());
                }
            };
            let location = match t.transform(location) {
                Ok(c) => c,
                Err(e) => {
                    ctx.problem(
                        Severity::Error,
                        ProblemKind::BadCoordinate,
                        row,
                        Some(code),
                        None,
                        format!("{e}: check the CRS (--crs)"),
                    );
                    return Ok(());
                }
            };
            let state_text = get(&f, &fields.state).unwrap_or("");
            let Some(state) = ComponentState::parse(state_text) else {
                ctx.problem(Severity::Error, ProblemKind::BadValue, row, Some(code), Some(location),
                    format!("state '{state_text}' is not one of 完好, 破损, 丢失, 占用 (intact, damaged, lost, occupied)"));
                return Ok(());
            };
            for (what, names) in [
                ("initial_date", &fields.initial_date),
                ("change_date", &fields.change_date),
            ] {
                if let Some(d) = get(&f, names)
                    && parse_date(d).is_none()
                {
                    ctx.problem(
                        Severity::Error,
                        ProblemKind::BadValue,
                        row,
                        Some(code),
                        Some(location),
                        format!("{what} '{d}' is not a date: write YYYY-MM-DD"),
                    );
                    return Ok(());
                }
            }
            let numeric: u64 = code.parse().unwrap_or(0);
            if !seen_components.insert(numeric) {
                ctx.problem(Severity::Error, ProblemKind::DuplicateCode, row, Some(code), Some(location),
                    format!("code {code} is used by an earlier component: every component needs its own code"));
                return Ok(());
            }
            let text = |names: &Vec<String>| get(&f, names).unwrap_or("").to_string();
            let rec = ComponentRecord {
                code: code.to_string(),
                name: text(&fields.name),
                class: parsed.class.to_string(),
                department: text(&fields.department),
                owner: text(&fields.owner),
                maintainer: text(&fields.maintainer),
                state,
                initial_date: text(&fields.initial_date),
                change_date: text(&fields.change_date),
                source: text(&fields.source),
                remarks: text(&fields.remarks),
                location,
            };
            let class = classes.get(parsed.class).unwrap_or(0);
            if let Some(g) = get(&f, &fields.grid) {
                recorded_grid.push((numeric, g.to_string(), row, file.clone()));
            }
            components.push(&rec, class);
            Ok(())
        })?;
    }

    Ok((components, recorded_grid, components_read))
}

/// Settles a file's text encoding; a guessed one is reported as a warning.
fn resolve_text(
    path: &std::path::Path,
    read: &ReadOptions,
    report: &mut Report,
) -> Result<ReadOptions, ImportError> {
    let resolved = io::resolve_encoding(path, read)?;
    if let Some(note) = resolved.note {
        report.problems.push(Problem {
            geometry: None,
            severity: Severity::Warning,
            kind: ProblemKind::EncodingGuessed,
            file: Some(path.display().to_string()),
            row: None,
            code: None,
            location: None,
            area_m2: None,
            message: note,
        });
    }
    Ok(resolved.options)
}

/// An area change as a percentage with enough digits to show it (a
/// repair of a province can change its area by a few parts per million).
fn percent_change(before: f64, after: f64) -> String {
    let p = 100.0 * (after - before) / before.max(f64::MIN_POSITIVE);
    let digits = if p == 0.0 {
        1
    } else {
        (2 - p.abs().log10().floor() as i32).clamp(1, 8) as usize
    };
    format!("{p:+.digits$}%")
}

/// The problem kinds of a geometry, as their machine names joined by commas.
fn kinds_text(problems: &[(ProblemKind, Option<Coord<f64>>, String)]) -> String {
    let mut names: Vec<String> = problems
        .iter()
        .filter_map(|(k, _, _)| serde_json::to_value(k).ok()?.as_str().map(str::to_string))
        .collect();
    names.dedup();
    names.join(", ")
}

/// Repairs a grid geometry with problems when `max_change` (the largest
/// area change allowed, as a share) is given. `Err(None)`: no repair was
/// asked for; `Err(Some(why))`: the repair was refused.
fn repair_grid(
    geometry: &geo::MultiPolygon<f64>,
    problems: &[(ProblemKind, Option<Coord<f64>>, String)],
    max_change: Option<f64>,
) -> Result<validate::Repair, Option<String>> {
    let Some(max_change) = max_change else {
        return Err(None);
    };
    if problems
        .iter()
        .any(|(k, _, _)| *k == ProblemKind::BadCoordinate)
    {
        return Err(Some("coordinates cannot be repaired; check the CRS".into()));
    }
    let repaired = validate::repair(geometry)
        .ok_or_else(|| Some("no valid polygon could be made from these rings".to_string()))?;
    let share = repaired.change_share();
    if share > max_change {
        return Err(Some(format!(
            "the repaired polygon would cover {:.1} m² where its rings as drawn enclose {:.1} m² (where a ring crosses itself, the signed areas of its loops cancel), a change of {:.1}%, more than the {:.1}% allowed by --repair-max-change; redraw the polygon in QGIS",
            repaired.area_after_m2,
            repaired.area_before_m2,
            100.0 * share,
            100.0 * max_change
        )));
    }
    Ok(repaired)
}

/// Warns about components in no unit grid and about recorded grid codes that
/// disagree with the grid the location is in.
fn check_component_grids(snap: &Snapshot, recorded: &[RecordedGrid], report: &mut Report) {
    let comps = &snap.data().components;
    if snap.data().grids.is_empty() {
        return;
    }
    for c in comps.iter() {
        if snap.unit_grid(c.index).is_none() {
            let at = c.location();
            report.problems.push(Problem {
                geometry: None,
                severity: Severity::Warning,
                kind: ProblemKind::OutsideGrids,
                file: None,
                row: None,
                code: Some(c.code()),
                location: Some([at.x, at.y]),
                area_m2: None,
                message: "the component lies in no grid: check its location and CRS".into(),
            });
        }
    }
    for (numeric, given, row, file) in recorded {
        let code = format!("{:0w$}", numeric, w = snap.data().component_scheme.len());
        let Some(c) = comps.find(&code) else { continue };
        let actual = snap.unit_grid(c.index).map(|g| snap.grid(g).code.as_str());
        if actual != Some(given.as_str()) {
            let at = c.location();
            report.problems.push(Problem {
                geometry: None,
                severity: Severity::Warning,
                kind: ProblemKind::GridMismatch,
                file: Some(file.clone()),
                row: Some(*row),
                code: Some(code.clone()),
                location: Some([at.x, at.y]),
                area_m2: None,
                message: format!(
                    "the record says grid {given}, but the location is in {}: wangge uses the grid of the location",
                    actual.unwrap_or("no grid")
                ),
            });
        }
    }
}
