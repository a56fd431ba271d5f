//! Red-team round 7 (needs root and keepalived 2.2.7): what a stranger can do with adverts in
//! the live master's name, and what a router paused with
//! SIGSTOP (a frozen VM, a cgroup freezer, a debugger) does when it resumes. A vipd pair (r1
//! master, r2 backup, VRID 51) and a keepalived pair (r3 master, r4 backup, VRID 53), 300 ms
//! adverts, on one segment; r5 is the stranger.
//!
//! - Priority 50 adverts in each master's name every 50 ms (the master's kernel drops them:
//!   they carry its own address; only the backup hears them). RFC 5798 6.4.2 has a backup
//!   with preemption discard a lower advert, and keepalived does. vipd's fast takeover
//!   (the master we follow advertises less than us: take over after Skew_Time) made its
//!   backup take the VIP beside the live master once per interval, for as long as they came.
//!   Now a fast takeover waits until the master's next advert is an interval overdue: the
//!   real master's advert, still at its priority, shows the lower one forged.
//! - Adverts at the master's own priority claiming 10 ms, every 50 ms in its name: each made
//!   a backup (vipd's and keepalived's) count Master_Down_Interval from 10 ms and take the
//!   VIP between the master's 300 ms adverts. vipd's no longer brings its down timer
//!   forward for a shorter interval than it had learned.
//! - SIGSTOP of each backup for 2 s (longer than Master_Down_Interval) then SIGCONT, and of
//!   each master: a backup that resumes must hear the adverts queued meanwhile before its
//!   timer, and a master that resumes takes its role back without a second master.
//!
//! keepalived's results are printed, not asserted.

mod hostile_frames;
mod lab;
mod lab_vipd_support;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use hostile_frames::*;
use lab::{Lab, Segment};
use lab_vipd_support::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use vipd::vrrp::packet::{Advertisement, Auth, ChecksumMode, Version};

const GROUP4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
const STRANGER: usize = 5;
const KEEPALIVED_VIP: &str = "192.0.2.102";
const KEEPALIVED_VRID: u8 = 53;
/// The pairs' advert interval: Master_Down_Interval about a second.
const INTERVAL: Duration = Duration::from_millis(300);

fn keepalived_vip() -> IpAddr {
    KEEPALIVED_VIP.parse().expect("address")
}

fn entered_master(daemon: &lab::Daemon) -> usize {
    daemon.log().matches("(VI_3) Entering MASTER").count()
}

/// Both pairs settled: r1 and r3 masters, r2 and r4 their backups.
fn pairs(lab: &Lab) -> [lab::Daemon; 4] {
    let (r1, r2) = settled_pair(lab, |_, priority| vec![v3_ipv4(priority).advert(INTERVAL)]);
    let r3 = spawn_keepalived_v3(lab, 3, KEEPALIVED_VRID, KEEPALIVED_VIP, INTERVAL, 150);
    expect_sole_holder(lab, keepalived_vip(), 3, SETTLE, "keepalived master");
    let r4 = spawn_keepalived_v3(lab, 4, KEEPALIVED_VRID, KEEPALIVED_VIP, INTERVAL, 100);
    assert!(
        r4.wait_log("(VI_3) Entering BACKUP", SETTLE).is_some(),
        "keepalived backup: {}",
        r4.log()
    );
    std::thread::sleep(INTERVAL * 4);
    [r1, r2, r3, r4]
}

/// A v3 advert for `vrid` with `vip` at `priority` every `interval_cs`, from `src`.
fn advert(src: Ipv4Addr, vrid: u8, priority: u8, interval_cs: u16, vip: IpAddr) -> Vec<u8> {
    let payload = Advertisement {
        version: Version::V3,
        vrid,
        priority,
        advert_interval_cs: interval_cs,
        addresses: vec![vip],
        auth: Auth::None,
    }
    .to_bytes(src.into(), GROUP4.into(), ChecksumMode::PseudoHeader);
    ipv4(src, GROUP4, 255, 112, &payload)
}

/// Samples who holds each pair's VIP while `during` runs; the samples with another holder
/// than the pair's master.
fn others_holding(lab: &Lab, during: impl FnOnce() + Send) -> (Vec<String>, Vec<String>) {
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let (mut vipd, mut keepalived) = (Vec::new(), Vec::new());
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                for (vip, master, out) in [
                    (vip4(), 1, &mut vipd),
                    (keepalived_vip(), 3, &mut keepalived),
                ] {
                    let holders = lab.holders(vip);
                    if holders != [master] {
                        out.push(format!("{holders:?}"));
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            (vipd, keepalived)
        });
        during();
        std::thread::sleep(INTERVAL * 2);
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        sampler.join().expect("sampler")
    })
}

