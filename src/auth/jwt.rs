//! JWTs of the organisation's identity provider (OIDC), checked with the
//! `jsonwebtoken` crate against the public keys of a JWKS file or URL:
//! RS256 or ES256 only (`alg: none` and shared-secret algorithms are
//! refused), the signature, `exp` and `nbf` (30 s of clock leeway), `iss`
//! and `aud`. The role, worker id and classes come from configured claims.
//!
//! Providers rotate their keys: they publish a new key in the JWKS before
//! they sign with it. [`JwtVerifier::keep_fresh`] reads the JWKS again
//! every few minutes, and soon after a token names a key id it does not
//! know; a read that fails keeps the keys it had.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::{AuthError, Principal, Role};

/// Clock leeway on `exp` and `nbf`, seconds.
pub const LEEWAY_S: u64 = 30;

/// Where the provider publishes its public keys (a JWKS, `{"keys": [...]}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// A file.
    File(PathBuf),
    /// An `https://` URL (the provider's `jwks_uri`), or `http://` on
    /// this machine only; server certificates are checked against the
    /// system's roots (`/etc/ssl/certs/ca-certificates.crt`, where a
    /// city's own CA is installed).
    Url(String),
}

impl JwksSource {
    /// A URL when `text` starts with `https://` or `http://`, else a file.
    pub fn parse(text: &str) -> Result<JwksSource, String> {
        let t = text.trim();
        if t.starts_with("https://") {
            return Ok(JwksSource::Url(t.to_string()));
        }
        if t.starts_with("http://") {
            let uri = t.parse::<axum::http::Uri>().ok();
            let host = uri.as_ref().and_then(|u| u.host()).unwrap_or("");
            let loopback = host == "localhost"
                || host
                    .trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if loopback {
                return Ok(JwksSource::Url(t.to_string()));
            }
            return Err(format!(
                "--jwks {t}: keys over plain http could be changed on the way; use https:// (http:// only on this machine)"
            ));
        }
        Ok(JwksSource::File(PathBuf::from(t)))
    }

    /// The JWKS text, read or fetched now (10 s at most for a URL).
    fn read(&self) -> Result<String, String> {
        match self {
            JwksSource::File(p) => std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read the JWKS file {}: {e}", p.display())),
            JwksSource::Url(u) => fetch(u).map_err(|e| format!("cannot fetch the JWKS {u}: {e}")),
        }
    }
}

impl std::fmt::Display for JwksSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwksSource::File(p) => write!(f, "{}", p.display()),
            JwksSource::Url(u) => f.write_str(u),
        }
    }
}

impl From<&Path> for JwksSource {
    fn from(p: &Path) -> Self {
        JwksSource::File(p.to_path_buf())
    }
}

impl From<&PathBuf> for JwksSource {
    fn from(p: &PathBuf) -> Self {
        JwksSource::File(p.clone())
    }
}

/// Largest JWKS accepted, bytes.
const MAX_JWKS_BYTES: u64 = 1 << 20;

/// GETs `url` with rustls (ring) and the system's root certificates.
fn fetch(url: &str) -> Result<String, String> {
    use ureq::tls::{RootCerts, TlsConfig, TlsProvider};
    let roots = std::fs::read("/etc/ssl/certs/ca-certificates.crt")
        .ok()
        .map(|pem| {
            ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .root_certs(RootCerts::Specific(Arc::new(roots)))
        .build();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut response = agent.get(url).call().map_err(|e| e.to_string())?;
    response
        .body_mut()
        .with_config()
        .limit(MAX_JWKS_BYTES)
        .read_to_string()
        .map_err(|e| e.to_string())
}

/// Where the keys are and what the tokens must say.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// The provider's public keys.
    pub jwks: JwksSource,
    /// The `iss` every token must carry.
    pub issuer: String,
    /// The `aud` every token must carry (one of them).
    pub audience: String,
    /// The claim that holds the role (a string, or a list: the highest role
    /// wangge knows is taken); a token without it is a viewer's.
    pub role_claim: String,
    /// The claim that holds a worker's id.
    pub worker_claim: String,
    /// The claim that holds a department's classes (a list, or a
    /// comma-separated string).
    pub classes_claim: String,
}

impl JwtConfig {
    /// A configuration with the default claim names (`role`, `worker`,
    /// `classes`).
    pub fn new(jwks: impl Into<JwksSource>, issuer: &str, audience: &str) -> JwtConfig {
        JwtConfig {
            jwks: jwks.into(),
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            role_claim: "role".into(),
            worker_claim: "worker".into(),
            classes_claim: "classes".into(),
        }
    }
}

/// A provider's key: its `kid`, algorithm and public key.
struct Key {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

/// Checks JWTs against a JWKS.
pub struct JwtVerifier {
    config: JwtConfig,
    keys: RwLock<Arc<Vec<Key>>>,
    /// A token named a key id the key set lacks: read it again soon.
    wanted: AtomicBool,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.config.issuer)
            .field("jwks", &self.config.jwks)
            .finish()
    }
}

/// The RS256 and ES256 keys of a JWKS text (`from` names it in errors);
/// an error when it holds none.
fn parse_keys(text: &str, from: &JwksSource) -> Result<Vec<Key>, String> {
    let set: JwkSet = serde_json::from_str(text)
        .map_err(|e| format!("{from} is not a JWKS (a JSON object with \"keys\"): {e}"))?;
    let mut keys = Vec::new();
    for jwk in &set.keys {
        let alg = match &jwk.algorithm {
            jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
            jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
            _ => continue,
        };
        if let Some(declared) = jwk.common.key_algorithm
            && !matches!(
                declared,
                jsonwebtoken::jwk::KeyAlgorithm::RS256 | jsonwebtoken::jwk::KeyAlgorithm::ES256
            )
        {
            continue;
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("a key of {from}: {e}"))?;
        keys.push(Key {
            kid: jwk.common.key_id.clone(),
            alg,
            key,
        });
    }
    if keys.is_empty() {
        return Err(format!("{from} has no RS256 or ES256 key"));
    }
    Ok(keys)
}

