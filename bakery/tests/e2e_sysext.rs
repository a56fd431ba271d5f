//! Install and auto-upgrade end to end against real systemd 257 (systemd-sysext,
//! systemd-sysupdate, systemd-analyze, and the gpg systemd-pull runs for Verify=yes) in a
//! Flatcar-like Debian trixie root, running the command blocks of README.md verbatim and the
//! Butane drop-in for systemd-sysupdate.service line by line. Releases are signed; forged
//! ones are refused. Needs root, mmdebstrap and python3.

mod common;
mod support;

use support::{doc_blocks, Node, Release, DROPIN_PATH};

const UNIT: &str = "/usr/lib/systemd/system/vipd.service";
const UPHOLDS: &str = "/usr/lib/systemd/system/multi-user.target.d/10-vipd.conf";
const TRANSFER: &str = "/usr/lib/sysupdate.vipd.d/vipd.conf";

/// Every README.md block the tests paste; a block not listed here is untested.
/// (`plain-install` is pasted into a booted Debian by `e2e_boot`.)
const TESTED_BLOCKS: [&str; 8] = [
    "plain-install",
    "keygen",
    "publish",
    "manual-install",
    "first-boot",
    "auto-upgrade",
    "upgrade",
    "uninstall",
];

fn link_to(version: &str) -> String {
    format!("../../opt/extensions/vipd/vipd-{version}-x86-64.raw")
}

fn image_name(version: &str) -> String {
    format!("vipd-{version}-x86-64.raw")
}

/// A node holding what the install blocks expect in /root: the 1.0.0 image, the release's
/// SHA256SUMS and its signature, the release public key, vipd.toml and the Butane drop-in.
fn node_with_files(tag: &str, release: &Release) -> Node {
    let node = Node::new(tag);
    assert_eq!(node.vipd_version(), None, "the bare root already has vipd");
    node.put(&release.image("1.0.0"), "root/vipd-1.0.0-x86-64.raw");
    for file in ["SHA256SUMS", "SHA256SUMS.gpg"] {
        node.put(&release.dir().join(file), &format!("root/{file}"));
    }
    node.put(&release.public_key(), "root/vipd-release.pgp");
    node.put(
        &support::workspace().join("examples/two-routers.toml"),
        "root/vipd.toml",
    );
    node.put(
        &support::workspace().join("butane/vipd-sysupdate.conf"),
        "root/vipd-sysupdate.conf",
    );
    node
}

#[test]
fn docs_blocks_are_the_tested_ones() {
    let blocks = doc_blocks();
    let names: Vec<&str> = blocks.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, TESTED_BLOCKS, "README.md ```sh blocks");
    for (name, body) in &blocks {
        assert!(!body.trim().is_empty(), "{name} is empty");
    }
}

#[test]
fn manual_install_merges_vipd_and_uninstall_removes_it() {
    let release = Release::new("manual-rel");
    release.publish("1.0.0");
    let node = node_with_files("manual", &release);

    node.paste_ok("manual-install");
    assert_eq!(node.vipd_version().as_deref(), Some("vipd 1.0.0"));
    assert_eq!(node.current_link(), None, "manual install is a plain file");
    assert!(node.read(UNIT).contains("ExecStart=/usr/bin/vipd run"));
    assert!(node.read(UPHOLDS).contains("Upholds=vipd.service\n"));
    assert!(node
        .read(TRANSFER)
        .contains(&format!("Path={}\n", release.base_url())));
    assert!(node.read(TRANSFER).contains("\nVerify=yes\n"));
    let verify = node.exec(&["systemd-analyze", "verify", UNIT]);
    assert!(
        verify.ok(),
        "systemd-analyze verify of the merged unit:\n{verify}"
    );
    let status = node.exec(&["systemd-sysext", "status"]);
    assert!(status.stdout.contains("vipd"), "{status}");
    assert_eq!(
        node.take_calls(),
        ["systemd-sysext refresh", "systemd-sysext status"]
    );

    node.paste_ok("uninstall");
    assert_eq!(node.vipd_version(), None);
    for path in [
        "/usr/bin/vipd",
        UNIT,
        UPHOLDS,
        TRANSFER,
        "/etc/extensions/vipd.raw",
    ] {
        assert!(!node.exists(path), "{path} left after uninstall");
    }
    assert_eq!(
        node.take_calls(),
        [
            "systemd-sysext refresh",
            "systemctl daemon-reload",
            "systemctl stop vipd.service"
        ]
    );
}

