//! The shipped unit and sysext under a real service manager: Debian roots booted with systemd
//! as PID 1 (`systemd-nspawn -b`; the e2e_sysext trixie root, systemd 257, and a bookworm
//! root, systemd 252), the network a lab namespace joined by a veth pair to a keepalived
//! 2.2.7 peer in another namespace. Needs root, mmdebstrap, systemd-container
//! (systemd-nspawn) and keepalived.
//!
//! - The image `bake build` makes, in the first-boot layout (/opt/extensions + symlink), is
//!   merged at boot by systemd-sysext.service, and its `Upholds=` drop-in starts vipd under the
//!   hardened unit: READY, watchdog, the dynamic user, seccomp, capabilities. vipd wins the
//!   election, its check and notify scripts run under the sandbox, `systemctl reload` reloads,
//!   `systemctl stop` hands the VIP to the peer (and `Upholds=` starts vipd again, as README.md
//!   says); README.md's uninstall block stops it for good and leaves no VIP behind.
//! - README.md's manual install: `systemd-sysext refresh` merges and `Upholds=` starts vipd.
//! - README.md's plain-distribution install replaces a running keepalived (Debian 13 and 12);
//!   there `systemctl stop vipd` sticks, hands over and leaves no VIP behind.
//! - bakery/README.md's drop-in for scripts that must run as root.
//!
//! nspawn here: systemd 257 needs the unified cgroup hierarchy (the host may be hybrid, so
//! SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1), there is no host systemd to register with
//! (`--register=no --keep-unit`), and each container runs from a cgroup of its own so that
//! nspawn's `payload`/`supervisor` cgroups never collide between tests. nspawn keeps
//! CAP_NET_ADMIN from the container unless told (`--capability`; the network is the lab's
//! namespace), and its /dev has no loop devices for systemd-sysext (see `loop_devices`).

mod common;
mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use support::{out_of, vipd_static, Out, Scratch, BAKE};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Short names unique per test and process (interfaces and namespaces of other tests and other
/// helpers' runs live on the same machine).
fn unique(tag: &str) -> String {
    format!(
        "bt{tag}{}x{}",
        std::process::id() % 100_000,
        SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

fn run(cmd: &mut Command) -> Out {
    out_of(cmd.stdin(Stdio::null()).output().unwrap())
}

fn sh(script: &str) -> Out {
    run(Command::new("sh").args(["-eu", "-c", script]))
}

fn sh_ok(script: &str) -> String {
    let o = sh(script);
    assert!(o.ok(), "{script}\n{o}");
    o.stdout
}

/// Polls `probe` until it returns true or `secs` pass.
fn wait_for(secs: u64, mut probe: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if probe() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

const VIP: &str = "192.0.2.100";

/// Two namespaces on one segment: `node` (the container's network, 192.0.2.1) and `peer`
/// (192.0.2.2, where keepalived runs). Both interfaces are `eth0`.
struct Lab {
    node: String,
    peer: String,
    keepalived: Option<Child>,
    log: PathBuf,
}

impl Lab {
    fn new(tag: &str) -> Lab {
        let lab = Lab {
            node: unique(&format!("{tag}n")),
            peer: unique(&format!("{tag}p")),
            keepalived: None,
            log: PathBuf::new(),
        };
        sh_ok(&format!(
            "ip netns add {n}; ip netns add {p}
             ip -n {n} link add eth0 type veth peer name eth0 netns {p}
             ip -n {n} addr add 192.0.2.1/24 dev eth0; ip -n {p} addr add 192.0.2.2/24 dev eth0
             for ns in {n} {p}; do ip -n $ns link set lo up; ip -n $ns link set eth0 up; done",
            n = lab.node,
            p = lab.peer
        ));
        lab
    }

    /// keepalived 2.2.7 in the peer namespace, VRRPv3, same VRID and VIP, `priority`.
    fn start_peer(&mut self, dir: &Path, priority: u8) {
        let conf = dir.join("peer-keepalived.conf");
        self.log = dir.join("peer-keepalived.log");
        let log = std::fs::File::create(&self.log).unwrap();
        std::fs::write(
            &conf,
            format!(
                "global_defs {{\n  router_id peer\n  vrrp_version 3\n}}\n\
                 vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n\
                 priority {priority}\n  advert_int 1\n  virtual_ipaddress {{\n    {VIP}/24\n  }}\n}}\n"
            ),
        )
        .unwrap();
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.peer,
                "keepalived",
                "-n",
                "-l",
                "-D",
                "-P",
            ])
            .arg("-f")
            .arg(&conf)
            .arg("-p")
            .arg(dir.join("peer-keepalived.pid"))
            .arg("-r")
            .arg(dir.join("peer-vrrp.pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("keepalived (apt-get install keepalived)");
        self.keepalived = Some(child);
    }

    /// How often keepalived became master so far (from its log).
    fn peer_masters(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .matches("Entering MASTER STATE")
            .count()
    }

    fn has_vip(ns: &str) -> bool {
        sh_ok(&format!("ip -n {ns} -4 -o addr show dev eth0")).contains(&format!(" {VIP}/"))
    }

    fn node_has_vip(&self) -> bool {
        Lab::has_vip(&self.node)
    }

    fn peer_has_vip(&self) -> bool {
        Lab::has_vip(&self.peer)
    }

    /// Waits until exactly one side holds the VIP: the node (`true`) or the peer.
    fn wait_holder(&self, node: bool, secs: u64) -> bool {
        wait_for(secs, || {
            self.node_has_vip() == node && self.peer_has_vip() != node
        })
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut k) = self.keepalived.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &k.id().to_string()])
                .status();
            let _ = k.wait();
        }
        let _ = sh(&format!(
            "ip netns del {} 2>/dev/null; ip netns del {} 2>/dev/null; true",
            self.node, self.peer
        ));
    }
}

