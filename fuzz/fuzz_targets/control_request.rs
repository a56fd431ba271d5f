//! What a control-socket client sends, read the way the server reads it (one line, at most
//! MAX_REQUEST_LEN bytes). Only `status` is a request; nothing else may parse.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vipd::control::{self, Request, RequestError, MAX_REQUEST_LEN};

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let parsed = control::parse_request(data);
    if parsed.is_ok() {
        assert_eq!(std::str::from_utf8(data).map(str::trim), Ok("status"));
    }
    let read = runtime().block_on(control::read_request(data));
    let line_end = data.iter().position(|&b| b == b'\n');
    match read {
        Ok(Request::Status) => {
            let end = line_end.expect("a request is a whole line");
            assert!(end < MAX_REQUEST_LEN);
            assert_eq!(control::parse_request(&data[..=end]), Ok(Request::Status));
        }
        Err(RequestError::TooLong) => assert!(line_end.is_none_or(|e| e >= MAX_REQUEST_LEN)),
        Err(_) => {}
    }
});
