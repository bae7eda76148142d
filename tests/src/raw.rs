//! A raw WebSocket client for tests that play a hostile or broken peer:
//! it sends whatever bytes it is given, from whatever loopback address, and
//! reports what the member answered and how it closed.

use futures_util::{SinkExt, StreamExt};
use raftcp_proto::{
    ClientFrame, Hello, Op, PROTOCOL_VERSION, Request, RequestId, Resume, ResumeSecret,
    ServerFrame, SessionId, Welcome,
};
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request as ClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

pub type Socket = WebSocketStream<TcpStream>;

/// A TCP connection to `addr` from the loopback address `from` (any of
/// 127.0.0.0/8), so one test can play several remote hosts.
pub async fn tcp_from(from: &str, addr: &str) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(format!("{from}:0").parse().expect("an IPv4 address"))?;
    socket.connect(addr.parse().expect("host:port")).await
}

/// A WebSocket to `ws://{addr}{path}` from 127.0.0.1, which sends frames of
/// any size (the member, not this client, must enforce the limits).
pub async fn connect(addr: &str, path: &str) -> Result<Socket, String> {
    connect_from("127.0.0.1", addr, path).await
}

pub async fn connect_from(from: &str, addr: &str, path: &str) -> Result<Socket, String> {
    let url = format!("ws://{addr}{path}");
    let request = url.into_client_request().map_err(|e| e.to_string())?;
    open(from, addr, request).await
}

/// A WebSocket as a browser page from `origin` opens it.
pub async fn connect_as_page(addr: &str, path: &str, origin: &str) -> Result<Socket, String> {
    let url = format!("ws://{addr}{path}");
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    let origin = origin
        .parse()
        .map_err(|_| "not a header value".to_owned())?;
    request.headers_mut().insert("Origin", origin);
    open("127.0.0.1", addr, request).await
}

async fn open(from: &str, addr: &str, request: ClientRequest) -> Result<Socket, String> {
    let stream = tcp_from(from, addr).await.map_err(|e| e.to_string())?;
    let config = WebSocketConfig::default()
        .max_message_size(None)
        .max_frame_size(None);
    let (socket, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
        .await
        .map_err(|e| e.to_string())?;
    Ok(socket)
}

pub fn hello(client_name: &str) -> Vec<u8> {
    hello_with_token(client_name, None)
}

pub fn hello_with_token(client_name: &str, token: Option<&str>) -> Vec<u8> {
    raftcp_proto::encode(&ClientFrame::Hello(Hello {
        protocol_version: PROTOCOL_VERSION,
        client_name: client_name.into(),
        resume: None,
        auth: token.map(str::to_owned),
    }))
    .expect("a small hello encodes")
}

/// One request frame's bytes, acknowledging nothing.
pub fn request(id: u64, op: Op) -> Vec<u8> {
    encode_unbounded(&ClientFrame::Request(Request {
        id: RequestId(id),
        group: raftcp_proto::GroupName::default_group(),
        acked_below: RequestId(0),
        acked_except: Vec::new(),
        op,
    }))
}

/// Encodes without the frame limit: attacks send what clients may not.
pub fn encode_unbounded(frame: &ClientFrame) -> Vec<u8> {
    postcard::to_allocvec(frame).expect("frames encode")
}

/// What a member said before it closed (or before `within` passed).
#[derive(Default)]
pub struct Ending {
    pub frames: Vec<ServerFrame>,
    /// Binary messages that are not client-link frames (a peer link's).
    pub other: Vec<Vec<u8>>,
    /// The close frame's code, when one arrived.
    pub code: Option<CloseCode>,
    pub reason: String,
    /// The connection ended (close frame, EOF or reset) within the time.
    pub closed: bool,
}

/// A summary: frames can hold large values.
impl std::fmt::Debug for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kinds: Vec<String> = self
            .frames
            .iter()
            .take(8)
            .map(|frame| match frame {
                ServerFrame::Response(r) => match &r.result {
                    Ok(_) => format!("Response({}: ok)", r.id),
                    Err(e) => format!("Response({}: {})", r.id, e.code()),
                },
                ServerFrame::ProtocolError { reason } => format!("ProtocolError({reason})"),
                ServerFrame::Refused { reason } => format!("Refused({reason})"),
                other => format!("{other:?}"),
            })
            .collect();
        f.debug_struct("Ending")
            .field("frames", &self.frames.len())
            .field("other", &self.other.len())
            .field("first", &kinds)
            .field("code", &self.code)
            .field("reason", &self.reason)
            .field("closed", &self.closed)
            .finish()
    }
}

