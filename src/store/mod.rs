//! The store of record: every grid version, revision, draft and audit entry,
//! written in transactions before anything is acknowledged.
//!
//! [`Store`] is the interface; [`GeoPackage`] is the embedded implementation
//! (one SQLite file in GeoPackage form that QGIS and GDAL open, showing the
//! grids valid now, one layer per level). A PostgreSQL/PostGIS store
//! implements the same trait; nothing above this module knows which one it
//! talks to. The in-memory [`Snapshot`](crate::snapshot::Snapshot) is derived
//! from what [`Store::load`] returns.
//!
//! # Two time axes
//!
//! Each grid version carries the time it is *valid* from in the city
//! (`valid_from`, the effective time a planner chose, possibly in the future)
//! and the *revision* that recorded it (revisions are numbered 1, 2, 3... in
//! recording order, each with its `recorded_at`). A version is valid until
//! the next version of the same code becomes valid; a retirement is a version
//! with no geometry. The city "as recorded in revision R, valid at time T" —
//! a [`View`] — holds, for each code, the version with the greatest
//! (`valid_from`, revision) among those recorded in revisions ≤ R with
//! `valid_from` ≤ T, unless that version is a retirement. A revision stores
//! only the grids it changes.

mod geom;
mod gpkg;
mod time;

use serde::Serialize;

use crate::codes::{ClassTable, ComponentScheme, GridScheme};
use crate::model::{ComponentRecord, Dataset, Grid};
pub use gpkg::GeoPackage;
pub use time::{Timestamp, TimestampError};

/// A store-issued revision number (1, 2, 3... in recording order).
pub type Revision = u64;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed (I/O, corruption, a full disk).
    #[error("store {path}: {message}")]
    Database {
        /// The store's location.
        path: String,
        /// What the database said.
        message: String,
    },
    /// The file is not a wangge store.
    #[error("{path} is not a wangge store: {message}")]
    NotAStore {
        /// The file.
        path: String,
        /// Why not.
        message: String,
    },
    /// A revision, draft or grid that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The change was made against an older state than the store holds now.
    #[error("{0}")]
    Conflict(String),
    /// A draft feature was edited since the client read it.
    #[error(
        "grid {code} of draft {draft} changed since you read it (its ETag is now {current}): read it again and redo your edit"
    )]
    Stale {
        /// Draft id.
        draft: u64,
        /// Grid code.
        code: String,
        /// The ETag it has now.
        current: String,
    },
    /// The store's contents are unreadable (a geometry blob, a JSON column).
    #[error("store {path}: {message}")]
    Corrupt {
        /// The store's location.
        path: String,
        /// What could not be read.
        message: String,
    },
}

/// Result alias of the store.
pub type Result<T> = std::result::Result<T, StoreError>;

/// What does not change between revisions: the code schemes and the class table.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Grid levels.
    pub scheme: GridScheme,
    /// Component code structure.
    pub component_scheme: ComponentScheme,
    /// Component classes.
    pub classes: ClassTable,
}

/// One recorded revision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RevisionInfo {
    /// Its number.
    pub revision: Revision,
    /// The revision it was made on (none for the first).
    pub parent: Option<Revision>,
    /// Who made it (a planner's name, or `import`).
    pub author: String,
    /// Why.
    pub message: String,
    /// When it was recorded (UTC).
    pub recorded_at: Timestamp,
    /// When its grid versions become valid in the city.
    pub effective_at: Timestamp,
    /// `import`, `publish` or `revert`.
    pub kind: String,
    /// The draft it published, if any.
    pub draft: Option<u64>,
    /// Grid versions it recorded (changed, added or retired grids).
    pub grids_changed: u64,
    /// Components added, changed or removed.
    pub components_changed: u64,
}

/// A city as recorded in a revision and valid at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct View {
    /// Grid versions recorded in revisions up to this one count.
    pub revision: Revision,
    /// The time in the city.
    pub valid_at: Timestamp,
}

/// How the grids valid in one view differ from those of an earlier view:
/// what a served snapshot needs to become the next one
/// ([`Snapshot::revise`](crate::snapshot::Snapshot::revise)).
#[derive(Debug, Clone, Default)]
pub struct GridEdits {
    /// Grids added or changed (their versions now valid).
    pub put: Vec<Grid>,
    /// Codes of grids no longer valid.
    pub gone: Vec<String>,
}

/// Most grids [`Store::edits_since`] hands out one by one; beyond it a
/// whole load is cheaper.
pub const MAX_EDITS: usize = 2000;

/// A change to one grid in a commit or a draft.
#[derive(Debug, Clone, PartialEq)]
pub enum GridChange {
    /// The grid (new or with a new geometry, name or worker).
    Put(Grid),
    /// The grid with this code is retired.
    Retire {
        /// Grid code.
        code: String,
        /// Its level.
        level: usize,
    },
}

impl GridChange {
    /// The grid code changed.
    pub fn code(&self) -> &str {
        match self {
            GridChange::Put(g) => &g.code,
            GridChange::Retire { code, .. } => code,
        }
    }
}

