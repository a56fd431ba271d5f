//! Mixed clusters: vipd, keepalived 2.2.7 and FRR 8.4's vrrpd as three members of ONE
//! virtual router on one segment (needs root, keepalived and FRR; the FRR cases are skipped
//! with a message without it). `lab_vipd_interop.rs` and `lab_frr.rs` cover pairs; here
//! every member hears two foreign implementations at once.
//!
//! - VRRPv3 IPv4 and IPv6 with all three, VRRPv2 (PASS) with vipd and keepalived: the master
//!   of each kind is stopped in turn and comes back (preempting, and with `nopreempt`), and
//!   vipd's priority is changed by a reload, down and up;
//! - equal priorities: the higher primary address wins (RFC 5798 6.4.3, RFC 3768 6.4.3),
//!   and vipd agrees with the others on who that is;
//! - a ucarp pair (CARP, also protocol 112 to 224.0.0.18) with vhid = the VRID beside a v2
//!   pair: ucarp must be disturbed by a vipd pair no more than by a keepalived pair, and vipd
//!   must not log per CARP packet (`lab_coexistence.rs` covers the VRRP pair's side).
//!
//! At every settle point exactly one router serves the VIP (has it on a running
//! interface; FRR keeps it on a protodown macvlan while backup), it stays alone for a
//! while, every member reports the state that goes with it, and the client's pings are
//! answered by the expected router's MAC (FRR: the virtual MAC).

mod lab;
mod lab_vipd_support;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use lab::frr::{self, serving, Frr, FrrRouter};
use lab::keepalived_conf::{InitialState, VrrpInstance};
use lab::{wait_until, Daemon, Lab, Segment};
use lab_vipd_support::*;

/// How long a settled segment is watched: the sole server must not change.
const WATCH: Duration = Duration::from_secs(2);

/// What only the mixed clusters need of a [`Variant`].
impl Variant {
    /// Bound for an election or a failover with a keepalived or FRR start in it.
    fn start_settle(self) -> Duration {
        match self {
            Variant::V2Pass => Duration::from_secs(15),
            _ => Duration::from_secs(10),
        }
    }

    fn frr(self, priority: u8, advert: Duration) -> FrrRouter {
        FrrRouter {
            vrid: self.vrid(),
            version: 3,
            priority,
            advert,
            addresses: vec![self.vip().to_string()],
        }
    }

    /// The MAC FRR answers from (its macvlan).
    fn frr_mac(self) -> String {
        let kind = if self.ipv6() { 2 } else { 1 };
        format!("00:00:5e:00:{kind:02x}:{:02x}", self.vrid())
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Vipd,
    Keepalived,
    Frr,
}

enum Member {
    Vipd(Daemon),
    Keepalived(Daemon),
    Frr(Frr),
}

/// One lab whose routers are members of one virtual router, each of some kind.
struct Cluster {
    lab: Lab,
    variant: Variant,
    kinds: Vec<Kind>,
    /// By router - 1; None while stopped.
    members: Vec<Option<Member>>,
    /// Settle points passed, for the report.
    steps: Vec<String>,
}

impl Cluster {
    /// None (skipped, with a message) when a member is FRR and FRR is not installed.
    fn new(test: &str, variant: Variant, kinds: &[Kind]) -> Option<Cluster> {
        if kinds.contains(&Kind::Frr) && !frr::installed() {
            eprintln!("SKIPPED {test}: FRR is not installed (apt-get install frr)");
            return None;
        }
        Some(Cluster {
            lab: Lab::new(test, kinds.len()),
            variant,
            kinds: kinds.to_vec(),
            members: kinds.iter().map(|_| None).collect(),
            steps: Vec::new(),
        })
    }

    fn kind(&self, router: usize) -> Kind {
        self.kinds[router - 1]
    }

