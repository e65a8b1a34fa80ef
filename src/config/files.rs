//! File attachment settings (#18): where uploads are stored (a directory, or an S3-compatible bucket),
//! how large and how many, and when unattached uploads are swept. The variables sit in the one
//! configuration table ([`super::VARIABLES`]) like every other; this module reads them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::kind::{DefaultValue as D, Kind, Unit, Variable};
use super::reader::Reader;
use super::secret::Secret;

const fn var(name: &'static str, kind: Kind, default: D, meaning: &'static str) -> Variable {
    Variable { name, kind, default, meaning, secret: false }
}

pub const FILES_STORAGE: Variable = Variable {
    name: "RUSTCHAT_FILES_STORAGE",
    kind: Kind::Choice(&["local", "s3"]),
    default: D::Text("local"),
    meaning: "where attachments are stored: `local` (a directory, one node or a shared volume) or `s3` \
              (an S3-compatible bucket, for several nodes)",
    secret: false,
};
pub const FILES_DIR: Variable = var(
    "RUSTCHAT_FILES_DIR",
    Kind::Path,
    D::Derived("`<data dir>/files`"),
    "directory of attachments with `local` storage (every node of a cluster must share it)",
);
pub const FILES_S3_BUCKET: Variable =
    var("RUSTCHAT_FILES_S3_BUCKET", Kind::Text, D::None, "bucket of attachments with `s3` storage (required then)");
pub const FILES_S3_ENDPOINT: Variable = var(
    "RUSTCHAT_FILES_S3_ENDPOINT",
    Kind::Url(&["https", "http"]),
    D::None,
    "S3 endpoint for MinIO, Ceph, R2…; unset means AWS S3 of the region",
);
pub const FILES_S3_REGION: Variable =
    var("RUSTCHAT_FILES_S3_REGION", Kind::Text, D::Text("us-east-1"), "region of the bucket");
pub const FILES_S3_PATH_STYLE: Variable = var(
    "RUSTCHAT_FILES_S3_PATH_STYLE",
    Kind::Bool,
    D::Bool(false),
    "address the bucket as `<endpoint>/<bucket>` (MinIO, Ceph) instead of `<bucket>.<endpoint>`",
);
pub const FILES_S3_ACCESS_KEY_ID: Variable = var(
    "RUSTCHAT_FILES_S3_ACCESS_KEY_ID",
    Kind::Text,
    D::None,
    "access key id; unset uses the environment's AWS credentials (instance profile, `AWS_*`)",
);
pub const FILES_S3_SECRET_ACCESS_KEY: Variable = Variable {
    name: "RUSTCHAT_FILES_S3_SECRET_ACCESS_KEY",
    kind: Kind::Text,
    default: D::None,
    meaning: "secret access key, with the access key id",
    secret: true,
};
pub const FILES_MAX_SIZE: Variable = var(
    "RUSTCHAT_FILES_MAX_SIZE_BYTES",
    Kind::Integer { min: 1, max: 1 << 40 },
    D::Integer(50 << 20),
    "largest file an upload may carry; a larger one is refused with 413 as soon as it passes the limit",
);
pub const FILES_PER_POST: Variable = var(
    "RUSTCHAT_FILES_PER_POST",
    Kind::Integer { min: 1, max: 10 },
    D::Integer(10),
    "most files one post (and one upload request) may carry",
);
pub const FILES_ORPHAN_AGE: Variable = var(
    "RUSTCHAT_FILES_ORPHAN_AGE_SECONDS",
    Kind::Duration { unit: Unit::Seconds, min: 1, max: 30 * 24 * 3600 },
    D::Duration(Duration::from_secs(24 * 3600)),
    "uploads no post took within this time (and interrupted uploads) are deleted; must exceed the longest upload",
);
pub const RATE_LIMIT_UPLOADS: Variable = var(
    "RUSTCHAT_SECURITY_RATE_LIMIT_UPLOADS_PER_MINUTE",
    Kind::Integer { min: 1, max: 1_000_000 },
    D::Integer(60),
    "upload requests per user per minute",
);

/// Where attachments live.
#[derive(Debug, Clone)]
pub enum FileBackend {
    Local { dir: PathBuf },
    S3(S3Settings),
}

