#include "configurator/results_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tests/core/test_util.h"

namespace dynamo::configurator {
namespace {

// ---------------------------------------------------------------------------------------------
// Fixtures.

PoolChoice Pool(WorkerRole role, int replicas, int tp, int seqs, int tokens) {
  PoolChoice p;
  p.role = role;
  p.replicas = replicas;
  p.tp = tp;
  p.max_num_seqs = seqs;
  p.max_num_batched_tokens = tokens;
  return p;
}

Candidate Agg(int64_t id, int replicas, int tp, std::string router = "round_robin") {
  Candidate c;
  c.id = id;
  c.mode = SweepMode::kAggregated;
  c.pools = {Pool(WorkerRole::kAggregated, replicas, tp, 256, 8192)};
  c.router = std::move(router);
  return c;
}

Candidate Disagg(int64_t id, int prefill_tp, int decode_tp, std::string router = "kv") {
  Candidate c;
  c.id = id;
  c.mode = SweepMode::kDisaggregated;
  PoolChoice prefill = Pool(WorkerRole::kPrefill, 2, prefill_tp, 32, 16384);
  prefill.pp = 2;
  PoolChoice decode = Pool(WorkerRole::kDecode, 1, decode_tp, 512, 4096);
  decode.ep = 4;
  c.pools = {prefill, decode};
  c.router = std::move(router);
  return c;
}

// Doubles that a decimal detour would not carry exactly.
LoadPoint Point(double seed) {
  LoadPoint p;
  p.load = seed / 3;
  p.rate_rps = 0.1 * seed;
  p.ttft_ms = 1e-300 + seed;
  p.itl_ms = 1.0 / 7 * seed;
  p.ttft_p50_ms = 123456789.123456789 / seed;
  p.itl_p50_ms = 2.5e-7;
  p.throughput_rps = seed * 1e20;
  p.output_tokens_per_s = 4.0 / 9;
  p.tokens_per_s_per_gpu = 1000 + seed / 11;
  p.tokens_per_s_per_user = 50 + seed / 13;
  p.goodput_rps = 0;
  p.kv_hit_rate = 0.3;
  p.fingerprint = "fp" + std::to_string(static_cast<int>(seed));
  return p;
}

CandidateResult Result(Candidate c, CandidateStatus status, std::string reason = "") {
  CandidateResult r;
  r.candidate = std::move(c);
  r.status = status;
  r.reason = std::move(reason);
  r.bound_rps = 1.0 / 3;
  r.simulations = 3;
  return r;
}

// Agg and disagg rows, every status, LoadPoints present and absent, every optional present.
SweepOutcome FullOutcome() {
  SweepOutcome o;
  SweepInputs& in = o.inputs;
  in.model = "llama-3.1-70b";
  in.gpu = "h200_sxm";
  in.gpus = 16;
  in.gpus_per_node = 8;
  in.dtype = "fp8";
  in.workload = "traces/chat, \"v2\".jsonl";
  in.isl = 3000;
  in.osl = 300;
  in.rate_rps = 0.1 + 0.2;
  in.requests = 777;
  in.ttft_ms = 333.3;
  in.itl_ms = 1.0 / 3;
  in.percentile = 99.9;
  in.modes = {SweepMode::kDisaggregated, SweepMode::kAggregated};
  in.routers = {"round_robin", "kv"};
  in.seed = 18446744073709551615ull;
  in.threads = 4;
  in.shard_index = 0;
  in.shard_count = 1;
  in.perf_db = "/data/perf.sqlite";
  in.objective = Objective::kMinGpus;

  CandidateResult a = Result(Agg(0, 2, 4), CandidateStatus::kPass);
  a.best = Point(1);
  a.pareto = true;
  a.chosen = true;
  CandidateResult b = Result(Disagg(1, 2, 4, "kv,\"x\""), CandidateStatus::kPass);
  b.best = Point(2);
  b.best->fingerprint = "";  // present but empty
  CandidateResult c = Result(Agg(4, 1, 8), CandidateStatus::kInfeasible, "memory: needs 90 GB");
  c.simulations = 0;
  c.bound_rps = 0;
  CandidateResult d = Result(Disagg(5, 1, 1), CandidateStatus::kPruned, "bound 1.5 < best 2");
  CandidateResult e = Result(Agg(9, 4, 2), CandidateStatus::kBelowDemand, "load 0.8 < 1");
  e.best = Point(3);
  CandidateResult f = Result(Disagg(12, 4, 2), CandidateStatus::kSlaMissed, "ttft 900 > 333");
  // Infeasible disaggregated worker shapes: one row per shape, with only that pool.
  Candidate shape_p = Disagg(13, 1, 1, "");
  shape_p.pools = {shape_p.pools[0]};
  Candidate shape_d = Disagg(14, 1, 1, "");
  shape_d.pools = {shape_d.pools[1]};
  CandidateResult g = Result(shape_p, CandidateStatus::kInfeasible, "memory: prefill tp 1");
  CandidateResult h = Result(shape_d, CandidateStatus::kInfeasible, "divisibility: tp 3");
  o.results = {a, b, c, d, e, f, g, h};
  o.counts = {8, 3, 1, 1, 1, 2, 17, 5, 123456};
  o.chosen = 0;
  o.best_plan_json = "{\n  \"workers\": [{\"role\": \"agg\", \"tp\": 4}]\n}\n";
  o.confirmation = Point(5);
  o.wall_s = 12.0 / 7;
  o.version = "0.6.0-test";
  return o;
}

// Every field of an outcome, doubles in hex (exact); equal dumps mean equal outcomes.
std::string Dump(const SweepOutcome& o) {
  std::ostringstream s;
  s << std::hexfloat;
  auto point = [&](const std::optional<LoadPoint>& p) {
    if (!p) {
      s << " point=none\n";
      return;
    }
    s << " point=" << p->load << "," << p->rate_rps << "," << p->ttft_ms << "," << p->itl_ms << ","
      << p->ttft_p50_ms << "," << p->itl_p50_ms << "," << p->throughput_rps << ","
      << p->output_tokens_per_s << "," << p->tokens_per_s_per_gpu << "," << p->tokens_per_s_per_user
      << "," << p->goodput_rps << "," << p->kv_hit_rate << ",'" << p->fingerprint << "'\n";
  };
  const SweepInputs& in = o.inputs;
  s << in.model << "|" << in.gpu << "|" << in.gpus << "|" << in.gpus_per_node << "|" << in.dtype
    << "|" << in.workload << "|" << in.isl << "|" << in.osl << "|"
    << (in.rate_rps ? *in.rate_rps : -1.0) << (in.rate_rps ? "" : "(none)") << "|" << in.requests
    << "|" << in.ttft_ms << "|" << in.itl_ms << "|" << in.percentile << "|";
  for (SweepMode m : in.modes) s << SweepModeName(m) << ";";
  s << "|";
  for (const auto& r : in.routers) s << r << ";";
  s << "|" << in.seed << "|" << in.threads << "|" << in.shard_index << "/" << in.shard_count << "|"
    << in.perf_db << "|" << ObjectiveName(in.objective) << "\n";
  const SweepCounts& c = o.counts;
  s << c.enumerated << " " << c.infeasible << " " << c.pruned << " " << c.below_demand << " "
    << c.sla_missed << " " << c.passed << " " << c.simulations << " " << c.full_simulations << " "
    << c.requests_simulated << "\n";
  s << "chosen=" << (o.chosen ? std::to_string(*o.chosen) : "none") << "\nplan=" << o.best_plan_json
    << "\nconfirmation:";
  point(o.confirmation);
  s << "wall=" << o.wall_s << " version=" << o.version << "\n";
  for (const CandidateResult& r : o.results) {
    s << r.candidate.id << " " << SweepModeName(r.candidate.mode) << " '" << r.candidate.router
      << "' " << CandidateStatusName(r.status) << " '" << r.reason << "' " << r.bound_rps << " "
      << r.simulations << " pareto=" << r.pareto << " chosen=" << r.chosen << " pools:";
    for (const PoolChoice& p : r.candidate.pools) {
      s << " " << WorkerRoleName(p.role) << "/" << p.replicas << "/" << p.tp << "/" << p.pp << "/"
        << p.ep << "/" << p.max_num_seqs << "/" << p.max_num_batched_tokens;
    }
    point(r.best);
  }
  return s.str();
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> DirEntries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

void ExecSql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
}

// ---------------------------------------------------------------------------------------------
// Round trips.

TEST(ResultsStoreTest, RoundTripIsExact) {
  const std::string dir = testing::TempDir() + "/out";
  const SweepOutcome o = FullOutcome();
  ASSERT_TRUE(WriteSweepResults(dir, o).ok());
  EXPECT_EQ(DirEntries(dir),
            (std::vector<std::string>{"pareto.csv", "results.csv", "results.sqlite"}));
  auto back = ReadSweepResults(dir + "/results.sqlite");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(Dump(*back), Dump(o));
}

TEST(ResultsStoreTest, RoundTripWithOptionalsAbsent) {
  const std::string dir = testing::TempDir();
  SweepOutcome o = FullOutcome();
  o.inputs.rate_rps.reset();
  o.inputs.workload = "";
  o.inputs.routers = {};
  o.inputs.modes = {SweepMode::kAggregated};
  o.inputs.objective = Objective::kThroughputPerGpu;
  o.chosen.reset();
  o.results[0].chosen = false;
  o.confirmation.reset();
  o.best_plan_json = "";
  ASSERT_TRUE(WriteSweepResults(dir, o).ok());
  auto back = ReadSweepResults(dir + "/results.sqlite");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(Dump(*back), Dump(o));
  EXPECT_FALSE(back->inputs.rate_rps.has_value());
  EXPECT_FALSE(back->confirmation.has_value());
  EXPECT_FALSE(back->chosen.has_value());
}

TEST(ResultsStoreTest, ChosenIsStoredAsCandidateId) {
  const std::string dir = testing::TempDir();
  SweepOutcome o = FullOutcome();
  o.results[0].chosen = false;
  o.results[4].chosen = true;
  o.chosen = 4;  // candidate id 9
  ASSERT_TRUE(WriteSweepResults(dir, o).ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir + "/results.sqlite").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(
      sqlite3_prepare_v2(db, "SELECT value FROM sweep WHERE key = 'chosen';", -1, &stmt, nullptr),
      SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "9");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  auto back = ReadSweepResults(dir + "/results.sqlite");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->chosen, 4);
}

TEST(ResultsStoreTest, NullsWhereColumnsDoNotApply) {
  const std::string dir = testing::TempDir();
  ASSERT_TRUE(WriteSweepResults(dir, FullOutcome()).ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir + "/results.sqlite").c_str(), &db), SQLITE_OK);
  auto count = [&](const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr), SQLITE_OK) << sql;
    EXPECT_EQ(sqlite3_step(stmt), SQLITE_ROW);
    const int64_t n = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return n;
  };
  EXPECT_EQ(count("SELECT count(*) FROM candidates WHERE mode = 'agg' AND agg_tp IS NOT NULL "
                  "AND prefill_tp IS NULL AND decode_max_num_seqs IS NULL;"),
            3);
  EXPECT_EQ(count("SELECT count(*) FROM candidates WHERE mode = 'disagg' AND agg_replicas IS "
                  "NULL AND prefill_pp = 2 AND decode_ep = 4;"),
            3);
  EXPECT_EQ(count("SELECT count(*) FROM candidates WHERE load IS NULL AND fingerprint IS NULL;"),
            5);
  // A one-pool infeasible disagg shape fills only its role's columns.
  EXPECT_EQ(count("SELECT count(*) FROM candidates WHERE status = 'infeasible' AND mode = "
                  "'disagg' AND (prefill_tp IS NULL) != (decode_tp IS NULL);"),
            2);
  EXPECT_EQ(count("SELECT count(*) FROM candidates WHERE typeof(tokens_per_s_per_gpu) = 'real';"),
            3);
  EXPECT_EQ(count("PRAGMA application_id;"), 0x44594E53);
  EXPECT_EQ(count("PRAGMA user_version;"), 1);
  sqlite3_close(db);
}

