//! Health-check benchmark (needs root, keepalived for the comparisons; `nc` from
//! netcat-openbsd for keepalived's TCP probe, else a bash `/dev/tcp` script is used):
//!
//! (a) service killed on the master -> VIP held by the backup, the same keepalived.conf
//!     (vrrp_script TCP probe, interval 1 s, fall 2, weight -60, VRRPv3 adverts 100 ms) for
//!     keepalived and for vipd; medians and the ratio vipd / keepalived (target <= 0.85);
//! (b) vipd's native TCP check, interval 100 ms, fall 2: against the bound
//!     2 x check interval + 2 x advert interval + skew + 20 ms (the fast takeover waits
//!     until the master's next advert is an interval overdue, see README);
//! (c) CPU of 10 checks at 100 ms: vipd native TCP checks vs the same probes as scripts.
//!     keepalived (2.2) refuses script intervals under 1 s, so it runs 100 scripts at 1 s,
//!     the same number of probes per second.
//!
//! `cargo bench -p vipd --bench checks`; `CHECKS_BENCH_RUNS` (default 3) failovers per case,
//! `CHECKS_BENCH_CPU_SECS` (default 10) per CPU measurement. The kill happens at a random
//! phase of the check interval, as a real crash would.

#[path = "../tests/lab/mod.rs"]
mod lab;
mod support;

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use lab::keepalived_conf::{KeepalivedConf, VrrpInstance};
use lab::{Daemon, Lab, Segment, Service, ServiceKind};

const SERVICE_PORT: u16 = 7443;
const BASE_PORT: u16 = 9001;
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

fn vip() -> IpAddr {
    Segment::Main.vip4().into()
}

/// A pseudo-random duration in [0, max): the phase of the kill against the check schedule.
fn random_phase(max: Duration) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos() as u64;
    let mixed = nanos.wrapping_mul(6364136223846793005).rotate_left(17);
    Duration::from_nanos(mixed % max.as_nanos().max(1) as u64)
}

/// The probe command for a TCP port: netcat if installed, else a bash script.
fn tcp_probe_command(lab: &Lab, port: u16) -> String {
    if Path::new("/usr/bin/nc").exists() {
        format!("/usr/bin/nc -z -w1 127.0.0.1 {port}")
    } else {
        let script = lab.write_script(
            "tcp-probe.sh",
            "#!/bin/bash\nexec 3<>\"/dev/tcp/127.0.0.1/$1\"\n",
        );
        format!("{} {port}", script.display())
    }
}

fn probe_name() -> &'static str {
    if Path::new("/usr/bin/nc").exists() {
        "nc -z"
    } else {
        "bash /dev/tcp"
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Speaker {
    Keepalived,
    Vipd,
}

impl Speaker {
    fn name(self) -> &'static str {
        match self {
            Speaker::Keepalived => "keepalived",
            Speaker::Vipd => "vipd",
        }
    }

    fn spawn(self, lab: &Lab, router: usize, conf: &str) -> Daemon {
        match self {
            Speaker::Keepalived => lab.spawn_keepalived(router, conf),
            Speaker::Vipd => lab.spawn_vipd(router, conf),
        }
    }
}

/// (a): r1 priority 150, r2 100, both tracking the probe of their own service.
fn keepalived_pair_conf(lab: &Lab, router: usize) -> String {
    let priority = if router == 1 { 150 } else { 100 };
    let body = KeepalivedConf::new(&format!("r{router}"))
        .instance(
            VrrpInstance::new("VI_1", "eth0", 51)
                .priority(priority)
                .version(3)
                .advert_ms(100)
                .vip("192.0.2.100/24")
                .line("track_script {\n        chk_svc\n    }"),
        )
        .render();
    format!(
        "vrrp_script chk_svc {{\n    script \"{}\"\n    interval 1\n    fall 2\n    rise 2\n    \
         weight -60\n}}\n\n{body}",
        tcp_probe_command(lab, SERVICE_PORT)
    )
}

