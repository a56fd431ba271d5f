//! Foreign protocol-112 traffic and mis-configured peers on vipd's segment (needs root,
//! keepalived 2.2.7 and ucarp). Each scenario runs with a vipd pair and, as the reference,
//! with a keepalived pair in vipd's place: vipd must end up where keepalived does (one
//! holder, or the same documented double master), with no extra transitions.
//!
//! - ucarp (CARP, also protocol 112 to 224.0.0.18, header also starting 0x21) with the
//!   VRID as vhid and with another vhid;
//! - a keepalived peer on the same VRID with another `auth_pass`, another v2 advert
//!   interval, another VIP list;
//! - VRRPv2 and VRRPv3 speakers on one VRID;
//! - keepalived running 20 other VRIDs at 100 ms while a vipd pair fails over.

mod lab;
mod lab_vipd_support;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use lab::keepalived_conf::VrrpInstance;
use lab::{Daemon, Lab, Segment};
use lab_vipd_support::*;

/// Bound for a v2 (1 s adverts) election: Master_Down_Interval is about 3.6 s.
const V2_SETTLE: Duration = Duration::from_secs(12);
/// How long a settled segment is watched for flaps.
const WATCH: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Speaker {
    Vipd,
    Keepalived,
}

fn start(lab: &Lab, speaker: Speaker, router: usize, instances: &[VrrpInstance]) -> Daemon {
    let text = conf(router, instances);
    match speaker {
        Speaker::Vipd => start_vipd(lab, router, &text),
        Speaker::Keepalived => lab.spawn_keepalived(router, &text),
    }
}

fn vip2() -> IpAddr {
    "192.0.2.101".parse().expect("address")
}

/// How often the daemon entered MASTER: vipd's counter, or keepalived's log lines.
fn times_master(daemon: &Daemon, speaker: Speaker, name: &str) -> u64 {
    match speaker {
        Speaker::Vipd => instance(daemon, name).became_master,
        Speaker::Keepalived => daemon
            .log()
            .matches(&format!("({name}) Entering MASTER STATE"))
            .count() as u64,
    }
}

/// Every distinct holder set of `vip` seen while sampling for `window`.
fn holder_sets(lab: &Lab, vip: IpAddr, window: Duration) -> BTreeSet<Vec<usize>> {
    let start = Instant::now();
    let mut seen = BTreeSet::new();
    while start.elapsed() < window {
        seen.insert(lab.holders(vip));
        std::thread::sleep(Duration::from_millis(20));
    }
    seen
}

/// Waits until the holders of `vip` are exactly `routers`, then watches them stay so.
fn expect_holders_settle(lab: &Lab, vip: IpAddr, routers: &[usize], settle: Duration, why: &str) {
    let reached = lab::wait_until(settle, Duration::from_millis(20), || {
        lab.holders(vip) == routers
    });
    assert!(
        reached.is_some(),
        "{why}: holders of {vip} should be {routers:?}, are {:?}",
        lab.holders(vip)
    );
    let seen = holder_sets(lab, vip, WATCH);
    assert_eq!(
        seen,
        BTreeSet::from([routers.to_vec()]),
        "{why}: holders of {vip} changed while watched"
    );
}

/// The pair's backup as it was before a disturbance began: how often it had entered MASTER.
struct BackupBefore<'a> {
    daemon: &'a Daemon,
    speaker: Speaker,
    instance: &'static str,
    became_master: u64,
}

impl<'a> BackupBefore<'a> {
    /// Counted before the disturbance starts, so a reaction to its first packets counts too
    /// (and, under load, a backup that won the first election for a moment does not).
    fn take(daemon: &'a Daemon, speaker: Speaker, instance: &'static str) -> BackupBefore<'a> {
        BackupBefore {
            daemon,
            speaker,
            instance,
            became_master: times_master(daemon, speaker, instance),
        }
    }
}