TEST(ResultsStoreTest, FiveThousandRowsRoundTrip) {
  // Also the size measured in the docs (one transaction, one prepared statement).
  SweepOutcome o = FullOutcome();
  o.results.clear();
  o.chosen.reset();
  for (int64_t id = 0; id < 5000; ++id) {
    CandidateResult r = id % 2 ? Result(Disagg(id, 2, 4), CandidateStatus::kPass)
                               : Result(Agg(id, 2, 4), CandidateStatus::kPass);
    r.best = Point(static_cast<double>(id + 1));
    o.results.push_back(r);
  }
  const std::string dir = testing::TempDir();
  ASSERT_TRUE(WriteSweepResults(dir, o).ok());
  auto back = ReadSweepResults(dir + "/results.sqlite");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(Dump(*back), Dump(o));
  EXPECT_EQ(Lines(Slurp(dir + "/results.csv")).size(), 5001u);
}

// ---------------------------------------------------------------------------------------------
// CSV files.

TEST(ResultsStoreTest, ResultsCsvHeaderAndQuoting) {
  const std::string dir = testing::TempDir();
  const SweepOutcome o = FullOutcome();
  ASSERT_TRUE(WriteSweepResults(dir, o).ok());
  const std::vector<std::string> lines = Lines(Slurp(dir + "/results.csv"));
  ASSERT_EQ(lines.size(), o.results.size() + 1);
  EXPECT_EQ(lines[0],
            "id,label,mode,router,gpus,status,reason,bound_rps,simulations,pareto,chosen,"
            "agg_replicas,agg_tp,agg_pp,agg_ep,agg_max_num_seqs,agg_max_num_batched_tokens,"
            "prefill_replicas,prefill_tp,prefill_pp,prefill_ep,prefill_max_num_seqs,"
            "prefill_max_num_batched_tokens,decode_replicas,decode_tp,decode_pp,decode_ep,"
            "decode_max_num_seqs,decode_max_num_batched_tokens,load,rate_rps,ttft_ms,itl_ms,"
            "ttft_p50_ms,itl_p50_ms,throughput_rps,output_tokens_per_s,tokens_per_s_per_gpu,"
            "tokens_per_s_per_user,goodput_rps,kv_hit_rate,fingerprint");
  // The router "kv,"x"" puts a comma and a quote into the label and the router cells.
  const std::string label = o.results[1].candidate.Label();
  ASSERT_NE(label.find("kv,\"x\""), std::string::npos);
  std::string quoted_label = "\"";
  for (char ch : label) quoted_label += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  quoted_label += "\"";
  EXPECT_EQ(lines[2].rfind("1," + quoted_label + ",disagg,\"kv,\"\"x\"\"\",12,pass,,", 0), 0u)
      << lines[2];
  // Absent LoadPoint: empty cells; agg row: empty prefill/decode cells.
  EXPECT_NE(lines[3].find("infeasible,memory: needs 90 GB,0,0,0,0,1,8,1,1,256,8192,,,,,,,,,,,,,"),
            std::string::npos)
      << lines[3];
  EXPECT_EQ(lines[3].substr(lines[3].size() - 13), ",,,,,,,,,,,,,") << lines[3];
  // Doubles in their shortest exact form.
  EXPECT_NE(lines[1].find(",0.3333333333333333,"), std::string::npos) << lines[1];
}

