//! Red-team round 8 (needs root): hostile things a health check talks to. HTTP and HTTPS
//! servers that drip, never end, send garbage or reset; TCP targets that drop SYNs or never
//! accept; scripts that flood, fork, ignore signals or run away; track files that are
//! FIFOs, devices, huge or loops. A check's target may cost the check its own run and
//! nothing else: the master's adverts keep their schedule, no check passes wrongly, and
//! vipd's descriptors and processes stay bounded over many intervals.
//!
//! `VIPD_HOSTILE_CHECKS_SECS=N` runs the attack for N seconds instead of the CI's few.

mod lab;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lab::capture::vrid51_advert_times;
use lab::{Daemon, KeepalivedConf, Lab, Segment, VrrpInstance};
use vipd::control::CheckStatus;

const POLL: Duration = Duration::from_millis(50);

/// A gap between the master's 100 ms adverts that only a stalled loop explains (gaps of
/// 0.3 s come from the load alone on the busy 2-core CI machine; the backup's
/// Master_Down_Interval is 0.36 s, and it must never move).
const STALL: Duration = Duration::from_secs(1);

/// Hostile TCP servers on 127.0.0.1 of one namespace, stopped when dropped.
struct Hostile {
    stop: Arc<AtomicBool>,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

type Behaviour = fn(TcpStream, &AtomicBool);

impl Hostile {
    fn new() -> Hostile {
        Hostile {
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Serves every connection on a free port of `ns` with `behaviour` (a thread each);
    /// returns the port.
    fn serve(&self, ns: &str, behaviour: Behaviour) -> u16 {
        let listener = lab::service::bind_in_ns(ns, 0).expect("bind hostile server");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = self.stop.clone();
        std::thread::spawn(move || accept_loop(listener, stop, behaviour));
        port
    }

    /// A listener that never accepts, its queue already full (backlog 0 holds one).
    fn full_backlog(&self, ns: &str) -> (u16, Vec<TcpStream>) {
        let listener = bind_backlog(ns, 0);
        let port = listener.local_addr().unwrap().port();
        let mut held = Vec::new();
        let filler = lab::service::bind_in_ns(ns, 0).unwrap();
        drop(filler);
        // Connections from the test process need the namespace: a thread enters it.
        let ns = ns.to_string();
        let conns = std::thread::spawn(move || {
            enter(&ns);
            let mut conns = Vec::new();
            for _ in 0..4 {
                if let Ok(c) = TcpStream::connect_timeout(
                    &([127, 0, 0, 1], port).into(),
                    Duration::from_millis(300),
                ) {
                    conns.push(c);
                }
            }
            conns
        })
        .join()
        .unwrap();
        held.extend(conns);
        let stop = self.stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(POLL);
            }
            drop(listener);
        });
        (port, held)
    }
}

fn enter(ns: &str) {
    let file = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
    nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
}

fn bind_backlog(ns: &str, backlog: i32) -> TcpListener {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        enter(&ns);
        let socket = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )
        .unwrap();
        socket
            .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        socket.listen(backlog).unwrap();
        TcpListener::from(socket)
    })
    .join()
    .unwrap()
}

fn accept_loop(listener: TcpListener, stop: Arc<AtomicBool>, behaviour: Behaviour) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let stop = stop.clone();
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
                std::thread::spawn(move || behaviour(stream, &stop));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Reads the request head (up to the blank line or 2 s).
fn read_request(stream: &mut TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// Writes `head`, then `chunk` for as long as the peer takes it.
fn endless(mut stream: TcpStream, stop: &AtomicBool, head: &[u8], chunk: &[u8], pause: Duration) {
    read_request(&mut stream);
    if stream.write_all(head).is_err() {
        return;
    }
    while !stop.load(Ordering::SeqCst) {
        match stream.write(chunk) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return,
        }
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
    }
}

