//! keepalived's command line through vipd against keepalived 2.2.7 itself (needs root and
//! keepalived): `keepalived -t -f FILE` as CI jobs and ansible's `validate:` run it, on every
//! file of `tests/fixtures/differential/` (in a network namespace holding the interfaces the
//! files name), through a symlink called `keepalived` and as `vipd keepalived`; and the
//! answers tools read from `keepalived -v`, `--signum=NAME` and bad options.
//!
//! Exit status of `-t`: 0 where vipd runs the file, 5 (keepalived's "configuration test
//! failed") where it does not. keepalived agrees on every file both run alike (`accept`: 0, or
//! 6 when its only complaint is scripts run as root; `invalid`: non-zero); the two documented
//! differences follow the fixtures' annotations: `lenient` files (keepalived exits 5 but runs
//! them, vipd runs them with warnings: 0) and `refuse` ones (IPVS: keepalived 0, vipd 5).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use config_support::{output, Namespace, WorkDir};

mod config_support;

const INTERFACES: &[(&str, &[&str])] = &[
    ("eth0", &["192.0.2.1/24", "2001:db8::1/64"]),
    ("eth1", &["198.51.100.1/24"]),
    ("ens192", &["203.0.113.1/24"]),
];

/// Copies the fixtures with `@SCRIPTS@` replaced by a directory of harmless scripts.
fn fixtures(work: &Path) -> Vec<PathBuf> {
    let scripts = work.join("scripts");
    std::fs::create_dir_all(&scripts).unwrap();
    std::fs::set_permissions(&scripts, std::fs::Permissions::from_mode(0o755)).unwrap();
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/differential");
    let to = work.join("conf");
    copy(&from, &to, &scripts);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&to)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    files.sort();
    files
}

fn copy(from: &Path, to: &Path, scripts: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy(&path, &target, scripts);
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for name in text.split("@SCRIPTS@/").skip(1) {
            let name: String = name
                .chars()
                .take_while(|c| c.is_alphanumeric() || "._-".contains(*c))
                .collect();
            let script = scripts.join(name);
            std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::write(
            &target,
            text.replace("@SCRIPTS@", scripts.to_str().unwrap()),
        )
        .unwrap();
    }
}

/// `# differential: WORD` and the `# config-id: ID [WORD]` lines of a fixture: each config
/// id with its annotation (the file's unless the line names one).
fn header(text: &str) -> Vec<(Option<String>, String)> {
    let head: Vec<&str> = text
        .lines()
        .take_while(|l| l.starts_with('#') || l.starts_with('!'))
        .collect();
    let expect = head
        .iter()
        .find_map(|l| l.strip_prefix("# differential: "))
        .expect("annotated fixture")
        .trim()
        .to_string();
    let mut ids: Vec<(Option<String>, String)> = head
        .iter()
        .filter_map(|l| l.strip_prefix("# config-id: "))
        .map(|rest| {
            let mut words = rest.split_whitespace();
            let id = words.next().expect("a config id").to_string();
            let own = words.next().map_or_else(|| expect.clone(), str::to_string);
            (Some(id), own)
        })
        .collect();
    if ids.is_empty() {
        ids.push((None, expect));
    }
    ids
}

/// A directory holding `keepalived`, a symlink to vipd.
fn keepalived_symlink(work: &Path) -> PathBuf {
    let dir = work.join("bin");
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("keepalived");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_vipd"), &link).unwrap();
    link
}

