//! A minimal MQTT client over the project's codec: connect, subscribe, then a split reader
//! and writer for the load loops.

use std::net::SocketAddr;
use std::num::NonZeroU16;

use anyhow::{Context, bail};
use bytes::BytesMut;
use holdfast_codec::{
    Connect, MqttCodec, Packet, ProtocolVersion, QoS, RetainHandling, Subscribe,
    SubscriptionOptions,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::codec::{Decoder, Encoder};

/// Reading half: decodes packets.
pub struct Reader {
    rd: OwnedReadHalf,
    codec: MqttCodec,
    buf: BytesMut,
}

/// Writing half: encodes packets into a buffer, flushed in batches.
pub struct Writer {
    wr: OwnedWriteHalf,
    codec: MqttCodec,
    pub buf: BytesMut,
}

pub fn version(level: u8) -> ProtocolVersion {
    if level == 5 {
        ProtocolVersion::V5
    } else {
        ProtocolVersion::V311
    }
}

pub fn qos(q: u8) -> QoS {
    match q {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

impl Reader {
    /// The next packet, or an error when the connection ends.
    pub async fn next(&mut self) -> anyhow::Result<Packet> {
        loop {
            if let Some(p) = self.codec.decode(&mut self.buf)? {
                return Ok(p);
            }
            if self.rd.read_buf(&mut self.buf).await? == 0 {
                bail!("broker closed the connection");
            }
        }
    }
}

impl Writer {
    /// Encode into the batch buffer.
    pub fn push(&mut self, p: Packet) -> anyhow::Result<()> {
        self.codec.encode(p, &mut self.buf)?;
        Ok(())
    }

    /// Write the batch.
    pub async fn flush(&mut self) -> anyhow::Result<()> {
        if !self.buf.is_empty() {
            let data = self.buf.split();
            self.wr.write_all(&data).await?;
        }
        Ok(())
    }
}

/// What kind of session a connection asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// Clean start, nothing kept after the connection ends.
    Clean,
    /// Resume or create a persistent session: v5 `clean_start=false` with this Session Expiry
    /// Interval, or v3.1.1 `clean_session=0` (which never expires).
    Persistent { expiry_secs: u32 },
}

/// Connect with a clean session and return the two halves.
pub async fn connect(addr: SocketAddr, id: &str, level: u8) -> anyhow::Result<(Reader, Writer)> {
    connect_as(addr, id, level, SessionKind::Clean).await
}

/// Connect asking for `session` and return the two halves.
pub async fn connect_as(
    addr: SocketAddr,
    id: &str,
    level: u8,
    session: SessionKind,
) -> anyhow::Result<(Reader, Writer)> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect to {addr}"))?;
    stream.set_nodelay(true)?;
    let (rd, wr) = stream.into_split();
    let v = version(level);
    let mut reader = Reader {
        rd,
        codec: MqttCodec::for_version(v, 0),
        buf: BytesMut::new(),
    };
    let mut writer = Writer {
        wr,
        codec: MqttCodec::for_version(v, 0),
        buf: BytesMut::new(),
    };
    writer.push(Packet::Connect(Box::new(Connect {
        clean_start: session == SessionKind::Clean,
        keep_alive: 0,
        session_expiry_interval_secs: match session {
            SessionKind::Clean => 0,
            SessionKind::Persistent { expiry_secs } => expiry_secs,
        },
        auth_method: None,
        auth_data: None,
        request_problem_info: false,
        request_response_info: false,
        receive_max: None,
        topic_alias_max: 0,
        user_properties: Vec::new(),
        max_packet_size: None,
        last_will: None,
        client_id: id.into(),
        username: None,
        password: None,
        cert: None,
    })))?;
    writer.flush().await?;
    match reader.next().await? {
        Packet::ConnectAck(a) if a.reason_code == holdfast_codec::ConnectAckReason::Success => {}
        other => bail!("connection refused: {other:?}"),
    }
    Ok((reader, writer))
}

/// Send DISCONNECT (normal) and close the connection.
pub async fn disconnect(mut w: Writer) -> anyhow::Result<()> {
    w.push(Packet::Disconnect(holdfast_codec::Disconnect {
        reason_code: holdfast_codec::DisconnectReasonCode::NormalDisconnection,
        session_expiry_interval_secs: None,
        server_reference: None,
        reason_string: None,
        user_properties: Vec::new(),
    }))?;
    w.flush().await?;
    w.wr.shutdown().await?;
    Ok(())
}

/// Subscribe and wait for SUBACK.
pub async fn subscribe(r: &mut Reader, w: &mut Writer, filter: &str, q: u8) -> anyhow::Result<()> {
    let opts = SubscriptionOptions {
        qos: qos(q),
        no_local: false,
        retain_as_published: false,
        retain_handling: RetainHandling::AtSubscribe,
    };
    w.push(Packet::Subscribe(Subscribe {
        packet_id: NonZeroU16::MIN,
        id: None,
        user_properties: Vec::new(),
        topic_filters: vec![(filter.into(), opts)],
    }))?;
    w.flush().await?;
    loop {
        if let Packet::SubscribeAck(a) = r.next().await? {
            if let Some(refused) = a.status.iter().find(|s| u8::from(**s) >= 0x80) {
                bail!("subscription to {filter} refused: {refused:?}");
            }
            return Ok(());
        }
    }
}