/// "HTTP/1.1 200 OK\r\n" one byte every 200 ms: complete only after the check's timeout.
fn drip(stream: TcpStream, stop: &AtomicBool) {
    let mut stream = stream;
    read_request(&mut stream);
    for b in b"HTTP/1.1 200 OK\r\n\r\n" {
        if stop.load(Ordering::SeqCst) || stream.write_all(&[*b]).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn endless_body(stream: TcpStream, stop: &AtomicBool) {
    endless(
        stream,
        stop,
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n",
        &[b'x'; 16384],
        Duration::ZERO,
    );
}

fn endless_headers(stream: TcpStream, stop: &AtomicBool) {
    endless(
        stream,
        stop,
        b"HTTP/1.1 200 OK\r\n",
        b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
        Duration::ZERO,
    );
}

fn endless_chunked(stream: TcpStream, stop: &AtomicBool) {
    endless(
        stream,
        stop,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"10\r\n0123456789abcdef\r\n",
        Duration::ZERO,
    );
}

/// A status line of a megabyte (and more) with no end.
fn huge_status_line(stream: TcpStream, stop: &AtomicBool) {
    endless(
        stream,
        stop,
        b"HTTP/1.1 200 ",
        &[b'A'; 16384],
        Duration::ZERO,
    );
}

/// Never reads the request, never answers.
fn silent(stream: TcpStream, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(POLL);
    }
    drop(stream);
}

/// "HTTP/1.1 200 OK\r\n" and a few headers, then a reset before the header block ends.
fn reset_mid_headers(mut stream: TcpStream, _stop: &AtomicBool) {
    read_request(&mut stream);
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Len");
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    std::thread::sleep(Duration::from_millis(20));
}

/// "HTTP/1.1 200" and the connection closed: no line end, no headers.
fn truncated_status(mut stream: TcpStream, _stop: &AtomicBool) {
    read_request(&mut stream);
    let _ = stream.write_all(b"HTTP/1.1 200");
}

fn redirect_loop(mut stream: TcpStream, _stop: &AtomicBool) {
    read_request(&mut stream);
    let _ = stream.write_all(b"HTTP/1.1 302 Found\r\nLocation: /\r\nContent-Length: 0\r\n\r\n");
}

/// TLS: garbage in place of a ServerHello, without end.
fn tls_garbage(stream: TcpStream, stop: &AtomicBool) {
    let mut stream = stream;
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut hello = [0u8; 2048];
    let _ = stream.read(&mut hello);
    let mut junk = [0u8; 4096];
    let mut x: u32 = 0x1234_5678;
    while !stop.load(Ordering::SeqCst) {
        for b in junk.iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x as u8;
        }
        if stream.write_all(&junk).is_err() {
            return;
        }
    }
}

/// TLS: a handshake record header announcing 16 kB, then one byte a second.
fn tls_stall(stream: TcpStream, stop: &AtomicBool) {
    let mut stream = stream;
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut hello = [0u8; 2048];
    let _ = stream.read(&mut hello);
    let _ = stream.write_all(&[0x16, 0x03, 0x03, 0x40, 0x00]);
    while !stop.load(Ordering::SeqCst) {
        if stream.write_all(&[0x02]).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// The checks of vipd.toml: (name, fields, expected to pass).
struct Probe {
    name: &'static str,
    fields: String,
    passes: bool,
}

fn probe(name: &'static str, fields: String, passes: bool) -> Probe {
    Probe {
        name,
        fields,
        passes,
    }
}

/// vipd.toml of r1 (master, 200, every probe weight -1) or r2 (backup, 100, no checks).
fn native_conf(router: usize, probes: &[Probe]) -> String {
    let priority = if router == 1 { 200 } else { 100 };
    let tracks: Vec<String> = if router == 1 {
        probes
            .iter()
            .map(|p| format!("{{ check = \"{}\" }}", p.name))
            .collect()
    } else {
        Vec::new()
    };
    let mut text = format!(
        "[global]\nrouter_id = \"r{router}\"\nvrrp_version = 3\n\n\
         [[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\n\
         priority = {priority}\nadvert_interval = \"100ms\"\nvips = [\"192.0.2.100/24\"]\n\
         track_checks = [{}]\n",
        tracks.join(", ")
    );
    if router == 1 {
        for p in probes {
            text.push_str(&format!(
                "\n[[check]]\nname = \"{}\"\n{}\nweight = -1\n",
                p.name, p.fields
            ));
        }
    }
    text
}

fn largest_gap(times: &[f64]) -> Duration {
    times
        .windows(2)
        .map(|w| Duration::from_secs_f64((w[1] - w[0]).max(0.0)))
        .max()
        .unwrap_or(Duration::MAX)
}

fn fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// utime + stime of `pid` alone (not its children), in ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = text.rfind(')').map(|i| &text[i + 2..]).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(11) + get(12)
}

/// Processes whose session or process group is one vipd's checks started, or which a check
/// wrote down: counted by the marker in their command line.
fn processes_with(marker: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(marker) {
            found.push(pid);
        }
    }
    found
}

