//! File attachments' rules: who may upload into a channel (its members, while it is not archived),
//! how an upload is stored (streamed, refused the moment it passes the size limit, typed from its
//! bytes, previewed when it is an image, nothing left behind when it fails), and who may download
//! (readers of the post that carries it; the uploader alone before a post takes it). Posts take files
//! in `app::posts::post_with_files`.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use crate::access::member_channel;
use crate::auth::AuthUser;
use crate::domain::{ChannelId, FileId, FileName};
use crate::error::{Error, ErrorCode, Result};
use crate::files::inspect::{self, MAX_PREVIEW_SOURCE, SNIFF_BYTES};
use crate::files::{Download, FileStorage, Object};
use crate::store::Store;
use crate::store::files::{FileInfo, StoredFile};

/// Checks that `caller` may upload into `channel` (a member; the channel not archived).
pub async fn may_upload(store: &Store, caller: &AuthUser, channel: ChannelId) -> Result<()> {
    member_channel(store, caller, channel).await?.writable()?;
    Ok(())
}

/// What the first bytes and (for small images) the whole file say, gathered while streaming.
struct Seen {
    head: Vec<u8>,
    /// The whole file while it stays under [`MAX_PREVIEW_SOURCE`].
    whole: Option<Vec<u8>>,
}

impl Seen {
    fn add(&mut self, chunk: &[u8]) {
        if self.head.len() < SNIFF_BYTES {
            let take = (SNIFF_BYTES - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
            // Once the type is known, only an image is worth keeping whole (for its thumbnail).
            if self.head.len() == SNIFF_BYTES && !inspect::is_inline(inspect::content_type(&self.head)) {
                self.whole = None;
            }
        }
        if let Some(whole) = &mut self.whole {
            if whole.len() + chunk.len() <= MAX_PREVIEW_SOURCE {
                whole.extend_from_slice(chunk);
            } else {
                self.whole = None;
            }
        }
    }
}

/// Stores one file of an upload `caller` may make into `channel` (see [`may_upload`]): its row first
/// (so an interrupted upload is found later), then its bytes as they arrive. Over `max_bytes` it is
/// refused with 413 at once; an error of the `body` (a client gone, broken framing) is returned as it
/// is. Either way nothing of the file remains.
pub async fn store_upload<S>(
    store: &Store,
    storage: &FileStorage,
    caller: &AuthUser,
    channel: ChannelId,
    client_name: &str,
    body: S,
    max_bytes: u64,
) -> Result<FileInfo>
where
    S: Stream<Item = Result<Bytes>> + Unpin,
{
    let id = FileId::new();
    let name = FileName::from_client(client_name);
    store.begin_upload(id, channel, caller.id(), &name).await?;
    // Should the request be dropped mid-upload (the client gone), the guard still cleans up.
    let mut guard = Cleanup { store: store.clone(), storage: storage.clone(), id, armed: true };
    let result = write_file(store, storage, id, body, max_bytes).await;
    guard.armed = false;
    if result.is_err() {
        discard(store, storage, id).await;
    }
    result
}

/// Discards an upload whose request was dropped before it finished.
struct Cleanup {
    store: Store,
    storage: FileStorage,
    id: FileId,
    armed: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (store, storage, id) = (self.store.clone(), self.storage.clone(), self.id);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { discard(&store, &storage, id).await });
        }
    }
}

