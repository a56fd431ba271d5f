//! The control socket and the metrics port under real clients in the namespace lab (needs
//! root): who may use the socket (peer credentials, `control_group`, modes), misbehaving
//! clients that must not disturb 10 ms adverts, the event stream during a failover, systemd
//! notifications, and a metrics address that cannot be bound.

mod lab;
mod lab_vipd_support;

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lab::keepalived_conf::{KeepalivedConf, VrrpInstance};
use lab::{run, vipd_binary, wait_until, Daemon, Lab};
use lab_vipd_support::*;
use nix::sched::{setns, CloneFlags};
use vipd::control::events::{EventKind, EventRecord};

/// Starts vipd in `router` with extra `vipd run` arguments; waits until it serves.
fn start_with(lab: &Lab, router: usize, conf: &str, args: &[&str]) -> Daemon {
    start_vipd_args(lab, router, conf, args, &[])
}

fn socket_path(daemon: &Daemon) -> &Path {
    daemon.socket_path.as_deref().expect("vipd has a socket")
}

/// A copy of the vipd binary that any user can run (the build tree may be private).
fn public_vipd(lab: &Lab) -> PathBuf {
    let copy = lab.dir().join("vipd-public");
    if !copy.exists() {
        std::fs::copy(vipd_binary().expect("vipd binary"), &copy).expect("copy vipd");
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    copy
}

/// `vipd ARGS` run as uid/gid 65534 (nobody) with the given supplementary groups.
fn as_nobody(lab: &Lab, groups: &[u32], primary_gid: u32, args: &[&str]) -> lab::Exec {
    let binary = public_vipd(lab);
    let regid = primary_gid.to_string();
    let group_list = groups
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let mut argv = vec!["setpriv", "--reuid=65534", "--regid", &regid];
    let groups_arg = format!("--groups={group_list}");
    if groups.is_empty() {
        argv.push("--clear-groups");
    } else {
        argv.push(&groups_arg);
    }
    argv.push("--");
    argv.push(binary.to_str().unwrap());
    argv.extend_from_slice(args);
    // A process forked by another test thread while the copy was being written may still
    // hold it open for writing for a moment (exec then fails with ETXTBSY).
    let mut out = run(&argv);
    for _ in 0..20 {
        if !out.stderr.contains("Text file busy") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        out = run(&argv);
    }
    out
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn only_root_and_the_control_group_may_use_the_socket() {
    let lab = Lab::new("control-access", 1);
    // Without a control group: 0600, the kernel turns everyone but root away.
    let private = start_vipd(&lab, 1, &conf(1, &[v3_ipv4(100)]));
    let private_socket = socket_path(&private).to_str().unwrap().to_owned();
    assert_eq!(mode_of(socket_path(&private)), 0o600);
    let out = as_nobody(&lab, &[], 65534, &["status", "--socket", &private_socket]);
    assert!(!out.success, "nobody read the status: {out:?}");
    assert!(out.stderr.contains("Permission denied"), "{out:?}");

    // With a control group: 0666 in a directory vipd creates 0755, and the daemon decides
    // by the client's credentials.
    let dir = lab.dir().join("run-vipd");
    let socket = dir.join("vipd.sock");
    let socket_text = socket.to_str().unwrap();
    let conf_path = lab.dir().join("group.conf");
    let second = VrrpInstance::new("VI_7", "eth0", 57)
        .priority(100)
        .version(3)
        .advert(ADVERT)
        .vip("192.0.2.107/24");
    std::fs::write(&conf_path, conf(1, &[second])).unwrap();
    let state = lab.dir().join("group-state");
    let binary = vipd_binary().unwrap();
    let mut shared = lab.spawn(
        1,
        &[
            binary.to_str().unwrap(),
            "run",
            "-c",
            conf_path.to_str().unwrap(),
            "--socket",
            socket_text,
            "--state-dir",
            state.to_str().unwrap(),
            "--control-group",
            "4242",
        ],
        &[],
    );
    shared.socket_path = Some(socket.clone());
    assert!(
        wait_until(SETTLE, Duration::from_millis(10), || shared
            .log()
            .contains("started with"))
        .is_some(),
        "{}",
        shared.log()
    );
    assert_eq!(mode_of(&socket), 0o666);
    assert_eq!(mode_of(&dir), 0o755);

    for args in [
        vec!["status", "--socket", socket_text],
        vec!["drain", "VI_7", "--socket", socket_text],
        vec!["resume", "--all", "--socket", socket_text],
        vec!["reload", "--socket", socket_text],
    ] {
        let out = as_nobody(&lab, &[], 65534, &args);
        assert!(!out.success, "nobody ran {args:?}: {out:?}");
        assert!(
            out.stderr
                .contains("permission denied: uid 65534 is not root and not in control group 4242"),
            "{args:?}: {}",
            out.stderr
        );
    }
    let out = as_nobody(&lab, &[], 65534, &["events", "--socket", socket_text]);
    assert!(
        !out.success && out.stderr.contains("permission denied"),
        "{out:?}"
    );
    assert_eq!(
        instance(&shared, "VI_7").drained,
        None,
        "a refused drain changed state"
    );

    // A member (supplementary or primary group) may read and change.
    let out = as_nobody(&lab, &[4242], 65534, &["status", "--socket", socket_text]);
    assert!(out.success && out.stdout.contains("VI_7"), "{out:?}");
    let out = as_nobody(&lab, &[], 4242, &["drain", "VI_7", "--socket", socket_text]);
    assert!(out.success, "{out:?}");
    let drained = instance(&shared, "VI_7")
        .drained
        .expect("drained by the member");
    assert!(drained.by.starts_with("uid 65534"), "{drained:?}");
    assert!(shared.log().contains("VI_7: drained (soft) by uid 65534"));
    assert!(
        shared.log().contains("control socket: refused uid 65534"),
        "refusals are logged:\n{}",
        shared.log()
    );
}

/// Runs `f` on a thread inside network namespace `ns`.
fn in_namespace<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = File::open(&path).expect("open netns");
        setns(&file, CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
    .join()
    .expect("namespace thread panicked")
}

/// `GET /metrics` from inside the lab's client namespace.
fn scrape(lab: &Lab, addr: SocketAddr) -> String {
    in_namespace(lab.client_ns(), move || {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: vipd\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text
    })
}

fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
}

/// vipd under SCHED_FIFO (as keepalived's `vrrp_rt_priority` runs it): the machine's other
/// load cannot preempt it, so any delay seen comes from inside vipd, which is what the
/// abuse test is about.
fn start_realtime(lab: &Lab, router: usize, conf: &str, args: &[&str]) -> Daemon {
    let binary = vipd_binary().expect("vipd binary");
    let conf_path = lab.dir().join(format!("r{router}-rt.conf"));
    std::fs::write(&conf_path, conf).unwrap();
    let socket = lab.dir().join(format!("r{router}-rt.sock"));
    let state = lab.state_dir(router);
    let mut argv = vec![
        "chrt",
        "-f",
        "10",
        binary.to_str().unwrap(),
        "run",
        "-c",
        conf_path.to_str().unwrap(),
        "--socket",
        socket.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
    ];
    argv.extend_from_slice(args);
    let mut daemon = lab.spawn(router, &argv, &[]);
    daemon.socket_path = Some(socket);
    wait_started(daemon, router)
}

/// Starts the threads that misbehave against one daemon's control socket and metrics port
/// until `stop`: connections that never send (more than the client limit), junk lines, 1 MiB
/// requests, event streams never read, and a flood of valid status requests (each one costs
/// the event loop a status report); on the metrics port slow heads, 64 KiB heads, junk, held
/// connections and a flood of valid scrapes. Counts what was sent in `attacks`.
fn misbehave(
    lab: &Lab,
    socket: PathBuf,
    metrics: SocketAddr,
    stop: &Arc<AtomicBool>,
    attacks: &Arc<AtomicU64>,
) -> Vec<std::thread::JoinHandle<()>> {
    let mut threads = Vec::new();
    {
        let (socket, stop) = (socket.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut held = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                if held.len() < 40 {
                    if let Ok(s) = UnixStream::connect(&socket) {
                        held.push(s);
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }));
    }
    {
        let (socket, stop, attacks) = (socket.clone(), stop.clone(), attacks.clone());
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(mut s) = UnixStream::connect(&socket) {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                    let _ = s.write_all(b"status\n");
                    let _ = s.read_to_end(&mut Vec::new());
                    attacks.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for kind in 0..3 {
        let (socket, stop, attacks) = (socket.clone(), stop.clone(), attacks.clone());
        threads.push(std::thread::spawn(move || {
            let junk = vec![b'j'; 1024 * 1024];
            let mut streams = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut s) = UnixStream::connect(&socket) else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let _ = s.set_write_timeout(Some(Duration::from_millis(200)));
                let _ = match kind {
                    0 => s.write_all(b"\x00\xffnot a request{{{\n"),
                    1 => s.write_all(&junk),
                    _ => s.write_all(b"{\"request\":\"events\",\"snapshot\":true}\n"),
                };
                if kind == 2 && streams.len() < 32 {
                    streams.push(s);
                }
                attacks.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        }));
    }
    {
        let (stop, attacks) = (stop.clone(), attacks.clone());
        let ns = format!("/run/netns/{}", lab.client_ns());
        threads.push(std::thread::spawn(move || {
            let file = File::open(&ns).unwrap();
            setns(&file, CloneFlags::CLONE_NEWNET).unwrap();
            let huge = format!(
                "GET /metrics HTTP/1.1\r\nX-Junk: {}\r\n\r\n",
                "x".repeat(64 * 1024)
            );
            let mut held = Vec::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                if let Ok(mut s) = TcpStream::connect_timeout(&metrics, Duration::from_secs(1)) {
                    let _ = s.set_write_timeout(Some(Duration::from_millis(200)));
                    let _ = match n % 4 {
                        0 => s.write_all(b"GET /metrics HTTP/1.1\r\n"),
                        1 => s.write_all(huge.as_bytes()),
                        2 => s.write_all(b"\x16\x03\x01 garbage\r\n\r\n"),
                        _ => s
                            .write_all(b"GET /metrics HTTP/1.1\r\n\r\n")
                            .and_then(|()| s.read_to_end(&mut Vec::new()).map(|_| ())),
                    };
                    if held.len() < 20 {
                        held.push(s);
                    }
                    attacks.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }));
    }
    threads
}

/// Seconds (`tcpdump -tt`) of each captured packet.
fn capture_times(packets: &[String]) -> Vec<f64> {
    packets
        .iter()
        .filter_map(|p| p.split_whitespace().next()?.parse().ok())
        .collect()
}

/// Watches whether the machine itself stops running real-time threads (a virtual CPU the
/// hypervisor does not run: steal time; seen here for 15-35 ms every few seconds and, in a
/// loaded CI run, for seconds). One thread per CPU, pinned to it, at the daemons' own
/// `SCHED_FIFO` priority, sleeps 1 ms at a time and keeps the longest time it was not run.
/// It shares nothing with vipd, so a stall vipd causes itself does not show here.
struct StallWatch {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<Duration>>,
}

impl StallWatch {
    fn start() -> StallWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = (0..cpus)
            .map(|cpu| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut set = nix::sched::CpuSet::new();
                    set.set(cpu).unwrap();
                    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).unwrap();
                    // SAFETY: sched_param is plain data (all zeros is valid); the call takes
                    // a pointer to a live local and affects only this thread (pid 0).
                    let mut param: libc::sched_param = unsafe { std::mem::zeroed() };
                    param.sched_priority = 10;
                    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
                    assert_eq!(rc, 0, "SCHED_FIFO for the stall watch");
                    let mut longest = Duration::ZERO;
                    let mut last = Instant::now();
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(1));
                        let now = Instant::now();
                        longest = longest.max(now - last);
                        last = now;
                    }
                    longest
                })
            })
            .collect();
        StallWatch { stop, threads }
    }

    /// The longest time a CPU ran none of the watch's threads.
    fn stop(self) -> Duration {
        self.stop.store(true, Ordering::Relaxed);
        self.threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .max()
            .unwrap_or_default()
    }
}
#[test]
fn misbehaving_clients_never_delay_10ms_adverts() {
    let lab = Lab::new("control-hostile", 2);
    let advert = Duration::from_millis(10);
    // The backup waits 10 missed adverts (100 ms) before taking over: the kernel path of
    // the adverts between namespaces is not under vipd's control on a loaded machine, while
    // the master's own timing is measured exactly below, from what it sends.
    let node = |router: usize, priority: u8| {
        KeepalivedConf::new(&format!("r{router}"))
            .global("vrrp_down_timer_adverts 10")
            .instance(
                VrrpInstance::new("VI_1", "eth0", 51)
                    .priority(priority)
                    .version(3)
                    .advert(advert)
                    .vip("192.0.2.100/24"),
            )
            .render()
    };
    let metrics: [SocketAddr; 2] = [
        "192.0.2.11:9165".parse().unwrap(),
        "192.0.2.12:9165".parse().unwrap(),
    ];
    let r1 = start_realtime(
        &lab,
        1,
        &node(1, 150),
        &["--metrics-listen", "192.0.2.11:9165"],
    );
    let r2 = start_realtime(
        &lab,
        2,
        &node(2, 100),
        &["--metrics-listen", "192.0.2.12:9165"],
    );
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "r1 wins");
    wait_state(&r2, "VI_1", "BACKUP");
    std::thread::sleep(Duration::from_millis(300));
    // What the master sends, timestamped by the kernel as vipd sends it: first 3 s as the
    // machine allows it anyway (the baseline), then 3 s under abuse.
    let window = Duration::from_secs(3);
    // (99th percentile, longest) gap between two adverts, in seconds.
    let gaps = |capture: &mut lab::Capture| {
        let sent = capture_times(&capture.stop());
        assert!(sent.len() > 150, "only {} adverts captured", sent.len());
        let mut gaps: Vec<f64> = sent.windows(2).map(|w| w[1] - w[0]).collect();
        gaps.sort_by(f64::total_cmp);
        let p99 = gaps[gaps.len() * 99 / 100];
        (p99, gaps[gaps.len() - 1])
    };
    let ms = |(p99, longest): (f64, f64)| {
        format!("p99 {:.1} ms, longest {:.1} ms", p99 * 1e3, longest * 1e3)
    };
    let mut capture = lab.capture(lab.router_ns(1), "eth0", "-tt -Q out vrrp");
    std::thread::sleep(window);
    let baseline = gaps(&mut capture);

    // A stall of the whole machine (both daemons frozen; seen in loaded CI runs) makes the
    // backup take over when it resumes and the master's next advert late, whatever vipd
    // does. An attempt that failed while the stall watch saw the machine stop long enough
    // to explain the failure is repeated; every other failure fails the test at once.
    let stall_explains_takeover = 5 * advert;
    let stall_explains_late_adverts = 2 * advert;
    let attempts = 3;
    let mut attempt = 0;
    let (attacked, attacks) = loop {
        attempt += 1;
        let before = (
            instance(&r1, "VI_1").transitions,
            instance(&r2, "VI_1").transitions,
        );
        let watch = StallWatch::start();
        let mut capture = lab.capture(lab.router_ns(1), "eth0", "-tt -Q out vrrp");
        let stop = Arc::new(AtomicBool::new(false));
        let attacks = Arc::new(AtomicU64::new(0));
        let mut threads = misbehave(
            &lab,
            socket_path(&r1).to_path_buf(),
            metrics[0],
            &stop,
            &attacks,
        );
        threads.extend(misbehave(
            &lab,
            socket_path(&r2).to_path_buf(),
            metrics[1],
            &stop,
            &attacks,
        ));
        let mut moved = None;
        let watch_until = Instant::now() + window;
        while Instant::now() < watch_until {
            let holders = lab.holders(vip4());
            if holders != [1] && moved.is_none() {
                moved = Some(holders);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().unwrap();
        }
        let attacked = gaps(&mut capture);
        let machine_stall = watch.stop();
        let after = (
            instance(&r1, "VI_1").transitions,
            instance(&r2, "VI_1").transitions,
        );
        let report = format!(
            "the master's adverts: under abuse {}, before {}; the machine stopped real-time \
             threads for up to {:.1} ms (attempt {attempt})",
            ms(attacked),
            ms(baseline),
            machine_stall.as_secs_f64() * 1e3
        );
        // A loop that waited on clients would shift the whole distribution (and soon move
        // the VIP); a loaded machine alone adds a rare longer gap, hence the percentile. The
        // longest gap must stay well inside what the backup tolerates (10 adverts).
        let taken_over =
            moved.is_some() || after != before || attacked.1 >= 10.0 * advert.as_secs_f64();
        let late = attacked.0 >= 3.0 * advert.as_secs_f64();
        let explained = (taken_over && machine_stall >= stall_explains_takeover)
            || (!taken_over && late && machine_stall >= stall_explains_late_adverts);
        if explained && attempt < attempts {
            eprintln!("the machine stalled, repeating: {report}");
            expect_sole_holder(&lab, vip4(), 1, SETTLE, "r1 holds the VIP again");
            wait_state(&r2, "VI_1", "BACKUP");
            std::thread::sleep(Duration::from_millis(300));
            continue;
        }
        assert_eq!(
            moved,
            None,
            "the VIP moved during the abuse; {report}\nr1 log:\n{}\nr2 log:\n{}",
            r1.log(),
            r2.log()
        );
        // The master's gaps and the machine's stalls go with a transition's report: they
        // tell a master that stopped sending from a backup that stopped hearing, and both
        // from a machine that stopped.
        assert_eq!(
            after,
            before,
            "a transition happened (r1, r2 transitions); {report}\nr1 log:\n{}\nr2 log:\n{}",
            r1.log(),
            r2.log()
        );
        assert!(
            !taken_over && !late,
            "the attacked master's adverts were late (10 ms interval): {report}"
        );
        eprintln!("{report}");
        break (attacked, attacks.load(Ordering::Relaxed));
    };
    assert_eq!(instance(&r2, "VI_1").state, "BACKUP");
    eprintln!(
        "{attacks} hostile requests; gaps between the master's adverts: under abuse {}, before {}",
        ms(attacked),
        ms(baseline)
    );
    assert!(attacks > 200, "only {attacks} hostile requests were made");
    // The abuse reached the daemons and was turned away; real clients are still served.
    for addr in metrics {
        let text = scrape(&lab, addr);
        assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
        assert!(metric(&text, "vipd_control_requests_total{outcome=\"rejected\"}") > 10.0);
        assert!(metric(&text, "vipd_metrics_requests_total{outcome=\"rejected\"}") > 10.0);
        eprintln!(
            "{addr}: control rejected {} busy {}; metrics rejected {} busy {}",
            metric(&text, "vipd_control_requests_total{outcome=\"rejected\"}"),
            metric(&text, "vipd_control_requests_total{outcome=\"busy\"}"),
            metric(&text, "vipd_metrics_requests_total{outcome=\"rejected\"}"),
            metric(&text, "vipd_metrics_requests_total{outcome=\"busy\"}"),
        );
    }
}

