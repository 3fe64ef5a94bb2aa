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
