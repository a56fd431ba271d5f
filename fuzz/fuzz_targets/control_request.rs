//! What a control-socket client sends, as the server parses it (one line of at most
//! MAX_REQUEST_BYTES). Nothing panics; whatever parses is within the limits and reads back
//! the same from the line a client would write for it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vipd::control::protocol::{parse_request, Request, Target, MAX_NAMES, MAX_REQUEST_BYTES};

fuzz_target!(|data: &[u8]| {
    let Ok(request) = parse_request(data) else {
        return;
    };
    assert!(data.len() <= MAX_REQUEST_BYTES);
    if let Request::Drain {
        target: Target::Instances(names),
        ..
    }
    | Request::Resume {
        target: Target::Instances(names),
    } = &request
    {
        assert!(!names.is_empty() && names.len() <= MAX_NAMES);
    }
    let line = request.to_line();
    assert_eq!(parse_request(line.as_bytes()), Ok(request));
});