TEST(ResultsStoreTest, ParetoCsvHasExactlyTheParetoRows) {
  SweepOutcome o = FullOutcome();
  for (CandidateResult& r : o.results) r.pareto = false;
  // Pareto rows 9 (per user 50.23), 1 (50.15), 0 (50.08): sorted by tokens/s/user ascending.
  o.results[0].pareto = true;
  o.results[1].pareto = true;
  o.results[4].pareto = true;
  const std::string dir = testing::TempDir();
  ASSERT_TRUE(WriteSweepResults(dir, o).ok());
  const std::vector<std::string> lines = Lines(Slurp(dir + "/pareto.csv"));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0],
            "id,label,mode,router,gpus,tokens_per_s_per_gpu,tokens_per_s_per_user,load,rate_rps,"
            "ttft_ms,itl_ms,chosen");
  EXPECT_EQ(lines[1].substr(0, 2), "0,");
  EXPECT_EQ(lines[2].substr(0, 2), "1,");
  EXPECT_EQ(lines[3].substr(0, 2), "9,");
  EXPECT_EQ(lines[1].back(), '1');  // chosen
  EXPECT_EQ(lines[3].back(), '0');
  EXPECT_NE(lines[1].find(",agg,round_robin,8,1000.0909090909091,50.07692307692308,"),
            std::string::npos)
      << lines[1];
}

