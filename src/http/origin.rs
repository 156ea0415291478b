//! The public base URL written into documents that link back to this server
//! (TileJSON, styles, OGC API links), and which clients' forwarded headers
//! are believed.
//!
//! A client's `Host` or `X-Forwarded-Proto` header must not decide where
//! another client's map fetches its tiles: with `--public-url` the base is
//! fixed; without it, `Host` is used only when it is a well-formed
//! `host[:port]` (responses then say `Vary: Host`), and forwarded headers only
//! from the proxies named by `--trusted-proxy`, and only with valid values.

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

use super::{ApiError, AppState};

/// How the server names itself in the documents it serves.
#[derive(Debug, Clone, Default)]
pub struct PublicUrl {
    /// The fixed base URL (scheme, host, optional port and path prefix, no
    /// trailing slash), e.g. `https://grid.example.gov.cn`.
    pub base: Option<String>,
    /// Proxies whose `X-Forwarded-Proto` / `X-Forwarded-Host` /
    /// `X-Forwarded-For` are believed.
    pub trusted_proxies: Vec<IpNet>,
}

impl PublicUrl {
    /// Checks and normalises a `--public-url` value.
    pub fn parse_base(url: &str) -> Result<String, String> {
        let trimmed = url.trim().trim_end_matches('/');
        let rest = trimmed
            .strip_prefix("https://")
            .or_else(|| trimmed.strip_prefix("http://"))
            .ok_or_else(|| format!("--public-url '{url}' must start with http:// or https://"))?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        if !valid_host(host) {
            return Err(format!(
                "--public-url '{url}' has no valid host[:port] after the scheme"
            ));
        }
        if !path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~/".contains(&b))
        {
            return Err(format!(
                "--public-url '{url}': the path may hold only letters, digits and -._~/"
            ));
        }
        Ok(trimmed.to_string())
    }

    /// True when `peer` is one of the trusted proxies.
    pub fn trusts(&self, peer: Option<IpAddr>) -> bool {
        peer.is_some_and(|ip| self.trusted_proxies.iter().any(|n| n.contains(&ip)))
    }

    /// The client's address for the audit log and the access log: the
    /// connection's peer, or, when the peer is a trusted proxy, the
    /// address that `X-Forwarded-For` names as the first hop outside the
    /// trusted proxies (the rightmost untrusted entry: entries left of it
    /// were written by the client and prove nothing).
    pub fn client(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> Option<IpAddr> {
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|h| h.trim().parse::<IpAddr>())
            .collect::<Result<_, _>>()
            .unwrap_or_default();
        hops.into_iter()
            .rev()
            .find(|ip| !self.trusts(Some(*ip)))
            .or(peer)
    }

    /// The headers a response's links depend on (for `Vary`), if any.
    pub fn varies_by(&self) -> Option<&'static str> {
        match (&self.base, self.trusted_proxies.is_empty()) {
            (Some(_), _) => None,
            (None, true) => Some("host"),
            (None, false) => Some("host, x-forwarded-host, x-forwarded-proto"),
        }
    }

    /// The base URL for a request from `peer` with `headers`.
    pub fn base_for(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> Result<String, ApiError> {
        if let Some(b) = &self.base {
            return Ok(b.clone());
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let trusted = self.trusts(peer);
        let forwarded_host = header("x-forwarded-host")
            .filter(|_| trusted)
            .map(|h| h.split(',').next().unwrap_or("").trim())
            .filter(|h| valid_host(h));
        let host = match forwarded_host.or(header("host")) {
            Some(h) if valid_host(h) => h,
            Some(_) => {
                return Err(ApiError::bad(
                    "bad_host",
                    "the Host header is not a valid host[:port]: send the name or address this server was reached at",
                ));
            }
            None => "localhost",
        };
        let proto = header("x-forwarded-proto")
            .filter(|_| trusted)
            .map(|p| p.split(',').next().unwrap_or("").trim())
            .filter(|p| matches!(*p, "http" | "https"))
            .unwrap_or("http");
        Ok(format!("{proto}://{host}"))
    }
}

/// A well-formed `host[:port]`: a DNS name or IPv4 address of letters,
/// digits, `-` and `.`, or a bracketed IPv6 address; a port of 1-5 digits.
fn valid_host(h: &str) -> bool {
    if h.is_empty() || h.len() > 255 {
        return false;
    }
    let (name, port) = if let Some(rest) = h.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, tail)) => {
                if v6.parse::<std::net::Ipv6Addr>().is_err() {
                    return false;
                }
                (None, tail.strip_prefix(':'))
            }
            None => return false,
        }
    } else {
        match h.rsplit_once(':') {
            Some((n, p)) => (Some(n), Some(p)),
            None => (Some(h), None),
        }
    };
    let name_ok = name.is_none_or(|n| {
        !n.is_empty()
            && n.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    });
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    name_ok && port_ok
}

