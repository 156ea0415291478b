//! Changing the city: imports as revisions, drafts, their validation and
//! impact, publishing and reverting. Everything here goes through a
//! [`Store`]; nothing knows which store it is.

mod impact;
pub mod operations;
pub mod upload;
mod validate;

use std::collections::{BTreeMap, HashMap};

use crate::model::{ComponentRecord, Dataset, Grid};
use crate::store::{
    Commit, ComponentChange, DraftGrid, DraftInfo, GridChange, Revision, RevisionInfo, Setup,
    Store, StoreError, Timestamp, View,
};
use crate::validate::Problem;
pub use impact::{GridImpact, Impact, impact};
pub use validate::{DEFAULT_TOLERANCE_M2, validate_changes};

/// Errors of editing.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The draft breaks the rules of grid management.
    #[error(
        "the draft has {} error(s) and cannot be published: {}. Fix them in the draft (GET /drafts/{{id}}/validation lists each with its geometry) and publish again",
        .0.len(),
        .0.iter().take(3).map(|p| p.message.as_str()).collect::<Vec<_>>().join("; ")
    )]
    Invalid(Vec<Problem>),
    /// The change cannot be made as asked.
    #[error("{0}")]
    Refused(String),
    /// A data directory could not be written.
    #[error(transparent)]
    DataDir(#[from] crate::datadir::DataDirError),
}

/// Result alias of editing.
pub type Result<T> = std::result::Result<T, EditError>;

/// The city's setup from a dataset.
pub fn setup_of(data: &Dataset) -> Setup {
    Setup {
        scheme: data.scheme.clone(),
        component_scheme: data.component_scheme,
        classes: data.classes.clone(),
    }
}

/// The changes that turn the grids `old` into `new` (by code): new and
/// changed grids are put, grids missing from `new` are retired. In code order.
pub fn diff_grids(old: &[Grid], new: &[Grid]) -> Vec<GridChange> {
    let old: BTreeMap<&str, &Grid> = old.iter().map(|g| (g.code.as_str(), g)).collect();
    let new_map: BTreeMap<&str, &Grid> = new.iter().map(|g| (g.code.as_str(), g)).collect();
    let mut out = Vec::new();
    for (code, g) in &new_map {
        if old.get(code) != Some(g) {
            out.push(GridChange::Put((*g).clone()));
        }
    }
    for (code, g) in &old {
        if !new_map.contains_key(code) {
            out.push(GridChange::Retire {
                code: code.to_string(),
                level: g.level,
            });
        }
    }
    out.sort_by(|a, b| a.code().cmp(b.code()));
    out
}

/// The current view of a store: its newest revision, valid now.
pub fn head_view(store: &dyn Store) -> Result<View> {
    let head = store.head()?.ok_or_else(|| {
        EditError::Refused("the store has no revision yet: import a city first".into())
    })?;
    Ok(View {
        revision: head.revision,
        valid_at: Timestamp::now(),
    })
}

/// The view a read asks for (time travel): the city as `revision`
/// recorded it (default: the newest) and valid at `at` (default: the
/// revision's effective time when one is named, else now). A revision
/// after the newest is not found.
pub fn view_of(
    store: &dyn Store,
    revision: Option<crate::store::Revision>,
    at: Option<Timestamp>,
) -> Result<View> {
    let head = store
        .head()?
        .ok_or_else(|| StoreError::NotFound("the store has no revision yet".into()))?;
    let named = revision.unwrap_or(head.revision);
    if named > head.revision {
        return Err(StoreError::NotFound(format!(
            "no revision {named}: the newest is {}",
            head.revision
        ))
        .into());
    }
    let valid_at = match (at, revision) {
        (Some(t), _) => t,
        (None, Some(r)) => store.revision(r)?.effective_at,
        (None, None) => Timestamp::now(),
    };
    Ok(View {
        revision: named,
        valid_at,
    })
}

