//! The TLS and WebSocket listeners of the real binary, each with a round trip to a plain
//! TCP client.

mod common;
mod support;

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::Broker;
use futures::{SinkExt, StreamExt};
use holdfast_codec::{ConnectAckReason, MqttCodec, Packet, ProtocolVersion, QoS};
use support::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_util::codec::{Decoder, Encoder};

/// Wait until something listens on `port` (the extra listeners bind just after TCP).
fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn encode(p: Packet) -> BytesMut {
    let mut c = MqttCodec::for_version(ProtocolVersion::V5, 0);
    let mut out = BytesMut::new();
    c.encode(p, &mut out).expect("encode");
    out
}

/// MQTT 5.0 over any async byte stream (here: TLS).
struct StreamClient<S> {
    io: S,
    codec: MqttCodec,
    buf: BytesMut,
}

impl<S: AsyncRead + AsyncWrite + Unpin> StreamClient<S> {
    fn new(io: S) -> Self {
        StreamClient {
            io,
            codec: MqttCodec::for_version(ProtocolVersion::V5, 0),
            buf: BytesMut::new(),
        }
    }

    async fn send(&mut self, p: Packet) {
        self.io.write_all(&encode(p)).await.expect("write");
        self.io.flush().await.expect("flush");
    }

    async fn recv(&mut self) -> Packet {
        let read = async {
            loop {
                if let Some(p) = self.codec.decode(&mut self.buf).expect("valid packet") {
                    return p;
                }
                let n = self.io.read_buf(&mut self.buf).await.expect("read");
                assert!(n > 0, "connection closed");
            }
        };
        tokio::time::timeout(WAIT, read)
            .await
            .expect("a packet within the timeout")
    }
}

/// MQTT 5.0 in binary WebSocket frames.
struct WsClient<S> {
    ws: tokio_tungstenite::WebSocketStream<S>,
    codec: MqttCodec,
    buf: BytesMut,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsClient<S> {
    async fn send(&mut self, p: Packet) {
        let frame = WsMessage::Binary(Bytes::from(encode(p).to_vec()));
        self.ws.send(frame).await.expect("ws send");
    }

    async fn recv(&mut self) -> Packet {
        let read = async {
            loop {
                if let Some(p) = self.codec.decode(&mut self.buf).expect("valid packet") {
                    return p;
                }
                match self.ws.next().await {
                    Some(Ok(WsMessage::Binary(b))) => self.buf.extend_from_slice(&b),
                    Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
                    other => panic!("expected a binary frame, got {other:?}"),
                }
            }
        };
        tokio::time::timeout(WAIT, read)
            .await
            .expect("a packet within the timeout")
    }
}

/// Write a self-signed certificate for `localhost`/127.0.0.1 into `dir`.
fn write_cert(dir: &Path) -> rustls::pki_types::CertificateDer<'static> {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("self-signed cert");
    std::fs::write(dir.join("cert.pem"), ck.cert.pem()).expect("cert.pem");
    std::fs::write(dir.join("key.pem"), ck.signing_key.serialize_pem()).expect("key.pem");
    ck.cert.der().clone()
}

