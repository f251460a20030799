//! `hosts`: the HTTP destinations a project lets one connector reach.
//!
//! A grant of `http.read`/`http.write` says *which methods*; `hosts` says
//! *where*. Each entry is `host[:port]`, where `host` is a DNS name, an IPv4
//! address or a bracketed IPv6 address, and a DNS name may start with `*.` to
//! mean "any name below this one" (never the name itself, never a bare `*`).
//! Without a port a pattern allows only the scheme's default port (80 for
//! `http`, 443 for `https`): a grant of `api.example.com` must not open
//! `api.example.com:8080`, a different service. Matching is ASCII
//! case-insensitive, as DNS is. Patterns are parsed once here, so a value of
//! [`HostPattern`] is always well formed and `latticeflow.toml`, the lock and
//! the host agree on what a pattern means.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

/// One `hosts` entry: `api.example.com`, `*.googleapis.com:443`,
/// `127.0.0.1:8080`, `[::1]:9000`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPattern {
    /// Lowercase host without the `*.` prefix (IPv6 without brackets).
    host: String,
    /// Whether the pattern was `*.host`.
    wildcard: bool,
    /// The port, or `None` for the scheme's default port.
    port: Option<u16>,
}

/// Why a `hosts` entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid host pattern `{pattern}`: {reason}")]
pub struct HostPatternError {
    /// The entry as written.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// The longest DNS name (RFC 1035).
const MAX_NAME: usize = 253;

impl HostPattern {
    /// Parses `host[:port]`.
    pub fn parse(pattern: &str) -> Result<Self, HostPatternError> {
        let fail = |reason| HostPatternError {
            pattern: pattern.to_owned(),
            reason,
        };
        if pattern.is_empty() {
            return Err(fail("it is empty"));
        }
        if pattern.contains("://") || pattern.contains('/') {
            return Err(fail(
                "write a host and an optional port, without a scheme or path",
            ));
        }
        let (host, port) = if let Some(rest) = pattern.strip_prefix('[') {
            let (v6, after) = rest
                .split_once(']')
                .ok_or_else(|| fail("an IPv6 address needs a closing `]`"))?;
            v6.parse::<Ipv6Addr>()
                .map_err(|_| fail("not an IPv6 address"))?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| fail("expected `:port` after `]`"))?,
                ),
            };
            (v6.to_ascii_lowercase(), port)
        } else {
            match pattern.rsplit_once(':') {
                Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
                None => (pattern.to_ascii_lowercase(), None),
            }
        };
        let port = match port {
            None => None,
            Some(p) => {
                let n: u16 = p
                    .parse()
                    .map_err(|_| fail("the port must be a number from 1 to 65535"))?;
                if n == 0 {
                    return Err(fail("the port must be a number from 1 to 65535"));
                }
                Some(n)
            }
        };
        if pattern.starts_with('[') {
            return Ok(HostPattern {
                host,
                wildcard: false,
                port,
            });
        }
        let (wildcard, name) = match host.strip_prefix("*.") {
            Some(rest) => (true, rest.to_owned()),
            None => (false, host),
        };
        if name.contains('*') {
            return Err(fail(
                "`*` is allowed only as the whole first label (`*.example.com`)",
            ));
        }
        if name.is_empty() || name.len() > MAX_NAME {
            return Err(fail("the host name must have 1 to 253 characters"));
        }
        for label in name.split('.') {
            let ok = !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(fail(
                    "each label of the host name must be 1 to 63 letters, digits, `-` or `_`",
                ));
            }
        }
        if wildcard && !name.contains('.') {
            return Err(fail(
                "a wildcard must keep at least two labels (`*.example.com`, not `*.com`)",
            ));
        }
        Ok(HostPattern {
            host: name,
            wildcard,
            port,
        })
    }

    /// Whether a request to `host` on `port` (the URL's port, or its
    /// scheme's default) is allowed. `host` may carry IPv6 brackets.
    pub fn matches(&self, host: &str, port: u16, default_port: u16) -> bool {
        let wanted = self.port.unwrap_or(default_port);
        if port != wanted {
            return false;
        }
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let host = host.strip_suffix('.').unwrap_or(host);
        if self.wildcard {
            host.len() > self.host.len() + 1
                && host
                    .get(host.len() - self.host.len()..)
                    .is_some_and(|tail| tail.eq_ignore_ascii_case(&self.host))
                && host.as_bytes()[host.len() - self.host.len() - 1] == b'.'
        } else {
            host.eq_ignore_ascii_case(&self.host)
        }
    }
}

impl FromStr for HostPattern {
    type Err = HostPatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HostPattern::parse(s)
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wildcard {
            f.write_str("*.")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

impl serde::Serialize for HostPattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for HostPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        HostPattern::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> HostPattern {
        HostPattern::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn exact_names_match_their_default_port_only() {
        let pat = p("API.example.com");
        assert!(pat.matches("api.example.com", 443, 443));
        assert!(pat.matches("Api.Example.Com.", 80, 80));
        assert!(!pat.matches("api.example.com", 8080, 443));
        assert!(!pat.matches("x.api.example.com", 443, 443));
        assert!(!pat.matches("example.com", 443, 443));
        assert_eq!(pat.to_string(), "api.example.com");
    }

    #[test]
    fn ports_are_exact() {
        let pat = p("127.0.0.1:8080");
        assert!(pat.matches("127.0.0.1", 8080, 80));
        assert!(!pat.matches("127.0.0.1", 80, 80));
        assert!(!pat.matches("127.0.0.2", 8080, 80));
        let v6 = p("[::1]:9000");
        assert!(v6.matches("[::1]", 9000, 443));
        assert!(v6.matches("::1", 9000, 443));
        assert_eq!(v6.to_string(), "[::1]:9000");
    }

    #[test]
    fn wildcards_match_below_never_the_apex() {
        let pat = p("*.googleapis.com:443");
        assert!(pat.matches("www.googleapis.com", 443, 443));
        assert!(pat.matches("a.b.googleapis.com", 443, 443));
        assert!(!pat.matches("googleapis.com", 443, 443));
        assert!(!pat.matches("evilgoogleapis.com", 443, 443));
        assert!(!pat.matches("www.googleapis.com.evil.io", 443, 443));
        assert_eq!(pat.to_string(), "*.googleapis.com:443");
    }

    #[test]
    fn malformed_patterns_are_refused() {
        for bad in [
            "",
            "*",
            "*.com",
            "a.*.com",
            "https://api.example.com",
            "api.example.com/x",
            "api.example.com:0",
            "api.example.com:99999",
            "api.example.com:",
            "-a.example.com",
            "a..b",
            "[::1",
            "[zz]:1",
            "bad host",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
