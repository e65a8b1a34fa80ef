//! Removes what no one will download again: uploads no post took within the orphan age (interrupted
//! ones included) and the files of deleted posts. Works from the `files` rows alone: a row is marked
//! deleted (downloads stop), its objects are removed, then the row; whatever fails is retried on the
//! next round, by this node or any other, after a restart too.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::storage::FileStorage;
use crate::domain::Timestamp;
use crate::error::Result;
use crate::store::Store;

/// Files removed per round at most (the next round takes the rest).
const BATCH: i64 = 200;

/// How often a node sweeps: often enough that an upload is gone soon after it is due, at most once a minute.
pub fn interval(orphan_age: Duration) -> Duration {
    (orphan_age / 2).clamp(Duration::from_millis(500), Duration::from_secs(60))
}

/// Sweeps every [`interval`] until shutdown.
pub async fn run(store: Store, storage: FileStorage, orphan_age: Duration, shutdown: CancellationToken) {
    let every = interval(orphan_age);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match sweep(&store, &storage, orphan_age).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "file sweep removed unattached or deleted files"),
            Err(e) => tracing::warn!(error = ?e, "file sweep failed; retrying next round"),
        }
    }
}

/// One round; returns how many files it removed.
pub async fn sweep(store: &Store, storage: &FileStorage, orphan_age: Duration) -> Result<usize> {
    let cutoff = Timestamp::from(Timestamp::now().inner() - orphan_age);
    store.mark_swept_files(cutoff).await?;
    let mut removed = 0;
    for file in store.doomed_files(BATCH).await? {
        storage.remove_file(file.id).await?;
        store.forget_file(file.id).await?;
        removed += 1;
    }
    Ok(removed)
}

/// Removes the files of a post just deleted, at once (the sweep would within a round).
pub async fn release_post(store: &Store, storage: &FileStorage, post: crate::domain::PostId) -> Result<()> {
    for file in store.release_post_files(post).await? {
        storage.remove_file(file.id).await?;
        store.forget_file(file.id).await?;
    }
    Ok(())
}

/// Starts the node's file tasks: the shared-storage check once (its warnings logged), then the sweep.
pub fn spawn(state: &crate::state::AppState, shutdown: CancellationToken) {
    let (store, storage) = (state.store.clone(), state.files.clone());
    let node_id = state.settings.node_id.clone();
    let orphan_age = state.settings.files.orphan_age;
    tokio::spawn(async move {
        tracing::info!(location = storage.location(), "file storage");
        for warning in super::shared::check(&store, &storage, &node_id).await {
            tracing::warn!("{warning}");
        }
        run(store, storage, orphan_age, shutdown).await;
    });
}
