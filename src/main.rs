//! The `wangge` command: parses arguments and calls the library.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use geo::Coord;
use indicatif::{ProgressBar, ProgressStyle};

use wangge::codes::{ClassTable, ComponentScheme, GridScheme};
use wangge::crs::{Crs, Transformer};
use wangge::datadir;
use wangge::generate::{City, GenerateOptions};
use wangge::http::{AppState, Cors, Limits, PublicUrl, TileConfig};
use wangge::import::{FieldMap, ImportOptions};
use wangge::io::{Format, ReadOptions};
use wangge::query::lookup;
use wangge::server::ServerConfig;
use wangge::snapshot::Snapshot;
use wangge::tiles::export::ExportOptions;
use wangge::tiles::{self, Source, TileId, TileSet};

/// wangge (网格): grid and city-component service for urban grid management.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start: the size of `Serve`'s many options costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Serve lookups and features over HTTP.
    Serve {
        /// A data directory to serve read-only, or a store file (default:
        /// the store `--store`, created from `--seed` when it does not exist).
        data: Option<PathBuf>,
        /// The store of record (GeoPackage) to serve and edit.
        #[arg(long, default_value = "wangge.gpkg")]
        store: PathBuf,
        /// The data directory a new store is created from.
        #[arg(long, default_value = "data/sample")]
        seed: PathBuf,
        /// Planners who may write: a file of `name:token` lines (also
        /// WANGGE_PLANNERS, the same pairs separated by commas).
        #[arg(long)]
        planners: Option<PathBuf>,
        /// Accept the JWTs of an identity provider: its public keys (RS256,
        /// ES256) as a JWKS file or an https:// URL (the provider's
        /// jwks_uri); needs --jwt-issuer and --jwt-audience.
        #[arg(long, requires_all = ["jwt_issuer", "jwt_audience"])]
        jwks: Option<String>,
        /// Seconds between reads of the JWKS (keys the provider rotates in);
        /// a token with an unknown key id asks for a read sooner.
        #[arg(long, default_value_t = 300)]
        jwks_refresh_secs: u64,
        /// The `iss` the provider's JWTs carry.
        #[arg(long)]
        jwt_issuer: Option<String>,
        /// The `aud` the JWTs must carry for this server.
        #[arg(long)]
        jwt_audience: Option<String>,
        /// The JWT claim with the role (public, viewer, worker, department,
        /// planner, admin; a list gives the highest).
        #[arg(long, default_value = "role")]
        jwt_role_claim: String,
        /// The JWT claim with a worker's id.
        #[arg(long, default_value = "worker")]
        jwt_worker_claim: String,
        /// The JWT claim with a department's component classes.
        #[arg(long, default_value = "classes")]
        jwt_classes_claim: String,
        /// Serve https with this PEM certificate chain (needs --tls-key);
        /// SIGHUP reads it and the key again.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// What a request without a token may read: `all` (grids and
        /// components), `grids` (grids, lookups and grid tiles) or `none`
        /// (a token for every read; needs a store).
        #[arg(long, default_value = "all", value_parser = ["all", "grids", "none"])]
        public: String,
        /// How grid workers' names appear to a request without a token:
        /// withheld, masked (王*) or shown.
        #[arg(long, default_value = "withheld", value_parser = ["withheld", "masked", "shown"])]
        public_workers: String,
        /// Log format on standard error: text or json.
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        log_format: String,
        /// Address to bind.
        #[arg(long, default_value = "127.0.0.1")]
        bind: String,
        /// Port.
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Largest batch lookup body, MiB.
        #[arg(long, default_value_t = 64)]
        max_batch_mib: u64,
        /// Batch lookups answered at once; more are refused with 503.
        #[arg(long, default_value_t = 8)]
        max_concurrent_batches: usize,
        /// Connections open at once; more are answered 503 and closed.
        #[arg(long, default_value_t = 4096)]
        max_connections: usize,
        /// Seconds a client has to send a request's headers (also how long an
        /// idle keep-alive connection stays open).
        #[arg(long, default_value_t = 20)]
        header_timeout_secs: u64,
        /// Seconds after which a connection on which nothing moves (a stalled
        /// upload, a client that stopped reading) is closed.
        #[arg(long, default_value_t = 60)]
        idle_timeout_secs: u64,
        /// Seconds requests in flight may take to finish after SIGTERM or SIGINT.
        #[arg(long, default_value_t = 10)]
        shutdown_deadline_secs: u64,
        /// The URL clients reach this server at (e.g. https://grid.example.cn),
        /// written into TileJSON, styles and OGC API links. Without it the
        /// request's Host header is used.
        #[arg(long)]
        public_url: Option<String>,
        /// A reverse proxy (address or network, e.g. 10.0.0.5 or 10.0.0.0/24)
        /// whose X-Forwarded-Proto/-Host/-For headers are believed; repeatable.
        #[arg(long)]
        trusted_proxy: Vec<ipnet::IpNet>,
        /// Browser origin allowed to read answers (CORS), repeatable; `*` any
        /// (the default), `none` no other origin.
        #[arg(long, default_values_t = vec!["*".to_string()])]
        cors_origin: Vec<String>,
        /// Client address or network that may read /metrics, repeatable
        /// (default: this machine).
        #[arg(long, default_values_t = vec!["127.0.0.0/8".parse::<ipnet::IpNet>().unwrap(), "::1/128".parse().unwrap()])]
        metrics_allow: Vec<ipnet::IpNet>,
        /// Another EPSG code clients may name in `crs`, repeatable (always
        /// accepted: 4326, 4490-4554, 3857, gcj02, bd09).
        #[arg(long)]
        crs_allow: Vec<u32>,
        /// Seconds between checks for a new data version (0: never reload).
        #[arg(long, default_value_t = 2)]
        reload_interval_secs: u64,
        /// Memory budget of the tile cache, MiB (0 turns the cache off).
        #[arg(long, default_value_t = 256)]
        tile_cache_mib: u64,
        /// Cache-Control header sent with tiles.
        #[arg(long, default_value = "public, max-age=300")]
        tile_cache_control: String,
        /// The built web viewer served at / (`scripts/build-web` writes
        /// web/dist). Without it the server runs the API alone.
        #[arg(long, default_value = "web/dist")]
        web: PathBuf,
    },
    /// Write a tile pyramid to a file for static hosting.
    Export {
        #[command(subcommand)]
        what: ExportCommand,
    },
    /// Render vector tiles on the command line: one tile to a file, or every
    /// tile of a list with its size and render time (CSV on standard output).
    Tile {
        /// Tile address `z/x/y`.
        #[arg(required_unless_present = "list")]
        tile: Option<String>,
        /// File of tile addresses, one `z/x/y` per line.
        #[arg(long, conflicts_with = "tile")]
        list: Option<PathBuf>,
        /// Where to write the single tile (uncompressed MVT).
        #[arg(long, requires = "tile")]
        out: Option<PathBuf>,
        /// Sources, comma-separated: grids, components.
        #[arg(long, default_value = "grids")]
        sources: String,
        /// Data directory.
        #[arg(long, default_value = "data/sample")]
        data: PathBuf,
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
        /// CSV of points (columns lon/lat or x/y, optional id): answers go to --out as CSV,
        /// the columns of POST /lookup (text/csv), and timing to stderr.
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
        /// Data directory to publish into (a new version becomes `current`),
        /// when no `--store` is given.
        #[arg(long, default_value = "data/city")]
        data: PathBuf,
        /// The store of record to record the city in, as a new revision
        /// (created when it does not exist); a server on it serves it at once.
        #[arg(long)]
        store: Option<PathBuf>,
        /// Who imports (recorded with the revision).
        #[arg(long, default_value = "import")]
        author: String,
        /// Why (recorded with the revision).
        #[arg(long, default_value = "wangge import")]
        message: String,
        /// When the imported grids become valid in the city (RFC 3339; default now).
        #[arg(long)]
        effective_at: Option<String>,
        /// Import the valid part even when there are errors (they stay in the report).
        #[arg(long)]
        allow_invalid: bool,
    },
    /// Check grid and component files without importing them.
    Validate {
        #[command(flatten)]
        input: InputArgs,
    },
    /// API keys for machine clients: create (shown once), revoke, list.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Print the audit log of a store, newest first: every write and every
    /// refused request (who, when, what, from where, outcome).
    Audit {
        /// The store.
        #[arg(long, default_value = "wangge.gpkg")]
        store: PathBuf,
        /// Most entries printed.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Only entries whose actor contains this (a name, `key:3`, a role).
        #[arg(long)]
        actor: Option<String>,
        /// Only entries whose action contains this (`POST /drafts`, `publish`).
        #[arg(long)]
        action: Option<String>,
        /// Only entries whose target contains this (a grid code, `revision 7`).
        #[arg(long)]
        target: Option<String>,
        /// Only `ok` or only `refused` entries.
        #[arg(long)]
        outcome: Option<String>,
        /// Only entries at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Only entries before this time (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        /// As JSON lines instead of tab-separated columns.
        #[arg(long)]
        json: bool,
    },
    /// Generate a synthetic city with a fixed seed.
    Generate {
        /// Output data directory (written beside it, then renamed into place).
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

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an API key and print it (it is shown only now; the store
    /// keeps a hash).
    Create {
        /// The store.
        #[arg(long, default_value = "wangge.gpkg")]
        store: PathBuf,
        /// Who or what holds the key (recorded as the author of its writes).
        #[arg(long)]
        name: String,
        /// Its role: viewer, worker, department, planner or admin.
        #[arg(long)]
        role: String,
        /// A worker's id (role worker).
        #[arg(long)]
        worker: Option<String>,
        /// A department's component classes, comma-separated (role department).
        #[arg(long, value_delimiter = ',')]
        classes: Vec<String>,
    },
    /// Revoke an API key: it stops working at once on this store's servers
    /// (within a minute where a server checked it recently).
    Revoke {
        /// The store.
        #[arg(long, default_value = "wangge.gpkg")]
        store: PathBuf,
        /// The key's number (`wg_<id>_...`, or the first column of `list`).
        id: u64,
    },
    /// List the API keys (never the keys themselves).
    List {
        /// The store.
        #[arg(long, default_value = "wangge.gpkg")]
        store: PathBuf,
    },
}

#[derive(Subcommand)]
enum ExportCommand {
    /// The city of a store as a data directory (FlatGeobuf grids and
    /// components): a new version, made current atomically.
    Data {
        /// The data directory written into.
        out: PathBuf,
        /// The store.
        #[arg(long, default_value = "wangge.gpkg")]
        store: PathBuf,
        /// The revision (default: the newest).
        #[arg(long)]
        revision: Option<u64>,
        /// The time the city is valid at, RFC 3339 (default: now, or the
        /// revision's effective time when --revision is given).
        #[arg(long)]
        at: Option<String>,
    },
    /// A PMTiles v3 archive (gzip tiles) of the chosen sources, written on all cores.
    Pmtiles {
        /// Output archive (replaced atomically).
        out: PathBuf,
        /// Data directory.
        #[arg(long, default_value = "data/sample")]
        data: PathBuf,
        /// First zoom (default: the lowest zoom at which the data draws anything).
        #[arg(long)]
        minzoom: Option<u8>,
        /// Last zoom.
        #[arg(long, default_value_t = 16)]
        maxzoom: u8,
        /// Area to cover, `min_lon,min_lat,max_lon,max_lat` (default: the whole city).
        #[arg(long, allow_hyphen_values = true)]
        bbox: Option<String>,
        /// Sources, comma-separated: grids, components.
        #[arg(long, default_value = "grids,components")]
        sources: String,
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
    /// The code scheme: `urban` (default: district 6, street 9, community 12,
    /// unit 15 digits), `gbt2260` (province 2, prefecture 4, county 6 digits,
    /// zero parts allowed), or a JSON file {"levels":[{"name","label","code_len","legacy_lens","allow_zero_sequence","minzoom"}], "component":{"district_len","sequence_len"}}.
    #[arg(long)]
    scheme: Option<String>,
    /// CSV of local component classes added to the national table.
    #[arg(long)]
    classes: Option<PathBuf>,
    /// Overlaps and gaps smaller than this many m² are not reported.
    #[arg(long, default_value_t = 1.0)]
    tolerance_m2: f64,
    /// Write the full report as JSON here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Repair invalid grid polygons (self-intersections, spikes, rings that
    /// cross, unclosed rings) instead of rejecting them; every repair is
    /// reported with its area change.
    #[arg(long)]
    repair: bool,
    /// Largest area change a repair may make, percent of the polygon's area;
    /// a bigger change is refused and the polygon rejected.
    #[arg(long, default_value_t = 1.0, requires = "repair")]
    repair_max_change: f64,
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
        fields.set(f)?;
    }
    let (scheme, component_scheme) = match &input.scheme {
        Some(spec) => wangge::codes::load_scheme(spec)?,
        None => (GridScheme::default(), ComponentScheme::default()),
    };
    if input.repair_max_change.is_nan() || input.repair_max_change < 0.0 {
        bail!("--repair-max-change must be a percentage of 0 or more");
    }
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
        repair: input.repair.then_some(input.repair_max_change / 100.0),
        check_hierarchy: true,
    })
}

