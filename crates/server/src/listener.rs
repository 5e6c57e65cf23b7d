//! Listeners: accept loops for TCP, TLS and WebSocket, each handing sockets to a connection
//! task tracked for shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_util::task::TaskTracker;

use crate::config::{TlsListenerConfig, WsListenerConfig};
use crate::transport::Transport;
use crate::{Broker, ServerError, connection};

/// What a listener wraps its sockets in.
#[derive(Clone)]
pub enum Kind {
    Tcp,
    Tls(TlsAcceptor),
    Ws { path: String },
}

/// Pending connections the kernel queues per listener (capped by `net.core.somaxconn`).
pub const BACKLOG: u32 = 4096;

/// Bind a listener's socket without listening: the port is taken (a busy one fails here,
/// before the broker reports itself started) but connects are refused until `listen`.
pub fn bind(name: &'static str, addr: SocketAddr) -> Result<TcpSocket, ServerError> {
    let err = |source| ServerError::Bind { name, addr, source };
    let sock = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(err)?;
    // As std and tokio's TcpListener::bind do on Unix: a restart can rebind at once.
    sock.set_reuseaddr(true).map_err(err)?;
    sock.bind(addr).map_err(err)?;
    Ok(sock)
}

/// Build the TLS acceptor from PEM files.
pub fn tls_acceptor(cfg: &TlsListenerConfig) -> Result<TlsAcceptor, ServerError> {
    let tls_err = |what: String| ServerError::Tls(what);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cfg.cert)
        .map_err(|e| {
            tls_err(format!(
                "cannot read certificate {}: {e}",
                cfg.cert.display()
            ))
        })?
        .collect::<Result<_, _>>()
        .map_err(|e| tls_err(format!("bad certificate PEM {}: {e}", cfg.cert.display())))?;
    if certs.is_empty() {
        return Err(tls_err(format!("no certificate in {}", cfg.cert.display())));
    }
    let key = PrivateKeyDer::from_pem_file(&cfg.key).map_err(|e| {
        tls_err(format!(
            "cannot read private key {}: {e}",
            cfg.key.display()
        ))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| tls_err(format!("certificate and key do not fit: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// WS listener config → kind.
pub fn ws_kind(cfg: &WsListenerConfig) -> Kind {
    Kind::Ws {
        path: cfg.path.clone(),
    }
}

/// Accept until shutdown.
pub async fn accept_loop(
    broker: Arc<Broker>,
    listener: TcpListener,
    kind: Kind,
    tracker: TaskTracker,
) {
    let shutdown = broker.shutdown.clone();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let broker = broker.clone();
        let kind = kind.clone();
        tracker.spawn(async move {
            // Boxed: TLS and WebSocket hand-shake state is large and short-lived.
            if let Some(t) = Box::pin(wrap(stream, peer, kind)).await {
                connection::serve(broker, t, peer).await;
            }
        });
    }
}

async fn wrap(stream: TcpStream, peer: SocketAddr, kind: Kind) -> Option<Transport> {
    match kind {
        Kind::Tcp => Some(Transport::Tcp(stream)),
        Kind::Tls(acceptor) => match acceptor.accept(stream).await {
            Ok(s) => Some(Transport::Tls(Box::new(s))),
            Err(e) => {
                tracing::info!(%peer, error = %e, "TLS handshake failed");
                None
            }
        },
        Kind::Ws { path } => {
            // The callback's signature is tungstenite's; its error type is not ours to shrink.
            #[allow(clippy::result_large_err)]
            let check = |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
                if req.uri().path() != path {
                    let mut e = ErrorResponse::new(Some(format!(
                        "no MQTT endpoint at {}",
                        req.uri().path()
                    )));
                    *e.status_mut() = StatusCode::NOT_FOUND;
                    return Err(e);
                }
                let offered = req
                    .headers()
                    .get_all("Sec-WebSocket-Protocol")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(',').map(str::trim))
                    .find(|p| *p == "mqtt" || *p == "mqttv3.1");
                if let Some(p) = offered
                    && let Ok(v) = HeaderValue::from_str(p)
                {
                    resp.headers_mut().insert("Sec-WebSocket-Protocol", v);
                }
                Ok(resp)
            };
            match tokio_tungstenite::accept_hdr_async(stream, check).await {
                Ok(ws) => Some(Transport::Ws(Box::new(ws))),
                Err(e) => {
                    tracing::info!(%peer, error = %e, "WebSocket handshake failed");
                    None
                }
            }
        }
    }
}
