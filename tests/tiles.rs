//! Vector tiles over HTTP, in process: TileJSON and catalog, content type,
//! gzip and brotli, ETag and 304, 204 for empty tiles, 400 for bad
//! addresses and sources, Cache-Control, styles, and that a new data
//! version is never answered from the cache. Geometry is checked with an
//! independent decoder in tests/tiles/check.py; here the library's own
//! invariants: clusters count every component, shared borders stay shared.

mod common;

use std::io::Read;

use axum::Router;
use axum::http::{StatusCode, header};
use serde_json::Value;

use common::{Reply, get, get_with, load};
use wangge::http::{AppState, Limits, TileConfig, router};
use wangge::tiles::{self, TileId};

fn app_with(config: TileConfig) -> (Router, AppState) {
    let (_, snap) = load();
    let state = AppState::new(snap, Limits::default()).with_tiles(config);
    (router(state.clone()), state)
}

fn app() -> Router {
    app_with(TileConfig::default()).0
}

fn app_and_state() -> (Router, AppState) {
    app_with(TileConfig::default())
}

/// The tile of the served city's centre at zoom `z`.
fn centre_tile(state: &AppState, z: u8) -> TileId {
    let c = state.snapshot().extent().unwrap().center();
    tiles::tiles_covering(geo::Rect::new(c, c), z)[0]
}