/// Sends adverts at `priority` every `interval_cs` in each master's name every 50 ms for
/// 3 s; prints and returns how often vipd's backup changed state, and the samples where its
/// VIP had another holder.
fn forge_in_masters_names(
    lab: &Lab,
    [_, r2, _, r4]: &[lab::Daemon; 4],
    priority: u8,
    interval_cs: u16,
) -> (u64, Vec<String>) {
    let backup_before = instance(r2, "VI_1");
    let keepalived_takeovers = entered_master(r4);
    let ns = lab.router_ns(STRANGER).to_owned();
    let frames = vec![
        advert(
            Segment::Main.router_ip4(1),
            51,
            priority,
            interval_cs,
            vip4(),
        ),
        advert(
            Segment::Main.router_ip4(3),
            KEEPALIVED_VRID,
            priority,
            interval_cs,
            keepalived_vip(),
        ),
    ];
    let mut sent = 0;
    let (vipd_others, keepalived_others) = others_holding(lab, || {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(3) {
            sent += send_frames(&ns, ETH_P_IP, VRRP_MAC_V4, frames.clone(), Duration::ZERO);
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let backup_after = instance(r2, "VI_1");
    let moved = backup_after.transitions - backup_before.transitions;
    println!(
        "{} priority {priority} adverts (interval {interval_cs} cs) per VRID in each master's \
         name over 3 s: vipd's backup changed state {moved} times (VIP elsewhere than its \
         master in {} samples), keepalived's entered MASTER {} times (VIP elsewhere in {} \
         samples)",
        sent / 2,
        vipd_others.len(),
        entered_master(r4) - keepalived_takeovers,
        keepalived_others.len(),
    );
    assert!(backup_after.adverts_received > backup_before.adverts_received);
    (moved, vipd_others)
}

#[test]
fn adverts_in_the_live_masters_name_move_no_backup() {
    let lab = Lab::new("h7-mname", 5);
    let routers = pairs(&lab);
    // Lower than the backups (100): RFC 5798 discards them.
    let (moved, others) = forge_in_masters_names(&lab, &routers, 50, 30);
    assert_eq!(
        (moved, others),
        (0, vec![]),
        "vipd's backup took over beside its live master (lower adverts):\n{}",
        routers[1].log()
    );
    assert_eq!(lab.holders(vip4()), [1]);
    // The master's own priority, claiming 10 ms adverts.
    let (moved, others) = forge_in_masters_names(&lab, &routers, 150, 1);
    assert_eq!(
        (moved, others),
        (0, vec![]),
        "vipd's backup took over beside its live master (10 ms claimed):\n{}",
        routers[1].log()
    );
    assert_eq!(lab.holders(vip4()), [1]);
    let [r1, r2, r3, r4] = routers;

    // The fast takeover still works for a master whose priority really dropped: r1 at 50
    // (a reload) is replaced well before Master_Down_Interval ran out at every advert.
    rewrite_conf(&r1, &conf(1, &[v3_ipv4(50).advert(INTERVAL)]));
    r1.reload();
    let started = Instant::now();
    expect_sole_holder(&lab, vip4(), 2, SETTLE, "r2 preempts the lowered master");
    println!(
        "r2 took over from the lowered r1 in {:?}",
        started.elapsed()
    );
    drop((r1, r2, r3, r4));
}

/// SIGSTOP (or SIGCONT) to every process of `daemon` (keepalived's VRRP child too).
fn signal_tree(daemon: &lab::Daemon, signal: Signal) {
    for pid in daemon.tree_pids() {
        let _ = kill(Pid::from_raw(pid), signal);
    }
}

#[test]
fn routers_paused_with_sigstop_resume_without_a_second_master() {
    let lab = Lab::new("h7-pause", 5);
    let [r1, r2, r3, r4] = pairs(&lab);
    let pause = Duration::from_secs(2);

    // The backups paused and resumed, at once: their Master_Down timers ran out long ago, and
    // the adverts of the live master wait in their sockets.
    let backup_before = instance(&r2, "VI_1");
    let keepalived_takeovers = entered_master(&r4);
    let (vipd_others, keepalived_others) = others_holding(&lab, || {
        signal_tree(&r2, Signal::SIGSTOP);
        signal_tree(&r4, Signal::SIGSTOP);
        std::thread::sleep(pause);
        signal_tree(&r2, Signal::SIGCONT);
        signal_tree(&r4, Signal::SIGCONT);
    });
    let backup_after = instance(&r2, "VI_1");
    println!(
        "backups paused {pause:?}: vipd's changed state {} times (VIP elsewhere in {} samples), \
         keepalived's entered MASTER {} times (VIP elsewhere in {} samples)",
        backup_after.transitions - backup_before.transitions,
        vipd_others.len(),
        entered_master(&r4) - keepalived_takeovers,
        keepalived_others.len(),
    );
    assert_eq!(
        backup_after.transitions,
        backup_before.transitions,
        "vipd's resumed backup took over beside its master: {backup_after:#?}\n{}",
        r2.log()
    );
    assert!(vipd_others.is_empty(), "vipd's VIP: {vipd_others:?}");

    // The masters paused: their backups take over (the paused kernel still holds the VIP,
    // alike for both); once resumed, the master with the higher priority takes the role back
    // and the VIP is held by one router again.
    signal_tree(&r1, Signal::SIGSTOP);
    signal_tree(&r3, Signal::SIGSTOP);
    let vipd_took = wait_state(&r2, "VI_1", "MASTER");
    assert!(
        r4.wait_log("(VI_3) Entering MASTER", SETTLE).is_some(),
        "keepalived's backup: {}",
        r4.log()
    );
    std::thread::sleep(pause);
    signal_tree(&r1, Signal::SIGCONT);
    signal_tree(&r3, Signal::SIGCONT);
    let resumed = Instant::now();
    let vipd = expect_sole_holder(&lab, vip4(), 1, SETTLE, "vipd's master back");
    let keepalived = lab.wait_sole_holder(keepalived_vip(), 3, SETTLE);
    println!(
        "masters paused {pause:?} then resumed: one holder again after {vipd:?} (vipd), \
         {keepalived:?} (keepalived), measured from the resume {:?} ago",
        resumed.elapsed()
    );
    let settled = wait_state(&r2, "VI_1", "BACKUP");
    assert_eq!(
        settled.transitions,
        vipd_took.transitions + 1,
        "vipd's backup flapped: {}",
        r2.log()
    );
    expect_stays_sole_holder(&lab, vip4(), 1, INTERVAL * 5);
    drop((r1, r2, r3, r4));
}
