//! Failover benchmark: what a client sees when the master goes away, for keepalived and
//! vipd from the same keepalived.conf, and for a master's link loss what the wire shows:
//! from the old master's last advert to the first echo reply through the new master,
//! against the RFC's Master_Down_Interval. (CPU and memory: the `footprint` bench.)
//!
//! `cargo bench -p vipd --bench failover` (root; keepalived at /usr/sbin/keepalived).
//! Environment: `VIPD_BENCH_REPS` (default 5) repetitions per cell; `VIPD_BENCH_ONLY`
//! (`keepalived` or `vipd`) to run one column; `VIPD_BIN` to choose the vipd binary (`make
//! bench` passes the static one users run); `VIPD_BENCH_SVG_DIR` where the figures go
//! (default docs/bench).

#[path = "../tests/lab/mod.rs"]
mod lab;
mod support;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::chart::{self, Strip};
use support::wire::{self, Pcap};

use lab::keepalived_conf::{InitialState, KeepalivedConf, VrrpInstance};
use lab::{Daemon, Lab, Segment};

/// Client ping period while measuring an outage.
const PING_PERIOD: Duration = Duration::from_millis(2);

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

/// Master_Down_Interval of the backup (priority 100): 3 x interval + skew time.
fn master_down_interval(advert: Advert) -> Duration {
    advert.interval * 3 + advert.interval.mul_f64(f64::from(256 - 100) / 256.0)
}

/// What one failover looked like.
struct Failover {
    /// Longest time the client went without a reply.
    gap: Duration,
    /// Link loss only: the wire's view of the takeover.
    takeover: Option<wire::Takeover>,
}

/// One failover.
fn failover_once(imp: &Implementation, advert: Advert, event: Event) -> Result<Failover, String> {
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
    let capture = matches!(event, Event::MasterLinkDown).then(|| {
        Pcap::start(
            lab.client_ns(),
            "eth0",
            "vrrp or arp or icmp or icmp6",
            lab.dir(),
            "client",
            true,
        )
    });
    if capture.is_some() {
        // The capture must hold the old master's last advert: let one pass first.
        std::thread::sleep(advert.interval.mul_f64(1.5));
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
    let takeover = match capture {
        Some(mut capture) => {
            let frames = capture.stop();
            if let Some(dir) = std::env::var_os("VIPD_BENCH_KEEP_PCAP") {
                let keep = PathBuf::from(dir).join(format!("{}.pcap", lab.prefix()));
                let _ = std::fs::copy(lab.dir().join("client.pcap"), keep);
            }
            let mac = |r: usize| Segment::Main.router_mac(r);
            Some(wire::takeover(&frames, mac(1), mac(2)).ok_or_else(|| {
                format!(
                    "the capture shows no complete takeover ({} frames, {:?})",
                    frames.len(),
                    wire::summary(&frames)
                )
            })?)
        }
        None => None,
    };
    r1.stop();
    Ok(Failover {
        gap: report.longest_gap(),
        takeover,
    })
}

/// A number in [0, 1) from the clock; good enough to spread event phases.
fn random_fraction() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos.wrapping_mul(2_654_435_761) % 1_000_000) / 1e6
}

/// Median and range of repeated measurements, or why there are none.
#[derive(Clone, Debug)]
enum Cell {
    Values(Vec<f64>),
    Missing(String),
}

impl Cell {
    fn values(&self) -> Vec<f64> {
        match self {
            Cell::Values(v) => v.clone(),
            Cell::Missing(_) => Vec::new(),
        }
    }

