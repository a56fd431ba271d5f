//! Routes, rules and namespaces in the namespace lab (needs root): `virtual_routes` /
//! `virtual_rules` follow the master and leave with it, static addresses/routes/rules are
//! held while vipd runs, only what vipd added is removed, and `net_namespace` puts vipd
//! into the named namespace.

mod lab;
mod lab_vipd_support;

use std::time::Duration;

use lab::keepalived_conf::KeepalivedConf;
use lab::{wait_until, Lab};
use lab_vipd_support::*;

/// The routes and rules of the tests, as `ip` prints what matches them.
const ROUTE4: &str = "203.0.113.0/24";
const BLACKHOLE: &str = "198.51.101.0/24";
const ROUTE6: &str = "2001:db8:5::/48";
const SHARED: &str = "198.51.102.0/24";

fn routing_lines() -> &'static str {
    "    virtual_routes {\n\
     \x20       203.0.113.0/24 via 192.0.2.250 dev eth0\n\
     \x20       src 192.0.2.100 198.51.100.128/25 via 192.0.2.250 dev eth0 table 100\n\
     \x20       blackhole 198.51.101.0/24 no_track\n\
     \x20       2001:db8:5::/48 via 2001:db8::250 dev eth0\n\
     \x20       198.51.102.0/24 via 192.0.2.250 dev eth0\n\
     \x20   }\n\
     \x20   virtual_rules {\n\
     \x20       from 192.0.2.100 table 100 preference 100\n\
     \x20       fwmark 7 table 100 preference 101\n\
     \x20   }"
}

fn conf_with_routes(router: usize, priority: u8) -> String {
    conf(router, &[v3_ipv4(priority).line(routing_lines())])
}

/// Whether `ip route` in `ns` lists a route to `prefix` (any table).
fn has_route(lab: &Lab, ns: &str, prefix: &str) -> bool {
    let family = if prefix.contains(':') { "-6" } else { "-4" };
    let out = lab.exec_ok(ns, &format!("ip {family} route show table all {prefix}"));
    out.lines().any(|l| l.contains(prefix))
}

fn has_rule(lab: &Lab, ns: &str, needle: &str) -> bool {
    lab.exec_ok(ns, "ip -4 rule show")
        .lines()
        .any(|l| l.contains(needle))
}

/// The virtual routing of the tests is present (all of it) or absent (all of it) in `ns`.
fn routing_present(lab: &Lab, ns: &str) -> Option<bool> {
    let present = [
        has_route(lab, ns, ROUTE4),
        has_route(lab, ns, "198.51.100.128/25"),
        has_route(lab, ns, BLACKHOLE),
        has_route(lab, ns, ROUTE6),
        has_rule(lab, ns, "from 192.0.2.100 lookup 100"),
        has_rule(lab, ns, "fwmark 0x7 lookup 100"),
    ];
    if present.iter().all(|p| *p) {
        Some(true)
    } else if present.iter().all(|p| !*p) {
        Some(false)
    } else {
        None
    }
}

fn expect_routing(lab: &Lab, router: usize, present: bool, why: &str) {
    let ns = lab.router_ns(router).to_string();
    let reached = wait_until(SETTLE, Duration::from_millis(20), || {
        routing_present(lab, &ns) == Some(present)
    });
    assert!(
        reached.is_some(),
        "{why}: r{router} should {} the virtual routes and rules; it has:\n{}\n{}\n{}",
        if present { "hold" } else { "not hold" },
        lab.exec_ok(
            &ns,
            "ip route show table all | grep -v 'local\\|fe80\\|ff00'"
        ),
        lab.exec_ok(&ns, "ip -6 route show | grep -v fe80"),
        lab.exec_ok(&ns, "ip rule show"),
    );
}

