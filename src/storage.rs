//! Where uploaded media and export packages live: an `object_store` — the local
//! filesystem under the data directory by default (`media/`, `exports/`), or an
//! S3-compatible bucket when configured (media at the bucket's root, packages under its
//! `exports/` prefix), which every instance of a deployment shares.

use std::sync::Arc;

use anyhow::Context;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, WriteMultipart};
use secrecy::ExposeSecret;

use crate::config::{Config, MediaStoreKind};

#[derive(Clone)]
pub struct MediaStore {
    store: Arc<dyn ObjectStore>,
    shown_as: String,
}

impl MediaStore {
    /// The store of uploaded media.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        Self::open(config, "media", None)
    }

    /// The store of export packages: beside the media, in the same kind of store.
    pub fn for_exports(config: &Config) -> anyhow::Result<Self> {
        Self::open(config, "exports", Some("exports"))
    }

    /// A store in `<data dir>/<local_dir>` or the configured bucket (under `prefix`).
    fn open(config: &Config, local_dir: &str, prefix: Option<&str>) -> anyhow::Result<Self> {
        let media = &config.media;
        match media.store {
            MediaStoreKind::Local => {
                let dir = config.data_dir.join(local_dir);
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                Ok(Self {
                    store: Arc::new(LocalFileSystem::new_with_prefix(&dir)?),
                    shown_as: format!("files in {}", dir.display()),
                })
            }
            MediaStoreKind::S3 => {
                let bucket = media
                    .s3_bucket
                    .as_deref()
                    .context("ATELIER_MEDIA__S3_BUCKET is required for the s3 media store")?;
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(media.s3_region.as_deref().unwrap_or("us-east-1"));
                if let Some(endpoint) = &media.s3_endpoint {
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_allow_http(endpoint.starts_with("http://"))
                        .with_virtual_hosted_style_request(false);
                }
                if let (Some(id), Some(secret)) =
                    (&media.s3_access_key_id, &media.s3_secret_access_key)
                {
                    builder = builder
                        .with_access_key_id(id)
                        .with_secret_access_key(secret.expose_secret());
                }
                let bucket_store = builder.build()?;
                Ok(match prefix {
                    Some(prefix) => Self {
                        store: Arc::new(object_store::prefix::PrefixStore::new(
                            bucket_store,
                            prefix,
                        )),
                        shown_as: format!("bucket {bucket}, under {prefix}/"),
                    },
                    None => Self {
                        store: Arc::new(bucket_store),
                        shown_as: format!("bucket {bucket}"),
                    },
                })
            }
        }
    }

    pub fn describe(&self) -> &str {
        &self.shown_as
    }

    /// Streams a local file into the store under `key`.
    pub async fn put_file(&self, key: &str, file: &mut tokio::fs::File) -> anyhow::Result<()> {
        use tokio::io::AsyncReadExt;
        let upload = self.store.put_multipart(&ObjectPath::from(key)).await?;
        let mut writer = WriteMultipart::new(upload);
        let mut buffer = vec![0u8; 256 * 1024];
        loop {
            let read = file.read(&mut buffer).await?;
            if read == 0 {
                break;
            }
            writer.write(&buffer[..read]);
        }
        writer.finish().await?;
        Ok(())
    }

    /// The object's bytes as a stream.
    pub async fn get(
        &self,
        key: &str,
    ) -> anyhow::Result<futures::stream::BoxStream<'static, object_store::Result<bytes::Bytes>>>
    {
        Ok(self.store.get(&ObjectPath::from(key)).await?.into_stream())
    }

    /// Deletes an object; one already gone counts as deleted.
    pub async fn delete(&self, key: &str) -> anyhow::Result<()> {
        match self.store.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether an object exists (for tests and checks).
    pub async fn exists(&self, key: &str) -> anyhow::Result<bool> {
        match self.store.head(&ObjectPath::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
