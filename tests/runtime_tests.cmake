# dynamo-run tests (registered from tests/CMakeLists.txt). Label "runtime": the TSan build
# (make test-tsan) runs exactly these.

# End-to-end on loopback: the OpenAI API with curl, 200 requests from dynamo-load (open and
# closed loop), kill -9 of a worker mid-stream, a client that disconnects, malformed and
# enormous bodies, a slow-loris client, SIGTERM leaving no process behind.
if(TARGET dynamo-run AND TARGET dynamo-load)
  add_test(NAME run_e2e
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/runtime/run_e2e_test.sh $<TARGET_FILE:dynamo-run>
            $<TARGET_FILE:dynamo-load> ${PROJECT_SOURCE_DIR})
  set_tests_properties(run_e2e PROPERTIES LABELS "runtime" TIMEOUT 300 SKIP_RETURN_CODE 77
    RESOURCE_LOCK loopback_load)
endif()

# Disaggregated plans end to end: prefill -> UCX KV pull -> decode, kill -9 of either kind of
# worker, refused transfers falling back to a local prefill.
if(TARGET dynamo-run AND TARGET dynamo-load)
  add_test(NAME run_disagg_e2e
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/runtime/run_disagg_e2e_test.sh
            $<TARGET_FILE:dynamo-run> $<TARGET_FILE:dynamo-load> ${PROJECT_SOURCE_DIR})
  set_tests_properties(run_disagg_e2e PROPERTIES LABELS "runtime" TIMEOUT 300 SKIP_RETURN_CODE 77
    RESOURCE_LOCK loopback_load)
endif()

# The SLA planner in dynamo-run: local worker processes started and drained under a changing
# load; the Kubernetes connector (kubectl mode, a fake kubectl) patching replicas.
if(TARGET dynamo-run AND TARGET dynamo-load)
  add_test(NAME run_planner_e2e
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/runtime/run_planner_e2e_test.sh
            $<TARGET_FILE:dynamo-run> $<TARGET_FILE:dynamo-load> ${PROJECT_SOURCE_DIR})
  set_tests_properties(run_planner_e2e PROPERTIES LABELS "runtime" TIMEOUT 300
    SKIP_RETURN_CODE 77 RESOURCE_LOCK loopback_load)
endif()

# Simulator vs runtime (design.md, "one component, two clocks"): the same plan and workload
# through dynamo-sim run and dynamo-run --engine mock: identical routing decisions, p50 TTFT and
# ITL within 10%. Real-time latencies: it runs alone, and in the plain build only (the sanitizer
# builds run the same runtime paths in run_e2e and run_disagg_e2e; this test would add minutes
# there and compare nothing new).
if(TARGET dynamo-sim AND TARGET dynamo-run AND TARGET dynamo-load AND NOT DYNAMO_SANITIZE)
  add_test(NAME sim_vs_real
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/runtime/sim_vs_real_test.sh $<TARGET_FILE:dynamo-sim>
            $<TARGET_FILE:dynamo-run> $<TARGET_FILE:dynamo-load> ${PROJECT_SOURCE_DIR})
  set_tests_properties(sim_vs_real PROPERTIES LABELS "runtime" TIMEOUT 240 SKIP_RETURN_CODE 77
    RESOURCE_LOCK loopback_load RUN_SERIAL TRUE)
endif()
