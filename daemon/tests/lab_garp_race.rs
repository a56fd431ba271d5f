//! The announcement race of a healed split brain (needs root), with a real keepalived 2.2.7
//! as the lower-priority router (found by the soak, seed 1796166284): keepalived, cut off
//! from the master, takes over; its advert reaches the master (vipd) first, which answers
//! with its own advert and announces its addresses, but keepalived's announcement reaches the
//! client after that one. keepalived then hears the master and yields without an advert (its
//! default), so nothing made vipd announce again until `garp_lower_prio_delay` (5 s) later:
//! the client sent to keepalived's MAC meanwhile. vipd now announces once more when the
//! lower-priority router has been silent for 1.5 of its advert intervals.
//!
//! Made deterministic: r2 (keepalived, 1 s adverts) is deaf to VRRP (nft drops protocol 112
//! on its input) until 300 ms after it took over, so r1's answer does not reach it at first,
//! and it spreads its announcements (ARP / neighbour advertisements) over 800 ms
//! (`vrrp_garp_interval` / `vrrp_gna_interval` 0.2 s: the later ones surely come after r1's
//! answer). Once r2 hears again it yields on r1's next advert (100 ms), before its own next
//! one: r1 hears r2 exactly once, as in the soak.

mod lab;
mod lab_vipd_support;

use std::time::{Duration, Instant};

use lab::keepalived_conf::KeepalivedConf;
use lab::{wait_until, Lab, OutageMeter, Segment};
use lab_vipd_support::*;

/// r1's (vipd, priority 150) advert interval.
const R1_ADVERT: Duration = Duration::from_millis(100);
/// r2's (keepalived, priority 50): its silence is counted in these.
const R2_ADVERT: Duration = Duration::from_secs(1);
/// How long r2 stays deaf after it took over (its announcements go on meanwhile).
const DEAF_AFTER_TAKEOVER: Duration = Duration::from_millis(300);

/// From r2's yield until the client is answered by r1 again: vipd announces 1.5 s (1.5 x
/// r2's interval) after r2's only advert, about 0.4 s before the yield, so about 1.1 s; the
/// slack is for a loaded machine. keepalived's behaviour (vipd's before) is the second
/// burst, 5 s after the first: about 4.5 s.
const BOUND: Duration = Duration::from_millis(2500);

fn race(name: &str, family: VipFamily) {
    let lab = Lab::new(name, 2);
    let vip = family.vip();
    // Only announcements move the client's neighbour entry: it neither expires nor is
    // probed within the test (otherwise the client finds r1 on its own after about 3 s).
    lab.exec_ok(
        lab.client_ns(),
        "sysctl -q -w net.ipv4.neigh.eth0.base_reachable_time_ms=120000 \
         net.ipv6.neigh.eth0.base_reachable_time_ms=120000 \
         net.ipv4.neigh.eth0.delay_first_probe_time=60 \
         net.ipv6.neigh.eth0.delay_first_probe_time=60",
    );
    // No second burst after becoming master: it would come 5 s after the election, in the
    // middle of the test, and mask the race. The one after a lower priority keeps its 5 s.
    let r1_conf = KeepalivedConf::new("r1")
        .global("vrrp_garp_master_delay 0")
        .global("vrrp_garp_lower_prio_delay 5")
        .instance(family.instance(150, R1_ADVERT))
        .render();
    let r2_conf = KeepalivedConf::new("r2")
        .global("vrrp_garp_interval 0.2")
        .global("vrrp_gna_interval 0.2")
        .instance(family.instance(50, R2_ADVERT))
        .render();
    let _r1 = start_vipd(&lab, 1, &r1_conf);
    expect_sole_holder(&lab, vip, 1, SETTLE, "election");
    let mut r2 = lab.spawn_keepalived(2, &r2_conf);
    let meter = OutageMeter::start(&lab, &[vip], Duration::from_millis(10));
    assert!(
        meter.wait_replies(5, SETTLE),
        "the client never reached {vip} on r1"
    );
    let r1_mac = Segment::Main.router_mac_text(1);
    let r2_mac = Segment::Main.router_mac_text(2);
    assert_eq!(client_neighbour_mac(&lab, vip), Some(r1_mac.clone()));
    // keepalived is up and following r1 before it goes deaf.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(lab.holders(vip), [1], "r2 took over on its own");

    let r2_ns = lab.router_ns(2);
    lab.exec_ok(
        r2_ns,
        "nft add table inet garp_race && \
         nft add chain inet garp_race input '{ type filter hook input priority 0; }' && \
         nft add rule inet garp_race input meta l4proto 112 drop",
    );
    let took_over = wait_until(SETTLE, Duration::from_millis(2), || {
        lab.holders(vip).contains(&2)
    });
    assert!(took_over.is_some(), "r2 never took over while deaf");
    std::thread::sleep(DEAF_AFTER_TAKEOVER);
    lab.exec_ok(r2_ns, "nft delete table inet garp_race");
    let heard_again = Instant::now();

    // r2 yields (on r1's next advert); meanwhile its late announcement moves the client.
    let mut saw_r2 = false;
    let yielded = wait_until(SETTLE, Duration::from_millis(10), || {
        saw_r2 |= client_neighbour_mac(&lab, vip).as_ref() == Some(&r2_mac);
        lab.holders(vip) == [1]
    });
    assert!(
        yielded.is_some(),
        "r2 did not yield: {:?}",
        lab.holders(vip)
    );
    let yielded_at = Instant::now();
    let back = wait_until(
        BOUND + Duration::from_secs(4),
        Duration::from_millis(10),
        || {
            let entry = client_neighbour_mac(&lab, vip);
            saw_r2 |= entry.as_ref() == Some(&r2_mac);
            entry.as_ref() == Some(&r1_mac)
                && saw_r2
                && meter
                    .since_last_reply()
                    .is_some_and(|d| d < Duration::from_millis(50))
        },
    );
    let after = yielded_at.elapsed();
    let report = meter.stop();
    r2.stop();
    assert!(
        saw_r2,
        "the race did not happen: the client never followed r2's late announcement \
         ({report})"
    );
    assert!(
        back.is_some(),
        "the client is still not answered by r1 {:.1} s after r2 yielded: {report}",
        after.as_secs_f64()
    );
    eprintln!(
        "{vip}: r2 heard again, yielded {:.0} ms later; client back on r1 {:.0} ms after the \
         yield (bound {BOUND:?}); {report}",
        (yielded_at - heard_again).as_secs_f64() * 1e3,
        after.as_secs_f64() * 1e3
    );
    assert!(
        after < BOUND,
        "the client waited {:.1} s after r2 yielded (bound {BOUND:?}): {report}",
        after.as_secs_f64()
    );
    let target = report.target(vip);
    assert_eq!(target.last_replier(), Some(1), "{report}");
}

#[test]
fn a_late_announcement_of_a_yielding_keepalived_is_announced_over_ipv4() {
    race("garp-race-v4", VipFamily::V4);
}

#[test]
fn a_late_announcement_of_a_yielding_keepalived_is_announced_over_ipv6() {
    race("garp-race-v6", VipFamily::V6);
}