/// First-boot layout, then the drop-in keeps the node current: it installs and merges each
/// new version, restarts vipd only when the version changed, and keeps three images.
#[test]
fn first_boot_then_auto_upgrade_through_the_dropin() {
    let release = Release::new("auto-rel");
    release.publish("1.0.0");
    let node = node_with_files("auto", &release);

    node.paste_ok("first-boot");
    assert_eq!(
        node.current_link().as_deref(),
        Some("/opt/extensions/vipd/vipd-1.0.0-x86-64.raw")
    );
    assert_eq!(node.vipd_version().as_deref(), Some("vipd 1.0.0"));
    assert!(node.read(UPHOLDS).contains("Upholds=vipd.service\n"));
    let verify = node.exec(&["systemd-analyze", "verify", UNIT]);
    assert!(verify.ok(), "{verify}");

    node.paste_ok("auto-upgrade");
    let shipped =
        std::fs::read_to_string(support::workspace().join("butane/vipd-sysupdate.conf")).unwrap();
    assert_eq!(node.read(DROPIN_PATH), shipped);
    assert_eq!(
        node.take_calls(),
        [
            "systemd-sysext refresh",
            "systemctl daemon-reload",
            "systemctl enable --now systemd-sysupdate.timer"
        ]
    );

    // Nothing new published: the service succeeds and touches nothing.
    let run = node.run_sysupdate_service();
    assert!(run.ok, "{}", run.log);
    assert_eq!(run.steps.len(), 5, "{}", run.log);
    assert_eq!(node.take_calls(), Vec::<String>::new(), "{}", run.log);
    assert_eq!(node.vipd_version().as_deref(), Some("vipd 1.0.0"));

    release.publish("1.1.0");
    let run = node.run_sysupdate_service();
    assert!(run.ok, "{}", run.log);
    assert_eq!(node.current_link(), Some(link_to("1.1.0")), "{}", run.log);
    assert_eq!(
        node.take_calls(),
        ["systemd-sysext refresh", "systemctl restart vipd.service"],
        "{}",
        run.log
    );
    assert_eq!(node.vipd_version().as_deref(), Some("vipd 1.1.0"));

    // Up to date again: no refresh, no restart.
    let run = node.run_sysupdate_service();
    assert!(run.ok, "{}", run.log);
    assert_eq!(node.take_calls(), Vec::<String>::new(), "{}", run.log);

    // Four versions published: InstancesMax=3 removes the oldest.
    for version in ["1.2.0", "1.3.0"] {
        release.publish(version);
        let run = node.run_sysupdate_service();
        assert!(run.ok, "{}", run.log);
        assert_eq!(node.current_link(), Some(link_to(version)), "{}", run.log);
        assert_eq!(node.vipd_version(), Some(format!("vipd {version}")));
        assert_eq!(node.take_calls().len(), 2);
    }
    assert_eq!(
        node.installed(),
        ["1.1.0", "1.2.0", "1.3.0"].map(image_name),
        "InstancesMax=3 should have pruned 1.0.0"
    );
    let sums = std::fs::read_to_string(release.dir().join("SHA256SUMS")).unwrap();
    assert_eq!(sums.lines().count(), 4, "{sums}");
}

/// A tampered image and an unreachable server leave the node exactly as it was.
#[test]
fn tampered_image_and_unreachable_server_are_refused() {
    let mut release = Release::new("refuse-rel");
    release.publish("1.0.0");
    let node = node_with_files("refuse", &release);
    node.paste_ok("first-boot");
    node.paste_ok("auto-upgrade");
    node.take_calls();

    release.publish("1.1.0");
    let image = release.image("1.1.0");
    let mut bytes = std::fs::read(&image).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&image, bytes).unwrap();

    let unchanged = |what: &str, log: &str| {
        assert_eq!(
            node.current_link().as_deref(),
            Some("/opt/extensions/vipd/vipd-1.0.0-x86-64.raw"),
            "{what}: {log}"
        );
        assert_eq!(node.installed(), [image_name("1.0.0")], "{what}: {log}");
        assert_eq!(node.vipd_version().as_deref(), Some("vipd 1.0.0"), "{what}");
    };

    // By hand: the update fails, so the block stops before refresh and restart.
    let o = node.paste(&support::doc_block("upgrade"));
    assert!(!o.ok(), "tampered image accepted:\n{o}");
    assert!(o.stderr.contains("1.1.0"), "{o}");
    unchanged("manual upgrade, tampered", &o.to_string());
    assert_eq!(node.take_calls(), Vec::<String>::new());
    // Through the service: ExecStartPre fails, nothing after it runs.
    let run = node.run_sysupdate_service();
    assert!(!run.ok, "{}", run.log);
    assert_eq!(run.steps.len(), 2, "{}", run.log);
    unchanged("service, tampered", &run.log);
    assert_eq!(node.take_calls(), Vec::<String>::new());

    release.go_offline();
    let run = node.run_sysupdate_service();
    assert!(!run.ok, "{}", run.log);
    assert_eq!(run.steps.len(), 2, "{}", run.log);
    unchanged("service, offline", &run.log);
    let o = node.paste(&support::doc_block("upgrade"));
    assert!(!o.ok(), "{o}");
    unchanged("manual upgrade, offline", &o.to_string());
    assert_eq!(node.take_calls(), Vec::<String>::new());
}

