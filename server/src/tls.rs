//! TLS on the member port (`--tls-cert`, `--tls-key`): clients and peers
//! alike connect with `wss://`. The certificate and key are re-read when
//! either file changes, so they rotate without a restart. Members dial each
//! other over TLS too, checking the peer's certificate against `--tls-ca`
//! (or the public web roots); membership itself is still proven with the
//! cluster secret (see `raft::peer_auth`), now inside the encrypted link.

use crate::storage::{Stamp, stamp};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio_rustls::{TlsAcceptor, TlsConnector};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("TLS settings: {0}")]
    Config(#[from] rustls::Error),
}

/// The member's TLS settings: what it serves and how it checks peers.
#[derive(Debug)]
pub struct Tls {
    cert: PathBuf,
    key: PathBuf,
    loaded: Mutex<Loaded>,
    peers: Arc<ClientConfig>,
}

#[derive(Debug)]
struct Loaded {
    stamps: [Stamp; 2],
    config: Arc<ServerConfig>,
}

impl Tls {
    /// Reads the certificate chain and key (PEM) and the CA peers'
    /// certificates are checked against; a member whose files do not load
    /// does not start.
    pub fn open(cert: &Path, key: &Path, ca: Option<&Path>) -> Result<Self, TlsError> {
        Ok(Tls {
            cert: cert.to_owned(),
            key: key.to_owned(),
            loaded: Mutex::new(Loaded {
                stamps: stamps(cert, key),
                config: Arc::new(server_config(cert, key)?),
            }),
            peers: Arc::new(client_config(ca)?),
        })
    }

    /// What accepts the next connection: re-read first if the files
    /// changed. Files that no longer load keep the last good ones (and say
    /// why).
    pub fn acceptor(&self) -> TlsAcceptor {
        let mut loaded = crate::sync::lock(&self.loaded);
        let now = stamps(&self.cert, &self.key);
        if now != loaded.stamps {
            loaded.stamps = now;
            match server_config(&self.cert, &self.key) {
                Ok(config) => {
                    loaded.config = Arc::new(config);
                    tracing::info!("loaded the new TLS certificate");
                }
                Err(error) => tracing::error!("keeping the previous TLS certificate: {error}"),
            }
        }
        TlsAcceptor::from(loaded.config.clone())
    }

    /// What dials peers.
    pub fn connector(&self) -> TlsConnector {
        TlsConnector::from(self.peers.clone())
    }
}

/// The name a peer's certificate must carry: the host of its `host:port`.
pub fn server_name(addr: &str) -> Result<ServerName<'static>, String> {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned()).map_err(|e| format!("{addr}: {e}"))
}

fn stamps(cert: &Path, key: &Path) -> [Stamp; 2] {
    [stamp(cert), stamp(key)]
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server_config(cert: &Path, key: &Path) -> Result<ServerConfig, TlsError> {
    let chain = certificates(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| file_error(key, e))?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(config)
}

fn client_config(ca: Option<&Path>) -> Result<ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(ca) => {
            for certificate in certificates(ca)? {
                roots.add(certificate)?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_error(path, e))?;
    if chain.is_empty() {
        return Err(file_error(path, "no certificate in it"));
    }
    Ok(chain)
}

fn file_error(path: &Path, reason: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}
