//! The `/metrics` endpoint: a minimal HTTP/1.1 responder on tokio (one request per
//! connection, `Connection: close`), because a scrape is one GET and a web framework would
//! be most of the binary. Request heads are parsed by `httparse` (hyper's parser).
//!
//! Bounded like the control socket: at most [`MAX_CONNECTIONS`] at once, a request head of
//! at most [`MAX_REQUEST_HEAD`] bytes that must arrive within [`READ_TIMEOUT`], replies
//! taken within [`WRITE_TIMEOUT`]. When all connections are taken, a newcomer takes the slot
//! of one waited on for at least [`super::evict::EVICT_AFTER`], of the address holding the
//! most ([`super::evict`]): idle or slow connections, even from many addresses, cannot keep
//! a scraper out; only when none is that slow does it get 503. The event loop is asked for a
//! snapshot at most every [`MIN_SNAPSHOT_INTERVAL`]; scrapes in between get the last one, so
//! a flood of requests costs the loop nothing more.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Mutex, Semaphore};
use tokio::task::JoinHandle;

use super::evict::{unless_evicted, Waiting, HANDOVER_TIMEOUT};
use super::metrics;
use super::server::Command;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 8;
/// Longest request head (request line and headers) accepted.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// Time a client has to send its request head.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Time a client has to take the response.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Scrapes closer together than this share one snapshot.
pub const MIN_SNAPSHOT_INTERVAL: Duration = Duration::from_millis(100);
const MAX_HEADERS: usize = 64;

/// Counters of the endpoint, shown in the metrics themselves.
#[derive(Debug, Default)]
pub struct HttpStats {
    pub served: AtomicU64,
    /// Malformed, oversized, slow requests and unknown paths or methods.
    pub rejected: AtomicU64,
    pub busy: AtomicU64,
}

/// Binds the metrics address (at start, before anything else runs, so a wrong address
/// stops the daemon with a clear message).
pub fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, String> {
    let listener = std::net::TcpListener::bind(addr).map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => " (another program listens there)",
            std::io::ErrorKind::AddrNotAvailable => " (no such local address)",
            std::io::ErrorKind::PermissionDenied => " (privileged port)",
            _ => "",
        };
        format!("metrics listen address {addr}: {e}{hint}")
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("metrics listen address {addr}: {e}"))?;
    Ok(listener)
}

type Cache = Arc<Mutex<Option<(Instant, Arc<String>)>>>;

/// Serves `/metrics` until aborted (inside a tokio runtime).
pub fn spawn(
    listener: std::net::TcpListener,
    tx: mpsc::Sender<Command>,
    stats: Arc<HttpStats>,
) -> Result<JoinHandle<()>, String> {
    let listener =
        tokio::net::TcpListener::from_std(listener).map_err(|e| format!("metrics: {e}"))?;
    Ok(tokio::spawn(async move {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let cache: Cache = Arc::new(Mutex::new(None));
        let waiting: Arc<Waiting<IpAddr>> = Arc::new(Waiting::default());
        loop {
            let (mut stream, peer) = match listener.accept().await {
                Ok((stream, peer)) => (stream, peer.ip()),
                Err(e) => {
                    tracing::debug!("metrics accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let permit = match slots.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                // A slow connection makes room: it is closed and its slot is this one's.
                Err(_) if waiting.evict_one(Instant::now()) => None,
                Err(_) => {
                    stats.busy.fetch_add(1, Ordering::Relaxed);
                    let _ = stream.try_write(&busy());
                    continue;
                }
            };
            let tx = tx.clone();
            let stats = stats.clone();
            let cache = cache.clone();
            let waiting = waiting.clone();
            let slots = slots.clone();
            tokio::spawn(async move {
                let permit = match permit {
                    Some(permit) => permit,
                    None => {
                        let slot = tokio::time::timeout(HANDOVER_TIMEOUT, slots.acquire_owned());
                        let Ok(Ok(permit)) = slot.await else {
                            stats.busy.fetch_add(1, Ordering::Relaxed);
                            let _ = stream.try_write(&busy());
                            return;
                        };
                        permit
                    }
                };
                // Only the client's parts (its request, taking the reply) can be cut short.
                let head = unless_evicted(&waiting, peer, read_head_within(&mut stream)).await;
                let Some(head) = head else {
                    stats.rejected.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                let reply = handle(head, &tx, &stats, &cache).await;
                let _ = unless_evicted(&waiting, peer, async {
                    tokio::time::timeout(WRITE_TIMEOUT, async {
                        stream.write_all(&reply).await?;
                        stream.shutdown().await
                    })
                    .await
                })
                .await;
                drop(permit);
            });
        }
    }))
}

fn busy() -> Vec<u8> {
    response("503 Service Unavailable", "text/plain", b"busy\n", false)
}

/// What a request head asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Metrics { head_only: bool },
    Index { head_only: bool },
    NotFound,
    MethodNotAllowed,
}

/// Parses a complete request head. Errors are the status line to answer with.
fn route(head: &[u8]) -> Result<Route, &'static str> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) | Err(_) => return Err("400 Bad Request"),
    }
    let head_only = match request.method {
        Some("GET") => false,
        Some("HEAD") => true,
        _ => return Ok(Route::MethodNotAllowed),
    };
    let path = request.path.unwrap_or("");
    let path = path.split('?').next().unwrap_or(path);
    Ok(match path {
        "/metrics" => Route::Metrics { head_only },
        "/" => Route::Index { head_only },
        _ => Route::NotFound,
    })
}

