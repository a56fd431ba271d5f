//! Route and rule options beyond destination and gateway (needs root and keepalived 2.2.7):
//! one keepalived.conf with multipath routes, `tos`, metrics, realms, IPv6 `pref`/`expires`,
//! and rules with `uidrange`, `ipproto`, ports, `suppress_*`, `goto`, `l3mdev`, `realms`, is run
//! by keepalived alone and then by vipd alone on the same lab router; what each installs once
//! master (`ip -d route show`, `ip rule show`) must be the same, except for the two
//! differences vipd documents (REFERENCE.md "Routes and rules"). vipd then puts back a
//! multipath route and a rule deleted by hand, and both remove everything when they stop.

mod lab;

use std::collections::BTreeSet;
use std::time::Duration;

use lab::{wait_until, Lab};

const TABLE: &str = "181";

fn conf() -> String {
    "vrrp_instance VI_RO {
    state MASTER
    interface eth0
    virtual_router_id 181
    priority 200
    advert_int 0.2
    version 3
    virtual_ipaddress {
        192.0.2.181/24
    }
    virtual_routes {
        198.51.100.0/24 table 181 nexthop via 192.0.2.1 dev eth0 weight 1 nexthop via 192.0.2.2 dev eth0 weight 3
        198.51.101.0/24 via 192.0.2.1 or 192.0.2.2 table 181
        198.51.101.128/25 via 192.0.2.1 or 192.0.2.2 dev eth0 table 181
        198.51.102.0/24 via 192.0.2.1 dev eth0 tos 0x10 table 181 metric 5
        198.51.103.0/24 via 192.0.2.1 dev eth0 table 181 advmss 1400 rtt 2000 rttvar 300ms reordering 5 window 1000 cwnd 10 ssthresh lock 20 initcwnd 30 initrwnd 40 features ecn quickack 1 congctl cubic fastopen_no_cookie 1 hoplimit 33 rto_min 1s
        198.51.104.0/24 via 192.0.2.1 dev eth0 table 181 realms 3/4 mtu lock 1300 rtt 100
        198.51.105.0/24 via 192.0.2.9 dev eth0 onlink table 181
        198.51.106.0/24 table 181 nexthop via 192.0.2.1 dev eth0 onlink nexthop via 192.0.2.2 dev eth0 realms 7
        2001:db8:181::/48 via 2001:db8::1 dev eth0 table 181 pref high expires 1000
        2001:db8:182::/48 table 181 nexthop via 2001:db8::1 dev eth0 weight 2 nexthop via 2001:db8::2 dev eth0
    }
    virtual_rules {
        from 192.0.2.0/24 table 181 priority 1100 uidrange 1000-2000
        from 192.0.2.0/24 table 181 priority 1101 ipproto udp sport 1000-2000 dport 53-54
        from 192.0.2.0/24 table 181 priority 1102 suppress_prefixlength 0
        from 192.0.2.0/24 table 181 priority 1103 suppress_ifgroup 5
        from 192.0.2.0/24 priority 1104 goto 1110
        l3mdev priority 1105
        from 192.0.2.0/24 table 181 priority 1106 ipproto tcp dport 25
        not from 192.0.2.0/24 table 181 priority 1107 uidrange 5-5 dport 7-7
        from 2001:db8::/32 table 181 priority 1108 ipproto ipv6-icmp suppress_prefixlength 64
        from 192.0.2.0/24 table 181 priority 1109 ipproto tcp dport 80 no_track
        from 192.0.2.0/24 table 181 priority 1110 realms 3/4
        from 192.0.2.0/24 table 181 priority 1111 ip_proto tcp
    }
}
"
    .to_string()
}

/// What the router holds in table 181 and among the rules 1100..=1111: one line per route
/// (its nexthop lines joined on) or rule, the counting-down `expires` left out.
fn installed(lab: &Lab) -> BTreeSet<String> {
    let ns = lab.router_ns(1);
    let mut out = BTreeSet::new();
    for family in ["-4", "-6"] {
        let text = lab
            .exec(ns, &format!("ip {family} -d route show table {TABLE}"))
            .stdout;
        let mut current = String::new();
        for line in text.lines() {
            if line.starts_with(char::is_whitespace) {
                current.push_str(" |");
                current.push_str(line.trim_end());
                continue;
            }
            if !current.is_empty() {
                out.insert(std::mem::take(&mut current));
            }
            current = line.trim_end().to_string();
        }
        if !current.is_empty() {
            out.insert(current);
        }
        let rules = lab.exec_ok(ns, &format!("ip {family} rule show"));
        out.extend(
            (rules.lines())
                .filter(|l| l.starts_with("11"))
                .map(|l| l.trim_end().to_string()),
        );
    }
    out.into_iter()
        .map(|line| {
            let words: Vec<&str> = line.split(' ').collect();
            let mut kept = Vec::new();
            let mut skip = false;
            for w in words {
                if skip {
                    skip = false;
                } else if w == "expires" {
                    skip = true;
                    kept.push("expires *");
                } else {
                    kept.push(w);
                }
            }
            kept.join(" ")
        })
        .collect()
}

