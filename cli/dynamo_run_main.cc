// dynamo-run: execute a plan with the runtime components the simulator models: an
// OpenAI-compatible frontend with the router, and one process per worker running the engine
// scheduler core (mock engine: steps timed by the step-latency model).
//   dynamo-run --plan PLAN [--engine mock] [--port 8000] [--host 127.0.0.1] [--run-dir DIR]
//              [--time-scale F]                       everything, on this machine
//   dynamo-run frontend --plan PLAN --run-dir DIR      the frontend (+ router) alone
//   dynamo-run worker --plan PLAN --pool I --run-dir DIR   one worker of pool I
// Exit codes: 0 ok (also after Ctrl-C / SIGTERM once drained), 1 bad input, 2 bad usage,
// 3 internal error.

#include <CLI/CLI.hpp>
#include <string>

#include "cli/exit_codes.h"
#include "cli/run_commands.h"
#include "core/version.h"

namespace dynamo::cli {
namespace {

void AddKvOptions(CLI::App& app, KvArgs& kv) {
  app.add_option("--kv-bytes-scale", kv.bytes_scale,
                 "Disaggregated plans: KV bytes moved per prompt token = the model's KV bytes x "
                 "this (1: what the real engine moves; smaller keeps a local rehearsal of a big "
                 "plan within this machine's memory bandwidth)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1000.0));
  app.add_option("--kv-timeout-s", kv.timeout_s,
                 "A decode worker's KV pull slower than this fails; it prefills the prompt itself")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 3600.0));
  app.add_option("--kv-hold-timeout-s", kv.hold_timeout_s,
                 "A prefill worker frees KV that no decode worker pulled within this")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 86400.0));
  app.add_option("--kv-poll-us", kv.poll_us,
                 "While a KV transfer is in flight, poll UCX until it has been idle this many "
                 "microseconds instead of sleeping until its fd wakes the thread (faster "
                 "transfers, a busy core meanwhile; 0: never poll)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e6));
  app.add_flag("--kv-refuse", kv.refuse,
               "Fault injection (tests): prefill workers refuse every KV pull, so decode workers "
               "prefill themselves");
}

// `dynamo-run frontend`: the planner's Kubernetes connector.
void AddPlannerOptions(CLI::App& app, RunArgs& a) {
  app.add_option("--time-scale", a.time_scale,
                 "The workers' --time-scale: the planner's interval and observed latencies in "
                 "the plan's time")
      ->capture_default_str();
  app.add_option("--perf-db", a.perf_db,
                 "Performance database of the planner's capacity model (default: analytic)");
  app.add_option_function<std::string>(
         "--planner-connector", [&a](const std::string& v) { a.k8s.enabled = v == "kubernetes"; },
         "How the planner (plan.planner.enabled) scales: none (log decisions only) or "
         "kubernetes (patch replicas)")
      ->check(CLI::IsMember({"none", "kubernetes"}))
      ->default_str("none");
  app.add_option("--k8s-mode", a.k8s.mode,
                 "api: HTTP to the API server (kubectl proxy, or a URL without TLS); kubectl: run "
                 "kubectl patch")
      ->capture_default_str();
  app.add_option("--k8s-kind", a.k8s.kind,
                 "dgd (the services of one DynamoGraphDeployment) or deployment (dynamo-config's "
                 "NAME-<role>-<pool> Deployments)")
      ->capture_default_str();
  app.add_option("--k8s-api-url", a.k8s.api_url,
                 "API server URL, plain http (api mode; kubectl proxy listens on port 8001)")
      ->capture_default_str();
  app.add_option("--k8s-token-file", a.k8s.token_file,
                 "Bearer token file (api mode; e.g. the service account's token)");
  app.add_option("--k8s-namespace", a.k8s.k8s_namespace,
                 "Namespace (default: $POD_NAMESPACE, else default)");
  app.add_option("--k8s-name", a.k8s.name,
                 "The DynamoGraphDeployment's name, or the NAME of the NAME-<role>-<pool> "
                 "Deployments");
  app.add_option("--k8s-backend", a.k8s.backend,
                 "DGD service names of this backend: vllm, sglang, trtllm")
      ->capture_default_str();
  app.add_option("--k8s-agg", a.k8s.agg, "Override the aggregated pool's service/Deployment");
  app.add_option("--k8s-prefill", a.k8s.prefill, "Override the prefill pool's service/Deployment");
  app.add_option("--k8s-decode", a.k8s.decode, "Override the decode pool's service/Deployment");
  app.add_option("--kubectl", a.k8s.kubectl, "kubectl binary (kubectl mode)")
      ->capture_default_str();
  app.add_option("--k8s-timeout-s", a.k8s.timeout_s, "Per API call or kubectl run")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 600.0));
}

