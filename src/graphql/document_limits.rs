//! A bounded check of a request's documents before they are validated: how many fields
//! they select once every fragment spread is expanded, and how deep they nest.
//! Validation work grows with that size, and fragments that spread each other can make
//! a 1.5 KB document expand to millions of fields; counting with each fragment's size
//! and depth memoised takes time linear in the document's length, so a hostile document
//! is refused before any real work. The size budget is per HTTP request: a batch shares
//! it, and every alias counts. Introspection (`__schema`, `__type`, only served outside
//! production) is exempt from the depth limit, so standard tools can read the schema.
//!
//! This is the first pass over every document, HTTP and WebSocket alike, and it refuses
//! what would make a later pass walk without a memo: a spread of a fragment the document
//! does not define (counted as nothing, a fan-out ending in one would pass any budget
//! while validation's own walks expand it path by path) and fragments that spread each
//! other in a cycle.

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::BatchRequest;

/// Why a request was refused before validation.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The documents select more fields (fragments expanded) than the budget.
    TooLarge { budget: u64 },
    /// An operation nests fields deeper than the limit.
    TooDeep { limit: u64 },
    /// Fragments spread each other in a cycle.
    Cycle(String),
    /// A fragment is spread that the document does not define.
    UnknownFragment(String),
    /// `__typename` with arguments or a directive the schema does not know: validation
    /// never looks at `__typename` (async-graphql skips it), so it is checked here.
    Typename(String),
    /// A string in the document or its variables holds the NUL character, which no text
    /// we keep may hold (PostgreSQL refuses it in text).
    Nul,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLarge { budget } => write!(
                f,
                "the request selects more than {budget} fields once its fragments are expanded (aliases and every operation of a batch count)"
            ),
            Self::TooDeep { limit } => write!(
                f,
                "the query is nested too deep: at most {limit} levels of fields"
            ),
            Self::Cycle(name) => write!(f, "fragment {name} spreads itself"),
            Self::UnknownFragment(name) => write!(f, "unknown fragment \"{}\"", shown(name)),
            Self::Typename(why) => write!(f, "{why}"),
            Self::Nul => write!(f, "text may not contain the NUL character (U+0000)"),
        }
    }
}

/// Whether a value written in a document holds NUL in any string.
fn holds_nul(value: &async_graphql_value::Value) -> bool {
    match value {
        async_graphql_value::Value::String(text) => text.contains('\0'),
        async_graphql_value::Value::List(items) => items.iter().any(holds_nul),
        async_graphql_value::Value::Object(fields) => fields.values().any(holds_nul),
        _ => false,
    }
}

/// Whether a variable's value (or a default) holds NUL in any string.
fn const_holds_nul(value: &async_graphql::Value) -> bool {
    match value {
        async_graphql::Value::String(text) => text.contains('\0'),
        async_graphql::Value::List(items) => items.iter().any(const_holds_nul),
        async_graphql::Value::Object(fields) => fields.values().any(const_holds_nul),
        _ => false,
    }
}

/// The directives a field may carry (the schema's executable ones).
const FIELD_DIRECTIVES: [&str; 2] = ["include", "skip"];

/// `__typename` takes no arguments, and only the directives the schema defines.
fn typename_is_plain(field: &async_graphql::parser::types::Field) -> Result<(), Refusal> {
    if !field.arguments.is_empty() {
        return Err(Refusal::Typename("__typename takes no arguments".into()));
    }
    for directive in &field.directives {
        let name = directive.node.name.node.as_str();
        if !FIELD_DIRECTIVES.contains(&name) {
            return Err(Refusal::Typename(format!(
                "unknown directive \"@{}\" on __typename",
                shown(name)
            )));
        }
    }
    Ok(())
}

/// A name as an error message shows it: at most 64 characters.
fn shown(name: &str) -> &str {
    name.char_indices()
        .nth(64)
        .map_or(name, |(at, _)| &name[..at])
}