/// A copy-on-write root (overlay over a cached root) booted with systemd as PID 1 in
/// systemd-nspawn, with `netns` as its network.
struct Container {
    scratch: Scratch,
    nspawn: Option<Child>,
    pid1: u32,
    machine: String,
    cgroups: Vec<PathBuf>,
}

/// The cgroup directories a container is started from: on a unified host one, on a hybrid
/// host (this machine: v1 controllers, cgroup2 at /sys/fs/cgroup/unified) the unified one and
/// the name=systemd one nspawn uses too.
fn cgroup_dirs(name: &str) -> Vec<PathBuf> {
    let fs = sh_ok("stat -fc %T /sys/fs/cgroup");
    if fs.trim() == "cgroup2fs" {
        vec![PathBuf::from("/sys/fs/cgroup").join(name)]
    } else {
        ["unified", "systemd"]
            .iter()
            .map(|h| PathBuf::from("/sys/fs/cgroup").join(h))
            .filter(|p| p.exists())
            .map(|p| p.join(name))
            .collect()
    }
}

impl Container {
    /// `prepare` writes into the upper layer (the root's changes) before boot.
    fn boot(tag: &str, lower: &Path, netns: &str, prepare: impl FnOnce(&Path)) -> Container {
        let scratch = Scratch::new(&format!("boot-{tag}"));
        let (upper, work, root) = scratch.overlay_dirs();
        prepare(&upper);
        let machine = unique(tag);
        let cgroups = cgroup_dirs(&machine);
        let log = std::fs::File::create(scratch.path().join("console.log")).unwrap();
        let script = r#"set -eu
            for cg in $CGROUPS; do mkdir -p "$cg"; echo $$ > "$cg/cgroup.procs"; done
            mount -t overlay overlay -o "lowerdir=$LOWER,upperdir=$UPPER,workdir=$WORK" "$ROOT"
            SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 exec systemd-nspawn --quiet --boot \
                --directory="$ROOT" --machine="$MACHINE" --register=no --keep-unit \
                --network-namespace-path="/run/netns/$NETNS" --capability=CAP_NET_ADMIN \
                --console=read-only"#;
        let cg_list: Vec<String> = cgroups.iter().map(|p| p.display().to_string()).collect();
        let nspawn = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", script])
            .env("CGROUPS", cg_list.join(" "))
            .env("LOWER", lower)
            .env("UPPER", &upper)
            .env("WORK", &work)
            .env("ROOT", &root)
            .env("MACHINE", &machine)
            .env("NETNS", netns)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("systemd-nspawn (apt-get install systemd-container)");
        let mut c = Container {
            scratch,
            nspawn: Some(nspawn),
            pid1: 0,
            machine,
            cgroups,
        };
        let nspawn_pid = c.nspawn.as_ref().unwrap().id();
        let found = wait_for(60, || match init_below(nspawn_pid) {
            Some(pid) => {
                c.pid1 = pid;
                true
            }
            None => false,
        });
        assert!(found, "no PID 1 in the container\n{}", c.console());
        // systemctl answers once the manager is up; then wait for the boot to finish.
        let booted = wait_for(120, || {
            let o = c.exec("systemctl is-system-running --wait");
            let state = o.stdout.trim().to_string();
            state == "running" || state == "degraded"
        });
        let state = c.exec(
            "systemctl is-system-running || true; systemctl --failed --no-pager --plain \
             | awk '/\\.service/ {print $1}' | while read -r u; do \
             systemctl status --no-pager --lines=30 \"$u\" || true; done",
        );
        assert!(booted, "boot did not finish:\n{state}\n{}", c.console());
        assert!(
            state.stdout.starts_with("running"),
            "units failed at boot:\n{state}\n{}",
            c.console()
        );
        c
    }

