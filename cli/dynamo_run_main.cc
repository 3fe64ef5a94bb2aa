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
                       : "Discovery directory the workers register in")
      ->required(!local);
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

  WorkerArgs w;
  CLI::App* worker = app.add_subcommand("worker", "One worker process of a pool");
  worker->add_option("--plan", w.plan, "Bundled plan name or a plan.json path")->required();
  worker->add_option("--pool", w.pool, "Pool index in plan.workers (0-based)")
      ->required()
      ->check(CLI::NonNegativeNumber);
  worker->add_option("--replica", w.replica, "Replica number in the pool (set by the launcher)");
  worker->add_option("--name", w.name, "Registration name (default: <role>-<pool>-<replica>)");
  worker->add_option("--run-dir", w.run_dir, "Discovery directory to register in")->required();
  worker->add_option("--host", w.host, "Address to listen on and advertise")->capture_default_str();
  worker->add_option("--port", w.port, "Request-plane port (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  worker->add_option("--engine", w.engine, "Engine: mock")->capture_default_str();
  worker->add_option("--time-scale", w.time_scale, "Step time multiplier")->capture_default_str();
  worker->add_option("--perf-db", w.perf_db, "Performance database (default: analytic)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  if (frontend->parsed()) return RunFrontend(fe);
  if (worker->parsed()) return RunWorker(w);
  if (local.plan.empty()) {
    std::fprintf(stderr, "error: --plan is required (a bundled plan name or a plan.json path)\n");
    return kExitUsage;
  }
  return RunLocal(local);
}

}  // namespace
}  // namespace dynamo::cli

int main(int argc, char** argv) { return dynamo::cli::Main(argc, argv); }
