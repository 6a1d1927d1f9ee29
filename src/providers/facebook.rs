//! Facebook Pages through the Graph API: the Page the person chose, posts to its
//! feed (a photo or video post when one file is attached, fetched by Facebook from its
//! signed link; several photos uploaded unpublished and attached to one feed post), the Page's recent feed, and Page and post insights. Instagram shares the
//! Graph API's shapes and uses the helpers here.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use super::{count, missing, text, Call, PostRequest, Posted, ProviderError, RecentPost};
use crate::domain::channels::analytics::Metric;

/// A fresh token for the Page `page_id`, from the person's token (Page tokens from a
/// long-lived user token do not expire, but are withdrawn when access is).
pub(super) async fn page_token(call: &Call<'_>, page_id: &str) -> Result<String, ProviderError> {
    let pages = call
        .json(call.get("/me/accounts?fields=id,access_token"))
        .await?;
    pages["data"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["id"] == page_id)
        .and_then(|p| text(&p["access_token"]))
        .ok_or_else(|| ProviderError::Auth("the Page is no longer managed by this account".into()))
}

pub(super) async fn publish(
    call: &Call<'_>,
    post: &PostRequest<'_>,
) -> Result<Posted, ProviderError> {
    let page = post.account_id;
    let answer = match post.media {
        [] => {
            call.json(
                call.post(&format!("/{page}/feed"))
                    .form(&[("message", post.text)]),
            )
            .await?
        }
        [video] if video.is_video() => {
            call.json(
                call.post(&format!("/{page}/videos"))
                    .form(&[("file_url", video.url.as_str()), ("description", post.text)]),
            )
            .await?
        }
        [photo] => {
            call.json(
                call.post(&format!("/{page}/photos"))
                    .form(&[("url", photo.url.as_str()), ("caption", post.text)]),
            )
            .await?
        }
        photos => {
            // A multi-photo post: each photo uploaded unpublished (fetched from its
            // link), then one feed post attaching them all.
            let mut form = vec![("message".to_string(), post.text.to_string())];
            for (i, photo) in photos.iter().enumerate() {
                let uploaded = call
                    .json(
                        call.post(&format!("/{page}/photos"))
                            .form(&[("url", photo.url.as_str()), ("published", "false")]),
                    )
                    .await?;
                let id = text(&uploaded["id"]).ok_or_else(|| missing("photo id"))?;
                form.push((
                    format!("attached_media[{i}]"),
                    serde_json::json!({ "media_fbid": id }).to_string(),
                ));
            }
            call.json(call.post(&format!("/{page}/feed")).form(&form))
                .await?
        }
    };
    let id = text(&answer["post_id"])
        .or_else(|| text(&answer["id"]))
        .ok_or_else(|| missing("post id"))?;
    Ok(Posted {
        url: Some(format!("https://www.facebook.com/{id}")),
        id,
    })
}

/// Graph API times look like `2026-11-20T08:00:00+0000`.
pub(super) fn graph_time(value: &Value) -> Option<DateTime<Utc>> {
    let raw = value.as_str()?;
    DateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%z")
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub(super) async fn recent_posts(
    call: &Call<'_>,
    page: &str,
) -> Result<Vec<RecentPost>, ProviderError> {
    let feed = call
        .json(call.get(&format!(
            "/{page}/feed?fields=id,message,created_time&limit=25"
        )))
        .await?;
    Ok(feed["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|post| {
            let id = text(&post["id"])?;
            Some(RecentPost {
                text: text(&post["message"]).unwrap_or_default(),
                created_at: graph_time(&post["created_time"]),
                posted: Posted {
                    url: Some(format!("https://www.facebook.com/{id}")),
                    id,
                },
            })
        })
        .collect())
}

/// Daily insights in the Graph API's shape: `{data: [{name, values: [{value,
/// end_time}]}]}`, where a day's value ends at the next day's start.
pub(super) fn daily_insights(
    answer: &Value,
    names: &[(&str, Metric)],
) -> Vec<(NaiveDate, Metric, i64)> {
    let mut points = Vec::new();
    for series in answer["data"].as_array().into_iter().flatten() {
        let Some(metric) = names
            .iter()
            .find(|(name, _)| series["name"] == *name)
            .map(|(_, m)| *m)
        else {
            continue;
        };
        for value in series["values"].as_array().into_iter().flatten() {
            let day = graph_time(&value["end_time"])
                .map(|end| end.date_naive())
                .and_then(|d| d.pred_opt());
            if let (Some(day), Some(v)) = (day, count(&value["value"])) {
                points.push((day, metric, v));
            }
        }
    }
    points
}

/// Lifetime insights of one object: the first value of each named series.
pub(super) fn lifetime_insights(answer: &Value, names: &[(&str, Metric)]) -> Vec<(Metric, i64)> {
    answer["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|series| {
            let metric = names
                .iter()
                .find(|(name, _)| series["name"] == *name)
                .map(|(_, m)| *m)?;
            Some((metric, count(&series["values"][0]["value"])?))
        })
        .collect()
}

const PAGE_METRICS: [(&str, Metric); 3] = [
    ("page_impressions", Metric::Impressions),
    ("page_impressions_unique", Metric::Reach),
    ("page_fans", Metric::Followers),
];

const POST_METRICS: [(&str, Metric); 4] = [
    ("post_impressions", Metric::Impressions),
    ("post_impressions_unique", Metric::Reach),
    ("post_clicks", Metric::Clicks),
    ("post_reactions_like_total", Metric::Likes),
];

fn names(list: &[(&str, Metric)]) -> String {
    list.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(",")
}

pub(super) async fn account_metrics(
    call: &Call<'_>,
    page: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(NaiveDate, Metric, i64)>, ProviderError> {
    let answer = call
        .json(call.get(&format!(
            "/{page}/insights?metric={}&period=day&since={from}&until={}",
            names(&PAGE_METRICS),
            to.succ_opt().unwrap_or(to)
        )))
        .await?;
    Ok(daily_insights(&answer, &PAGE_METRICS))
}

pub(super) async fn post_metrics(
    call: &Call<'_>,
    post_id: &str,
) -> Result<Vec<(Metric, i64)>, ProviderError> {
    let answer = call
        .json(call.get(&format!(
            "/{post_id}/insights?metric={}",
            names(&POST_METRICS)
        )))
        .await?;
    Ok(lifetime_insights(&answer, &POST_METRICS))
}

/// Facebook Pages, through the Graph API.
pub(super) struct Facebook;

#[async_trait::async_trait]
impl super::PlatformApi for Facebook {
    async fn connectable(
        &self,
        call: &Call<'_>,
        scopes: Vec<String>,
    ) -> Result<super::Connectable, ProviderError> {
        super::meta::connectable(call, crate::domain::platforms::Provider::Facebook, &scopes).await
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