fn header(r: &Reply, name: header::HeaderName) -> &str {
    r.headers
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

#[tokio::test]
async fn tilejson_describes_the_sources() {
    let app = app();
    let r = get_with(
        &app,
        "/tiles/grids,components",
        &[(header::HOST, "maps.example:9000")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let tj = r.json();
    assert_eq!(tj["tilejson"], "3.0.0");
    assert_eq!(
        tj["tiles"][0],
        "http://maps.example:9000/tiles/grids,components/{z}/{x}/{y}"
    );
    assert_eq!(tj["maxzoom"], 18);
    let ids: Vec<&str> = tj["vector_layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "district",
            "street",
            "community",
            "unit",
            "grid_labels",
            "components"
        ]
    );
    for l in tj["vector_layers"].as_array().unwrap() {
        assert!(
            l["fields"]
                .as_object()
                .is_some_and(|f| f.contains_key("code")),
            "{l}"
        );
    }
    let b = tj["bounds"].as_array().unwrap();
    let (_, snap) = load();
    let e = snap.extent().unwrap();
    assert!(b[0].as_f64().unwrap() <= e.min().x && b[2].as_f64().unwrap() >= e.max().x);
    let finer: Vec<u64> = tj["vector_layers"].as_array().unwrap()[..4]
        .iter()
        .map(|l| l["minzoom"].as_u64().unwrap())
        .collect();
    assert!(finer.windows(2).all(|w| w[0] <= w[1]), "{finer:?}");
}

#[tokio::test]
async fn catalog_lists_sources_and_styles() {
    let r = get(&app(), "/catalog").await;
    assert_eq!(r.status, StatusCode::OK);
    let c = r.json();
    assert_eq!(
        c["tiles"]["grids"]["content_type"],
        "application/vnd.mapbox-vector-tile"
    );
    assert!(c["tiles"]["components"]["layers"][0] == "components");
    assert!(
        c["styles"]["wangge"]["url"]
            .as_str()
            .unwrap()
            .ends_with("/styles/wangge.json")
    );
}

#[tokio::test]
async fn a_tile_is_mvt_with_gzip_brotli_and_etag() {
    let (app, state) = app_and_state();
    let t = centre_tile(&state, 14);
    let uri = format!("/tiles/grids/{}/{}/{}", t.z, t.x, t.y);
    let plain = get(&app, &uri).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert_eq!(plain.content_type(), "application/vnd.mapbox-vector-tile");
    assert_eq!(header(&plain, header::CONTENT_ENCODING), "");
    assert_eq!(header(&plain, header::CACHE_CONTROL), "public, max-age=300");
    assert!(header(&plain, header::VARY).contains("accept-encoding"));
    assert!(plain.body.len() > 1000);

    let gz = get_with(&app, &uri, &[(header::ACCEPT_ENCODING, "gzip")]).await;
    assert_eq!(header(&gz, header::CONTENT_ENCODING), "gzip");
    let mut back = Vec::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, plain.body.to_vec());
    assert!(gz.body.len() < plain.body.len());

    let br = get_with(
        &app,
        &uri,
        &[(header::ACCEPT_ENCODING, "gzip, deflate, br")],
    )
    .await;
    assert_eq!(header(&br, header::CONTENT_ENCODING), "br");
    let mut back = Vec::new();
    brotli::Decompressor::new(&br.body[..], 4096)
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, plain.body.to_vec());

    // ETag per representation, 304 for a matching If-None-Match.
    let tag = header(&gz, header::ETAG).to_string();
    assert!(tag.starts_with('"') && tag.ends_with('"'));
    assert_ne!(tag, header(&plain, header::ETAG));
    let again = get_with(
        &app,
        &uri,
        &[
            (header::ACCEPT_ENCODING, "gzip"),
            (header::IF_NONE_MATCH, &tag),
        ],
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    assert_eq!(header(&again, header::ETAG), tag);
    let other = get_with(
        &app,
        &uri,
        &[(header::IF_NONE_MATCH, "\"0000000000000000-1\"")],
    )
    .await;
    assert_eq!(other.status, StatusCode::OK);
    // The .mvt and .pbf suffixes address the same tile.
    let suffixed = get(&app, &format!("{uri}.mvt")).await;
    assert_eq!(suffixed.body, plain.body);
}

#[tokio::test]
async fn several_sources_make_one_tile_with_all_layers() {
    let (app, state) = app_and_state();
    let t = centre_tile(&state, 15);
    let both = get(
        &app,
        &format!("/tiles/grids,components/{}/{}/{}", t.z, t.x, t.y),
    )
    .await;
    let g = get(&app, &format!("/tiles/grids/{}/{}/{}", t.z, t.x, t.y)).await;
    let c = get(&app, &format!("/tiles/components/{}/{}/{}", t.z, t.x, t.y)).await;
    assert_eq!(both.status, StatusCode::OK);
    // Layers are concatenated: the combined tile is the two tiles end to end.
    assert_eq!(
        both.body.to_vec(),
        [g.body.to_vec(), c.body.to_vec()].concat()
    );
}

#[tokio::test]
async fn an_empty_tile_is_204() {
    let app = app();
    // Far from the sample city (Nanjing): the middle of the Pacific.
    for uri in [
        "/tiles/grids/10/10/500",
        "/tiles/components/16/100/30000",
        "/tiles/grids/0/0/0",
    ] {
        // (The world tile 0/0/0 is below the districts' zoom: empty too.)
        let r = get(&app, uri).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{uri}");
        assert!(r.body.is_empty());
        assert_eq!(header(&r, header::CACHE_CONTROL), "public, max-age=300");
    }
}

#[tokio::test]
async fn bad_tile_requests_are_400_with_a_reason() {
    let app = app();
    for (uri, code) in [
        ("/tiles/roads/14/1/1", "bad_source"),
        ("/tiles/grids,roads/14/1/1", "bad_source"),
        ("/tiles/,/14/1/1", "bad_source"),
        ("/tiles/grids/19/0/0", "bad_tile"),
        ("/tiles/grids/99999999999999/0/0", "bad_tile"),
        ("/tiles/grids/3/8/0", "bad_tile"),
        ("/tiles/grids/3/0/8", "bad_tile"),
        ("/tiles/grids/3/-1/0", "bad_tile"),
        ("/tiles/grids/a/0/0", "bad_tile"),
        ("/tiles/grids/3/0/1.png", "bad_tile"),
        ("/tiles/roads", "bad_source"),
    ] {
        let r = get(&app, uri).await;
        let message = r.assert_error(StatusCode::BAD_REQUEST, code);
        assert!(message.len() > 20, "{uri}: {message}");
    }
    let r = get(&app, "/styles/nope.json").await;
    r.assert_error(StatusCode::NOT_FOUND, "not_found");
    let r = get(&app, "/styles/wangge").await;
    r.assert_error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn cache_control_is_configurable_and_the_cache_can_be_off() {
    for bytes in [0, 64 << 20] {
        let (app, state) = app_with(TileConfig {
            cache_bytes: bytes,
            cache_control: "no-store".into(),
        });
        let t = centre_tile(&state, 13);
        let uri = format!("/tiles/grids/{}/{}/{}", t.z, t.x, t.y);
        let r = get(&app, &uri).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(header(&r, header::CACHE_CONTROL), "no-store");
        // The same tile again: identical bytes and ETag, from the cache
        // only when there is one.
        let again = get(&app, &uri).await;
        assert_eq!(again.body, r.body);
        assert_eq!(header(&again, header::ETAG), header(&r, header::ETAG));
        let metric = |name: &str| -> u64 {
            let text = state.metrics().render();
            text.lines()
                .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
                .unwrap_or_else(|| panic!("no {name} in {text}"))
        };
        let (hits, misses) = (
            metric("wangge_tile_cache_hits_total "),
            metric("wangge_tile_cache_misses_total "),
        );
        if bytes == 0 {
            assert_eq!((hits, misses), (0, 2), "no cache: both rendered");
        } else {
            assert_eq!((hits, misses), (1, 1), "the second from the cache");
        }
    }
}

#[tokio::test]
async fn a_new_data_version_is_never_served_from_the_cache() {
    let (app, state) = app_with(TileConfig::default());
    let t = centre_tile(&state, 14);
    let uri = format!("/tiles/grids/{}/{}/{}", t.z, t.x, t.y);
    let before = get(&app, &uri).await;
    assert_eq!(before.status, StatusCode::OK);
    // Publish the same city without its unit grids, as a new version.
    let (_, snap) = load();
    let mut data = snap.data().clone();
    let version = snap.version() + 1;
    data.grids.retain(|g| g.level < 3);
    state.publish(wangge::index::Snapshot::build(data, version), 0.0);
    let after = get(&app, &uri).await;
    assert_eq!(after.status, StatusCode::OK);
    assert!(after.body.len() < before.body.len());
    assert_ne!(header(&after, header::ETAG), header(&before, header::ETAG));
    let tj = get(&app, "/tiles/grids").await.json();
    assert_eq!(tj["version"], Value::String(version.to_string()));
}

#[tokio::test]
async fn styles_point_at_the_serving_host() {
    let r = get_with(
        &app(),
        "/styles/wangge.json",
        &[(header::HOST, "grid.local:8080")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let style = r.json();
    assert_eq!(style["version"], 8);
    assert_eq!(
        style["sources"]["grids"]["url"],
        "http://grid.local:8080/tiles/grids"
    );
    assert_eq!(
        style["sources"]["components"]["url"],
        "http://grid.local:8080/tiles/components"
    );
    assert!(!r.text().contains("{origin}"));
    let layers = style["layers"].as_array().unwrap();
    for l in [
        "district",
        "street",
        "community",
        "unit",
        "grid_labels",
        "components",
    ] {
        assert!(
            layers.iter().any(|x| x["source-layer"] == l),
            "no style layer draws {l}"
        );
    }
}

/// The Morton index counts a tile's components as a brute-force scan does,
/// at every zoom (clusters are built from these runs; the sum of a tile's
/// `point_count`s is checked against the coordinates in tests/tiles/check.py).
#[test]
fn morton_tile_counts_match_a_brute_force_count() {
    let (_, snap) = load();
    let locations = snap.data().components.locations().to_vec();
    for z in 8..=18u8 {
        let extent = snap.components_extent().unwrap();
        for t in tiles::tiles_covering(extent, z)
            .into_iter()
            .step_by(7)
            .take(40)
        {
            let n = 1u64 << z;
            let brute = locations
                .iter()
                .filter(|&&[lon, lat]| {
                    let w = tiles::world(lon, lat);
                    (w[0] * n as f64).floor() as u32 == t.x
                        && (w[1] * n as f64).floor() as u32 == t.y
                })
                .count();
            assert_eq!(snap.tiles().components_in_tile(t), brute, "tile {t:?}");
        }
    }
}
