//! Attachments over HTTP: `POST /files?channel_id=` takes a multipart body (one or more parts with a
//! file name), streamed part by part into storage; `GET /files/{id}` and `/files/{id}/thumbnail` send
//! the bytes with caching and range support, as an attachment unless they are a safe image. The rules
//! are `app::files`; this module parses and renders.

use actix_multipart::{Multipart, MultipartError};
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, get, post, web};
use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::params::{Path, Query};
use crate::app;
use crate::auth::AuthUser;
use crate::domain::{ChannelId, FileId};
use crate::error::{Error, ErrorCode, Result};
use crate::files::{Object, inspect};
use crate::ratelimit::Limit;
use crate::state::AppState;
use crate::store::files::FileInfo;

/// Room for multipart framing around each file, when judging a request's declared length.
const FRAMING_PER_FILE: u64 = 16 * 1024;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The channel the files are for (you must be a member).
    pub channel_id: ChannelId,
}

/// The upload form: one or more file parts (any field name), each with a `filename`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    files: Vec<u8>,
}

#[derive(Serialize, ToSchema)]
pub struct Uploaded {
    /// In the order of the parts.
    pub files: Vec<FileInfo>,
}

fn malformed(e: MultipartError) -> Error {
    Error::new(ErrorCode::BadRequest, format!("malformed multipart body: {e}"))
}

/// Upload files into a channel (members). Each part is stored as it arrives; a part over
/// `RUSTCHAT_FILES_MAX_SIZE_BYTES` is refused with 413 at once. The files wait for a post to take them
/// (`file_ids`); ones no post takes are deleted after `RUSTCHAT_FILES_ORPHAN_AGE_SECONDS`.
#[utoipa::path(tag = "files", params(UploadQuery), request_body(content = UploadForm, content_type = "multipart/form-data"), responses((status = 201, body = Uploaded), (status = 400), (status = 403), (status = 404), (status = 413), (status = 422), (status = 429), (status = 503)), security(("bearer" = [])))]
#[post("/files")]
pub async fn upload_files(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: AuthUser,
    payload: web::Payload,
) -> Result<HttpResponse> {
    // The body's kind first, as every operation with a body answers (415 before anything else).
    let multipart = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(';').next().is_some_and(|kind| kind.trim().eq_ignore_ascii_case("multipart/form-data"))
    });
    if !multipart {
        return Err(Error::new(ErrorCode::UnsupportedMediaType, "expected a multipart/form-data body"));
    }
    let query = Query::<UploadQuery>::from_request(&req, &mut actix_web::dev::Payload::None).await?;
    let ip = state.client_ip(&req);
    state.rate_limit(Limit::Upload, &caller.id().to_string(), &ip).await?;
    let limits = &state.settings.files;
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let most = (limits.max_size_bytes + FRAMING_PER_FILE).saturating_mul(limits.per_post as u64);
    if declared.is_some_and(|n| n > most) {
        return Err(Error::new(
            ErrorCode::PayloadTooLarge,
            format!("an upload may carry at most {} files of {} bytes", limits.per_post, limits.max_size_bytes),
        ));
    }
    let channel = query.channel_id;
    app::files::may_upload(&state.store, &caller, channel).await?;
    let mut parts = Multipart::new(req.headers(), payload);
    let mut stored: Vec<FileInfo> = Vec::new();
    let outcome = async {
        while let Some(part) = parts.next().await {
            let field = part.map_err(malformed)?;
            let Some(name) = field.content_disposition().and_then(|d| d.get_filename()).map(str::to_string) else {
                return Err(Error::validation("every part must be a file (with a filename)"));
            };
            if stored.len() == limits.per_post {
                return Err(Error::validation(format!("at most {} files per upload", limits.per_post)));
            }
            let body = field.map_err(malformed);
            let file = app::files::store_upload(
                &state.store,
                &state.files,
                &caller,
                channel,
                &name,
                body,
                limits.max_size_bytes,
            )
            .await?;
            stored.push(file);
        }
        if stored.is_empty() {
            return Err(Error::validation("no file in the upload"));
        }
        Ok(())
    }
    .await;
    if let Err(e) = outcome {
        // All or nothing: the request's earlier files go too.
        for file in &stored {
            let _ = state.files.remove_file(file.id).await;
            let _ = state.store.forget_file(file.id).await;
        }
        return Err(e);
    }
    Ok(HttpResponse::Created().json(Uploaded { files: stored }))
}