/// What every scenario asks of the pair: the holders of `vip` settle to `holders` within
/// `settle` and stay so while watched, and the pair's backup entered MASTER no more often
/// than before the disturbance.
fn expect_pair_undisturbed(
    lab: &Lab,
    vip: IpAddr,
    holders: &[usize],
    settle: Duration,
    backup: &BackupBefore,
    why: &str,
) {
    expect_holders_settle(lab, vip, holders, settle, why);
    assert_eq!(
        times_master(backup.daemon, backup.speaker, backup.instance),
        backup.became_master,
        "{why}: the pair's backup must not have entered MASTER again:\n{}",
        backup.daemon.log()
    );
}

/// Packets from `src` with IP protocol 112 that the client saw.
fn packets_from(capture: &lab::Capture, src: &str) -> usize {
    capture
        .packets()
        .iter()
        .filter(|p| p.contains(&format!("{src} > 224.0.0.18")))
        .count()
}

// --- 1. ucarp on the segment -------------------------------------------------------------

/// ucarp in r3 with vhid = the pair's VRID (61) and ucarp in r4 with vhid 62, both at 1 s,
/// next to a v2 pair (r1 150, r2 100, VRID 61, PASS). A CARP advert reads as a v2 advert
/// with 7 addresses and no room for them: the pair must not react to it.
fn ucarp_next_to_pair(test: &str, speaker: Speaker) {
    let lab = Lab::new(test, 4);
    let capture = lab.capture(lab.client_ns(), "eth0", "ip proto 112");
    let r1 = start(&lab, speaker, 1, &[v2_pass(150)]);
    let r2 = start(&lab, speaker, 2, &[v2_pass(100)]);
    expect_holders_settle(&lab, vip2(), &[1], V2_SETTLE, "election");
    let before = (speaker == Speaker::Vipd).then(|| (instance(&r1, "VI_2"), instance(&r2, "VI_2")));
    let backup_before = BackupBefore::take(&r2, speaker, "VI_2");
    let _carp_same = spawn_ucarp(&lab, 3, 61, "192.0.2.200");
    let _carp_other = spawn_ucarp(&lab, 4, 62, "192.0.2.201");
    let carp_heard = lab::wait_until(V2_SETTLE, Duration::from_millis(50), || {
        packets_from(&capture, &Segment::Main.router_ip4(3).to_string()) >= 3
            && packets_from(&capture, &Segment::Main.router_ip4(4).to_string()) >= 3
    });
    assert!(
        carp_heard.is_some(),
        "both ucarps should advertise: {:#?}",
        capture.packets()
    );
    if speaker == Speaker::Keepalived {
        // keepalived drops CARP as too short, but its backup times out anyway while it
        // arrives: it takes the VIP for a moment every few seconds and sends GARPs (seen
        // here with 2.2.7; vipd does not). Recorded, not asserted: it depends on timing.
        std::thread::sleep(WATCH);
        for daemon in [&r1, &r2] {
            assert!(
                daemon.log().contains("vrrp packet too short"),
                "keepalived should drop the CARP adverts:\n{}",
                daemon.log()
            );
        }
        eprintln!(
            "{test}: keepalived backup entered MASTER {} time(s) with CARP on the segment",
            times_master(&r2, speaker, "VI_2")
        );
        return;
    }
    let before = before.expect("vipd statuses taken before ucarp started");
    expect_pair_undisturbed(
        &lab,
        vip2(),
        &[1],
        WATCH,
        &backup_before,
        "with CARP on the segment",
    );
    let master = instance(&r1, "VI_2");
    let backup = instance(&r2, "VI_2");
    assert_eq!(master.state, "MASTER", "{master:#?}");
    assert_eq!(backup.state, "BACKUP", "{backup:#?}");
    assert_eq!(master.transitions, before.0.transitions, "{master:#?}");
    assert_eq!(backup.transitions, before.1.transitions, "{backup:#?}");
    assert_eq!(backup.master_address.as_deref(), Some("192.0.2.11"));
    // The same-vhid CARP adverts are the instance's drops, the other vhid the socket's.
    for status in [&master, &backup] {
        assert!(
            status.dropped.get("truncated").copied().unwrap_or(0) >= 2,
            "{status:#?}"
        );
        assert!(
            status.dropped.get("unknown_vrid").copied().unwrap_or(0) >= 2,
            "{status:#?}"
        );
    }
}

