//! One client connection: a task that reads packets, runs them against the session and the
//! broker, and pumps the session's queue out to the socket.
//!
//! - `handshake`: CONNECT, authentication, session attach, CONNACK.
//! - `inbound`: PUBLISH/SUBSCRIBE/... from the client.
//! - `outbound`: deliveries to the client (receive window, topic aliases, packet size).
//!
//! A protocol error ends this connection only (with a v5 DISCONNECT naming the reason);
//! other clients and the stored data are unaffected.

mod handshake;
mod inbound;
mod outbound;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::BytesMut;
use bytestring::ByteString;
use futures::StreamExt;
use futures::future::OptionFuture;
use futures::stream::FuturesOrdered;
use holdfast_codec::{Disconnect, DisconnectReasonCode, MqttCodec, Packet, ProtocolVersion};
use holdfast_core::ClientId;
use tokio::time::Instant;
use tokio_util::codec::{Decoder, Encoder};

use crate::Broker;
use crate::broker::{Kick, Slot};
use crate::transport::Transport;

/// How long a connection we closed keeps draining the client's last bytes.
const LINGER_AFTER_DISCONNECT: Duration = Duration::from_secs(2);

/// An acknowledgement waiting for its store commit.
type PendingAck = Pin<Box<dyn Future<Output = Option<Packet>> + Send>>;

/// How a connection ended.
#[derive(Debug)]
enum Exit {
    /// Client sent DISCONNECT (normal: no will; `with_will`: reason 0x04).
    Disconnect {
        with_will: bool,
    },
    /// The socket closed or failed.
    Lost,
    /// We end it, telling a v5 client why.
    Error(DisconnectReasonCode, String),
    Kicked(Kick),
    Shutdown,
}

/// Per-connection state.
struct Conn {
    broker: Arc<Broker>,
    io: Transport,
    peer: SocketAddr,
    codec: MqttCodec,
    rbuf: BytesMut,
    wbuf: BytesMut,
    version: ProtocolVersion,
    slot: Arc<Slot>,
    conn_id: u64,
    client_id: ClientId,
    keepalive: Duration,
    /// The client's Receive Maximum: QoS 1/2 deliveries we may have in flight.
    client_receive_max: usize,
    /// Topic aliases the client accepts from us, and those we assigned.
    client_alias_max: u16,
    out_aliases: HashMap<ByteString, u16>,
    /// Topic aliases the client set toward us.
    in_aliases: HashMap<u16, ByteString>,
    /// QoS 1 PUBLISHes received whose PUBACK is not sent yet.
    qos1_unacked: usize,
    /// Acknowledgements in the order they go out; made on the first one (a client that never
    /// publishes at QoS 1/2 does not carry its allocations).
    pending: Option<FuturesOrdered<PendingAck>>,
    kick_rx: tokio::sync::oneshot::Receiver<Kick>,
    /// The kick sender is gone without a kick (the receiver must not be polled again).
    kick_closed: bool,
    /// Who this client is, for ACL checks.
    identity: crate::auth::Identity,
}

/// Serve one accepted connection until it ends.
///
/// The task of an idle connection holds only the `run` state: the larger hand-shake and
/// closing futures are boxed for their short lives, so that 10 000 idle clients cost little.
pub async fn serve(broker: Arc<Broker>, io: Transport, peer: SocketAddr) {
    let Some(mut conn) = Box::pin(handshake::accept(broker, io, peer)).await else {
        return;
    };
    let exit = conn.run().await;
    Box::pin(conn.finish(exit)).await;
}

