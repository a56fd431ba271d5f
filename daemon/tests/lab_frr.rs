//! vipd with FRR 8.4's vrrpd (an independent VRRP implementation) on one segment, for
//! VRRPv3 IPv4, VRRPv3 IPv6 (both with vipd on a VMAC, as FRR is) and VRRPv2: each elects
//! the right master either way round, takes over when the other master loses its link or
//! shuts down (FRR: `vrrp N shutdown`, priority 0; vipd: SIGTERM, a loss-free planned
//! handover), and the higher priority preempts back. Needs root and the `frr` package;
//! skipped with a message without it.
//!
//! FRR 8.4 behaviours these tests expect (not worked around in vipd): it ignores its own
//! link going down (FRR issue 10364), so after its link comes back it is still master; it
//! always puts the IPv4 pseudo-header in the v3 checksum (vipd's default too); its VRRPv2
//! advert interval is whole seconds.

mod lab;
mod lab_vipd_support;

use std::net::IpAddr;
use std::time::Duration;

use lab::frr::{self, serving, Frr, FrrRouter};
use lab::keepalived_conf::VrrpInstance;
use lab::{wait_until, Daemon, Lab};
use lab_vipd_support::*;
use vipd::control::InstanceStatus;

/// What only the FRR labs need of a [`Variant`].
impl Variant {
    /// The virtual MAC both sides use (v3: vipd on a VMAC).
    fn vmac(self) -> Option<&'static str> {
        match self {
            Variant::V3Ipv4 => Some("00:00:5e:00:01:33"),
            Variant::V3Ipv6 => Some("00:00:5e:00:02:34"),
            Variant::V2Pass => None,
        }
    }

    /// vipd's side: on a VMAC for v3 (as FRR), on eth0 for v2, there without the password
    /// (FRR has no authentication).
    fn vipd(self, priority: u8) -> VrrpInstance {
        match self {
            Variant::V3Ipv4 => v3_ipv4(priority).line("use_vmac"),
            Variant::V3Ipv6 => v3_ipv6(priority).line("use_vmac"),
            Variant::V2Pass => VrrpInstance::new("VI_2", "eth0", 61)
                .priority(priority)
                .version(2)
                .advert(Duration::from_secs(1))
                .vip("192.0.2.101/24"),
        }
    }

    fn frr(self, priority: u8) -> FrrRouter {
        FrrRouter {
            vrid: self.vrid(),
            version: if self == Variant::V2Pass { 2 } else { 3 },
            priority,
            advert: self.advert(),
            addresses: vec![self.vip().to_string()],
        }
    }
}

fn frr_missing() -> bool {
    if frr::installed() {
        return false;
    }
    eprintln!("SKIPPED: FRR is not installed (apt-get install frr; .ci/run installs it)");
    true
}

/// Waits until `router` serves `vip`: alone (`sole`), or with others (FRR ignores its own
/// link going down, so while cut off it still believes it is master).
fn expect_server(lab: &Lab, vip: IpAddr, router: usize, sole: bool, timeout: Duration, why: &str) {
    let ok = wait_until(timeout, Duration::from_millis(10), || {
        let serving = serving(lab, vip);
        serving.contains(&router) && (!sole || serving.len() == 1)
    });
    let only = if sole { "the only router " } else { "" };
    assert!(
        ok.is_some(),
        "{why}: r{router} should be {only}serving {vip}, they are {:?}",
        serving(lab, vip)
    );
}

/// A lab of two routers, vipd in r1 and FRR in r2, for one variant.
struct Scenario {
    lab: Lab,
    variant: Variant,
    vip: IpAddr,
    settle: Duration,
}

impl Scenario {
    /// None (skipped, with a message) without FRR.
    fn new(test: &str, variant: Variant) -> Option<Scenario> {
        if frr_missing() {
            return None;
        }
        Some(Scenario {
            lab: Lab::new(test, 2),
            variant,
            vip: variant.vip(),
            settle: variant.settle(),
        })
    }

    /// Waits until `router` alone serves the VIP.
    fn expect_sole_server(&self, router: usize, why: &str) {
        expect_server(&self.lab, self.vip, router, true, self.settle, why);
    }

    /// Waits until FRR reports `state` (`Master`, `Backup`).
    fn expect_frr(&self, frr: &Frr, state: &str) {
        let v = self.variant;
        frr.wait_status(v.vrid(), v.ipv6(), state, self.settle);
    }

    fn wait_vipd(&self, vipd: &Daemon, state: &str) -> InstanceStatus {
        wait_state(vipd, self.variant.name(), state)
    }
}

/// Longer than the kernel's MLDv2 unsolicited report interval (1 s), within which it repeats
/// a new address's report.
const MLD_REPEATS_OVER: Duration = Duration::from_millis(1100);

