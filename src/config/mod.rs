//! Typed configuration: defaults, then an optional `atelier.toml`, then `ATELIER_*`
//! environment variables (nested keys joined with `__`). Secrets are `SecretString` and
//! never reach Debug output or logs.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

mod platforms;
pub use self::platforms::{ProviderSettings, ProvidersConfig};

mod product;
pub use self::product::{
    ContentConfig, GeneratorConfig, GeneratorKind, MediaConfig, MediaStoreKind, PrivacyConfig,
    WebhooksConfig,
};

mod server;
pub use self::server::{
    origin_of, AuthConfig, CorsConfig, GraphqlLimits, JobsConfig, ServerConfig, SqliteReadPath,
};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    Development,
    Production,
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Config {
    pub env: Environment,
    pub listen: String,
    pub public_url: Option<String>,
    pub app_url: Option<String>,
    pub data_dir: PathBuf,
    #[serde(serialize_with = "ser_secret_opt")]
    pub database_url: Option<SecretString>,
    #[serde(serialize_with = "ser_secret_opt")]
    pub smtp_url: Option<SecretString>,
    /// The longest one email's whole SMTP conversation may take (connecting, the
    /// greeting, TLS, every command and the message): lettre's own timeout covers only
    /// connecting, and a server that accepts and then stalls would hold the job forever.
    pub smtp_timeout_secs: u64,
    pub mail_from: String,
    #[serde(serialize_with = "ser_secret_opt")]
    pub token_keys: Option<SecretString>,
    #[serde(serialize_with = "ser_secret_opt")]
    pub jwt_secret: Option<SecretString>,
    #[serde(serialize_with = "ser_secret_opt")]
    pub meta_app_secret: Option<SecretString>,
    pub server: ServerConfig,
    pub cors: CorsConfig,
    pub graphql: GraphqlLimits,
    pub jobs: JobsConfig,
    pub auth: AuthConfig,
    pub privacy: PrivacyConfig,
    pub generator: GeneratorConfig,
    pub content: ContentConfig,
    pub media: MediaConfig,
    /// SQLite only: connections that read beside the single writer.
    pub sqlite_readers: u32,
    /// SQLite only: how list reads run (`rusqlite` on the blocking pool, or `sqlx`).
    pub sqlite_read_path: SqliteReadPath,
    /// Comma-separated address blocks of reverse proxies whose `Forwarded` /
    /// `X-Forwarded-For` headers are believed (unset: none; the peer is the client).
    pub trusted_proxies: Option<String>,
    pub providers: ProvidersConfig,
    pub webhooks: WebhooksConfig,
    /// Declares that one instance serves this deployment, so media and export packages
    /// may stay on its local disk in production.
    pub single_instance: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            env: Environment::Development,
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            app_url: None,
            data_dir: PathBuf::from("./data"),
            database_url: None,
            smtp_url: None,
            smtp_timeout_secs: 60,
            mail_from: "Atelier <no-reply@atelier.localhost>".into(),
            token_keys: None,
            jwt_secret: None,
            meta_app_secret: None,
            server: ServerConfig::default(),
            cors: CorsConfig::default(),
            graphql: GraphqlLimits::default(),
            jobs: JobsConfig::default(),
            auth: AuthConfig::default(),
            privacy: PrivacyConfig::default(),
            generator: GeneratorConfig::default(),
            content: ContentConfig::default(),
            media: MediaConfig::default(),
            sqlite_readers: 4,
            sqlite_read_path: SqliteReadPath::Rusqlite,
            trusted_proxies: None,
            providers: ProvidersConfig::default(),
            webhooks: WebhooksConfig::default(),
            single_instance: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("production mode refuses to start without: {}", .0.join(", "))]
    MissingForProduction(Vec<String>),
}