    fn console(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(self.scratch.path().join("console.log")) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// A command entering all the container's namespaces, as root, with a clean
    /// environment; the caller adds the rest of it.
    fn enter(&self) -> Command {
        let mut command = Command::new("nsenter");
        command
            .args(["-t", &self.pid1.to_string(), "-a", "--"])
            .args([
                "env",
                "-i",
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ])
            .args(["LANG=C.UTF-8", "SYSTEMD_COLORS=0", "SYSTEMD_PAGER="]);
        command
    }

    /// Runs a shell script inside the container.
    fn exec(&self, script: &str) -> Out {
        run(self.enter().args(["sh", "-eu", "-c", script]))
    }

    fn exec_ok(&self, script: &str) -> String {
        let o = self.exec(script);
        assert!(o.ok(), "in the container: {script}\n{o}");
        o.stdout
    }

    /// Runs a README.md block as root pastes it, in /root, stopping at the first failing
    /// command.
    fn paste(&self, block: &str) -> Out {
        run(self.enter().args([
            "HOME=/root",
            "sh",
            "-c",
            "cd /root && exec sh -eux -c \"$1\"",
            "sh",
            block,
        ]))
    }

    /// Whether `unit` becomes active within `secs`.
    fn becomes_active(&self, unit: &str, secs: u64) -> bool {
        wait_for(secs, || self.is_active(unit) == "active")
    }

    /// `systemctl show -P PROPERTY UNIT`.
    fn prop(&self, unit: &str, property: &str) -> String {
        self.exec_ok(&format!("systemctl show -P {property} {unit}"))
            .trim()
            .to_string()
    }

    fn is_active(&self, unit: &str) -> String {
        self.exec(&format!("systemctl is-active {unit}"))
            .stdout
            .trim()
            .to_string()
    }

    fn journal(&self, unit: &str) -> String {
        self.exec(&format!("journalctl -b --no-pager -u {unit} | tail -n 60"))
            .stdout
    }
}

/// The container's PID 1 among the descendants of nspawn: the process whose innermost PID is 1.
fn init_below(pid: u32) -> Option<u32> {
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        let children =
            std::fs::read_to_string(format!("/proc/{p}/task/{p}/children")).unwrap_or_default();
        for c in children.split_whitespace() {
            let c: u32 = c.parse().ok()?;
            let status = std::fs::read_to_string(format!("/proc/{c}/status")).unwrap_or_default();
            let nspid = status.lines().find_map(|l| l.strip_prefix("NSpid:"));
            if nspid.and_then(|l| l.split_whitespace().last()) == Some("1") {
                return Some(c);
            }
            queue.push(c);
        }
    }
    None
}

