//! Persisted documents: Apollo's automatic persisted queries (APQ) and the allow-list
//! mode.
//!
//! APQ, as Apollo's `PersistedQueryLink` speaks it: a request carries
//! `extensions.persistedQuery = {version: 1, sha256Hash}`. Without its text, the text
//! registered for the hash runs, or the answer is the error `PersistedQueryNotFound`
//! (`extensions.code = PERSISTED_QUERY_NOT_FOUND`), upon which the client sends the text
//! with the hash; the hash is checked against the text, and a text that parses is kept
//! for the next time. What is kept lives in this instance's memory, bounded in bytes (a
//! document's place goes to a newer one at random when full): another instance or a
//! restart answers not-found once and the client registers the text again.
//!
//! The allow-list (`ATELIER_GRAPHQL__PERSISTED_ONLY`, with the documents in
//! `ATELIER_GRAPHQL__PERSISTED_DOCUMENTS`, an Apollo persisted query manifest or a
//! `{hash: text}` map as GraphQL Code Generator and Relay write it): only those documents
//! run, asked for by hash or sent in full; nothing is registered at run time.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_graphql::{BatchRequest, Request};
use axum::http::StatusCode;
use sha2::{Digest, Sha256};

/// Why a request's persisted document cannot run.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// The answer Apollo's link waits for to send the text: its message is the one the
    /// link compares. A 200 under either answer type, as Apollo Server sends it, so that
    /// every client of the protocol sees a GraphQL result rather than a failed request.
    fn not_found() -> Self {
        Self::new(
            StatusCode::OK,
            "PERSISTED_QUERY_NOT_FOUND",
            "PersistedQueryNotFound",
        )
    }
}

/// The documents known by hash.
pub struct Persisted {
    /// Only the listed documents run.
    only: bool,
    /// The listed documents (never evicted).
    listed: HashMap<String, Arc<str>>,
    /// Documents registered at run time by APQ, and their bytes.
    registered: Mutex<(HashMap<String, Arc<str>>, usize)>,
    /// The most bytes of text registered at once.
    capacity: usize,
}

/// A request's `extensions.persistedQuery`.
struct Asked {
    hash: String,
}

impl Persisted {
    /// The store for this configuration; a manifest that cannot be read, or whose hashes
    /// are not its documents' SHA-256, is an error, as is the allow-list without one.
    pub fn from_config(
        only: bool,
        documents: Option<&Path>,
        capacity: usize,
    ) -> anyhow::Result<Self> {
        let listed = match documents {
            Some(path) => read_manifest(path)?,
            None if only => anyhow::bail!(
                "ATELIER_GRAPHQL__PERSISTED_ONLY needs the documents to allow: ATELIER_GRAPHQL__PERSISTED_DOCUMENTS (a persisted query manifest)"
            ),
            None => HashMap::new(),
        };
        Ok(Self {
            only,
            listed,
            registered: Mutex::default(),
            capacity,
        })
    }

    /// Gives each request of the batch its text from the persisted documents, registers
    /// texts sent with their hash, and in allow-list mode refuses anything unlisted.
    pub fn resolve(&self, batch: &mut BatchRequest) -> Result<(), Refusal> {
        match batch {
            BatchRequest::Single(one) => self.resolve_one(one),
            BatchRequest::Batch(many) => many.iter_mut().try_for_each(|one| self.resolve_one(one)),
        }
    }

    /// The text registered or listed for a hash.
    pub fn text_of(&self, hash: &str) -> Option<Arc<str>> {
        if let Some(text) = self.listed.get(hash) {
            return Some(text.clone());
        }
        if self.only {
            return None;
        }
        let registered = self.registered.lock().ok()?;
        registered.0.get(hash).cloned()
    }

    fn resolve_one(&self, request: &mut Request) -> Result<(), Refusal> {
        let Some(asked) = asked(request)? else {
            if self.only && !self.listed.contains_key(&sha256_hex(&request.query)) {
                return Err(Refusal::new(
                    StatusCode::FORBIDDEN,
                    "PERSISTED_QUERY_REQUIRED",
                    "this server runs only its registered documents: send one by its hash in extensions.persistedQuery",
                ));
            }
            return Ok(());
        };
        if request.query.is_empty() {
            let text = self.text_of(&asked.hash).ok_or_else(Refusal::not_found)?;
            request.query = text.to_string();
            return Ok(());
        }
        if sha256_hex(&request.query) != asked.hash {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                "provided sha does not match query",
            ));
        }
        if self.only {
            if self.listed.contains_key(&asked.hash) {
                return Ok(());
            }
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "PERSISTED_QUERY_NOT_ALLOWED",
                "this server runs only its registered documents, and this is not one of them",
            ));
        }
        if async_graphql::parser::parse_query(&request.query).is_ok() {
            self.register(asked.hash, &request.query);
        }
        Ok(())
    }

    fn register(&self, hash: String, text: &str) {
        if text.len() > self.capacity {
            return;
        }
        let Ok(mut registered) = self.registered.lock() else {
            return;
        };
        let (documents, bytes) = &mut *registered;
        if documents.contains_key(&hash) {
            return;
        }
        while *bytes + text.len() > self.capacity {
            let Some(evicted) = documents.keys().next().cloned() else {
                break;
            };
            if let Some(gone) = documents.remove(&evicted) {
                *bytes -= gone.len();
            }
        }
        *bytes += text.len();
        documents.insert(hash, text.into());
    }

    /// How many documents are registered now (not counting the listed ones).
    pub fn registered(&self) -> usize {
        self.registered.lock().map(|r| r.0.len()).unwrap_or(0)
    }
}

