//! The control socket server. Every connection is bounded: the peer is checked before
//! anything is read ([`super::access`]), the request must arrive within [`READ_TIMEOUT`] and
//! fit in [`MAX_REQUEST_BYTES`], replies must be taken within [`WRITE_TIMEOUT`], and at most
//! [`MAX_CLIENTS`] requests and [`MAX_WATCHERS`] event streams are served at once. When every
//! request slot is taken, a newcomer takes the slot of a client the server has waited on
//! (for its request, or to take its reply) for at least [`EVICT_AFTER`], which is closed
//! ([`super::evict`]). Only when none is that slow is the newcomer told the daemon is busy
//! (and `vipd` tries again). The event loop only ever receives parsed
//! [`Command`]s through a bounded channel and answers each at once, so a slow, idle or
//! hostile client costs its own task and never delays another client.
//!
//! Modes: the socket is 0600 (root and the daemon's user) without a `control_group`, 0666
//! with one (group members must be able to connect; the daemon then refuses everyone else by
//! their credentials). A directory vipd creates for it is 0755.

use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot, Semaphore};
use tokio::task::JoinHandle;

use super::access::{peer_of, AccessPolicy, Peer};
use super::events::EventRecord;
use super::evict::{unless_evicted, Waiting, EVICT_AFTER, HANDOVER_TIMEOUT};
use super::metrics::MetricsSnapshot;
use super::protocol::{parse_request, ChangeReply, ErrorReply, Hello, Request, MAX_REQUEST_BYTES};
use super::StatusReport;

/// Requests served at once (status, drain, resume, reload).
pub const MAX_CLIENTS: usize = 16;
/// Event streams (`vipd events`, `vipd status --watch`) served at once.
pub const MAX_WATCHERS: usize = 16;
/// Time a client has to send its request line.
pub const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// Time a client has to take each reply (or event line).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// At most one warning about refused clients per this period (the rest are counted).
const REFUSAL_LOG_PERIOD: Duration = Duration::from_secs(10);
/// Refused clients told why at once (their request is read and discarded first, so the
/// reply is not lost to a connection reset); more are just closed.
const MAX_REFUSALS: usize = 16;
/// Time a refused client gets to finish sending its request.
const REFUSAL_TIMEOUT: Duration = Duration::from_millis(200);

/// What the control server asks of the event loop.
pub enum Command {
    Status(oneshot::Sender<StatusReport>),
    /// Start an event stream: the loop answers with the current sequence number (and status)
    /// and a receiver for what follows, atomically with respect to new events.
    Subscribe {
        snapshot: bool,
        reply: oneshot::Sender<(Hello, broadcast::Receiver<Arc<EventRecord>>)>,
    },
    /// Drain, resume or reload, asked by `peer`.
    Change {
        request: Request,
        peer: Peer,
        reply: oneshot::Sender<ChangeReply>,
    },
    /// For the metrics endpoint.
    Metrics(oneshot::Sender<MetricsSnapshot>),
}

/// Counters of the control socket, shown in the metrics.
#[derive(Debug, Default)]
pub struct ControlStats {
    pub served: AtomicU64,
    /// Refused by peer credentials.
    pub refused: AtomicU64,
    /// Malformed, too long or too slow requests.
    pub rejected: AtomicU64,
    /// Turned away because the client limit was reached.
    pub busy: AtomicU64,
}

/// Binds the control socket, refusing to steal it from a live daemon, and sets its mode.
/// The listener is served by [`spawn`] (inside the runtime that is to poll it).
pub fn bind(path: &Path, group_access: bool) -> Result<std::os::unix::net::UnixListener, String> {
    const HINT: &str = "the control socket; --socket PATH puts it elsewhere";
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(format!(
            "control socket {} is in use by another vipd (pass --socket to run several)",
            path.display()
        ));
    }
    let _ = std::fs::remove_file(path);
    if let Some(dir) = path.parent() {
        if !dir.exists() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e} ({HINT})", dir.display()))?;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
        }
        if group_access {
            if let Ok(meta) = std::fs::metadata(dir) {
                if meta.permissions().mode() & 0o001 == 0 {
                    tracing::warn!(
                        "control_group is set but {} (mode {:04o}) is not searchable by others: \
                         group members cannot reach the socket (systemd: RuntimeDirectoryMode=0755)",
                        dir.display(),
                        meta.permissions().mode() & 0o7777
                    );
                }
            }
        }
    }
    let listener = std::os::unix::net::UnixListener::bind(path)
        .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
        .map_err(|e| format!("cannot bind {}: {e} ({HINT})", path.display()))?;
    let mode = if group_access { 0o666 } else { 0o600 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot set the mode of {}: {e}", path.display()))?;
    Ok(listener)
}

