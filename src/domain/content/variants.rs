//! Writing a channel's variant of a draft, in the domain's words: the
//! [`ContentGenerator`] port, the built-in [`RuleBased`] writer (the default, no network)
//! and [`fit`], which brings whatever a generator returns within its platform's limits.
//! Generators that call out (`generate::openai`) implement the port outside the domain.

use async_trait::async_trait;
use serde::Serialize;

use super::targets::{hashtags, is_tag_char};
use crate::domain::platforms::PlatformLimits;
use crate::domain::platforms::Provider;

/// What a variant is written from.
#[derive(Clone, Debug, Serialize)]
pub struct Source {
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
}

/// One channel's text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Variant {
    pub title: Option<String>,
    pub body: String,
}

#[async_trait]
pub trait ContentGenerator: Send + Sync {
    /// Recorded with every generation: which generator (and model) wrote it.
    fn describe(&self) -> String;

    async fn generate(&self, source: &Source, provider: Provider) -> anyhow::Result<Variant>;
}

/// Rewrites a draft for a platform by rule: mentions kept only where plain-text
/// `@handles` link, hashtags from the draft's tags and text (no duplicates, no more than
/// the platform's habit), and the text shortened at a sentence or word boundary so text
/// and hashtags fit the limit.
pub struct RuleBased;

#[async_trait]
impl ContentGenerator for RuleBased {
    fn describe(&self) -> String {
        "rules".into()
    }

    async fn generate(&self, source: &Source, provider: Provider) -> anyhow::Result<Variant> {
        Ok(rewrite(source, provider))
    }
}

/// The rule-based rewrite (also the fallback shape [`fit`] brings any variant to).
pub fn rewrite(source: &Source, provider: Provider) -> Variant {
    let text = if source.body.trim().is_empty() {
        source.title.trim().to_string()
    } else {
        source.body.trim().to_string()
    };
    let text = if PlatformLimits::of(provider).text_mentions_link {
        text
    } else {
        unlink_mentions(&text)
    };
    // Hashtags move to the end, where every platform shows them the same way.
    let mut tags: Vec<String> = Vec::new();
    for tag in hashtags(&text)
        .into_iter()
        .map(|t| t.to_string())
        .chain(source.tags.iter().filter_map(|t| hashtag_of(t)))
    {
        if !tags.iter().any(|t| t.eq_ignore_ascii_case(&tag)) {
            tags.push(tag);
        }
    }
    let prose = strip_trailing_hashtags(&text);
    fit(
        provider,
        Variant {
            title: Some(source.title.clone()),
            body: prose,
        },
        &tags,
    )
}

/// Brings a variant within its platform's limits: the title shortened (or dropped where
/// the platform has none), at most the suggested number of hashtags appended, and the
/// text shortened until text and hashtags fit.
pub fn fit(provider: Provider, variant: Variant, extra_tags: &[String]) -> Variant {
    let limits = PlatformLimits::of(provider);
    let title = match limits.title_max {
        None => None,
        Some(max) => {
            let title = variant
                .title
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| variant.body.lines().next().unwrap_or("Untitled"));
            Some(shorten(&single_line(title), max))
        }
    };
    // Hashtags the text ends with move to the tag line, so shortening never cuts them.
    let trimmed = variant.body.trim();
    let prose = strip_trailing_hashtags(trimmed);
    let trailing: Vec<String> = hashtags(&trimmed[prose.len()..])
        .into_iter()
        .map(str::to_string)
        .collect();
    let extra_tags: Vec<String> = trailing.iter().chain(extra_tags).cloned().collect();
    let mut tags: Vec<String> = Vec::new();
    let body_tags: Vec<String> = hashtags(&prose).into_iter().map(str::to_string).collect();
    let allowed = limits
        .hashtags_suggested
        .min(limits.hashtags_max.unwrap_or(usize::MAX));
    // Tags already in the text count against the allowance; extra tags fill the rest.
    let mut remaining = allowed.saturating_sub(body_tags.len());
    for tag in &extra_tags {
        if remaining == 0 {
            break;
        }
        let already = body_tags
            .iter()
            .chain(tags.iter())
            .any(|t| t.eq_ignore_ascii_case(tag));
        if !already {
            tags.push(tag.clone());
            remaining -= 1;
        }
    }
    let mut body = prose;
    if body_tags.len() > allowed {
        // Too many hashtags in the text itself: drop the ones past the allowance.
        body = drop_hashtags_after(&body, allowed);
    }
    let suffix = if tags.is_empty() {
        String::new()
    } else {
        format!("\n\n{}", tags.join(" "))
    };
    let budget = limits.body_max.saturating_sub(suffix.chars().count());
    let body = format!("{}{suffix}", shorten(&body, budget));
    Variant {
        title,
        body: body.trim().to_string(),
    }
}

