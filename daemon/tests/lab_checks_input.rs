//! Bad health-check input is refused by `vipd check` with a clear message: exit status 1,
//! `FILE:LINE: ...` for keepalived.conf (and for native syntax errors), `FILE: field ...` for
//! native values out of range. Each case changes one line of a configuration that passes,
//! so the test fails if the error comes from anything else.

use std::path::{Path, PathBuf};
use std::process::Command;

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let path =
            std::env::temp_dir().join(format!("vipd-check-input-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Dir(path)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Checked {
    success: bool,
    code: Option<i32>,
    stderr: String,
}

/// `vipd check -c PATH`, in a private empty network namespace (`unshare -n`) so that name
/// lookups fail at once instead of waiting for an unreachable DNS server.
fn vipd_check(path: &Path) -> Checked {
    let out = Command::new("unshare")
        .arg("-n")
        .arg(env!("CARGO_BIN_EXE_vipd"))
        .args(["check", "-c"])
        .arg(path)
        .output()
        .expect("run unshare -n vipd check");
    Checked {
        success: out.status.success(),
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn expect_refused(path: &Path, needles: &[&str]) {
    let checked = vipd_check(path);
    assert!(!checked.success, "{} was accepted", path.display());
    assert_eq!(checked.code, Some(1), "{}", checked.stderr);
    for needle in needles {
        assert!(
            checked.stderr.contains(needle),
            "`{needle}` missing from:\n{}",
            checked.stderr
        );
    }
}

const KEEPALIVED: &str = r#"vrrp_script chk_api {
    script "/bin/true"
    interval 1
    timeout 2
    weight -60
    fall 2
    rise 2
}

vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    virtual_ipaddress {
        192.0.2.100/24
    }
    track_script {
        chk_api weight -60
    }
}
"#;

/// The keepalived.conf above with line `line` (1-based) replaced.
fn keepalived_with(line: usize, text: &str) -> String {
    let mut lines: Vec<&str> = KEEPALIVED.lines().collect();
    lines[line - 1] = text;
    lines.join("\n") + "\n"
}

/// keepalived 2.2.7 logs these values and runs anyway (the default stays, or a script weight
/// beyond ±253 saturates the priority); vipd accepts them too, each with a warning naming
/// file and line.
#[test]
fn lab_checks_input_keepalived_conf_values_keepalived_ignores_are_warnings_with_file_and_line() {
    let dir = Dir::new("keepalived");
    let good = dir.write("good.conf", KEEPALIVED);
    let checked = vipd_check(&good);
    assert!(
        checked.success,
        "the base file must pass: {}",
        checked.stderr
    );

    let cases: &[(usize, &str, &[&str])] = &[
        (3, "    interval -1", &["interval", "-1", "ignored"]),
        (3, "    interval 0", &["interval 0", "1 second"]),
        (4, "    timeout -2", &["timeout", "-2", "ignored"]),
        (5, "    weight 254", &["254", "-253..=253", "253"]),
        (5, "    weight -254", &["-254", "-253..=253", "-253"]),
        (
            19,
            "        chk_api weight 300",
            &["chk_api", "300", "-253..=253", "its own weight"],
        ),
    ];
    for (line, text, needles) in cases {
        let path = dir.write("lenient.conf", &keepalived_with(*line, text));
        let checked = vipd_check(&path);
        assert!(checked.success, "{text}: refused:\n{}", checked.stderr);
        let at = format!("{}:{line}: warning: ", path.display());
        let warning = checked
            .stderr
            .lines()
            .find(|l| l.starts_with(&at))
            .unwrap_or_else(|| panic!("{text}: no warning at {at}\n{}", checked.stderr));
        for needle in *needles {
            assert!(
                warning.contains(needle),
                "`{needle}` missing from: {warning}"
            );
        }
    }
}

const NATIVE: &str = r#"[[instance]]
name = "api"
interface = "eth0"
vrid = 51
priority = 150
vips = ["192.0.2.100/24"]
track_checks = [{ check = "svc" }, { check = "web", weight = -50 }]

[[check]]
name = "svc"
kind = "tcp"
host = "127.0.0.1"
port = 6443
interval = "100ms"
weight = -60

[[check]]
name = "web"
kind = "http"
url = "https://127.0.0.1:6443/readyz"
insecure_skip_verify = true
interval = "1s"
"#;

/// The vipd.toml above with line `line` (1-based) replaced.
fn native_with(line: usize, text: &str) -> String {
    let mut lines: Vec<&str> = NATIVE.lines().collect();
    lines[line - 1] = text;
    lines.join("\n") + "\n"
}

#[test]
fn lab_checks_input_native_errors_are_clear() {
    let dir = Dir::new("native");
    let good = dir.write("good.toml", NATIVE);
    let checked = vipd_check(&good);
    assert!(
        checked.success,
        "the base file must pass: {}",
        checked.stderr
    );

    // Syntax-level problems: FILE:LINE.
    let at_line: &[(usize, &str, &[&str])] = &[
        (20, "url = \"https//127.0.0.1/readyz\"", &["URL", "scheme"]),
        (20, "url = \"https://127.0.0.1:99999/\"", &["URL", "port"]),
        (20, "url = \"ftp://127.0.0.1/\"", &["URL", "scheme"]),
        (14, "interval = \"-1s\"", &["-1s"]),
    ];
    for (line, text, needles) in at_line {
        let path = dir.write("bad.toml", &native_with(*line, text));
        let at = format!("{}:{line}: ", path.display());
        let mut all = vec![at.as_str()];
        all.extend_from_slice(needles);
        expect_refused(&path, &all);
    }

    // Values out of range: FILE:LINE: field `...` (the line the field is written on).
    let fields: &[(usize, &str, &[&str])] = &[
        (
            14,
            "interval = \"0ms\"",
            &["`check[0].interval`", "greater than 0"],
        ),
        (
            15,
            "weight = 254",
            &["`check[0].weight`", "254", "-253..=253"],
        ),
        (
            15,
            "weight = -254",
            &["`check[0].weight`", "-254", "-253..=253"],
        ),
        (
            7,
            "track_checks = [{ check = \"svc\", weight = -300 }]",
            &["track_checks", "-300"],
        ),
    ];
    for (line, text, needles) in fields {
        let path = dir.write("bad.toml", &native_with(*line, text));
        let at = format!("{}:{line}: ", path.display());
        let mut all = vec![at.as_str()];
        all.extend_from_slice(needles);
        expect_refused(&path, &all);
    }

    // A host that does not resolve: found by `vipd check` (not at start, where DNS may be late).
    let path = dir.write(
        "bad.toml",
        &native_with(12, "host = \"no-such-host.invalid\""),
    );
    expect_refused(
        &path,
        &[
            &format!("{}: ", path.display()),
            "check svc",
            "no-such-host.invalid",
            "does not resolve",
        ],
    );
}