    fn median(&self) -> Option<f64> {
        chart::median(&self.values())
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

/// The cells of one failover row: client outage, and for link loss the wire's times
/// (ms after the old master's last advert: new master's advert, announcement, first reply).
#[derive(Clone, Debug)]
struct Cells {
    gap: Cell,
    advert: Cell,
    announcement: Cell,
    reply: Cell,
}

/// Runs `failover_once` `reps` times; failures are printed and left out.
fn repeat(reps: usize, what: &str, imp: &Implementation, advert: Advert, event: Event) -> Cells {
    let mut runs = Vec::new();
    let mut last_error = None;
    for rep in 1..=reps {
        match failover_once(imp, advert, event) {
            Ok(f) => {
                let ms = |d: Duration| d.as_secs_f64() * 1e3;
                match &f.takeover {
                    Some(t) => eprintln!(
                        "  {what} #{rep}: outage {:.1} ms; wire: advert +{:.2}, announcement +{:.2}, reply +{:.2} ms",
                        ms(f.gap),
                        t.first_advert * 1e3,
                        t.first_announcement * 1e3,
                        t.first_reply * 1e3
                    ),
                    None => eprintln!("  {what} #{rep}: outage {:.1} ms", ms(f.gap)),
                }
                runs.push(f);
            }
            Err(e) => {
                eprintln!("  {what} #{rep}: FAILED: {e}");
                last_error = Some(e);
            }
        }
    }
    let cell = |pick: &dyn Fn(&Failover) -> Option<f64>| match (runs.is_empty(), &last_error) {
        (true, Some(e)) => Cell::Missing(e.clone()),
        _ => Cell::Values(runs.iter().filter_map(pick).collect()),
    };
    Cells {
        gap: cell(&|f| Some(f.gap.as_secs_f64() * 1e3)),
        advert: cell(&|f| f.takeover.map(|t| t.first_advert * 1e3)),
        announcement: cell(&|f| f.takeover.map(|t| t.first_announcement * 1e3)),
        reply: cell(&|f| f.takeover.map(|t| t.first_reply * 1e3)),
    }
}

fn main() {
    // Only under `cargo bench` (which passes --bench), as root (network namespaces).
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("failover bench: needs root (network namespaces); skipped");
        return;
    }
    let reps: usize = std::env::var("VIPD_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
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
    match &vipd {
        Ok(Implementation::Vipd(binary)) => eprintln!("vipd binary: {}", binary.display()),
        Ok(_) => {}
        Err(why) => eprintln!("vipd column: {why}"),
    }
    let columns = [keepalived, vipd];
    let started = Instant::now();

    let mut rows = Vec::new();
    // VIPD_BENCH_ADVERTS=100,10: only these intervals (ms).
    let intervals: Option<Vec<u128>> = std::env::var("VIPD_BENCH_ADVERTS")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect());
    for advert in ADVERTS {
        if intervals
            .as_ref()
            .is_some_and(|list| !list.contains(&advert.interval.as_millis()))
        {
            continue;
        }
        for event in [Event::GracefulStop, Event::MasterLinkDown] {
            let cells: Vec<Cells> = columns
                .iter()
                .map(|column| match column {
                    Ok(imp) => {
                        let what = format!("{} {} {}", imp.name(), advert.label, event.label());
                        repeat(reps, &what, imp, advert, event)
                    }
                    Err(why) => {
                        let missing = Cell::Missing(why.clone());
                        Cells {
                            gap: missing.clone(),
                            advert: missing.clone(),
                            announcement: missing.clone(),
                            reply: missing,
                        }
                    }
                })
                .collect();
            rows.push((advert, event, cells));
        }
    }

    println!();
    println!(
        "Client outage during failover (ms, median (min..max) of {reps}; ping every {} ms; r1 prio 150, r2 prio 100)",
        PING_PERIOD.as_millis()
    );
    println!("| advert | event | keepalived | vipd | ratio vipd/keepalived |");
    println!("|---|---|---|---|---|");
    for (advert, event, cells) in &rows {
        println!(
            "| {} | {} | {} | {} | {} |",
            advert.label,
            event.label(),
            cells[0].gap.text("ms"),
            cells[1].gap.text("ms"),
            ratio(&cells[1].gap, &cells[0].gap)
        );
    }

    println!();
    println!(
        "Master link loss on the wire (capture on the client): from the old master's last advert to the first echo reply via the new master, ms, median (min..max); Master_Down_Interval (MDI) = 3 x advert + skew of priority 100"
    );
    println!("| advert | MDI | keepalived | vipd | keepalived - MDI | vipd - MDI | ratio vipd/keepalived (over MDI) |");
    println!("|---|---|---|---|---|---|---|");
    let mut over_strips = Vec::new();
    for (advert, event, cells) in &rows {
        if !matches!(event, Event::MasterLinkDown) {
            continue;
        }
        let mdi = master_down_interval(*advert).as_secs_f64() * 1e3;
        let over = |c: &Cell| match c {
            Cell::Values(v) => Cell::Values(v.iter().map(|x| x - mdi).collect()),
            other => other.clone(),
        };
        let (k, v) = (over(&cells[0].reply), over(&cells[1].reply));
        println!(
            "| {} | {mdi:.1} ms | {} | {} | {} | {} | {} |",
            advert.label,
            cells[0].reply.text("ms"),
            cells[1].reply.text("ms"),
            k.text("ms"),
            v.text("ms"),
            ratio(&v, &k)
        );
        over_strips.push(Strip {
            label: advert.label.to_owned(),
            keepalived: k.values(),
            vipd: v.values(),
        });
    }
    println!();
    println!("Where the time after the last advert goes (ms over MDI, median): the new master's first advert, its first announcement (GARP/NA), the client's first reply");
    println!("| advert | implementation | first advert | first announcement | first reply |");
    println!("|---|---|---|---|---|");
    for (advert, event, cells) in &rows {
        if !matches!(event, Event::MasterLinkDown) {
            continue;
        }
        let mdi = master_down_interval(*advert).as_secs_f64() * 1e3;
        for (name, c) in [("keepalived", &cells[0]), ("vipd", &cells[1])] {
            let m = |cell: &Cell| {
                cell.median()
                    .map_or("n/a".to_owned(), |x| format!("{:+.2}", x - mdi))
            };
            println!(
                "| {} | {name} | {} | {} | {} |",
                advert.label,
                m(&c.advert),
                m(&c.announcement),
                m(&c.reply)
            );
        }
    }

    let outage_strips: Vec<Strip> = rows
        .iter()
        .map(|(advert, event, cells)| Strip {
            label: format!("{} {}", advert.label, event.label()),
            keepalived: cells[0].gap.values(),
            vipd: cells[1].gap.values(),
        })
        .collect();
    chart::write("failover-outage.svg", |path| {
        chart::strips(
            path,
            "Client outage during failover (every run; bar = median)",
            "longest gap between replies (ms, log)",
            &outage_strips,
            true,
        )
    });
    chart::write("link-loss-over-mdi.svg", |path| {
        chart::strips(
            path,
            "Master link loss: last advert to first reply via the new master, minus Master_Down_Interval",
            "ms over Master_Down_Interval",
            &over_strips,
            false,
        )
    });

    // Why cells are n/a: each distinct reason once.
    let mut reasons: Vec<&str> = Vec::new();
    for cell in rows
        .iter()
        .flat_map(|(_, _, cells)| cells.iter().map(|c| &c.gap))
    {
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