/// How long after a read the next one may be asked for by an unknown key id.
const REFETCH_AFTER: Duration = Duration::from_secs(30);

impl JwtVerifier {
    /// Reads the JWKS of `config` (file or URL); refuses one without a
    /// usable RS256/ES256 key.
    pub fn open(config: JwtConfig) -> Result<JwtVerifier, String> {
        let keys = parse_keys(&config.jwks.read()?, &config.jwks)?;
        Ok(JwtVerifier {
            config,
            keys: RwLock::new(Arc::new(keys)),
            wanted: AtomicBool::new(false),
        })
    }

    /// Reads the JWKS again and checks new tokens against its keys; on
    /// failure the keys stay as they were. Returns how many keys it holds.
    pub fn refresh(&self) -> Result<usize, String> {
        let keys = parse_keys(&self.config.jwks.read()?, &self.config.jwks)?;
        let n = keys.len();
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
        self.wanted.store(false, Ordering::Relaxed);
        Ok(n)
    }

    /// Whether a token named a key id the key set lacks since the last read.
    pub fn wants_refresh(&self) -> bool {
        self.wanted.load(Ordering::Relaxed)
    }

    /// Keeps the key set fresh, on this thread, forever: reads the JWKS
    /// every `every`, and within a few seconds after a token named an
    /// unknown key id (at most every 30 s). Failures are logged.
    pub fn keep_fresh(&self, every: Duration) {
        let mut last = std::time::Instant::now();
        loop {
            std::thread::sleep(Duration::from_secs(2).min(every));
            let due = last.elapsed() >= every
                || (self.wants_refresh() && last.elapsed() >= REFETCH_AFTER);
            if !due {
                continue;
            }
            last = std::time::Instant::now();
            match self.refresh() {
                Ok(n) => tracing::debug!("JWKS {} read again: {n} keys", self.config.jwks),
                Err(e) => tracing::warn!("{e}; the keys read before stay in use"),
            }
        }
    }

    /// The principal a JWT names, when it is valid, and its `exp`
    /// (seconds since 1970).
    pub fn verify(&self, token: &str) -> Result<(Principal, u64), AuthError> {
        let invalid = |m: String| AuthError::Invalid(m);
        let header = jsonwebtoken::decode_header(token).map_err(|e| {
            invalid(format!(
                "its header cannot be read ({e}); alg must be RS256 or ES256"
            ))
        })?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(invalid(format!(
                "alg {:?} is not accepted: RS256 or ES256 only",
                header.alg
            )));
        }
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner()).clone();
        let candidates: Vec<&Key> = keys
            .iter()
            .filter(|k| k.alg == header.alg)
            .filter(|k| header.kid.is_none() || k.kid == header.kid)
            .collect();
        if candidates.is_empty() {
            // Perhaps the provider rotated its keys: read them again soon.
            self.wanted.store(true, Ordering::Relaxed);
            return Err(invalid(format!(
                "no key of the JWKS matches its kid {:?} and alg {:?} (the JWKS is read again within a minute, in case the provider rotated its keys)",
                header.kid.as_deref().unwrap_or("(none)"),
                header.alg
            )));
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_S;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let mut last = None;
        for k in candidates {
            match jsonwebtoken::decode::<Map<String, Value>>(token, &k.key, &validation) {
                Ok(data) => {
                    let exp = data.claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
                    return Ok((self.principal(&data.claims), exp));
                }
                Err(e) => last = Some(e),
            }
        }
        let e = last.expect("at least one key was tried");
        use jsonwebtoken::errors::ErrorKind as K;
        Err(invalid(match e.kind() {
            K::ExpiredSignature => "it has expired (exp)".into(),
            K::ImmatureSignature => "it is not valid yet (nbf)".into(),
            K::InvalidIssuer => format!("its issuer is not {}", self.config.issuer),
            K::InvalidAudience => format!("its audience is not {}", self.config.audience),
            K::InvalidSignature => "its signature does not match the provider's keys".into(),
            K::MissingRequiredClaim(c) => format!("it has no {c} claim"),
            other => format!("{other:?}"),
        }))
    }

    fn principal(&self, claims: &Map<String, Value>) -> Principal {
        let text = |v: &Value| v.as_str().map(str::to_string);
        let role = match claims.get(&self.config.role_claim) {
            Some(Value::String(s)) => Role::parse(s),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str())
                .filter_map(Role::parse)
                .max(),
            _ => None,
        }
        .unwrap_or(Role::Viewer);
        let classes = match claims.get(&self.config.classes_claim) {
            Some(Value::Array(a)) => a.iter().filter_map(text).collect(),
            Some(Value::String(s)) => s
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        let sub = claims.get("sub").and_then(text).unwrap_or_default();
        let name = ["name", "preferred_username"]
            .iter()
            .find_map(|k| claims.get(*k).and_then(text))
            .unwrap_or_else(|| sub.clone());
        Principal {
            id: format!("jwt:{sub}"),
            name,
            role,
            worker: claims.get(&self.config.worker_claim).and_then(text),
            classes,
        }
    }
}
