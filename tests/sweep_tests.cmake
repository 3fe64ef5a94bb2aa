# dynamo-sim sweep tests (registered from tests/CMakeLists.txt).

# notebooks/sweep_analysis.ipynb executed on a small sweep's results.sqlite (its last cell checks
# the file's consistency). Skips (77) without .venv-test; NOTEBOOK_RESULTS=FILE in the
# environment runs it on FILE instead of sweeping.
add_test(NAME sweep_notebook
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/notebooks/notebook_test.sh $<TARGET_FILE:dynamo-sim>
          ${DYNAMO_TEST_PYTHON} ${PROJECT_SOURCE_DIR})
set_tests_properties(sweep_notebook PROPERTIES LABELS "notebook" SKIP_RETURN_CODE 77 TIMEOUT 300)

# dynamo-sim sweep / merge end to end: outputs, reproduction by `dynamo-sim run`, shards, exact
# error texts, interruption.
add_test(NAME sweep_e2e
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/sweep_e2e_test.sh $<TARGET_FILE:dynamo-sim>
          ${PROJECT_SOURCE_DIR})
set_tests_properties(sweep_e2e PROPERTIES LABELS "fast" TIMEOUT 300)
