//! A small splitter for the URLs of HTTP health checks: `scheme://host[:port][/path]`,
//! shared by the configuration (validation) and the HTTP probe.
//!
//! Hand-written on purpose: the `url` crate is in the workspace only through bake's
//! `reqwest`, not in the daemon's tree, and it brings `idna` and its Unicode (ICU) tables into
//! a static binary that must stay small. Health checks need less than it offers: http or
//! https, a host that is an address or an ASCII name (no IDNA, no user info, no fragment),
//! a port and the path sent as is. The splitter refuses everything else with a message
//! naming the URL, and `fuzz/native_toml` runs it.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::Ipv6Addr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// A parsed `http://` or `https://` URL. `Display` gives back the text it was read from
/// (normalised: scheme lowercase, path `/` when none was given).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HttpUrl {
    pub scheme: Scheme,
    /// Host name or address; IPv6 without the brackets.
    pub host: String,
    /// Port written in the URL, if any; see [`HttpUrl::port`].
    pub explicit_port: Option<u16>,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl HttpUrl {
    pub fn parse(text: &str) -> Result<HttpUrl, String> {
        let bad = |why: &str| format!("URL `{text}` {why}");
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| bad("has no scheme (expected http:// or https://)"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return Err(bad("has an unsupported scheme (expected http or https)")),
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        if authority.contains('@') {
            return Err(bad("has user info, which health checks do not support"));
        }
        if path.contains('#') {
            return Err(bad("has a fragment"));
        }
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("has whitespace in its path"));
        }
        let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
            let (host, after) = inner
                .split_once(']')
                .ok_or_else(|| bad("has an unclosed `[`"))?;
            if host.parse::<Ipv6Addr>().is_err() {
                return Err(bad("has an invalid IPv6 address"));
            }
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| bad("has junk after `]`"))?,
                ),
            };
            (host, port)
        } else {
            let (host, port) = match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            };
            if host.contains(':') {
                return Err(bad(
                    "has an IPv6 address without brackets (write http://[ADDRESS]:PORT/)",
                ));
            }
            (host, port)
        };
        if host.is_empty() {
            return Err(bad("has no host"));
        }
        if !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
        {
            return Err(bad("has an invalid host"));
        }
        let explicit_port = match port {
            None => None,
            Some(p) => match p.parse::<u16>() {
                Ok(port) if port != 0 => Some(port),
                _ => return Err(bad("has an invalid port")),
            },
        };
        Ok(HttpUrl {
            scheme,
            host: host.to_string(),
            explicit_port,
            path,
        })
    }

    pub fn port(&self) -> u16 {
        self.explicit_port.unwrap_or(self.scheme.default_port())
    }

    /// The Host header value: brackets for IPv6, the port when it is not the default.
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port() == self.scheme.default_port() {
            host
        } else {
            format!("{host}:{}", self.port())
        }
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        write!(f, "{scheme}://")?;
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            write!(f, "{}", self.host)?;
        }
        if let Some(port) = self.explicit_port {
            write!(f, ":{port}")?;
        }
        write!(f, "{}", self.path)
    }
}

impl TryFrom<String> for HttpUrl {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        HttpUrl::parse(&text)
    }
}

impl From<HttpUrl> for String {
    fn from(url: HttpUrl) -> String {
        url.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unbracketed_host_with_colons_is_refused() {
        // Found by fuzz/native_toml: it was read as host `1:7.0.0.1`, written back in
        // brackets, and then refused.
        let err = HttpUrl::parse("http://1:7.0.0.1:10254/healthz").unwrap_err();
        assert!(err.contains("without brackets"), "{err}");
        assert!(HttpUrl::parse("http://2001:db8::1/").is_err());
        let url = HttpUrl::parse("http://[2001:db8::1]:8080/x").unwrap();
        assert_eq!(HttpUrl::parse(&url.to_string()), Ok(url));
    }

    #[test]
    fn splits_urls() {
        let u = HttpUrl::parse("http://127.0.0.1:10254/healthz").unwrap();
        assert_eq!(
            (u.scheme, u.host.as_str(), u.port(), u.path.as_str()),
            (Scheme::Http, "127.0.0.1", 10254, "/healthz")
        );
        let u = HttpUrl::parse("HTTPS://[2001:db8::1]/x?y=1").unwrap();
        assert_eq!((u.host.as_str(), u.port()), ("2001:db8::1", 443));
        assert_eq!(u.to_string(), "https://[2001:db8::1]/x?y=1");
        assert_eq!(HttpUrl::parse("http://h").unwrap().path, "/");
        for bad in [
            "ftp://h/",
            "127.0.0.1/healthz",
            "http://",
            "http://h:99999/",
            "http://h:0/",
            "http://u@h/",
            "http://[::1/",
            "http://bad host/",
        ] {
            assert!(HttpUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