/// The request's `extensions.persistedQuery`, if it has one; a malformed one is refused.
fn asked(request: &Request) -> Result<Option<Asked>, Refusal> {
    let Some(value) = request.extensions.get("persistedQuery") else {
        return Ok(None);
    };
    let bad = |message: &str| Refusal::new(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", message);
    let json = value
        .clone()
        .into_json()
        .map_err(|_| bad("extensions.persistedQuery is not an object"))?;
    if json.get("version").and_then(serde_json::Value::as_i64) != Some(1) {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "PERSISTED_QUERY_NOT_SUPPORTED",
            "only version 1 of persisted queries is supported",
        ));
    }
    let hash = json
        .get("sha256Hash")
        .and_then(serde_json::Value::as_str)
        .map(str::to_ascii_lowercase)
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| bad("extensions.persistedQuery.sha256Hash must be 64 hexadecimal digits"))?;
    Ok(Some(Asked { hash }))
}

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The documents of a manifest, by hash: Apollo's
/// `{"format": "apollo-persisted-query-manifest", "operations": [{"id", "body"}]}` or a
/// plain `{hash: text}` map. Every hash must be its text's SHA-256.
fn read_manifest(path: &Path) -> anyhow::Result<HashMap<String, Arc<str>>> {
    use anyhow::Context;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the persisted documents {}", path.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let pairs: Vec<(String, String)> = match json.get("operations").and_then(|o| o.as_array()) {
        Some(operations) => operations
            .iter()
            .map(|op| {
                let id = op["id"].as_str().unwrap_or_default().to_string();
                let body = op["body"].as_str().unwrap_or_default().to_string();
                (id, body)
            })
            .collect(),
        None => json
            .as_object()
            .context(
                "persisted documents are a manifest with operations, or an object of hash: text",
            )?
            .iter()
            .map(|(hash, body)| (hash.clone(), body.as_str().unwrap_or_default().to_string()))
            .collect(),
    };
    let mut documents = HashMap::new();
    for (hash, body) in pairs {
        let hash = hash.to_ascii_lowercase();
        anyhow::ensure!(
            !body.is_empty() && sha256_hex(&body) == hash,
            "the persisted document {hash:?} in {} is not the SHA-256 of its text",
            path.display()
        );
        documents.insert(hash, Arc::from(body));
    }
    Ok(documents)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashed(text: &str, hash: &str) -> Request {
        let mut request = Request::new(text);
        request.extensions.insert(
            "persistedQuery".into(),
            async_graphql::Value::from_json(
                serde_json::json!({ "version": 1, "sha256Hash": hash }),
            )
            .unwrap(),
        );
        request
    }

    #[test]
    fn a_hash_is_not_found_then_registered_then_found() {
        let store = Persisted::from_config(false, None, 1024).unwrap();
        let text = "{ me { id } }";
        let hash = sha256_hex(text);
        let mut only_hash = BatchRequest::Single(hashed("", &hash));
        assert_eq!(store.resolve(&mut only_hash), Err(Refusal::not_found()));
        let mut full = BatchRequest::Single(hashed(text, &hash));
        store.resolve(&mut full).unwrap();
        let mut again = BatchRequest::Single(hashed("", &hash));
        store.resolve(&mut again).unwrap();
        let BatchRequest::Single(again) = again else {
            unreachable!()
        };
        assert_eq!(again.query, text);
    }

    #[test]
    fn a_wrong_hash_or_version_is_refused_and_nothing_is_kept() {
        let store = Persisted::from_config(false, None, 1024).unwrap();
        let wrong = sha256_hex("{ other }");
        let mut request = BatchRequest::Single(hashed("{ me { id } }", &wrong));
        let refused = store.resolve(&mut request).unwrap_err();
        assert_eq!(refused.message, "provided sha does not match query");
        assert_eq!(store.registered(), 0);
        let mut request = BatchRequest::Single(hashed("", "not-a-hash"));
        assert_eq!(
            store.resolve(&mut request).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn what_is_registered_stays_within_its_bytes() {
        let store = Persisted::from_config(false, None, 64).unwrap();
        for i in 0..20 {
            let text = format!("{{ f{i:02} }}");
            let mut request = BatchRequest::Single(hashed(&text, &sha256_hex(&text)));
            store.resolve(&mut request).unwrap();
        }
        let bytes = store.registered.lock().unwrap().1;
        assert!(bytes <= 64 && store.registered() == bytes / "{ f00 }".len());
        // A document that parses not is never kept.
        let store = Persisted::from_config(false, None, 1024).unwrap();
        let mut broken = BatchRequest::Single(hashed("{ me ", &sha256_hex("{ me ")));
        store.resolve(&mut broken).unwrap();
        assert_eq!(store.registered(), 0);
    }
}