fn spawn_ucarp(lab: &Lab, router: usize, vhid: u8, addr: &str) -> Daemon {
    let src = Segment::Main.router_ip4(router).to_string();
    let vhid = vhid.to_string();
    lab.spawn(
        router,
        &[
            "ucarp",
            "--interface=eth0",
            &format!("--srcip={src}"),
            &format!("--vhid={vhid}"),
            "--pass=secret",
            &format!("--addr={addr}"),
            "--advbase=1",
            "--upscript=/bin/true",
            "--downscript=/bin/true",
            "--preempt",
        ],
        &[],
    )
}

#[test]
fn ucarp_on_the_vrid_and_beside_it_leaves_vipd_pair_alone() {
    ucarp_next_to_pair("coex-ucarp-vipd", Speaker::Vipd);
}

#[test]
fn ucarp_on_the_vrid_is_dropped_by_keepalived_as_too_short() {
    ucarp_next_to_pair("coex-ucarp-ka", Speaker::Keepalived);
}

// --- 2. A mis-configured keepalived peer on the same VRID ----------------------------------

/// How the third router's keepalived differs from the pair.
#[derive(Clone, Copy, Debug)]
enum Mismatch {
    /// `auth_pass` other than the pair's.
    AuthPass,
    /// v2 `advert_int 2` where the pair has 1.
    AdvertInterval,
    /// One more VIP than the pair has.
    VipList,
}

impl Mismatch {
    fn peer(self) -> VrrpInstance {
        let peer = v2_pass(200);
        match self {
            Mismatch::AuthPass => peer.auth_pass("other"),
            Mismatch::AdvertInterval => peer.advert(Duration::from_secs(2)),
            Mismatch::VipList => peer.vip("192.0.2.102/24"),
        }
    }
}

/// A v2 pair (r1 150, r2 100) and keepalived in r3 with priority 200 and `mismatch`, all on
/// VRID 61; the holders of the VIP must settle to `holders`. Returns the lab and the three
/// daemons (r1, r2, r3), still running.
fn mismatched_peer(
    test: &str,
    speaker: Speaker,
    mismatch: Mismatch,
    holders: &[usize],
) -> (Lab, Daemon, Daemon, Daemon) {
    let lab = Lab::new(test, 3);
    let r1 = start(&lab, speaker, 1, &[v2_pass(150)]);
    let r2 = start(&lab, speaker, 2, &[v2_pass(100)]);
    expect_holders_settle(&lab, vip2(), &[1], V2_SETTLE, "election");
    let backup_before = BackupBefore::take(&r2, speaker, "VI_2");
    let r3 = lab.spawn_keepalived(3, &conf(3, &[mismatch.peer()]));
    let why = format!("{speaker:?} pair with a keepalived peer of another {mismatch:?}");
    if speaker == Speaker::Keepalived {
        // keepalived's backup may time out for a moment while adverts it drops arrive (see
        // the ucarp case), so its holders are only required to get there.
        let reached = lab::wait_until(V2_SETTLE, Duration::from_millis(20), || {
            lab.holders(vip2()) == holders
        });
        assert!(
            reached.is_some(),
            "{why}: holders {:?}",
            lab.holders(vip2())
        );
        eprintln!(
            "{test}: keepalived backup entered MASTER {} time(s)",
            times_master(&r2, speaker, "VI_2")
        );
        return (lab, r1, r2, r3);
    }
    expect_pair_undisturbed(&lab, vip2(), holders, V2_SETTLE, &backup_before, &why);
    (lab, r1, r2, r3)
}

// keepalived 2.2.7 drops each of these adverts ("received an invalid passwd!",
// "advertisement interval mismatch", "received an unexpected ip number count"), so the
// mismatched peer and the pair's master both hold the VIP.

