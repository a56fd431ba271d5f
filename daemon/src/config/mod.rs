//! Configuration: vipd's native TOML model and the keepalived.conf reader.
