//! vipd against hostile or broken input in the namespace lab (needs root): configuration values
//! as large as their types allow, floods of junk on the VRRP socket, unicast adverts from
//! strangers, addresses vipd did not add, and lost netlink notifications.

mod lab;
mod lab_vipd_support;

use lab::keepalived_conf::KeepalivedConf;
use lab::Lab;
use lab_vipd_support::*;

/// Writes `text` into the lab dir and runs `vipd check -c` on it.
fn vipd_check(lab: &Lab, name: &str, text: &str) -> lab::Exec {
    let path = lab.dir().join(name);
    std::fs::write(&path, text).expect("write config");
    vipd_cli(&["check", "-c", path.to_str().expect("utf-8 path")])
}

#[test]
fn huge_garp_settings_accepted_by_check_do_not_crash_a_new_master() {
    let lab = Lab::new("vipd-hugegarp", 1);
    let text = KeepalivedConf::new("r1")
        .global("vrrp_garp_interval 18446744073709551615")
        .global("vrrp_garp_master_delay 86400")
        .global("vrrp_garp_master_refresh 86400")
        .global("vrrp_garp_master_repeat 10000")
        .global("vrrp_garp_master_refresh_repeat 10000")
        .instance(v3_ipv4(150))
        .render();
    let check = vipd_check(&lab, "huge-garp.conf", &text);
    assert!(check.success, "vipd check refused it: {}", check.stderr);

    let mut r1 = start_vipd(&lab, 1, &text);
    // Alone on the segment: master after the down interval, which starts the GARP burst.
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "alone");
    wait_state(&r1, "VI_1", "MASTER");
    std::thread::sleep(ADVERT * 5);
    assert!(r1.is_running(), "vipd died as master:\n{}", r1.log());
    assert!(!r1.log().contains("panicked"), "{}", r1.log());
    let i = instance(&r1, "VI_1");
    assert_eq!((i.state.as_str(), i.transitions), ("MASTER", 2), "{i:#?}");
    assert!(lab.client_ping(vip4()), "the VIP does not answer");
}
