#pragma once
// PerfDb: the SQLite performance database. One file holds the devices it describes and, per
// device, one table per operator family (gemm, attn_context, attn_decode, mla_context,
// mla_decode, collective, transfer) plus host_overhead. Every row carries a latency
// distribution (median, p10, p90, samples) and its provenance. Schema versioned with
// `PRAGMA user_version`, identified by `PRAGMA application_id`, upgraded by migrations.
//
// sqlite3 stays inside perf_db.cc. Not thread-safe: one PerfDb per thread.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/perf/op_shape.h"
#include "core/status.h"

namespace dynamo::perf {

inline constexpr int kPerfDbSchemaVersion = 2;
inline constexpr int32_t kPerfDbApplicationId = 0x44594E50;  // "DYNP"

// What a database records about the device its rows were measured on (devices table).
struct DeviceInfo {
  std::string name;         // unique per database: "cpu:AMD EPYC 7B13:2t", "cuda:NVIDIA H200:0"
  std::string kind;         // "cpu" | "cuda" | "imported"
  std::string catalog_gpu;  // hardware catalog name when known ("h200_sxm"), else ""
  std::string driver_version;
  std::string cuda_version;
  std::string library_versions;  // "cublasLt 13.0.0; nccl 2.27.7; cupti 13; timer=cupti"
  int64_t sm_clock_mhz = 0;
  int64_t mem_clock_mhz = 0;
  int64_t memory_bytes = 0;
  int64_t sm_count = 0;
  std::string cpu_model;
  int64_t threads = 0;         // CPU threads used by the kernels
  double peak_flops_bf16 = 0;  // FLOP/s for the roofline; 0 when unknown
  double peak_flops_fp32 = 0;
  double memory_bandwidth_bytes_per_s = 0;
  std::string tool_version;  // "dynamo-profile 0.1.0"
  int64_t id = 0;            // row id in this database (set by Devices(); ignored by UpsertDevice)
  std::string created_at;    // ISO-8601 UTC time the device was first recorded (set by the writer)
};

enum class Provenance { kMeasured, kImported, kAnalytic };
std::string_view ProvenanceName(Provenance p);

struct PerfRow {
  OpShape shape;
  std::string impl;  // collectives: "nccl" | "custom" (vLLM custom all-reduce); else ""
  Timing timing;
  Provenance provenance = Provenance::kMeasured;
  std::string source;  // "dynamo-profile cuda" or the imported file name
};

struct HostOverheadRow {
  HostOverheadKind kind = HostOverheadKind::kLaunch;
  Timing timing;
  Provenance provenance = Provenance::kMeasured;
  std::string source;
};

// Row counts per table for one device, for `dynamo-profile show`.
struct TableSummary {
  std::string table;
  int64_t rows = 0;
  std::map<std::string, int64_t> by_provenance;
};

class PerfDb {
 public:
  enum class Mode { kReadOnly, kReadWrite };

  // kReadOnly: the file must exist and be a dynamo performance database of a supported schema.
  // kReadWrite: creates the file when missing, upgrades an older schema. Errors name the file:
  // not SQLite, a foreign SQLite file, a schema newer than this build.
  static StatusOr<std::unique_ptr<PerfDb>> Open(const std::string& path, Mode mode);
  ~PerfDb();
  PerfDb(const PerfDb&) = delete;
  PerfDb& operator=(const PerfDb&) = delete;

  const std::string& path() const { return path_; }
  int schema_version() const { return schema_version_; }

  StatusOr<std::vector<DeviceInfo>> Devices() const;
  // Inserts the device, or returns the id of the device with the same name.
  StatusOr<int64_t> UpsertDevice(const DeviceInfo& device);
  // The id of `name`, or of the only device when `name` is empty; NotFound listing the names.
  StatusOr<int64_t> FindDevice(const std::string& name) const;

  // Writes are grouped in transactions: Begin(), any number of Insert*, Commit(). A transaction
  // not committed (crash, Ctrl-C, error) leaves the database as it was before Begin().
  Status Begin();
  Status Commit();
  Status Rollback();
  // Insert or replace (same device and key).
  Status Insert(int64_t device_id, const PerfRow& row);
  Status InsertHostOverhead(int64_t device_id, const HostOverheadRow& row);

  // Every row of a device; errors name the table and rowid of a bad row.
  StatusOr<std::vector<PerfRow>> Rows(int64_t device_id) const;
  StatusOr<std::vector<HostOverheadRow>> HostOverheads(int64_t device_id) const;
  StatusOr<std::vector<TableSummary>> Summary(int64_t device_id) const;

  // For tests of the upgrade path: creates a database at an older schema version.
  static Status CreateAtVersionForTest(const std::string& path, int version);

  struct Impl;  // opaque: the sqlite3 handle

 private:
  PerfDb(std::string path, std::unique_ptr<Impl> impl, int version);
  std::string path_;
  std::unique_ptr<Impl> impl_;
  int schema_version_ = 0;
};

// A stable key for a row's shape (+impl), to skip measured points when a profile resumes.
std::string ShapeKey(const OpShape& shape, const std::string& impl);

}  // namespace dynamo::perf
