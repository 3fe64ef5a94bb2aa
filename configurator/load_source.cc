#include "configurator/load_source.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "configurator/sweep_types.h"
#include "core/catalog.h"
#include "core/embedded_data.h"
#include "core/file_io.h"
#include "core/json.h"
#include "core/workload/synthetic_workload.h"
#include "core/workload/workload.h"
#include "core/workload/workload_stats.h"

namespace dynamo::configurator {

using Json = nlohmann::ordered_json;

struct LoadSource::Impl {
  enum class Kind { kSynthetic, kTrace } kind = Kind::kSynthetic;
  std::string description;
  bool demand = false;
  bool closed_loop = false;
  double base = 1;
  // Synthetic: the spec as JSON (rewritten per load for WorkloadJson) and parsed once (Make
  // only sets its rate or concurrency and request count); `base_dir` resolves its relative
  // file references.
  Json spec;
  SyntheticSpec parsed;
  std::string base_dir;

  // `parsed` from `spec`, as the generator reads it (once; Make varies only the rate or
  // concurrency and the request count).
  Status ParseSpec() {
    ASSIGN_OR_RETURN(JsonNode root, JsonDocument::Parse(spec.dump(), description));
    ASSIGN_OR_RETURN(parsed, SyntheticSpec::Parse(root, base_dir));
    return Status::Ok();
  }
  // Trace: the workload at load 1 and the file it came from.
  Workload trace;
  std::string trace_file;
};

namespace {

std::string Num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

// The spec's text: a bundled workload or a file.
StatusOr<std::string> SpecText(const std::string& ref, std::string& base_dir) {
  if (IsBundledName(ref, "workloads", ".json")) {
    std::string name = ref;
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    auto text = FindEmbeddedFile("workloads/" + name + ".json");
    if (!text) return NotFound("workload " + ref + ": not bundled");
    return std::string(*text);
  }
  base_dir = std::filesystem::absolute(std::filesystem::path(ref)).parent_path().string();
  return ReadFile(ref);
}

}  // namespace

LoadSource::LoadSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LoadSource::~LoadSource() = default;
LoadSource::LoadSource(LoadSource&&) noexcept = default;
LoadSource& LoadSource::operator=(LoadSource&&) noexcept = default;

StatusOr<LoadSource> LoadSource::Create(const SweepInputs& in) {
  auto impl = std::make_unique<Impl>();
  if (in.workload.empty()) {
    if (in.isl < 1 || in.osl < 1) {
      return InvalidArgument("--isl and --osl must be >= 1 (got " + std::to_string(in.isl) + ", " +
                             std::to_string(in.osl) + ")");
    }
    impl->demand = in.rate_rps.has_value();
    impl->base = in.rate_rps.value_or(1.0);
    impl->spec = Json{{"requests", in.requests},
                      {"seed", in.seed},
                      {"arrival", Json{{"process", "poisson"}, {"rate_rps", impl->base}}},
                      {"isl", Json{{"dist", "fixed"}, {"value", in.isl}}},
                      {"osl", Json{{"dist", "fixed"}, {"value", in.osl}}}};
    impl->description = "synthetic: Poisson arrivals, ISL " + std::to_string(in.isl) + ", OSL " +
                        std::to_string(in.osl) +
                        (in.rate_rps ? ", demand " + Num(*in.rate_rps) + " req/s" : "");
    RETURN_IF_ERROR(impl->ParseSpec());
    return LoadSource(std::move(impl));
  }
  impl->demand = true;
  const std::string& ref = in.workload;
  const bool spec = IsBundledName(ref, "workloads", ".json") || ref.ends_with(".json");
  if (spec) {
    ASSIGN_OR_RETURN(std::string text, SpecText(ref, impl->base_dir));
    // Validate through the regular loader first: its messages name the file and field.
    ASSIGN_OR_RETURN(Workload probe, LoadWorkload(ref));
    (void)probe;
    Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) return InvalidArgument(ref + ": not a JSON object");
    if (j.contains("trace")) {
      return InvalidArgument(ref +
                             ": a trace wrapper; give the trace file itself (.jsonl or .csv) to "
                             "--workload, with --requests for how many of its requests to use");
    }
    const Json& arrival = j["arrival"];
    const std::string process = arrival.value("process", "poisson");
    if (arrival.contains("shape")) {
      return InvalidArgument(ref +
                             ": $.arrival.shape: the sweep scales a constant rate; use "
                             "\"rate_rps\" (the load search multiplies it) or simulate "
                             "time-varying load with dynamo-sim run");
    }
    if (process == "concurrency") {
      impl->closed_loop = true;
      impl->base = arrival.value("concurrency", 1);
    } else {
      impl->base = arrival.value("rate_rps", 1.0);
    }
    j.erase("duration_s");
    j.erase("name");
    j["requests"] = in.requests;
    j["seed"] = in.seed;
    impl->spec = std::move(j);
    impl->description =
        ref + (impl->closed_loop ? " (closed loop, " + Num(impl->base) + " in flight)"
                                 : " (" + Num(impl->base) + " req/s)");
    RETURN_IF_ERROR(impl->ParseSpec());
    return LoadSource(std::move(impl));
  }
  // A trace: loaded once at load 1; the sweep uses its first `requests` requests.
  WorkloadOverrides ov;
  ov.first = in.requests;
  ASSIGN_OR_RETURN(impl->trace, LoadWorkload(ref, ov));
  if (impl->trace.requests.size() < 2) {
    return InvalidArgument(ref + ": a trace needs at least 2 requests for a rate");
  }
  impl->kind = Impl::Kind::kTrace;
  impl->trace_file = std::filesystem::absolute(ref).string();
  const WorkloadStats st = ComputeWorkloadStats(impl->trace);
  impl->base = st.mean_rate_rps.value_or(1.0);
  impl->description = ref + " (first " + std::to_string(impl->trace.requests.size()) +
                      " requests, " + Num(impl->base) + " req/s)";
  return LoadSource(std::move(impl));
}

