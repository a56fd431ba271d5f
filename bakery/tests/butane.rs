//! `bake butane`: the templates, the rendered Butane YAML, the Ignition JSON (checked by the
//! real `ignition-validate` and by `ignition-config`'s typed structs), hashes from an image
//! and from SHA256SUMS over HTTP, vipd's config errors, and `bake release`'s example.

mod common;

use bake::firstboot::{self, butane, ignition, Inputs, Spec};
use bake::names::Arch;
use common::{bake, repo, text, HttpServer, Scratch};
use sha2::{Digest, Sha256};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BASE: &str = "https://example.org/vipd/releases/";

fn examples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join("butane/examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    assert!(v.len() >= 3, "{v:?}");
    v
}

/// A pseudo image: the hash is all that matters here.
fn fake_image(dir: &Scratch, version: &str, seed: u8) -> PathBuf {
    let path = dir.join(&format!("vipd-{version}-x86-64.raw"));
    let bytes: Vec<u8> = (0..50_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ seed)
        .collect();
    std::fs::write(&path, bytes).unwrap();
    path
}

fn sha256_hex(path: &Path) -> String {
    Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `bake butane` for an example config; returns stdout.
fn render(config: &Path, image: &Path, spec: &str, ignition: bool) -> String {
    let pubkey = test_pubkey();
    let mut args = vec![
        "butane",
        "--pubkey",
        pubkey.to_str().unwrap(),
        "--version",
        "0.1.0",
        "--base-url",
        BASE,
        "--config",
        config.to_str().unwrap(),
        "--image",
        image.to_str().unwrap(),
        "--spec",
        spec,
    ];
    if ignition {
        args.push("--ignition");
    }
    let o = bake(&args);
    assert!(
        o.status.success(),
        "{}: {}",
        config.display(),
        text(&o.stderr)
    );
    text(&o.stdout)
}

/// A release public key made once per test process (`bake keygen`'s format).
fn test_pubkey() -> &'static Path {
    static KEY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        // A static is never dropped: the keys of earlier test processes that are gone are
        // removed here instead, so runs do not pile them up in /tmp.
        let tmp = std::env::temp_dir();
        for entry in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let pid = name
                .strip_prefix("bake-butane-key-")
                .and_then(|rest| rest.strip_suffix(".pgp"));
            if pid.is_some_and(|pid| !Path::new("/proc").join(pid).exists()) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let path = tmp.join(format!("bake-butane-key-{}.pgp", std::process::id()));
        let (_, public, _) = bake::signing::generate("butane test").unwrap();
        std::fs::write(&path, public).unwrap();
        path
    })
}

fn ignition_validate(file: &Path) -> Output {
    Command::new("ignition-validate")
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("ignition-validate: {e} (Debian: apt-get install ignition)"))
}

#[test]
fn every_example_gives_ignition_3_3_that_ignition_validate_accepts() {
    let dir = Scratch::new("validate");
    let image = fake_image(&dir, "0.1.0", 1);
    for config in examples() {
        let json = render(&config, &image, "1.0.0", true);
        let file = dir.join("out.ign");
        std::fs::write(&file, &json).unwrap();
        let o = ignition_validate(&file);
        assert!(
            o.status.success(),
            "{}: {}{}\n{json}",
            config.display(),
            text(&o.stdout),
            text(&o.stderr)
        );
        let (parsed, warnings) = ignition_config::Config::parse_str(&json).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(matches!(parsed, ignition_config::Config::V3_3(_)));
    }
    // The validator is not a rubber stamp: a broken config is refused.
    let file = dir.join("bad.ign");
    std::fs::write(
        &file,
        r#"{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"relative","contents":{"source":"data:,x","verification":{"hash":"sha256-zz"}}}]}}"#,
    )
    .unwrap();
    assert!(!ignition_validate(&file).status.success());
}

fn without_version(json: &str) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["ignition"]["version"] = serde_json::Value::Null;
    v
}

