//! Failover benchmark: what a client sees when the master goes away, and what VRRP costs
//! in CPU and memory, for keepalived and (once it runs) vipd, from the same keepalived.conf.
//!
//! `cargo bench -p vipd --bench failover` (root; keepalived at /usr/sbin/keepalived).
//! Environment: `VIPD_BENCH_REPS` (default 3) repetitions per cell; `VIPD_BENCH_ONLY`
//! (`keepalived` or `vipd`) to run one column; `VIPD_BIN` to choose the vipd binary.

#[path = "../tests/lab/mod.rs"]
mod lab;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use lab::keepalived_conf::{InitialState, KeepalivedConf, VrrpInstance};
use lab::{Daemon, Lab, Segment};

/// Client ping period while measuring an outage.
const PING_PERIOD: Duration = Duration::from_millis(2);
const CPU_INSTANCES: u8 = 50;
const CPU_ADVERT: Duration = Duration::from_millis(10);
const CPU_SAMPLE: Duration = Duration::from_secs(5);

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

    fn spawn(&self, lab: &Lab, router: usize, conf: &str) -> Daemon {
        match self {
            Implementation::Keepalived => lab.spawn_keepalived(router, conf),
            Implementation::Vipd(binary) => lab.spawn_vipd_binary(binary, router, conf),
        }
    }
}

/// vipd if its binary exists and its `run` takes `-c FILE --socket PATH`; else why not.
fn vipd_if_ready() -> Result<Implementation, String> {
    let binary = lab::vipd_binary().ok_or("no vipd binary (set VIPD_BIN)")?;
    let help = lab::run(&[binary.to_str().unwrap_or("vipd"), "run", "--help"]);
    let text = format!("{}{}", help.stdout, help.stderr);
    if help.success && text.contains("--socket") {
        Ok(Implementation::Vipd(binary))
    } else {
        Err(format!(
            "{} does not support `run -c FILE --socket PATH` yet",
            binary.display()
        ))
    }
}

#[derive(Clone, Copy, Debug)]
struct Advert {
    label: &'static str,
    version: u8,
    interval: Duration,
}

const ADVERTS: [Advert; 3] = [
    Advert {
        label: "1 s (v2)",
        version: 2,
        interval: Duration::from_secs(1),
    },
    Advert {
        label: "100 ms (v3)",
        version: 3,
        interval: Duration::from_millis(100),
    },
    Advert {
        label: "10 ms (v3)",
        version: 3,
        interval: Duration::from_millis(10),
    },
];

#[derive(Clone, Copy, Debug)]
enum Event {
    GracefulStop,
    MasterLinkDown,
}

impl Event {
    fn label(self) -> &'static str {
        match self {
            Event::GracefulStop => "graceful stop",
            Event::MasterLinkDown => "master link down",
        }
    }
}

fn vip() -> IpAddr {
    Segment::Main.vip4().into()
}

/// r1 priority 150 (starts as master to save the startup wait), r2 priority 100.
fn pair_conf(router: usize, advert: Advert) -> String {
    let mut instance = VrrpInstance::new("VI_1", "eth0", 51)
        .version(advert.version)
        .advert(advert.interval)
        .vip("192.0.2.100/24");
    instance = if router == 1 {
        instance.state(InitialState::Master).priority(150)
    } else {
        instance.state(InitialState::Backup).priority(100)
    };
    KeepalivedConf::new(&format!("r{router}"))
        .instance(instance)
        .render()
}

