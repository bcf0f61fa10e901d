# LightOS. The two commands: `make demo` (build, boot, run the workload) and `make test` (every test).
# Everything else here is a step those two run; see README.md.
SHELL := /bin/bash
MUSL := x86_64-unknown-linux-musl
GUEST := build/guest

.DEFAULT_GOAL := help
.PHONY: help setup kernel module guest guest-tests lint test bench demo fuzz vm-shell clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

setup: ## Install missing Debian packages, rust-src, the musl target and bindgen
	@qemu/setup-host.sh

kernel: setup ## Fetch, configure and build the guest kernel (cached in ~/.cache/lightos)
	@qemu/build-kernel.sh >/dev/null

module: kernel ## Build lightos_core.ko (warnings are errors, clippy on) into build/module
	@qemu/build-module.sh >/dev/null

guest: module ## Build the static binaries the guest image carries into build/guest/bin
	@mkdir -p $(GUEST)/bin
	@cargo build -q --release --target $(MUSL) -p lightos-cli -p lightosd -p lightos-fuzz -p lightos-agent
	@cp target/$(MUSL)/release/lightos target/$(MUSL)/release/lightosd target/$(MUSL)/release/lightos-fuzz \
		target/$(MUSL)/release/lightos-agent $(GUEST)/bin/
	@gcc -static -O2 -Wall -Werror qemu/guest/lightos-exit.c -o $(GUEST)/bin/lightos-exit

guest-tests: guest ## Build the VM test suite (Rust integration tests and the C client) into build/guest/tests
	@tests/build-guest-tests.sh

lint: ## cargo fmt --check and cargo clippy -D warnings
	@cargo fmt --all --check
	@cargo clippy -q --workspace --all-targets -- -D warnings

test: ## Every test: lint, host unit tests, then the VM suite; ends with "N passed, N failed"
	@tests/run-all.sh

bench: guest ## Run the benchmarks of bench/ in the guest and write docs/PERFORMANCE.md
	@bench/run.sh

demo: guest ## Boot the guest with two emulated photonic NPUs; run SqueezeNet (ONNX) on cpu0 and photonic0, an MLP, MATMULs on both NPUs, a spiking network and lightos-agent serving SqueezeNet, then its dashboard in Chromium (screenshot)
	@models=$$(tests/models/fetch-light.sh) && qemu/run --photonic 2 --log build/vm/demo-serial.log --add qemu/demo.sh --add "$$models/light_squeezenet.onnx" -- 'sh demo.sh'
	@echo "== the agent's live dashboard: a second boot serves three MLPs (cpu0, photonic0, placed by the PowerGovernor)"
	@echo "   under load and a heat fault; Debian's headless Chromium on the host loads it through a port forward"
	@DASHBOARD_SCREENSHOT=$(CURDIR)/build/demo/dashboard.png tests/agent/dashboard.sh | grep -E '^(dashboard: |  tests)' | sed 's/^ */   /'

fuzz: setup ## Fuzz /dev/lightos on the debug kernel: SECONDS=300 SEED=<clock> PROCS=2 SWEEP=1, or REPLAY=file.json
	@FUZZ_SECONDS=$(SECONDS) FUZZ_SEED=$(SEED) FUZZ_PROCS=$(PROCS) FUZZ_SWEEP=$(SWEEP) FUZZ_REPLAY=$(REPLAY) tests/fuzz/run.sh

vm-shell: guest ## An interactive shell in the guest with the module loaded
	@qemu/run --interactive

clean: ## Remove build outputs in the repo (the kernel cache stays)
	rm -rf build target
