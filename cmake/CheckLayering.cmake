cmake_minimum_required(VERSION 3.22)
# cmake -DROOT=<repo> -P CheckLayering.cmake
# Source-level half of the layering rules (the CMake target half is in DynamoLayers.cmake):
# 1. a folder includes project headers only from the folders it may depend on;
# 2. core headers never include JSON, SQLite, CUDA, UCX or HTTP headers (they stay in .cc files);
# 3. sim/ never includes I/O libraries (UCX, Asio/Beast, CUDA).
set(allowed_core "core")
set(allowed_runtime "core;runtime;planner")
set(allowed_planner "core;runtime;planner")
set(allowed_sim "core;runtime;planner;sim")
set(allowed_profiler "core;profiler")
set(allowed_configurator "core;runtime;planner;sim;configurator")
set(project_dirs "core;runtime;planner;sim;profiler;configurator;cli")

set(violations "")
foreach(dir IN ITEMS core runtime planner sim profiler configurator)
  file(GLOB_RECURSE files "${ROOT}/${dir}/*.h" "${ROOT}/${dir}/*.cc" "${ROOT}/${dir}/*.cu")
  foreach(f IN LISTS files)
    file(STRINGS "${f}" includes REGEX "^[ \t]*#[ \t]*include")
    file(RELATIVE_PATH rel "${ROOT}" "${f}")
    foreach(line IN LISTS includes)
      if(line MATCHES "#[ \t]*include[ \t]*\"([a-z_]+)/")
        set(target_dir "${CMAKE_MATCH_1}")
        if(target_dir IN_LIST project_dirs AND NOT target_dir IN_LIST allowed_${dir})
          list(APPEND violations "${rel}: includes ${target_dir}/ (allowed: ${allowed_${dir}})")
        endif()
      endif()
      if(dir STREQUAL "core" AND rel MATCHES "\\.h$" AND
         line MATCHES "<(nlohmann/|sqlite3|cuda|cupti|cublas|nccl|ucp/|ucs/|boost/beast|boost/asio)")
        list(APPEND violations "${rel}: core header includes <${CMAKE_MATCH_1}...> (keep it in the .cc)")
      endif()
      if(dir STREQUAL "sim" AND line MATCHES "<(ucp/|ucs/|boost/beast|boost/asio|cuda|cupti|nccl)")
        list(APPEND violations "${rel}: the simulator includes I/O library <${CMAKE_MATCH_1}...>")
      endif()
    endforeach()
  endforeach()
endforeach()

if(violations)
  list(JOIN violations "\n  " msg)
  message(FATAL_ERROR "Layering violations:\n  ${msg}")
endif()
message(STATUS "layering: ok")
