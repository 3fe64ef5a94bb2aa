#include "core/perf/perf_db.h"

#include <sqlite3.h>

#include <array>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <string_view>
#include <utility>

namespace dynamo::perf {
namespace {

// ---------------------------------------------------------------------------------------------
// Table layouts. Each operator family is one table: its key columns (text first, then
// integers), then the shared value columns.

struct Layout {
  std::string_view table;
  std::vector<std::string_view> text_keys;
  std::vector<std::string_view> int_keys;
};

const std::array<Layout, 7>& Layouts() {
  static const std::array<Layout, 7> kLayouts = {{
      {"gemm", {"dtype"}, {"m", "n", "k"}},
      {"attn_context",
       {"dtype", "kv_dtype"},
       {"batch", "q_len", "kv_len", "heads", "kv_heads", "head_dim"}},
      {"attn_decode", {"dtype", "kv_dtype"}, {"batch", "kv_len", "heads", "kv_heads", "head_dim"}},
      {"mla_context",
       {"dtype", "kv_dtype"},
       {"batch", "q_len", "kv_len", "heads", "kv_lora_rank", "qk_nope_dim", "qk_rope_dim",
        "v_head_dim"}},
      {"mla_decode",
       {"dtype", "kv_dtype"},
       {"batch", "kv_len", "heads", "kv_lora_rank", "qk_rope_dim"}},
      {"collective", {"op", "dtype", "impl"}, {"gpus", "bytes"}},
      {"transfer", {"kind", "transport"}, {"bytes"}},
  }};
  return kLayouts;
}

struct KeyValues {
  std::vector<std::string> text;
  std::vector<int64_t> ints;
};

std::string D(DType d) { return std::string(DTypeName(d)); }

KeyValues KeyOf(const OpShape& shape, const std::string& impl) {
  struct Visitor {
    const std::string& impl;
    KeyValues operator()(const GemmShape& g) const { return {{D(g.dtype)}, {g.m, g.n, g.k}}; }
    KeyValues operator()(const AttnContextShape& a) const {
      return {{D(a.dtype), D(a.kv_dtype)},
              {a.batch, a.q_len, a.kv_len, a.heads, a.kv_heads, a.head_dim}};
    }
    KeyValues operator()(const AttnDecodeShape& a) const {
      return {{D(a.dtype), D(a.kv_dtype)}, {a.batch, a.kv_len, a.heads, a.kv_heads, a.head_dim}};
    }
    KeyValues operator()(const MlaContextShape& a) const {
      return {{D(a.dtype), D(a.kv_dtype)},
              {a.batch, a.q_len, a.kv_len, a.heads, a.kv_lora_rank, a.qk_nope_dim, a.qk_rope_dim,
               a.v_head_dim}};
    }
    KeyValues operator()(const MlaDecodeShape& a) const {
      return {{D(a.dtype), D(a.kv_dtype)},
              {a.batch, a.kv_len, a.heads, a.kv_lora_rank, a.qk_rope_dim}};
    }
    KeyValues operator()(const CollectiveShape& c) const {
      return {{std::string(CollectiveName(c.op)), D(c.dtype), impl.empty() ? "nccl" : impl},
              {c.gpus, c.bytes}};
    }
    KeyValues operator()(const TransferShape& t) const {
      return {{std::string(TransferKindName(t.kind)), t.transport}, {t.bytes}};
    }
  };
  return std::visit(Visitor{impl}, shape);
}

// Rebuilds the shape of family `index` from its key columns.
StatusOr<OpShape> ShapeOf(size_t index, const KeyValues& k, std::string* impl) {
  const auto& t = k.text;
  const auto& v = k.ints;
  switch (index) {
    case 0: {
      ASSIGN_OR_RETURN(DType d, ParseDType(t[0]));
      return OpShape(GemmShape{d, v[0], v[1], v[2]});
    }
    case 1: {
      ASSIGN_OR_RETURN(DType d, ParseDType(t[0]));
      ASSIGN_OR_RETURN(DType kv, ParseDType(t[1]));
      return OpShape(AttnContextShape{d, kv, v[0], v[1], v[2], v[3], v[4], v[5]});
    }
    case 2: {
      ASSIGN_OR_RETURN(DType d, ParseDType(t[0]));
      ASSIGN_OR_RETURN(DType kv, ParseDType(t[1]));
      return OpShape(AttnDecodeShape{d, kv, v[0], v[1], v[2], v[3], v[4]});
    }
    case 3: {
      ASSIGN_OR_RETURN(DType d, ParseDType(t[0]));
      ASSIGN_OR_RETURN(DType kv, ParseDType(t[1]));
      return OpShape(MlaContextShape{d, kv, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]});
    }
    case 4: {
      ASSIGN_OR_RETURN(DType d, ParseDType(t[0]));
      ASSIGN_OR_RETURN(DType kv, ParseDType(t[1]));
      return OpShape(MlaDecodeShape{d, kv, v[0], v[1], v[2], v[3], v[4]});
    }
    case 5: {
      ASSIGN_OR_RETURN(Collective op, ParseCollective(t[0]));
      ASSIGN_OR_RETURN(DType d, ParseDType(t[1]));
      *impl = t[2];
      return OpShape(CollectiveShape{op, d, v[0], v[1]});
    }
    case 6: {
      ASSIGN_OR_RETURN(TransferKind kind, ParseTransferKind(t[0]));
      return OpShape(TransferShape{kind, t[1], v[0]});
    }
  }
  return Internal("unknown operator family");
}

std::string ValueColumnsSql() {
  return "median_us REAL NOT NULL, p10_us REAL NOT NULL, p90_us REAL NOT NULL, "
         "samples INTEGER NOT NULL, provenance TEXT NOT NULL CHECK (provenance IN "
         "('measured', 'imported', 'analytic')), source TEXT NOT NULL";
}

std::string CreateTableSql(const Layout& l) {
  std::string cols = "device_id INTEGER NOT NULL REFERENCES devices(id)";
  std::string key = "device_id";
  for (auto c : l.text_keys) {
    cols += ", " + std::string(c) + " TEXT NOT NULL";
    key += ", " + std::string(c);
  }
  for (auto c : l.int_keys) {
    cols += ", " + std::string(c) + " INTEGER NOT NULL";
    key += ", " + std::string(c);
  }
  return "CREATE TABLE " + std::string(l.table) + " (" + cols + ", " + ValueColumnsSql() +
         ", PRIMARY KEY (" + key + "));";
}

// Migration i upgrades user_version i to i + 1.
std::vector<std::string> Migrations() {
  std::string v1 =
      "CREATE TABLE devices (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, kind TEXT NOT "
      "NULL, catalog_gpu TEXT NOT NULL, driver_version TEXT NOT NULL, cuda_version TEXT NOT "
      "NULL, library_versions TEXT NOT NULL, sm_clock_mhz INTEGER NOT NULL, mem_clock_mhz "
      "INTEGER NOT NULL, memory_bytes INTEGER NOT NULL, sm_count INTEGER NOT NULL, cpu_model "
      "TEXT NOT NULL, threads INTEGER NOT NULL, peak_flops_bf16 REAL NOT NULL, peak_flops_fp32 "
      "REAL NOT NULL, memory_bandwidth REAL NOT NULL, tool_version TEXT NOT NULL, created_at "
      "TEXT NOT NULL);";
  for (const Layout& l : Layouts()) v1 += CreateTableSql(l);
  v1 +=
      "CREATE TABLE host_overhead (device_id INTEGER NOT NULL REFERENCES devices(id), kind "
      "TEXT NOT NULL, " +
      ValueColumnsSql() + ", PRIMARY KEY (device_id, kind));";
  // v2: a key/value table for database-wide notes (who wrote it, from what).
  std::string v2 = "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);";
  return {v1, v2};
}

StatusOr<Provenance> ParseProvenance(std::string_view s) {
  if (s == "measured") return Provenance::kMeasured;
  if (s == "imported") return Provenance::kImported;
  if (s == "analytic") return Provenance::kAnalytic;
  return InvalidArgument("provenance '" + std::string(s) +
                         "' unknown; one of measured, imported, analytic");
}

}  // namespace

