//! The `ClusterAdmin` class (`client.admin()`): members, sessions and
//! objects as plain JavaScript objects, for dashboards and scripts. Node
//! ids, log indexes and times are `number`; session ids are `bigint`, as
//! fences are.

use crate::convert::count;
use crate::errors::invalid;
use crate::promise::{Resolved, on, try_promise};
use js_sys::{Array, BigInt, Object, Promise, Reflect};
use raftcp::proto::SessionId;
use raftcp::proto::admin::{MemberInfo, Members, ObjectInfo, SessionInfo};
use wasm_bindgen::prelude::*;

/// The cluster's admin operations; the token needs the `admin` rule.
#[wasm_bindgen]
#[derive(Debug)]
pub struct ClusterAdmin {
    inner: raftcp::Admin,
}

impl ClusterAdmin {
    pub(crate) fn new(inner: raftcp::Admin) -> Self {
        ClusterAdmin { inner }
    }
}

/// A node id: a whole number of at least 1.
fn node_id(id: f64) -> Result<u64, JsValue> {
    match count(Some(id), 0, "node id")? {
        0 => Err(invalid("node id must be at least 1")),
        id => Ok(u64::from(id)),
    }
}

#[wasm_bindgen]
impl ClusterAdmin {
    /// The members as the leader sees them.
    #[wasm_bindgen(unchecked_return_type = "Promise<ClusterMembers>")]
    pub fn members(&self) -> Promise {
        on(&self.inner, |admin| async move { admin.members().await })
    }

    /// Adds node `nodeId`, started with `raftcp serve --join`, listening at
    /// `addr` (`host:port`), as a learner.
    #[wasm_bindgen(js_name = addLearner, unchecked_return_type = "Promise<void>")]
    pub fn add_learner(
        &self,
        #[wasm_bindgen(js_name = nodeId)] node: f64,
        addr: String,
    ) -> Promise {
        try_promise(|| {
            let node = node_id(node)?;
            Ok(on(&self.inner, move |admin| async move {
                admin.add_learner(node, &addr).await
            }))
        })
    }

    /// Makes a learner a voter; `force` also when it lags, or when the
    /// voters reachable would not be a majority.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn promote(
        &self,
        #[wasm_bindgen(js_name = nodeId)] node: f64,
        force: Option<bool>,
    ) -> Promise {
        try_promise(|| {
            let node = node_id(node)?;
            let force = force.unwrap_or(false);
            Ok(on(&self.inner, move |admin| async move {
                admin.promote(node, force).await
            }))
        })
    }

    /// Removes a voter or learner; `force` also when the voters left that
    /// the leader reaches would not be a majority.
    #[wasm_bindgen(js_name = removeMember, unchecked_return_type = "Promise<void>")]
    pub fn remove_member(
        &self,
        #[wasm_bindgen(js_name = nodeId)] node: f64,
        force: Option<bool>,
    ) -> Promise {
        try_promise(|| {
            let node = node_id(node)?;
            let force = force.unwrap_or(false);
            Ok(on(&self.inner, move |admin| async move {
                admin.remove_member(node, force).await
            }))
        })
    }

    /// Hands leadership to the voter `nodeId`.
    #[wasm_bindgen(js_name = transferLeader, unchecked_return_type = "Promise<void>")]
    pub fn transfer_leader(&self, #[wasm_bindgen(js_name = nodeId)] node: f64) -> Promise {
        try_promise(|| {
            let node = node_id(node)?;
            Ok(on(&self.inner, move |admin| async move {
                admin.transfer_leader(node).await
            }))
        })
    }

    /// Every open session.
    #[wasm_bindgen(unchecked_return_type = "Promise<SessionInfo[]>")]
    pub fn sessions(&self) -> Promise {
        on(&self.inner, |admin| async move { admin.sessions().await })
    }

    /// Ends session `session` as its `close()` would; whether it was open.
    #[wasm_bindgen(js_name = closeSession, unchecked_return_type = "Promise<boolean>")]
    pub fn close_session(&self, session: BigInt) -> Promise {
        try_promise(|| {
            let session = u64::try_from(session)
                .map_err(|_| invalid("session must be a bigint from 0 to 2^64 - 1"))?;
            Ok(on(&self.inner, move |admin| async move {
                admin.close_session(SessionId(session)).await
            }))
        })
    }

    /// Every object whose name starts with `prefix` (all when omitted).
    #[wasm_bindgen(unchecked_return_type = "Promise<ObjectInfo[]>")]
    pub fn objects(&self, prefix: Option<String>) -> Promise {
        let prefix = prefix.unwrap_or_default();
        on(&self.inner, move |admin| async move {
            admin.objects(&prefix).await
        })
    }
}

/// A plain object from `(key, value)` pairs.
fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (key, value) in fields {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&object, &JsValue::from_str(key), value);
    }
    object.into()
}

fn number(n: u64) -> JsValue {
    JsValue::from(n as f64)
}

fn strings(items: &[String]) -> JsValue {
    items
        .iter()
        .map(|item| JsValue::from_str(item))
        .collect::<Array>()
        .into()
}

fn member(info: &MemberInfo) -> JsValue {
    object(&[
        ("nodeId", number(info.node_id)),
        ("addr", JsValue::from_str(&info.addr)),
        ("voter", JsValue::from_bool(info.voter)),
        ("matched", info.matched.map_or(JsValue::NULL, number)),
        ("lag", number(info.lag)),
        (
            "lastHeardMs",
            match info.last_heard_ms {
                u64::MAX => JsValue::NULL,
                ms => number(ms),
            },
        ),
    ])
}

impl Resolved for Members {
    fn into_js(self) -> JsValue {
        let members: Array = self.members.iter().map(member).collect();
        object(&[
            ("leader", number(self.leader)),
            ("term", number(self.term)),
            ("lastLogIndex", number(self.last_log_index)),
            ("committed", number(self.committed)),
            ("applied", number(self.applied)),
            ("changing", JsValue::from_bool(self.changing)),
            ("members", members.into()),
        ])
    }
}

impl Resolved for Vec<SessionInfo> {
    fn into_js(self) -> JsValue {
        let sessions: Array = self
            .iter()
            .map(|session| {
                object(&[
                    ("session", BigInt::from(session.session.0).into()),
                    ("clientName", JsValue::from_str(&session.client_name)),
                    ("expiresInMs", number(session.expires_in_ms)),
                    ("holds", strings(&session.holds)),
                    ("waits", strings(&session.waits)),
                ])
            })
            .collect();
        sessions.into()
    }
}

impl Resolved for Vec<ObjectInfo> {
    fn into_js(self) -> JsValue {
        let objects: Array = self
            .iter()
            .map(|info| {
                object(&[
                    ("kind", JsValue::from_str(&info.key.kind)),
                    ("name", JsValue::from_str(&info.key.name)),
                    ("summary", JsValue::from_str(&info.summary)),
                    ("waiters", JsValue::from(info.waiters)),
                ])
            })
            .collect();
        objects.into()
    }
}
