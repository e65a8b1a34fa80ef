//! A real S3-protocol server for tests: moto's server mode (PyPI `moto[server]`, installed by `.ci/run`
//! into `target/moto-venv`), one process per test on its own port, with a bucket the test creates.
//! Stopping the process removes the bucket and everything in it (moto keeps them in memory).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Where `.ci/run` installs moto; `MOTO_SERVER` names another binary.
fn moto_binary() -> std::path::PathBuf {
    match std::env::var("MOTO_SERVER") {
        Ok(path) => path.into(),
        Err(_) => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/moto-venv/bin/moto_server"),
    }
}

pub struct Moto {
    child: Child,
    pub port: u16,
    pub endpoint: String,
}

impl Moto {
    /// Starts moto on a free port and waits until it answers; `None` when moto is not installed
    /// (outside CI; on CI that fails the test).
    pub async fn start() -> Option<Moto> {
        let binary = moto_binary();
        if !super::available_tool(
            "moto_server (pip install 'moto[server]==5.2.1' into target/moto-venv)",
            binary.exists(),
        ) {
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let moto = Moto { child, port, endpoint: format!("http://127.0.0.1:{port}") };
        let http = reqwest::Client::new();
        super::eventually(Duration::from_secs(30), "moto to answer", || {
            let http = http.clone();
            let url = format!("{}/", moto.endpoint);
            async move { http.get(url).send().await.ok().map(|_| ()) }
        })
        .await;
        Some(moto)
    }

    /// Creates a bucket (moto takes unsigned requests).
    pub async fn create_bucket(&self, name: &str) {
        let r = reqwest::Client::new().put(format!("{}/{name}", self.endpoint)).send().await.unwrap();
        assert!(r.status().is_success(), "creating bucket {name}: {}", r.status());
    }

    /// Removes a bucket and what it holds.
    pub async fn remove_bucket(&self, name: &str) {
        use object_store::ObjectStore;
        let http = reqwest::Client::new();
        // Objects are deleted with signed requests (moto refuses unsigned deletes).
        let bucket = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(name)
            .with_endpoint(&self.endpoint)
            .with_region("us-east-1")
            .with_allow_http(true)
            .with_access_key_id("testing")
            .with_secret_access_key("testing-secret")
            .build()
            .unwrap();
        for key in self.keys(name).await {
            bucket.delete(&object_store::path::Path::from(key)).await.unwrap();
        }
        let r = http.delete(format!("{}/{name}", self.endpoint)).send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "removing bucket {name}: {status} {text} (left: {:?})", self.keys(name).await);
    }

    /// Every key in a bucket (first 1000), from the ListObjectsV2 XML.
    pub async fn keys(&self, bucket: &str) -> Vec<String> {
        let xml = reqwest::Client::new()
            .get(format!("{}/{bucket}?list-type=2", self.endpoint))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        xml.split("<Key>").skip(1).filter_map(|rest| rest.split("</Key>").next()).map(str::to_string).collect()
    }

    /// Unfinished multipart uploads in a bucket.
    pub async fn unfinished_uploads(&self, bucket: &str) -> usize {
        let xml = reqwest::Client::new()
            .get(format!("{}/{bucket}?uploads", self.endpoint))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        xml.matches("<UploadId>").count()
    }

    /// The node variables for S3 storage in `bucket` at `endpoint` (moto's, or a proxy's in front of it).
    pub fn vars(endpoint: &str, bucket: &str) -> Vec<(String, String)> {
        [
            ("RUSTCHAT_FILES_STORAGE", "s3"),
            ("RUSTCHAT_FILES_S3_BUCKET", bucket),
            ("RUSTCHAT_FILES_S3_ENDPOINT", endpoint),
            ("RUSTCHAT_FILES_S3_REGION", "us-east-1"),
            ("RUSTCHAT_FILES_S3_PATH_STYLE", "true"),
            ("RUSTCHAT_FILES_S3_ACCESS_KEY_ID", "testing"),
            ("RUSTCHAT_FILES_S3_SECRET_ACCESS_KEY", "testing-secret"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
