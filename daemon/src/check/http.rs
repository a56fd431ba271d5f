//! HTTP(S) check: a minimal HTTP/1.1 GET (Connection: close) that reads the response head
//! (status line and headers, bounded), never the body.

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

/// Largest response head (status line and headers) we read before giving up; curl's is
/// 300 KiB, real health endpoints send well under 8 KiB.
pub const MAX_HEAD: usize = 64 * 1024;

/// Sends the request and reads the response head: the status counts only once the head is
/// complete (its blank line read), so a server that dies or resets mid-headers, or closes
/// after a bare "HTTP/1.1 200", fails the check as it fails `curl -f`. The body is never
/// read. Interim 1xx heads (103 Early Hints) are skipped.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &str,
) -> Result<u16, String> {
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("send: {e}"))?;
    stream.flush().await.map_err(|e| format!("send: {e}"))?;
    let mut head = HeadReader::default();
    let mut chunk = [0u8; 2048];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("receive: {e}"))?;
        if n == 0 {
            return Err(head.closed());
        }
        if let Some(status) = head.feed(chunk.get(..n).unwrap_or_default())? {
            return Ok(status);
        }
    }
}

/// Reads response heads from a byte stream; see [`exchange`]. Every byte is looked at once.
#[derive(Default)]
pub struct HeadReader {
    /// The current head so far.
    buf: Vec<u8>,
    /// Where the line being read starts in `buf`.
    line_start: usize,
    /// Bytes of `buf` already looked at.
    scanned: usize,
    /// The current head's status, once its status line is complete.
    status: Option<u16>,
    /// Bytes of every head read, interim ones included.
    total: usize,
}

impl HeadReader {
    /// Takes the next bytes; `Ok(Some(status))` once a final head is complete.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<Option<u16>, String> {
        while !bytes.is_empty() {
            let room = MAX_HEAD.saturating_sub(self.total);
            if room == 0 {
                return Err(match self.status {
                    None => "status line too long".into(),
                    Some(code) => {
                        format!("HTTP {code} with response headers over {MAX_HEAD} bytes")
                    }
                });
            }
            let take = bytes.len().min(room);
            let (now, rest) = bytes.split_at(take);
            self.buf.extend_from_slice(now);
            self.total += take;
            bytes = rest;
            while let Some(offset) = self
                .buf
                .get(self.scanned..)
                .and_then(|b| b.iter().position(|&c| c == b'\n'))
            {
                let end = self.scanned + offset;
                self.scanned = end + 1;
                let line = self.buf.get(self.line_start..end).unwrap_or_default();
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                self.line_start = end + 1;
                match self.status {
                    None => {
                        if line.len() > MAX_STATUS_LINE {
                            return Err("status line too long".into());
                        }
                        self.status = Some(parse_status_line(line)?);
                    }
                    Some(code) if line.is_empty() => {
                        if (100..200).contains(&code) && code != 101 {
                            // An interim head: the final one follows.
                            self.buf.drain(..self.scanned);
                            self.line_start = 0;
                            self.scanned = 0;
                            self.status = None;
                            continue;
                        }
                        return Ok(Some(code));
                    }
                    Some(_) => {}
                }
            }
            self.scanned = self.buf.len();
            if self.status.is_none() && self.buf.len() - self.line_start > MAX_STATUS_LINE {
                return Err("status line too long".into());
            }
            // Only the unfinished line is needed from here on.
            if self.status.is_some() {
                self.buf.drain(..self.line_start);
                self.scanned -= self.line_start;
                self.line_start = 0;
            }
        }
        Ok(None)
    }

    /// Why a stream that ends now has no answer.
    pub fn closed(&self) -> String {
        match self.status {
            None if self.total == 0 => "connection closed without a response".into(),
            None => format!(
                "connection closed inside the status line {:?}",
                String::from_utf8_lossy(self.buf.get(..self.buf.len().min(80)).unwrap_or_default())
            ),
            Some(code) => {
                format!("HTTP {code}, but the connection closed before the end of the headers")
            }
        }
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

    fn read_head(pieces: &[&[u8]]) -> Result<Option<u16>, String> {
        let mut head = HeadReader::default();
        for piece in pieces {
            if let Some(code) = head.feed(piece)? {
                return Ok(Some(code));
            }
        }
        Ok(None)
    }

    #[test]
    fn a_status_counts_once_the_head_is_complete() {
        let whole = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(read_head(&[whole]), Ok(Some(200)));
        // One byte at a time, and bare LF line ends.
        let pieces: Vec<&[u8]> = whole.chunks(1).collect();
        assert_eq!(read_head(&pieces), Ok(Some(200)));
        assert_eq!(read_head(&[b"HTTP/1.0 503 No\n\n"]), Ok(Some(503)));
        // Not complete: no answer yet, and a close now is a failure that says why.
        for partial in [
            &b"HTTP/1.1 200"[..],
            b"HTTP/1.1 200 OK\r\n",
            b"HTTP/1.1 200 OK\r\nA: b\r\n",
        ] {
            let mut head = HeadReader::default();
            assert_eq!(head.feed(partial), Ok(None), "{partial:?}");
            let why = head.closed();
            assert!(why.contains("closed"), "{why}");
        }
        assert!(HeadReader::default()
            .closed()
            .contains("without a response"));
    }

    #[test]
    fn interim_heads_are_skipped() {
        let text =
            b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(read_head(&[text]), Ok(Some(204)));
        let pieces: Vec<&[u8]> = text.chunks(7).collect();
        assert_eq!(read_head(&pieces), Ok(Some(204)));
    }

    #[test]
    fn heads_are_bounded() {
        let mut head = HeadReader::default();
        head.feed(b"HTTP/1.1 200 OK\r\n").unwrap();
        let header = b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
        let mut result = Ok(None);
        for _ in 0..(2 * MAX_HEAD / header.len()) {
            result = head.feed(header);
            if result.is_err() {
                break;
            }
        }
        assert!(result.unwrap_err().contains("over"));
        // What is kept stays small however long the head: only the unfinished line.
        assert!(head.buf.len() < header.len());

        let mut head = HeadReader::default();
        let err = head.feed(&[b'A'; MAX_STATUS_LINE + 10]).unwrap_err();
        assert_eq!(err, "status line too long");
        let mut long = b"HTTP/1.1 200 ".to_vec();
        long.resize(MAX_STATUS_LINE + 10, b'x');
        long.extend_from_slice(b"\r\n\r\n");
        assert_eq!(read_head(&[&long]), Err("status line too long".into()));
    }
}