    /// Starts `router`'s member with `instance` (FRR: only its priority and interval).
    fn start(&mut self, router: usize, instance: VrrpInstance) {
        let member = match self.kind(router) {
            Kind::Vipd => Member::Vipd(start_vipd(&self.lab, router, &conf(router, &[instance]))),
            Kind::Keepalived => Member::Keepalived(
                self.lab
                    .spawn_keepalived(router, &conf(router, &[instance])),
            ),
            Kind::Frr => {
                let priority = instance.priority.expect("FRR member needs a priority");
                let advert = instance.advert_interval.unwrap_or(ADVERT);
                Member::Frr(Frr::start(
                    &self.lab,
                    router,
                    &[self.variant.frr(priority, advert)],
                ))
            }
        };
        self.members[router - 1] = Some(member);
    }

    /// SIGTERM to a vipd or keepalived member (both send priority 0 on the way out).
    fn stop(&mut self, router: usize) {
        match self.members[router - 1].take() {
            Some(Member::Vipd(mut d)) | Some(Member::Keepalived(mut d)) => {
                assert!(d.stop().success(), "r{router} exit:\n{}", d.log());
            }
            Some(Member::Frr(_)) => panic!("stop FRR with frr_configure"),
            None => panic!("r{router} is not running"),
        }
    }

    /// Rewrites a vipd member's configuration and reloads it (SIGHUP).
    fn reload_vipd(&self, router: usize, instance: VrrpInstance) {
        let Some(Member::Vipd(d)) = &self.members[router - 1] else {
            panic!("r{router} is not a running vipd");
        };
        let done = d.log().matches("reload done").count();
        rewrite_conf(d, &conf(router, &[instance]));
        d.reload();
        let ok = wait_until(SETTLE, Duration::from_millis(20), || {
            d.log().matches("reload done").count() > done
        });
        assert!(ok.is_some(), "r{router}: reload not done:\n{}", d.log());
    }

    fn vipd(&self, router: usize) -> &Daemon {
        match &self.members[router - 1] {
            Some(Member::Vipd(d)) => d,
            _ => panic!("r{router} is not a running vipd"),
        }
    }

    /// vtysh commands for FRR's interface (`vrrp 51 shutdown`, `no vrrp 51 shutdown`).
    fn frr_configure(&self, router: usize, command: &str) {
        match &self.members[router - 1] {
            Some(Member::Frr(f)) => f.configure(&[command]),
            _ => panic!("r{router} is not a running FRR"),
        }
    }

    /// What a member says it is: "MASTER", "BACKUP", something else, or None (stopped).
    fn view(&self, router: usize) -> Option<String> {
        let name = self.variant.name();
        match self.members[router - 1].as_ref()? {
            Member::Vipd(d) => Some(instance(d, name).state),
            Member::Keepalived(d) => {
                let log = d.log();
                let last = ["MASTER", "BACKUP", "FAULT"]
                    .iter()
                    .filter_map(|s| {
                        log.rfind(&format!("({name}) Entering {s} STATE"))
                            .map(|at| (at, *s))
                    })
                    .max();
                Some(last.map_or("INIT", |(_, s)| s).to_owned())
            }
            Member::Frr(f) => Some(
                f.status(self.variant.vrid(), self.variant.ipv6())
                    .map(|s| s.to_uppercase())
                    .unwrap_or_default(),
            ),
        }
    }

    /// The MAC the client must see for the VIP when `router` is master.
    fn mac_of(&self, router: usize) -> String {
        match self.kind(router) {
            Kind::Frr => self.variant.frr_mac(),
            _ => Segment::Main.router_mac_text(router),
        }
    }

    /// The settle point: `master` alone serves the VIP, every running member agrees (the
    /// master says MASTER, the others BACKUP; FRR shut down says INITIALIZE), that stays so
    /// for `WATCH`, and the client's pings are answered from `master`'s MAC.
    fn expect_master(&mut self, master: usize, why: &str) {
        self.settle(&[master], why);
    }

    /// Like `expect_master` for whichever of `allowed` ends up the sole master; returns it.
    /// A member outside `allowed` may be master for a moment on the way (a lower priority
    /// that started first, until a higher one's Master_Down_Interval runs out).
    fn expect_one_master_among(&mut self, allowed: &[usize], why: &str) -> usize {
        self.settle(allowed, why)
    }