/// (b): the same pair with vipd's native TCP check at 100 ms.
fn native_pair_conf(router: usize) -> String {
    let priority = if router == 1 { 150 } else { 100 };
    format!(
        "[global]\nvrrp_version = 3\n\n[[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\n\
         vrid = 51\npriority = {priority}\nadvert_interval = \"100ms\"\n\
         vips = [\"192.0.2.100/24\"]\ntrack_checks = [{{ check = \"svc\" }}]\n\n\
         [[check]]\nname = \"svc\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = {SERVICE_PORT}\n\
         interval = \"100ms\"\nfall = 2\nrise = 2\nweight = -60\n"
    )
}

fn holds(lab: &Lab, router: usize) -> bool {
    lab.addresses(router, "eth0").contains(&vip())
}

/// Kills r1's service `runs` times and measures until r2 holds the VIP. Between runs the
/// service comes back and r1 takes the VIP back (preempt).
fn failovers(
    lab: &Lab,
    services: &mut [Service],
    runs: u64,
    check_interval: Duration,
    label: &str,
) -> Vec<Duration> {
    let mut times = Vec::new();
    for run in 0..runs {
        let back = lab::wait_until(SETTLE_TIMEOUT, Duration::from_millis(10), || {
            lab.holders(vip()) == [1]
        });
        assert!(
            back.is_some(),
            "{label}: r1 did not hold the VIP before run {run}"
        );
        // Adverts settle, then a random phase against the check interval.
        std::thread::sleep(Duration::from_millis(500) + random_phase(check_interval));
        let killed = services[0].kill();
        let moved = lab::wait_until(SETTLE_TIMEOUT, Duration::from_millis(1), || holds(lab, 2));
        let took = killed.elapsed();
        assert!(
            moved.is_some(),
            "{label}: the VIP did not move to r2 in run {run}"
        );
        times.push(took);
        services[0].restart();
    }
    times
}

fn case_a(speaker: Speaker, runs: u64) -> Vec<Duration> {
    let lab = Lab::new(&format!("bench-a-{}", speaker.name()), 2);
    let mut services: Vec<Service> = lab
        .router_indices()
        .map(|r| lab.service(r, ServiceKind::Tcp, SERVICE_PORT))
        .collect();
    let _daemons: Vec<Daemon> = lab
        .router_indices()
        .map(|r| speaker.spawn(&lab, r, &keepalived_pair_conf(&lab, r)))
        .collect();
    failovers(
        &lab,
        &mut services,
        runs,
        Duration::from_secs(1),
        speaker.name(),
    )
}

fn case_b(runs: u64) -> Vec<Duration> {
    let lab = Lab::new("bench-b-vipd", 2);
    let mut services: Vec<Service> = lab
        .router_indices()
        .map(|r| lab.service(r, ServiceKind::Tcp, SERVICE_PORT))
        .collect();
    let _daemons: Vec<Daemon> = lab
        .router_indices()
        .map(|r| lab.spawn_vipd_toml(r, &native_pair_conf(r)))
        .collect();
    failovers(
        &lab,
        &mut services,
        runs,
        Duration::from_millis(100),
        "vipd native",
    )
}

/// CPU (process tree incl. reaped children) over `secs` of one daemon running `conf`.
fn cpu_over(lab: &Lab, daemon: &Daemon, secs: u64, label: &str) -> Duration {
    let up = lab::wait_until(SETTLE_TIMEOUT, Duration::from_millis(10), || {
        lab.holders(vip()) == [1]
    });
    assert!(up.is_some(), "{label}: r1 never became master");
    // Past start-up (config, first probes).
    std::thread::sleep(Duration::from_secs(2));
    let before = lab::procfs::tree_cpu_with_reaped(daemon.pid());
    std::thread::sleep(Duration::from_secs(secs));
    let after = lab::procfs::tree_cpu_with_reaped(daemon.pid());
    after.saturating_sub(before)
}

