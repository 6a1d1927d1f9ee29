//! Content generators that call out: [`openai::OpenAiCompatible`] (any OpenAI-compatible
//! chat-completions endpoint) implements the domain's port
//! (`domain::content::variants::ContentGenerator`); the configuration picks one.

pub mod openai;

use crate::domain::content::variants::{ContentGenerator, RuleBased};

/// The generator the configuration asks for.
pub fn from_config(
    config: &crate::config::GeneratorConfig,
) -> anyhow::Result<std::sync::Arc<dyn ContentGenerator>> {
    use crate::config::GeneratorKind;
    Ok(match config.kind {
        GeneratorKind::Rules => std::sync::Arc::new(RuleBased),
        GeneratorKind::Openai => {
            let url = config.url.as_deref().ok_or_else(|| {
                anyhow::anyhow!(
                    "ATELIER_GENERATOR__URL is required when ATELIER_GENERATOR__KIND=openai"
                )
            })?;
            std::sync::Arc::new(openai::OpenAiCompatible::new(
                url,
                &config.model,
                config.api_key.clone(),
                std::time::Duration::from_secs(config.timeout_secs.max(1)),
            )?)
        }
    })
}