impl Drop for Container {
    fn drop(&mut self) {
        if let Some(mut nspawn) = self.nspawn.take() {
            // SIGTERM: nspawn asks the container's systemd to power off.
            let _ = Command::new("kill")
                .args(["-TERM", &nspawn.id().to_string()])
                .status();
            let stopped = wait_for(60, || matches!(nspawn.try_wait(), Ok(Some(_))));
            if !stopped {
                if self.pid1 != 0 {
                    let _ = Command::new("kill")
                        .args(["-KILL", &self.pid1.to_string()])
                        .status();
                }
                let _ = nspawn.kill();
                let _ = nspawn.wait();
            }
        }
        // nspawn leaves its propagation directory and (run from our cgroups) its payload and
        // supervisor cgroups behind.
        let _ = std::fs::remove_dir_all(format!("/run/systemd/nspawn/propagate/{}", self.machine));
        for cg in &self.cgroups {
            let _ = sh(&format!(
                "[ -d '{0}' ] && find '{0}' -depth -type d -exec rmdir {{}} + ; true",
                cg.display()
            ));
        }
        if std::thread::panicking() {
            eprintln!("--- console of {}\n{}", self.machine, self.console());
        }
    }
}

/// Writes `text` at `path` inside an upper layer, creating directories, with `mode`.
fn put(upper: &Path, path: &str, text: &[u8], mode: u32) {
    let dest = upper.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::write(&dest, text).unwrap();
    std::fs::set_permissions(&dest, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
}

fn symlink(upper: &Path, path: &str, target: &str) {
    let dest = upper.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, dest).unwrap();
}

/// systemd-sysext attaches images to loop devices. nspawn's /dev is a tmpfs without them (a
/// real node has devtmpfs and udev): a unit of the test's makes the nodes before
/// systemd-sysext.service runs. Access is not limited otherwise (no device cgroup here).
fn loop_devices(upper: &Path) {
    const UNIT: &str = "[Unit]
Description=e2e: loop device nodes for systemd-sysext
DefaultDependencies=no
Before=systemd-sysext.service
[Service]
Type=oneshot
ExecStart=/bin/sh -c '[ -e /dev/loop-control ] || mknod -m 0600 /dev/loop-control c 10 237; \\
  i=0; while [ $i -lt 256 ]; do [ -e /dev/loop$i ] || mknod -m 0600 /dev/loop$i b 7 $i; i=$((i+1)); done'
[Install]
WantedBy=sysinit.target
";
    put(
        upper,
        "/etc/systemd/system/e2e-loop-nodes.service",
        UNIT.as_bytes(),
        0o644,
    );
    symlink(
        upper,
        "/etc/systemd/system/sysinit.target.wants/e2e-loop-nodes.service",
        "/etc/systemd/system/e2e-loop-nodes.service",
    );
}

/// The capabilities the unit gives vipd: CAP_DAC_READ_SEARCH (2), CAP_NET_ADMIN (12),
/// CAP_NET_RAW (13), as /proc/PID/status prints a set.
const UNIT_CAPS: &str = "0000000000003004";

/// What /proc/PID/status says about the sandbox of `pid` (in the container).
fn sandbox_of(c: &Container, pid: &str) -> String {
    c.exec_ok(&format!(
        "grep -E '^(Uid|Gid|NoNewPrivs|Seccomp|CapEff|CapBnd|CapAmb|CapInh):' /proc/{pid}/status"
    ))
}

fn field<'a>(status: &'a str, name: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
        .unwrap_or_else(|| panic!("{name} missing in\n{status}"))
}

/// vipd's sandbox under the shipped unit: a dynamic (non-root) user, no new privileges,
/// a seccomp filter, and exactly the unit's capabilities.
fn assert_hardened(c: &Container, what: &str) {
    let pid = c.prop("vipd.service", "MainPID");
    assert_ne!(pid, "0", "{what}: vipd has no main PID");
    let status = sandbox_of(c, &pid);
    let uid = field(&status, "Uid");
    assert!(
        !uid.split_whitespace().any(|u| u == "0"),
        "{what}: vipd runs as root\n{status}"
    );
    assert_eq!(field(&status, "NoNewPrivs"), "1", "{what}\n{status}");
    assert_eq!(field(&status, "Seccomp"), "2", "{what}\n{status}");
    assert_eq!(field(&status, "CapBnd"), UNIT_CAPS, "{what}\n{status}");
    assert_eq!(field(&status, "CapAmb"), UNIT_CAPS, "{what}\n{status}");
    assert_eq!(c.prop("vipd.service", "Type"), "notify", "{what}");
    assert_eq!(c.prop("vipd.service", "WatchdogUSec"), "10s", "{what}");
}

