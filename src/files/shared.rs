//! Do the nodes share their file storage? Each node writes a marker object (a random token) at start
//! and records it in `file_store`; it then reads the markers other nodes recorded lately. One it cannot
//! read means that node writes somewhere else (local directories on several machines): a file uploaded
//! there would be missing here. The node warns rather than refuses to start (a lone node restarting
//! among stale rows must not be locked out); the warning names the nodes and the fix.

use object_store::path::Path;

use super::storage::FileStorage;
use crate::domain::Timestamp;
use crate::store::Store;

/// Markers recorded within this time are checked.
const RECENT: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

fn marker_key(node_id: &str) -> Path {
    Path::from(format!("nodes/{node_id}"))
}

/// Writes this node's marker and checks the others'; returns a warning per node that does not share
/// the storage. Failures to reach the storage are logged and skipped (readiness reports them).
pub async fn check(store: &Store, storage: &FileStorage, node_id: &str) -> Vec<String> {
    let token = uuid::Uuid::new_v4().to_string();
    if let Err(e) = storage.put(&marker_key(node_id), bytes::Bytes::from(token.clone())).await {
        tracing::warn!(error = ?e, "cannot write this node's marker to file storage; shared-storage check skipped");
        return Vec::new();
    }
    let since = Timestamp::from(Timestamp::now().inner() - RECENT);
    let others = match store.record_file_store_marker(node_id, storage.location(), &token, since).await {
        Ok(others) => others,
        Err(e) => {
            tracing::warn!(error = ?e, "cannot record the file storage marker; shared-storage check skipped");
            return Vec::new();
        }
    };
    let mut warnings = Vec::new();
    for (other, location, marker) in others {
        let seen = match storage.get(&marker_key(&other), None).await {
            Ok(download) => read_all(download).await.is_some_and(|text| text == marker),
            Err(_) => false,
        };
        if !seen {
            warnings.push(format!(
                "node {other} stores files at {location}, which this node ({}) does not share: a file uploaded \
                 through one of them cannot be downloaded through the other; share RUSTCHAT_FILES_DIR between \
                 nodes or set RUSTCHAT_FILES_STORAGE=s3",
                storage.location()
            ));
        }
    }
    warnings
}

async fn read_all(download: super::storage::Download) -> Option<String> {
    use futures_util::TryStreamExt;
    let chunks: Vec<bytes::Bytes> = download.stream.try_collect().await.ok()?;
    String::from_utf8(chunks.concat()).ok()
}
