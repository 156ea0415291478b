//! The `wangge` command: parses arguments and calls the library.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use geo::Coord;
use indicatif::{ProgressBar, ProgressStyle};

use wangge::codes::{ClassTable, ComponentScheme, GridScheme};
use wangge::crs::{Crs, Transformer};
use wangge::generate::{City, GenerateOptions};
use wangge::http::{AppState, Limits};
use wangge::import::{FieldMap, ImportOptions};
use wangge::io::{Format, ReadOptions};
use wangge::{index, lookup, store};

/// wangge (网格): grid and city-component service for urban grid management.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve lookups and features over HTTP.
    Serve {
        /// Data directory (default: the bundled sample city).
        #[arg(default_value = "data/sample")]
        data: PathBuf,
        /// Address to bind.
        #[arg(long, default_value = "127.0.0.1")]
        bind: String,
        /// Port.
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Largest batch lookup body, MiB.
        #[arg(long, default_value_t = 512)]
        max_batch_mib: u64,
    },
    /// Which grid is this point in (prints the answer as JSON), or, with
    /// --points, the unit grid of every point of a CSV file (all cores).
    Lookup {
        /// Longitude (or x in the given CRS).
        #[arg(allow_negative_numbers = true, required_unless_present = "points")]
        lon: Option<f64>,
        /// Latitude (or y in the given CRS).
        #[arg(allow_negative_numbers = true, required_unless_present = "points")]
        lat: Option<f64>,
        /// CSV of points (columns lon/lat or x/y, optional id): answers go to --out as CSV
        /// (id,grid_code,on_border,border_distance_m) and timing to stderr.
        #[arg(long, conflicts_with_all = ["lon", "lat"])]
        points: Option<PathBuf>,
        /// Where to write the answers of --points (default: standard output).
        #[arg(long, requires = "points")]
        out: Option<PathBuf>,
        /// CRS of the coordinates: EPSG:4326 (default), gcj02, bd09, EPSG:4490, EPSG:4527...
        #[arg(long)]
        crs: Option<String>,
        /// Data directory.
        #[arg(long, default_value = "data/sample")]
        data: PathBuf,
    },
    /// Import grid and component files into a data directory (validated, atomic).
    Import {
        #[command(flatten)]
        input: InputArgs,
        /// Data directory to publish into (a new version becomes `current`).
        #[arg(long, default_value = "data/city")]
        data: PathBuf,
        /// Import the valid part even when there are errors (they stay in the report).
        #[arg(long)]
        allow_invalid: bool,
    },
    /// Check grid and component files without importing them.
    Validate {
        #[command(flatten)]
        input: InputArgs,
    },
    /// Generate a synthetic city with a fixed seed.
    Generate {
        /// Output data directory (replaced atomically).
        #[arg(long, default_value = "data/generated")]
        out: PathBuf,
        /// Number of unit grids (about).
        #[arg(long, default_value_t = 16_000)]
        unit_grids: usize,
        /// Number of components.
        #[arg(long, default_value_t = 2_000_000)]
        components: usize,
        /// Random seed.
        #[arg(long, default_value_t = 20261129)]
        seed: u64,
    },
}

#[derive(Args)]
struct InputArgs {
    /// Grid files (FlatGeobuf, GeoJSON, NDJSON, Shapefile); the code length gives each grid's level.
    #[arg(long, num_args = 1..)]
    grids: Vec<PathBuf>,
    /// Component files (any of the above, or CSV of points).
    #[arg(long, num_args = 1..)]
    components: Vec<PathBuf>,
    /// CRS of the input, overriding what the files declare: EPSG:4490, EPSG:4527, gcj02, bd09...
    #[arg(long)]
    crs: Option<String>,
    /// Input format, when the extension does not tell.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Attribute encoding of Shapefiles (default: the .cpg, else UTF-8), e.g. GBK.
    #[arg(long)]
    encoding: Option<String>,
    /// CSV column of x/longitude.
    #[arg(long)]
    x_field: Option<String>,
    /// CSV column of y/latitude.
    #[arg(long)]
    y_field: Option<String>,
    /// Attribute mapping, repeatable: --field code=BM --field name=MC.
    #[arg(long = "field", value_name = "FIELD=ATTR")]
    fields: Vec<String>,
    /// JSON file with the grid scheme: {"levels":[{"name","label","code_len","legacy_lens"}], "component":{"district_len","sequence_len"}}.
    #[arg(long)]
    scheme: Option<PathBuf>,
    /// CSV of local component classes added to the national table.
    #[arg(long)]
    classes: Option<PathBuf>,
    /// Overlaps and gaps smaller than this many m² are not reported.
    #[arg(long, default_value_t = 1.0)]
    tolerance_m2: f64,
    /// Write the full report as JSON here.
    #[arg(long)]
    report: Option<PathBuf>,
}

