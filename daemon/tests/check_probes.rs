//! Probes against real local servers on 127.0.0.1, real processes and files.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use vipd::check::exec::{self, PreparedExec};
use vipd::check::http::HttpProbe;
use vipd::check::{
    file, interface, tcp, validate, CheckKind, CheckRunner, CheckSpec, Health, Transition, Url,
};

const T: Duration = Duration::from_secs(2);

/// A scratch directory removed on drop. Under the target dir, whose parents are root-owned
/// and not world-writable (unlike /tmp), so scripts in it can pass the security check.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("check-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        Scratch(dir)
    }

    fn script(&self, name: &str, body: &str, mode: u32) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o755));
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---- tcp ----

#[tokio::test]
async fn check_tcp_connects_and_fails_when_closed() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let r = tcp::probe("127.0.0.1", port, T).await;
    assert!(r.ok, "{r:?}");
    drop(listener);
    let r = tcp::probe("127.0.0.1", port, T).await;
    assert!(!r.ok, "{r:?}");
    assert!(r.detail.contains("refused"), "{}", r.detail);
    let r = tcp::probe("localhost", port, T).await;
    assert!(!r.ok);
}

// ---- http ----

/// Serves one request per connection: 200 on /healthz, 503 elsewhere; records Host headers.
fn http_server() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hosts = Arc::new(Mutex::new(Vec::new()));
    let seen = hosts.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
                if let Some(h) = line.strip_prefix("Host: ") {
                    seen.lock().unwrap().push(h.trim().to_string());
                }
            }
            let status = if request_line.starts_with("GET /healthz ") {
                "200 OK"
            } else {
                "503 Service Unavailable"
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            );
        }
    });
    (port, hosts)
}

#[tokio::test]
async fn check_http_status_codes_and_host_header() {
    let (port, hosts) = http_server();
    let url = |path: &str| Url::parse(&format!("http://127.0.0.1:{port}{path}")).unwrap();

    let p = HttpProbe::new(url("/healthz"), vec![], false, None).unwrap();
    let r = p.probe(T).await;
    assert!(r.ok, "{r:?}");
    assert_eq!(r.detail, "HTTP 200");
    assert_eq!(
        hosts.lock().unwrap().last().unwrap(),
        &format!("127.0.0.1:{port}")
    );

    let p = HttpProbe::new(url("/other"), vec![], false, None).unwrap();
    let r = p.probe(T).await;
    assert!(!r.ok, "{r:?}");
    assert!(r.detail.contains("503"));

    let p = HttpProbe::new(
        url("/other"),
        vec![200, 503],
        false,
        Some("api.test".into()),
    )
    .unwrap();
    let r = p.probe(T).await;
    assert!(r.ok, "{r:?}");
    assert_eq!(hosts.lock().unwrap().last().unwrap(), "api.test");

    let p = HttpProbe::new(url("/healthz"), vec![204], false, None).unwrap();
    assert!(!p.probe(T).await.ok);
}

#[tokio::test]
async fn check_http_timeout_when_server_never_answers() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    let p = HttpProbe::new(url, vec![], false, None).unwrap();
    let r = p.probe(Duration::from_millis(200)).await;
    assert!(!r.ok);
    assert!(r.detail.contains("timeout"), "{}", r.detail);
    assert!(r.latency < Duration::from_secs(1));
    drop(listener);
}

// ---- https ----

async fn https_server() -> u16 {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert: CertificateDer<'static> = ck.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(sock).await else {
                    return;
                };
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test]
async fn check_https_self_signed_insecure_ok_verified_fails() {
    let port = https_server().await;
    let url = Url::parse(&format!("https://127.0.0.1:{port}/healthz")).unwrap();

    let insecure = HttpProbe::new(url.clone(), vec![200], true, None).unwrap();
    let r = insecure.probe(T).await;
    assert!(r.ok, "{r:?}");
    assert_eq!(r.detail, "HTTP 200");

    let verified = HttpProbe::new(url, vec![200], false, None).unwrap();
    let r = verified.probe(T).await;
    assert!(!r.ok, "{r:?}");
    assert!(r.detail.contains("TLS"), "{}", r.detail);

    // The same server spoken to in plain HTTP is not a valid response.
    let plain = Url::parse(&format!("http://127.0.0.1:{port}/healthz")).unwrap();
    let r = HttpProbe::new(plain, vec![], false, None)
        .unwrap()
        .probe(Duration::from_millis(500))
        .await;
    assert!(!r.ok);
}

