#include "core/workload/workload.h"

#include "core/catalog.h"
#include "core/file_io.h"
#include "core/json.h"
#include "core/workload/synthetic_workload.h"

namespace dynamo {
namespace {

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void ApplyOverrides(TraceOptions& o, const WorkloadOverrides& ov) {
  if (ov.first) o.first = *ov.first;
  if (ov.time_scale) o.time_scale = *ov.time_scale;
  if (ov.rate_rps) o.rate_rps = *ov.rate_rps;
}

Status CheckOptions(const TraceOptions& o, const std::string& where) {
  if (o.time_scale != 1.0 && o.rate_rps > 0) {
    return InvalidArgument(where + ": give either a time scale or a target rate, not both");
  }
  if (!(o.time_scale > 0)) {
    return InvalidArgument(where + ": time scale " + std::to_string(o.time_scale) + " must be > 0");
  }
  if (o.rate_rps < 0) {
    return InvalidArgument(where + ": rate " + std::to_string(o.rate_rps) + " must be > 0");
  }
  if (o.first < 0)
    return InvalidArgument(where + ": first " + std::to_string(o.first) + " must be >= 0");
  return Status::Ok();
}

StatusOr<Workload> LoadTraceSpec(const JsonNode& trace, const std::string& base_dir,
                                 const WorkloadOverrides& ov) {
  RETURN_IF_ERROR(
      trace.CheckKnownKeys({"file", "format", "first", "time_scale", "rate_rps", "block_tokens"}));
  ASSIGN_OR_RETURN(std::string file, trace.GetString("file"));
  const std::string default_format = EndsWith(file, ".csv") ? "azure" : "mooncake";
  ASSIGN_OR_RETURN(std::string format,
                   trace.GetEnumOr("format", default_format, {"mooncake", "azure"}));
  TraceOptions o;
  ASSIGN_OR_RETURN(o.first, trace.GetIntOr("first", 0, Bounds::NonNegative()));
  ASSIGN_OR_RETURN(o.time_scale, trace.GetDoubleOr("time_scale", 1.0, Bounds::Positive()));
  ASSIGN_OR_RETURN(o.rate_rps, trace.GetDoubleOr("rate_rps", 0.0, Bounds::Positive()));
  ASSIGN_OR_RETURN(int64_t block, trace.GetIntOr("block_tokens", 512, Bounds::Between(1, 1 << 20)));
  o.block_tokens = static_cast<int32_t>(block);
  ApplyOverrides(o, ov);
  RETURN_IF_ERROR(CheckOptions(o, trace.Where()));
  return LoadTrace(ResolvePath(base_dir, file),
                   format == "azure" ? TraceFormat::kAzure : TraceFormat::kMooncake, o);
}

StatusOr<Workload> LoadSpec(const JsonNode& root, const std::string& base_dir,
                            const std::string& source, const WorkloadOverrides& ov) {
  if (!root.IsObject()) return root.Error("expected a workload object, got " + root.Render());
  if (auto trace = root.Find("trace")) {
    RETURN_IF_ERROR(root.CheckKnownKeys({"trace", "name", "description"}));
    return LoadTraceSpec(*trace, base_dir, ov);
  }
  if (ov.first || ov.time_scale || ov.rate_rps) {
    return InvalidArgument(source +
                           ": --first, --time-scale and --rate apply to traces; edit the "
                           "spec's 'requests' or 'arrival' instead");
  }
  ASSIGN_OR_RETURN(SyntheticSpec spec, SyntheticSpec::Parse(root, base_dir));
  if (ov.seed) spec.seed = *ov.seed;
  return GenerateWorkload(spec, source);
}

}  // namespace

StatusOr<Workload> LoadWorkload(const std::string& ref, const WorkloadOverrides& ov) {
  if (ref.empty()) return InvalidArgument("workload: empty name; give a file or a bundled name");
  const bool bundled = IsBundledName(ref, "workloads", ".json");
  if (bundled || EndsWith(ref, ".json")) {
    ASSIGN_OR_RETURN(JsonNode root, LoadCatalogJson(ref, "workloads", ".json", "workload"));
    const std::string base_dir = bundled ? "" : DirName(ref);
    return LoadSpec(root, base_dir, root.source(), ov);
  }
  TraceOptions o;
  ApplyOverrides(o, ov);
  RETURN_IF_ERROR(CheckOptions(o, ref));
  if (EndsWith(ref, ".jsonl")) return LoadTrace(ref, TraceFormat::kMooncake, o);
  if (EndsWith(ref, ".csv")) return LoadTrace(ref, TraceFormat::kAzure, o);
  return InvalidArgument(ref +
                         ": unknown workload file type; use .json (a spec), .jsonl "
                         "(Mooncake trace) or .csv (Azure trace)");
}

std::vector<std::string> BundledWorkloadNames() { return CatalogNames("workloads", ".json"); }

}  // namespace dynamo
