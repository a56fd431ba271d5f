//! Soak (needs root; `make soak SOAK_SECONDS=3600`, ignored by plain `cargo test`): random
//! faults from tests/lab_faults.rs against a vipd pair (r1 150, r2 100) and a keepalived peer
//! (r3 50), one VRRPv3 instance at 100 ms adverts. After every fault the segment gets time to
//! settle, then is watched: every 10 ms exactly one router must hold the VIP and the VIP must
//! have answered the client (pinging every 10 ms) within the last 300 ms. r2's vipd is never
//! killed or stopped: its RSS and open descriptors must be as flat at the end as after the
//! warm-up. Prints what it covered: faults by kind, samples, violations, outages, RSS, fds.
//!
//! `VIPD_SOAK_SECONDS` (default 60) sets the length, `VIPD_SOAK_SEED` the fault sequence.

mod lab;
mod lab_vipd_support;
mod seeded_rng;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lab::{Daemon, Lab, Segment};
use lab_vipd_support::*;
use nix::sched::{setns, CloneFlags};
use nix::sys::signal::Signal;
use seeded_rng::Rng;

/// How often the invariants are sampled.
const SAMPLE: Duration = Duration::from_millis(10);
/// Time the segment gets after a fault before it is watched (keepalived included).
const SETTLE_AFTER_FAULT: Duration = Duration::from_secs(4);
/// How long the segment is watched after each fault.
const WATCH: Duration = Duration::from_secs(3);
/// Longest time without a reply from the VIP while watched.
const MAX_SILENCE: Duration = Duration::from_millis(300);
/// A broken invariant is a violation once it lasts this long (more than a Master_Down_
/// Interval of 3 x 100 ms + skew). Shorter ones are counted as blips: on a loaded machine a
/// starved process (vipd, or the test's own sampler) makes them without any bug.
const PERSISTS: Duration = Duration::from_millis(500);

/// Which routers hold the VIP, kept current by one thread per router namespace that asks
/// the kernel over netlink every 5 ms (cheaper than an `ip` process per sample).
struct Holders {
    held: Vec<AtomicBool>,
    stop: AtomicBool,
}

impl Holders {
    fn start(lab: &Lab, vip: IpAddr) -> (Arc<Holders>, Vec<std::thread::JoinHandle<()>>) {
        let holders = Arc::new(Holders {
            held: (0..=lab.routers())
                .map(|_| AtomicBool::new(false))
                .collect(),
            stop: AtomicBool::new(false),
        });
        let threads = lab
            .router_indices()
            .map(|router| {
                let path = format!("/run/netns/{}", lab.router_ns(router));
                let holders = holders.clone();
                std::thread::spawn(move || {
                    let ns = File::open(&path).expect("open netns");
                    setns(&ns, CloneFlags::CLONE_NEWNET).expect("setns");
                    let netlink = vipd::net::netlink::Netlink::new().expect("netlink");
                    while !holders.stop.load(Ordering::Relaxed) {
                        let held = netlink
                            .link_index("eth0")
                            .ok()
                            .flatten()
                            .and_then(|index| netlink.addresses(index).ok())
                            .is_some_and(|list| list.iter().any(|a| a.addr == vip));
                        holders.held[router].store(held, Ordering::Relaxed);
                        std::thread::sleep(SAMPLE / 2);
                    }
                })
            })
            .collect();
        (holders, threads)
    }