std::string_view ProvenanceName(Provenance p) {
  switch (p) {
    case Provenance::kMeasured:
      return "measured";
    case Provenance::kImported:
      return "imported";
    case Provenance::kAnalytic:
      return "analytic";
  }
  return "?";
}

std::string ShapeKey(const OpShape& shape, const std::string& impl) {
  KeyValues k = KeyOf(shape, impl);
  std::string s(OpFamilyName(shape));
  for (const auto& t : k.text) s += "|" + t;
  for (int64_t v : k.ints) s += "|" + std::to_string(v);
  return s;
}

// ---------------------------------------------------------------------------------------------

struct PerfDb::Impl {
  sqlite3* db = nullptr;
  std::string path;
  std::map<std::string, sqlite3_stmt*> statements;  // prepared once, reused by Insert
  ~Impl() {
    for (auto& [sql, stmt] : statements) sqlite3_finalize(stmt);
    if (db) sqlite3_close_v2(db);
  }

  // A cached prepared statement, reset and unbound; nullptr on error.
  sqlite3_stmt* Prepared(const std::string& sql) {
    auto it = statements.find(sql);
    if (it != statements.end()) {
      sqlite3_reset(it->second);
      sqlite3_clear_bindings(it->second);
      return it->second;
    }
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) return nullptr;
    statements[sql] = stmt;
    return stmt;
  }

  Status Error(std::string_view what) const {
    return IoError(path + ": " + std::string(what) + ": " + sqlite3_errmsg(db));
  }

  Status Exec(const std::string& sql) const {
    char* err = nullptr;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      return IoError(path + ": " + msg);
    }
    return Status::Ok();
  }

  // Runs `sql` and calls `row` for each result row.
  Status Query(const std::string& sql, const std::function<Status(sqlite3_stmt*)>& row,
               const std::function<void(sqlite3_stmt*)>& bind = nullptr) const {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      return Error("query failed");
    }
    if (bind) bind(stmt);
    Status status;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      status = row(stmt);
      if (!status.ok()) break;
    }
    if (status.ok() && rc != SQLITE_DONE) status = Error("reading rows failed");
    sqlite3_finalize(stmt);
    return status;
  }

  StatusOr<int64_t> PragmaInt(const std::string& name) const {
    int64_t value = 0;
    RETURN_IF_ERROR(Query("PRAGMA " + name + ";", [&](sqlite3_stmt* s) {
      value = sqlite3_column_int64(s, 0);
      return Status::Ok();
    }));
    return value;
  }
};

