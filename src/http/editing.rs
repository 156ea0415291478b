//! The server's side of the store of record: who may write (planner
//! tokens), the audit of every write and refused write, which snapshot a
//! time-travelling read gets, and the path from a new revision to the
//! snapshot readers see (built off the request threads, swapped in whole,
//! announced on the change feed).

use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::broadcast;

use super::access::Reader;
use super::{ApiError, AppState};
use crate::auth::{Authenticator, Principal, Role};
use crate::query::Selector;
use crate::snapshot::Snapshot;
use crate::store::{AuditEntry, Revision, RevisionInfo, Store, Timestamp, View};
use crate::tiles::tile_ranges;

/// How many past views' snapshots are kept for time-travelling reads.
const PAST_SNAPSHOTS: usize = 2;
/// Change events kept for subscribers that fall behind.
const FEED_CAPACITY: usize = 256;

/// Planner tokens given on the command line: each a planner's name and a
/// bearer token allowed to write (see [`crate::auth`] for the other kinds).
#[derive(Debug, Clone, Default)]
pub struct Planners(Vec<(String, String)>);

impl Planners {
    /// Parses `name:token` pairs separated by commas or new lines (blank
    /// lines and lines starting with `#` are skipped). A token must be at
    /// least 16 characters.
    pub fn parse(text: &str) -> Result<Planners, String> {
        let mut out = Vec::new();
        for item in text.split([',', '\n']) {
            let item = item.trim();
            if item.is_empty() || item.starts_with('#') {
                continue;
            }
            let (name, token) = item.split_once(':').ok_or_else(|| {
                "each planner is written name:token (for example li.ming:9f2c...)".to_string()
            })?;
            let (name, token) = (name.trim(), token.trim());
            if name.is_empty() || token.chars().count() < 16 {
                return Err(format!(
                    "planner '{name}': a name and a token of at least 16 characters are needed"
                ));
            }
            out.push((name.to_string(), token.to_string()));
        }
        Ok(Planners(out))
    }

    /// Whether no planner token is given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A new revision as the change feed announces it.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// The revision.
    pub revision: RevisionInfo,
    /// The grids it changed.
    pub grids: Vec<String>,
    /// Lon/lat box of what changed (before and after), when known: `None`
    /// when anything may have (components changed, a large import).
    pub bbox: Option<[f64; 4]>,
    /// Per zoom, the range of tiles to refresh: `[z, x_min, y_min, x_max,
    /// y_max]`; empty when `bbox` is `None` (refresh all).
    pub tiles: Vec<[u32; 5]>,
}

/// A view's identity for the snapshot cache: its revision and epoch.
type ViewKey = (Revision, Option<Timestamp>);

/// The store-backed part of the server state.
pub struct Editing {
    store: Arc<dyn Store>,
    auth: Authenticator,
    feed: broadcast::Sender<Change>,
    /// Snapshots of past views, most recently used last.
    past: Mutex<Vec<(ViewKey, Arc<Snapshot>)>>,
    /// Serialises rebuilds.
    building: tokio::sync::Mutex<()>,
    /// How many refusals of each client are audited one by one.
    refusals: super::refusals::Refusals,
}

impl std::fmt::Debug for Editing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Editing")
            .field("store", &self.store.location())
            .field("auth", &self.auth)
            .finish()
    }
}

impl Editing {
    /// Editing on `store`, writes allowed to `planners` and to the
    /// planners' and admins' API keys of the store.
    pub fn new(store: Arc<dyn Store>, planners: Planners) -> Editing {
        Editing::with_auth(store.clone(), planners, None)
    }

