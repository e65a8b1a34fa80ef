//! File attachments below the application layer: the storage of their bytes ([`storage`], a directory
//! or an S3-compatible bucket behind the `storage` breaker), what a file is from its bytes
//! ([`inspect`]: content type, inline safety, image size and thumbnail), the sweep of unattached and
//! deleted files ([`sweeper`]), and the check that nodes share their storage ([`shared`]). The rules
//! (who may upload, attach, download) live in `app::files`.

pub mod inspect;
pub mod shared;
pub mod storage;
pub mod sweeper;

pub use storage::{Download, FileStorage, Object, Upload};