#[test]
fn ignition_3_4_has_the_same_content_and_parses_with_the_3_4_types() {
    let dir = Scratch::new("v34");
    let image = fake_image(&dir, "0.1.0", 2);
    for config in examples() {
        let v33 = render(&config, &image, "1.0.0", true);
        let v34 = render(&config, &image, "1.1.0", true);
        let typed: ignition_config::v3_4::Config = serde_json::from_str(&v34).unwrap();
        assert_eq!(typed.ignition.version, "3.4.0");
        let (parsed, warnings) = ignition_config::Config::parse_str(&v34).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(matches!(parsed, ignition_config::Config::V3_4(_)));
        assert_eq!(without_version(&v33), without_version(&v34));
        assert_ne!(v33, v34);
    }
}

fn ign_files(json: &str) -> Vec<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["storage"]["files"].as_array().unwrap().clone()
}

fn file_entry(json: &str, path: &str) -> serde_json::Value {
    ign_files(json)
        .into_iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("no {path} in {json}"))
}

#[test]
fn ignition_has_what_the_node_needs() {
    let dir = Scratch::new("content");
    let image = fake_image(&dir, "0.1.0", 3);
    let config = repo().join("butane/examples/haproxy-pair.conf");
    let json = render(&config, &image, "1.0.0", true);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();

    let img = file_entry(&json, "/opt/extensions/vipd/vipd-0.1.0-x86-64.raw");
    assert_eq!(
        img["contents"]["source"],
        "https://example.org/vipd/releases/vipd-0.1.0-x86-64.raw"
    );
    assert_eq!(
        img["contents"]["verification"]["hash"],
        format!("sha256-{}", sha256_hex(&image))
    );
    assert_eq!(img["mode"], 420);

    // A keepalived.conf goes where vipd looks for one, root-only, byte for byte.
    let conf = file_entry(&json, "/etc/keepalived/keepalived.conf");
    assert_eq!(conf["mode"], 384);
    assert_eq!(
        data_url_contents(&conf),
        std::fs::read_to_string(&config).unwrap()
    );
    let transfer = file_entry(&json, "/etc/sysupdate.vipd.d/vipd.conf");
    assert_eq!(
        data_url_contents(&transfer),
        bake::recipe::Recipe::builtin()
            .unwrap()
            .transfer_file(BASE, true)
            .unwrap()
    );
    let noop = file_entry(&json, "/etc/sysupdate.d/noop.conf");
    assert!(data_url_contents(&noop).contains("MatchPattern=invalid@v.raw\n"));

    assert_eq!(
        v["storage"]["links"],
        serde_json::json!([{
            "hard": false,
            "path": "/etc/extensions/vipd.raw",
            "target": "/opt/extensions/vipd/vipd-0.1.0-x86-64.raw"
        }])
    );
    let units = v["systemd"]["units"].as_array().unwrap();
    assert!(
        units.contains(&serde_json::json!({"enabled": true, "name": "systemd-sysupdate.timer"}))
    );
    let service = units
        .iter()
        .find(|u| u["name"] == "systemd-sysupdate.service")
        .unwrap();
    assert_eq!(
        service["dropins"],
        serde_json::json!([{
            "name": "vipd.conf",
            "contents": std::fs::read_to_string(repo().join("butane/vipd-sysupdate.conf")).unwrap()
        }])
    );

    // A native config goes to /etc/vipd/vipd.toml.
    let toml = repo().join("butane/examples/ingress-vip.toml");
    let json = render(&toml, &image, "1.1.0", true);
    let conf = file_entry(&json, "/etc/vipd/vipd.toml");
    assert_eq!(
        data_url_contents(&conf),
        std::fs::read_to_string(&toml).unwrap()
    );
}

