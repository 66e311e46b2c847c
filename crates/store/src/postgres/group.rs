//! Group commit for single invites: the invites that arrive while one transaction runs are
//! written together in the next one.
//!
//! An invite's own work is two statements (see `invitations`); its transaction adds three
//! more (`BEGIN`, the address lock, `COMMIT`) and a WAL flush. Run one by one, those cost
//! PostgreSQL more CPU than the invite itself. A task per store takes every invite queued
//! (up to [`MAX_BATCH`]), runs them as one [`invitations::invite_batch`] transaction and
//! answers each after the commit, so an answered invite is still on disk. A batch that fails
//! as a whole (one bad command among good ones) is run again one invite per transaction, so
//! no invite fails for another's sake.

use tokio::sync::{mpsc, oneshot};
use usher_core::StoreError;
use usher_core::store::{InviteCommand, Invited};

use super::pool::Db;
use super::webhooks;

/// The most invites one transaction writes. The batch holds its app's lock for its length,
/// so this also bounds how long a lone invite of that app waits behind one.
const MAX_BATCH: usize = 128;

/// How many invites may wait for the next batch before senders wait too.
const QUEUE: usize = 4 * MAX_BATCH;

type Answer = oneshot::Sender<Result<Invited, StoreError>>;

/// The sending side of the batching task; dropping it ends the task.
pub(super) struct InviteQueue {
    sender: mpsc::Sender<(InviteCommand, Answer)>,
}

impl InviteQueue {
    /// Starts the batching task on the current Tokio runtime.
    pub(super) fn start(db: Db) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, receiver));
        Self { sender }
    }

    /// Queues `cmd` and waits for its transaction to commit.
    pub(super) async fn invite(&self, cmd: InviteCommand) -> Result<Invited, StoreError> {
        let (answer, answered) = oneshot::channel();
        self.sender.send((cmd, answer)).await.map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

/// The task: waits for an invite, takes whatever else is queued, writes them, answers.
async fn run(db: Db, mut receiver: mpsc::Receiver<(InviteCommand, Answer)>) {
    let mut queued = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut queued, MAX_BATCH).await > 0 {
        let started = std::time::Instant::now();
        let (cmds, answers): (Vec<InviteCommand>, Vec<Answer>) = queued.drain(..).unzip();
        let together = match cmds.as_slice() {
            [_] => None,
            cmds => db.write(cmds, |tx, cmds| Box::pin(webhooks::invite_batch(tx, cmds))).await.ok(),
        };
        // A caller that stopped waiting has nothing to be told; its invite stands.
        match together {
            Some(outcomes) => {
                for (answer, outcome) in answers.into_iter().zip(outcomes) {
                    let _ = answer.send(Ok(outcome));
                }
            }
            None => {
                for (answer, cmd) in answers.into_iter().zip(&cmds) {
                    let _ = answer.send(db.write(cmd, |tx, cmd| Box::pin(webhooks::invite(tx, cmd))).await);
                }
            }
        }
        crate::record_commit("postgres", cmds.len(), started);
    }
}

fn stopped() -> StoreError {
    StoreError::Backend("the PostgreSQL invite queue has stopped".into())
}