// ---- exec ----

fn argv(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn check_exec_exit_status() {
    let ok = exec::prepare(&argv(&["true"]), None, None).unwrap();
    assert!(ok.program.is_absolute());
    let r = exec::probe(&ok, T).await;
    assert!(r.ok, "{r:?}");
    let fail = exec::prepare(&argv(&["/bin/sh", "-c", "exit 3"]), None, None).unwrap();
    let r = exec::probe(&fail, T).await;
    assert!(!r.ok);
    assert_eq!(r.detail, "exit status 3");
}

#[tokio::test]
async fn check_exec_runs_as_nobody_by_default_when_root() {
    if !nix::unistd::Uid::effective().is_root() {
        return;
    }
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let cmd = exec::prepare(
        &argv(&[
            "/bin/sh",
            "-c",
            &format!("test \"$(id -u)\" = {}", nobody.uid),
        ]),
        None,
        None,
    )
    .unwrap();
    assert_eq!(cmd.user_name.as_deref(), Some("nobody"));
    assert!(exec::probe(&cmd, T).await.ok);

    let as_root = exec::prepare(
        &argv(&["/bin/sh", "-c", "test \"$(id -u)\" = 0"]),
        Some("root"),
        None,
    )
    .unwrap();
    assert!(exec::probe(&as_root, T).await.ok);
    let not_root = exec::prepare(
        &argv(&["/bin/sh", "-c", "test \"$(id -u)\" = 0"]),
        None,
        None,
    )
    .unwrap();
    assert!(!exec::probe(&not_root, T).await.ok);

    let err = exec::prepare(&argv(&["true"]), Some("vt-no-such-user"), None).unwrap_err();
    assert!(err.contains("does not exist"), "{err}");
}

fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // A zombie waiting for its (new) parent to reap it is dead already.
        Ok(stat) => stat
            .rsplit_once(") ")
            .map(|(_, rest)| rest.starts_with('Z'))
            .unwrap_or(false),
    }
}

#[tokio::test]
async fn check_exec_timeout_kills_the_process_group() {
    let dir = Scratch::new("kill");
    let pidfile = dir.0.join("pids");
    let script = format!(
        "sleep 30 & echo $! > {p}.tmp; echo $$ >> {p}.tmp; mv {p}.tmp {p}; wait",
        p = pidfile.display()
    );
    let cmd = exec::prepare(&argv(&["/bin/sh", "-c", &script]), Some("root"), None).unwrap();
    let start = std::time::Instant::now();
    let r = exec::probe(&cmd, Duration::from_millis(500)).await;
    assert!(!r.ok);
    assert!(r.detail.contains("timeout"), "{}", r.detail);
    assert!(start.elapsed() < Duration::from_secs(5));
    let pids: Vec<i32> = std::fs::read_to_string(&pidfile)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 2);
    // Give the kernel a moment to deliver SIGKILL to the background sleep.
    for _ in 0..50 {
        if pids.iter().all(|p| process_gone(*p)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for p in pids {
        assert!(process_gone(p), "process {p} survived the timeout");
    }
}

#[tokio::test]
async fn check_exec_unsafe_scripts_refused() {
    let dir = Scratch::new("unsafe");
    let good = dir.script("good.sh", "exit 0", 0o755);
    let cmd = exec::prepare(&argv(&[good.to_str().unwrap()]), Some("root"), None).unwrap();
    assert!(exec::probe(&cmd, T).await.ok);

    let world = dir.script("world.sh", "exit 0", 0o757);
    let err = exec::prepare(&argv(&[world.to_str().unwrap()]), None, None).unwrap_err();
    assert!(err.contains("refusing unsafe script"), "{err}");
    assert!(err.contains("writable by others"), "{err}");

    let noexec = dir.script("noexec.sh", "exit 0", 0o644);
    let err = exec::prepare(&argv(&[noexec.to_str().unwrap()]), None, None).unwrap_err();
    assert!(err.contains("not executable"), "{err}");

    // A world-writable parent directory makes even a 0755 root script unsafe.
    let open = dir.0.join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let inner = open.join("check.sh");
    std::fs::write(&inner, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = exec::prepare(&argv(&[inner.to_str().unwrap()]), None, None).unwrap_err();
    assert!(
        err.contains(&format!("directory {}", open.display())),
        "{err}"
    );

    // An unsafe script is not an invalid spec: the runner disables it (see below).
    let spec = CheckSpec {
        name: "chk_unsafe".into(),
        kind: CheckKind::Exec {
            argv: vec![inner.to_str().unwrap().into()],
            user: None,
            group: None,
        },
        interval: Duration::from_millis(100),
        timeout: Duration::from_millis(100),
        rise: 1,
        fall: 1,
        weight: -10,
        init_fail: false,
    };
    assert!(validate(&spec).is_ok());

    let err = exec::prepare(&argv(&["vt-no-such-command"]), None, None).unwrap_err();
    assert!(err.contains("not found in PATH"), "{err}");
    let _ = PreparedExec::clone(&cmd);
}

/// A directory everyone may write to (sticky), for files scripts running as nobody create.
fn shared_dir(dir: &Scratch, name: &str) -> PathBuf {
    let p = dir.0.join(name);
    std::fs::create_dir_all(&p).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o1777)).unwrap();
    p
}

