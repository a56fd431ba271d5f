//! Behaviour differential (issue 9): keepalived 2.2.7 and vipd run the same keepalived.conf,
//! each alone as the only router of a fresh namespace lab (needs root and keepalived), and
//! must do the same things on the wire and on the interfaces, except where a fixture's
//! header documents a difference (`# differs: ASPECT: why, where documented`).
//!
//! For every fixture under `tests/fixtures/behaviour/` and each daemon:
//! 1. the daemon starts on r1 and settles; an observer captures every frame of r1's switch
//!    port (pcap, decoded here): adverts (version, VRID, priority, interval field and
//!    period, address list, auth, checksum, TTL, source, destination, MACs), gratuitous
//!    ARPs and unsolicited NAs after takeover, and the states, addresses, links, routes and
//!    rules it settles with;
//! 2. a peer (r2, crafted adverts copied from the daemon's own with priority 254) appears
//!    right after one of the daemon's adverts: does the daemon yield, and what does it keep;
//!    does it answer the peer's first advert with one of its own before yielding
//!    (`yield_advert`: vipd's default `higher_prio_send_advert`, see [`YIELD_ADVERT_DIFFERS`]);
//! 3. the peer drops to priority 1: does the daemon take over again (preempt, nopreempt,
//!    preempt_delay);
//! 4. SIGTERM: priority-0 adverts and what is left behind.
//!
//! The test prints a matrix (fixture x aspect) and fails on every undocumented difference.
//! `VIPD_BEHAVIOUR_ONLY=SUBSTRING` runs only matching fixtures, `VIPD_BEHAVIOUR_THREADS=N`
//! sets how many runs go in parallel (default 4).
mod behaviour_support;
mod lab;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use lab::{wait_until, Lab, Segment};

#[test]
fn keepalived_and_vipd_behave_the_same_on_every_behaviour_fixture() {
    behaviour_support::compare(behaviour_support::load_fixtures());
}

// ---------------------------------------------------------------- found differences

fn ipv6_unicast_conf(me: usize, peer: usize, priority: u8) -> String {
    format!(
        "vrrp_instance VI_6U {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 80\n    \
         priority {priority}\n    advert_int 0.2\n    unicast_src_ip {}\n    unicast_peer {{\n        \
         {}\n    }}\n    virtual_ipaddress {{\n        2001:db8::180/64\n    }}\n}}\n",
        Segment::Main.router_ip6(me),
        Segment::Main.router_ip6(peer)
    )
}

/// keepalived 2.2.7 sends IPv6 unicast adverts with the system's hop limit (64, seen by
/// fixture v3-ipv6-unicast), not 255: a vipd backup must still follow such a master instead
/// of dropping its adverts and taking the VIP too.
#[test]
fn vipd_follows_a_keepalived_ipv6_unicast_master() {
    let lab = Lab::new("behaviour-ka6u", 2);
    let _keepalived = lab.spawn_keepalived(2, &ipv6_unicast_conf(2, 1, 150));
    let vip: IpAddr = "2001:db8::180".parse().unwrap();
    assert!(
        lab.wait_sole_holder(vip, 2, Duration::from_secs(10))
            .is_some(),
        "keepalived did not become master"
    );
    let vipd = lab.spawn_vipd(1, &ipv6_unicast_conf(1, 2, 100));
    let following = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        lab::vipd_status(&vipd).is_some_and(|s| {
            s.instances
                .iter()
                .any(|i| i.state == "BACKUP" && i.master_address.as_deref() == Some("2001:db8::12"))
        })
    });
    assert!(
        following.is_some(),
        "vipd does not follow keepalived: {:?}",
        lab::vipd_status(&vipd)
    );
    // It keeps following: no takeover while keepalived advertises.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        assert_eq!(lab.holders(vip), [2], "vipd took the VIP from keepalived");
        std::thread::sleep(Duration::from_millis(50));
    }
}