/// vipd's own config for the booted node: priority `priority` against keepalived's 100, an
/// exec check (FAULT when /etc/vipd/healthy is missing) and a notify script, both shell
/// scripts recording who ran them in vipd's state directory.
fn node_config(priority: u8) -> String {
    format!(
        r#"[global]
router_id = "booted-node"
vrrp_version = 3

[[instance]]
name = "vip"
interface = "eth0"
vrid = 51
priority = {priority}
advert_interval = "1s"
vips = ["{VIP}/24"]
track_checks = [{{ check = "healthy" }}]

[instance.notify]
any = "/etc/vipd/notify.sh"

[[check]]
name = "healthy"
kind = "exec"
command = "/etc/vipd/check.sh"
interval = "1s"
"#
    )
}

const CHECK_SH: &str = "#!/bin/sh
echo \"uid=$(id -u) $(grep -E '^(NoNewPrivs|Seccomp|CapEff):' /proc/self/status | tr -s '\\t\\n' '  ')\" > /var/lib/vipd/check.who
test -e /etc/vipd/healthy
";

const NOTIFY_SH: &str = "#!/bin/sh
echo \"$* uid=$(id -u)\" >> /var/lib/vipd/notify.log
";

/// The image bake builds (the static vipd, the embedded recipe: unit, Upholds= drop-in).
fn build_image(dir: &Path) -> (String, PathBuf) {
    let version = env!("CARGO_PKG_VERSION").to_string();
    let o = run(Command::new(BAKE)
        .args([
            "build",
            "--version",
            &version,
            "--arch",
            "x86-64",
            "--unsigned",
        ])
        .arg("--vipd")
        .arg(vipd_static())
        .arg("--out")
        .arg(dir));
    assert!(o.ok(), "bake build:\n{o}");
    let image = dir.join(format!("vipd-{version}-x86-64.raw"));
    assert!(image.exists(), "{}", image.display());
    (version, image)
}

fn notify_lines(c: &Container) -> Vec<String> {
    c.exec("cat /var/lib/vipd/notify.log 2>/dev/null || true")
        .stdout
        .lines()
        .map(str::to_string)
        .collect()
}

/// A notify line starting with `prefix` within 10 s.
fn assert_notified(c: &Container, prefix: &str) {
    assert!(
        wait_for(10, || notify_lines(c).iter().any(|l| l.starts_with(prefix))),
        "no notify line {prefix:?}: {:?}\n{}",
        notify_lines(c),
        c.journal("vipd.service")
    );
}

/// /etc/vipd/vipd.toml with `config`, and the check and notify scripts it names (healthy).
fn put_config_and_scripts(up: &Path, config: &str) {
    put(up, "/etc/vipd/vipd.toml", config.as_bytes(), 0o600);
    put(up, "/etc/vipd/check.sh", CHECK_SH.as_bytes(), 0o755);
    put(up, "/etc/vipd/notify.sh", NOTIFY_SH.as_bytes(), 0o755);
    put(up, "/etc/vipd/healthy", b"", 0o644);
}

/// vipd's unit becomes active within 30 s and runs hardened, and vipd takes the VIP within
/// 30 s and says MASTER (`what` names the step); returns its `vipd status`.
fn vipd_takes_the_vip(c: &Container, lab: &Lab, what: &str) -> String {
    assert!(
        c.becomes_active("vipd.service", 30),
        "{what}: vipd not active:\n{}",
        c.journal("vipd.service")
    );
    assert_hardened(c, what);
    assert!(
        lab.wait_holder(true, 30),
        "{what}: vipd never took the VIP:\n{}",
        c.journal("vipd.service")
    );
    let status = c.exec_ok("vipd status");
    assert!(status.contains("MASTER"), "{what}: {status}");
    status
}

/// After vipd was stopped for good: the peer holds the VIP within 20 s, and 3 s later none
/// is left on the node.
fn handed_over_for_good(c: &Container, lab: &Lab) {
    assert!(lab.wait_holder(false, 20), "{}", c.journal("vipd.service"));
    std::thread::sleep(Duration::from_secs(3));
    assert!(!lab.node_has_vip(), "VIP left behind");
}

