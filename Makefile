# The two commands of the README, plus helpers. Each target installs what is missing and builds.
BUILD_DIR ?= build
SIM := $(BUILD_DIR)/cli/dynamo-sim

.PHONY: demo test test-sanitize test-tsan build bench format clean

build:
	@bash scripts/setup.sh

# The main job on the embedded defaults: a topology sweep of Llama-3.1-70B on 16 H200 for
# 2,048-token prompts and 256-token answers, TTFT p90 <= 1 s and ITL p90 <= 50 ms; it prints
# the best plans and writes out/sweep/ (best_plan.json, report.html, results.sqlite, ...).
# Then the chosen plan through `dynamo-sim run`, reproducing the sweep's figures.
demo: build
	@$(SIM) sweep --model llama-3.1-70b --gpu h200_sxm --gpus 16 --isl 2048 --osl 256 \
		--ttft-ms 1000 --itl-ms 50 --out out/sweep
	@echo
	@$(SIM) run --plan out/sweep/best_plan.json --workload out/sweep/best_workload.json \
		--seed 1 --ttft-ms 1000 --itl-ms 50

# Test tooling (a Python venv with Jupyter, PyYAML, jsonschema, kubernetes-validate) comes
# first: the notebook and manifest-schema tests use it.
test: build
	@bash scripts/test_tools.sh
	@cd $(BUILD_DIR) && ctest --output-on-failure -j "$$(nproc)"

# Every test again under AddressSanitizer + UndefinedBehaviorSanitizer (CI runs this too).
test-sanitize:
	@BUILD_DIR=build-asan EXTRA_CMAKE_ARGS="-DDYNAMO_SANITIZE=address,undefined -DDYNAMO_BUILD_BENCHMARKS=OFF" \
		bash scripts/setup.sh
	@bash scripts/test_tools.sh
	@cd build-asan && ctest --output-on-failure -j "$$(nproc)"

# The runtime (threads, sockets, processes) again under ThreadSanitizer: its tests only. UCX's
# memory hooks (madvise interception) crash TSan at thread exit: UCX_MEM_EVENTS=no turns them off.
test-tsan:
	@BUILD_DIR=build-tsan BUILD_TARGET=runtime_tests \
		EXTRA_CMAKE_ARGS="-DDYNAMO_SANITIZE=thread -DDYNAMO_BUILD_BENCHMARKS=OFF" bash scripts/setup.sh
	@cd build-tsan && UCX_MEM_EVENTS=no ctest --output-on-failure -L runtime -j "$$(nproc)"

bench: build
	@bash scripts/bench.sh

format:
	@git ls-files '*.h' '*.cc' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) build-asan build-tsan .venv-test