/// Serves the control socket until aborted (inside a tokio runtime).
pub fn spawn(
    listener: std::os::unix::net::UnixListener,
    policy: AccessPolicy,
    tx: mpsc::Sender<Command>,
    stats: Arc<ControlStats>,
) -> Result<JoinHandle<()>, String> {
    let listener = UnixListener::from_std(listener).map_err(|e| format!("control socket: {e}"))?;
    Ok(tokio::spawn(async move {
        let clients = Arc::new(Semaphore::new(MAX_CLIENTS));
        let watchers = Arc::new(Semaphore::new(MAX_WATCHERS));
        let refusals_in_flight = Arc::new(Semaphore::new(MAX_REFUSALS));
        let waiting: Arc<Waiting<u32>> = Arc::new(Waiting::default());
        let mut refusals = RefusalLog::default();
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    tracing::debug!("control socket accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let peer = match peer_of(stream.as_fd()) {
                Ok(peer) => peer,
                Err(e) => {
                    tracing::debug!("control socket: no peer credentials: {e}");
                    continue;
                }
            };
            if let Err(reason) = policy.check(&peer) {
                stats.refused.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("control socket: refused {peer}: {reason}");
                refusals.note(&peer, &reason);
                if let Ok(permit) = refusals_in_flight.clone().try_acquire_owned() {
                    tokio::spawn(turn_away(stream, reason, permit));
                }
                continue;
            }
            let tx = tx.clone();
            let stats = stats.clone();
            let watchers = watchers.clone();
            let waiting_for_client = waiting.clone();
            match clients.clone().try_acquire_owned() {
                Ok(permit) => {
                    tokio::spawn(async move {
                        let client = Client {
                            stream,
                            peer,
                            permit,
                        };
                        serve_client(client, tx, &stats, watchers, &waiting_for_client).await;
                    });
                }
                // The slowest client makes room: it is closed and its slot is this one's.
                Err(_) if waiting.evict_one(Instant::now()) => {
                    let clients = clients.clone();
                    tokio::spawn(async move {
                        let slot = tokio::time::timeout(HANDOVER_TIMEOUT, clients.acquire_owned());
                        let Ok(Ok(permit)) = slot.await else {
                            stats.busy.fetch_add(1, Ordering::Relaxed);
                            let mut stream = stream;
                            write_bounded(&mut stream, &ErrorReply::line(BUSY)).await;
                            return;
                        };
                        let client = Client {
                            stream,
                            peer,
                            permit,
                        };
                        serve_client(client, tx, &stats, watchers, &waiting_for_client).await;
                    });
                }
                Err(_) => {
                    stats.busy.fetch_add(1, Ordering::Relaxed);
                    if let Ok(permit) = refusals_in_flight.clone().try_acquire_owned() {
                        tokio::spawn(turn_away(stream, BUSY.to_string(), permit));
                    }
                }
            }
        }
    }))
}

const BUSY: &str = "busy: too many clients, try again";

/// A connection being served and the request slot it holds.
struct Client {
    stream: UnixStream,
    peer: Peer,
    permit: tokio::sync::OwnedSemaphorePermit,
}

/// Tells a client why it is not served: what it sent is read (and discarded) for a short
/// moment first, because closing a Unix socket with unread data resets the connection and
/// the client would lose the reply.
async fn turn_away(
    mut stream: UnixStream,
    reason: String,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let _ = tokio::time::timeout(REFUSAL_TIMEOUT, read_request(&mut stream)).await;
    let _ =
        tokio::time::timeout(REFUSAL_TIMEOUT, stream.write_all(&ErrorReply::line(reason))).await;
    drop(permit);
}

/// Logs refused clients, at most once per [`REFUSAL_LOG_PERIOD`].
#[derive(Default)]
struct RefusalLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl RefusalLog {
    fn note(&mut self, peer: &Peer, reason: &str) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < REFUSAL_LOG_PERIOD)
        {
            self.suppressed += 1;
            return;
        }
        let more = if self.suppressed > 0 {
            format!(" ({} more refused since the last report)", self.suppressed)
        } else {
            String::new()
        };
        tracing::warn!("control socket: refused {peer}: {reason}{more}");
        self.last = Some(now);
        self.suppressed = 0;
    }
}