/// What an upload may carry, so a client can refuse a file before sending it.
#[derive(Serialize, ToSchema)]
pub struct UploadLimits {
    /// Largest file, in bytes (`RUSTCHAT_FILES_MAX_SIZE_BYTES`).
    pub max_size_bytes: u64,
    /// Most files in one upload and on one post (`RUSTCHAT_FILES_PER_POST`).
    pub per_post: usize,
}

/// The upload limits of this node.
#[utoipa::path(tag = "files", responses((status = 200, body = UploadLimits), (status = 401)), security(("bearer" = [])))]
#[get("/files/limits")]
pub async fn upload_limits(state: web::Data<AppState>, _caller: AuthUser) -> HttpResponse {
    let limits = &state.settings.files;
    HttpResponse::Ok().json(UploadLimits { max_size_bytes: limits.max_size_bytes, per_post: limits.per_post })
}

/// Download a file (readers of its post; its uploader before a post takes it). Supports `Range`
/// (one range) and `If-None-Match`.
#[utoipa::path(tag = "files", params(("file_id" = FileId, Path, description = "The file's id.")), responses((status = 200, description = "the file's bytes", content_type = "application/octet-stream", body = Vec<u8>), (status = 206), (status = 304), (status = 404), (status = 416), (status = 503)), security(("bearer" = [])))]
#[get("/files/{file_id}")]
pub async fn get_file(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: AuthUser,
    path: Path<FileId>,
) -> Result<HttpResponse> {
    send(&state, &req, &caller, path.into_inner(), Object::Original).await
}

/// A file's thumbnail (PNG, at most 400×400), for images.
#[utoipa::path(tag = "files", params(("file_id" = FileId, Path, description = "The file's id.")), responses((status = 200, description = "PNG", content_type = "image/png", body = Vec<u8>), (status = 304), (status = 404), (status = 503)), security(("bearer" = [])))]
#[get("/files/{file_id}/thumbnail")]
pub async fn get_thumbnail(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: AuthUser,
    path: Path<FileId>,
) -> Result<HttpResponse> {
    send(&state, &req, &caller, path.into_inner(), Object::Thumbnail).await
}

/// File metadata.
#[utoipa::path(tag = "files", params(("file_id" = FileId, Path, description = "The file's id.")), responses((status = 200, body = FileInfo), (status = 404)), security(("bearer" = [])))]
#[get("/files/{file_id}/info")]
pub async fn get_file_info(state: web::Data<AppState>, caller: AuthUser, path: Path<FileId>) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(app::files::readable_file(&state.store, &caller, path.into_inner()).await?))
}

#[derive(Deserialize, IntoParams)]
pub struct FileSearchQuery {
    /// Words the file name must contain (all of them, any case).
    #[param(min_length = 1, max_length = 512)]
    pub q: String,
    /// Only files in this channel.
    pub channel_id: Option<ChannelId>,
    /// 1–200, default 60.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// Search attached files by name, in channels you are a member of, newest first.
#[utoipa::path(tag = "files", params(FileSearchQuery), responses((status = 200, body = Vec<FileInfo>)), security(("bearer" = [])))]
#[get("/search/files")]
pub async fn search_files(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: Query<FileSearchQuery>,
) -> Result<HttpResponse> {
    let limit = super::page_limit(query.limit, 60)?;
    let files = app::files::search(&state.store, &caller, &query.q, query.channel_id, limit).await?;
    Ok(HttpResponse::Ok().json(files))
}

async fn send(
    state: &AppState,
    req: &HttpRequest,
    caller: &AuthUser,
    id: FileId,
    object: Object,
) -> Result<HttpResponse> {
    let etag = match object {
        Object::Original => format!("\"{id}\""),
        Object::Thumbnail => format!("\"{id}-thumbnail\""),
    };
    let range_header = match object {
        Object::Original => req.headers().get(header::RANGE).and_then(|v| v.to_str().ok()).map(str::to_string),
        Object::Thumbnail => None,
    };
    let not_modified = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if not_modified {
        // Still only for those who may read it.
        app::files::readable_file(&state.store, caller, id).await?;
        return Ok(HttpResponse::NotModified().insert_header((header::ETAG, etag)).finish());
    }
    let mut unsatisfiable = None;
    let picked = |file: &FileInfo| -> Result<Option<std::ops::Range<u64>>> {
        let size = u64::try_from(file.size).unwrap_or(0);
        match range_header.as_deref().map(|h| parse_range(h, size)) {
            None | Some(RangeAsk::Whole) => Ok(None),
            Some(RangeAsk::Part(r)) => Ok(Some(r)),
            Some(RangeAsk::Unsatisfiable) => {
                unsatisfiable = Some(size);
                Err(Error::new(ErrorCode::BadRequest, "range not satisfiable"))
            }
        }
    };
    let result = app::files::download(&state.store, &state.files, caller, id, object, picked).await;
    if let Some(size) = unsatisfiable {
        return Ok(HttpResponse::RangeNotSatisfiable()
            .insert_header((header::CONTENT_RANGE, format!("bytes */{size}")))
            .json(serde_json::json!({"error": {"code": "bad_request", "message": "range not satisfiable"}})));
    }
    let (file, download) = result?;
    let mime = match object {
        Object::Original => inspect::served_type(&file.mime_type),
        Object::Thumbnail => "image/png",
    };
    let partial = download.range.start > 0 || download.range.end < download.total;
    let mut answer = if partial { HttpResponse::PartialContent() } else { HttpResponse::Ok() };
    answer
        .insert_header((header::CONTENT_TYPE, mime))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, "default-src 'none'; sandbox"))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "private, max-age=31536000, immutable"))
        .insert_header((header::ACCEPT_RANGES, "bytes"));
    if let Ok(v) =
        HeaderValue::from_str(&disposition(&file.name, object == Object::Thumbnail || inspect::is_inline(mime)))
    {
        answer.insert_header((header::CONTENT_DISPOSITION, v));
    }
    if partial {
        let (start, end, total) = (download.range.start, download.range.end, download.total);
        answer.insert_header((header::CONTENT_RANGE, format!("bytes {start}-{}/{total}", end.saturating_sub(1))));
    }
    let length = download.range.end - download.range.start;
    Ok(answer.no_chunking(length).streaming(download.stream))
}

