//! wasm runtime: the JavaScript host's timers, clock and microtask queue.
//! Works wherever `setTimeout` exists (browsers, Node, Deno, workerd).

use js_sys::Function;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use wasm_bindgen::prelude::*;

/// Nothing on wasm: JavaScript objects are never `Send`, and there is one
/// thread.
pub trait MaybeSend {}
impl<T> MaybeSend for T {}

/// Nothing on wasm (see [`MaybeSend`]).
pub trait MaybeSync {}
impl<T> MaybeSync for T {}

/// A token being fetched: the token, or why there is none.
pub type TokenFuture = Pin<Box<dyn Future<Output = Result<String, String>>>>;
/// Fetches fresh tokens (see [`crate::ClientBuilder::token_provider`]).
pub type TokenProvider = Rc<dyn Fn() -> TokenFuture>;

pub(crate) fn token_provider<F, Fut>(provider: F) -> TokenProvider
where
    F: Fn() -> Fut + 'static,
    Fut: Future<Output = Result<String, String>> + 'static,
{
    Rc::new(move || Box::pin(provider()))
}

/// The transport [`crate::Client::connect`] uses.
pub type DefaultTransport = crate::transport::web::WebTransport;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(callback: &Function, ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(timer: &JsValue);
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

/// The longest delay `setTimeout` takes (a signed 32-bit count of ms).
const TIMER_DELAY_MAX_MS: f64 = 2_147_483_647.0;

#[derive(Debug, Default)]
struct CallbackState {
    called: bool,
    waker: Option<Waker>,
}

/// A future that completes once JavaScript calls [`Callback::function`]:
/// the bridge from a host callback (a timer, an event listener) to Rust.
/// The function is owned here and freed with it (never `forget`-ed), so
/// whoever registered it must unregister it first.
#[derive(Debug)]
pub struct Callback {
    state: Rc<RefCell<CallbackState>>,
    function: Closure<dyn FnMut()>,
}

impl Callback {
    /// A callback not called yet.
    pub fn new() -> Self {
        let state = Rc::new(RefCell::new(CallbackState::default()));
        let shared = state.clone();
        let function = Closure::<dyn FnMut()>::new(move || {
            let waker = {
                let mut state = shared.borrow_mut();
                state.called = true;
                state.waker.take()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        });
        Callback { state, function }
    }

    /// The JavaScript function to hand to the host.
    pub fn function(&self) -> &Function {
        self.function.as_ref().unchecked_ref()
    }
}

impl Default for Callback {
    fn default() -> Self {
        Self::new()
    }
}

impl Future for Callback {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.state.borrow_mut();
        if state.called {
            return Poll::Ready(());
        }
        state.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// A `setTimeout` as a future. Dropping it clears the timer, so a finished
/// call leaves nothing behind that would keep Node's event loop alive.
#[derive(Debug)]
pub(crate) struct Sleep {
    timer: JsValue,
    fired: Callback,
}

pub(crate) fn sleep(duration: Duration) -> Sleep {
    let fired = Callback::new();
    let ms = (duration.as_millis() as f64).min(TIMER_DELAY_MAX_MS);
    let timer = set_timeout(fired.function(), ms);
    Sleep { timer, fired }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.fired).poll(cx)
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        clear_timeout(&self.timer);
    }
}

pub(crate) fn spawn(task: impl Future<Output = ()> + 'static) {
    wasm_bindgen_futures::spawn_local(task);
}

/// Monotonic milliseconds (`performance.now()`), the engine's notion of
/// time: a step of the wall clock must not delay heartbeats.
pub(crate) fn now_ms() -> u64 {
    performance_now() as u64
}

/// A number in [0, 1).
pub(crate) fn random_unit() -> f64 {
    js_sys::Math::random()
}

/// 64 bits no other client is likely to draw: two draws of the host's
/// `Math.random`, 32 bits each.
pub(crate) fn random_u64() -> u64 {
    let draw = || (js_sys::Math::random() * 4_294_967_296.0) as u64;
    (draw() << 32) | draw()
}

/// 32 bytes from the host's `crypto.getRandomValues` (browsers, Node 19+,
/// Deno, workerd): a lease's secret. `Math.random` is not secure enough.
pub(crate) fn random_secret() -> Result<[u8; 32], crate::Error> {
    use js_sys::{Function, Reflect, Uint8Array};
    use wasm_bindgen::JsCast;
    let missing = || crate::Error::Config("this runtime has no crypto.getRandomValues".into());
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into()).map_err(|_| missing())?;
    let fill = Reflect::get(&crypto, &"getRandomValues".into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
        .ok_or_else(missing)?;
    let bytes = Uint8Array::new_with_length(32);
    fill.call1(&crypto, &bytes).map_err(|_| missing())?;
    let mut secret = [0u8; 32];
    bytes.copy_to(&mut secret);
    Ok(secret)
}

pub(crate) fn default_client_name() -> String {
    "js".to_owned()
}
