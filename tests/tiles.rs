//! Vector tiles over HTTP, in process: TileJSON and catalog, content type,
//! gzip and brotli, ETag and 304, 204 for empty tiles, 400 for bad
//! addresses and sources, Cache-Control, styles, and that a new data
//! version is never answered from the cache; tiles decoded by `mvt-reader`
//! (a decoder we did not write) to check that shared borders meet exactly,
//! that there are no gaps, and that clusters count every component.
//! tests/tiles/check.py checks more with GEOS over real connections.

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
    let version = snap.revision() + 1;
    data.grids.retain(|g| g.level < 3);
    state.publish(wangge::snapshot::Snapshot::build(data, version), 0.0);
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
    let set = tiles::TileSet::new(std::sync::Arc::new(snap));
    let snap = set.snapshot();
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
            assert_eq!(set.index().components_in_tile(t), brute, "tile {t:?}");
        }
    }
}

/// A vertex of a decoded tile, tile units.
type TilePoint = (i64, i64);

/// Decoded by `mvt-reader` (a decoder we did not write): at every zoom from
/// 12 to 17, in the city's centre tile, (1) the polygons of each grid level
/// meet exactly: no directed edge appears twice (an overlap) and an edge
/// two grids share is walked in opposite directions; at the unit level,
/// every visible edge no neighbour shares is the city's outer border (a
/// grid on one side, none on the other, by the library's exact lookup) —
/// no gap; (2) cluster counts plus single points equal the number of
/// components inside the tile, counted here from their coordinates.
#[tokio::test]
async fn decoded_tiles_share_borders_exactly_and_clusters_count_every_component() {
    use std::collections::HashMap;
    let (app, state) = app_and_state();
    let snap = state.snapshot();
    let finest = &snap.data().scheme.levels.last().unwrap().name;
    let locations = snap.data().components.locations().to_vec();
    for z in 12..=17u8 {
        let t = centre_tile(&state, z);
        let r = get(
            &app,
            &format!("/tiles/grids,components/{}/{}/{}", t.z, t.x, t.y),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "tile {t:?}");
        let reader = mvt_reader::Reader::new(r.body.to_vec()).expect("a valid tile");
        let layers = reader.get_layer_names().unwrap();
        for (li, name) in layers.iter().enumerate() {
            let features = reader.get_features_as::<f64>(li).unwrap();
            if name == tiles::COMPONENT_LAYER {
                // Single points are drawn in the buffer too: count those whose
                // component (by feature id = code) lies in the tile.
                let n = 1u64 << z;
                let in_tile = |[x, y]: [f64; 2]| {
                    let w = tiles::world(x, y);
                    (w[0] * n as f64).floor() as u64 == t.x as u64
                        && (w[1] * n as f64).floor() as u64 == t.y as u64
                };
                let width = snap.data().component_scheme.len();
                let counted: u64 = features
                    .iter()
                    .map(
                        |f| match f.properties.as_ref().and_then(|p| p.get("point_count")) {
                            Some(mvt_reader::feature::Value::UInt(n)) => *n,
                            Some(other) => panic!("point_count {other:?}"),
                            None => {
                                let code = format!(
                                    "{:0width$}",
                                    f.id.expect("a component has its code as id")
                                );
                                let c = snap
                                    .data()
                                    .components
                                    .find(&code)
                                    .expect("a known component");
                                let p = c.location();
                                u64::from(in_tile([p.x, p.y]))
                            }
                        },
                    )
                    .sum();
                let inside = locations.iter().filter(|&&p| in_tile(p)).count() as u64;
                assert_eq!(counted, inside, "components in tile {t:?}");
                continue;
            }
            if name == tiles::LABEL_LAYER {
                continue;
            }
            // Directed edges of every ring of every polygon, in tile units.
            let mut edges: HashMap<(TilePoint, TilePoint), u32> = HashMap::new();
            for f in &features {
                let polys = match &f.geometry {
                    geo::Geometry::Polygon(p) => vec![p.clone()],
                    geo::Geometry::MultiPolygon(mp) => mp.0.clone(),
                    other => panic!("layer {name}: {other:?}"),
                };
                for p in &polys {
                    for ring in std::iter::once(p.exterior()).chain(p.interiors()) {
                        for w in ring.0.windows(2) {
                            let a = (w[0].x.round() as i64, w[0].y.round() as i64);
                            let b = (w[1].x.round() as i64, w[1].y.round() as i64);
                            *edges.entry((a, b)).or_default() += 1;
                        }
                    }
                }
            }
            let (lo, hi) = (
                -(tiles::BUFFER as i64),
                (tiles::EXTENT + tiles::BUFFER) as i64,
            );
            let on_buffer = |(x, y): (i64, i64)| x == lo || x == hi || y == lo || y == hi;
            for (&(a, b), &n) in &edges {
                assert_eq!(
                    n, 1,
                    "layer {name} z{z}: edge {a:?}→{b:?} drawn {n} times (an overlap)"
                );
                let along_buffer = on_buffer(a) && on_buffer(b) && (a.0 == b.0 || a.1 == b.1);
                // Coverage is checked where the tile is drawn; in the buffer
                // a vertex near the clip edge may be kept a unit inside it.
                let visible = |(x, y): (i64, i64)| {
                    (0..=tiles::EXTENT as i64).contains(&x)
                        && (0..=tiles::EXTENT as i64).contains(&y)
                };
                if name == finest
                    && !edges.contains_key(&(b, a))
                    && !along_buffer
                    && visible(a)
                    && visible(b)
                {
                    // An edge no neighbour shares must be the level's outer
                    // border: half a unit to one side is in a grid of the
                    // level, to the other side in none (no gap).
                    let (mx, my) = ((a.0 + b.0) as f64 / 2.0, (a.1 + b.1) as f64 / 2.0);
                    let (dx, dy) = ((b.0 - a.0) as f64, (b.1 - a.1) as f64);
                    let len = (dx * dx + dy * dy).sqrt();
                    let level = snap.data().scheme.levels.len() - 1;
                    let probe = |s: f64| (mx - s * dy / len, my + s * dx / len);
                    let in_clip = |(x, y): (f64, f64)| {
                        x > lo as f64 && x < hi as f64 && y > lo as f64 && y < hi as f64
                    };
                    if !in_clip(probe(2.0)) || !in_clip(probe(-2.0)) {
                        continue; // the neighbour across it was clipped away
                    }
                    let side = |s: f64| {
                        let (ux, uy) = probe(s);
                        let w = [
                            (t.x as f64 + ux / tiles::EXTENT as f64) / (1u64 << z) as f64,
                            (t.y as f64 + uy / tiles::EXTENT as f64) / (1u64 << z) as f64,
                        ];
                        snap.level(level).locate(tiles::lonlat(w)).is_some()
                    };
                    assert!(
                        side(2.0) != side(-2.0),
                        "layer {name} z{z}: edge {a:?}→{b:?} borders no neighbour, but grids lie on both sides or neither (a gap)"
                    );
                }
            }
        }
    }
}