/// `CapXxx` lines of a /proc/PID/status text, as numbers.
fn caps(status: &str) -> Vec<(String, u64)> {
    status
        .lines()
        .filter(|l| l.starts_with("Cap"))
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.to_string(), u64::from_str_radix(v.trim(), 16).unwrap())
        })
        .collect()
}

#[tokio::test]
async fn check_exec_child_has_no_capabilities_and_a_clean_environment() {
    if !nix::unistd::Uid::effective().is_root() {
        return;
    }
    let dir = Scratch::new("sandbox");
    let out = shared_dir(&dir, "out");
    let script = format!(
        "cat /proc/self/status > {o}/status; env > {o}/env; id -G > {o}/groups",
        o = out.display()
    );
    let cmd = exec::prepare(&argv(&["/bin/sh", "-c", &script]), None, None).unwrap();
    let r = exec::probe(&cmd, T).await;
    assert!(r.ok, "{r:?}");
    let status = std::fs::read_to_string(out.join("status")).unwrap();
    let all = caps(&status);
    assert_eq!(all.len(), 5, "{status}");
    for (name, value) in &all {
        assert_eq!(*value, 0, "{name} of a script child is {value:x}\n{status}");
    }
    let env = std::fs::read_to_string(out.join("env")).unwrap();
    for line in ["USER=nobody", "LOGNAME=nobody", "PWD=/"] {
        assert!(env.lines().any(|l| l == line), "{line} missing:\n{env}");
    }
    assert!(env.lines().any(|l| l.starts_with("PATH=/")), "{env}");
    // setgroups before setuid: no group of vipd's (root's) survives.
    let groups = std::fs::read_to_string(out.join("groups")).unwrap();
    assert!(
        !groups.split_whitespace().any(|g| g == "0"),
        "script kept root's group: {groups}"
    );

    // A script configured to run as root keeps root's powers (notify scripts that change
    // routes need them), as in keepalived.
    let root = exec::prepare(
        &argv(&[
            "/bin/sh",
            "-c",
            &format!("cat /proc/self/status > {}/root", out.display()),
        ]),
        Some("root"),
        None,
    )
    .unwrap();
    assert!(exec::probe(&root, T).await.ok);
    let root_status = std::fs::read_to_string(out.join("root")).unwrap();
    assert!(caps(&root_status)
        .iter()
        .any(|(k, v)| k == "CapEff" && *v != 0));
}