/// The request head, or the status line to answer with (too slow, too long, ...).
async fn read_head_within(stream: &mut TcpStream) -> Result<Vec<u8>, &'static str> {
    match tokio::time::timeout(READ_TIMEOUT, read_head(stream)).await {
        Ok(result) => result,
        Err(_) => Err("408 Request Timeout"),
    }
}

async fn handle(
    head: Result<Vec<u8>, &'static str>,
    tx: &mpsc::Sender<Command>,
    stats: &HttpStats,
    cache: &Cache,
) -> Vec<u8> {
    let head = match head {
        Ok(head) => head,
        Err(status) => {
            stats.rejected.fetch_add(1, Ordering::Relaxed);
            return response(status, "text/plain", b"", false);
        }
    };
    let route = match route(&head) {
        Ok(route) => route,
        Err(status) => {
            stats.rejected.fetch_add(1, Ordering::Relaxed);
            return response(status, "text/plain", b"", false);
        }
    };
    match route {
        Route::Metrics { head_only } => match snapshot_text(tx, cache).await {
            Some(body) => {
                stats.served.fetch_add(1, Ordering::Relaxed);
                response(
                    "200 OK",
                    "text/plain; version=0.0.4; charset=utf-8",
                    body.as_bytes(),
                    head_only,
                )
            }
            None => response(
                "503 Service Unavailable",
                "text/plain",
                b"stopping\n",
                false,
            ),
        },
        Route::Index { head_only } => {
            stats.served.fetch_add(1, Ordering::Relaxed);
            response(
                "200 OK",
                "text/plain; charset=utf-8",
                b"vipd: metrics at /metrics\n",
                head_only,
            )
        }
        Route::NotFound => {
            stats.rejected.fetch_add(1, Ordering::Relaxed);
            response("404 Not Found", "text/plain", b"not found\n", false)
        }
        Route::MethodNotAllowed => {
            stats.rejected.fetch_add(1, Ordering::Relaxed);
            response("405 Method Not Allowed", "text/plain", b"", false)
        }
    }
}

/// Reads until the blank line ending the head; the status line to answer otherwise.
async fn read_head(stream: &mut TcpStream) -> Result<Vec<u8>, &'static str> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|_| "400 Bad Request")?;
        if n == 0 {
            return Err("400 Bad Request");
        }
        let searched_from = head.len().saturating_sub(3);
        head.extend_from_slice(&chunk[..n]);
        if head.len() > MAX_REQUEST_HEAD {
            return Err("431 Request Header Fields Too Large");
        }
        if head[searched_from..].windows(4).any(|w| w == b"\r\n\r\n") {
            return Ok(head);
        }
    }
}