    fn now(&self) -> Vec<usize> {
        (1..self.held.len())
            .filter(|&r| self.held[r].load(Ordering::Relaxed))
            .collect()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    LinkFlaps,
    InterfaceRecreated,
    NetlinkStorm,
    Partition,
    KillAndRestart,
    PlannedHandover,
    SecondSigtermDuringHandover,
    Reload,
    ControlFlood,
    KeepalivedRestart,
}

const FAULTS: [Fault; 10] = [
    Fault::LinkFlaps,
    Fault::InterfaceRecreated,
    Fault::NetlinkStorm,
    Fault::Partition,
    Fault::KillAndRestart,
    Fault::PlannedHandover,
    Fault::SecondSigtermDuringHandover,
    Fault::Reload,
    Fault::ControlFlood,
    Fault::KeepalivedRestart,
];

struct Soak {
    lab: Lab,
    r1_conf: String,
    r3_conf: String,
    r1: Daemon,
    r2: Daemon,
    r3: Daemon,
    rng: Rng,
}

impl Soak {
    fn inject(&mut self, fault: Fault) -> String {
        let lab = &self.lab;
        match fault {
            Fault::LinkFlaps => {
                let router = 1 + self.rng.below(3) as usize;
                for _ in 0..10 {
                    lab.link_down(router);
                    std::thread::sleep(Duration::from_millis(5 + self.rng.below(40)));
                    lab.link_up(router);
                    std::thread::sleep(Duration::from_millis(5 + self.rng.below(60)));
                }
                format!("r{router}")
            }
            Fault::InterfaceRecreated => {
                let router = 1 + self.rng.below(2) as usize;
                lab.delete_interface(router, Segment::Main);
                std::thread::sleep(Duration::from_millis(self.rng.below(500)));
                lab.recreate_interface(router, Segment::Main);
                format!("r{router}")
            }
            Fault::NetlinkStorm => {
                let router = 1 + self.rng.below(2) as usize;
                let mut batch = String::from(
                    "link add storm0 type veth peer name storm1\nlink set storm0 up\n",
                );
                for round in 0..1000u32 {
                    let addr = format!("203.0.113.{}/32", round % 250 + 1);
                    batch.push_str(&format!(
                        "addr add {addr} dev storm0\naddr del {addr} dev storm0\n"
                    ));
                }
                let file = lab.dir().join("storm.batch");
                std::fs::write(&file, batch).expect("write batch");
                lab.exec(
                    lab.router_ns(router),
                    &format!(
                        "ip -force -batch {} >/dev/null 2>&1; ip link del storm0",
                        file.display()
                    ),
                );
                format!("r{router}")
            }
            Fault::Partition => {
                let router = 1 + self.rng.below(3) as usize;
                lab.partition(router);
                std::thread::sleep(Duration::from_millis(200 + self.rng.below(1500)));
                lab.heal(router);
                format!("r{router}")
            }
            Fault::KillAndRestart => {
                self.r1.kill9();
                std::thread::sleep(Duration::from_millis(self.rng.below(600)));
                self.r1 = start_vipd(&self.lab, 1, &self.r1_conf);
                "r1".into()
            }
            Fault::PlannedHandover => {
                self.r1.stop();
                self.r1 = start_vipd(&self.lab, 1, &self.r1_conf);
                "r1".into()
            }
            Fault::SecondSigtermDuringHandover => {
                self.r1.signal(Signal::SIGTERM);
                std::thread::sleep(Duration::from_millis(self.rng.below(20)));
                self.r1.signal(Signal::SIGHUP);
                self.r1.signal(Signal::SIGTERM);
                self.r1.stop();
                self.r1 = start_vipd(&self.lab, 1, &self.r1_conf);
                "r1".into()
            }
            Fault::Reload => {
                let daemon = if self.rng.below(2) == 0 {
                    &self.r1
                } else {
                    &self.r2
                };
                daemon.reload();
                daemon.name.clone()
            }
            Fault::ControlFlood => {
                let daemon = if self.rng.below(2) == 0 {
                    &self.r1
                } else {
                    &self.r2
                };
                let socket = daemon.socket_path.clone().expect("socket");
                let mut clients = Vec::new();
                for n in 0..200 {
                    if let Ok(mut stream) = UnixStream::connect(&socket) {
                        if n % 2 == 0 {
                            let _ = stream.write_all(b"status\n");
                        }
                        clients.push(stream);
                    }
                }
                std::thread::sleep(Duration::from_millis(500));
                drop(clients);
                daemon.name.clone()
            }
            Fault::KeepalivedRestart => {
                self.r3.stop();
                self.r3 = self.lab.spawn_keepalived(3, &self.r3_conf);
                "r3".into()
            }
        }
    }
}

fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

#[test]
#[ignore = "long: run with `make soak SOAK_SECONDS=...`"]
fn soak_random_faults_keep_one_master_and_the_vip_answering() {
    let seconds = env_u64("VIPD_SOAK_SECONDS").unwrap_or(60);
    let seed = env_u64("VIPD_SOAK_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs())
    });
    let duration = Duration::from_secs(seconds);
    println!("soak: {seconds} s, seed {seed} (VIPD_SOAK_SEED={seed} repeats the fault sequence)");
    let lab = Lab::new("soak", 3);
    let vip = vip4();
    // The vipd pair sends one advert when it yields to a higher priority (vipd's default,
    // keepalived's vrrp_higher_prio_send_advert, written out here): after a partition heals, the returning master may
    // otherwise never hear the router that took over meanwhile, and would not announce its
    // addresses again; clients would keep the other router's MAC until their ARP entry
    // expires (about 5 s), with keepalived as with vipd.
    let vipd_conf = |router: usize, priority: u8| {
        lab::KeepalivedConf::new(&format!("r{router}"))
            .global("vrrp_higher_prio_send_advert")
            .instance(v3_ipv4(priority))
            .render()
    };
    let r1_conf = vipd_conf(1, 150);
    let r3_conf = conf(3, &[v3_ipv4(50)]);
    let r1 = start_vipd(&lab, 1, &r1_conf);
    let r2 = start_vipd(&lab, 2, &vipd_conf(2, 100));
    let r3 = lab.spawn_keepalived(3, &r3_conf);
    expect_sole_holder(&lab, vip, 1, SETTLE, "election");
    let meter =
        lab::OutageMeter::start_bounded(&lab, &[vip], SAMPLE, duration + Duration::from_secs(120));
    assert!(meter.wait_replies(10, SETTLE), "the VIP does not answer");
    let (holders, samplers) = Holders::start(&lab, vip);
    let mut soak = Soak {
        lab,
        r1_conf,
        r3_conf,
        r1,
        r2,
        r3,
        rng: Rng(seed),
    };
    // Warm-up: r2's memory and descriptors after it has seen some traffic and a reload.
    std::thread::sleep(Duration::from_secs(2));
    let r2_pid = soak.r2.pid();
    let (rss_start, fds_start) = (soak.r2.rss_bytes(), open_fds(r2_pid));