/// Decodes an Ignition file's inline `data:` URL (and gzip), independently of bake.
fn data_url_contents(file: &serde_json::Value) -> String {
    use base64::Engine as _;
    use std::io::Read;
    let source = file["contents"]["source"].as_str().unwrap();
    let compression = file["contents"]["compression"].as_str().unwrap();
    let raw = if let Some(b64) = source.strip_prefix("data:;base64,") {
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap()
    } else {
        let pct = source.strip_prefix("data:,").unwrap().as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < pct.len() {
            if pct[i] == b'%' {
                out.push(
                    u8::from_str_radix(std::str::from_utf8(&pct[i + 1..i + 3]).unwrap(), 16)
                        .unwrap(),
                );
                i += 3;
            } else {
                out.push(pct[i]);
                i += 1;
            }
        }
        out
    };
    let bytes = match compression {
        "gzip" => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&raw[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        }
        "" => raw,
        other => panic!("compression {other:?}"),
    };
    String::from_utf8(bytes).unwrap()
}

#[test]
fn rendered_butane_parses_and_translates_to_the_same_ignition() {
    let dir = Scratch::new("roundtrip");
    let image = fake_image(&dir, "0.1.0", 4);
    for spec in ["1.0.0", "1.1.0"] {
        for config in examples() {
            let yaml = render(&config, &image, spec, false);
            let parsed: butane::Config = serde_norway::from_str(&yaml)
                .unwrap_or_else(|e| panic!("{}: {e}\n{yaml}", config.display()));
            assert_eq!(parsed.version, spec);
            assert_eq!(
                parsed.storage.files[0].mode,
                Some(0o644),
                "YAML 0644 is octal"
            );
            let json = render(&config, &image, spec, true);
            assert_eq!(
                ignition::translate(&parsed).unwrap(),
                json,
                "{}",
                config.display()
            );
        }
    }
}

fn inputs(config: &str, spec: Spec) -> Inputs {
    Inputs::new(
        "1.2.3",
        Arch::Arm64,
        "http://127.0.0.1:8080/r",
        &format!("sha512-{}", "ab".repeat(64)),
        "/etc/keepalived/keepalived.conf",
        config,
        spec,
    )
    .unwrap()
}

#[test]
fn awkward_configs_survive_the_yaml_block() {
    let cases = [
        "    starts indented\nvrrp_instance VI_1 {\n\tinterface eth0\n}\n",
        "a: 'quoted' # not a comment\n\n\n  - not a list\n\"x\" |\n",
        "no trailing newline",
        "# only trailing newlines\n\n\n",
        "   \n\tafter a blank line of spaces\n  \n",
        "\n\nafter empty lines\nend   \n",
    ];
    for case in cases {
        let inputs = inputs(case, Spec::V1_1_0);
        let yaml = firstboot::butane_yaml(&inputs).unwrap();
        let parsed: butane::Config =
            serde_norway::from_str(&yaml).unwrap_or_else(|e| panic!("{case:?}: {e}\n{yaml}"));
        assert_eq!(
            parsed,
            firstboot::model(&inputs).unwrap(),
            "{case:?}\n{yaml}"
        );
        let inline = parsed.storage.files[1].contents.inline.clone().unwrap();
        assert_eq!(inline.trim_end_matches('\n'), case.trim_end_matches('\n'));
        assert_eq!(
            parsed.storage.links[0].target,
            "/opt/extensions/vipd/vipd-1.2.3-arm64.raw"
        );
        assert_eq!(
            parsed.storage.files[0].contents.source.as_deref(),
            Some("http://127.0.0.1:8080/r/vipd-1.2.3-arm64.raw")
        );
    }
    for bad in ["a\r\nb\n", "x\u{7}\n", "\n\n"] {
        let e = Inputs::new(
            "1",
            Arch::X86_64,
            BASE,
            &format!("sha256-{}", "0".repeat(64)),
            "/etc/vipd/vipd.toml",
            bad,
            Spec::V1_0_0,
        )
        .unwrap_err();
        assert!(e.0.starts_with("/etc/vipd/vipd.toml"), "{e}");
    }
}

