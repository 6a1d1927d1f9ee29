//! Where a draft goes: one target per channel, each with its own text, checked against
//! the limits of its platform. Until a channel is connected a target names a provider;
//! once it is, it may also name the integration that will publish it.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionSession, TransactionTrait,
};
use uuid::Uuid;

use super::find_in_workspace;
use crate::db::reads::Reads;
use crate::domain::entities::{draft_targets, integrations, media};
use crate::domain::now;
use crate::domain::platforms::{PlatformLimits, Provider};
use crate::domain::workspace::workspaces::{Role, WorkspaceAccess};
use crate::error::{DomainError, DomainResult};

/// The hashtags in a text, in order (`#` followed by letters, digits or `_`).
pub fn hashtags(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let bytes: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < bytes.len() {
        let (start, c) = bytes[i];
        let starts_word = i == 0 || !is_tag_char(bytes[i - 1].1);
        if c == '#' && starts_word {
            let mut j = i + 1;
            while j < bytes.len() && is_tag_char(bytes[j].1) {
                j += 1;
            }
            if j > i + 1 {
                let end = bytes.get(j).map_or(text.len(), |(at, _)| *at);
                found.push(&text[start..end]);
            }
            i = j;
        } else {
            i += 1;
        }
    }
    found
}

pub(crate) fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Checks one target's text against its platform; the error names the target and the
/// limit it breaks.
pub fn check_limits(provider: Provider, title: Option<&str>, body: &str) -> DomainResult<()> {
    let limits = PlatformLimits::of(provider);
    let name = provider.name();
    let length = body.chars().count();
    if length > limits.body_max {
        return Err(DomainError::bad_input(format!(
            "the {} target's {} is {length} characters; {name} allows at most {}",
            provider.as_str(),
            limits.body_name,
            limits.body_max
        )));
    }
    if let Some(max) = limits.hashtags_max {
        let count = hashtags(body).len();
        if count > max {
            return Err(DomainError::bad_input(format!(
                "the {} target's {} has {count} hashtags; {name} allows at most {max}",
                provider.as_str(),
                limits.body_name
            )));
        }
    }
    match (
        limits.title_max,
        title.map(str::trim).filter(|t| !t.is_empty()),
    ) {
        (Some(_), None) => Err(DomainError::bad_input(format!(
            "the {} target needs a title",
            provider.as_str()
        ))),
        (Some(max), Some(title)) if title.chars().count() > max => {
            Err(DomainError::bad_input(format!(
                "the {} target's title is {} characters; {name} allows at most {max}",
                provider.as_str(),
                title.chars().count()
            )))
        }
        (None, Some(_)) => Err(DomainError::bad_input(format!(
            "{name} posts have no title; leave the {} target's title out",
            provider.as_str()
        ))),
        _ => Ok(()),
    }
}

fn check_text(body: &str) -> DomainResult<()> {
    if body.trim().is_empty() {
        return Err(DomainError::bad_input("a target's text must not be empty"));
    }
    if body
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(DomainError::bad_input(
            "a target's text must not contain control characters",
        ));
    }
    Ok(())
}

/// One channel's text as a client or generator gives it.
#[derive(Clone, Debug)]
pub struct TargetText {
    pub provider: Provider,
    pub integration_id: Option<Uuid>,
    pub title: Option<String>,
    pub body: String,
}

/// Where a target's text came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Manual,
    Generated,
    Api,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "MANUAL",
            Self::Generated => "GENERATED",
            Self::Api => "API",
        }
    }
}

/// Sets a draft's text for one channel (creating the target or replacing its text).
/// Only while the draft can be edited; EDITOR and up.
pub async fn set_target(
    conn: &(impl ConnectionTrait + TransactionTrait),
    access: &WorkspaceAccess,
    draft_id: Uuid,
    text: TargetText,
    origin: Origin,
) -> DomainResult<draft_targets::Model> {
    access.require(Role::Editor)?;
    let txn = conn.begin().await?;
    let draft = find_in_workspace(&txn, access, draft_id).await?;
    super::require_editable(&draft, "its channels")?;
    let target = upsert(&txn, access, draft_id, text, origin).await?;
    txn.commit().await?;
    Ok(target)
}