// ---------------------------------------------------------------------------------------------
// Errors reading.

TEST(ResultsStoreTest, MissingFileIsNotFound) {
  const std::string path = testing::TempDir() + "/nope/results.sqlite";
  auto r = ReadSweepResults(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(),
            path + ": sweep results not found; write them with `dynamo-sim sweep --out DIR`");
}

TEST(ResultsStoreTest, TextFileIsNotASqliteDatabase) {
  const std::string path = testing::TempDir() + "/results.sqlite";
  std::ofstream(path) << "id,label\n0,agg 1x tp1\n";
  auto r = ReadSweepResults(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(),
            path +
                ": not a SQLite database (file is not a database); point at the results.sqlite "
                "written by `dynamo-sim sweep`");
}

TEST(ResultsStoreTest, OtherSqliteFileIsRejected) {
  const std::string path = testing::TempDir() + "/other.sqlite";
  std::remove(path.c_str());
  ExecSql(path, "PRAGMA application_id = 7; CREATE TABLE t (x);");
  auto r = ReadSweepResults(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            path +
                ": a SQLite file but not sweep results (application_id 7, expected 1146703443 "
                "'DYNS'); point at the results.sqlite written by `dynamo-sim sweep`");
}

TEST(ResultsStoreTest, OtherSchemaVersionIsRejected) {
  const std::string dir = testing::TempDir();
  ASSERT_TRUE(WriteSweepResults(dir, FullOutcome()).ok());
  const std::string path = dir + "/results.sqlite";
  ExecSql(path, "PRAGMA user_version = 2;");
  auto r = ReadSweepResults(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.status().message(),
            path +
                ": sweep results schema version 2, this build reads version 1; read it with the "
                "dynamo-sim that wrote it, or sweep again");
}