async fn serve_client(
    client: Client,
    tx: mpsc::Sender<Command>,
    stats: &ControlStats,
    watchers: Arc<Semaphore>,
    waiting: &Waiting<u32>,
) {
    let Client {
        mut stream,
        peer,
        permit,
    } = client;
    let read = tokio::time::timeout(READ_TIMEOUT, read_request(&mut stream));
    let uid = peer.uid;
    let request = match unless_evicted(waiting, uid, read).await {
        Some(Ok(Ok(bytes))) => parse_request(&bytes).map_err(|e| e.to_string()),
        Some(Ok(Err(e))) => Err(format!("reading the request: {e}")),
        Some(Err(_)) => Err(format!("no request within {READ_TIMEOUT:?}")),
        None => Err(format!(
            "no request within {EVICT_AFTER:?} while another client waited"
        )),
    };
    let request = match request {
        Ok(request) => request,
        Err(message) => {
            stats.rejected.fetch_add(1, Ordering::Relaxed);
            // Said at once or not at all: the slot is someone else's.
            let _ = tokio::time::timeout(
                REFUSAL_TIMEOUT,
                stream.write_all(&ErrorReply::line(message)),
            )
            .await;
            return;
        }
    };
    stats.served.fetch_add(1, Ordering::Relaxed);
    match request {
        Request::Status => {
            let (reply, answer) = oneshot::channel();
            if tx.send(Command::Status(reply)).await.is_err() {
                return;
            }
            if let Ok(report) = answer.await {
                unless_evicted(waiting, uid, write_json(&mut stream, &report)).await;
            }
        }
        Request::Events { snapshot } => {
            let Ok(watch) = watchers.try_acquire_owned() else {
                stats.busy.fetch_add(1, Ordering::Relaxed);
                write_bounded(
                    &mut stream,
                    &ErrorReply::line("busy: too many event streams, try again"),
                )
                .await;
                return;
            };
            // A stream holds a watcher slot, not a request slot.
            drop(permit);
            let (reply, answer) = oneshot::channel();
            if tx
                .send(Command::Subscribe { snapshot, reply })
                .await
                .is_err()
            {
                return;
            }
            if let Ok((hello, events)) = answer.await {
                stream_events(stream, hello, events).await;
            }
            drop(watch);
        }
        request => {
            let (reply, answer) = oneshot::channel();
            let command = Command::Change {
                request,
                peer: super::access::with_name(peer).await,
                reply,
            };
            if tx.send(command).await.is_err() {
                return;
            }
            if let Ok(result) = answer.await {
                unless_evicted(waiting, uid, write_json(&mut stream, &result)).await;
            }
        }
    }
}

/// Reads up to and including the first newline, EOF, or one byte more than allowed (which
/// `parse_request` then refuses as too long).
async fn read_request(stream: &mut UnixStream) -> std::io::Result<Vec<u8>> {
    let mut buffer = vec![0u8; MAX_REQUEST_BYTES + 1];
    let mut filled = 0;
    while filled < buffer.len() {
        let n = stream.read(&mut buffer[filled..]).await?;
        if n == 0 {
            break;
        }
        let newline = buffer[filled..filled + n].contains(&b'\n');
        filled += n;
        // Whatever came with the newline is kept, so a second request is refused.
        if newline {
            break;
        }
    }
    buffer.truncate(filled);
    Ok(buffer)
}

async fn write_json<T: serde::Serialize>(stream: &mut UnixStream, value: &T) {
    if let Ok(mut bytes) = serde_json::to_vec(value) {
        bytes.push(b'\n');
        write_bounded(stream, &bytes).await;
    }
}

/// Writes `bytes` unless the client does not take them within [`WRITE_TIMEOUT`].
async fn write_bounded(stream: &mut UnixStream, bytes: &[u8]) -> bool {
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(bytes)).await,
        Ok(Ok(()))
    )
}

