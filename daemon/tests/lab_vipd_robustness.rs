//! vipd under bad input in the namespace lab (needs root): crafted adverts from a third host
//! change no state and land in the right `dropped` counter of `vipd status --json`; several
//! daemons with their own control sockets; `vipd status` without a daemon.

mod lab;
mod lab_vipd_support;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use lab::{Daemon, Lab, Segment};
use lab_vipd_support::*;
use vipd::control::InstanceStatus;
use vipd::vrrp::packet::{Advertisement, Auth, ChecksumMode, Family, Packet, Version};

const GROUP4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
const GROUP6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// Copies of each bad advert.
const COPIES: u64 = 3;

/// A well-formed advert that would win any election (priority 254), so accepting it by
/// mistake shows up as a state change.
fn winning(version: Version, vrid: u8, interval_cs: u16, vip: IpAddr) -> Advertisement {
    Advertisement {
        version,
        vrid,
        priority: 254,
        advert_interval_cs: interval_cs,
        addresses: vec![vip],
        auth: Auth::None,
    }
}

fn client4() -> IpAddr {
    Segment::Main.client_ip4().into()
}

fn v3_4(vrid: u8) -> Vec<u8> {
    winning(Version::V3, vrid, 10, vip4()).to_bytes(
        client4(),
        GROUP4.into(),
        ChecksumMode::PseudoHeader,
    )
}

fn v2_4(auth: Auth, interval_cs: u16) -> Vec<u8> {
    let mut advert = winning(Version::V2, 61, interval_cs, "192.0.2.101".parse().unwrap());
    advert.auth = auth;
    advert.to_bytes(client4(), GROUP4.into(), ChecksumMode::PseudoHeader)
}

/// Edits a v3 IPv4 advert with `edit`, then (if asked) recomputes its checksum.
fn edited(mut bytes: Vec<u8>, refill: bool, edit: impl FnOnce(&mut Packet<&mut [u8]>)) -> Vec<u8> {
    let mut packet = Packet::new_unchecked(&mut bytes[..], Family::Ipv4);
    edit(&mut packet);
    if refill {
        packet.fill_checksum(client4(), GROUP4.into(), ChecksumMode::PseudoHeader);
    }
    bytes
}

/// What must not change: per instance (state, master, transitions).
fn protocol_state(daemon: &Daemon) -> Vec<(String, String, Option<String>, u64)> {
    status(daemon)
        .instances
        .into_iter()
        .map(|i| (i.name, i.state, i.master_address, i.transitions))
        .collect()
}

fn dropped(daemon: &Daemon) -> BTreeMap<String, BTreeMap<String, u64>> {
    status(daemon)
        .instances
        .into_iter()
        .map(|i: InstanceStatus| (i.name, i.dropped))
        .collect()
}

struct Case {
    what: &'static str,
    /// Instances whose counter `reason` must grow by `COPIES`.
    instances: &'static [&'static str],
    reason: &'static str,
    send: Box<dyn Fn(&Lab)>,
}

fn v4_case(
    what: &'static str,
    instances: &'static [&'static str],
    reason: &'static str,
    ttl: u8,
    payload: Vec<u8>,
) -> Case {
    Case {
        what,
        instances,
        reason,
        send: Box::new(move |lab| {
            let copies = vec![payload.clone(); COPIES as usize];
            inject_ipv4(lab, GROUP4, ttl, &copies);
        }),
    }
}

fn v6_case(
    what: &'static str,
    reason: &'static str,
    hop_limit: u8,
    payload: impl Fn(Ipv6Addr) -> Vec<u8> + 'static,
) -> Case {
    Case {
        what,
        instances: &["VI_6"],
        reason,
        send: Box::new(move |lab| {
            let src = client_link_local(lab);
            let copies = vec![payload(src); COPIES as usize];
            inject_ipv6(lab, src, GROUP6, hop_limit, &copies);
        }),
    }
}

fn v3_6(src: Ipv6Addr, vrid: u8) -> Vec<u8> {
    winning(Version::V3, vrid, 10, vip6()).to_bytes(
        src.into(),
        GROUP6.into(),
        ChecksumMode::PseudoHeader,
    )
}

