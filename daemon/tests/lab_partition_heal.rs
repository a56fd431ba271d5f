//! The race when a partition heals (needs root): the higher-priority master r1 is cut off, r2
//! takes over and the client learns r2's MAC for the VIP; when the link comes back, r2 may
//! hear r1's advert before r1 hears any of r2's and yield at once. Then only an advert from
//! the yielding router makes r1 announce its addresses again (`higher_prio_send_advert`,
//! on by default in vipd); without it the client keeps sending to r2's MAC until its
//! neighbour entry expires.
//!
//! The ordering is made deterministic: r1 advertises every 100 ms, r2 every second (VRRPv3:
//! a master does not compare intervals), and the partition heals right after r2 sent one of
//! its adverts, so one of r1's reaches r2 long before r2's next. The client's neighbour
//! entries are made to stay REACHABLE for at least a minute, so that their expiry cannot be
//! mistaken for the announcement within the bound asserted here.

mod lab;
mod lab_vipd_support;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use lab::keepalived_conf::KeepalivedConf;
use lab::{wait_until, Lab, OutageMeter, Segment};
use lab_vipd_support::*;

/// Advert interval of the returning master r1.
const FAST: Duration = Duration::from_millis(100);
/// Advert interval of the interim master r2.
const SLOW: Duration = Duration::from_secs(1);

/// Two Master_Down_Intervals of the slower router (3 x 1 s + skew of priority 100): the
/// client must be answered by r1 again within this after the heal. Generous for a loaded
/// machine, far below the client's neighbour entry lifetime (>= 60 s here).
fn bound() -> Duration {
    let skew = SLOW * (256 - 100) / 256;
    (SLOW * 3 + skew) * 2
}

/// The client's neighbour entry for `vip`: (MAC, state), e.g. ("02:...", "REACHABLE").
fn client_neighbour(lab: &Lab, vip: IpAddr) -> Option<(String, String)> {
    let out = lab.exec(lab.client_ns(), &format!("ip neigh show {vip} dev eth0"));
    let words: Vec<&str> = out.stdout.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "lladdr")?;
    Some((words.get(at + 1)?.to_string(), words.last()?.to_string()))
}

struct Healed {
    lab: Lab,
    meter: OutageMeter,
    healed_at: Instant,
    _r1: lab::Daemon,
    _r2: lab::Daemon,
}

/// Elects r1, partitions it until r2 is master and the client's entry for the VIP is a
/// REACHABLE r2, then heals right after one of r2's adverts. `r2_globals` go into r2's
/// keepalived.conf.
fn partition_and_heal(name: &str, family: VipFamily, r2_globals: &[&str]) -> Healed {
    let lab = Lab::new(name, 2);
    let vip = family.vip();
    // Entries stay REACHABLE 60..180 s after a confirmation (pings do not confirm one).
    lab.exec_ok(
        lab.client_ns(),
        "sysctl -q -w net.ipv4.neigh.eth0.base_reachable_time_ms=120000 \
         net.ipv6.neigh.eth0.base_reachable_time_ms=120000",
    );
    let r1_conf = KeepalivedConf::new("r1")
        .instance(family.instance(200, FAST))
        .render();
    let r2_conf = r2_globals
        .iter()
        .fold(KeepalivedConf::new("r2"), |c, line| c.global(line))
        .instance(family.instance(100, SLOW))
        .render();
    let r1 = start_vipd(&lab, 1, &r1_conf);
    let r2 = start_vipd(&lab, 2, &r2_conf);
    expect_sole_holder(&lab, vip, 1, SETTLE * 3, "election");
    wait_state(&r2, "VI_1", "BACKUP");
    let meter = OutageMeter::start(&lab, &[vip], Duration::from_millis(10));
    assert!(
        meter.wait_replies(5, SETTLE),
        "the client never reached {vip} on r1"
    );

    lab.partition(1);
    let split = wait_until(SETTLE * 3, Duration::from_millis(20), || {
        lab.holders(vip) == [1, 2]
    });
    assert!(split.is_some(), "no split brain: {:?}", lab.holders(vip));
    // r2's GARP/NA leaves a STALE entry; the client's pings turn it REACHABLE after the
    // probe delay (5 s).
    let r2_mac = Segment::Main.router_mac_text(2);
    let learned = wait_until(Duration::from_secs(30), Duration::from_millis(50), || {
        client_neighbour(&lab, vip) == Some((r2_mac.clone(), "REACHABLE".into()))
    });
    assert!(
        learned.is_some(),
        "the client did not settle on r2: {:?}",
        client_neighbour(&lab, vip)
    );

    let capture = lab.capture(
        lab.router_ns(2),
        "eth0",
        &format!("-tt ether src {r2_mac} and ( ip proto 112 or ip6 proto 112 )"),
    );
    // Right after one of r2's adverts: one that tcpdump (or this thread) shows late on a
    // loaded machine does not count, the heal waits for the next (r2's following advert
    // would otherwise reach r1 first).
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    };
    let sent = wait_until(SETTLE, Duration::from_millis(2), || {
        let last = capture.packets().last().and_then(|p| {
            let at = p.split_whitespace().next()?;
            at.parse::<f64>().ok()
        });
        last.is_some_and(|at| now() - at < 0.2)
    });
    assert!(
        sent.is_some(),
        "r2 does not advertise while partitioned (none seen within 0.2 s of leaving): {:?}",
        capture.packets()
    );
    lab.heal(1);
    let healed_at = Instant::now();
    Healed {
        lab,
        meter,
        healed_at,
        _r1: r1,
        _r2: r2,
    }
}