/// An S3-compatible bucket.
#[derive(Debug, Clone)]
pub struct S3Settings {
    pub bucket: String,
    pub endpoint: Option<url::Url>,
    pub region: String,
    pub path_style: bool,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret<String>>,
}

#[derive(Debug, Clone)]
pub struct FileSettings {
    pub backend: FileBackend,
    pub max_size_bytes: u64,
    pub per_post: usize,
    pub orphan_age: Duration,
}

/// Reads the file variables; `warnings` gains the non-fatal findings.
pub(super) fn parse(
    p: &mut Reader,
    data_dir: &Path,
    production: bool,
    clustered: bool,
    warnings: &mut Vec<String>,
) -> FileSettings {
    let backend = match p.choice(&FILES_STORAGE) {
        "s3" => {
            let bucket = p.raw(&FILES_S3_BUCKET).map(str::to_string);
            if bucket.is_none() {
                p.fail(&FILES_S3_BUCKET, "required with RUSTCHAT_FILES_STORAGE=s3");
            }
            let endpoint = match p.raw(&FILES_S3_ENDPOINT).map(str::to_string) {
                None => None,
                Some(text) => match url::Url::parse(&text) {
                    Ok(u) if u.scheme() == "https" || u.scheme() == "http" => Some(u),
                    _ => {
                        p.fail(&FILES_S3_ENDPOINT, format!("expected an http(s):// URL, got '{text}'"));
                        None
                    }
                },
            };
            let access_key_id = p.raw(&FILES_S3_ACCESS_KEY_ID).map(str::to_string);
            let secret_access_key = p.raw(&FILES_S3_SECRET_ACCESS_KEY).map(|s| Secret::new(s.to_string()));
            if access_key_id.is_some() != secret_access_key.is_some() {
                p.fail(
                    &FILES_S3_SECRET_ACCESS_KEY,
                    "RUSTCHAT_FILES_S3_ACCESS_KEY_ID and RUSTCHAT_FILES_S3_SECRET_ACCESS_KEY go together",
                );
            }
            FileBackend::S3(S3Settings {
                bucket: bucket.unwrap_or_default(),
                endpoint,
                region: p.text(&FILES_S3_REGION),
                path_style: p.bool_or(&FILES_S3_PATH_STYLE, false),
                access_key_id,
                secret_access_key,
            })
        }
        _ => {
            let dir = p.raw(&FILES_DIR).map_or_else(|| data_dir.join("files"), PathBuf::from);
            if production && clustered {
                warnings.push(format!(
                    "RUSTCHAT_FILES_STORAGE=local with Redis (several nodes): every node must share {} (one volume), \
                     or a file uploaded through one node is missing on the others; use RUSTCHAT_FILES_STORAGE=s3",
                    dir.display()
                ));
            }
            FileBackend::Local { dir }
        }
    };
    FileSettings {
        backend,
        max_size_bytes: p.integer(&FILES_MAX_SIZE),
        per_post: p.integer(&FILES_PER_POST),
        orphan_age: p.duration(&FILES_ORPHAN_AGE),
    }
}

