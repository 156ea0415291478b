//! The cost of authentication per request: `GET /lookup` through the HTTP
//! router (in process, handler and JSON included) with no token, with an
//! API key and with an RS256 JWT (each checked once, then trusted for a
//! minute, a JWT no longer than its `exp`), same run; and the first check
//! of each (argon2id, RSA signature), which the trust saves; on the
//! seeded city of 16,000 unit grids and 2 million components served from a
//! store. Keys are made by openssl for the run.
//!
//!
//! Then the cost of scopes on reads: the unit level's statistics and a
//! page of components for the public (the snapshot's counts, every
//! component), a department's token (one major class: counts made over
//! the city's components of it) and a worker's (their own grids).
//!
//! `cargo bench --bench auth`; `WANGGE_BENCH_UNITS` /
//! `WANGGE_BENCH_COMPONENTS` for other sizes.

mod common;
#[path = "../tests/common/keys.rs"]
mod test_keys;

use std::sync::Arc;

use axum::http::header::AUTHORIZATION;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use wangge::auth::keys::{self, KeyRequest};
use wangge::auth::{JwtConfig, JwtVerifier, Role};
use wangge::http::{AppState, Editing, Limits, Planners, router};

fn bench(c: &mut Criterion) {
    let units = common::env("WANGGE_BENCH_UNITS", 16_000);
    let components = common::env("WANGGE_BENCH_COMPONENTS", 2_000_000);
    let data = common::data_dir(units, components);
    let tmp = tempfile::tempdir_in("target").expect("tempdir");
    let (store, _) =
        wangge::edit::open_or_seed(&tmp.path().join("city.gpkg"), &data).expect("seed");
    let store: Arc<dyn wangge::store::Store> = Arc::new(store);
    let view = wangge::edit::head_view(store.as_ref()).unwrap();
    let snap = wangge::snapshot::Snapshot::from_store(store.as_ref(), view).unwrap();
    let ext = snap.extent().unwrap();
    // The identity provider's key and JWKS.
    let dir = tmp.path();
    let jwk = test_keys::rsa_key(dir, "idp", "k1");
    let jwks = dir.join("jwks.json");
    std::fs::write(&jwks, serde_json::json!({ "keys": [jwk] }).to_string()).unwrap();
    let (issuer, audience) = ("https://idp.example.cn", "wangge");
    let jwt = JwtVerifier::open(JwtConfig::new(&jwks, issuer, audience)).unwrap();
    let uncached = JwtVerifier::open(JwtConfig::new(&jwks, issuer, audience)).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("k1".into());
    let token = jsonwebtoken::encode(
        &header,
        &serde_json::json!({"sub": "u1", "role": "viewer", "iss": issuer, "aud": audience, "exp": now + 86_400}),
        &jsonwebtoken::EncodingKey::from_rsa_pem(&std::fs::read(dir.join("idp.pem")).unwrap()).unwrap(),
    )
    .unwrap();
    let (_, key) = keys::create(
        store.as_ref(),
        &KeyRequest {
            name: "screen".into(),
            role: Role::Viewer,
            worker: None,
            classes: Vec::new(),
        },
    )
    .unwrap();
    let unit = snap.data().scheme.finest();
    let worker = snap
        .data()
        .grids
        .iter()
        .find(|g| g.level == unit)
        .and_then(|g| g.worker.clone())
        .expect("unit grids have workers");
    let major = snap
        .data()
        .classes
        .def(snap.data().components.get(0).class())
        .major()
        .to_string();
    let scoped_key = |role: Role, worker: Option<String>, classes: Vec<String>| {
        let (_, key) = keys::create(
            store.as_ref(),
            &KeyRequest {
                name: format!("{role}"),
                role,
                worker,
                classes,
            },
        )
        .unwrap();
        format!("Bearer {key}")
    };
    let worker_header = scoped_key(Role::Worker, Some(worker), Vec::new());
    let department_header = scoped_key(Role::Department, None, vec![major]);
    let state = AppState::new(snap, Limits::default()).with_editing(Editing::with_auth(
        store.clone(),
        Planners::default(),
        Some(jwt),
    ));
    let app = router(state);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(14);
    let mut point = move || {
        format!(
            "/lookup?lon={}&lat={}",
            ext.min().x + rng.random::<f64>() * ext.width(),
            ext.min().y + rng.random::<f64>() * ext.height()
        )
    };
    let (key_header, jwt_header) = (format!("Bearer {key}"), format!("Bearer {token}"));
    let mut g = c.benchmark_group(format!("auth_lookup_{units}_grids"));
    g.throughput(Throughput::Elements(1));
    g.bench_function("no_token", |b| {
        b.iter(|| common::get(&rt, &app, &point(), &[]))
    });
    g.bench_function("api_key", |b| {
        b.iter(|| common::get(&rt, &app, &point(), &[(AUTHORIZATION, key_header.as_str())]))
    });
    g.bench_function("jwt_rs256", |b| {
        b.iter(|| common::get(&rt, &app, &point(), &[(AUTHORIZATION, jwt_header.as_str())]))
    });
    // A grid worker's phone asking "which grid am I in": a scoped reader.
    g.bench_function("worker_key", |b| {
        b.iter(|| {
            common::get(
                &rt,
                &app,
                &point(),
                &[(AUTHORIZATION, worker_header.as_str())],
            )
        })
    });
    g.finish();
    // The first check of each, which trusting a checked token saves.
    let mut g = c.benchmark_group("auth_first_check");
    g.bench_function("jwt_rs256_signature", |b| {
        b.iter(|| uncached.verify(&token).expect("valid JWT"))
    });
    g.sample_size(10);
    g.bench_function("api_key_argon2id", |b| {
        b.iter(|| keys::check(store.as_ref(), &key).expect("valid key"))
    });
    g.finish();
    // Scoped reads: the same requests as the public, a department, a worker.
    let mut g = c.benchmark_group(format!("scoped_reads_{units}_grids"));
    g.sample_size(20);
    let readers: [(&str, &[(axum::http::HeaderName, &str)]); 3] = [
        ("public", &[]),
        ("department", &[(AUTHORIZATION, department_header.as_str())]),
        ("worker", &[(AUTHORIZATION, worker_header.as_str())]),
    ];
    for (who, headers) in readers {
        g.bench_function(format!("unit_stats_{who}"), |b| {
            b.iter(|| common::get(&rt, &app, "/stats?level=unit", headers))
        });
        g.bench_function(format!("components_page_{who}"), |b| {
            b.iter(|| {
                common::get(
                    &rt,
                    &app,
                    "/ogc/collections/components/items?limit=100",
                    headers,
                )
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
