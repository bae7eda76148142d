//! tokio-tungstenite transport: `ws://`, and `wss://` through rustls.

use super::{Link, Posted, Transport};
use futures_util::{SinkExt, StreamExt};
use raftcp_proto::limits::FRAME_BYTES_MAX;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

/// Opens WebSockets with tokio-tungstenite; `wss://` endpoints are checked
/// against the public web roots and any CA given.
#[derive(Debug, Clone)]
pub struct TokioTransport {
    tls: Arc<ClientConfig>,
}

impl Default for TokioTransport {
    fn default() -> Self {
        TokioTransport {
            tls: Arc::new(tls_config(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            })),
        }
    }
}

impl TokioTransport {
    /// Also trusts the certificates in `pem` (a private CA).
    pub fn with_ca_pem(pem: &[u8]) -> Result<Self, String> {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let mut added = 0;
        for certificate in CertificateDer::pem_slice_iter(pem) {
            let certificate = certificate.map_err(|e| format!("CA certificate: {e}"))?;
            roots
                .add(certificate)
                .map_err(|e| format!("CA certificate: {e}"))?;
            added += 1;
        }
        if added == 0 {
            return Err("the CA PEM holds no certificate".into());
        }
        Ok(TokioTransport {
            tls: Arc::new(tls_config(roots)),
        })
    }
}

fn tls_config(roots: RootCertStore) -> ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// One tokio-tungstenite WebSocket.
#[derive(Debug)]
pub struct TokioLink {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Transport for TokioTransport {
    type Link = TokioLink;

    async fn connect(&mut self, url: &str) -> Result<TokioLink, String> {
        let mut request = url.into_client_request().map_err(|e| e.to_string())?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(raftcp_proto::SUBPROTOCOL),
        );
        let uri = request.uri();
        // The scheme decides (tokio-tungstenite encrypts `wss://`); never
        // anything else, so an endpoint that asked for TLS gets it.
        let default_port = match uri.scheme_str() {
            Some("ws") => 80,
            Some("wss") => 443,
            _ => {
                return Err(format!(
                    "{url}: only ws:// and wss:// endpoints are supported"
                ));
            }
        };
        let host = uri.host().ok_or_else(|| format!("{url}: no host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(default_port);
        let stream = TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("connect {url}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        // Small frames: a small read buffer (tungstenite zero-fills it per read).
        let config = WebSocketConfig::default()
            .read_buffer_size(8 * 1024)
            .max_message_size(Some(FRAME_BYTES_MAX))
            .max_frame_size(Some(FRAME_BYTES_MAX));
        let connector = Some(Connector::Rustls(self.tls.clone()));
        let (socket, _) = tokio_tungstenite::client_async_tls_with_config(
            request,
            stream,
            Some(config),
            connector,
        )
        .await
        .map_err(|e| format!("websocket handshake with {url}: {e}"))?;
        Ok(TokioLink { socket })
    }

    async fn post(
        &self,
        url: &str,
        body: Vec<u8>,
        token: Option<String>,
    ) -> Result<Posted, String> {
        super::native_http::post(&self.tls, url, body, token).await
    }
}

impl Link for TokioLink {
    async fn send(&mut self, frame: Vec<u8>) -> Result<(), String> {
        self.socket
            .feed(Message::binary(frame))
            .await
            .map_err(|e| e.to_string())
    }

    async fn flush(&mut self) -> Result<(), String> {
        self.socket.flush().await.map_err(|e| e.to_string())
    }

    async fn recv(&mut self) -> Option<Vec<u8>> {
        loop {
            match self.socket.next().await? {
                Ok(Message::Binary(bytes)) => return Some(bytes.to_vec()),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }
}