/// What a selection costs: the fields it selects and how deep they nest.
#[derive(Clone, Copy, Default)]
struct Measure {
    fields: u64,
    depth: u64,
}

/// Measures of fragments already counted, and those being counted (to find cycles).
struct Sizes<'a> {
    document: &'a ExecutableDocument,
    known: HashMap<&'a str, Measure>,
    visiting: Vec<&'a str>,
    /// Selections looked at, counted for the tests: each selection of the document once.
    visited: u64,
}

/// Root fields that only read the schema itself.
fn is_introspection(name: &str) -> bool {
    matches!(name, "__schema" | "__type")
}

impl<'a> Sizes<'a> {
    fn selection_set(&mut self, set: &'a SelectionSet, root: bool) -> Result<Measure, Refusal> {
        let mut total = Measure::default();
        for item in &set.items {
            self.visited += 1;
            let (fields, depth) = match &item.node {
                Selection::Field(field) => {
                    if field.node.name.node == "__typename" {
                        typename_is_plain(&field.node)?;
                    }
                    let directives = field.node.directives.iter().flat_map(|d| &d.node.arguments);
                    if field
                        .node
                        .arguments
                        .iter()
                        .chain(directives)
                        .any(|(_, value)| holds_nul(&value.node))
                    {
                        return Err(Refusal::Nul);
                    }
                    let inner = self.selection_set(&field.node.selection_set.node, false)?;
                    let depth = if root && is_introspection(field.node.name.node.as_str()) {
                        0
                    } else {
                        inner.depth.saturating_add(1)
                    };
                    (inner.fields.saturating_add(1), depth)
                }
                Selection::InlineFragment(inline) => {
                    let inner = self.selection_set(&inline.node.selection_set.node, root)?;
                    (inner.fields, inner.depth)
                }
                Selection::FragmentSpread(spread) => {
                    let inner = self.fragment(spread.node.fragment_name.node.as_str())?;
                    (inner.fields, inner.depth)
                }
            };
            total.fields = total.fields.saturating_add(fields);
            total.depth = total.depth.max(depth);
        }
        Ok(total)
    }

    fn fragment(&mut self, name: &'a str) -> Result<Measure, Refusal> {
        if let Some(measure) = self.known.get(name) {
            return Ok(*measure);
        }
        if self.visiting.contains(&name) {
            return Err(Refusal::Cycle(name.to_string()));
        }
        let Some((key, definition)) = self.document.fragments.get_key_value(name) else {
            return Err(Refusal::UnknownFragment(name.to_string()));
        };
        self.visiting.push(key.as_str());
        let measure = self.selection_set(&definition.node.selection_set.node, false)?;
        self.visiting.pop();
        self.known.insert(key.as_str(), measure);
        Ok(measure)
    }
}

/// The number of fields a document selects with its fragments expanded (every
/// operation, and every fragment definition: validated even when unused), and the
/// deepest nesting of any operation.
fn measure(document: &ExecutableDocument) -> Result<Measure, Refusal> {
    measure_counting(document).0
}

/// `measure`, and how many selections it looked at.
fn measure_counting(document: &ExecutableDocument) -> (Result<Measure, Refusal>, u64) {
    let mut sizes = Sizes {
        document,
        known: HashMap::new(),
        visiting: Vec::new(),
        visited: 0,
    };
    let measured = sizes.all();
    (measured, sizes.visited)
}

impl Sizes<'_> {
    /// Every operation, then every fragment definition.
    fn all(&mut self) -> Result<Measure, Refusal> {
        let document = self.document;
        let mut total = Measure::default();
        for (_, operation) in document.operations.iter() {
            let defaults = operation.node.variable_definitions.iter();
            if defaults
                .filter_map(|d| d.node.default_value.as_ref())
                .any(|v| const_holds_nul(&v.node))
            {
                return Err(Refusal::Nul);
            }
            let one = self.selection_set(&operation.node.selection_set.node, true)?;
            total.fields = total.fields.saturating_add(one.fields);
            total.depth = total.depth.max(one.depth);
        }
        for name in document.fragments.keys() {
            let fragment = self.fragment(name.as_str())?;
            total.fields = total.fields.saturating_add(fragment.fields);
        }
        Ok(total)
    }
}