/// The exposition text, from the cache when it is recent enough.
async fn snapshot_text(tx: &mpsc::Sender<Command>, cache: &Cache) -> Option<Arc<String>> {
    let mut cached = cache.lock().await;
    if let Some((at, text)) = cached.as_ref() {
        if at.elapsed() < MIN_SNAPSHOT_INTERVAL {
            return Some(text.clone());
        }
    }
    let (reply, answer) = oneshot::channel();
    tx.send(Command::Metrics(reply)).await.ok()?;
    let snapshot = answer.await.ok()?;
    let text = Arc::new(metrics::render(&snapshot));
    *cached = Some((Instant::now(), text.clone()));
    Some(text)
}

fn response(status: &str, content_type: &str, body: &[u8], head_only: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if status.starts_with("405") {
        out.push_str("Allow: GET, HEAD\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    if !head_only {
        bytes.extend_from_slice(body);
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_follow_method_and_path() {
        assert_eq!(
            route(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Ok(Route::Metrics { head_only: false })
        );
        assert_eq!(
            route(b"HEAD /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Ok(Route::Metrics { head_only: true })
        );
        assert_eq!(
            route(b"GET / HTTP/1.1\r\n\r\n"),
            Ok(Route::Index { head_only: false })
        );
        assert_eq!(route(b"GET /admin HTTP/1.1\r\n\r\n"), Ok(Route::NotFound));
        assert_eq!(
            route(b"POST /metrics HTTP/1.1\r\n\r\n"),
            Ok(Route::MethodNotAllowed)
        );
        assert_eq!(route(b"\x00\x01junk\r\n\r\n"), Err("400 Bad Request"));
        assert_eq!(route(b"GET /metrics HTTP/1.1\r\n"), Err("400 Bad Request"));
    }

    #[test]
    fn responses_carry_length_and_close() {
        let bytes = response("200 OK", "text/plain", b"abc", false);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("Content-Length: 3\r\n"), "{text}");
        assert!(text.contains("Connection: close\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\nabc"), "{text}");
        let head = String::from_utf8(response("200 OK", "text/plain", b"abc", true)).unwrap();
        assert!(head.ends_with("Content-Length: 3\r\nConnection: close\r\n\r\n"));
    }

    #[test]
    fn a_busy_address_is_a_clear_error() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let error = bind(addr).unwrap_err();
        assert!(
            error.contains(&format!("metrics listen address {addr}")) && error.contains("in use"),
            "{error}"
        );
    }

    /// Idle connections from eight addresses hold every slot; a scraper still gets its
    /// metrics (it used to get 503 until they timed out, 5 s).
    #[test]
    fn idle_connections_holding_every_slot_do_not_keep_a_scraper_out() {
        use std::io::{Read, Write};
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = crate::control::server::TestServer::start(
            move |tx| spawn(listener, tx, Arc::default()),
            |command| {
                if let Command::Metrics(reply) = command {
                    let _ = reply.send(metrics::MetricsSnapshot::default());
                }
            },
        );
        let idle: Vec<std::net::TcpStream> = (2..2 + MAX_CONNECTIONS)
            .map(|host| {
                let socket =
                    socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                        .unwrap();
                let from: SocketAddr = format!("127.0.0.{host}:0").parse().unwrap();
                socket.bind(&from.into()).unwrap();
                socket.connect(&addr.into()).unwrap();
                socket.into()
            })
            .collect();
        std::thread::sleep(super::super::evict::EVICT_AFTER + Duration::from_millis(50));
        let mut scraper = std::net::TcpStream::connect(addr).unwrap();
        scraper
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        scraper
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut reply = String::new();
        let _ = scraper.read_to_string(&mut reply);
        assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
        drop(idle);
        server.stop();
    }
}