namespace {

std::string Text(sqlite3_stmt* s, int col) {
  const unsigned char* t = sqlite3_column_text(s, col);
  return t ? reinterpret_cast<const char*>(t) : "";
}

Status CheckTiming(const Timing& t, std::string_view where) {
  auto ok = [](double v) { return std::isfinite(v) && v > 0; };
  if (!ok(t.median_us) || !ok(t.p10_us) || !ok(t.p90_us) || t.samples < 1) {
    return InvalidArgument(std::string(where) + ": latency median " + std::to_string(t.median_us) +
                           " us, p10 " + std::to_string(t.p10_us) + ", p90 " +
                           std::to_string(t.p90_us) + ", samples " + std::to_string(t.samples) +
                           " must be positive and finite; re-measure this point");
  }
  return Status::Ok();
}

}  // namespace

PerfDb::PerfDb(std::string path, std::unique_ptr<Impl> impl, int version)
    : path_(std::move(path)), impl_(std::move(impl)), schema_version_(version) {}
PerfDb::~PerfDb() = default;

static Status ApplyMigrations(PerfDb::Impl& impl, int from, int to) {
  const auto migrations = Migrations();
  RETURN_IF_ERROR(impl.Exec("BEGIN IMMEDIATE;"));
  for (int v = from; v < to; ++v) {
    Status s = impl.Exec(migrations[v]);
    if (!s.ok()) {
      (void)impl.Exec("ROLLBACK;");
      return s.WithContext("upgrading the schema from version " + std::to_string(v));
    }
  }
  Status s = impl.Exec("PRAGMA application_id = " + std::to_string(kPerfDbApplicationId) +
                       "; PRAGMA user_version = " + std::to_string(to) + "; COMMIT;");
  if (!s.ok()) (void)impl.Exec("ROLLBACK;");
  return s;
}

