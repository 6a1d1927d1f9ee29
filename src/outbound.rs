//! Outbound HTTP to addresses people give us (webhook endpoints), guarded against
//! server-side request forgery: the host is resolved once, every address it resolves to
//! must be public (not loopback, private, link-local, shared or multicast) unless the
//! configuration allows private ones, the request goes to the address checked (no second
//! lookup an attacker's DNS could answer differently), redirects are not followed and
//! the whole exchange has a deadline.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// Why a request was not sent or not answered.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("{0}")]
    Refused(String),
    #[error("the request failed: {0}")]
    Failed(String),
}

/// What the guard lets through.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Allow loopback, private and link-local addresses (tests, or an intranet receiver).
    pub allow_private: bool,
    pub timeout: Duration,
}

/// Whether an address is one a request from the server must not reach by default.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_private_v4(v4),
            None => is_private_v6(v6),
        },
    }
}

fn is_private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        // 100.64.0.0/10, carrier-grade NAT; 0.0.0.0/8; 192.0.0.0/24; 198.18.0.0/15;
        // 240.0.0.0/4 (reserved).
        || (a == 100 && (64..128).contains(&b))
        || a == 0
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240
}

fn is_private_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // fc00::/7 unique local, fe80::/10 link-local, fec0::/10 the old site-local,
        // 2001:db8::/32 documentation.
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        || embeds_or_translates_v4(s)
}

/// Forms that carry an IPv4 address inside or reach one through a translator, each
/// refused whatever IPv4 address it carries (a relay or translator on the way could
/// deliver to a private one): IPv4-compatible `::a.b.c.d` (`::/96`), SIIT
/// `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::/96` and `64:ff9b:1::/48`, 6to4 `2002::/16`,
/// Teredo `2001::/32`, and the discard prefix `100::/64`.
fn embeds_or_translates_v4(s: [u16; 8]) -> bool {
    s[..6] == [0; 6]
        || s[..6] == [0, 0, 0, 0, 0xffff, 0]
        || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1)
        || s[0] == 0x2002
        || (s[0] == 0x2001 && s[1] == 0)
        || s[..4] == [0x100, 0, 0, 0]
}

/// Checks a URL's form (http or https, a host, no credentials) and, for a host written
/// as an address, that it is allowed. Names are checked when resolved, at each request.
pub fn check_url(url: &str, policy: &Policy) -> Result<reqwest::Url, OutboundError> {
    let refused = |why: &str| OutboundError::Refused(why.to_string());
    let parsed = reqwest::Url::parse(url.trim())
        .map_err(|_| refused("the URL is not a valid absolute URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(refused("the URL must start with https:// (or http://)"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(refused("the URL must not carry a user name or password"));
    }
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| refused("the URL has no host"))?;
    let literal = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok();
    if literal.is_some_and(is_private) && !policy.allow_private {
        return Err(refused(
            "the URL points at a private, loopback or link-local address",
        ));
    }
    Ok(parsed)
}

/// Resolves a URL's host and checks every address it resolves to; returns the one to
/// connect to with the parsed URL.
pub async fn resolve(
    url: &str,
    policy: &Policy,
) -> Result<(reqwest::Url, String, SocketAddr), OutboundError> {
    let parsed = check_url(url, policy)?;
    let host = parsed
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = parsed.port_or_known_default().unwrap_or(443);
    let resolved: Vec<SocketAddr> = tokio::time::timeout(
        policy.timeout,
        tokio::net::lookup_host((host.as_str(), port)),
    )
    .await
    .map_err(|_| OutboundError::Failed(format!("resolving {host} timed out")))?
    .map_err(|e| OutboundError::Failed(format!("cannot resolve {host}: {e}")))?
    .collect();
    let Some(first) = resolved.first().copied() else {
        return Err(OutboundError::Failed(format!("{host} has no address")));
    };
    if !policy.allow_private && resolved.iter().any(|a| is_private(a.ip())) {
        return Err(OutboundError::Refused(format!(
            "{host} resolves to a private, loopback or link-local address"
        )));
    }
    Ok((parsed, host, first))
}

/// Posts `body` as JSON; the answer's status code, or why there was none.
pub async fn post(
    url: &str,
    headers: &[(&str, String)],
    body: String,
    policy: &Policy,
) -> Result<u16, OutboundError> {
    let (parsed, host, first) = resolve(url, policy).await?;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(policy.timeout)
        .connect_timeout(policy.timeout)
        // The request goes to the address checked above.
        .resolve(&host, first)
        .build()
        .map_err(|e| OutboundError::Failed(e.to_string()))?;
    let mut request = client
        .post(parsed)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::USER_AGENT, "Atelier-Webhooks/1")
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request
        .send()
        .await
        .map_err(|e| OutboundError::Failed(without_url(&e)))?;
    Ok(response.status().as_u16())
}

/// A reqwest error without the URL it names (which may carry a token in its query).
fn without_url(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    format!("the request {kind}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allow_private: bool) -> Policy {
        Policy {
            allow_private,
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn private_and_special_addresses_are_recognised() -> crate::TestResult {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            // IPv4 inside IPv6, or behind a translator.
            "64:ff9b::7f00:1",
            "64:ff9b::8.8.8.8",
            "64:ff9b:1::a00:1",
            "2002:7f00:1::1",
            "::127.0.0.1",
            "::8.8.8.8",
            "::ffff:0:127.0.0.1",
            "::ffff:0:8.8.8.8",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "100::1",
            "fec0::1",
        ] {
            assert!(is_private(private.parse()?), "{private}");
        }
        for public in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450:4001::1",
        ] {
            assert!(!is_private(public.parse()?), "{public}");
        }
        Ok(())
    }

    #[test]
    fn urls_are_checked_before_anything_is_sent() {
        for bad in [
            "ftp://example.com/hook",
            "not a url",
            "https://user:pass@example.com/hook",
            "http://127.0.0.1:9/hook",
            "http://[::1]/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://[64:ff9b::a9fe:a9fe]/latest/meta-data",
            "http://[2002:a9fe:a9fe::1]/hook",
            "http://[::ffff:0:7f00:1]/hook",
            "http://[::7f00:1]/hook",
            "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook",
            "http://[100::1]/hook",
        ] {
            assert!(check_url(bad, &policy(false)).is_err(), "{bad}");
        }
        assert!(check_url("https://hooks.example.com/atelier", &policy(false)).is_ok());
        assert!(check_url("http://127.0.0.1:9/hook", &policy(true)).is_ok());
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_once_resolved() {
        let refused = post("http://localhost:9/hook", &[], "{}".into(), &policy(false)).await;
        assert!(
            matches!(refused, Err(OutboundError::Refused(_))),
            "{refused:?}"
        );
    }
}
