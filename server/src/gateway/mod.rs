//! The client gateway on `/v1/client`. Each connection runs in
//! [`connection`]: its rules, access checks, validation before anything is
//! proposed, budgets and outbox. What outlives a connection (batching,
//! which connection holds each session, delivery of effects) is the
//! driver's ([`crate::driver`]).

pub(crate) mod access;
mod admin;
pub mod connection;
mod in_flight_budget;
mod lease;
pub mod one_shot;
pub mod outbox;
mod request;
mod rules;

use crate::cluster::Cluster;
use crate::driver::Driver;
use raftcp_proto::{OpError, Reply};
use std::sync::Arc;

#[derive(Debug)]
pub struct Gateway {
    pub cluster: Arc<Cluster>,
    pub driver: Arc<Driver>,
    /// Bytes of requests and replies on the way for all clients here.
    in_flight_budget: Arc<in_flight_budget::Budget>,
    /// Bytes queued in every client connection's outbox.
    outbox_bytes: Arc<std::sync::atomic::AtomicUsize>,
}

impl Gateway {
    pub fn new(driver: Arc<Driver>) -> Arc<Self> {
        Arc::new(Self {
            cluster: driver.cluster().clone(),
            driver,
            in_flight_budget: in_flight_budget::member_budget(),
            outbox_bytes: Arc::default(),
        })
    }
}

/// The answer a client sees when no leader could be reached in time. It is
/// retryable: the client resends with the same id.
pub fn unavailable(reason: impl std::fmt::Display) -> Result<Reply, OpError> {
    Err(OpError::Unavailable {
        reason: reason.to_string(),
    })
}