fn tls_connector(trust: rustls::pki_types::CertificateDer<'static>) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trust).expect("trust anchor");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// A broker with a TLS listener on its own port; returns it, the port and the cert.
fn tls_broker() -> (
    Broker,
    tempfile::TempDir,
    u16,
    rustls::pki_types::CertificateDer<'static>,
) {
    let certs = tempfile::tempdir().expect("tempdir");
    let der = write_cert(certs.path());
    let port = common::free_port();
    let config = format!(
        "[listeners.tls]\nbind = \"127.0.0.1:{port}\"\ncert = \"{}\"\nkey = \"{}\"\n",
        certs.path().join("cert.pem").display(),
        certs.path().join("key.pem").display()
    );
    let b = Broker::start_with(&[], Some(&config));
    wait_listening(port);
    (b, certs, port, der)
}

async fn tls_connect(
    port: u16,
    trust: rustls::pki_types::CertificateDer<'static>,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("server name");
    tokio::time::timeout(WAIT, tls_connector(trust).connect(name, tcp))
        .await
        .expect("TLS handshake within the timeout")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_listener_round_trip_with_a_tcp_client() {
    let (b, _certs, port, der) = tls_broker();
    let tls = tls_connect(port, der).await.expect("TLS handshake");
    let mut c = StreamClient::new(tls);
    c.send(Packet::Connect(Box::new(connect_packet("tls-client"))))
        .await;
    match c.recv().await {
        Packet::ConnectAck(a) => assert_eq!(a.reason_code, ConnectAckReason::Success),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    c.send(subscribe_packet(1, "tls/in", QoS::AtLeastOnce))
        .await;
    assert!(matches!(c.recv().await, Packet::SubscribeAck(_)));

    let addr: SocketAddr = b.addr();
    let tcp_side = tokio::task::spawn_blocking(move || {
        let mut tcp = connect5(addr, "tls-tcp-peer");
        subscribe(&mut tcp, 1, "tls/out", QoS::AtLeastOnce);
        publish_acked(
            &mut tcp,
            "tls/in",
            &b"over tcp"[..],
            QoS::AtLeastOnce,
            1,
            false,
        );
        tcp
    })
    .await
    .expect("tcp side");
    match c.recv().await {
        Packet::Publish(p) => {
            assert_eq!(
                (p.topic.as_ref(), &p.payload[..]),
                ("tls/in", &b"over tcp"[..])
            );
            c.send(puback(p.packet_id.expect("QoS 1").get())).await;
        }
        other => panic!("expected PUBLISH, got {other:?}"),
    }
    c.send(publish_packet(
        "tls/out",
        &b"over tls"[..],
        QoS::AtLeastOnce,
        2,
        false,
    ))
    .await;
    assert!(matches!(c.recv().await, Packet::PublishAck(a) if a.packet_id.get() == 2));
    tokio::task::spawn_blocking(move || {
        let mut tcp = tcp_side;
        expect_publish(&mut tcp, "tls/out", b"over tls");
    })
    .await
    .expect("tcp side receives");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_client_that_does_not_trust_the_certificate_is_refused() {
    let (b, _certs, port, _der) = tls_broker();
    let other = tempfile::tempdir().expect("tempdir");
    let stranger = write_cert(other.path());
    assert!(
        tls_connect(port, stranger).await.is_err(),
        "handshake must fail against an untrusted certificate"
    );
    // Plain MQTT on the TLS port is not accepted either.
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    tokio::task::spawn_blocking(move || {
        let mut raw = TcpStream::connect(addr).expect("connect");
        let bytes = encode(Packet::Connect(Box::new(connect_packet("tls-plain"))));
        std::io::Write::write_all(&mut raw, &bytes).expect("write");
        let (got, _) = read_until_closed(&mut raw, WAIT);
        assert!(
            !got.starts_with(&[0x20]),
            "no CONNACK to plain MQTT on the TLS port: {got:?}"
        );
    })
    .await
    .expect("plain client");
    // The broker is still fine.
    let _ok = connect5(b.addr(), "tls-after");
}

fn ws_config(port: u16) -> String {
    format!("[listeners.ws]\nbind = \"127.0.0.1:{port}\"\npath = \"/mqtt\"\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_listener_round_trip_with_a_tcp_client() {
    let port = common::free_port();
    let b = Broker::start_with(&[], Some(&ws_config(port)));
    wait_listening(port);
    let mut req = format!("ws://127.0.0.1:{port}/mqtt")
        .into_client_request()
        .expect("request");
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "mqtt".parse().expect("header"));
    let (ws, resp) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req))
        .await
        .expect("handshake within the timeout")
        .expect("WebSocket handshake");
    assert_eq!(
        resp.headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok()),
        Some("mqtt"),
        "subprotocol mqtt selected"
    );
    let mut c = WsClient {
        ws,
        codec: MqttCodec::for_version(ProtocolVersion::V5, 0),
        buf: BytesMut::new(),
    };
    c.send(Packet::Connect(Box::new(connect_packet("ws-client"))))
        .await;
    match c.recv().await {
        Packet::ConnectAck(a) => assert_eq!(a.reason_code, ConnectAckReason::Success),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    c.send(subscribe_packet(1, "ws/in", QoS::AtLeastOnce)).await;
    assert!(matches!(c.recv().await, Packet::SubscribeAck(_)));

    let addr = b.addr();
    let tcp_side = tokio::task::spawn_blocking(move || {
        let mut tcp = connect5(addr, "ws-tcp-peer");
        subscribe(&mut tcp, 1, "ws/out", QoS::AtLeastOnce);
        publish_acked(
            &mut tcp,
            "ws/in",
            &b"over tcp"[..],
            QoS::AtLeastOnce,
            1,
            false,
        );
        tcp
    })
    .await
    .expect("tcp side");
    match c.recv().await {
        Packet::Publish(p) => {
            assert_eq!(
                (p.topic.as_ref(), &p.payload[..]),
                ("ws/in", &b"over tcp"[..])
            );
            c.send(puback(p.packet_id.expect("QoS 1").get())).await;
        }
        other => panic!("expected PUBLISH, got {other:?}"),
    }
    c.send(publish_packet(
        "ws/out",
        &b"over ws"[..],
        QoS::AtLeastOnce,
        2,
        false,
    ))
    .await;
    assert!(matches!(c.recv().await, Packet::PublishAck(a) if a.packet_id.get() == 2));
    tokio::task::spawn_blocking(move || {
        let mut tcp = tcp_side;
        expect_publish(&mut tcp, "ws/out", b"over ws");
    })
    .await
    .expect("tcp side receives");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_request_to_another_path_is_refused() {
    let port = common::free_port();
    let b = Broker::start_with(&[], Some(&ws_config(port)));
    wait_listening(port);
    let mut req = format!("ws://127.0.0.1:{port}/other")
        .into_client_request()
        .expect("request");
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "mqtt".parse().expect("header"));
    let result = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req))
        .await
        .expect("answer within the timeout");
    match result {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 404, "not found");
        }
        Err(e) => panic!("expected an HTTP refusal, got {e}"),
        Ok(_) => panic!("WebSocket upgrade on /other must be refused"),
    }
    // The right path still works afterwards.
    let mut req = format!("ws://127.0.0.1:{port}/mqtt")
        .into_client_request()
        .expect("request");
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "mqtt".parse().expect("header"));
    let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req))
        .await
        .expect("handshake within the timeout")
        .expect("WebSocket handshake on /mqtt");
    let mut c = WsClient {
        ws,
        codec: MqttCodec::for_version(ProtocolVersion::V5, 0),
        buf: BytesMut::new(),
    };
    c.send(Packet::Connect(Box::new(connect_packet("ws-after-404"))))
        .await;
    assert!(matches!(c.recv().await, Packet::ConnectAck(_)));
    drop(b);
}
