//! Footprint benchmark: memory and CPU of keepalived and vipd from the same keepalived.conf
//! against the number of instances (VRRPv3, 10 ms adverts, r1 master of all, r2 backup),
//! up to every VRID in both families (255 IPv4 + 255 IPv6 instances on one interface); at
//! each size whether every advert left on time (a capture of the wire on the client) and
//! how long a start takes until READY=1 (a NOTIFY_SOCKET the bench listens on).
//!
//! `cargo bench -p vipd --bench footprint` (root). Environment: `VIPD_BENCH_REPS` (default 2)
//! runs per size, `VIPD_BENCH_COUNTS` (default `1,50,255,510`), `VIPD_BENCH_ONLY`,
//! `VIPD_BIN` (`make bench` passes the static binary users run), `VIPD_BENCH_SVG_DIR`,
//! `VIPD_BENCH_HOLD_SECS` (hold the steady state this long before sampling, for profiling),
//! `VIPD_BENCH_BRIDGE_NETFILTER=1` (see below), `VIPD_BENCH_SWITCH` (default
//! `threaded,inline`, see below), `VIPD_BENCH_NICE` and `VIPD_BENCH_RT` (the scheduling of
//! both daemons and the switch's threads, see below).
//!
//! Two labs, both daemons in each, in the same run. veth hands a frame to its peer by
//! `netif_rx` and the frame is then switched and delivered (the bridge, its flooding to every
//! port, the receiving hosts' IP and raw-socket delivery) in the softirq the sender's
//! `local_bh_enable` runs: in the sending process's context, charged to it, on its CPU. On
//! hardware the NIC takes the frame and the switch and the other hosts do the rest. The
//! `threaded` lab turns on GRO and threaded NAPI on every switch port (`ethtool -K PORT gro
//! on rx-gro-list on`, `/sys/class/net/PORT/threaded`): the sender's veth queues the frame
//! on the port's ring and wakes the port's kernel thread, which does the switching and
//! delivery. The sender pays its own send path and the hand-over; the threads' CPU is
//! reported beside it. Each host's end has a queue of 1,000 frames there, as a NIC has
//! (see `thread_switch`).
//! The `inline` lab is veth as it comes (the figures of earlier releases).
//!
//! Scheduling: both daemons run as they ship, at the default scheduling (nice 0), unless
//! `VIPD_BENCH_NICE=N` (nice value) or `VIPD_BENCH_RT=N` (`SCHED_RR` priority N) asks for
//! another, which then applies to both daemons (every process and thread they start) and
//! the switch's threads alike. Neither makes a loaded machine fair to keepalived, measured
//! at 255 instances and load 10: at nice -20 its master used 14 % of a CPU and sent 1,800
//! of its 25,500 adverts a second (`strace`: one advert per `timerfd` wake-up, about 1.3 ms
//! apart: it waits for wake-ups, not for the CPU), and as `SCHED_RR` its master took 92 %
//! of a CPU while sending 1-78 % of its adverts, and in one run its backup took over.
//! Per-advert figures compare like with like only where keepalived sent (nearly) every
//! advert: the tables give the share each daemon sent; run the bench on an idle machine.

#[path = "../tests/lab/mod.rs"]
mod lab;
mod support;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lab::keepalived_conf::{InitialState, KeepalivedConf, VrrpInstance};
use lab::{Daemon, Lab, Segment};
use support::chart::{self, Series};
use support::wire::{Kind, Pcap};

const ADVERT: Duration = Duration::from_millis(10);
const CPU_SAMPLE: Duration = Duration::from_secs(5);
const CAPTURE: Duration = Duration::from_secs(2);
/// A buffered capture goes on this long after the frames it judges (see `once`).
const CAPTURE_TAIL: Duration = Duration::from_millis(1500);
/// Share of its due adverts a master must send for its CPU per advert to compare.
const SENT_FOR_COMPARISON: f64 = 0.9;
/// Bytes of a frame the capture keeps: Ethernet, IPv6 and the VRRP header fit.
const SNAPLEN: u32 = 96;

/// CLOCK_REALTIME in seconds, the clock of the capture's timestamps.
fn realtime_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// How the lab's switch ports receive (see the top).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Switch {
    /// GRO and threaded NAPI on every switch port: switching and delivery in kernel threads.
    Threaded,
    /// veth as it comes: switching and delivery in the sender's context.
    Inline,
}