    /// Editing on `store` with JWTs of `jwt` accepted too.
    pub fn with_auth(
        store: Arc<dyn Store>,
        planners: Planners,
        jwt: Option<crate::auth::JwtVerifier>,
    ) -> Editing {
        Editing {
            auth: Authenticator::new(planners.0, Some(store.clone()), jwt),
            store,
            feed: broadcast::channel(FEED_CAPACITY).0,
            past: Mutex::new(Vec::new()),
            building: tokio::sync::Mutex::new(()),
            refusals: Default::default(),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Who may do what.
    pub fn auth(&self) -> &Authenticator {
        &self.auth
    }

    /// New revisions as they are served.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.feed.subscribe()
    }
}

/// The planner (or admin) making a request, from `Authorization:
/// Bearer`; a refusal is audited.
pub(crate) fn planner(
    state: &AppState,
    caller: &Reader,
    action: &str,
    target: &str,
) -> Result<Principal, ApiError> {
    require(
        state,
        caller,
        action,
        target,
        Role::may_edit,
        "change grids (a planner's or an admin's token)",
    )
}

/// The planner (or admin) reading a draft: drafts are plans not yet
/// decided, read only by those who make them; a refusal is audited.
pub(crate) fn draft_reader(
    state: &AppState,
    caller: &Reader,
    action: &str,
) -> Result<Principal, ApiError> {
    require(
        state,
        caller,
        action,
        "",
        Role::may_edit,
        "read drafts (a planner's or an admin's token)",
    )
}

/// The admin making a request; a refusal is audited.
pub(crate) fn admin(
    state: &AppState,
    caller: &Reader,
    action: &str,
    target: &str,
) -> Result<Principal, ApiError> {
    require(
        state,
        caller,
        action,
        target,
        Role::may_audit,
        "read the audit log (an admin's token)",
    )
}

/// The principal making a request whose role `may` do it (`what` says
/// what and who may): 401 without a token, 403 with another role's; every
/// refusal is audited. (A token that is not valid never gets here: the
/// edge refused it, see [`identify`].)
fn require(
    state: &AppState,
    caller: &Reader,
    action: &str,
    target: &str,
    may: fn(Role) -> bool,
    what: &str,
) -> Result<Principal, ApiError> {
    editing(state)?;
    let p = &caller.principal;
    if may(p.role) {
        return Ok(p.clone());
    }
    if p.role == Role::Public {
        let why = format!(
            "this needs a token to {what}: send Authorization: Bearer TOKEN (an API key from wangge token create, a JWT of the identity provider, or a planner token of --planners)"
        );
        audit(state, "anonymous", action, target, "refused", &why);
        return Err(ApiError::Unauthorized(why));
    }
    let why = format!("role {} may not {what}", p.role);
    audit(state, &p.audit_name(), action, target, "refused", &why);
    Err(ApiError::Forbidden(why))
}

/// Who sends each request, whatever the endpoint. On a store-backed
/// server a bearer token that is not valid is refused (401, audited: a
/// login failure), never answered as public; a valid one's principal goes
/// into the request's extensions. A request read as the public is refused
/// (401, audited) when the public policy allows no reads
/// (`--public none`) and the path is not one of the viewer's.
pub(crate) fn identify(
    state: &AppState,
    request: &mut axum::extract::Request,
) -> Result<(), ApiError> {
    let header = request.headers().get(axum::http::header::AUTHORIZATION);
    // A token is checked where there are keys to check it with (a store);
    // without one, or without a token, the request reads as the public,
    // under the public policy of every server.
    let (Some(header), Some(editing)) = (header, state.editing.as_ref()) else {
        if state.policy.public_reads() || super::access::open_path(request.uri().path()) {
            return Ok(());
        }
        let why = "this server answers only requests with a token (--public none): send Authorization: Bearer TOKEN (an API key from wangge token create or a JWT of the identity provider)";
        audit(state, "anonymous", &action_of(request), "", "refused", why);
        return Err(ApiError::Unauthorized(why.into()));
    };
    let checked = match header.to_str() {
        Ok(v) => editing.auth.authenticate(Some(v)),
        Err(_) => Err(crate::auth::AuthError::Malformed),
    };
    match checked {
        Ok(p) => {
            request.extensions_mut().insert(p);
            Ok(())
        }
        Err(e) => {
            audit(
                state,
                "anonymous",
                &action_of(request),
                "",
                "refused",
                &e.to_string(),
            );
            Err(refusal(e))
        }
    }
}

/// How the audit log names a request's action: method and path.
fn action_of(request: &axum::extract::Request) -> String {
    format!("{} {}", request.method(), request.uri().path())
}

/// The answer to a token that was not accepted: 401, or a server error
/// when the store could not be asked.
fn refusal(e: crate::auth::AuthError) -> ApiError {
    match e {
        crate::auth::AuthError::Unavailable(m) => ApiError::Internal(m),
        other => ApiError::Unauthorized(other.to_string()),
    }
}

/// The store-backed state, or why there is none.
pub(crate) fn editing(state: &AppState) -> Result<&Arc<Editing>, ApiError> {
    state.editing.as_ref().ok_or_else(|| {
        ApiError::bad(
            "no_store",
            "this server serves a read-only data directory: editing, revisions and time travel need a store (wangge serve --store FILE.gpkg)",
        )
    })
}

/// Appends to the audit log; a failure to write it is logged (the write it
/// describes already happened or was refused).
pub(crate) fn audit(
    state: &AppState,
    actor: &str,
    action: &str,
    target: &str,
    outcome: &str,
    detail: &str,
) {
    let Some(editing) = state.editing.as_ref() else {
        return;
    };
    let origin = super::edge::current_client().unwrap_or_default();
    let write = |entry: AuditEntry| {
        if let Err(e) = editing.store.audit(&entry) {
            tracing::error!("cannot write the audit log: {e}");
        }
    };
    if outcome == "refused" {
        let admit = editing.refusals.admit(&origin, std::time::Instant::now());
        if admit.counted_before > 0 {
            write(AuditEntry {
                at: Timestamp::now(),
                actor: "anonymous".into(),
                action: "refusals".into(),
                target: String::new(),
                outcome: "refused".into(),
                origin: origin.clone(),
                detail: format!(
                    "{} more refused requests from this address in its last minute, counted but not written one by one (over {} a minute)",
                    admit.counted_before,
                    super::refusals::PER_MINUTE
                ),
            });
        }
        if !admit.write {
            return;
        }
    }
    write(AuditEntry {
        at: Timestamp::now(),
        actor: actor.into(),
        action: action.into(),
        target: target.into(),
        outcome: outcome.into(),
        origin,
        detail: detail.chars().take(2000).collect(),
    });
}

/// Audits the outcome of a write: `ok` with `detail` of the result, or
/// `refused` with the error.
pub(crate) fn audited<T>(
    state: &AppState,
    who: &str,
    action: &str,
    target: &str,
    result: &Result<T, ApiError>,
    detail: impl FnOnce(&T) -> String,
) {
    match result {
        Ok(v) => audit(state, who, action, target, "ok", &detail(v)),
        Err(e) => audit(state, who, action, target, "refused", &e.to_string()),
    }
}

/// Runs blocking store work off the request threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("store task failed: {e}")))?
}