bool LoadSource::closed_loop() const { return impl_->closed_loop; }
double LoadSource::base() const { return impl_->base; }
bool LoadSource::has_demand() const { return impl_->demand; }
const std::string& LoadSource::description() const { return impl_->description; }

namespace {

int64_t ClosedLoopConcurrency(double base, double load) {
  return std::max<int64_t>(1, std::llround(load * base));
}

Json SpecAt(const Json& spec, bool closed_loop, double base, double load, int64_t requests) {
  Json j = spec;
  j["requests"] = requests;
  Json& arrival = j["arrival"];
  if (closed_loop) {
    arrival["concurrency"] = ClosedLoopConcurrency(base, load);
  } else {
    arrival["rate_rps"] = base * load;
  }
  return j;
}

}  // namespace

StatusOr<Workload> LoadSource::Make(double load, int64_t requests) const {
  const Impl& s = *impl_;
  if (s.kind == Impl::Kind::kSynthetic) {
    // What SyntheticSpec::Parse makes of SpecAt's JSON (WorkloadJson), without the round trip.
    SyntheticSpec spec = s.parsed;
    spec.requests = requests;
    spec.duration_s = 0;
    if (s.closed_loop) {
      spec.arrival.concurrency = static_cast<int>(ClosedLoopConcurrency(s.base, load));
    } else {
      spec.arrival.shape = RateShape::Constant(s.base * load);
    }
    return GenerateWorkload(spec, s.description);
  }
  Workload w;
  w.block_tokens = s.trace.block_tokens;
  w.source = s.trace.source;
  const size_t n = std::min(s.trace.requests.size(), static_cast<size_t>(requests));
  w.requests.assign(s.trace.requests.begin(), s.trace.requests.begin() + static_cast<long>(n));
  const double factor = 1.0 / load;
  for (Request& r : w.requests) {
    r.arrival = Time::FromNanos(std::llround(static_cast<double>(r.arrival.nanos()) * factor));
  }
  return w;
}

std::string LoadSource::WorkloadJson(double load, int64_t requests) const {
  const Impl& s = *impl_;
  if (s.kind == Impl::Kind::kSynthetic) {
    Json j = SpecAt(s.spec, s.closed_loop, s.base, load, requests);
    j["description"] = "dynamo-sim sweep: the workload of the chosen plan at load " + Num(load);
    return j.dump(2) + "\n";
  }
  Json j{{"trace", Json{{"file", s.trace_file}, {"first", requests}, {"time_scale", 1.0 / load}}}};
  return j.dump(2) + "\n";
}

}  // namespace dynamo::configurator
