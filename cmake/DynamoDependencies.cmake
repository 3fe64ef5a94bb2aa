# Finds every dependency the project uses. Required ones fail configuration with the Debian
# package to install; CUDA and UCX follow DYNAMO_WITH_CUDA / DYNAMO_WITH_UCX (ON, OFF, AUTO).

macro(dynamo_require pkg debian)
  if(NOT ${pkg}_FOUND)
    message(FATAL_ERROR "${pkg} not found: install it with 'apt-get install ${debian}' "
                        "or run scripts/setup.sh")
  endif()
endmacro()

find_package(Threads REQUIRED)
find_package(Eigen3 3.3 NO_MODULE QUIET)
dynamo_require(Eigen3 libeigen3-dev)
find_package(Boost 1.71 QUIET)  # Boost.Graph is header-only for what we use
dynamo_require(Boost libboost-graph-dev)
find_package(SQLite3 QUIET)
dynamo_require(SQLite3 libsqlite3-dev)
find_package(CLI11 CONFIG QUIET)
dynamo_require(CLI11 libcli11-dev)
find_package(nlohmann_json 3.9 CONFIG QUIET)
dynamo_require(nlohmann_json nlohmann-json3-dev)
# xxHash: the router's block hashes are XXH3-64 (seed 1337), bit-compatible with Dynamo's and
# therefore with the KV events real vLLM/SGLang engines publish. Used header-only (inlined).
find_path(XXHASH_INCLUDE_DIR xxhash.h)
if(XXHASH_INCLUDE_DIR)
  set(xxHash_FOUND TRUE)
  add_library(dynamo_xxhash INTERFACE)
  target_include_directories(dynamo_xxhash SYSTEM INTERFACE ${XXHASH_INCLUDE_DIR})
  target_compile_definitions(dynamo_xxhash INTERFACE XXH_INLINE_ALL)
endif()
dynamo_require(xxHash libxxhash-dev)
if(DYNAMO_BUILD_TESTS)
  find_package(GTest CONFIG QUIET)
  dynamo_require(GTest "libgtest-dev libgmock-dev")
endif()
if(DYNAMO_BUILD_BENCHMARKS)
  find_package(benchmark CONFIG QUIET)
  dynamo_require(benchmark libbenchmark-dev)
endif()

# UCX through pkg-config.
set(DYNAMO_UCX_ENABLED OFF)
if(NOT DYNAMO_WITH_UCX STREQUAL "OFF")
  find_package(PkgConfig QUIET)
  if(PkgConfig_FOUND)
    pkg_check_modules(UCX QUIET IMPORTED_TARGET ucx)
  endif()
  if(UCX_FOUND)
    set(DYNAMO_UCX_ENABLED ON)
  elseif(DYNAMO_WITH_UCX STREQUAL "ON")
    message(FATAL_ERROR "DYNAMO_WITH_UCX=ON but UCX was not found: apt-get install libucx-dev")
  endif()
endif()

# CUDA toolkit at its standard install location unless CUDAToolkit_ROOT says otherwise.
set(DYNAMO_CUDA_ENABLED OFF)
if(NOT DYNAMO_WITH_CUDA STREQUAL "OFF")
  if(NOT CUDAToolkit_ROOT AND EXISTS /usr/local/cuda)
    set(CUDAToolkit_ROOT /usr/local/cuda)
  endif()
  find_package(CUDAToolkit QUIET)
  if(CUDAToolkit_FOUND)
    set(DYNAMO_CUDA_ENABLED ON)
  elseif(DYNAMO_WITH_CUDA STREQUAL "ON")
    message(FATAL_ERROR "DYNAMO_WITH_CUDA=ON but the CUDA toolkit was not found; set "
                        "CUDAToolkit_ROOT or install it under /usr/local/cuda")
  endif()
endif()
