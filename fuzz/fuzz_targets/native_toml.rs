//! vipd.toml text through the native loader and validation; an accepted file writes back to
//! TOML that reads the same.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use vipd::config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/nonexistent-vipd-fuzz/vipd.toml");
    let Ok(cfg) = config::parse_native(text, path) else {
        return;
    };
    let _ = config::warnings(&cfg);
    let _ = vipd::services::tracking::check_specs(&cfg);
    let toml = config::to_toml(&cfg);
    let again = config::parse_native(&toml, path)
        .unwrap_or_else(|e| panic!("written TOML refused: {e}\n{toml}"));
    assert_eq!(again, cfg, "TOML round trip differs:\n{toml}");
});