#[tokio::test]
async fn check_exec_group_and_supplementary_groups_are_honoured() {
    if !nix::unistd::Uid::effective().is_root() {
        return;
    }
    let dir = Scratch::new("groups");
    let out = shared_dir(&dir, "out");
    let nogroup = nix::unistd::Group::from_name("nogroup")
        .unwrap()
        .or_else(|| nix::unistd::Group::from_name("nobody").unwrap())
        .unwrap();
    let cmd = exec::prepare(
        &argv(&[
            "/bin/sh",
            "-c",
            &format!("id -g > {o}/g; id -G > {o}/all", o = out.display()),
        ]),
        Some("nobody"),
        Some(&nogroup.name),
    )
    .unwrap();
    assert!(exec::probe(&cmd, T).await.ok);
    let g = std::fs::read_to_string(out.join("g")).unwrap();
    assert_eq!(g.trim(), nogroup.gid.to_string());
    let all = std::fs::read_to_string(out.join("all")).unwrap();
    let expected: Vec<String> = cmd
        .run_as
        .as_ref()
        .unwrap()
        .groups
        .iter()
        .map(u32::to_string)
        .collect();
    let mut got: Vec<String> = all.split_whitespace().map(String::from).collect();
    got.sort();
    let mut want = expected.clone();
    want.sort();
    assert_eq!(got, want);
    let err = exec::prepare(&argv(&["true"]), None, Some("vt-no-such-group")).unwrap_err();
    assert!(err.contains("does not exist"), "{err}");
}

#[tokio::test]
async fn check_exec_keeps_argv0_as_written() {
    // A multi-call program decides what to be from argv[0]: vipd must not run the
    // symlink's target under its own name (keepalived runs pidof as killall5).
    let dir = Scratch::new("argv0");
    let link = dir.0.join("vt-shell");
    std::os::unix::fs::symlink("/bin/sh", &link).unwrap();
    let written = link.to_str().unwrap().to_string();
    let cmd = exec::prepare(
        &argv(&[&written, "-c", &format!("test \"$0\" = {written}")]),
        Some("root"),
        None,
    )
    .unwrap();
    assert_eq!(cmd.program, link);
    assert!(exec::probe(&cmd, T).await.ok, "argv[0] was not kept");
    // A bare name found in PATH keeps the name too.
    let bare = exec::prepare(&argv(&["sh", "-c", "test \"$0\" = sh"]), Some("root"), None).unwrap();
    assert!(exec::probe(&bare, T).await.ok);
}

/// Probes a command whose program this test just wrote. A child forked meanwhile by another
/// test thread may still hold the file open for writing, and exec fails with ETXTBSY until it
/// execs or exits: try again for a moment.
async fn probe_copied_program(cmd: &PreparedExec) -> vipd::check::ProbeResult {
    let mut result = exec::probe(cmd, T).await;
    for _ in 0..20 {
        if result.ok || !result.detail.contains("Text file busy") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        result = exec::probe(cmd, T).await;
    }
    result
}