#[test]
fn keepalived_pair_and_peer_with_other_auth_pass_both_master() {
    let _lab = mismatched_peer(
        "coex-pass-ka",
        Speaker::Keepalived,
        Mismatch::AuthPass,
        &[1, 3],
    );
}

#[test]
fn keepalived_pair_and_peer_with_other_v2_interval_both_master() {
    let _lab = mismatched_peer(
        "coex-int-ka",
        Speaker::Keepalived,
        Mismatch::AdvertInterval,
        &[1, 3],
    );
}

#[test]
fn keepalived_pair_and_peer_with_other_vip_list_both_master() {
    let (_lab, r1, _r2, _r3) = mismatched_peer(
        "coex-vips-ka",
        Speaker::Keepalived,
        Mismatch::VipList,
        &[1, 3],
    );
    assert!(
        r1.log()
            .contains("received an unexpected ip number count 2, expected 1"),
        "{}",
        r1.log()
    );
}

/// vipd drops what keepalived drops for the password and the v2 interval: the same two
/// masters, and the pair itself stays one master and one backup.
#[test]
fn vipd_pair_drops_peer_with_other_auth_pass_as_keepalived_does() {
    let (_lab, r1, r2, _r3) =
        mismatched_peer("coex-pass-vipd", Speaker::Vipd, Mismatch::AuthPass, &[1, 3]);
    expect_drops(&r1, &r2, "auth_password");
}

#[test]
fn vipd_pair_drops_peer_with_other_v2_interval_as_keepalived_does() {
    let (_lab, r1, r2, _r3) = mismatched_peer(
        "coex-int-vipd",
        Speaker::Vipd,
        Mismatch::AdvertInterval,
        &[1, 3],
    );
    expect_drops(&r1, &r2, "interval_mismatch");
}

/// Better than keepalived (documented): the peer lists all of the pair's VIPs and one more, so
/// vipd follows it (it holds the pair's VIP; the difference is counted and logged) and the VIP
/// has one holder where keepalived has two. An advert that lacks one of the pair's VIPs is
/// dropped, as keepalived does: `vipd_pair_keeps_its_vip_beside_another_cluster_on_the_vrid`.
#[test]
fn vipd_pair_follows_peer_listing_its_vips_and_more_no_double_master() {
    let (_lab, r1, r2, _r3) =
        mismatched_peer("coex-vips-vipd", Speaker::Vipd, Mismatch::VipList, &[3]);
    for daemon in [&r1, &r2] {
        let status = wait_instance(daemon, "VI_2", SETTLE, "following r3", |i| {
            i.state == "BACKUP" && i.master_address.as_deref() == Some("192.0.2.13")
        });
        assert!(status.address_list_mismatch >= 1, "{status:#?}");
        assert_eq!(status.dropped.get("address_list"), Some(&0), "{status:#?}");
    }
}

fn expect_drops(r1: &Daemon, r2: &Daemon, reason: &str) {
    let master = instance(r1, "VI_2");
    let backup = instance(r2, "VI_2");
    assert_eq!(master.state, "MASTER", "{master:#?}");
    assert_eq!(backup.state, "BACKUP", "{backup:#?}");
    assert_eq!(backup.master_address.as_deref(), Some("192.0.2.11"));
    // At least one: keepalived 2.2.7 as master next to adverts it drops sends its own far
    // less often than its interval (seen here: ~10 s apart at advert_int 1).
    for status in [&master, &backup] {
        assert!(
            status.dropped.get(reason).copied().unwrap_or(0) >= 1,
            "{reason}: {status:#?}"
        );
    }
}