/// What a commit does to the components.
#[derive(Debug, Clone)]
pub enum ComponentChange {
    /// Leave them as they are.
    Keep,
    /// Replace the whole set with this one (an import): the store records
    /// only the components that were added, changed or removed.
    Replace(Vec<ComponentRecord>),
}

/// One revision to record.
#[derive(Debug, Clone)]
pub struct Commit {
    /// Who.
    pub author: String,
    /// Why.
    pub message: String,
    /// When the grid versions become valid (`None`: when recorded).
    pub effective_at: Option<Timestamp>,
    /// `import`, `publish` or `revert`.
    pub kind: &'static str,
    /// The revision the change was made on: a grid changed by a revision
    /// after it is a conflict. `None`: the head, whatever it is (an import).
    pub base: Option<Revision>,
    /// Grid changes (at most one per code).
    pub grids: Vec<GridChange>,
    /// Component changes.
    pub components: ComponentChange,
    /// The draft published, if any (closed in the same transaction).
    pub draft: Option<u64>,
}

/// One version of one grid, as its history lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GridVersion {
    /// Grid code.
    pub code: String,
    /// Level index.
    pub level: usize,
    /// The revision that recorded it.
    pub revision: Revision,
    /// Valid in the city from.
    pub valid_from: Timestamp,
    /// Valid until (the next version's `valid_from`), as recorded now.
    pub valid_to: Option<Timestamp>,
    /// Whether this version retires the grid.
    pub retired: bool,
    /// Name.
    pub name: String,
    /// Worker.
    pub worker: Option<String>,
    /// Area in m² (on the sphere); 0 for a retirement.
    pub area_m2: f64,
    /// Author of the revision.
    pub author: String,
    /// Message of the revision.
    pub message: String,
    /// When it was recorded.
    pub recorded_at: Timestamp,
}

/// A draft: proposed changes on top of a revision, not yet published.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DraftInfo {
    /// Its id.
    pub id: u64,
    /// The revision it starts from.
    pub base: Revision,
    /// The parent grid it is limited to, if any (its grids and their descendants).
    pub scope: Option<String>,
    /// Title.
    pub title: String,
    /// Who opened it.
    pub author: String,
    /// When.
    pub created_at: Timestamp,
    /// `open`, `published` or `discarded`.
    pub state: String,
    /// The revision it was published as.
    pub published: Option<Revision>,
}

/// A grid changed in a draft, with its ETag for optimistic locking.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftGrid {
    /// The change.
    pub change: GridChange,
    /// Opaque version tag; changes with every edit.
    pub etag: String,
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// When (UTC).
    pub at: Timestamp,
    /// Who (the token's name), or `anonymous`.
    pub actor: String,
    /// What: the method and path, or the command.
    pub action: String,
    /// The object (draft id, grid code, revision).
    pub target: String,
    /// `ok` or `refused`.
    pub outcome: String,
    /// Where from (the client address), when known.
    pub origin: String,
    /// Details: the revision made, or why it was refused.
    pub detail: String,
}

/// Which audit entries to read, newest first: those that meet every
/// condition given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFilter {
    /// The actor contains this: a name, a token id (`key:3`, `jwt:u-42`)
    /// or a role (`worker`).
    pub actor: Option<String>,
    /// The action contains this (`POST /drafts`, `/publish`, `GET /metrics`).
    pub action: Option<String>,
    /// The target contains this (a grid code, `draft 4`, `revision 7`).
    pub target: Option<String>,
    /// The outcome is this: `ok` or `refused`.
    pub outcome: Option<String>,
    /// At or after this time.
    pub since: Option<Timestamp>,
    /// Before this time.
    pub until: Option<Timestamp>,
    /// Most entries.
    pub limit: usize,
}

impl AuditFilter {
    /// The newest `limit` entries, whatever they are.
    pub fn newest(limit: usize) -> AuditFilter {
        AuditFilter {
            actor: None,
            action: None,
            target: None,
            outcome: None,
            since: None,
            until: None,
            limit,
        }
    }

    /// This filter with the conditions as written in the API's parameters
    /// and the command line's options: parts of actor, action and target;
    /// the outcome `ok` or `refused`; times in RFC 3339. The error names
    /// the condition.
    pub fn with(
        mut self,
        actor: Option<&str>,
        action: Option<&str>,
        target: Option<&str>,
        outcome: Option<&str>,
        since: Option<&str>,
        until: Option<&str>,
    ) -> std::result::Result<AuditFilter, String> {
        let part = |v: Option<&str>| {
            v.map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        self.actor = part(actor);
        self.action = part(action);
        self.target = part(target);
        self.outcome = match outcome.map(str::trim) {
            None | Some("") => None,
            Some(o @ ("ok" | "refused")) => Some(o.to_string()),
            Some(o) => return Err(format!("outcome '{o}' must be ok or refused")),
        };
        let time = |name: &str, v: Option<&str>| {
            v.map(|t| Timestamp::parse(t).map_err(|e| format!("{name}: {e}")))
                .transpose()
        };
        self.since = time("since", since)?;
        self.until = time("until", until)?;
        Ok(self)
    }
}

/// An API key as the store keeps it: never the key itself, only an
/// argon2 hash of its secret (see [`crate::auth::keys`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyRecord {
    /// The key's number (in the key: `wg_<id>_...`).
    pub id: u64,
    /// Who or what holds it.
    pub name: String,
    /// Its role's name.
    pub role: String,
    /// A worker's id.
    pub worker: Option<String>,
    /// A department's classes.
    pub classes: Vec<String>,
    /// The PHC string of the secret's hash.
    #[serde(skip)]
    pub hash: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

/// A key to record.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// Who or what holds it.
    pub name: String,
    /// Its role's name.
    pub role: String,
    /// A worker's id.
    pub worker: Option<String>,
    /// A department's classes.
    pub classes: Vec<String>,
    /// The PHC string of the secret's hash.
    pub hash: String,
}