/// Refuses a request whose documents together select more than `budget` fields, or
/// one of which nests deeper than `max_depth`; returns the fields selected. Each
/// document is parsed once: the request keeps it for the executor.
pub fn check(batch: &mut BatchRequest, budget: u64, max_depth: u64) -> Result<u64, Refusal> {
    let requests: Vec<&mut async_graphql::Request> = match batch {
        BatchRequest::Single(one) => vec![one],
        BatchRequest::Batch(many) => many.iter_mut().collect(),
    };
    let mut total: u64 = 0;
    for request in requests {
        if request.variables.values().any(const_holds_nul) {
            return Err(Refusal::Nul);
        }
        // A document that does not parse selects nothing: the executor answers it with
        // the syntax error and its position.
        let Ok(document) = request.parsed_query() else {
            continue;
        };
        let measured = measure(document)?;
        if measured.depth > max_depth {
            return Err(Refusal::TooDeep { limit: max_depth });
        }
        total = total.saturating_add(measured.fields);
        if total > budget {
            return Err(Refusal::TooLarge { budget });
        }
    }
    Ok(total)
}

/// The cost budget one HTTP request has, shared by every operation of its batch: each
/// operation's validated complexity (where a field that reads the database costs what
/// it reads — a page costs its size times what each item costs) is taken from it.
#[derive(Clone)]
pub struct RequestBudget {
    left: std::sync::Arc<std::sync::atomic::AtomicU64>,
    limit: u64,
}

impl RequestBudget {
    pub fn new(limit: u64) -> Self {
        Self {
            left: std::sync::Arc::new(std::sync::atomic::AtomicU64::new(limit)),
            limit,
        }
    }

    /// Takes `cost` from what is left; false (and nothing taken) when it does not fit.
    fn spend(&self, cost: u64) -> bool {
        use std::sync::atomic::Ordering;
        self.left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(cost)
            })
            .is_ok()
    }
}

/// The schema extension that holds every document to the limits: the expanded size and
/// depth of each document (an HTTP batch's were measured together by `check` before,
/// a WebSocket subscription's only here), and, when the request carries a
/// `RequestBudget` (an HTTP batch), the shared cost.
pub struct DocumentLimits {
    pub max_fields: u64,
    pub max_depth: u64,
}

impl async_graphql::extensions::ExtensionFactory for DocumentLimits {
    fn create(&self) -> std::sync::Arc<dyn async_graphql::extensions::Extension> {
        std::sync::Arc::new(DocumentLimitsCheck {
            max_fields: self.max_fields,
            max_depth: self.max_depth,
        })
    }
}

struct DocumentLimitsCheck {
    max_fields: u64,
    max_depth: u64,
}

#[async_trait::async_trait]
impl async_graphql::extensions::Extension for DocumentLimitsCheck {
    /// Measured before async-graphql parses the document itself: its parse step also
    /// runs a depth check that follows every fragment spread without a memo, so what
    /// this pass refuses (unknown fragments, cycles, fan-outs) must never reach it. The
    /// document parsed here is the one the executor uses.
    async fn prepare_request(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        mut request: async_graphql::Request,
        next: async_graphql::extensions::NextPrepareRequest<'_>,
    ) -> async_graphql::ServerResult<async_graphql::Request> {
        let mut refusal = request
            .variables
            .values()
            .any(const_holds_nul)
            .then_some(Refusal::Nul);
        // A document that does not parse is left for the executor to explain.
        if let (None, Ok(document)) = (&refusal, request.parsed_query()) {
            refusal = match measure(document) {
                Err(refusal) => Some(refusal),
                Ok(measured) if measured.depth > self.max_depth => Some(Refusal::TooDeep {
                    limit: self.max_depth,
                }),
                Ok(measured) if measured.fields > self.max_fields => Some(Refusal::TooLarge {
                    budget: self.max_fields,
                }),
                Ok(_) => None,
            };
        }
        match refusal {
            Some(refusal) => Err(async_graphql::ServerError::new(refusal.to_string(), None)),
            None => next.run(ctx, request).await,
        }
    }

