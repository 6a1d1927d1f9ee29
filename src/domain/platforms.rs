//! The platforms Atelier publishes to, described once: their names, what one post may
//! hold, and how their tokens behave. Adding a platform starts here (then its adapter in
//! `providers/` and its section of the configuration). Depends on nothing.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    Tiktok,
    Youtube,
    Instagram,
    Facebook,
    Linkedin,
}

impl Provider {
    pub const ALL: [Provider; 5] = [
        Self::Tiktok,
        Self::Youtube,
        Self::Instagram,
        Self::Facebook,
        Self::Linkedin,
    ];
    /// The platforms whose accounts Meta's callbacks speak for.
    pub const META: [Provider; 2] = [Self::Facebook, Self::Instagram];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tiktok => "TIKTOK",
            Self::Youtube => "YOUTUBE",
            Self::Instagram => "INSTAGRAM",
            Self::Facebook => "FACEBOOK",
            Self::Linkedin => "LINKEDIN",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == value)
    }

    /// Whether revoking a token ends only that token (LinkedIn, RFC 7009). Meta
    /// (`DELETE /me/permissions`), Google and TikTok end the person's whole grant, which
    /// a reconnect has just renewed.
    pub fn revokes_single_tokens(self) -> bool {
        self == Self::Linkedin
    }

    /// Whether a channel's access is renewed with its own (long-lived) access token
    /// rather than a refresh token: Instagram, through Facebook Login.
    pub fn renews_with_access_token(self) -> bool {
        self == Self::Instagram
    }

    /// The platform's display name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Tiktok => "TikTok",
            Provider::Youtube => "YouTube",
            Provider::Instagram => "Instagram",
            Provider::Facebook => "Facebook",
            Provider::Linkedin => "LinkedIn",
        }
    }
}

/// What a platform accepts in one post.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlatformLimits {
    /// The platform's name for the text of a post.
    pub body_name: &'static str,
    pub body_max: usize,
    /// The title's limit, where the platform has titles (a video title on YouTube).
    pub title_max: Option<usize>,
    /// The most hashtags the platform accepts in one post.
    pub hashtags_max: Option<usize>,
    /// How many hashtags fit the platform's habits; generated variants keep to it.
    pub hashtags_suggested: usize,
    /// Whether `@handle` in plain text links to an account on the platform.
    pub text_mentions_link: bool,
}

impl PlatformLimits {
    pub fn of(provider: Provider) -> Self {
        match provider {
            Provider::Linkedin => Self {
                body_name: "post text",
                body_max: 3_000,
                title_max: None,
                hashtags_max: None,
                hashtags_suggested: 5,
                text_mentions_link: false,
            },
            Provider::Facebook => Self {
                body_name: "post text",
                body_max: 63_206,
                title_max: None,
                hashtags_max: None,
                hashtags_suggested: 3,
                text_mentions_link: false,
            },
            Provider::Instagram => Self {
                body_name: "caption",
                body_max: 2_200,
                title_max: None,
                hashtags_max: Some(30),
                hashtags_suggested: 30,
                text_mentions_link: true,
            },
            Provider::Tiktok => Self {
                body_name: "caption",
                body_max: 2_200,
                title_max: None,
                hashtags_max: None,
                hashtags_suggested: 8,
                text_mentions_link: true,
            },
            Provider::Youtube => Self {
                body_name: "description",
                body_max: 5_000,
                title_max: Some(100),
                hashtags_max: Some(60),
                hashtags_suggested: 15,
                text_mentions_link: true,
            },
        }
    }
}
