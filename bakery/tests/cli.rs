//! End-to-end tests of the `bake` binary against real tools: unsquashfs, systemd-dissect,
//! systemd-sysext, systemd-analyze, sha256sum, python3's http.server and qemu-user.

mod common;

use bake::image::{write_squashfs, Compression, Tree};
use common::{bake, repo, text, HttpServer, Scratch, BAKE};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The static vipd for both arches from this workspace, built once per test run by one cargo
/// invocation, as `make static` does: the x86-64 binary's path. One job graph keeps both cores
/// busy through each target's single-threaded final LTO step, where two invocations ran one
/// after the other behind cargo's lock. `arm64_image_from_cargo_build_runs_under_qemu` waits
/// for it, then its `bake build` runs cargo for aarch64 itself (up to date by then).
fn vipd_x86() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let targets = ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"];
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or("cargo".into()));
        cmd.current_dir(repo())
            .args(["build", "--release", "-p", "vipd"]);
        for target in targets {
            cmd.args(["--target", target]);
        }
        let status = cmd.status().unwrap();
        assert!(status.success(), "cargo build for {targets:?} failed");
        let dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join("target"));
        dir.join(targets[0]).join("release/vipd")
    })
}

fn build(out: &Path, version: &str) -> PathBuf {
    let o = bake(&[
        "build",
        "--unsigned",
        "--version",
        version,
        "--vipd",
        vipd_x86().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--base-url",
        "http://127.0.0.1:8080/vipd/",
        "--insecure-http",
    ]);
    assert!(o.status.success(), "bake build: {}", text(&o.stderr));
    let path = out.join(format!("vipd-{version}-x86-64.raw"));
    assert_eq!(text(&o.stdout).trim(), path.display().to_string());
    path
}