/// `text` cut to at most `max` characters: at the end of the last whole sentence when
/// that keeps at least half, else at the last word boundary with an ellipsis.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let cut: String = text.chars().take(max).collect();
    let sentence_end = cut
        .char_indices()
        .rev()
        .find(|(i, c)| {
            matches!(c, '.' | '!' | '?' | '…')
                && cut[i + c.len_utf8()..]
                    .chars()
                    .next()
                    .is_none_or(char::is_whitespace)
        })
        .map(|(i, c)| i + c.len_utf8());
    if let Some(end) = sentence_end {
        if cut[..end].chars().count() * 2 >= max {
            return cut[..end].trim_end().to_string();
        }
    }
    // Leave room for the ellipsis, then back off to a word boundary.
    let room: String = text.chars().take(max - 1).collect();
    let at_word = match room.rfind(char::is_whitespace) {
        Some(space) if space > 0 => room[..space].trim_end(),
        _ => room.as_str(),
    };
    format!("{at_word}…")
}

fn single_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `#tag` from a draft tag like "Product launch" (letters, digits and `_` only).
fn hashtag_of(tag: &str) -> Option<String> {
    let word: String = tag
        .split_whitespace()
        .map(|w| w.chars().filter(|c| is_tag_char(*c)).collect::<String>())
        .collect();
    (!word.is_empty()).then(|| format!("#{word}"))
}

/// `@handle` → `handle` where the platform would not link it (the text stays readable).
fn unlink_mentions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut previous: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let starts_word = previous.is_none_or(|p| !is_tag_char(p) && p != '@');
        if c == '@' && starts_word && chars.peek().is_some_and(|n| is_tag_char(*n)) {
            previous = Some(c);
            continue;
        }
        out.push(c);
        previous = Some(c);
    }
    out
}

/// The text without the run of hashtags it ends with (they are re-added in order).
fn strip_trailing_hashtags(text: &str) -> String {
    let mut words: Vec<&str> = text.split_whitespace().collect();
    let mut cut = text.len();
    while let Some(last) = words.last() {
        if hashtags(last).first() == Some(last) {
            if let Some(at) = text[..cut].rfind(last) {
                cut = at;
            }
            words.pop();
        } else {
            break;
        }
    }
    text[..cut].trim_end().to_string()
}

fn drop_hashtags_after(text: &str, keep: usize) -> String {
    let mut seen = 0;
    text.split(' ')
        .filter(|word| {
            if hashtags(word).first() == Some(word) {
                seen += 1;
                seen <= keep
            } else {
                true
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::content::targets::check_limits;

    fn source(body: &str) -> Source {
        Source {
            title: "Spring launch".into(),
            body: body.into(),
            tags: vec!["launch".into(), "Product news".into()],
        }
    }

    #[test]
    fn shortening_prefers_sentences_then_words() {
        assert_eq!(shorten("One. Two three.", 100), "One. Two three.");
        assert_eq!(
            shorten("First sentence here. Second one is long.", 30),
            "First sentence here."
        );
        assert_eq!(shorten("alpha beta gamma delta", 15), "alpha beta…");
        assert!(shorten(&"word ".repeat(1000), 50).chars().count() <= 50);
    }

    #[test]
    fn every_platform_gets_a_variant_within_its_limits() -> crate::TestResult {
        let long = format!(
            "We built something new with @maria_designs. {} #spring #launch",
            "It is fast and it is kind to your data. ".repeat(200)
        );
        for provider in Provider::ALL {
            let variant = rewrite(&source(&long), provider);
            check_limits(provider, variant.title.as_deref(), &variant.body)?;
            assert!(variant.body.contains("#launch") && variant.body.contains("#spring"));
            assert!(variant.body.contains("#Productnews"), "{provider:?}");
            let mentions_kept = variant.body.contains("@maria_designs");
            assert_eq!(
                mentions_kept,
                PlatformLimits::of(provider).text_mentions_link,
                "{provider:?}"
            );
            assert!(variant.body.contains("maria_designs"));
        }
        Ok(())
    }

    #[test]
    fn hashtags_are_capped_per_platform() -> crate::TestResult {
        let tags: Vec<String> = (0..40).map(|i| format!("#tag{i}")).collect();
        let body = format!("Hello there. {}", tags.join(" "));
        let instagram = rewrite(&source(&body), Provider::Instagram);
        check_limits(Provider::Instagram, None, &instagram.body)?;
        assert_eq!(hashtags(&instagram.body).len(), 30);
        let linkedin = rewrite(&source(&body), Provider::Linkedin);
        assert_eq!(hashtags(&linkedin.body).len(), 5);
        Ok(())
    }

    #[test]
    fn youtube_titles_fit() {
        let mut s = source("A description.");
        s.title = "A very long title ".repeat(10);
        let variant = rewrite(&s, Provider::Youtube);
        assert!(variant.title.is_some_and(|t| t.chars().count() <= 100));
    }
}
