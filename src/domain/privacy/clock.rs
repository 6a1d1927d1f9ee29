//! The legal clock: when a data-subject request is due, by jurisdiction. The clock starts
//! at receipt, not at verification.

use chrono::{DateTime, Duration, Months, Utc};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jurisdiction {
    Gdpr,
    Ccpa,
    Lgpd,
    Other,
}

impl Jurisdiction {
    pub const ALL: [Jurisdiction; 4] = [Self::Gdpr, Self::Ccpa, Self::Lgpd, Self::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gdpr => "GDPR",
            Self::Ccpa => "CCPA",
            Self::Lgpd => "LGPD",
            Self::Other => "OTHER",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|j| j.as_str() == value)
    }

    /// How a person would recognise it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Gdpr => "European Union, EEA, United Kingdom or Switzerland (GDPR)",
            Self::Ccpa => "California (CCPA)",
            Self::Lgpd => "Brazil (LGPD)",
            Self::Other => "Elsewhere",
        }
    }

    /// What the deadline is, in words.
    pub fn deadline_in_words(self) -> &'static str {
        match self {
            Self::Gdpr => {
                "one month from receipt, extendable by two months for complex requests with notice"
            }
            Self::Ccpa => "45 days from receipt, extendable by 45 days with notice",
            Self::Lgpd => "15 days from receipt",
            Self::Other => "30 days from receipt",
        }
    }

    /// Infers a jurisdiction from the region in an Accept-Language header
    /// (`pt-BR` → LGPD, `de-DE` → GDPR, `en-US` → CCPA); GDPR when nothing says.
    pub fn infer(accept_language: Option<&str>) -> Self {
        const GDPR_REGIONS: [&str; 33] = [
            "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
            "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS",
            "LI", "NO", "GB", "UK", "CH",
        ];
        let Some(header) = accept_language else {
            return Self::Gdpr;
        };
        for tag in header.split(',') {
            let tag = tag.split(';').next().unwrap_or_default().trim();
            let Some(region) = tag.split(['-', '_']).nth(1) else {
                continue;
            };
            let region = region.to_ascii_uppercase();
            if region == "BR" {
                return Self::Lgpd;
            }
            if region == "US" {
                return Self::Ccpa;
            }
            if GDPR_REGIONS.contains(&region.as_str()) {
                return Self::Gdpr;
            }
            return Self::Other;
        }
        Self::Gdpr
    }
}

/// When a request received at `received_at` is due: +1 calendar month under the GDPR
/// (the same day number next month, or that month's last day when it has no such day),
/// +45 days under the CCPA, +15 days under the LGPD, +30 days elsewhere.
pub fn due_at(received_at: DateTime<Utc>, jurisdiction: Jurisdiction) -> DateTime<Utc> {
    match jurisdiction {
        Jurisdiction::Gdpr => add_months(received_at, 1),
        Jurisdiction::Ccpa => received_at + Duration::days(45),
        Jurisdiction::Lgpd => received_at + Duration::days(15),
        Jurisdiction::Other => received_at + Duration::days(30),
    }
}

/// The latest a deadline may be extended to, where the law allows an extension.
pub fn extended_due_at(due: DateTime<Utc>, jurisdiction: Jurisdiction) -> Option<DateTime<Utc>> {
    match jurisdiction {
        Jurisdiction::Gdpr => Some(add_months(due, 2)),
        Jurisdiction::Ccpa => Some(due + Duration::days(45)),
        Jurisdiction::Lgpd | Jurisdiction::Other => None,
    }
}

fn add_months(at: DateTime<Utc>, months: u32) -> DateTime<Utc> {
    // chrono clamps to the last day of a shorter month, which is the rule for periods
    // counted in months (EU Regulation 1182/71, art. 3(2)(c)).
    at.checked_add_months(Months::new(months))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Result<DateTime<Utc>, Box<dyn std::error::Error + Send + Sync>> {
        Ok(s.parse()?)
    }

    #[test]
    fn gdpr_adds_a_calendar_month() -> crate::TestResult {
        assert_eq!(
            due_at(at("2026-03-15T10:00:00Z")?, Jurisdiction::Gdpr),
            at("2026-04-15T10:00:00Z")?
        );
        assert_eq!(
            due_at(at("2026-12-20T08:30:00Z")?, Jurisdiction::Gdpr),
            at("2027-01-20T08:30:00Z")?
        );
        Ok(())
    }

    #[test]
    fn gdpr_month_ends_clamp_to_the_last_day() -> crate::TestResult {
        assert_eq!(
            due_at(at("2026-01-31T12:00:00Z")?, Jurisdiction::Gdpr),
            at("2026-02-28T12:00:00Z")?
        );
        assert_eq!(
            due_at(at("2028-01-31T12:00:00Z")?, Jurisdiction::Gdpr),
            at("2028-02-29T12:00:00Z")?
        );
        assert_eq!(
            due_at(at("2026-03-31T00:00:00Z")?, Jurisdiction::Gdpr),
            at("2026-04-30T00:00:00Z")?
        );
        assert_eq!(
            due_at(at("2028-02-29T09:00:00Z")?, Jurisdiction::Gdpr),
            at("2028-03-29T09:00:00Z")?
        );
        Ok(())
    }

    #[test]
    fn day_counted_deadlines() -> crate::TestResult {
        assert_eq!(
            due_at(at("2026-02-20T00:00:00Z")?, Jurisdiction::Ccpa),
            at("2026-04-06T00:00:00Z")?
        );
        assert_eq!(
            due_at(at("2028-02-20T00:00:00Z")?, Jurisdiction::Ccpa),
            at("2028-04-05T00:00:00Z")?
        );
        assert_eq!(
            due_at(at("2026-02-20T00:00:00Z")?, Jurisdiction::Lgpd),
            at("2026-03-07T00:00:00Z")?
        );
        assert_eq!(
            due_at(at("2028-02-20T00:00:00Z")?, Jurisdiction::Lgpd),
            at("2028-03-06T00:00:00Z")?
        );
        assert_eq!(
            due_at(at("2026-01-01T00:00:00Z")?, Jurisdiction::Other),
            at("2026-01-31T00:00:00Z")?
        );
        Ok(())
    }

    #[test]
    fn extensions_follow_the_law() -> crate::TestResult {
        assert_eq!(
            extended_due_at(at("2026-01-31T00:00:00Z")?, Jurisdiction::Gdpr),
            Some(at("2026-03-31T00:00:00Z")?)
        );
        assert_eq!(
            extended_due_at(at("2026-04-06T00:00:00Z")?, Jurisdiction::Ccpa),
            Some(at("2026-05-21T00:00:00Z")?)
        );
        assert_eq!(
            extended_due_at(at("2026-04-06T00:00:00Z")?, Jurisdiction::Lgpd),
            None
        );
        Ok(())
    }

    #[test]
    fn jurisdiction_is_inferred_from_the_language_region() {
        assert_eq!(
            Jurisdiction::infer(Some("pt-BR,pt;q=0.9")),
            Jurisdiction::Lgpd
        );
        assert_eq!(
            Jurisdiction::infer(Some("de-DE,de;q=0.9,en;q=0.8")),
            Jurisdiction::Gdpr
        );
        assert_eq!(
            Jurisdiction::infer(Some("en-US,en;q=0.9")),
            Jurisdiction::Ccpa
        );
        assert_eq!(Jurisdiction::infer(Some("ja-JP")), Jurisdiction::Other);
        assert_eq!(Jurisdiction::infer(Some("en")), Jurisdiction::Gdpr);
        assert_eq!(Jurisdiction::infer(None), Jurisdiction::Gdpr);
    }
}