fn log_tail(daemon: &Daemon) -> String {
    let log = daemon.log();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

/// One failover; returns the longest time the client went without a reply.
fn failover_once(imp: &Implementation, advert: Advert, event: Event) -> Result<Duration, String> {
    let lab = Lab::new("bench-failover", 2);
    let mut r1 = imp.spawn(&lab, 1, &pair_conf(1, advert));
    let r2 = imp.spawn(&lab, 2, &pair_conf(2, advert));
    let settle = advert.interval * 5 + Duration::from_secs(3);
    if lab.wait_sole_holder(vip(), 1, settle).is_none() {
        return Err(format!(
            "r1 never became the only holder (holders {:?})\nr1:\n{}\nr2:\n{}",
            lab.holders(vip()),
            log_tail(&r1),
            log_tail(&r2)
        ));
    }
    // r2 must have heard adverts for a while to be a settled backup.
    std::thread::sleep(advert.interval * 3 + Duration::from_millis(100));
    let meter = lab.outage_meter(&[vip()], PING_PERIOD);
    if !meter.wait_replies(20, Duration::from_secs(2)) {
        return Err("client gets no replies from the VIP before the failover".into());
    }
    // Detection time depends on when, within an advert interval, the master goes away:
    // sample that phase instead of always hitting the same point.
    std::thread::sleep(advert.interval.mul_f64(random_fraction()));
    match event {
        Event::GracefulStop => r1.signal(nix::sys::signal::Signal::SIGTERM),
        Event::MasterLinkDown => lab.link_down(1),
    }
    let takeover = advert.interval * 5 + Duration::from_secs(3);
    if lab.wait_sole_holder(vip(), 2, takeover).is_none() {
        return Err(format!(
            "r2 did not take over within {takeover:?} (holders {:?})\nr2:\n{}",
            lab.holders(vip()),
            log_tail(&r2)
        ));
    }
    if !meter.wait_replies(50, Duration::from_secs(3)) {
        return Err("client gets no replies from the VIP after the failover".into());
    }
    let report = meter.stop();
    let target = report.target(vip());
    if target.last_replier() != Some(2) {
        return Err(format!("replies came from the wrong router: {report}"));
    }
    r1.stop();
    Ok(report.longest_gap())
}

/// A number in [0, 1) from the clock; good enough to spread event phases.
fn random_fraction() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos.wrapping_mul(2_654_435_761) % 1_000_000) / 1e6
}

#[derive(Clone, Debug)]
struct CpuSample {
    master_cpu_ms_per_s: f64,
    backup_cpu_ms_per_s: f64,
    master_rss_mib: f64,
    backup_rss_mib: f64,
}

/// 50 instances at 10 ms on both routers; CPU of master and backup over `CPU_SAMPLE`.
fn cpu_once(imp: &Implementation) -> Result<CpuSample, String> {
    let lab = Lab::new("bench-cpu", 2);
    let conf = |router: usize| {
        let mut conf = KeepalivedConf::new(&format!("r{router}"));
        for k in 0..CPU_INSTANCES {
            let (state, priority) = if router == 1 {
                (InitialState::Master, 150)
            } else {
                (InitialState::Backup, 100)
            };
            let instance = VrrpInstance::new(&format!("VI_{k}"), "eth0", k + 1)
                .version(3)
                .advert(CPU_ADVERT)
                .state(state)
                .priority(priority)
                .vip(&format!("192.0.2.{}/24", 100 + u16::from(k)));
            conf = conf.instance(instance);
        }
        conf.render()
    };
    let r1 = imp.spawn(&lab, 1, &conf(1));
    let r2 = imp.spawn(&lab, 2, &conf(2));
    let vips: Vec<IpAddr> = (0..CPU_INSTANCES)
        .map(|k| IpAddr::from([192, 0, 2, 100 + k]))
        .collect();
    let count_on = |router: usize| {
        let addrs = lab.addresses(router, "eth0");
        vips.iter().filter(|v| addrs.contains(v)).count()
    };
    // Under load a 10 ms backup may flap briefly; what matters is that r1 is master of all.
    let all_on_r1 = lab::wait_until(Duration::from_secs(15), Duration::from_millis(20), || {
        count_on(1) == vips.len()
    });
    if all_on_r1.is_none() {
        return Err(format!(
            "r1 did not become master of all {CPU_INSTANCES} instances (r1 holds {}, r2 holds {})\nr1:\n{}",
            count_on(1),
            count_on(2),
            log_tail(&r1)
        ));
    }
    std::thread::sleep(Duration::from_secs(1));
    let (m0, b0, t0) = (r1.cpu_time(), r2.cpu_time(), Instant::now());
    std::thread::sleep(CPU_SAMPLE);
    let (m1, b1, elapsed) = (r1.cpu_time(), r2.cpu_time(), t0.elapsed());
    let per_second = |d: Duration| d.as_secs_f64() * 1e3 / elapsed.as_secs_f64();
    Ok(CpuSample {
        master_cpu_ms_per_s: per_second(m1.saturating_sub(m0)),
        backup_cpu_ms_per_s: per_second(b1.saturating_sub(b0)),
        master_rss_mib: r1.rss_bytes() as f64 / (1024.0 * 1024.0),
        backup_rss_mib: r2.rss_bytes() as f64 / (1024.0 * 1024.0),
    })
}

