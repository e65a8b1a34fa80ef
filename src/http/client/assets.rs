//! The web client's files, embedded in the binary (`web/` at build time), each prepared once: its
//! ETag, its gzip form, and the build version that names the immutable `/assets/{version}/` prefix.
//! A file added under `web/` must be listed in [`FILES`]; a test requests every file of the folder.

use std::io::Write;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// One embedded file: its path under `web/`, its media type and its bytes.
struct File {
    path: &'static str,
    mime: &'static str,
    body: &'static [u8],
}

macro_rules! file {
    ($path:literal, $mime:expr) => {
        File { path: $path, mime: $mime, body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/", $path)) }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the client. `index.html` is the page every client path answers with.
static FILES: &[File] = &[
    file!("index.html", "text/html; charset=utf-8"),
    file!("app.css", "text/css; charset=utf-8"),
    file!("favicon.svg", "image/svg+xml"),
    file!("LICENSE.txt", "text/plain; charset=utf-8"),
    file!("js/main.js", JS),
    file!("js/api.js", JS),
    file!("js/socket.js", JS),
    file!("js/state.js", JS),
    file!("js/dom.js", JS),
    file!("js/markdown.js", JS),
    file!("js/auth.js", JS),
    file!("js/sidebar.js", JS),
    file!("js/messages.js", JS),
    file!("js/composer.js", JS),
    file!("js/thread.js", JS),
    file!("js/dialogs.js", JS),
    file!("js/admin.js", JS),
    file!("js/attachments.js", JS),
];

/// Placeholder in `index.html` replaced by the build version, so the page names immutable URLs.
const VERSION_MARK: &str = "__VERSION__";

/// A file ready to serve.
pub struct Prepared {
    pub mime: &'static str,
    pub body: Vec<u8>,
    /// The gzip form, when it is smaller.
    pub gzip: Option<Vec<u8>>,
    /// A strong validator: quoted hex of the body's SHA-256 prefix.
    pub etag: String,
}

struct Table {
    version: String,
    files: Vec<(&'static str, Prepared)>,
}

fn prepare(mime: &'static str, body: Vec<u8>) -> Prepared {
    let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&body))[..24]);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let gzip = encoder.write_all(&body).and_then(|()| encoder.finish()).ok().filter(|z| z.len() < body.len());
    Prepared { mime, body, gzip, etag }
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut all = Sha256::new();
        for f in FILES {
            all.update(f.path.as_bytes());
            all.update(f.body);
        }
        let version = hex::encode(all.finalize())[..12].to_string();
        let files = FILES
            .iter()
            .map(|f| {
                let body = if f.path == "index.html" {
                    String::from_utf8_lossy(f.body).replace(VERSION_MARK, &version).into_bytes()
                } else {
                    f.body.to_vec()
                };
                (f.path, prepare(f.mime, body))
            })
            .collect();
        Table { version, files }
    })
}

/// The build version: the `/assets/{version}/` prefix whose files never change.
pub fn version() -> &'static str {
    &table().version
}

/// The file at `path` under `web/`, if the client has it.
pub fn get(path: &str) -> Option<&'static Prepared> {
    table().files.iter().find(|(p, _)| *p == path).map(|(_, f)| f)
}

/// The page itself.
pub fn index() -> &'static Prepared {
    // unwrap-free: index.html is the first entry of FILES, embedded at compile time.
    &table().files[0].1
}
