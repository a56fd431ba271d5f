//! Builds the recipe's cargo package as a static musl binary for an architecture.

use crate::names::Arch;
use crate::{err, Result};
use std::path::PathBuf;
use std::process::Command;

/// Runs `cargo build --release -p PACKAGE --target TRIPLE` in the current workspace and returns
/// the binary's path. The workspace's `.cargo/config.toml` supplies the musl C compilers and
/// the aarch64 linker.
pub fn build_static(package: &str, arch: Arch) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = arch.rust_target();
    let mut cmd = Command::new(&cargo);
    cmd.args(["build", "--release", "-p", package, "--target", target]);
    let status = cmd.status().map_err(|e| err!("cannot run {cargo}: {e}"))?;
    if !status.success() {
        return Err(err!(
            "`cargo build --release -p {package} --target {target}` failed ({status}); is the target installed (`rustup target add {target}`)?"
        ));
    }
    let bin = target_dir()?.join(target).join("release").join(package);
    if !bin.is_file() {
        return Err(err!(
            "cargo build succeeded but {} is missing",
            bin.display()
        ));
    }
    Ok(bin)
}

fn target_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["locate-project", "--workspace", "--message-format", "plain"])
        .output()
        .map_err(|e| err!("cannot run cargo locate-project: {e}"))?;
    if !out.status.success() {
        return Err(err!(
            "cargo locate-project failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let manifest = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    Ok(manifest
        .parent()
        .map(|p| p.join("target"))
        .unwrap_or_else(|| PathBuf::from("target")))
}