/// Records an imported city as a new revision: only the grids and
/// components that differ from the current ones are stored (a city with no
/// components keeps the store's). The schemes must be the store's.
pub fn import(
    store: &dyn Store,
    data: &Dataset,
    author: &str,
    message: &str,
    effective_at: Option<Timestamp>,
) -> Result<RevisionInfo> {
    let setup = store.setup()?;
    if setup.scheme != data.scheme || setup.component_scheme != data.component_scheme {
        return Err(EditError::Refused(
            "the imported city has other grid levels or component codes than the store: import it into a new store (--store NEW.gpkg)".into(),
        ));
    }
    let old = match store.head()? {
        Some(h) => store.grids(View {
            revision: h.revision,
            // The city the imported one replaces: as it stands when it takes effect.
            valid_at: effective_at.unwrap_or_else(Timestamp::now),
        })?,
        None => Vec::new(),
    };
    let components: Vec<ComponentRecord> = data
        .components
        .iter()
        .map(|c| c.record(&data.classes))
        .collect();
    Ok(store.commit(Commit {
        author: author.into(),
        message: message.into(),
        effective_at,
        kind: "import",
        base: None,
        grids: diff_grids(&old, &data.grids),
        // An import of grids alone keeps the components the store has.
        components: if components.is_empty() {
            ComponentChange::Keep
        } else {
            ComponentChange::Replace(components)
        },
        draft: None,
    })?)
}

/// The city as planned in `revision`: valid now, or, when versions
/// recorded up to it take effect later, once the last of them has. A draft
/// edits this city, so that a change scheduled for next month can be
/// edited further before it takes effect.
pub fn planned(store: &dyn Store, revision: Revision) -> Result<View> {
    let latest = store.epoch(View {
        revision,
        valid_at: Timestamp::MAX,
    })?;
    Ok(View {
        revision,
        valid_at: latest.map_or(Timestamp::now(), |t| t.max(Timestamp::now())),
    })
}

/// Most grids of a revision whose areas [`revision_box`] looks up one by
/// one; a larger revision (an import) is said to change everything.
pub const MAX_BOX_GRIDS: usize = 256;

/// The lon/lat box `[west, south, east, north]` (degrees) of what a
/// revision changed: each grid version it recorded and the version it
/// replaced, at the new version's effective time. `None` when it changed
/// components, more than [`MAX_BOX_GRIDS`] grids, or nothing with an area.
pub fn revision_box(
    store: &dyn Store,
    info: &crate::store::RevisionInfo,
    versions: &[crate::store::GridVersion],
) -> Result<Option<[f64; 4]>> {
    use geo::BoundingRect;
    if info.components_changed > 0 || versions.len() > MAX_BOX_GRIDS {
        return Ok(None);
    }
    let parent = info.parent.unwrap_or(0);
    let mut rect: Option<geo::Rect<f64>> = None;
    for v in versions {
        let at = |revision| View {
            revision,
            valid_at: v.valid_from,
        };
        let after = store.grid(at(info.revision), &v.code)?;
        let before = if parent > 0 {
            store.grid(at(parent), &v.code)?
        } else {
            None
        };
        for g in after.iter().chain(before.iter()) {
            if let Some(r) = g.geometry.bounding_rect() {
                rect = Some(rect.map_or(r, |a| crate::index::merge_rects(a, r)));
            }
        }
    }
    Ok(rect.map(|r| [r.min().x, r.min().y, r.max().x, r.max().y]))
}

/// A draft with the grids of its base and its own changes.
#[derive(Debug, Clone)]
pub struct DraftState {
    /// The draft.
    pub info: DraftInfo,
    /// The grids of the base revision as planned (see [`planned`]).
    pub base: Vec<Grid>,
    /// The draft's changes, in code order.
    pub changes: Vec<DraftGrid>,
}

impl DraftState {
    /// Reads a draft.
    pub fn read(store: &dyn Store, id: u64) -> Result<DraftState> {
        let info = store.draft(id)?;
        let base = store.grids(planned(store, info.base)?)?;
        let changes = store.draft_grids(id)?;
        Ok(DraftState {
            info,
            base,
            changes,
        })
    }

    /// The grids as the draft would make them (base with changes applied).
    pub fn proposed(&self) -> Vec<Grid> {
        let mut by_code: BTreeMap<&str, &Grid> =
            self.base.iter().map(|g| (g.code.as_str(), g)).collect();
        for c in &self.changes {
            match &c.change {
                GridChange::Put(g) => {
                    by_code.insert(&g.code, g);
                }
                GridChange::Retire { code, .. } => {
                    by_code.remove(code.as_str());
                }
            }
        }
        by_code.into_values().cloned().collect()
    }

    /// The problems the draft's changes make, checked on what changed and
    /// its neighbours.
    pub fn validate(&self, setup: &Setup) -> Vec<Problem> {
        validate_changes(setup, &self.base, &self.changes, DEFAULT_TOLERANCE_M2)
    }
}

