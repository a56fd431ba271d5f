//! The seeds' keepalived.conf files (daemon/tests/fixtures/keepalived/seed-*.conf, written
//! out as the seed documents show them), run by vipd in the namespace lab (needs root): each
//! passes `vipd check` as it is, then runs on two nodes with the VIP on the right node and
//! failing over when what it checks dies, as the seeds' own failover tests do.
//!
//! What the lab changes, and only that: addresses become documentation ranges (the lab may
//! not use the seeds' 192.168/172.16 networks), script paths point to files the test writes,
//! and the lab's interfaces are renamed to the seeds' names (ens33, eno1, wg99, eth9, ...),
//! so the files keep their interface names.

mod lab;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lab::{vipd_status, Daemon, Lab, LabOptions, ServiceKind};

const SETTLE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(25);

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keepalived")
        .join(name)
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixture_path(name)).unwrap()
}

/// `text` with `from` replaced by `to`; `from` must be there.
fn swap(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "`{from}` not in\n{text}");
    text.replace(from, to)
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn expect_holder(lab: &Lab, vip: IpAddr, router: usize, why: &str) {
    lab::wait_until(SETTLE, POLL, || lab.holders(vip) == [router]).unwrap_or_else(|| {
        panic!(
            "{why}: expected r{router} alone to hold {vip}, holders {:?}",
            lab.holders(vip)
        )
    });
}

/// The one router holding `vip` once things settled.
fn sole_holder(lab: &Lab, vip: IpAddr) -> usize {
    let mut holder = 0;
    lab::wait_until(SETTLE, POLL, || match lab.holders(vip).as_slice() {
        [one] => {
            holder = *one;
            true
        }
        _ => false,
    })
    .unwrap_or_else(|| panic!("no single holder of {vip}: {:?}", lab.holders(vip)));
    holder
}

/// `vipd check` accepts the file (warnings allowed); returns its stderr.
fn vipd_check(path: &Path) -> String {
    let binary = lab::vipd_binary().unwrap();
    let out = lab::run(&[
        binary.to_str().unwrap(),
        "check",
        "-c",
        path.to_str().unwrap(),
    ]);
    assert!(
        out.success,
        "vipd check refused {}:\n{}{}",
        path.display(),
        out.stdout,
        out.stderr
    );
    out.stderr
}

/// Renames `from` to `to` in `router`'s namespace (addresses stay).
fn rename(lab: &Lab, router: usize, from: &str, to: &str) {
    let ns = lab.router_ns(router);
    lab::run_ok(&["ip", "-n", ns, "link", "set", from, "down"]);
    lab::run_ok(&["ip", "-n", ns, "link", "set", from, "name", to]);
    lab::run_ok(&["ip", "-n", ns, "link", "set", to, "up"]);
}

fn check_state(daemon: &Daemon, check: &str) -> Option<String> {
    vipd_status(daemon)?
        .checks
        .into_iter()
        .find(|c| c.name == check)
        .map(|c| c.state)
}

fn expect_check(daemon: &Daemon, check: &str, state: &str) {
    lab::wait_until(SETTLE, POLL, || {
        check_state(daemon, check).as_deref() == Some(state)
    })
    .unwrap_or_else(|| {
        panic!(
            "check {check} never {state} (now {:?})\n{}",
            check_state(daemon, check),
            daemon.log()
        )
    });
}

/// k8s-ha-control-plane-guide: hand-written MASTER (eno1, 101) and BACKUP (enp2s0, 100)
/// with PASS authentication; the seed's test stops keepalived on the master, sees the VIP on
/// the backup, starts it again and sees the VIP come back.
#[test]
fn lab_seeds_ha_guide_master_backup_stop_and_return() {
    let lab = Lab::new("seed-ha", 2);
    for name in ["seed-ha-guide-master.conf", "seed-ha-guide-backup.conf"] {
        vipd_check(&fixture_path(name));
    }
    rename(&lab, 1, "eth0", "eno1");
    rename(&lab, 2, "eth0", "enp2s0");
    let master = swap(
        &fixture("seed-ha-guide-master.conf"),
        "192.168.1.100",
        "192.0.2.100",
    );
    let backup = swap(
        &fixture("seed-ha-guide-backup.conf"),
        "192.168.1.100",
        "192.0.2.100",
    );
    let vip = ip("192.0.2.100");
    let mut r1 = lab.spawn_vipd(1, &master);
    let _r2 = lab.spawn_vipd(2, &backup);
    expect_holder(&lab, vip, 1, "the MASTER (101) holds the VIP");
    r1.stop();
    expect_holder(&lab, vip, 2, "master stopped: the backup holds it");
    let _r1 = lab.spawn_vipd(1, &master);
    expect_holder(&lab, vip, 1, "master back: it preempts");
}

