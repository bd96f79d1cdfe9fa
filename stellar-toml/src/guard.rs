//! The SSRF guard: which IP addresses a request on behalf of a network-learned domain may reach.
//!
//! A compliance server fetches whatever domain a request names, so without this guard anyone
//! could make it talk to its own loopback or intranet. The guard has two halves, because
//! reqwest only consults a DNS resolver for names:
//! - [`is_public_ip`], applied by the fetch code to IP-literal hosts before connecting;
//! - `GuardedDns`, a `reqwest::dns::Resolve` around hickory-resolver that drops every
//!   non-public address from a lookup and fails when none remains, so the connection can only
//!   go to an address that passed the check (no second lookup, no rebinding window).

use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use hickory_resolver::TokioResolver;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` is a globally routable unicast address that the guard lets requests reach.
///
/// Refused: unspecified, "this network" 0/8, loopback, private (10/8, 172.16/12, 192.168/16),
/// CGNAT 100.64/10, link-local (169.254/16, fe80::/10), IETF 192.0.0/24, benchmarking 198.18/15,
/// documentation ranges, reserved 240/4, broadcast, multicast, unique-local fc00::/7,
/// site-local fec0::/10, discard 100::/64, and IPv6 forms that embed a refused IPv4 address
/// (IPv4-mapped, IPv4-compatible, NAT64 64:ff9b::/96, 6to4 2002::/16).
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let refused = a == 0 // "this network", includes unspecified
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // CGNAT
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224; // multicast, reserved, broadcast
    !refused
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let seg = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    // IPv4-compatible ::a.b.c.d (deprecated), which also covers :: and ::1.
    if seg[..6] == [0; 6] {
        return false;
    }
    // NAT64 well-known prefix 64:ff9b::/96.
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(embedded_v4(seg[6], seg[7]));
    }
    // 6to4 2002::/16 embeds an IPv4 address in the next 32 bits.
    if seg[0] == 0x2002 {
        return is_public_v4(embedded_v4(seg[1], seg[2]));
    }
    let refused = (seg[0] & 0xfe00) == 0xfc00 // unique-local fc00::/7
        || (seg[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (seg[0] & 0xffc0) == 0xfec0 // site-local fec0::/10
        || (seg[0] & 0xff00) == 0xff00 // multicast
        || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
        || seg[..4] == [0x0100, 0, 0, 0]; // discard-only 100::/64
    !refused
}

fn embedded_v4(high: u16, low: u16) -> Ipv4Addr {
    let [a, b] = high.to_be_bytes();
    let [c, d] = low.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

/// The error a [`GuardedDns`] lookup fails with when every address was refused; the fetch code
/// finds it in reqwest's error chain and reports [`Error::RefusedAddress`](crate::Error).
#[derive(Debug)]
pub(crate) struct Refused(pub(crate) String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} resolves only to refused addresses", self.0)
    }
}

impl StdError for Refused {}

/// A reqwest DNS resolver that resolves with hickory and keeps only [`is_public_ip`] addresses.
#[derive(Clone)]
pub(crate) struct GuardedDns {
    resolver: Arc<TokioResolver>,
}

impl fmt::Debug for GuardedDns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GuardedDns")
    }
}

impl GuardedDns {
    /// Builds a resolver from the system configuration (/etc/resolv.conf, /etc/hosts).
    pub(crate) fn from_system() -> Result<Self, String> {
        let resolver = TokioResolver::builder_tokio()
            .and_then(|builder| builder.build())
            .map_err(|e| format!("cannot set up DNS resolution: {e}"))?;
        Ok(Self {
            resolver: Arc::new(resolver),
        })
    }
}

impl Resolve for GuardedDns {
    fn resolve(&self, name: Name) -> Resolving {
        let resolver = Arc::clone(&self.resolver);
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let lookup = resolver.lookup_ip(host.as_str()).await?;
            let allowed: Vec<SocketAddr> = lookup
                .iter()
                .filter(|ip| {
                    let public = is_public_ip(*ip);
                    if !public {
                        tracing::debug!(%host, %ip, "SSRF guard dropped an address");
                    }
                    public
                })
                .map(|ip| SocketAddr::new(ip, 0))
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(Refused(host)) as Box<dyn StdError + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(s: &str) -> bool {
        is_public_ip(s.parse().unwrap())
    }

    #[test]
    fn refuses_internal_ipv4() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "169.254.169.254",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(!public(ip), "{ip} should be refused");
        }
    }

    #[test]
    fn allows_public_ipv4() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "192.169.0.1",
            "93.184.216.34",
        ] {
            assert!(public(ip), "{ip} should be allowed");
        }
    }

    #[test]
    fn refuses_internal_ipv6() {
        for ip in [
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "2002:a00:1::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "100::1",
        ] {
            assert!(!public(ip), "{ip} should be refused");
        }
    }

    #[test]
    fn allows_public_ipv6() {
        for ip in [
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(public(ip), "{ip} should be allowed");
        }
    }
}
