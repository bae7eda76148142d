//! Step 1 of the driver: gathers the commands of concurrent client requests into batches, one Raft
//! entry each. While a few batches are in flight, new commands queue and
//! leave together with the next one, so under load the per-entry cost of
//! Raft is shared by many requests; an idle client's command leaves at once.

use super::ForwardError;
use crate::cluster::Cluster;
use crate::limits::{BATCH_QUEUE_MAX, ENTRY_BYTES_MAX};
use crate::machine::{CommandKind, CommandResponse, POSITIONS_PER_ENTRY};
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Batches proposed at once. More lets a lone request leave without waiting
/// for a slow batch; fewer makes batches larger.
const BATCHES_IN_FLIGHT: usize = 16;

type Answer = oneshot::Sender<Result<CommandResponse, ForwardError>>;

/// A command waiting for a batch.
#[derive(Debug)]
struct Queued {
    kind: CommandKind,
    /// About how many bytes it encodes to: the size of the client frame
    /// that carried it.
    bytes: usize,
    answer: Answer,
}

#[derive(Debug)]
pub struct Batcher {
    queue: mpsc::Sender<Queued>,
}

impl Batcher {
    /// Starts the batching task for `cluster`.
    pub fn start(cluster: Arc<Cluster>) -> (Batcher, tokio::task::JoinHandle<()>) {
        let (queue, commands) = mpsc::channel(BATCH_QUEUE_MAX);
        let task = tokio::spawn(run(cluster, commands));
        (Batcher { queue }, task)
    }

    /// Proposes `kind`, which encodes to about `bytes`, as part of the next
    /// batch and waits for its response.
    pub async fn propose(
        &self,
        kind: CommandKind,
        bytes: usize,
    ) -> Result<CommandResponse, ForwardError> {
        let (answer, response) = oneshot::channel();
        let stopped = || ForwardError::Unavailable("the member is shutting down".into());
        let queued = Queued {
            kind,
            bytes,
            answer,
        };
        self.queue.send(queued).await.map_err(|_| stopped())?;
        response.await.map_err(|_| stopped())?
    }
}

async fn run(cluster: Arc<Cluster>, mut commands: mpsc::Receiver<Queued>) {
    let slots = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT));
    let max = POSITIONS_PER_ENTRY as usize;
    // A command that did not fit the previous batch starts the next one.
    let mut carried = None;
    loop {
        let first = match carried.take() {
            Some(first) => first,
            None => match commands.recv().await {
                Some(first) => first,
                None => return,
            },
        };
        // Waiting for a slot is what lets the next batch grow.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut bytes = first.bytes;
        let mut batch = vec![(first.kind, first.answer)];
        while batch.len() < max {
            let Ok(next) = commands.try_recv() else {
                break;
            };
            if bytes + next.bytes > ENTRY_BYTES_MAX {
                carried = Some(next);
                break;
            }
            bytes += next.bytes;
            batch.push((next.kind, next.answer));
        }
        let cluster = cluster.clone();
        // Boxed so the spawned task stays small (cheap to create and move).
        tokio::spawn(Box::pin(async move {
            propose_batch(&cluster, batch).await;
            drop(slot);
        }));
    }
}

async fn propose_batch(cluster: &Cluster, mut batch: Vec<(CommandKind, Answer)>) {
    if batch.len() == 1
        && let Some((kind, answer)) = batch.pop()
    {
        let _ = answer.send(Box::pin(cluster.propose(kind)).await);
        return;
    }
    let (kinds, answers): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
    match Box::pin(cluster.propose(CommandKind::Batch(Arc::new(kinds)))).await {
        Ok(CommandResponse::Batch(responses)) if responses.len() == answers.len() => {
            for (answer, response) in answers.into_iter().zip(responses) {
                let _ = answer.send(Ok(response));
            }
        }
        Ok(other) => {
            let error = ForwardError::Unavailable(format!("unexpected batch answer {other:?}"));
            for answer in answers {
                let _ = answer.send(Err(error.clone()));
            }
        }
        Err(error) => {
            for answer in answers {
                let _ = answer.send(Err(error.clone()));
            }
        }
    }
}
