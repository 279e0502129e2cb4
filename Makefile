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

.PHONY: all module setup kernel unit-tests test-binaries test run demo fmt fmtcheck clean

all: module

setup:
	@scripts/setup.sh

kernel: setup
	@scripts/kernel.sh $(PROFILE)

module: setup
	@tree=$(kdir); \
	$(MAKE) --no-print-directory -C "$$tree" M=$(ROOT)/kvfs LLVM=1 ARCH=x86_64 modules

unit-tests: setup
	$(CARGO) test -p kvfs

# Builds the userspace test binaries and lists them in target/vm/test-binaries.
test-binaries: setup
	@mkdir -p target/vm
	@$(CARGO) test -p userspace-tests --no-run --message-format=json-render-diagnostics \
	  | scripts/test-executables.py >target/vm/test-binaries

test: unit-tests module test-binaries
	@tree=$(kdir); \
	scripts/vm.sh test "$$tree" $(ROOT)/kvfs/kvfs.ko $$(cat target/vm/test-binaries)

run: module
	@tree=$(kdir); scripts/vm.sh run "$$tree" $(ROOT)/kvfs/kvfs.ko

demo: module
	@tree=$(kdir); scripts/vm.sh demo "$$tree" $(ROOT)/kvfs/kvfs.ko

fmt:
	rustfmt --edition 2021 kvfs/*.rs
	$(CARGO) fmt --all

fmtcheck:
	rustfmt --edition 2021 --check kvfs/*.rs
	$(CARGO) fmt --all --check

clean:
	rm -rf target
	rm -f kvfs/*.o kvfs/*.ko kvfs/*.mod kvfs/*.mod.c kvfs/.*.cmd kvfs/Module.symvers kvfs/modules.order
