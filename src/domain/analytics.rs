//! How channels performed: metric points keyed by (channel, post or account, metric,
//! day), written by the sync job and by API clients, idempotently; and the questions the
//! app asks of them — series filled with zeros in the workspace's time zone, totals,
//! change against the previous period, engagement rate, top drafts.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    Impressions,
    Reach,
    Views,
    Likes,
    Comments,
    Shares,
    Saves,
    Clicks,
    Followers,
}

impl Metric {
    pub const ALL: [Metric; 9] = [
        Self::Impressions,
        Self::Reach,
        Self::Views,
        Self::Likes,
        Self::Comments,
        Self::Shares,
        Self::Saves,
        Self::Clicks,
        Self::Followers,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Impressions => "IMPRESSIONS",
            Self::Reach => "REACH",
            Self::Views => "VIEWS",
            Self::Likes => "LIKES",
            Self::Comments => "COMMENTS",
            Self::Shares => "SHARES",
            Self::Saves => "SAVES",
            Self::Clicks => "CLICKS",
            Self::Followers => "FOLLOWERS",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == value)
    }

    /// FOLLOWERS is a level (how many on that day), not a count of events: it is not
    /// added up over days, the last value of a period stands for it.
    pub fn is_level(self) -> bool {
        self == Self::Followers
    }

    /// The interactions counted by the engagement rate.
    pub fn is_engagement(self) -> bool {
        matches!(
            self,
            Self::Likes | Self::Comments | Self::Shares | Self::Saves | Self::Clicks
        )
    }
}
