# Layered libraries. Each project library declares its layer; linking a library of a layer it
# may not depend on fails configuration. The direction (design.md, "Layers and folders"):
#
#   core          <- everything
#   runtime_core  (router, engine scheduler, kv-transfer cores)   may use: core
#   planner_core  (predictors, SLA planner)                        may use: core runtime_core
#   sim           (event queue, drivers, network model, sweep)     may use: core runtime_core planner_core
#   runtime_io    (frontend, UCX transport, services)              may use: core runtime_core planner_core
#   profiler      (kernel suites, DB writer, importers)            may use: core
#   configurator  (search space, emitters)                         may use: core runtime_core planner_core sim
#   cli           (main()s and flags)                              may use: all
#
# sim never links runtime_io (no sockets/UCX/HTTP in the simulator); runtime_io never links sim.

set(DYNAMO_LAYER_core "")
set(DYNAMO_LAYER_runtime_core "core")
set(DYNAMO_LAYER_planner_core "core;runtime_core")
set(DYNAMO_LAYER_sim "core;runtime_core;planner_core")
set(DYNAMO_LAYER_runtime_io "core;runtime_core;planner_core")
set(DYNAMO_LAYER_profiler "core")
set(DYNAMO_LAYER_configurator "core;runtime_core;planner_core;sim")
set(DYNAMO_LAYER_cli "core;runtime_core;planner_core;sim;runtime_io;profiler;configurator")

# dynamo_add_library(NAME LAYER layer SOURCES ... [DEPS project libs...] [EXTERNAL targets...])
function(dynamo_add_library name)
  cmake_parse_arguments(ARG "" "LAYER" "SOURCES;DEPS;EXTERNAL;PRIVATE_EXTERNAL" ${ARGN})
  if(NOT DEFINED DYNAMO_LAYER_${ARG_LAYER})
    message(FATAL_ERROR "${name}: unknown layer '${ARG_LAYER}'")
  endif()
  foreach(dep IN LISTS ARG_DEPS)
    get_property(dep_layer GLOBAL PROPERTY DYNAMO_LIB_LAYER_${dep})
    if(NOT dep_layer)
      message(FATAL_ERROR "${name}: dependency '${dep}' is not a dynamo library declared before it")
    endif()
    if(NOT dep_layer STREQUAL ARG_LAYER AND NOT dep_layer IN_LIST DYNAMO_LAYER_${ARG_LAYER})
      message(FATAL_ERROR "Layering violation: ${name} (layer ${ARG_LAYER}) may not depend on "
                          "${dep} (layer ${dep_layer}); allowed: ${DYNAMO_LAYER_${ARG_LAYER}}")
    endif()
  endforeach()
  add_library(${name} STATIC ${ARG_SOURCES})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS} ${ARG_EXTERNAL} PRIVATE ${ARG_PRIVATE_EXTERNAL})
  set_property(GLOBAL PROPERTY DYNAMO_LIB_LAYER_${name} ${ARG_LAYER})
endfunction()