/// Writes one target inside the caller's transaction (the draft is already checked).
pub(crate) async fn upsert(
    conn: &impl ConnectionTrait,
    access: &WorkspaceAccess,
    draft_id: Uuid,
    text: TargetText,
    origin: Origin,
) -> DomainResult<draft_targets::Model> {
    check_text(&text.body)?;
    let title = text
        .title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| crate::domain::clean_text("title", t, 500))
        .transpose()?;
    check_limits(text.provider, title.as_deref(), &text.body)?;
    if let Some(integration_id) = text.integration_id {
        let integration = integrations::Entity::find_by_id(integration_id)
            .filter(integrations::Column::WorkspaceId.eq(access.workspace_id()))
            .one(conn)
            .await?
            .ok_or(DomainError::NotFound("integration"))?;
        if integration.provider != text.provider.as_str() {
            return Err(DomainError::bad_input(format!(
                "that channel is a {} account, not {}",
                integration.provider,
                text.provider.as_str()
            )));
        }
    }
    let mut existing = draft_targets::Entity::find()
        .filter(draft_targets::Column::DraftId.eq(draft_id))
        .filter(draft_targets::Column::Provider.eq(text.provider.as_str()));
    existing = match text.integration_id {
        Some(id) => existing.filter(draft_targets::Column::IntegrationId.eq(id)),
        None => existing.filter(draft_targets::Column::IntegrationId.is_null()),
    };
    let at = now();
    match existing.one(conn).await? {
        Some(row) => {
            let mut row: draft_targets::ActiveModel = row.into();
            row.title = Set(title);
            row.body = Set(text.body);
            row.origin = Set(origin.as_str().into());
            row.updated_at = Set(at);
            Ok(row.update(conn).await?)
        }
        None => Ok(draft_targets::ActiveModel {
            id: Set(Uuid::now_v7()),
            draft_id: Set(draft_id),
            provider: Set(text.provider.as_str().into()),
            integration_id: Set(text.integration_id),
            title: Set(title),
            body: Set(text.body),
            origin: Set(origin.as_str().into()),
            status: Set("PENDING".into()),
            provider_post_id: Set(None),
            url: Set(None),
            published_at: Set(None),
            created_at: Set(at),
            updated_at: Set(at),
        }
        .insert(conn)
        .await?),
    }
}

/// Removes a channel from a draft that can still be edited.
pub async fn remove_target(
    conn: &(impl ConnectionTrait + TransactionTrait),
    access: &WorkspaceAccess,
    target_id: Uuid,
) -> DomainResult<()> {
    access.require(Role::Editor)?;
    let txn = conn.begin().await?;
    let target = draft_targets::Entity::find_by_id(target_id)
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("target"))?;
    let draft = find_in_workspace(&txn, access, target.draft_id)
        .await
        .map_err(|_| DomainError::NotFound("target"))?;
    super::require_editable(&draft, "its channels")?;
    draft_targets::Entity::delete_by_id(target_id)
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// The draft a target belongs to.
pub async fn draft_of_target(
    conn: &impl ConnectionTrait,
    target_id: Uuid,
) -> DomainResult<Option<Uuid>> {
    Ok(draft_targets::Entity::find_by_id(target_id)
        .one(conn)
        .await?
        .map(|t| t.draft_id))
}

/// The targets of many drafts at once, in the order they were added.
pub async fn for_drafts(
    conn: &impl Reads,
    draft_ids: &[Uuid],
) -> DomainResult<Vec<draft_targets::Model>> {
    parts_for_drafts(conn, draft_ids, crate::db::reads::Omitted::NONE).await
}

/// `for_drafts` without the `omitted` columns (each row holds their stand-ins), for
/// pages that show only some of each target — where each draft goes, how it went.
pub async fn parts_for_drafts(
    conn: &impl Reads,
    draft_ids: &[Uuid],
    omitted: crate::db::reads::Omitted,
) -> DomainResult<Vec<draft_targets::Model>> {
    // Callers group the rows by draft.
    let omitted = omitted.reading::<draft_targets::Entity>(&[
        draft_targets::Column::Id,
        draft_targets::Column::DraftId,
    ]);
    let query =
        crate::db::reads::select_omitting(draft_targets::Entity::find(), conn.backend(), omitted)
            .filter(draft_targets::Column::DraftId.is_in(draft_ids.iter().copied()))
            .order_by_asc(draft_targets::Column::DraftId)
            .order_by_asc(draft_targets::Column::Id);
    Ok(conn
        .all_omitting(sea_orm::QueryTrait::build(&query, conn.backend()), omitted)
        .await?)
}

/// The most items an Instagram carousel takes.
pub const CAROUSEL_MAX: usize = 10;

/// Which of a draft's attached files (in the draft's order) a platform posts, or why it
/// cannot post them together:
///
/// - TikTok and YouTube post one video; images are not sent to them;
/// - Instagram posts one image or video, or 2–10 of them (mixed) as one carousel;
/// - Facebook and LinkedIn post one video, or the images — several of them as one
///   multi-photo (Facebook) or multi-image (LinkedIn) post — but not a video with
///   other files.
///
/// Nothing fitting is an empty list: a text post where the platform has them, a refusal
/// (by the platform's client) where it does not.
pub fn media_plan(
    provider: Provider,
    attached: &[media::Model],
) -> Result<Vec<&media::Model>, String> {
    let is_video = |m: &&media::Model| m.content_type.starts_with("video/");
    let videos: Vec<&media::Model> = attached.iter().filter(is_video).collect();
    let images: Vec<&media::Model> = attached.iter().filter(|m| !is_video(m)).collect();
    let name = provider.name();
    let counted = || {
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        format!(
            "this draft has {} and {}",
            plural(videos.len(), "video"),
            plural(images.len(), "image")
        )
    };
    match provider {
        Provider::Tiktok | Provider::Youtube => match videos.len() {
            0 | 1 => Ok(videos),
            _ => Err(format!("{name} posts one video; {}", counted())),
        },
        Provider::Instagram => {
            if attached.len() > CAROUSEL_MAX {
                Err(format!(
                    "an Instagram carousel takes at most {CAROUSEL_MAX} images and videos; {}",
                    counted()
                ))
            } else {
                Ok(attached.iter().collect())
            }
        }
        Provider::Facebook | Provider::Linkedin => match (videos.len(), images.len()) {
            (0, _) => Ok(images),
            (1, 0) => Ok(videos),
            _ => Err(format!(
                "{name} posts one video, or images, not both in one post; {}",
                counted()
            )),
        },
    }
}