/// The ETag of a grid a draft has not changed: its base revision's.
pub fn base_etag(base: Revision, code: &str) -> String {
    format!("\"{code}-r{base}\"")
}

/// Puts changes into a draft, each checked against the ETag the client
/// holds (`If-Match`; the base's ETag for a grid the draft has not changed
/// yet). Returns the new ETags.
pub fn edit_draft(
    store: &dyn Store,
    id: u64,
    changes: Vec<(GridChange, Option<String>)>,
) -> Result<Vec<String>> {
    let info = store.draft(id)?;
    let in_draft = store.draft_grids(id)?;
    let setup = store.setup()?;
    let mut checked = Vec::with_capacity(changes.len());
    for (change, if_match) in changes {
        check_scope(&info, change.code())?;
        if let GridChange::Put(g) = &change {
            let level = setup
                .scheme
                .level_of(&g.code)
                .map_err(|e| EditError::Refused(format!("grid {}: {e}", g.code)))?;
            if level != g.level {
                return Err(EditError::Refused(format!(
                    "grid {} has a code of level {} but was sent for level {}",
                    g.code, setup.scheme.levels[level].name, setup.scheme.levels[g.level].name
                )));
            }
        }
        let code = change.code().to_string();
        let changed = in_draft.iter().any(|c| c.change.code() == code);
        let store_match = match (&if_match, changed) {
            // Not yet changed in the draft: the client's tag must be the base's.
            (Some(tag), false) => {
                let current = grid_in(store, &info, &in_draft, &code)?.map(|(_, tag)| tag);
                if tag != "*" && current.as_deref() != Some(tag.as_str()) {
                    return Err(StoreError::Stale {
                        draft: id,
                        code,
                        current: current.unwrap_or_else(|| "none: no such grid".into()),
                    }
                    .into());
                }
                None
            }
            (tag, _) => tag.clone(),
        };
        checked.push((change, store_match));
    }
    Ok(store.put_draft_grids(id, &checked)?)
}

/// A grid as draft `id` has it, with the ETag a client holds for it now:
/// the draft's own change, or else the base's grid (as planned) with the
/// base's ETag. `None`: the draft retires it, or there is no such grid.
pub fn draft_grid(store: &dyn Store, id: u64, code: &str) -> Result<Option<(Grid, String)>> {
    let info = store.draft(id)?;
    grid_in(store, &info, &store.draft_grids(id)?, code)
}

/// [`draft_grid`] with the draft and its changes read.
fn grid_in(
    store: &dyn Store,
    info: &DraftInfo,
    changes: &[DraftGrid],
    code: &str,
) -> Result<Option<(Grid, String)>> {
    if let Some(c) = changes.iter().find(|c| c.change.code() == code) {
        return Ok(match &c.change {
            GridChange::Put(g) => Some((g.clone(), c.etag.clone())),
            GridChange::Retire { .. } => None,
        });
    }
    Ok(store
        .grid(planned(store, info.base)?, code)?
        .map(|g| (g, base_etag(info.base, code))))
}

/// Refuses a code outside a scoped draft.
fn check_scope(info: &DraftInfo, code: &str) -> Result<()> {
    match &info.scope {
        Some(scope) if !code.starts_with(scope.as_str()) || code == scope => {
            Err(EditError::Refused(format!(
                "draft {} is limited to the grids inside {scope}; {code} is not one of them: open a draft of the whole city to change it",
                info.id
            )))
        }
        _ => Ok(()),
    }
}

/// Publishes a draft as a new revision, effective at `effective_at` (now
/// when `None`). Refused while it has errors, and when a grid it changes was
/// changed by a revision after its base (changes to other grids are taken
/// as they are: the draft is rebased).
pub fn publish(
    store: &dyn Store,
    id: u64,
    author: &str,
    message: &str,
    effective_at: Option<Timestamp>,
) -> Result<RevisionInfo> {
    let state = DraftState::read(store, id)?;
    if state.info.state != "open" {
        return Err(EditError::Refused(format!(
            "draft {id} is {}: it cannot be published again",
            state.info.state
        )));
    }
    if state.changes.is_empty() {
        return Err(EditError::Refused(format!(
            "draft {id} changes nothing: edit it before publishing"
        )));
    }
    let setup = store.setup()?;
    let errors: Vec<Problem> = state
        .validate(&setup)
        .into_iter()
        .filter(|p| p.severity == crate::validate::Severity::Error)
        .collect();
    if !errors.is_empty() {
        return Err(EditError::Invalid(errors));
    }
    Ok(store.commit(Commit {
        author: author.into(),
        message: message.into(),
        effective_at,
        kind: "publish",
        base: Some(state.info.base),
        grids: state.changes.into_iter().map(|c| c.change).collect(),
        components: ComponentChange::Keep,
        draft: Some(id),
    })?)
}

