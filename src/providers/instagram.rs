//! Instagram professional accounts through the Graph API: the account (linked to one of
//! the person's Pages) they chose, publishing as a container (the platform fetches the image or
//! video from its signed link) then `media_publish`, recent media, and insights.
//! Instagram has no text-only posts.

use chrono::NaiveDate;

use super::facebook::{daily_insights, graph_time, lifetime_insights};
use super::{missing, text, Call, PostRequest, Posted, ProviderError, RecentPost};
use crate::domain::analytics::Metric;

pub(super) async fn publish(
    call: &Call<'_>,
    post: &PostRequest<'_>,
) -> Result<Posted, ProviderError> {
    let account = post.account_id;
    let media = post.media.ok_or_else(|| {
        ProviderError::Rejected("Instagram needs an image or a video attached to the draft".into())
    })?;
    let container = if media.is_video() {
        call.json(call.post(&format!("/{account}/media")).form(&[
            ("media_type", "REELS"),
            ("video_url", media.url.as_str()),
            ("caption", post.text),
        ]))
        .await?
    } else {
        call.json(
            call.post(&format!("/{account}/media"))
                .form(&[("image_url", media.url.as_str()), ("caption", post.text)]),
        )
        .await?
    };
    let creation_id = text(&container["id"]).ok_or_else(|| missing("container id"))?;
    if media.is_video() {
        // Videos are processed before they can be published.
        let mut ready = false;
        for _ in 0..30 {
            let status = call
                .json(call.get(&format!("/{creation_id}?fields=status_code")))
                .await?;
            match status["status_code"].as_str() {
                Some("FINISHED") => {
                    ready = true;
                    break;
                }
                Some("ERROR") | Some("EXPIRED") => {
                    return Err(ProviderError::Rejected(
                        "Instagram could not process the video".into(),
                    ))
                }
                _ => tokio::time::sleep(std::time::Duration::from_secs(2)).await,
            }
        }
        if !ready {
            return Err(ProviderError::Transient(
                "Instagram is still processing the video".into(),
            ));
        }
    }
    let published = call
        .json(
            call.post(&format!("/{account}/media_publish"))
                .form(&[("creation_id", creation_id.as_str())]),
        )
        .await?;
    let id = text(&published["id"]).ok_or_else(|| missing("media id"))?;
    Ok(Posted { id, url: None })
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