#[test]
fn sysext_merged_at_boot_runs_vipd_under_the_hardened_unit() {
    let scratch = Scratch::new("boot-sysext-host");
    let mut lab = Lab::new("s");
    lab.start_peer(scratch.path(), 100);
    assert!(
        lab.wait_holder(false, 30),
        "keepalived alone never took the VIP"
    );

    let (version, image) = build_image(scratch.path());
    let image_bytes = std::fs::read(&image).unwrap();
    let name = format!("vipd-{version}-x86-64.raw");
    let c = Container::boot("s", support::trixie_root(), &lab.node, |up| {
        // Flatcar: ID=flatcar SYSEXT_LEVEL=1.0, systemd-sysext.service enabled.
        put(
            up,
            "/usr/lib/os-release",
            support::FLATCAR_OS_RELEASE.as_bytes(),
            0o644,
        );
        symlink(
            up,
            "/etc/systemd/system/sysinit.target.wants/systemd-sysext.service",
            "/usr/lib/systemd/system/systemd-sysext.service",
        );
        loop_devices(up);
        // The first-boot layout README.md and the Butane template write.
        put(
            up,
            &format!("/opt/extensions/vipd/{name}"),
            &image_bytes,
            0o644,
        );
        symlink(
            up,
            "/etc/extensions/vipd.raw",
            &format!("/opt/extensions/vipd/{name}"),
        );
        put_config_and_scripts(up, &node_config(200));
    });

    // Merged at boot; the drop-in's Upholds= started vipd, which reported READY.
    let status = c.exec_ok("systemd-sysext status");
    assert!(status.contains("vipd"), "{status}");
    assert_eq!(
        c.exec_ok("vipd --version").trim(),
        format!("vipd {version}")
    );
    // The election is real: vipd (200) preempts keepalived (100).
    let st = vipd_takes_the_vip(&c, &lab, "after boot");
    assert!(st.contains("200"), "{st}");

    // Check and notify scripts ran as vipd's dynamic user, in the unit's sandbox, without
    // capabilities.
    assert_notified(&c, "INSTANCE vip MASTER 200 uid=");
    let vipd_uid = field(&sandbox_of(&c, &c.prop("vipd.service", "MainPID")), "Uid")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    for line in notify_lines(&c) {
        assert!(line.ends_with(&format!(" uid={vipd_uid}")), "{line}");
    }
    let who = c.exec_ok("cat /var/lib/vipd/check.who");
    assert!(who.starts_with(&format!("uid={vipd_uid} ")), "{who}");
    assert!(who.contains("NoNewPrivs: 1"), "{who}");
    assert!(who.contains("Seccomp: 2"), "{who}");
    assert!(who.contains("CapEff: 0000000000000000"), "{who}");

    // The check decides: unhealthy -> FAULT, the peer takes over; healthy again -> back.
    c.exec_ok("rm /etc/vipd/healthy");
    assert!(lab.wait_holder(false, 20), "{}", c.journal("vipd.service"));
    assert_notified(&c, "INSTANCE vip FAULT");
    c.exec_ok("touch /etc/vipd/healthy");
    assert!(lab.wait_holder(true, 20), "{}", c.journal("vipd.service"));

    // systemctl reload: same process, the new priority.
    let pid = c.prop("vipd.service", "MainPID");
    c.exec_ok("sed -i 's/^priority = 200$/priority = 190/' /etc/vipd/vipd.toml");
    c.exec_ok("systemctl reload vipd");
    assert!(
        wait_for(10, || c.exec_ok("vipd status").contains("190")),
        "{}\n{}",
        c.exec_ok("vipd status"),
        c.journal("vipd.service")
    );
    assert_eq!(
        c.prop("vipd.service", "MainPID"),
        pid,
        "reload restarted vipd"
    );
    assert!(lab.node_has_vip());

    // The watchdog is fed: systemd records each WATCHDOG=1 (WatchdogSec=10s).
    let fed = c.prop("vipd.service", "WatchdogTimestampMonotonic");
    assert!(
        wait_for(15, || c.prop("vipd.service", "WatchdogTimestampMonotonic")
            != fed),
        "vipd never pinged the watchdog"
    );
    assert_eq!(c.prop("vipd.service", "NRestarts"), "0");
    assert_eq!(c.prop("vipd.service", "MainPID"), pid);

    // systemctl stop hands over (keepalived becomes master a second time), and, as README.md
    // says, the merged drop-in's Upholds= starts vipd again at once, which takes the VIP back.
    let masters = lab.peer_masters();
    c.exec_ok("systemctl stop vipd");
    assert!(
        wait_for(20, || lab.peer_masters() > masters),
        "no handover to keepalived on stop:\n{}",
        c.journal("vipd.service")
    );
    assert!(wait_for(20, || c.is_active("vipd.service") == "active"
        && c.prop("vipd.service", "MainPID") != pid));
    assert!(lab.wait_holder(true, 20), "{}", c.journal("vipd.service"));
    assert!(notify_lines(&c)
        .iter()
        .any(|l| l.starts_with("INSTANCE vip STOP")));

    // README.md's uninstall block, verbatim: unmerged, the stop sticks, the peer holds the
    // VIP and none is left behind.
    let o = c.paste(&support::doc_block("uninstall"));
    assert!(o.ok(), "README.md block uninstall:\n{o}");
    handed_over_for_good(&c, &lab);
    assert_ne!(c.is_active("vipd.service"), "active");
    assert!(lab.peer_has_vip());
    assert!(!c.exec("test -e /usr/bin/vipd").ok(), "still merged");
}

