#include "configurator/report_html.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace dynamo::configurator {
namespace {

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

CandidateResult Passing(int64_t id, SweepMode mode, double per_user, double per_gpu,
                        std::string router = "round_robin") {
  CandidateResult r;
  r.candidate.id = id;
  r.candidate.mode = mode;
  r.candidate.router = std::move(router);
  if (mode == SweepMode::kAggregated) {
    r.candidate.pools = {PoolChoice{}};
  } else {
    PoolChoice prefill, decode;
    prefill.role = WorkerRole::kPrefill;
    decode.role = WorkerRole::kDecode;
    r.candidate.pools = {prefill, decode};
  }
  r.status = CandidateStatus::kPass;
  LoadPoint p;
  p.load = 1.5;
  p.rate_rps = 3;
  p.ttft_ms = 250;
  p.itl_ms = 20;
  p.tokens_per_s_per_user = per_user;
  p.tokens_per_s_per_gpu = per_gpu;
  p.fingerprint = "fp";
  r.best = p;
  return r;
}

CandidateResult Rejected(int64_t id, CandidateStatus status, std::string reason) {
  CandidateResult r;
  r.candidate.id = id;
  r.candidate.pools = {PoolChoice{}};
  r.status = status;
  r.reason = std::move(reason);
  return r;
}

SweepOutcome Outcome() {
  SweepOutcome o;
  o.inputs.model = "llama-3.1-8b";
  o.inputs.gpus = 8;
  o.inputs.seed = 42;
  o.inputs.percentile = 95;
  o.results = {
      Passing(0, SweepMode::kAggregated, 40, 1500),
      Passing(1, SweepMode::kAggregated, 80, 900),
      Passing(2, SweepMode::kDisaggregated, 60, 1300),
      Passing(3, SweepMode::kDisaggregated, 30, 700),
      Rejected(4, CandidateStatus::kInfeasible, "memory: weights need 16 GB"),
      Rejected(5, CandidateStatus::kInfeasible, "memory: KV cache too small"),
      Rejected(6, CandidateStatus::kInfeasible, "divisibility: tp 3"),
      Rejected(7, CandidateStatus::kPruned, "bound below best"),
      Rejected(8, CandidateStatus::kSlaMissed, "ttft"),
  };
  o.results[0].pareto = o.results[1].pareto = o.results[2].pareto = true;
  o.results[2].chosen = true;
  o.chosen = 2;
  o.confirmation = o.results[2].best;
  o.confirmation->fingerprint = "confirm-fp-123";
  o.counts = {9, 3, 1, 0, 1, 4, 30, 6, 6000};
  o.wall_s = 3.25;
  return o;
}

TEST(ReportHtmlTest, RendersChartLegendAndChosenPlan) {
  const SweepOutcome o = Outcome();
  const std::string html = RenderSweepReport(o);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("</html>"), std::string::npos);
  EXPECT_EQ(Count(html, "<svg"), 1u);
  // Points of both modes (the legend holds one marker of each besides).
  EXPECT_EQ(Count(html, "class=\"pt agg\""), 3u);
  EXPECT_EQ(Count(html, "class=\"pt disagg\""), 3u);
  EXPECT_NE(html.find("class=\"legend\""), std::string::npos);
  EXPECT_NE(html.find(">aggregated</text>"), std::string::npos);
  EXPECT_NE(html.find(">disaggregated</text>"), std::string::npos);
  EXPECT_NE(html.find("class=\"front\" points="), std::string::npos);
  const std::string label = o.results[2].candidate.Label();
  EXPECT_NE(html.find("<text class=\"chosen-label\""), std::string::npos);
  EXPECT_NE(html.find(">chosen: " + label + "</text>"), std::string::npos);
  EXPECT_NE(html.find("<strong>" + label + "</strong>"), std::string::npos);
  EXPECT_NE(html.find("<title>" + label + " (id 2)"), std::string::npos);
  EXPECT_NE(html.find("confirm-fp-123"), std::string::npos);
  EXPECT_NE(html.find("TTFT p95 (ms)"), std::string::npos);
  EXPECT_NE(html.find("seed 42"), std::string::npos);
  EXPECT_NE(html.find("9 enumerated: 3 infeasible, 1 pruned, 0 below demand, 1 SLA missed, "
                      "4 passed"),
            std::string::npos);
  // Rejections by category: infeasible split by the reason's prefix.
  EXPECT_NE(html.find("<td>infeasible</td><td>memory</td><td class=\"num\">2</td>"),
            std::string::npos);
  EXPECT_NE(html.find("<td>infeasible</td><td>divisibility</td><td class=\"num\">1</td>"),
            std::string::npos);
  EXPECT_NE(html.find("<td>pruned</td><td></td><td class=\"num\">1</td>"), std::string::npos);
}

