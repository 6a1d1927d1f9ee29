//! A request the database gave up for a concurrent one's sake (a serialization failure
//! or a deadlock on PostgreSQL) runs once more before it is answered: it wrote nothing,
//! and at once it is likely to succeed.

use async_graphql::parser::types::OperationType;
use async_graphql::Request;

/// Marks an error whose transaction the database gave up for a concurrent one's sake:
/// the request may run again at once (`graphql_post` does, once).
pub struct Rerun;

/// Whether every error of `response` leaves the request safe and worth running again: at
/// least one is a `Rerun`, and no root field succeeded (each root field is its own
/// transaction, so nothing was written).
pub fn worth_rerunning(response: &async_graphql::Response) -> bool {
    let marked = response
        .errors
        .iter()
        .any(|e| e.source::<Rerun>().is_some());
    let nothing_done = match &response.data {
        async_graphql::Value::Object(fields) => {
            fields.values().all(|v| *v == async_graphql::Value::Null)
        }
        _ => true,
    };
    marked && nothing_done
}

/// What running `one` again takes, when it could need it: a mutation (reads take no
/// locks a concurrent writer could make the database give up), without uploads (they
/// are not kept). Its document is parsed already (`documents::attach`), so this costs a
/// copy of the text only for mutations.
pub fn copy_for_rerun(one: &mut Request) -> Option<Request> {
    if !one.uploads.is_empty() {
        return None;
    }
    let name = one.operation_name.clone();
    let document = one.parsed_query().ok()?;
    let mutation = document.operations.iter().any(|(op_name, op)| {
        op.node.ty == OperationType::Mutation
            && (name.is_none() || op_name.map(|n| n.as_str()) == name.as_deref())
    });
    if !mutation {
        return None;
    }
    let mut request = Request::new(one.query.clone()).variables(one.variables.clone());
    request.operation_name = name;
    Some(request)
}