TEST(ResultsStoreTest, MissingSweepKeyIsNamed) {
  const std::string dir = testing::TempDir();
  ASSERT_TRUE(WriteSweepResults(dir, FullOutcome()).ok());
  const std::string path = dir + "/results.sqlite";
  ExecSql(path, "DELETE FROM sweep WHERE key = 'osl';");
  auto r = ReadSweepResults(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), path +
                                      ": the sweep table has no 'osl' row; the file is "
                                      "incomplete or from another tool");
}

// ---------------------------------------------------------------------------------------------
// Atomic writes.

TEST(ResultsStoreTest, WriteReplacesExistingFilesWhole) {
  const std::string dir = testing::TempDir();
  SweepOutcome big = FullOutcome();
  for (int64_t id = 100; id < 400; ++id)
    big.results.push_back(Result(Agg(id, 1, 1), CandidateStatus::kPruned, "x"));
  ASSERT_TRUE(WriteSweepResults(dir, big).ok());
  SweepOutcome small = FullOutcome();
  small.results.resize(2);
  small.inputs.model = "llama-3.1-8b";
  ASSERT_TRUE(WriteSweepResults(dir, small).ok());
  auto back = ReadSweepResults(dir + "/results.sqlite");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(Dump(*back), Dump(small));
  EXPECT_EQ(Lines(Slurp(dir + "/results.csv")).size(), 3u);
  // No temporary file or journal is left behind.
  EXPECT_EQ(DirEntries(dir),
            (std::vector<std::string>{"pareto.csv", "results.csv", "results.sqlite"}));
}

TEST(ResultsStoreTest, FailedWriteLeavesNothing) {
  const std::string parent = testing::TempDir();
  const std::string not_a_dir = parent + "/out";
  std::ofstream(not_a_dir) << "a file";
  const Status s = WriteSweepResults(not_a_dir, FullOutcome());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_EQ(s.message().rfind(not_a_dir + ": cannot create the output directory", 0), 0u)
      << s.message();
  EXPECT_EQ(DirEntries(parent), (std::vector<std::string>{"out"}));
  EXPECT_EQ(Slurp(not_a_dir), "a file");
}

