//! The `files` table: an upload's row from its first byte ('uploading') to 'ready', taken by a post
//! (in the post's own transaction, `posts/create.rs`), and marked deleted before its objects go. The
//! sweep works from these rows alone, so whatever a crash interrupts is finished by any node later.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Store, with_pool};
use crate::domain::{ChannelId, FileId, FileName, PostId, Timestamp, UserId};
use crate::error::Result;

macro_rules! file_columns {
    () => {
        "id, channel_id, uploader_id, post_id, name, size, mime_type, width, height, has_thumbnail, created_at"
    };
}
pub(crate) use file_columns;

/// An uploaded file as clients see it (in upload answers and in a post's `files`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, ToSchema)]
pub struct FileInfo {
    pub id: FileId,
    pub channel_id: ChannelId,
    /// Who uploaded it.
    pub uploader_id: UserId,
    /// The post that carries it; `null` until one does.
    pub post_id: Option<PostId>,
    /// The name to show (cleaned; never a path in storage).
    pub name: String,
    /// Bytes.
    pub size: i64,
    /// From the file's bytes, not the client's claim.
    pub mime_type: String,
    /// Pixels, for images.
    pub width: Option<i32>,
    pub height: Option<i32>,
    /// `GET /api/v1/files/{id}/thumbnail` answers.
    pub has_thumbnail: bool,
    pub created_at: Timestamp,
}

/// What a finished upload learned about its bytes.
pub struct StoredFile<'a> {
    pub size: i64,
    pub mime_type: &'a str,
    pub dimensions: Option<(u32, u32)>,
    pub has_thumbnail: bool,
}

/// A file whose objects are to be removed.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct DoomedFile {
    pub id: FileId,
    pub has_thumbnail: bool,
}

impl Store {
    /// Records an upload as it starts, so that an interrupted one is found and cleaned up later.
    pub async fn begin_upload(&self, id: FileId, channel: ChannelId, uploader: UserId, name: &FileName) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query("INSERT INTO files (id, channel_id, uploader_id, name, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(id)
                .bind(channel)
                .bind(uploader)
                .bind(name.as_str())
                .bind(Timestamp::now())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    /// Marks an upload stored; `None` when the sweep took it meanwhile (the upload outlived the orphan age).
    pub async fn finish_upload(&self, id: FileId, stored: StoredFile<'_>) -> Result<Option<FileInfo>> {
        let (width, height) = match stored.dimensions {
            Some((w, h)) => (i32::try_from(w).ok(), i32::try_from(h).ok()),
            None => (None, None),
        };
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, FileInfo>(concat!(
                "UPDATE files SET state = 'ready', size = $2, mime_type = $3, width = $4, height = $5, has_thumbnail = $6
                 WHERE id = $1 AND state = 'uploading' AND deleted_at IS NULL RETURNING ",
                file_columns!()
            ))
            .bind(id)
            .bind(stored.size)
            .bind(stored.mime_type)
            .bind(width)
            .bind(height)
            .bind(stored.has_thumbnail)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// Forgets a file whose objects are gone (or were never written).
    pub async fn forget_file(&self, id: FileId) -> Result<()> {
        with_pool!(self, |pool| sqlx::query("DELETE FROM files WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(())
    }

    /// A stored, live file.
    pub async fn file(&self, id: FileId) -> Result<Option<FileInfo>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, FileInfo>(concat!(
                "SELECT ",
                file_columns!(),
                " FROM files WHERE id = $1 AND state = 'ready' AND deleted_at IS NULL"
            ))
            .bind(id)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// The live files of these posts, oldest first.
    pub(crate) async fn files_of_posts(&self, posts: &[PostId]) -> Result<Vec<FileInfo>> {
        if posts.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (1..=posts.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {} FROM files WHERE post_id IN ({}) AND deleted_at IS NULL ORDER BY created_at, id",
            file_columns!(),
            marks.join(", ")
        );
        Ok(with_pool!(self, |pool| {
            let mut q = sqlx::query_as::<_, FileInfo>(sqlx::AssertSqlSafe(sql.clone()));
            for id in posts {
                q = q.bind(*id);
            }
            q.fetch_all(pool).await?
        }))
    }

    /// Marks the files of a deleted post deleted (downloads stop at once); returns them for removal.
    pub async fn release_post_files(&self, post: PostId) -> Result<Vec<DoomedFile>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, DoomedFile>(
                "UPDATE files SET deleted_at = $2 WHERE post_id = $1 AND deleted_at IS NULL RETURNING id, has_thumbnail",
            )
            .bind(post)
            .bind(Timestamp::now())
            .fetch_all(pool)
            .await?
        }))
    }

