// dynamo-load: drive dynamo-run's OpenAI-compatible frontend with a workload and report what a
// client sees (TTFT, ITL, E2E, throughput). Exit codes: 0 every request completed with its full
// token count, 1 bad input, 2 some requests failed or were incomplete, 130 interrupted.

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/exit_codes.h"
#include "core/file_io.h"
#include "core/version.h"
#include "core/workload/synthetic_workload.h"
#include "core/workload/workload.h"
#include "runtime/loadgen/http_client.h"
#include "runtime/loadgen/load_generator.h"

namespace dynamo::cli {
namespace {

using loadgen::LoadOptions;
using loadgen::LoadSummary;

constexpr int kExitSomeFailed = 2;  // dynamo-load only: requests failed or came back short

// A validator with a short message (CLI11's PositiveNumber prints the type's whole range).
CLI::Validator PositiveReal() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        double v = 0;
        return CLI::detail::lexical_cast(s, v) && v > 0 && std::isfinite(v)
                   ? ""
                   : "'" + s + "' is not a positive number";
      },
      "NUMBER>0");
}

struct LoadArgs {
  std::string url;
  std::string workload;
  std::optional<int64_t> requests;
  std::optional<int32_t> isl, osl;
  std::optional<double> rate;
  std::optional<int> concurrency;
  std::string endpoint = "completions";
  bool no_stream = false;
  std::string model;
  std::optional<uint64_t> seed;
  double time_scale = 1.0;
  int64_t max_requests = 0;
  double timeout_s = 300;
  bool json = false;
  std::string out;
  std::string records;
  bool no_progress = false;
};

std::atomic<bool> g_interrupted{false};
// The first Ctrl-C stops the run cleanly; a second one kills at once.
extern "C" void OnInterrupt(int sig) {
  if (g_interrupted.exchange(true)) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
  }
}

// The directory an output file goes to must exist before the run starts.
Status CheckOutputPath(const std::string& flag, const std::string& path) {
  if (path.empty()) return Status::Ok();
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) {
    return InvalidArgument(flag + " " + path + ": directory " + parent.string() +
                           " does not exist; create it first");
  }
  return Status::Ok();
}

Status CheckArgs(const LoadArgs& a) {
  RETURN_IF_ERROR(loadgen::ParseHttpUrl(a.url).status().WithContext("--url"));
  const bool inline_form = a.requests || a.isl || a.osl || a.rate;
  if (!a.workload.empty() && inline_form) {
    return InvalidArgument(
        "--workload " + a.workload +
        ": --requests, --isl, --osl and --rate describe an inline workload instead; drop them, "
        "or drop --workload");
  }
  if (a.workload.empty()) {
    if (!a.requests || !a.isl || !a.osl) {
      return InvalidArgument(
          "no workload: give --workload SPEC_OR_TRACE, or --requests N --isl N --osl N with "
          "--rate R or --concurrency C");
    }
    if (a.rate.has_value() == a.concurrency.has_value()) {
      return InvalidArgument(
          "--requests/--isl/--osl: give exactly one of --rate R (open loop, Poisson arrivals) "
          "and --concurrency C (closed loop)");
    }
  }
  RETURN_IF_ERROR(CheckOutputPath("--out", a.out));
  RETURN_IF_ERROR(CheckOutputPath("--records", a.records));
  return Status::Ok();
}

StatusOr<Workload> BuildWorkload(const LoadArgs& a, uint64_t seed) {
  if (!a.workload.empty()) {
    WorkloadOverrides overrides;
    overrides.seed = a.seed;
    return LoadWorkload(a.workload, overrides);
  }
  SyntheticSpec spec;
  spec.requests = *a.requests;
  spec.seed = seed;
  spec.isl = DistributionSpec::Fixed(*a.isl);
  spec.osl = DistributionSpec::Fixed(*a.osl);
  std::string source = "inline: " + std::to_string(*a.requests) + " requests, ISL " +
                       std::to_string(*a.isl) + ", OSL " + std::to_string(*a.osl) + ", ";
  if (a.rate) {
    spec.arrival.process = ArrivalSpec::Process::kPoisson;
    spec.arrival.shape = RateShape::Constant(*a.rate);
    char rate[32];
    std::snprintf(rate, sizeof rate, "%g", *a.rate);
    source += "Poisson " + std::string(rate) + " req/s";
  } else {
    spec.arrival.process = ArrivalSpec::Process::kConcurrency;
    spec.arrival.concurrency = *a.concurrency;
    source += "concurrency " + std::to_string(*a.concurrency);
  }
  return GenerateWorkload(spec, source);
}

