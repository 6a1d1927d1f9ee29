//! A generator that asks an OpenAI-compatible chat-completions endpoint
//! (`POST {url}/chat/completions`) for each channel's variant, as JSON
//! `{"title": …, "body": …}`. The answer is brought within the platform's limits by
//! [`fit`](crate::domain::content::variants::fit) whatever the model wrote.

use std::time::Duration;

use anyhow::{bail, Context};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use crate::domain::content::variants::{fit, ContentGenerator, Source, Variant};
use crate::domain::platforms::PlatformLimits;
use crate::domain::platforms::Provider;

pub struct OpenAiCompatible {
    client: reqwest::Client,
    url: String,
    model: String,
    api_key: Option<SecretString>,
}

impl OpenAiCompatible {
    pub fn new(
        url: &str,
        model: &str,
        api_key: Option<SecretString>,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .build()?;
        Ok(Self {
            client,
            url: url.trim_end_matches('/').to_string(),
            model: model.to_string(),
            api_key,
        })
    }
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    content: String,
}

#[derive(Deserialize)]
struct Written {
    title: Option<String>,
    body: String,
}

fn instructions(provider: Provider) -> String {
    let limits = PlatformLimits::of(provider);
    let mut rules = vec![format!(
        "Rewrite the draft as a {} post. The {} must be at most {} characters.",
        provider.name(),
        limits.body_name,
        limits.body_max
    )];
    if let Some(max) = limits.title_max {
        rules.push(format!("Give it a title of at most {max} characters."));
    }
    rules.push(format!(
        "Use at most {} hashtags, at the end.",
        limits
            .hashtags_suggested
            .min(limits.hashtags_max.unwrap_or(usize::MAX))
    ));
    if !limits.text_mentions_link {
        rules.push("Write people's names without @.".into());
    }
    rules.push(
        "Answer with a JSON object {\"title\": string or null, \"body\": string} and nothing else."
            .into(),
    );
    rules.join(" ")
}

#[async_trait]
impl ContentGenerator for OpenAiCompatible {
    fn describe(&self) -> String {
        format!("openai-compatible:{}", self.model)
    }

    async fn generate(&self, source: &Source, provider: Provider) -> anyhow::Result<Variant> {
        let mut request = self
            .client
            .post(format!("{}/chat/completions", self.url))
            .json(&json!({
                "model": self.model,
                "response_format": { "type": "json_object" },
                "messages": [
                    { "role": "system", "content": instructions(provider) },
                    { "role": "user", "content": serde_json::to_string(source)? },
                ],
            }));
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key.expose_secret());
        }
        let response = request
            .send()
            .await
            .context("the text generator could not be reached")?;
        let status = response.status();
        if !status.is_success() {
            bail!("the text generator answered HTTP {status}");
        }
        let completion: Completion = response
            .json()
            .await
            .context("the text generator's answer is not a chat completion")?;
        let content = completion
            .choices
            .into_iter()
            .next()
            .map(|c| c.message.content)
            .context("the text generator returned no choices")?;
        let written = serde_json::from_str::<Written>(content.trim()).unwrap_or(Written {
            title: None,
            body: content,
        });
        let title = written.title.or_else(|| Some(source.title.clone()));
        Ok(fit(
            provider,
            Variant {
                title,
                body: written.body,
            },
            &[],
        ))
    }
}