/// Runs the import pipeline; returns the result and whether it has errors.
fn run_import(input: &InputArgs) -> anyhow::Result<(wangge::import::Imported, bool)> {
    let options = import_options(input)?;
    let pb = bar(0, "reading");
    let imported = wangge::import::import(&options, |_, n| pb.inc(n))?;
    pb.finish_and_clear();
    let report = &imported.report;
    let report_path = input.report.as_ref().map(|p| p.display().to_string());
    eprint!("{}", report.listing(50, report_path.as_deref()));
    if let Some(path) = &input.report {
        std::fs::write(path, serde_json::to_string_pretty(report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let data = imported.snapshot.data();
    let counted = |kept: usize, read: usize, what: &str| match read - kept {
        0 => format!("{read} {what}"),
        left_out => format!("{kept} of {read} {what} ({left_out} left out for errors)"),
    };
    let mut read = vec![counted(data.grids.len(), imported.grids_read, "grids")];
    if imported.components_read > 0 {
        read.push(counted(
            data.components.len(),
            imported.components_read,
            "components",
        ));
    }
    eprintln!(
        "read {}: {} errors, {} warnings",
        read.join(" and "),
        report.errors(),
        report.warnings()
    );
    let has_errors = report.errors() > 0;
    Ok((imported, has_errors))
}

fn open(data: &Path) -> anyhow::Result<Snapshot> {
    let pb = bar(0, "loading");
    let (_, snap) = datadir::open_snapshot(data, |n| pb.inc(n))?;
    pb.finish_and_clear();
    Ok(snap)
}

/// What `wangge serve` serves.
enum ServeSource {
    /// A data directory, read-only (reloaded when a new version is current).
    Dir(PathBuf),
    /// A store of record, created from `seed` when missing.
    Store {
        path: PathBuf,
        seed: PathBuf,
        planners: wangge::http::Planners,
        /// Boxed: the JWT settings would make every `ServeSource` large.
        jwt: Option<Box<wangge::auth::JwtConfig>>,
        jwks_refresh: std::time::Duration,
    },
}

impl ServeSource {
    fn path(&self) -> &Path {
        match self {
            ServeSource::Dir(p) => p,
            ServeSource::Store { path, .. } => path,
        }
    }
}

/// Loads what `source` names: the snapshot, and the editing state for a store.
fn load_source(source: &ServeSource) -> anyhow::Result<(Snapshot, Option<wangge::http::Editing>)> {
    match source {
        ServeSource::Dir(dir) => {
            match datadir::clean_stale(dir) {
                Ok(removed) if !removed.is_empty() => tracing::info!(
                    "removed {} leftover(s) of interrupted imports: {}",
                    removed.len(),
                    removed
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!("cannot clean leftovers of interrupted imports: {e}"),
            }
            Ok((open(dir)?, None))
        }
        ServeSource::Store {
            path,
            seed,
            planners,
            jwt,
            jwks_refresh,
        } => {
            let (store, created) = wangge::edit::open_or_seed(path, seed)?;
            if created {
                tracing::info!(
                    "created the store {} from {}",
                    path.display(),
                    seed.display()
                );
            }
            let store: Arc<dyn wangge::store::Store> = Arc::new(store);
            let view = wangge::edit::head_view(store.as_ref())?;
            let snap = Snapshot::from_store(store.as_ref(), view)?;
            let jwt = jwt
                .clone()
                .map(|c| wangge::auth::JwtVerifier::open(*c))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--jwks: {e}"))?;
            let editing = wangge::http::Editing::with_auth(store, planners.clone(), jwt);
            if let Some(v) = editing.auth().jwt().cloned() {
                let every = *jwks_refresh;
                std::thread::spawn(move || v.keep_fresh(every));
            }
            Ok((snap, Some(editing)))
        }
    }
}

/// Everything `wangge serve` was told.
struct ServeOptions {
    source: ServeSource,
    bind: String,
    port: u16,
    limits: Limits,
    tiles: TileConfig,
    web: PathBuf,
    server: ServerConfig,
    public: PublicUrl,
    cors: Cors,
    policy: wangge::auth::Policy,
    reload_every: Option<std::time::Duration>,
}

async fn serve(o: ServeOptions) -> anyhow::Result<()> {
    let viewer_started = std::time::Instant::now();
    let viewer = match wangge::web::Viewer::load(&o.web) {
        Ok(v) => {
            tracing::info!(
                seconds = viewer_started.elapsed().as_secs_f64(),
                glyphs = v.fonts().collect::<Vec<_>>().join(", "),
                "web viewer loaded from {}",
                o.web.display()
            );
            Some(v)
        }
        Err(e @ wangge::web::WebError::NotBuilt(_)) => {
            tracing::warn!("no web viewer: {e}");
            None
        }
        Err(e) => return Err(e.into()),
    };
    let started = std::time::Instant::now();
    let (snap, editing) = load_source(&o.source)?;
    let load_seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        grids = snap.data().grids.len(),
        components = snap.data().components.len(),
        seconds = load_seconds,
        "loaded {} (revision {})",
        o.source.path().display(),
        snap.revision()
    );
    let mut state = AppState::new(snap, o.limits)
        .with_tiles(o.tiles)
        .with_public_url(o.public)
        .with_cors(o.cors)
        .with_policy(o.policy);
    let serving_store = editing.is_some();
    if let Some(e) = editing {
        state = state.with_editing(e);
    }
    state
        .metrics()
        .snapshot(state.snapshot().revision(), load_seconds);
    let has_viewer = viewer.is_some();
    if let Some(v) = viewer {
        state = state.with_viewer(v);
    }
    // Build the tile and nearest-grid indexes in the background: lookups are
    // served at once, the first tile request waits for them.
    let warm = state.clone();
    std::thread::spawn(move || {
        let t = std::time::Instant::now();
        warm.warm();
        tracing::info!(
            seconds = t.elapsed().as_secs_f64(),
            "tile and border indexes built"
        );
    });
    match (&o.source, o.reload_every) {
        (ServeSource::Dir(dir), Some(every)) => {
            tokio::spawn(wangge::reload::watch(state.clone(), dir.clone(), every));
        }
        (ServeSource::Store { .. }, every) => {
            // Revisions recorded by other processes, and versions whose
            // effective time arrives, are served without a restart.
            let every = every.unwrap_or(std::time::Duration::from_secs(2));
            tokio::spawn(wangge::http::refresher(state.clone(), every));
        }
        _ => {}
    }
    let fd_limit = wangge::server::raise_open_files_limit();
    let mut server = o.server;
    // Keep descriptors for data files, the listener and the log.
    let usable = fd_limit.saturating_sub(64) as usize;
    if server.max_connections > usable {
        tracing::warn!(
            "--max-connections {} is above what the open-files limit ({fd_limit}) allows: using {usable}",
            server.max_connections
        );
        server.max_connections = usable.max(1);
    }
    let metrics = state.metrics();
    let app = wangge::http::router(state);
    let listener = tokio::net::TcpListener::bind((o.bind.as_str(), o.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", o.bind, o.port))?;
    let addr = listener.local_addr()?;
    let scheme = if server.tls.is_some() {
        "https"
    } else {
        "http"
    };
    if let Some(tls) = server.tls.clone() {
        tokio::spawn(reload_tls_on_hangup(tls));
    }
    println!(
        "wangge serving {} at {scheme}://{addr}/{}",
        o.source.path().display(),
        if serving_store {
            " (store of record: revisions, drafts, time travel)"
        } else {
            " (read-only data directory)"
        }
    );
    if has_viewer {
        println!("  map viewer: open {scheme}://{addr}/ in a browser");
    }
    println!("  try: curl '{scheme}://{addr}/lookup?lon=118.78&lat=32.06'");
    std::io::stdout().flush()?;
    wangge::server::serve(listener, app, server, metrics, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Reads the TLS certificate and key again on every SIGHUP (a renewed
/// certificate without a restart); a failed reload keeps the old one.
async fn reload_tls_on_hangup(tls: Arc<wangge::tls::Tls>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot listen for SIGHUP: the TLS certificate is not reloaded ({e})");
            return;
        }
    };
    while hup.recv().await.is_some() {
        match tls.reload() {
            Ok(()) => tracing::info!("SIGHUP: TLS certificate and key read again"),
            Err(e) => tracing::error!("SIGHUP: {e}; still presenting the previous certificate"),
        }
    }
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot listen for SIGTERM: {e}");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
    }
}

fn parse_tile(s: &str) -> anyhow::Result<TileId> {
    let parts: Vec<&str> = s.trim().split('/').collect();
    let [z, x, y] = parts[..] else {
        bail!("tile address `{s}` must be z/x/y, e.g. 14/13492/6208");
    };
    Ok(TileId::parse(z, x, y)?)
}

fn parse_bbox(s: &str) -> anyhow::Result<geo::Rect<f64>> {
    wangge::bbox::parse(s).with_context(|| format!("--bbox `{s}`"))
}

/// Renders every tile of a list and prints `z,x,y,bytes,micros,dropped` per tile.
fn time_tiles(set: &TileSet, sources: &[Source], list: &Path) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(list).with_context(|| format!("cannot read {}", list.display()))?;
    let ids: Vec<TileId> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(parse_tile)
        .collect::<anyhow::Result<_>>()?;
    let mut w = std::io::BufWriter::new(std::io::stdout().lock());
    writeln!(w, "z,x,y,bytes,micros,dropped")?;
    for id in ids {
        let t = std::time::Instant::now();
        let (bytes, dropped) =
            tiles::render_counted(set, sources, id, &wangge::query::Scope::EVERYTHING);
        let micros = t.elapsed().as_secs_f64() * 1e6;
        writeln!(
            w,
            "{},{},{},{},{micros:.1},{}",
            id.z,
            id.x,
            id.y,
            bytes.len(),
            dropped.tiny_grids
        )?;
    }
    w.flush()?;
    Ok(())
}

fn export_pmtiles(out: &Path, data: &Path, options: &ExportOptions) -> anyhow::Result<()> {
    let set = TileSet::new(Arc::new(open(data)?));
    let started = std::time::Instant::now();
    let pb = bar(0, "tiles");
    let summary = tiles::export::export_pmtiles(&set, options, out, &|done, total| {
        pb.set_length(total);
        pb.set_position(done);
    })?;
    pb.finish_and_clear();
    eprintln!(
        "wrote {} ({} tiles, {} with features, {:.1} MB) in {:.1} s",
        out.display(),
        summary.tiles,
        summary.stored,
        summary.bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
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
    let mut manifest = datadir::manifest_for(
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
    let tmp = wangge::files::temp_dir_in(parent, ".wangge-generate-")?;
    let pb = bar(components as u64, "components");
    datadir::write_version(
        tmp.path(),
        &manifest,
        &data,
        city.components(&classes).map(|(c, _)| {
            pb.inc(1);
            c
        }),
    )?;
    pb.finish_and_clear();
    if out.exists() && datadir::resolve(out).is_err() && std::fs::read_dir(out)?.next().is_some() {
        bail!(
            "{} exists and is not a wangge data directory: choose another --out",
            out.display()
        );
    }
    wangge::files::replace_dir(tmp, out)
        .with_context(|| format!("cannot put the new city at {}", out.display()))?;
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
    let located = lookup::locate_many(&snap, &coords);
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "located {} points ({} inside a grid) in {:.3} s: {:.0} points/s on {} threads",
        coords.len(),
        located.iter().filter(|a| a.is_some()).count(),
        secs,
        coords.len() as f64 / secs,
        rayon::current_num_threads()
    );
    // The answers themselves, as POST /lookup writes them, on all cores.
    let started = std::time::Instant::now();
    let levels = snap.data().scheme.depth();
    let rows: Vec<Vec<u8>> = {
        use rayon::prelude::*;
        ids.par_iter()
            .zip(coords.par_iter())
            .map(|(id, &c)| {
                let mut row = Vec::with_capacity(160);
                wangge::query::table::row(&mut row, id, Ok(&lookup::lookup(&snap, c)), levels);
                row
            })
            .collect()
    };
    eprintln!(
        "answered them (chains, workers, border and nearest-grid distances) in {:.3} s",
        started.elapsed().as_secs_f64()
    );
    let writer: Box<dyn Write> = match out {
        Some(p) => Box::new(
            std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut w = std::io::BufWriter::new(writer);
    w.write_all(&wangge::query::table::header(&snap.data().scheme))?;
    for row in rows {
        w.write_all(&row)?;
    }
    w.flush()?;
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // rustls' cryptography for every TLS client and server of the process
    // (the JWKS fetcher takes the process default).
    let _ = rustls::crypto::ring::default_provider().install_default();
    match cli.command {
        Command::Serve {
            data,
            store,
            seed,
            planners,
            jwks,
            jwks_refresh_secs,
            jwt_issuer,
            jwt_audience,
            jwt_role_claim,
            jwt_worker_claim,
            jwt_classes_claim,
            public: public_access,
            public_workers,
            tls_cert,
            tls_key,
            log_format: _,
            bind,
            port,
            max_batch_mib,
            max_concurrent_batches,
            max_connections,
            header_timeout_secs,
            idle_timeout_secs,
            shutdown_deadline_secs,
            public_url,
            trusted_proxy,
            cors_origin,
            metrics_allow,
            crs_allow,
            reload_interval_secs,
            tile_cache_mib,
            tile_cache_control,
            web,
        } => {
            use std::time::Duration;
            if max_concurrent_batches == 0 || max_connections == 0 {
                bail!("--max-concurrent-batches and --max-connections must be at least 1");
            }
            if header_timeout_secs == 0 || idle_timeout_secs == 0 {
                bail!("--header-timeout-secs and --idle-timeout-secs must be at least 1");
            }
            let limits = Limits {
                max_batch_bytes: max_batch_mib << 20,
                max_concurrent_batches,
                crs_allow,
                metrics_allow,
                ..Limits::default()
            };
            let tls = match (&tls_cert, &tls_key) {
                (Some(cert), Some(key)) => Some(Arc::new(wangge::tls::Tls::new(cert, key)?)),
                _ => None,
            };
            let server = ServerConfig {
                max_connections,
                header_timeout: Duration::from_secs(header_timeout_secs),
                idle_timeout: Duration::from_secs(idle_timeout_secs),
                shutdown_deadline: Duration::from_secs(shutdown_deadline_secs),
                tls,
            };
            let public = PublicUrl {
                base: public_url
                    .as_deref()
                    .map(PublicUrl::parse_base)
                    .transpose()
                    .map_err(anyhow::Error::msg)?,
                trusted_proxies: trusted_proxy,
            };
            let cors = Cors::parse(&cors_origin).map_err(anyhow::Error::msg)?;
            let tiles = TileConfig {
                cache_bytes: tile_cache_mib << 20,
                cache_control: tile_cache_control,
            };
            if axum::http::HeaderValue::from_str(&tiles.cache_control).is_err() {
                bail!("--tile-cache-control must be a valid header value (printable ASCII)");
            }
            let policy = wangge::auth::Policy {
                public: wangge::auth::PublicAccess::parse(&public_access)
                    .context("--public must be all, grids or none")?,
                public_workers: wangge::query::Personal::parse(&public_workers)
                    .context("--public-workers must be withheld, masked or shown")?,
            };
            let rt = tokio::runtime::Runtime::new()?;
            let source = match data {
                Some(d) if d.is_dir() => {
                    if !policy.public_reads() {
                        bail!(
                            "--public none needs a store: a data directory has no API keys to sign in with (serve a store: wangge serve --store FILE.gpkg)"
                        );
                    }
                    ServeSource::Dir(d)
                }
                other => {
                    let text = match (&planners, std::env::var("WANGGE_PLANNERS")) {
                        (Some(file), _) => std::fs::read_to_string(file)
                            .with_context(|| format!("--planners {}", file.display()))?,
                        (None, Ok(v)) => v,
                        (None, Err(_)) => String::new(),
                    };
                    ServeSource::Store {
                        path: other.unwrap_or(store),
                        seed,
                        planners: wangge::http::Planners::parse(&text)
                            .map_err(|e| anyhow::anyhow!("planner tokens: {e}"))?,
                        jwt: jwks
                            .map(|source| {
                                Ok::<_, anyhow::Error>(Box::new(wangge::auth::JwtConfig {
                                    jwks: wangge::auth::JwksSource::parse(&source)
                                        .map_err(anyhow::Error::msg)?,
                                    issuer: jwt_issuer.unwrap_or_default(),
                                    audience: jwt_audience.unwrap_or_default(),
                                    role_claim: jwt_role_claim,
                                    worker_claim: jwt_worker_claim,
                                    classes_claim: jwt_classes_claim,
                                }))
                            })
                            .transpose()?,
                        jwks_refresh: Duration::from_secs(jwks_refresh_secs.max(1)),
                    }
                }
            };
            rt.block_on(serve(ServeOptions {
                source,
                bind,
                port,
                limits,
                tiles,
                web,
                server,
                public,
                cors,
                policy,
                reload_every: (reload_interval_secs > 0)
                    .then(|| Duration::from_secs(reload_interval_secs)),
            }))?;
        }
        Command::Export {
            what:
                ExportCommand::Data {
                    out,
                    store,
                    revision,
                    at,
                },
        } => {
            let store = wangge::store::GeoPackage::open(&store)?;
            let at = at
                .map(|t| {
                    wangge::store::Timestamp::parse(&t)
                        .map_err(|e| anyhow::anyhow!("--at {t}: {e}"))
                })
                .transpose()?;
            let view = wangge::edit::view_of(&store, revision, at)?;
            let version = wangge::edit::export_data_dir(&store, view, &out)?;
            eprintln!(
                "revision {} (valid at {}) written as version {version} of {}",
                view.revision,
                view.valid_at.to_rfc3339(),
                out.display()
            );
        }
        Command::Export {
            what:
                ExportCommand::Pmtiles {
                    out,
                    data,
                    minzoom,
                    maxzoom,
                    bbox,
                    sources,
                },
        } => {
            let options = ExportOptions {
                sources: Source::parse_list(&sources)?,
                minzoom,
                maxzoom,
                bbox: bbox.as_deref().map(parse_bbox).transpose()?,
            };
            export_pmtiles(&out, &data, &options)?;
        }
        Command::Tile {
            tile,
            list,
            out,
            sources,
            data,
        } => {
            let sources = Source::parse_list(&sources)?;
            let set = TileSet::new(Arc::new(open(&data)?));
            let t = std::time::Instant::now();
            set.index();
            eprintln!("tile indexes built in {:.2} s", t.elapsed().as_secs_f64());
            match (tile, list) {
                (Some(tile), _) => {
                    let id = parse_tile(&tile)?;
                    let (bytes, dropped) = tiles::render_counted(
                        &set,
                        &sources,
                        id,
                        &wangge::query::Scope::EVERYTHING,
                    );
                    if dropped.tiny_grids > 0 {
                        eprintln!(
                            "{} grid(s) smaller than a pixel at zoom {} left out",
                            dropped.tiny_grids, id.z
                        );
                    }
                    if bytes.is_empty() {
                        bail!(
                            "tile {tile} has no features (nothing written): the data's {} are drawn from zoom {} inside {}",
                            Source::list_id(&sources),
                            set.index().source_minzoom(),
                            tiles::data_bounds(set.snapshot())
                                .map(|b| format!(
                                    "{:.4},{:.4},{:.4},{:.4}",
                                    b.min().x,
                                    b.min().y,
                                    b.max().x,
                                    b.max().y
                                ))
                                .unwrap_or_else(|| "no area (the data is empty)".into())
                        );
                    }
                    match out {
                        Some(path) => std::fs::write(&path, &bytes)
                            .with_context(|| format!("cannot write {}", path.display()))?,
                        None => std::io::stdout().write_all(&bytes)?,
                    }
                }
                (None, Some(list)) => time_tiles(&set, &sources, &list)?,
                (None, None) => bail!("give a tile z/x/y or --list FILE"),
            }
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
            store,
            author,
            message,
            effective_at,
            allow_invalid,
        } => {
            let effective_at = effective_at
                .as_deref()
                .map(wangge::store::Timestamp::parse)
                .transpose()?;
            let (imported, has_errors) = run_import(&input)?;
            if has_errors && !allow_invalid {
                eprintln!(
                    "refused: nothing was written. Fix the errors above, or pass --allow-invalid to import the valid part."
                );
                return Ok(ExitCode::from(1));
            }
            let snap = imported.snapshot;
            let d = snap.data();
            if let Some(store) = store {
                let info = wangge::edit::import_into(&store, d, &author, &message, effective_at)?;
                eprintln!(
                    "recorded revision {} in {} ({} grid version(s), {} component change(s))",
                    info.revision,
                    store.display(),
                    info.grids_changed,
                    info.components_changed
                );
                return Ok(ExitCode::SUCCESS);
            }
            let manifest = datadir::manifest_for(d, "wangge import");
            let classes = &d.classes;
            let version = datadir::publish(
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
        Command::Token { command } => token(command)?,
        Command::Audit {
            store,
            limit,
            actor,
            action,
            target,
            outcome,
            since,
            until,
            json,
        } => {
            let filter = wangge::store::AuditFilter::newest(limit)
                .with(
                    actor.as_deref(),
                    action.as_deref(),
                    target.as_deref(),
                    outcome.as_deref(),
                    since.as_deref(),
                    until.as_deref(),
                )
                .map_err(|e| anyhow::anyhow!("--{e}"))?;
            let store = wangge::store::GeoPackage::open(&store)?;
            for e in wangge::store::Store::audit_log(&store, &filter)? {
                if json {
                    println!("{}", serde_json::to_string(&e)?);
                } else {
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                        e.at.to_rfc3339(),
                        e.actor,
                        e.action,
                        e.target,
                        e.outcome,
                        e.origin,
                        e.detail
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `wangge token ...`.
fn token(command: TokenCommand) -> anyhow::Result<()> {
    use wangge::auth::{Role, keys};
    use wangge::store::{GeoPackage, Store};
    match command {
        TokenCommand::Create {
            store,
            name,
            role,
            worker,
            classes,
        } => {
            let store = GeoPackage::open(&store)?;
            let role = Role::parse(&role).ok_or_else(|| {
                anyhow::anyhow!("--role {role}: one of viewer, worker, department, planner, admin")
            })?;
            let (record, key) = keys::create(
                &store,
                &keys::KeyRequest {
                    name,
                    role,
                    worker,
                    classes,
                },
            )?;
            eprintln!(
                "API key {} for {} ({}): shown only now, keep it safe",
                record.id, record.name, record.role
            );
            println!("{key}");
        }
        TokenCommand::Revoke { store, id } => {
            let store = GeoPackage::open(&store)?;
            let r = keys::revoke(&store, id)?;
            eprintln!(
                "API key {} of {} revoked at {}",
                r.id,
                r.name,
                r.revoked_at.map(|t| t.to_rfc3339()).unwrap_or_default()
            );
        }
        TokenCommand::List { store } => {
            let store = GeoPackage::open(&store)?;
            for k in store.api_keys()? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    k.id,
                    k.name,
                    k.role,
                    k.worker.unwrap_or_default(),
                    k.classes.join(","),
                    k.created_at.to_rfc3339(),
                    k.revoked_at.map_or("active".to_string(), |t| format!(
                        "revoked {}",
                        t.to_rfc3339()
                    ))
                );
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let json = matches!(&cli.command, Command::Serve { log_format, .. } if log_format == "json");
    // Colours only on a terminal: log files and journald get plain text.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