#[test]
fn virtual_routes_and_rules_follow_the_master_and_leave_with_it() {
    let lab = Lab::new("vipd-vroutes", 2);
    // Someone else's route on r2, identical to one of the virtual routes: vipd must not
    // take it away when r2 stops being master or exits.
    let r2_ns = lab.router_ns(2).to_string();
    lab.exec_ok(
        &r2_ns,
        &format!("ip route add {SHARED} via 192.0.2.250 dev eth0 proto 18"),
    );
    let mut r1 = start_vipd(&lab, 1, &conf_with_routes(1, 150));
    let mut r2 = start_vipd(&lab, 2, &conf_with_routes(2, 100));
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "election");
    wait_instance(&r2, "VI_1", SETTLE, "settled backup", |i| {
        i.state == "BACKUP" && i.adverts_received >= 3
    });
    expect_routing(&lab, 1, true, "r1 is master");
    expect_routing(&lab, 2, false, "r2 is backup");
    assert!(has_route(&lab, lab.router_ns(1), SHARED));
    assert!(has_route(&lab, &r2_ns, SHARED), "r2's own route went");

    // The master goes: the routes move with the VIP.
    let status = r1.stop();
    assert!(status.success(), "r1 exit {status:?}:\n{}", r1.log());
    expect_sole_holder(&lab, vip4(), 2, SETTLE, "after r1 stopped");
    expect_routing(&lab, 2, true, "r2 took over");
    expect_routing(&lab, 1, false, "r1 stopped");
    assert!(
        !has_route(&lab, lab.router_ns(1), SHARED),
        "r1 left its route behind"
    );

    // r1 comes back with the higher priority and preempts: the routes go back.
    let r1 = start_vipd(&lab, 1, &conf_with_routes(1, 150));
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "r1 preempted");
    expect_routing(&lab, 1, true, "r1 is master again");
    expect_routing(&lab, 2, false, "r2 went back to backup");
    assert!(
        has_route(&lab, &r2_ns, SHARED),
        "r2 removed a route it had not added"
    );
    drop(r1);

    let status = r2.stop();
    assert!(status.success(), "r2 exit {status:?}:\n{}", r2.log());
    assert!(
        r2.log().contains("already there and vipd did not add it"),
        "r2 should have said it leaves the existing route alone:\n{}",
        r2.log()
    );
    assert!(has_route(&lab, &r2_ns, SHARED), "r2's own route went");
}

#[test]
fn virtual_routes_interoperate_with_keepalived_holding_the_same_routes() {
    let lab = Lab::new("vipd-vroutes-ka", 2);
    let mut keepalived = lab.spawn_keepalived(1, &conf_with_routes(1, 150));
    let mut vipd = start_vipd(&lab, 2, &conf_with_routes(2, 100));
    expect_sole_holder(&lab, vip4(), 1, SETTLE * 2, "keepalived elected");
    expect_routing(&lab, 1, true, "keepalived is master");
    expect_routing(&lab, 2, false, "vipd is backup");
    keepalived.stop();
    expect_sole_holder(&lab, vip4(), 2, SETTLE, "vipd took over");
    expect_routing(&lab, 2, true, "vipd took over");
    expect_routing(&lab, 1, false, "keepalived stopped");
    let status = vipd.stop();
    assert!(status.success(), "vipd exit {status:?}:\n{}", vipd.log());
    expect_routing(&lab, 2, false, "vipd stopped");
}

