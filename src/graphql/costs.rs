//! What fields cost in a request's budget, where the cost follows the work: a field that
//! reads and answers in proportion to its arguments costs in proportion to them.

use super::analytics::{DateRange, GranularityEnum, MetricEnum};

/// What an `analytics` field costs in a request's budget: what it reads (a database
/// read per channel named, or one for all) and what it answers (a point per bucket and
/// metric, four to a unit), besides its other fields. A two-year daily series of every
/// metric costs 1,654: one fits a request's budget of 2,000, a hundred aliased ones
/// (45 MB of answer) do not.
pub fn analytics(
    range: &DateRange,
    granularity: GranularityEnum,
    metrics: &[MetricEnum],
    channels: usize,
    child_complexity: usize,
) -> usize {
    // A range the field refuses (backwards, too long) is charged as the longest it
    // takes: the refusal is not worth more work than an answer.
    let days = (range.to - range.from)
        .num_days()
        .clamp(0, crate::domain::channels::analytics::MAX_RANGE_DAYS - 1) as usize
        + 1;
    let buckets = match granularity {
        GranularityEnum::Day => days,
        GranularityEnum::Week => days / 7 + 2,
        GranularityEnum::Month => days / 28 + 2,
    };
    let metrics = if metrics.is_empty() {
        <MetricEnum as async_graphql::resolver_utils::EnumType>::items().len()
    } else {
        metrics.len()
    };
    child_complexity
        .saturating_add(super::DB_READ.saturating_mul(channels.max(1)))
        .saturating_add(buckets.saturating_mul(metrics) / 4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn range(days: i64) -> DateRange {
        let from = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap_or_default();
        DateRange {
            from,
            to: from + chrono::Duration::days(days - 1),
        }
    }

    #[test]
    fn the_cost_grows_with_days_metrics_and_channels() {
        let month = analytics(&range(30), GranularityEnum::Day, &[], 0, 0);
        let two_years = analytics(&range(731), GranularityEnum::Day, &[], 0, 0);
        assert_eq!(two_years, 10 + 731 * 9 / 4);
        assert!(
            two_years > 2_000 / 2 && two_years <= 2_000,
            "one fits a budget, two do not"
        );
        assert!(month < 100, "a dashboard's month is cheap: {month}");
        assert!(analytics(&range(731), GranularityEnum::Month, &[], 0, 0) < 100);
        assert_eq!(
            analytics(&range(30), GranularityEnum::Day, &[MetricEnum::Likes], 3, 5),
            5 + 30 + 30 / 4
        );
        assert_eq!(
            analytics(&range(100_000), GranularityEnum::Day, &[], 0, 0),
            two_years,
            "a range the field refuses costs no more than the longest it takes"
        );
    }
}
