# dynamo-config tests (registered from tests/CMakeLists.txt).

# End-to-end: every target on the bundled plans, exit codes, exact error texts, outputs
# complete or absent; the emitted sweep job's command lines run with dynamo-sim.
add_test(NAME config_e2e
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/config_e2e_test.sh $<TARGET_FILE:dynamo-config>
          ${PROJECT_SOURCE_DIR} $<TARGET_FILE:dynamo-sim>)
set_tests_properties(config_e2e PROPERTIES LABELS "fast" TIMEOUT 120)

# Schema validation of the emitted manifests: DynamoGraphDeployments against the CRD schema in
# ../shared/data/crds (strict: unknown fields fail), plain Kubernetes objects with
# kubernetes-validate (strict). Skips (exit 77, saying why) without the test venv
# (bash scripts/test_tools.sh) or the CRD directory; the script checks the latter.
add_test(NAME config_schema_validation
  COMMAND sh -c "if [ ! -x \"$0\" ]; then echo \"skipped: no test venv python at $0 (run: bash scripts/test_tools.sh)\"; exit 77; fi; exec \"$0\" \"$@\""
          ${DYNAMO_TEST_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/configurator/validate_manifests.py
          --dynamo-config $<TARGET_FILE:dynamo-config>
          --crd-dir ${DYNAMO_SHARED_DATA}/crds)
set_tests_properties(config_schema_validation PROPERTIES LABELS "fast" SKIP_RETURN_CODE 77
  TIMEOUT 300)
