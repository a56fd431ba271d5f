//! IPsec AH authentication (keepalived `auth_type AH`) in the namespace lab (needs root):
//! vipd and keepalived 2.2.7 elect one master both ways and hand over, a wrong password is
//! not accepted (each side then believes it is alone and becomes master, as keepalived does),
//! and what vipd sends is AH that tcpdump decodes.

mod lab;
mod lab_vipd_support;

use std::time::Duration;

use lab::keepalived_conf::VrrpInstance;
use lab::{wait_until, Lab};
use lab_vipd_support::*;

/// v2 instance `VI_AH`, VRID 71, 1 s adverts, AH with `password`, VIP 192.0.2.100/24.
fn ah_instance(priority: u8, password: &str) -> VrrpInstance {
    VrrpInstance::new("VI_AH", "eth0", 71)
        .priority(priority)
        .version(2)
        .advert(Duration::from_secs(1))
        .line(&format!(
            "authentication {{\n        auth_type AH\n        auth_pass {password}\n    }}"
        ))
        .vip("192.0.2.100/24")
}

fn ah_conf(router: usize, priority: u8, password: &str) -> String {
    conf(router, &[ah_instance(priority, password)])
}

/// v2 with 1 s adverts: detection takes over 3 s, a loaded CI more.
const V2_SETTLE: Duration = Duration::from_secs(15);

#[test]
fn ah_vipd_backup_follows_keepalived_master_and_takes_over_and_back() {
    let lab = Lab::new("vipd-ah-ka-master", 2);
    let mut keepalived = lab.spawn_keepalived(1, &ah_conf(1, 150, "s3cret"));
    expect_sole_holder(&lab, vip4(), 1, V2_SETTLE, "keepalived elected");
    let vipd = start_vipd(&lab, 2, &ah_conf(2, 100, "s3cret"));
    // vipd accepts keepalived's AH adverts: it stays backup, and keeps hearing them.
    wait_instance(
        &vipd,
        "VI_AH",
        V2_SETTLE,
        "backup hearing AH adverts",
        |i| i.state == "BACKUP" && i.adverts_received >= 4,
    );
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "vipd stays backup");
    let report = status(&vipd);
    let dropped: u64 = report.instances[0].dropped.values().sum();
    assert_eq!(dropped, 0, "vipd dropped keepalived's adverts: {report:#?}");

    // vipd restarts (cleanly): its counter resumes at the last number it heard, stored in
    // the state directory, so keepalived's next adverts are above it: accepted at once, no
    // drop, no takeover.
    let vipd = restart_vipd(&lab, 2, vipd);
    wait_instance(
        &vipd,
        "VI_AH",
        V2_SETTLE,
        "restarted backup hearing AH adverts",
        |i| i.state == "BACKUP" && i.adverts_received >= 3,
    );
    let i = instance(&vipd, "VI_AH");
    let dropped: u64 = i.dropped.values().sum();
    assert_eq!(
        (dropped, i.transitions),
        (0, 1),
        "restarted vipd dropped keepalived's adverts or moved past backup: {i:#?}"
    );
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "keepalived still the only holder");

    // Takeover: keepalived stops (priority 0), vipd becomes master.
    keepalived.stop();
    expect_sole_holder(&lab, vip4(), 2, V2_SETTLE, "vipd took over");
    wait_state(&vipd, "VI_AH", "MASTER");

    // keepalived comes back with the higher priority: it accepts vipd's adverts (their
    // sequence numbers are above its fresh counter), preempts, and vipd follows it.
    let keepalived = lab.spawn_keepalived(1, &ah_conf(1, 150, "s3cret"));
    expect_sole_holder(&lab, vip4(), 1, V2_SETTLE, "keepalived preempted");
    wait_instance(&vipd, "VI_AH", V2_SETTLE, "backup again", |i| {
        i.state == "BACKUP"
    });
    assert!(
        !keepalived.log().contains("IPSEC-AH : invalid"),
        "keepalived rejected vipd's AH adverts:\n{}",
        keepalived.log()
    );
}

