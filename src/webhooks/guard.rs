//! The SSRF guard every outgoing call goes through: a target's name is resolved once, here, every
//! address it resolves to is classified, and the call dials exactly the address that was checked (the
//! HTTP client is pinned to it, so a second DNS answer cannot swap in an internal address). Loopback,
//! private, link-local, unique-local, metadata, unspecified, multicast and reserved addresses are
//! refused unless the operator allow-lists them (`RUSTCHAT_WEBHOOK_ALLOWED_NETWORKS`). Redirects are
//! never followed: a 3xx is the target's answer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;

/// Why a target is refused; said to the integration's owner and counted as `refused`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A checked target: the URL, and the one address the call will dial.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: url::Url,
    /// The URL's host as written, the breaker's key.
    pub host: String,
    pub addr: SocketAddr,
}

/// What kind of address an outgoing call must not reach, if `ip` is one; `None` for a public address.
pub fn forbidden_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    if ip == Ipv4Addr::new(169, 254, 169, 254) {
        Some("cloud metadata")
    } else if o[0] == 0 {
        Some("unspecified")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        Some("shared (carrier-grade NAT)")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if ip.is_broadcast() || o[0] >= 240 {
        Some("reserved")
    } else if o[0] == 198 && (o[1] & 0xfe) == 18 {
        Some("benchmarking")
    } else if o[0] == 192 && o[1] == 0 && o[2] == 0 {
        Some("protocol assignments")
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    // An IPv4 address written as IPv6 (mapped, or NAT64's well-known prefix) is judged as IPv4.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return forbidden_v4(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8));
    }
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        Some("cloud metadata")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if (s[0] & 0xfe00) == 0xfc00 {
        Some("unique-local")
    } else if (s[0] & 0xffc0) == 0xfe80 || (s[0] & 0xffc0) == 0xfec0 {
        Some("link-local")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if s[0..6] == [0, 0, 0, 0, 0, 0] {
        // IPv4-compatible (deprecated): ::a.b.c.d
        Some("reserved")
    } else {
        None
    }
}

/// The guard with the operator's allow-list.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    allowed: Vec<IpNet>,
}

impl Guard {
    pub fn new(allowed: Vec<IpNet>) -> Self {
        Self { allowed }
    }

    /// Whether a call may go to `ip`.
    pub fn admits(&self, ip: IpAddr) -> Result<(), Refused> {
        match forbidden_kind(ip) {
            None => Ok(()),
            Some(_) if self.allowed.iter().any(|n| n.contains(&ip)) => Ok(()),
            Some(kind) => Err(Refused(format!(
                "{ip} is a {kind} address; outgoing calls to it are refused (an operator may allow it with RUSTCHAT_WEBHOOK_ALLOWED_NETWORKS)"
            ))),
        }
    }