std::string PctRow(const char* name, const LoadSummary::Pct& p) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "  %-6s %10.2f %10.2f %10.2f %10.2f %10.2f\n", name, p.mean, p.p50,
                p.p90, p.p99, p.max);
  return buf;
}

void PrintHuman(const LoadSummary& s, double time_scale) {
  std::printf("requests %lld: completed %lld, failed %lld, incomplete outputs %lld, %.2f s wall\n",
              static_cast<long long>(s.requests), static_cast<long long>(s.completed),
              static_cast<long long>(s.failed), static_cast<long long>(s.incomplete_outputs),
              s.wall_s);
  std::printf("\n  %-6s %10s %10s %10s %10s %10s\n", "ms", "mean", "p50", "p90", "p99", "max");
  std::fputs(PctRow("TTFT", s.ttft_ms).c_str(), stdout);
  std::fputs(PctRow("ITL", s.itl_ms).c_str(), stdout);
  std::fputs(PctRow("E2E", s.e2e_ms).c_str(), stdout);
  std::printf("\noffered %.3f req/s, achieved %.3f req/s, %.1f output tok/s\n", s.offered_rps,
              s.achieved_rps, s.output_tokens_per_s);
  if (time_scale != 1.0) {
    std::printf("(plan time: latencies divided and rates multiplied by --time-scale %g)\n",
                time_scale);
  }
  if (!s.errors.empty()) {
    std::printf("\nerrors:\n");
    for (const auto& [message, count] : s.errors) {
      std::printf("  %6lld  %s\n", static_cast<long long>(count), message.c_str());
    }
  }
}

// The summary with the run's identity: seed, workload, target.
std::string SummaryDocument(const LoadSummary& s, const LoadArgs& a, uint64_t seed,
                            const std::string& source) {
  nlohmann::json j = nlohmann::json::parse(loadgen::SummaryJson(s));
  j["seed"] = seed;
  j["workload"] = source;
  j["url"] = a.url;
  j["endpoint"] = a.endpoint;
  j["stream"] = !a.no_stream;
  j["time_scale"] = a.time_scale;
  return j.dump(2);
}

int Run(const LoadArgs& a) {
  if (Status s = CheckArgs(a); !s.ok()) return ReportStatus(s);
  const uint64_t inline_seed = a.seed.value_or(1);
  auto workload = BuildWorkload(a, inline_seed);
  if (!workload.ok()) return ReportStatus(workload.status());
  const uint64_t seed = a.workload.empty() ? inline_seed : a.seed.value_or(workload->seed);
  const std::string source = workload->source.empty() ? a.workload : workload->source;
  // With --json, stdout carries the JSON only.
  FILE* info = a.json ? stderr : stdout;
  std::fprintf(info, "seed: %llu\n", static_cast<unsigned long long>(seed));
  const size_t n = workload->requests.size();
  const size_t sent = a.max_requests > 0 ? std::min(n, static_cast<size_t>(a.max_requests)) : n;
  const std::string first = sent < n ? ", the first " + std::to_string(sent) + " sent" : "";
  const std::string loop =
      a.concurrency || workload->closed_loop_concurrency > 0
          ? "closed loop, concurrency " +
                std::to_string(a.concurrency.value_or(workload->closed_loop_concurrency))
          : "open loop";
  std::fprintf(info, "workload: %s (%zu requests%s, %s)\n", source.c_str(), n, first.c_str(),
               loop.c_str());
  std::fflush(info);

  LoadOptions o;
  o.url = a.url;
  o.endpoint = a.endpoint;
  o.model = a.model;
  o.stream = !a.no_stream;
  o.time_scale = a.time_scale;
  o.concurrency = a.workload.empty() ? 0 : a.concurrency.value_or(0);
  o.max_requests = a.max_requests;
  o.request_timeout = Duration::FromSecondsF(a.timeout_s);
  o.seed = seed;
  o.cancel = &g_interrupted;
  const bool progress = !a.no_progress && ::isatty(2) != 0;
  if (progress) {
    o.progress = [](int64_t done, int64_t total) {
      if (done == total || done % std::max<int64_t>(1, total / 100) == 0) {
        std::fprintf(stderr, "\rrequests: %lld/%lld", static_cast<long long>(done),
                     static_cast<long long>(total));
        std::fflush(stderr);
      }
    };
  }
  const auto previous_int = std::signal(SIGINT, OnInterrupt);
  const auto start = std::chrono::steady_clock::now();
  auto results = loadgen::RunLoad(*workload, o);
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::signal(SIGINT, previous_int);
  if (progress) std::fprintf(stderr, "\r%40s\r", "");
  if (!results.ok()) return ReportStatus(results.status());  // messages name the URL

  const LoadSummary summary = loadgen::Summarize(*results, wall_s, a.time_scale);
  if (a.json) {
    std::printf("%s\n", SummaryDocument(summary, a, seed, source).c_str());
  } else {
    PrintHuman(summary, a.time_scale);
  }
  std::fflush(stdout);
  if (g_interrupted.load()) {
    std::fprintf(stderr, "interrupted: %lld requests finished; no files written\n",
                 static_cast<long long>(summary.requests));
    return kExitInterrupted;
  }
  if (!a.out.empty()) {
    Status s = WriteFileAtomic(a.out, SummaryDocument(summary, a, seed, source) + "\n");
    if (!s.ok()) return ReportStatus(s.WithContext("--out"));
  }
  if (!a.records.empty()) {
    Status s = loadgen::WriteRecordsCsv(a.records, *results);
    if (!s.ok()) return ReportStatus(s.WithContext("--records"));
  }
  if (summary.failed > 0 || summary.incomplete_outputs > 0) {
    std::fprintf(stderr, "%lld of %lld requests failed, %lld completed short of max_tokens\n",
                 static_cast<long long>(summary.failed), static_cast<long long>(summary.requests),
                 static_cast<long long>(summary.incomplete_outputs));
    return kExitSomeFailed;
  }
  return kExitOk;
}

