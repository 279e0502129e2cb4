# kvfs: build the module, the test kernel and the tests, and run them in a VM.
#
#   make          build kvfs/kvfs.ko (against the cached test kernel, or KDIR)
#   make kernel   build (or reuse) the test kernel
#   make test     host unit tests, then the userspace tests inside the VM
#   make run      a VM with kvfs mounted at /mnt/kv and a shell
#   make demo     a short scripted session in the VM, printed
#
# Every target first runs scripts/setup.sh, which installs what is missing.
# PROFILE=debug selects the debug kernel (scripts/kernel-debug.config).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

ROOT := $(CURDIR)
KDIR ?=
PROFILE ?=
CARGO ?= cargo
export PATH := $(HOME)/.cargo/bin:$(PATH)

# The kernel tree to build against: KDIR if given, else the cached test kernel.
kdir = $$(if [ -n "$(KDIR)" ]; then echo "$(KDIR)"; else scripts/kernel.sh $(PROFILE); fi)

# Where the module is built: kvfs/ itself, or for another kernel profile a
# copy of its sources in target/, so that each profile keeps its own kvfs.ko.
MODDIR := $(if $(PROFILE),$(ROOT)/target/kvfs-$(PROFILE),$(ROOT)/kvfs)
KO := $(MODDIR)/kvfs.ko

.PHONY: all module setup kernel unit-tests test-binaries test run demo bench fmt fmtcheck clean

all: module

setup:
	@scripts/setup.sh

kernel: setup
	@scripts/kernel.sh $(PROFILE)

module: setup
	@tree=$(kdir); \
	if [ "$(MODDIR)" != "$(ROOT)/kvfs" ]; then \
	  mkdir -p "$(MODDIR)" && cp -u kvfs/Kbuild kvfs/*.rs "$(MODDIR)/"; \
	fi; \
	$(MAKE) --no-print-directory -C "$$tree" M=$(MODDIR) LLVM=1 ARCH=x86_64 modules

unit-tests: setup fmtcheck
	$(CARGO) test -p kvfs -p userspace-tests -p kvfs-bench --lib --bins

# Builds the userspace test binaries and lists them in target/vm/test-binaries.
test-binaries: setup
	@mkdir -p target/vm
	@$(CARGO) test -p userspace-tests --no-run --message-format=json-render-diagnostics \
	  | scripts/test-executables.py >target/vm/test-binaries

# The suite runs in a 2-vCPU guest, then the stress test again on its own in
# a 4-vCPU guest. With TEST_ARGS set (a filter), only the first run happens.
test: unit-tests module test-binaries
	@tree=$(kdir); bins=$$(cat target/vm/test-binaries); \
	if [ -n "$${TEST_ARGS:-}" ]; then \
	  scripts/vm.sh test "$$tree" $(KO) $$bins; \
	else \
	  TEST_ARGS="--skip stress::" scripts/vm.sh test "$$tree" $(KO) $$bins && \
	  VM_CPUS=4 VM_OUT=$(ROOT)/target/vm-stress KVFS_MODULE_CYCLES=0 TEST_ARGS="stress::" \
	    scripts/vm.sh test "$$tree" $(KO) $$bins; \
	fi

run: module
	@tree=$(kdir); scripts/vm.sh run "$$tree" $(KO)

demo: module
	@tree=$(kdir); scripts/vm.sh demo "$$tree" $(KO)

bench: module
	@tree=$(kdir); scripts/bench.sh "$$tree" $(KO)

fmt:
	rustfmt --edition 2021 kvfs/*.rs
	$(CARGO) fmt --all

fmtcheck:
	rustfmt --edition 2021 --check kvfs/*.rs
	$(CARGO) fmt --all --check

clean:
	rm -rf target
	rm -f kvfs/*.o kvfs/*.ko kvfs/*.mod kvfs/*.mod.c kvfs/.*.cmd kvfs/Module.symvers kvfs/modules.order