/// The snapshot a read asks for (see [`Selector`]): the current one, or a
/// past view's, built on first use and kept for the next reads.
pub(crate) async fn snapshot_for(
    state: &AppState,
    selector: Selector,
) -> Result<Arc<Snapshot>, ApiError> {
    if selector.is_current() {
        return Ok(state.snapshot());
    }
    let editing = editing(state)?.clone();
    let current = state.snapshot();
    let store = editing.store.clone();
    let (view, epoch) = blocking(move || {
        let view = crate::edit::view_of(store.as_ref(), selector.revision, selector.at)?;
        let epoch = store.epoch(view)?;
        Ok((view, epoch))
    })
    .await?;
    if view.revision == current.revision() && epoch == current.epoch() {
        return Ok(current);
    }
    let key = (view.revision, epoch);
    {
        let mut past = editing.past.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = past.iter().position(|(k, _)| *k == key) {
            let hit = past.remove(i);
            let snap = hit.1.clone();
            past.push(hit);
            return Ok(snap);
        }
    }
    let store = editing.store.clone();
    let snap = Arc::new(blocking(move || Ok(Snapshot::from_store(store.as_ref(), view)?)).await?);
    let mut past = editing.past.lock().unwrap_or_else(|e| e.into_inner());
    past.push((key, snap.clone()));
    if past.len() > PAST_SNAPSHOTS {
        past.remove(0);
    }
    Ok(snap)
}

