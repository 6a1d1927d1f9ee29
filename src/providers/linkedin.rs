//! LinkedIn: the member's OpenID profile, posts through the versioned REST API (an image,
//! several as one multi-image post, or a video, uploaded first), the member's recent posts, daily impressions from the creator post
//! analytics, followers, and a post's likes and comments.

use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use serde_json::{json, Value};

use super::{
    count, missing, text, Call, PostMedia, PostRequest, Posted, Profile, ProviderError, RecentPost,
};
use crate::domain::channels::analytics::Metric;

const VERSION: &str = "202405";

fn versioned(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    request
        .header("LinkedIn-Version", VERSION)
        .header("X-Restli-Protocol-Version", "2.0.0")
}

fn author(account_id: &str) -> String {
    format!("urn:li:person:{account_id}")
}

/// Percent-encodes a URN for a path or query (`:` and everything but unreserved
/// characters).
fn encode(value: &str) -> String {
    crate::http::percent_encode(value)
}

pub(super) async fn profile(call: &Call<'_>) -> Result<Profile, ProviderError> {
    let me = call.json(call.get("/v2/userinfo")).await?;
    Ok(Profile {
        id: text(&me["sub"]),
        handle: None,
        name: text(&me["name"]),
        acting_token: None,
    })
}

pub(super) async fn publish(
    call: &Call<'_>,
    post: &PostRequest<'_>,
) -> Result<Posted, ProviderError> {
    let owner = author(post.account_id);
    let mut body = json!({
        "author": owner,
        "commentary": post.text,
        "visibility": "PUBLIC",
        "distribution": {
            "feedDistribution": "MAIN_FEED",
            "targetEntities": [],
            "thirdPartyDistributionChannels": []
        },
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": false
    });
    match post.media {
        [] => {}
        [video] if video.is_video() => {
            let id = upload_video(call, &owner, video).await?;
            body["content"] =
                json!({ "media": { "id": id, "title": post.title.unwrap_or_default() } });
        }
        [image] => {
            let id = upload_image(call, &owner, image).await?;
            body["content"] = json!({ "media": { "id": id } });
        }
        images => {
            let mut uploaded = Vec::with_capacity(images.len());
            for image in images {
                uploaded.push(json!({ "id": upload_image(call, &owner, image).await? }));
            }
            body["content"] = json!({ "multiImage": { "images": uploaded } });
        }
    }
    let response = call
        .send(versioned(call.post("/rest/posts").json(&body)))
        .await?;
    let id = response
        .headers()
        .get("x-restli-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| missing("post id (x-restli-id)"))?;
    Ok(Posted {
        url: Some(format!("https://www.linkedin.com/feed/update/{id}")),
        id,
    })
}

fn bytes_of(media: &PostMedia) -> Result<bytes::Bytes, ProviderError> {
    media
        .bytes
        .clone()
        .ok_or_else(|| ProviderError::Rejected("LinkedIn needs the file's bytes".into()))
}

/// Uploads an image (Images API: `initializeUpload`, then a PUT of the bytes); its URN.
async fn upload_image(
    call: &Call<'_>,
    owner: &str,
    media: &PostMedia,
) -> Result<String, ProviderError> {
    let bytes = bytes_of(media)?;
    let upload = call
        .json(versioned(
            call.post("/rest/images?action=initializeUpload")
                .json(&json!({ "initializeUploadRequest": { "owner": owner } })),
        ))
        .await?;
    let upload_url = upload["value"]["uploadUrl"]
        .as_str()
        .ok_or_else(|| missing("upload URL"))?;
    let image = text(&upload["value"]["image"]).ok_or_else(|| missing("image id"))?;
    call.send(call.put_bytes(upload_url, &media.content_type, bytes))
        .await?;
    Ok(image)
}

/// Uploads a video (Videos API): `initializeUpload` with its size answers the byte
/// ranges to PUT (4 MiB parts), each part answers an ETag, `finalizeUpload` names them
/// in order, and the video is usable in a post once LinkedIn reports it `AVAILABLE`.
async fn upload_video(
    call: &Call<'_>,
    owner: &str,
    media: &PostMedia,
) -> Result<String, ProviderError> {
    let bytes = bytes_of(media)?;
    let init = call
        .json(versioned(
            call.post("/rest/videos?action=initializeUpload")
                .json(&json!({
                    "initializeUploadRequest": {
                        "owner": owner,
                        "fileSizeBytes": bytes.len(),
                        "uploadCaptions": false,
                        "uploadThumbnail": false
                    }
                })),
        ))
        .await?;
    let value = &init["value"];
    let video = text(&value["video"]).ok_or_else(|| missing("video id"))?;
    let upload_token = text(&value["uploadToken"]).unwrap_or_default();
    let instructions = value["uploadInstructions"]
        .as_array()
        .filter(|parts| !parts.is_empty())
        .ok_or_else(|| missing("upload instructions"))?;
    let mut part_ids = Vec::with_capacity(instructions.len());
    for part in instructions {
        let url = part["uploadUrl"]
            .as_str()
            .ok_or_else(|| missing("part upload URL"))?;
        let range = match (part["firstByte"].as_u64(), part["lastByte"].as_u64()) {
            (Some(first), Some(last)) if first <= last && (last as usize) < bytes.len() => {
                first as usize..=last as usize
            }
            _ => {
                return Err(ProviderError::Transient(
                    "LinkedIn's upload instructions do not fit the file".into(),
                ))
            }
        };
        let uploaded = call
            .send(call.put_bytes(url, "application/octet-stream", bytes.slice(range)))
            .await?;
        let etag = uploaded
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| missing("ETag of an uploaded part"))?;
        part_ids.push(etag.to_string());
    }
    call.send(versioned(
        call.post("/rest/videos?action=finalizeUpload")
            .json(&json!({
                "finalizeUploadRequest": {
                    "video": video,
                    "uploadToken": upload_token,
                    "uploadedPartIds": part_ids
                }
            })),
    ))
    .await?;
    for _ in 0..30 {
        let status = call
            .json(versioned(
                call.get(&format!("/rest/videos/{}", encode(&video))),
            ))
            .await?;
        match status["status"].as_str() {
            Some("AVAILABLE") => return Ok(video),
            Some("PROCESSING_FAILED") => {
                return Err(ProviderError::Rejected(
                    "LinkedIn could not process the video".into(),
                ))
            }
            _ => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
        }
    }
    Err(ProviderError::Transient(
        "LinkedIn is still processing the video".into(),
    ))
}

