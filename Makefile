# The two commands of the README, plus helpers. Each target installs what is missing and builds.
BUILD_DIR ?= build
SIM := $(BUILD_DIR)/cli/dynamo-sim

.PHONY: demo test test-sanitize build bench format clean

build:
	@bash scripts/setup.sh

# The main job on the embedded defaults (until `dynamo-sim sweep` lands: the default model and
# GPU, one priced engine step, then the default workload simulated on an aggregated and a
# disaggregated Llama-3.1-70B plan of one H200 node).
demo: build
	@$(SIM) describe model llama-3.1-70b --tp 4
	@echo
	@$(SIM) describe gpu h200_sxm
	@echo
	@$(BUILD_DIR)/cli/dynamo-profile estimate --gpu h200_sxm --model llama-3.1-70b --tp 4 \
		--prefill 2048 --decode 64 --decode-kv 2048
	@echo
	@$(SIM) run --plan llama70b_agg --workload default --ttft-ms 1000 --itl-ms 50
	@echo
	@$(SIM) run --plan llama70b_disagg --workload default --ttft-ms 1000 --itl-ms 50

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j "$$(nproc)"

# Every test again under AddressSanitizer + UndefinedBehaviorSanitizer (CI runs this too).
test-sanitize:
	@BUILD_DIR=build-asan EXTRA_CMAKE_ARGS="-DDYNAMO_SANITIZE=address,undefined -DDYNAMO_BUILD_BENCHMARKS=OFF" \
		bash scripts/setup.sh
	@cd build-asan && ctest --output-on-failure -j "$$(nproc)"

bench: build
	@bash scripts/bench.sh

format:
	@git ls-files '*.h' '*.cc' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) build-asan
