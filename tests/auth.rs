//! Who may write, through the router in process: API keys from the store
//! (created, checked, revoked), JWTs of an identity provider checked
//! against a JWKS (keys made by openssl for the test, tokens signed with
//! the jsonwebtoken crate), planner tokens; roles below planner are
//! refused writes with 403, bad tokens with 401, and every refusal is in
//! the audit log with who asked.

mod common;

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};

use common::keys::{self, b64url};
use common::{Reply, send};
use wangge::auth::keys::KeyRequest;
use wangge::auth::{JwtConfig, JwtVerifier, Role};
use wangge::http::{AppState, Editing, Limits, Planners, router};
use wangge::store::Store;

const ISSUER: &str = "https://idp.example.cn/realms/city";
const AUDIENCE: &str = "wangge";

struct City {
    app: Router,
    state: AppState,
    store: Arc<dyn Store>,
    dir: tempfile::TempDir,
}

/// The provider's RSA and EC keys (in the JWKS) and another RSA key (not
/// in it), made in `dir`. Returns the JWKS path.
fn make_keys(dir: &Path) -> std::path::PathBuf {
    let jwks = json!({"keys": [
        keys::rsa_key(dir, "idp", "rsa-1"),
        keys::ec_key(dir, "ec", "ec-1"),
    ]});
    keys::rsa_key(dir, "other", "other-1");
    let path = dir.join("jwks.json");
    std::fs::write(&path, jwks.to_string()).unwrap();
    path
}

fn city() -> City {
    let dir = tempfile::tempdir().unwrap();
    let (store, snap) = common::sample_store(dir.path());
    let jwks = make_keys(dir.path());
    let jwt = JwtVerifier::open(JwtConfig::new(&jwks, ISSUER, AUDIENCE)).unwrap();
    let planners = Planners::parse("li.ming:0123456789abcdef0123").unwrap();
    let state = AppState::new(snap, Limits::default()).with_editing(Editing::with_auth(
        store.clone(),
        planners,
        Some(jwt),
    ));
    City {
        app: router(state.clone()),
        state,
        store,
        dir,
    }
}

async fn call(app: &Router, method: &str, uri: &str, token: Option<&str>, body: &str) -> Reply {
    let mut r = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    send(app, r.body(Body::from(body.to_string())).unwrap()).await
}

fn key(c: &City, name: &str, role: Role) -> (u64, String) {
    let (record, key) = wangge::auth::keys::create(
        c.store.as_ref(),
        &KeyRequest {
            name: name.into(),
            role,
            worker: (role == Role::Worker).then(|| "W001".to_string()),
            classes: if role == Role::Department {
                vec!["0101".into()]
            } else {
                Vec::new()
            },
        },
    )
    .unwrap();
    (record.id, key)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A JWT signed with `pem` (`alg`, `kid`) carrying `claims` over the
/// defaults (a planner valid for an hour, the right issuer and audience).
fn jwt(c: &City, pem: &str, alg: jsonwebtoken::Algorithm, kid: &str, claims: Value) -> String {
    let mut all = json!({
        "sub": "u-42", "name": "陈规划", "role": "planner",
        "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 3600, "nbf": now() - 10,
    });
    for (k, v) in claims.as_object().unwrap() {
        all[k] = v.clone();
    }
    let bytes = std::fs::read(c.dir.path().join(pem)).unwrap();
    let key = match alg {
        jsonwebtoken::Algorithm::ES256 => jsonwebtoken::EncodingKey::from_ec_pem(&bytes).unwrap(),
        _ => jsonwebtoken::EncodingKey::from_rsa_pem(&bytes).unwrap(),
    };
    let mut header = jsonwebtoken::Header::new(alg);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, &all, &key).unwrap()
}