pub(super) async fn recent_posts(
    call: &Call<'_>,
    account_id: &str,
) -> Result<Vec<RecentPost>, ProviderError> {
    let listed = call
        .json(versioned(call.get(&format!(
            "/rest/posts?q=author&author={}&count=20&sortBy=CREATED",
            encode(&author(account_id))
        ))))
        .await?;
    Ok(listed["elements"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|post| {
            let id = text(&post["id"])?;
            Some(RecentPost {
                text: text(&post["commentary"]).unwrap_or_default(),
                created_at: post["createdAt"]
                    .as_i64()
                    .and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
                posted: Posted {
                    url: Some(format!("https://www.linkedin.com/feed/update/{id}")),
                    id,
                },
            })
        })
        .collect())
}

fn restli_date(day: NaiveDate) -> String {
    format!(
        "(year:{},month:{},day:{})",
        day.year(),
        day.month(),
        day.day()
    )
}

pub(super) async fn account_metrics(
    call: &Call<'_>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(NaiveDate, Metric, i64)>, ProviderError> {
    // The end of a Rest.li date range is exclusive.
    let end = to.succ_opt().unwrap_or(to);
    let daily = call
        .json(versioned(call.get(&format!(
            "/rest/memberCreatorPostAnalytics?q=me&queryType=IMPRESSION&aggregation=DAILY&dateRange=(start:{},end:{})",
            restli_date(from),
            restli_date(end)
        ))))
        .await?;
    let mut points = Vec::new();
    for element in daily["elements"].as_array().into_iter().flatten() {
        let start = &element["dateRange"]["start"];
        let day = NaiveDate::from_ymd_opt(
            start["year"].as_i64().unwrap_or_default() as i32,
            start["month"].as_u64().unwrap_or_default() as u32,
            start["day"].as_u64().unwrap_or_default() as u32,
        );
        if let (Some(day), Some(value)) = (day, count(&element["count"])) {
            points.push((day, Metric::Impressions, value));
        }
    }
    let followers = call
        .json(versioned(call.get("/rest/memberFollowersCount?q=me")))
        .await?;
    if let Some(value) = count(&followers["elements"][0]["memberFollowersCount"]) {
        points.push((to, Metric::Followers, value));
    }
    Ok(points)
}

pub(super) async fn post_metrics(
    call: &Call<'_>,
    post_id: &str,
) -> Result<Vec<(Metric, i64)>, ProviderError> {
    let actions: Value = call
        .json(versioned(
            call.get(&format!("/rest/socialActions/{}", encode(post_id))),
        ))
        .await?;
    let mut metrics = Vec::new();
    if let Some(likes) = count(&actions["likesSummary"]["totalLikes"]) {
        metrics.push((Metric::Likes, likes));
    }
    if let Some(comments) = count(&actions["commentsSummary"]["aggregatedTotalComments"]) {
        metrics.push((Metric::Comments, comments));
    }
    Ok(metrics)
}

/// LinkedIn members, through the Posts API.
pub(super) struct LinkedIn;

#[async_trait::async_trait]
impl super::PlatformApi for LinkedIn {
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
        account_id: &str,
    ) -> Result<Vec<RecentPost>, ProviderError> {
        recent_posts(call, account_id).await
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