/// Median and range of repeated measurements, or why there are none.
#[derive(Clone, Debug)]
enum Cell {
    Values(Vec<f64>),
    Missing(String),
}

impl Cell {
    fn median(&self) -> Option<f64> {
        match self {
            Cell::Values(v) if !v.is_empty() => {
                let mut v = v.clone();
                v.sort_by(f64::total_cmp);
                Some(v[v.len() / 2])
            }
            _ => None,
        }
    }

    fn text(&self, unit: &str) -> String {
        match self {
            Cell::Values(v) if !v.is_empty() => {
                let min = v.iter().copied().fold(f64::INFINITY, f64::min);
                let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let median = self.median().unwrap_or_default();
                if v.len() == 1 {
                    format!("{median:.1} {unit}")
                } else {
                    format!("{median:.1} {unit} ({min:.1}..{max:.1})")
                }
            }
            Cell::Values(_) => "no data".into(),
            Cell::Missing(_) => "n/a".into(),
        }
    }
}

fn ratio(vipd: &Cell, keepalived: &Cell) -> String {
    match (vipd.median(), keepalived.median()) {
        (Some(v), Some(k)) if k > 0.0 => format!("{:.2}", v / k),
        _ => "n/a".into(),
    }
}

/// Runs `measure` `reps` times; failures are printed and left out.
fn repeat(reps: usize, what: &str, mut measure: impl FnMut() -> Result<f64, String>) -> Cell {
    let mut values = Vec::new();
    let mut last_error = None;
    for rep in 1..=reps {
        match measure() {
            Ok(v) => {
                eprintln!("  {what} #{rep}: {v:.1}");
                values.push(v);
            }
            Err(e) => {
                eprintln!("  {what} #{rep}: FAILED: {e}");
                last_error = Some(e);
            }
        }
    }
    match (values.is_empty(), last_error) {
        (true, Some(e)) => Cell::Missing(e),
        _ => Cell::Values(values),
    }
}

