#include "configurator/results_store.h"

#include <sqlite3.h>
#include <unistd.h>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>

#include "core/file_io.h"
#include "core/workload/csv.h"

namespace dynamo::configurator {
namespace {

// ---------------------------------------------------------------------------------------------
// Text forms of values (the sweep table's values, CSV cells). Doubles use the shortest form
// that parses back to the same bits, so the round trip is exact and the files stay readable.

std::string ToText(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return ec == std::errc() ? std::string(buf, end) : std::string("nan");
}
std::string ToText(int v) { return std::to_string(v); }
std::string ToText(int64_t v) { return std::to_string(v); }
std::string ToText(uint64_t v) { return std::to_string(v); }
std::string ToText(const std::string& v) { return v; }
std::string ToText(const std::optional<double>& v) { return v ? ToText(*v) : std::string(); }
std::string ToText(Objective v) { return std::string(ObjectiveName(v)); }
std::string ToText(const std::vector<SweepMode>& v) {
  std::string s;
  for (SweepMode m : v) s += (s.empty() ? "" : ",") + std::string(SweepModeName(m));
  return s;
}
std::string ToText(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i == 0 ? "" : ",") + v[i];
  return s;
}

template <typename T>
Status ParseNumber(const std::string& s, T* out, std::string_view what) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  if (ec != std::errc() || end != s.data() + s.size()) {
    return InvalidArgument("'" + s + "' is not " + std::string(what));
  }
  return Status::Ok();
}

Status FromText(const std::string& s, double* out) { return ParseNumber(s, out, "a number"); }
Status FromText(const std::string& s, int* out) { return ParseNumber(s, out, "an integer"); }
Status FromText(const std::string& s, int64_t* out) { return ParseNumber(s, out, "an integer"); }
Status FromText(const std::string& s, uint64_t* out) {
  return ParseNumber(s, out, "a non-negative integer");
}
Status FromText(const std::string& s, std::string* out) {
  *out = s;
  return Status::Ok();
}
Status FromText(const std::string& s, std::optional<double>* out) {
  if (s.empty()) {
    out->reset();
    return Status::Ok();
  }
  double v = 0;
  RETURN_IF_ERROR(FromText(s, &v));
  *out = v;
  return Status::Ok();
}
Status FromText(const std::string& s, Objective* out) {
  for (Objective o : {Objective::kThroughputPerGpu, Objective::kMinGpus}) {
    if (s == ObjectiveName(o)) {
      *out = o;
      return Status::Ok();
    }
  }
  return InvalidArgument("'" + s + "' is not an objective (throughput_per_gpu, min_gpus)");
}

std::vector<std::string> SplitCommas(const std::string& s) {
  std::vector<std::string> parts;
  if (s.empty()) return parts;
  size_t start = 0;
  while (true) {
    const size_t comma = s.find(',', start);
    parts.push_back(s.substr(start, comma - start));
    if (comma == std::string::npos) return parts;
    start = comma + 1;
  }
}

StatusOr<SweepMode> ParseMode(const std::string& s) {
  if (s == SweepModeName(SweepMode::kAggregated)) return SweepMode::kAggregated;
  if (s == SweepModeName(SweepMode::kDisaggregated)) return SweepMode::kDisaggregated;
  return InvalidArgument("'" + s + "' is not a mode (agg, disagg)");
}

