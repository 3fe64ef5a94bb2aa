#include "profiler/aiconfigurator_import.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <map>

#include "core/file_io.h"
#include "core/hardware/gpu_spec.h"
#include "core/version.h"
#include "core/workload/csv.h"
#include "profiler/clock.h"
#include "profiler/timing_stats.h"

namespace dynamo::profiler {
namespace {

namespace fs = std::filesystem;
using perf::PerfRow;

// "gemm_perf_vllm_0.14.0.csv" with prefix "gemm_perf_vllm_" -> version "0.14.0".
std::vector<int> VersionKey(const std::string& v) {
  std::vector<int> key;
  int cur = 0;
  bool any = false;
  for (char c : v) {
    if (c >= '0' && c <= '9') {
      cur = cur * 10 + (c - '0');
      any = true;
    } else if (any) {
      key.push_back(cur);
      cur = 0;
      any = false;
    }
  }
  if (any) key.push_back(cur);
  return key;
}

// The newest version of `prefix`*.csv in dir, or "" when none.
std::string FindTable(const std::string& dir, const std::string& prefix) {
  std::string best;
  std::vector<int> best_key;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) != 0 || name.size() < 4 || name.substr(name.size() - 4) != ".csv") {
      continue;
    }
    auto key = VersionKey(name.substr(prefix.size()));
    if (best.empty() || key > best_key) best = name, best_key = key;
  }
  return best;
}

// One CSV table with named columns and file:line errors.
class Table {
 public:
  static StatusOr<Table> Load(const std::string& path) {
    ASSIGN_OR_RETURN(std::string text, ReadFile(path));
    Table t;
    t.name_ = fs::path(path).filename().string();
    size_t pos = 0;
    int64_t line_no = 0;
    while (pos < text.size()) {
      size_t end = text.find('\n', pos);
      if (end == std::string::npos) end = text.size();
      std::string_view line(text.data() + pos, end - pos);
      pos = end + 1;
      ++line_no;
      if (line.empty() || line == "\r") continue;
      std::vector<std::string> fields;
      if (!SplitCsvLine(line, fields)) {
        return InvalidArgument(t.name_ + ":" + std::to_string(line_no) + ": unterminated quote");
      }
      if (t.header_.empty()) {
        t.header_ = std::move(fields);
        continue;
      }
      if (fields.size() != t.header_.size()) {
        return InvalidArgument(t.name_ + ":" + std::to_string(line_no) + ": " +
                               std::to_string(fields.size()) + " fields, the header has " +
                               std::to_string(t.header_.size()));
      }
      t.rows_.push_back(std::move(fields));
      t.lines_.push_back(line_no);
    }
    if (t.header_.empty()) return InvalidArgument(t.name_ + ": empty file, expected a header");
    return t;
  }

  const std::string& name() const { return name_; }
  size_t size() const { return rows_.size(); }
  int64_t line(size_t row) const { return lines_[row]; }

  StatusOr<size_t> Column(const std::string& column) const {
    for (size_t i = 0; i < header_.size(); ++i) {
      if (header_[i] == column) return i;
    }
    std::string have;
    for (const auto& h : header_) have += (have.empty() ? "" : ", ") + h;
    return InvalidArgument(name_ + ":1: missing column '" + column + "' (header: " + have + ")");
  }
  std::optional<size_t> OptionalColumn(const std::string& column) const {
    auto c = Column(column);
    return c.ok() ? std::optional<size_t>(c.value()) : std::nullopt;
  }
  const std::string& Text(size_t row, size_t col) const { return rows_[row][col]; }
  StatusOr<int64_t> Int(size_t row, size_t col) const {
    const std::string& s = rows_[row][col];
    int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || v < 0) {
      return InvalidArgument(Where(row, col) + ": '" + s + "' is not a non-negative integer");
    }
    return v;
  }
  StatusOr<double> Ms(size_t row, size_t col) const {
    const std::string& s = rows_[row][col];
    double v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || !(v > 0) || v > 1e7) {
      return InvalidArgument(Where(row, col) + ": latency '" + s +
                             "' must be a positive number of milliseconds");
    }
    return v;
  }
  std::string Where(size_t row, size_t col) const {
    return name_ + ":" + std::to_string(lines_[row]) + ": column " + header_[col];
  }

 private:
  std::string name_;
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<int64_t> lines_;
};

