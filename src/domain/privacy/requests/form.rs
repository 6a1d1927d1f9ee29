//! The public request form: its fields checked one by one (every error named next to its
//! field), and the request they make.

use super::kinds::RequestKind;
use crate::domain::identity::accounts::EmailAddress;
use crate::domain::privacy::clock::Jurisdiction;

/// What a person submits.
#[derive(Clone, Debug, Default)]
pub struct RequestForm {
    pub kind: String,
    pub email: String,
    pub workspace_name: String,
    pub channel_identifiers: String,
    pub details: String,
    /// A jurisdiction code, or empty to infer one.
    pub jurisdiction: String,
}

/// A form that failed validation: one message per field, for showing next to it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<(&'static str, String)>);

impl FieldErrors {
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A validated request, ready to record.
#[derive(Clone, Debug)]
pub struct ValidRequest {
    pub kind: RequestKind,
    /// None only for Meta callbacks, which carry no address.
    pub email: Option<EmailAddress>,
    pub workspace_name: Option<String>,
    pub channel_identifiers: Option<String>,
    pub details: Option<String>,
    pub jurisdiction: Jurisdiction,
}

pub(super) fn optional_text(
    value: &str,
    max: usize,
    field: &'static str,
    errors: &mut FieldErrors,
) -> Option<String> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.chars().count() > max {
        errors
            .0
            .push((field, format!("Please keep this under {max} characters.")));
        return None;
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        errors
            .0
            .push((field, "This contains characters we cannot accept.".into()));
        return None;
    }
    Some(value.to_string())
}

/// Checks a submitted form; `accept_language` lets an unchosen jurisdiction be inferred.
pub fn validate(
    form: &RequestForm,
    accept_language: Option<&str>,
) -> Result<ValidRequest, FieldErrors> {
    let mut errors = FieldErrors::default();
    let kind = RequestKind::parse(form.kind.trim());
    if kind.is_none() {
        errors
            .0
            .push(("kind", "Please choose what you would like us to do.".into()));
    }
    let email = EmailAddress::parse(&form.email).ok();
    if email.is_none() {
        errors.0.push((
            "email",
            "Please enter the email address of your account, like name@example.com.".into(),
        ));
    }
    let workspace_name = optional_text(&form.workspace_name, 200, "workspace_name", &mut errors);
    let channel_identifiers = optional_text(
        &form.channel_identifiers,
        1_000,
        "channel_identifiers",
        &mut errors,
    );
    let details = optional_text(&form.details, 5_000, "details", &mut errors);
    let jurisdiction = match form.jurisdiction.trim() {
        "" => Some(Jurisdiction::infer(accept_language)),
        code => {
            let parsed = Jurisdiction::parse(code);
            if parsed.is_none() {
                errors.0.push((
                    "jurisdiction",
                    "Please choose where you live from the list.".into(),
                ));
            }
            parsed
        }
    };
    match (kind, email, jurisdiction) {
        (Some(kind), Some(email), Some(jurisdiction)) if errors.is_empty() => Ok(ValidRequest {
            kind,
            email: Some(email),
            workspace_name,
            channel_identifiers,
            details,
            jurisdiction,
        }),
        _ => Err(errors),
    }
}