    /// Parses a callback URL as an integration's owner gives it: http or https, a host, no credentials.
    pub fn parse_url(raw: &str, field: &str) -> Result<url::Url, Refused> {
        let url = url::Url::parse(raw.trim()).map_err(|e| Refused(format!("{field}: not a URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused(format!("{field}: only http and https URLs are called")));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(Refused(format!("{field}: the URL has no host")));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refused(format!("{field}: credentials in the URL are not accepted")));
        }
        if raw.len() > 1024 {
            return Err(Refused(format!("{field}: at most 1024 characters")));
        }
        Ok(url)
    }

    /// Refuses, without resolving, a URL whose host is a literal forbidden address: the owner learns
    /// at creation. Names are checked when called (their addresses may change).
    pub fn check_literal(&self, url: &url::Url) -> Result<(), Refused> {
        match url.host() {
            Some(url::Host::Ipv4(ip)) => self.admits(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.admits(IpAddr::V6(ip)),
            _ => Ok(()),
        }
    }

    /// Resolves `url`'s host once and picks the first admitted address. If any address the name
    /// resolves to is forbidden, the target is refused: a name that points inside is not called.
    pub async fn resolve(&self, url: &url::Url) -> Result<Target, Refused> {
        let host = url.host_str().unwrap_or_default().to_string();
        let port = url.port_or_known_default().unwrap_or(80);
        let addrs: Vec<SocketAddr> = match url.host() {
            Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
            Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
            Some(url::Host::Domain(name)) => {
                let lookup = tokio::net::lookup_host((name, port));
                match tokio::time::timeout(Duration::from_secs(5), lookup).await {
                    Ok(Ok(addrs)) => addrs.collect(),
                    Ok(Err(e)) => return Err(Refused(format!("cannot resolve {name}: {e}"))),
                    Err(_) => return Err(Refused(format!("cannot resolve {name}: timed out"))),
                }
            }
            None => return Err(Refused("the URL has no host".into())),
        };
        let first = *addrs.first().ok_or_else(|| Refused(format!("{host} has no address")))?;
        for addr in &addrs {
            self.admits(addr.ip())?;
        }
        Ok(Target { url: url.clone(), host, addr: first })
    }

    /// An HTTP client that dials only `target.addr`, follows no redirect and uses no proxy.
    pub fn client(target: &Target, timeout: Duration) -> reqwest::Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("RustChat/", env!("CARGO_PKG_VERSION")));
        if let Some(url::Host::Domain(name)) = target.url.host() {
            builder = builder.resolve(name, target.addr);
        }
        builder.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_forbidden_and_public_ones_are_not() {
        let cases: &[(&str, Option<&str>)] = &[
            ("127.0.0.1", Some("loopback")),
            ("127.255.0.9", Some("loopback")),
            ("0.0.0.0", Some("unspecified")),
            ("10.0.0.1", Some("private")),
            ("172.16.5.4", Some("private")),
            ("172.31.255.255", Some("private")),
            ("192.168.1.1", Some("private")),
            ("169.254.169.254", Some("cloud metadata")),
            ("169.254.10.1", Some("link-local")),
            ("100.64.0.1", Some("shared (carrier-grade NAT)")),
            ("224.0.0.1", Some("multicast")),
            ("255.255.255.255", Some("reserved")),
            ("240.0.0.1", Some("reserved")),
            ("198.18.0.1", Some("benchmarking")),
            ("::1", Some("loopback")),
            ("::", Some("unspecified")),
            ("fd00:ec2::254", Some("cloud metadata")),
            ("fd12:3456::1", Some("unique-local")),
            ("fc00::1", Some("unique-local")),
            ("fe80::1", Some("link-local")),
            ("ff02::1", Some("multicast")),
            ("::ffff:127.0.0.1", Some("loopback")),
            ("::ffff:169.254.169.254", Some("cloud metadata")),
            ("64:ff9b::a00:1", Some("private")),
            ("::10.0.0.1", Some("reserved")),
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("172.32.0.1", None),
            ("100.128.0.1", None),
            ("2606:4700:4700::1111", None),
            ("::ffff:8.8.8.8", None),
        ];
        for (ip, expected) in cases {
            let parsed: IpAddr = ip.parse().unwrap_or_else(|e| panic!("{ip}: {e}"));
            assert_eq!(forbidden_kind(parsed), *expected, "{ip}");
        }
    }

    #[test]
    fn the_allow_list_admits_exactly_its_networks() {
        let guard = Guard::new(vec!["127.0.0.1/32".parse().unwrap_or_else(|e| panic!("{e}"))]);
        assert!(guard.admits("127.0.0.1".parse().unwrap_or_else(|e| panic!("{e}"))).is_ok());
        assert!(guard.admits("127.0.0.2".parse().unwrap_or_else(|e| panic!("{e}"))).is_err());
        assert!(guard.admits("169.254.169.254".parse().unwrap_or_else(|e| panic!("{e}"))).is_err());
        assert!(Guard::default().admits("93.184.216.34".parse().unwrap_or_else(|e| panic!("{e}"))).is_ok());
    }

    #[test]
    fn only_plain_http_urls_with_a_host_are_accepted() {
        for bad in ["ftp://example.com/x", "file:///etc/passwd", "http://user:pw@example.com/", "not a url"] {
            assert!(Guard::parse_url(bad, "url").is_err(), "{bad}");
        }
        assert!(Guard::parse_url("https://example.com/hook", "url").is_ok());
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_unless_allowed() {
        let url = Guard::parse_url("http://localhost:9/x", "url").unwrap_or_else(|e| panic!("{e}"));
        assert!(Guard::default().resolve(&url).await.is_err());
        let allowed = Guard::new(vec![
            "127.0.0.0/8".parse().unwrap_or_else(|e| panic!("{e}")),
            "::1/128".parse().unwrap_or_else(|e| panic!("{e}")),
        ]);
        let target = allowed.resolve(&url).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(target.addr.ip().is_loopback());
    }
}
