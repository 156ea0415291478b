//! Who is asking: bearer tokens and the roles they carry.
//!
//! Three kinds of bearer token are accepted, told apart by their form:
//! - API keys for machine clients (`wg_<id>_<secret>`), created with
//!   `wangge token create`, kept in the store as argon2 hashes
//!   ([`keys`]);
//! - JWTs issued by the organisation's identity provider, checked against
//!   the keys of a JWKS file (RS256, ES256; `exp`, `nbf`, `iss`, `aud`)
//!   ([`jwt`]);
//! - the planner tokens given on the command line (`--planners`), each a
//!   planner's name and a token of 16 characters or more.
//!
//! A request without a token is [`Role::Public`]. A request with a token
//! that is not valid is refused, never treated as public: a client whose
//! key was revoked learns it at once.

pub mod jwt;
pub mod keys;
pub mod policy;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::store::Store;

pub use jwt::{JwksSource, JwtConfig, JwtVerifier};
pub use policy::{Policy, PublicAccess};

/// What a principal is allowed, by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// No token.
    Public,
    /// Reads everything (a command center's screen); writes nothing.
    Viewer,
    /// A grid worker (网格员): carries their worker id.
    Worker,
    /// A department (for example the water company): carries its classes.
    Department,
    /// Redraws grids: drafts, uploads, operations, publish, revert.
    Planner,
    /// Everything, and the audit log.
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 6] = [
        Role::Public,
        Role::Viewer,
        Role::Worker,
        Role::Department,
        Role::Planner,
        Role::Admin,
    ];

    /// The role's name as tokens and configuration write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Public => "public",
            Role::Viewer => "viewer",
            Role::Worker => "worker",
            Role::Department => "department",
            Role::Planner => "planner",
            Role::Admin => "admin",
        }
    }

    /// The role named `s` (ASCII case-insensitive).
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// Whether the role may change grids (drafts, publish, revert).
    pub fn may_edit(self) -> bool {
        matches!(self, Role::Planner | Role::Admin)
    }

    /// Whether the role may read the audit log.
    pub fn may_audit(self) -> bool {
        self == Role::Admin
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// The token's identity: `key:<id>`, `jwt:<subject>`, `planner:<name>`,
    /// or `anonymous`.
    pub id: String,
    /// The name revisions and the audit log record.
    pub name: String,
    /// The role.
    pub role: Role,
    /// A worker's id (role `worker`).
    pub worker: Option<String>,
    /// A department's component classes (role `department`).
    pub classes: Vec<String>,
}

impl Principal {
    /// A request without a token.
    pub fn anonymous() -> Principal {
        Principal {
            id: "anonymous".into(),
            name: "anonymous".into(),
            role: Role::Public,
            worker: None,
            classes: Vec::new(),
        }
    }

    /// How the audit log names this principal: name, token id and role.
    pub fn audit_name(&self) -> String {
        if self.role == Role::Public {
            return self.name.clone();
        }
        format!("{} ({}, {})", self.name, self.id, self.role)
    }
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The `Authorization` header is not `Bearer TOKEN`.
    #[error("the Authorization header must be 'Bearer TOKEN'")]
    Malformed,
    /// The token was checked and is not valid (the reason says why; it never
    /// repeats the token).
    #[error("the bearer token is not valid: {0}")]
    Invalid(String),
    /// The store could not be asked about an API key.
    #[error("API keys cannot be checked now: {0}")]
    Unavailable(String),
}

/// How long a checked token is trusted without checking it again: an API
/// key revoked by another process stops working within this time (one
/// revoked through this process at once); a JWT is trusted no longer than
/// its `exp`.
pub const TRUST_TTL: Duration = Duration::from_secs(60);

/// Most checked API keys remembered.
const TRUST_MAX: usize = 10_000;

/// Checks bearer tokens: API keys in the store, JWTs, planner tokens.
pub struct Authenticator {
    planners: Vec<(String, String)>,
    store: Option<Arc<dyn Store>>,
    jwt: Option<Arc<JwtVerifier>>,
    /// Checked API keys and JWTs (the whole token → who, trusted until).
    checked: Mutex<HashMap<String, (Principal, Instant)>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("planners", &self.planners.len())
            .field("api_keys", &self.store.is_some())
            .field("jwt", &self.jwt.is_some())
            .finish()
    }
}

impl Authenticator {
    /// An authenticator of planner tokens (`name`, `token`), API keys in
    /// `store` (when there is one) and JWTs (when configured).
    pub fn new(
        planners: Vec<(String, String)>,
        store: Option<Arc<dyn Store>>,
        jwt: Option<JwtVerifier>,
    ) -> Authenticator {
        Authenticator {
            planners,
            store,
            jwt: jwt.map(Arc::new),
            checked: Mutex::new(HashMap::new()),
        }
    }

    /// The JWT verifier, when JWTs are accepted (to keep its keys fresh).
    pub fn jwt(&self) -> Option<&Arc<JwtVerifier>> {
        self.jwt.as_ref()
    }

    /// Who sent `authorization` (the header's value; `None`: no header).
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        let Some(value) = authorization else {
            return Ok(Principal::anonymous());
        };
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Malformed)?;
        if token.starts_with(keys::PREFIX) {
            return self.api_key(token);
        }
        if token.matches('.').count() == 2 {
            let Some(v) = &self.jwt else {
                return Err(AuthError::Invalid(
                    "this server accepts no JWTs (start it with --jwks FILE --jwt-issuer ISS --jwt-audience AUD)"
                        .into(),
                ));
            };
            if let Some(p) = self.remembered(token) {
                return Ok(p);
            }
            let (p, exp) = v.verify(token)?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let left = Duration::from_secs(exp.saturating_sub(now)).min(TRUST_TTL);
            self.remember(token, &p, left);
            return Ok(p);
        }
        let mut found = None;
        for (name, t) in &self.planners {
            if constant_time_eq(t.as_bytes(), token.as_bytes()) {
                found = Some(name);
            }
        }
        match found {
            Some(name) => Ok(Principal {
                id: format!("planner:{name}"),
                name: name.clone(),
                role: Role::Planner,
                worker: None,
                classes: Vec::new(),
            }),
            None => Err(AuthError::Invalid(
                "it is no planner token, API key or JWT this server knows".into(),
            )),
        }
    }

    fn api_key(&self, token: &str) -> Result<Principal, AuthError> {
        if let Some(p) = self.remembered(token) {
            return Ok(p);
        }
        let Some(store) = &self.store else {
            return Err(AuthError::Invalid(
                "API keys need a store: this server serves a data directory".into(),
            ));
        };
        let p = keys::check(store.as_ref(), token)?;
        self.remember(token, &p, TRUST_TTL);
        Ok(p)
    }

    /// The principal of a token checked before and still trusted.
    fn remembered(&self, token: &str) -> Option<Principal> {
        let checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        checked
            .get(token)
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(p, _)| p.clone())
    }

    /// Trusts `token` as `p` for `for_how_long`.
    fn remember(&self, token: &str, p: &Principal, for_how_long: Duration) {
        let now = Instant::now();
        let mut checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        if checked.len() >= TRUST_MAX {
            checked.retain(|_, (_, until)| now < *until);
            if checked.len() >= TRUST_MAX {
                checked.clear();
            }
        }
        checked.insert(token.to_string(), (p.clone(), now + for_how_long));
    }

    /// Forgets the checks of API key `id` (after revoking it here).
    pub fn forget_key(&self, id: u64) {
        let who = format!("key:{id}");
        self.checked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, (p, _)| p.id != who);
    }
}

/// Byte equality in time independent of where the bytes differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