#[test]
fn ah_keepalived_backup_follows_vipd_master_and_takes_over() {
    let lab = Lab::new("vipd-ah-vipd-master", 2);
    let mut capture = lab.capture(lab.router_ns(2), "eth0", "ip proto 51");
    let mut vipd = start_vipd(&lab, 1, &ah_conf(1, 150, "s3cret"));
    expect_sole_holder(&lab, vip4(), 1, V2_SETTLE, "vipd elected");
    let keepalived = lab.spawn_keepalived(2, &ah_conf(2, 100, "s3cret"));
    // keepalived stays backup: it accepts vipd's AH adverts.
    let backup = keepalived.wait_log("Entering BACKUP STATE", V2_SETTLE);
    assert!(backup.is_some(), "keepalived:\n{}", keepalived.log());
    std::thread::sleep(Duration::from_secs(4));
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "keepalived stays backup");
    assert!(
        !keepalived.log().contains("IPSEC-AH"),
        "keepalived complained about vipd's AH adverts:\n{}",
        keepalived.log()
    );
    // tcpdump decodes vipd's adverts as AH carrying VRRPv2 with auth type ah.
    let decoded = capture.stop().join("\n");
    assert!(
        decoded.contains("AH(length=4(24-bytes),spi=0xc000020b") && decoded.contains("authtype ah"),
        "{decoded}"
    );
    // Takeover the other way.
    let status = vipd.stop();
    assert!(status.success(), "{}", vipd.log());
    expect_sole_holder(&lab, vip4(), 2, V2_SETTLE, "keepalived took over");
}

#[test]
fn ah_with_a_wrong_password_is_not_accepted_and_both_become_master() {
    let lab = Lab::new("vipd-ah-wrong", 2);
    let keepalived = lab.spawn_keepalived(1, &ah_conf(1, 150, "right"));
    expect_sole_holder(&lab, vip4(), 1, V2_SETTLE, "keepalived elected");
    let vipd = start_vipd(&lab, 2, &ah_conf(2, 100, "wrong"));
    // Neither accepts the other's adverts: vipd counts them as a wrong password and takes
    // the VIP too; keepalived logs the invalid ICV (and, as master, keeps the VIP).
    wait_state(&vipd, "VI_AH", "MASTER");
    let holders = |lab: &Lab| lab.holders(vip4());
    let both = wait_until(V2_SETTLE, Duration::from_millis(50), || {
        holders(&lab) == vec![1, 2]
    });
    assert!(both.is_some(), "holders {:?}", holders(&lab));
    wait_instance(&vipd, "VI_AH", V2_SETTLE, "dropping the adverts", |i| {
        i.dropped.get("auth_password").copied().unwrap_or(0) >= 2
    });
    assert!(
        keepalived
            .wait_log("IPSEC-AH : invalid IPSEC HMAC-MD5 value", V2_SETTLE)
            .is_some(),
        "keepalived should reject vipd's adverts:\n{}",
        keepalived.log()
    );
}