/// Before scheduling: at least one channel, and every target within its platform's
/// limits, with attached files its platform can post together.
pub(crate) async fn check_ready(conn: &impl ConnectionTrait, draft_id: Uuid) -> DomainResult<()> {
    let targets = for_drafts(conn, &[draft_id]).await?;
    if targets.is_empty() {
        return Err(DomainError::bad_input(
            "add at least one channel (target) before scheduling",
        ));
    }
    let attached: Vec<media::Model> = crate::domain::content::media::for_drafts(conn, &[draft_id])
        .await?
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    for target in &targets {
        let provider = Provider::parse(&target.provider).ok_or_else(|| {
            DomainError::internal(anyhow::anyhow!("unknown provider {:?}", target.provider))
        })?;
        check_limits(provider, target.title.as_deref(), &target.body)?;
        media_plan(provider, &attached).map_err(|why| {
            DomainError::bad_input(format!("the {} target: {why}", target.provider))
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashtags_are_found_at_word_starts() {
        assert_eq!(
            hashtags("#launch day! see #q4_plans, not a#b or # alone #Ünïcode"),
            vec!["#launch", "#q4_plans", "#Ünïcode"]
        );
    }

    fn file(content_type: &str) -> media::Model {
        media::Model {
            id: Uuid::now_v7(),
            workspace_id: Uuid::nil(),
            uploader_id: None,
            file_name: "f".into(),
            content_type: content_type.into(),
            size_bytes: 1,
            sha256: String::new(),
            storage_key: String::new(),
            created_at: now(),
        }
    }

    #[test]
    fn each_platform_posts_the_files_it_can_take_together() {
        let (image, video) = (file("image/png"), file("video/mp4"));
        let mixed = [image.clone(), video.clone(), image.clone()];
        fn kinds(provider: Provider, files: &[media::Model]) -> Result<Vec<&str>, String> {
            media_plan(provider, files)
                .map(|plan| plan.iter().map(|m| m.content_type.as_str()).collect())
        }
        assert_eq!(
            kinds(Provider::Instagram, &mixed),
            Ok(vec!["image/png", "video/mp4", "image/png"])
        );
        assert_eq!(kinds(Provider::Youtube, &mixed), Ok(vec!["video/mp4"]));
        assert_eq!(
            kinds(Provider::Tiktok, std::slice::from_ref(&image)),
            Ok(vec![])
        );
        assert!(kinds(Provider::Tiktok, &[video.clone(), video.clone()])
            .is_err_and(|e| e.contains("one video")));
        for provider in [Provider::Facebook, Provider::Linkedin] {
            assert_eq!(kinds(provider, &[]), Ok(vec![]));
            assert_eq!(
                kinds(provider, std::slice::from_ref(&video)),
                Ok(vec!["video/mp4"])
            );
            assert_eq!(
                kinds(provider, &[image.clone(), image.clone()]),
                Ok(vec!["image/png", "image/png"])
            );
            assert!(kinds(provider, &mixed).is_err_and(|e| e.contains("1 video and 2 images")));
        }
        let eleven = vec![image.clone(); CAROUSEL_MAX + 1];
        assert!(kinds(Provider::Instagram, &eleven).is_err_and(|e| e.contains("at most 10")));
        assert_eq!(
            kinds(Provider::Instagram, &eleven[..10]).map(|p| p.len()),
            Ok(10)
        );
    }

    #[test]
    fn limits_name_the_target_and_the_limit() {
        let long = "a".repeat(3_001);
        let err = check_limits(Provider::Linkedin, None, &long).map_err(|e| e.to_string());
        assert_eq!(
            err,
            Err(
                "the LINKEDIN target's post text is 3001 characters; LinkedIn allows at most 3000"
                    .into()
            )
        );
        assert!(check_limits(Provider::Facebook, None, &long).is_ok());
        let tags = (0..31)
            .map(|i| format!("#t{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        let err = check_limits(Provider::Instagram, None, &tags).map_err(|e| e.to_string());
        assert!(err.is_err_and(|e| e.contains("31 hashtags") && e.contains("30")));
        assert!(check_limits(Provider::Youtube, None, "desc").is_err());
        let title = "t".repeat(101);
        assert!(check_limits(Provider::Youtube, Some(&title), "desc")
            .is_err_and(|e| e.to_string().contains("at most 100")));
        assert!(check_limits(Provider::Youtube, Some("Title"), &"d".repeat(5_000)).is_ok());
        assert!(check_limits(Provider::Tiktok, None, &"d".repeat(2_201)).is_err());
    }
}
