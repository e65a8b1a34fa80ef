//! The bytes of attachments, in a directory or an S3-compatible bucket (`object_store`), behind the
//! `storage` circuit breaker: while it is open calls fail fast with 503 `storage_unavailable`. Keys are
//! built from file ids only (`files/<id>/original`, `files/<id>/thumbnail`), never from a client's name.
//! Writes go to a temporary name (local) or an unfinished multipart upload (S3) until complete, so an
//! interrupted upload leaves nothing readable behind.

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload, WriteMultipart};
use opentelemetry::KeyValue;
use rustchat_actors::breaker::Breaker;

use crate::config::{FileBackend, FileSettings};
use crate::domain::FileId;
use crate::error::{Error, ErrorCode, Result};
use crate::telemetry::metrics::Metrics;

/// Uploads buffer up to this much before switching to a multipart upload (S3's smallest part is 5 MiB).
const PART_SIZE: usize = 5 << 20;
/// Parts in flight at once for one upload.
const PARTS_IN_FLIGHT: usize = 2;

/// The two objects a file may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    Original,
    Thumbnail,
}

/// Handle to the configured storage; cheap to clone.
#[derive(Clone)]
pub struct FileStorage {
    store: Arc<dyn ObjectStore>,
    breaker: Arc<Breaker>,
    metrics: Arc<Metrics>,
    /// Where, for logs and the shared-storage check (no credentials).
    location: String,
    /// The directory, for `local` storage.
    local_dir: Option<std::path::PathBuf>,
}

/// A file's bytes (or a range of them) on their way out.
pub struct Download {
    pub stream: BoxStream<'static, Result<Bytes>>,
    /// The bytes this answer carries.
    pub range: Range<u64>,
    /// The object's whole size.
    pub total: u64,
}

impl FileStorage {
    /// Opens the configured storage (creating the directory for `local`); contacts nothing yet.
    pub fn open(settings: &FileSettings, breaker: Arc<Breaker>, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        let local_dir = match &settings.backend {
            FileBackend::Local { dir } => Some(dir.clone()),
            FileBackend::S3(_) => None,
        };
        let (store, location): (Arc<dyn ObjectStore>, String) = match &settings.backend {
            FileBackend::Local { dir } => {
                std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
                let store = object_store::local::LocalFileSystem::new_with_prefix(dir)
                    .map_err(|e| anyhow::anyhow!("cannot use {} for files: {e}", dir.display()))?;
                let canonical = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
                (Arc::new(store), format!("local:{}", canonical.display()))
            }
            FileBackend::S3(s3) => {
                let retry = object_store::RetryConfig {
                    backoff: object_store::BackoffConfig {
                        init_backoff: Duration::from_millis(100),
                        max_backoff: Duration::from_secs(1),
                        base: 2.0,
                    },
                    max_retries: 2,
                    retry_timeout: Duration::from_secs(10),
                };
                let client = object_store::ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(3))
                    .with_timeout(Duration::from_secs(120))
                    .with_allow_http(true);
                let mut builder = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(&s3.bucket)
                    .with_region(&s3.region)
                    .with_virtual_hosted_style_request(!s3.path_style)
                    .with_retry(retry)
                    .with_client_options(client);
                if let Some(endpoint) = &s3.endpoint {
                    builder = builder.with_endpoint(endpoint.as_str().trim_end_matches('/'));
                }
                if let (Some(id), Some(secret)) = (&s3.access_key_id, &s3.secret_access_key) {
                    builder = builder.with_access_key_id(id).with_secret_access_key(secret.expose());
                }
                let store = builder.build().map_err(|e| anyhow::anyhow!("cannot configure S3 storage: {e}"))?;
                let endpoint = s3.endpoint.as_ref().map_or_else(|| "aws".to_string(), |u| u.to_string());
                (Arc::new(store), format!("s3:{endpoint}/{}", s3.bucket))
            }
        };
        Ok(Self { store, breaker, metrics, location, local_dir })
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    /// The key of one of a file's objects.
    pub fn key(id: FileId, object: Object) -> Path {
        let leaf = match object {
            Object::Original => "original",
            Object::Thumbnail => "thumbnail",
        };
        Path::from(format!("files/{id}/{leaf}"))
    }

    fn admit(&self) -> Result<()> {
        if self.breaker.admit() {
            Ok(())
        } else {
            Err(Error::new(
                ErrorCode::StorageUnavailable,
                "file storage unavailable (circuit breaker open); retry shortly",
            ))
        }
    }

    /// Feeds an outcome to the breaker and turns a failure into 503 (a missing object is an answer).
    fn observe<T>(&self, op: &'static str, result: object_store::Result<T>) -> Result<T> {
        match result {
            Ok(v) => {
                self.breaker.record_success();
                Ok(v)
            }
            Err(e @ object_store::Error::NotFound { .. }) => {
                self.breaker.record_success();
                Err(Error::not_found("file").with_cause(e))
            }
            Err(e) => {
                self.breaker.record_failure();
                self.metrics.storage_errors.add(1, &[KeyValue::new("op", op)]);
                Err(Error::new(ErrorCode::StorageUnavailable, "file storage unavailable; retry shortly").with_cause(e))
            }
        }
    }

    /// Starts writing an object.
    pub fn writer(&self, key: Path) -> Result<Upload> {
        self.admit()?;
        Ok(Upload { storage: self.clone(), key, buffer: Vec::new(), buffered: 0, multipart: None, written: 0 })
    }