/// Lines of `vipd events --json` as they arrive.
struct EventReader {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl EventReader {
    fn start(daemon: &Daemon) -> EventReader {
        let mut child = Command::new(vipd_binary().unwrap())
            .args(["events", "--json", "--socket"])
            .arg(socket_path(daemon))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        EventReader { child, lines }
    }

    /// Events received until `done` holds for the list (or the timeout passes).
    fn collect_until(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&[EventRecord]) -> bool,
    ) -> Vec<EventRecord> {
        let deadline = Instant::now() + timeout;
        let mut events = Vec::new();
        while Instant::now() < deadline && !done(&events) {
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(50)) {
                events.push(
                    serde_json::from_str(&line)
                        .unwrap_or_else(|e| panic!("not an event ({e}): {line}")),
                );
            }
        }
        events
    }
}

impl Drop for EventReader {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn transitions(events: &[EventRecord]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::State {
                instance,
                from,
                to,
                reason,
                ..
            } => Some(format!("{instance}: {from} -> {to} ({reason})")),
            _ => None,
        })
        .collect()
}

#[test]
fn events_list_a_failover_in_order_matching_the_logs() {
    let lab = Lab::new("events-failover", 2);
    let r1_conf = conf(1, &[v3_ipv4(150)]);
    let mut r1 = start_vipd(&lab, 1, &r1_conf);
    let r2 = start_vipd(&lab, 2, &conf(2, &[v3_ipv4(100)]));
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "r1 wins");
    wait_state(&r2, "VI_1", "BACKUP");
    let reader = EventReader::start(&r2);
    // The stream is open once the daemon counts a served request; give it a moment.
    std::thread::sleep(Duration::from_millis(300));

    r1.stop();
    expect_sole_holder(&lab, vip4(), 2, SETTLE, "r2 takes over");
    let r1 = start_vipd(&lab, 1, &r1_conf);
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "r1 preempts back");
    let events = reader.collect_until(SETTLE, |events| transitions(events).len() >= 2);
    drop(reader);

    // Numbered without gaps, in order.
    assert!(events.len() >= 4, "{events:#?}");
    for pair in events.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1, "{events:#?}");
        assert!(pair[1].time >= pair[0].time, "{events:#?}");
    }
    let kinds: Vec<String> = events
        .iter()
        .map(|e| match &e.kind {
            EventKind::State { to, .. } => format!("state {to}"),
            EventKind::VipsAdded { .. } => "vips added".into(),
            EventKind::VipsRemoved { .. } => "vips removed".into(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        ["vips added", "state MASTER", "vips removed", "state BACKUP"],
        "{events:#?}"
    );
    // The same transitions, in the same order, as the log lines of r2.
    let logged: Vec<String> = r2
        .log()
        .lines()
        .filter_map(|l| {
            l.find("VI_1: ")
                .map(|at| l[at + "VI_1: ".len()..].to_string())
        })
        .filter(|l| {
            ["INIT -> ", "BACKUP -> ", "MASTER -> ", "FAULT -> "]
                .iter()
                .any(|state| l.starts_with(state))
        })
        .map(|l| format!("VI_1: {l}"))
        .collect();
    let streamed = transitions(&events);
    assert_eq!(streamed.len(), 2, "{streamed:?}");
    assert!(
        streamed[0].starts_with("VI_1: BACKUP -> MASTER (priority 0 advert from 192.0.2.11)"),
        "{streamed:?}"
    );
    assert!(
        streamed[1].starts_with("VI_1: MASTER -> BACKUP (higher priority advert from 192.0.2.11"),
        "{streamed:?}"
    );
    let positions: Vec<usize> = streamed
        .iter()
        .map(|line| {
            logged
                .iter()
                .position(|l| l == line)
                .unwrap_or_else(|| panic!("{line:?} is not in r2's log:\n{logged:#?}"))
        })
        .collect();
    assert!(
        positions[0] < positions[1],
        "log order differs: {logged:#?}"
    );
    drop(r1);
}

#[test]
fn systemd_hears_ready_status_watchdog_and_stopping() {
    let lab = Lab::new("sd-notify", 1);
    let notify_path = lab.dir().join("notify.sock");
    let listener = UnixDatagram::bind(&notify_path).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut daemon = start_vipd_args(
        &lab,
        1,
        &conf(1, &[v3_ipv4(100)]),
        &[],
        &[
            ("NOTIFY_SOCKET", notify_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "200000"),
        ],
    );
    let mut messages: Vec<String> = Vec::new();
    let receive_until =
        |messages: &mut Vec<String>, what: &str, done: &dyn Fn(&[String]) -> bool| {
            let deadline = Instant::now() + SETTLE;
            let mut buf = [0u8; 4096];
            while !done(messages) {
                assert!(
                    Instant::now() < deadline,
                    "systemd never heard {what}; got {messages:#?}"
                );
                if let Ok(n) = listener.recv(&mut buf) {
                    messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                }
            }
        };
    // READY=1 comes with the first STATUS (every instance has its first state).
    receive_until(&mut messages, "READY=1", &|m| {
        m.iter().any(|m| m.contains("READY=1"))
    });
    let ready = messages.iter().find(|m| m.contains("READY=1")).unwrap();
    assert!(ready.contains("STATUS=VI_1 BACKUP"), "{ready:?}");
    // Alone, the instance becomes master: STATUS follows. Watchdog pings keep coming.
    receive_until(&mut messages, "STATUS=VI_1 MASTER", &|m| {
        m.iter().any(|m| m.contains("STATUS=VI_1 MASTER"))
    });
    let start = messages.len();
    receive_until(&mut messages, "WATCHDOG=1 (3 more)", &|m| {
        m[start..]
            .iter()
            .filter(|m| m.contains("WATCHDOG=1"))
            .count()
            >= 3
    });
    // A drain shows in STATUS as well.
    let socket = socket_path(&daemon).to_str().unwrap().to_owned();
    assert!(vipd_cli(&["drain", "VI_1", "--socket", &socket]).success);
    receive_until(&mut messages, "STATUS with the drain", &|m| {
        m.iter().any(|m| m.contains("(drained soft)"))
    });
    daemon.signal(nix::sys::signal::Signal::SIGTERM);
    receive_until(&mut messages, "STOPPING=1", &|m| {
        m.iter().any(|m| m.contains("STOPPING=1"))
    });
    let status = daemon.stop();
    assert!(status.success(), "{status:?}");
}

#[test]
fn an_unusable_metrics_address_stops_vipd_before_anything_starts() {
    let lab = Lab::new("metrics-bind", 1);
    let first = start_with(
        &lab,
        1,
        &conf(1, &[v3_ipv4(100)]),
        &["--metrics-listen", "192.0.2.11:9165"],
    );
    // Same address again (another VRID, so nothing else would clash).
    let other = VrrpInstance::new("VI_8", "eth0", 58)
        .priority(200)
        .version(3)
        .advert(ADVERT)
        .vip("192.0.2.108/24");
    for (address, wanted) in [
        ("192.0.2.11:9165", "metrics listen address 192.0.2.11:9165"),
        ("203.0.113.1:9165", "no such local address"),
    ] {
        let mut second = lab.spawn_vipd_args(
            1,
            &conf(1, std::slice::from_ref(&other)),
            &["--metrics-listen", address],
            &[],
        );
        assert!(
            wait_until(SETTLE, Duration::from_millis(10), || !second.is_running()).is_some(),
            "vipd kept running with metrics on {address}"
        );
        let log = second.log();
        assert!(log.contains(wanted), "{log}");
        assert!(!log.contains("started with"), "{log}");
        assert!(
            !socket_path(&second).exists(),
            "the control socket was created before the failure"
        );
        let held: IpAddr = "192.0.2.108".parse().unwrap();
        assert!(lab.holders(held).is_empty(), "a VIP was added");
    }
    // The first one is unaffected.
    assert!(scrape(&lab, "192.0.2.11:9165".parse().unwrap()).contains("keepalived_up 1"));
    drop(first);
}

#[test]
fn native_metrics_listen_serves_and_a_reload_changing_it_restarts_nothing() {
    let lab = Lab::new("metrics-native-reload", 1);
    let mut daemon = start_vipd_toml(&lab, 1, &conf(1, &[v3_ipv4(100)]));
    let path = daemon.conf_path.clone().expect("config path");
    let native = std::fs::read_to_string(&path).unwrap();
    assert!(native.contains("[global]\n"), "{native}");
    let with = |addr: &str| {
        native.replacen(
            "[global]\n",
            &format!("[global]\nmetrics_listen = \"{addr}\"\n"),
            1,
        )
    };
    // The native key is read at start.
    std::fs::write(&path, with("192.0.2.11:9165")).unwrap();
    daemon.stop();
    let mut args = vec!["run".to_string()];
    let binary = vipd_binary().unwrap();
    let socket = lab.dir().join("native-metrics.sock");
    args.extend(
        [
            "-c",
            path.to_str().unwrap(),
            "--socket",
            socket.to_str().unwrap(),
            "--state-dir",
            lab.state_dir(1).to_str().unwrap(),
        ]
        .map(String::from),
    );
    let mut argv = vec![binary.to_str().unwrap()];
    argv.extend(args.iter().map(String::as_str));
    let mut daemon = lab.spawn(1, &argv, &[]);
    daemon.socket_path = Some(socket);
    daemon.conf_path = Some(path.clone());
    assert!(
        daemon.wait_log("started with", SETTLE).is_some(),
        "{}",
        daemon.log()
    );
    wait_state(&daemon, "VI_1", "MASTER");
    assert!(scrape(&lab, "192.0.2.11:9165".parse().unwrap()).contains("keepalived_up 1"));
    let before = instance(&daemon, "VI_1").transitions;

    // Changing it (and only it) by reload: logged, not applied, and no instance restarts.
    std::fs::write(&path, with("192.0.2.11:9166")).unwrap();
    daemon.reload();
    assert!(
        daemon
            .wait_log("take effect at the next start", SETTLE)
            .is_some(),
        "{}",
        daemon.log()
    );
    assert!(
        daemon.wait_log("reload done", SETTLE).is_some(),
        "{}",
        daemon.log()
    );
    let after = instance(&daemon, "VI_1");
    assert_eq!(after.state, "MASTER");
    assert_eq!(
        after.transitions, before,
        "the reload restarted the instance"
    );
    assert!(scrape(&lab, "192.0.2.11:9165".parse().unwrap()).contains("keepalived_up 1"));
}

#[test]
fn notify_scripts_run_in_event_order() {
    let lab = Lab::new("events-notify-order", 2);
    let shared = lab.shared_dir("notify");
    let log = shared.join("notify.log");
    let script = lab.write_script(
        "notify.sh",
        &format!("#!/bin/sh\necho \"$2 $3\" >> {}\n", log.display()),
    );
    let r1_conf = conf(1, &[v3_ipv4(150)]);
    let mut r1 = start_vipd(&lab, 1, &r1_conf);
    let r2 = start_vipd(
        &lab,
        2,
        &conf(
            2,
            &[v3_ipv4(100).line(&format!("notify {}", script.display()))],
        ),
    );
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "r1 wins");
    wait_state(&r2, "VI_1", "BACKUP");
    let reader = EventReader::start(&r2);
    std::thread::sleep(Duration::from_millis(300));
    // Two failovers and two returns, as fast as the protocol allows.
    for _ in 0..2 {
        r1.stop();
        expect_sole_holder(&lab, vip4(), 2, SETTLE, "r2 takes over");
        r1 = start_vipd(&lab, 1, &r1_conf);
        expect_sole_holder(&lab, vip4(), 1, SETTLE, "r1 preempts back");
    }
    let events = reader.collect_until(SETTLE, |events| transitions(events).len() >= 4);
    let streamed: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::State { instance, to, .. } => Some(format!("{instance} {to}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        streamed,
        ["VI_1 MASTER", "VI_1 BACKUP", "VI_1 MASTER", "VI_1 BACKUP"]
    );
    let mut notified = Vec::new();
    wait_until(SETTLE, Duration::from_millis(20), || {
        notified = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        notified.len() > streamed.len()
    });
    // What happened before the stream was opened (the start-up BACKUP, on a slow machine
    // perhaps a brief MASTER) was notified too; the rest must be the stream, in its order.
    assert_eq!(notified.first().map(String::as_str), Some("VI_1 BACKUP"));
    // The notifier may coalesce a waiting notification with a newer one of the same
    // instance (never reorder): what ran after the stream opened is the stream, or a
    // subsequence of it ending in the same state.
    let after_open = &notified[notified.len().saturating_sub(streamed.len())..];
    let mut rest = streamed.iter();
    let in_order = after_open
        .iter()
        .all(|line| rest.any(|streamed_line| streamed_line == line));
    assert!(
        in_order && notified.last() == streamed.last(),
        "notify order differs from the event stream: notified {notified:?}, streamed \
         {streamed:?}"
    );
}

#[test]
fn status_watch_prints_the_status_then_events_as_text() {
    let lab = Lab::new("status-watch", 1);
    let daemon = start_vipd(&lab, 1, &conf(1, &[v3_ipv4(100)]));
    wait_state(&daemon, "VI_1", "MASTER");
    let mut child = Command::new(vipd_binary().unwrap())
        .args(["status", "--watch", "--socket"])
        .arg(socket_path(&daemon))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut seen: Vec<String> = Vec::new();
    let wait_for = |seen: &mut Vec<String>, needle: &str| {
        let deadline = Instant::now() + SETTLE;
        while !seen.iter().any(|l| l.contains(needle)) {
            assert!(Instant::now() < deadline, "no {needle:?} in {seen:#?}");
            if let Ok(line) = lines.recv_timeout(Duration::from_millis(50)) {
                seen.push(line);
            }
        }
    };
    wait_for(&mut seen, "-- events after #");
    assert!(
        seen[0].starts_with("vipd ") && seen.iter().any(|l| l.contains("instance VI_1")),
        "{seen:#?}"
    );
    let socket = socket_path(&daemon).to_str().unwrap().to_owned();
    // Alone, only a hard drain gives the VIP up.
    assert!(vipd_cli(&["drain", "--hard", "VI_1", "--socket", &socket]).success);
    wait_for(&mut seen, "drain (hard) of VI_1 by uid 0");
    wait_for(&mut seen, "VI_1: removed 192.0.2.100/24");
    wait_for(
        &mut seen,
        "VI_1: MASTER -> BACKUP (drained (hard), no other router",
    );
    let _ = child.kill();
    let _ = child.wait();
}