/// What `--check-config` prints for a file variable (the secret key redacted); `None` for other names.
pub(super) fn effective_value(s: &super::Settings, name: &str) -> Option<String> {
    let f = &s.files;
    let s3 = match &f.backend {
        FileBackend::S3(s3) => Some(s3),
        FileBackend::Local { .. } => None,
    };
    let unset = || "(not set)".to_string();
    Some(match name {
        "RUSTCHAT_FILES_STORAGE" => if s3.is_some() { "s3" } else { "local" }.to_string(),
        "RUSTCHAT_FILES_DIR" => match &f.backend {
            FileBackend::Local { dir } => dir.display().to_string(),
            FileBackend::S3(_) => "(not used with s3)".to_string(),
        },
        "RUSTCHAT_FILES_S3_BUCKET" => s3.map_or_else(unset, |s| s.bucket.clone()),
        "RUSTCHAT_FILES_S3_ENDPOINT" => s3.and_then(|s| s.endpoint.as_ref()).map_or_else(unset, |u| u.to_string()),
        "RUSTCHAT_FILES_S3_REGION" => s3.map_or_else(unset, |s| s.region.clone()),
        "RUSTCHAT_FILES_S3_PATH_STYLE" => s3.map_or_else(unset, |s| s.path_style.to_string()),
        "RUSTCHAT_FILES_S3_ACCESS_KEY_ID" => s3.and_then(|s| s.access_key_id.clone()).unwrap_or_else(unset),
        "RUSTCHAT_FILES_S3_SECRET_ACCESS_KEY" => {
            s3.and_then(|s| s.secret_access_key.as_ref()).map_or_else(unset, |_| "[redacted]".to_string())
        }
        "RUSTCHAT_FILES_MAX_SIZE_BYTES" => f.max_size_bytes.to_string(),
        "RUSTCHAT_FILES_PER_POST" => f.per_post.to_string(),
        "RUSTCHAT_FILES_ORPHAN_AGE_SECONDS" => f.orphan_age.as_secs().to_string(),
        "RUSTCHAT_SECURITY_RATE_LIMIT_UPLOADS_PER_MINUTE" => s.rate_limit.uploads_per_minute.to_string(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::Settings;
    use super::*;

    #[test]
    fn s3_needs_a_bucket_and_credentials_in_pairs_and_never_prints_the_secret() {
        let errors = Settings::from_vars([("RUSTCHAT_FILES_STORAGE", "s3")]).unwrap_err();
        assert!(errors.0.iter().any(|e| e.variable == "RUSTCHAT_FILES_S3_BUCKET"), "{errors}");
        let errors = Settings::from_vars([
            ("RUSTCHAT_FILES_STORAGE", "s3"),
            ("RUSTCHAT_FILES_S3_BUCKET", "b"),
            ("RUSTCHAT_FILES_S3_ACCESS_KEY_ID", "id"),
        ])
        .unwrap_err();
        assert!(errors.0.iter().any(|e| e.variable == "RUSTCHAT_FILES_S3_SECRET_ACCESS_KEY"), "{errors}");
        let s = Settings::from_vars([
            ("RUSTCHAT_FILES_STORAGE", "S3"),
            ("RUSTCHAT_FILES_S3_BUCKET", "b"),
            ("RUSTCHAT_FILES_S3_ACCESS_KEY_ID", "id"),
            ("RUSTCHAT_FILES_S3_SECRET_ACCESS_KEY", "hunter2-very-secret"),
        ])
        .unwrap();
        assert_eq!(effective_value(&s, "RUSTCHAT_FILES_S3_SECRET_ACCESS_KEY").as_deref(), Some("[redacted]"));
        assert!(!format!("{:?}", s.files).contains("hunter2"), "the secret key never prints");
    }

    #[test]
    fn local_storage_defaults_under_the_data_dir_and_warns_when_clustered_in_production() {
        let s = Settings::from_vars([("RUSTCHAT_DATA_DIR", "/srv/chat")]).unwrap();
        match &s.files.backend {
            FileBackend::Local { dir } => assert_eq!(dir, &PathBuf::from("/srv/chat/files")),
            FileBackend::S3(_) => panic!("local is the default"),
        }
        assert_eq!((s.files.max_size_bytes, s.files.per_post), (50 << 20, 10));
        let s = Settings::from_vars([
            ("RUSTCHAT_ENVIRONMENT", "production"),
            ("RUSTCHAT_DATABASE_URL", "postgres://u@db/rustchat"),
            ("RUSTCHAT_REDIS_URL", "redis://redis:6379"),
            ("RUSTCHAT_JWT_SECRET", "bXktdGVzdC1qd3Qtc2VjcmV0LXRoYXQtaXMtbG9uZy1lbm91Z2gtMTIzNDU2Nzg5MA=="),
            ("RUSTCHAT_ENCRYPTION_KEY", "YW5vdGhlci10ZXN0LWVuY3J5cHRpb24ta2V5LWxvbmctZW5vdWdoLTEyMzQ1Njc4OTA="),
        ])
        .unwrap();
        assert!(s.warnings.iter().any(|w| w.contains("RUSTCHAT_FILES_STORAGE=local")), "{:?}", s.warnings);
    }
}