/// Waits until `count` routes and rules are installed and stay for a moment.
fn settled(lab: &Lab, count: usize, who: &str) -> BTreeSet<String> {
    let seen = wait_until(Duration::from_secs(15), Duration::from_millis(100), || {
        installed(lab).len() >= count
    });
    std::thread::sleep(Duration::from_millis(300));
    let now = installed(lab);
    assert!(
        seen.is_some(),
        "{who} installed {} of {count}:\n{}",
        now.len(),
        lines(&now)
    );
    now
}

fn lines(set: &BTreeSet<String>) -> String {
    set.iter().map(|l| format!("  {l}\n")).collect()
}

fn gone(lab: &Lab, who: &str) {
    let empty = wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
        installed(lab).is_empty()
    });
    assert!(
        empty.is_some(),
        "{who} left behind:\n{}",
        lines(&installed(lab))
    );
}

#[test]
fn vipd_installs_the_route_and_rule_options_keepalived_installs() {
    let lab = Lab::new("route-opts", 1);
    let ns = lab.router_ns(1).to_string();

    // keepalived 2.2.7: refuses `via A or B dev IF` (it sends RTA_OIF beside nexthops
    // without a device: EINVAL) and skips `ip_proto` (an unknown option to it).
    let mut keepalived = lab.spawn_keepalived(1, &conf());
    let by_keepalived = settled(&lab, 20, "keepalived");
    keepalived.stop();
    gone(&lab, "keepalived");

    let mut vipd = lab.spawn_vipd(1, &conf());
    let by_vipd = settled(&lab, 21, "vipd");

    // The documented differences: vipd installs the `or` route with `dev` as written, and
    // single ports (keepalived: "invalid dport range", the rule without its port).
    let or_route = "unicast 198.51.101.128/25 proto keepalived scope global  \
                    |\tnexthop via 192.0.2.1 dev eth0 weight 1 |\tnexthop via 192.0.2.2 dev eth0 weight 1";
    let mut expected: BTreeSet<String> = by_keepalived
        .iter()
        .map(|l| {
            if l.starts_with("1106:") {
                l.replace("ipproto tcp lookup", "ipproto tcp dport 25 lookup")
            } else if l.starts_with("1109:") {
                l.replace("ipproto tcp lookup", "ipproto tcp dport 80 lookup")
            } else {
                l.clone()
            }
        })
        .collect();
    let normalise = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    expected.insert(or_route.to_string());
    let expected: BTreeSet<String> = expected.iter().map(|l| normalise(l)).collect();
    let got: BTreeSet<String> = by_vipd.iter().map(|l| normalise(l)).collect();
    let only_keepalived: BTreeSet<_> = expected.difference(&got).cloned().collect();
    let only_vipd: BTreeSet<_> = got.difference(&expected).cloned().collect();
    assert!(
        only_keepalived.is_empty() && only_vipd.is_empty(),
        "keepalived installed (with the documented differences applied):\n{}\nvipd installed:\n{}\n\
         only keepalived:\n{}\nonly vipd:\n{}\nvipd log:\n{}",
        lines(&expected),
        lines(&got),
        lines(&only_keepalived),
        lines(&only_vipd),
        vipd.log()
    );
    // Spot checks that the comparison saw the options at all.
    let all = lines(&got);
    for needle in [
        "tos 0x10",
        "weight 3",
        "ssthresh lock 20",
        "congctl cubic",
        "realms 3/4",
        "pref high",
        "uidrange 1000-2000",
        "suppress_prefixlength 0",
        "goto 1110",
        "l3mdev-table",
        "sport 1000-2000 dport 53-54",
    ] {
        assert!(all.contains(needle), "{needle} not installed:\n{all}");
    }

    // Deleted by hand on the master: put back, recognised as vipd's by every field.
    lab.exec_ok(&ns, &format!("ip route del 198.51.100.0/24 table {TABLE}"));
    lab.exec_ok(&ns, "ip rule del priority 1100");
    let back = wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
        installed(&lab) == by_vipd
    });
    assert!(
        back.is_some(),
        "not put back:\n{}\nlog:\n{}",
        lines(&installed(&lab)),
        vipd.log()
    );

    let status = vipd.stop();
    assert!(status.success(), "vipd exit {status:?}:\n{}", vipd.log());
    gone(&lab, "vipd");
}
