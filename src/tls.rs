//! Optional TLS for `wangge serve --tls-cert FILE --tls-key FILE`: rustls
//! with the `ring` provider (TLS 1.2 and 1.3, ALPN `h2` and `http/1.1`).
//! Phones give their location only to `https` pages, and many closed
//! networks have no proxy to end TLS for us.
//!
//! The certificate chain and key are PEM files, read at start and again on
//! [`Tls::reload`] (the server calls it on SIGHUP): connections open keep
//! their session, new ones get the new certificate. A reload that fails
//! (a half-written file, a key that does not match) keeps the old one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::crypto::ring as provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Why the certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file cannot be read or holds no certificate.
    #[error("--tls-cert {path}: {why}")]
    Certificate {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The key file cannot be read or holds no private key.
    #[error("--tls-key {path}: {why}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The key is not the certificate's, or rustls refuses the setup.
    #[error("--tls-cert and --tls-key: {0}")]
    Setup(String),
}

/// The server's TLS: the acceptor and the certificate it presents now.
pub struct Tls {
    acceptor: tokio_rustls::TlsAcceptor,
    resolver: Arc<Reloading>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.resolver.cert)
            .field("key", &self.resolver.key)
            .finish()
    }
}

/// The certificate presented, swapped whole on reload.
#[derive(Debug)]
struct Reloading {
    cert: PathBuf,
    key: PathBuf,
    current: ArcSwap<CertifiedKey>,
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// Reads a PEM certificate chain and its private key (PKCS#8, PKCS#1 or
/// SEC1) and checks that they belong together.
fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| TlsError::Certificate {
            path: cert.into(),
            why: e.to_string(),
        })?
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Certificate {
            path: cert.into(),
            why: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::Certificate {
            path: cert.into(),
            why: "no PEM certificate (-----BEGIN CERTIFICATE-----) in it".into(),
        });
    }
    let der = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.into(),
        why: format!("{e} (a PEM private key is needed: PKCS#8, RSA or EC)"),
    })?;
    let signing = provider::sign::any_supported_type(&der).map_err(|e| TlsError::Key {
        path: key.into(),
        why: e.to_string(),
    })?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| {
        TlsError::Setup(format!("the key does not belong to the certificate ({e})"))
    })?;
    Ok(certified)
}

impl Tls {
    /// TLS with the certificate chain in `cert` and its key in `key` (PEM).
    pub fn new(cert: &Path, key: &Path) -> Result<Tls, TlsError> {
        let resolver = Arc::new(Reloading {
            cert: cert.into(),
            key: key.into(),
            current: ArcSwap::from_pointee(load(cert, key)?),
        });
        let mut config =
            rustls::ServerConfig::builder_with_provider(Arc::new(provider::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| TlsError::Setup(e.to_string()))?
                .with_no_client_auth()
                .with_cert_resolver(resolver.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            resolver,
        })
    }

    /// Reads the certificate and key files again and presents them to new
    /// connections; on failure the old ones stay.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = load(&self.resolver.cert, &self.resolver.key)?;
        self.resolver.current.store(Arc::new(fresh));
        Ok(())
    }

    /// The acceptor for incoming connections.
    pub fn acceptor(&self) -> &tokio_rustls::TlsAcceptor {
        &self.acceptor
    }
}