/// Sends the hello line, then every event as a JSON line, until the client goes away, stops
/// reading, or falls so far behind that events were lost (it is told so).
async fn stream_events(
    stream: UnixStream,
    hello: Hello,
    mut events: broadcast::Receiver<Arc<EventRecord>>,
) {
    let (mut read, mut write) = stream.into_split();
    let Ok(mut line) = serde_json::to_vec(&hello) else {
        return;
    };
    line.push(b'\n');
    if !write_half_bounded(&mut write, &line).await {
        return;
    }
    let mut scratch = [0u8; 64];
    loop {
        tokio::select! {
            event = events.recv() => {
                let line = match event {
                    Ok(record) => serde_json::to_vec(&*record).map(|mut l| { l.push(b'\n'); l }),
                    Err(broadcast::error::RecvError::Lagged(lost)) => {
                        let _ = write_half_bounded(
                            &mut write,
                            &ErrorReply::line(format!("lagged: {lost} events lost, reconnect")),
                        )
                        .await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                match line {
                    Ok(line) if write_half_bounded(&mut write, &line).await => {}
                    _ => return,
                }
            }
            // The client closed (or sent something): the stream ends.
            _ = read.read(&mut scratch) => return,
        }
    }
}

async fn write_half_bounded(write: &mut tokio::net::unix::OwnedWriteHalf, bytes: &[u8]) -> bool {
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, write.write_all(bytes)).await,
        Ok(Ok(()))
    )
}

/// For the tests of the control socket and the metrics endpoint: a server started on a
/// runtime of its own, on a thread of its own, whose "event loop" hands every [`Command`] to
/// `answer`, until [`TestServer::stop`].
#[cfg(test)]
pub(crate) struct TestServer {
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

#[cfg(test)]
impl TestServer {
    /// `start` spawns the server (on the new runtime) with the sender of its commands.
    pub(crate) fn start(
        start: impl FnOnce(mpsc::Sender<Command>) -> Result<JoinHandle<()>, String> + Send + 'static,
        answer: impl Fn(Command) + Send + 'static,
    ) -> TestServer {
        let (stop, mut stopped) = mpsc::channel::<()>(1);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let (tx, mut commands) = mpsc::channel(16);
                let server = start(tx).unwrap();
                loop {
                    tokio::select! {
                        command = commands.recv() => match command {
                            Some(command) => answer(command),
                            None => break,
                        },
                        _ = stopped.recv() => break,
                    }
                }
                server.abort();
            });
        });
        TestServer { stop, thread }
    }

    /// Stops the server and waits for its thread.
    pub(crate) fn stop(self) {
        self.stop.blocking_send(()).unwrap();
        self.thread.join().unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::net::UnixStream as StdStream;

    /// A control server on a fresh socket whose "event loop" answers every status request,
    /// run on its own thread until the test ends.
    fn server(name: &str) -> (std::path::PathBuf, TestServer) {
        let dir = std::env::temp_dir().join(format!(
            "vipd-control-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("control.sock");
        let listener = bind(&path, false).unwrap();
        let server = TestServer::start(
            move |tx| spawn(listener, AccessPolicy::new(None), tx, Arc::default()),
            |command| {
                if let Command::Status(reply) = command {
                    let _ = reply.send(StatusReport {
                        pid: 7,
                        ..StatusReport::default()
                    });
                }
            },
        );
        (path, server)
    }

    /// Whether the daemon has neither written to nor closed a connection.
    fn untouched(stream: &mut StdStream) -> bool {
        let stream: &StdStream = stream;
        stream.set_nonblocking(true).unwrap();
        let mut byte = [0u8; 1];
        matches!((&*stream).read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }

    #[test]
    fn idle_clients_holding_every_slot_do_not_keep_status_waiting() {
        let (path, server) = server("idle");
        // Every request slot taken by a client that never sends its request.
        let mut idle: Vec<StdStream> = (0..MAX_CLIENTS)
            .map(|_| StdStream::connect(&path).unwrap())
            .collect();
        let report = crate::control::client::request_status(&path).unwrap();
        assert_eq!(report.pid, 7);
        // Answered by making room (one idle client closed), not by waiting until the idle
        // ones ran out of their read timeout (then all of them were closed first).
        let open = idle.iter_mut().map(untouched).filter(|open| *open).count();
        assert!(
            open >= MAX_CLIENTS - 2,
            "status was answered only after {} of {MAX_CLIENTS} idle clients were closed",
            MAX_CLIENTS - open
        );
        // The slowest client went first: the newest are still there.
        assert!(untouched(idle.last_mut().unwrap()));
        server.stop();
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