/// `inline` or `attachment`, with the name in RFC 5987 form (any Unicode survives, nothing breaks out).
fn disposition(name: &str, inline: bool) -> String {
    let kind = if inline { "inline" } else { "attachment" };
    let ascii: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || "._- ".contains(c) { c } else { '_' }).collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"._-".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }
        })
        .collect();
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[derive(Debug, PartialEq)]
enum RangeAsk {
    Whole,
    Part(std::ops::Range<u64>),
    Unsatisfiable,
}

/// One `bytes=` range of an object of `size` bytes; anything else (several ranges, other units,
/// nonsense) is ignored and the whole object sent, as HTTP allows.
fn parse_range(header: &str, size: u64) -> RangeAsk {
    let Some(spec) = header.trim().strip_prefix("bytes=") else { return RangeAsk::Whole };
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((start, end)) = spec.split_once('-') else { return RangeAsk::Whole };
    let (start, end) = (start.trim(), end.trim());
    let range = match (start.parse::<u64>(), end.parse::<u64>()) {
        (Ok(s), Ok(e)) if s <= e => s..(e + 1).min(size),
        (Ok(s), Err(_)) if end.is_empty() => s..size,
        (Err(_), Ok(n)) if start.is_empty() && n > 0 => size.saturating_sub(n)..size,
        (Err(_), Ok(0)) if start.is_empty() => return RangeAsk::Unsatisfiable,
        _ => return RangeAsk::Whole,
    };
    if range.start >= size { RangeAsk::Unsatisfiable } else { RangeAsk::Part(range) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_as_http_says() {
        assert_eq!(parse_range("bytes=0-99", 1000), RangeAsk::Part(0..100));
        assert_eq!(parse_range("bytes=900-", 1000), RangeAsk::Part(900..1000));
        assert_eq!(parse_range("bytes=-100", 1000), RangeAsk::Part(900..1000));
        assert_eq!(parse_range("bytes=990-2000", 1000), RangeAsk::Part(990..1000));
        assert_eq!(parse_range("bytes=1000-", 1000), RangeAsk::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1, 5-6", 1000), RangeAsk::Whole);
        assert_eq!(parse_range("items=0-1", 1000), RangeAsk::Whole);
        assert_eq!(parse_range("bytes=5-1", 1000), RangeAsk::Whole);
        assert_eq!(parse_range("bytes=0-", 0), RangeAsk::Unsatisfiable);
    }

    #[test]
    fn a_disposition_cannot_be_broken_out_of() {
        let d = disposition("a\";b\r\n.html", false);
        assert!(d.starts_with("attachment; filename=\"a__b__.html\"; filename*=UTF-8''a%22%3Bb%0D%0A.html"), "{d}");
        assert!(disposition("履歴.png", true).starts_with("inline; filename=\"__.png\""));
    }
}
