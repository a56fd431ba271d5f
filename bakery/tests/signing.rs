//! Signed releases through the `bake` binary: `bake keygen`, `bake release --sign-key`, the
//! signature checked by the real `gpg` exactly as systemd-sysupdate 257 runs it, `bake list`
//! and `bake butane` with `--pubkey` against a release served on 127.0.0.1, and bad keys,
//! bad signatures and plain-http URLs refused with nothing written.

mod common;

use common::{bake, names, repo, text, HttpServer, Scratch};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn fake_vipd(dir: &Scratch) -> String {
    let mut data = vec![0u8; 64];
    data[..4].copy_from_slice(b"\x7fELF");
    data[4] = 2;
    data[5] = 1;
    data[18..20].copy_from_slice(&62u16.to_le_bytes());
    let path = dir.join("vipd");
    std::fs::write(&path, data).unwrap();
    path.to_str().unwrap().to_string()
}

/// `bake keygen --out DIR --name NAME`: (secret key, public key).
fn keygen(dir: &Scratch, name: &str) -> (String, String) {
    let o = bake(&["keygen", "--out", dir.0.to_str().unwrap(), "--name", name]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    (dir.s(&format!("{name}.key")), dir.s(&format!("{name}.pgp")))
}

fn release(out: &Path, version: &str, vipd: &str, base: &str, trust: &[&str]) -> Output {
    let mut args = vec![
        "release",
        "--version",
        version,
        "--vipd",
        vipd,
        "--base-url",
        base,
        "--insecure-http",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(trust);
    bake(&args)
}

/// The real gpg, invoked as systemd-sysupdate 257's systemd-pull does (src/import/
/// pull-common.c, verify_gpg): a fresh temporary home, only the given keyring, the signature
/// file and the signed data on stdin. Ok when gpg exits 0, which is all systemd looks at.
fn gpg_verify_like_sysupdate(keyring: &Path, signature: &Path, data: &[u8]) -> Output {
    let home = tempdir("gpghome");
    let mut child = Command::new("gpg")
        .args([
            "--no-options",
            "--no-default-keyring",
            "--no-auto-key-locate",
            "--no-auto-check-trustdb",
            "--batch",
            "--trust-model=always",
        ])
        .arg(format!("--homedir={}", home.display()))
        .arg(format!("--keyring={}", keyring.display()))
        .arg("--verify")
        .arg(signature)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gpg (apt-get install gpg)");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let o = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&home);
    o
}

fn tempdir(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "bake-signing-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    dir
}

#[test]
fn keygen_writes_a_private_secret_key_gpg_imports_and_never_overwrites() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Scratch::new("keygen");
    let (secret, public) = keygen(&dir, "rel");
    let mode = |p: &str| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&secret), 0o600);
    assert_eq!(mode(&public), 0o644);
    assert_eq!(names(&dir.0), ["rel.key", "rel.pgp"]);

    // gpg reads both files: the secret key imports, the public key lists as a keyring.
    let home = tempdir("import");
    let o = Command::new("gpg")
        .arg(format!("--homedir={}", home.display()))
        .args(["--batch", "--import", &secret])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("secret key imported"),
        "{}",
        text(&o.stderr)
    );
    let o = Command::new("gpg")
        .arg(format!("--homedir={}", home.display()))
        .args(["--batch", "--no-default-keyring"])
        .arg(format!("--keyring={public}"))
        .args(["--with-colons", "--list-keys"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("vipd release signing key"),
        "{}",
        text(&o.stdout)
    );
    let _ = std::fs::remove_dir_all(&home);

    // A second keygen under the same name touches nothing.
    let before = std::fs::read(&secret).unwrap();
    let o = bake(&["keygen", "--out", dir.0.to_str().unwrap(), "--name", "rel"]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("not overwriting"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(std::fs::read(&secret).unwrap(), before);
    assert_eq!(names(&dir.0), ["rel.key", "rel.pgp"]);
}

/// The signature bake writes is the one systemd-sysupdate accepts, and only for this key and
/// these bytes.
#[test]
fn signed_release_verifies_with_gpg_as_systemd_sysupdate_runs_it() {
    let dir = Scratch::new("gpg");
    let vipd = fake_vipd(&dir);
    let (secret, public) = keygen(&dir, "rel");
    let (_, other_public) = keygen(&dir, "other");
    let out = dir.join("release");
    std::fs::create_dir(&out).unwrap();
    for version in ["1.0", "1.1"] {
        let o = release(
            &out,
            version,
            &vipd,
            "http://127.0.0.1:1/",
            &["--sign-key", &secret],
        );
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    let sums = std::fs::read(out.join("SHA256SUMS")).unwrap();
    assert_eq!(text(&sums).lines().count(), 2);
    let sig = out.join("SHA256SUMS.gpg");
    let o = gpg_verify_like_sysupdate(Path::new(&public), &sig, &sums);
    assert!(
        o.status.success(),
        "gpg refused bake's signature: {}",
        text(&o.stderr)
    );
    assert!(
        text(&o.stderr).contains("Good signature"),
        "{}",
        text(&o.stderr)
    );

    let mut changed = sums.clone();
    changed[0] = if changed[0] == b'0' { b'1' } else { b'0' };
    let o = gpg_verify_like_sysupdate(Path::new(&public), &sig, &changed);
    assert!(!o.status.success(), "gpg accepted a changed SHA256SUMS");
    let o = gpg_verify_like_sysupdate(Path::new(&other_public), &sig, &sums);
    assert!(!o.status.success(), "gpg accepted another key's signature");

    // The transfers (standalone and in the image) ask sysupdate to check the signature.
    let conf = std::fs::read_to_string(out.join("vipd.conf")).unwrap();
    assert!(conf.contains("\nVerify=yes\n"), "{conf}");
    let o = Command::new("unsquashfs")
        .arg("-cat")
        .arg(out.join("vipd-1.1-x86-64.raw"))
        .arg("usr/lib/sysupdate.vipd.d/vipd.conf")
        .output()
        .unwrap();
    assert_eq!(text(&o.stdout), conf);
    // The example first-boot config carries the public key, as the nodes' keyring.
    let ign = std::fs::read_to_string(out.join("vipd.ign")).unwrap();
    assert!(ign.contains("/etc/systemd/import-pubring.gpg"), "{ign}");
    assert!(ign.contains("/etc/systemd/import-pubring.pgp"), "{ign}");
}

/// Nothing is built or written when the key is wrong; an unsigned release never lands next to
/// a signature it would contradict.
#[test]
fn bad_keys_and_unsigned_into_signed_are_refused_with_nothing_written() {
    let dir = Scratch::new("badkey");
    let vipd = fake_vipd(&dir);
    let (secret, public) = keygen(&dir, "rel");
    std::fs::write(dir.join("junk.key"), "not a key\n").unwrap();
    std::fs::write(dir.join("empty.key"), "").unwrap();
    let out = dir.join("release");
    std::fs::create_dir(&out).unwrap();
    let missing = dir.s("missing.key");
    let junk = dir.s("junk.key");
    let empty = dir.s("empty.key");
    let a_dir = dir.s("release");
    let cases: [(&str, &str); 5] = [
        (&missing, "missing.key"),
        (&public, "no secret part"),
        (&junk, "not an OpenPGP key"),
        (&empty, "empty"),
        (&a_dir, "not a regular file"),
    ];
    for (key, want) in cases {
        let o = release(
            &out,
            "1.0",
            &vipd,
            "http://127.0.0.1:1/",
            &["--sign-key", key],
        );
        assert!(!o.status.success(), "{key} accepted");
        let err = text(&o.stderr);
        assert!(err.contains(want), "{key}: {want:?} not in {err}");
        assert!(names(&out).is_empty(), "{key}: left {:?}", names(&out));
    }
    // No trust choice at all is a usage error.
    let o = release(&out, "1.0", &vipd, "http://127.0.0.1:1/", &[]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("--unsigned"),
        "{}",
        text(&o.stderr)
    );

    let o = release(
        &out,
        "1.0",
        &vipd,
        "http://127.0.0.1:1/",
        &["--sign-key", &secret],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let signed = (
        std::fs::read(out.join("SHA256SUMS")).unwrap(),
        std::fs::read(out.join("SHA256SUMS.gpg")).unwrap(),
    );
    let listing = names(&out);
    let o = release(&out, "1.1", &vipd, "http://127.0.0.1:1/", &["--unsigned"]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("is signed"), "{}", text(&o.stderr));
    // Another key may not re-sign lines it did not sign (rotation is explicit).
    let (other, _) = keygen(&dir, "other");
    let o = release(
        &out,
        "1.1",
        &vipd,
        "http://127.0.0.1:1/",
        &["--sign-key", &other],
    );
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("not signed by this key"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(names(&out), listing);
    assert_eq!(std::fs::read(out.join("SHA256SUMS")).unwrap(), signed.0);
    assert_eq!(std::fs::read(out.join("SHA256SUMS.gpg")).unwrap(), signed.1);
}

#[test]
fn plain_http_needs_insecure_http_everywhere() {
    let dir = Scratch::new("http");
    let vipd = fake_vipd(&dir);
    let config = repo().join("butane/examples/control-plane-vip.toml");
    let image = dir.join("vipd");
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "release",
            "--version",
            "1",
            "--vipd",
            &vipd,
            "--unsigned",
            "--out",
        ],
        vec![
            "build",
            "--version",
            "1",
            "--vipd",
            &vipd,
            "--unsigned",
            "--out",
        ],
        vec![
            "butane",
            "--version",
            "1",
            "--unsigned",
            "--config",
            config.to_str().unwrap(),
            "--image",
            image.to_str().unwrap(),
            "--out",
        ],
    ];
    let out = dir.join("out");
    std::fs::create_dir(&out).unwrap();
    for mut args in cases {
        let target = if args[0] == "butane" {
            dir.s("out/node.bu")
        } else {
            dir.s("out")
        };
        args.push(&target);
        args.extend(["--base-url", "http://example.org/r/"]);
        let o = bake(&args);
        assert!(!o.status.success(), "{args:?} accepted http");
        assert!(
            text(&o.stderr).contains("--insecure-http"),
            "{args:?}: {}",
            text(&o.stderr)
        );
        assert!(names(&out).is_empty(), "{args:?} left {:?}", names(&out));
    }
    let o = bake(&["list", "--base-url", "http://127.0.0.1:1/"]);
    assert!(
        text(&o.stderr).contains("--insecure-http"),
        "{}",
        text(&o.stderr)
    );
    // https:// is the default and needs no flag (the build itself succeeds here).
    let o = bake(&[
        "butane",
        "--version",
        "1",
        "--unsigned",
        "--config",
        config.to_str().unwrap(),
        "--image",
        image.to_str().unwrap(),
        "--base-url",
        "https://example.org/r/",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    // And the flag lets http through.
    let o = bake(&[
        "butane",
        "--version",
        "1",
        "--unsigned",
        "--insecure-http",
        "--config",
        config.to_str().unwrap(),
        "--image",
        image.to_str().unwrap(),
        "--base-url",
        "http://example.org/r/",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
}

/// `bake list` and `bake butane` believe a served SHA256SUMS only when its signature verifies
/// with `--pubkey`: not unsigned, not changed after signing, not signed by another key.
#[test]
fn list_and_butane_check_the_served_signature() {
    let dir = Scratch::new("served");
    let vipd = fake_vipd(&dir);
    let (secret, public) = keygen(&dir, "rel");
    let (other_secret, other_public) = keygen(&dir, "other");
    let rel = dir.join("rel");
    std::fs::create_dir(&rel).unwrap();
    let server = HttpServer::start(&rel);
    let base = format!("http://127.0.0.1:{}/", server.port);
    let o = release(&rel, "1.0", &vipd, &base, &["--sign-key", &secret]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let config = repo().join("butane/examples/control-plane-vip.toml");
    let list = |key: &str| {
        bake(&[
            "list",
            "--insecure-http",
            "--base-url",
            &base,
            "--pubkey",
            key,
        ])
    };
    let butane = |key: &str| {
        bake(&[
            "butane",
            "--version",
            "1.0",
            "--insecure-http",
            "--base-url",
            &base,
            "--config",
            config.to_str().unwrap(),
            "--pubkey",
            key,
            "--ignition",
            "--out",
            &dir.s("node.ign"),
        ])
    };
    let o = list(&public);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "VERSION  ARCHITECTURES\n1.0      x86-64\n");
    let o = butane(&public);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let ign = std::fs::read_to_string(dir.join("node.ign")).unwrap();
    let image_hash = text(&std::fs::read(rel.join("SHA256SUMS")).unwrap())[..64].to_string();
    assert!(ign.contains(&format!("sha256-{image_hash}")), "{ign}");
    std::fs::remove_file(dir.join("node.ign")).unwrap();

    let sums = std::fs::read(rel.join("SHA256SUMS")).unwrap();
    let sig = std::fs::read(rel.join("SHA256SUMS.gpg")).unwrap();
    // (what, how the served release is tampered with, --pubkey, expected error)
    type Check<'a> = (&'a str, Box<dyn Fn() + 'a>, &'a str, &'a str);
    let mut checks: Vec<Check> = vec![
        (
            "signed by another key",
            Box::new(|| {}),
            &other_public,
            "BAD signature",
        ),
        (
            "changed after signing",
            Box::new(|| {
                let mut s = sums.clone();
                s.extend_from_slice(
                    format!("{}  vipd-9.9-x86-64.raw\n", "0".repeat(64)).as_bytes(),
                );
                std::fs::write(rel.join("SHA256SUMS"), s).unwrap();
            }),
            &public,
            "BAD signature",
        ),
        (
            "unsigned",
            Box::new(|| std::fs::remove_file(rel.join("SHA256SUMS.gpg")).unwrap()),
            &public,
            "not signed",
        ),
    ];
    // A secret key is never taken as --pubkey (it would be copied into the node's config).
    checks.push((
        "secret key as --pubkey",
        Box::new(|| {}),
        &secret,
        "holds a secret key",
    ));
    for (what, tamper, key, want) in checks {
        std::fs::write(rel.join("SHA256SUMS"), &sums).unwrap();
        std::fs::write(rel.join("SHA256SUMS.gpg"), &sig).unwrap();
        tamper();
        for o in [list(key), butane(key)] {
            assert!(!o.status.success(), "{what}: accepted");
            assert!(
                text(&o.stderr).contains(want),
                "{what}: {}",
                text(&o.stderr)
            );
            assert!(o.stdout.is_empty(), "{what}: printed {}", text(&o.stdout));
        }
        assert!(!dir.join("node.ign").exists(), "{what}: node.ign written");
    }
    // The other key's own signature is fine for that key, and only for it.
    std::fs::write(rel.join("SHA256SUMS"), &sums).unwrap();
    std::fs::write(rel.join("SHA256SUMS.gpg"), &sig).unwrap();
    assert!(!list(&other_public).status.success());
    let _ = other_secret;
    drop(server);
}
