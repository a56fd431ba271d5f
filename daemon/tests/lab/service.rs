//! A local service inside a lab namespace for health checks to probe: a TCP listener, an HTTP
//! server or an HTTPS server with a self-signed certificate, all on 127.0.0.1 of that
//! namespace. `kill()` closes the listener at once (new connections are refused), like a
//! crashed service; `start` again on the same port brings it back.
//!
//! A thread enters the namespace (`setns`) only to create the listening socket, which stays
//! in that namespace wherever it is used; the same thread then serves connections one by one.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};

/// What the service speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceKind {
    /// Accepts and closes connections.
    Tcp,
    /// Answers every request with the current status (200 unless `set_status`).
    Http,
    /// Like `Http`, over TLS with a self-signed certificate for `localhost` / 127.0.0.1.
    Https,
}

/// A running service; killed on drop.
pub struct Service {
    pub ns: String,
    pub port: u16,
    pub kind: ServiceKind,
    listener: Option<Arc<TcpListener>>,
    thread: Option<JoinHandle<()>>,
    status: Arc<AtomicU16>,
    connections: Arc<AtomicU64>,
}

/// Binds 127.0.0.1:`port` inside namespace `ns` (on a thread that entered it).
pub fn bind_in_ns(ns: &str, port: u16) -> Result<TcpListener, String> {
    let ns = ns.to_owned();
    std::thread::spawn(move || {
        let path = format!("/run/netns/{ns}");
        let file = File::open(&path).map_err(|e| format!("open {path}: {e}"))?;
        setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| format!("setns {path}: {e}"))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        // std sets SO_REUSEADDR, so a restart on the same port works right after a kill.
        TcpListener::bind(addr).map_err(|e| format!("bind {addr} in {ns}: {e}"))
    })
    .join()
    .map_err(|_| "bind thread panicked".to_string())?
}

impl Service {
    /// Starts a service on 127.0.0.1:`port` in `ns`; `port` 0 picks a free one.
    pub fn start(ns: &str, kind: ServiceKind, port: u16) -> Service {
        let listener =
            Arc::new(bind_in_ns(ns, port).unwrap_or_else(|e| panic!("service in {ns}: {e}")));
        let port = listener.local_addr().expect("listener address").port();
        let status = Arc::new(AtomicU16::new(200));
        let connections = Arc::new(AtomicU64::new(0));
        let tls = match kind {
            ServiceKind::Https => Some(tls_config()),
            _ => None,
        };
        let thread = {
            let listener = listener.clone();
            let status = status.clone();
            let connections = connections.clone();
            std::thread::spawn(move || serve(&listener, kind, tls, &status, &connections))
        };
        Service {
            ns: ns.to_owned(),
            port,
            kind,
            listener: Some(listener),
            thread: Some(thread),
            status,
            connections,
        }
    }

    /// HTTP status the service answers with from now on.
    pub fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }

    /// Waits until a client (the health check) has connected `n` more times.
    pub fn wait_connections(&self, n: u64, timeout: Duration) -> bool {
        let target = self.connections() + n;
        super::wait_until(timeout, Duration::from_millis(5), || {
            self.connections() >= target
        })
        .is_some()
    }

    pub fn is_running(&self) -> bool {
        self.listener.is_some()
    }

    /// Closes the listener: from the returned instant on, connections are refused.
    pub fn kill(&mut self) -> Instant {
        if let Some(listener) = self.listener.take() {
            // Wakes the blocked accept(); the socket stops accepting right here.
            // SAFETY: shutdown on a socket we own; the fd stays open until the Arcs drop.
            unsafe { libc::shutdown(listener.as_raw_fd(), libc::SHUT_RDWR) };
            let killed = Instant::now();
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
            drop(listener);
            return killed;
        }
        Instant::now()
    }

    /// Starts the service again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        let (ns, kind, port) = (self.ns.clone(), self.kind, self.port);
        *self = Service::start(&ns, kind, port);
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

fn serve(
    listener: &TcpListener,
    kind: ServiceKind,
    tls: Option<Arc<rustls::ServerConfig>>,
    status: &AtomicU16,
    connections: &AtomicU64,
) {
    loop {
        let Ok((stream, _)) = listener.accept() else {
            // shutdown() by kill(): accept fails with EINVAL.
            return;
        };
        connections.fetch_add(1, Ordering::SeqCst);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
        match kind {
            ServiceKind::Tcp => {}
            ServiceKind::Http => answer_http(stream, status),
            ServiceKind::Https => {
                let Some(config) = &tls else { return };
                let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                    continue;
                };
                let mut tls_stream = rustls::StreamOwned::new(conn, stream);
                answer_http(&mut tls_stream, status);
                tls_stream.conn.send_close_notify();
                let _ = tls_stream.flush();
            }
        }
    }
}

/// Reads one request head and answers it with `status`, no body.
fn answer_http(mut stream: impl Read + Write, status: &AtomicU16) {
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") && got.len() < 65536 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let code = status.load(Ordering::SeqCst);
    let reply = format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = stream.write_all(reply.as_bytes());
    let _ = stream.flush();
}

fn tls_config() -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("self-signed certificate");
    let cert: CertificateDer<'static> = ck.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server certificate");
    Arc::new(config)
}

/// True if something accepts TCP connections on 127.0.0.1:`port` in `ns`.
pub fn port_open(ns: &str, port: u16) -> bool {
    let ns = ns.to_owned();
    std::thread::spawn(move || {
        let path = format!("/run/netns/{ns}");
        let Ok(file) = File::open(&path) else {
            return false;
        };
        if setns(&file, CloneFlags::CLONE_NEWNET).is_err() {
            return false;
        }
        TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(1),
        )
        .is_ok()
    })
    .join()
    .unwrap_or(false)
}