async fn write_file<S>(
    store: &Store,
    storage: &FileStorage,
    id: FileId,
    mut body: S,
    max_bytes: u64,
) -> Result<FileInfo>
where
    S: Stream<Item = Result<Bytes>> + Unpin,
{
    let mut upload = storage.writer(FileStorage::key(id, Object::Original))?;
    let mut seen = Seen { head: Vec::new(), whole: Some(Vec::new()) };
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                upload.abort().await;
                return Err(e);
            }
        };
        if upload.written() + chunk.len() as u64 > max_bytes {
            upload.abort().await;
            return Err(Error::new(ErrorCode::PayloadTooLarge, format!("a file may have at most {max_bytes} bytes")));
        }
        seen.add(&chunk);
        if let Err(e) = upload.write(chunk).await {
            upload.abort().await;
            return Err(e);
        }
    }
    let size = upload.finish().await?;
    let mime = inspect::content_type(&seen.head);
    let whole = seen.whole.is_some();
    let source = seen.whole.unwrap_or(seen.head);
    let preview = tokio::task::spawn_blocking(move || inspect::preview(mime, &source, whole))
        .await
        .map_err(|e| Error::internal(anyhow::anyhow!("image preview task failed: {e}")))?
        .map_err(|too| {
            Error::new(
                ErrorCode::Unprocessable,
                format!(
                    "the image is {}×{} pixels; at most {} pixels and {} on a side are accepted",
                    too.width,
                    too.height,
                    inspect::MAX_PIXELS,
                    inspect::MAX_SIDE
                ),
            )
        })?;
    let mut has_thumbnail = false;
    if let Some(thumbnail) = preview.as_ref().and_then(|p| p.thumbnail.clone()) {
        storage.put(&FileStorage::key(id, Object::Thumbnail), Bytes::from(thumbnail)).await?;
        has_thumbnail = true;
    }
    let stored = StoredFile {
        size: i64::try_from(size).unwrap_or(i64::MAX),
        mime_type: mime,
        dimensions: preview.map(|p| (p.width, p.height)),
        has_thumbnail,
    };
    store.finish_upload(id, stored).await?.ok_or_else(|| {
        Error::new(
            ErrorCode::Unprocessable,
            "the upload took longer than RUSTCHAT_FILES_ORPHAN_AGE_SECONDS and was swept; upload it again",
        )
    })
}

/// Removes what a failed upload wrote, and its row; what cannot be removed now the sweep removes.
async fn discard(store: &Store, storage: &FileStorage, id: FileId) {
    if let Err(e) = storage.remove_file(id).await {
        tracing::warn!(error = ?e, file = %id, "cannot remove a failed upload now; the sweep will");
        return;
    }
    if let Err(e) = store.forget_file(id).await {
        tracing::warn!(error = ?e, file = %id, "cannot forget a failed upload now; the sweep will");
    }
}

/// A file `caller` may download: one a post they may read carries, or their own upload no post has
/// taken yet. Anything else answers like a missing id.
pub async fn readable_file(store: &Store, caller: &AuthUser, id: FileId) -> Result<FileInfo> {
    let file = store.file(id).await?.ok_or_else(|| Error::not_found("file"))?;
    let visible = match file.post_id {
        None => file.uploader_id == caller.id(),
        Some(post) => match super::posts::readable_post(store, caller, post).await {
            Ok((post, _)) => post.deleted_at.is_none(),
            Err(e) if matches!(e.code, ErrorCode::NotFound | ErrorCode::Forbidden) => false,
            Err(e) => return Err(e),
        },
    };
    if visible { Ok(file) } else { Err(Error::not_found("file")) }
}

/// The bytes of a file `caller` may read (or the range `range` picks from its size), or of its thumbnail.
pub async fn download(
    store: &Store,
    storage: &FileStorage,
    caller: &AuthUser,
    id: FileId,
    object: Object,
    range: impl FnOnce(&FileInfo) -> Result<Option<std::ops::Range<u64>>>,
) -> Result<(FileInfo, Download)> {
    let file = readable_file(store, caller, id).await?;
    if object == Object::Thumbnail && !file.has_thumbnail {
        return Err(Error::not_found("thumbnail"));
    }
    let range = range(&file)?;
    let download = storage.get(&FileStorage::key(id, object), range).await?;
    Ok((file, download))
}

/// Files whose names hold every word of `terms`, among those of posts the caller can read as a member.
pub async fn search(
    store: &Store,
    caller: &AuthUser,
    terms: &str,
    channel: Option<ChannelId>,
    limit: u32,
) -> Result<Vec<FileInfo>> {
    if terms.chars().count() > super::search::MAX_QUERY_CHARS {
        return Err(Error::validation(format!("q must be at most {} characters", super::search::MAX_QUERY_CHARS)));
    }
    let words: Vec<String> = terms.split_whitespace().take(16).map(str::to_string).collect();
    if words.is_empty() {
        return Err(Error::validation("q must contain at least one word"));
    }
    store.search_files(caller.id(), &words, channel, limit).await
}