/// Another cluster on the same segment picked the same VRID (the classic keepalived log line
/// "ip address associated with VRID 51 not present in MASTER advert"): its master, with a
/// higher priority and other VIPs, must not take the pair's VIP away. keepalived drops its
/// adverts for their address list, so both clusters keep their own VIP.
fn other_cluster_on_the_vrid(test: &str, speaker: Speaker) -> (Lab, Daemon, Daemon, Daemon) {
    let lab = Lab::new(test, 3);
    let r1 = start(&lab, speaker, 1, &[v3_ipv4(150)]);
    let r2 = start(&lab, speaker, 2, &[v3_ipv4(100)]);
    expect_holders_settle(&lab, vip4(), &[1], SETTLE, "election");
    let other = VrrpInstance::new("OTHER", "eth0", 51)
        .priority(200)
        .version(3)
        .advert(ADVERT)
        .vip("192.0.2.150/24");
    let backup_before = BackupBefore::take(&r2, speaker, "VI_1");
    let r3 = lab.spawn_keepalived(3, &conf(3, &[other]));
    let other_vip: IpAddr = "192.0.2.150".parse().expect("address");
    expect_holders_settle(&lab, other_vip, &[3], SETTLE, "the other cluster's VIP");
    if speaker == Speaker::Keepalived {
        // keepalived drops the adverts, but its backup times out again and again while they
        // arrive (seen here with 2.2.7: several MASTER/BACKUP rounds a second, each with
        // GARPs), so only the drop is asserted.
        std::thread::sleep(WATCH);
        eprintln!(
            "{test}: keepalived backup entered MASTER {} time(s) beside the other cluster",
            times_master(&r2, speaker, "VI_1")
        );
        return (lab, r1, r2, r3);
    }
    expect_pair_undisturbed(
        &lab,
        vip4(),
        &[1],
        SETTLE,
        &backup_before,
        "the pair's VIP beside the other cluster",
    );
    (lab, r1, r2, r3)
}

#[test]
fn keepalived_pair_drops_adverts_of_another_cluster_on_the_vrid() {
    let (lab, r1, _r2, _r3) = other_cluster_on_the_vrid("coex-cl-ka", Speaker::Keepalived);
    assert!(lab.holders(vip4()).contains(&1), "r1 lost the VIP");
    assert!(
        r1.log().contains("received an unexpected ip number count")
            || r1.log().contains("not present in MASTER advert"),
        "{}",
        r1.log()
    );
}

#[test]
fn vipd_pair_keeps_its_vip_beside_another_cluster_on_the_vrid() {
    let (_lab, r1, r2, _r3) = other_cluster_on_the_vrid("coex-cl-vipd", Speaker::Vipd);
    let master = instance(&r1, "VI_1");
    let backup = instance(&r2, "VI_1");
    assert_eq!(master.state, "MASTER", "{master:#?}");
    assert_eq!(backup.state, "BACKUP", "{backup:#?}");
    assert_eq!(backup.master_address.as_deref(), Some("192.0.2.11"));
    for status in [&master, &backup] {
        assert!(status.address_list_mismatch >= 1, "{status:#?}");
        assert!(
            status.dropped.get("address_list").copied().unwrap_or(0) >= 1,
            "{status:#?}"
        );
    }
}

// --- 3. VRRPv2 and VRRPv3 on one VRID ------------------------------------------------------

fn versioned(version: u8, priority: u8) -> VrrpInstance {
    VrrpInstance::new("VI_2", "eth0", 61)
        .priority(priority)
        .version(version)
        .advert(Duration::from_secs(1))
        .vip("192.0.2.101/24")
}

/// r1 (150, `first` speaking `first_version`) and r2 (keepalived, 100, the other version).
/// Neither drops the version check (keepalived: "wrong version"; RFC 5798 8.4's v2
/// compatibility mode is optional and neither implements it), so both are master.
fn mixed_versions(test: &str, first: Speaker, first_version: u8) {
    let lab = Lab::new(test, 2);
    let r1 = start(&lab, first, 1, &[versioned(first_version, 150)]);
    let r2 = lab.spawn_keepalived(2, &conf(2, &[versioned(5 - first_version, 100)]));
    expect_holders_settle(&lab, vip2(), &[1, 2], V2_SETTLE, "v2 and v3 on one VRID");
    assert!(
        r2.log().contains(&format!(
            "wrong version. Received {first_version} and expect {}",
            5 - first_version
        )),
        "{}",
        r2.log()
    );
    assert_eq!(times_master(&r1, first, "VI_2"), 1, "{}", r1.log());
    assert_eq!(
        times_master(&r2, Speaker::Keepalived, "VI_2"),
        1,
        "{}",
        r2.log()
    );
    if first == Speaker::Vipd {
        let status = instance(&r1, "VI_2");
        assert_eq!(status.state, "MASTER", "{status:#?}");
        assert!(
            status.dropped.get("version_mismatch").copied().unwrap_or(0) >= 1,
            "{status:#?}"
        );
    }
}