#[test]
fn static_addresses_routes_and_rules_are_held_while_vipd_runs_and_leftovers_go() {
    let lab = Lab::new("vipd-static", 1);
    let ns = lab.router_ns(1).to_string();
    // The instance waits a minute: the static configuration does not depend on VRRP.
    let text = format!(
        "static_ipaddress {{\n    192.0.2.60/24 dev eth0\n    2001:db8::60/64 dev eth0\n}}\n\
         static_routes {{\n    {ROUTE4} via 192.0.2.250 dev eth0\n    blackhole {BLACKHOLE}\n}}\n\
         static_rules {{\n    from 192.0.2.60 table 100 preference 100\n}}\n{}",
        KeepalivedConf::new("r1")
            .global("vrrp_startup_delay 60")
            .instance(v3_ipv4(150))
            .render()
    );
    let held = |lab: &Lab| {
        let addresses = lab.exec_ok(&ns, "ip address show");
        [
            addresses.contains("192.0.2.60/24"),
            addresses.contains("2001:db8::60/64"),
            has_route(lab, &ns, ROUTE4),
            has_route(lab, &ns, BLACKHOLE),
            has_rule(lab, &ns, "from 192.0.2.60 lookup 100"),
        ]
    };
    let mut r1 = start_vipd(&lab, 1, &text);
    assert_eq!(held(&lab), [true; 5], "{}", r1.log());
    assert!(
        !lab.holders(vip4()).contains(&1),
        "the instance should still wait"
    );

    // Killed, it cannot clean up; the next run finds its record and starts afresh.
    r1.kill9();
    assert_eq!(held(&lab), [true; 5], "a killed vipd removes nothing");
    let mut again = lab.spawn_vipd(1, &text);
    // The same socket path is not reused by spawn_vipd: the record of the killed run is
    // found all the same (its daemon no longer answers).
    assert!(
        again.wait_log("removed route", SETTLE).is_some(),
        "the restart should remove the killed run's routes:\n{}",
        again.log()
    );
    wait_until(SETTLE, Duration::from_millis(20), || {
        again.log().contains("started with")
    })
    .expect("restarted");
    assert_eq!(held(&lab), [true; 5], "{}", again.log());
    let status = again.stop();
    assert!(status.success(), "exit {status:?}:\n{}", again.log());
    assert_eq!(held(&lab), [false; 5], "{}", again.log());
}

#[test]
fn net_namespace_puts_vipd_into_the_named_namespace() {
    let lab = Lab::new("vipd-netns", 1);
    let target = lab.router_ns(1).to_string();
    let text = format!("net_namespace {target}\n{}", conf(1, &[v3_ipv4(150)]));
    // Started in the client's namespace, it must run VRRP in r1's.
    let conf_path = lab.dir().join("netns.conf");
    std::fs::write(&conf_path, &text).expect("write conf");
    let socket = lab.dir().join("netns.sock");
    let binary = lab::vipd_binary().expect("vipd binary");
    let mut vipd = lab.spawn_in(
        lab.client_ns(),
        &[
            binary.to_str().expect("utf-8"),
            "run",
            "-c",
            conf_path.to_str().expect("utf-8"),
            "--socket",
            socket.to_str().expect("utf-8"),
            "--state-dir",
            lab.state_dir(1).to_str().expect("utf-8"),
        ],
        &[],
    );
    vipd.socket_path = Some(socket.clone());
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "vipd entered r1's namespace");
    assert!(
        !lab.exec_ok(lab.client_ns(), "ip address show")
            .contains(&vip4().to_string()),
        "the VIP went to the namespace vipd was started in"
    );
    // The control socket stays where the caller looks for it.
    wait_state(&vipd, "VI_1", "MASTER");
    let status = vipd.stop();
    assert!(status.success(), "exit {status:?}:\n{}", vipd.log());
    assert!(lab.holders(vip4()).is_empty());

    // Without CAP_SYS_ADMIN it stops with an error that says what to do instead.
    let out = lab.exec(
        lab.client_ns(),
        &format!(
            "setpriv --bounding-set -sys_admin {} run -c {} --socket {}",
            binary.display(),
            conf_path.display(),
            lab.dir().join("netns-nocap.sock").display()
        ),
    );
    assert!(
        !out.success,
        "vipd ran without CAP_SYS_ADMIN:\n{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("needs CAP_SYS_ADMIN")
            && out
                .stderr
                .contains(&format!("NetworkNamespacePath=/run/netns/{target}")),
        "{}",
        out.stderr
    );
}