/// The manual upgrade block installs a good new version and restarts vipd.
#[test]
fn manual_upgrade_block_installs_the_new_version() {
    let release = Release::new("upgrade-rel");
    release.publish("1.0.0");
    let node = node_with_files("upgrade", &release);
    node.paste_ok("first-boot");
    node.take_calls();
    release.publish("1.1.0");
    let o = node.paste_ok("upgrade");
    assert!(
        o.stdout.contains("1.1.0"),
        "list shows the new version:\n{o}"
    );
    assert_eq!(node.current_link(), Some(link_to("1.1.0")));
    assert_eq!(node.vipd_version().as_deref(), Some("vipd 1.1.0"));
    assert_eq!(
        node.take_calls(),
        ["systemd-sysext refresh", "systemctl restart vipd.service"]
    );
}

#[test]
fn dropin_command_lines_split_as_systemd_does() {
    let dropin =
        std::fs::read_to_string(support::workspace().join("butane/vipd-sysupdate.conf")).unwrap();
    let pre = support::exec_lines(&dropin, "ExecStartPre");
    let post = support::exec_lines(&dropin, "ExecStartPost");
    assert_eq!((pre.len(), post.len()), (2, 2), "{dropin}");
    let argv = support::split_command_line(&pre[0]);
    assert_eq!(argv[..2], ["/usr/bin/sh", "-c"]);
    assert_eq!(argv.len(), 3, "{argv:?}");
    assert!(argv[2].contains("readlink"), "{argv:?}");
    assert_eq!(
        support::split_command_line(r#"a "b \"c\" d" 'e f'"#),
        ["a", "b \"c\" d", "e f"]
    );
}

/// Whoever controls the release server but not the key gets nothing installed: an unsigned
/// release, one signed with their own key, and a SHA256SUMS changed after signing (a
/// tampered image with its new hash) are refused by systemd-sysupdate's gpg check, through
/// the service and by hand, and the node stays on 1.0.0. The real signed 1.1.0 then installs.
#[test]
fn forged_releases_are_refused_and_the_signed_one_installs() {
    let release = Release::new("forge-rel");
    release.publish("1.0.0");
    let node = node_with_files("forge", &release);
    node.paste_ok("first-boot");
    node.paste_ok("auto-upgrade");
    node.take_calls();
    for key in [
        "/etc/systemd/import-pubring.gpg",
        "/etc/systemd/import-pubring.pgp",
    ] {
        let same = node.exec(&["cmp", key, "/root/vipd-release.pgp"]);
        assert!(same.ok(), "{key}: {same}");
    }
    let unchanged = |what: &str, log: &str| {
        assert_eq!(
            node.current_link().as_deref(),
            Some("/opt/extensions/vipd/vipd-1.0.0-x86-64.raw"),
            "{what}: {log}"
        );
        assert_eq!(node.installed(), [image_name("1.0.0")], "{what}: {log}");
        assert_eq!(node.vipd_version().as_deref(), Some("vipd 1.0.0"), "{what}");
        assert_eq!(node.take_calls(), Vec::<String>::new(), "{what}: {log}");
    };
    let signed = |file: &str| std::fs::read(release.dir().join(file)).unwrap();
    let (sums, sig) = (signed("SHA256SUMS"), signed("SHA256SUMS.gpg"));
    let restore = || {
        std::fs::write(release.dir().join("SHA256SUMS"), &sums).unwrap();
        std::fs::write(release.dir().join("SHA256SUMS.gpg"), &sig).unwrap();
        let _ = std::fs::remove_file(release.image("1.1.0"));
    };
    let forgeries: [(&str, &dyn Fn()); 3] = [
        ("unsigned", &|| release.forge("1.1.0", false)),
        ("signed with another key", &|| release.forge("1.1.0", true)),
        ("SHA256SUMS changed after signing", &|| {
            // The attacker swaps in their image and its hash; the signature stays the vendor's.
            release.forge("1.1.0", false);
            std::fs::write(release.dir().join("SHA256SUMS.gpg"), &sig).unwrap();
        }),
    ];
    for (what, forge) in forgeries {
        restore();
        forge();
        assert!(
            std::fs::read_to_string(release.dir().join("SHA256SUMS"))
                .unwrap()
                .contains("vipd-1.1.0-x86-64.raw"),
            "{what}: 1.1.0 not listed"
        );
        let run = node.run_sysupdate_service();
        assert!(!run.ok, "{what}: accepted\n{}", run.log);
        assert_eq!(run.steps.len(), 2, "{what}: {}", run.log);
        assert!(
            run.log.contains("Signature") || run.log.contains("signature"),
            "{what}: not refused for its signature\n{}",
            run.log
        );
        unchanged(what, &run.log);
        let o = node.paste(&support::doc_block("upgrade"));
        assert!(!o.ok(), "{what}: manual upgrade accepted\n{o}");
        unchanged(what, &o.to_string());
    }

    restore();
    release.publish("1.1.0");
    let run = node.run_sysupdate_service();
    assert!(run.ok, "{}", run.log);
    assert_eq!(node.current_link(), Some(link_to("1.1.0")), "{}", run.log);
    assert_eq!(node.vipd_version().as_deref(), Some("vipd 1.1.0"));
    assert_eq!(
        node.take_calls(),
        ["systemd-sysext refresh", "systemctl restart vipd.service"]
    );
}
