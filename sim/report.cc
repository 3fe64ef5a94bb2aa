#include "sim/report.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <system_error>

#include "core/file_io.h"

namespace dynamo::sim {
namespace {

using nlohmann::ordered_json;

ordered_json PercentilesJson(const Percentiles& p) {
  return ordered_json{{"mean", p.mean}, {"p50", p.p50}, {"p90", p.p90},
                      {"p99", p.p99},   {"max", p.max}, {"count", p.count}};
}

std::string Fmt(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, v);
  return buf;
}

double Ms(Time t) { return t == Time::Max() ? -1 : static_cast<double>(t.nanos()) * 1e-6; }

}  // namespace

std::string SummaryJson(const RunSummary& s, int indent) {
  ordered_json j;
  j["seed"] = s.seed;
  j["requests"] = s.requests;
  j["completed"] = s.completed;
  j["rejected"] = s.rejected;
  j["stalled"] = s.stalled;
  if (s.stopped_early) j["stopped_early"] = true;
  j["kv_blocks_in_use_at_end"] = s.kv_blocks_in_use_at_end;
  j["duration_s"] = s.duration_s;
  j["gpus"] = s.gpus;
  j["ttft_ms"] = PercentilesJson(s.ttft_ms);
  j["itl_ms"] = PercentilesJson(s.itl_ms);
  j["tpot_ms"] = PercentilesJson(s.tpot_ms);
  j["e2e_ms"] = PercentilesJson(s.e2e_ms);
  j["queue_ms"] = PercentilesJson(s.queue_ms);
  j["transfer_ms"] = PercentilesJson(s.transfer_ms);
  j["throughput_rps"] = s.throughput_rps;
  j["input_tokens_per_s"] = s.input_tokens_per_s;
  j["output_tokens_per_s"] = s.output_tokens_per_s;
  j["output_tokens_per_s_per_gpu"] = s.output_tokens_per_s_per_gpu;
  j["output_tokens_per_s_per_user"] = s.output_tokens_per_s_per_user;
  j["kv_hit_rate"] = s.kv_hit_rate;
  j["utilization"] = s.utilization;
  j["preemptions"] = s.preemptions;
  j["steps"] = s.steps;
  j["transfers"] = s.transfers;
  j["transfer_gb"] = s.transfer_gb;
  j["littles_law"] = ordered_json{{"l", s.little_l}, {"lambda_w", s.little_lambda_w}};
  j["gpu_seconds"] = s.gpu_seconds;
  if (s.planner_intervals > 0 || s.scale_ups > 0 || s.scale_downs > 0) {
    j["planner"] = ordered_json{{"intervals", s.planner_intervals},
                                {"intervals_within_sla", s.planner_intervals_within_sla},
                                {"scale_ups", s.scale_ups},
                                {"scale_downs", s.scale_downs},
                                {"gpus_avg", s.gpus_avg}};
  }
  if (s.slo) {
    ordered_json slo;
    slo["percentile"] = s.slo->percentile;
    if (s.slo->ttft_ms) slo["ttft_ms"] = *s.slo->ttft_ms;
    if (s.slo->itl_ms) slo["itl_ms"] = *s.slo->itl_ms;
    slo["ttft_ok"] = s.ttft_ok;
    slo["itl_ok"] = s.itl_ok;
    slo["goodput_rps"] = s.goodput_rps;
    j["slo"] = slo;
  }
  j["perf_source"] = s.perf_source;
  j["perf_lookup"] = s.perf_lookup;
  j["fingerprint"] = s.fingerprint;
  j["events"] = s.events;
  j["wall_s"] = s.wall_s;
  return j.dump(indent);
}

