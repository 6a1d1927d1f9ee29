//! Parsed documents kept by their text. A single-page app sends the same few documents
//! over and over, and parsing one is costly: a tenth of the dashboard's instructions
//! (issue 17, measured with callgrind). A parse depends on nothing but the text, so a
//! document parsed once serves every later request with the same text — cloned, since
//! the executor takes its document by value, which costs far less than parsing again.
//!
//! What is kept is bounded: at most `KEPT` documents of at most `MAX_TEXT` bytes each;
//! when it is full, a new document takes the place of one chosen at random. Text that
//! does not parse is never kept (the executor parses it again and answers with the
//! syntax error and its position, as it would have). Nothing is kept across restarts.
//!
//! Each kept document also remembers the operations (name and variables) that passed
//! validation, at most `VALIDATED` of them: validation depends on nothing but the
//! document, the operation, its variables and the schema, so the same request again is
//! not validated again (`Schemas::checked` runs it; a twentieth of the dashboard's
//! instructions). Any other variables — a different draft, a value of the wrong type —
//! are validated in full, and a request that failed validation is never remembered.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{BatchRequest, Request, Variables};

/// How many documents are kept.
const KEPT: usize = 256;

/// The longest text that is kept (longer documents are parsed for each request).
const MAX_TEXT: usize = 8 * 1024;

/// How many validated operations a document remembers.
const VALIDATED: usize = 16;

/// The largest variables remembered as validated, in bytes of JSON.
const MAX_VARIABLES: usize = 1024;

/// A parsed document, and the operations of it that passed validation.
struct Kept {
    document: Arc<ExecutableDocument>,
    validated: Mutex<Vec<(Option<String>, Variables)>>,
}

/// What `Documents::validation` knows of a request.
pub enum Validation {
    /// It passed validation before.
    Known,
    /// It did not (yet); `Some` remembers it once it passes (None: its document is not
    /// kept, or its variables are too large to keep).
    Unknown(Option<Remember>),
}

/// A request to remember as validated.
pub struct Remember {
    kept: Arc<Kept>,
    operation: Option<String>,
    variables: Variables,
}

impl Remember {
    /// It passed validation: the same request again is not validated again.
    pub fn passed(self) {
        let Ok(mut validated) = self.kept.validated.lock() else {
            return;
        };
        let (operation, variables) = (self.operation, self.variables);
        if validated
            .iter()
            .any(|(o, v)| *o == operation && *v == variables)
        {
            return;
        }
        if validated.len() >= VALIDATED {
            validated.remove(0);
        }
        validated.push((operation, variables));
    }
}

/// Parsed documents, by their text.
#[derive(Default)]
pub struct Documents {
    kept: Mutex<HashMap<Box<str>, Arc<Kept>>>,
    parsed: AtomicU64,
}

impl Documents {
    /// Gives each request of the batch its parsed document: the one kept for the same
    /// text, or one parsed now (and kept, if it parses and is not too long). A request
    /// whose text does not parse is left without one.
    pub fn attach(&self, batch: &mut BatchRequest) {
        let requests: Vec<&mut async_graphql::Request> = match batch {
            BatchRequest::Single(one) => vec![one],
            BatchRequest::Batch(many) => many.iter_mut().collect(),
        };
        for request in requests {
            if let Some(kept) = self.find(&request.query) {
                request.set_parsed_query(ExecutableDocument::clone(&kept.document));
                continue;
            }
            self.parsed.fetch_add(1, Ordering::Relaxed);
            let keep = request.query.len() <= MAX_TEXT;
            let text: Box<str> = if keep {
                request.query.as_str().into()
            } else {
                "".into()
            };
            let Ok(document) = request.parsed_query() else {
                continue;
            };
            if keep {
                self.keep(
                    text,
                    Arc::new(Kept {
                        document: Arc::new(document.clone()),
                        validated: Mutex::default(),
                    }),
                );
            }
        }
    }

    /// How many documents were parsed (not found among those kept) since the start.
    pub fn parsed(&self) -> u64 {
        self.parsed.load(Ordering::Relaxed)
    }

    /// How many documents are kept now.
    pub fn kept(&self) -> usize {
        self.kept.lock().map(|kept| kept.len()).unwrap_or(0)
    }

    /// Whether this request — its text, operation and variables — passed validation
    /// before; if not, how to remember it should it pass now.
    pub fn validation(&self, request: &Request) -> Validation {
        let Some(kept) = self.find(&request.query) else {
            return Validation::Unknown(None);
        };
        let known = kept.validated.lock().is_ok_and(|validated| {
            validated.iter().any(|(operation, variables)| {
                *operation == request.operation_name && *variables == request.variables
            })
        });
        if known {
            return Validation::Known;
        }
        // Small variables only.
        let small =
            serde_json::to_vec(&request.variables).is_ok_and(|json| json.len() <= MAX_VARIABLES);
        Validation::Unknown(small.then(|| Remember {
            kept,
            operation: request.operation_name.clone(),
            variables: request.variables.clone(),
        }))
    }

    /// Whether this request passed validation before (the handler asks `validation`).
    #[cfg(test)]
    pub fn validated(&self, request: &Request) -> bool {
        matches!(self.validation(request), Validation::Known)
    }

    fn find(&self, text: &str) -> Option<Arc<Kept>> {
        if text.len() > MAX_TEXT {
            return None;
        }
        self.kept.lock().ok()?.get(text).cloned()
    }