// AIConfigurator dtype spellings -> ours; nullopt for formats we do not model.
std::optional<DType> MapDType(const std::string& s) {
  if (s == "bfloat16" || s == "bf16") return DType::kBf16;
  if (s == "float16" || s == "fp16" || s == "half") return DType::kFp16;
  if (s == "fp8" || s == "float8_e4m3fn") return DType::kFp8;
  if (s == "nvfp4") return DType::kFp4;
  if (s == "float32" || s == "fp32") return DType::kFp32;
  return std::nullopt;
}

// Merges repeated measurements of one key.
class Merger {
 public:
  void Add(PerfRow row, double latency_us) {
    const std::string key = perf::ShapeKey(row.shape, row.impl);
    auto [it, inserted] = index_.try_emplace(key, rows_.size());
    if (inserted) {
      rows_.push_back(std::move(row));
      samples_.emplace_back();
    }
    samples_[it->second].push_back(latency_us);
  }
  void Finish(std::vector<PerfRow>& out) {
    for (size_t i = 0; i < rows_.size(); ++i) {
      rows_[i].timing = SummarizeSamples(samples_[i]);
      out.push_back(std::move(rows_[i]));
    }
  }
  size_t size() const { return rows_.size(); }

 private:
  std::map<std::string, size_t> index_;
  std::vector<PerfRow> rows_;
  std::vector<std::vector<double>> samples_;
};

PerfRow Imported(perf::OpShape shape, const std::string& file, std::string impl = "") {
  PerfRow r;
  r.shape = std::move(shape);
  r.impl = std::move(impl);
  r.provenance = perf::Provenance::kImported;
  r.source = "aiconfigurator " + file;
  return r;
}

Status ReadGemm(const Table& t, Merger& m, ImportReport::File& f) {
  ASSIGN_OR_RETURN(size_t c_dtype, t.Column("gemm_dtype"));
  ASSIGN_OR_RETURN(size_t c_m, t.Column("m"));
  ASSIGN_OR_RETURN(size_t c_n, t.Column("n"));
  ASSIGN_OR_RETURN(size_t c_k, t.Column("k"));
  ASSIGN_OR_RETURN(size_t c_lat, t.Column("latency"));
  for (size_t r = 0; r < t.size(); ++r) {
    auto dtype = MapDType(t.Text(r, c_dtype));
    if (!dtype) {
      ++f.skipped;
      f.skip_reason = "gemm_dtype " + t.Text(r, c_dtype) + " is not modelled";
      continue;
    }
    perf::GemmShape g{*dtype, 0, 0, 0};
    ASSIGN_OR_RETURN(g.m, t.Int(r, c_m));
    ASSIGN_OR_RETURN(g.n, t.Int(r, c_n));
    ASSIGN_OR_RETURN(g.k, t.Int(r, c_k));
    ASSIGN_OR_RETURN(double ms, t.Ms(r, c_lat));
    RETURN_IF_ERROR(perf::Validate(g).WithContext(t.name() + ":" + std::to_string(t.line(r))));
    m.Add(Imported(g, t.name()), ms * 1000);
  }
  return Status::Ok();
}

