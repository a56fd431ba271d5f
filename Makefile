# vipd and bake. `make` builds and checks the shipped example; `make test` runs every test.
CARGO ?= cargo
VERSION ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
ARCH ?= x86-64
OUT ?= build
BASE_URL ?= http://127.0.0.1:8080/
MUSL_TARGETS = x86_64-unknown-linux-musl aarch64-unknown-linux-musl

.PHONY: all build test lint static sysext release bench clean

all: build
	./target/release/vipd --version
	./target/release/vipd check -c examples/two-routers.toml
	./target/release/vipd check -c examples/keepalived.conf

build:
	$(CARGO) build --release --workspace

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test: lint
	$(CARGO) test --workspace -- --test-threads=4

static:
	CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld \
	  $(CARGO) build --release -p vipd --target x86_64-unknown-linux-musl --target aarch64-unknown-linux-musl

clean:
	$(CARGO) clean
	rm -rf $(OUT)
