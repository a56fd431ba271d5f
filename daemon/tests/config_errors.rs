//! Every invalid fixture fails with the error its first line announces:
//! `# expect: FILE:LINE: message` (FILE relative to the fixture directory), or
//! `# expect: FILE:LINE: field `path`: message` for native field errors (LINE where the
//! field is written).

use std::path::Path;
use vipd::config;

#[test]
fn config_invalid_fixtures_report_file_and_line() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 8);
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{}: first line must be `# expect: ...`", path.display()));
        let expected = format!("{}/{}", dir.display(), expect);
        match config::load(&path) {
            Ok(cfg) => panic!("{}: parsed, expected an error\n{cfg:?}", path.display()),
            Err(errors) => {
                let shown = errors.to_string();
                assert!(
                    shown.lines().any(|l| l.starts_with(&expected)),
                    "{}:\nexpected: {expected}\ngot:\n{shown}",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn config_reports_all_errors_at_once() {
    let text = "vrrp_instance a {\n interface eth0\n virtual_router_id 1\n advert_int\n priority\n}\nvirtual_server 192.0.2.1 80 {\n}\n";
    let errors = config::parse_keepalived(text, Path::new("k.conf")).unwrap_err();
    let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0], "k.conf:4: `advert_int` needs a value");
    assert_eq!(lines[1], "k.conf:5: `priority` needs a value");
    assert!(
        lines[2].starts_with("k.conf:7: `virtual_server`: "),
        "{lines:?}"
    );
    assert_eq!(errors.to_string(), lines.join("\n"));
}

/// Every fixture under `warnings/` is accepted, with at least the warnings its header lines
/// announce: `# warning: FILE:LINE: warning: message` (a prefix of the message).
#[test]
fn config_warning_fixtures_are_accepted_with_file_and_line() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/warnings");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 3);
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let expected: Vec<String> = text
            .lines()
            .map_while(|l| l.strip_prefix("# warning: "))
            .map(|w| format!("{}/{}", dir.display(), w))
            .collect();
        assert!(
            !expected.is_empty(),
            "{}: no `# warning:` header",
            path.display()
        );
        let loaded = config::read(&path, &config::ReadOptions::default())
            .unwrap_or_else(|e| panic!("{}: refused: {e}", path.display()));
        let shown: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
        for want in &expected {
            assert!(
                shown.iter().any(|w| w.starts_with(want.as_str())),
                "{}:\nexpected: {want}\ngot:\n{}",
                path.display(),
                shown.join("\n")
            );
        }
    }
}

/// `vipd check` prints warnings and passes; `--strict` makes the same file fail.
#[test]
fn check_strict_turns_warnings_into_a_failure() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/warnings/unknown-keywords.conf");
    let run = |strict: bool| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_vipd"));
        cmd.arg("check").arg("-c").arg(&path);
        if strict {
            cmd.arg("--strict");
        }
        cmd.output().unwrap()
    };
    let relaxed = run(false);
    let stderr = String::from_utf8_lossy(&relaxed.stderr);
    assert!(relaxed.status.success(), "{stderr}");
    let line = format!(
        "{}:18: warning: unknown keyword `macast_src_ip`",
        path.display()
    );
    assert!(stderr.lines().any(|l| l.starts_with(&line)), "{stderr}");
    let strict = run(true);
    let stderr = String::from_utf8_lossy(&strict.stderr);
    assert_eq!(strict.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("refused by --strict"), "{stderr}");
}

/// `vipd check FILE` (as the README and the examples write it) is `vipd check -c FILE`; both
/// at once is refused.
#[test]
fn check_takes_the_file_as_plain_argument_too() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/warnings/unknown-keywords.conf");
    let vipd = |args: &[&std::ffi::OsStr]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_vipd"))
            .arg("check")
            .args(args)
            .output()
            .unwrap()
    };
    let plain = vipd(&[path.as_os_str()]);
    let stderr = String::from_utf8_lossy(&plain.stderr);
    assert!(plain.status.success(), "{stderr}");
    let line = format!(
        "{}:18: warning: unknown keyword `macast_src_ip`",
        path.display()
    );
    assert!(stderr.lines().any(|l| l.starts_with(&line)), "{stderr}");
    let both = vipd(&["-c".as_ref(), path.as_os_str(), path.as_os_str()]);
    assert_eq!(both.status.code(), Some(2), "{both:?}");
}

#[test]
fn config_native_validation_reports_every_field() {
    let text = "[[instance]]\nname = \"a\"\ninterface = \"eth0\"\nvrid = 0\npriority = 0\nvips = [\"192.0.2.1\"]\n";
    let errors = config::parse_native(text, Path::new("v.toml")).unwrap_err();
    let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("v.toml:4: field `instance[0].vrid`: "),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("v.toml:5: field `instance[0].priority`: "),
        "{lines:?}"
    );
}