    async fn validation(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        next: async_graphql::extensions::NextValidation<'_>,
    ) -> Result<async_graphql::ValidationResult, Vec<async_graphql::ServerError>> {
        let result = next.run(ctx).await?;
        if let Some(budget) = ctx.data_opt::<RequestBudget>() {
            let cost = u64::try_from(result.complexity).unwrap_or(u64::MAX);
            if !budget.spend(cost) {
                return Err(vec![async_graphql::ServerError::new(
                    format!(
                        "the request costs more than its budget of {} (this operation costs {cost}; a batch shares one budget)",
                        budget.limit
                    ),
                    None,
                )]);
            }
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields a valid document selects; a syntax error fails the test.
    fn size(query: &str) -> Result<Result<u64, Refusal>, async_graphql::parser::Error> {
        let document = async_graphql::parser::parse_query(query)?;
        Ok(measure(&document).map(|m| m.fields))
    }

    /// Fragments F0..Fn where each spreads the next twice: 2^n fields from a few lines.
    fn fan_out(levels: usize) -> String {
        let mut query = String::from("{ ...F0 }\n");
        for i in 0..levels {
            query.push_str(&format!(
                "fragment F{i} on Query {{ ...F{} ...F{} }}\n",
                i + 1,
                i + 1
            ));
        }
        query.push_str(&format!("fragment F{levels} on Query {{ me {{ id }} }}\n"));
        query
    }

    #[test]
    fn fields_and_fragments_are_counted_once_expanded() -> crate::TestResult {
        assert_eq!(size("{ me { id email } }")?, Ok(3));
        assert_eq!(
            size("{ me { ...U } } fragment U on User { id email }")?,
            // Two fields in `me`, and the fragment's own two.
            Ok(3 + 2)
        );
        assert_eq!(
            size("{ a: me { id } b: me { id } }")?,
            Ok(4),
            "aliases count"
        );
        Ok(())
    }

    #[test]
    fn a_fan_out_of_fragments_is_measured_without_expanding_it() -> crate::TestResult {
        let query = fan_out(22);
        assert!(query.len() < 1_600, "{}", query.len());
        let counted = size(&query)?;
        assert!(
            counted.as_ref().is_ok_and(|n| *n > 4_000_000),
            "{counted:?}"
        );
        Ok(())
    }

    #[test]
    fn a_fan_out_that_ends_in_an_unknown_fragment_is_refused_in_one_pass() -> crate::TestResult {
        // The audit's 978-byte request: 2^25 paths to `...Missing` for a walk without a
        // memo; here each selection of the text is looked at once.
        let mut query = String::from("{ ...F0 }\n");
        for i in 0..25 {
            query.push_str(&format!(
                "fragment F{i} on Query {{ ...F{} ...F{} }}\n",
                i + 1,
                i + 1
            ));
        }
        query.push_str("fragment F25 on Query { ...Missing }\n");
        let document = async_graphql::parser::parse_query(&query)?;
        let (measured, visited) = measure_counting(&document);
        assert!(
            matches!(&measured, Err(Refusal::UnknownFragment(name)) if name == "Missing"),
            "{:?}",
            measured.map(|m| m.fields)
        );
        // The operation's spread, two in each of F0..F24, and F25's one.
        assert!(visited <= 1 + 2 * 25 + 1, "{visited} selections looked at");
        // A fragment defined but never reached, spreading an unknown one, is refused too:
        // validation would walk it.
        let unused = "{ me { id } } fragment U on Query { ...Nowhere }";
        assert!(matches!(size(unused)?, Err(Refusal::UnknownFragment(_))));
        Ok(())
    }

    #[test]
    fn selections_are_looked_at_once_however_often_they_are_spread() -> crate::TestResult {
        let query = fan_out(22);
        let document = async_graphql::parser::parse_query(&query)?;
        let (measured, visited) = measure_counting(&document);
        assert!(measured.is_ok_and(|m| m.fields > 4_000_000));
        // 1 + 2 per fan-out fragment + `me` and `id` in the last one.
        assert_eq!(visited, 1 + 2 * 22 + 2);
        Ok(())
    }

    #[test]
    fn typename_is_held_to_what_validation_would_ask() -> crate::TestResult {
        assert_eq!(size("{ __typename @include(if: true) }")?, Ok(1));
        for query in ["{ __typename @foo }", "{ me { __typename(x: 1) } }"] {
            assert!(matches!(size(query)?, Err(Refusal::Typename(_))), "{query}");
        }
        Ok(())
    }

    #[test]
    fn nul_is_refused_wherever_text_is_written() -> crate::TestResult {
        for query in [
            r#"{ drafts(search: "a\u0000b") { id } }"#,
            r#"{ x(input: { list: ["ok", "a\u0000"] }) }"#,
            r#"{ me @include(if: true) { id @skip(if: false) } a: me { id } }"#,
            r#"query($s: String = "\u0000") { me { id } }"#,
        ] {
            let refused = matches!(size(query)?, Err(Refusal::Nul));
            assert_eq!(refused, query.contains("u0000"), "{query}");
        }
        let mut variables = async_graphql::Variables::default();
        variables.insert(
            async_graphql::Name::new("i"),
            async_graphql::Value::from_json(serde_json::json!({ "title": ["x", "y\u{0}"] }))?,
        );
        let mut batch = BatchRequest::Single(
            async_graphql::Request::new("query($i: In) { me { id } }").variables(variables),
        );
        assert_eq!(check(&mut batch, 100, 10), Err(Refusal::Nul));
        Ok(())
    }

    #[test]
    fn cycles_are_refused() -> crate::TestResult {
        for query in [
            "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
            "{ ...A } fragment A on Query { me { ...A } }",
        ] {
            assert!(matches!(size(query)?, Err(Refusal::Cycle(_))), "{query}");
        }
        Ok(())
    }

    #[test]
    fn a_batch_shares_one_budget() {
        let one = || async_graphql::Request::new("{ a: me { id } b: me { id } }");
        let mut batch = BatchRequest::Batch(vec![one(), one(), one()]);
        assert_eq!(check(&mut batch, 12, 12), Ok(12));
        assert_eq!(
            check(&mut batch, 11, 12),
            Err(Refusal::TooLarge { budget: 11 })
        );
        // A syntax error is left for the executor to explain.
        let mut broken = BatchRequest::Single(async_graphql::Request::new("{ me { id "));
        assert_eq!(check(&mut broken, 1, 1), Ok(0));
    }

    #[test]
    fn depth_counts_fields_through_fragments_but_not_introspection() {
        let one = |q: &str| BatchRequest::Single(async_graphql::Request::new(q));
        let deep = "{ me { ...W } } fragment W on User { workspaces { edges { node { id } } } }";
        // Five fields in the operation, four more in the fragment definition itself.
        assert_eq!(check(&mut one(deep), 100, 5), Ok(9));
        assert_eq!(
            check(&mut one(deep), 100, 4),
            Err(Refusal::TooDeep { limit: 4 })
        );
        let introspection = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { name } } } } } } } } }";
        assert!(check(&mut one(introspection), 100, 3).is_ok());
        let hidden = "{ __schema { types { name } } me { workspaces { edges { node { id } } } } }";
        assert_eq!(
            check(&mut one(hidden), 100, 4),
            Err(Refusal::TooDeep { limit: 4 })
        );
    }
}
