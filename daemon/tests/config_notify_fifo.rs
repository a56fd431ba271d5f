//! keepalived's notify FIFO keywords: read from keepalived.conf, carried into native TOML,
//! and told about at file:line when they cannot work.

use std::path::Path;
use vipd::config::{self, NotifyFifo, NotifyScript};
use vipd::services::notify_fifo;

fn fixture() -> config::Config {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keepalived/notify-fifo.conf");
    config::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn config_notify_fifo_keywords_carry_their_values() {
    let cfg = fixture();
    let g = &cfg.global;
    assert_eq!(
        g.notify_fifo,
        Some(NotifyFifo {
            path: "/run/keepalived/notify.fifo".into(),
            owner: Some("keepalived_script".into()),
            group: None,
            script: Some(NotifyScript {
                command: "/usr/local/bin/fifo-reader --all".into(),
                user: Some("root".into()),
                group: None,
            }),
        })
    );
    assert_eq!(
        g.vrrp_notify_fifo,
        Some(NotifyFifo {
            path: "/run/vrrp-ifstate.fifo".into(),
            owner: None,
            group: None,
            script: Some("/usr/bin/ifstatecli vrrp-fifo".into()),
        })
    );
    assert!(g.notify_priority_changes);
    assert!(g.fifo_write_states_on_reload);
    // The instance's own setting, else its sync group's, else the global one.
    let decided: Vec<(&str, bool)> = cfg
        .instances
        .iter()
        .map(|i| (i.name.as_str(), notify_fifo::priority_changes(&cfg, i)))
        .collect();
    assert_eq!(
        decided,
        vec![("VI_1", true), ("VI_2", false), ("VI_3", true)]
    );
}

#[test]
fn config_notify_fifo_native_toml_names_them() {
    let cfg = fixture();
    let text = config::to_toml(&cfg);
    for expected in [
        "notify_priority_changes = true",
        "fifo_write_states_on_reload = true",
        "[global.notify_fifo]\npath = \"/run/keepalived/notify.fifo\"\nowner = \"keepalived_script\"\nscript = { command = \"/usr/local/bin/fifo-reader --all\", user = \"root\" }",
        "[global.vrrp_notify_fifo]\npath = \"/run/vrrp-ifstate.fifo\"\nscript = \"/usr/bin/ifstatecli vrrp-fifo\"",
        "[sync_group.notify]\npriority_changes = false",
        "[instance.notify]\npriority_changes = true",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    let back =
        config::parse_native(&text, Path::new("fifo.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, cfg);
    // A misspelt key is an error at its line.
    let bad = "[global.notify_fifo]\npath = \"/run/x.fifo\"\nscirpt = \"/bin/cat\"\n\n[[instance]]\nname = \"a\"\ninterface = \"eth0\"\nvrid = 1\nvips = [\"192.0.2.1\"]\n";
    let err = config::parse_native(bad, Path::new("bad.toml"))
        .expect_err("unknown key")
        .to_string();
    assert!(
        err.contains("bad.toml:3") && err.contains("scirpt"),
        "{err}"
    );
    let empty = bad
        .replace("scirpt = \"/bin/cat\"\n", "")
        .replace("/run/x.fifo", "");
    let err = config::parse_native(&empty, Path::new("empty.toml"))
        .expect_err("empty path")
        .to_string();
    assert!(
        err.contains("empty.toml:") && err.contains("notify_fifo: the path is empty"),
        "{err}"
    );
}

fn read(text: &str) -> Result<config::Loaded, String> {
    config::read_keepalived(
        text,
        Path::new("fifo.conf"),
        &config::ReadOptions::default(),
    )
    .map_err(|e| e.to_string())
}

const INSTANCE: &str = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  192.0.2.1\n }\n}\n";

#[test]
fn config_notify_fifo_script_without_fifo_and_empty_lines_are_ignored_with_warnings() {
    let loaded = read(&format!(
        "global_defs {{\n vrrp_notify_fifo_script /usr/bin/reader\n notify_fifo\n}}\n{INSTANCE}"
    ))
    .unwrap();
    assert_eq!(loaded.config.global.vrrp_notify_fifo, None);
    assert_eq!(loaded.config.global.notify_fifo, None);
    let warnings: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("fifo.conf:2:") && w.contains("without `vrrp_notify_fifo`")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("fifo.conf:3:") && w.contains("without the path")),
        "{warnings:?}"
    );
    // The script may come first: it belongs to the FIFO named later.
    let loaded = read(&format!(
        "global_defs {{\n notify_fifo_script \"/usr/bin/reader -v\"\n notify_fifo /run/n.fifo root root\n}}\n{INSTANCE}"
    ))
    .unwrap();
    let fifo = loaded.config.global.notify_fifo.unwrap();
    assert_eq!(fifo.path, "/run/n.fifo");
    assert_eq!(
        (fifo.owner.as_deref(), fifo.group.as_deref()),
        (Some("root"), Some("root"))
    );
    assert_eq!(fifo.script.unwrap().command, "/usr/bin/reader -v");
}

#[test]
fn config_notify_fifo_bad_paths_are_reported_by_field() {
    let dir = std::env::temp_dir().join(format!("vipd-fifo-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("regular");
    std::fs::write(&file, "x").unwrap();
    let loaded = read(&format!(
        "global_defs {{\n notify_fifo {}\n vrrp_notify_fifo {}/missing/v.fifo nosuchuser-vipd\n}}\n{INSTANCE}",
        file.display(),
        dir.display()
    ))
    .unwrap();
    let warnings = notify_fifo::check_warnings(&loaded.config.global);
    let _ = std::fs::remove_dir_all(&dir);
    let fields: Vec<&str> = warnings.iter().map(|(at, _)| at.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            "global.notify_fifo",
            "global.vrrp_notify_fifo",
            "global.vrrp_notify_fifo"
        ],
        "{warnings:?}"
    );
    assert!(warnings[0].1.contains("is not a FIFO"), "{warnings:?}");
    assert!(
        warnings[1].1.contains("does not exist here"),
        "{warnings:?}"
    );
    assert!(
        warnings[2]
            .1
            .contains("user nosuchuser-vipd does not exist"),
        "{warnings:?}"
    );
    // Each warning names the line its keyword is on (what `vipd check` prints).
    let lines: Vec<String> = warnings
        .iter()
        .map(|(at, m)| {
            loaded
                .warning_at(Path::new("fifo.conf"), at, m.clone())
                .to_string()
        })
        .collect();
    assert!(lines[0].starts_with("fifo.conf:2: warning:"), "{lines:?}");
    assert!(lines[1].starts_with("fifo.conf:3: warning:"), "{lines:?}");
}
