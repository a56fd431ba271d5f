//! keepalived.conf text through the lexer, reader and validation (`vipd check` and `vipd run`
//! read a file this way); a file it accepts converts to native TOML that reads back the same.
//!
//! Includes must not reach the machine's files: the file "lives" in a directory that does
//! not exist, so relative includes (and their globs, and `..`) find nothing, and inputs that
//! could name an absolute path in an include (any `/` in a text with `include`) are skipped.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use vipd::config;

const HOME: &str = "/nonexistent-vipd-fuzz/keepalived.conf";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.contains("include") && text.contains('/') {
        return;
    }
    let Ok(cfg) = config::parse_keepalived(text, Path::new(HOME)) else {
        return;
    };
    let _ = config::warnings(&cfg);
    let _ = vipd::services::tracking::check_specs(&cfg);
    let toml = config::to_toml(&cfg);
    let again = config::parse_native(&toml, Path::new("/nonexistent-vipd-fuzz/vipd.toml"))
        .unwrap_or_else(|e| panic!("import-keepalived output refused: {e}\n{toml}"));
    assert_eq!(again, cfg, "TOML round trip differs:\n{toml}");
});
