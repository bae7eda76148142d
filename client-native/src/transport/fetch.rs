//! `POST /v1/ops` through the JavaScript host's `fetch` (browsers, Node 18+,
//! Deno, workerd): a Worker needs no socket for a session-less call.

use super::{POSTED_BODY_BYTES_MAX, Posted};
use js_sys::{Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// A fetch still running after this is aborted (the caller gave up on it
/// already; a Worker has few connections to spare).
const FETCH_TIMEOUT_MS: u32 = 10_000;

pub(super) async fn post(
    url: &str,
    body: Vec<u8>,
    token: Option<String>,
) -> Result<Posted, String> {
    let global = js_sys::global();
    let fetch = Reflect::get(&global, &"fetch".into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
        .ok_or("this runtime has no global fetch")?;
    let headers = Object::new();
    set(&headers, "content-type", &"application/octet-stream".into());
    if let Some(token) = token {
        set(&headers, "authorization", &format!("Bearer {token}").into());
    }
    let init = Object::new();
    set(&init, "method", &"POST".into());
    set(&init, "headers", &headers);
    set(&init, "body", &Uint8Array::from(body.as_slice()));
    // A member answers itself; a redirect is someone else's answer: not
    // followed, and refused below (workerd has no "error" mode).
    set(&init, "redirect", &"manual".into());
    if let Some(signal) = timeout_signal() {
        set(&init, "signal", &signal);
    }
    let pending = fetch
        .call2(&global, &url.into(), &init)
        .map_err(|e| format!("POST {url}: {}", super::web::describe(&e)))?;
    let response = settle(pending)
        .await
        .map_err(|e| format!("POST {url}: {e}"))?;
    let status = Reflect::get(&response, &"status".into())
        .ok()
        .and_then(|s| s.as_f64())
        .ok_or_else(|| format!("POST {url}: an answer without a status"))?;
    if !(200..300).contains(&(status as u16)) && status < 400.0 {
        // A redirect (an opaque one reads as status 0): no answer of a
        // member, refused as an unknown status without reading it.
        return Ok(Posted {
            status: status as u16,
            body: Vec::new(),
        });
    }
    let declared = Reflect::get(&response, &"headers".into())
        .ok()
        .and_then(|headers| {
            let get = Reflect::get(&headers, &"get".into())
                .ok()?
                .dyn_into::<Function>()
                .ok()?;
            get.call1(&headers, &"content-length".into())
                .ok()?
                .as_string()
        })
        .and_then(|length| length.parse::<usize>().ok());
    if declared.is_none_or(|length| length > POSTED_BODY_BYTES_MAX) {
        return Err(format!(
            "POST {url}: an answer without a content-length, or too large"
        ));
    }
    let read = Reflect::get(&response, &"arrayBuffer".into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
        .ok_or_else(|| format!("POST {url}: an answer without a body"))?;
    let pending = read
        .call0(&response)
        .map_err(|e| format!("POST {url}: {}", super::web::describe(&e)))?;
    let buffer = settle(pending)
        .await
        .map_err(|e| format!("POST {url}: reading the answer: {e}"))?;
    let bytes = Uint8Array::new(&buffer);
    if bytes.length() as usize > POSTED_BODY_BYTES_MAX {
        return Err(format!("POST {url}: the answer is too large"));
    }
    Ok(Posted {
        status: status as u16,
        body: bytes.to_vec(),
    })
}

/// `AbortSignal.timeout(FETCH_TIMEOUT_MS)`, where the host has it.
fn timeout_signal() -> Option<JsValue> {
    let class = Reflect::get(&js_sys::global(), &"AbortSignal".into()).ok()?;
    let timeout = Reflect::get(&class, &"timeout".into())
        .ok()?
        .dyn_into::<Function>()
        .ok()?;
    timeout.call1(&class, &FETCH_TIMEOUT_MS.into()).ok()
}

fn set(object: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(object, &key.into(), value);
}

async fn settle(pending: JsValue) -> Result<JsValue, String> {
    let promise = Promise::resolve(&pending);
    JsFuture::from(promise)
        .await
        .map_err(|e| super::web::describe(&e))
}
