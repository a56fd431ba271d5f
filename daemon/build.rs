//! Lays out the static musl builds' code so that what a running vipd executes sits together.
//!
//! A page of the binary's code counts in RSS once touched, and the kernel maps the 64 KiB
//! around each page fault. Left to the linker, the ~1 MiB of code that start-up and the
//! steady state run is spread over the whole 3.3 MiB of text, so nearly all of it became
//! resident. `hot-code.ld` lists those functions (hashes as wildcards, so it keeps matching
//! across builds; `link-order.sh` regenerates it) and lld places them first. Only the layout
//! changes: a function missing from the list (new or renamed) is linked after them as before.

fn main() {
    println!("cargo:rerun-if-changed=hot-code.ld");
    println!("cargo:rerun-if-changed=build.rs");
    // The static x86-64 build links with rust-lld (.cargo/config.toml); other builds (tests,
    // the host's glibc binary) keep the system linker and its layout. (arm64 links with
    // rust-lld too, but its layout has not been measured yet.)
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_ENV") != "musl" || var("CARGO_CFG_TARGET_ARCH") != "x86_64" {
        return;
    }
    let Ok(dir) = std::env::var("CARGO_MANIFEST_DIR") else {
        return;
    };
    println!("cargo:rustc-link-arg-bin=vipd={dir}/hot-code.ld");
    // lld's link map beside the binary (TARGET/release/vipd.map, OUT_DIR being
    // TARGET/release/build/vipd-HASH/out): the input sections it holds tell whether the
    // functions hot-code.ld lists still exist (bake's `cli` test counts them; the binary
    // itself is stripped).
    if let Some(release) = std::env::var_os("OUT_DIR")
        .map(std::path::PathBuf::from)
        .and_then(|out| Some(out.parent()?.parent()?.parent()?.to_path_buf()))
    {
        println!(
            "cargo:rustc-link-arg-bin=vipd=-Map={}",
            release.join("vipd.map").display()
        );
    }
}