    fn keep(&self, text: Box<str>, document: Arc<Kept>) {
        let Ok(mut kept) = self.kept.lock() else {
            return;
        };
        if kept.len() >= KEPT && !kept.contains_key(&text) {
            // The map's order comes from its random hash keys: the first is any one.
            if let Some(evicted) = kept.keys().next().cloned() {
                kept.remove(&evicted);
            }
        }
        kept.insert(text, document);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(query: &str) -> BatchRequest {
        BatchRequest::Single(async_graphql::Request::new(query))
    }

    fn document(batch: &mut BatchRequest) -> String {
        match batch {
            BatchRequest::Single(one) => format!("{:?}", one.parsed_query().ok()),
            BatchRequest::Batch(_) => unreachable!("single requests only"),
        }
    }

    /// The same text is parsed once; later requests get an equal document.
    #[test]
    fn a_document_is_parsed_once_and_served_again() {
        let documents = Documents::default();
        let text =
            "query($w: ID!){ workspace(id: $w){ name drafts(first: 20){ edges{ node{ id } } } } }";
        let mut first = single(text);
        documents.attach(&mut first);
        let mut second = single(text);
        documents.attach(&mut second);
        assert_eq!(documents.parsed(), 1);
        assert_eq!(documents.kept(), 1);
        assert_eq!(document(&mut first), document(&mut second));
        // A different text (even by one space) is a different document.
        documents.attach(&mut single(&format!("{text} ")));
        assert_eq!(documents.parsed(), 2);
    }

    /// Text that does not parse is not kept, and the request is left to the executor,
    /// which answers with the syntax error.
    #[test]
    fn text_that_does_not_parse_is_not_kept() {
        let documents = Documents::default();
        for _ in 0..3 {
            let mut bad = single("{ workspace(id: ");
            documents.attach(&mut bad);
            let BatchRequest::Single(mut bad) = bad else {
                unreachable!()
            };
            assert!(bad.parsed_query().is_err());
        }
        assert_eq!(documents.parsed(), 3);
        assert_eq!(documents.kept(), 0);
    }

    /// Many different documents (a client that writes values into its text, or an
    /// attacker) never make the kept set grow past its bound, and long text is not kept.
    #[test]
    fn what_is_kept_is_bounded() -> crate::TestResult {
        let documents = Documents::default();
        for n in 0..(KEPT * 3) {
            documents.attach(&mut single(&format!("{{ a{n} }}")));
        }
        assert_eq!(documents.kept(), KEPT);
        let long = format!("{{ {} }}", "a ".repeat(MAX_TEXT));
        documents.attach(&mut single(&long));
        documents.attach(&mut single(&long));
        assert_eq!(documents.parsed(), (KEPT * 3 + 2) as u64);
        // What is still kept is served without parsing.
        let before = documents.parsed();
        let kept_text = documents
            .kept
            .lock()
            .map_err(|_| "the kept documents are poisoned")?
            .keys()
            .next()
            .ok_or("nothing is kept")?
            .to_string();
        documents.attach(&mut single(&kept_text));
        assert_eq!(documents.parsed(), before);
        Ok(())
    }

    /// What the handler does when a request passes validation.
    fn remember(documents: &Documents, request: &async_graphql::Request) {
        if let Validation::Unknown(Some(remember)) = documents.validation(request) {
            remember.passed();
        }
    }

    /// A request is known as validated only with the same text, operation and
    /// variables; what is remembered per document is bounded.
    #[test]
    fn validation_is_remembered_for_the_same_operation_and_variables() {
        let documents = Documents::default();
        let text = "query Q($n: Int){ a(n: $n) } query R { b }";
        let with = |operation: Option<&str>, n: serde_json::Value| {
            async_graphql::Request::new(text)
                .operation_name(operation.unwrap_or_default())
                .variables(Variables::from_json(serde_json::json!({ "n": n })))
        };
        let mut first = single(text);
        documents.attach(&mut first);
        let request = with(Some("Q"), serde_json::json!(5));
        assert!(!documents.validated(&request));
        remember(&documents, &request);
        assert!(documents.validated(&with(Some("Q"), serde_json::json!(5))));
        assert!(!documents.validated(&with(Some("Q"), serde_json::json!(6))));
        assert!(!documents.validated(&with(Some("Q"), serde_json::json!("5"))));
        assert!(!documents.validated(&with(Some("R"), serde_json::json!(5))));
        // Another text, even one remembered for nothing, is not validated.
        assert!(!documents.validated(&async_graphql::Request::new("{ a }")));
        // Bounded: the oldest is forgotten; large variables are not remembered.
        for n in 0..VALIDATED as i64 {
            remember(&documents, &with(Some("Q"), serde_json::json!(100 + n)));
        }
        assert!(!documents.validated(&with(Some("Q"), serde_json::json!(5))));
        assert!(documents.validated(&with(Some("Q"), serde_json::json!(100))));
        let large = serde_json::json!("x".repeat(MAX_VARIABLES));
        remember(&documents, &with(Some("Q"), large.clone()));
        assert!(!documents.validated(&with(Some("Q"), large)));
        // A text that is not kept remembers nothing.
        remember(&documents, &async_graphql::Request::new("{ c }"));
        assert!(!documents.validated(&async_graphql::Request::new("{ c }")));
    }

    /// Every operation of a batch gets its document.
    #[test]
    fn a_batch_gets_a_document_for_each_operation() {
        let documents = Documents::default();
        let mut batch = BatchRequest::Batch(vec![
            async_graphql::Request::new("{ a }"),
            async_graphql::Request::new("{ b }"),
            async_graphql::Request::new("{ a }"),
        ]);
        documents.attach(&mut batch);
        assert_eq!(documents.parsed(), 2);
        let BatchRequest::Batch(mut many) = batch else {
            unreachable!()
        };
        for request in &mut many {
            assert!(request.parsed_query().is_ok());
        }
    }
}