/// keepalived-flatcar-sysext, Butane example: the same file (state MASTER, priority 100) on
/// both nodes. One node holds the VIP (at equal priority the first master keeps it: a backup
/// takes over only from a lower priority, RFC 5798 6.4.2), and the other node takes over
/// when it stops.
#[test]
fn lab_seeds_flatcar_butane_same_file_on_both_nodes() {
    let lab = Lab::new("seed-butane", 2);
    vipd_check(&fixture_path("seed-flatcar-butane.conf"));
    let text = swap(
        &fixture("seed-flatcar-butane.conf"),
        "192.168.1.100/24",
        "192.0.2.100/24",
    );
    let vip = ip("192.0.2.100");
    let mut daemons: Vec<Daemon> = lab
        .router_indices()
        .map(|r| lab.spawn_vipd(r, &text))
        .collect();
    let holder = sole_holder(&lab, vip);
    daemons[holder - 1].stop();
    expect_holder(
        &lab,
        vip,
        3 - holder,
        "the holder stopped: the other node takes over",
    );
}

/// The seed's check-apiserver.sh, with the address it probes. The seed probes the VIP, which
/// every node reaches on the master: all nodes fail together and nothing can fail over
/// (keepalived likewise). Probing the node's own API server, as kubeadm's HA guide does, is
/// what makes the weight -2 move the VIP; the rest of the script is the seed's.
fn check_apiserver_script(lab: &Lab) -> PathBuf {
    lab.write_script(
        "check-apiserver.sh",
        "#!/bin/bash\n# Check if kube-apiserver is responding\n\n\
         APISERVER_VIP=127.0.0.1\nAPISERVER_PORT=6443\n\n\
         curl -sfk https://${APISERVER_VIP}:${APISERVER_PORT}/healthz > /dev/null 2>&1\n\
         if [ $? -eq 0 ]; then\n    exit 0\nelse\n    exit 1\nfi\n",
    )
}

/// keepalived-flatcar-sysext's two configurations with check_apiserver (weight -2, fall 2):
/// the same file on both nodes; the master's API server dies and the other node takes over.
fn flatcar_apiserver(test: &str, fixture_name: &str, vip_text: &str) {
    let lab = Lab::new(test, 2);
    let stderr = vipd_check(&fixture_path(fixture_name));
    // Not on this machine: a warning, the check runs once the file appears.
    assert!(
        stderr.contains("check check_apiserver: disabled until its script can run"),
        "{stderr}"
    );
    let script = check_apiserver_script(&lab);
    let text = swap(
        &swap(&fixture(fixture_name), vip_text, "192.0.2.100/24"),
        "/usr/local/bin/check-apiserver.sh",
        script.to_str().unwrap(),
    );
    let mut apiservers: Vec<lab::Service> = lab
        .router_indices()
        .map(|r| lab.service(r, ServiceKind::Https, 6443))
        .collect();
    let vip = ip("192.0.2.100");
    let daemons: Vec<Daemon> = lab
        .router_indices()
        .map(|r| lab.spawn_vipd(r, &text))
        .collect();
    // Equal priority: whichever became master first keeps the VIP.
    let holder = sole_holder(&lab, vip);
    expect_check(&daemons[holder - 1], "check_apiserver", "up");
    apiservers[holder - 1].kill();
    expect_holder(
        &lab,
        vip,
        3 - holder,
        "the holder's API server died: 98 < 100",
    );
    expect_check(&daemons[holder - 1], "check_apiserver", "down");
}

#[test]
fn lab_seeds_flatcar_basic_apiserver_dies_vip_moves() {
    flatcar_apiserver(
        "seed-fc-basic",
        "seed-flatcar-basic.conf",
        "192.168.1.100/24",
    );
}

#[test]
fn lab_seeds_flatcar_strict_apiserver_dies_vip_moves() {
    flatcar_apiserver(
        "seed-fc-strict",
        "seed-flatcar-apiserver.conf",
        "192.168.1.100/24 dev eth0",
    );
}