static StatusOr<std::unique_ptr<PerfDb::Impl>> OpenRaw(const std::string& path, bool write) {
  auto impl = std::make_unique<PerfDb::Impl>();
  impl->path = path;
  const int flags = write ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
  if (sqlite3_open_v2(path.c_str(), &impl->db, flags, nullptr) != SQLITE_OK) {
    std::string msg = impl->db ? sqlite3_errmsg(impl->db) : "out of memory";
    return IoError(path + ": cannot open the performance database: " + msg);
  }
  sqlite3_busy_timeout(impl->db, 5000);
  sqlite3_extended_result_codes(impl->db, 1);
  return impl;
}

Status PerfDb::CreateAtVersionForTest(const std::string& path, int version) {
  ASSIGN_OR_RETURN(auto impl, OpenRaw(path, true));
  return ApplyMigrations(*impl, 0, version);
}

StatusOr<std::unique_ptr<PerfDb>> PerfDb::Open(const std::string& path, Mode mode) {
  const bool write = mode == Mode::kReadWrite;
  if (!write) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) {
      return NotFound(path +
                      ": performance database not found; create one with "
                      "`dynamo-profile run` or `dynamo-profile import-aiconfigurator`");
    }
    if (size == 0) {
      return InvalidArgument(path +
                             ": the file is empty, not a performance database; create "
                             "one with `dynamo-profile run`");
    }
  }
  ASSIGN_OR_RETURN(auto impl, OpenRaw(path, write));
  auto app_id = impl->PragmaInt("application_id");
  if (!app_id.ok()) {
    return InvalidArgument(path + ": not a SQLite database (" + sqlite3_errmsg(impl->db) +
                           "); point at a file written by dynamo-profile");
  }
  ASSIGN_OR_RETURN(int64_t version, impl->PragmaInt("user_version"));
  int64_t tables = 0;
  RETURN_IF_ERROR(impl->Query("SELECT count(*) FROM sqlite_master;", [&](sqlite3_stmt* s) {
    tables = sqlite3_column_int64(s, 0);
    return Status::Ok();
  }));
  if (app_id.value() != kPerfDbApplicationId && (tables > 0 || !write)) {
    return InvalidArgument(path +
                           ": a SQLite file but not a dynamo performance database "
                           "(application_id " +
                           std::to_string(app_id.value()) + ", " + std::to_string(tables) +
                           " schema objects); point at a file written by dynamo-profile");
  }
  if (version > kPerfDbSchemaVersion) {
    return FailedPrecondition(path + ": schema version " + std::to_string(version) +
                              " is newer than this build supports (" +
                              std::to_string(kPerfDbSchemaVersion) + "); upgrade dynamo");
  }
  if (version < kPerfDbSchemaVersion) {
    if (!write) {
      // Read-only users of an older database: upgrade a private in-memory view is not
      // possible with SQLite files, so ask for the one-line fix.
      return FailedPrecondition(path + ": schema version " + std::to_string(version) +
                                " is older than this build's (" +
                                std::to_string(kPerfDbSchemaVersion) +
                                "); upgrade it with `dynamo-profile upgrade " + path + "`");
    }
    RETURN_IF_ERROR(ApplyMigrations(*impl, static_cast<int>(version), kPerfDbSchemaVersion));
    version = kPerfDbSchemaVersion;
  }
  return std::unique_ptr<PerfDb>(new PerfDb(path, std::move(impl), static_cast<int>(version)));
}