#[test]
fn ah_over_unicast_interoperates_with_keepalived() {
    // Unicast adverts leave the TTL out of the ICV (keepalived's rule): both sides must agree.
    let lab = Lab::new("vipd-ah-unicast", 2);
    let (r1, r2) = ("192.0.2.11", "192.0.2.12");
    let vipd_conf = |priority| conf(1, &[ah_instance(priority, "s3cret").unicast(r1, &[r2])]);
    let mut vipd = start_vipd(&lab, 1, &vipd_conf(150));
    expect_sole_holder(&lab, vip4(), 1, V2_SETTLE, "vipd elected");
    let mut keepalived = lab.spawn_keepalived(
        2,
        &conf(2, &[ah_instance(100, "s3cret").unicast(r2, &[r1])]),
    );
    let backup = keepalived.wait_log("Entering BACKUP STATE", V2_SETTLE);
    assert!(backup.is_some(), "keepalived:\n{}", keepalived.log());
    // Past keepalived's down interval: it hears vipd's unicast AH adverts.
    std::thread::sleep(Duration::from_secs(5));
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "keepalived stays backup");
    assert!(
        !keepalived.log().contains("IPSEC-AH"),
        "keepalived rejected vipd's unicast AH adverts:\n{}",
        keepalived.log()
    );
    let status = vipd.stop();
    assert!(status.success(), "{}", vipd.log());
    expect_sole_holder(&lab, vip4(), 2, V2_SETTLE, "keepalived took over");
    // And vipd as backup hears keepalived's.
    let vipd = start_vipd(&lab, 1, &vipd_conf(50));
    wait_instance(
        &vipd,
        "VI_AH",
        V2_SETTLE,
        "backup hearing AH adverts",
        |i| i.state == "BACKUP" && i.adverts_received >= 3,
    );
    expect_sole_holder(&lab, vip4(), 2, SETTLE, "vipd stays backup");
    keepalived.stop();
}

/// The AH marks r1 keeps in its state directory, by instance.
fn stored_ah_marks(lab: &Lab) -> serde_json::Map<String, serde_json::Value> {
    let dir = lab.state_dir(1);
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".ah.json"))
        .expect("AH marks file");
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

#[test]
fn ah_between_vipds_converges_after_a_restart_resets_the_sequence_numbers() {
    let lab = Lab::new("vipd-ah-restart", 2);
    // VI_GONE, r1's alone, is removed by a reload: its mark goes at the next write (the
    // stop's), where it stayed for good.
    let gone = VrrpInstance {
        name: "VI_GONE".into(),
        vrid: 72,
        vips: vec!["192.0.2.101/24".into()],
        ..ah_instance(150, "s3cret")
    };
    let mut r1 = start_vipd(&lab, 1, &conf(1, &[ah_instance(150, "s3cret"), gone]));
    expect_sole_holder(&lab, vip4(), 1, V2_SETTLE, "r1 elected");
    assert!(stored_ah_marks(&lab).contains_key("VI_GONE"));
    std::fs::write(
        r1.conf_path.as_ref().expect("conf"),
        ah_conf(1, 150, "s3cret"),
    )
    .unwrap();
    r1.reload();
    assert!(
        r1.wait_log("reload done", V2_SETTLE).is_some(),
        "{}",
        r1.log()
    );
    let r2 = start_vipd(&lab, 2, &ah_conf(2, 100, "s3cret"));
    wait_instance(&r2, "VI_AH", V2_SETTLE, "backup hearing AH adverts", |i| {
        i.state == "BACKUP" && i.adverts_received >= 3
    });
    // r1 restarts: it counts from 1 again while r2 has accepted higher numbers. r1 starts
    // as backup, takes r2's higher numbers, continues above them and preempts back (an
    // advert it sent below them would be dropped by r2 as a replay, as keepalived does).
    let status = r1.stop();
    assert!(status.success(), "{}", r1.log());
    let marks = stored_ah_marks(&lab);
    assert_eq!(
        marks.keys().collect::<Vec<_>>(),
        ["VI_AH"],
        "{marks:?}\n{}",
        r1.log()
    );
    expect_sole_holder(&lab, vip4(), 2, V2_SETTLE, "r2 took over");
    wait_instance(&r2, "VI_AH", V2_SETTLE, "master sending", |i| {
        i.state == "MASTER" && i.adverts_sent >= 3
    });
    let r1 = start_vipd(&lab, 1, &ah_conf(1, 150, "s3cret"));
    expect_sole_holder(&lab, vip4(), 1, V2_SETTLE * 2, "r1 preempted back");
    wait_state(&r2, "VI_AH", "BACKUP");
    wait_state(&r1, "VI_AH", "MASTER");
}
