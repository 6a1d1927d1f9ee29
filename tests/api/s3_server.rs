//! An S3-compatible object store on loopback for the tests that need storage shared by
//! several instances: moto's server, which speaks the S3 REST API (path-style requests,
//! `ListObjectsV2`, multipart uploads). Started per test with its own bucket; skipped
//! with a note when `moto_server` is not installed, unless ATELIER_REQUIRE_S3 is set
//! (`.ci/run` installs it and sets it).

use std::process::Stdio;
use std::time::Duration;

use atelier::config::{Config, MediaStoreKind};

pub struct S3Server {
    _child: tokio::process::Child,
    pub endpoint: String,
    pub bucket: String,
}

impl S3Server {
    pub async fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = match tokio::process::Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
        {
            Ok(child) => child,
            Err(e) => {
                assert!(
                    std::env::var_os("ATELIER_REQUIRE_S3").is_none(),
                    "ATELIER_REQUIRE_S3 is set but moto_server cannot start: {e}"
                );
                eprintln!(
                    "moto_server not installed (pip install 'moto[server]'): S3 test skipped"
                );
                return None;
            }
        };
        let endpoint = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while http.get(&endpoint).send().await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "moto_server did not answer on {endpoint}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let bucket = format!("atelier-{}", uuid::Uuid::new_v4().simple());
        let created = http
            .put(format!("{endpoint}/{bucket}"))
            .send()
            .await
            .unwrap();
        assert!(created.status().is_success(), "create the bucket");
        Some(Self {
            _child: child,
            endpoint,
            bucket,
        })
    }

    /// Points an instance's media (and so its export packages) at this bucket.
    pub fn configure(&self, config: &mut Config) {
        config.media.store = MediaStoreKind::S3;
        config.media.s3_bucket = Some(self.bucket.clone());
        config.media.s3_endpoint = Some(self.endpoint.clone());
        config.media.s3_region = Some("us-east-1".into());
        config.media.s3_access_key_id = Some("test".into());
        config.media.s3_secret_access_key = Some(secrecy::SecretString::from("test"));
    }

    /// The keys of the bucket's objects under `prefix` (ListObjectsV2).
    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        let listing = reqwest::Client::new()
            .get(format!(
                "{}/{}?list-type=2&prefix={prefix}",
                self.endpoint, self.bucket
            ))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        listing
            .split("<Key>")
            .skip(1)
            .filter_map(|rest| rest.split("</Key>").next())
            .map(str::to_string)
            .collect()
    }
}
