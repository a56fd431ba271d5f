//! TCP check: connect to host:port within the timeout.

use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use super::ProbeResult;

/// Connect to `host:port` (all resolved addresses in turn) and close at once.
pub async fn probe(host: &str, port: u16, timeout: Duration) -> ProbeResult {
    let start = Instant::now();
    match tokio::time::timeout(timeout, connect(host, port)).await {
        Ok(Ok(_stream)) => ProbeResult::ok(start.elapsed(), "connected"),
        Ok(Err(e)) => ProbeResult::fail(start.elapsed(), e),
        Err(_) => ProbeResult::fail(start.elapsed(), format!("timeout after {timeout:?}")),
    }
}

/// Connect to a host that may be a literal IP (v6 without brackets) or a name.
pub(crate) async fn connect(host: &str, port: u16) -> Result<TcpStream, String> {
    let ip_literal = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>();
    let result = match ip_literal {
        Ok(ip) => TcpStream::connect((ip, port)).await,
        Err(_) => TcpStream::connect((host, port)).await,
    };
    result.map_err(|e| format!("connect {host}:{port}: {e}"))
}
