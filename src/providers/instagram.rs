//! Instagram professional accounts through the Graph API: the account (linked to one of
//! the person's Pages) they chose, publishing as a container (the platform fetches the image or
//! video from its signed link; several files make a carousel of item containers) then
//! `media_publish`, recent media, and insights.
//! Instagram has no text-only posts.

use chrono::NaiveDate;

use super::facebook::{daily_insights, graph_time, lifetime_insights};
use super::{missing, text, Call, PostMedia, PostRequest, Posted, ProviderError, RecentPost};
use crate::domain::channels::analytics::Metric;

pub(super) async fn publish(
    call: &Call<'_>,
    post: &PostRequest<'_>,
) -> Result<Posted, ProviderError> {
    let account = post.account_id;
    let creation_id = match post.media {
        [] => {
            return Err(ProviderError::Rejected(
                "Instagram needs an image or a video attached to the draft".into(),
            ))
        }
        [one] => container(call, account, one, Some(post.text)).await?,
        items => {
            // A carousel: a container for each item (marked as a carousel item, without
            // a caption), then the carousel's own container naming them as its children.
            let mut children = Vec::with_capacity(items.len());
            for item in items {
                children.push(container(call, account, item, None).await?);
            }
            let carousel = call
                .json(call.post(&format!("/{account}/media")).form(&[
                    ("media_type", "CAROUSEL"),
                    ("children", children.join(",").as_str()),
                    ("caption", post.text),
                ]))
                .await?;
            let id = text(&carousel["id"]).ok_or_else(|| missing("carousel container id"))?;
            wait_until_finished(call, &id).await?;
            id
        }
    };
    let published = call
        .json(
            call.post(&format!("/{account}/media_publish"))
                .form(&[("creation_id", creation_id.as_str())]),
        )
        .await?;
    let id = text(&published["id"]).ok_or_else(|| missing("media id"))?;
    Ok(Posted { id, url: None })
}

/// A media container for one file, fetched by Instagram from its link: a post of its own
/// when it has the caption (a video as a Reel), or a carousel item when it has none (a
/// video as `VIDEO`). Videos are processed before they can be published.
async fn container(
    call: &Call<'_>,
    account: &str,
    media: &PostMedia,
    caption: Option<&str>,
) -> Result<String, ProviderError> {
    let mut form: Vec<(&str, &str)> = Vec::with_capacity(3);
    if media.is_video() {
        form.push((
            "media_type",
            if caption.is_some() { "REELS" } else { "VIDEO" },
        ));
        form.push(("video_url", &media.url));
    } else {
        form.push(("image_url", &media.url));
    }
    match caption {
        Some(caption) => form.push(("caption", caption)),
        None => form.push(("is_carousel_item", "true")),
    }
    let answer = call
        .json(call.post(&format!("/{account}/media")).form(&form))
        .await?;
    let id = text(&answer["id"]).ok_or_else(|| missing("container id"))?;
    if media.is_video() {
        wait_until_finished(call, &id).await?;
    }
    Ok(id)
}

/// Polls a container's `status_code` until Instagram has processed it (about a minute
/// at most, then the publish is tried again later).
async fn wait_until_finished(call: &Call<'_>, container: &str) -> Result<(), ProviderError> {
    for _ in 0..30 {
        let status = call
            .json(call.get(&format!("/{container}?fields=status_code")))
            .await?;
        match status["status_code"].as_str() {
            Some("FINISHED") => return Ok(()),
            Some("ERROR") | Some("EXPIRED") => {
                return Err(ProviderError::Rejected(
                    "Instagram could not process the media".into(),
                ))
            }
            _ => tokio::time::sleep(std::time::Duration::from_secs(2)).await,
        }
    }
    Err(ProviderError::Transient(
        "Instagram is still processing the media".into(),
    ))
}

pub(super) async fn recent_posts(
    call: &Call<'_>,
    account: &str,
) -> Result<Vec<RecentPost>, ProviderError> {
    let listed = call
        .json(call.get(&format!(
            "/{account}/media?fields=id,caption,timestamp,permalink&limit=25"
        )))
        .await?;
    Ok(listed["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|media| {
            Some(RecentPost {
                text: text(&media["caption"]).unwrap_or_default(),
                created_at: graph_time(&media["timestamp"]),
                posted: Posted {
                    id: text(&media["id"])?,
                    url: text(&media["permalink"]),
                },
            })
        })
        .collect())
}

const ACCOUNT_METRICS: [(&str, Metric); 3] = [
    ("impressions", Metric::Impressions),
    ("reach", Metric::Reach),
    ("follower_count", Metric::Followers),
];

const MEDIA_METRICS: [(&str, Metric); 6] = [
    ("impressions", Metric::Impressions),
    ("reach", Metric::Reach),
    ("likes", Metric::Likes),
    ("comments", Metric::Comments),
    ("shares", Metric::Shares),
    ("saved", Metric::Saves),
];

fn names(list: &[(&str, Metric)]) -> String {
    list.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(",")
}

pub(super) async fn account_metrics(
    call: &Call<'_>,
    account: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(NaiveDate, Metric, i64)>, ProviderError> {
    let answer = call
        .json(call.get(&format!(
            "/{account}/insights?metric={}&period=day&since={from}&until={}",
            names(&ACCOUNT_METRICS),
            to.succ_opt().unwrap_or(to)
        )))
        .await?;
    Ok(daily_insights(&answer, &ACCOUNT_METRICS))
}

pub(super) async fn post_metrics(
    call: &Call<'_>,
    media_id: &str,
) -> Result<Vec<(Metric, i64)>, ProviderError> {
    let answer = call
        .json(call.get(&format!(
            "/{media_id}/insights?metric={}",
            names(&MEDIA_METRICS)
        )))
        .await?;
    Ok(lifetime_insights(&answer, &MEDIA_METRICS))
}

/// Instagram professional accounts, through the Graph API.
pub(super) struct Instagram;

#[async_trait::async_trait]
impl super::PlatformApi for Instagram {
    async fn connectable(
        &self,
        call: &Call<'_>,
        scopes: Vec<String>,
    ) -> Result<super::Connectable, ProviderError> {
        super::meta::connectable(call, crate::domain::platforms::Provider::Instagram, &scopes).await
    }

    async fn publish(
        &self,
        call: &Call<'_>,
        post: &PostRequest<'_>,
    ) -> Result<Posted, ProviderError> {
        publish(call, post).await
    }

    async fn recent_posts(
        &self,
        call: &Call<'_>,
        account_id: &str,
    ) -> Result<Vec<RecentPost>, ProviderError> {
        recent_posts(call, account_id).await
    }

    async fn account_metrics(
        &self,
        call: &Call<'_>,
        account_id: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, Metric, i64)>, ProviderError> {
        account_metrics(call, account_id, from, to).await
    }

    async fn post_metrics(
        &self,
        call: &Call<'_>,
        post_id: &str,
    ) -> Result<Vec<(Metric, i64)>, ProviderError> {
        post_metrics(call, post_id).await
    }
}