/// After the heal, the client's entry points at r1 and r1 answers its pings within the
/// bound.
fn expect_client_back_on_r1(healed: Healed, family: VipFamily) {
    let Healed {
        lab,
        meter,
        healed_at,
        _r2: r2,
        ..
    } = healed;
    let vip = family.vip();
    let r1_mac = Segment::Main.router_mac_text(1);
    let deadline = bound();
    let back = wait_until(deadline, Duration::from_millis(10), || {
        client_neighbour(&lab, vip).is_some_and(|(mac, _)| mac == r1_mac)
            && meter
                .since_last_reply()
                .is_some_and(|d| d < Duration::from_millis(50))
    });
    let after = healed_at.elapsed();
    let entry = client_neighbour(&lab, vip);
    if back.is_none() {
        let report = meter.stop();
        panic!(
            "{:.1} s after the heal the client still uses {entry:?} for {vip} (r1 is {r1_mac}, \
             bound {deadline:?}): {report}",
            after.as_secs_f64()
        );
    }
    wait_state(&r2, "VI_1", "BACKUP");
    assert!(meter.wait_replies(5, SETTLE), "the client is not answered");
    let report = meter.stop();
    eprintln!(
        "{vip}: client back on r1 {:.0} ms after the heal (bound {deadline:?}); {report}",
        after.as_secs_f64() * 1e3
    );
    let target = report.target(vip);
    assert_eq!(target.last_replier(), Some(1), "{report}");
    assert!(
        target.longest_gap < deadline,
        "the client waited {:?} for an answer: {report}",
        target.longest_gap
    );
}

#[test]
fn after_a_heal_the_client_follows_the_returning_master_ipv4() {
    let family = VipFamily::V4;
    let healed = partition_and_heal("heal-v4", family, &[]);
    expect_client_back_on_r1(healed, family);
}

#[test]
fn after_a_heal_the_client_follows_the_returning_master_ipv6() {
    let family = VipFamily::V6;
    let healed = partition_and_heal("heal-v6", family, &[]);
    expect_client_back_on_r1(healed, family);
}

/// keepalived's behaviour, kept with an explicit `vrrp_higher_prio_send_advert false`: r2
/// yields silently, r1 never learns that anyone followed r2, and the client keeps r2's MAC.
/// Also shows that the heal above really makes r2 hear r1 first.
#[test]
fn with_higher_prio_send_advert_off_the_client_stays_on_the_interim_master() {
    let family = VipFamily::V4;
    let healed = partition_and_heal("heal-off", family, &["vrrp_higher_prio_send_advert false"]);
    let vip = family.vip();
    wait_state(&healed._r2, "VI_1", "BACKUP");
    let r2_mac = Segment::Main.router_mac_text(2);
    loop {
        let entry = client_neighbour(&healed.lab, vip);
        let after = healed.healed_at.elapsed();
        if after > bound() {
            break;
        }
        assert_eq!(
            entry.as_ref().map(|(mac, _)| mac),
            Some(&r2_mac),
            "the client left r2 {after:?} after the heal: did r1 hear r2 first?"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        healed.meter.since_last_reply().unwrap_or(Duration::MAX) > Duration::from_secs(1),
        "the client is answered although its entry points at r2"
    );
}