fn main() {
    let reps: usize = std::env::var("VIPD_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let only = std::env::var("VIPD_BENCH_ONLY").ok();
    let wanted = |name: &str| only.as_deref().is_none_or(|o| o == name);

    let keepalived = if wanted("keepalived") {
        Ok(Implementation::Keepalived)
    } else {
        Err("skipped (VIPD_BENCH_ONLY)".to_owned())
    };
    let vipd = if wanted("vipd") {
        vipd_if_ready()
    } else {
        Err("skipped (VIPD_BENCH_ONLY)".to_owned())
    };
    if let Err(why) = &vipd {
        eprintln!("vipd column: {why}");
    }
    let columns = [keepalived, vipd];
    let started = Instant::now();

    let mut failover_rows = Vec::new();
    for advert in ADVERTS {
        for event in [Event::GracefulStop, Event::MasterLinkDown] {
            let cells: Vec<Cell> = columns
                .iter()
                .map(|column| match column {
                    Ok(imp) => {
                        let what = format!("{} {} {}", imp.name(), advert.label, event.label());
                        repeat(reps, &what, || {
                            failover_once(imp, advert, event).map(|d| d.as_secs_f64() * 1e3)
                        })
                    }
                    Err(why) => Cell::Missing(why.clone()),
                })
                .collect();
            failover_rows.push((advert, event, cells));
        }
    }

    let cpu_cells: Vec<[Cell; 4]> = columns
        .iter()
        .map(|column| match column {
            Ok(imp) => {
                let mut samples = Vec::new();
                let mut error = None;
                // A loaded machine can make 10 ms instances flap; retry for steady samples.
                for rep in 1..=4 {
                    if samples.len() == reps.min(2) {
                        break;
                    }
                    match cpu_once(imp) {
                        Ok(s) => {
                            eprintln!("  {} cpu #{rep}: {s:?}", imp.name());
                            samples.push(s);
                        }
                        Err(e) => {
                            eprintln!("  {} cpu #{rep}: FAILED: {e}", imp.name());
                            error = Some(e);
                        }
                    }
                }
                match (samples.is_empty(), error) {
                    (true, Some(e)) => [0, 1, 2, 3].map(|_| Cell::Missing(e.clone())),
                    _ => [
                        Cell::Values(samples.iter().map(|s| s.master_cpu_ms_per_s).collect()),
                        Cell::Values(samples.iter().map(|s| s.backup_cpu_ms_per_s).collect()),
                        Cell::Values(samples.iter().map(|s| s.master_rss_mib).collect()),
                        Cell::Values(samples.iter().map(|s| s.backup_rss_mib).collect()),
                    ],
                }
            }
            Err(why) => [0, 1, 2, 3].map(|_| Cell::Missing(why.clone())),
        })
        .collect();

    println!();
    println!(
        "Client outage during failover (ms, median (min..max) of {reps}; ping every {} ms; r1 prio 150, r2 prio 100)",
        PING_PERIOD.as_millis()
    );
    println!("| advert | event | keepalived | vipd | ratio vipd/keepalived |");
    println!("|---|---|---|---|---|");
    for (advert, event, cells) in &failover_rows {
        println!(
            "| {} | {} | {} | {} | {} |",
            advert.label,
            event.label(),
            cells[0].text("ms"),
            cells[1].text("ms"),
            ratio(&cells[1], &cells[0])
        );
    }
    println!();
    println!(
        "{CPU_INSTANCES} instances at {} ms (CPU over {} s and RSS, of the whole process tree)",
        CPU_ADVERT.as_millis(),
        CPU_SAMPLE.as_secs()
    );
    println!("| measure | keepalived | vipd | ratio vipd/keepalived |");
    println!("|---|---|---|---|");
    let labels = [
        ("master CPU", "ms/s"),
        ("backup CPU", "ms/s"),
        ("master RSS", "MiB"),
        ("backup RSS", "MiB"),
    ];
    for (i, (label, unit)) in labels.iter().enumerate() {
        println!(
            "| {label} | {} | {} | {} |",
            cpu_cells[0][i].text(unit),
            cpu_cells[1][i].text(unit),
            ratio(&cpu_cells[1][i], &cpu_cells[0][i])
        );
    }
    // Why cells are n/a: each distinct reason once.
    let mut reasons: Vec<&str> = Vec::new();
    let all_cells = failover_rows
        .iter()
        .flat_map(|(_, _, cells)| cells.iter())
        .chain(cpu_cells.iter().flatten());
    for cell in all_cells {
        if let Cell::Missing(why) = cell {
            let first_line = why.lines().next().unwrap_or_default();
            if !reasons.contains(&first_line) {
                reasons.push(first_line);
            }
        }
    }
    for why in reasons {
        println!("n/a: {why}");
    }
    println!("total time {:.0} s", started.elapsed().as_secs_f64());
}