impl Switch {
    fn name(self) -> &'static str {
        match self {
            Switch::Threaded => "threaded",
            Switch::Inline => "inline",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Switch::Threaded => {
                "switch ports on NAPI threads (the switch's and the receivers' work off the sender)"
            }
            Switch::Inline => {
                "veth as it comes (the switch's and the receivers' work charged to the sender)"
            }
        }
    }
}

/// `SCHED_RR` priority of both daemons and the switch's threads; None: not real-time.
fn rt_priority() -> Option<u32> {
    let prio = std::env::var("VIPD_BENCH_RT")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(0);
    (prio > 0).then_some(prio.min(99))
}

/// Nice value of both daemons and the switch's threads when not real-time.
fn nice_value() -> i32 {
    std::env::var("VIPD_BENCH_NICE")
        .ok()
        .and_then(|v| v.trim().parse::<i32>().ok())
        .unwrap_or(0)
        .clamp(-20, 19)
}

/// How both daemons and the switch's threads are scheduled, for the tables.
fn scheduling() -> String {
    match rt_priority() {
        Some(p) => format!("SCHED_RR {p}"),
        None => format!("nice {}", nice_value()),
    }
}

/// The command line prefix that starts a daemon with `scheduling()`.
fn sched_prefix() -> Vec<String> {
    match rt_priority() {
        Some(p) => vec!["chrt".into(), "--rr".into(), p.to_string()],
        None if nice_value() != 0 => {
            vec!["nice".into(), "-n".into(), nice_value().to_string()]
        }
        None => Vec::new(),
    }
}

/// Kernel threads whose name starts with `napi/`: (pid, name).
fn napi_threads() -> Vec<(i32, String)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let pid: i32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        let comm = comm.trim();
        comm.starts_with("napi/").then(|| (pid, comm.to_owned()))
    })
    .collect()
}

/// utime + stime of one thread or process (not its children), as a duration.
fn own_cpu(pid: i32) -> Duration {
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|text| {
            let rest = text[text.rfind(')')? + 2..].to_owned();
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // Fields 14 and 15 of stat: utime, stime.
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some(utime + stime)
        })
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_micros(ticks * 1_000_000 / hz)
}

/// Puts every switch port of `lab` on GRO and threaded NAPI; returns the ports' threads.
fn thread_switch(lab: &Lab) -> Result<Vec<i32>, String> {
    let sw = lab.switch_ns();
    let listing = lab.exec(sw, "ip -o link show type veth").stdout;
    // "7: r1s1@if2: <...": the name before the '@'.
    let ports: Vec<String> = listing
        .lines()
        .filter_map(|l| Some(l.split(": ").nth(1)?.split('@').next()?.to_owned()))
        .collect();
    if ports.is_empty() {
        return Err("no switch ports found".to_owned());
    }
    let before: Vec<i32> = napi_threads().into_iter().map(|t| t.0).collect();
    for port in &ports {
        let out = lab.exec(
            sw,
            // veth hands a frame to its peer's NAPI only when GRO may take it: a sender
            // with TSO (veth's default) needs `rx-gro-list` (or UDP GRO forwarding) on the
            // receiving end for its raw-socket frames; otherwise `netif_rx` as before.
            &format!(
                "ethtool -K {port} gro on rx-gro-list on && echo 1 > /sys/class/net/{port}/threaded"
            ),
        );
        if !out.success {
            return Err(format!(
                "threaded NAPI on {port}: {} (is ethtool installed?)",
                out.stderr.trim()
            ));
        }
    }
    // The hosts' ends get a queue, as a NIC has (a queue discipline of 1,000 frames): with
    // NAPI the port takes frames on a ring of 256, and veth (Linux 6.16 on) stops a sender
    // that has a queue discipline while the ring is full, where without one (veth's
    // `noqueue`) it drops the frame. A master at 255 instances sends its 255 adverts due
    // together in one `sendmmsg`; on `noqueue` about 1.3 % of them were dropped here.
    for ns in lab
        .router_indices()
        .map(|r| lab.router_ns(r))
        .chain([lab.client_ns()])
    {
        let out = lab.exec(ns, "tc qdisc replace dev eth0 root pfifo limit 1000");
        if !out.success {
            return Err(format!("a queue on {ns}'s eth0: {}", out.stderr.trim()));
        }
    }
    let threads: Vec<i32> = napi_threads()
        .into_iter()
        .filter(|(pid, name)| {
            !before.contains(pid)
                && ports
                    .iter()
                    .any(|p| name.starts_with(&format!("napi/{p}-")))
        })
        .map(|t| t.0)
        .collect();
    if threads.len() < ports.len() {
        return Err(format!(
            "{} NAPI threads for {} switch ports",
            threads.len(),
            ports.len()
        ));
    }
    for pid in &threads {
        let pid = pid.to_string();
        match rt_priority() {
            Some(p) => lab::run_ok(&["chrt", "-p", "-r", &p.to_string(), &pid]),
            None => lab::run_ok(&["renice", "-n", &nice_value().to_string(), "-p", &pid]),
        };
    }
    Ok(threads)
}