StatusOr<std::vector<DeviceInfo>> PerfDb::Devices() const {
  std::vector<DeviceInfo> out;
  RETURN_IF_ERROR(impl_->Query(
      "SELECT name, kind, catalog_gpu, driver_version, cuda_version, library_versions, "
      "sm_clock_mhz, mem_clock_mhz, memory_bytes, sm_count, cpu_model, threads, "
      "peak_flops_bf16, peak_flops_fp32, memory_bandwidth, tool_version, created_at, id FROM "
      "devices ORDER BY id;",
      [&](sqlite3_stmt* s) {
        DeviceInfo d;
        d.name = Text(s, 0);
        d.kind = Text(s, 1);
        d.catalog_gpu = Text(s, 2);
        d.driver_version = Text(s, 3);
        d.cuda_version = Text(s, 4);
        d.library_versions = Text(s, 5);
        d.sm_clock_mhz = sqlite3_column_int64(s, 6);
        d.mem_clock_mhz = sqlite3_column_int64(s, 7);
        d.memory_bytes = sqlite3_column_int64(s, 8);
        d.sm_count = sqlite3_column_int64(s, 9);
        d.cpu_model = Text(s, 10);
        d.threads = sqlite3_column_int64(s, 11);
        d.peak_flops_bf16 = sqlite3_column_double(s, 12);
        d.peak_flops_fp32 = sqlite3_column_double(s, 13);
        d.memory_bandwidth_bytes_per_s = sqlite3_column_double(s, 14);
        d.tool_version = Text(s, 15);
        d.created_at = Text(s, 16);
        d.id = sqlite3_column_int64(s, 17);
        out.push_back(std::move(d));
        return Status::Ok();
      }));
  return out;
}

StatusOr<int64_t> PerfDb::FindDevice(const std::string& name) const {
  std::vector<std::pair<int64_t, std::string>> devices;
  RETURN_IF_ERROR(impl_->Query("SELECT id, name FROM devices ORDER BY id;", [&](sqlite3_stmt* s) {
    devices.emplace_back(sqlite3_column_int64(s, 0), Text(s, 1));
    return Status::Ok();
  }));
  if (devices.empty()) {
    return NotFound(path_ + ": no device recorded; the database is empty");
  }
  std::string names;
  for (const auto& [id, n] : devices) {
    if (!name.empty() && n == name) return id;
    names += (names.empty() ? "" : ", ") + n;
  }
  if (name.empty() && devices.size() == 1) return devices[0].first;
  if (name.empty()) {
    return InvalidArgument(path_ + ": holds " + std::to_string(devices.size()) +
                           " devices; choose one with --device (" + names + ")");
  }
  return NotFound(path_ + ": device '" + name + "' not found; the database holds " + names);
}

StatusOr<int64_t> PerfDb::UpsertDevice(const DeviceInfo& d) {
  auto existing = FindDevice(d.name);
  if (existing.ok()) return existing.value();
  sqlite3_stmt* stmt = nullptr;
  const char* sql =
      "INSERT INTO devices (name, kind, catalog_gpu, driver_version, cuda_version, "
      "library_versions, sm_clock_mhz, mem_clock_mhz, memory_bytes, sm_count, cpu_model, "
      "threads, peak_flops_bf16, peak_flops_fp32, memory_bandwidth, tool_version, created_at) "
      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?);";
  if (sqlite3_prepare_v2(impl_->db, sql, -1, &stmt, nullptr) != SQLITE_OK) {
    return impl_->Error("recording the device");
  }
  int i = 0;
  auto text = [&](const std::string& v) {
    sqlite3_bind_text(stmt, ++i, v.c_str(), -1, SQLITE_TRANSIENT);
  };
  auto num = [&](int64_t v) { sqlite3_bind_int64(stmt, ++i, v); };
  auto real = [&](double v) { sqlite3_bind_double(stmt, ++i, v); };
  text(d.name);
  text(d.kind);
  text(d.catalog_gpu);
  text(d.driver_version);
  text(d.cuda_version);
  text(d.library_versions);
  num(d.sm_clock_mhz);
  num(d.mem_clock_mhz);
  num(d.memory_bytes);
  num(d.sm_count);
  text(d.cpu_model);
  num(d.threads);
  real(d.peak_flops_bf16);
  real(d.peak_flops_fp32);
  real(d.memory_bandwidth_bytes_per_s);
  text(d.tool_version);
  text(d.created_at);
  const int rc = sqlite3_step(stmt);
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE) return impl_->Error("recording the device");
  return static_cast<int64_t>(sqlite3_last_insert_rowid(impl_->db));
}