TEST(ReportHtmlTest, TopTableFollowsTheObjective) {
  SweepOutcome o = Outcome();
  o.results[1].candidate.pools[0].tp = 4;  // 4 GPUs
  const std::string by_throughput = RenderSweepReport(o);
  // Rows as rank then id; throughput per GPU: ids 0 (1500), 2 (1300), 1 (900), 3 (700).
  auto rows = [](const std::string& html, std::vector<int64_t> ids) {
    const size_t table = html.find("<h2>Top candidates</h2>");
    size_t at = table;
    for (size_t rank = 1; rank <= ids.size(); ++rank) {
      at = html.find("<td class=\"num\">" + std::to_string(rank) + "</td><td class=\"num\">" +
                         std::to_string(ids[rank - 1]) + "</td>",
                     at);
      if (at == std::string::npos) return false;
    }
    return table != std::string::npos;
  };
  EXPECT_TRUE(rows(by_throughput, {0, 2, 1, 3}));
  o.inputs.objective = Objective::kMinGpus;  // GPUs first: the 1-GPU ids, then the 4-GPU id 1
  const std::string by_gpus = RenderSweepReport(o);
  EXPECT_TRUE(rows(by_gpus, {0, 2, 3, 1}));
}

TEST(ReportHtmlTest, EscapesEveryText) {
  SweepOutcome o = Outcome();
  o.results[0].candidate.router = "<script>alert('x&y')</script>";
  o.results[4].reason = "<b>mem</b>: \"quoted\"";
  o.inputs.model = "m<o>del";
  o.inputs.workload = "a&b";
  const std::string html = RenderSweepReport(o);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<b>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(&#39;x&amp;y&#39;)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("&lt;b&gt;mem&lt;/b&gt;"), std::string::npos);
  EXPECT_NE(html.find("m&lt;o&gt;del"), std::string::npos);
  EXPECT_NE(html.find("a&amp;b"), std::string::npos);
}

TEST(ReportHtmlTest, SelfContained) {
  const std::string html = RenderSweepReport(Outcome());
  EXPECT_EQ(html.find("http"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
}

TEST(ReportHtmlTest, ZeroPassingCandidates) {
  SweepOutcome o = Outcome();
  o.results.erase(o.results.begin(), o.results.begin() + 4);
  o.chosen.reset();
  o.confirmation.reset();
  const std::string html = RenderSweepReport(o);
  EXPECT_EQ(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("No plan chosen: no candidate met the SLA."), std::string::npos);
  EXPECT_NE(html.find("No passing candidates: nothing to plot."), std::string::npos);
  EXPECT_NE(html.find("</html>"), std::string::npos);
  o.results.clear();
  EXPECT_NE(RenderSweepReport(o).find("</html>"), std::string::npos);
}

TEST(ReportHtmlTest, OnePointHasRealAxes) {
  SweepOutcome o = Outcome();
  o.results = {Passing(0, SweepMode::kDisaggregated, 50, 1000)};
  o.results[0].pareto = o.results[0].chosen = true;
  o.chosen = 0;
  const std::string html = RenderSweepReport(o);
  EXPECT_EQ(Count(html, "class=\"pt disagg\""), 2u);
  EXPECT_EQ(html.find("nan"), std::string::npos);
  EXPECT_EQ(html.find("inf\""), std::string::npos);
  EXPECT_NE(html.find(">1000</text>"), std::string::npos);  // y ticks 0..1200 by 200
  EXPECT_NE(html.find(">60</text>"), std::string::npos);    // x ticks 0..60 by 10
  // A point at zero throughput still gets a non-degenerate axis.
  o.results[0].best->tokens_per_s_per_gpu = 0;
  o.results[0].best->tokens_per_s_per_user = 0;
  const std::string zero = RenderSweepReport(o);
  EXPECT_EQ(zero.find("nan"), std::string::npos);
  EXPECT_NE(zero.find(">1.0</text>"), std::string::npos);
}

}  // namespace
}  // namespace dynamo::configurator