#[derive(Clone, Debug)]
enum Implementation {
    Keepalived,
    Vipd(PathBuf),
}

impl Implementation {
    fn name(&self) -> &'static str {
        match self {
            Implementation::Keepalived => "keepalived",
            Implementation::Vipd(_) => "vipd",
        }
    }

    /// Starts it in `router` with NOTIFY_SOCKET set to `notify`.
    fn spawn(&self, lab: &Lab, router: usize, conf: &str, notify: &Path) -> Daemon {
        let tag = format!("r{router}-{}", self.name());
        let conf_path = lab.dir().join(format!("{tag}.conf"));
        std::fs::write(&conf_path, conf).expect("write config");
        let conf_arg = conf_path.display().to_string();
        let env = [("NOTIFY_SOCKET", notify.to_str().expect("utf-8 path"))];
        // Both daemons alike: `nice` (or `chrt`) execs the daemon, whose processes and
        // threads inherit its scheduling.
        let prefix = sched_prefix();
        let spawn = |argv: &[&str]| {
            let full: Vec<&str> = (prefix.iter().map(String::as_str))
                .chain(argv.iter().copied())
                .collect();
            lab.spawn(router, &full, &env)
        };
        match self {
            Implementation::Keepalived => {
                let pid = lab.dir().join(format!("{tag}.pid")).display().to_string();
                let vrrp = lab
                    .dir()
                    .join(format!("{tag}.vrrp.pid"))
                    .display()
                    .to_string();
                let argv = [
                    "keepalived",
                    "-n",
                    "-l",
                    "-D",
                    "-P",
                    "-f",
                    &conf_arg,
                    "-p",
                    &pid,
                    "-r",
                    &vrrp,
                ];
                spawn(&argv)
            }
            Implementation::Vipd(binary) => {
                let socket = lab.dir().join(format!("{tag}.sock")).display().to_string();
                // A state directory of its own: never the host's /var/lib/vipd.
                let state = lab.dir().join(format!("{tag}-state")).display().to_string();
                let binary = binary.display().to_string();
                let argv = [
                    binary.as_str(),
                    "run",
                    "-c",
                    &conf_arg,
                    "--socket",
                    &socket,
                    "--state-dir",
                    &state,
                ];
                spawn(&argv)
            }
        }
    }
}

/// Instance `k` (0-based): VRIDs 1..=255 over IPv4 first, then over IPv6.
fn instance(k: usize, router: usize) -> (VrrpInstance, IpAddr) {
    let vrid = (k % 255) as u8 + 1;
    let vip: IpAddr = if k < 255 {
        if vrid < 255 {
            IpAddr::from([198, 51, 100, vrid])
        } else {
            IpAddr::from([203, 0, 113, 1])
        }
    } else {
        format!("2001:db8:2::{vrid:x}").parse().expect("IPv6 VIP")
    };
    let prefix = if vip.is_ipv4() { 32 } else { 128 };
    let (state, priority) = if router == 1 {
        (InitialState::Master, 150)
    } else {
        (InitialState::Backup, 100)
    };
    let inst = VrrpInstance::new(&format!("VI_{k}"), "eth0", vrid)
        .version(3)
        .advert(ADVERT)
        .state(state)
        .priority(priority)
        .vip(&format!("{vip}/{prefix}"));
    (inst, vip)
}

