#include "cli/profile_commands.h"

#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/hardware/gpu_spec.h"
#include "core/model/model_catalog.h"
#include "core/perf/memory_model.h"
#include "core/perf/perf_db.h"
#include "core/perf/perf_model.h"
#include "core/perf/step_latency.h"
#include "profiler/aiconfigurator_import.h"
#include "profiler/kernel_backend.h"
#include "profiler/profile_driver.h"
#include "profiler/shape_grid.h"
#include "profiler/step_validation.h"

namespace dynamo::cli {
namespace {

using nlohmann::json;

std::string Duration(double s) {
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%.0fs", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%dm%02ds", int(s / 60), int(s) % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%dh%02dm", int(s / 3600), int(s / 60) % 60);
  }
  return buf;
}

// A progress bar on stderr: redrawn in place on a terminal, one line per 10% otherwise.
class ProgressBar {
 public:
  ProgressBar() : tty_(::isatty(2) != 0) {}
  void Update(const profiler::Progress& p) {
    const int pct = p.total ? static_cast<int>(100 * p.done / p.total) : 100;
    if (tty_) {
      constexpr int kWidth = 30;
      const int fill = pct * kWidth / 100;
      std::fprintf(stderr, "\r[%.*s%*s] %lld/%lld %3d%% ETA %-7s %.50s\x1b[K", fill,
                   "##############################", kWidth - fill, "", (long long)p.done,
                   (long long)p.total, pct, Duration(p.eta_s).c_str(), p.current.c_str());
      if (p.done == p.total) std::fprintf(stderr, "\n");
    } else if (pct / 10 != last_decile_ || p.done == p.total) {
      last_decile_ = pct / 10;
      std::fprintf(stderr, "progress: %lld/%lld (%d%%), elapsed %s, ETA %s\n", (long long)p.done,
                   (long long)p.total, pct, Duration(p.elapsed_s).c_str(),
                   Duration(p.eta_s).c_str());
    }
  }