/// The store of record. Every method is one transaction; a method that
/// returns `Ok` has made its write durable.
pub trait Store: Send + Sync {
    /// Where the store is (a path or a connection string without secrets).
    fn location(&self) -> String;

    /// The schemes and class table.
    fn setup(&self) -> Result<Setup>;

    /// The newest revision, if any.
    fn head(&self) -> Result<Option<RevisionInfo>>;

    /// One revision.
    fn revision(&self, revision: Revision) -> Result<RevisionInfo>;

    /// Revisions, newest first, at most `limit`.
    fn revisions(&self, limit: usize) -> Result<Vec<RevisionInfo>>;

    /// The newest `valid_from` at or before the view's time among the
    /// versions recorded up to its revision: two views of one revision with
    /// the same epoch hold the same grids.
    fn epoch(&self, view: View) -> Result<Option<Timestamp>>;

    /// The city of a view, with its components as of the view's revision.
    fn load(&self, view: View) -> Result<Dataset>;

    /// How the grids valid in `view` differ from those of an earlier view
    /// of `revision` whose epoch was `epoch` (`view.valid_at` no earlier
    /// than that view's time): every grid whose valid version may differ,
    /// put or gone. `None` when components changed in between or more than
    /// [`MAX_EDITS`] grids may differ: then load the view whole.
    fn edits_since(
        &self,
        revision: Revision,
        epoch: Option<Timestamp>,
        view: View,
    ) -> Result<Option<GridEdits>>;

    /// The grids valid in a view, without the components (cheap: for
    /// drafts, validation and impact).
    fn grids(&self, view: View) -> Result<Vec<Grid>>;

    /// One grid valid in a view, if it exists there.
    fn grid(&self, view: View, code: &str) -> Result<Option<Grid>>;

    /// Records a revision. Refused with [`StoreError::Conflict`] when
    /// `commit.base` is older than the head and a grid it changes was
    /// changed after the base.
    fn commit(&self, commit: Commit) -> Result<RevisionInfo>;

    /// Every version of one grid, oldest first.
    fn history(&self, code: &str) -> Result<Vec<GridVersion>>;

    /// The grid versions recorded by revisions in `(from, to]`.
    fn changes(&self, from: Revision, to: Revision) -> Result<Vec<GridVersion>>;

    /// Opens a draft on `base`.
    fn create_draft(
        &self,
        base: Revision,
        scope: Option<&str>,
        title: &str,
        author: &str,
    ) -> Result<DraftInfo>;

    /// One draft.
    fn draft(&self, id: u64) -> Result<DraftInfo>;

    /// Drafts, newest first.
    fn drafts(&self) -> Result<Vec<DraftInfo>>;

    /// The grids a draft changes, in code order.
    fn draft_grids(&self, id: u64) -> Result<Vec<DraftGrid>>;

    /// Puts changes into an open draft; each with the ETag the client read
    /// (`Some("")` or `None` when it expects none / does not check). Returns
    /// the new ETags. All or nothing.
    fn put_draft_grids(
        &self,
        id: u64,
        changes: &[(GridChange, Option<String>)],
    ) -> Result<Vec<String>>;

    /// Drops a grid's change from a draft (the grid is as in the base again).
    fn drop_draft_grid(&self, id: u64, code: &str, if_match: Option<&str>) -> Result<()>;

    /// Closes a draft without publishing it.
    fn discard_draft(&self, id: u64) -> Result<()>;

    /// Records a new API key; its id is the store's.
    fn create_api_key(&self, key: NewApiKey) -> Result<ApiKeyRecord>;

    /// One API key, revoked or not.
    fn api_key(&self, id: u64) -> Result<Option<ApiKeyRecord>>;

    /// Every API key, oldest first.
    fn api_keys(&self) -> Result<Vec<ApiKeyRecord>>;

    /// Marks key `id` revoked at `at` (a key revoked before keeps its time).
    fn revoke_api_key(&self, id: u64, at: Timestamp) -> Result<ApiKeyRecord>;

    /// Appends to the audit log.
    fn audit(&self, entry: &AuditEntry) -> Result<()>;

    /// The audit log, newest first, at most `limit`.
    fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>>;
}