#[test]
fn image_is_read_by_unsquashfs_and_systemd_dissect() {
    let dir = Scratch::new("read");
    let image = build(dir.path(), "1.0");
    let size = std::fs::metadata(&image).unwrap().len();
    assert!(size <= 3 * 1024 * 1024, "image is {size} bytes");

    let o = Command::new("unsquashfs")
        .arg("-lln")
        .arg(&image)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let listing = text(&o.stdout);
    let mut files = Vec::new();
    for line in listing.lines().filter(|l| l.contains("squashfs-root")) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[1], "0/0", "not root-owned: {line}");
        assert_eq!(
            cols[3], "1970-01-01",
            "mtime not SOURCE_DATE_EPOCH=0: {line}"
        );
        let path = cols[5].trim_start_matches("squashfs-root");
        files.push((cols[0].to_string(), path.to_string()));
    }
    let expect = [
        ("drwxr-xr-x", ""),
        ("-rwxr-xr-x", "/usr/bin/vipd"),
        (
            "-rw-r--r--",
            "/usr/lib/extension-release.d/extension-release.vipd",
        ),
        ("-rw-r--r--", "/usr/lib/systemd/system/vipd.service"),
        (
            "-rw-r--r--",
            "/usr/lib/systemd/system/multi-user.target.d/10-vipd.conf",
        ),
        ("-rw-r--r--", "/usr/lib/sysupdate.vipd.d/vipd.conf"),
    ];
    for (mode, path) in expect {
        assert!(
            files.iter().any(|(m, p)| m == mode && p == path),
            "{mode} {path} missing in\n{listing}"
        );
    }
    for (_, p) in &files {
        assert!(p.is_empty() || p == "/usr" || p.starts_with("/usr/"), "{p}");
        assert!(!p.starts_with("/usr/sbin"), "{p}");
    }

    // systemd names the sysext after the file: dissect it under the name a host uses.
    let named = dir.path().join("vipd.raw");
    std::fs::copy(&image, &named).unwrap();
    let o = Command::new("systemd-dissect")
        .arg(&named)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    for want in [
        "ID=flatcar",
        "SYSEXT_LEVEL=1.0",
        "ARCHITECTURE=x86-64",
        "EXTENSION_RELOAD_MANAGER=1",
    ] {
        assert!(out.contains(want), "{want} not in\n{out}");
    }
    assert!(out.contains("✓ extension for system"), "{out}");

    let o = bake(&["inspect", image.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    let report = text(&o.stdout);
    assert!(report.contains("/usr/bin/vipd: static"), "{report}");
    assert!(report.contains("rules: ok"), "{report}");

    // The transfer inside the image points at the base URL.
    let o = Command::new("unsquashfs")
        .args(["-cat"])
        .arg(&image)
        .arg("usr/lib/sysupdate.vipd.d/vipd.conf")
        .output()
        .unwrap();
    let transfer = text(&o.stdout);
    assert!(
        transfer.contains("Path=http://127.0.0.1:8080/vipd/\n"),
        "{transfer}"
    );
    assert!(
        transfer.contains("MatchPattern=vipd-@v-%a.raw\n"),
        "{transfer}"
    );
    assert!(
        transfer.contains("CurrentSymlink=/etc/extensions/vipd.raw\n"),
        "{transfer}"
    );
    assert!(transfer.contains("InstancesMax=3\n"), "{transfer}");
}

#[test]
fn os_id_any_and_other_compressors() {
    let dir = Scratch::new("anyid");
    for comp in ["zstd", "xz"] {
        let o = bake(&[
            "build",
            "--unsigned",
            "--version",
            comp,
            "--os-id",
            "_any",
            "--compression",
            comp,
            "--vipd",
            vipd_x86().to_str().unwrap(),
            "--out",
            dir.path().to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        let image = dir.path().join(format!("vipd-{comp}-x86-64.raw"));
        let o = Command::new("unsquashfs")
            .arg("-cat")
            .arg(&image)
            .arg("usr/lib/extension-release.d/extension-release.vipd")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
        assert_eq!(
            text(&o.stdout),
            "ID=_any\nARCHITECTURE=x86-64\nEXTENSION_RELOAD_MANAGER=1\n"
        );
        let o = Command::new("unsquashfs")
            .arg("-s")
            .arg(&image)
            .output()
            .unwrap();
        assert!(
            text(&o.stdout).contains(&format!("Compression {comp}\n")),
            "{}",
            text(&o.stdout)
        );
    }
}

#[test]
fn two_builds_are_byte_identical() {
    let a = Scratch::new("repro-a");
    let b = Scratch::new("repro-b");
    let first = std::fs::read(build(a.path(), "1.0")).unwrap();
    let second = std::fs::read(build(b.path(), "1.0")).unwrap();
    assert!(first == second, "two builds differ");
    // And the inputs matter: another epoch gives another image.
    let c = Scratch::new("repro-c");
    let o = Command::new(BAKE)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args([
            "build",
            "--unsigned",
            "--version",
            "1.0",
            "--vipd",
            vipd_x86().to_str().unwrap(),
            "--base-url",
            "http://127.0.0.1:8080/vipd/",
            "--insecure-http",
            "--out",
        ])
        .arg(c.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let third = std::fs::read(c.path().join("vipd-1.0-x86-64.raw")).unwrap();
    assert!(first != third, "SOURCE_DATE_EPOCH had no effect");
}

/// Runs a shell script in a private mount namespace (mounts vanish with it).
fn in_mount_namespace(script: &str, root: &Path) -> Output {
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-euc", script, "sh"])
        .arg(root)
        .output()
        .unwrap()
}

#[test]
fn systemd_sysext_merges_the_image_and_vipd_runs() {
    let dir = Scratch::new("merge");
    let image = build(dir.path(), "1.0");
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("usr/lib")).unwrap();
    std::fs::create_dir_all(root.join("etc/extensions")).unwrap();
    std::fs::write(
        root.join("usr/lib/os-release"),
        "ID=flatcar\nSYSEXT_LEVEL=1.0\n",
    )
    .unwrap();
    std::fs::copy(&image, root.join("etc/extensions/vipd.raw")).unwrap();
    let o = in_mount_namespace(
        r#"ROOT="$1"
        mount -t tmpfs tmpfs /run
        mount --bind "$ROOT" "$ROOT" && mount --make-rshared "$ROOT"
        systemd-sysext merge --root="$ROOT" >&2
        test -f "$ROOT/usr/lib/systemd/system/vipd.service"
        "$ROOT/usr/bin/vipd" --version"#,
        &root,
    );
    assert!(
        o.status.success(),
        "merge failed: {}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let direct = Command::new(vipd_x86()).arg("--version").output().unwrap();
    assert_eq!(text(&o.stdout), text(&direct.stdout));
    assert!(text(&o.stdout).starts_with("vipd "), "{}", text(&o.stdout));
}

/// Writes an image from `files` (path, mode, contents) without bake's checks.
fn craft(dir: &Path, file_name: &str, files: &[(&str, u16, Vec<u8>)]) -> PathBuf {
    let mut tree = Tree::default();
    for (path, mode, data) in files {
        tree.add_file(path, *mode, data.clone()).unwrap();
    }
    let path = dir.join(file_name);
    let file = std::fs::File::create(&path).unwrap();
    write_squashfs(&tree, Compression::Gzip, 0, std::io::BufWriter::new(file)).unwrap();
    path
}

/// A minimal static ELF header for another machine (aarch64 = 183).
fn fake_static_elf(machine: u16) -> Vec<u8> {
    let mut data = vec![0u8; 64];
    data[..4].copy_from_slice(b"\x7fELF");
    data[4] = 2;
    data[5] = 1;
    data[18..20].copy_from_slice(&machine.to_le_bytes());
    data
}

type ImageFiles = Vec<(String, u16, Vec<u8>)>;
type Change = dyn Fn(&mut ImageFiles);

fn good_files(name: &str) -> Vec<(String, u16, Vec<u8>)> {
    vec![
        (
            format!("/usr/bin/{name}"),
            0o755,
            std::fs::read(vipd_x86()).unwrap(),
        ),
        (
            format!("/usr/lib/systemd/system/{name}.service"),
            0o644,
            b"[Service]\n".to_vec(),
        ),
        (
            format!("/usr/lib/systemd/system/multi-user.target.d/10-{name}.conf"),
            0o644,
            format!("[Unit]\nUpholds={name}.service\n").into_bytes(),
        ),
        (
            format!("/usr/lib/sysupdate.{name}.d/{name}.conf"),
            0o644,
            b"[Transfer]\n".to_vec(),
        ),
        (
            format!("/usr/lib/extension-release.d/extension-release.{name}"),
            0o644,
            b"ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=x86-64\n".to_vec(),
        ),
    ]
}

fn inspect_case(
    dir: &Path,
    file_name: &str,
    change: impl Fn(&mut Vec<(String, u16, Vec<u8>)>),
) -> (bool, String) {
    let mut files = good_files("vipd");
    change(&mut files);
    let refs: Vec<(&str, u16, Vec<u8>)> = files
        .iter()
        .map(|(p, m, d)| (p.as_str(), *m, d.clone()))
        .collect();
    let image = craft(dir, file_name, &refs);
    let o = bake(&["inspect", image.to_str().unwrap()]);
    (
        o.status.success(),
        format!("{}{}", text(&o.stdout), text(&o.stderr)),
    )
}

#[test]
fn inspect_rejects_broken_images() {
    let dir = Scratch::new("inspect");
    let (ok, out) = inspect_case(dir.path(), "vipd-1-x86-64.raw", |_| {});
    assert!(ok, "the unbroken control image must pass: {out}");

    let cases: Vec<(&str, &str, Box<Change>)> = vec![
        (
            "vipd-1-x86-64.raw",
            "dynamically linked",
            Box::new(|f| f[0].2 = std::fs::read("/bin/true").unwrap()),
        ),
        (
            "vipd-1-x86-64.raw",
            "built for arm64",
            Box::new(|f| f[0].2 = fake_static_elf(183)),
        ),
        (
            "vipd-1-x86-64.raw",
            "outside /usr and /opt",
            Box::new(|f| f.push(("/etc/vipd/vipd.toml".into(), 0o600, vec![]))),
        ),
        (
            "vipd-1-x86-64.raw",
            "/usr/sbin",
            Box::new(|f| f[0].0 = "/usr/sbin/vipd".into()),
        ),
        ("other-1-x86-64.raw", "name mismatch", Box::new(|_| {})),
        ("vipd-1-arm64.raw", "file name says arm64", Box::new(|_| {})),
        (
            "vipd-1-x86-64.raw",
            "missing /usr/lib/systemd/system/vipd.service",
            Box::new(|f| {
                f.remove(1);
            }),
        ),
        (
            "vipd-1-x86-64.raw",
            "lacks Upholds=vipd.service",
            Box::new(|f| f[2].2 = b"[Unit]\n".to_vec()),
        ),
        (
            "vipd-1-x86-64.raw",
            "missing /usr/lib/sysupdate.vipd.d/vipd.conf",
            Box::new(|f| {
                f.remove(3);
            }),
        ),
    ];
    for (file_name, want, change) in cases {
        let (ok, out) = inspect_case(dir.path(), file_name, change);
        assert!(!ok, "{want}: inspect accepted a broken image:\n{out}");
        assert!(out.contains(want), "{want} not reported:\n{out}");
    }
}

#[test]
fn inspect_rejects_non_root_owner() {
    use backhand::{FilesystemWriter, NodeHeader};
    let dir = Scratch::new("owner");
    let mut fs = FilesystemWriter::default();
    fs.set_root_mode(0o755);
    fs.set_compressor(
        backhand::FilesystemCompressor::new(backhand::compression::Compressor::Gzip, None).unwrap(),
    );
    let mut files = good_files("vipd");
    files.sort();
    for (path, mode, data) in &files {
        let rel = path.trim_start_matches('/');
        let parent = Path::new(rel).parent().unwrap();
        let mut acc = PathBuf::new();
        for c in parent.components() {
            acc.push(c);
            let _ = fs.push_dir(&acc, NodeHeader::new(0o755, 0, 0, 0));
        }
        let uid = if path.ends_with(".service") { 1000 } else { 0 };
        fs.push_file(
            std::io::Cursor::new(data.clone()),
            rel,
            NodeHeader::new(*mode, uid, uid, 0),
        )
        .unwrap();
    }
    let image = dir.path().join("vipd-1-x86-64.raw");
    fs.write(std::fs::File::create(&image).unwrap()).unwrap();
    let o = bake(&["inspect", image.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        text(&o.stdout).contains("owned by 1000:1000, not root"),
        "{}",
        text(&o.stdout)
    );
}

fn unit_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes/vipd.service")
}

#[test]
fn unit_passes_systemd_analyze_verify() {
    let dir = Scratch::new("verify");
    // verify checks that ExecStart= exists: point it at the real binary.
    let unit = std::fs::read_to_string(unit_path())
        .unwrap()
        .replace("/usr/bin/vipd", vipd_x86().to_str().unwrap());
    let path = dir.path().join("vipd.service");
    std::fs::write(&path, unit).unwrap();
    let o = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let out = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert!(o.status.success() && out.trim().is_empty(), "verify: {out}");
}

fn exposure(unit: &Path) -> f64 {
    let o = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(unit)
        .output()
        .unwrap();
    let out = text(&o.stdout);
    let line = out
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure line in\n{out}{}", text(&o.stderr)));
    let after = line.rsplit_once(": ").unwrap().1;
    after.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn unit_exposure_is_at_most_2_3() {
    // 2.0 plus ProtectProc=default, which process checks need, and capset, with which vipd
    // empties its scripts' capability sets (see the unit's comment; e2e_boot runs them).
    let score = exposure(&unit_path());
    assert!(score <= 2.3, "exposure {score} > 2.3");
    // The measurement is real: keepalived-like defaults score far worse.
    let dir = Scratch::new("exposure");
    let plain = dir.path().join("vipd.service");
    std::fs::write(
        &plain,
        "[Service]\nType=notify\nExecStart=/usr/bin/vipd run\n",
    )
    .unwrap();
    assert!(exposure(&plain) > 9.0);
}

#[test]
fn bad_input_fails_cleanly_and_leaves_nothing() {
    let dir = Scratch::new("bad");
    let out = dir.path().to_str().unwrap().to_string();
    let vipd = vipd_x86().to_str().unwrap().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "--vipd",
                "/nonexistent/vipd",
                "--version",
                "1",
                "--out",
                &out,
            ],
            "cannot read binary /nonexistent/vipd",
        ),
        (
            vec!["--vipd", "/bin/true", "--version", "1", "--out", &out],
            "dynamically linked",
        ),
        (
            vec!["--vipd", &vipd, "--version", "1.0-rc1", "--out", &out],
            "must not contain '-'",
        ),
        (
            vec!["--vipd", &vipd, "--version", "a/b", "--out", &out],
            "must not contain",
        ),
        (
            vec!["--vipd", &vipd, "--version", "", "--out", &out],
            "must not be empty",
        ),
        (
            vec!["--vipd", &vipd, "--version", "1 2", "--out", &out],
            "must not contain",
        ),
        (
            vec![
                "--vipd",
                &vipd,
                "--version",
                "1",
                "--out",
                "/nonexistent-bake-out",
            ],
            "does not exist",
        ),
        // Root ignores file modes; /proc refuses new files even to root.
        (
            vec!["--vipd", &vipd, "--version", "1", "--out", "/proc"],
            "cannot write to /proc",
        ),
        (
            vec![
                "--vipd",
                &vipd,
                "--version",
                "1",
                "--out",
                &out,
                "--arch",
                "arm64",
            ],
            "built for x86-64, not arm64",
        ),
        (
            vec![
                "--vipd",
                &vipd,
                "--version",
                "1",
                "--out",
                &out,
                "--os-id",
                "Flat car",
            ],
            "os id",
        ),
    ];
    for (args, want) in cases {
        let mut full = vec!["build", "--unsigned"];
        full.extend(&args);
        let o = bake(&full);
        let err = text(&o.stderr);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(err.contains(want), "{args:?}: {want:?} not in {err:?}");
        assert!(dir.names().is_empty(), "{args:?} left {:?}", dir.names());
    }
}

/// `bake build` (and so `make sysext`) without `--base-url` says where the image's update
/// transfer points: the recipe's placeholder, where nodes would find no updates.
#[test]
fn build_without_base_url_names_the_default_it_used() {
    let dir = Scratch::new("no-base-url");
    let o = bake(&[
        "build",
        "--unsigned",
        "--version",
        "1.0",
        "--vipd",
        vipd_x86().to_str().unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    let stderr = text(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("https://example.org/vipd/releases/") && stderr.contains("--base-url URL"),
        "{stderr}"
    );
    // With a base URL: no note.
    let o = bake(&[
        "build",
        "--unsigned",
        "--version",
        "1.1",
        "--vipd",
        vipd_x86().to_str().unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
        "--base-url",
        "https://example.org/mirror/",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(!text(&o.stderr).contains("note"), "{}", text(&o.stderr));
}

/// README's first `bake release --out release` names a directory that does not exist yet.
#[test]
fn release_creates_its_output_directory() {
    let dir = Scratch::new("release-new");
    let out = dir.path().join("new/release");
    let o = bake(&[
        "release",
        "--unsigned",
        "--version",
        "1.0",
        "--vipd",
        vipd_x86().to_str().unwrap(),
        "--base-url",
        "https://example.org/vipd/",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    for name in ["vipd-1.0-x86-64.raw", "SHA256SUMS", "vipd.conf"] {
        assert!(out.join(name).is_file(), "{name} missing");
    }
}

#[test]
fn release_maintains_sha256sums_and_refuses_corruption() {
    let dir = Scratch::new("release");
    let out = dir.path().to_str().unwrap();
    let vipd = vipd_x86().to_str().unwrap();
    let release = |version: &str| {
        bake(&[
            "release",
            "--unsigned",
            "--version",
            version,
            "--arch",
            "x86-64",
            "--vipd",
            vipd,
            "--base-url",
            "http://127.0.0.1:1/vipd/",
            "--insecure-http",
            "--out",
            out,
        ])
    };
    for v in ["1.0", "1.1"] {
        let o = release(v);
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    let sums = std::fs::read_to_string(dir.path().join("SHA256SUMS")).unwrap();
    let lines: Vec<&str> = sums.lines().collect();
    assert_eq!(lines.len(), 2, "{sums}");
    assert!(sums.ends_with('\n'));
    for (line, name) in lines
        .iter()
        .zip(["vipd-1.0-x86-64.raw", "vipd-1.1-x86-64.raw"])
    {
        let (hash, file) = line.split_at(64);
        assert!(
            hash.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{line}"
        );
        assert_eq!(file, format!("  {name}"));
    }
    // An independent check of the digests and the format.
    let o = Command::new("sha256sum")
        .args(["--strict", "-c", "SHA256SUMS"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    let conf = std::fs::read_to_string(dir.path().join("vipd.conf")).unwrap();
    assert!(conf.contains("Path=http://127.0.0.1:1/vipd/\n"), "{conf}");
    assert!(conf.contains("Type=url-file\n"), "{conf}");

    // Rebuilding a version replaces its line; the other stays.
    let before = dir.names();
    std::fs::write(
        dir.path().join("SHA256SUMS"),
        format!("{sums}not a checksum line\n"),
    )
    .unwrap();
    let o = release("1.2");
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("SHA256SUMS:3:"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(dir.names(), before, "a refused release left files behind");
    assert!(std::fs::read_to_string(dir.path().join("SHA256SUMS"))
        .unwrap()
        .contains("not a checksum"));

    let o = bake(&[
        "release",
        "--unsigned",
        "--version",
        "2",
        "--arch",
        "x86-64,arm64",
        "--vipd",
        vipd,
        "--base-url",
        "http://127.0.0.1:1/",
        "--insecure-http",
        "--out",
        out,
    ]);
    assert!(!o.status.success());
}

#[test]
fn list_reads_sha256sums_over_http() {
    let dir = Scratch::new("list");
    let rel = dir.path().join("rel");
    let bad = dir.path().join("bad");
    std::fs::create_dir_all(&rel).unwrap();
    std::fs::create_dir_all(&bad).unwrap();
    let h = "ab".repeat(32);
    std::fs::write(
        rel.join("SHA256SUMS"),
        format!("{h}  vipd-1.10-x86-64.raw\n{h}  vipd-1.9-arm64.raw\n{h}  vipd-1.9-x86-64.raw\n"),
    )
    .unwrap();
    std::fs::write(
        bad.join("SHA256SUMS"),
        format!("{h}  vipd-1-x86-64.raw\n{h}\n"),
    )
    .unwrap();
    let server = HttpServer::start(dir.path());

    let o = bake(&["list", "--insecure-http", "--base-url", &server.url("rel/")]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        "VERSION  ARCHITECTURES\n1.9      x86-64 arm64\n1.10     x86-64\n"
    );

    let o = bake(&[
        "list",
        "--insecure-http",
        "--base-url",
        &server.url("missing"),
    ]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("HTTP 404"), "{}", text(&o.stderr));

    let o = bake(&["list", "--insecure-http", "--base-url", &server.url("bad")]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("SHA256SUMS:2:"),
        "{}",
        text(&o.stderr)
    );

    drop(server);
    let o = bake(&[
        "list",
        "--insecure-http",
        "--base-url",
        "http://127.0.0.1:1/",
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("GET http://127.0.0.1:1/SHA256SUMS"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn arm64_image_from_cargo_build_runs_under_qemu() {
    vipd_x86();
    let dir = Scratch::new("arm64");
    // No --vipd: bake builds vipd for aarch64-unknown-linux-musl itself.
    let o = Command::new(BAKE)
        .current_dir(repo())
        .args([
            "--progress",
            "build",
            "--unsigned",
            "--version",
            "1.0",
            "--arch",
            "arm64",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("bake: building vipd for aarch64-unknown-linux-musl"));
    let image = dir.path().join("vipd-1.0-arm64.raw");
    let o = bake(&["inspect", image.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains("/usr/bin/vipd: static-pie, arm64")
            || text(&o.stdout).contains("/usr/bin/vipd: static, arm64")
    );

    let extracted = dir.path().join("x");
    let o = Command::new("unsquashfs")
        .arg("-d")
        .arg(&extracted)
        .arg(&image)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let bin = extracted.join("usr/bin/vipd");
    let file = Command::new("file").arg(&bin).output().unwrap();
    let file = text(&file.stdout);
    assert!(
        file.contains("ARM aarch64") && file.contains("static"),
        "{file}"
    );
    let o = Command::new("qemu-aarch64-static")
        .arg(&bin)
        .arg("--version")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).starts_with("vipd "), "{}", text(&o.stdout));
}

#[test]
fn another_recipe_packages_another_binary() {
    let dir = Scratch::new("recipe");
    let d = dir.path();
    std::fs::write(
        d.join("hello.service"),
        "[Service]\nExecStart=/usr/bin/hello\n",
    )
    .unwrap();
    std::fs::write(d.join("10-hello.conf"), "[Unit]\nUpholds=hello.service\n").unwrap();
    let template = repo().join("sysupdate/vipd.conf.in");
    std::fs::write(
        d.join("hello.toml"),
        format!(
            r#"name = "hello"
default_base_url = "https://example.org/hello/"
[binary]
path = "/usr/bin/hello"
[[file]]
path = "/usr/lib/systemd/system/hello.service"
source = "hello.service"
[[file]]
path = "/usr/lib/systemd/system/multi-user.target.d/10-hello.conf"
source = "10-hello.conf"
[[file]]
path = "/usr/lib/sysupdate.hello.d/hello.conf"
source = "{}"
template = true
[[file]]
path = "/opt/hello/README"
source = "hello.service"
mode = "0600"
"#,
            template.display()
        ),
    )
    .unwrap();
    let o = bake(&[
        "build",
        "--unsigned",
        "--version",
        "7",
        "--recipe",
        d.join("hello.toml").to_str().unwrap(),
        "--binary",
        vipd_x86().to_str().unwrap(),
        "--out",
        d.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let image = d.join("hello-7-x86-64.raw");
    let o = bake(&["inspect", image.to_str().unwrap()]);
    let report = text(&o.stdout);
    assert!(o.status.success(), "{report}{}", text(&o.stderr));
    assert!(report.contains("/usr/bin/hello: static"), "{report}");
    assert!(report.contains("-0600 0/0"), "{report}");
    let o = Command::new("unsquashfs")
        .arg("-cat")
        .arg(&image)
        .arg("usr/lib/sysupdate.hello.d/hello.conf")
        .output()
        .unwrap();
    let transfer = text(&o.stdout);
    assert!(
        transfer.contains("Path=https://example.org/hello/\n"),
        "{transfer}"
    );
    assert!(
        transfer.contains("MatchPattern=hello-@v-%a.raw\n"),
        "{transfer}"
    );
    assert!(
        transfer.contains("CurrentSymlink=/etc/extensions/hello.raw\n"),
        "{transfer}"
    );
}

/// Whether `name` matches `pattern`, whose `*`s stand for any text (the linker script's
/// wildcards: hot-code.ld writes crate hashes as `*`).
fn glob_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return name == pattern;
    }
    if name.len() < first.len() + last.len() || !name.starts_with(first) || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// How many of the functions `ld` lists match one of `sections` (sorted), and the first
/// few that match none.
fn hot_functions_found(ld: &str, sections: &[&str]) -> (usize, usize, Vec<String>) {
    let mut listed = 0;
    let mut missing = Vec::new();
    for line in ld.lines().map(str::trim) {
        // `*(.text.NAME .text.unlikely.NAME)`: one function, under either section name.
        let Some(patterns) = line.strip_prefix("*(").and_then(|l| l.strip_suffix(')')) else {
            continue;
        };
        listed += 1;
        let found = patterns.split_whitespace().any(|pattern| {
            let prefix = pattern.split('*').next().unwrap_or_default();
            let from = sections.partition_point(|s| *s < prefix);
            sections[from..]
                .iter()
                .take_while(|s| s.starts_with(prefix))
                .any(|s| glob_match(pattern, s))
        });
        if !found {
            missing.push(
                patterns
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .into(),
            );
        }
    }
    (listed, listed - missing.len(), missing)
}

#[test]
fn hot_code_ld_patterns_match_like_the_linker() {
    let sections = [
        ".text._RNvCsabc_4vipd4main",
        ".text.unlikely._RNvCsdef_3std5panic",
    ];
    let ld = "SECTIONS\n{\n  .text.vipd_hot : {\n    \
              *(.text._RNvCs*_4vipd4main .text.unlikely._RNvCs*_4vipd4main)\n    \
              *(.text._RNvCs*_3std5panic .text.unlikely._RNvCs*_3std5panic)\n    \
              *(.text._RNvCs*_4vipd4gone .text.unlikely._RNvCs*_4vipd4gone)\n  }\n}\n";
    let (listed, found, missing) = hot_functions_found(ld, &sections);
    assert_eq!((listed, found), (3, 2));
    assert_eq!(missing, [".text._RNvCs*_4vipd4gone"]);
    assert!(glob_match("a*c*e", "abcde") && !glob_match("a*c*e", "abde"));
    assert!(!glob_match("ab*ba", "aba"), "prefix and suffix overlap");
}

/// daemon/hot-code.ld (regenerated by `make link-order`) goes stale silently: a function it
/// lists that the code no longer has just is not placed. Counted against the input sections
/// of the static x86-64 build's link map (daemon/build.rs): fails when fewer than 3 in 4
/// are found, and prints the count either way.
#[test]
fn hot_code_ld_still_names_the_static_builds_functions() {
    let map_path = vipd_x86().with_file_name("vipd.map");
    let map = std::fs::read_to_string(&map_path)
        .unwrap_or_else(|e| panic!("{}: {e} (daemon/build.rs writes it)", map_path.display()));
    // lld's map: `VMA LMA SIZE ALIGN OUT IN SYMBOL`, an input section as `FILE:(NAME)`.
    let mut sections: Vec<&str> = map
        .lines()
        .filter_map(|l| l.rsplit_once(":(")?.1.strip_suffix(')'))
        .collect();
    sections.sort_unstable();
    sections.dedup();
    assert!(
        sections.len() > 1000,
        "{}: only {} input sections; not an lld map?",
        map_path.display(),
        sections.len()
    );
    let ld = std::fs::read_to_string(repo().join("daemon/hot-code.ld")).unwrap();
    let (listed, found, missing) = hot_functions_found(&ld, &sections);
    eprintln!(
        "hot-code.ld: {found} of {listed} listed functions are in the static build ({} missing{}{})",
        missing.len(),
        if missing.is_empty() { "" } else { ", e.g. " },
        missing.iter().take(3).cloned().collect::<Vec<_>>().join(" ")
    );
    assert!(listed >= 100, "hot-code.ld lists only {listed} functions");
    assert!(
        found * 4 >= listed * 3,
        "daemon/hot-code.ld is stale: only {found} of its {listed} functions exist in the \
         static build; regenerate it with `make link-order` (root, valgrind)"
    );
}
