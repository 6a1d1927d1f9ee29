//! A fake social platform over real HTTP: the OAuth authorize redirect, the token
//! exchange (verifying the PKCE verifier against the S256 challenge), each platform's
//! profile shape, and revocation — with a switch to make revocation fail.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

#[derive(Default)]
pub struct Platform {
    /// code → (S256 challenge, redirect_uri)
    codes: Mutex<HashMap<String, (String, String)>>,
    /// access tokens handed out
    issued: Mutex<Vec<String>>,
    /// every token revoked, in order
    pub revoked: Mutex<Vec<String>>,
    /// token exchanges refused because the verifier did not match
    pub pkce_failures: Mutex<u32>,
    pub fail_revocations: AtomicBool,
    /// How refreshes go: 0 renews, 1 refuses (invalid_grant), 2 is down (503).
    pub refresh_mode: std::sync::atomic::AtomicU8,
    pub refreshes: std::sync::atomic::AtomicU32,
    /// refresh tokens handed out
    refresh_tokens: Mutex<Vec<String>>,
}

#[derive(Clone)]
pub struct FakeProvider {
    pub url: String,
    pub platform: Arc<Platform>,
}

impl FakeProvider {
    pub async fn start() -> Self {
        let platform = Arc::new(Platform::default());
        let app = Router::new()
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/revoke", post(revoke_form))
            .route("/me/permissions", axum::routing::delete(revoke_meta))
            .route("/v2/userinfo", get(linkedin_profile))
            .route("/me/accounts", get(meta_accounts))
            .with_state(platform.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        Self { url, platform }
    }

    /// Provider settings pointing at this server.
    pub fn settings(&self) -> atelier::config::ProviderSettings {
        atelier::config::ProviderSettings {
            client_id: Some("atelier-test-client".into()),
            client_secret: Some(secrecy::SecretString::from(
                "atelier-test-secret".to_string(),
            )),
            auth_url: format!("{}/authorize", self.url),
            token_url: format!("{}/token", self.url),
            revoke_url: format!("{}/revoke", self.url),
            api_url: self.url.clone(),
            scopes: "profile w_member_social".into(),
        }
    }

    /// Meta's shape: revocation is `DELETE /me/permissions`.
    pub fn meta_settings(&self) -> atelier::config::ProviderSettings {
        let mut settings = self.settings();
        settings.revoke_url = format!("{}/me/permissions", self.url);
        settings
    }

    pub fn revoked(&self) -> Vec<String> {
        self.platform.revoked.lock().unwrap().clone()
    }

    pub fn issued(&self) -> Vec<String> {
        self.platform.issued.lock().unwrap().clone()
    }
}

async fn authorize(
    State(platform): State<Arc<Platform>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if q.get("response_type").map(String::as_str) != Some("code")
        || q.get("code_challenge_method").map(String::as_str) != Some("S256")
        || q.get("client_id").map(String::as_str) != Some("atelier-test-client")
    {
        return (StatusCode::BAD_REQUEST, "bad authorization request").into_response();
    }
    let code = format!("code-{}", uuid::Uuid::new_v4().simple());
    let redirect = q["redirect_uri"].clone();
    platform.codes.lock().unwrap().insert(
        code.clone(),
        (q["code_challenge"].clone(), redirect.clone()),
    );
    Redirect::to(&format!("{redirect}?code={code}&state={}", q["state"])).into_response()
}

async fn token(
    State(platform): State<Arc<Platform>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("atelier-test-client:atelier-test-secret")
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(basic.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "invalid_client" })),
        )
            .into_response();
    }
    if form.get("grant_type").map(String::as_str) == Some("refresh_token") {
        return refresh(&platform, &form);
    }
    let Some((challenge, redirect)) = form
        .get("code")
        .and_then(|c| platform.codes.lock().unwrap().remove(c))
    else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "invalid_grant" })),
        )
            .into_response();
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != challenge
        || form.get("redirect_uri") != Some(&redirect)
    {
        *platform.pkce_failures.lock().unwrap() += 1;
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": "invalid_grant", "error_description": "PKCE verification failed" }))).into_response();
    }
    issue_tokens(&platform)
}

fn issue_tokens(platform: &Platform) -> Response {
    let access = format!("fake-access-{}", uuid::Uuid::new_v4().simple());
    let refresh = format!("fake-refresh-{}", uuid::Uuid::new_v4().simple());
    platform.issued.lock().unwrap().push(access.clone());
    platform
        .refresh_tokens
        .lock()
        .unwrap()
        .push(refresh.clone());
    Json(json!({
        "access_token": access,
        "token_type": "bearer",
        "expires_in": 3600,
        "refresh_token": refresh,
        "scope": "profile w_member_social",
    }))
    .into_response()
}

fn refresh(platform: &Platform, form: &HashMap<String, String>) -> Response {
    platform.refreshes.fetch_add(1, Ordering::SeqCst);
    match platform.refresh_mode.load(Ordering::SeqCst) {
        1 => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": "invalid_grant" })),
            )
                .into_response()
        }
        2 => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
        _ => {}
    }
    let known = form
        .get("refresh_token")
        .is_some_and(|t| platform.refresh_tokens.lock().unwrap().contains(t));
    if !known {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "invalid_grant" })),
        )
            .into_response();
    }
    issue_tokens(platform)
}

fn bearer_known(platform: &Platform, headers: &HeaderMap) -> bool {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    platform.issued.lock().unwrap().iter().any(|t| t == token)
}

async fn linkedin_profile(State(platform): State<Arc<Platform>>, headers: HeaderMap) -> Response {
    if !bearer_known(&platform, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    Json(json!({ "sub": "li-member-42", "name": "Lina Linked" })).into_response()
}

async fn meta_accounts(State(platform): State<Arc<Platform>>, headers: HeaderMap) -> Response {
    if !bearer_known(&platform, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    Json(json!({ "data": [{ "id": "fb-page-7", "name": "Insta Page", "instagram_business_account": { "id": "ig-17841", "username": "insta.maker" } }] }))
        .into_response()
}

fn record_revocation(platform: &Platform, token: Option<&String>) -> Response {
    if platform.fail_revocations.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if let Some(token) = token {
        platform.revoked.lock().unwrap().push(token.clone());
    }
    StatusCode::OK.into_response()
}

async fn revoke_form(
    State(platform): State<Arc<Platform>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    record_revocation(&platform, form.get("token"))
}

async fn revoke_meta(
    State(platform): State<Arc<Platform>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    record_revocation(&platform, q.get("access_token"))
}