/// Every `storage.files` entry of a Butane document: exactly one of source / inline, never an
/// empty `contents:` (the upstream keepalived snippet's mistakes).
fn check_file_entries(origin: &str, doc: &serde_norway::Value) {
    let files = doc["storage"]["files"].as_sequence().unwrap();
    assert!(!files.is_empty(), "{origin}");
    for f in files {
        let contents = f["contents"]
            .as_mapping()
            .unwrap_or_else(|| panic!("{origin}: {f:?} has an empty contents:"));
        let has = |k: &str| contents.get(k).is_some_and(|v| !v.is_null());
        assert!(
            has("source") ^ has("inline"),
            "{origin}: {f:?} needs exactly one of source and inline"
        );
    }
}

#[test]
fn templates_parse_after_substitution_and_have_no_snippet_mistakes() {
    let mut templates: Vec<PathBuf> = std::fs::read_dir(repo().join("butane"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bu"))
        .collect();
    templates.sort();
    assert_eq!(templates.len(), 2, "{templates:?}");
    let inputs = inputs("vrrp_instance VI_1 {\n}\n", Spec::V1_0_0);
    for path in &templates {
        let template = std::fs::read_to_string(path).unwrap();
        let origin = path.display().to_string();
        let filled = firstboot::fill_template(&template, &inputs, "# test\n").unwrap();
        assert!(firstboot::find_placeholder(&filled).is_none());
        // Duplicate keys (a doubled `source:`) are refused by the YAML parser itself.
        let doc: serde_norway::Value =
            serde_norway::from_str(&filled).unwrap_or_else(|e| panic!("{origin}: {e}"));
        check_file_entries(&origin, &doc);
        let typed: butane::Config = serde_norway::from_str(&filled).unwrap();
        typed.check().unwrap();
        let version = path
            .file_stem()
            .unwrap()
            .to_str()
            .unwrap()
            .strip_prefix("vipd-")
            .unwrap();
        assert_eq!(typed.version, version, "{origin}");
        let mut expected = firstboot::model(&inputs).unwrap();
        expected.version = version.to_string();
        assert_eq!(
            typed, expected,
            "{origin}: the template and bake's model differ"
        );
    }
    // The two templates differ in their version only.
    let strip = |p: &Path| -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| l.replace("1.0.0", "X").replace("1.1.0", "X"))
            .collect()
    };
    assert_eq!(strip(&templates[0]), strip(&templates[1]));

    // The checks catch the mistakes they are there for.
    let broken =
        "variant: flatcar\nversion: 1.0.0\nstorage:\n  files:\n    - path: /x\n      contents:\n";
    let doc: serde_norway::Value = serde_norway::from_str(broken).unwrap();
    assert!(std::panic::catch_unwind(|| check_file_entries("broken", &doc)).is_err());
    let doubled = "storage:\n  files:\n    - path: /x\n      contents:\n        source: a\n        source: b\n";
    assert!(serde_norway::from_str::<serde_norway::Value>(doubled).is_err());
    let both = "variant: flatcar\nversion: 1.0.0\nstorage:\n  files:\n    - path: /x\n      contents:\n        source: http://a/\n        inline: b\n";
    let typed: butane::Config = serde_norway::from_str(both).unwrap();
    assert!(typed.check().unwrap_err().contains("both"));
    assert!(ignition::translate(&typed).is_err());
}