Status ReadAttention(const Table& t, bool context, Merger& m, ImportReport::File& f) {
  ASSIGN_OR_RETURN(size_t c_b, t.Column("batch_size"));
  ASSIGN_OR_RETURN(size_t c_isl, t.Column("isl"));
  ASSIGN_OR_RETURN(size_t c_h, t.Column("num_heads"));
  ASSIGN_OR_RETURN(size_t c_kvh, t.Column("num_key_value_heads"));
  ASSIGN_OR_RETURN(size_t c_hd, t.Column("head_dim"));
  ASSIGN_OR_RETURN(size_t c_dt, t.Column("attn_dtype"));
  ASSIGN_OR_RETURN(size_t c_kvdt, t.Column("kv_cache_dtype"));
  ASSIGN_OR_RETURN(size_t c_step, t.Column("step"));
  ASSIGN_OR_RETURN(size_t c_lat, t.Column("latency"));
  const auto c_window = t.OptionalColumn("window_size");
  const auto c_beam = t.OptionalColumn("beam_width");
  for (size_t r = 0; r < t.size(); ++r) {
    auto dtype = MapDType(t.Text(r, c_dt));
    auto kv = MapDType(t.Text(r, c_kvdt));
    bool skip = !dtype || !kv;
    if (skip)
      f.skip_reason = "dtype " + t.Text(r, c_dt) + "/" + t.Text(r, c_kvdt) + " is not modelled";
    if (c_window && t.Text(r, *c_window) != "0") {
      skip = true;
      f.skip_reason = "sliding-window rows are not imported";
    }
    if (c_beam && t.Text(r, *c_beam) != "1") {
      skip = true;
      f.skip_reason = "beam search rows are not imported";
    }
    if (skip) {
      ++f.skipped;
      continue;
    }
    ASSIGN_OR_RETURN(int64_t batch, t.Int(r, c_b));
    ASSIGN_OR_RETURN(int64_t isl, t.Int(r, c_isl));
    ASSIGN_OR_RETURN(int64_t heads, t.Int(r, c_h));
    ASSIGN_OR_RETURN(int64_t kv_heads, t.Int(r, c_kvh));
    ASSIGN_OR_RETURN(int64_t head_dim, t.Int(r, c_hd));
    ASSIGN_OR_RETURN(int64_t step, t.Int(r, c_step));
    ASSIGN_OR_RETURN(double ms, t.Ms(r, c_lat));
    perf::OpShape shape;
    if (context) {
      shape =
          perf::AttnContextShape{*dtype, *kv, batch, isl, isl + step, heads, kv_heads, head_dim};
    } else {
      shape = perf::AttnDecodeShape{*dtype, *kv, batch, isl + step, heads, kv_heads, head_dim};
    }
    RETURN_IF_ERROR(perf::Validate(shape).WithContext(t.name() + ":" + std::to_string(t.line(r))));
    m.Add(Imported(shape, t.name()), ms * 1000);
  }
  return Status::Ok();
}

// NCCL element types: "half" and "bfloat16" move at the same rate; int8 as a 1-byte type.
std::optional<DType> MapCommDType(const std::string& s) {
  if (s == "half" || s == "float16" || s == "bfloat16") return DType::kBf16;
  if (s == "int8" || s == "fp8") return DType::kFp8;
  if (s == "float" || s == "float32") return DType::kFp32;
  return std::nullopt;
}

Status ReadCollectives(const Table& t, bool custom, Merger& m, ImportReport::File& f) {
  ASSIGN_OR_RETURN(size_t c_dt, t.Column(custom ? "allreduce_dtype" : "nccl_dtype"));
  ASSIGN_OR_RETURN(size_t c_g, t.Column("num_gpus"));
  ASSIGN_OR_RETURN(size_t c_size, t.Column("message_size"));
  ASSIGN_OR_RETURN(size_t c_lat, t.Column("latency"));
  std::optional<size_t> c_op, c_backend;
  if (custom) {
    ASSIGN_OR_RETURN(c_backend, t.Column("backend"));
  } else {
    ASSIGN_OR_RETURN(c_op, t.Column("op_name"));
  }
  for (size_t r = 0; r < t.size(); ++r) {
    auto dtype = MapCommDType(t.Text(r, c_dt));
    if (!dtype) {
      ++f.skipped;
      f.skip_reason = "dtype " + t.Text(r, c_dt) + " is not modelled";
      continue;
    }
    // The CUDA-graph variant is what serving engines run; the eager one is skipped.
    if (custom && t.Text(r, *c_backend).find("graph") == std::string::npos) {
      ++f.skipped;
      f.skip_reason = "eager custom all-reduce rows (engines replay CUDA graphs)";
      continue;
    }
    perf::Collective op = perf::Collective::kAllReduce;
    if (!custom) {
      auto parsed = perf::ParseCollective(t.Text(r, *c_op));
      if (!parsed.ok()) return parsed.status().WithContext(t.Where(r, *c_op));
      op = parsed.value();
    }
    ASSIGN_OR_RETURN(int64_t gpus, t.Int(r, c_g));
    ASSIGN_OR_RETURN(int64_t elements, t.Int(r, c_size));
    ASSIGN_OR_RETURN(double ms, t.Ms(r, c_lat));
    const auto bytes = static_cast<int64_t>(static_cast<double>(elements) * DTypeBytes(*dtype));
    perf::CollectiveShape c{op, *dtype, gpus, bytes};
    RETURN_IF_ERROR(perf::Validate(c).WithContext(t.name() + ":" + std::to_string(t.line(r))));
    m.Add(Imported(c, t.name(), custom ? "custom" : "nccl"), ms * 1000);
  }
  return Status::Ok();
}

}  // namespace