#[derive(serde::Deserialize)]
struct SchemeFile {
    levels: Option<Vec<wangge::codes::LevelDef>>,
    component: Option<ComponentScheme>,
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = if len > 0 {
        ProgressBar::new(len)
    } else {
        ProgressBar::new_spinner()
    };
    let template = if len > 0 {
        "{msg:>12} [{bar:40}] {pos}/{len} ({per_sec}, {eta})"
    } else {
        "{msg:>12} {spinner} {pos} ({per_sec})"
    };
    pb.set_style(
        ProgressStyle::with_template(template)
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

fn import_options(input: &InputArgs) -> anyhow::Result<ImportOptions> {
    let mut fields = FieldMap::default();
    for f in &input.fields {
        fields.set(f).map_err(anyhow::Error::msg)?;
    }
    let (mut scheme, mut component_scheme) = (GridScheme::default(), ComponentScheme::default());
    if let Some(path) = &input.scheme {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let file: SchemeFile = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid scheme file", path.display()))?;
        if let Some(levels) = file.levels {
            scheme = GridScheme { levels };
        }
        if let Some(c) = file.component {
            component_scheme = c;
        }
    }
    scheme.check().context("invalid grid scheme")?;
    Ok(ImportOptions {
        grid_files: input.grids.clone(),
        component_files: input.components.clone(),
        read: ReadOptions {
            format: input.format,
            encoding: input.encoding.clone(),
            x_field: input.x_field.clone(),
            y_field: input.y_field.clone(),
        },
        crs: input.crs.as_deref().map(str::parse::<Crs>).transpose()?,
        fields,
        scheme,
        component_scheme,
        classes: ClassTable::load(input.classes.as_deref())?,
        tolerance_m2: input.tolerance_m2,
    })
}

/// Runs the import pipeline; returns the result and whether it has errors.
fn run_import(input: &InputArgs) -> anyhow::Result<(wangge::import::Imported, bool)> {
    let options = import_options(input)?;
    let pb = bar(0, "reading");
    let imported = wangge::import::import(&options, |_, n| pb.inc(n))?;
    pb.finish_and_clear();
    let report = &imported.report;
    eprint!("{}", report.to_text(50));
    if let Some(path) = &input.report {
        std::fs::write(path, serde_json::to_string_pretty(report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let data = imported.snapshot.data();
    eprintln!(
        "read {} grids and {} components: {} errors, {} warnings",
        data.grids.len(),
        data.components.len(),
        report.errors(),
        report.warnings()
    );
    let has_errors = report.errors() > 0;
    Ok((imported, has_errors))
}

fn open(data: &Path) -> anyhow::Result<index::Snapshot> {
    let pb = bar(0, "loading");
    let (_, snap) = store::open_snapshot(data, |n| pb.inc(n))?;
    pb.finish_and_clear();
    Ok(snap)
}

async fn serve(data: PathBuf, bind: String, port: u16, max_batch_mib: u64) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let snap = open(&data)?;
    tracing::info!(
        grids = snap.data().grids.len(),
        components = snap.data().components.len(),
        seconds = started.elapsed().as_secs_f64(),
        "loaded {}",
        data.display()
    );
    let limits = Limits {
        max_batch_bytes: max_batch_mib << 20,
        ..Limits::default()
    };
    let app = wangge::http::router(AppState::new(snap, limits));
    let listener = tokio::net::TcpListener::bind((bind.as_str(), port))
        .await
        .with_context(|| format!("cannot listen on {bind}:{port}"))?;
    let addr = listener.local_addr()?;
    println!("wangge serving {} at http://{addr}/", data.display());
    println!("  try: curl 'http://{addr}/lookup?lon=118.78&lat=32.06'");
    std::io::stdout().flush()?;
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

fn generate(out: &Path, unit_grids: usize, components: usize, seed: u64) -> anyhow::Result<()> {
    let options = GenerateOptions {
        seed,
        unit_grids,
        components,
        ..GenerateOptions::default()
    };
    let started = std::time::Instant::now();
    let city = City::generate(&options);
    eprintln!(
        "generated {} grids in {:.1} s",
        city.grids.len(),
        started.elapsed().as_secs_f64()
    );
    let mut data = wangge::model::Dataset::empty();
    let classes = data.classes.clone();
    data.grids = city.grids.clone();
    let mut manifest = store::manifest_for(
        &data,
        &format!(
            "wangge generate --unit-grids {unit_grids} --components {components} --seed {seed}"
        ),
    );
    manifest.components = components;
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let tmp = tempfile::Builder::new()
        .prefix(".wangge-generate-")
        .tempdir_in(parent)?;
    let pb = bar(components as u64, "components");
    store::write_version(
        tmp.path(),
        &manifest,
        &data,
        city.components(&classes).map(|(c, _)| {
            pb.inc(1);
            c
        }),
    )?;
    pb.finish_and_clear();
    if out.exists() {
        if store::resolve(out).is_err() && std::fs::read_dir(out)?.next().is_some() {
            bail!(
                "{} exists and is not a wangge data directory: choose another --out",
                out.display()
            );
        }
        std::fs::remove_dir_all(out)?;
    }
    std::fs::rename(tmp.keep(), out)?;
    eprintln!(
        "wrote {} in {:.1} s",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Looks up every point of a CSV file in parallel and writes one CSV row per point.
fn lookup_file(
    file: &Path,
    out: Option<&Path>,
    t: &Transformer,
    data: &Path,
) -> anyhow::Result<()> {
    let snap = open(data)?;
    let mut ids = Vec::new();
    let mut coords = Vec::new();
    wangge::io::read_features(
        file,
        &ReadOptions {
            format: Some(Format::Csv),
            ..ReadOptions::default()
        },
        |f| {
            let Some(geo::Geometry::Point(p)) = f.geometry else {
                return Err("no point".into());
            };
            let c = t.transform(p.0).map_err(|e| e.to_string())?;
            ids.push(f.get(&["id"]).unwrap_or("").to_string());
            coords.push(c);
            Ok(())
        },
    )?;
    let started = std::time::Instant::now();
    let answers = lookup::locate_many(&snap, &coords);
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "looked up {} points in {:.3} s: {:.0} points/s on {} threads",
        coords.len(),
        secs,
        coords.len() as f64 / secs,
        rayon::current_num_threads()
    );
    let writer: Box<dyn Write> = match out {
        Some(p) => Box::new(
            std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut w = csv::Writer::from_writer(std::io::BufWriter::new(writer));
    w.write_record(["id", "grid_code", "on_border", "border_distance_m"])?;
    for ((id, c), a) in ids.iter().zip(&coords).zip(&answers) {
        match a {
            Some((g, pos)) => w.write_record([
                id.as_str(),
                snap.grid(*g).code.as_str(),
                if *pos == index::Position::Boundary {
                    "true"
                } else {
                    "false"
                },
                &format!("{:.4}", snap.boundary_distance_m(*g, *c)),
            ])?,
            None => w.write_record([id.as_str(), "", "false", ""])?,
        }
    }
    w.flush()?;
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve {
            data,
            bind,
            port,
            max_batch_mib,
        } => {
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(serve(data, bind, port, max_batch_mib))?;
        }
        Command::Lookup {
            lon,
            lat,
            points,
            out,
            crs,
            data,
        } => {
            let crs: Crs = crs.as_deref().unwrap_or("EPSG:4326").parse()?;
            let t = Transformer::to_wgs84(&crs)?;
            match (points, lon, lat) {
                (Some(file), _, _) => lookup_file(&file, out.as_deref(), &t, &data)?,
                (None, Some(lon), Some(lat)) => {
                    let point = t.transform(Coord { x: lon, y: lat })?;
                    let snap = open(&data)?;
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&lookup::lookup(&snap, point))?
                    );
                }
                _ => bail!("give LON LAT, or --points FILE"),
            }
        }
        Command::Import {
            input,
            data,
            allow_invalid,
        } => {
            let (imported, has_errors) = run_import(&input)?;
            if has_errors && !allow_invalid {
                eprintln!(
                    "refused: nothing was written. Fix the errors above, or pass --allow-invalid to import the valid part."
                );
                return Ok(ExitCode::from(1));
            }
            let snap = imported.snapshot;
            let d = snap.data();
            let manifest = store::manifest_for(d, "wangge import");
            let classes = &d.classes;
            let version = store::publish(
                &data,
                manifest,
                d,
                d.components.iter().map(|c| c.record(classes)),
            )?;
            eprintln!("published version {version} in {}", data.display());
        }
        Command::Validate { input } => {
            let (_, has_errors) = run_import(&input)?;
            if has_errors {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Generate {
            out,
            unit_grids,
            components,
            seed,
        } => generate(&out, unit_grids, components, seed)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