#[tokio::test]
async fn check_exec_interpreted_files_and_shebang_interpreters_must_be_safe() {
    let dir = Scratch::new("interp");
    // The script given to an interpreter is checked like the program.
    let writable = dir.script("open.sh", "exit 0", 0o666);
    let err =
        exec::prepare(&argv(&["/bin/sh", writable.to_str().unwrap()]), None, None).unwrap_err();
    assert!(err.contains("writable by others"), "{err}");
    let missing = dir.0.join("missing.sh");
    let err = exec::prepare(&argv(&["bash", missing.to_str().unwrap()]), None, None).unwrap_err();
    assert!(err.contains("does not exist"), "{err}");
    let fine = dir.script("fine.sh", "exit 0", 0o644);
    let cmd = exec::prepare(
        &argv(&["/bin/sh", fine.to_str().unwrap()]),
        Some("root"),
        None,
    )
    .unwrap();
    assert!(exec::probe(&cmd, T).await.ok);
    // The interpreter on the #! line is checked too.
    let interp = dir.0.join("interp");
    std::fs::copy("/bin/sh", &interp).unwrap();
    std::fs::set_permissions(&interp, std::fs::Permissions::from_mode(0o757)).unwrap();
    let script = dir.0.join("uses-interp");
    std::fs::write(&script, format!("#!{}\nexit 0\n", interp.display())).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = exec::prepare(&argv(&[script.to_str().unwrap()]), None, None).unwrap_err();
    assert!(err.contains("interpreter"), "{err}");
    assert!(err.contains("writable by others"), "{err}");
    // A file made unsafe after it was prepared is not run.
    std::fs::set_permissions(&interp, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cmd = exec::prepare(&argv(&[script.to_str().unwrap()]), Some("root"), None).unwrap();
    let r = probe_copied_program(&cmd).await;
    assert!(r.ok, "{r:?}");
    std::fs::set_permissions(&interp, std::fs::Permissions::from_mode(0o757)).unwrap();
    let r = exec::probe(&cmd, T).await;
    assert!(!r.ok && r.detail.contains("not run"), "{r:?}");
}

#[tokio::test]
async fn check_exec_leftover_processes_are_killed_when_the_check_exits() {
    let dir = Scratch::new("leftover");
    let pidfile = dir.0.join("pid");
    let script = format!(
        "sleep 30 & echo $! > {p}.tmp; mv {p}.tmp {p}; exit 0",
        p = pidfile.display()
    );
    let cmd = exec::prepare(&argv(&["/bin/sh", "-c", &script]), Some("root"), None).unwrap();
    let r = exec::probe(&cmd, T).await;
    assert!(r.ok, "{r:?}");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    for _ in 0..50 {
        if process_gone(pid) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        process_gone(pid),
        "background process {pid} outlived its check"
    );
}

#[tokio::test]
async fn check_runner_enables_a_script_that_appears_later() {
    let dir = Scratch::new("appear");
    let late = dir.0.join("late.sh");
    let spec = CheckSpec {
        name: "late".into(),
        kind: CheckKind::Exec {
            argv: vec![late.to_str().unwrap().into()],
            user: Some("root".into()),
            group: None,
        },
        interval: Duration::from_millis(50),
        timeout: Duration::from_secs(2),
        rise: 1,
        fall: 1,
        weight: 0,
        init_fail: false,
    };
    let (handle, mut rx) = CheckRunner::spawn(vec![spec]).unwrap();
    let snap = handle.get("late").unwrap();
    assert_eq!(snap.health, Health::Disabled);
    assert!(
        snap.note
            .as_deref()
            .unwrap_or("")
            .contains("does not exist"),
        "{snap:?}"
    );
    // Still disabled a few intervals later, without events changing that.
    for _ in 0..3 {
        let ev = next(&mut rx).await;
        assert_eq!(ev.health, Health::Disabled);
    }
    // An unsafe script stays disabled...
    std::fs::write(&late, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&late, std::fs::Permissions::from_mode(0o777)).unwrap();
    for _ in 0..3 {
        let ev = next(&mut rx).await;
        assert_eq!(ev.health, Health::Disabled, "{:?}", ev.result);
    }
    assert!(handle
        .get("late")
        .unwrap()
        .note
        .unwrap()
        .contains("writable by others"));
    // ...and a safe one is picked up and counts.
    std::fs::set_permissions(&late, std::fs::Permissions::from_mode(0o755)).unwrap();
    loop {
        let ev = next(&mut rx).await;
        if let Some(t) = ev.state_changed {
            assert_eq!(t.from, Health::Disabled);
            assert_eq!(t.to, Health::Up);
            break;
        }
    }
    assert_eq!(handle.get("late").unwrap().note, None);
}

// ---- file ----

#[tokio::test]
async fn check_file_reads_integer_or_zero() {
    let dir = Scratch::new("file");
    let path = dir.0.join("value");
    std::fs::write(&path, "5\n").unwrap();
    let r = file::probe(&path).await;
    assert_eq!((r.ok, r.value), (true, Some(5)));
    std::fs::write(&path, "-12").unwrap();
    assert_eq!(file::probe(&path).await.value, Some(-12));
    std::fs::write(&path, "garbage").unwrap();
    let r = file::probe(&path).await;
    assert_eq!((r.ok, r.value), (false, Some(0)));
    let r = file::probe(&dir.0.join("missing")).await;
    assert_eq!((r.ok, r.value), (false, Some(0)));
}

#[tokio::test]
async fn check_file_fifo_and_huge_file_are_read_bounded() {
    let dir = Scratch::new("filelimits");
    // A FIFO nobody writes to: reading would block forever.
    let fifo = dir.0.join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let r = tokio::time::timeout(Duration::from_secs(10), file::probe(&fifo))
        .await
        .expect("a FIFO blocked the file check");
    assert_eq!((r.ok, r.value), (false, Some(0)));
    assert!(r.detail.contains("not a regular file"), "{}", r.detail);
    // A sparse 64 GiB file: only its head is read.
    let huge = dir.0.join("huge");
    let f = std::fs::File::create(&huge).unwrap();
    f.set_len(64 << 30).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"7\n", 0).unwrap();
    drop(f);
    let r = tokio::time::timeout(Duration::from_secs(10), file::probe(&huge))
        .await
        .expect("a huge file took too long");
    assert_eq!((r.ok, r.value), (true, Some(7)), "{r:?}");
}