#[test]
fn config_test_through_vipd_agrees_with_keepalived_on_the_differential_fixtures() {
    let ns = Namespace::new("kacli");
    for (ifname, addresses) in INTERFACES {
        ns.add_interface(ifname, addresses).unwrap();
    }
    let work = WorkDir::new("kacli");
    let link = keepalived_symlink(&work.0);
    let link = link.to_str().unwrap();
    let vipd = env!("CARGO_BIN_EXE_vipd");
    let files = fixtures(&work.0);
    assert!(files.len() >= 40, "only {} fixtures", files.len());
    let mut failures = Vec::new();
    let mut counts = std::collections::BTreeMap::new();
    for (n, path) in files.iter().enumerate() {
        for (id, expect) in header(&std::fs::read_to_string(path).unwrap()) {
            let file = path.to_str().unwrap();
            let mut extra = vec![];
            if let Some(id) = &id {
                extra.extend(["-i", id.as_str()]);
            }
            let (k_rc, k_out) = ns.keepalived_test(path, &extra);
            // Alternately through the symlink and as `vipd keepalived`.
            let mut argv = vec!["ip", "netns", "exec", &ns.0];
            if n % 2 == 0 {
                argv.push(link);
            } else {
                argv.extend([vipd, "keepalived"]);
            }
            argv.extend(["-t", "-f", file]);
            argv.extend(&extra);
            let (v_rc, v_out) = output(&argv);
            let k_passes = k_rc == 0 || k_rc == 6;
            // keepalived 2.2.7's -t stops itself with SIGTERM (143) on a file with a script
            // run as another user; config_differential.rs runs those files for real.
            let (k_ok, v_expected) = match expect.as_str() {
                "accept" => (k_passes || k_rc == 143, 0),
                "invalid" => (!k_passes, 5),
                "lenient" => (k_rc == 5 || k_rc == 6, 0),
                "refuse" => (k_passes || k_rc == 5, 5),
                other => panic!("{}: unknown annotation {other}", path.display()),
            };
            *counts.entry((expect.clone(), k_rc, v_rc)).or_insert(0) += 1;
            if !k_ok || v_rc != v_expected {
                failures.push(format!(
                    "{} {id:?} ({expect}): keepalived -t {k_rc}, through vipd {v_rc} (expected \
                     {v_expected})\n--- keepalived:\n{k_out}\n--- vipd:\n{v_out}",
                    path.display()
                ));
            }
        }
    }
    eprintln!("(annotation, keepalived -t, vipd keepalived -t): files");
    for ((expect, k, v), count) in &counts {
        eprintln!("  {expect:8} {k} {v}: {count}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // Both kinds the task is about are there: files both accept, files both refuse.
    assert!(counts
        .keys()
        .any(|(e, k, v)| e == "accept" && *k == 0 && *v == 0));
    assert!(counts
        .keys()
        .any(|(e, k, v)| e == "invalid" && *k != 0 && *v == 5));
}

#[test]
fn config_test_options_as_keepalived_takes_them() {
    let ns = Namespace::new("kaclit");
    ns.add_interface("eth0", &["192.0.2.1/24"]).unwrap();
    let work = WorkDir::new("kaclit");
    let link = keepalived_symlink(&work.0);
    let link = link.to_str().unwrap();
    let good = work.0.join("good.conf");
    std::fs::write(
        &good,
        "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  priority 100\n  \
         virtual_ipaddress {\n    192.0.2.100/24\n  }\n}\n",
    )
    .unwrap();
    let bad = work.0.join("bad.conf");
    std::fs::write(
        &bad,
        "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 300\n}\n",
    )
    .unwrap();
    let in_ns = |argv: &[&str]| {
        let mut full = vec!["ip", "netns", "exec", &ns.0];
        full.extend_from_slice(argv);
        output(&full)
    };
    let (good, bad) = (good.to_str().unwrap(), bad.to_str().unwrap());
    // `-t` before or after `-f`, long forms, clustered with -D.
    for args in [
        vec!["-t", "-f", good],
        vec!["-f", good, "-t"],
        vec!["--config-test", "--use-file", good],
        vec!["-Dt", "-f", good],
    ] {
        let mut argv = vec![link];
        argv.extend(&args);
        assert_eq!(in_ns(&argv).0, 0, "{args:?}");
    }
    // `-tLOG`: the verdict's output appended to LOG, nothing on stderr.
    let log = work.0.join("test.log");
    std::fs::write(&log, "earlier\n").unwrap();
    let attached = format!("--config-test={}", log.display());
    let (rc, out) = in_ns(&[link, &attached, "-S", "3", "-f", bad]);
    assert_eq!(rc, 5, "{out}");
    assert!(out.is_empty(), "{out}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.starts_with("earlier\n")
            && logged.contains("`virtual_router_id`")
            && logged.contains("-S/--log-facility ignored"),
        "{logged}"
    );
    // keepalived 2.2.7 passes a file that is not there (exit 0, "Config files missing"):
    // vipd does not.
    let missing = work.0.join("missing.conf");
    let (k_rc, _) = ns.keepalived_test(&missing, &[]);
    assert_eq!(k_rc, 0, "keepalived's behaviour changed");
    let (rc, out) = in_ns(&[link, "-t", "-f", missing.to_str().unwrap()]);
    assert_eq!(rc, 5, "{out}");
    // With `-e` keepalived refuses it too, with its "configuration error" status (4), and so
    // does vipd (it exited 5).
    let (k_rc, k_out) = ns.keepalived_test(&missing, &["-e"]);
    let (rc, out) = in_ns(&[link, "-t", "-e", "-f", missing.to_str().unwrap()]);
    assert_eq!((k_rc, rc), (4, 4), "keepalived:\n{k_out}\nvipd:\n{out}");
}

/// `-e`/`--all-config`: an include that brings in no file refuses the configuration, with
/// keepalived 2.2.7's `-t` exit status (6, without `-e` 0); `-n -e` does not start (6).
#[test]
fn all_config_refuses_a_missing_include_as_keepalived_does() {
    let ns = Namespace::new("kaclie");
    ns.add_interface("eth0", &["192.0.2.1/24"]).unwrap();
    let work = WorkDir::new("kaclie");
    let link = keepalived_symlink(&work.0);
    let link = link.to_str().unwrap();
    let dir = work.0.join("conf.d");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("g.conf"), "global_defs {\n  router_id lb1\n}\n").unwrap();
    let main = work.0.join("main.conf");
    let main = main.to_str().unwrap();
    let in_ns = |argv: &[&str]| {
        let mut full = vec!["ip", "netns", "exec", &ns.0];
        full.extend_from_slice(argv);
        output(&full)
    };
    let instance = "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  \
                    priority 100\n  virtual_ipaddress {\n    192.0.2.100/24\n  }\n}\n";
    for (include, missing) in [
        ("include conf.d/g.conf", false),
        ("include conf.d/{g,*.none}.conf", false),
        ("include conf.d/none.conf", true),
        ("include conf.d/*.none", true),
        ("include conf.d/{g,none}.conf", true),
    ] {
        std::fs::write(main, format!("{include}\n{instance}")).unwrap();
        for all in [false, true] {
            let extra: &[&str] = if all { &["-e"] } else { &[] };
            let (k_rc, k_out) = ns.keepalived_test(Path::new(main), extra);
            let mut argv = vec![link, "-t", "-f", main];
            argv.extend(extra);
            let (v_rc, v_out) = in_ns(&argv);
            let expected = if all && missing { 6 } else { 0 };
            assert_eq!(
                (k_rc, v_rc),
                (expected, expected),
                "{include} {extra:?}\n--- keepalived:\n{k_out}\n--- vipd:\n{v_out}"
            );
            if expected == 6 {
                assert!(v_out.contains("main.conf:1: "), "{v_out}");
            }
        }
    }
    // `-n -e`, and `-n` on a main file that is not there: not started, and keepalived's exit
    // status 6 ("missing file"; vipd exited 1), with or without the fork (bounded should one
    // of them run).
    let state = work.0.join("state");
    let socket = work.0.join("vipd.sock");
    let pid = work.0.join("k.pid");
    let missing = work.0.join("missing.conf");
    for (conf, extra) in [(main, &["-e"][..]), (missing.to_str().unwrap(), &[])] {
        let mut common = vec!["timeout", "20", "PROGRAM", "-n", "-l", "-f", conf];
        common.extend(extra);
        common.extend(["-p", pid.to_str().unwrap(), "-r", pid.to_str().unwrap()]);
        let mut real = common.clone();
        real[2] = "keepalived";
        let (k_rc, k_out) = in_ns(&real);
        let mut ours = common.clone();
        ours[2] = link;
        ours.extend([
            "--state-dir",
            state.to_str().unwrap(),
            "--socket",
            socket.to_str().unwrap(),
        ]);
        let (rc, out) = in_ns(&ours);
        assert_eq!(
            (k_rc, rc),
            (6, 6),
            "{conf} {extra:?}\n--- keepalived:\n{k_out}\n--- vipd:\n{out}"
        );
        if conf == main {
            assert!(
                out.contains("main.conf:1: ") && out.contains("--all-config"),
                "{out}"
            );
        }
    }
    // Forked (no `-n`): the parent waits for the daemon's verdict and exits with it.
    let (rc, out) = in_ns(&[
        "timeout",
        "20",
        link,
        "-e",
        "-f",
        main,
        "-p",
        pid.to_str().unwrap(),
        "-r",
        pid.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--socket",
        socket.to_str().unwrap(),
    ]);
    assert_eq!(rc, 6, "{out}");
}

#[test]
fn version_signum_help_and_bad_options_answer_as_keepalived_does() {
    let work = WorkDir::new("kacliv");
    let link = keepalived_symlink(&work.0);
    let link = link.to_str().unwrap();
    let vipd = env!("CARGO_BIN_EXE_vipd");
    let both = |args: &[&str]| {
        let mut real = vec!["keepalived"];
        real.extend_from_slice(args);
        let mut ours = vec![link];
        ours.extend_from_slice(args);
        let mut sub = vec![vipd, "keepalived"];
        sub.extend_from_slice(args);
        let (ours, sub) = (raw(&ours), raw(&sub));
        assert_eq!(ours.status.code(), sub.status.code(), "{args:?}");
        assert_eq!(ours.stdout, sub.stdout, "{args:?}");
        (raw(&real), ours)
    };
    // keepalived-exporter asks `keepalived --signum=NAME` which number to send.
    for name in [
        "STOP",
        "RELOAD",
        "DATA",
        "STATS",
        "STATS_CLEAR",
        "JSON",
        "NOPE",
    ] {
        let arg = format!("--signum={name}");
        let (real, ours) = both(&[&arg]);
        assert_eq!(ours.status.code(), real.status.code(), "{name}");
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&real.stdout),
            "{name}"
        );
    }
    // `keepalived -v` on stderr, exit 0, the first line in keepalived's form.
    let (real, ours) = both(&["-v"]);
    assert_eq!((real.status.code(), ours.status.code()), (Some(0), Some(0)));
    let first = |out: &std::process::Output| {
        let text = String::from_utf8_lossy(&out.stderr).into_owned();
        text.lines().next().unwrap_or_default().to_string()
    };
    assert!(
        first(&real).starts_with("Keepalived v2.2.7 ("),
        "{}",
        first(&real)
    );
    assert!(
        first(&ours).starts_with("Keepalived v2.2.7 (vipd "),
        "{}",
        first(&ours)
    );
    let (real, ours) = both(&["--help"]);
    assert_eq!((real.status.code(), ours.status.code()), (Some(0), Some(0)));
    assert!(String::from_utf8_lossy(&ours.stderr).contains("--use-file=FILE"));
    // Unknown options and missing parameters: exit 1 with keepalived's words.
    for args in [&["-q"][..], &["--bogus"], &["-f"], &["--dont"]] {
        let (real, ours) = both(args);
        assert_eq!(real.status.code(), Some(1), "{args:?}");
        assert_eq!(ours.status.code(), Some(1), "{args:?}");
    }
    let (_, ours) = both(&["-n", "-q"]);
    assert!(String::from_utf8_lossy(&ours.stderr).contains("Unknown option -q"));
    // What vipd cannot do is refused, not silently ignored.
    for (args, word) in [
        (&["-C"][..], "-C/--check"),
        (&["-x"], "SNMP"),
        (&["--genhash"], "genhash"),
    ] {
        let (_, ours) = both(args);
        assert_eq!(ours.status.code(), Some(1), "{args:?}");
        assert!(
            String::from_utf8_lossy(&ours.stderr).contains(word),
            "{args:?}"
        );
    }
}

#[test]
fn arguments_that_are_not_utf8_are_refused_not_a_panic() {
    use std::os::unix::ffi::OsStrExt;
    let work = WorkDir::new("kacliu");
    let link = keepalived_symlink(&work.0);
    let bad = std::ffi::OsStr::from_bytes(b"/nonexistent-\xff.conf");
    let vipd = env!("CARGO_BIN_EXE_vipd");
    for (program, args) in [
        (link.as_os_str(), vec!["-t".as_ref(), "-f".as_ref(), bad]),
        (vipd.as_ref(), vec!["check".as_ref(), bad]),
    ] {
        let out = std::process::Command::new(program)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{program:?} {args:?}: {out:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
}

fn raw(argv: &[&str]) -> std::process::Output {
    std::process::Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"))
}