/// Host PID of the process running `exe`.
fn pid_of_exe(exe: &Path) -> Option<i32> {
    std::fs::read_dir("/proc").ok()?.find_map(|e| {
        let e = e.ok()?;
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        (std::fs::read_link(e.path().join("exe")).ok()? == exe).then_some(pid)
    })
}

/// k8s-multimaster-haproxy-keepalived: two HAProxy nodes (master 100, backup 90) checking
/// `killall -0 haproxy`; the seed's test stops HAProxy on the master and expects the VIP to
/// move. Each node runs in its own PID namespace with its own process named haproxy (a copy
/// of sleep), so each vipd sees only its node's haproxy, as on real machines.
#[test]
fn lab_seeds_multimaster_haproxy_stopped_vip_moves() {
    let lab = Lab::new("seed-haproxy", 2);
    let stderr = vipd_check(&fixture_path("seed-multimaster-haproxy.conf"));
    assert!(stderr.contains("native process check"), "{stderr}");
    let master = swap(
        &fixture("seed-multimaster-haproxy.conf"),
        "192.168.10.100/24",
        "192.0.2.100/24",
    );
    let backup = swap(
        &swap(
            &swap(&master, "state MASTER", "state BACKUP"),
            "priority 100",
            "priority 90",
        ),
        "router_id haproxy1",
        "router_id haproxy2",
    );
    let binary = lab::vipd_binary().unwrap();
    let mut nodes = Vec::new();
    for (router, text) in [(1, &master), (2, &backup)] {
        rename(&lab, router, "eth0", "ens33");
        let dir = lab.dir().join(format!("node{router}"));
        std::fs::create_dir_all(&dir).unwrap();
        let haproxy = dir.join("haproxy");
        std::fs::copy("/bin/sleep", &haproxy).unwrap();
        let conf = dir.join("keepalived.conf");
        std::fs::write(&conf, text).unwrap();
        let socket = dir.join("vipd.sock");
        let line = format!(
            "{} 600 & {} run -c {} --socket {}",
            haproxy.display(),
            binary.display(),
            conf.display(),
            socket.display()
        );
        let mut node = lab.spawn(
            router,
            &[
                "unshare",
                "--pid",
                "--fork",
                "--mount-proc",
                "/bin/sh",
                "-c",
                &line,
            ],
            &[("VIPD_LOG", "debug")],
        );
        node.socket_path = Some(socket);
        nodes.push((node, haproxy));
    }
    let vip = ip("192.0.2.100");
    expect_holder(&lab, vip, 1, "both haproxy up: 120 vs 110");
    expect_check(&nodes[0].0, "chk_haproxy", "up");
    expect_check(&nodes[1].0, "chk_haproxy", "up");
    let pid = lab::wait_until(SETTLE, POLL, || pid_of_exe(&nodes[0].1).is_some())
        .and_then(|_| pid_of_exe(&nodes[0].1))
        .expect("the master's haproxy");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    expect_holder(&lab, vip, 2, "haproxy stopped on the master: 100 < 110");
    expect_check(&nodes[0].0, "chk_haproxy", "down");
}

/// ansible-keepalived-role: VIP /32 on WireGuard interface wg99, unicast between the two
/// planes (198.51.100.7/.8), `nc -z` checks of HAProxy (7443, weight 20) and the API (6443,
/// weight 10), rise 2, fall 3, interval 2, scripts as root. HAProxy dies on the master
/// (130) and the backup (99 + 30 = 129) takes the VIP.
#[test]
fn lab_seeds_ansible_wireguard_haproxy_dies_vip_moves() {
    let lab = Lab::new("seed-wg", 2);
    vipd_check(&fixture_path("seed-ansible-wireguard.conf"));
    let master = fixture("seed-ansible-wireguard.conf");
    // The backup plane: its own address in the checks and as source, priority 99.
    let backup = swap(
        &swap(
            &swap(&master, "198.51.100.7", "PLANE_A"),
            "198.51.100.8",
            "198.51.100.7",
        ),
        "PLANE_A",
        "198.51.100.8",
    );
    let backup = swap(
        &swap(&backup, "state MASTER", "state BACKUP"),
        "priority 100",
        "priority 99",
    );
    let mut listeners = Vec::new();
    for (router, addr) in [(1, "198.51.100.7"), (2, "198.51.100.8")] {
        rename(&lab, router, "eth0", "wg99");
        lab::run_ok(&[
            "ip",
            "-n",
            lab.router_ns(router),
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            "wg99",
        ]);
        for port in ["7443", "6443"] {
            listeners.push(lab.spawn(router, &["nc", "-lk", addr, port], &[]));
        }
    }
    let r1 = lab.spawn_vipd(1, &master);
    let _r2 = lab.spawn_vipd(2, &backup);
    let vip = ip("198.51.100.100");
    expect_holder(&lab, vip, 1, "130 vs 129");
    expect_check(&r1, "chk_haproxy", "up");
    // r1's HAProxy (7443) dies.
    listeners[0].stop();
    expect_holder(&lab, vip, 2, "HAProxy died on the master: 110 < 129");
    expect_check(&r1, "chk_haproxy", "down");
}