const DEBIAN_13: &str = "PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"13\"\nVERSION_CODENAME=trixie\nID=debian\n";

/// The keepalived.conf the node runs before the migration (vipd reads it after: there is no
/// /etc/vipd/vipd.toml).
const NODE_KEEPALIVED_CONF: &str = "global_defs {
  router_id node
  vrrp_version 3
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 200
  advert_int 1
  virtual_ipaddress {
    192.0.2.100/24
  }
}
";

/// README.md's install on another systemd distribution (Migrating from keepalived, step 3),
/// pasted as written into a booted Debian whose keepalived holds the VIP, in a checkout
/// holding the binary and the unit: vipd replaces keepalived, runs hardened, holds the VIP;
/// `systemctl stop vipd` hands over to the peer and leaves no VIP behind.
fn plain_install_replaces_keepalived(tag: &str, lower: &Path, os_release: Option<&str>) {
    let scratch = Scratch::new(&format!("boot-{tag}-host"));
    let mut lab = Lab::new(tag);
    lab.start_peer(scratch.path(), 100);
    let vipd = std::fs::read(vipd_static()).unwrap();
    let unit = std::fs::read(support::workspace().join("bakery/recipes/vipd.service")).unwrap();
    let c = Container::boot(tag, lower, &lab.node, |up| {
        if let Some(text) = os_release {
            put(up, "/usr/lib/os-release", text.as_bytes(), 0o644);
        }
        put(up, "/root/vipd/target/release/vipd", &vipd, 0o755);
        put(up, "/root/vipd/bakery/recipes/vipd.service", &unit, 0o644);
        put(
            up,
            "/etc/keepalived/keepalived.conf",
            NODE_KEEPALIVED_CONF.as_bytes(),
            0o600,
        );
    });
    // Before: Debian's keepalived (enabled by the package) is the master.
    assert_eq!(c.is_active("keepalived.service"), "active");
    assert!(
        lab.wait_holder(true, 30),
        "{}",
        c.journal("keepalived.service")
    );

    let block = support::doc_block("plain-install");
    let o = c.paste(&format!("cd /root/vipd\n{block}"));
    assert!(o.ok(), "README.md block plain-install:\n{o}");

    assert_ne!(c.is_active("keepalived.service"), "active");
    assert_eq!(
        c.exec("systemctl is-enabled keepalived").stdout.trim(),
        "disabled"
    );
    assert_eq!(c.exec("systemctl is-enabled vipd").stdout.trim(), "enabled");
    vipd_takes_the_vip(&c, &lab, "plain install");

    // No Upholds= here: the stop sticks, the peer takes over, no VIP is left.
    let masters = lab.peer_masters();
    c.exec_ok("systemctl stop vipd");
    assert!(
        wait_for(20, || lab.peer_masters() > masters),
        "{}",
        c.journal("vipd.service")
    );
    handed_over_for_good(&c, &lab);
    assert_eq!(c.is_active("vipd.service"), "inactive");
}