/// r1: vipd priority 150 (master), r2: FRR priority 100.
fn vipd_master_frr_backup(test: &str, variant: Variant) {
    let Some(s) = Scenario::new(test, variant) else {
        return;
    };
    let (lab, vip) = (&s.lab, s.vip);
    let frr = Frr::start(lab, 2, &[variant.frr(100)]);
    let vipd_text = conf(1, &[variant.vipd(150)]);
    let mut vipd = start_vipd(lab, 1, &vipd_text);
    s.expect_sole_server(1, "election");
    s.expect_frr(&frr, "Backup");
    let seen = s.wait_vipd(&vipd, "MASTER");
    assert!(seen.dropped.values().all(|&n| n == 0), "{seen:#?}");
    let vmac = variant.vmac();
    if let Some(mac) = vmac {
        assert_eq!(
            reach_and_read_neighbour(lab, vip),
            mac,
            "vipd master on its VMAC"
        );
    } else {
        assert!(lab.client_ping(vip), "client cannot reach {vip}");
    }

    // vipd loses its link: FRR takes over; vipd (FAULT) gives the VIP up.
    lab.link_down(1);
    s.expect_frr(&frr, "Master");
    s.expect_sole_server(2, "vipd's link down");
    lab.link_up(1);
    s.expect_sole_server(1, "vipd preempts back after its link returns");
    s.expect_frr(&frr, "Backup");
    // The kernel repeats the MLD report of the VMAC's new IPv6 addresses within a second of
    // their coming up (MLDv2's unsolicited report interval), from the virtual MAC. One that
    // leaves during the handover's linger, after FRR announced itself, pulls the bridge back
    // to vipd's port until FRR's next advert (a documented limit: see REFERENCE.md, VMACs).
    // A planned stop comes long after the preemption in practice; wait those repeats out.
    std::thread::sleep(MLD_REPEATS_OVER);

    // Planned handover to FRR: no ping lost.
    let meter = lab.outage_meter(&[vip], Duration::from_millis(2));
    assert!(
        meter.wait_replies(20, s.settle),
        "no replies before the stop"
    );
    assert!(vipd.stop().success(), "vipd exit:\n{}", vipd.log());
    s.expect_frr(&frr, "Master");
    s.expect_sole_server(2, "vipd stopped");
    assert!(
        meter.wait_replies(50, s.settle),
        "no replies after the stop"
    );
    if let Some(mac) = vmac {
        // Same virtual MAC on FRR's macvlan: the client's entry never changed.
        assert_eq!(client_neighbour_mac(lab, vip).as_deref(), Some(mac));
    }
    // Drained: the echo sent just before the stop still has its reply on the way, and a
    // plain stop counted it as lost (about one run in fifteen). What is missing after the
    // drain was lost.
    let report = meter.stop_drained(Duration::from_secs(2));
    eprintln!("{test}: planned handover from vipd to FRR:\n{report}");
    assert_eq!(report.lost(), 0, "the handover to FRR lost pings\n{report}");
    // Replies from a virtual MAC do not tell which router sent them.
    if let Some(replier) = report.target(vip).last_replier() {
        assert_eq!(replier, 2, "{report}");
    }

    // vipd comes back and preempts again.
    let vipd = start_vipd(lab, 1, &vipd_text);
    s.expect_sole_server(1, "vipd restarted");
    s.expect_frr(&frr, "Backup");
    s.wait_vipd(&vipd, "MASTER");
}

/// r1: vipd priority 100, r2: FRR priority 150 (master).
fn frr_master_vipd_backup(test: &str, variant: Variant) {
    let Some(s) = Scenario::new(test, variant) else {
        return;
    };
    let (lab, vip, name) = (&s.lab, s.vip, variant.name());
    let frr = Frr::start(lab, 2, &[variant.frr(150)]);
    let vipd: Daemon = start_vipd(lab, 1, &conf(1, &[variant.vipd(100)]));
    s.expect_frr(&frr, "Master");
    s.expect_sole_server(2, "election");
    let seen = wait_instance(&vipd, name, s.settle, "BACKUP hearing FRR", |i| {
        i.state == "BACKUP" && i.adverts_received >= 2
    });
    assert!(seen.dropped.values().all(|&n| n == 0), "{seen:#?}");
    if !variant.ipv6() {
        assert_eq!(seen.master_address.as_deref(), Some("192.0.2.12"));
    }
    assert!(lab.client_ping(vip), "client cannot reach {vip}");

    // FRR loses its link: vipd takes over (FRR does not notice, issue 10364).
    lab.link_down(2);
    s.wait_vipd(&vipd, "MASTER");
    expect_server(lab, vip, 1, false, s.settle, "FRR's link down");
    lab.link_up(2);
    // FRR still believes it is master and, with the higher priority, stays it.
    s.expect_sole_server(2, "FRR's link back");
    s.wait_vipd(&vipd, "BACKUP");

    // FRR shuts the virtual router down: priority 0, vipd takes over at once.
    let vrid_text = variant.vrid().to_string();
    frr.configure(&[&format!("vrrp {vrid_text} shutdown")]);
    s.wait_vipd(&vipd, "MASTER");
    s.expect_sole_server(1, "FRR shut down");
    let taken = wait_instance(&vipd, name, s.settle, "MASTER", |i| i.state == "MASTER");
    assert!(
        taken
            .last_transition_reason
            .as_deref()
            .is_some_and(|r| r.contains("priority 0")),
        "vipd should take over on FRR's priority 0 advert: {taken:#?}"
    );
    frr.configure(&[&format!("no vrrp {vrid_text} shutdown")]);
    s.expect_sole_server(2, "FRR preempts back");
    s.expect_frr(&frr, "Master");
    s.wait_vipd(&vipd, "BACKUP");
}

#[test]
fn frr_interop_vipd_master_v3_ipv4() {
    vipd_master_frr_backup("frr-vipd-v3-4", Variant::V3Ipv4);
}

#[test]
fn frr_interop_frr_master_v3_ipv4() {
    frr_master_vipd_backup("frr-frr-v3-4", Variant::V3Ipv4);
}

#[test]
fn frr_interop_vipd_master_v3_ipv6() {
    vipd_master_frr_backup("frr-vipd-v3-6", Variant::V3Ipv6);
}

#[test]
fn frr_interop_frr_master_v3_ipv6() {
    frr_master_vipd_backup("frr-frr-v3-6", Variant::V3Ipv6);
}

#[test]
fn frr_interop_vipd_master_v2() {
    vipd_master_frr_backup("frr-vipd-v2", Variant::V2Pass);
}

#[test]
fn frr_interop_frr_master_v2() {
    frr_master_vipd_backup("frr-frr-v2", Variant::V2Pass);
}
