//! A bounded check of a request's documents before they are validated: how many fields
//! they select once every fragment spread is expanded. Validation work grows with that
//! size, and fragments that spread each other can make a 1.5 KB document expand to
//! millions of fields; counting with each fragment's size memoised takes time linear in
//! the document's length, so a hostile document is refused before any real work.
//! The budget is per HTTP request: a batch shares it, and every alias counts.

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::BatchRequest;

/// Why a request was refused before validation.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The documents select more fields (fragments expanded) than the budget.
    TooLarge { budget: u64 },
    /// Fragments spread each other in a cycle.
    Cycle(String),
    /// A document does not parse (the executor would say the same, later).
    Unparsable,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLarge { budget } => write!(
                f,
                "the request selects more than {budget} fields once its fragments are expanded (aliases and every operation of a batch count)"
            ),
            Self::Cycle(name) => write!(f, "fragment {name} spreads itself"),
            Self::Unparsable => write!(f, "the document is not valid GraphQL"),
        }
    }
}

/// Sizes of fragments already counted, and those being counted (to find cycles).
struct Sizes<'a> {
    document: &'a ExecutableDocument,
    known: HashMap<&'a str, u64>,
    visiting: Vec<&'a str>,
}

impl<'a> Sizes<'a> {
    fn selection_set(&mut self, set: &'a SelectionSet) -> Result<u64, Refusal> {
        let mut size: u64 = 0;
        for item in &set.items {
            let add = match &item.node {
                Selection::Field(field) => {
                    1u64.saturating_add(self.selection_set(&field.node.selection_set.node)?)
                }
                Selection::InlineFragment(inline) => {
                    self.selection_set(&inline.node.selection_set.node)?
                }
                Selection::FragmentSpread(spread) => {
                    self.fragment(spread.node.fragment_name.node.as_str())?
                }
            };
            size = size.saturating_add(add);
        }
        Ok(size)
    }

    fn fragment(&mut self, name: &'a str) -> Result<u64, Refusal> {
        if let Some(size) = self.known.get(name) {
            return Ok(*size);
        }
        if self.visiting.contains(&name) {
            return Err(Refusal::Cycle(name.to_string()));
        }
        // An unknown fragment is for validation to report; it selects nothing here.
        let Some((key, definition)) = self.document.fragments.get_key_value(name) else {
            return Ok(0);
        };
        self.visiting.push(key.as_str());
        let size = self.selection_set(&definition.node.selection_set.node)?;
        self.visiting.pop();
        self.known.insert(key.as_str(), size);
        Ok(size)
    }
}

/// The number of fields a document selects with its fragments expanded: every
/// operation, and every fragment definition (validated even when unused).
pub fn expanded_size(document: &ExecutableDocument) -> Result<u64, Refusal> {
    let mut sizes = Sizes {
        document,
        known: HashMap::new(),
        visiting: Vec::new(),
    };
    let mut total: u64 = 0;
    for (_, operation) in document.operations.iter() {
        total = total.saturating_add(sizes.selection_set(&operation.node.selection_set.node)?);
    }
    for name in document.fragments.keys() {
        total = total.saturating_add(sizes.fragment(name.as_str())?);
    }
    Ok(total)
}

/// Refuses a request whose documents together select more than `budget` fields.
pub fn check(batch: &BatchRequest, budget: u64) -> Result<u64, Refusal> {
    let requests: Vec<&async_graphql::Request> = match batch {
        BatchRequest::Single(one) => vec![one],
        BatchRequest::Batch(many) => many.iter().collect(),
    };
    let mut total: u64 = 0;
    for request in requests {
        let document =
            async_graphql::parser::parse_query(&request.query).map_err(|_| Refusal::Unparsable)?;
        total = total.saturating_add(expanded_size(&document)?);
        if total > budget {
            return Err(Refusal::TooLarge { budget });
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(query: &str) -> Result<u64, Refusal> {
        let document =
            async_graphql::parser::parse_query(query).map_err(|_| Refusal::Unparsable)?;
        expanded_size(&document)
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
    fn fields_and_fragments_are_counted_once_expanded() {
        assert_eq!(size("{ me { id email } }"), Ok(3));
        assert_eq!(
            size("{ me { ...U } } fragment U on User { id email }"),
            // Two fields in `me`, and the fragment's own two.
            Ok(3 + 2)
        );
        assert_eq!(
            size("{ a: me { id } b: me { id } }"),
            Ok(4),
            "aliases count"
        );
    }

    #[test]
    fn a_fan_out_of_fragments_is_measured_without_expanding_it() {
        let query = fan_out(22);
        assert!(query.len() < 1_600, "{}", query.len());
        let counted = size(&query).unwrap();
        assert!(counted > 4_000_000, "{counted}");
    }

    #[test]
    fn cycles_are_refused() {
        for query in [
            "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
            "{ ...A } fragment A on Query { me { ...A } }",
        ] {
            assert!(matches!(size(query), Err(Refusal::Cycle(_))), "{query}");
        }
    }

    #[test]
    fn a_batch_shares_one_budget() {
        let one = || async_graphql::Request::new("{ a: me { id } b: me { id } }");
        let batch = BatchRequest::Batch(vec![one(), one(), one()]);
        assert_eq!(check(&batch, 12), Ok(12));
        assert_eq!(check(&batch, 11), Err(Refusal::TooLarge { budget: 11 }));
    }
}