#[test]
fn readme_plain_install_replaces_keepalived_in_a_booted_debian_13() {
    // The e2e root says Flatcar; this node is Debian.
    plain_install_replaces_keepalived("p", support::trixie_root(), Some(DEBIAN_13));
}

/// systemd 252 (README.md's Debian 12) runs the unit too.
#[test]
fn readme_plain_install_replaces_keepalived_in_a_booted_debian_12() {
    plain_install_replaces_keepalived("q", support::bookworm_root(), None);
}

/// README.md's manual install, pasted into a booted Flatcar-like root (the e2e_sysext root:
/// systemd 257, gpg): `systemd-sysext refresh` merges the signed image and the manager,
/// reloaded by the merge, starts vipd through `Upholds=` without a reboot.
#[test]
fn readme_manual_install_starts_vipd_on_refresh() {
    let release = support::Release::new("boot-manual-rel");
    release.publish("1.0.0");
    let lab = Lab::new("m");
    let image = std::fs::read(release.image("1.0.0")).unwrap();
    let sums = std::fs::read(release.dir().join("SHA256SUMS")).unwrap();
    let sig = std::fs::read(release.dir().join("SHA256SUMS.gpg")).unwrap();
    let key = std::fs::read(release.public_key()).unwrap();
    let config = node_config(200).replace("track_checks = [{ check = \"healthy\" }]\n", "");
    let config = &config[..config.find("[instance.notify]").unwrap()];
    let c = Container::boot("m", support::trixie_root(), &lab.node, |up| {
        loop_devices(up);
        put(up, "/root/vipd-1.0.0-x86-64.raw", &image, 0o644);
        put(up, "/root/SHA256SUMS", &sums, 0o644);
        put(up, "/root/SHA256SUMS.gpg", &sig, 0o644);
        put(up, "/root/vipd-release.pgp", &key, 0o644);
        put(up, "/root/vipd.toml", config.as_bytes(), 0o644);
    });
    assert_ne!(c.is_active("vipd.service"), "active");

    let o = c.paste(&support::doc_block("manual-install"));
    assert!(o.ok(), "README.md block manual-install:\n{o}");
    assert_eq!(c.exec_ok("vipd --version").trim(), "vipd 1.0.0");
    // Upholds= started vipd after the merge.
    vipd_takes_the_vip(&c, &lab, "manual install");
}
/// The drop-in bakery/README.md gives for scripts that must run as root, as written, with
/// `script_user = "root"`: vipd runs as root and its check and notify scripts run as root.
#[test]
fn root_dropin_from_bakery_readme_runs_scripts_as_root() {
    let text = std::fs::read_to_string(support::workspace().join("bakery/README.md")).unwrap();
    let start = text
        .find("# /etc/systemd/system/vipd.service.d/10-root.conf\n")
        .expect("bakery/README.md: the root drop-in");
    let dropin = &text[start..start + text[start..].find("```").unwrap()];
    let lab = Lab::new("r");
    let vipd = std::fs::read(vipd_static()).unwrap();
    let unit = std::fs::read(support::workspace().join("bakery/recipes/vipd.service")).unwrap();
    let config = node_config(200).replace(
        "vrrp_version = 3\n",
        "vrrp_version = 3\nscript_user = \"root\"\n",
    );
    let c = Container::boot("r", support::trixie_root(), &lab.node, |up| {
        put(up, "/usr/bin/vipd", &vipd, 0o755);
        put(up, "/etc/systemd/system/vipd.service", &unit, 0o644);
        put(
            up,
            "/etc/systemd/system/vipd.service.d/10-root.conf",
            dropin.as_bytes(),
            0o644,
        );
        symlink(
            up,
            "/etc/systemd/system/multi-user.target.wants/vipd.service",
            "/etc/systemd/system/vipd.service",
        );
        put_config_and_scripts(up, &config);
    });
    assert!(
        c.becomes_active("vipd.service", 30),
        "{}",
        c.journal("vipd.service")
    );
    assert!(lab.wait_holder(true, 30), "{}", c.journal("vipd.service"));
    assert_notified(&c, "INSTANCE vip MASTER 200 uid=0");
    let who = c.exec_ok("cat /var/lib/vipd/check.who");
    assert!(who.starts_with("uid=0 "), "{who}");
}