int Main(int argc, char** argv) {
  CLI::App app{
      "dynamo-load: drive dynamo-run's OpenAI-compatible frontend with a workload and measure "
      "what a client sees (TTFT, ITL, E2E, throughput).\n"
      "Exit codes: 0 every request completed with its full token count; 1 bad input (flags, "
      "files, unreachable server); 2 some requests failed or returned fewer tokens than "
      "max_tokens; 130 interrupted (Ctrl-C: prints what finished, writes no files)."};
  app.set_version_flag("--version", "dynamo-load " + std::string(kDynamoVersion));
  LoadArgs a;
  app.add_option("--url", a.url, "Frontend base URL, e.g. http://127.0.0.1:8000 (http only)")
      ->required();
  app.add_option(
      "--workload", a.workload, "Bundled spec (" + [] {
        std::string s;
        for (const auto& n : BundledWorkloadNames()) s += (s.empty() ? "" : ", ") + n;
        return s;
      }() + "), a spec .json, a Mooncake .jsonl or an Azure .csv trace");
  app.add_option("--requests", a.requests, "Inline workload: number of requests")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  app.add_option("--isl", a.isl, "Inline workload: prompt tokens per request")
      ->check(CLI::Range(1, 1 << 30));
  app.add_option("--osl", a.osl, "Inline workload: output tokens per request (max_tokens)")
      ->check(CLI::Range(1, 1 << 30));
  app.add_option("--rate", a.rate, "Inline workload: Poisson arrivals at R requests/s")
      ->check(PositiveReal());
  app.add_option("--concurrency", a.concurrency,
                 "Closed loop with C requests in flight (inline workload, or overriding "
                 "--workload's arrivals)")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--endpoint", a.endpoint,
                 "completions (/v1/completions, token-id prompts) or chat "
                 "(/v1/chat/completions, prompts as text)")
      ->capture_default_str()
      ->check(CLI::IsMember({"completions", "chat"}));
  app.add_flag("--no-stream", a.no_stream, "Ask for whole responses instead of SSE streams");
  app.add_option("--model", a.model, "Model name to send (default: the first of GET /v1/models)");
  app.add_option("--seed", a.seed,
                 "Seed of the inline workload (default 1) or of a synthetic spec (default: its "
                 "own) and of the prompt tokens of requests without block hashes");
  app.add_option("--time-scale", a.time_scale,
                 "Stretch arrivals by F and divide latencies by F (as dynamo-run --time-scale)")
      ->capture_default_str()
      ->check(PositiveReal());
  app.add_option("--max-requests", a.max_requests, "Send only the first N requests (0: all)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--timeout-s", a.timeout_s, "Per-request timeout, connect to last byte")
      ->capture_default_str()
      ->check(PositiveReal());
  app.add_flag("--json", a.json, "Print the summary as JSON instead of a table");
  app.add_option("--out", a.out, "Write the summary JSON here (complete or not at all)");
  app.add_option("--records", a.records, "Write one CSV row per request here");
  app.add_flag("--no-progress", a.no_progress, "No progress line on a terminal");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitBadInput;  // 2 means failed requests here
  }
  return Run(a);
}

}  // namespace
}  // namespace dynamo::cli

int main(int argc, char** argv) { return dynamo::cli::Main(argc, argv); }