    /// Writes a small object whole.
    pub async fn put(&self, key: &Path, bytes: Bytes) -> Result<()> {
        self.admit()?;
        let result = self.store.put(key, PutPayload::from(bytes)).await.map(|_| ());
        self.observe("put", result)
    }

    /// Reads an object, or `range` of it (clamped to its size).
    pub async fn get(&self, key: &Path, range: Option<Range<u64>>) -> Result<Download> {
        self.admit()?;
        let options = GetOptions { range: range.map(GetRange::Bounded), ..GetOptions::default() };
        let result = self.store.get_opts(key, options).await;
        let got = self.observe("get", result)?;
        let (range, total) = (got.range.clone(), got.meta.size);
        let breaker = self.breaker.clone();
        let metrics = self.metrics.clone();
        let stream = got
            .into_stream()
            .map_err(move |e| {
                // The storage went away mid-answer: the client sees a cut connection, the breaker a failure.
                breaker.record_failure();
                metrics.storage_errors.add(1, &[KeyValue::new("op", "read")]);
                Error::new(ErrorCode::StorageUnavailable, "file storage failed mid-download").with_cause(e)
            })
            .inspect_ok({
                let metrics = self.metrics.clone();
                move |chunk| metrics.files_downloaded_bytes.add(chunk.len() as u64, &[])
            })
            .boxed();
        Ok(Download { stream, range, total })
    }

    /// Removes an object; one already gone is fine.
    pub async fn delete(&self, key: &Path) -> Result<()> {
        self.admit()?;
        match self.observe("delete", self.store.delete(key).await) {
            Err(e) if e.code == ErrorCode::NotFound => Ok(()),
            other => other,
        }
    }

    /// Whether the storage answers (a read of a key that need not exist), and how fast.
    pub async fn ping(&self, timeout: Duration) -> Result<Duration> {
        let started = Instant::now();
        self.admit()?;
        let key = Path::from("rustchat-ping");
        let probe = self.store.head(&key);
        let result = match tokio::time::timeout(timeout, probe).await {
            Ok(r) => r.map(|_| ()),
            Err(_) => Err(object_store::Error::Generic { store: "storage", source: "no answer in time".into() }),
        };
        match self.observe("ping", result) {
            Ok(()) => Ok(started.elapsed()),
            Err(e) if e.code == ErrorCode::NotFound => Ok(started.elapsed()),
            Err(e) => Err(e),
        }
    }
}

/// An object being written: small ones are buffered and put whole, larger ones go up in parts.
pub struct Upload {
    storage: FileStorage,
    key: Path,
    buffer: Vec<Bytes>,
    buffered: usize,
    multipart: Option<WriteMultipart>,
    written: u64,
}

impl Upload {
    /// Bytes accepted so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Adds bytes; waits while too many parts are in flight.
    pub async fn write(&mut self, bytes: Bytes) -> Result<()> {
        self.written += bytes.len() as u64;
        if let Some(parts) = &mut self.multipart {
            parts.put(bytes);
            let ready = parts.wait_for_capacity(PARTS_IN_FLIGHT).await;
            return self.storage.observe("write", ready);
        }
        self.buffered += bytes.len();
        self.buffer.push(bytes);
        if self.buffered >= PART_SIZE {
            self.storage.admit()?;
            let started = self.storage.store.put_multipart(&self.key).await;
            let upload = self.storage.observe("write", started)?;
            let mut parts = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
            for chunk in self.buffer.drain(..) {
                parts.put(chunk);
            }
            self.buffered = 0;
            let ready = parts.wait_for_capacity(PARTS_IN_FLIGHT).await;
            self.multipart = Some(parts);
            self.storage.observe("write", ready)?;
        }
        Ok(())
    }

    /// Completes the object: only now can it be read.
    pub async fn finish(mut self) -> Result<u64> {
        let written = self.written;
        match self.multipart.take() {
            Some(parts) => {
                let done = parts.finish().await.map(|_| ());
                self.storage.observe("write", done)?;
            }
            None => {
                let mut payload = bytes::BytesMut::with_capacity(self.buffered);
                for chunk in self.buffer.drain(..) {
                    payload.extend_from_slice(&chunk);
                }
                self.storage.put(&self.key, payload.freeze()).await?;
            }
        }
        self.storage.metrics.files_uploaded_bytes.add(written, &[]);
        Ok(written)
    }

    /// Gives up: an unfinished multipart upload is aborted, a buffer dropped. Failures are only logged
    /// (the sweep removes what is left, from the file's row).
    pub async fn abort(mut self) {
        if let Some(parts) = self.multipart.take()
            && let Err(e) = parts.abort().await
        {
            tracing::warn!(error = %e, key = %self.key, "cannot abort an unfinished upload; the sweep will retry");
        }
    }
}

impl FileStorage {
    /// Removes both objects of a file (and, on a directory, anything an interrupted write left).
    pub async fn remove_file(&self, id: FileId) -> Result<()> {
        self.delete(&Self::key(id, Object::Original)).await?;
        self.delete(&Self::key(id, Object::Thumbnail)).await?;
        if let Some(dir) = &self.local_dir {
            match tokio::fs::remove_dir_all(dir.join("files").join(id.to_string())).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(error = %e, file = %id, "cannot remove a file's directory"),
            }
        }
        Ok(())
    }
}