#[test]
fn vipd_v3_and_keepalived_v2_on_one_vrid_both_master_as_keepalived_alone() {
    mixed_versions("coex-v3-v2", Speaker::Vipd, 3);
}

#[test]
fn vipd_v2_and_keepalived_v3_on_one_vrid_both_master_as_keepalived_alone() {
    mixed_versions("coex-v2-v3", Speaker::Vipd, 2);
}

#[test]
fn keepalived_v3_and_keepalived_v2_on_one_vrid_both_master() {
    mixed_versions("coex-ka-v3-v2", Speaker::Keepalived, 3);
}

// --- 4. Other VRIDs on the segment ---------------------------------------------------------

/// keepalived in r3 runs 20 other VRIDs at 100 ms while a v3 vipd pair (VRID 51) elects,
/// fails over and takes back: no transition the pair did not cause, and keepalived's 20
/// instances each entered MASTER once.
#[test]
fn twenty_foreign_vrids_at_100ms_cause_no_transitions_in_a_failing_over_vipd_pair() {
    let lab = Lab::new("coex-vrids", 3);
    let foreign: Vec<VrrpInstance> = (0..20u8)
        .map(|i| {
            VrrpInstance::new(&format!("FOREIGN_{i}"), "eth0", 100 + i)
                .priority(100)
                .version(3)
                .advert(ADVERT)
                .vip(&format!("203.0.113.{}/24", 100 + i))
        })
        .collect();
    let keepalived = lab.spawn_keepalived(3, &conf(3, &foreign));
    let r1 = start_vipd(&lab, 1, &conf(1, &[v3_ipv4(150)]));
    let r2 = start_vipd(&lab, 2, &conf(2, &[v3_ipv4(100)]));
    expect_holders_settle(
        &lab,
        vip4(),
        &[1],
        SETTLE,
        "election beside 20 foreign VRIDs",
    );
    let before = (instance(&r1, "VI_1"), instance(&r2, "VI_1"));
    let mut r1 = r1;
    assert!(r1.stop().success(), "r1 exit:\n{}", r1.log());
    expect_holders_settle(
        &lab,
        vip4(),
        &[2],
        SETTLE,
        "failover beside 20 foreign VRIDs",
    );
    let after = wait_state(&r2, "VI_1", "MASTER");
    assert_eq!(after.transitions, before.1.transitions + 1, "{after:#?}");
    assert_eq!(
        after.became_master,
        before.1.became_master + 1,
        "{after:#?}"
    );
    assert!(
        after.dropped.get("unknown_vrid").copied().unwrap_or(0) >= 20,
        "{after:#?}"
    );
    assert!(
        after
            .dropped
            .iter()
            .all(|(reason, n)| reason == "unknown_vrid" || *n == 0),
        "{after:#?}"
    );
    let r1 = start_vipd(&lab, 1, &conf(1, &[v3_ipv4(150)]));
    expect_holders_settle(
        &lab,
        vip4(),
        &[1],
        SETTLE,
        "r1 back beside 20 foreign VRIDs",
    );
    let back = instance(&r1, "VI_1");
    assert_eq!((back.state.as_str(), back.became_master), ("MASTER", 1));
    let log = keepalived.log();
    for i in 0..20 {
        assert_eq!(
            log.matches(&format!("(FOREIGN_{i}) Entering MASTER STATE"))
                .count(),
            1,
            "{log}"
        );
    }
}