    fn settle(&mut self, allowed: &[usize], why: &str) -> usize {
        let vip = self.variant.vip();
        let settle = self.variant.start_settle();
        let started = Instant::now();
        let mut views = Vec::new();
        let mut master = 0;
        let agreed = wait_until(settle, Duration::from_millis(20), || {
            let now = serving(&self.lab, vip);
            let [only] = now[..] else {
                return false;
            };
            if !allowed.contains(&only) {
                return false;
            }
            master = only;
            views = self.views();
            views.iter().all(|(r, view)| match view.as_deref() {
                None | Some("INITIALIZE") => *r != master,
                Some(v) => (v == "MASTER") == (*r == master) && (v == "MASTER" || v == "BACKUP"),
            })
        });
        assert!(
            agreed.is_some(),
            "{why}: {} should be the only master; serving {:?}, views {:?}",
            match allowed {
                [m] => format!("r{m} ({:?})", self.kind(*m)),
                _ => format!("one of {allowed:?}"),
            },
            serving(&self.lab, vip),
            self.views()
        );
        let watch = Instant::now();
        while watch.elapsed() < WATCH {
            let now = serving(&self.lab, vip);
            assert_eq!(
                now,
                [master],
                "{why}: the server of {vip} changed while watched; views {:?}",
                self.views()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let mac = self.mac_of(master);
        let mut seen = None;
        let served = wait_until(settle, Duration::from_millis(50), || {
            let ok = self.lab.client_ping(vip);
            seen = client_neighbour_mac(&self.lab, vip);
            ok && seen.as_deref() == Some(mac.as_str())
        });
        assert!(
            served.is_some(),
            "{why}: the client should reach {vip} at r{master}'s {mac}, its entry is {seen:?}"
        );
        let step = format!(
            "{why}: r{master} ({:?}) sole master after {:.1?}, views {views:?}",
            self.kind(master),
            started.elapsed()
        );
        eprintln!("{}: {step}", self.lab.test_name());
        self.steps.push(step);
        master
    }

    fn views(&self) -> Vec<(usize, Option<String>)> {
        self.lab
            .router_indices()
            .map(|r| (r, self.view(r)))
            .collect()
    }

    fn report(&self) {
        eprintln!(
            "{} covered {} settle points:\n  {}",
            self.lab.test_name(),
            self.steps.len(),
            self.steps.join("\n  ")
        );
    }
}

fn nopreempt(instance: VrrpInstance) -> VrrpInstance {
    instance.state(InitialState::Backup).nopreempt()
}

/// r1 vipd 150, r2 keepalived 120, r3 FRR 100 (VRRPv3). Each kind's master leaves in turn
/// and comes back; vipd comes back with `nopreempt`, is reloaded down below both others and
/// then up above them without `nopreempt`.
fn three_speakers_fail_over_in_turn(test: &str, variant: Variant) {
    let Some(mut c) = Cluster::new(test, variant, &[Kind::Vipd, Kind::Keepalived, Kind::Frr])
    else {
        return;
    };
    let v = variant;
    let vrid = v.vrid();
    c.start(3, v.instance(100));
    c.start(2, v.instance(120));
    c.start(1, v.instance(150));
    c.expect_master(1, "election: vipd 150, keepalived 120, FRR 100");

    c.stop(1);
    c.expect_master(2, "vipd master stopped (priority 0)");
    c.start(1, nopreempt(v.instance(150)));
    c.expect_master(2, "vipd back with nopreempt: keepalived stays");
    let vipd = instance(c.vipd(1), v.name());
    assert!(vipd.dropped.values().all(|&n| n == 0), "{vipd:#?}");

    c.stop(2);
    c.expect_master(1, "keepalived master stopped: vipd 150 over FRR 100");
    c.start(2, v.instance(120));
    c.expect_master(1, "keepalived back at 120: vipd 150 stays");

    c.reload_vipd(1, nopreempt(v.instance(90)));
    c.expect_master(2, "vipd reloaded to 90: keepalived 120 preempts");
    c.stop(2);
    c.expect_master(3, "keepalived master stopped: FRR 100 over vipd 90");

    c.frr_configure(3, &format!("vrrp {vrid} shutdown"));
    c.expect_master(1, "FRR master shut down (priority 0)");
    c.frr_configure(3, &format!("no vrrp {vrid} shutdown"));
    c.expect_master(3, "FRR back at 100: preempts vipd 90");

    c.reload_vipd(1, v.instance(200));
    c.expect_master(1, "vipd reloaded to 200 without nopreempt: preempts FRR");
    let vipd = instance(c.vipd(1), v.name());
    assert_eq!(vipd.base_priority, 200, "{vipd:#?}");
    assert!(vipd.dropped.values().all(|&n| n == 0), "{vipd:#?}");
    c.report();
}

#[test]
fn vipd_keepalived_frr_v3_ipv4_one_master_through_failovers_reloads_and_returns() {
    three_speakers_fail_over_in_turn("mixed-3-v4", Variant::V3Ipv4);
}

#[test]
fn vipd_keepalived_frr_v3_ipv6_one_master_through_failovers_reloads_and_returns() {
    three_speakers_fail_over_in_turn("mixed-3-v6", Variant::V3Ipv6);
}

/// VRRPv2 with PASS (FRR has no v2 authentication): r1 vipd 150, r2 keepalived 120.
#[test]
fn vipd_keepalived_v2_pass_one_master_through_failovers_reloads_and_returns() {
    let v = Variant::V2Pass;
    let Some(mut c) = Cluster::new("mixed-2-v2", v, &[Kind::Vipd, Kind::Keepalived]) else {
        return;
    };
    c.start(2, v.instance(120));
    c.start(1, v.instance(150));
    c.expect_master(1, "election: vipd 150, keepalived 120");
    c.stop(1);
    c.expect_master(2, "vipd master stopped");
    c.start(1, nopreempt(v.instance(150)));
    c.expect_master(2, "vipd back with nopreempt: keepalived stays");
    c.stop(2);
    c.expect_master(1, "keepalived master stopped");
    c.start(2, v.instance(120));
    c.expect_master(1, "keepalived back at 120: vipd 150 stays");
    c.reload_vipd(1, nopreempt(v.instance(90)));
    c.expect_master(2, "vipd reloaded to 90: keepalived preempts");
    c.reload_vipd(1, v.instance(200));
    c.expect_master(1, "vipd reloaded to 200 without nopreempt: preempts");
    let vipd = instance(c.vipd(1), v.name());
    assert!(vipd.dropped.values().all(|&n| n == 0), "{vipd:#?}");
    c.report();
}

/// VRRPv3 lets every router pick its own interval; a backup times out on the master's
/// (Master_Adver_Interval, RFC 5798 6.4.2). r1 vipd 100 ms, r2 keepalived 1 s, r3 FRR 500 ms:
/// each master in turn must be followed without a backup timing out on its own, faster,
/// interval (that would show as a second server while watched).
#[test]
fn vipd_keepalived_frr_with_three_advert_intervals_follow_each_masters_interval() {
    let v = Variant::V3Ipv4;
    let Some(mut c) = Cluster::new("mixed-ints", v, &[Kind::Vipd, Kind::Keepalived, Kind::Frr])
    else {
        return;
    };
    let instance = |priority, ms| v.instance(priority).advert(Duration::from_millis(ms));
    c.start(3, instance(120, 500));
    c.start(2, instance(150, 1000));
    c.start(1, instance(100, 100));
    c.expect_master(
        2,
        "keepalived 150 at 1 s over FRR 120 at 500 ms and vipd 100 at 100 ms",
    );
    let heard = instance_status_when(&c, 1, |i| i.master_address.as_deref() == Some("192.0.2.12"));
    assert!(heard.dropped.values().all(|&n| n == 0), "{heard:#?}");
    c.stop(2);
    c.expect_master(
        3,
        "keepalived stopped: FRR at 500 ms followed by vipd at 100 ms",
    );
    c.frr_configure(3, "vrrp 51 shutdown");
    c.expect_master(1, "FRR shut down: vipd at 100 ms");
    c.start(2, instance(150, 1000));
    c.expect_master(2, "keepalived back at 1 s preempts vipd");
    c.frr_configure(3, "no vrrp 51 shutdown");
    c.expect_master(2, "FRR back at 500 ms below keepalived");
    c.report();
}

/// vipd's status in `router` once `cond` holds.
fn instance_status_when(
    c: &Cluster,
    router: usize,
    cond: impl FnMut(&vipd::control::InstanceStatus) -> bool,
) -> vipd::control::InstanceStatus {
    wait_instance(
        c.vipd(router),
        c.variant.name(),
        c.variant.start_settle(),
        "as expected",
        cond,
    )
}

// --- Equal priorities ----------------------------------------------------------------------

/// Members of `kinds` in r1.. with `priorities`. Whoever is master first stays master: a
/// backup hearing an equal priority keeps waiting (RFC 5798 6.4.2), so the address decides
/// only between two masters (6.4.3). The test makes that happen: every member with the top
/// priority is cut off the segment until it is master, then all are healed at once; the one
/// with the highest primary address (IPv4 192.0.2.(10+r), IPv6 the sender's link-local
/// address) must stay master and the others, of every kind, yield to it.
fn tie(test: &str, variant: Variant, kinds: &[Kind], priorities: &[u8], winner: usize) {
    let Some(mut c) = Cluster::new(test, variant, kinds) else {
        return;
    };
    // FRR first: it starts slowest, so nobody is master alone for long before it listens.
    let mut order: Vec<usize> = c.lab.router_indices().collect();
    order.sort_by_key(|&r| c.kind(r) != Kind::Frr);
    for &r in &order {
        c.start(r, variant.instance(priorities[r - 1]));
    }
    let top = priorities.iter().copied().max().unwrap_or(0);
    let tied: Vec<usize> = c
        .lab
        .router_indices()
        .filter(|&r| priorities[r - 1] == top)
        .collect();
    // A lower priority that listens first may be master until a tied member's
    // Master_Down_Interval runs out; the settle point is a tied member alone.
    c.expect_one_master_among(
        &tied,
        &format!("tie at {priorities:?}, started in order {order:?}"),
    );
    for &r in &tied {
        c.lab.partition(r);
    }
    let all_master = wait_until(variant.start_settle(), Duration::from_millis(20), || {
        tied.iter().all(|&r| c.view(r).as_deref() == Some("MASTER"))
    });
    assert!(
        all_master.is_some(),
        "cut off, each tied member should be master: {:?}",
        c.views()
    );
    for &r in &tied {
        c.lab.heal(r);
    }
    c.expect_master(winner, &format!("tied masters {tied:?} healed together"));
    for r in c.lab.router_indices().filter(|&r| c.kind(r) == Kind::Vipd) {
        let status = instance(c.vipd(r), variant.name());
        if r != winner && variant != Variant::V3Ipv6 {
            assert_eq!(
                status.master_address,
                Some(router_ip4(winner).to_string()),
                "vipd in r{r} must name the tie's winner: {status:#?}"
            );
        }
        assert!(status.dropped.values().all(|&n| n == 0), "{status:#?}");
    }
    c.report();
}

#[test]
fn tie_v3_ipv4_keepalived_on_the_higher_address_beats_vipd() {
    use Kind::*;
    tie(
        "tie-v4-ka",
        Variant::V3Ipv4,
        &[Vipd, Keepalived, Frr],
        &[150, 150, 100],
        2,
    );
}

#[test]
fn tie_v3_ipv4_vipd_on_the_highest_address_beats_keepalived_and_frr() {
    use Kind::*;
    tie(
        "tie-v4-vipd",
        Variant::V3Ipv4,
        &[Keepalived, Frr, Vipd],
        &[150, 150, 150],
        3,
    );
}

#[test]
fn tie_v3_ipv4_frr_on_the_higher_address_beats_vipd() {
    use Kind::*;
    tie(
        "tie-v4-frr",
        Variant::V3Ipv4,
        &[Vipd, Keepalived, Frr],
        &[150, 100, 150],
        3,
    );
}

/// IPv6 compares link-local sources: vipd's and keepalived's are the EUI-64 of the lab MACs
/// (fe80::76:74ff:fe00:R), so the higher router wins among them.
#[test]
fn tie_v3_ipv6_vipd_on_the_higher_link_local_beats_keepalived() {
    use Kind::*;
    tie(
        "tie-v6-vipd",
        Variant::V3Ipv6,
        &[Keepalived, Vipd, Frr],
        &[150, 150, 100],
        2,
    );
}

#[test]
fn tie_v2_keepalived_on_the_higher_address_beats_vipd() {
    use Kind::*;
    tie(
        "tie-v2-ka",
        Variant::V2Pass,
        &[Vipd, Keepalived],
        &[150, 150],
        2,
    );
}

#[test]
fn tie_v2_vipd_on_the_higher_address_beats_keepalived() {
    use Kind::*;
    tie(
        "tie-v2-vipd",
        Variant::V2Pass,
        &[Keepalived, Vipd],
        &[150, 150],
        2,
    );
}

// --- ucarp beside a VRRP pair ---------------------------------------------------------------

/// How long the pair and the ucarps run side by side, watched.
const UCARP_WATCH: Duration = Duration::from_secs(6);

fn ucarp_vip() -> IpAddr {
    "192.0.2.200".parse().expect("address")
}

/// What a ucarp pair lived through beside a VRRP pair of `speaker`s.
#[derive(Debug)]
struct UcarpBeside {
    /// ucarp's "Switching to state" lines (both ucarps) after the VRRP pair started.
    ucarp_switches: usize,
    /// Holder sets of ucarp's address seen while watched.
    ucarp_holders: std::collections::BTreeSet<Vec<usize>>,
    /// Lines the VRRP pair logged while watched.
    pair_log: Vec<String>,
    /// vipd: CARP adverts the pair dropped as truncated while watched.
    vipd_truncated: u64,
}

/// ucarp in r3 (advskew 0, master) and r4 (advskew 100, backup), vhid 61, adding and
/// removing 192.0.2.200 in their scripts; then a v2 pair of `speaker`s (r1 150, r2 100,
/// VRID 61, PASS).
fn ucarp_beside(test: &str, speaker: Kind) -> UcarpBeside {
    let lab = Lab::new(test, 4);
    let up = lab.write_script(
        "ucarp-up",
        "#!/bin/sh\nexec ip addr add \"$2\"/24 dev \"$1\"\n",
    );
    let down = lab.write_script(
        "ucarp-down",
        "#!/bin/sh\nexec ip addr del \"$2\"/24 dev \"$1\"\n",
    );
    let ucarp = |router: usize, skew: &str| {
        let src = Segment::Main.router_ip4(router).to_string();
        lab.spawn(
            router,
            &[
                "ucarp",
                "--interface=eth0",
                &format!("--srcip={src}"),
                "--vhid=61",
                "--pass=secret",
                "--addr=192.0.2.200",
                "--advbase=1",
                &format!("--advskew={skew}"),
                &format!("--upscript={}", up.display()),
                &format!("--downscript={}", down.display()),
            ],
            &[],
        )
    };
    let carp3 = ucarp(3, "0");
    let carp4 = ucarp(4, "100");
    let elected = wait_until(Duration::from_secs(15), Duration::from_millis(50), || {
        lab.holders(ucarp_vip()) == [3]
    });
    assert!(
        elected.is_some(),
        "ucarp should elect r3: holders {:?}\n{}\n{}",
        lab.holders(ucarp_vip()),
        carp3.log(),
        carp4.log()
    );
    let switches = |logs: &[&Daemon]| -> usize {
        logs.iter()
            .map(|d| d.log().matches("Switching to state").count())
            .sum()
    };
    let before = switches(&[&carp3, &carp4]);
    let text = |router, priority| conf(router, &[v2_pass(priority)]);
    let (r1, r2) = match speaker {
        Kind::Vipd => (
            start_vipd(&lab, 1, &text(1, 150)),
            start_vipd(&lab, 2, &text(2, 100)),
        ),
        _ => (
            lab.spawn_keepalived(1, &text(1, 150)),
            lab.spawn_keepalived(2, &text(2, 100)),
        ),
    };
    let vip2: IpAddr = "192.0.2.101".parse().expect("address");
    let settled = wait_until(Duration::from_secs(15), Duration::from_millis(20), || {
        lab.holders(vip2) == [1]
    });
    assert!(
        settled.is_some(),
        "{speaker:?} pair: holders {:?}",
        lab.holders(vip2)
    );
    let lines_before = [r1.log().lines().count(), r2.log().lines().count()];
    let truncated = |d: &Daemon| {
        instance(d, "VI_2")
            .dropped
            .get("truncated")
            .copied()
            .unwrap_or(0)
    };
    let truncated_before = if speaker == Kind::Vipd {
        truncated(&r1) + truncated(&r2)
    } else {
        0
    };
    let mut ucarp_holders = std::collections::BTreeSet::new();
    let watch = Instant::now();
    while watch.elapsed() < UCARP_WATCH {
        ucarp_holders.insert(lab.holders(ucarp_vip()));
        std::thread::sleep(Duration::from_millis(50));
    }
    let vipd_truncated = if speaker == Kind::Vipd {
        truncated(&r1) + truncated(&r2) - truncated_before
    } else {
        0
    };
    UcarpBeside {
        ucarp_switches: switches(&[&carp3, &carp4]) - before,
        ucarp_holders,
        pair_log: [&r1, &r2]
            .iter()
            .zip(lines_before)
            .flat_map(|(d, n)| {
                d.log()
                    .lines()
                    .skip(n)
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect(),
        vipd_truncated,
    }
}

#[test]
fn ucarp_on_the_vrid_is_disturbed_by_a_vipd_pair_no_more_than_by_keepalived() {
    let (vipd, keepalived) = std::thread::scope(|scope| {
        let vipd = scope.spawn(|| ucarp_beside("ucarp-vipd", Kind::Vipd));
        let keepalived = scope.spawn(|| ucarp_beside("ucarp-ka", Kind::Keepalived));
        (
            vipd.join().expect("vipd side"),
            keepalived.join().expect("keepalived side"),
        )
    });
    eprintln!(
        "ucarp beside a vipd pair: {vipd:#?}\nucarp beside a keepalived pair: {keepalived:#?}"
    );
    assert_eq!(
        vipd.ucarp_holders,
        std::collections::BTreeSet::from([vec![3]]),
        "ucarp's address must stay with r3 beside vipd"
    );
    assert!(
        vipd.ucarp_switches <= keepalived.ucarp_switches,
        "ucarp switched state more often beside vipd: {vipd:#?} {keepalived:#?}"
    );
    // The master ucarp sends one advert a second, read by both routers: each is counted;
    // lines about them are debug only and at most one a second per router, whatever the rate.
    assert!(vipd.vipd_truncated >= 4, "{vipd:#?}");
    let drop_lines: Vec<&String> = vipd
        .pair_log
        .iter()
        .filter(|l| l.contains("dropped"))
        .collect();
    assert!(
        drop_lines.iter().all(|l| l.contains(" DEBUG ")),
        "vipd logs CARP drops above debug: {drop_lines:#?}"
    );
    assert!(
        drop_lines.len() as u64 <= 2 * (UCARP_WATCH.as_secs() + 1),
        "vipd logs CARP drops more than once a second: {drop_lines:#?}"
    );
    assert!(
        vipd.pair_log.iter().all(|l| !l.contains("MASTER")),
        "the vipd pair changed state beside ucarp: {:#?}",
        vipd.pair_log
    );
}
