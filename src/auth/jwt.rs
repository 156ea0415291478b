//! JWTs of the organisation's identity provider (OIDC), checked with the
//! `jsonwebtoken` crate against the public keys of a JWKS file: RS256 or
//! ES256 only (`alg: none` and shared-secret algorithms are refused), the
//! signature, `exp` and `nbf` (30 s of clock leeway), `iss` and `aud`. The
//! role, worker id and classes come from configured claims.

use std::path::{Path, PathBuf};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::{AuthError, Principal, Role};

/// Clock leeway on `exp` and `nbf`, seconds.
pub const LEEWAY_S: u64 = 30;

/// Where the keys are and what the tokens must say.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// A JWKS file (`{"keys": [...]}`) with the provider's public keys.
    pub jwks: PathBuf,
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
    pub fn new(jwks: &Path, issuer: &str, audience: &str) -> JwtConfig {
        JwtConfig {
            jwks: jwks.to_path_buf(),
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
    keys: Vec<Key>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.config.issuer)
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl JwtVerifier {
    /// Reads the JWKS file of `config`; refuses one without a usable
    /// RS256/ES256 key.
    pub fn open(config: JwtConfig) -> Result<JwtVerifier, String> {
        let text = std::fs::read_to_string(&config.jwks)
            .map_err(|e| format!("cannot read the JWKS file {}: {e}", config.jwks.display()))?;
        let set: JwkSet = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{} is not a JWKS (a JSON object with \"keys\"): {e}",
                config.jwks.display()
            )
        })?;
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
            let key = DecodingKey::from_jwk(jwk)
                .map_err(|e| format!("a key of {}: {e}", config.jwks.display()))?;
            keys.push(Key {
                kid: jwk.common.key_id.clone(),
                alg,
                key,
            });
        }
        if keys.is_empty() {
            return Err(format!(
                "{} has no RS256 or ES256 key",
                config.jwks.display()
            ));
        }
        Ok(JwtVerifier { config, keys })
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
        let candidates: Vec<&Key> = self
            .keys
            .iter()
            .filter(|k| k.alg == header.alg)
            .filter(|k| header.kid.is_none() || k.kid == header.kid)
            .collect();
        if candidates.is_empty() {
            return Err(invalid(format!(
                "no key of the JWKS matches its kid {:?} and alg {:?}",
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