fn cases() -> Vec<Case> {
    let v3 = v3_4(51);
    let mut junk = v3.clone();
    junk.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    vec![
        v4_case("TTL 64", &["VI_1"], "hop_limit", 64, v3.clone()),
        v4_case(
            "bad checksum",
            &["VI_1"],
            "checksum",
            255,
            edited(v3.clone(), false, |p| p.set_checksum(p.checksum() ^ 0x5a5a)),
        ),
        v4_case(
            "version 4",
            &["VI_1"],
            "version",
            255,
            edited(v3.clone(), true, |p| p.set_version(4)),
        ),
        v4_case(
            "type 2",
            &["VI_1"],
            "type",
            255,
            edited(v3.clone(), true, |p| p.set_msg_type(2)),
        ),
        v4_case("truncated", &["VI_1"], "truncated", 255, v3[..6].to_vec()),
        v4_case(
            "count 3 with one address",
            &["VI_1"],
            "truncated",
            255,
            edited(v3.clone(), false, |p| p.set_count(3)),
        ),
        // Count 0 is heard (an instance without VIPs sends it), so one that still carries an
        // address is longer than it says.
        v4_case(
            "count 0 with one address",
            &["VI_1"],
            "length",
            255,
            edited(v3.clone(), true, |p| p.set_count(0)),
        ),
        v4_case("junk appended", &["VI_1"], "length", 255, junk),
        // A VRID nobody runs: counted for every instance on that socket.
        v4_case(
            "unknown VRID",
            &["VI_1", "VI_2"],
            "unknown_vrid",
            255,
            v3_4(99),
        ),
        v4_case(
            "v3 advert for the v2 instance",
            &["VI_2"],
            "version_mismatch",
            255,
            edited(v3.clone(), true, |p| p.set_vrid(61)),
        ),
        v4_case(
            "wrong password",
            &["VI_2"],
            "auth_password",
            255,
            v2_4(Auth::from_password("wrong"), 100),
        ),
        v4_case(
            "no authentication",
            &["VI_2"],
            "auth_type",
            255,
            v2_4(Auth::None, 100),
        ),
        v4_case(
            "advert interval 3 s",
            &["VI_2"],
            "interval_mismatch",
            255,
            v2_4(Auth::from_password("secret"), 300),
        ),
        v6_case("IPv6 hop limit 64", "hop_limit", 64, |src| v3_6(src, 52)),
        v6_case("IPv6 bad checksum", "checksum", 255, |src| {
            let mut bytes = v3_6(src, 52);
            bytes[6] ^= 0xff;
            bytes
        }),
        v6_case("IPv6 unknown VRID", "unknown_vrid", 255, |src| {
            v3_6(src, 98)
        }),
        v6_case("v2 over IPv6", "address_family", 255, |src| {
            let mut bytes = v3_6(src, 52);
            let mut packet = Packet::new_unchecked(&mut bytes[..], Family::Ipv6);
            packet.set_version(2);
            bytes
        }),
    ]
}