impl Config {
    /// The trusted proxies' address blocks, or the setting's error.
    pub fn trusted_proxies(&self) -> Result<Vec<crate::http::Cidr>, ConfigError> {
        let Some(list) = &self.trusted_proxies else {
            return Ok(Vec::new());
        };
        list.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                crate::http::Cidr::parse(item).ok_or_else(|| {
                    ConfigError::Invalid(format!(
                        "ATELIER_TRUSTED_PROXIES: {item:?} is not an address or a block like 10.0.0.0/8"
                    ))
                })
            })
            .collect()
    }

    /// Reads defaults, then `atelier.toml` in the working directory if present, then the
    /// `ATELIER_*` environment.
    pub fn load() -> Result<Self, ConfigError> {
        Self::load_from(Path::new("atelier.toml"))
    }

    pub fn load_from(file: &Path) -> Result<Self, ConfigError> {
        Self::load_with_env(file, std::env::vars())
    }

    /// Like `load_from`, with the environment given. Every variable's value is taken as
    /// text — a Meta app id of digits stays the string it is — and read as a number or
    /// a boolean only where the setting is one.
    pub fn load_with_env(
        file: &Path,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut figment =
            Figment::from(Serialized::defaults(Config::default())).merge(Toml::file(file));
        for (name, value) in vars {
            let Some(key) = name.strip_prefix("ATELIER_") else {
                continue;
            };
            if key.is_empty() {
                continue;
            }
            let path = key.to_ascii_lowercase().replace("__", ".");
            figment = figment.merge(Serialized::default(&path, value));
        }
        figment
            .extract_lossy()
            .map_err(|e| ConfigError::Invalid(e.to_string()))
    }

    pub fn is_production(&self) -> bool {
        self.env == Environment::Production
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|_| {
            ConfigError::Invalid(format!(
                "ATELIER_LISTEN must be host:port, got {:?}",
                self.listen
            ))
        })
    }

    /// The address people reach the portal at, without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen),
        }
    }

    /// Where links in emails for app flows point; the public URL unless set.
    pub fn app_url(&self) -> String {
        match &self.app_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => self.public_url(),
        }
    }

    /// The origins whose pages may call the API from a browser: the configured list, or
    /// else the app's origin when the app is served from another one than the portal.
    pub fn cors_origins(&self) -> Result<Vec<String>, ConfigError> {
        let Some(list) = &self.cors.allowed_origins else {
            let app = origin_of(&self.app_url());
            return Ok(app
                .filter(|app| Some(app) != origin_of(&self.public_url()).as_ref())
                .into_iter()
                .collect());
        };
        list.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                let bare = reqwest::Url::parse(item).is_ok_and(|u| {
                    u.path() == "/"
                        && u.query().is_none()
                        && u.fragment().is_none()
                        && u.username().is_empty()
                });
                let origin = origin_of(item).filter(|_| bare);
                origin.ok_or_else(|| {
                    ConfigError::Invalid(format!(
                        "ATELIER_CORS__ALLOWED_ORIGINS takes origins such as https://app.example.com (scheme, host and port only; never *), got {item:?}"
                    ))
                })
            })
            .collect()
    }

    /// The database URL: the configured one, or SQLite in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose_secret().to_string(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("atelier.sqlite").display()
            ),
        }
    }

    /// Production refuses development defaults; this names every missing setting at once.
    pub fn check_production(&self) -> Result<(), ConfigError> {
        if !self.is_production() {
            return Ok(());
        }
        let mut missing: Vec<String> = Vec::new();
        let is_postgres = self.database_url.as_ref().is_some_and(|u| {
            let u = u.expose_secret();
            u.starts_with("postgres://") || u.starts_with("postgresql://")
        });
        if !is_postgres {
            missing.push("ATELIER_DATABASE_URL (a PostgreSQL URL)".into());
        }
        if self.smtp_url.is_none() {
            missing.push("ATELIER_SMTP_URL".into());
        }
        if self.token_keys.is_none() {
            missing.push("ATELIER_TOKEN_KEYS".into());
        }
        match &self.jwt_secret {
            None => missing.push("ATELIER_JWT_SECRET".into()),
            // HS256 with a short secret can be guessed offline from one token.
            Some(secret) if secret.expose_secret().len() < MIN_JWT_SECRET_BYTES => missing.push(
                format!("ATELIER_JWT_SECRET of at least {MIN_JWT_SECRET_BYTES} characters (a random one: openssl rand -base64 48)"),
            ),
            Some(_) => {}
        }
        match &self.public_url {
            None => missing.push("ATELIER_PUBLIC_URL".into()),
            Some(url) if !is_https_url(url) => missing.push(format!(
                "ATELIER_PUBLIC_URL as an https:// URL with a host (got {url:?})"
            )),
            Some(_) => {}
        }
        if self.media.store == MediaStoreKind::Local && !self.single_instance {
            // Another instance could neither serve this one's files nor delete them.
            missing.push(
                "ATELIER_MEDIA__STORE=s3 with its bucket (media and export packages shared by every instance), or ATELIER_SINGLE_INSTANCE=true"
                    .into(),
            );
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::MissingForProduction(missing))
        }
    }
}

