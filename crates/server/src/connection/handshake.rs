//! The first packet: CONNECT → checks → session attach → CONNACK.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use holdfast_codec::{
    CodecError, Connect, ConnectAck, ConnectAckReason, DecodeError, MqttCodec, Packet,
    ProtocolVersion, QoS,
};
use holdfast_core::{ClientId, Message, topic};
use rand::Rng;
use tokio_util::codec::{Decoder, Encoder};

use super::Conn;
use crate::Broker;
use crate::auth::Identity;
use crate::auth::verifier::Refusal;
use crate::broker::{ConnectRequest, Will};
use crate::time::now_ms;
use crate::transport::Transport;

/// Read CONNECT and answer it. `None` when the connection was refused or lost.
pub(super) async fn accept(
    broker: Arc<Broker>,
    mut io: Transport,
    peer: SocketAddr,
) -> Option<Conn> {
    let mut codec = MqttCodec::new(broker.config.mqtt.packet_bytes_max);
    let mut rbuf = BytesMut::new();
    let timeout = Duration::from_secs(broker.config.mqtt.connect_timeout_secs);
    let connect =
        match tokio::time::timeout(timeout, read_connect(&mut io, &mut codec, &mut rbuf)).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                tracing::info!(%peer, error = %e, "connection refused before CONNECT completed");
                refuse_undecodable(&mut io, codec.version(), &e).await;
                return None;
            }
            Err(_) => {
                tracing::info!(%peer, "no CONNECT within {}s; closing", timeout.as_secs());
                io.shutdown().await;
                return None;
            }
        };
    let version = codec.version()?;
    let checked = match check(&connect, version, broker.config.mqtt.topic_levels_max) {
        Ok(()) => authenticate(&broker, &connect, peer).await,
        Err(reason) => Err(reason),
    };
    let superuser = match checked {
        Ok(superuser) => superuser,
        Err(reason) => {
            tracing::info!(%peer, client = %connect.client_id, ?reason, "CONNECT refused");
            let mut wbuf = BytesMut::new();
            let ack = ConnectAck {
                reason_code: reason,
                ..ConnectAck::default()
            };
            let _ = codec.encode(Packet::ConnectAck(Box::new(ack)), &mut wbuf);
            let _ = io.write_all(&wbuf).await;
            io.shutdown().await;
            return None;
        }
    };
    let accepted = Accepted {
        io,
        peer,
        codec,
        rbuf,
        version,
        superuser,
    };
    establish(broker, accepted, *connect).await
}

/// Bans, then credentials. Returns whether the client is a superuser.
async fn authenticate(
    broker: &Broker,
    c: &Connect,
    peer: SocketAddr,
) -> Result<bool, ConnectAckReason> {
    let username = c.username.as_deref();
    if let Some(ban) = broker
        .auth()
        .ban_for(&c.client_id, username, peer.ip(), now_ms())
    {
        tracing::info!(client = %c.client_id, %peer, reason = ?ban.reason, "banned client refused");
        return Err(ConnectAckReason::Banned);
    }
    let Some(username) = username else {
        return if broker.allow_anonymous() {
            Ok(false)
        } else {
            Err(ConnectAckReason::NotAuthorized)
        };
    };
    // Unknown usernames cost the same verification as wrong passwords (a dummy hash), so
    // timing does not tell which usernames exist.
    let (stored, superuser) = match broker.auth().user(username) {
        Some(u) => (Some(u.password_hash), u.superuser),
        None => (None, false),
    };
    let password = c.password.as_deref().unwrap_or_default();
    let wait = Duration::from_secs(broker.config.mqtt.connect_timeout_secs);
    match broker
        .verifier
        .check(username, stored.as_deref(), password, wait)
        .await
    {
        Ok(()) => Ok(superuser),
        Err(Refusal::BadCredentials) => {
            tracing::info!(user = %username, %peer, client = %c.client_id, "bad username or password");
            Err(ConnectAckReason::BadUserNameOrPassword)
        }
        Err(Refusal::UnusableHash(e)) => {
            tracing::warn!(user = %username, error = %e, "stored password hash is unusable");
            Err(ConnectAckReason::BadUserNameOrPassword)
        }
        Err(Refusal::Busy) => {
            tracing::warn!(user = %username, %peer, "password checks are saturated: CONNECT refused as server busy");
            Err(ConnectAckReason::ServerBusy)
        }
    }
}