#[test]
fn crafted_adverts_change_no_state_and_are_counted_by_reason() {
    let lab = Lab::new("vipd-badinput", 2);
    // 500 ms adverts: the test asserts that nothing moves at all, so a backup must not take
    // over because a loaded machine did not schedule the master for a few hundred ms.
    let slow = Duration::from_millis(500);
    let instances = |priority| {
        [
            v3_ipv4(priority).advert(slow),
            v2_pass(priority),
            v3_ipv6(priority).advert(slow),
        ]
    };
    let r1 = start_vipd(&lab, 1, &conf(1, &instances(150)));
    let r2 = start_vipd(&lab, 2, &conf(2, &instances(100)));
    let v2_settle = Duration::from_secs(8);
    for vip in [vip4(), vip6(), "192.0.2.101".parse().unwrap()] {
        expect_sole_holder(&lab, vip, 1, v2_settle, "election");
    }
    for name in ["VI_1", "VI_2", "VI_6"] {
        wait_state(&r1, name, "MASTER");
        wait_instance(&r2, name, v2_settle, "backup of r1", |i| {
            i.state == "BACKUP" && i.master_address.is_some()
        });
    }
    let daemons = [&r1, &r2];
    let state: Vec<_> = daemons.iter().map(|d| protocol_state(d)).collect();
    let mut counters: Vec<_> = daemons.iter().map(|d| dropped(d)).collect();
    for (d, c) in daemons.iter().zip(&counters) {
        let total: u64 = c.values().flat_map(|m| m.values()).sum();
        assert_eq!(
            total, 0,
            "{} dropped adverts before the test: {c:#?}",
            d.name
        );
    }

    for case in cases() {
        (case.send)(&lab);
        let mut expected = counters.clone();
        for c in &mut expected {
            for name in case.instances {
                let entry = c
                    .get_mut(*name)
                    .and_then(|m| m.get_mut(case.reason))
                    .unwrap_or_else(|| panic!("no counter {name}/{}", case.reason));
                *entry += COPIES;
            }
        }
        for (i, daemon) in daemons.iter().enumerate() {
            let mut last = BTreeMap::new();
            let reached = lab::wait_until(SETTLE, Duration::from_millis(20), || {
                last = dropped(daemon);
                last == expected[i]
            });
            assert!(
                reached.is_some(),
                "{}: {}: expected {COPIES} more `{}` drops on {:?}\nexpected {:#?}\ngot {last:#?}",
                case.what,
                daemon.name,
                case.reason,
                case.instances,
                expected[i]
            );
        }
        counters = expected;
        eprintln!("{}: counted as {}", case.what, case.reason);
    }

    // Nothing moved: same masters, same states, no transitions, VIPs where they were.
    std::thread::sleep(ADVERT * 3);
    for (daemon, before) in daemons.iter().zip(&state) {
        assert_eq!(&protocol_state(daemon), before, "{}", daemon.name);
    }
    for vip in [vip4(), vip6(), "192.0.2.101".parse().unwrap()] {
        assert_eq!(lab.holders(vip), [1], "{vip}");
    }
    // The text form shows them too.
    let socket = r2
        .socket_path
        .as_ref()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let text = vipd_cli(&["status", "--socket", &socket]);
    assert!(text.success, "{}", text.stderr);
    assert!(
        text.stdout.contains("dropped hop_limit: 3"),
        "{}",
        text.stdout
    );
}

#[test]
fn daemons_have_their_own_sockets_and_a_second_one_on_a_socket_is_refused() {
    let lab = Lab::new("vipd-sockets", 2);
    let r1 = start_vipd(&lab, 1, &conf(1, &[v3_ipv4(150)]));
    let r2 = start_vipd(&lab, 2, &conf(2, &[v3_ipv4(100)]));
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "election");
    let (s1, s2) = (status(&r1), status(&r2));
    assert_ne!(s1.pid, s2.pid);
    assert_eq!(s1.pid as i32, r1.pid());
    assert_eq!(s2.pid as i32, r2.pid());
    assert!(s1.config.ends_with(".conf") && s1.config != s2.config);

    // A third daemon on r1's socket must not steal it.
    let socket = r1
        .socket_path
        .as_ref()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let conf_path = r1.conf_path.as_ref().unwrap().to_str().unwrap().to_owned();
    let binary = lab::vipd_binary().unwrap();
    let mut third = lab.spawn(
        2,
        &[
            binary.to_str().unwrap(),
            "run",
            "-c",
            &conf_path,
            "--socket",
            &socket,
            "--state-dir",
            lab.dir().join("third-state").to_str().unwrap(),
        ],
        &[],
    );
    let exited = lab::wait_until(SETTLE, Duration::from_millis(20), || !third.is_running());
    assert!(exited.is_some(), "second daemon on one socket kept running");
    let log = third.log();
    assert!(log.contains("in use by another vipd"), "{log}");
    assert_eq!(status(&r1).pid as i32, r1.pid(), "r1 lost its socket");
}

#[test]
fn status_without_a_daemon_fails_with_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("vipd-nosock-{}", std::process::id()));
    let socket = dir.join("missing.sock");
    let socket_text = socket.to_str().unwrap();
    for json in [false, true] {
        let mut args = vec!["status", "--socket", socket_text];
        if json {
            args.push("--json");
        }
        let out = vipd_cli(&args);
        assert!(!out.success, "status without a daemon succeeded: {out:?}");
        assert!(out.stdout.is_empty(), "{out:?}");
        assert!(
            out.stderr.contains(socket_text) && out.stderr.contains("is vipd running?"),
            "unclear error: {}",
            out.stderr
        );
    }
}
