//! WebSocket transport for wasm: the host's `WebSocket` (browsers, Deno,
//! workerd, Node 22+) or one the caller passes in (the `ws` package on
//! Node 20). The socket is reached through the few members every one of
//! them has (`send`, `close`, `binaryType`, the `on…` handlers), so any
//! standard-shaped implementation works.

use super::{Link, Posted, Transport};
use js_sys::{Array, Function, Reflect, Uint8Array};
use raftcp_proto::limits::{FRAME_BYTES_MAX, FRAMES_PER_MESSAGE_MAX};
use tokio::sync::mpsc;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// Any object shaped like a standard WebSocket.
    #[derive(Debug, Clone)]
    type Socket;
    #[wasm_bindgen(method, catch)]
    fn send(this: &Socket, frame: &Uint8Array) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch)]
    fn close(this: &Socket) -> Result<(), JsValue>;
}

/// Opens WebSockets with a JavaScript `WebSocket` constructor.
#[derive(Debug, Clone, Default)]
pub struct WebTransport {
    /// `None`: the global `WebSocket`.
    constructor: Option<Function>,
}

impl WebTransport {
    /// Uses `constructor` (for example the `ws` package's `WebSocket`)
    /// instead of the global one.
    pub fn with_constructor(constructor: Function) -> Self {
        Self {
            constructor: Some(constructor),
        }
    }

    fn constructor(&self) -> Result<Function, String> {
        if let Some(constructor) = &self.constructor {
            return Ok(constructor.clone());
        }
        let global = Reflect::get(&js_sys::global(), &"WebSocket".into()).unwrap_or_default();
        global.dyn_into::<Function>().map_err(|_| {
            "this runtime has no global WebSocket: pass one in the options \
             (on Node 20: `{ WebSocket }` from the ws package)"
                .to_owned()
        })
    }
}

/// What the socket's handlers report, in order.
#[derive(Debug)]
enum SocketEvent {
    Open,
    Frame(Vec<u8>),
    Closed(String),
}

/// One open WebSocket. Owns its handlers: they are detached and freed when
/// the link is dropped, which also closes the socket.
#[derive(Debug)]
pub struct WebLink {
    socket: Socket,
    /// Frames queued by `send`, packed into one message by `flush` (each
    /// message costs the host a socket write).
    packed: Vec<u8>,
    /// Frames in `packed`; the server takes at most `FRAMES_PER_MESSAGE_MAX`.
    packed_frames: usize,
    events: mpsc::UnboundedReceiver<SocketEvent>,
    _handlers: [Closure<dyn FnMut(JsValue)>; 4],
}

impl Transport for WebTransport {
    type Link = WebLink;

    /// Fails when there is no WebSocket to use (no constructor passed and
    /// no global one), which reconnecting would never fix.
    fn check(&self) -> Result<(), String> {
        self.constructor().map(drop)
    }

    async fn connect(&mut self, url: &str) -> Result<WebLink, String> {
        let constructor = self.constructor()?;
        let arguments = Array::of2(&url.into(), &raftcp_proto::SUBPROTOCOL.into());
        let socket: Socket = Reflect::construct(&constructor, &arguments)
            .map_err(|e| format!("cannot open a WebSocket to {url}: {}", describe(&e)))?
            .unchecked_into();
        // Runtimes without the setter deliver ArrayBuffers anyway.
        let _ = Reflect::set(&socket, &"binaryType".into(), &"arraybuffer".into());
        let (sender, events) = mpsc::unbounded_channel();
        let handlers = attach_handlers(&socket, &sender);
        let mut link = WebLink {
            socket,
            packed: Vec::new(),
            packed_frames: 0,
            events,
            _handlers: handlers,
        };
        match link.events.recv().await {
            Some(SocketEvent::Open) => Ok(link),
            Some(SocketEvent::Closed(reason)) => Err(format!("connect {url}: {reason}")),
            _ => Err(format!("connect {url}: no open event")),
        }
    }

    async fn post(
        &self,
        url: &str,
        body: Vec<u8>,
        token: Option<String>,
    ) -> Result<Posted, String> {
        super::fetch::post(url, body, token).await
    }
}

fn attach_handlers(
    socket: &Socket,
    sender: &mpsc::UnboundedSender<SocketEvent>,
) -> [Closure<dyn FnMut(JsValue)>; 4] {
    let handler = |make: fn(JsValue) -> Option<SocketEvent>| {
        let sender = sender.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            if let Some(event) = make(event) {
                let _ = sender.send(event);
            }
        })
    };
    let handlers = [
        handler(|_| Some(SocketEvent::Open)),
        handler(frame_of),
        handler(|event| Some(SocketEvent::Closed(close_reason(&event)))),
        handler(|_| Some(SocketEvent::Closed("websocket error".to_owned()))),
    ];
    for (name, handler) in ["onopen", "onmessage", "onclose", "onerror"]
        .iter()
        .zip(&handlers)
    {
        let _ = Reflect::set(socket, &(*name).into(), handler.as_ref());
    }
    handlers
}

/// The bytes of a binary message; a text message is not part of the
/// protocol and ends the connection.
fn frame_of(event: JsValue) -> Option<SocketEvent> {
    let data = Reflect::get(&event, &"data".into()).ok()?;
    if data.is_string() {
        return Some(SocketEvent::Closed("text message from server".to_owned()));
    }
    // An ArrayBuffer or any typed array (Node's Buffer) reads the same way.
    let bytes = Uint8Array::new(&data);
    if bytes.length() as usize > FRAME_BYTES_MAX {
        return Some(SocketEvent::Closed("oversize frame from server".to_owned()));
    }
    Some(SocketEvent::Frame(bytes.to_vec()))
}

fn close_reason(event: &JsValue) -> String {
    let code = Reflect::get(event, &"code".into())
        .ok()
        .and_then(|c| c.as_f64());
    match code {
        Some(code) => format!("websocket closed (code {code})"),
        None => "websocket closed".to_owned(),
    }
}

pub(super) fn describe(error: &JsValue) -> String {
    error
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| format!("{error:?}"))
}

impl Link for WebLink {
    async fn send(&mut self, frame: Vec<u8>) -> Result<(), String> {
        let full = self.packed_frames == FRAMES_PER_MESSAGE_MAX;
        if full || self.packed.len() + frame.len() > FRAME_BYTES_MAX {
            self.send_packed()?;
        }
        self.packed.extend_from_slice(&frame);
        self.packed_frames += 1;
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), String> {
        self.send_packed()
    }

    async fn recv(&mut self) -> Option<Vec<u8>> {
        loop {
            match self.events.recv().await? {
                SocketEvent::Frame(bytes) => return Some(bytes),
                SocketEvent::Closed(_) => return None,
                SocketEvent::Open => continue,
            }
        }
    }
}

impl WebLink {
    fn send_packed(&mut self) -> Result<(), String> {
        if self.packed.is_empty() {
            return Ok(());
        }
        // A copy in JavaScript memory: the socket may still read it after
        // wasm memory has moved on.
        let copy = Uint8Array::from(self.packed.as_slice());
        self.packed.clear();
        self.packed_frames = 0;
        self.socket.send(&copy).map_err(|e| describe(&e))
    }
}

impl Drop for WebLink {
    fn drop(&mut self) {
        for name in ["onopen", "onmessage", "onclose", "onerror"] {
            let _ = Reflect::set(&self.socket, &name.into(), &JsValue::NULL);
        }
        let _ = self.socket.close();
    }
}