    /// Marks deleted every upload no post took before `cutoff` (interrupted ones included) and every
    /// file of a deleted post; returns how many it marked.
    pub async fn mark_swept_files(&self, cutoff: Timestamp) -> Result<u64> {
        Ok(with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE files SET deleted_at = $1 WHERE deleted_at IS NULL AND (
                   (post_id IS NULL AND created_at < $2)
                   OR EXISTS (SELECT 1 FROM posts p WHERE p.id = files.post_id AND p.deleted_at IS NOT NULL))",
            )
            .bind(Timestamp::now())
            .bind(cutoff)
            .execute(pool)
            .await?
            .rows_affected()
        }))
    }

    /// Up to `limit` files marked deleted whose objects may still exist.
    pub async fn doomed_files(&self, limit: i64) -> Result<Vec<DoomedFile>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, DoomedFile>(
                "SELECT id, has_thumbnail FROM files WHERE deleted_at IS NOT NULL ORDER BY deleted_at LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Records the marker this node wrote to its file storage; returns the other nodes' markers seen
    /// within `since`, to check that they share it.
    pub async fn record_file_store_marker(
        &self,
        node_id: &str,
        location: &str,
        marker: &str,
        since: Timestamp,
    ) -> Result<Vec<(String, String, String)>> {
        let now = Timestamp::now();
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO file_store (node_id, location, marker, checked_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (node_id) DO UPDATE SET location = $2, marker = $3, checked_at = $4",
            )
            .bind(node_id)
            .bind(location)
            .bind(marker)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, (String, String, String)>(
                "SELECT node_id, location, marker FROM file_store WHERE node_id <> $1 AND checked_at >= $2",
            )
            .bind(node_id)
            .bind(since)
            .fetch_all(pool)
            .await?
        }))
    }
}

impl Store {
    /// Attached files whose name contains every word (case-insensitively, ASCII letters folded), in
    /// channels `searcher` is a member of, of live posts; newest first.
    pub async fn search_files(
        &self,
        searcher: UserId,
        words: &[String],
        channel: Option<ChannelId>,
        limit: u32,
    ) -> Result<Vec<FileInfo>> {
        let channel_filter = match self.backend() {
            super::Backend::Postgres => "($2::uuid IS NULL OR f.channel_id = $2)",
            super::Backend::Sqlite => "($2 IS NULL OR f.channel_id = $2)",
        };
        let mut sql = format!(
            "SELECT f.id, f.channel_id, f.uploader_id, f.post_id, f.name, f.size, f.mime_type, f.width, f.height,
                    f.has_thumbnail, f.created_at
             FROM files f
             JOIN channel_members m ON m.channel_id = f.channel_id AND m.user_id = $1
             JOIN posts p ON p.id = f.post_id
             WHERE f.deleted_at IS NULL AND p.deleted_at IS NULL AND {channel_filter}"
        );
        for i in 0..words.len() {
            sql.push_str(&format!(" AND lower(f.name) LIKE ${} ESCAPE '\\'", i + 4));
        }
        sql.push_str(" ORDER BY f.created_at DESC, f.id DESC LIMIT $3");
        let patterns: Vec<String> = words
            .iter()
            .map(|w| {
                let escaped = w.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
                format!("%{escaped}%")
            })
            .collect();
        Ok(with_pool!(self, |pool| {
            let mut q = sqlx::query_as::<_, FileInfo>(sqlx::AssertSqlSafe(sql.clone()))
                .bind(searcher)
                .bind(channel)
                .bind(i64::from(limit));
            for p in &patterns {
                q = q.bind(p.clone());
            }
            q.fetch_all(pool).await?
        }))
    }
}