// ---- interface ----

#[test]
fn check_interface_lo_up_and_missing_interface() {
    let r = interface::probe("lo");
    assert!(r.ok, "{r:?}");
    let r = interface::probe("vtnoexist0");
    assert!(!r.ok);
    assert!(r.detail.contains("does not exist"), "{}", r.detail);
}

struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .status();
    }
}

/// A thread that only called setns(2) sees the new namespace's links (there `lo` starts down).
#[test]
fn check_interface_follows_the_callers_network_namespace() {
    let name = format!("vtchk{}", std::process::id() % 100000);
    let ok = std::process::Command::new("ip")
        .args(["netns", "add", &name])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("skipping: cannot create network namespaces");
        return;
    }
    let ns = Netns(name);
    let path = format!("/run/netns/{}", ns.0);
    let (down, after_up) = std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        let f = std::fs::File::open(&path).unwrap();
        assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
        let down = interface::probe("lo");
        let st = std::process::Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .unwrap();
        assert!(st.success());
        (down, interface::probe("lo"))
    })
    .join()
    .unwrap();
    assert!(!down.ok);
    assert_eq!(down.detail, "down");
    assert!(after_up.ok, "{after_up:?}");
    assert!(interface::probe("lo").ok);
    drop(ns);
}

// ---- runner ----

async fn next(
    rx: &mut tokio::sync::mpsc::Receiver<vipd::check::CheckEvent>,
) -> vipd::check::CheckEvent {
    tokio::time::timeout(T, rx.recv()).await.unwrap().unwrap()
}

#[tokio::test]
async fn check_runner_reports_fall_and_rise() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let spec = CheckSpec {
        name: "svc".into(),
        kind: CheckKind::Tcp {
            host: "127.0.0.1".into(),
            port: addr.port(),
        },
        interval: Duration::from_millis(30),
        timeout: Duration::from_millis(200),
        rise: 2,
        fall: 2,
        weight: -60,
        init_fail: false,
    };
    let (handle, mut rx) = CheckRunner::spawn(vec![spec]).unwrap();

    let first = next(&mut rx).await;
    assert_eq!(first.name, "svc");
    assert_eq!(
        first.state_changed,
        Some(Transition {
            from: Health::Unknown,
            to: Health::Up
        })
    );
    drop(listener);
    // Exactly `fall` failures are needed.
    let mut fails = 0;
    loop {
        let ev = next(&mut rx).await;
        if !ev.result.ok {
            fails += 1;
        }
        if let Some(t) = ev.state_changed {
            assert_eq!(t.to, Health::Down);
            break;
        }
    }
    assert_eq!(fails, 2);
    let snap = handle.get("svc").unwrap();
    assert_eq!(snap.health, Health::Down);
    assert_eq!(snap.kind, "tcp");
    assert!(snap.consecutive_fail >= 2);
    assert!(snap.last_latency.is_some());
    assert!(serde_json::to_string(&handle.snapshot())
        .unwrap()
        .contains("\"health\":\"down\""));

    // Service back on the same port: up again after `rise` successes.
    let _listener = TcpListener::bind(addr).unwrap();
    let mut oks = 0;
    loop {
        let ev = next(&mut rx).await;
        if ev.result.ok {
            oks += 1;
        }
        if let Some(t) = ev.state_changed {
            assert_eq!(t.to, Health::Up);
            break;
        }
    }
    assert_eq!(oks, 2);
    assert_eq!(handle.health("svc"), Some(Health::Up));
}