async fn read_connect(
    io: &mut Transport,
    codec: &mut MqttCodec,
    rbuf: &mut BytesMut,
) -> Result<Box<Connect>, CodecError> {
    loop {
        if let Some(p) = codec.decode(rbuf)? {
            return match p {
                Packet::Connect(c) => Ok(c),
                _ => Err(CodecError::NotConnect),
            };
        }
        if io.read(rbuf).await? == 0 {
            return Err(CodecError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
    }
}

/// Tell the client why its CONNECT could not be read, where the protocol has a way to.
async fn refuse_undecodable(io: &mut Transport, version: Option<ProtocolVersion>, e: &CodecError) {
    let reply: Option<&[u8]> = match (e, version) {
        // MQTT-3.1.2-2: unsupported protocol level → CONNACK 0x01 (3.1.1 encoding).
        (CodecError::UnsupportedProtocol, _) => Some(b"\x20\x02\x00\x01"),
        // 3.1.1: an empty client id without clean session → CONNACK 0x02.
        (CodecError::Decode(DecodeError::InvalidClientId), Some(ProtocolVersion::V311)) => {
            Some(b"\x20\x02\x00\x02")
        }
        // 5.0: CONNACK with the reason (malformed 0x81, too large 0x95, ...).
        (e, Some(ProtocolVersion::V5)) => {
            let mut wbuf = BytesMut::new();
            let ack = ConnectAck {
                reason_code: connack_reason(e.reason_code() as u8),
                ..ConnectAck::default()
            };
            let mut c = MqttCodec::for_version(ProtocolVersion::V5, 0);
            if c.encode(Packet::ConnectAck(Box::new(ack)), &mut wbuf)
                .is_ok()
            {
                let _ = io.write_all(&wbuf).await;
            }
            None
        }
        _ => None,
    };
    if let Some(r) = reply {
        let _ = io.write_all(r).await;
    }
    io.shutdown().await;
}

fn connack_reason(code: u8) -> ConnectAckReason {
    ConnectAckReason::try_from(code).unwrap_or(ConnectAckReason::MalformedPacket)
}

fn check(c: &Connect, version: ProtocolVersion, max_levels: u16) -> Result<(), ConnectAckReason> {
    if let Some(w) = &c.last_will
        && let Err(e) = topic::validate_name(&w.topic)
            .and_then(|()| topic::check_levels(&w.topic, usize::from(max_levels)))
    {
        tracing::debug!(client = %c.client_id, error = %e, "will topic refused");
        return Err(ConnectAckReason::TopicNameInvalid);
    }
    if version == ProtocolVersion::V311 && c.client_id.is_empty() && !c.clean_start {
        return Err(ConnectAckReason::ClientIdentifierNotValid);
    }
    if c.client_id.contains('\0') {
        return Err(ConnectAckReason::ClientIdentifierNotValid);
    }
    Ok(())
}

fn will_of(c: &Connect) -> Option<Will> {
    let w = c.last_will.as_ref()?;
    let now = now_ms();
    let msg = Message {
        topic: w.topic.clone(),
        payload: w.message.clone(),
        qos: w.qos,
        retain: w.retain,
        props: holdfast_core::MessageProps {
            payload_utf8: w.is_utf8_payload.unwrap_or(false),
            content_type: w.content_type.clone(),
            response_topic: w.response_topic.clone(),
            correlation_data: w.correlation_data.clone(),
            user_properties: w.user_properties.clone(),
        },
        expires_at_ms: w
            .message_expiry_interval
            .map(|s| now + u64::from(s.get()) * 1000),
    };
    Some(Will {
        msg: Arc::new(msg),
        delay_secs: w.will_delay_interval_sec.unwrap_or(0),
    })
}

/// A connection whose CONNECT has been read and accepted.
struct Accepted {
    io: Transport,
    peer: SocketAddr,
    codec: MqttCodec,
    rbuf: BytesMut,
    version: ProtocolVersion,
    superuser: bool,
}

async fn establish(broker: Arc<Broker>, a: Accepted, c: Connect) -> Option<Conn> {
    let Accepted {
        mut io,
        peer,
        mut codec,
        rbuf,
        version,
        superuser,
    } = a;
    let cfg = &broker.config.mqtt;
    let assigned = c.client_id.is_empty().then(|| {
        let n: u64 = rand::rng().random();
        format!("holdfast-{n:016x}")
    });
    let client_id_text = assigned.clone().unwrap_or_else(|| c.client_id.to_string());
    let client_id = ClientId::new(&client_id_text);
    let expiry_secs = c
        .session_expiry_interval_secs
        .min(cfg.session_expiry_secs_max);
    let keepalive_max = cfg.keepalive_secs_max;
    // Only a v5 client asking for more than the maximum is told Server Keep Alive; 0 (no
    // keep alive) is left alone, as Mosquitto and the Paho test broker do.
    let server_keepalive =
        (version == ProtocolVersion::V5 && c.keep_alive > keepalive_max).then_some(keepalive_max);
    let keepalive = server_keepalive.unwrap_or(c.keep_alive);
    let (kick_tx, kick_rx) = crate::broker::KickSender::pair();
    let connected = broker.connect(ConnectRequest {
        client_id: client_id.clone(),
        clean_start: c.clean_start,
        expiry_secs,
        will: will_of(&c),
        protocol: version.level(),
        kick: kick_tx,
        username: c.username.as_ref().map(|u| u.to_string()),
        peer_ip: peer.ip(),
    });
    if !connected.commands.is_empty()
        && let Err(e) = broker.log().submit(connected.commands).wait().await
    {
        tracing::error!(client = %client_id, error = %e, "cannot store session");
        broker.disconnect(&connected.slot, connected.conn_id, false);
        return None;
    }
    if let Some(max) = c.max_packet_size {
        codec.set_max_outbound_bytes(max.get());
    }
    let ack = ConnectAck {
        session_present: connected.session_present,
        reason_code: ConnectAckReason::Success,
        session_expiry_interval_secs: (expiry_secs != c.session_expiry_interval_secs
            && version == ProtocolVersion::V5)
            .then_some(expiry_secs),
        receive_max: std::num::NonZeroU16::new(cfg.receive_maximum)
            .unwrap_or(std::num::NonZeroU16::MIN),
        max_qos: QoS::ExactlyOnce,
        max_packet_size: Some(cfg.packet_bytes_max),
        assigned_client_id: assigned.map(Into::into),
        topic_alias_max: cfg.topic_aliases_max,
        retain_available: true,
        wildcard_subscription_available: true,
        subscription_identifiers_available: true,
        shared_subscription_available: true,
        server_keepalive_sec: server_keepalive,
        ..ConnectAck::default()
    };
    let mut wbuf = BytesMut::with_capacity(256);
    if codec
        .encode(Packet::ConnectAck(Box::new(ack)), &mut wbuf)
        .is_err()
        || io.write_all(&wbuf).await.is_err()
    {
        broker.disconnect(&connected.slot, connected.conn_id, true);
        return None;
    }
    let wbuf = BytesMut::new();
    tracing::debug!(client = %client_id, %peer, ?version, present = connected.session_present, "client connected");
    Some(Conn {
        broker: broker.clone(),
        io,
        peer,
        codec,
        rbuf,
        wbuf,
        version,
        slot: connected.slot,
        conn_id: connected.conn_id,
        client_id,
        keepalive: Duration::from_secs(u64::from(keepalive)),
        client_receive_max: usize::from(c.receive_max.map_or(u16::MAX, |r| r.get())),
        client_alias_max: c.topic_alias_max,
        out_aliases: HashMap::new(),
        in_aliases: HashMap::new(),
        qos1_unacked: 0,
        pending: None,
        kick_rx,
        kick_closed: false,
        identity: Identity {
            client_id: client_id_text,
            username: c.username.as_ref().map(|u| u.to_string()),
            superuser,
        },
    })
}
