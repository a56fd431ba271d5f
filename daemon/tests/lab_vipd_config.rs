//! keepalived.conf keywords that change when and how instances run, in the namespace lab
//! (needs root): `vrrp_startup_delay` and `dont_track_primary`.

mod lab;
mod lab_vipd_support;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use lab::keepalived_conf::{KeepalivedConf, VrrpInstance};
use lab::{wait_until, Lab};
use lab_vipd_support::*;

#[test]
fn startup_delay_keeps_instances_out_until_it_has_passed() {
    let lab = Lab::new("vipd-startdelay", 1);
    let conf = KeepalivedConf::new("r1")
        .global("vrrp_startup_delay 5")
        .instance(v3_ipv4(255))
        .render();
    let r1 = start_vipd(&lab, 1, &conf);
    let started = Instant::now();
    // The address owner would hold the VIP at once; the delay keeps it out.
    while started.elapsed() < Duration::from_secs(2) {
        assert!(
            lab.holders(vip4()).is_empty(),
            "VIP taken {:?} after start, inside the 5 s startup delay:\n{}",
            started.elapsed(),
            r1.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    expect_sole_holder(
        &lab,
        vip4(),
        1,
        SETTLE + Duration::from_secs(5),
        "delay over",
    );
    assert!(
        r1.log().contains("startup delay over"),
        "no log line for the end of the delay:\n{}",
        r1.log()
    );
}

#[test]
fn dont_track_primary_ignores_its_own_link_going_down() {
    let lab = Lab::new("vipd-donttrack", 1);
    let ignoring: IpAddr = "192.0.2.101".parse().expect("address");
    let conf = KeepalivedConf::new("r1")
        .instance(
            VrrpInstance::new("VI_IGNORE", "eth0", 61)
                .priority(255)
                .version(3)
                .advert(ADVERT)
                .vip("192.0.2.101/24")
                .line("dont_track_primary"),
        )
        .instance(v3_ipv4(255))
        .render();
    let r1 = start_vipd(&lab, 1, &conf);
    wait_state(&r1, "VI_IGNORE", "MASTER");
    wait_state(&r1, "VI_1", "MASTER");

    lab.link_down(1);
    // The instance that tracks its interface goes to FAULT and lets its VIP go ...
    wait_state(&r1, "VI_1", "FAULT");
    let released = wait_until(SETTLE, Duration::from_millis(20), || {
        lab.holders(vip4()).is_empty()
    });
    assert!(released.is_some(), "VI_1 kept its VIP in FAULT");
    // ... the one with dont_track_primary stays master and keeps its VIP.
    for _ in 0..10 {
        let i = instance(&r1, "VI_IGNORE");
        assert_eq!(i.state, "MASTER", "dont_track_primary left MASTER: {i:#?}");
        assert_eq!(
            lab.holders(ignoring),
            [1],
            "dont_track_primary let its VIP go"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    lab.link_up(1);
    wait_state(&r1, "VI_1", "MASTER");
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "link back up");
    assert_eq!(instance(&r1, "VI_IGNORE").state, "MASTER");
}

#[test]
fn warnings_are_logged_at_start_and_reload_and_never_stop_the_daemon() {
    let lab = Lab::new("vipd-warnings", 1);
    let conf = KeepalivedConf::new("r1")
        .global("enable_snmp_vrrp")
        .instance(v3_ipv4(255).line("macast_src_ip 192.0.2.1"))
        .render();
    let r1 = start_vipd(&lab, 1, &conf);
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "start with warnings");
    let count = |needle: &str| r1.log().matches(needle).count();
    assert_eq!(
        count("warning: unknown keyword `macast_src_ip`"),
        1,
        "{}",
        r1.log()
    );
    assert_eq!(
        count("warning: `enable_snmp_vrrp` is ignored"),
        1,
        "{}",
        r1.log()
    );
    r1.reload();
    let logged_again = wait_until(SETTLE, Duration::from_millis(20), || {
        count("warning: unknown keyword `macast_src_ip`") == 2 && r1.log().contains("reload done")
    });
    assert!(
        logged_again.is_some(),
        "reload did not log the warning:\n{}",
        r1.log()
    );
    assert_eq!(instance(&r1, "VI_1").state, "MASTER");
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "after the reload");
}
