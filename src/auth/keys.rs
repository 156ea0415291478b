//! API keys for machine clients: `wg_<id>_<secret>`, the secret 32 random
//! bytes in hex, shown once when created; the store keeps the key's row
//! (name, role, worker, classes) and an argon2id hash of the secret, never
//! the secret.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use rand::Rng;

use super::{AuthError, Principal, Role};
use crate::store::{ApiKeyRecord, NewApiKey, Store, StoreError, Timestamp};

/// How every API key begins.
pub const PREFIX: &str = "wg_";

/// Why a key cannot be created.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The request is not a key that can be made.
    #[error("{0}")]
    Refused(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new key's settings.
#[derive(Debug, Clone)]
pub struct KeyRequest {
    /// Who or what holds it (recorded as the author of what it writes).
    pub name: String,
    /// Its role.
    pub role: Role,
    /// A worker's id (role `worker`).
    pub worker: Option<String>,
    /// A department's classes (role `department`).
    pub classes: Vec<String>,
}

/// Creates an API key: its row in the store, and the key itself, which is
/// shown only now.
pub fn create(store: &dyn Store, request: &KeyRequest) -> Result<(ApiKeyRecord, String), KeyError> {
    if request.name.trim().is_empty() {
        return Err(KeyError::Refused(
            "a key needs a name: who or what holds it".into(),
        ));
    }
    match request.role {
        Role::Public => {
            return Err(KeyError::Refused(
                "role public needs no key: requests without a token are public".into(),
            ));
        }
        Role::Worker
            if request
                .worker
                .as_deref()
                .is_none_or(|w| w.trim().is_empty()) =>
        {
            return Err(KeyError::Refused(
                "a worker's key names the worker: --worker ID".into(),
            ));
        }
        Role::Department if request.classes.is_empty() => {
            return Err(KeyError::Refused(
                "a department's key lists its component classes: --classes 0101,0102".into(),
            ));
        }
        _ => {}
    }
    let secret: [u8; 32] = rand::rng().random();
    let secret: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let hash = hash_secret(&secret)?;
    let record = store.create_api_key(NewApiKey {
        name: request.name.trim().to_string(),
        role: request.role.as_str().to_string(),
        worker: request.worker.clone(),
        classes: request.classes.clone(),
        hash,
    })?;
    let key = format!("{PREFIX}{}_{secret}", record.id);
    Ok((record, key))
}

fn hash_secret(secret: &str) -> Result<String, KeyError> {
    Argon2::default()
        .hash_password(secret.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| KeyError::Refused(format!("cannot hash the key: {e}")))
}

/// The principal an API key belongs to, checked against the store.
pub fn check(store: &dyn Store, token: &str) -> Result<Principal, AuthError> {
    let invalid = |m: &str| AuthError::Invalid(m.to_string());
    let rest = token
        .strip_prefix(PREFIX)
        .ok_or_else(|| invalid("an API key starts with wg_"))?;
    let (id, secret) = rest
        .split_once('_')
        .ok_or_else(|| invalid("an API key is wg_<id>_<secret>"))?;
    let id: u64 = id
        .parse()
        .map_err(|_| invalid("an API key is wg_<id>_<secret>"))?;
    let record = store
        .api_key(id)
        .map_err(|e| AuthError::Unavailable(e.to_string()))?
        .ok_or_else(|| invalid("no such API key"))?;
    if let Some(at) = record.revoked_at {
        return Err(AuthError::Invalid(format!(
            "API key {id} was revoked at {}",
            at.to_rfc3339()
        )));
    }
    let hash = PasswordHash::new(&record.hash)
        .map_err(|_| AuthError::Unavailable(format!("API key {id} has a damaged hash")))?;
    Argon2::default()
        .verify_password(secret.as_bytes(), &hash)
        .map_err(|_| invalid("the API key does not match"))?;
    let role = Role::parse(&record.role)
        .ok_or_else(|| AuthError::Unavailable(format!("API key {id} has an unknown role")))?;
    Ok(Principal {
        id: format!("key:{id}"),
        name: record.name,
        role,
        worker: record.worker,
        classes: record.classes,
    })
}

/// Revokes key `id` (from now; revoking twice keeps the first time).
pub fn revoke(store: &dyn Store, id: u64) -> Result<ApiKeyRecord, KeyError> {
    Ok(store.revoke_api_key(id, Timestamp::now())?)
}
