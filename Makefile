# Makefile - a thin front end over scripts/setup-deps.sh and the CMake presets (CMakePresets.json).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
VMSIM := build/default/bin/vmsim
# The job `make run` ends with: the conformance suite on the embedded Unicorn backend, both models.
MAIN_JOB ?= $(VMSIM) conform --backend unicorn --model all
# Presets `make test` builds and runs the test preset of (default and asan: every label, asan without
# vmsim_run_linux_test: Debian's kernel decompressing itself under ASan took 10 min, the code it runs is in
# uc_mmu_test, uc_modes_test and conform_unicorn there; fuzz: label fuzz, from the
# clang-14 libFuzzer build), then presets it only builds, so that every preset in CMakePresets.json keeps building.
TEST_PRESETS ?= default asan fuzz
BUILD_PRESETS ?= tsan release
# `make stress`: the tests that run threads against each other, each repeated STRESS_REPEAT times under TSan.
STRESS_TESTS ?= ^(core_exec_test|core_vcpu_test|core_vmm_x86_test|core_scale_test|unicorn_exec_test|unicorn_vmm_x86_test|uc_stop_test|rpc_client_test|rpc_server_test)$$
STRESS_REPEAT ?= 200

.PHONY: help deps run test build asan tsan stress release fuzz install-test lint cycles clean

help:
	@echo "make run           install missing Debian packages, build the default preset, run: $(MAIN_JOB)"
	@echo "make test          install missing packages, build $(TEST_PRESETS) $(BUILD_PRESETS), run the tests of"
	@echo "                   $(TEST_PRESETS) (fuzz: label fuzz; default includes make lint as test lint_cppcheck)"
	@echo "make build         configure and build the default preset (build/default)"
	@echo "make asan|tsan     build and test with ASan+UBSan / TSan (build/asan, build/tsan)"
	@echo "make stress        build tsan, run each concurrency test $(STRESS_REPEAT) times under TSan (nightly-style)"
	@echo "make release       build the release preset (build/release)"
	@echo "make fuzz          build with clang-14 and the fuzz targets, run tests labelled fuzz (build/fuzz)"
	@echo "make install-test  build default and run the install test (find_package and pkg-config consumers)"
	@echo "make lint          cppcheck over every file the default preset compiles (scripts/lint.sh), zero findings"
	@echo "make cycles        build default, list the call cycles between files of core/ and sim/ (call-cycles.py)"
	@echo "make clean         remove build/"
	@echo "Variables: JOBS=$(JOBS), SKIP_DEPS=1 skips the package check"

deps:
ifneq ($(SKIP_DEPS),1)
	scripts/setup-deps.sh
endif

# configure-and-build-PRESET
build-%: deps
	cmake --preset $*
	cmake --build --preset $* -j $(JOBS)

build: build-default

run: build-default
	$(MAIN_JOB)

release: build-release

asan tsan: %: build-%
	ctest --preset $@

# Every test matching STRESS_TESTS must pass STRESS_REPEAT runs in a row (ctest stops a test at its first failure).
stress: build-tsan
	ctest --preset tsan -R '$(STRESS_TESTS)' --repeat until-fail:$(STRESS_REPEAT) --output-on-failure

fuzz: build-fuzz
	ctest --preset fuzz

install-test: build-default
	ctest --preset default -R '^install_consumer$$'

lint: deps
	cmake --preset default
	scripts/lint.sh build/default

# Every cycle in libvmsim's file-level call graph; CTest call_cycles_* fails on those in tests/cycles' scopes.
cycles: build-default
	/usr/bin/python3 scripts/call-cycles.py --objects core/ build/default/core/CMakeFiles/vmsim_core.dir \
		--objects sim/ build/default/sim/CMakeFiles/vmsim_sim.dir || true

# Build every preset first so a build break stops before any test runs; then run each preset's tests even if an
# earlier one failed, and finish with one line totalling them all.
test: deps
	for preset in $(TEST_PRESETS) $(BUILD_PRESETS); do \
		cmake --preset $$preset && cmake --build --preset $$preset -j $(JOBS); \
	done
	status=0; passed=0; failed=0; skipped=0; \
	for preset in $(TEST_PRESETS); do \
		log=build/$$preset/ctest.log; \
		echo "== ctest --preset $$preset"; \
		ctest --preset $$preset 2>&1 | tee $$log || status=1; \
		summary=$$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' $$log || true); \
		if [ -z "$$summary" ]; then echo "$$preset: ctest printed no summary" >&2; status=1; continue; fi; \
		total=$$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$$summary"); \
		nfail=$$(sed -E 's/.* ([0-9]+) tests? failed.*/\1/' <<<"$$summary"); \
		nskip=$$(grep -cE '\(Skipped\)$$' $$log || true); \
		passed=$$((passed + total - nfail - nskip)); failed=$$((failed + nfail)); skipped=$$((skipped + nskip)); \
		echo "$$preset: $$summary"; \
	done; \
	echo "tests: $$passed passed, $$failed failed, $$skipped skipped"; \
	exit $$status

clean:
	rm -rf build