/// One router, one instance (1 s adverts), the given checks.
fn instance_block_keepalived(scripts: usize) -> String {
    let tracks: String = (0..scripts).map(|i| format!("\n        chk_{i}")).collect();
    KeepalivedConf::new("r1")
        .instance(
            VrrpInstance::new("VI_1", "eth0", 51)
                .priority(150)
                .version(3)
                .advert_ms(1000)
                .vip("192.0.2.100/24")
                .line(&format!("track_script {{{tracks}\n    }}")),
        )
        .render()
}

fn cpu_keepalived(secs: u64, scripts: usize, checks: usize) -> Duration {
    let lab = Lab::new("bench-c-keepalived", 1);
    let _services: Vec<Service> = (0..checks)
        .map(|i| lab.service(1, ServiceKind::Tcp, BASE_PORT + i as u16))
        .collect();
    let mut conf = String::new();
    for i in 0..scripts {
        let port = BASE_PORT + (i % checks) as u16;
        conf.push_str(&format!(
            "vrrp_script chk_{i} {{\n    script \"{}\"\n    interval 1\n    weight -1\n}}\n",
            tcp_probe_command(&lab, port)
        ));
    }
    conf.push('\n');
    conf.push_str(&instance_block_keepalived(scripts));
    let daemon = lab.spawn_keepalived(1, &conf);
    cpu_over(&lab, &daemon, secs, "keepalived")
}

