#pragma once
// RunDir: dynamo-run's discovery through files (local mode). Layout of a run directory:
//   frontend.json          the frontend's address {host, port, pid}
//   workers/<name>.json    one registration per live worker {name, pool, replica, role, host,
//                          port, pid, heartbeat}; rewritten (temporary file + rename, so a reader
//                          never sees half a file) every heartbeat with a larger `heartbeat`
//                          counter, and removed when the worker leaves cleanly
//   routing.csv            the frontend's routing decisions (for the sim-vs-real comparison)
// Liveness is judged by the reader's own clock: a registration whose counter has not advanced
// for the timeout is stale (no clocks are compared across processes).
//
// Plain file I/O; not thread-safe; cheap to copy.
#include <cstdint>
#include <string>
#include <vector>

#include "core/plan/plan.h"
#include "core/status.h"

namespace dynamo::service {

struct Registration {
  std::string name;      // unique in the run: "<role>-<pool>-<replica>" for launched workers
  int32_t pool = 0;      // index in plan.workers
  int32_t replica = -1;  // the launcher's replica number in the pool; -1: not launched by it
  WorkerRole role = WorkerRole::kAggregated;
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  uint32_t pid = 0;
  uint64_t heartbeat = 0;
};

struct FrontendAddress {
  std::string host;
  uint16_t port = 0;
  uint32_t pid = 0;
};

class RunDir {
 public:
  // Creates `path` and path/workers when missing (create) or requires them (!create). The error
  // names the path and the OS reason.
  static StatusOr<RunDir> Open(const std::string& path, bool create);

  const std::string& path() const { return path_; }
  std::string WorkerFile(const std::string& name) const;

  Status WriteRegistration(const Registration& r) const;
  // Missing is fine (already removed).
  Status RemoveRegistration(const std::string& name) const;
  // Every readable registration, sorted by name. Files that do not parse (a foreign file) are
  // skipped and listed in `skipped` (file: reason) when non-null.
  std::vector<Registration> Scan(std::vector<std::string>* skipped = nullptr) const;

  Status WriteFrontend(const FrontendAddress& a) const;
  StatusOr<FrontendAddress> ReadFrontend() const;

 private:
  explicit RunDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// JSON text of a registration, and back (errors name the field).
std::string RegistrationJson(const Registration& r);
StatusOr<Registration> ParseRegistration(std::string_view text, const std::string& source);

}  // namespace dynamo::service
