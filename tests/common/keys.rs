//! Signing keys for the JWT tests and benchmark, made by openssl (a tool we
//! did not write), and the JWKS entries an identity provider would publish
//! for them.

#![allow(dead_code)] // the benchmark uses only the RSA key

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

/// Runs openssl in `dir`; its standard output.
pub fn openssl(args: &[&str], dir: &Path) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is needed: scripts/deps installs it");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Base64url without padding (RFC 7515).
pub fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |acc, &b| (acc << 8) | b as u32) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Makes a 2048-bit RSA key `name` in `dir` and returns its JWK (RS256).
pub fn rsa_key(dir: &Path, name: &str, kid: &str) -> Value {
    let pem = format!("{name}.pem");
    openssl(
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            &pem,
        ],
        dir,
    );
    let modulus =
        String::from_utf8(openssl(&["rsa", "-in", &pem, "-noout", "-modulus"], dir)).unwrap();
    let hex = modulus.trim().trim_start_matches("Modulus=");
    let n: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": b64url(&n), "e": "AQAB"})
}

/// Makes a P-256 key `name` in `dir` (PKCS#8, as jsonwebtoken signs with)
/// and returns its JWK (ES256).
pub fn ec_key(dir: &Path, name: &str, kid: &str) -> Value {
    let raw = format!("{name}-raw.pem");
    openssl(
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            &raw,
        ],
        dir,
    );
    openssl(
        &[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            &raw,
            "-out",
            &format!("{name}.pem"),
        ],
        dir,
    );
    // The public key's DER ends with the uncompressed point 04 || x || y.
    let der = openssl(&["ec", "-in", &raw, "-pubout", "-outform", "DER"], dir);
    let point = &der[der.len() - 65..];
    assert_eq!(point[0], 4);
    json!({"kty": "EC", "kid": kid, "alg": "ES256", "use": "sig", "crv": "P-256",
           "x": b64url(&point[1..33]), "y": b64url(&point[33..])})
}
