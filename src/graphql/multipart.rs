//! GraphQL multipart requests (uploads), read with every part under a limit: the
//! `operations` and `map` parts under the same body limit as a JSON request, each file
//! under the media limit, and no file read that the map does not name.
//!
//! async-graphql's own reader lets `operations` grow to the file limit and spools every
//! file it meets before looking at the map; this one refuses as soon as a part goes
//! wrong, having read no more than that part.

use std::collections::HashMap;

use async_graphql::{BatchRequest, UploadValue};
use axum::body::Body;
use futures::TryStreamExt;
use multer::{Constraints, Multipart, SizeLimit};
use tokio::io::AsyncWriteExt;

/// How large a multipart request's parts may be.
#[derive(Clone, Copy, Debug)]
pub struct MultipartLimits {
    /// The `operations` and `map` parts, each (the JSON body limit).
    pub text_bytes: u64,
    /// Each file.
    pub file_bytes: u64,
    /// Files in one request.
    pub files: usize,
}

/// Why a multipart request was refused.
#[derive(Debug, thiserror::Error)]
pub enum MultipartRefusal {
    #[error("the `{part}` part is larger than {limit} bytes")]
    PartTooLarge { part: String, limit: u64 },
    #[error("the request is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the multipart request is not valid: {0}")]
    Invalid(String),
}

impl MultipartRefusal {
    /// Whether the refusal is about size (413) rather than shape (400).
    pub fn is_size(&self) -> bool {
        matches!(self, Self::PartTooLarge { .. } | Self::TooLarge { .. })
    }
}

fn invalid(why: impl std::fmt::Display) -> MultipartRefusal {
    MultipartRefusal::Invalid(why.to_string())
}

fn refusal(error: multer::Error) -> MultipartRefusal {
    match error {
        multer::Error::FieldSizeExceeded { limit, field_name } => MultipartRefusal::PartTooLarge {
            part: field_name.unwrap_or_else(|| "unnamed".into()),
            limit,
        },
        multer::Error::StreamSizeExceeded { limit } => MultipartRefusal::TooLarge { limit },
        other => invalid(other),
    }
}

/// Reads a multipart request as the GraphQL multipart request spec lays it out:
/// `operations`, then `map`, then the files the map names.
pub async fn receive(
    content_type: &str,
    body: Body,
    limits: MultipartLimits,
) -> Result<BatchRequest, MultipartRefusal> {
    let boundary = multer::parse_boundary(content_type).map_err(invalid)?;
    let files = u64::try_from(limits.files).unwrap_or(u64::MAX);
    let whole = limits
        .file_bytes
        .saturating_mul(files)
        .saturating_add(limits.text_bytes.saturating_mul(2));
    let constraints = Constraints::new().size_limit(
        SizeLimit::new()
            .whole_stream(whole)
            .per_field(limits.file_bytes)
            .for_field("operations", limits.text_bytes)
            .for_field("map", limits.text_bytes),
    );
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let mut multipart = Multipart::with_constraints(stream, boundary, constraints);

    let mut request: Option<BatchRequest> = None;
    let mut map: Option<HashMap<String, Vec<String>>> = None;
    let mut received = 0usize;
    while let Some(mut field) = multipart.next_field().await.map_err(refusal)? {
        let name = field.name().map(str::to_string);
        match name.as_deref() {
            Some("operations") if request.is_none() => {
                let bytes = field.bytes().await.map_err(refusal)?;
                request = Some(serde_json::from_slice(&bytes).map_err(|e| {
                    invalid(format!(
                        "`operations` is not a GraphQL request in JSON: {e}"
                    ))
                })?);
            }
            Some("map") if request.is_some() && map.is_none() => {
                let bytes = field.bytes().await.map_err(refusal)?;
                map = Some(serde_json::from_slice(&bytes).map_err(|e| {
                    invalid(format!(
                        "`map` is not a JSON object of file names to paths: {e}"
                    ))
                })?);
            }
            Some("operations") | Some("map") => {
                return Err(invalid(
                    "`operations` comes first, then `map`, each once, then the files",
                ))
            }
            Some(file) => {
                let Some(paths) = map.as_mut().and_then(|m| m.remove(file)) else {
                    return Err(invalid(format!(
                        "the file `{file}` comes before `map` or is not named in it"
                    )));
                };
                received += 1;
                if received > limits.files {
                    return Err(invalid(format!(
                        "a request carries at most {} files",
                        limits.files
                    )));
                }
                let upload = UploadValue {
                    filename: field.file_name().unwrap_or_default().to_string(),
                    content_type: field.content_type().map(ToString::to_string),
                    content: spool(&mut field).await?,
                };
                let request = request.as_mut().ok_or_else(|| invalid("no `operations`"))?;
                attach(request, &paths, upload)?;
            }
            None => return Err(invalid("a part has no name")),
        }
    }
    let request = request.ok_or_else(|| invalid("the `operations` part is missing"))?;
    match map {
        None => Err(invalid("the `map` part is missing")),
        Some(rest) if !rest.is_empty() => Err(invalid(format!(
            "files named in `map` are missing: {}",
            rest.keys().cloned().collect::<Vec<_>>().join(", ")
        ))),
        Some(_) => Ok(request),
    }
}

/// Writes a file part to an anonymous temporary file (gone when dropped).
async fn spool(field: &mut multer::Field<'_>) -> Result<std::fs::File, MultipartRefusal> {
    let file = tempfile::tempfile().map_err(|e| invalid(format!("cannot store the file: {e}")))?;
    let mut file = tokio::fs::File::from_std(file);
    while let Some(chunk) = field.chunk().await.map_err(refusal)? {
        file.write_all(&chunk)
            .await
            .map_err(|e| invalid(format!("cannot store the file: {e}")))?;
    }
    file.flush()
        .await
        .map_err(|e| invalid(format!("cannot store the file: {e}")))?;
    let mut file = file.into_std().await;
    std::io::Seek::rewind(&mut file).map_err(|e| invalid(format!("cannot store the file: {e}")))?;
    Ok(file)
}

/// Puts an upload at each of its paths (`variables.file`, or `0.variables.file` in a
/// batch).
fn attach(
    request: &mut BatchRequest,
    paths: &[String],
    upload: UploadValue,
) -> Result<(), MultipartRefusal> {
    for path in paths {
        let copy = upload
            .try_clone()
            .map_err(|e| invalid(format!("cannot store the file: {e}")))?;
        match request {
            BatchRequest::Single(one) => one.set_upload(path, copy),
            BatchRequest::Batch(many) => {
                let (index, rest) = path
                    .split_once('.')
                    .and_then(|(i, rest)| Some((i.parse::<usize>().ok()?, rest)))
                    .ok_or_else(|| invalid(format!("`{path}` names no operation of the batch")))?;
                many.get_mut(index)
                    .ok_or_else(|| invalid(format!("`{path}` names no operation of the batch")))?
                    .set_upload(rest, copy);
            }
        }
    }
    Ok(())
}