/// Reverts a revision with a new one: every grid it changed goes back to
/// the version that was valid just before it took effect (a grid it added
/// is retired). Refused when a later revision changed one of those grids.
pub fn revert(
    store: &dyn Store,
    revision: Revision,
    author: &str,
    message: &str,
) -> Result<RevisionInfo> {
    let info = store.revision(revision)?;
    let parent = info.parent.ok_or_else(|| {
        EditError::Refused(format!(
            "revision {revision} is the first: there is nothing before it to go back to"
        ))
    })?;
    let changed = store.changes(parent, revision)?;
    let before: HashMap<String, Grid> = store
        .grids(View {
            revision: parent,
            valid_at: Timestamp::from_millis(info.effective_at.millis() - 1),
        })?
        .into_iter()
        .map(|g| (g.code.clone(), g))
        .collect();
    let mut codes: Vec<(&str, usize)> =
        changed.iter().map(|v| (v.code.as_str(), v.level)).collect();
    codes.sort();
    codes.dedup();
    let grids = codes
        .into_iter()
        .map(|(code, level)| match before.get(code) {
            Some(g) => GridChange::Put(g.clone()),
            None => GridChange::Retire {
                code: code.to_string(),
                level,
            },
        })
        .collect();
    Ok(store.commit(Commit {
        author: author.into(),
        message: if message.is_empty() {
            format!("revert revision {revision}")
        } else {
            message.into()
        },
        effective_at: None,
        kind: "revert",
        base: Some(revision),
        grids,
        components: ComponentChange::Keep,
        draft: None,
    })?)
}

/// Writes the city of `view` as a new version of the data directory `out`
/// (FlatGeobuf grids and components with their manifest, made current
/// atomically): the store's export, for GIS tools that read FlatGeobuf and
/// for `wangge serve DIR` where a read-only copy is wanted. Returns the
/// version written.
pub fn export_data_dir(store: &dyn Store, view: View, out: &std::path::Path) -> Result<u64> {
    let data = store.load(view)?;
    let manifest = crate::datadir::manifest_for(
        &data,
        &format!(
            "wangge export data: {} revision {} valid at {}",
            store.location(),
            view.revision,
            view.valid_at.to_rfc3339()
        ),
    );
    let classes = &data.classes;
    Ok(crate::datadir::publish(
        out,
        manifest,
        &data,
        data.components.iter().map(|c| c.record(classes)),
    )?)
}

/// Opens the store at `path`, or, when there is none, creates it from the
/// data directory `seed` (its city becomes revision 1). Says whether it was
/// created.
pub fn open_or_seed(
    path: &std::path::Path,
    seed: &std::path::Path,
) -> Result<(crate::store::GeoPackage, bool)> {
    use crate::store::GeoPackage;
    if path.exists() {
        return Ok((GeoPackage::open(path)?, false));
    }
    let (_, data) = crate::datadir::load(seed, |_| {}).map_err(|e| {
        EditError::Refused(format!(
            "no store at {} and cannot create one from {}: {e}",
            path.display(),
            seed.display()
        ))
    })?;
    let store = GeoPackage::create(path, &setup_of(&data))?;
    import(
        &store,
        &data,
        "wangge",
        &format!("created from {}", seed.display()),
        None,
    )?;
    Ok((store, true))
}

/// Opens the store at `path`, or creates an empty one for `data`'s schemes,
/// and records `data` as a new revision (what `wangge import --store` does).
pub fn import_into(
    path: &std::path::Path,
    data: &Dataset,
    author: &str,
    message: &str,
    effective_at: Option<Timestamp>,
) -> Result<RevisionInfo> {
    use crate::store::GeoPackage;
    let store = if path.exists() {
        GeoPackage::open(path)?
    } else {
        GeoPackage::create(path, &setup_of(data))?
    };
    import(&store, data, author, message, effective_at)
}