#[test]
fn reload_swaps_the_routes_of_a_master_and_the_static_ones_in_place() {
    let lab = Lab::new("vipd-routes-reload", 1);
    let ns = lab.router_ns(1).to_string();
    let text = |route: &str, rule_table: u32, static_route: &str| {
        format!(
            "static_routes {{\n    {static_route} via 192.0.2.250 dev eth0\n}}\n{}",
            conf(
                1,
                &[v3_ipv4(150).line(&format!(
                    "virtual_routes {{\n        {route} via 192.0.2.250 dev eth0\n    }}\n    \
                     virtual_rules {{\n        from 192.0.2.100 table {rule_table} preference 100\n    }}"
                ))]
            )
        )
    };
    let r1 = start_vipd(&lab, 1, &text("203.0.113.0/25", 100, "198.51.101.0/24"));
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "election");
    let present = |prefix: &str| has_route(&lab, &ns, prefix);
    wait_until(SETTLE, Duration::from_millis(20), || {
        present("203.0.113.0/25")
    })
    .expect("virtual route added");
    assert!(present("198.51.101.0/24") && has_rule(&lab, &ns, "lookup 100"));

    rewrite_conf(&r1, &text("203.0.113.128/25", 200, "198.51.102.0/24"));
    r1.reload();
    let swapped = wait_until(SETTLE, Duration::from_millis(20), || {
        present("203.0.113.128/25")
            && !present("203.0.113.0/25")
            && present("198.51.102.0/24")
            && !present("198.51.101.0/24")
            && has_rule(&lab, &ns, "lookup 200")
            && !has_rule(&lab, &ns, "lookup 100")
    });
    assert!(
        swapped.is_some(),
        "after reload:\n{}\n{}\n{}",
        lab.exec_ok(
            &ns,
            "ip route show table all | grep -v 'local\\|fe80\\|ff00'"
        ),
        lab.exec_ok(&ns, "ip rule show"),
        r1.log()
    );
    // Applied in place: the instance stayed master throughout.
    let status = instance(&r1, "VI_1");
    assert_eq!((status.state.as_str(), status.transitions), ("MASTER", 2));
}

#[test]
fn routes_the_kernel_flushed_on_a_link_flap_come_back_while_master() {
    // With dont_track_primary the master stays master while its link is down; the kernel
    // flushes the routes through the interface meanwhile, and vipd adds them back when the
    // link returns.
    let lab = Lab::new("vipd-routes-flap", 1);
    let ns = lab.router_ns(1).to_string();
    let r1 = start_vipd(
        &lab,
        1,
        &conf(
            1,
            &[v3_ipv4(150)
                .line(routing_lines())
                .line("dont_track_primary")],
        ),
    );
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "election");
    expect_routing(&lab, 1, true, "master");
    lab.link_down(1);
    let flushed = wait_until(SETTLE, Duration::from_millis(20), || {
        !has_route(&lab, &ns, ROUTE4)
    });
    assert!(flushed.is_some(), "the kernel kept the route on link down");
    lab.link_up(1);
    expect_routing(&lab, 1, true, "link back");
    assert_eq!(instance(&r1, "VI_1").state, "MASTER");
}

#[test]
fn routes_and_rules_deleted_by_hand_on_the_master_are_put_back_without_a_failover() {
    // keepalived 2.2.7 drops to BACKUP and back (priority 0, VIPs gone for a moment) when a
    // tracked virtual route is deleted; vipd puts the route back and stays master.
    let lab = Lab::new("vipd-routes-deleted", 2);
    let ns = lab.router_ns(1).to_string();
    let r1 = start_vipd(&lab, 1, &conf_with_routes(1, 150));
    let r2 = start_vipd(&lab, 2, &conf_with_routes(2, 100));
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "election");
    wait_instance(&r2, "VI_1", SETTLE, "settled backup", |i| {
        i.state == "BACKUP" && i.adverts_received >= 3
    });
    expect_routing(&lab, 1, true, "master");
    let before = instance(&r1, "VI_1").transitions;
    lab.exec_ok(&ns, &format!("ip route del {ROUTE4}"));
    lab.exec_ok(&ns, &format!("ip -6 route del {ROUTE6}"));
    lab.exec_ok(&ns, "ip rule del fwmark 7 table 100 priority 101");
    expect_routing(&lab, 1, true, "put back");
    let log = r1.log();
    assert!(
        log.contains(&format!(
            "route {ROUTE4} via 192.0.2.250 dev eth0 was removed while MASTER"
        )) && log.contains("rule fwmark 0x7 table 100 priority 101 was removed while MASTER"),
        "{log}"
    );
    let after = instance(&r1, "VI_1");
    assert_eq!(
        (after.state.as_str(), after.transitions),
        ("MASTER", before)
    );
    expect_routing(&lab, 2, false, "the backup added nothing");
}