Status FromText(const std::string& s, std::vector<SweepMode>* out) {
  out->clear();
  for (const std::string& part : SplitCommas(s)) {
    ASSIGN_OR_RETURN(SweepMode m, ParseMode(part));
    out->push_back(m);
  }
  return Status::Ok();
}
Status FromText(const std::string& s, std::vector<std::string>* out) {
  *out = SplitCommas(s);
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// The sweep table: one (key, value) row per scalar of the outcome outside `results`. The same
// list drives writing, reading and the shard comparison of MergeSweepResults.

struct SweepField {
  std::string key;
  bool input = false;  // a SweepInputs field (compared across shards)
  std::function<std::string(const SweepOutcome&)> get;
  std::function<Status(const std::string&, SweepOutcome*)> set;
};

// `access` maps an outcome (const or not) to its field: [](auto* o) { return &o->x; }.
template <typename Access>
SweepField Field(std::string key, bool input, Access access) {
  SweepField f;
  f.key = std::move(key);
  f.input = input;
  f.get = [access](const SweepOutcome& o) { return ToText(*access(&o)); };
  f.set = [access](const std::string& v, SweepOutcome* o) { return FromText(v, access(o)); };
  return f;
}

// The LoadPoint's numeric fields, in column order; the fingerprint follows them.
struct LoadPointField {
  std::string_view name;
  double LoadPoint::*member;
};
constexpr LoadPointField kLoadPointFields[] = {
    {"load", &LoadPoint::load},
    {"rate_rps", &LoadPoint::rate_rps},
    {"ttft_ms", &LoadPoint::ttft_ms},
    {"itl_ms", &LoadPoint::itl_ms},
    {"ttft_p50_ms", &LoadPoint::ttft_p50_ms},
    {"itl_p50_ms", &LoadPoint::itl_p50_ms},
    {"throughput_rps", &LoadPoint::throughput_rps},
    {"output_tokens_per_s", &LoadPoint::output_tokens_per_s},
    {"tokens_per_s_per_gpu", &LoadPoint::tokens_per_s_per_gpu},
    {"tokens_per_s_per_user", &LoadPoint::tokens_per_s_per_user},
    {"goodput_rps", &LoadPoint::goodput_rps},
    {"kv_hit_rate", &LoadPoint::kv_hit_rate},
};

// confirmation_*: empty values when there is no confirmation run; any value makes one.
SweepField ConfirmationField(std::string_view name, double LoadPoint::*member) {
  SweepField f;
  f.key = "confirmation_" + std::string(name);
  f.get = [member](const SweepOutcome& o) {
    return o.confirmation ? ToText((*o.confirmation).*member) : std::string();
  };
  f.set = [member](const std::string& v, SweepOutcome* o) -> Status {
    if (v.empty()) return Status::Ok();
    if (!o->confirmation) o->confirmation.emplace();
    return FromText(v, &((*o->confirmation).*member));
  };
  return f;
}

SweepField ConfirmationFingerprintField() {
  SweepField f;
  f.key = "confirmation_fingerprint";
  f.get = [](const SweepOutcome& o) {
    return o.confirmation ? o.confirmation->fingerprint : std::string();
  };
  f.set = [](const std::string& v, SweepOutcome* o) -> Status {
    if (v.empty()) return Status::Ok();
    if (!o->confirmation) o->confirmation.emplace();
    o->confirmation->fingerprint = v;
    return Status::Ok();
  };
  return f;
}

// Every key but `chosen` (a candidate id, resolved against the results after they are read).
const std::vector<SweepField>& SweepFields() {
  static const std::vector<SweepField> kFields = [] {
    constexpr bool kIn = true;
    constexpr bool kOut = false;
    std::vector<SweepField> f = {
        Field("model", kIn, [](auto* o) { return &o->inputs.model; }),
        Field("gpu", kIn, [](auto* o) { return &o->inputs.gpu; }),
        Field("gpus", kIn, [](auto* o) { return &o->inputs.gpus; }),
        Field("gpus_per_node", kIn, [](auto* o) { return &o->inputs.gpus_per_node; }),
        Field("dtype", kIn, [](auto* o) { return &o->inputs.dtype; }),
        Field("workload", kIn, [](auto* o) { return &o->inputs.workload; }),
        Field("isl", kIn, [](auto* o) { return &o->inputs.isl; }),
        Field("osl", kIn, [](auto* o) { return &o->inputs.osl; }),
        Field("rate_rps", kIn, [](auto* o) { return &o->inputs.rate_rps; }),
        Field("requests", kIn, [](auto* o) { return &o->inputs.requests; }),
        Field("ttft_ms", kIn, [](auto* o) { return &o->inputs.ttft_ms; }),
        Field("itl_ms", kIn, [](auto* o) { return &o->inputs.itl_ms; }),
        Field("percentile", kIn, [](auto* o) { return &o->inputs.percentile; }),
        Field("modes", kIn, [](auto* o) { return &o->inputs.modes; }),
        Field("routers", kIn, [](auto* o) { return &o->inputs.routers; }),
        Field("seed", kIn, [](auto* o) { return &o->inputs.seed; }),
        Field("threads", kIn, [](auto* o) { return &o->inputs.threads; }),
        Field("shard_index", kIn, [](auto* o) { return &o->inputs.shard_index; }),
        Field("shard_count", kIn, [](auto* o) { return &o->inputs.shard_count; }),
        Field("perf_db", kIn, [](auto* o) { return &o->inputs.perf_db; }),
        Field("objective", kIn, [](auto* o) { return &o->inputs.objective; }),
        Field("enumerated", kOut, [](auto* o) { return &o->counts.enumerated; }),
        Field("infeasible", kOut, [](auto* o) { return &o->counts.infeasible; }),
        Field("pruned", kOut, [](auto* o) { return &o->counts.pruned; }),
        Field("below_demand", kOut, [](auto* o) { return &o->counts.below_demand; }),
        Field("sla_missed", kOut, [](auto* o) { return &o->counts.sla_missed; }),
        Field("passed", kOut, [](auto* o) { return &o->counts.passed; }),
        Field("simulations", kOut, [](auto* o) { return &o->counts.simulations; }),
        Field("full_simulations", kOut, [](auto* o) { return &o->counts.full_simulations; }),
        Field("requests_simulated", kOut, [](auto* o) { return &o->counts.requests_simulated; }),
        Field("best_plan_json", kOut, [](auto* o) { return &o->best_plan_json; }),
        Field("wall_s", kOut, [](auto* o) { return &o->wall_s; }),
        Field("version", kOut, [](auto* o) { return &o->version; }),
    };
    for (const LoadPointField& lp : kLoadPointFields) {
      f.push_back(ConfirmationField(lp.name, lp.member));
    }
    f.push_back(ConfirmationFingerprintField());
    return f;
  }();
  return kFields;
}

constexpr std::string_view kChosenKey = "chosen";

// ---------------------------------------------------------------------------------------------
// The candidates table. A row is a list of cells in CandidateColumns() order; the same cells
// are bound into SQLite and rendered into results.csv.

using Cell = std::variant<std::monostate, int64_t, double, std::string>;  // monostate: NULL

struct Column {
  std::string name;
  std::string_view sql;  // type and constraints
};

constexpr std::string_view kPoolPrefixes[] = {"agg", "prefill", "decode"};
constexpr std::string_view kPoolSuffixes[] = {"replicas", "tp",           "pp",
                                              "ep",       "max_num_seqs", "max_num_batched_tokens"};
constexpr int kPoolColumns = 6;

// Column indexes of the fixed part.
enum CandidateColumn : int {
  kColId,
  kColLabel,
  kColMode,
  kColRouter,
  kColGpus,
  kColStatus,
  kColReason,
  kColBoundRps,
  kColSimulations,
  kColPareto,
  kColChosen,
  kColFirstPool,
};
constexpr int kColFirstLoadPoint = kColFirstPool + 3 * kPoolColumns;
constexpr int kColFingerprint = kColFirstLoadPoint + static_cast<int>(std::size(kLoadPointFields));
constexpr int kCandidateColumnCount = kColFingerprint + 1;

const std::vector<Column>& CandidateColumns() {
  static const std::vector<Column> kColumns = [] {
    std::vector<Column> c = {
        {"id", "INTEGER PRIMARY KEY"},
        {"label", "TEXT NOT NULL"},
        {"mode", "TEXT NOT NULL CHECK (mode IN ('agg', 'disagg'))"},
        {"router", "TEXT NOT NULL"},
        {"gpus", "INTEGER NOT NULL"},
        {"status", "TEXT NOT NULL"},
        {"reason", "TEXT NOT NULL"},
        {"bound_rps", "REAL NOT NULL"},
        {"simulations", "INTEGER NOT NULL"},
        {"pareto", "INTEGER NOT NULL"},
        {"chosen", "INTEGER NOT NULL"},
    };
    for (std::string_view prefix : kPoolPrefixes) {
      for (std::string_view suffix : kPoolSuffixes) {
        c.push_back({std::string(prefix) + "_" + std::string(suffix), "INTEGER"});
      }
    }
    for (const LoadPointField& lp : kLoadPointFields) c.push_back({std::string(lp.name), "REAL"});
    c.push_back({"fingerprint", "TEXT"});
    return c;
  }();
  return kColumns;
}

// Which pool column group a pool fills: agg 0, prefill 1, decode 2. (An infeasible disagg
// worker shape is a row with its one pool.)
int PoolGroup(WorkerRole role) {
  return role == WorkerRole::kAggregated ? 0 : role == WorkerRole::kPrefill ? 1 : 2;
}

std::vector<Cell> CandidateCells(const CandidateResult& r) {
  const Candidate& c = r.candidate;
  std::vector<Cell> cells(kCandidateColumnCount);
  cells[kColId] = c.id;
  cells[kColLabel] = c.Label();
  cells[kColMode] = std::string(SweepModeName(c.mode));
  cells[kColRouter] = c.router;
  cells[kColGpus] = int64_t{c.gpus()};
  cells[kColStatus] = std::string(CandidateStatusName(r.status));
  cells[kColReason] = r.reason;
  cells[kColBoundRps] = r.bound_rps;
  cells[kColSimulations] = int64_t{r.simulations};
  cells[kColPareto] = int64_t{r.pareto ? 1 : 0};
  cells[kColChosen] = int64_t{r.chosen ? 1 : 0};
  for (size_t i = 0; i < c.pools.size(); ++i) {
    const PoolChoice& p = c.pools[i];
    const int first = kColFirstPool + PoolGroup(p.role) * kPoolColumns;
    const int values[kPoolColumns] = {p.replicas, p.tp,           p.pp,
                                      p.ep,       p.max_num_seqs, p.max_num_batched_tokens};
    for (int k = 0; k < kPoolColumns; ++k) cells[first + k] = int64_t{values[k]};
  }
  if (r.best) {
    for (size_t k = 0; k < std::size(kLoadPointFields); ++k) {
      cells[kColFirstLoadPoint + k] = (*r.best).*kLoadPointFields[k].member;
    }
    cells[kColFingerprint] = r.best->fingerprint;
  }
  return cells;
}

StatusOr<CandidateStatus> ParseStatus(const std::string& s) {
  for (CandidateStatus st :
       {CandidateStatus::kPass, CandidateStatus::kSlaMissed, CandidateStatus::kInfeasible,
        CandidateStatus::kPruned, CandidateStatus::kBelowDemand}) {
    if (s == CandidateStatusName(st)) return st;
  }
  return InvalidArgument("'" + s +
                         "' is not a status (pass, sla_missed, infeasible, pruned, below_demand)");
}

int64_t IntCell(const Cell& c) {
  const int64_t* v = std::get_if<int64_t>(&c);
  return v ? *v : 0;
}
// NULL in a numeric column of a present LoadPoint is a NaN that SQLite could not store.
double RealCell(const Cell& c) {
  if (const double* v = std::get_if<double>(&c)) return *v;
  if (const int64_t* v = std::get_if<int64_t>(&c)) return static_cast<double>(*v);
  return std::numeric_limits<double>::quiet_NaN();
}
std::string TextCell(const Cell& c) {
  const std::string* v = std::get_if<std::string>(&c);
  return v ? *v : std::string();
}

StatusOr<CandidateResult> CandidateFromCells(const std::vector<Cell>& cells) {
  CandidateResult r;
  Candidate& c = r.candidate;
  c.id = IntCell(cells[kColId]);
  ASSIGN_OR_RETURN(c.mode, ParseMode(TextCell(cells[kColMode])));
  c.router = TextCell(cells[kColRouter]);
  ASSIGN_OR_RETURN(r.status, ParseStatus(TextCell(cells[kColStatus])));
  r.reason = TextCell(cells[kColReason]);
  r.bound_rps = RealCell(cells[kColBoundRps]);
  r.simulations = static_cast<int>(IntCell(cells[kColSimulations]));
  r.pareto = IntCell(cells[kColPareto]) != 0;
  r.chosen = IntCell(cells[kColChosen]) != 0;
  const bool agg = c.mode == SweepMode::kAggregated;
  const std::vector<WorkerRole> roles =
      agg ? std::vector<WorkerRole>{WorkerRole::kAggregated}
          : std::vector<WorkerRole>{WorkerRole::kPrefill, WorkerRole::kDecode};
  const bool single_pool_shape = !agg && r.status == CandidateStatus::kInfeasible;
  for (size_t i = 0; i < roles.size(); ++i) {
    const int first = kColFirstPool + PoolGroup(roles[i]) * kPoolColumns;
    if (single_pool_shape && std::holds_alternative<std::monostate>(cells[first])) continue;
    for (int k = 0; k < kPoolColumns; ++k) {
      if (std::holds_alternative<std::monostate>(cells[first + k])) {
        return InvalidArgument(CandidateColumns()[first + k].name + " is NULL in a " +
                               std::string(SweepModeName(c.mode)) + " row");
      }
    }
    PoolChoice p;
    p.role = roles[i];
    p.replicas = static_cast<int>(IntCell(cells[first]));
    p.tp = static_cast<int>(IntCell(cells[first + 1]));
    p.pp = static_cast<int>(IntCell(cells[first + 2]));
    p.ep = static_cast<int>(IntCell(cells[first + 3]));
    p.max_num_seqs = static_cast<int>(IntCell(cells[first + 4]));
    p.max_num_batched_tokens = static_cast<int>(IntCell(cells[first + 5]));
    c.pools.push_back(p);
  }
  // The fingerprint (text, never NULL when present) marks a LoadPoint.
  if (!std::holds_alternative<std::monostate>(cells[kColFingerprint])) {
    LoadPoint lp;
    for (size_t k = 0; k < std::size(kLoadPointFields); ++k) {
      lp.*kLoadPointFields[k].member = RealCell(cells[kColFirstLoadPoint + k]);
    }
    lp.fingerprint = TextCell(cells[kColFingerprint]);
    r.best = std::move(lp);
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// CSV (RFC 4180 quoting; "\n" line ends).

std::string CsvCell(const Cell& c) {
  if (const int64_t* v = std::get_if<int64_t>(&c)) return ToText(*v);
  if (const double* v = std::get_if<double>(&c)) return ToText(*v);
  if (const std::string* v = std::get_if<std::string>(&c)) return CsvQuote(*v);
  return "";
}

std::string ResultsCsv(const SweepOutcome& o) {
  std::string out;
  for (const Column& col : CandidateColumns()) out += (out.empty() ? "" : ",") + col.name;
  out += "\n";
  for (const CandidateResult& r : o.results) {
    const std::vector<Cell> cells = CandidateCells(r);
    for (size_t i = 0; i < cells.size(); ++i) out += (i == 0 ? "" : ",") + CsvCell(cells[i]);
    out += "\n";
  }
  return out;
}

std::string ParetoCsv(const SweepOutcome& o) {
  std::vector<const CandidateResult*> front;
  for (const CandidateResult& r : o.results) {
    if (r.pareto) front.push_back(&r);
  }
  auto per_user = [](const CandidateResult* r) {
    return r->best ? r->best->tokens_per_s_per_user : 0.0;
  };
  std::stable_sort(front.begin(), front.end(),
                   [&](const CandidateResult* a, const CandidateResult* b) {
                     if (per_user(a) != per_user(b)) return per_user(a) < per_user(b);
                     return a->candidate.id < b->candidate.id;
                   });
  std::string out =
      "id,label,mode,router,gpus,tokens_per_s_per_gpu,tokens_per_s_per_user,load,rate_rps,"
      "ttft_ms,itl_ms,chosen\n";
  for (const CandidateResult* r : front) {
    const Candidate& c = r->candidate;
    std::string figures = ",,,,,";  // no LoadPoint: empty cells
    if (r->best) {
      const LoadPoint& b = *r->best;
      figures = ToText(b.tokens_per_s_per_gpu) + "," + ToText(b.tokens_per_s_per_user) + "," +
                ToText(b.load) + "," + ToText(b.rate_rps) + "," + ToText(b.ttft_ms) + "," +
                ToText(b.itl_ms);
    }
    out += ToText(c.id) + "," + CsvQuote(c.Label()) + "," + std::string(SweepModeName(c.mode)) +
           "," + CsvQuote(c.router) + "," + ToText(c.gpus()) + "," + figures + "," +
           (r->chosen ? "1" : "0") + "\n";
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// SQLite plumbing (the error style of core/perf/perf_db.cc: messages name the file).

class Db {
 public:
  Db(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
  ~Db() {
    if (db_) sqlite3_close_v2(db_);
  }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  static StatusOr<std::unique_ptr<Db>> Open(const std::string& path, int flags) {
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
    auto db = std::make_unique<Db>(path, raw);
    if (rc != SQLITE_OK) {
      return IoError(path + ": cannot open: " + (raw ? sqlite3_errmsg(raw) : "out of memory"));
    }
    sqlite3_extended_result_codes(raw, 1);
    return db;
  }

  // Closes the connection, reporting a failure to flush.
  Status Close() {
    const int rc = sqlite3_close_v2(db_);
    db_ = nullptr;
    if (rc != SQLITE_OK) return IoError(path_ + ": closing failed: " + sqlite3_errstr(rc));
    return Status::Ok();
  }

  Status Error(std::string_view what) const {
    return IoError(path_ + ": " + std::string(what) + ": " + sqlite3_errmsg(db_));
  }
  std::string LastError() const { return sqlite3_errmsg(db_); }

  Status Exec(const std::string& sql) const {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      return IoError(path_ + ": " + msg);
    }
    return Status::Ok();
  }

  // Runs `sql` and calls `row` for each result row.
  Status Query(const std::string& sql, const std::function<Status(sqlite3_stmt*)>& row) const {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      return Error("query failed");
    }
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

  // Runs `sql` once per row of `rows`, binding `bind(stmt, row)`, with one prepared statement.
  template <typename Row>
  Status InsertAll(const std::string& sql, const std::vector<Row>& rows,
                   const std::function<void(sqlite3_stmt*, const Row&)>& bind) const {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      return Error("preparing an insert");
    }
    Status status;
    for (const Row& row : rows) {
      sqlite3_reset(stmt);
      sqlite3_clear_bindings(stmt);
      bind(stmt, row);
      if (sqlite3_step(stmt) != SQLITE_DONE) {
        status = Error("inserting a row");
        break;
      }
    }
    sqlite3_finalize(stmt);
    return status;
  }

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  sqlite3* db_;
};

std::string Text(sqlite3_stmt* s, int col) {
  const unsigned char* t = sqlite3_column_text(s, col);
  return t ? reinterpret_cast<const char*>(t) : "";
}

void BindCell(sqlite3_stmt* stmt, int index, const Cell& c) {
  if (const int64_t* i = std::get_if<int64_t>(&c)) {
    sqlite3_bind_int64(stmt, index, *i);
  } else if (const double* d = std::get_if<double>(&c)) {
    sqlite3_bind_double(stmt, index, *d);
  } else if (const std::string* t = std::get_if<std::string>(&c)) {
    sqlite3_bind_text(stmt, index, t->data(), static_cast<int>(t->size()), SQLITE_TRANSIENT);
  } else {
    sqlite3_bind_null(stmt, index);
  }
}

Cell ColumnCell(sqlite3_stmt* s, int col) {
  switch (sqlite3_column_type(s, col)) {
    case SQLITE_INTEGER:
      return sqlite3_column_int64(s, col);
    case SQLITE_FLOAT:
      return sqlite3_column_double(s, col);
    case SQLITE_NULL:
      return std::monostate();
    default:
      return Text(s, col);
  }
}

std::string ColumnList() {
  std::string cols;
  for (const Column& c : CandidateColumns()) cols += (cols.empty() ? "" : ", ") + c.name;
  return cols;
}

// ---------------------------------------------------------------------------------------------
// Writing results.sqlite.

// The candidate the outcome chose, as the sweep table stores it ("" when none).
std::string ChosenId(const SweepOutcome& o) {
  return o.chosen ? ToText(o.results[static_cast<size_t>(*o.chosen)].candidate.id) : std::string();
}

Status CreateSchema(const Db& db) {
  std::string sql = "CREATE TABLE sweep (key TEXT PRIMARY KEY, value TEXT NOT NULL);";
  sql += "CREATE TABLE candidates (";
  bool first = true;
  for (const Column& c : CandidateColumns()) {
    sql += (first ? "" : ", ") + c.name + " " + std::string(c.sql);
    first = false;
  }
  sql += ");";
  return db.Exec(sql);
}

Status InsertRows(const Db& db, const SweepOutcome& o) {
  std::vector<std::pair<std::string, std::string>> sweep_rows;
  for (const SweepField& f : SweepFields()) sweep_rows.emplace_back(f.key, f.get(o));
  sweep_rows.emplace_back(std::string(kChosenKey), ChosenId(o));
  using KeyValue = std::pair<std::string, std::string>;
  RETURN_IF_ERROR(db.InsertAll<KeyValue>("INSERT INTO sweep (key, value) VALUES (?, ?);",
                                         sweep_rows, [](sqlite3_stmt* stmt, const KeyValue& kv) {
                                           BindCell(stmt, 1, kv.first);
                                           BindCell(stmt, 2, kv.second);
                                         }));
  std::string marks;
  for (int i = 0; i < kCandidateColumnCount; ++i) marks += i == 0 ? "?" : ", ?";
  return db.InsertAll<CandidateResult>(
      "INSERT INTO candidates (" + ColumnList() + ") VALUES (" + marks + ");", o.results,
      [](sqlite3_stmt* stmt, const CandidateResult& r) {
        const std::vector<Cell> cells = CandidateCells(r);
        for (size_t i = 0; i < cells.size(); ++i) BindCell(stmt, static_cast<int>(i) + 1, cells[i]);
      });
}

// Fills a fresh database at `tmp`: identity, schema and rows in one transaction.
Status BuildDatabase(const std::string& tmp, const SweepOutcome& o) {
  ASSIGN_OR_RETURN(auto db, Db::Open(tmp, SQLITE_OPEN_READWRITE));
  // The file is private until renamed, so no rollback journal beside it is needed; the commit
  // still syncs the file before the rename publishes it.
  RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode = MEMORY;"));
  RETURN_IF_ERROR(db->Exec("BEGIN;"));
  Status s = db->Exec("PRAGMA application_id = " + std::to_string(kResultsApplicationId) +
                      "; PRAGMA user_version = " + std::to_string(kResultsSchemaVersion) + ";");
  if (s.ok()) s = CreateSchema(*db);
  if (s.ok()) s = InsertRows(*db, o);
  if (s.ok()) s = db->Exec("COMMIT;");
  if (!s.ok()) return s;
  return db->Close();
}

Status WriteSqliteAtomic(const std::string& path, const SweepOutcome& o) {
  std::string tmp = path + ".tmp-XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) {
    return IoError(tmp + ": cannot create a temporary file: " +
                   std::error_code(errno, std::generic_category()).message());
  }
  // mkstemp creates the file 0600; results are as readable as the other outputs.
  ::fchmod(fd, 0644);
  ::close(fd);
  Status s = BuildDatabase(tmp, o);
  if (s.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    s = IoError(path +
                ": rename failed: " + std::error_code(errno, std::generic_category()).message());
  }
  if (!s.ok()) ::unlink(tmp.c_str());
  return s;
}

// Preconditions of the layout, checked so that a bad outcome fails loudly instead of writing a
// file that does not read back.
Status ValidateOutcome(const SweepOutcome& o) {
  if (o.chosen && (*o.chosen < 0 || *o.chosen >= static_cast<int64_t>(o.results.size()))) {
    return InvalidArgument("chosen index " + ToText(*o.chosen) + " is outside the " +
                           ToText(static_cast<int64_t>(o.results.size())) + " results");
  }
  std::map<int64_t, size_t> seen;
  for (size_t i = 0; i < o.results.size(); ++i) {
    const Candidate& c = o.results[i].candidate;
    if (!seen.emplace(c.id, i).second) {
      return InvalidArgument("candidate id " + ToText(c.id) + " appears twice (results[" +
                             ToText(static_cast<int64_t>(seen[c.id])) + "] and results[" +
                             ToText(static_cast<int64_t>(i)) + "])");
    }
    const bool agg = c.mode == SweepMode::kAggregated;
    const bool shape_row = o.results[i].status == CandidateStatus::kInfeasible &&
                           c.pools.size() == 1 && c.pools[0].role != WorkerRole::kAggregated;
    const bool ok =
        agg ? c.pools.size() == 1 && c.pools[0].role == WorkerRole::kAggregated
            : shape_row || (c.pools.size() == 2 && c.pools[0].role == WorkerRole::kPrefill &&
                            c.pools[1].role == WorkerRole::kDecode);
    if (!ok) {
      return InvalidArgument(
          "candidate " + ToText(c.id) + " (" + c.Label() + "): pools do not match mode " +
          std::string(SweepModeName(c.mode)) +
          "; agg has one agg pool, disagg a prefill then a decode pool (an infeasible "
          "disagg worker shape: that one pool)");
    }
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Reading results.sqlite.

Status CheckIdentity(const Db& db) {
  const std::string& path = db.path();
  auto app_id = db.PragmaInt("application_id");
  if (!app_id.ok()) {
    return InvalidArgument(path + ": not a SQLite database (" + db.LastError() +
                           "); point at the results.sqlite written by `dynamo-sim sweep`");
  }
  if (*app_id != kResultsApplicationId) {
    return InvalidArgument(path + ": a SQLite file but not sweep results (application_id " +
                           ToText(*app_id) + ", expected " + ToText(kResultsApplicationId) +
                           " 'DYNS'); point at the results.sqlite written by `dynamo-sim sweep`");
  }
  ASSIGN_OR_RETURN(int64_t version, db.PragmaInt("user_version"));
  if (version != kResultsSchemaVersion) {
    return FailedPrecondition(path + ": sweep results schema version " + ToText(version) +
                              ", this build reads version " + ToText(kResultsSchemaVersion) +
                              "; read it with the dynamo-sim that wrote it, or sweep again");
  }
  return Status::Ok();
}

Status ReadSweepTable(const Db& db, SweepOutcome* o, std::string* chosen_id) {
  std::map<std::string, std::string> values;
  RETURN_IF_ERROR(db.Query("SELECT key, value FROM sweep;", [&](sqlite3_stmt* s) {
    values[Text(s, 0)] = Text(s, 1);
    return Status::Ok();
  }));
  auto lookup = [&](const std::string& key) -> StatusOr<std::string> {
    auto it = values.find(key);
    if (it == values.end()) {
      return InvalidArgument(db.path() + ": the sweep table has no '" + key +
                             "' row; the file is incomplete or from another tool");
    }
    return it->second;
  };
  for (const SweepField& f : SweepFields()) {
    ASSIGN_OR_RETURN(std::string v, lookup(f.key));
    RETURN_IF_ERROR(f.set(v, o).WithContext(db.path() + ": sweep." + f.key));
  }
  ASSIGN_OR_RETURN(*chosen_id, lookup(std::string(kChosenKey)));
  return Status::Ok();
}

Status ReadCandidates(const Db& db, SweepOutcome* o) {
  return db.Query("SELECT " + ColumnList() + " FROM candidates ORDER BY id;",
                  [&](sqlite3_stmt* s) -> Status {
                    std::vector<Cell> cells(kCandidateColumnCount);
                    for (int i = 0; i < kCandidateColumnCount; ++i) cells[i] = ColumnCell(s, i);
                    auto r = CandidateFromCells(cells);
                    if (!r.ok()) {
                      return r.status().WithContext(db.path() + ": candidates id " +
                                                    ToText(IntCell(cells[kColId])));
                    }
                    o->results.push_back(std::move(r).value());
                    return Status::Ok();
                  });
}

Status ResolveChosen(const std::string& path, const std::string& chosen_id, SweepOutcome* o) {
  if (chosen_id.empty()) return Status::Ok();
  int64_t id = 0;
  RETURN_IF_ERROR(FromText(chosen_id, &id).WithContext(path + ": sweep.chosen"));
  for (size_t i = 0; i < o->results.size(); ++i) {
    if (o->results[i].candidate.id == id) {
      o->chosen = static_cast<int64_t>(i);
      return Status::Ok();
    }
  }
  return InvalidArgument(path + ": sweep.chosen: candidate " + chosen_id +
                         " is not in the candidates table");
}

// ---------------------------------------------------------------------------------------------
// Merging shards.

std::string ShardName(const std::vector<SweepOutcome>& shards, size_t i) {
  const SweepInputs& in = shards[i].inputs;
  return "shards[" + ToText(static_cast<int64_t>(i)) + "] (shard " + ToText(in.shard_index) + "/" +
         ToText(in.shard_count) + ")";
}

// Every shard ran the same sweep: equal inputs but shard_index and threads.
Status CheckSameSweep(const std::vector<SweepOutcome>& shards) {
  const SweepOutcome& first = shards[0];
  for (size_t i = 1; i < shards.size(); ++i) {
    for (const SweepField& f : SweepFields()) {
      if (!f.input || f.key == "shard_index" || f.key == "threads") continue;
      const std::string a = f.get(shards[i]);
      const std::string b = f.get(first);
      if (a != b) {
        return InvalidArgument("merge: " + ShardName(shards, i) + " differs from " +
                               ShardName(shards, 0) + " in input " + f.key + ": '" + a + "' vs '" +
                               b +
                               "'; merge only the shards of one sweep (same flags but --shard)");
      }
    }
    if (shards[i].version != first.version) {
      return InvalidArgument("merge: " + ShardName(shards, i) + " was written by dynamo-sim '" +
                             shards[i].version + "', " + ShardName(shards, 0) + " by '" +
                             first.version + "'; run every shard with one build");
    }
  }
  return Status::Ok();
}

// The shards cover 0..shard_count-1 exactly once.
Status CheckCoverage(const std::vector<SweepOutcome>& shards) {
  const int count = shards[0].inputs.shard_count;
  if (count < 1) {
    return InvalidArgument("merge: shard_count " + ToText(count) + " must be at least 1");
  }
  std::vector<int> seen(static_cast<size_t>(count), 0);
  for (size_t i = 0; i < shards.size(); ++i) {
    const int index = shards[i].inputs.shard_index;
    if (index < 0 || index >= count) {
      return InvalidArgument("merge: " + ShardName(shards, i) + ": shard index " + ToText(index) +
                             " is outside 0.." + ToText(count - 1));
    }
    ++seen[static_cast<size_t>(index)];
  }
  std::string missing, duplicate;
  for (int k = 0; k < count; ++k) {
    const int n = seen[static_cast<size_t>(k)];
    if (n == 0) missing += (missing.empty() ? "" : ", ") + ToText(k);
    if (n > 1) {
      duplicate += (duplicate.empty() ? "" : ", ") + ToText(k) + " (given " + ToText(n) + " times)";
    }
  }
  if (missing.empty() && duplicate.empty()) return Status::Ok();
  std::string msg = "merge: the shards must cover 0.." + ToText(count - 1) + " exactly once:";
  if (!missing.empty()) msg += " missing shard " + missing + ";";
  if (!duplicate.empty()) msg += " duplicate shard " + duplicate + ";";
  return InvalidArgument(msg + " pass every shard's results.sqlite once");
}

void AddCounts(const SweepCounts& c, SweepCounts* sum) {
  sum->enumerated += c.enumerated;
  sum->infeasible += c.infeasible;
  sum->pruned += c.pruned;
  sum->below_demand += c.below_demand;
  sum->sla_missed += c.sla_missed;
  sum->passed += c.passed;
  sum->simulations += c.simulations;
  sum->full_simulations += c.full_simulations;
  sum->requests_simulated += c.requests_simulated;
}

}  // namespace

Status WriteSweepResults(const std::string& dir, const SweepOutcome& o) {
  RETURN_IF_ERROR(ValidateOutcome(o).WithContext("writing sweep results to " + dir));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return IoError(dir + ": cannot create the output directory: " + ec.message());
  RETURN_IF_ERROR(WriteSqliteAtomic(dir + "/results.sqlite", o));
  RETURN_IF_ERROR(WriteFileAtomic(dir + "/results.csv", ResultsCsv(o)));
  return WriteFileAtomic(dir + "/pareto.csv", ParetoCsv(o));
}

StatusOr<SweepOutcome> ReadSweepResults(const std::string& sqlite_path) {
  std::error_code ec;
  const auto status = std::filesystem::status(sqlite_path, ec);
  if (ec || !std::filesystem::exists(status)) {
    return NotFound(sqlite_path +
                    ": sweep results not found; write them with `dynamo-sim sweep --out DIR`");
  }
  if (!std::filesystem::is_regular_file(status)) {
    return InvalidArgument(sqlite_path + ": not a file; point at DIR/results.sqlite");
  }
  if (std::filesystem::file_size(sqlite_path, ec) == 0 && !ec) {
    return InvalidArgument(sqlite_path + ": the file is empty, not sweep results");
  }
  ASSIGN_OR_RETURN(auto db, Db::Open(sqlite_path, SQLITE_OPEN_READONLY));
  RETURN_IF_ERROR(CheckIdentity(*db));
  SweepOutcome o;
  std::string chosen_id;
  RETURN_IF_ERROR(ReadSweepTable(*db, &o, &chosen_id));
  RETURN_IF_ERROR(ReadCandidates(*db, &o));
  RETURN_IF_ERROR(ResolveChosen(sqlite_path, chosen_id, &o));
  return o;
}

StatusOr<SweepOutcome> MergeSweepResults(const std::vector<SweepOutcome>& shards) {
  if (shards.empty()) return InvalidArgument("merge: no shards given; pass each shard's results");
  RETURN_IF_ERROR(CheckSameSweep(shards));
  RETURN_IF_ERROR(CheckCoverage(shards));
  SweepOutcome merged;
  merged.inputs = shards[0].inputs;
  merged.inputs.shard_index = 0;
  merged.inputs.shard_count = 1;
  merged.version = shards[0].version;
  std::vector<std::pair<const CandidateResult*, size_t>> all;  // (result, shard position)
  for (size_t i = 0; i < shards.size(); ++i) {
    AddCounts(shards[i].counts, &merged.counts);
    merged.wall_s = std::max(merged.wall_s, shards[i].wall_s);
    for (const CandidateResult& r : shards[i].results) all.emplace_back(&r, i);
  }
  std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return a.first->candidate.id < b.first->candidate.id;
  });
  for (size_t k = 0; k < all.size(); ++k) {
    if (k > 0 && all[k].first->candidate.id == all[k - 1].first->candidate.id) {
      return InvalidArgument("merge: candidate id " + ToText(all[k].first->candidate.id) +
                             " appears in " + ShardName(shards, all[k - 1].second) + " and " +
                             ShardName(shards, all[k].second) +
                             "; shards of one sweep never share a candidate");
    }
    CandidateResult r = *all[k].first;
    r.pareto = false;
    r.chosen = false;
    merged.results.push_back(std::move(r));
  }
  return merged;
}

}  // namespace dynamo::configurator