/// Warnings about a native file name its line as keepalived.conf warnings do: the line of
/// the field, of the list entry, or of the table a field left at its default belongs to.
#[test]
fn config_native_warnings_name_file_line_and_field() {
    let text = "\
[global]
max_auto_priority = 10

[[instance]]
name = \"first\"
interface = \"eth0\"
vrid = 1
vips = [\"192.0.2.1/24\"]

[[instance]]
name = \"second\"
interface = \"eth0\"
vrid = 2
initial_state = \"master\"
preempt = false
vips = [
  \"192.0.2.2/24\",
]

[[instance]]
name = \"third\"
interface = \"eth1\"
vrid = 3
";
    let loaded = config::read_native(text, Path::new("v.toml")).unwrap();
    let shown: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    for expected in [
        "v.toml:2: warning: field `global.max_auto_priority`: ",
        "v.toml:15: warning: field `instance[1].preempt`: ",
        // No `vips` written: the line of its `[[instance]]` table.
        "v.toml:20: warning: field `instance[2]`: instance `third` has no virtual addresses",
    ] {
        assert!(
            shown.iter().any(|l| l.starts_with(expected)),
            "expected {expected}\ngot:\n{}",
            shown.join("\n")
        );
    }
    assert!(
        shown.iter().all(|l| l.starts_with("v.toml:")
            && l["v.toml:".len()..].starts_with(|c: char| c.is_ascii_digit())),
        "a warning without its line:\n{}",
        shown.join("\n")
    );
}

#[test]
fn config_clears_nopreempt_with_state_master_as_keepalived_does() {
    let text = "vrrp_instance a {\n state MASTER\n priority 150\n nopreempt\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n";
    let loaded = config::read_keepalived(text, Path::new("k.conf"), &Default::default()).unwrap();
    assert!(loaded.config.instances[0].preempt);
    let warnings: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        warnings.iter().any(|w| w.starts_with(
            "k.conf:4: warning: instance `a`: nopreempt does not work with state MASTER"
        )),
        "{warnings:?}"
    );
    // A native file says what it means: there it is honoured, with a warning.
    let native = config::to_toml(&loaded.config).replace("preempt = true", "");
    let native = native.replace("[[instance]]", "[[instance]]\npreempt = false");
    let cfg = config::parse_native(&native, Path::new("v.toml")).unwrap();
    assert!(!cfg.instances[0].preempt);
    assert!(
        config::warnings(&cfg)
            .iter()
            .any(|w| w.contains("nopreempt")),
        "{native}"
    );
}

#[test]
fn config_warns_about_owner_nopreempt_and_empty_config() {
    let text = "vrrp_instance a {\n priority 255\n nopreempt\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n";
    let loaded = config::read_keepalived(text, Path::new("k.conf"), &Default::default()).unwrap();
    assert!(
        loaded.config.instances[0].preempt,
        "cleared as keepalived clears it"
    );
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.message.contains("address owner")),
        "{:?}",
        loaded.warnings
    );
    let empty = config::parse_native("", Path::new("e.toml")).unwrap();
    assert_eq!(config::warnings(&empty), ["no instances are configured"]);
}

/// `vipd drain` / `vipd resume` without an instance say that `--all` is the other choice.
#[test]
fn drain_and_resume_without_a_target_name_all() {
    for command in ["drain", "resume"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_vipd"))
            .args([command, "--socket", "/nonexistent/vipd.sock"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(stderr.contains("--all"), "{command}: {stderr}");
    }
}

/// `vipd run` without CAP_NET_ADMIN/CAP_NET_RAW (not root, or root with an empty bounding
/// set) stops at once with a message saying what it needs, instead of running with every
/// instance in FAULT.
#[test]
fn run_without_capabilities_says_what_it_needs() {
    let dir = std::env::temp_dir().join(format!("vipd-nocaps-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/two-routers.toml");
    let vipd = env!("CARGO_BIN_EXE_vipd");
    let mut argv: Vec<String> = Vec::new();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        argv.extend(
            [
                "setpriv",
                "--inh-caps=-all",
                "--ambient-caps=-all",
                "--bounding-set=-all",
            ]
            .map(String::from),
        );
    }
    argv.push(vipd.to_string());
    argv.extend(["run", "-c"].map(String::from));
    argv.push(config.display().to_string());
    argv.push("--socket".into());
    argv.push(dir.join("vipd.sock").display().to_string());
    argv.push("--state-dir".into());
    argv.push(dir.join("state").display().to_string());
    let mut child = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let status =
        status.unwrap_or_else(|| panic!("vipd run kept running without capabilities:\n{stderr}"));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("needs CAP_NET_ADMIN and CAP_NET_RAW") && stderr.contains("as root"),
        "{stderr}"
    );
}
