//! HTTP(S) check: a minimal HTTP/1.1 GET (Connection: close) that reads only the status line.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{tcp, tls, ProbeResult};

pub use crate::url::{HttpUrl as Url, Scheme};

/// A prepared HTTP check; the TLS configuration is built once.
#[derive(Clone)]
pub struct HttpProbe {
    url: Url,
    expect_status: Vec<u16>,
    host_header: Option<String>,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl HttpProbe {
    pub fn new(
        url: Url,
        expect_status: Vec<u16>,
        insecure: bool,
        host_header: Option<String>,
    ) -> Result<Self, String> {
        let tls = match url.scheme {
            Scheme::Http => None,
            Scheme::Https => Some(tls::client_config(insecure)?),
        };
        Ok(HttpProbe {
            url,
            expect_status,
            host_header,
            tls,
        })
    }

    pub async fn probe(&self, timeout: Duration) -> ProbeResult {
        let start = Instant::now();
        let status = match tokio::time::timeout(timeout, self.fetch_status()).await {
            Ok(r) => r,
            Err(_) => Err(format!("timeout after {timeout:?}")),
        };
        let latency = start.elapsed();
        match status {
            Ok(code) if self.status_ok(code) => ProbeResult::ok(latency, format!("HTTP {code}")),
            Ok(code) => ProbeResult::fail(latency, format!("HTTP {code} (unexpected)")),
            Err(e) => ProbeResult::fail(latency, e),
        }
    }

    fn status_ok(&self, code: u16) -> bool {
        if self.expect_status.is_empty() {
            (200..300).contains(&code)
        } else {
            self.expect_status.contains(&code)
        }
    }

    async fn fetch_status(&self) -> Result<u16, String> {
        let stream = tcp::connect(&self.url.host, self.url.port()).await?;
        let request = self.request();
        match &self.tls {
            None => exchange(stream, &request).await,
            Some(config) => {
                let name = rustls::pki_types::ServerName::try_from(self.url.host.clone())
                    .map_err(|e| format!("TLS server name {}: {e}", self.url.host))?;
                let tls_stream = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name, stream)
                    .await
                    .map_err(|e| format!("TLS: {e}"))?;
                exchange(tls_stream, &request).await
            }
        }
    }

    fn request(&self) -> String {
        let host = self
            .host_header
            .clone()
            .unwrap_or_else(|| self.url.authority());
        format!(
            "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: vipd-check\r\nAccept: */*\r\nConnection: close\r\n\r\n",
            self.url.path
        )
    }
}

/// Largest status line we read before giving up.
const MAX_STATUS_LINE: usize = 4096;

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &str,
) -> Result<u16, String> {
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("send: {e}"))?;
    stream.flush().await.map_err(|e| format!("send: {e}"))?;
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    loop {
        if let Some(end) = buf.windows(2).position(|w| w == b"\r\n") {
            return parse_status_line(buf.get(..end).unwrap_or_default());
        }
        if buf.len() > MAX_STATUS_LINE {
            return Err("status line too long".into());
        }
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("receive: {e}"))?;
        if n == 0 {
            return if buf.is_empty() {
                Err("connection closed without a response".into())
            } else {
                parse_status_line(&buf)
            };
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

/// "HTTP/1.1 200 OK" -> 200.
pub fn parse_status_line(line: &[u8]) -> Result<u16, String> {
    let bad = || {
        format!(
            "bad status line {:?}",
            String::from_utf8_lossy(line.get(..line.len().min(80)).unwrap_or_default())
        )
    };
    let text = std::str::from_utf8(line).map_err(|_| bad())?;
    let mut parts = text.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/") || code.len() != 3 {
        return Err(bad());
    }
    code.parse::<u16>()
        .ok()
        .filter(|c| (100..=599).contains(c))
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let u = Url::parse("https://127.0.0.1:6443/healthz").unwrap();
        assert_eq!(u.scheme, Scheme::Https);
        assert_eq!(u.host, "127.0.0.1");
        assert_eq!(u.port(), 6443);
        assert_eq!(u.path, "/healthz");
        assert_eq!(u.to_string(), "https://127.0.0.1:6443/healthz");

        let u = Url::parse("HTTP://example.test").unwrap();
        assert_eq!((u.port(), u.path.as_str()), (80, "/"));
        assert_eq!(u.authority(), "example.test");

        let u = Url::parse("http://[2001:db8::1]:8080/a?b=c").unwrap();
        assert_eq!(u.host, "2001:db8::1");
        assert_eq!(u.path, "/a?b=c");
        assert_eq!(u.authority(), "[2001:db8::1]:8080");

        let u = Url::parse("https://[::1]").unwrap();
        assert_eq!((u.port(), u.authority().as_str()), (443, "[::1]"));

        let u = Url::parse("http://h?x=1").unwrap();
        assert_eq!(u.path, "/?x=1");
    }

    #[test]
    fn rejects_bad_urls() {
        for bad in [
            "",
            "ftp://x/",
            "http://",
            "http:///path",
            "http://host:0/",
            "http://host:99999/",
            "http://host:port/",
            "http://[::1/",
            "http://[zz]/",
            "http://user@host/",
            "http://ho st/",
            "http://host/a b",
            "127.0.0.1:80",
            "http://host/#fragment",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn parses_status_lines() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK"), Ok(200));
        assert_eq!(parse_status_line(b"HTTP/1.0 503"), Ok(503));
        assert!(parse_status_line(b"HTTP/1.1 20 OK").is_err());
        assert!(parse_status_line(b"SSH-2.0-OpenSSH").is_err());
        assert!(parse_status_line(b"HTTP/1.1 999 X").is_err());
        assert!(parse_status_line(b"\xff\xfe").is_err());
    }
}