    let started = Instant::now();
    let mut injected: BTreeMap<Fault, u32> = BTreeMap::new();
    let mut samples = 0u64;
    let mut violations: Vec<String> = Vec::new();
    let mut blips = 0u64;
    let mut longest_silence = Duration::ZERO;
    while started.elapsed() < duration {
        let fault = FAULTS[soak.rng.below(FAULTS.len() as u64) as usize];
        let at = started.elapsed();
        let target = soak.inject(fault);
        *injected.entry(fault).or_default() += 1;
        println!(
            "{:>8.1}s {fault:?} on {target} (outage meter at +{:.1} s)",
            at.as_secs_f64(),
            meter.elapsed().as_secs_f64()
        );
        std::thread::sleep(SETTLE_AFTER_FAULT);
        let watch = Instant::now();
        let mut broken: Option<(Instant, bool)> = None;
        while watch.elapsed() < WATCH {
            samples += 1;
            let now = holders.now();
            let silence = meter.since_last_reply().unwrap_or(Duration::MAX);
            longest_silence = longest_silence.max(silence);
            let problem = if now.len() != 1 {
                Some(format!("holders {now:?}"))
            } else if silence > MAX_SILENCE {
                Some(format!("no reply for {silence:?}"))
            } else {
                None
            };
            match (problem, &mut broken) {
                (None, Some(_)) => {
                    if broken.is_some_and(|(_, reported)| !reported) {
                        blips += 1;
                    }
                    broken = None;
                }
                (None, None) => {}
                (Some(_), None) => broken = Some((Instant::now(), false)),
                (Some(what), Some((since, reported))) => {
                    if !*reported && since.elapsed() >= PERSISTS {
                        *reported = true;
                        violations.push(format!(
                            "{:.2}s, after {fault:?} on {target}: {what} for {:?}",
                            started.elapsed().as_secs_f64(),
                            since.elapsed()
                        ));
                    }
                }
            }
            std::thread::sleep(SAMPLE);
        }
    }
    let report = meter.stop();
    holders.stop.store(true, Ordering::Relaxed);
    for thread in samplers {
        let _ = thread.join();
    }
    let (rss_end, fds_end) = (soak.r2.rss_bytes(), open_fds(r2_pid));
    let kinds: Vec<String> = injected.iter().map(|(k, n)| format!("{k:?} {n}")).collect();
    println!(
        "soak covered {:.0} s: {} faults ({}), {samples} samples every {SAMPLE:?} while \
         settled, {} violations, {blips} blips (< {PERSISTS:?}); longest silence while settled {longest_silence:?}, longest \
         outage overall {:?} at +{:.1} s ({} of {} pings lost); r2 vipd RSS {:.1} -> {:.1} MiB, open fds \
         {fds_start} -> {fds_end}",
        started.elapsed().as_secs_f64(),
        injected.values().sum::<u32>(),
        kinds.join(", "),
        violations.len(),
        report.longest_gap(),
        report
            .targets
            .first()
            .map_or(0.0, |t| t.longest_gap_start.as_secs_f64()),
        report.lost(),
        report.targets.iter().map(|t| t.sent).sum::<u64>(),
        rss_start as f64 / 1048576.0,
        rss_end as f64 / 1048576.0,
    );
    assert!(
        violations.is_empty(),
        "{} violations, the first ones:\n{}",
        violations.len(),
        violations
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        fds_end <= fds_start + 2,
        "r2's open fds grew from {fds_start} to {fds_end}"
    );
    assert!(
        rss_end <= rss_start + (rss_start / 4).max(2 << 20),
        "r2's RSS grew from {rss_start} to {rss_end} bytes"
    );
    assert!(soak.r2.is_running(), "r2 exited:\n{}", soak.r2.log());
}