fn checks(daemon: &Daemon) -> Vec<CheckStatus> {
    lab::vipd_status(daemon)
        .map(|s| s.checks)
        .unwrap_or_default()
}

fn attack_secs() -> u64 {
    std::env::var("VIPD_HOSTILE_CHECKS_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4)
}

/// Every hostile HTTP, HTTPS and TCP target at once, 250 ms apart with a 200 ms timeout, at
/// a master with 100 ms adverts: no check passes that should fail (and those whose status
/// line is fine do pass), the adverts keep their schedule, the backup never moves, and
/// vipd's descriptors stay bounded.
#[test]
fn lab_hostile_checks_http_tls_tcp_targets_cost_only_their_checks() {
    let lab = Lab::new("hchk_net", 2);
    let ns = lab.router_ns(1).to_string();
    let hostile = Hostile::new();
    let url = |scheme: &str, port: u16| format!("{scheme}://127.0.0.1:{port}/healthz");
    let timing = "interval = \"250ms\"\ntimeout = \"200ms\"\nrise = 1\nfall = 1";
    let http = |port: u16| format!("kind = \"http\"\nurl = \"{}\"\n{timing}", url("http", port));
    let https = |port: u16| {
        format!(
            "kind = \"http\"\nurl = \"{}\"\ninsecure_skip_verify = true\n{timing}",
            url("https", port)
        )
    };
    let (backlog_port, _held) = hostile.full_backlog(&ns);
    let probes = vec![
        probe("drip", http(hostile.serve(&ns, drip)), false),
        probe("body", http(hostile.serve(&ns, endless_body)), true),
        probe("headers", http(hostile.serve(&ns, endless_headers)), false),
        probe("chunked", http(hostile.serve(&ns, endless_chunked)), true),
        probe(
            "status_1mb",
            http(hostile.serve(&ns, huge_status_line)),
            false,
        ),
        probe("silent", http(hostile.serve(&ns, silent)), false),
        probe("reset", http(hostile.serve(&ns, reset_mid_headers)), false),
        probe(
            "truncated",
            http(hostile.serve(&ns, truncated_status)),
            false,
        ),
        probe("redirect", http(hostile.serve(&ns, redirect_loop)), false),
        probe("tls_garbage", https(hostile.serve(&ns, tls_garbage)), false),
        probe("tls_stall", https(hostile.serve(&ns, tls_stall)), false),
        probe("tls_silent", https(hostile.serve(&ns, silent)), false),
        probe(
            "tcp_blackhole",
            // On the segment, answered by nobody: the SYN never leaves (no ARP reply).
            format!("kind = \"tcp\"\nhost = \"192.0.2.249\"\nport = 80\n{timing}"),
            false,
        ),
        probe(
            "tcp_backlog",
            format!("kind = \"tcp\"\nhost = \"127.0.0.1\"\nport = {backlog_port}\n{timing}"),
            false,
        ),
    ];
    run_attack(&lab, &probes, "hostile HTTP/TLS/TCP targets", None);
}

/// Runs the pair with r1 checking `probes` for the attack's length; asserts every probe's
/// outcome, the adverts' schedule, the backup's state and vipd's bounded descriptors (and,
/// with `marker`, that no process whose command line carries it piles up).
fn run_attack(lab: &Lab, probes: &[Probe], what: &str, marker: Option<&str>) {
    let r1 = lab.spawn_vipd_toml(1, &native_conf(1, probes));
    let r2 = lab.spawn_vipd_toml(2, &native_conf(2, probes));
    let m = measure(lab, &r1, &r2, what, marker);
    let mut wrong = Vec::new();
    for p in probes {
        let status = m.checks.iter().find(|s| s.name == p.name);
        let state = status.map(|s| s.state.as_str()).unwrap_or("missing");
        let expected = if p.passes { "up" } else { "down" };
        if state != expected {
            wrong.push(format!(
                "{}: {state} ({}), expected {expected}",
                p.name,
                status
                    .and_then(|s| s.last_result.clone())
                    .unwrap_or_default()
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{what}: checks judged wrongly: {wrong:#?}"
    );
    assert_eq!(
        m.backup_moves,
        0,
        "{what}: the backup moved (longest advert gap {:?}):\n{}",
        m.gap,
        r2.log()
    );
    assert!(
        m.gap < STALL,
        "{what}: the master's 100 ms adverts stopped for {:?}",
        m.gap
    );
    assert!(
        m.fds_max <= m.fds_start + 2 * probes.len() + 8,
        "{what}: vipd's descriptors grew from {} to {}",
        m.fds_start,
        m.fds_max
    );
}

/// What one attack did to the master `r1` and its backup `r2`.
struct Measured {
    gap: Duration,
    backup_moves: u64,
    fds_start: usize,
    fds_max: usize,
    /// Processes carrying the marker: most at once, and left at the end.
    procs_max: usize,
    checks: Vec<CheckStatus>,
}

/// Pid of the process that sends the adverts: vipd itself, keepalived's VRRP child.
fn vrrp_pid(daemon: &Daemon) -> i32 {
    let pid = daemon.pid();
    let children = lab::procfs::tree(pid);
    if daemon.log_path.to_string_lossy().contains("keepalived") {
        children.into_iter().find(|&p| p != pid).unwrap_or(pid)
    } else {
        pid
    }
}

fn measure(lab: &Lab, r1: &Daemon, r2: &Daemon, what: &str, marker: Option<&str>) -> Measured {
    let vip = Segment::Main.vip4().into();
    assert!(
        lab.wait_sole_holder(vip, 1, Duration::from_secs(20))
            .is_some(),
        "r1 never became master:\n{}\n{}",
        r1.log(),
        r2.log()
    );
    std::thread::sleep(Duration::from_secs(1));
    let mut capture = lab.capture(lab.router_ns(2), "eth0", "vrrp");
    let source = Segment::Main.router_ip4(1).to_string();
    let pid = vrrp_pid(r1);
    let (fds_start, cpu_start) = (fds(pid), cpu_ticks(pid));
    let started = Instant::now();
    let secs = attack_secs();
    let mut fds_max = fds_start;
    let mut procs_max = 0;
    while started.elapsed() < Duration::from_secs(secs) {
        fds_max = fds_max.max(fds(pid));
        if let Some(m) = marker {
            procs_max = procs_max.max(processes_with(m).len());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let cpu = cpu_ticks(pid) - cpu_start;
    let fds_end = fds(pid);
    let statuses = checks(r1);
    let packets = capture.stop();
    let times = vrid51_advert_times(&packets, &source);
    let gap = largest_gap(&times);
    // The backup sends adverts only once it has taken over.
    let backup_adverts =
        vrid51_advert_times(&packets, &Segment::Main.router_ip4(2).to_string()).len();
    let leftovers = marker.map(|m| processes_with(m).len()).unwrap_or(0);
    eprintln!(
        "{what}: {secs} s, {} adverts, longest gap {gap:?}; vipd fds {fds_start} -> max \
         {fds_max}, end {fds_end}; CPU {cpu} ticks; marked processes max {procs_max}, end \
         {leftovers}; backup adverts {backup_adverts}",
        times.len()
    );
    for s in &statuses {
        eprintln!(
            "  {:<14} {:<6} {}",
            s.name,
            s.state,
            s.last_result.as_deref().unwrap_or("-")
        );
    }
    Measured {
        gap,
        backup_moves: backup_adverts as u64,
        fds_start,
        fds_max,
        procs_max,
        checks: statuses,
    }
}

/// keepalived.conf (read by vipd and keepalived alike) of r1 (200, tracks `scripts`, weight
/// -1 each) or r2 (100, no scripts): (name, script file, interval s, timeout s).
fn script_conf(router: usize, scripts: &[(&str, &Path)]) -> String {
    let mut text = String::new();
    let mut instance = VrrpInstance::new("VI_1", "eth0", 51)
        .priority(if router == 1 { 200 } else { 100 })
        .version(3)
        .advert_ms(100)
        .vip("192.0.2.100/24");
    if router == 1 {
        let mut track = String::from("track_script {\n");
        for (name, path) in scripts {
            text.push_str(&format!(
                "vrrp_script {name} {{\n    script \"{}\"\n    interval 1\n    timeout 1\n    \
                 weight -1\n    rise 1\n    fall 1\n}}\n\n",
                path.display()
            ));
            track.push_str(&format!("        {name}\n"));
        }
        track.push_str("    }");
        instance = instance.line(&track);
    }
    text.push_str(
        &KeepalivedConf::new(&format!("r{router}"))
            .instance(instance)
            .render(),
    );
    text
}

/// Hostile check scripts, written into the lab dir (their command lines carry its path).
fn hostile_scripts(lab: &Lab) -> Vec<(&'static str, std::path::PathBuf)> {
    // sleep and yes under the lab dir's path, so that every process is marked by it.
    let nap = lab.dir().join("nap");
    let spew = lab.dir().join("spew");
    std::fs::copy("/bin/sleep", &nap).unwrap();
    std::fs::copy("/usr/bin/yes", &spew).unwrap();
    let (nap, spew) = (nap.display(), spew.display());
    let linger = lab.write_script("linger.sh", &format!("#!/bin/sh\n{nap} 600\n"));
    let scripts = [
        // Gigabytes a second on stdout and stderr until the timeout.
        ("flood", format!("#!/bin/sh\n{spew} & {spew} >&2 & wait\n")),
        // SIGTERM ignored by the script and everything it starts.
        (
            "noterm",
            format!("#!/bin/sh\ntrap '' TERM\nwhile :; do {nap} 1; done\n"),
        ),
        // A bounded fork bomb (63 shells, each with a nap), then waits.
        (
            "bomb",
            format!(
                "#!/bin/sh\nb() {{ if [ $1 -gt 0 ]; then b $(($1 - 1)) & b $(($1 - 1)) & fi; \
                 {nap} 600; }}\nb 5\n"
            ),
        ),
        // A new session that outlives the script, which exits 0 at once.
        (
            "escape",
            format!(
                "#!/bin/sh\nsetsid -f {} \n{nap} 0.2\nexit 0\n",
                linger.display()
            ),
        ),
        // A child left in the script's process group.
        (
            "leave",
            format!("#!/bin/sh\n{} &\n{nap} 0.2\nexit 0\n", linger.display()),
        ),
        // Runs exactly as long as the timeout.
        ("exact", format!("#!/bin/sh\n{nap} 1\nexit 0\n")),
    ];
    scripts
        .into_iter()
        .map(|(name, body)| (name, lab.write_script(&format!("{name}.sh"), &body)))
        .collect()
}

/// Hostile scripts at keepalived and at vipd, the same keepalived.conf: both keep their
/// adverts' schedule; vipd's processes and descriptors stay bounded.
#[test]
fn lab_hostile_checks_scripts_flood_fork_and_escape() {
    for daemon in ["vipd", "keepalived"] {
        if daemon == "keepalived" && std::env::var_os("VIPD_HOSTILE_CHECKS_KEEPALIVED").is_none() {
            continue;
        }
        let lab = Lab::new(&format!("hchk_scr_{daemon}"), 2);
        let scripts = hostile_scripts(&lab);
        let refs: Vec<(&str, &Path)> = scripts.iter().map(|(n, p)| (*n, p.as_path())).collect();
        let spawn = |router: usize| {
            let conf = script_conf(router, &refs);
            if daemon == "vipd" {
                lab.spawn_vipd(router, &conf)
            } else {
                lab.spawn_keepalived(router, &conf)
            }
        };
        let r1 = spawn(1);
        let r2 = spawn(2);
        let marker = lab.dir().display().to_string();
        let m = measure(
            &lab,
            &r1,
            &r2,
            &format!("hostile scripts at {daemon}"),
            Some(&marker),
        );
        let (mut r1, mut r2) = (r1, r2);
        r1.stop();
        r2.stop();
        // What outlives the daemon (stopped, not killed), by script: only `escape`'s
        // setsid'd `linger.sh` may.
        std::thread::sleep(Duration::from_millis(500));
        let survivors = processes_with(&marker);
        // linger.sh and its nap.
        let escaped: Vec<i32> = processes_with("linger.sh")
            .into_iter()
            .flat_map(lab::procfs::tree)
            .collect();
        let others: Vec<String> = survivors
            .iter()
            .filter(|p| !escaped.contains(p))
            .map(|p| {
                String::from_utf8_lossy(
                    &std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default(),
                )
                .replace('\0', " ")
            })
            .collect();
        eprintln!(
            "{daemon}: after stop {} marked processes: {} linger.sh, {} others",
            survivors.len(),
            survivors.len() - others.len(),
            others.len()
        );
        for pid in survivors {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        if daemon == "vipd" {
            assert!(others.is_empty(), "outlived vipd: {others:#?}");
        }
        if daemon != "vipd" {
            continue;
        }
        let state = |name: &str| {
            m.checks
                .iter()
                .find(|c| c.name == name)
                .map(|c| c.state.clone())
                .unwrap_or_default()
        };
        for (name, expected) in [
            ("flood", "down"),
            ("noterm", "down"),
            ("bomb", "down"),
            ("escape", "up"),
            ("leave", "up"),
        ] {
            assert_eq!(state(name), expected, "{name}: {:#?}", m.checks);
        }
        assert_eq!(m.backup_moves, 0, "the backup moved (gap {:?})", m.gap);
        assert!(m.gap < STALL, "adverts stopped for {:?}", m.gap);
        assert!(
            m.fds_max <= m.fds_start + 16,
            "vipd's descriptors grew from {} to {}",
            m.fds_start,
            m.fds_max
        );
        // During the attack: at most one bomb (63 shells and their naps), the scripts, and
        // the setsid'd `linger.sh` with its nap, one per interval (it escapes any
        // process-group kill, in keepalived too).
        let bound = 2 * 63 + 24 + 4 * attack_secs() as usize;
        assert!(
            m.procs_max <= bound,
            "{} marked processes at once",
            m.procs_max
        );
    }
}

/// keepalived.conf of r1 (200, tracks every file with weight -1) or r2 (100, none).
fn file_conf(router: usize, files: &[(&str, std::path::PathBuf)]) -> String {
    let mut text = String::new();
    let mut instance = VrrpInstance::new("VI_1", "eth0", 51)
        .priority(if router == 1 { 200 } else { 100 })
        .version(3)
        .advert_ms(100)
        .vip("192.0.2.100/24");
    if router == 1 {
        let mut track = String::from("track_file {\n");
        for (name, path) in files {
            text.push_str(&format!(
                "vrrp_track_file {name} {{\n    file \"{}\"\n}}\n\n",
                path.display()
            ));
            track.push_str(&format!("        {name} weight -1\n"));
        }
        track.push_str("    }");
        instance = instance.line(&track);
    }
    text.push_str(
        &KeepalivedConf::new(&format!("r{router}"))
            .instance(instance)
            .render(),
    );
    text
}

/// track_file targets that are no file to read: a FIFO nobody writes, /dev/zero, a sparse
/// 16 GiB file, a directory, a symlink loop, and a file with a value that is replaced by a
/// directory. vipd reads each as 0 (saying why) without waiting, the adverts keep their
/// schedule. keepalived (`VIPD_HOSTILE_CHECKS_KEEPALIVED=1`) is measured alongside.
#[test]
fn lab_hostile_checks_track_files_that_are_no_files() {
    for daemon in ["vipd", "keepalived"] {
        if daemon == "keepalived" && std::env::var_os("VIPD_HOSTILE_CHECKS_KEEPALIVED").is_none() {
            continue;
        }
        let lab = Lab::new(&format!("hchk_file_{daemon}"), 2);
        let dir = lab.dir();
        let fifo = dir.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let huge = dir.join("huge");
        std::fs::File::create(&huge)
            .unwrap()
            .set_len(16 << 30)
            .unwrap();
        let loop_a = dir.join("loop_a");
        std::os::unix::fs::symlink(dir.join("loop_b"), &loop_a).unwrap();
        std::os::unix::fs::symlink(&loop_a, dir.join("loop_b")).unwrap();
        let subdir = dir.join("subdir");
        std::fs::create_dir(&subdir).unwrap();
        let replaced = dir.join("replaced");
        std::fs::write(&replaced, "7\n").unwrap();
        let files = vec![
            ("fifo", fifo),
            ("zero", "/dev/zero".into()),
            ("huge", huge),
            ("loop", loop_a),
            ("subdir", subdir),
            ("replaced", replaced.clone()),
        ];
        let spawn = |router: usize| {
            let conf = file_conf(router, &files);
            if daemon == "vipd" {
                lab.spawn_vipd(router, &conf)
            } else {
                lab.spawn_keepalived(router, &conf)
            }
        };
        let r1 = spawn(1);
        let r2 = spawn(2);
        if daemon == "vipd" {
            // 200 - 7 while `replaced` holds 7.
            let seven = lab::wait_until(Duration::from_secs(20), POLL, || {
                lab::vipd_status(&r1)
                    .and_then(|s| s.instances.into_iter().find(|i| i.name == "VI_1"))
                    .is_some_and(|i| i.effective_priority == 193)
            });
            assert!(seven.is_some(), "value 7 not applied:\n{}", r1.log());
        }
        // Replaced by a directory once the attack runs.
        let swap = {
            let replaced = replaced.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(2));
                std::fs::remove_file(&replaced).unwrap();
                std::fs::create_dir(&replaced).unwrap();
            })
        };
        let what = format!("hostile track files at {daemon}");
        let m = if daemon == "keepalived" {
            // keepalived may never become master here: say so instead of failing.
            let vip = Segment::Main.vip4().into();
            if lab
                .wait_sole_holder(vip, 1, Duration::from_secs(20))
                .is_none()
            {
                eprintln!(
                    "{what}: r1 never became master; holders {:?}; r1's log:\n{}",
                    lab.holders(vip),
                    r1.log()
                );
                swap.join().unwrap();
                continue;
            }
            measure(&lab, &r1, &r2, &what, None)
        } else {
            measure(&lab, &r1, &r2, &what, None)
        };
        swap.join().unwrap();
        if daemon != "vipd" {
            continue;
        }
        for (name, why) in [
            ("fifo", "not a regular file"),
            ("zero", "not a regular file"),
            ("huge", "no integer"),
            ("loop", "symbolic links"),
            ("subdir", "not a regular file"),
            ("replaced", "read as 0"),
        ] {
            let check = m.checks.iter().find(|c| c.name == name);
            let result = check
                .and_then(|c| c.last_result.clone())
                .unwrap_or_default();
            assert!(result.contains(why), "{name}: {check:#?}");
        }
        let priority = lab::vipd_status(&r1)
            .and_then(|s| s.instances.into_iter().find(|i| i.name == "VI_1"))
            .map(|i| i.effective_priority);
        assert_eq!(priority, Some(200), "every file reads as 0");
        assert_eq!(m.backup_moves, 0, "the backup moved (gap {:?})", m.gap);
        assert!(m.gap < STALL, "adverts stopped for {:?}", m.gap);
        assert!(
            m.fds_max <= m.fds_start + 16,
            "vipd's descriptors grew from {} to {}",
            m.fds_start,
            m.fds_max
        );
    }
}