/// The shortest JWT secret production accepts.
const MIN_JWT_SECRET_BYTES: usize = 32;

/// An absolute `https://` URL with a host and nothing after the path.
fn is_https_url(value: &str) -> bool {
    reqwest::Url::parse(value).is_ok_and(|url| {
        url.scheme() == "https"
            && url.host_str().is_some_and(|h| !h.is_empty())
            && url.query().is_none()
            && url.fragment().is_none()
            && url.username().is_empty()
    })
}

fn ser_secret_opt<S: serde::Serializer>(
    value: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    // Only used to seed figment's defaults, which never carry secrets; a set secret is
    // still written so a round trip keeps it.
    match value {
        Some(secret) => serializer.serialize_some(secret.expose_secret()),
        None => serializer.serialize_none(),
    }
}

fn redact(value: &Option<SecretString>) -> &'static str {
    if value.is_some() {
        "[set]"
    } else {
        "[unset]"
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("env", &self.env)
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("app_url", &self.app_url)
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact(&self.database_url))
            .field("smtp_url", &redact(&self.smtp_url))
            .field("mail_from", &self.mail_from)
            .field("token_keys", &redact(&self.token_keys))
            .field("jwt_secret", &redact(&self.jwt_secret))
            .field("meta_app_secret", &redact(&self.meta_app_secret))
            .field("cors", &self.cors)
            .field("graphql", &self.graphql)
            .field("jobs", &self.jobs)
            .field("auth", &self.auth)
            .field("privacy", &self.privacy)
            .field("sqlite_readers", &self.sqlite_readers)
            .field("sqlite_read_path", &self.sqlite_read_path)
            .field("content", &self.content)
            .field("media.store", &self.media.store)
            .field("media.max_bytes", &self.media.max_bytes)
            .field("media.s3_bucket", &self.media.s3_bucket)
            .field("media.s3_endpoint", &self.media.s3_endpoint)
            .field(
                "media.s3_secret_access_key",
                &redact(&self.media.s3_secret_access_key),
            )
            .field("generator.kind", &self.generator.kind)
            .field("generator.url", &self.generator.url)
            .field("generator.model", &self.generator.model)
            .field("generator.api_key", &redact(&self.generator.api_key))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_from_the_environment_are_text_first() -> crate::TestResult {
        let vars = [
            ("ATELIER_PROVIDERS__FACEBOOK__CLIENT_ID", "1234567890123456"),
            ("ATELIER_MAIL_FROM", "true"),
            ("ATELIER_JOBS__RUN_IN_PROCESS", "false"),
            ("ATELIER_JOBS__LEASE_SECS", "42"),
            ("ATELIER_JWT_SECRET", "31415926535897932384626433832795"),
            ("HOME", "/root"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        // Numbers and booleans are accepted as text.
        let config = Config::load_with_env(Path::new("/nonexistent/atelier.toml"), vars)?;
        assert_eq!(
            config.providers.facebook.client_id.as_deref(),
            Some("1234567890123456")
        );
        assert_eq!(config.mail_from, "true");
        assert!(!config.jobs.run_in_process);
        assert_eq!(config.jobs.lease_secs, 42);
        assert_eq!(
            config
                .jwt_secret
                .as_ref()
                .map(|s| s.expose_secret().to_string()),
            Some("31415926535897932384626433832795".to_string())
        );
        let bad = Config::load_with_env(
            Path::new("/nonexistent/atelier.toml"),
            [("ATELIER_JOBS__LEASE_SECS".to_string(), "soon".to_string())],
        );
        let message = bad.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("lease_secs"), "{message}");
        Ok(())
    }

    #[test]
    fn production_names_every_missing_secret() {
        let config = Config {
            env: Environment::Production,
            database_url: Some(SecretString::from("sqlite://x.db")),
            ..Config::default()
        };
        let err = config.check_production().unwrap_err().to_string();
        for name in [
            "ATELIER_DATABASE_URL",
            "ATELIER_SMTP_URL",
            "ATELIER_TOKEN_KEYS",
            "ATELIER_JWT_SECRET",
            "ATELIER_PUBLIC_URL",
        ] {
            assert!(err.contains(name), "{err} should name {name}");
        }
    }

    #[test]
    fn production_refuses_weak_secrets_and_bad_urls() {
        let good = Config {
            env: Environment::Production,
            database_url: Some(SecretString::from("postgres://db/atelier")),
            smtp_url: Some(SecretString::from("smtps://smtp.example.com")),
            token_keys: Some(SecretString::from("k1:AAAA")),
            jwt_secret: Some(SecretString::from("x".repeat(32))),
            public_url: Some("https://atelier.example.com".into()),
            single_instance: true,
            ..Config::default()
        };
        assert!(good.check_production().is_ok());
        // Several instances cannot share files on one's local disk.
        let local = Config {
            single_instance: false,
            ..good.clone()
        };
        let err = local.check_production().unwrap_err().to_string();
        assert!(
            err.contains("ATELIER_MEDIA__STORE=s3") && err.contains("ATELIER_SINGLE_INSTANCE=true"),
            "{err}"
        );
        let mut shared = local.clone();
        shared.media.store = MediaStoreKind::S3;
        assert!(shared.check_production().is_ok());
        let weak = Config {
            jwt_secret: Some(SecretString::from("hunter")),
            ..good.clone()
        };
        let err = weak.check_production().unwrap_err().to_string();
        assert!(err.contains("ATELIER_JWT_SECRET of at least 32"), "{err}");
        assert!(!err.contains("hunter"), "the secret is never shown: {err}");
        for url in [
            "atelier.example.com",
            "http://atelier.example.com",
            "https://",
            "https://atelier.example.com/?next=evil",
            "not a url",
        ] {
            let bad = Config {
                public_url: Some(url.into()),
                ..good.clone()
            };
            let err = bad.check_production().unwrap_err().to_string();
            assert!(
                err.contains("ATELIER_PUBLIC_URL as an https:// URL"),
                "{url}: {err}"
            );
        }
    }

    #[test]
    fn trusted_proxies_are_address_blocks() -> crate::TestResult {
        let config = Config {
            trusted_proxies: Some("10.0.0.0/8, 2001:db8::/32,192.0.2.1".into()),
            ..Config::default()
        };
        assert_eq!(config.trusted_proxies().map(|p| p.len()).ok(), Some(3));
        let bad = Config {
            trusted_proxies: Some("10.0.0.0/8, the-load-balancer".into()),
            ..Config::default()
        };
        let err = bad.trusted_proxies().unwrap_err().to_string();
        assert!(
            err.contains("ATELIER_TRUSTED_PROXIES") && err.contains("the-load-balancer"),
            "{err}"
        );
        assert!(Config::default().trusted_proxies()?.is_empty());
        Ok(())
    }

    #[test]
    fn debug_output_hides_secrets() {
        let config = Config {
            jwt_secret: Some(SecretString::from("super-secret-value")),
            database_url: Some(SecretString::from("postgres://u:hunter2@db/atelier")),
            ..Config::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("super-secret-value"));
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains("[set]"));
    }

    #[test]
    fn cors_origins_are_bare_origins_and_default_to_a_separate_app() {
        let mut config = Config::default();
        assert!(config.cors_origins().unwrap().is_empty());
        config.public_url = Some("https://atelier.example.com".into());
        config.app_url = Some("https://atelier.example.com/app".into());
        assert!(config.cors_origins().unwrap().is_empty());
        config.app_url = Some("https://App.Example.com:443/".into());
        assert_eq!(config.cors_origins().unwrap(), ["https://app.example.com"]);
        config.cors.allowed_origins = Some("https://a.example.com, http://localhost:5173/".into());
        assert_eq!(
            config.cors_origins().unwrap(),
            ["https://a.example.com", "http://localhost:5173"]
        );
        for bad in [
            "*",
            "https://a.example.com/path",
            "a.example.com",
            "null",
            "ftp://x.org",
        ] {
            config.cors.allowed_origins = Some(bad.into());
            let err = config.cors_origins().unwrap_err().to_string();
            assert!(
                err.contains("ATELIER_CORS__ALLOWED_ORIGINS"),
                "{bad}: {err}"
            );
        }
    }
}
