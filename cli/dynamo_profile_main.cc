// dynamo-profile: measure GPU/CPU kernels into a SQLite performance database, import other
// tools' tables, inspect and query a database, estimate step latencies. Exit codes: 0 ok,
// 1 bad input, 2 bad usage, 3 internal error.

#include <CLI/CLI.hpp>

#include "cli/exit_codes.h"
#include "cli/profile_commands.h"
#include "core/hardware/gpu_spec.h"
#include "core/version.h"

namespace dynamo::cli {
namespace {

int Main(int argc, char** argv) {
  CLI::App app{"dynamo-profile: measure kernels into a performance database and query it"};
  app.set_version_flag("--version", "dynamo-profile " + std::string(kDynamoVersion));
  app.require_subcommand(1);
  Status result;

  ProfileRunArgs run_args;
  CLI::App* run = app.add_subcommand(
      "run", "Measure the shapes the simulator needs for the given models and parallelisms");
  run->add_option("--backend", run_args.backend, "cuda or cpu")
      ->capture_default_str()
      ->check(CLI::IsMember({"cuda", "cpu"}));
  run->add_option("--models", run_args.models, "Comma-separated models (bundled names or paths)")
      ->delimiter(',')
      ->required();
  run->add_option("--tp", run_args.tps, "Comma-separated tensor parallelisms, e.g. 1,2,4,8")
      ->delimiter(',')
      ->check(CLI::Range(1, 1024));
  run->add_option("--out", run_args.out, "Database to write (created, or resumed)")->required();
  run->add_flag("--quick", run_args.quick, "A small grid (minutes instead of hours)");
  run->add_option("--dtypes", run_args.dtypes,
                  "GEMM dtypes (default: bf16,fp8 on cuda where supported; fp32 on cpu)")
      ->delimiter(',');
  run->add_option("--threads", run_args.threads, "CPU backend threads (0: all)")
      ->check(CLI::Range(0, 4096));
  run->add_option("--device-index", run_args.device_index, "CUDA device to measure")
      ->check(CLI::Range(0, 1024));
  run->add_option("--repetitions", run_args.repetitions, "Timed repetitions per shape")
      ->capture_default_str()
      ->check(CLI::Range(3, 100000));
  run->add_option("--warmup", run_args.warmup, "Untimed warm-up calls per shape")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  run->add_option("--max-gflop", run_args.max_gflop,
                  "Skip shapes above this many GFLOP (default: none on cuda, 20 on cpu)")
      ->check(CLI::NonNegativeNumber);
  run->add_option("--max-points", run_args.max_points, "Stop after this many new measurements")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  run->add_flag("--no-progress", run_args.no_progress, "No progress bar on stderr");
  run->callback([&] { result = ProfileRun(run_args); });

  ImportArgs import_args;
  CLI::App* import = app.add_subcommand(
      "import-aiconfigurator", "Import AIConfigurator's CSV kernel tables (latency in ms)");
  import->add_option("dir", import_args.dir, "Folder with the *_perf_*.csv tables")->required();
  import->add_option("--gpu", import_args.gpu, "Hardware catalog name of the tables' GPU")
      ->required();
  import->add_option("--out", import_args.out, "Database to write")->required();
  import->add_option("--framework", import_args.framework, "Which tables: vllm, trtllm, sglang")
      ->capture_default_str();
  import->callback([&] { result = ProfileImport(import_args);
});

std::string show_db, show_device;
bool show_json = false;
CLI::App* show = app.add_subcommand("show", "Summarize what a database holds");
show->add_option("db", show_db, "Database")->required();
show->add_option("--device", show_device, "Only this device");
show->add_flag("--json", show_json, "Print one JSON object");
show->callback([&] { result = ProfileShow(show_db, show_device, show_json); });

std::string upgrade_db;
CLI::App* upgrade = app.add_subcommand("upgrade", "Upgrade a database to this build's schema");
upgrade->add_option("db", upgrade_db, "Database")->required();
upgrade->callback([&] { result = ProfileUpgrade(upgrade_db); });

QueryArgs q;
CLI::App* query = app.add_subcommand(
    "query", "Latency of one operator shape: measured, interpolated, extrapolated or analytic");
query->add_option("db", q.db, "Database (omit with --gpu for analytic mode)");
query->add_option("--gpu", q.gpu, "Analytic mode for this catalog GPU (no database)");
query->add_option("--device", q.device, "Device of a multi-device database");
query
    ->add_option("--op", q.op,
                 "gemm, attn_context, attn_decode, allreduce, allgather, reducescatter, alltoall")
    ->required();
query->add_option("--dtype", q.dtype, "Compute dtype")->capture_default_str();
query->add_option("--kv-dtype", q.kv_dtype, "KV-cache dtype (default: --dtype)");
query->add_option("--m", q.m, "GEMM rows (tokens)");
query->add_option("--n", q.n, "GEMM output features");
query->add_option("--k", q.k, "GEMM input features");
query->add_option("--batch", q.batch, "Sequences")->capture_default_str();
query->add_option("--q-len", q.q_len, "Context: new tokens per sequence");
query->add_option("--kv-len", q.kv_len, "KV length: cached prefix plus the chunk");
query->add_option("--heads", q.heads, "Query heads (per GPU)");
query->add_option("--kv-heads", q.kv_heads, "KV heads (per GPU; default: --heads)");
query->add_option("--head-dim", q.head_dim, "Head dimension")->capture_default_str();
query->add_option("--gpus", q.gpus, "Collective: GPUs in the group");
query->add_option("--bytes", q.bytes, "Collective: message bytes (nccl-tests size)");
query->add_flag("--json", q.json, "Print {\"latency_us\": ..., \"source\": ...}");
query->callback([&] { result = ProfileQuery(q); });

EstimateArgs e;
CLI::App* estimate =
    app.add_subcommand("estimate", "Step latency of one batch and the memory plan of a worker");
estimate->add_option("--perf-db", e.db, "Database (omit with --gpu for analytic mode)");
estimate->add_option("--gpu", e.gpu, "Catalog GPU (analytic mode, and the memory plan)");
estimate->add_option("--device", e.device, "Device of a multi-device database");
estimate->add_option("--model", e.model, "Model (bundled name or config.json)")->required();
estimate->add_option("--tp", e.tp, "Tensor parallelism")
    ->capture_default_str()
    ->check(CLI::Range(1, 1024));
estimate->add_option("--pp", e.pp, "Pipeline parallelism")
    ->capture_default_str()
    ->check(CLI::Range(1, 1024));
estimate->add_option("--ep", e.ep, "Expert parallelism")
    ->capture_default_str()
    ->check(CLI::Range(1, 1024));
estimate->add_option("--dtype", e.dtype, "Weight dtype")->capture_default_str();
estimate->add_option("--kv-dtype", e.kv_dtype, "KV-cache dtype (default: --dtype)");
estimate->add_option("--prefill", e.prefill, "Prefill chunks: Q or Q:KV tokens, comma-separated")
    ->delimiter(',');
estimate->add_option("--decode", e.decode, "Decode sequences")
    ->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
estimate->add_option("--decode-kv", e.decode_kv, "Mean KV length of the decode sequences")
    ->capture_default_str()
    ->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
estimate->add_option("--gpu-memory-utilization", e.gpu_memory_utilization, "Memory fraction")
    ->capture_default_str();
estimate->add_option("--block-size", e.block_size, "KV block size (tokens)")->capture_default_str();
estimate->add_option("--max-num-batched-tokens", e.max_num_batched_tokens, "Token budget per step")
    ->capture_default_str();
estimate->add_option("--max-num-seqs", e.max_num_seqs, "Sequences per step")->capture_default_str();
estimate->add_flag("--json", e.json, "Print one JSON object");
estimate->callback([&] { result = ProfileEstimate(e); });

ValidateArgs v;
CLI::App* validate = app.add_subcommand(
    "validate", "CPU: step-latency predictions against directly timed forward steps");
validate->add_option("--perf-db", v.db, "A CPU database of this machine")->required();
validate->add_option("--device", v.device, "Device of a multi-device database");
validate->add_option("--model", v.model, "Dense model (bundled name or config.json)")
    ->capture_default_str();
validate->add_option("--threads", v.threads, "Kernel threads (0: all)")->check(CLI::Range(0, 4096));
validate->add_option("--repetitions", v.repetitions, "Timed steps per batch")
    ->capture_default_str()
    ->check(CLI::Range(1, 1000));
validate->add_flag("--json", v.json, "Print a JSON array");
validate->callback([&] { result = ProfileValidate(v); });

try {
  app.parse(argc, argv);
} catch (const CLI::ParseError& err) {
  const int code = app.exit(err);
  return code == 0 ? kExitOk : kExitUsage;
}
return ReportStatus(result);
}  // namespace

}  // namespace dynamo::cli
}  // namespace dynamo::cli

int main(int argc, char** argv) { return dynamo::cli::Main(argc, argv); }