#[tokio::test]
async fn check_runner_rejects_duplicates_and_bad_specs() {
    let spec = CheckSpec {
        name: "a".into(),
        kind: CheckKind::Interface { name: "lo".into() },
        interval: Duration::from_millis(100),
        timeout: Duration::from_millis(100),
        rise: 1,
        fall: 1,
        weight: 0,
        init_fail: true,
    };
    let err = CheckRunner::spawn(vec![spec.clone(), spec.clone()])
        .err()
        .unwrap();
    assert!(err.contains("defined twice"), "{err}");
    let mut bad = spec;
    bad.weight = 300;
    let err = CheckRunner::spawn(vec![bad]).err().unwrap();
    assert!(err.contains("weight 300"), "{err}");
}

/// A reload keeps unchanged checks running (their state and run count go on), a changed
/// check starts from the health its old definition had reached (never `unknown` again), a
/// removed check stops and a new one starts fresh.
#[tokio::test]
async fn check_runner_reload_keeps_state_of_unchanged_and_health_of_changed_checks() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let spec = |name: &str, kind: CheckKind, interval_ms: u64| CheckSpec {
        name: name.into(),
        kind,
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_millis(200),
        rise: 3,
        fall: 3,
        weight: -60,
        init_fail: false,
    };
    let down = |interval_ms| {
        spec(
            "svc",
            CheckKind::Tcp {
                host: "127.0.0.1".into(),
                port: closed_port,
            },
            interval_ms,
        )
    };
    let lo = spec("lo", CheckKind::Interface { name: "lo".into() }, 20);
    let gone = spec("gone", CheckKind::Interface { name: "lo".into() }, 20);
    let (mut handle, mut rx) = CheckRunner::spawn(vec![down(20), lo.clone(), gone]).unwrap();
    while handle.health("svc") != Some(Health::Down) || handle.get("lo").unwrap().runs < 3 {
        next(&mut rx).await;
    }
    let lo_runs = handle.get("lo").unwrap().runs;

    // svc: another interval (a changed probe); lo: only the weight changed; gone: removed;
    // new: added.
    let mut lo_reweighted = lo.clone();
    lo_reweighted.weight = 10;
    let added = spec("new", CheckKind::Interface { name: "lo".into() }, 20);
    let plan = handle
        .prepare_reload(vec![down(5000), lo_reweighted, added])
        .unwrap();
    let summary = handle.apply_reload(plan);
    assert_eq!(summary.kept, vec!["lo".to_string()]);
    assert_eq!(summary.restarted, vec!["svc".to_string()]);
    assert_eq!(summary.added, vec!["new".to_string()]);
    assert_eq!(summary.removed, vec!["gone".to_string()]);
    // At once, before any probe of the new definition: still down.
    assert_eq!(handle.health("svc"), Some(Health::Down));
    assert!(handle.get("lo").unwrap().runs >= lo_runs);
    assert_eq!(handle.health("gone"), None);
    assert_eq!(handle.health("new"), Some(Health::Unknown));
    // The first failure of the new definition does not make a transition: it was down.
    loop {
        let ev = next(&mut rx).await;
        if ev.name == "svc" {
            assert!(!ev.result.ok);
            assert_eq!(ev.state_changed, None);
            assert_eq!(ev.health, Health::Down);
            break;
        }
    }
    // lo was not restarted: its run count goes on from where it was.
    while handle.get("lo").unwrap().runs <= lo_runs {
        next(&mut rx).await;
    }

    // A check that cannot run refuses the reload and changes nothing.
    let bad = spec(
        "svc",
        CheckKind::Tcp {
            host: String::new(),
            port: 1,
        },
        20,
    );
    assert!(handle.prepare_reload(vec![bad]).is_err());
    assert_eq!(handle.health("svc"), Some(Health::Down));
    assert!(handle.health("new").is_some());
}
