//! Refusing private and loopback addresses, for feed lists that come from untrusted people.
//!
//! A feed URL is a request the server makes on someone's behalf: pointed at
//! `http://169.254.169.254/` or `http://localhost:8080/admin`, it reads things that only the
//! machine itself should see. When `refuse_private_addresses` is on, every hop of every fetch
//! is checked twice: an IP literal in the URL before the request, and every name after DNS
//! resolution, inside the resolver the HTTP client connects with, so that a name which
//! resolves to a private address (or is re-pointed there between two lookups) cannot be
//! connected to. Redirects go through the same checks, since each hop is a new request. Hosts
//! named in the allow list (a self-hosted bridge, say) are exempt. The option is off by
//! default because self-hosted bridges on the same machine are common.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// The address-checking policy shared by the URL check and the resolver.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    pub refuse_private: bool,
    /// Host names (lowercase, no port) that may resolve to private addresses anyway.
    pub allowed_hosts: Vec<String>,
}

impl AddressPolicy {
    fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.allowed_hosts.iter().any(|h| h.eq_ignore_ascii_case(&host))
    }

    /// Checks a URL's host when it is an IP literal (names are checked by the resolver).
    pub fn check_url(&self, url: &url::Url) -> Result<(), RefusedAddress> {
        if !self.refuse_private {
            return Ok(());
        }
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            Some(url::Host::Domain(d)) => {
                // "localhost" never needs DNS to be private.
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                if (d == "localhost" || d.ends_with(".localhost")) && !self.allows_host(&d) {
                    return Err(RefusedAddress { host: d, addr: IpAddr::V4(Ipv4Addr::LOCALHOST) });
                }
                return Ok(());
            }
            None => return Ok(()),
        };
        let host = url.host_str().unwrap_or_default().to_string();
        if is_private(ip) && !self.allows_host(&host) {
            return Err(RefusedAddress { host, addr: ip });
        }
        Ok(())
    }
}

/// A host was refused because it is, or resolves to, a private or loopback address.
#[derive(Debug, Clone, thiserror::Error)]
#[error("refused to connect to {host}: {addr} is a private, loopback or link-local address (fetch.refuse_private_addresses is on)")]
pub struct RefusedAddress {
    pub host: String,
    pub addr: IpAddr,
}

/// True for addresses that are not on the public internet: loopback, private ranges,
/// link-local, carrier-grade NAT, unique local, unspecified, multicast, broadcast, and
/// documentation/benchmark ranges, including IPv4 addresses wrapped in IPv6.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => private_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return private_v4(v4);
            }
            private_v6(v6)
        }
    }
}

fn private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT, 100.64.0.0/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking, 198.18.0.0/15
        || a >= 240 // reserved
}

fn private_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local, fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local, fe80::/10
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated), fec0::/10
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || ip.to_ipv4().is_some_and(|v4| ip.segments()[..6] == [0; 6] && private_v4(v4))
    // IPv4-compatible
}

/// The resolver the HTTP client connects with: the system's, minus refused addresses.
#[derive(Debug)]
pub struct GuardedResolver {
    pub policy: Arc<AddressPolicy>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !policy.refuse_private || policy.allows_host(&host) {
                return Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs);
            }
            let (public, private): (Vec<SocketAddr>, Vec<SocketAddr>) =
                addrs.into_iter().partition(|a| !is_private(a.ip()));
            if public.is_empty() {
                if let Some(first) = private.first() {
                    let refused = RefusedAddress { host, addr: first.ip() };
                    return Err(Box::new(refused) as Box<dyn std::error::Error + Send + Sync>);
                }
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_ranges() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_private(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "172.32.0.1", "100.128.0.1"] {
            assert!(!is_private(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn urls_with_private_literals_are_refused_unless_allowed() {
        let policy = AddressPolicy { refuse_private: true, allowed_hosts: vec!["10.0.0.5".into()] };
        let check = |u: &str| policy.check_url(&url::Url::parse(u).unwrap());
        assert!(check("http://127.0.0.1:8080/feed").is_err());
        assert!(check("http://[::1]/feed").is_err());
        assert!(check("http://localhost/feed").is_err());
        assert!(check("http://10.0.0.5/feed").is_ok());
        assert!(check("https://example.org/feed").is_ok());
        let off = AddressPolicy::default();
        assert!(off.check_url(&url::Url::parse("http://127.0.0.1/").unwrap()).is_ok());
    }
}