int64_t ImportReport::total_rows() const {
  int64_t n = 0;
  for (const File& f : files) n += f.rows;
  return n;
}

StatusOr<std::vector<PerfRow>> ReadAiconfiguratorTables(const ImportOptions& o,
                                                        ImportReport* report) {
  std::error_code ec;
  if (!fs::is_directory(o.dir, ec)) {
    return NotFound(o.dir +
                    ": not a directory; pass the folder holding the *_perf_*.csv tables, "
                    "e.g. ../shared/data/perf-reference/aiconfigurator/h200_sxm");
  }
  if (o.framework != "vllm" && o.framework != "trtllm" && o.framework != "sglang") {
    return InvalidArgument("--framework: '" + o.framework +
                           "' unknown; use vllm, trtllm or sglang");
  }
  struct Spec {
    std::string prefix;
    int kind;  // 0 gemm, 1 context, 2 generation, 3 nccl, 4 custom all-reduce
  };
  const std::vector<Spec> specs = {
      {"gemm_perf_" + o.framework + "_", 0},
      {"context_attention_perf_" + o.framework + "_", 1},
      {"generation_attention_perf_" + o.framework + "_", 2},
      {"nccl_perf_nccl_", 3},
      {"custom_allreduce_perf_" + o.framework + "_", 4},
  };
  std::vector<PerfRow> rows;
  for (const Spec& spec : specs) {
    const std::string name = FindTable(o.dir, spec.prefix);
    if (name.empty()) continue;
    ASSIGN_OR_RETURN(Table t, Table::Load((fs::path(o.dir) / name).string()));
    ImportReport::File f;
    f.name = name;
    f.lines = static_cast<int64_t>(t.size());
    Merger m;
    switch (spec.kind) {
      case 0:
        RETURN_IF_ERROR(ReadGemm(t, m, f));
        break;
      case 1:
      case 2:
        RETURN_IF_ERROR(ReadAttention(t, spec.kind == 1, m, f));
        break;
      default:
        RETURN_IF_ERROR(ReadCollectives(t, spec.kind == 4, m, f));
        break;
    }
    f.rows = static_cast<int64_t>(m.size());
    m.Finish(rows);
    if (report) report->files.push_back(std::move(f));
  }
  if (rows.empty()) {
    return NotFound(o.dir + ": no AIConfigurator tables for framework '" + o.framework +
                    "' (expected files like gemm_perf_" + o.framework + "_<version>.csv)");
  }
  return rows;
}

StatusOr<ImportReport> ImportAiconfigurator(const ImportOptions& o, perf::PerfDb& db) {
  auto gpu = LoadGpu(o.gpu);
  if (!gpu.ok()) return gpu.status().WithContext("--gpu");
  ImportReport report;
  ASSIGN_OR_RETURN(std::vector<PerfRow> rows, ReadAiconfiguratorTables(o, &report));
  perf::DeviceInfo d;
  d.name = "imported:aiconfigurator:" + o.gpu + ":" + o.framework;
  d.kind = "imported";
  d.catalog_gpu = o.gpu;
  d.memory_bytes = gpu.value().memory_bytes;
  d.sm_count = gpu.value().sm_count;
  d.peak_flops_bf16 = gpu.value().bf16_tflops * 1e12;
  d.memory_bandwidth_bytes_per_s = gpu.value().hbm_bandwidth_bytes_per_s;
  for (const auto& f : report.files) {
    d.library_versions += (d.library_versions.empty() ? "" : "; ") + f.name;
  }
  d.tool_version = "dynamo-profile " + std::string(kDynamoVersion);
  d.created_at = NowUtcIso8601();
  report.device_name = d.name;
  RETURN_IF_ERROR(db.Begin());
  auto write = [&]() -> Status {
    ASSIGN_OR_RETURN(int64_t id, db.UpsertDevice(d));
    for (const PerfRow& r : rows) RETURN_IF_ERROR(db.Insert(id, r));
    return db.Commit();
  };
  Status s = write();
  if (!s.ok()) {
    (void)db.Rollback();
    return s;
  }
  return report;
}

}  // namespace dynamo::profiler
