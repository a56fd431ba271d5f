//! Every invalid fixture fails with the error its first line announces:
//! `# expect: FILE:LINE: message` (FILE relative to the fixture directory), or
//! `# expect: FILE: field `path`: message` for native field errors.

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
    assert!(files.len() >= 20);
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
    let text = "vrrp_instance a {\n interface eth0\n virtual_router_id 1\n use_vmac\n dont_track_primary\n}\nfoo\n";
    let errors = config::parse_keepalived(text, Path::new("k.conf")).unwrap_err();
    let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        lines,
        [
            "k.conf:4: unsupported keyword `use_vmac`",
            "k.conf:5: unsupported keyword `dont_track_primary`",
            "k.conf:7: unsupported keyword `foo`",
        ]
    );
    assert_eq!(errors.to_string(), lines.join("\n"));
}

#[test]
fn config_native_validation_reports_every_field() {
    let text = "[[instance]]\nname = \"a\"\ninterface = \"eth0\"\nvrid = 0\npriority = 0\nvips = [\"192.0.2.1\"]\n";
    let errors = config::parse_native(text, Path::new("v.toml")).unwrap_err();
    let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("v.toml: field `instance[0].vrid`: "),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("v.toml: field `instance[0].priority`: "),
        "{lines:?}"
    );
}

#[test]
fn config_warns_where_vipd_differs_from_keepalived() {
    let text = "vrrp_instance a {\n state MASTER\n nopreempt\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n";
    let cfg = config::parse_keepalived(text, Path::new("k.conf")).unwrap();
    assert!(!cfg.instances[0].preempt);
    let warnings = config::warnings(&cfg);
    assert!(
        warnings.iter().any(|w| w.contains("nopreempt")),
        "{warnings:?}"
    );
}

#[test]
fn config_warns_about_owner_nopreempt_and_empty_config() {
    let text = "vrrp_instance a {\n priority 255\n nopreempt\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n";
    let cfg = config::parse_keepalived(text, Path::new("k.conf")).unwrap();
    let warnings = config::warnings(&cfg);
    assert!(
        warnings.iter().any(|w| w.contains("address owner")),
        "{warnings:?}"
    );
    let empty = config::parse_native("", Path::new("e.toml")).unwrap();
    assert_eq!(config::warnings(&empty), ["no instances are configured"]);
}