impl Ending {
    /// The text of a `ProtocolError` or `Refused` frame, if one came.
    pub fn error_text(&self) -> Option<&str> {
        self.frames.iter().find_map(|frame| match frame {
            ServerFrame::ProtocolError { reason } | ServerFrame::Refused { reason } => {
                Some(reason.as_str())
            }
            _ => None,
        })
    }
}

/// Reads until the member closes the connection or `within` passes.
pub async fn read_to_end(socket: &mut Socket, within: Duration) -> Ending {
    let mut ending = Ending::default();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let next = tokio::time::timeout_at(deadline, socket.next()).await;
        match next {
            Err(_) => return ending,
            Ok(None) | Ok(Some(Err(_))) => {
                ending.closed = true;
                return ending;
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                if let Some(frame) = frame {
                    ending.code = Some(frame.code);
                    ending.reason = frame.reason.to_string();
                }
                ending.closed = true;
                return ending;
            }
            Ok(Some(Ok(Message::Binary(bytes)))) => {
                match raftcp_proto::decode::<ServerFrame>(&bytes) {
                    Ok(frame) => ending.frames.push(frame),
                    Err(_) => ending.other.push(bytes.to_vec()),
                }
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// Sends one binary message; an error means the member already closed.
pub async fn send(socket: &mut Socket, bytes: Vec<u8>) -> Result<(), String> {
    socket
        .send(Message::binary(bytes))
        .await
        .map_err(|e| e.to_string())
}

/// Opens a session: sends `Hello` and waits for the `Welcome`.
pub async fn session(addr: &str) -> Socket {
    welcomed(addr, hello("raw")).await.0
}

/// Sends `hello` on a new connection and waits for the `Welcome`.
pub async fn welcomed(addr: &str, hello: Vec<u8>) -> (Socket, Welcome) {
    let mut socket = connect(addr, "/v1/client").await.expect("connects");
    send(&mut socket, hello).await.expect("sends hello");
    loop {
        match socket.next().await {
            Some(Ok(Message::Binary(bytes))) => {
                if let Ok(ServerFrame::Welcome(welcome)) = raftcp_proto::decode(&bytes) {
                    return (socket, welcome);
                }
            }
            other => panic!("expected Welcome, got {other:?}"),
        }
    }
}

/// A `Hello` that resumes `session` with `secret`.
pub fn resume(session: SessionId, secret: ResumeSecret) -> Vec<u8> {
    resume_with_token(session, secret, None)
}

pub fn resume_with_token(session: SessionId, secret: ResumeSecret, token: Option<&str>) -> Vec<u8> {
    raftcp_proto::encode(&ClientFrame::Hello(Hello {
        protocol_version: PROTOCOL_VERSION,
        client_name: "raw".into(),
        resume: Some(Resume { session, secret }),
        auth: token.map(str::to_owned),
    }))
    .expect("a small hello encodes")
}

/// Sends `op` as request `id` on a session and waits for its response.
pub async fn call(
    socket: &mut Socket,
    id: u64,
    op: Op,
) -> Result<raftcp_proto::Reply, raftcp_proto::OpError> {
    call_bytes(socket, id, request(id, op)).await
}

/// A member must answer a raw call this soon.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends the request frame `bytes` and waits for the response to `id`.
pub async fn call_bytes(
    socket: &mut Socket,
    id: u64,
    bytes: Vec<u8>,
) -> Result<raftcp_proto::Reply, raftcp_proto::OpError> {
    let answer = tokio::time::timeout(CALL_TIMEOUT, response_to(socket, id, bytes)).await;
    answer.unwrap_or_else(|_| panic!("no response to request {id} within {CALL_TIMEOUT:?}"))
}

async fn response_to(
    socket: &mut Socket,
    id: u64,
    bytes: Vec<u8>,
) -> Result<raftcp_proto::Reply, raftcp_proto::OpError> {
    send(socket, bytes).await.expect("sends");
    loop {
        match socket.next().await {
            Some(Ok(Message::Binary(bytes))) => {
                if let Ok(ServerFrame::Response(response)) = raftcp_proto::decode(&bytes)
                    && response.id == RequestId(id)
                {
                    return response.result;
                }
            }
            Some(Ok(_)) => {}
            Some(other) => panic!("expected the response to {id}, got {other:?}"),
            None => panic!("closed before the response to {id}"),
        }
    }
}