Status PerfDb::Begin() { return impl_->Exec("BEGIN IMMEDIATE;"); }
Status PerfDb::Commit() { return impl_->Exec("COMMIT;"); }
Status PerfDb::Rollback() { return impl_->Exec("ROLLBACK;"); }

namespace {

void BindValues(sqlite3_stmt* stmt, int first, const Timing& t, Provenance p,
                const std::string& source) {
  sqlite3_bind_double(stmt, first, t.median_us);
  sqlite3_bind_double(stmt, first + 1, t.p10_us);
  sqlite3_bind_double(stmt, first + 2, t.p90_us);
  sqlite3_bind_int64(stmt, first + 3, t.samples);
  sqlite3_bind_text(stmt, first + 4, ProvenanceName(p).data(), -1, SQLITE_STATIC);
  sqlite3_bind_text(stmt, first + 5, source.c_str(), -1, SQLITE_TRANSIENT);
}

constexpr std::string_view kValueNames = "median_us, p10_us, p90_us, samples, provenance, source";

}  // namespace

Status PerfDb::Insert(int64_t device_id, const PerfRow& row) {
  RETURN_IF_ERROR(Validate(row.shape).WithContext(Describe(row.shape)));
  RETURN_IF_ERROR(CheckTiming(row.timing, Describe(row.shape)));
  const Layout& l = Layouts()[row.shape.index()];
  KeyValues k = KeyOf(row.shape, row.impl);
  std::string cols = "device_id";
  std::string marks = "?";
  for (auto c : l.text_keys) cols += ", " + std::string(c), marks += ",?";
  for (auto c : l.int_keys) cols += ", " + std::string(c), marks += ",?";
  cols += ", " + std::string(kValueNames);
  marks += ",?,?,?,?,?,?";
  const std::string sql =
      "INSERT OR REPLACE INTO " + std::string(l.table) + " (" + cols + ") VALUES (" + marks + ");";
  sqlite3_stmt* stmt = impl_->Prepared(sql);
  if (stmt == nullptr) return impl_->Error("writing " + std::string(l.table));
  int i = 1;
  sqlite3_bind_int64(stmt, i++, device_id);
  for (const auto& t : k.text) sqlite3_bind_text(stmt, i++, t.c_str(), -1, SQLITE_TRANSIENT);
  for (int64_t v : k.ints) sqlite3_bind_int64(stmt, i++, v);
  BindValues(stmt, i, row.timing, row.provenance, row.source);
  const int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE) return impl_->Error("writing " + std::string(l.table));
  return Status::Ok();
}

Status PerfDb::InsertHostOverhead(int64_t device_id, const HostOverheadRow& row) {
  RETURN_IF_ERROR(
      CheckTiming(row.timing, "host_overhead " + std::string(HostOverheadName(row.kind))));
  const std::string sql = "INSERT OR REPLACE INTO host_overhead (device_id, kind, " +
                          std::string(kValueNames) + ") VALUES (?,?,?,?,?,?,?,?);";
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(impl_->db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    return impl_->Error("writing host_overhead");
  }
  sqlite3_bind_int64(stmt, 1, device_id);
  sqlite3_bind_text(stmt, 2, HostOverheadName(row.kind).data(), -1, SQLITE_STATIC);
  BindValues(stmt, 3, row.timing, row.provenance, row.source);
  const int rc = sqlite3_step(stmt);
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE) return impl_->Error("writing host_overhead");
  return Status::Ok();
}

namespace {

struct ValueCols {
  Timing timing;
  Provenance provenance;
  std::string source;
};

StatusOr<ValueCols> ReadValues(sqlite3_stmt* s, int first, const std::string& where) {
  ValueCols v;
  v.timing.median_us = sqlite3_column_double(s, first);
  v.timing.p10_us = sqlite3_column_double(s, first + 1);
  v.timing.p90_us = sqlite3_column_double(s, first + 2);
  v.timing.samples = sqlite3_column_int64(s, first + 3);
  RETURN_IF_ERROR(CheckTiming(v.timing, where));
  auto p = ParseProvenance(Text(s, first + 4));
  if (!p.ok()) return p.status().WithContext(where);
  v.provenance = p.value();
  v.source = Text(s, first + 5);
  return v;
}

}  // namespace

