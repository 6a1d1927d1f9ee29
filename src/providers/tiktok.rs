//! TikTok's Display and Content Posting APIs: the user's profile, a video posted by
//! TikTok pulling it from its signed link (TikTok has no text-only posts), the user's
//! recent videos, the follower count, and a video's counts.

use chrono::{NaiveDate, TimeZone, Utc};
use serde_json::json;

use super::{count, missing, text, Call, PostRequest, Posted, Profile, ProviderError, RecentPost};
use crate::domain::channels::analytics::Metric;
use crate::domain::channels::integrations::TokenSet;

/// TikTok's token endpoint (code exchange and renewal): a form with `client_key`; the
/// answer carries the tokens, or `error` (an OAuth refusal) with a 4xx or even a 200.
pub(super) async fn token_request(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> Result<(TokenSet, Vec<String>), ProviderError> {
    let response = http
        .post(url)
        .form(form)
        .send()
        .await
        .map_err(|e| ProviderError::Transient(e.without_url().to_string()))?;
    let status = response.status();
    if status.as_u16() == 429 || status.is_server_error() {
        return Err(ProviderError::Transient(format!("HTTP {status}")));
    }
    let answer: serde_json::Value = response
        .json()
        .await
        .map_err(|e| ProviderError::Transient(e.without_url().to_string()))?;
    if let Some(error) = answer["error"]
        .as_str()
        .filter(|e| !e.is_empty() && *e != "ok")
    {
        return Err(ProviderError::Auth(error.to_string()));
    }
    let access = text(&answer["access_token"]).ok_or_else(|| missing("access token"))?;
    let scopes = answer["scope"]
        .as_str()
        .map(|s| {
            s.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    Ok((
        TokenSet {
            access_token: secrecy::SecretString::from(access),
            refresh_token: text(&answer["refresh_token"]).map(secrecy::SecretString::from),
            expires_at: answer["expires_in"]
                .as_i64()
                .map(|s| crate::domain::now() + chrono::Duration::seconds(s)),
        },
        scopes,
    ))
}

/// TikTok answers 200 with an `error.code` other than "ok" for refusals.
fn check(answer: &serde_json::Value) -> Result<(), ProviderError> {
    match answer["error"]["code"].as_str() {
        None | Some("ok") => Ok(()),
        Some("access_token_invalid") => Err(ProviderError::Auth("access_token_invalid".into())),
        Some("rate_limit_exceeded") | Some("internal_error") => Err(ProviderError::Transient(
            answer["error"]["code"].to_string(),
        )),
        Some(code) => Err(ProviderError::Rejected(format!(
            "{code}: {}",
            answer["error"]["message"].as_str().unwrap_or_default()
        ))),
    }
}

pub(super) async fn profile(call: &Call<'_>) -> Result<Profile, ProviderError> {
    let me = call
        .json(call.get("/v2/user/info/?fields=open_id,display_name,username"))
        .await?;
    check(&me)?;
    let user = &me["data"]["user"];
    Ok(Profile {
        id: text(&user["open_id"]),
        handle: text(&user["username"]),
        name: text(&user["display_name"]),
        acting_token: None,
    })
}

pub(super) async fn publish(
    call: &Call<'_>,
    post: &PostRequest<'_>,
) -> Result<Posted, ProviderError> {
    let video = post.video().ok_or_else(|| {
        ProviderError::Rejected("TikTok needs a video attached to the draft".into())
    })?;
    let answer = call
        .json(call.post("/v2/post/publish/video/init/").json(&json!({
            "post_info": { "title": post.text, "privacy_level": "PUBLIC_TO_EVERYONE" },
            "source_info": { "source": "PULL_FROM_URL", "video_url": video.url },
        })))
        .await?;
    check(&answer)?;
    let publish_id = text(&answer["data"]["publish_id"]).ok_or_else(|| missing("publish id"))?;
    // TikTok processes the video after taking it; its public id (which the metrics API
    // needs) comes from the status endpoint once it is done.
    for _ in 0..15 {
        let status = call
            .json(
                call.post("/v2/post/publish/status/fetch/")
                    .json(&json!({ "publish_id": publish_id })),
            )
            .await?;
        check(&status)?;
        match status["data"]["status"].as_str() {
            Some("PUBLISH_COMPLETE") => {
                if let Some(id) = text(&status["data"]["publicaly_available_post_id"][0]) {
                    return Ok(Posted { id, url: None });
                }
                break;
            }
            Some("FAILED") => {
                return Err(ProviderError::Rejected(format!(
                    "TikTok could not publish the video: {}",
                    status["data"]["fail_reason"]
                        .as_str()
                        .unwrap_or("no reason given")
                )))
            }
            _ => tokio::time::sleep(std::time::Duration::from_secs(2)).await,
        }
    }
    // Taken but not public yet (or private): keep the publish id.
    Ok(Posted {
        id: publish_id,
        url: None,
    })
}

pub(super) async fn recent_posts(call: &Call<'_>) -> Result<Vec<RecentPost>, ProviderError> {
    let answer = call
        .json(
            call.post("/v2/video/list/?fields=id,title,create_time,share_url")
                .json(&json!({ "max_count": 20 })),
        )
        .await?;
    check(&answer)?;
    Ok(answer["data"]["videos"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|video| {
            Some(RecentPost {
                text: text(&video["title"]).unwrap_or_default(),
                created_at: video["create_time"]
                    .as_i64()
                    .and_then(|s| Utc.timestamp_opt(s, 0).single()),
                posted: Posted {
                    id: text(&video["id"])?,
                    url: text(&video["share_url"]),
                },
            })
        })
        .collect())
}

/// TikTok reports levels, not daily counts, for an account: the followers of today.
pub(super) async fn account_metrics(
    call: &Call<'_>,
    today: NaiveDate,
) -> Result<Vec<(NaiveDate, Metric, i64)>, ProviderError> {
    let me = call
        .json(call.get("/v2/user/info/?fields=follower_count"))
        .await?;
    check(&me)?;
    Ok(count(&me["data"]["user"]["follower_count"])
        .map(|v| vec![(today, Metric::Followers, v)])
        .unwrap_or_default())
}

pub(super) async fn post_metrics(
    call: &Call<'_>,
    video_id: &str,
) -> Result<Vec<(Metric, i64)>, ProviderError> {
    let answer = call
        .json(
            call.post("/v2/video/query/?fields=id,view_count,like_count,comment_count,share_count")
                .json(&json!({ "filters": { "video_ids": [video_id] } })),
        )
        .await?;
    check(&answer)?;
    let video = &answer["data"]["videos"][0];
    Ok([
        ("view_count", Metric::Views),
        ("like_count", Metric::Likes),
        ("comment_count", Metric::Comments),
        ("share_count", Metric::Shares),
    ]
    .into_iter()
    .filter_map(|(field, metric)| Some((metric, count(&video[field])?)))
    .collect())
}

/// TikTok accounts, through the Content Posting API.
pub(super) struct TikTok;

#[async_trait::async_trait]
impl super::PlatformApi for TikTok {
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
        _from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, Metric, i64)>, ProviderError> {
        account_metrics(call, to).await
    }

    async fn post_metrics(
        &self,
        call: &Call<'_>,
        post_id: &str,
    ) -> Result<Vec<(Metric, i64)>, ProviderError> {
        post_metrics(call, post_id).await
    }
}