/// The base URL of this server for the request being answered (see [`PublicUrl`]).
#[derive(Debug, Clone)]
pub struct BaseUrl(pub String);

impl FromRequestParts<AppState> for BaseUrl {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = crate::server::peer(&parts.extensions).map(|a| a.ip());
        state.public.base_for(&parts.headers, peer).map(BaseUrl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_client_behind_trusted_proxies_is_the_first_untrusted_hop() {
        let p = PublicUrl {
            base: None,
            trusted_proxies: vec!["10.0.0.0/24".parse().unwrap()],
        };
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let outsider: IpAddr = "203.0.113.9".parse().unwrap();
        // A client may write anything on the left; the hop the proxies saw counts.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7, 10.0.0.6")]);
        assert_eq!(p.client(&h, Some(proxy)), "198.51.100.7".parse().ok());
        // From a peer that is no trusted proxy the header is ignored.
        assert_eq!(p.client(&h, Some(outsider)), Some(outsider));
        // Garbage or nothing but proxies: the peer.
        let h = headers(&[("x-forwarded-for", "not an address")]);
        assert_eq!(p.client(&h, Some(proxy)), Some(proxy));
        let h = headers(&[("x-forwarded-for", "10.0.0.7")]);
        assert_eq!(p.client(&h, Some(proxy)), Some(proxy));
        assert_eq!(p.client(&HeaderMap::new(), None), None);
    }

    #[test]
    fn a_configured_base_ignores_every_header() {
        let p = PublicUrl {
            base: Some(PublicUrl::parse_base("https://grid.example.cn/map/").unwrap()),
            trusted_proxies: vec![],
        };
        let h = headers(&[
            ("host", "evil.example"),
            ("x-forwarded-proto", "https://evil.example/#"),
        ]);
        assert_eq!(p.base_for(&h, None).unwrap(), "https://grid.example.cn/map");
        assert_eq!(p.varies_by(), None);
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies_and_only_when_valid() {
        let p = PublicUrl {
            base: None,
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
        };
        let h = headers(&[
            ("host", "127.0.0.1:8080"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "grid.example.cn"),
        ]);
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let stranger: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(
            p.base_for(&h, Some(proxy)).unwrap(),
            "https://grid.example.cn"
        );
        assert_eq!(
            p.base_for(&h, Some(stranger)).unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(p.base_for(&h, None).unwrap(), "http://127.0.0.1:8080");
        let bad = headers(&[
            ("host", "a.cn"),
            ("x-forwarded-proto", "https://evil.example/#"),
        ]);
        assert_eq!(p.base_for(&bad, Some(proxy)).unwrap(), "http://a.cn");
    }

    #[test]
    fn malformed_hosts_are_refused() {
        let p = PublicUrl::default();
        for h in [
            "evil.example/#",
            "a b",
            "x:y",
            "[::1",
            "a..b",
            "host:123456",
        ] {
            assert!(p.base_for(&headers(&[("host", h)]), None).is_err(), "{h}");
        }
        for h in [
            "localhost",
            "127.0.0.1:8080",
            "[::1]:8080",
            "grid-1.example.cn",
        ] {
            assert!(p.base_for(&headers(&[("host", h)]), None).is_ok(), "{h}");
        }
        assert!(PublicUrl::parse_base("ftp://x").is_err());
        assert!(PublicUrl::parse_base("https://x/a?b").is_err());
    }
}