StatusOr<std::vector<PerfRow>> PerfDb::Rows(int64_t device_id) const {
  std::vector<PerfRow> out;
  const auto& layouts = Layouts();
  for (size_t index = 0; index < layouts.size(); ++index) {
    const Layout& l = layouts[index];
    std::string cols = "rowid";
    for (auto c : l.text_keys) cols += ", " + std::string(c);
    for (auto c : l.int_keys) cols += ", " + std::string(c);
    cols += ", " + std::string(kValueNames);
    const std::string sql =
        "SELECT " + cols + " FROM " + std::string(l.table) + " WHERE device_id = ? ORDER BY rowid;";
    RETURN_IF_ERROR(impl_->Query(
        sql,
        [&](sqlite3_stmt* s) -> Status {
          const std::string where = path_ + ": " + std::string(l.table) + " row " +
                                    std::to_string(sqlite3_column_int64(s, 0));
          KeyValues k;
          int col = 1;
          for (size_t i = 0; i < l.text_keys.size(); ++i) k.text.push_back(Text(s, col++));
          for (size_t i = 0; i < l.int_keys.size(); ++i)
            k.ints.push_back(sqlite3_column_int64(s, col++));
          PerfRow row;
          auto shape = ShapeOf(index, k, &row.impl);
          if (!shape.ok()) return shape.status().WithContext(where);
          row.shape = shape.value();
          RETURN_IF_ERROR(Validate(row.shape).WithContext(where));
          ASSIGN_OR_RETURN(ValueCols v, ReadValues(s, col, where));
          row.timing = v.timing;
          row.provenance = v.provenance;
          row.source = std::move(v.source);
          out.push_back(std::move(row));
          return Status::Ok();
        },
        [&](sqlite3_stmt* s) { sqlite3_bind_int64(s, 1, device_id); }));
  }
  return out;
}

StatusOr<std::vector<HostOverheadRow>> PerfDb::HostOverheads(int64_t device_id) const {
  std::vector<HostOverheadRow> out;
  RETURN_IF_ERROR(impl_->Query(
      "SELECT rowid, kind, " + std::string(kValueNames) +
          " FROM host_overhead WHERE device_id = ? ORDER BY rowid;",
      [&](sqlite3_stmt* s) -> Status {
        const std::string where =
            path_ + ": host_overhead row " + std::to_string(sqlite3_column_int64(s, 0));
        auto kind = ParseHostOverhead(Text(s, 1));
        if (!kind.ok()) return kind.status().WithContext(where);
        ASSIGN_OR_RETURN(ValueCols v, ReadValues(s, 2, where));
        out.push_back({kind.value(), v.timing, v.provenance, std::move(v.source)});
        return Status::Ok();
      },
      [&](sqlite3_stmt* s) { sqlite3_bind_int64(s, 1, device_id); }));
  return out;
}

StatusOr<std::vector<TableSummary>> PerfDb::Summary(int64_t device_id) const {
  std::vector<TableSummary> out;
  std::vector<std::string> tables;
  for (const Layout& l : Layouts()) tables.emplace_back(l.table);
  tables.emplace_back("host_overhead");
  for (const std::string& table : tables) {
    TableSummary t;
    t.table = table;
    RETURN_IF_ERROR(impl_->Query(
        "SELECT provenance, count(*) FROM " + table +
            " WHERE device_id = ? GROUP BY provenance ORDER BY provenance;",
        [&](sqlite3_stmt* s) {
          const int64_t n = sqlite3_column_int64(s, 1);
          t.by_provenance[Text(s, 0)] = n;
          t.rows += n;
          return Status::Ok();
        },
        [&](sqlite3_stmt* s) { sqlite3_bind_int64(s, 1, device_id); }));
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace dynamo::perf
