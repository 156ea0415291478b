//! Who is asking and what they may read, for a handler: the principal the
//! edge's token check put into the request (or the public), and the scope
//! the server's [`Policy`](crate::auth::Policy) gives them. Handlers pass
//! the scope to the query layer, which applies it; they check nothing
//! themselves.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::{ApiError, AppState};
use crate::auth::Principal;
use crate::query::{Scope, Scoped};
use crate::snapshot::Snapshot;

/// The reader of a request.
#[derive(Debug, Clone)]
pub(crate) struct Reader {
    /// Who is asking (the public without a token).
    pub principal: Principal,
    /// What they may read.
    pub scope: Arc<Scope>,
}

impl Reader {
    /// `snap` as this reader sees it.
    pub fn sees<'a>(&'a self, snap: &'a Snapshot) -> Scoped<'a> {
        Scoped::new(snap, &self.scope)
    }
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = parts
            .extensions
            .get::<Principal>()
            .cloned()
            .unwrap_or_else(Principal::anonymous);
        let scope = Arc::new(state.policy.scope(&principal));
        Ok(Reader { principal, scope })
    }
}

/// `GET /whoami`: who the request's token says is asking and what they
/// may read (the viewer shows it after signing in; no token: the public).
pub(super) async fn whoami(reader: Reader) -> axum::Json<serde_json::Value> {
    use crate::query::Reach;
    let p = &reader.principal;
    let components = match &reader.scope.reach {
        Reach::All => "all",
        Reach::Nothing => "none",
        Reach::Worker(_) => "own_grids",
        Reach::Classes(_) => "classes",
    };
    axum::Json(serde_json::json!({
        "id": p.id,
        "name": p.name,
        "role": p.role,
        "worker": p.worker,
        "classes": p.classes,
        "reads": { "components": components, "workers": reader.scope.workers.as_str() },
    }))
}

/// Paths a request without a token may read under `--public none`: the
/// viewer (so that one can sign in), its glyphs and styles, `/health` and
/// the API description (and `/metrics`, which has its own rule).
pub(crate) fn open_path(path: &str) -> bool {
    matches!(path, "/" | "/health" | "/api" | "/metrics")
        || ["/viewer/", "/fonts/", "/styles/"]
            .iter()
            .any(|p| path.starts_with(p))
}