 private:
  bool tty_;
  int last_decile_ = -1;
};

StatusOr<DType> Dtype(const std::string& s, const std::string& flag) {
  auto d = ParseDType(s);
  if (!d.ok()) return d.status().WithContext(flag);
  return d;
}

bool FileExists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// A whole decimal token count, or nullopt ("10x", "", "-3").
std::optional<int64_t> ParseCount(const std::string& s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

std::atomic<bool> g_interrupted{false};
void OnSigint(int) { g_interrupted = true; }

// The model to price with: the database's, or the analytic one for --gpu.
StatusOr<std::shared_ptr<const perf::PerfModel>> OpenModel(const std::string& db_path,
                                                           const std::string& gpu,
                                                           const std::string& device) {
  if (!db_path.empty()) {
    ASSIGN_OR_RETURN(auto db, perf::PerfDb::Open(db_path, perf::PerfDb::Mode::kReadOnly));
    ASSIGN_OR_RETURN(perf::PerfModel m, perf::PerfModel::FromDb(*db, device));
    if (!gpu.empty() && gpu != m.device().catalog_gpu) {
      return InvalidArgument(
          "--gpu " + gpu + " contradicts the database's device '" + m.device().name + "' (" +
          (m.device().catalog_gpu.empty() ? "no catalog GPU" : m.device().catalog_gpu) +
          "); give either the database or --gpu");
    }
    return std::make_shared<const perf::PerfModel>(std::move(m));
  }
  if (gpu.empty()) {
    return InvalidArgument("give a database (DB or --perf-db) or --gpu NAME for analytic mode");
  }
  ASSIGN_OR_RETURN(GpuSpec spec, LoadGpu(gpu));
  return std::make_shared<const perf::PerfModel>(perf::PerfModel::Analytic(spec));
}

}  // namespace

Status ProfileRun(const ProfileRunArgs& a) {
  if (a.out.empty()) return InvalidArgument("--out: required (the database to write)");
  if (a.models.empty()) return InvalidArgument("--models: give at least one model");
  std::vector<ModelSpec> models;
  for (const std::string& name : a.models) {
    ASSIGN_OR_RETURN(ModelSpec m, LoadModel(name));
    models.push_back(std::move(m));
  }
  profiler::BackendOptions bo;
  bo.threads = a.threads;
  bo.device_index = a.device_index;
  std::unique_ptr<profiler::KernelBackend> backend;
  if (a.backend == "cpu") {
    ASSIGN_OR_RETURN(backend, profiler::MakeCpuBackend(bo));
  } else if (a.backend == "cuda") {
    ASSIGN_OR_RETURN(backend, profiler::MakeCudaBackend(bo));
  } else {
    return InvalidArgument("--backend: '" + a.backend + "' unknown; use cuda or cpu");
  }
  const bool cpu = a.backend == "cpu";
  profiler::GridOptions g;
  g.tps = a.tps;
  g.quick = a.quick;
  g.gemm_dtypes.clear();
  std::vector<std::string> dtypes = a.dtypes;
  if (dtypes.empty())
    dtypes = cpu ? std::vector<std::string>{"fp32"} : std::vector<std::string>{"bf16", "fp8"};
  for (const std::string& d : dtypes) {
    ASSIGN_OR_RETURN(DType dt, Dtype(d, "--dtypes"));
    g.gemm_dtypes.push_back(dt);
  }
  g.attention_dtype = cpu ? DType::kFp32 : DType::kBf16;
  g.max_flops = a.max_gflop > 0 ? a.max_gflop * 1e9 : (cpu ? 20e9 : 0);
  const std::vector<perf::OpShape> grid = profiler::BuildShapeGrid(models, g);

  ASSIGN_OR_RETURN(auto db, perf::PerfDb::Open(a.out, perf::PerfDb::Mode::kReadWrite));
  std::fprintf(
      stderr, "dynamo-profile: %s, %zu shapes for %zu model(s) at tp %s into %s\n",
      backend->device().name.c_str(), grid.size(), models.size(),
      [&] {
        std::string s;
        for (int tp : a.tps) s += (s.empty() ? "" : ",") + std::to_string(tp);
        return s;
      }()
          .c_str(),
      a.out.c_str());
  profiler::RunOptions ro;
  ro.measure.repetitions = a.repetitions;
  ro.measure.warmup = a.warmup;
  ro.max_points = a.max_points;
  ProgressBar bar;
  if (!a.no_progress) ro.on_progress = [&](const profiler::Progress& p) { bar.Update(p); };
  ro.should_stop = [] { return g_interrupted.load(); };
  auto previous = std::signal(SIGINT, OnSigint);
  auto report = profiler::RunProfile(*backend, grid, *db, ro);
  std::signal(SIGINT, previous);
  if (!report.ok()) return report.status();
  const profiler::RunReport& r = report.value();
  std::printf(
      "device: %s\nshapes: %lld planned, %lld measured now, %lld already in the database, "
      "%lld unsupported\n",
      r.device_name.c_str(), (long long)r.planned, (long long)r.measured,
      (long long)r.already_measured, (long long)r.unsupported);
  for (const auto& [why, n] : r.unsupported_reasons) {
    std::printf("  unsupported x%lld: %s\n", (long long)n, why.c_str());
  }
  std::printf("time: %s\n", Duration(r.seconds).c_str());
  if (r.interrupted) {
    return FailedPrecondition("interrupted after " + std::to_string(r.measured) +
                              " new points; every finished point is saved in " + a.out +
                              "; run the same command again to resume");
  }
  return Status::Ok();
}

Status ProfileImport(const ImportArgs& a) {
  if (a.out.empty()) return InvalidArgument("--out: required (the database to write)");
  const bool existed = FileExists(a.out);
  ASSIGN_OR_RETURN(auto db, perf::PerfDb::Open(a.out, perf::PerfDb::Mode::kReadWrite));
  profiler::ImportOptions o{a.dir, a.gpu, a.framework};
  auto report = profiler::ImportAiconfigurator(o, *db);
  if (!report.ok()) {
    db.reset();
    // The import wrote nothing (one transaction); a database file it created goes away too.
    if (!existed) std::remove(a.out.c_str());
    return report.status();
  }
  const profiler::ImportReport& r = report.value();
  std::printf("device: %s\n", r.device_name.c_str());
  for (const auto& f : r.files) {
    std::printf("  %-45s %7lld lines -> %7lld rows", f.name.c_str(), (long long)f.lines,
                (long long)f.rows);
    if (f.skipped) std::printf(", %lld skipped (%s)", (long long)f.skipped, f.skip_reason.c_str());
    std::printf("\n");
  }
  std::printf("imported %lld rows into %s\n", (long long)r.total_rows(), a.out.c_str());
  return Status::Ok();
}

Status ProfileUpgrade(const std::string& path) {
  if (!FileExists(path)) return NotFound(path + ": no such database");
  ASSIGN_OR_RETURN(auto db, perf::PerfDb::Open(path, perf::PerfDb::Mode::kReadWrite));
  std::printf("%s: schema version %d\n", path.c_str(), db->schema_version());
  return Status::Ok();
}

Status ProfileShow(const std::string& path, const std::string& device_name, bool as_json) {
  ASSIGN_OR_RETURN(auto db, perf::PerfDb::Open(path, perf::PerfDb::Mode::kReadOnly));
  ASSIGN_OR_RETURN(std::vector<perf::DeviceInfo> devices, db->Devices());
  json out = {
      {"database", path}, {"schema_version", db->schema_version()}, {"devices", json::array()}};
  if (!as_json)
    std::printf("%s: schema version %d, %zu device(s)\n", path.c_str(), db->schema_version(),
                devices.size());
  if (!device_name.empty()) RETURN_IF_ERROR(db->FindDevice(device_name).status());
  for (const perf::DeviceInfo& d : devices) {
    if (!device_name.empty() && d.name != device_name) continue;
    const int64_t id = d.id;
    ASSIGN_OR_RETURN(std::vector<perf::TableSummary> tables, db->Summary(id));
    ASSIGN_OR_RETURN(std::vector<perf::HostOverheadRow> host, db->HostOverheads(id));
    json jd = {{"name", d.name},
               {"kind", d.kind},
               {"catalog_gpu", d.catalog_gpu},
               {"driver_version", d.driver_version},
               {"cuda_version", d.cuda_version},
               {"library_versions", d.library_versions},
               {"sm_clock_mhz", d.sm_clock_mhz},
               {"memory_bytes", d.memory_bytes},
               {"sm_count", d.sm_count},
               {"cpu_model", d.cpu_model},
               {"threads", d.threads},
               {"tool_version", d.tool_version},
               {"created_at", d.created_at},
               {"tables", json::object()},
               {"host_overhead_us", json::object()}};
    if (!as_json) {
      std::printf("\ndevice %s (%s)\n", d.name.c_str(), d.kind.c_str());
      if (!d.catalog_gpu.empty()) std::printf("  catalog gpu: %s\n", d.catalog_gpu.c_str());
      if (!d.cpu_model.empty())
        std::printf("  cpu: %s, %lld threads\n", d.cpu_model.c_str(), (long long)d.threads);
      if (!d.driver_version.empty())
        std::printf("  driver %s, cuda %s\n", d.driver_version.c_str(), d.cuda_version.c_str());
      if (!d.library_versions.empty()) std::printf("  sources: %s\n", d.library_versions.c_str());
      std::printf("  written by %s on %s\n", d.tool_version.c_str(), d.created_at.c_str());
    }
    for (const perf::TableSummary& t : tables) {
      json prov = json::object();
      for (const auto& [p, n] : t.by_provenance) prov[p] = n;
      jd["tables"][t.table] = {{"rows", t.rows}, {"provenance", prov}};
      if (!as_json && t.rows > 0) {
        std::string p;
        for (const auto& [k, n] : t.by_provenance)
          p += (p.empty() ? "" : ", ") + std::to_string(n) + " " + k;
        std::printf("  %-14s %8lld rows (%s)\n", t.table.c_str(), (long long)t.rows, p.c_str());
      }
    }
    for (const perf::HostOverheadRow& h : host) {
      jd["host_overhead_us"][std::string(perf::HostOverheadName(h.kind))] = h.timing.median_us;
      if (!as_json) {
        std::printf("  host %-9s %8.2f us (p10 %.2f, p90 %.2f)\n",
                    std::string(perf::HostOverheadName(h.kind)).c_str(), h.timing.median_us,
                    h.timing.p10_us, h.timing.p90_us);
      }
    }
    out["devices"].push_back(jd);
  }
  if (as_json) std::printf("%s\n", out.dump(2).c_str());
  return Status::Ok();
}

Status ProfileQuery(const QueryArgs& a) {
  ASSIGN_OR_RETURN(DType dtype, Dtype(a.dtype, "--dtype"));
  ASSIGN_OR_RETURN(DType kv, Dtype(a.kv_dtype.empty() ? a.dtype : a.kv_dtype, "--kv-dtype"));
  auto need = [](int64_t v, const char* flag) -> Status {
    if (v > 0) return Status::Ok();
    return InvalidArgument(std::string(flag) + ": required for this --op and must be >= 1");
  };
  perf::OpShape shape;
  if (a.op == "gemm") {
    RETURN_IF_ERROR(need(a.m, "--m"));
    RETURN_IF_ERROR(need(a.n, "--n"));
    RETURN_IF_ERROR(need(a.k, "--k"));
    shape = perf::GemmShape{dtype, a.m, a.n, a.k};
  } else if (a.op == "attn_context") {
    RETURN_IF_ERROR(need(a.q_len, "--q-len"));
    RETURN_IF_ERROR(need(a.heads, "--heads"));
    shape = perf::AttnContextShape{dtype,
                                   kv,
                                   a.batch,
                                   a.q_len,
                                   a.kv_len ? a.kv_len : a.q_len,
                                   a.heads,
                                   a.kv_heads ? a.kv_heads : a.heads,
                                   a.head_dim};
  } else if (a.op == "attn_decode") {
    RETURN_IF_ERROR(need(a.kv_len, "--kv-len"));
    RETURN_IF_ERROR(need(a.heads, "--heads"));
    shape = perf::AttnDecodeShape{
        dtype, kv, a.batch, a.kv_len, a.heads, a.kv_heads ? a.kv_heads : a.heads, a.head_dim};
  } else if (a.op == "allreduce" || a.op == "allgather" || a.op == "reducescatter" ||
             a.op == "alltoall") {
    RETURN_IF_ERROR(need(a.gpus, "--gpus"));
    RETURN_IF_ERROR(need(a.bytes, "--bytes"));
    ASSIGN_OR_RETURN(perf::Collective c, perf::ParseCollective(a.op));
    shape = perf::CollectiveShape{c, dtype, a.gpus, a.bytes};
  } else {
    return InvalidArgument("--op: '" + a.op +
                           "' unknown; use gemm, attn_context, attn_decode, allreduce, "
                           "allgather, reducescatter or alltoall");
  }
  ASSIGN_OR_RETURN(auto model, OpenModel(a.db, a.gpu, a.device));
  ASSIGN_OR_RETURN(perf::OpLatency l, model->Lookup(shape));
  if (a.json) {
    json j = {{"latency_us", l.us},
              {"source", perf::LatencySourceName(l.source)},
              {"op", a.op},
              {"shape", perf::Describe(shape)},
              {"mode", model->mode()}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s: %.3f us (%s; %s)\n", perf::Describe(shape).c_str(), l.us,
                std::string(perf::LatencySourceName(l.source)).c_str(), model->mode().c_str());
  }
  return Status::Ok();
}

Status ProfileEstimate(const EstimateArgs& a) {
  ASSIGN_OR_RETURN(ModelSpec model, LoadModel(a.model));
  ASSIGN_OR_RETURN(DType dtype, Dtype(a.dtype, "--dtype"));
  ASSIGN_OR_RETURN(DType kv, Dtype(a.kv_dtype.empty() ? a.dtype : a.kv_dtype, "--kv-dtype"));
  ASSIGN_OR_RETURN(auto perf, OpenModel(a.db, a.gpu, a.device));
  perf::WorkerConfig cfg{{a.tp, a.pp, a.ep}, dtype, kv};
  ASSIGN_OR_RETURN(perf::StepLatencyModel step, perf::StepLatencyModel::Create(model, cfg, perf));
  perf::BatchComposition b;
  for (const std::string& chunk : a.prefill) {
    perf::PrefillChunk c;
    const size_t colon = chunk.find(':');
    const auto q = ParseCount(chunk.substr(0, colon));
    const auto kv_len = colon == std::string::npos ? q : ParseCount(chunk.substr(colon + 1));
    if (!q || !kv_len) {
      return InvalidArgument("--prefill: '" + chunk + "' is not Q or Q:KV (tokens)");
    }
    c.q_len = *q;
    c.kv_len = *kv_len;
    if (c.q_len < 1 || c.kv_len < c.q_len) {
      return InvalidArgument("--prefill: '" + chunk + "' needs 1 <= Q <= KV");
    }
    b.prefill.push_back(c);
  }
  b.decode_seqs = a.decode;
  b.decode_kv_tokens = a.decode * a.decode_kv;
  std::string gpu_name = a.gpu.empty() ? perf->device().catalog_gpu : a.gpu;
  if (b.empty() && gpu_name.empty()) {
    return InvalidArgument("give --prefill chunks and/or --decode sequences");
  }
  json mem = nullptr;
  std::string mem_text;
  if (!gpu_name.empty()) {
    // A worker that does not fit is an error: no step latency is meaningful for it.
    ASSIGN_OR_RETURN(GpuSpec gpu, LoadGpu(gpu_name));
    perf::MemoryConfig mc{
        {a.tp, a.pp, a.ep},       dtype,         kv, a.gpu_memory_utilization, a.block_size,
        a.max_num_batched_tokens, a.max_num_seqs};
    ASSIGN_OR_RETURN(perf::MemoryPlan p, perf::PlanMemory(model, gpu, mc));
    const double gib = 1 << 30;
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "memory per GPU: weights %.2f GiB, activations %.2f GiB, runtime %.2f GiB, "
                  "KV %.2f GiB = %lld blocks of %lld tokens (%lld tokens)",
                  p.weight_bytes / gib, p.activation_bytes / gib, p.runtime_bytes / gib,
                  p.kv_bytes / gib, (long long)p.kv_blocks, (long long)p.block_size,
                  (long long)p.kv_tokens());
    mem_text = buf;
    mem = {{"weight_bytes", p.weight_bytes},   {"activation_bytes", p.activation_bytes},
           {"runtime_bytes", p.runtime_bytes}, {"kv_bytes", p.kv_bytes},
           {"kv_blocks", p.kv_blocks},         {"kv_tokens", p.kv_tokens()}};
  }
  if (b.empty()) {
    if (a.json) {
      std::printf("%s\n", json{{"memory", mem}}.dump(2).c_str());
    } else {
      std::printf("%s tp%d pp%d ep%d %s on %s\n  %s\n", model.name().c_str(), a.tp, a.pp, a.ep,
                  std::string(DTypeName(dtype)).c_str(), gpu_name.c_str(), mem_text.c_str());
    }
    return Status::Ok();
  }
  const perf::StepCost& cost = step.Evaluate(b);
  const perf::StepBreakdown& bd = cost.breakdown;
  if (a.json) {
    json j = {{"step_ms", cost.total.millis()},
              {"pipeline_stage_ms", cost.pipeline_stage.millis()},
              {"source", perf::LatencySourceName(cost.source)},
              {"mode", perf->mode()},
              {"breakdown_ms",
               {{"gemm", bd.gemm_us / 1e3},
                {"attention", bd.attention_us / 1e3},
                {"communication", bd.communication_us / 1e3},
                {"elementwise", bd.elementwise_us / 1e3},
                {"host", bd.host_us / 1e3}}},
              {"memory", mem}};
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("%s tp%d pp%d ep%d %s: step %.3f ms (%s)\n", model.name().c_str(), a.tp, a.pp, a.ep,
                std::string(DTypeName(dtype)).c_str(), cost.total.millis(),
                std::string(perf::LatencySourceName(cost.source)).c_str());
    std::printf(
        "  gemm %.3f ms, attention %.3f ms, communication %.3f ms, elementwise %.3f ms, "
        "host %.3f ms\n",
        bd.gemm_us / 1e3, bd.attention_us / 1e3, bd.communication_us / 1e3, bd.elementwise_us / 1e3,
        bd.host_us / 1e3);
    std::printf("  mode: %s\n", perf->mode().c_str());
    if (!mem_text.empty()) std::printf("  %s\n", mem_text.c_str());
  }
  return Status::Ok();
}

