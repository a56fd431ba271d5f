# vipd and bake. `make` builds and checks the shipped example; `make test` runs every test.
CARGO ?= cargo
VERSION ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
ARCH ?= x86-64
OUT ?= build
# Where releases are served (https://; required by `make release`, baked into images).
BASE_URL ?=
# `make release`: the secret key from `bake keygen` (UNSIGNED=1 for an unsigned release);
# `make sysext`: PUBKEY= the public key (transfer Verify=yes), else an unsigned dev image.
SIGN_KEY ?=
PUBKEY ?=
UNSIGNED ?=
MUSL_TARGETS = x86_64-unknown-linux-musl aarch64-unknown-linux-musl

.PHONY: all build test lint static sysext release bench clean fuzz sim soak link-order

# Every shipped example config (examples/, butane/examples/) must pass `vipd check`.
EXAMPLE_CONFIGS = $(wildcard examples/*.toml examples/*.conf butane/examples/*.toml butane/examples/*.conf)
all: build
	$(TARGET_DIR)/release/vipd --version
	@for f in $(EXAMPLE_CONFIGS); do echo "vipd check -c $$f"; \
	  $(TARGET_DIR)/release/vipd check -c $$f || exit 1; done

build:
	$(CARGO) build --release --workspace

# clippy checks in a target directory of its own: `make test` runs it alongside the tests,
# where it must not hold the build lock the tests' cargo commands take. The daemon is also
# checked for the static musl target it ships as: some crates (neli) name constants only under
# glibc, and otherwise only bake's cli tests would find out, late. (`make test` needs no such
# check: its cli tests build vipd for musl.)
LINT_TARGET_DIR = $(TARGET_DIR)/lint
lint:
	$(CARGO) fmt --all -- --check
	CARGO_TARGET_DIR=$(LINT_TARGET_DIR) $(CARGO) clippy --workspace --all-targets -- -D warnings
	CARGO_TARGET_DIR=$(LINT_TARGET_DIR) $(CARGO) check -p vipd --release --target x86_64-unknown-linux-musl

# Formatting first (seconds), one build of every test, then three streams at once: at nice 19
# bake's end-to-end tests (release builds of vipd for both arches, images, booted containers)
# followed by the tests that time nothing and only want CPU (BACKGROUND_TESTS), and clippy;
# at normal priority all the others, mostly namespace labs waiting on VRRP timers, a few
# timed under load (nice 10 was not enough for the junk flood of lab_vipd_hardening), which
# leave most of the CPU to the other two. Each test stream runs a binary at a time with
# TEST_THREADS threads. The other streams' output follows the labs'; any failing fails.
# Every integration test target (cargo metadata) is in exactly one stream.
TEST_THREADS ?= 4
E2E_TESTS = cli e2e_boot e2e_sysext
BACKGROUND_TESTS = $(E2E_TESTS) simulation
TEST_TARGETS = $(shell $(CARGO) metadata --no-deps --format-version 1 | python3 -c \
  'import json, sys; print(*sorted({t["name"] for p in json.load(sys.stdin)["packages"] \
  for t in p["targets"] if "test" in t["kind"]}))')
test:
	$(if $(filter $(BACKGROUND_TESTS),$(TEST_TARGETS)),,$(error no test targets from cargo metadata))
	$(CARGO) fmt --all -- --check
	$(CARGO) test --workspace --no-run
	@log=$(TARGET_DIR)/e2e-tests.log; lintlog=$(TARGET_DIR)/lint.log; rc=0; \
	echo "clippy and $(BACKGROUND_TESTS) run alongside at nice 19; their output follows"; \
	nice -n 19 $(CARGO) test --workspace --no-fail-fast $(addprefix --test ,$(BACKGROUND_TESTS)) \
	  -- --test-threads=$(TEST_THREADS) >$$log 2>&1 & bg=$$!; \
	CARGO_TARGET_DIR=$(LINT_TARGET_DIR) nice -n 19 $(CARGO) clippy --workspace --all-targets \
	  -- -D warnings >$$lintlog 2>&1 & lint=$$!; \
	$(CARGO) test --workspace --no-fail-fast --lib --bins \
	  $(addprefix --test ,$(filter-out $(BACKGROUND_TESTS),$(TEST_TARGETS))) \
	  -- --test-threads=$(TEST_THREADS) || rc=1; \
	$(CARGO) test --workspace --doc || rc=1; \
	wait $$bg || rc=1; \
	echo "--- $(BACKGROUND_TESTS), run alongside:"; cat $$log; \
	wait $$lint || rc=1; \
	echo "--- cargo clippy --workspace --all-targets -- -D warnings, run alongside:"; \
	grep -v '^ *\(Compiling\|Checking\) ' $$lintlog; exit $$rc

# Static, stripped (profile.release strip = true) vipd for both arches, checked: `file` must say
# statically linked (x86-64 musl is static-pie: no interpreter, no libraries) and each <= 5 MiB
# (x86-64 is about 4.5 MiB: rustls/ring for https checks, nftables, AH, metrics).
# .cargo/config.toml sets the C compilers ring needs (gcc, aarch64-linux-gnu-gcc from Debian's
# gcc-aarch64-linux-gnu) and links aarch64 with rust-lld.
STATIC_MAX_BYTES = 5242880
HOT_MIN_BYTES = 655360
TARGET_DIR = $(or $(CARGO_TARGET_DIR),target)
TARGET_x86-64 = x86_64-unknown-linux-musl
TARGET_arm64 = aarch64-unknown-linux-musl
ARCHES ?= x86-64,arm64
BAKE = $(TARGET_DIR)/release/bake

static:
	$(CARGO) build --release -p vipd --target x86_64-unknown-linux-musl --target aarch64-unknown-linux-musl
	@for t in $(MUSL_TARGETS); do \
	  bin=$(TARGET_DIR)/$$t/release/vipd; info=$$(file -b $$bin); \
	  echo "$$info" | grep -Eq 'statically linked|static-pie linked' || { echo "$$bin is not static: $$info"; exit 1; }; \
	  echo "$$info" | grep -q ', stripped' || { echo "$$bin is not stripped"; exit 1; }; \
	  size=$$(stat -c %s $$bin); [ $$size -le $(STATIC_MAX_BYTES) ] || { echo "$$bin: $$size bytes > 5 MiB"; exit 1; }; \
	  echo "$$bin: $$size bytes, $$info"; \
	done
	@# The code a running vipd executes sits together (daemon/hot-code.ld): a list that no
	@# longer matches the code's symbols shows as a small section (it holds about 1 MiB).
	@hex=$$(readelf -SW $(TARGET_DIR)/x86_64-unknown-linux-musl/release/vipd | awk '$$2 == ".text.vipd_hot" { print $$6 }'); \
	  hot=$$((0x$${hex:-0})); [ "$$hot" -ge $(HOT_MIN_BYTES) ] || { echo "vipd: .text.vipd_hot is $$hot bytes < $(HOT_MIN_BYTES): run daemon/link-order.sh"; exit 1; }; \
	  echo "x86_64 vipd: $$hot bytes of code laid out first (.text.vipd_hot)"

# Regenerates daemon/hot-code.ld (root, valgrind, python3): a master and a backup run under
# callgrind for LINK_ORDER_SECONDS each and every function either executed is listed. Run it
# after changes to start-up or the event loop, then `make static` and compare RSS (Numbers).
LINK_ORDER_SECONDS ?= 20
link-order:
	daemon/link-order.sh $(LINK_ORDER_SECONDS)

$(BAKE): FORCE
	$(CARGO) build --release -p bake

.PHONY: FORCE
FORCE:

# One image: make sysext VERSION=1.2.3 [ARCH=arm64] [OUT=build] [BASE_URL=https://...] [PUBKEY=...]
sysext: static $(BAKE)
	mkdir -p $(OUT)
	$(BAKE) --progress build --version $(VERSION) --arch $(ARCH) \
	  --vipd $(TARGET_DIR)/$(TARGET_$(ARCH))/release/vipd $(if $(BASE_URL),--base-url $(BASE_URL)) \
	  $(if $(PUBKEY),--pubkey $(PUBKEY),--unsigned) --out $(OUT)
	$(BAKE) inspect $(OUT)/vipd-$(VERSION)-$(ARCH).raw

# A release directory to serve: images for ARCHES, SHA256SUMS (other versions kept), its
# signature SHA256SUMS.gpg, vipd.conf.
# make release VERSION=1.2.3 BASE_URL=https://... SIGN_KEY=keys/vipd-release.key (or UNSIGNED=1)
release: static $(BAKE)
	@[ -n "$(BASE_URL)" ] || { echo "make release: set BASE_URL=https://... (where OUT will be served)"; exit 1; }
	@[ -n "$(SIGN_KEY)$(UNSIGNED)" ] || { echo "make release: set SIGN_KEY=FILE (bake keygen), or UNSIGNED=1"; exit 1; }
	mkdir -p $(OUT)
	$(BAKE) --progress release --version $(VERSION) --arch $(ARCHES) --base-url $(BASE_URL) \
	  $(if $(SIGN_KEY),--sign-key $(SIGN_KEY),--unsigned) --out $(OUT)
	cd $(OUT) && sha256sum --strict -c SHA256SUMS

# Benchmarks, each side by side with its reference in one run (root; prints tables and writes
# SVG figures to docs/bench/): failover vs keepalived (client outage, master link loss on the
# wire), footprint (CPU, RSS, missed adverts, start to READY=1 against the number of
# instances, up to 510), health-check failover and CPU vs keepalived scripts, and bake's image
# step vs mksquashfs on the same tree. vipd is the static x86-64 binary users run.
BENCH_VIPD = $(abspath $(TARGET_DIR))/x86_64-unknown-linux-musl/release/vipd
bench: static
	VIPD_BIN=$(BENCH_VIPD) $(CARGO) bench -p vipd --bench failover
	VIPD_BIN=$(BENCH_VIPD) $(CARGO) bench -p vipd --bench footprint
	VIPD_BIN=$(BENCH_VIPD) $(CARGO) bench -p vipd --bench checks
	$(CARGO) bench -p bake --bench image

# Fuzzing (nightly toolchain and cargo-fuzz): every target in fuzz/ for FUZZ_SECONDS each,
# seeded from fuzz/seeds/, FUZZ_JOBS at a time; prints target, seconds, runs, corpus, edges.
FUZZ_SECONDS ?= 60
fuzz:
	fuzz/run.sh $(FUZZ_SECONDS)

# Deterministic simulation of the protocol core: SEEDS seeds from FIRST_SEED, optimised
# (`cargo test` runs 3000 in debug). A failing seed prints the command that replays it.
# ADVERSARY=invalid|forger|off gives every seed that adversary (default: a mix).
SEEDS ?= 50000
FIRST_SEED ?= 0
ADVERSARY ?=
sim:
	VIPD_SIM_SEEDS=$(SEEDS) VIPD_SIM_FIRST_SEED=$(FIRST_SEED) VIPD_SIM_ADVERSARY=$(ADVERSARY) \
	  $(CARGO) test --profile sim -p vipd --test simulation -- --nocapture simulated

# Soak (root): random faults against a vipd pair and a keepalived peer for SOAK_SECONDS,
# invariants sampled every 10 ms; prints faults by kind, samples, outages, RSS and fds.
# `--workspace`: the same features as `make test`'s build, so CI does not build every
# dependency again.
SOAK_SECONDS ?= 600
soak:
	VIPD_SOAK_SECONDS=$(SOAK_SECONDS) $(CARGO) test --workspace --test soak -- --ignored --nocapture

clean:
	$(CARGO) clean
	rm -rf $(OUT)

# Real-world keepalived.conf files (root and keepalived 2.2.7 needed; the files are other
# people's and stay out of the repository): every CORPUS/*.conf through keepalived -t and
# vipd check, each in its own namespace; prints the matrix, fails when vipd refuses a file
# keepalived runs.
.PHONY: corpus
corpus:
	VIPD_CORPUS_DIR=$(abspath $(CORPUS)) $(CARGO) test -p vipd --test config_corpus -- --ignored --nocapture

# Behavioural corpus run (root and keepalived 2.2.7 needed; the files stay out of the
# repository): every CORPUS/*.conf rewritten into the namespace lab (documentation addresses,
# lab interfaces, scripts stubbed), run by keepalived alone and by vipd alone, compared on
# the wire and on the interfaces; prints the matrix, fails on every undocumented difference.
.PHONY: corpus-run
corpus-run:
	VIPD_CORPUS_DIR=$(abspath $(CORPUS)) $(CARGO) test -p vipd --test lab_corpus_run -- --ignored --nocapture corpus_files

# Re-record keepalived 2.2.7's answers for the keyword sweep (root and keepalived needed):
# every keyword of tests/fixtures/keywords/keepalived-2.2.7.txt in each value form.
.PHONY: keyword-sweep
keyword-sweep:
	VIPD_KEYWORD_SWEEP=record $(CARGO) test -p vipd --test config_keyword_sweep -- --nocapture