async fn draft(c: &City, token: Option<&str>) -> Reply {
    call(&c.app, "POST", "/drafts", token, r#"{"title": "t"}"#).await
}

#[tokio::test]
async fn api_keys_write_by_role_and_a_revoked_or_wrong_key_is_refused() {
    let c = city();
    let (_, planner) = key(&c, "district-gis", Role::Planner);
    let r = draft(&c, Some(&planner)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = r.json()["id"].as_u64().unwrap();
    assert_eq!(
        c.store.draft(id).unwrap().author,
        "district-gis",
        "the key's name is the author"
    );
    // Roles below planner are refused writes: 403, with the role named.
    for role in [Role::Viewer, Role::Worker, Role::Department] {
        let (_, k) = key(&c, &format!("a {role}"), role);
        let r = draft(&c, Some(&k)).await;
        let m = r.assert_error(StatusCode::FORBIDDEN, "forbidden");
        assert!(m.contains(role.as_str()), "{m}");
    }
    // A wrong secret for a real key, a key that does not exist, a malformed one.
    let (id_a, good) = key(&c, "app-backend", Role::Planner);
    let wrong = format!("wg_{id_a}_{}", "0".repeat(64));
    for (bad, why) in [
        (wrong.as_str(), "does not match"),
        ("wg_999999_00", "no such API key"),
        ("wg_x", "wg_<id>_<secret>"),
    ] {
        let m = draft(&c, Some(bad))
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
        assert!(m.contains(why), "{bad}: {m}");
        assert!(!m.contains(&good[10..]), "an error never repeats a secret");
    }
    // Revoked before this server ever saw it: refused at once.
    let (id_b, revoked) = key(&c, "old-app", Role::Planner);
    wangge::auth::keys::revoke(c.store.as_ref(), id_b).unwrap();
    let m = draft(&c, Some(&revoked))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(m.contains("revoked"), "{m}");
    // Seen (and remembered), then revoked here: refused once forgotten.
    assert_eq!(draft(&c, Some(&good)).await.status, StatusCode::CREATED);
    wangge::auth::keys::revoke(c.store.as_ref(), id_a).unwrap();
    c.state.editing().unwrap().auth().forget_key(id_a);
    draft(&c, Some(&good))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    // The store keeps hashes, never keys.
    let listed = c.store.api_keys().unwrap();
    assert!(
        listed
            .iter()
            .all(|k| k.hash.starts_with("$argon2id$") && !good.contains(&k.hash))
    );
    assert!(
        listed
            .iter()
            .any(|k| k.id == id_a && k.revoked_at.is_some())
    );
}

#[tokio::test]
async fn jwts_are_checked_for_signature_time_issuer_audience_and_algorithm() {
    let c = city();
    use jsonwebtoken::Algorithm::{ES256, HS256, RS256};
    let ok = jwt(&c, "idp.pem", RS256, "rsa-1", json!({}));
    let r = draft(&c, Some(&ok)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = r.json()["id"].as_u64().unwrap();
    assert_eq!(c.store.draft(id).unwrap().author, "陈规划");
    let ec = jwt(&c, "ec.pem", ES256, "ec-1", json!({}));
    assert_eq!(
        draft(&c, Some(&ec)).await.status,
        StatusCode::CREATED,
        "ES256"
    );
    // A viewer's token (or one with no role claim) may not write.
    for claims in [json!({"role": "viewer"}), json!({"role": null})] {
        let t = jwt(&c, "idp.pem", RS256, "rsa-1", claims);
        draft(&c, Some(&t))
            .await
            .assert_error(StatusCode::FORBIDDEN, "forbidden");
    }
    // A list of roles gives the highest.
    let t = jwt(
        &c,
        "idp.pem",
        RS256,
        "rsa-1",
        json!({"role": ["viewer", "planner"]}),
    );
    assert_eq!(draft(&c, Some(&t)).await.status, StatusCode::CREATED);
    let bad = [
        (
            jwt(&c, "idp.pem", RS256, "rsa-1", json!({"exp": now() - 120})),
            "expired",
        ),
        (
            jwt(&c, "idp.pem", RS256, "rsa-1", json!({"nbf": now() + 600})),
            "not valid yet",
        ),
        (
            jwt(
                &c,
                "idp.pem",
                RS256,
                "rsa-1",
                json!({"iss": "https://evil.example"}),
            ),
            "issuer",
        ),
        (
            jwt(
                &c,
                "idp.pem",
                RS256,
                "rsa-1",
                json!({"aud": "another-service"}),
            ),
            "audience",
        ),
        (jwt(&c, "other.pem", RS256, "rsa-1", json!({})), "signature"),
        (
            jwt(&c, "other.pem", RS256, "unknown-kid", json!({})),
            "no key",
        ),
    ];
    for (t, why) in &bad {
        let m = draft(&c, Some(t))
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
        assert!(m.contains(why), "{why}: {m}");
    }
    // alg none, and HS256 "signed" with the provider's public JWKS as the
    // secret (the algorithm confusion attack): refused.
    let payload = b64url(
        json!({"sub": "x", "role": "admin", "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 3600})
            .to_string()
            .as_bytes(),
    );
    let none = format!("{}.{payload}.", b64url(br#"{"alg":"none","typ":"JWT"}"#));
    draft(&c, Some(&none))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    let jwks = std::fs::read(c.dir.path().join("jwks.json")).unwrap();
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(HS256),
        &json!({"sub": "x", "role": "admin", "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 3600}),
        &jsonwebtoken::EncodingKey::from_secret(&jwks).unwrap(),
    )
    .unwrap();
    let m = draft(&c, Some(&hs))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(m.contains("RS256 or ES256"), "{m}");
}

#[tokio::test]
async fn the_audit_log_names_who_was_refused_and_only_admins_read_it() {
    let c = city();
    let (viewer_id, viewer) = key(&c, "screen", Role::Viewer);
    let (_, admin) = key(&c, "ops", Role::Admin);
    draft(&c, Some(&viewer))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    draft(&c, Some("wg_77_nonsense"))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    call(&c.app, "GET", "/audit", Some(&viewer), "")
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    let log = call(&c.app, "GET", "/audit", Some(&admin), "").await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.text());
    let entries = log.json()["entries"].as_array().unwrap().clone();
    let by_viewer = format!("screen (key:{viewer_id}, viewer)");
    assert!(
        entries.iter().any(|e| e["actor"] == by_viewer.as_str()
            && e["action"] == "POST /drafts"
            && e["outcome"] == "refused"),
        "{entries:?}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["actor"] == by_viewer.as_str() && e["action"] == "GET /audit")
    );
    assert!(entries.iter().any(|e| e["actor"] == "anonymous"
        && e["outcome"] == "refused"
        && e["detail"].as_str().unwrap().contains("no such API key")));
    // Reads too: a bad token is refused (and audited), never served as
    // public; a valid viewer's key reads.
    let lookup = "/lookup?lon=118.78&lat=32.06";
    call(&c.app, "GET", lookup, Some("wg_88_stale"), "")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(
        call(&c.app, "GET", lookup, Some(&viewer), "").await.status,
        StatusCode::OK
    );
    assert_eq!(
        call(&c.app, "GET", lookup, None, "").await.status,
        StatusCode::OK
    );
    let entries = call(&c.app, "GET", "/audit", Some(&admin), "").await.json()["entries"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "GET /lookup" && e["outcome"] == "refused")
    );
    // Filters: each condition narrows the entries to those that meet it.
    let filtered = |q: &str| {
        let app = c.app.clone();
        let admin = admin.clone();
        let q = q.to_string();
        async move {
            let r = call(&app, "GET", &format!("/audit?{q}"), Some(&admin), "").await;
            assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.text());
            r.json()["entries"].as_array().unwrap().clone()
        }
    };
    let refused = filtered("outcome=refused").await;
    assert!(!refused.is_empty() && refused.iter().all(|e| e["outcome"] == "refused"));
    let lookups = filtered("action=GET%20/lookup&outcome=refused").await;
    assert!(!lookups.is_empty() && lookups.iter().all(|e| e["action"] == "GET /lookup"));
    assert!(
        lookups.len() < refused.len(),
        "the action narrows the outcome's entries"
    );
    let ok = filtered("outcome=ok").await;
    assert!(ok.iter().all(|e| e["outcome"] == "ok"));
    assert!(filtered("since=2999-01-01T00:00:00Z").await.is_empty());
    assert_eq!(
        filtered("until=2999-01-01T00:00:00Z&limit=1000")
            .await
            .len(),
        filtered("limit=1000").await.len()
    );
    let newest = entries[0]["at"].as_str().unwrap();
    assert!(
        filtered(&format!("since={}", newest.replace('+', "%2B")))
            .await
            .iter()
            .all(|e| e["at"].as_str().unwrap() >= newest)
    );
    call(&c.app, "GET", "/audit?outcome=maybe", Some(&admin), "")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_parameter");
    call(&c.app, "GET", "/audit?since=yesterday", Some(&admin), "")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_parameter");
    // The log is append-only in the store itself.
    let db = rusqlite::Connection::open(c.dir.path().join("city.gpkg")).unwrap();
    let e = db.execute("DELETE FROM wangge_audit", []).unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
    assert!(
        db.execute("UPDATE wangge_audit SET actor = 'x'", [])
            .is_err()
    );
}

/// Serves `body()` to every GET on a loopback port (a provider's jwks_uri);
/// returns its URL.
fn serve_jwks(body: Arc<std::sync::Mutex<String>>) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/realms/city/protocol/openid-connect/certs",
        listener.local_addr().unwrap()
    );
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let text = body.lock().unwrap().clone();
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    url
}

#[test]
fn the_jwks_is_fetched_from_the_providers_url_and_read_again_when_keys_rotate() {
    use wangge::auth::JwksSource;
    let c = city();
    let old = keys::rsa_key(c.dir.path(), "idp", "rsa-1");
    let new = keys::rsa_key(c.dir.path(), "next", "rsa-2");
    let served = Arc::new(std::sync::Mutex::new(json!({ "keys": [old] }).to_string()));
    let url = serve_jwks(served.clone());
    let v = JwtVerifier::open(JwtConfig::new(
        JwksSource::parse(&url).unwrap(),
        ISSUER,
        AUDIENCE,
    ))
    .unwrap();
    let first = jwt(
        &c,
        "idp.pem",
        jsonwebtoken::Algorithm::RS256,
        "rsa-1",
        json!({}),
    );
    assert_eq!(v.verify(&first).unwrap().0.role, Role::Planner);
    // The provider signs with a key it published after our read.
    let rotated = jwt(
        &c,
        "next.pem",
        jsonwebtoken::Algorithm::RS256,
        "rsa-2",
        json!({}),
    );
    let e = v.verify(&rotated).unwrap_err().to_string();
    assert!(e.contains("rsa-2") && e.contains("read again"), "{e}");
    assert!(v.wants_refresh(), "an unknown kid asks for a read");
    *served.lock().unwrap() = json!({ "keys": [old, new] }).to_string();
    assert_eq!(v.refresh().unwrap(), 2);
    assert!(!v.wants_refresh());
    assert_eq!(v.verify(&rotated).unwrap().0.name, "陈规划");
    // A broken answer keeps the keys read before.
    *served.lock().unwrap() = "<html>maintenance</html>".into();
    let e = v.refresh().unwrap_err();
    assert!(e.contains("not a JWKS"), "{e}");
    assert!(v.verify(&rotated).is_ok() && v.verify(&first).is_ok());
    // Keys over plain http only from this machine.
    assert!(JwksSource::parse("http://idp.example.cn/certs").is_err());
    assert!(matches!(
        JwksSource::parse("https://idp.example.cn/certs"),
        Ok(JwksSource::Url(_))
    ));
    assert!(matches!(
        JwksSource::parse("jwks.json"),
        Ok(JwksSource::File(_))
    ));
    // An https URL is checked against the system's roots: a server with a
    // certificate no root vouches for is refused (no key is read from it).
    let e = JwtVerifier::open(JwtConfig::new(
        JwksSource::Url("https://127.0.0.1:9/certs".into()),
        ISSUER,
        AUDIENCE,
    ))
    .unwrap_err();
    assert!(e.contains("cannot fetch the JWKS"), "{e}");
}
