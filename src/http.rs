//! Small pieces both HTTP faces (GraphQL and portal) share.

use std::net::SocketAddr;

use axum::http::{header, HeaderMap};

use crate::domain::RequestMeta;

/// What the domain may know about an HTTP request's origin.
pub fn request_meta(peer: SocketAddr, headers: &HeaderMap) -> RequestMeta {
    let text = |name: header::HeaderName, max: usize| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(max).collect::<String>())
    };
    RequestMeta {
        ip: Some(peer.ip()),
        user_agent: text(header::USER_AGENT, 300),
        accept_language: text(header::ACCEPT_LANGUAGE, 200),
    }
}

/// A `Set-Cookie` value for a cookie of ours: always HttpOnly, Secure in production
/// (served over HTTPS), with the path, SameSite and, when given, Max-Age asked for.
pub fn set_cookie(
    production: bool,
    name: &str,
    value: &str,
    path: &str,
    same_site: &str,
    max_age_secs: Option<i64>,
) -> String {
    let max_age = max_age_secs
        .map(|secs| format!("; Max-Age={secs}"))
        .unwrap_or_default();
    let secure = if production { "; Secure" } else { "" };
    format!("{name}={value}; Path={path}; HttpOnly; SameSite={same_site}{max_age}{secure}")
}

/// The value of the cookie `name` the request carries, if any.
pub fn read_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// An address block (`10.0.0.0/8`, `2001:db8::/32`, or one address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: std::net::IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `address/prefix` or a bare address.
    pub fn parse(text: &str) -> Option<Self> {
        let (address, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text.trim(), None),
        };
        let network: std::net::IpAddr = address.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Self { network, prefix })
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map(std::net::IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.network, ip) {
            (std::net::IpAddr::V4(n), std::net::IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (std::net::IpAddr::V6(n), std::net::IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// The client behind trusted proxies: the nearest address in `Forwarded` (`for=`) or
/// else `X-Forwarded-For` that is not itself a trusted proxy, read from the right (each
/// proxy appends what it saw). `None` when the headers name no such address.
pub fn forwarded_client(headers: &HeaderMap, trusted: &[Cidr]) -> Option<std::net::IpAddr> {
    // Every line of the header counts, in order: proxies may append lines or values.
    let forwarded: Vec<&str> = headers
        .get_all(header::FORWARDED)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let hops: Vec<std::net::IpAddr> = if !forwarded.is_empty() {
        forwarded
            .iter()
            .flat_map(|line| line.split(','))
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (key, value) = pair.trim().split_once('=')?;
                    key.eq_ignore_ascii_case("for")
                        .then(|| parse_node(value.trim().trim_matches('"')))
                        .flatten()
                })
            })
            .collect()
    } else {
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|node| parse_node(node.trim()))
            .collect()
    };
    hops.into_iter()
        .rev()
        .find(|ip| !trusted.iter().any(|proxy| proxy.contains(*ip)))
}

/// `1.2.3.4`, `1.2.3.4:80`, `[2001:db8::1]`, `[2001:db8::1]:443` or a bare IPv6 address.
fn parse_node(node: &str) -> Option<std::net::IpAddr> {
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    if let Ok(socket) = node.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    node.strip_prefix('[')
        .and_then(|rest| rest.split(']').next())
        .and_then(|inner| inner.parse().ok())
}

/// Middleware: when the connection comes from a trusted proxy, every handler sees the
/// client it forwarded for as the peer (the limits, the audit log and the request's
/// metadata all read the peer). From anyone else the headers are ignored.
pub async fn client_behind_proxies(
    axum::extract::State(trusted): axum::extract::State<std::sync::Arc<Vec<Cidr>>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    if let Some(peer) = peer {
        if trusted.iter().any(|proxy| proxy.contains(peer.ip())) {
            if let Some(client) = forwarded_client(request.headers(), &trusted) {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(SocketAddr::new(client, 0)));
            }
        }
    }
    next.run(request).await
}

/// Percent-encodes a value for a URL's path or query: every byte but RFC 3986's
/// unreserved characters (letters, digits, `-`, `_`, `.`, `~`).
pub fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(
        pairs: &[(&str, &str)],
    ) -> Result<HeaderMap, Box<dyn std::error::Error + Send + Sync>> {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(k.as_bytes())?,
                v.parse()?,
            );
        }
        Ok(map)
    }

    fn block(text: &str) -> Result<Cidr, String> {
        Cidr::parse(text).ok_or_else(|| format!("{text} did not parse"))
    }

    #[test]
    fn blocks_contain_their_addresses() -> crate::TestResult {
        let ten = block("10.0.0.0/8")?;
        assert!(ten.contains("10.200.3.4".parse()?));
        assert!(ten.contains("::ffff:10.1.1.1".parse()?));
        assert!(!ten.contains("11.0.0.1".parse()?));
        let one = block("2001:db8::1")?;
        assert!(one.contains("2001:db8::1".parse()?));
        assert!(!one.contains("2001:db8::2".parse()?));
        assert!(block("0.0.0.0/0")?.contains("8.8.8.8".parse()?));
        for bad in ["10.0.0.0/33", "nope", "10.0.0.0/x", ""] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
        Ok(())
    }

    #[test]
    fn the_client_is_the_nearest_untrusted_hop() -> crate::TestResult {
        let trusted = [block("10.0.0.0/8")?];
        // A client may send any X-Forwarded-For; the proxy appends what it saw.
        let spoofed = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.0.0.2")])?;
        assert_eq!(
            forwarded_client(&spoofed, &trusted),
            Some("203.0.113.9".parse()?)
        );
        let forwarded = headers(&[(
            "forwarded",
            "for=198.51.100.1;proto=https, for=\"[2001:db8::7]:4711\", for=10.1.1.1",
        )])?;
        assert_eq!(
            forwarded_client(&forwarded, &trusted),
            Some("2001:db8::7".parse()?)
        );
        assert_eq!(
            forwarded_client(&headers(&[("x-forwarded-for", "10.0.0.9")])?, &trusted),
            None
        );
        assert_eq!(forwarded_client(&HeaderMap::new(), &trusted), None);
        // A proxy that appended its own line: the client is in the line before.
        let two_lines = headers(&[
            ("forwarded", "for=198.51.100.9"),
            ("forwarded", "for=10.0.0.3"),
        ])?;
        assert_eq!(
            forwarded_client(&two_lines, &trusted),
            Some("198.51.100.9".parse()?)
        );
        Ok(())
    }
}