/// A stand-in for the chart's /opt/bin/vrrp_check.sh: `URL_CHECK URL` and `API_CHECK` with
/// curl -fks, the API at KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT as in a pod.
fn vrrp_check_script(lab: &Lab) -> PathBuf {
    lab.write_script(
        "vrrp_check.sh",
        "#!/bin/bash\ncase $1 in\n  URL_CHECK) exec curl -fksS -m 5 -o /dev/null \"$2\" ;;\n  \
         API_CHECK) exec curl -fksS -m 5 -o /dev/null \
         \"https://${KUBERNETES_SERVICE_HOST}:${KUBERNETES_SERVICE_PORT}/healthz\" ;;\n  \
         *) exit 1 ;;\nesac\n",
    )
}

/// keepalived-ingress-vip: the chart's keepalived.conf (global_defs with
/// `vrrp_garp_lower_prio_repeat 1`, VRRP on eth9, the VIP on eth0, bash/timeout/bc wrapped
/// checks of the ingress controller, the kubelet and the API). The ingress controller dies
/// on the node holding the VIP (chk_url, weight 0: FAULT) and the other node takes it.
#[test]
fn lab_seeds_ingress_chart_controller_dies_vip_moves() {
    let lab = Lab::with_options(
        "seed-ingress",
        LabOptions {
            routers: 2,
            second_segment: true,
        },
    );
    vipd_check(&fixture_path("seed-ingress-vip.conf"));
    let script = vrrp_check_script(&lab);
    let text = swap(
        &swap(
            &fixture("seed-ingress-vip.conf"),
            "/opt/bin/vrrp_check.sh",
            script.to_str().unwrap(),
        ),
        "172.16.135.2/21",
        "198.51.100.100/24",
    );
    let mut services = Vec::new();
    for router in lab.router_indices() {
        rename(&lab, router, "eth0", "eth9");
        rename(&lab, router, "eth1", "eth0");
        services.push(vec![
            lab.service(router, ServiceKind::Http, 10254),
            lab.service(router, ServiceKind::Http, 10248),
            lab.service(router, ServiceKind::Https, 6443),
        ]);
    }
    // A pod's environment, which keepalived (and vipd) pass to the scripts.
    let env = [
        ("VIPD_LOG", "debug"),
        ("KUBERNETES_SERVICE_HOST", "127.0.0.1"),
        ("KUBERNETES_SERVICE_PORT", "6443"),
    ];
    let binary = lab::vipd_binary().unwrap();
    let mut daemons = Vec::new();
    for router in lab.router_indices() {
        let conf = lab.dir().join(format!("ingress-r{router}.conf"));
        std::fs::write(&conf, &text).unwrap();
        let socket = lab.dir().join(format!("ingress-r{router}.sock"));
        let mut d = lab.spawn(
            router,
            &[
                binary.to_str().unwrap(),
                "run",
                "-c",
                conf.to_str().unwrap(),
                "--socket",
                socket.to_str().unwrap(),
                "--state-dir",
                lab.state_dir(router).to_str().unwrap(),
            ],
            &env,
        );
        d.socket_path = Some(socket);
        daemons.push(d);
    }
    let vip = ip("198.51.100.100");
    let holder = sole_holder(&lab, vip);
    let other = 3 - holder;
    for d in &daemons {
        for check in ["chk_url", "chk_kubelet", "chk_kubeapi"] {
            expect_check(d, check, "up");
        }
    }
    services[holder - 1][0].kill();
    expect_holder(
        &lab,
        vip,
        other,
        "the ingress controller died: FAULT, the other node takes the VIP",
    );
    expect_check(&daemons[holder - 1], "chk_url", "down");
}