fn write(dir: &Scratch, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

#[test]
fn configs_vipd_check_refuses_are_refused_with_its_messages() {
    let dir = Scratch::new("invalid");
    let image = fake_image(&dir, "0.1.0", 5);
    let syntax = write(
        &dir,
        "keepalived.conf",
        "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 300\n    priority 100\n}\n",
    );
    let field = write(
        &dir,
        "bad.toml",
        "[[instance]]\nname = \"a\"\ninterface = \"eth0\"\nvrid = 1\npriority = 0\n",
    );
    let script = write(
        &dir,
        "script.toml",
        "[[instance]]\nname = \"a\"\ninterface = \"eth0\"\nvrid = 1\ntrack_checks = [{ check = \"c\" }]\n\n[[check]]\nname = \"c\"\nkind = \"tcp\"\nhost = \"bad host!\"\nport = 80\n",
    );
    for config in [&syntax, &field, &script] {
        // What `vipd check` prints: the loader's errors, else preflight's problems.
        let expected: Vec<String> = match vipd::config::load(config) {
            Err(e) => e.to_string().lines().map(String::from).collect(),
            Ok(cfg) => vipd::services::tracking::preflight(&cfg)
                .iter()
                .map(|p| format!("{}: {p}", config.display()))
                .collect(),
        };
        assert!(!expected.is_empty(), "{}", config.display());
        let o = bake(&[
            "butane",
            "--unsigned",
            "--version",
            "0.1.0",
            "--base-url",
            BASE,
            "--config",
            config.to_str().unwrap(),
            "--image",
            image.to_str().unwrap(),
            "--out",
            &dir.s("out.bu"),
        ]);
        assert!(!o.status.success());
        let stderr = text(&o.stderr);
        for line in &expected {
            assert!(
                stderr.contains(line.as_str()),
                "missing {line:?} in {stderr}"
            );
        }
        assert!(
            stderr.contains(&format!("{}:", config.display())),
            "{stderr}"
        );
        assert!(!dir.join("out.bu").exists());
    }
    assert!(text(
        &bake(&[
            "butane",
            "--unsigned",
            "--version",
            "1",
            "--base-url",
            BASE,
            "--config",
            script.to_str().unwrap(),
            "--image",
            image.to_str().unwrap()
        ])
        .stderr
    )
    .contains("bad host!"));
    // A script that is not on this machine (the node gets it later, e.g. from Butane) is a
    // warning, as for `vipd check`: vipd runs without it until it appears.
    let late = write(
        &dir,
        "late.toml",
        "[[instance]]\nname = \"a\"\ninterface = \"eth0\"\nvrid = 1\ntrack_checks = [{ check = \"c\" }]\n\n[[check]]\nname = \"c\"\nkind = \"exec\"\ncommand = \"/nonexistent/check-me\"\n",
    );
    let o = bake(&[
        "butane",
        "--unsigned",
        "--version",
        "0.1.0",
        "--base-url",
        BASE,
        "--config",
        late.to_str().unwrap(),
        "--image",
        image.to_str().unwrap(),
        "--out",
        &dir.s("late.bu"),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("warning: check c: disabled until its script can run"),
        "{}",
        text(&o.stderr)
    );
    assert!(text(&o.stderr).contains("/nonexistent/check-me"));
    // The first config's error names its line.
    let o = bake(&[
        "butane",
        "--unsigned",
        "--version",
        "1",
        "--base-url",
        BASE,
        "--config",
        syntax.to_str().unwrap(),
        "--image",
        image.to_str().unwrap(),
    ]);
    assert!(
        text(&o.stderr).contains(&format!("{}:3:", syntax.display())),
        "{}",
        text(&o.stderr)
    );
    // vipd follows `include`, but the node gets one file: refused, with a way out.
    write(
        &dir,
        "part.conf",
        "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 7\n    priority 100\n}\n",
    );
    let include = write(&dir, "inc.conf", "include part.conf\n");
    assert!(vipd::config::load(&include).is_ok());
    let o = bake(&[
        "butane",
        "--unsigned",
        "--version",
        "1",
        "--base-url",
        BASE,
        "--config",
        include.to_str().unwrap(),
        "--image",
        image.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("uses `include`"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn hash_comes_from_sha256sums_at_the_base_url() {
    let dir = Scratch::new("http");
    let release = dir.join("release");
    std::fs::create_dir(&release).unwrap();
    let image = fake_image(&dir, "0.3", 6);
    let hash = sha256_hex(&image);
    std::fs::write(
        release.join("SHA256SUMS"),
        format!(
            "{}  vipd-0.2-x86-64.raw\n{hash}  vipd-0.3-x86-64.raw\n",
            "1".repeat(64)
        ),
    )
    .unwrap();
    let server = HttpServer::start(&release);
    let base = format!("http://127.0.0.1:{}/", server.port);
    let config = repo().join("butane/examples/control-plane-vip.toml");
    let run = |version: &str| {
        bake(&[
            "butane",
            "--unsigned",
            "--version",
            version,
            "--base-url",
            &base,
            "--insecure-http",
            "--config",
            config.to_str().unwrap(),
            "--ignition",
        ])
    };
    let o = run("0.3");
    assert!(o.status.success(), "{}", text(&o.stderr));
    let json = text(&o.stdout);
    let img = file_entry(&json, "/opt/extensions/vipd/vipd-0.3-x86-64.raw");
    assert_eq!(
        img["contents"]["verification"]["hash"],
        format!("sha256-{hash}")
    );
    assert_eq!(
        img["contents"]["source"],
        format!("{base}vipd-0.3-x86-64.raw")
    );
    // Same as hashing the image itself.
    let o = bake(&[
        "butane",
        "--unsigned",
        "--version",
        "0.3",
        "--base-url",
        &base,
        "--insecure-http",
        "--config",
        config.to_str().unwrap(),
        "--ignition",
        "--image",
        image.to_str().unwrap(),
    ]);
    assert_eq!(text(&o.stdout), json);

    let o = run("0.4");
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("lists no vipd-0.4-x86-64.raw"),
        "{}",
        text(&o.stderr)
    );
    drop(server);
}

#[test]
fn out_file_is_written_whole() {
    let dir = Scratch::new("out");
    let image = fake_image(&dir, "0.1.0", 7);
    let config = repo().join("butane/examples/ingress-vip.toml");
    let out = dir.s("node.ign");
    let o = bake(&[
        "butane",
        "--pubkey",
        test_pubkey().to_str().unwrap(),
        "--version",
        "0.1.0",
        "--base-url",
        BASE,
        "--config",
        config.to_str().unwrap(),
        "--image",
        image.to_str().unwrap(),
        "--ignition",
        "--spec",
        "1.0.0",
        "--out",
        &out,
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(o.stdout.is_empty());
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        render(&config, &image, "1.0.0", true)
    );
    // The Ignition may hold a VRRP password: owner-only, never world-readable.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "--out mode {mode:o}");
    let leftovers: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let o = bake(&[
        "butane",
        "--unsigned",
        "--version",
        "0.1.0",
        "--base-url",
        BASE,
        "--config",
        config.to_str().unwrap(),
        "--image",
        image.to_str().unwrap(),
        "--spec",
        "1.2.0",
    ]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("1.2.0"));
}

/// A minimal static x86-64 ELF header: enough for `bake release --vipd`.
fn fake_static_elf() -> Vec<u8> {
    let mut data = vec![0u8; 64];
    data[..4].copy_from_slice(b"\x7fELF");
    data[4] = 2;
    data[5] = 1;
    data[18..20].copy_from_slice(&62u16.to_le_bytes());
    data
}

#[test]
fn release_writes_an_example_butane_and_ignition() {
    let dir = Scratch::new("release");
    let out = dir.join("out");
    std::fs::create_dir(&out).unwrap();
    let binary = dir.join("vipd");
    std::fs::write(&binary, fake_static_elf()).unwrap();
    let base = "https://example.org/vipd/";
    let o = bake(&[
        "release",
        "--unsigned",
        "--version",
        "0.9",
        "--vipd",
        binary.to_str().unwrap(),
        "--base-url",
        base,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let image = out.join("vipd-0.9-x86-64.raw");
    let ign = std::fs::read_to_string(out.join("vipd.ign")).unwrap();
    assert!(
        ignition_validate(&out.join("vipd.ign")).status.success(),
        "{ign}"
    );
    let img = file_entry(&ign, "/opt/extensions/vipd/vipd-0.9-x86-64.raw");
    assert_eq!(
        img["contents"]["verification"]["hash"],
        format!("sha256-{}", sha256_hex(&image))
    );
    let bu = std::fs::read_to_string(out.join("vipd.bu")).unwrap();
    let parsed: butane::Config = serde_norway::from_str(&bu).unwrap();
    assert_eq!(parsed.version, "1.0.0");
    assert_eq!(ignition::translate(&parsed).unwrap(), ign);
    // The same as `bake butane` gives for that image and the example config.
    let config = repo().join("butane/examples/control-plane-vip.toml");
    let o = bake(&[
        "butane",
        "--unsigned",
        "--version",
        "0.9",
        "--base-url",
        base,
        "--config",
        config.to_str().unwrap(),
        "--image",
        image.to_str().unwrap(),
        "--spec",
        "1.0.0",
        "--ignition",
    ]);
    assert_eq!(text(&o.stdout), ign);
    let sums = std::fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    assert_eq!(sums.lines().count(), 1, "{sums}");
}

/// The templates show the signed flow; an unsigned rendering drops the keyrings and says
/// Verify=no. Both parse back to exactly the typed model `--ignition` translates.
#[test]
fn signed_rendering_installs_the_keyring_twice_and_unsigned_none() {
    let keyring = std::fs::read(test_pubkey()).unwrap();
    for spec in [Spec::V1_0_0, Spec::V1_1_0] {
        for key in [Some(keyring.clone()), None] {
            let inputs = inputs("vrrp_instance VI_1 {\n}\n", spec).with_keyring(key.clone());
            let yaml = firstboot::butane_yaml(&inputs).unwrap();
            let parsed: butane::Config =
                serde_norway::from_str(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
            assert_eq!(parsed, firstboot::model(&inputs).unwrap(), "{yaml}");
            let transfer = parsed
                .storage
                .files
                .iter()
                .find(|f| f.path == "/etc/sysupdate.vipd.d/vipd.conf")
                .and_then(|f| f.contents.inline.clone())
                .unwrap();
            let keyrings: Vec<&butane::File> = parsed
                .storage
                .files
                .iter()
                .filter(|f| f.path.starts_with("/etc/systemd/import-pubring."))
                .collect();
            if key.is_some() {
                assert!(transfer.contains("\nVerify=yes\n"), "{transfer}");
                let paths: Vec<&str> = keyrings.iter().map(|f| f.path.as_str()).collect();
                assert_eq!(
                    paths,
                    [
                        "/etc/systemd/import-pubring.gpg",
                        "/etc/systemd/import-pubring.pgp"
                    ]
                );
                for f in keyrings {
                    assert_eq!(f.mode, Some(0o644));
                    let url = f.contents.source.as_deref().unwrap();
                    let b64 = url.strip_prefix("data:;base64,").unwrap();
                    use base64::Engine as _;
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .unwrap();
                    assert_eq!(bytes, keyring, "the node gets the binary keyring as given");
                }
            } else {
                assert!(transfer.contains("\nVerify=no\n"), "{transfer}");
                assert!(keyrings.is_empty(), "{yaml}");
                assert!(
                    !yaml.contains("path: /etc/systemd/import-pubring"),
                    "{yaml}"
                );
            }
        }
    }
}

/// Without `--image`, the hash comes from the published release: when the base URL does not
/// answer (nothing published yet), the error says why (the cause, not only "error sending
/// request") and what to do instead.
#[test]
fn unreachable_release_says_why_and_suggests_image() {
    let dir = Scratch::new("unreachable");
    let config = repo().join("butane/examples/control-plane-vip.toml");
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let o = bake(&[
        "butane",
        "--unsigned",
        "--insecure-http",
        "--version",
        "0.1.0",
        "--base-url",
        "http://127.0.0.1:1/vipd/",
        "--config",
        config.to_str().unwrap(),
        "--out",
        &dir.s("out.bu"),
    ]);
    let stderr = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Connection refused"), "{stderr}");
    assert!(stderr.contains("--image FILE"), "{stderr}");
    assert!(!dir.join("out.bu").exists());
}

/// README.md's "First boot (Butane / Ignition)" block, run as written in a directory holding
/// `keys/` from `bake keygen` and `butane/examples/`, against a signed release served on
/// 127.0.0.1: only the base URL changes (plus `--insecure-http`, which an http:// URL needs).
/// The block ends with `ignition-validate node.ign`.
#[test]
fn readme_first_boot_block_runs_as_written() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = &readme[readme.find("**First boot (Butane / Ignition).**").unwrap()..];
    let start = section.find("```sh\n").unwrap() + "```sh\n".len();
    let block = &section[start..start + section[start..].find("```").unwrap()];
    assert!(block.contains("bake butane") && block.contains("ignition-validate node.ign"));
    let readme_url = "https://example.org/vipd/";
    assert!(block.contains(readme_url), "{block}");

    let dir = Scratch::new("readme-first-boot");
    std::os::unix::fs::symlink(repo().join("butane"), dir.join("butane")).unwrap();
    let o = bake(&["keygen", "--out", &dir.s("keys")]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let release = dir.join("release");
    let binary = dir.join("vipd");
    std::fs::write(&binary, fake_static_elf()).unwrap();
    let server = HttpServer::start(&dir.0);
    let base = server.url("release/");
    let o = bake(&[
        "release",
        "--version",
        "1.0.0",
        "--vipd",
        binary.to_str().unwrap(),
        "--base-url",
        &base,
        "--insecure-http",
        "--sign-key",
        &dir.s("keys/vipd-release.key"),
        "--out",
        release.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));

    let script = block
        .replace(readme_url, &base)
        .replace("bake butane ", "bake butane --insecure-http ");
    let bin_dir = Path::new(common::BAKE).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let o = Command::new("sh")
        .args(["-ec", &script])
        .current_dir(&dir.0)
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "README block:\n{script}\n{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let ign = std::fs::read_to_string(dir.join("node.ign")).unwrap();
    let img = file_entry(&ign, "/opt/extensions/vipd/vipd-1.0.0-x86-64.raw");
    assert_eq!(
        img["contents"]["verification"]["hash"],
        format!(
            "sha256-{}",
            sha256_hex(&release.join("vipd-1.0.0-x86-64.raw"))
        )
    );
    drop(server);
}

/// README.md's "Install on Flatcar" build block names make targets and files that exist:
/// `make -n` of each `make` line succeeds and does what its comment says.
#[test]
fn readme_install_block_make_lines_do_what_they_say() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = &readme[readme.find("## Install on Flatcar").unwrap()..];
    let start = section.find("```sh\n").unwrap() + "```sh\n".len();
    let block = &section[start..start + section[start..].find("```").unwrap()];
    let mut makes = 0;
    for line in block.lines() {
        let (cmd, comment) = line.split_once('#').unwrap_or((line, ""));
        let words: Vec<&str> = cmd.split_whitespace().collect();
        match words.first() {
            Some(&"make") => {
                let o = Command::new("make")
                    .arg("-n")
                    .args(&words[1..])
                    .current_dir(repo())
                    .env_remove("MAKEFLAGS")
                    .output()
                    .expect("make");
                let out = text(&o.stdout);
                assert!(o.status.success(), "{line}:\n{out}{}", text(&o.stderr));
                // A file the comment promises (build/vipd-1.0.0-x86-64.raw) is what it makes.
                for file in comment.split_whitespace().filter(|w| w.ends_with(".raw")) {
                    let (dir, name) = file.rsplit_once('/').unwrap();
                    assert!(out.contains(&format!("--out {dir}")), "{line}:\n{out}");
                    assert!(
                        out.contains(&format!("inspect {dir}/{name}")),
                        "{line}:\n{out}"
                    );
                }
                for arg in words[1..].iter().filter_map(|w| w.split_once('=')) {
                    match arg {
                        ("BASE_URL", url) => assert!(out.contains(&format!("--base-url {url}"))),
                        ("SIGN_KEY", key) => assert!(out.contains(&format!("--sign-key {key}"))),
                        _ => {}
                    }
                }
                makes += 1;
            }
            Some(bake_path) if bake_path.ends_with("bake") => {
                let o = bake(&[words[1], "--help"]);
                assert!(o.status.success(), "{line}");
                for opt in words.iter().filter(|w| w.starts_with("--")) {
                    assert!(text(&o.stdout).contains(opt), "{line}: no {opt}");
                }
            }
            _ => panic!("unexpected line in README's install block: {line}"),
        }
    }
    assert_eq!(makes, 3, "{block}");
}
