//! YouTube: the person's channel, a video uploaded with the resumable upload protocol
//! (YouTube has no text-only posts; the draft's title is the video's title), the
//! channel's recent uploads, daily channel reports from YouTube Analytics, and a
//! video's statistics.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use super::{count, missing, text, Call, PostRequest, Posted, Profile, ProviderError, RecentPost};
use crate::domain::channels::analytics::Metric;

pub(super) async fn profile(call: &Call<'_>) -> Result<Profile, ProviderError> {
    let me = call
        .json(call.get("/youtube/v3/channels?part=snippet&mine=true"))
        .await?;
    let channel = &me["items"][0];
    Ok(Profile {
        id: text(&channel["id"]),
        handle: text(&channel["snippet"]["customUrl"]),
        name: text(&channel["snippet"]["title"]),
        acting_token: None,
    })
}

pub(super) async fn publish(
    call: &Call<'_>,
    post: &PostRequest<'_>,
) -> Result<Posted, ProviderError> {
    let video = post.video().ok_or_else(|| {
        ProviderError::Rejected("YouTube needs a video attached to the draft".into())
    })?;
    let bytes = video
        .bytes
        .clone()
        .ok_or_else(|| ProviderError::Rejected("YouTube needs the video's bytes".into()))?;
    let session = call
        .send(
            call.post("/upload/youtube/v3/videos?uploadType=resumable&part=snippet,status")
                .header("X-Upload-Content-Type", &video.content_type)
                .header("X-Upload-Content-Length", bytes.len())
                .json(&json!({
                    "snippet": { "title": post.title.unwrap_or_default(), "description": post.text },
                    "status": { "privacyStatus": "public" }
                })),
        )
        .await?;
    let upload_url = session
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| missing("upload session"))?;
    let uploaded = call
        .json(
            call.http
                .put(upload_url)
                .bearer_auth(secrecy::ExposeSecret::expose_secret(call.token))
                .header("content-type", &video.content_type)
                .body(bytes),
        )
        .await?;
    let id = text(&uploaded["id"]).ok_or_else(|| missing("video id"))?;
    Ok(Posted {
        url: Some(format!("https://www.youtube.com/watch?v={id}")),
        id,
    })
}

pub(super) async fn recent_posts(call: &Call<'_>) -> Result<Vec<RecentPost>, ProviderError> {
    let found = call
        .json(call.get(
            "/youtube/v3/search?part=snippet&forMine=true&type=video&order=date&maxResults=25",
        ))
        .await?;
    Ok(found["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| {
            let id = text(&item["id"]["videoId"])?;
            Some(RecentPost {
                text: text(&item["snippet"]["title"]).unwrap_or_default(),
                created_at: item["snippet"]["publishedAt"]
                    .as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc)),
                posted: Posted {
                    url: Some(format!("https://www.youtube.com/watch?v={id}")),
                    id,
                },
            })
        })
        .collect())
}

pub(super) async fn account_metrics(
    call: &Call<'_>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(NaiveDate, Metric, i64)>, ProviderError> {
    const COLUMNS: [Metric; 4] = [
        Metric::Views,
        Metric::Likes,
        Metric::Comments,
        Metric::Shares,
    ];
    let report = call
        .json(
            call.http
                .get(format!(
                    "{}/v2/reports?ids=channel%3D%3DMINE&startDate={from}&endDate={to}&metrics=views,likes,comments,shares&dimensions=day&sort=day",
                    call.analytics
                ))
                .bearer_auth(secrecy::ExposeSecret::expose_secret(call.token)),
        )
        .await?;
    let mut points = Vec::new();
    for row in report["rows"].as_array().into_iter().flatten() {
        let Some(day) = row[0]
            .as_str()
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        else {
            continue;
        };
        for (i, metric) in COLUMNS.into_iter().enumerate() {
            if let Some(value) = count(&row[i + 1]) {
                points.push((day, metric, value));
            }
        }
    }
    Ok(points)
}

pub(super) async fn post_metrics(
    call: &Call<'_>,
    video_id: &str,
) -> Result<Vec<(Metric, i64)>, ProviderError> {
    let found = call
        .json(call.get(&format!("/youtube/v3/videos?part=statistics&id={video_id}")))
        .await?;
    let stats = &found["items"][0]["statistics"];
    Ok([
        ("viewCount", Metric::Views),
        ("likeCount", Metric::Likes),
        ("commentCount", Metric::Comments),
    ]
    .into_iter()
    .filter_map(|(field, metric)| Some((metric, count(&stats[field])?)))
    .collect())
}

/// YouTube channels, through the Data API.
pub(super) struct YouTube;

#[async_trait::async_trait]
impl super::PlatformApi for YouTube {
    async fn connectable(
        &self,
        call: &Call<'_>,
        scopes: Vec<String>,
    ) -> Result<super::Connectable, ProviderError> {
        super::one_account(profile(call).await?, scopes)
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
        _account_id: &str,
    ) -> Result<Vec<RecentPost>, ProviderError> {
        recent_posts(call).await
    }

    async fn account_metrics(
        &self,
        call: &Call<'_>,
        _account_id: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, Metric, i64)>, ProviderError> {
        account_metrics(call, from, to).await
    }

    async fn post_metrics(
        &self,
        call: &Call<'_>,
        post_id: &str,
    ) -> Result<Vec<(Metric, i64)>, ProviderError> {
        post_metrics(call, post_id).await
    }
}