std::string RequestsCsv(const std::vector<RequestRecord>& requests) {
  std::string out =
      "id,arrival_ms,admitted_ms,first_token_ms,finish_ms,isl,osl,output,cached_tokens,ttft_ms,"
      "tpot_ms,itl_max_ms,e2e_ms,queue_ms,kv_wait_ms,transfer_ms,prefill_worker,decode_worker,"
      "preemptions,status\n";
  out.reserve(out.size() + requests.size() * 160);
  for (const RequestRecord& r : requests) {
    const bool first = r.first_token != Time::Max();
    const double ttft = first ? (r.first_token - r.arrival).millis() : -1;
    const double tpot = r.done() && r.output > 1 ? (r.finish - r.first_token).millis() /
                                                       static_cast<double>(r.output - 1)
                                                 : 0;
    const double e2e = r.done() ? (r.finish - r.arrival).millis() : -1;
    const double queue = r.admitted != Time::Max() ? (r.admitted - r.arrival).millis() : -1;
    const char* status = r.done() ? "completed" : r.rejected ? "rejected" : "stalled";
    // Hand-off figures only for requests whose KV moved between workers.
    const bool handoff = r.decode_worker >= 0 && !r.local_prefill && r.osl > 1 && r.done();
    const double kv_wait = handoff ? r.kv_wait.millis() : -1;
    const double transfer = handoff ? r.transfer.millis() : -1;
    char line[512];
    std::snprintf(line, sizeof(line),
                  "%llu,%.6f,%.6f,%.6f,%.6f,%d,%d,%d,%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%d,%d,"
                  "%d,%s\n",
                  static_cast<unsigned long long>(r.id.value()), Ms(r.arrival), Ms(r.admitted),
                  Ms(r.first_token), Ms(r.finish), r.isl, r.osl, r.output, r.cached_tokens, ttft,
                  tpot, r.itl_max.millis(), e2e, queue, kv_wait, transfer, r.prefill_worker,
                  r.decode_worker, r.preemptions, status);
    out += line;
  }
  return out;
}

std::string TimeseriesCsv(const std::vector<TimeseriesRow>& rows) {
  std::string out =
      "t_s,arrivals,completions,output_tokens,in_system_avg,running_avg,kv_used_frac,busy_frac,"
      "gpus\n";
  for (const TimeseriesRow& r : rows) {
    out += Fmt("%.3f", r.t_s) + "," + std::to_string(r.arrivals) + "," +
           std::to_string(r.completions) + "," + std::to_string(r.output_tokens) + "," +
           Fmt("%.4f", r.in_system_avg) + "," + Fmt("%.4f", r.running_avg) + "," +
           Fmt("%.4f", r.kv_used_frac) + "," + Fmt("%.4f", r.busy_frac) + "," +
           std::to_string(r.gpus) + "\n";
  }
  return out;
}

std::string PlannerCsv(const std::vector<PlannerRow>& rows) {
  // Expected latencies are +inf when the decided replicas cannot carry the forecast load.
  auto num = [](double v) { return std::isfinite(v) ? Fmt("%.3f", v) : std::string("inf"); };
  std::string out =
      "t_s,arrivals,ttft_ms,itl_ms,within_sla,predicted_rps,predicted_isl,predicted_osl,"
      "prefill_replicas,decode_replicas,gpus,expected_ttft_ms,expected_itl_ms\n";
  for (const PlannerRow& r : rows) {
    out += Fmt("%.3f", r.t_s) + "," + std::to_string(r.arrivals) + "," + num(r.ttft_ms) + "," +
           num(r.itl_ms) + "," + (r.within_sla ? "1" : "0") + "," + num(r.predicted_rps) + "," +
           num(r.predicted_isl) + "," + num(r.predicted_osl) + "," +
           std::to_string(r.prefill_replicas) + "," + std::to_string(r.decode_replicas) + "," +
           std::to_string(r.gpus) + "," + num(r.expected_ttft_ms) + "," + num(r.expected_itl_ms) +
           "\n";
  }
  return out;
}

Status WriteRunOutputs(const std::string& dir, const SimResult& result) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return IoError(dir + ": cannot create the output directory: " + ec.message());
  RETURN_IF_ERROR(WriteFileAtomic(dir + "/summary.json", SummaryJson(result.summary, 2) + "\n"));
  RETURN_IF_ERROR(WriteFileAtomic(dir + "/requests.csv", RequestsCsv(result.requests)));
  RETURN_IF_ERROR(WriteFileAtomic(dir + "/timeseries.csv", TimeseriesCsv(result.timeseries)));
  if (!result.planner.empty()) {
    RETURN_IF_ERROR(WriteFileAtomic(dir + "/planner.csv", PlannerCsv(result.planner)));
  }
  return Status::Ok();
}

}  // namespace dynamo::sim