fn cpu_vipd(secs: u64, checks: usize, exec: bool) -> Duration {
    let lab = Lab::new("bench-c-vipd", 1);
    let _services: Vec<Service> = (0..checks)
        .map(|i| lab.service(1, ServiceKind::Tcp, BASE_PORT + i as u16))
        .collect();
    let tracks: Vec<String> = (0..checks)
        .map(|i| format!("{{ check = \"c{i}\" }}"))
        .collect();
    let mut conf = format!(
        "[global]\nvrrp_version = 3\n\n[[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\n\
         vrid = 51\npriority = 150\nadvert_interval = \"1s\"\nvips = [\"192.0.2.100/24\"]\n\
         track_checks = [{}]\n",
        tracks.join(", ")
    );
    for i in 0..checks {
        let port = BASE_PORT + i as u16;
        let kind = if exec {
            format!(
                "kind = \"exec\"\ncommand = \"{}\"",
                tcp_probe_command(&lab, port)
            )
        } else {
            format!("kind = \"tcp\"\nhost = \"127.0.0.1\"\nport = {port}")
        };
        conf.push_str(&format!(
            "\n[[check]]\nname = \"c{i}\"\n{kind}\ninterval = \"100ms\"\nweight = -1\n"
        ));
    }
    let daemon = lab.spawn_vipd_toml(1, &conf);
    cpu_over(&lab, &daemon, secs, "vipd")
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    match sorted.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn row(label: &str, times: &[Duration]) -> String {
    let min = times.iter().min().copied().unwrap_or_default();
    let max = times.iter().max().copied().unwrap_or_default();
    let all: Vec<String> = times.iter().map(|t| format!("{}", t.as_millis())).collect();
    format!(
        "{label:<48} {:>9} {:>9} {:>9}   [{}]",
        ms(median(times)),
        ms(min),
        ms(max),
        all.join(", ")
    )
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing useful: run only for
    // `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("checks bench: needs root (network namespaces); skipped");
        return;
    }
    let have_keepalived = Path::new("/usr/sbin/keepalived").exists();
    let runs = env_number("CHECKS_BENCH_RUNS", 3);
    let cpu_secs = env_number("CHECKS_BENCH_CPU_SECS", 10);
    let started = Instant::now();

    let a_keepalived = have_keepalived.then(|| case_a(Speaker::Keepalived, runs));
    let a_vipd = case_a(Speaker::Vipd, runs);
    let b_vipd = case_b(runs);

    let cpu_native = cpu_vipd(cpu_secs, 10, false);
    let cpu_exec = cpu_vipd(cpu_secs, 10, true);
    let cpu_keepalived = have_keepalived.then(|| cpu_keepalived(cpu_secs, 100, 10));

    // Backup priority 100, VRRPv3 at 100 ms: skew = (256 - 100) / 256 x 100 ms. Two checks
    // fail (fall 2), then the backup takes over once the master's next advert is an interval
    // overdue: at most two advert intervals after its last one at full priority, plus skew.
    let skew = Duration::from_micros(100_000 * (256 - 100) / 256);
    let bound = Duration::from_millis(2 * 100 + 2 * 100 + 20) + skew;

    println!();
    println!(
        "checks benchmark: {runs} run(s) per case, kill at a random phase of the check interval, \
         probe for scripts: {}",
        probe_name()
    );
    println!(
        "{:<48} {:>9} {:>9} {:>9}   runs (ms)",
        "service killed on master -> VIP at backup", "median", "min", "max"
    );
    println!("{}", "-".repeat(100));
    if let Some(times) = &a_keepalived {
        println!(
            "{}",
            row("(a) keepalived, vrrp_script 1 s fall 2, v3 100 ms", times)
        );
    }
    println!("{}", row("(a) vipd, the same keepalived.conf", &a_vipd));
    if let Some(times) = &a_keepalived {
        let ratio = median(&a_vipd).as_secs_f64() / median(times).as_secs_f64();
        println!(
            "    ratio vipd / keepalived (medians): {ratio:.2}   target <= 0.85: {}",
            if ratio <= 0.85 { "met" } else { "NOT met" }
        );
    }
    println!(
        "{}",
        row("(b) vipd native tcp check 100 ms, fall 2", &b_vipd)
    );
    let within = b_vipd.iter().filter(|t| **t <= bound).count();
    println!(
        "    bound 2 x 100 ms check + 2 x 100 ms adverts + skew {} + 20 ms = {}: median {}, \
         {within}/{} runs within",
        ms(skew),
        ms(bound),
        if median(&b_vipd) <= bound {
            "within"
        } else {
            "ABOVE"
        },
        b_vipd.len()
    );
    println!();
    println!(
        "CPU over {cpu_secs} s, 100 probes/s (process tree incl. reaped children)   cpu       % of a core"
    );
    println!("{}", "-".repeat(100));
    let pct = |d: Duration| 100.0 * d.as_secs_f64() / cpu_secs as f64;
    let cpu_row = |label: &str, d: Duration| {
        println!("{label:<72} {:>7} {:>8.2}%", ms(d), pct(d));
    };
    cpu_row("(c) vipd, 10 native tcp checks at 100 ms", cpu_native);
    cpu_row(
        &format!("(c) vipd, 10 exec checks ({}) at 100 ms", probe_name()),
        cpu_exec,
    );
    if let Some(cpu) = cpu_keepalived {
        cpu_row(
            &format!(
                "(c) keepalived, 100 vrrp_scripts ({}) at 1 s (min interval)",
                probe_name()
            ),
            cpu,
        );
        let ratio = cpu_native.as_secs_f64() / cpu.as_secs_f64().max(1e-9);
        println!("    ratio vipd native / keepalived scripts: {ratio:.3}");
    } else {
        println!("    keepalived not installed: comparisons skipped");
    }
    let as_ms =
        |times: &[Duration]| -> Vec<f64> { times.iter().map(|t| t.as_secs_f64() * 1e3).collect() };
    let strips = [
        support::chart::Strip {
            label: "same keepalived.conf: vrrp_script 1 s, fall 2".into(),
            keepalived: a_keepalived.as_deref().map(as_ms).unwrap_or_default(),
            vipd: as_ms(&a_vipd),
        },
        support::chart::Strip {
            label: "vipd native tcp 100 ms, fall 2 (keepalived: no)".into(),
            keepalived: Vec::new(),
            vipd: as_ms(&b_vipd),
        },
    ];
    support::chart::write("health-failover.svg", |path| {
        support::chart::strips(
            path,
            "Service killed on the master until the backup holds the VIP (every run; bar = median)",
            "ms",
            &strips,
            false,
        )
    });
    println!("total bench time {:.0} s", started.elapsed().as_secs_f64());
}
