//! DomainError → GraphQL error with `extensions.code`. Internal errors are logged with
//! their whole chain and reach the client only as "internal error".

use async_graphql::{Error, ErrorExtensions};

use crate::error::DomainError;

impl ErrorExtensions for DomainError {
    fn extend(&self) -> Error {
        if let DomainError::Internal(cause) = self {
            tracing::error!(error = ?cause, "internal error while resolving a GraphQL request");
        }
        let code = self.code();
        let mut error = Error::new(self.to_string()).extend_with(|_, ext| ext.set("code", code));
        match self {
            DomainError::RateLimited { retry_after_secs }
            | DomainError::Unavailable {
                retry_after_secs, ..
            } => {
                let retry = *retry_after_secs;
                error = error.extend_with(|_, ext| ext.set("retryAfterSeconds", retry));
            }
            _ => {}
        }
        if let DomainError::Unavailable { rerun: true, .. } = self {
            error.source = Some(std::sync::Arc::new(super::rerun::Rerun));
        }
        error
    }
}

/// Converts a domain error for a resolver's `?`.
pub fn gql(error: DomainError) -> Error {
    error.extend()
}

pub fn unauthenticated() -> Error {
    gql(DomainError::Unauthenticated("sign in first".into()))
}

pub fn bad_input(message: impl Into<String>) -> Error {
    gql(DomainError::BadInput(message.into()))
}

/// A domain error as a plain HTTP response in the API's error shape (for the API's
/// non-GraphQL routes).
pub fn domain_response(error: DomainError) -> axum::response::Response {
    use axum::http::StatusCode;
    let status = match &error {
        DomainError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        DomainError::Forbidden(_) => StatusCode::FORBIDDEN,
        DomainError::NotFound(_) => StatusCode::NOT_FOUND,
        DomainError::BadInput(_) => StatusCode::BAD_REQUEST,
        DomainError::Conflict(_) => StatusCode::CONFLICT,
        DomainError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        DomainError::Upstream(_) => StatusCode::BAD_GATEWAY,
        DomainError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        DomainError::Internal(cause) => {
            tracing::error!(error = ?cause, "internal error");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    let mut response = super::error_response(status, error.code(), &error.to_string());
    if let DomainError::Unavailable {
        retry_after_secs, ..
    } = error
    {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, retry_after_secs.into());
    }
    response
}