fn conf(router: usize, count: usize) -> String {
    let mut conf = KeepalivedConf::new(&format!("r{router}"));
    for k in 0..count {
        conf = conf.instance(instance(k, router).0);
    }
    conf.render()
}

/// Listens on a NOTIFY_SOCKET; `ready_after` says when READY=1 came. Once dropped, a
/// thread goes on reading what the daemon sends, as systemd would: a daemon whose notify
/// socket fills up must not be measured stalled.
struct Notify {
    socket: UnixDatagram,
    path: PathBuf,
}

impl Drop for Notify {
    fn drop(&mut self) {
        if let Ok(socket) = self.socket.try_clone() {
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                let _ = socket.set_read_timeout(Some(Duration::from_secs(120)));
                // Ends once nothing came for two minutes (the lab is gone by then).
                while socket.recv(&mut buffer).is_ok() {}
            });
        }
    }
}

impl Notify {
    fn new(dir: &Path, tag: &str) -> Notify {
        let path = dir.join(format!("notify-{tag}.sock"));
        let _ = std::fs::remove_file(&path);
        let socket = UnixDatagram::bind(&path).expect("bind NOTIFY_SOCKET");
        Notify { socket, path }
    }

    /// Time from `start` until a READY=1 arrives (None within `limit`).
    fn ready_after(&self, start: Instant, limit: Duration) -> Option<Duration> {
        let mut buffer = [0u8; 4096];
        loop {
            let left = limit.checked_sub(start.elapsed())?;
            self.socket
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .ok()?;
            if let Ok(n) = self.socket.recv(&mut buffer) {
                let at = start.elapsed();
                let text = String::from_utf8_lossy(&buffer[..n]);
                if text.lines().any(|l| l == "READY=1") {
                    return Some(at);
                }
            }
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Sample {
    ready_ms: Option<f64>,
    /// Start of r1 (alone) until it holds every VIP.
    all_vips_ms: Option<f64>,
    master_cpu: f64,
    backup_cpu: f64,
    master_rss: f64,
    backup_rss: f64,
    /// Anonymous part of the master's RSS (heap, stacks), MiB.
    master_anon: f64,
    adverts: usize,
    missed: usize,
    longest_gap_ms: f64,
    /// Adverts the backup sent (it took over an instance at some point).
    backup_adverts: usize,
    /// Packets the master's eth0 sent and the backup's received per second during the CPU
    /// sample (interface counters: in the steady state nothing but adverts).
    master_tx_per_s: f64,
    backup_rx_per_s: f64,
    /// Frames the master's eth0 dropped a second (veth: the peer's ring full).
    master_tx_dropped_per_s: f64,
    /// Adverts a second the master's instances are due to send.
    expected_per_s: f64,
    /// CPU of the switch ports' NAPI threads (the `threaded` lab), ms/s.
    switch_cpu: f64,
    /// Frames the capture itself lost (tcpdump's "dropped by kernel"): missed adverts are
    /// only meaningful when this is 0.
    capture_drops: u64,
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// `Anonymous:` of /proc/PID/smaps_rollup summed over the process tree, bytes.
fn anonymous_bytes(daemon: &Daemon) -> u64 {
    daemon
        .tree_pids()
        .iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/smaps_rollup")).ok())
        .filter_map(|text| {
            let line = text.lines().find(|l| l.starts_with("Anonymous:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        })
        .sum()
}

fn once(imp: &Implementation, switch: Switch, count: usize) -> Result<Sample, String> {
    let lab = Lab::new("bench-footprint", 2);
    let switch_threads = match switch {
        Switch::Threaded => thread_switch(&lab)?,
        Switch::Inline => Vec::new(),
    };
    let switch_cpu = || switch_threads.iter().map(|&p| own_cpu(p)).sum::<Duration>();
    if !bridge_netfilter() {
        for table in ["iptables", "ip6tables", "arptables"] {
            // Absent without br_netfilter: then there is nothing to turn off.
            let _ = lab.exec(
                lab.switch_ns(),
                &format!("sysctl -qw net.bridge.bridge-nf-call-{table}=0"),
            );
        }
    }
    let vips: Vec<IpAddr> = (0..count).map(|k| instance(k, 1).1).collect();
    let notify1 = Notify::new(lab.dir(), "r1");
    let start = Instant::now();
    let r1 = imp.spawn(&lab, 1, &conf(1, count), &notify1.path);
    let ready = notify1.ready_after(start, Duration::from_secs(10));
    drop(notify1);
    let count_on = |router: usize| {
        let addrs = lab.addresses(router, "eth0");
        vips.iter().filter(|v| addrs.contains(v)).count()
    };
    // Alone on the segment, r1 ends up master of everything (`ip addr` polls: a few ms).
    let held = lab::wait_until(Duration::from_secs(20), Duration::from_millis(1), || {
        count_on(1) == vips.len()
    })
    .map(|_| start.elapsed());
    let notify2 = Notify::new(lab.dir(), "r2");
    let r2 = imp.spawn(&lab, 2, &conf(2, count), &notify2.path);
    drop(notify2);
    let settled = lab::wait_until(Duration::from_secs(30), Duration::from_millis(50), || {
        count_on(1) == vips.len() && count_on(2) == 0
    });
    if settled.is_none() {
        return Err(format!(
            "r1 did not become the only master of all {count} instances (r1 holds {}, r2 holds {})",
            count_on(1),
            count_on(2)
        ));
    }
    std::thread::sleep(Duration::from_secs(1));
    // For profiling by hand (perf, strace) in the steady state.
    if let Some(secs) = std::env::var("VIPD_BENCH_HOLD_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        eprintln!(
            "  holding {secs} s: master pid {}, backup pid {}",
            r1.pid(),
            r2.pid()
        );
        std::thread::sleep(Duration::from_secs(secs));
    }
    let counter = |router: usize, name: &str| -> f64 {
        let path = format!("/sys/class/net/eth0/statistics/{name}");
        let text = lab
            .exec(lab.router_ns(router), &format!("cat {path}"))
            .stdout;
        text.trim().parse().unwrap_or(0.0)
    };
    let (tx0, rx0) = (counter(1, "tx_packets"), counter(2, "rx_packets"));
    let dropped0 = counter(1, "tx_dropped");
    let (m0, b0, s0, t0) = (r1.cpu_time(), r2.cpu_time(), switch_cpu(), Instant::now());
    std::thread::sleep(CPU_SAMPLE);
    let (m1, b1, s1, elapsed) = (r1.cpu_time(), r2.cpu_time(), switch_cpu(), t0.elapsed());
    let (tx1, rx1) = (counter(1, "tx_packets"), counter(2, "rx_packets"));
    let dropped1 = counter(1, "tx_dropped");
    let per_second = |d: Duration| d.as_secs_f64() * 1e3 / elapsed.as_secs_f64();
    let mut sample = Sample {
        ready_ms: ready.map(|d| d.as_secs_f64() * 1e3),
        all_vips_ms: held.map(|d| d.as_secs_f64() * 1e3),
        master_cpu: per_second(m1.saturating_sub(m0)),
        backup_cpu: per_second(b1.saturating_sub(b0)),
        switch_cpu: per_second(s1.saturating_sub(s0)),
        expected_per_s: count as f64 / ADVERT.as_secs_f64(),
        master_rss: mib(r1.rss_bytes()),
        backup_rss: mib(r2.rss_bytes()),
        master_anon: mib(anonymous_bytes(&r1)),
        master_tx_per_s: (tx1 - tx0) / elapsed.as_secs_f64(),
        backup_rx_per_s: (rx1 - rx0) / elapsed.as_secs_f64(),
        master_tx_dropped_per_s: (dropped1 - dropped0) / elapsed.as_secs_f64(),
        ..Sample::default()
    };
    // Every advert on the wire for a while: per instance the gaps between adverts. The
    // capture takes frames in blocks and writes them through a buffer (a wake-up per frame
    // and a write per frame had cost 140-160 ms/s of the 2 CPUs at 51,000 frames a second,
    // while the daemons it measured competed for them, and its lost frames counted as
    // missed adverts); only frames of the first CAPTURE seconds are judged, the last block
    // of a buffered capture being lost when it stops.
    let mut pcap = Pcap::start_buffered(
        lab.client_ns(),
        "eth0",
        "ip proto 112 or ip6 proto 112",
        lab.dir(),
        "adverts",
        SNAPLEN,
    );
    let from = realtime_now();
    std::thread::sleep(CAPTURE + CAPTURE_TAIL);
    let until = from + CAPTURE.as_secs_f64();
    let frames: Vec<_> = (pcap.stop().into_iter())
        .filter(|f| (from..until).contains(&f.at))
        .collect();
    sample.capture_drops = pcap.kernel_drops().unwrap_or(0);
    let r1_mac = Segment::Main.router_mac(1);
    let mut times: BTreeMap<(bool, u8), Vec<f64>> = BTreeMap::new();
    for frame in &frames {
        if let Kind::Advert { vrid, ipv6, .. } = frame.kind {
            if frame.src_mac == r1_mac {
                times.entry((ipv6, vrid)).or_default().push(frame.at);
            } else {
                sample.backup_adverts += 1;
            }
        }
    }
    let interval = ADVERT.as_secs_f64();
    for list in times.values() {
        sample.adverts += list.len();
        for pair in list.windows(2) {
            let gap = pair[1] - pair[0];
            sample.longest_gap_ms = sample.longest_gap_ms.max(gap * 1e3);
            // An advert slot with none on the wire: a gap of two intervals or more.
            let slots = (gap / interval).floor() as usize;
            sample.missed += slots.saturating_sub(1);
        }
    }
    // Instances never seen at all count as missed for the whole capture.
    let silent = count.saturating_sub(times.len());
    sample.missed += silent * (CAPTURE.as_secs_f64() / interval) as usize;
    drop(r1);
    drop(r2);
    Ok(sample)
}

/// Whether the lab's bridge keeps the host's bridge-netfilter setting (see the top).
fn bridge_netfilter() -> bool {
    std::env::var("VIPD_BENCH_BRIDGE_NETFILTER").is_ok_and(|v| v == "1")
}

fn vipd_binary() -> Result<Implementation, String> {
    lab::vipd_binary()
        .map(Implementation::Vipd)
        .ok_or_else(|| "no vipd binary (set VIPD_BIN)".to_owned())
}

fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    chart::median(&values.collect::<Vec<_>>())
}

fn fmt(v: Option<f64>, unit: &str) -> String {
    v.map_or("n/a".to_owned(), |v| format!("{v:.1} {unit}"))
}

fn ratio(v: Option<f64>, k: Option<f64>) -> String {
    match (v, k) {
        (Some(v), Some(k)) if k > 0.0 => format!("{:.2}", v / k),
        _ => "n/a".to_owned(),
    }
}

fn main() {
    // Only under `cargo bench` (which passes --bench), as root (network namespaces).
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("footprint bench: needs root (network namespaces); skipped");
        return;
    }
    let reps: usize = std::env::var("VIPD_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let counts: Vec<usize> = std::env::var("VIPD_BENCH_COUNTS")
        .ok()
        .map(|v| v.split(',').filter_map(|c| c.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 50, 255, 510])
        .into_iter()
        .filter(|&c| (1..=510).contains(&c))
        .collect();
    let only = std::env::var("VIPD_BENCH_ONLY").ok();
    let wanted = |name: &str| only.as_deref().is_none_or(|o| o == name);
    let mut columns = Vec::new();
    if wanted("keepalived") {
        columns.push(Implementation::Keepalived);
    }
    if wanted("vipd") {
        match vipd_binary() {
            Ok(imp) => {
                if let Implementation::Vipd(b) = &imp {
                    eprintln!("vipd binary: {}", b.display());
                }
                columns.push(imp);
            }
            Err(why) => eprintln!("vipd column: {why}"),
        }
    }
    let switches: Vec<Switch> = std::env::var("VIPD_BENCH_SWITCH")
        .unwrap_or_else(|_| "threaded,inline".to_owned())
        .split(',')
        .filter_map(|w| match w.trim() {
            "threaded" => Some(Switch::Threaded),
            "inline" => Some(Switch::Inline),
            _ => None,
        })
        .collect();
    let started = Instant::now();
    eprintln!(
        "scheduling of both daemons and the switch's threads: {}",
        scheduling()
    );
    // results[(switch, implementation name)][count] = samples
    type Results = BTreeMap<(Switch, &'static str), BTreeMap<usize, Vec<Sample>>>;
    let mut results: Results = BTreeMap::new();
    for &count in &counts {
        for rep in 1..=reps {
            // Labs and daemons alternate, so that a change of the machine's load in the
            // middle of a run falls on all of them.
            for &switch in &switches {
                for imp in &columns {
                    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
                    let load = load.split_whitespace().next().unwrap_or("?").to_owned();
                    match once(imp, switch, count) {
                        Ok(s) => {
                            eprintln!(
                                "  {} {} lab, {count} instances #{rep} (load {load}): ready {}, all VIPs {}, CPU master {:.1} backup {:.1} switch threads {:.1} ms/s, packets sent {:.0}/s (master, {:.0}/s dropped by its link) received {:.0}/s (backup), RSS master {:.2} (anon {:.2}) backup {:.2} MiB, adverts {} missed {} longest gap {:.1} ms, backup adverts {}, capture drops {}",
                                imp.name(),
                                switch.name(),
                                fmt(s.ready_ms, "ms"),
                                fmt(s.all_vips_ms, "ms"),
                                s.master_cpu,
                                s.backup_cpu,
                                s.switch_cpu,
                                s.master_tx_per_s,
                                s.master_tx_dropped_per_s,
                                s.backup_rx_per_s,
                                s.master_rss,
                                s.master_anon,
                                s.backup_rss,
                                s.adverts,
                                s.missed,
                                s.longest_gap_ms,
                                s.backup_adverts,
                                s.capture_drops
                            );
                            results
                                .entry((switch, imp.name()))
                                .or_default()
                                .entry(count)
                                .or_default()
                                .push(s);
                        }
                        Err(e) => eprintln!(
                            "  {} {} lab, {count} instances #{rep}: FAILED: {e}",
                            imp.name(),
                            switch.name()
                        ),
                    }
                }
            }
        }
    }
    let get = |switch: Switch, name: &str, count: usize, pick: &dyn Fn(&Sample) -> Option<f64>| {
        results
            .get(&(switch, name))
            .and_then(|m| m.get(&count))
            .and_then(|samples| median(samples.iter().filter_map(pick)))
    };
    type Pick = fn(&Sample) -> Option<f64>;
    let measures: [(&str, &str, Pick); 15] = [
        ("master CPU", "ms/s", |s| Some(s.master_cpu)),
        ("backup CPU", "ms/s", |s| Some(s.backup_cpu)),
        ("switch threads CPU (threaded lab)", "ms/s", |s| {
            Some(s.switch_cpu)
        }),
        ("packets sent by the master (eth0 counter)", "/s", |s| {
            Some(s.master_tx_per_s)
        }),
        ("packets received by the backup (eth0 counter)", "/s", |s| {
            Some(s.backup_rx_per_s)
        }),
        ("share of its adverts the master sent", "%", |s| {
            (s.expected_per_s > 0.0).then(|| 100.0 * s.master_tx_per_s / s.expected_per_s)
        }),
        ("master CPU per packet sent", "us", |s| {
            (s.master_tx_per_s > 0.0).then(|| s.master_cpu * 1e3 / s.master_tx_per_s)
        }),
        ("backup CPU per packet received", "us", |s| {
            (s.backup_rx_per_s > 0.0).then(|| s.backup_cpu * 1e3 / s.backup_rx_per_s)
        }),
        ("master RSS", "MiB", |s| Some(s.master_rss)),
        ("backup RSS", "MiB", |s| Some(s.backup_rss)),
        ("master RSS, anonymous part", "MiB", |s| Some(s.master_anon)),
        ("start to READY=1 (master)", "ms", |s| s.ready_ms),
        ("start to holding every VIP (master alone)", "ms", |s| {
            s.all_vips_ms
        }),
        (
            "missed advert slots (master, 2 s capture; gaps >= 2 intervals)",
            "",
            |s| Some(s.missed as f64),
        ),
        ("longest gap between adverts of one instance", "ms", |s| {
            Some(s.longest_gap_ms)
        }),
    ];
    for &switch in &switches {
        println!();
        println!(
            "Footprint, lab: {}. VRRPv3 at {} ms adverts, r1 master of all instances, r2 backup (median of {reps}; CPU over {} s of the whole process tree; instances beyond 255 are IPv6; bridge {}; scheduling {})",
            switch.describe(),
            ADVERT.as_millis(),
            CPU_SAMPLE.as_secs(),
            if bridge_netfilter() {
                "with the host's bridge-netfilter setting"
            } else {
                "without netfilter calls"
            },
            scheduling()
        );
        println!("| instances | measure | keepalived | vipd | ratio vipd/keepalived |");
        println!("|---|---|---|---|---|");
        for &count in &counts {
            for (label, unit, pick) in &measures {
                if switch == Switch::Inline && label.contains("threaded lab") {
                    continue;
                }
                let k = get(switch, "keepalived", count, pick);
                let v = get(switch, "vipd", count, pick);
                println!(
                    "| {count} | {label} | {} | {} | {} |",
                    fmt(k, unit),
                    fmt(v, unit),
                    ratio(v, k)
                );
            }
        }
        // A daemon that sent far fewer adverts than due was waiting, not working: its CPU
        // per advert is not comparable (see "Scheduling" at the top).
        for &count in &counts {
            for name in ["keepalived", "vipd"] {
                let runs = results.get(&(switch, name)).and_then(|m| m.get(&count));
                let short = runs.is_some_and(|samples| {
                    samples
                        .iter()
                        .any(|s| s.master_tx_per_s < SENT_FOR_COMPARISON * s.expected_per_s)
                });
                if short {
                    println!(
                        "note: {count} instances, {} lab: {name}'s master sent under {:.0} % of its adverts in a run; its CPU per packet there is not comparable (machine load?)",
                        switch.name(),
                        SENT_FOR_COMPARISON * 100.0
                    );
                }
            }
        }
    }
    // Every run's per-packet figures, for the README's ranges.
    println!();
    println!("Per packet, each run (master per packet sent / backup per packet received, us):");
    for ((switch, name), by_count) in &results {
        for (count, samples) in by_count {
            let each: Vec<String> = samples
                .iter()
                .map(|s| {
                    format!(
                        "{:.1} / {:.1}",
                        s.master_cpu * 1e3 / s.master_tx_per_s.max(1.0),
                        s.backup_cpu * 1e3 / s.backup_rx_per_s.max(1.0)
                    )
                })
                .collect();
            println!(
                "  {} lab, {name}, {count}: {}",
                switch.name(),
                each.join(", ")
            );
        }
    }
    let Some(&chart_switch) = switches.first() else {
        return;
    };
    let line = |name: &'static str, label: &str, pick: Pick, dashed: bool| Series {
        name: format!("{name} {label}"),
        points: counts
            .iter()
            .filter_map(|&c| get(chart_switch, name, c, &pick).map(|v| (c as f64, v)))
            .collect(),
        vipd: name == "vipd",
        dashed,
    };
    let pair = |label: &str, pick_m: Pick, pick_b: Pick| {
        let mut series = Vec::new();
        for name in ["keepalived", "vipd"] {
            series.push(line(name, &format!("master {label}"), pick_m, false));
            series.push(line(name, &format!("backup {label}"), pick_b, true));
        }
        series
    };
    let cpu_title = format!(
        "CPU at 10 ms adverts against the number of instances ({} lab)",
        chart_switch.name()
    );
    chart::write("cpu-vs-instances.svg", |path| {
        chart::lines(
            path,
            &cpu_title,
            "instances (beyond 255: IPv6)",
            "CPU ms per s",
            &pair("CPU", |s| Some(s.master_cpu), |s| Some(s.backup_cpu)),
        )
    });
    chart::write("rss-vs-instances.svg", |path| {
        chart::lines(
            path,
            "Resident memory against the number of instances",
            "instances (beyond 255: IPv6)",
            "RSS MiB",
            &pair("RSS", |s| Some(s.master_rss), |s| Some(s.backup_rss)),
        )
    });
    chart::write("ready-vs-instances.svg", |path| {
        chart::lines(
            path,
            "Start to READY=1 (keepalived sent none to the NOTIFY_SOCKET here) and to holding every VIP",
            "instances (beyond 255: IPv6)",
            "ms",
            &[
                line("vipd", "READY=1", |s| s.ready_ms, false),
                line("keepalived", "all VIPs held", |s| s.all_vips_ms, true),
                line("vipd", "all VIPs held", |s| s.all_vips_ms, true),
            ],
        )
    });
    println!("total time {:.0} s", started.elapsed().as_secs_f64());
}