impl Conn {
    async fn run(&mut self) -> Exit {
        // A resumed session first gets its unacknowledged messages again.
        self.release_idle_read_buffer();
        let resend = self.slot.state.lock().resend();
        for out in resend {
            self.write_outgoing(out);
        }
        let mut deadline = self.next_deadline();
        loop {
            // Packets left in the read buffer while back-pressured go on once acks drained.
            if !self.rbuf.is_empty() && !self.read_paused() {
                if let Some(exit) = self.decode_all() {
                    return exit;
                }
                self.release_idle_read_buffer();
            }
            let paused = self.read_paused();
            if paused {
                // The client is not idle, we are not reading it: its keep-alive restarts.
                deadline = self.next_deadline();
            }
            self.pump();
            if let Err(e) = self.flush().await {
                tracing::debug!(client = %self.client_id, error = %e, "write failed");
                return Exit::Lost;
            }
            let shutdown = self.broker.shutdown.clone();
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Exit::Shutdown,
                k = &mut self.kick_rx, if !self.kick_closed => match k {
                    Ok(k) => return Exit::Kicked(k),
                    Err(_) => self.kick_closed = true,
                },
                Some(Some(ack)) = OptionFuture::from(self.pending.as_mut().map(|p| p.next())),
                    if self.pending.as_ref().is_some_and(|p| !p.is_empty()) => {
                    match ack {
                        Some(p) => self.send_ack(p),
                        None => return Exit::Error(
                            DisconnectReasonCode::UnspecifiedError,
                            "store commit failed: the PUBLISH was not stored (3.1.1 has no \
                             negative acknowledgement)".into(),
                        ),
                    }
                }
                _ = self.slot.notify.notified() => {}
                _ = tokio::time::sleep_until(deadline), if !self.keepalive.is_zero() && !paused => {
                    return Exit::Error(
                        DisconnectReasonCode::KeepAliveTimeout,
                        "keep alive timeout".into(),
                    );
                }
                r = self.io.read(&mut self.rbuf), if !paused => {
                    match r {
                        Ok(0) | Err(_) => return Exit::Lost,
                        Ok(n) => {
                            self.broker.stats.bytes_received.fetch_add(n as u64, Ordering::Relaxed);
                            deadline = self.next_deadline();
                            if let Some(exit) = self.decode_all() {
                                return exit;
                            }
                            self.release_idle_read_buffer();
                        }
                    }
                }
            }
        }
    }

    fn next_deadline(&self) -> Instant {
        // MQTT-3.1.2-24: one and a half keep-alive periods.
        Instant::now() + self.keepalive + self.keepalive / 2
    }

    /// Back-pressure: the client's unacknowledged QoS 1 PUBLISHes are at Receive Maximum, so
    /// nothing more is decoded or read from it until acknowledgements go out (a client that
    /// ignores or never heard of Receive Maximum, as 3.1.1 clients, waits in TCP instead of
    /// being disconnected). Acks come from commits, never from reading, so this drains.
    fn read_paused(&self) -> bool {
        !self.broker.config.mqtt.receive_maximum_strict
            && self.qos1_unacked >= self.broker.config.mqtt.receive_maximum_effective()
    }

    /// Handle every complete packet in the read buffer (stopping while back-pressured).
    fn decode_all(&mut self) -> Option<Exit> {
        loop {
            if self.read_paused() {
                return None;
            }
            match self.codec.decode(&mut self.rbuf) {
                Ok(Some(packet)) => {
                    if let Some(exit) = self.handle(packet) {
                        return Some(exit);
                    }
                }
                Ok(None) => return None,
                Err(e) => return Some(Exit::Error(e.reason_code(), e.to_string())),
            }
        }
    }

    fn handle(&mut self, packet: Packet) -> Option<Exit> {
        match packet {
            Packet::Publish(p) => self.on_publish(*p),
            Packet::PublishAck(a) => self.on_puback(a.packet_id.get()),
            Packet::PublishReceived(a) => self.on_pubrec(a),
            Packet::PublishRelease(a) => self.on_pubrel(a.packet_id),
            Packet::PublishComplete(a) => self.on_pubcomp(a.packet_id.get()),
            Packet::Subscribe(s) => self.on_subscribe(s),
            Packet::Unsubscribe(u) => self.on_unsubscribe(u),
            Packet::PingRequest => {
                self.encode(Packet::PingResponse);
                None
            }
            Packet::Disconnect(d) => self.on_disconnect(d),
            Packet::Connect(_) => Some(Exit::Error(
                DisconnectReasonCode::ProtocolError,
                "second CONNECT on one connection".into(),
            )),
            Packet::Auth(_) => Some(Exit::Error(
                DisconnectReasonCode::BadAuthenticationMethod,
                "enhanced authentication is not supported".into(),
            )),
            other => Some(Exit::Error(
                DisconnectReasonCode::ProtocolError,
                format!(
                    "unexpected packet type {} from a client",
                    other.packet_type() >> 4
                ),
            )),
        }
    }

    fn on_disconnect(&mut self, d: Disconnect) -> Option<Exit> {
        if let Some(expiry) = d.session_expiry_interval_secs {
            let mut state = self.slot.state.lock();
            if state.expiry_secs == 0 && expiry != 0 {
                drop(state);
                return Some(Exit::Error(
                    DisconnectReasonCode::ProtocolError,
                    "session expiry set on DISCONNECT after CONNECT had 0".into(),
                ));
            }
            state.expiry_secs = expiry.min(self.broker.config.mqtt.session_expiry_secs_max);
        }
        let with_will = d.reason_code == DisconnectReasonCode::DisconnectWithWillMessage;
        Some(Exit::Disconnect { with_will })
    }

    /// Put a packet in the write buffer.
    fn encode(&mut self, packet: Packet) -> bool {
        match self.codec.encode(packet, &mut self.wbuf) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(client = %self.client_id, error = %e, "packet not sent");
                false
            }
        }
    }

    /// The acknowledgements queue, made on first use.
    fn pending(&mut self) -> &mut FuturesOrdered<PendingAck> {
        self.pending.get_or_insert_with(FuturesOrdered::new)
    }

    fn send_ack(&mut self, p: Packet) {
        match &p {
            Packet::PublishAck(_) => self.qos1_unacked = self.qos1_unacked.saturating_sub(1),
            // A refused QoS 2 PUBLISH was not received: its packet id is free again.
            Packet::PublishReceived(a) if (a.reason_code as u8) >= 0x80 => {
                self.slot
                    .state
                    .lock()
                    .incoming_qos2
                    .remove(&a.packet_id.get());
            }
            _ => {}
        }
        self.encode(p);
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        // Taken whole, so the buffer is freed once written: idle connections hold none.
        let data = std::mem::take(&mut self.wbuf);
        self.broker
            .stats
            .bytes_sent
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        self.io.write_all(&data).await
    }

    /// Free the read buffer once every byte in it is decoded (packets decoded from it keep
    /// their own references to the bytes they use), so that an idle connection holds none:
    /// the next read starts a small buffer, which grows while the client is busy.
    fn release_idle_read_buffer(&mut self) {
        if self.rbuf.is_empty() && self.rbuf.capacity() > 0 {
            self.rbuf = BytesMut::new();
        }
    }

    async fn finish(mut self, exit: Exit) {
        let (reason, publish_will) = match &exit {
            Exit::Disconnect { with_will } => (None, *with_will),
            Exit::Lost => (None, true),
            Exit::Error(code, msg) => {
                tracing::info!(client = %self.client_id, peer = %self.peer, reason = ?code, "closing connection: {msg}");
                (Some(*code), true)
            }
            Exit::Kicked(Kick::TakenOver) => (Some(DisconnectReasonCode::SessionTakenOver), true),
            Exit::Kicked(Kick::Administrative) => {
                (Some(DisconnectReasonCode::AdministrativeAction), true)
            }
            // An orderly shutdown is a clean close on the broker's side: wills are not sent.
            Exit::Shutdown => (Some(DisconnectReasonCode::ServerShuttingDown), false),
        };
        // Acknowledgements whose commits are under way still go out if they finish quickly.
        if !matches!(exit, Exit::Lost) {
            let drain = async {
                while let Some(Some(p)) = match self.pending.as_mut() {
                    Some(pending) => pending.next().await,
                    None => None,
                } {
                    self.send_ack(p);
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
            if let Some(code) = reason
                && self.version == ProtocolVersion::V5
            {
                self.encode(Packet::Disconnect(Disconnect {
                    reason_code: code,
                    session_expiry_interval_secs: None,
                    server_reference: None,
                    reason_string: None,
                    user_properties: Vec::new(),
                }));
            }
            let _ = self.flush().await;
        }
        self.io.shutdown().await;
        self.broker
            .disconnect(&self.slot, self.conn_id, publish_will);
        tracing::debug!(client = %self.client_id, ?exit, "connection closed");
        if reason.is_some() {
            // Keep reading (and discarding) until the client closes too, so that what it
            // still sends does not make our socket answer with a RST that could destroy the
            // DISCONNECT before the client reads it.
            let linger = async {
                while matches!(self.io.read(&mut self.rbuf).await, Ok(n) if n > 0) {
                    self.rbuf.clear();
                }
            };
            let _ = tokio::time::timeout(LINGER_AFTER_DISCONNECT, linger).await;
        }
    }
}