TEST(ResultsStoreTest, InvalidOutcomeWritesNothing) {
  const std::string dir = testing::TempDir() + "/invalid_outcome";
  SweepOutcome o = FullOutcome();
  o.results[1].candidate.pools.pop_back();  // disagg without a decode pool
  const Status s = WriteSweepResults(dir, o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("candidate 1 ("), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("pools do not match mode disagg"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir));

  o = FullOutcome();
  o.chosen = 8;
  EXPECT_NE(WriteSweepResults(dir, o).message().find("chosen index 8 is outside the 8 results"),
            std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Merging shards.

// FullOutcome's results split into `n` shards by position (round robin), counts per shard.
std::vector<SweepOutcome> Shards(int n) {
  const SweepOutcome full = FullOutcome();
  std::vector<SweepOutcome> shards(static_cast<size_t>(n), full);
  for (int i = 0; i < n; ++i) {
    SweepOutcome& s = shards[static_cast<size_t>(i)];
    s.inputs.shard_index = i;
    s.inputs.shard_count = n;
    s.inputs.threads = i + 1;  // may differ
    s.results.clear();
    s.counts = {};
    s.wall_s = i + 1.5;
    for (size_t k = static_cast<size_t>(i); k < full.results.size(); k += static_cast<size_t>(n)) {
      s.results.push_back(full.results[k]);
      ++s.counts.enumerated;
      s.counts.simulations += 2;
    }
  }
  return shards;
}

TEST(ResultsStoreTest, MergesThreeShards) {
  std::vector<SweepOutcome> shards = Shards(3);
  std::swap(shards[0], shards[2]);  // any order
  auto merged = MergeSweepResults(shards);
  ASSERT_TRUE(merged.ok()) << merged.status().message();
  const SweepOutcome full = FullOutcome();
  ASSERT_EQ(merged->results.size(), full.results.size());
  for (size_t i = 0; i < full.results.size(); ++i) {
    EXPECT_EQ(merged->results[i].candidate.id, full.results[i].candidate.id);
    EXPECT_FALSE(merged->results[i].pareto);
    EXPECT_FALSE(merged->results[i].chosen);
  }
  EXPECT_EQ(merged->counts.enumerated, 8);
  EXPECT_EQ(merged->counts.simulations, 16);
  EXPECT_FALSE(merged->chosen.has_value());
  EXPECT_FALSE(merged->confirmation.has_value());
  EXPECT_EQ(merged->best_plan_json, "");
  EXPECT_EQ(merged->inputs.shard_index, 0);
  EXPECT_EQ(merged->inputs.shard_count, 1);
  EXPECT_EQ(merged->inputs.isl, 3000);
  EXPECT_EQ(merged->wall_s, 3.5);
  // The merged outcome writes and reads like any other.
  const std::string dir = testing::TempDir();
  ASSERT_TRUE(WriteSweepResults(dir, *merged).ok());
  auto back = ReadSweepResults(dir + "/results.sqlite");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(Dump(*back), Dump(*merged));
}

TEST(ResultsStoreTest, MergeReportsMissingShards) {
  std::vector<SweepOutcome> shards = Shards(4);
  shards.erase(shards.begin() + 1);
  shards.erase(shards.begin() + 2);  // was index 3
  auto merged = MergeSweepResults(shards);
  ASSERT_FALSE(merged.ok());
  EXPECT_EQ(merged.status().message(),
            "merge: the shards must cover 0..3 exactly once: missing shard 1, 3; pass every "
            "shard's results.sqlite once");
}

TEST(ResultsStoreTest, MergeReportsDuplicateShards) {
  std::vector<SweepOutcome> shards = Shards(3);
  shards.push_back(shards[1]);
  shards.back().results.clear();  // no id clash: the coverage error comes first anyway
  auto merged = MergeSweepResults(shards);
  ASSERT_FALSE(merged.ok());
  EXPECT_EQ(merged.status().message(),
            "merge: the shards must cover 0..2 exactly once: duplicate shard 1 (given 2 times); "
            "pass every shard's results.sqlite once");
}

TEST(ResultsStoreTest, MergeNamesTheDifferingInput) {
  std::vector<SweepOutcome> shards = Shards(3);
  shards[2].inputs.isl = 1024;
  auto merged = MergeSweepResults(shards);
  ASSERT_FALSE(merged.ok());
  EXPECT_EQ(merged.status().message(),
            "merge: shards[2] (shard 2/3) differs from shards[0] (shard 0/3) in input isl: "
            "'1024' vs '3000'; merge only the shards of one sweep (same flags but --shard)");
  shards = Shards(2);
  shards[1].inputs.shard_count = 3;
  merged = MergeSweepResults(shards);
  ASSERT_FALSE(merged.ok());
  EXPECT_NE(merged.status().message().find("in input shard_count: '3' vs '2'"), std::string::npos)
      << merged.status().message();
}

TEST(ResultsStoreTest, MergeRejectsASharedCandidateId) {
  std::vector<SweepOutcome> shards = Shards(2);
  shards[1].results.push_back(shards[0].results[0]);
  auto merged = MergeSweepResults(shards);
  ASSERT_FALSE(merged.ok());
  EXPECT_EQ(merged.status().message(),
            "merge: candidate id 0 appears in shards[0] (shard 0/2) and shards[1] (shard 1/2); "
            "shards of one sweep never share a candidate");
}

// ---------------------------------------------------------------------------------------------
// A sample results directory for developing the notebook (notebooks/sweep_analysis.ipynb)
// without a sweep: DYNAMO_SWEEP_SAMPLE_OUT=DIR ./results_store_test
// --gtest_filter='*WritesSample*'. A deterministic grid of plans with a consistent Pareto front,
// selection and counts.

SweepOutcome SampleOutcome() {
  SweepOutcome o;
  o.inputs.model = "llama-3.1-8b";
  o.inputs.gpus = 8;
  o.inputs.isl = 512;
  o.inputs.osl = 64;
  o.inputs.ttft_ms = 500;
  o.inputs.itl_ms = 40;
  o.inputs.requests = 200;
  o.inputs.seed = 3;
  o.version = "sample";
  int64_t id = 0;
  for (int tp : {1, 2, 4}) {
    for (int replicas : {1, 2}) {
      for (int seqs : {16, 64, 256}) {
        for (bool disagg : {false, true}) {
          CandidateResult r;
          r.candidate = disagg ? Disagg(id, tp, tp) : Agg(id, replicas, tp);
          if (disagg) r.candidate.pools[0].replicas = replicas;
          r.candidate.pools.back().max_num_seqs = seqs;
          ++id;
          if (r.candidate.gpus() > o.inputs.gpus) {
            r.status = CandidateStatus::kInfeasible;
            r.reason = "budget: " + std::to_string(r.candidate.gpus()) + " GPUs > 8";
            ++o.counts.infeasible;
          } else if (seqs == 256 && tp == 1) {
            r.status = CandidateStatus::kSlaMissed;
            r.reason = "itl above 40 ms";
            r.simulations = 2;
            ++o.counts.sla_missed;
          } else {
            LoadPoint p;
            p.load = seqs / 8.0;
            p.rate_rps = seqs / 4.0 * replicas;
            p.ttft_ms = 100 + seqs;
            p.itl_ms = 10 + seqs / 10.0;
            p.tokens_per_s_per_user = 1000.0 / p.itl_ms * (disagg ? 1.1 : 1.0) * (1 + tp / 8.0);
            p.tokens_per_s_per_gpu = seqs * 20.0 / tp * (disagg ? 0.9 : 1.0) + replicas;
            p.output_tokens_per_s = p.tokens_per_s_per_gpu * r.candidate.gpus();
            p.fingerprint = "sample" + std::to_string(id);
            r.best = p;
            r.simulations = 5;
            ++o.counts.passed;
          }
          o.counts.simulations += r.simulations;
          o.results.push_back(r);
        }
      }
    }
  }
  o.counts.enumerated = static_cast<int64_t>(o.results.size());
  // Pareto front by brute force; the plan with the most tokens/s/GPU is chosen.
  for (CandidateResult& r : o.results) {
    if (!r.best) continue;
    r.pareto = true;
    for (const CandidateResult& q : o.results) {
      if (!q.best || &q == &r) continue;
      const bool ge = q.best->tokens_per_s_per_gpu >= r.best->tokens_per_s_per_gpu &&
                      q.best->tokens_per_s_per_user >= r.best->tokens_per_s_per_user;
      const bool gt = q.best->tokens_per_s_per_gpu > r.best->tokens_per_s_per_gpu ||
                      q.best->tokens_per_s_per_user > r.best->tokens_per_s_per_user;
      if (ge && gt) r.pareto = false;
    }
    if (!o.chosen || r.best->tokens_per_s_per_gpu >
                         o.results[static_cast<size_t>(*o.chosen)].best->tokens_per_s_per_gpu) {
      o.chosen = static_cast<int64_t>(&r - o.results.data());
    }
  }
  o.results[static_cast<size_t>(*o.chosen)].chosen = true;
  o.confirmation = o.results[static_cast<size_t>(*o.chosen)].best;
  o.best_plan_json = "{}";
  return o;
}

TEST(ResultsStoreTest, WritesSampleWhenAsked) {
  const char* out = std::getenv("DYNAMO_SWEEP_SAMPLE_OUT");
  if (out == nullptr) GTEST_SKIP() << "set DYNAMO_SWEEP_SAMPLE_OUT=DIR to write a sample";
  ASSERT_TRUE(WriteSweepResults(out, SampleOutcome()).ok());
}

}  // namespace
}  // namespace dynamo::configurator