Status ProfileValidate(const ValidateArgs& a) {
  ASSIGN_OR_RETURN(ModelSpec model, LoadModel(a.model));
  ASSIGN_OR_RETURN(auto perf, OpenModel(a.db, "", a.device));
  if (perf->device().kind != "cpu") {
    return InvalidArgument(a.db + ": device '" + perf->device().name +
                           "' is not a CPU; validate compares against steps timed on this CPU, "
                           "so profile it with `dynamo-profile run --backend cpu`");
  }
  profiler::MeasureOptions mo;
  mo.repetitions = a.repetitions;
  mo.warmup = 1;
  ASSIGN_OR_RETURN(
      auto results,
      profiler::ValidateCpuSteps(model, perf, profiler::DefaultValidationCases(), a.threads, mo));
  json j = json::array();
  if (!a.json) {
    std::printf("%s on %s (fp32, tp 1)\n%-40s %12s %12s %8s\n", model.name().c_str(),
                perf->device().name.c_str(), "batch", "predicted ms", "measured ms", "error");
  }
  for (const auto& r : results) {
    if (a.json) {
      j.push_back({{"batch", r.name},
                   {"predicted_ms", r.predicted_ms},
                   {"measured_ms", r.measured_ms},
                   {"relative_error", r.relative_error()}});
    } else {
      std::printf("%-40s %12.2f %12.2f %+7.1f%%\n", r.name.c_str(), r.predicted_ms, r.measured_ms,
                  100 * r.relative_error());
    }
  }
  if (a.json) std::printf("%s\n", j.dump(2).c_str());
  return Status::Ok();
}

}  // namespace dynamo::cli