void AddServeOptions(CLI::App& app, RunArgs& a, bool local) {
  app.add_option("--plan", a.plan, "Bundled plan name or a plan.json path")->required();
  app.add_option("--host", a.host,
                 "Address the HTTP frontend listens on (loopback unless told otherwise)")
      ->capture_default_str();
  app.add_option("--port", a.port, "HTTP port (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  app.add_option("--run-dir", a.run_dir,
                 local ? "Discovery directory (workers register here); default: a temporary "
                         "directory removed at exit"
                       : "Discovery directory the workers register in (optional: workers may "
                         "also register over HTTP with dynamo-run worker --frontend)");
  app.add_option("--seed", a.seed, "Seed of the router's random streams")->capture_default_str();
  app.add_option("--max-inflight", a.max_inflight, "Concurrent requests beyond which 503")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  app.add_option("--heartbeat-timeout-s", a.heartbeat_timeout_s,
                 "A worker whose heartbeat stops this long is removed (its requests move)")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  app.add_option("--drain-timeout-s", a.drain_timeout_s,
                 "On Ctrl-C/SIGTERM, requests still running after this are ended with an error")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  if (local) {
    app.add_option("--engine", a.engine, "Worker engine: mock")->capture_default_str();
    app.add_option("--time-scale", a.time_scale,
                   "Every engine step lasts this many times the model's step time (10: ten "
                   "times slower, to rehearse a big plan on a small machine)")
        ->capture_default_str();
    app.add_option("--perf-db", a.perf_db,
                   "Performance database pricing the steps (default: the analytic model)");
    AddKvOptions(app, a.kv);
    app.add_option_function<std::string>(
           "--planner-connector", [&a](const std::string& v) { a.planner = v == "local"; },
           "With plan.planner.enabled: local (start and drain worker processes) or none (the "
           "pools keep the plan's replicas)")
        ->check(CLI::IsMember({"local", "none"}))
        ->default_str("local");
  }
}

int Main(int argc, char** argv) {
  CLI::App app{"dynamo-run: serve a plan with the real runtime (OpenAI-compatible HTTP)"};
  app.set_version_flag("--version", "dynamo-run " + std::string(kDynamoVersion));
  app.require_subcommand(0, 1);
  RunArgs local;
  AddServeOptions(app, local, /*local=*/true);
  // The plan is required only without a subcommand.
  app.get_option("--plan")->required(false);

  RunArgs fe;
  CLI::App* frontend = app.add_subcommand("frontend", "The frontend and router alone");
  AddServeOptions(*frontend, fe, /*local=*/false);
  AddPlannerOptions(*frontend, fe);

  WorkerArgs w;
  CLI::App* worker = app.add_subcommand("worker", "One worker process of a pool");
  worker->add_option("--plan", w.plan, "Bundled plan name or a plan.json path")->required();
  worker->add_option("--pool", w.pool, "Pool index in plan.workers (0-based)")
      ->required()
      ->check(CLI::NonNegativeNumber);
  worker->add_option("--replica", w.replica, "Replica number in the pool (set by the launcher)");
  worker->add_option("--name", w.name, "Registration name (default: <role>-<pool>-<replica>)");
  worker->add_option("--run-dir", w.run_dir, "Discovery directory to register in (local)");
  worker->add_option("--frontend", w.frontend,
                     "HOST:PORT of a frontend to register with over HTTP (Kubernetes; instead of "
                     "--run-dir)");
  worker
      ->add_option("--frontend-timeout-s", w.frontend_timeout_s,
                   "Exit non-zero when the frontend takes no registration for this long")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 86400.0));
  CLI::Option* worker_host =
      worker
          ->add_option("--host", w.host,
                       "Address to listen on and advertise (with --frontend: default $POD_IP)")
          ->capture_default_str();
  worker->add_option("--port", w.port, "Request-plane port (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  worker->add_option("--engine", w.engine, "Engine: mock")->capture_default_str();
  worker->add_option("--time-scale", w.time_scale, "Step time multiplier")->capture_default_str();
  worker->add_option("--perf-db", w.perf_db, "Performance database (default: analytic)");
  worker
      ->add_option("--kv-port", w.kv_port,
                   "Prefill/decode workers: UCX KV-transfer listener port (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  AddKvOptions(*worker, w.kv);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  if (frontend->parsed()) return RunFrontend(fe);
  if (worker->parsed()) {
    w.host_given = worker_host->count() > 0;
    return RunWorker(w);
  }
  if (local.plan.empty()) {
    std::fprintf(stderr, "error: --plan is required (a bundled plan name or a plan.json path)\n");
    return kExitUsage;
  }
  return RunLocal(local);
}

}  // namespace
}  // namespace dynamo::cli

int main(int argc, char** argv) { return dynamo::cli::Main(argc, argv); }