/// Keeps the served snapshot on the store's newest revision and on the
/// present time: rebuilds when another process (such as `wangge import`)
/// records a revision (polled every `every`; this server's own publishes
/// are served before they are answered) and when a version that was recorded with a future effective time
/// becomes valid. Each new snapshot is built off the request threads and
/// swapped in whole; the change feed announces it. Runs until dropped.
pub async fn refresher(state: AppState, every: std::time::Duration) {
    let Some(editing) = state.editing.clone() else {
        return;
    };
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = refresh(&state, &editing).await {
            tracing::warn!("cannot serve the newest revision: {e}; still serving the previous one");
        }
    }
}

/// One refresh: rebuild if the newest revision or the epoch moved.
async fn refresh(state: &AppState, editing: &Arc<Editing>) -> Result<(), ApiError> {
    let _one = editing.building.lock().await;
    let current = state.snapshot();
    let store = editing.store.clone();
    let check = blocking(move || {
        let Some(head) = store.head()? else {
            return Ok(None);
        };
        let view = View {
            revision: head.revision,
            valid_at: Timestamp::now(),
        };
        Ok(Some((head, view, store.epoch(view)?)))
    })
    .await?;
    let Some((head, view, epoch)) = check else {
        return Ok(());
    };
    let served_epoch = current.epoch();
    if head.revision == current.revision() && epoch == served_epoch {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let store = editing.store.clone();
    let from = current.revision();
    let served = current.clone();
    let (next, codes) = blocking(move || {
        let next = served.next(store.as_ref(), view, epoch)?;
        let codes = match &next.revised {
            Some(codes) => codes.clone(),
            None if view.revision > from => {
                let mut codes: Vec<String> = store
                    .changes(from, view.revision)?
                    .into_iter()
                    .map(|v| v.code)
                    .collect();
                codes.sort();
                codes.dedup();
                codes
            }
            None => Vec::new(),
        };
        Ok((next, codes))
    })
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    let snap = next.snapshot;
    let bbox = changed_box(&current, &snap, &codes);
    tracing::info!(
        revision = head.revision,
        grids = snap.data().grids.len(),
        components = snap.data().components.len(),
        seconds,
        "revision {} served",
        head.revision
    );
    // A revised snapshot differs only where the grids that may differ are
    // (before or after); one loaded whole may differ anywhere.
    let changed_tiles = next
        .revised
        .as_ref()
        .map(|_| bbox.map(tile_ranges).unwrap_or_default());
    state.publish_changed(snap, seconds, changed_tiles);
    let warm = state.clone();
    tokio::task::spawn_blocking(move || warm.warm());
    if head.revision > from {
        let _ = editing.feed.send(Change {
            tiles: bbox.map(tile_ranges).unwrap_or_default(),
            revision: head,
            grids: codes,
            bbox,
        });
    }
    Ok(())
}

/// The lon/lat box of the grids `codes` in either snapshot.
fn changed_box(before: &Snapshot, after: &Snapshot, codes: &[String]) -> Option<[f64; 4]> {
    use geo::BoundingRect;
    codes
        .iter()
        .flat_map(|c| [before.grid_by_code(c), after.grid_by_code(c)])
        .flatten()
        .filter_map(|g| g.geometry.bounding_rect())
        .reduce(crate::index::merge_rects)
        .map(|r| [r.min().x, r.min().y, r.max().x, r.max().y])
}

/// After a write the client waited for: make the new revision the served
/// one before answering (so that a planner's next read sees it).
pub(crate) async fn serve_now(state: &AppState) -> Result<(), ApiError> {
    let editing = editing(state)?.clone();
    refresh(state, &editing).await
}

/// Answers a write that records a revision (a publish, a revert): audits
/// it, serves the new revision before answering (so that the planner's next
/// read sees it) and answers 201 with it; a refusal is audited and returned.
pub(crate) async fn revision_made(
    state: &AppState,
    who: &str,
    action: &str,
    target: &str,
    result: Result<RevisionInfo, ApiError>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    match result {
        Ok(info) => {
            audit(
                state,
                who,
                action,
                target,
                "ok",
                &format!("revision {}", info.revision),
            );
            serve_now(state).await?;
            Ok((
                axum::http::StatusCode::CREATED,
                axum::Json(serde_json::to_value(&info).unwrap_or_default()),
            )
                .into_response())
        }
        Err(e) => {
            audit(state, who, action, target, "refused", &e.to_string());
            Err(e)
        }
    }
}
