#include "configurator/report_html.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string_view>
#include <vector>

namespace dynamo::configurator {
namespace {

constexpr size_t kTopCandidates = 20;

// ---------------------------------------------------------------------------------------------
// Text.

std::string Escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += ch;
    }
  }
  return out;
}

// `v` with `decimals` decimals; non-finite values as "inf" / "nan".
std::string Num(double v, int decimals) {
  if (!std::isfinite(v)) return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

// Short general form for loads and rates ("12.5", "0.25", "1.2e+03").
std::string Short(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.4g", v);
  return buf;
}

std::string Percentile(const SweepInputs& in) { return "p" + Short(in.percentile); }

// ---------------------------------------------------------------------------------------------
// Selection helpers.

bool Passing(const CandidateResult& r) { return r.status == CandidateStatus::kPass && r.best; }

// The objective's order (docs/formats.md): kThroughputPerGpu: tokens/s/GPU desc; kMinGpus: GPUs
// asc, then tokens/s/GPU desc. Ties by id.
bool Better(const CandidateResult& a, const CandidateResult& b, Objective objective) {
  if (objective == Objective::kMinGpus && a.candidate.gpus() != b.candidate.gpus()) {
    return a.candidate.gpus() < b.candidate.gpus();
  }
  if (a.best->tokens_per_s_per_gpu != b.best->tokens_per_s_per_gpu) {
    return a.best->tokens_per_s_per_gpu > b.best->tokens_per_s_per_gpu;
  }
  return a.candidate.id < b.candidate.id;
}

std::vector<const CandidateResult*> PassingResults(const SweepOutcome& o) {
  std::vector<const CandidateResult*> out;
  for (const CandidateResult& r : o.results) {
    if (Passing(r)) out.push_back(&r);
  }
  return out;
}

const CandidateResult* Chosen(const SweepOutcome& o) {
  if (!o.chosen || *o.chosen < 0 || *o.chosen >= static_cast<int64_t>(o.results.size())) {
    return nullptr;
  }
  return &o.results[static_cast<size_t>(*o.chosen)];
}

// ---------------------------------------------------------------------------------------------
// HTML pieces.

constexpr std::string_view kStyle = R"(
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.chosen td { background: #fff4d6; font-weight: 600; }
.figures { display: flex; flex-wrap: wrap; gap: 0.8em; }
.figure { border: 1px solid #ddd; border-radius: 6px; padding: 0.5em 0.9em; min-width: 9em; }
.figure .v { font-size: 1.3em; font-weight: 600; }
.figure .k { font-size: 0.8em; color: #666; }
.note { color: #666; }
svg { font-family: inherit; font-size: 12px; }
svg .axis { stroke: #444; }
svg .grid { stroke: #eee; }
svg .agg { fill: #1f77b4; fill-opacity: 0.75; }
svg .disagg { fill: #d95f02; fill-opacity: 0.75; }
svg .front { fill: none; stroke: #555; stroke-width: 1.5; stroke-dasharray: 5 3; }
svg .ring { fill: none; stroke: #111; stroke-width: 2; }
svg .chosen-label { font-weight: 600; }
)";

std::string Row(std::string_view key, const std::string& value_html) {
  return "<tr><th>" + Escape(key) + "</th><td>" + value_html + "</td></tr>\n";
}

std::string Figure(std::string_view key, const std::string& value) {
  return "<div class=\"figure\"><div class=\"v\">" + Escape(value) + "</div><div class=\"k\">" +
         Escape(key) + "</div></div>\n";
}

std::string WorkloadText(const SweepInputs& in) {
  std::string s = in.workload.empty() ? "synthetic" : in.workload;
  s += ", ISL " + std::to_string(in.isl) + ", OSL " + std::to_string(in.osl);
  s += in.rate_rps ? ", demand " + Short(*in.rate_rps) + " req/s" : ", no demand (max throughput)";
  return s + ", " + std::to_string(in.requests) + " requests per simulation";
}

std::string SlaText(const SweepInputs& in) {
  return "TTFT &le; " + Escape(Short(in.ttft_ms)) + " ms and ITL &le; " + Escape(Short(in.itl_ms)) +
         " ms at " + Escape(Percentile(in));
}

std::string Summary(const SweepOutcome& o) {
  const SweepInputs& in = o.inputs;
  const SweepCounts& c = o.counts;
  std::string budget = std::to_string(in.gpus) + " GPUs";
  if (in.gpus_per_node > 0) budget += " (" + std::to_string(in.gpus_per_node) + " per node)";
  std::string h = "<h2>Summary</h2>\n<table>\n";
  h += Row("Model", Escape(in.model) + " (" + Escape(in.dtype) + ")");
  h += Row("GPU", Escape(in.gpu));
  h += Row("Budget", Escape(budget));
  h += Row("Workload", Escape(WorkloadText(in)));
  h += Row("SLA", SlaText(in));
  h += Row("Objective", Escape(ObjectiveName(in.objective)));
  h += Row("Seed", Escape(std::to_string(in.seed)));
  h +=
      Row("Candidates",
          Escape(std::to_string(c.enumerated) + " enumerated: " + std::to_string(c.infeasible) +
                 " infeasible, " + std::to_string(c.pruned) + " pruned, " +
                 std::to_string(c.below_demand) + " below demand, " + std::to_string(c.sla_missed) +
                 " SLA missed, " + std::to_string(c.passed) + " passed"));
  h += Row("Simulations",
           Escape(std::to_string(c.simulations) + " (" + std::to_string(c.full_simulations) +
                  " full), " + std::to_string(c.requests_simulated) + " requests simulated"));
  h += Row("Wall time", Escape(Num(o.wall_s, 1) + " s"));
  return h + "</table>\n";
}

std::string LoadPointFigures(const LoadPoint& p, const SweepInputs& in) {
  const std::string pct = Percentile(in);
  std::string h = "<div class=\"figures\">\n";
  h += Figure("load", Short(p.load));
  h += Figure("rate (req/s)", Short(p.rate_rps));
  h += Figure("TTFT " + pct + " (ms)", Num(p.ttft_ms, 1));
  h += Figure("ITL " + pct + " (ms)", Num(p.itl_ms, 2));
  h += Figure("tokens/s/GPU", Num(p.tokens_per_s_per_gpu, 1));
  h += Figure("tokens/s/user", Num(p.tokens_per_s_per_user, 1));
  return h + "</div>\n";
}

std::string ChosenSection(const SweepOutcome& o) {
  std::string h = "<h2>Chosen plan</h2>\n";
  const CandidateResult* chosen = Chosen(o);
  if (chosen == nullptr) {
    return h + "<p class=\"note\">No plan chosen: no candidate met the SLA" +
           std::string(o.inputs.rate_rps ? " at the demanded load" : "") + ".</p>\n";
  }
  h += "<p><strong>" + Escape(chosen->candidate.Label()) + "</strong> &mdash; " +
       std::to_string(chosen->candidate.gpus()) + " GPUs, " +
       Escape(SweepModeName(chosen->candidate.mode)) + ", router " +
       Escape(chosen->candidate.router) + "</p>\n";
  if (chosen->best) h += LoadPointFigures(*chosen->best, o.inputs);
  if (o.confirmation) {
    const LoadPoint& c = *o.confirmation;
    h += "<h3>Confirmation run</h3>\n<p class=\"note\">A full simulation at the chosen load.</p>\n";
    h += LoadPointFigures(c, o.inputs);
    h += "<table>\n";
    h += Row("TTFT p50", Escape(Num(c.ttft_p50_ms, 1) + " ms"));
    h += Row("ITL p50", Escape(Num(c.itl_p50_ms, 2) + " ms"));
    h += Row("Throughput", Escape(Num(c.throughput_rps, 2) + " req/s, " +
                                  Num(c.output_tokens_per_s, 0) + " output tokens/s"));
    h += Row("Goodput", Escape(Num(c.goodput_rps, 2) + " req/s"));
    h += Row("KV hit rate", Escape(Num(c.kv_hit_rate * 100, 1) + " %"));
    h += Row("Fingerprint", "<code>" + Escape(c.fingerprint) + "</code>");
    h += "</table>\n";
  }
  return h;
}

// ---------------------------------------------------------------------------------------------
// The Pareto chart.

// A linear axis from 0 to a "nice" maximum with 1/2/5 x 10^k ticks. Never degenerate: a
// non-positive or non-finite maximum gives [0, 1].
struct Axis {
  double max = 1;
  double step = 0.2;
  int Ticks() const { return static_cast<int>(std::lround(max / step)); }  // after 0
};

Axis NiceAxis(double max_value) {
  if (!std::isfinite(max_value) || max_value <= 0) return Axis{};
  const double raw = max_value * 1.05 / 8;  // 4 to 8 ticks, a little headroom
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude * 10;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= m * magnitude) {
      step = m * magnitude;
      break;
    }
  }
  return Axis{std::ceil(max_value * 1.05 / step) * step, step};
}

std::string TickText(double v, double step) {
  return step >= 1 ? Num(v, 0) : Num(v, static_cast<int>(std::ceil(-std::log10(step))));
}

struct Plot {
  // The legend sits right of the plot area, never over points.
  static constexpr double kWidth = 900, kHeight = 480;
  static constexpr double kLeft = 75, kRight = 180, kTop = 40, kBottom = 55;
  Axis x, y;
  double X(double v) const { return kLeft + v / x.max * (kWidth - kLeft - kRight); }
  double Y(double v) const { return kHeight - kBottom - v / y.max * (kHeight - kTop - kBottom); }
};

std::string Px(double v) { return Num(v, 1); }

std::string Marker(SweepMode mode, double cx, double cy, double r, const std::string& extra) {
  if (mode == SweepMode::kAggregated) {
    return "<circle class=\"pt agg\" cx=\"" + Px(cx) + "\" cy=\"" + Px(cy) + "\" r=\"" + Px(r) +
           "\"" + extra + ">";
  }
  // An upward triangle of about the circle's area.
  const double s = r * 1.35;
  return "<polygon class=\"pt disagg\" points=\"" + Px(cx) + "," + Px(cy - s) + " " + Px(cx - s) +
         "," + Px(cy + s * 0.8) + " " + Px(cx + s) + "," + Px(cy + s * 0.8) + "\"" + extra + ">";
}

std::string MarkerClose(SweepMode mode) {
  return mode == SweepMode::kAggregated ? "</circle>" : "</polygon>";
}

std::string Axes(const Plot& p) {
  std::string h;
  const double x0 = Plot::kLeft, x1 = Plot::kWidth - Plot::kRight;
  const double y0 = Plot::kHeight - Plot::kBottom, y1 = Plot::kTop;
  for (int i = 0; i <= p.x.Ticks(); ++i) {
    const double v = i * p.x.step;
    const std::string x = Px(p.X(v));
    h += "<line class=\"grid\" x1=\"" + x + "\" y1=\"" + Px(y0) + "\" x2=\"" + x + "\" y2=\"" +
         Px(y1) + "\"/>";
    h += "<line class=\"axis\" x1=\"" + x + "\" y1=\"" + Px(y0) + "\" x2=\"" + x + "\" y2=\"" +
         Px(y0 + 5) + "\"/>";
    h += "<text x=\"" + x + "\" y=\"" + Px(y0 + 18) + "\" text-anchor=\"middle\">" +
         TickText(v, p.x.step) + "</text>\n";
  }
  for (int i = 0; i <= p.y.Ticks(); ++i) {
    const double v = i * p.y.step;
    const std::string y = Px(p.Y(v));
    h += "<line class=\"grid\" x1=\"" + Px(x0) + "\" y1=\"" + y + "\" x2=\"" + Px(x1) + "\" y2=\"" +
         y + "\"/>";
    h += "<line class=\"axis\" x1=\"" + Px(x0 - 5) + "\" y1=\"" + y + "\" x2=\"" + Px(x0) +
         "\" y2=\"" + y + "\"/>";
    h += "<text x=\"" + Px(x0 - 8) + "\" y=\"" + Px(p.Y(v) + 4) + "\" text-anchor=\"end\">" +
         TickText(v, p.y.step) + "</text>\n";
  }
  h += "<line class=\"axis\" x1=\"" + Px(x0) + "\" y1=\"" + Px(y0) + "\" x2=\"" + Px(x1) +
       "\" y2=\"" + Px(y0) + "\"/>";
  h += "<line class=\"axis\" x1=\"" + Px(x0) + "\" y1=\"" + Px(y0) + "\" x2=\"" + Px(x0) +
       "\" y2=\"" + Px(y1) + "\"/>\n";
  h += "<text x=\"" + Px((x0 + x1) / 2) + "\" y=\"" + Px(Plot::kHeight - 12) +
       "\" text-anchor=\"middle\">output tokens/s per user</text>\n";
  h += "<text transform=\"translate(18," + Px((y0 + y1) / 2) +
       ") rotate(-90)\" text-anchor=\"middle\">output tokens/s per GPU</text>\n";
  return h;
}

// The front as a staircase: the upper boundary of the region the front dominates.
std::string FrontLine(const Plot& p, std::vector<const CandidateResult*> front) {
  if (front.empty()) return "";
  std::sort(front.begin(), front.end(), [](const CandidateResult* a, const CandidateResult* b) {
    if (a->best->tokens_per_s_per_user != b->best->tokens_per_s_per_user) {
      return a->best->tokens_per_s_per_user < b->best->tokens_per_s_per_user;
    }
    return a->best->tokens_per_s_per_gpu > b->best->tokens_per_s_per_gpu;
  });
  std::string points;
  for (size_t i = 0; i < front.size(); ++i) {
    const LoadPoint& b = *front[i]->best;
    if (i > 0) {  // down from the previous point's x to this point's y, then across
      points += Px(p.X(front[i - 1]->best->tokens_per_s_per_user)) + "," +
                Px(p.Y(b.tokens_per_s_per_gpu)) + " ";
    }
    points += Px(p.X(b.tokens_per_s_per_user)) + "," + Px(p.Y(b.tokens_per_s_per_gpu)) + " ";
  }
  points.pop_back();
  return "<polyline class=\"front\" points=\"" + points + "\"><title>Pareto front (" +
         std::to_string(front.size()) + " plans)</title></polyline>\n";
}

std::string PointTitle(const CandidateResult& r) {
  return "<title>" + Escape(r.candidate.Label()) + " (id " + std::to_string(r.candidate.id) +
         "): " + Num(r.best->tokens_per_s_per_user, 1) + " tok/s/user, " +
         Num(r.best->tokens_per_s_per_gpu, 1) + " tok/s/GPU, " +
         std::to_string(r.candidate.gpus()) + " GPUs</title>";
}

std::string Legend(bool has_chosen) {
  const double x = Plot::kWidth - Plot::kRight + 30, y = Plot::kTop + 10;
  std::string h = "<g class=\"legend\">\n";
  h += "<rect x=\"" + Px(x - 10) + "\" y=\"" + Px(y - 8) + "\" width=\"155\" height=\"" +
       Px(has_chosen ? 82 : 62) + "\" fill=\"#fff\" fill-opacity=\"0.85\" stroke=\"#ccc\"/>\n";
  h += Marker(SweepMode::kAggregated, x, y + 6, 5, "") + MarkerClose(SweepMode::kAggregated);
  h += "<text x=\"" + Px(x + 14) + "\" y=\"" + Px(y + 10) + "\">aggregated</text>\n";
  h += Marker(SweepMode::kDisaggregated, x, y + 26, 5, "") + MarkerClose(SweepMode::kDisaggregated);
  h += "<text x=\"" + Px(x + 14) + "\" y=\"" + Px(y + 30) + "\">disaggregated</text>\n";
  h += "<line class=\"front\" x1=\"" + Px(x - 6) + "\" y1=\"" + Px(y + 46) + "\" x2=\"" +
       Px(x + 6) + "\" y2=\"" + Px(y + 46) + "\"/>";
  h += "<text x=\"" + Px(x + 14) + "\" y=\"" + Px(y + 50) + "\">Pareto front</text>\n";
  if (has_chosen) {
    h += "<circle class=\"ring\" cx=\"" + Px(x) + "\" cy=\"" + Px(y + 66) + "\" r=\"7\"/>";
    h += "<text x=\"" + Px(x + 14) + "\" y=\"" + Px(y + 70) + "\">chosen plan</text>\n";
  }
  return h + "</g>\n";
}

std::string ChartSection(const SweepOutcome& o, const std::vector<const CandidateResult*>& pass) {
  std::string h = "<h2>Pareto front</h2>\n";
  if (pass.empty()) {
    return h + "<p class=\"note\">No passing candidates: nothing to plot.</p>\n";
  }
  Plot p;
  double max_x = 0, max_y = 0;
  std::vector<const CandidateResult*> front;
  for (const CandidateResult* r : pass) {
    max_x = std::max(max_x, r->best->tokens_per_s_per_user);
    max_y = std::max(max_y, r->best->tokens_per_s_per_gpu);
    if (r->pareto) front.push_back(r);
  }
  p.x = NiceAxis(max_x);
  p.y = NiceAxis(max_y);
  const CandidateResult* chosen = Chosen(o);
  if (chosen != nullptr && !Passing(*chosen)) chosen = nullptr;
  h += "<p class=\"note\">Each passing candidate at its highest load within the SLA. Hover a "
       "point for its plan.</p>\n";
  h += "<svg role=\"img\" aria-label=\"Pareto chart\" width=\"" + Px(Plot::kWidth) +
       "\" height=\"" + Px(Plot::kHeight) + "\" viewBox=\"0 0 " + Px(Plot::kWidth) + " " +
       Px(Plot::kHeight) + "\">\n";
  h += Axes(p);
  h += FrontLine(p, front);
  for (const CandidateResult* r : pass) {
    if (r == chosen) continue;  // drawn last, on top
    h += Marker(r->candidate.mode, p.X(r->best->tokens_per_s_per_user),
                p.Y(r->best->tokens_per_s_per_gpu), 4.5, "") +
         PointTitle(*r) + MarkerClose(r->candidate.mode) + "\n";
  }
  if (chosen != nullptr) {
    const double cx = p.X(chosen->best->tokens_per_s_per_user);
    const double cy = p.Y(chosen->best->tokens_per_s_per_gpu);
    h += "<g class=\"chosen\">";
    h += Marker(chosen->candidate.mode, cx, cy, 7, "") + PointTitle(*chosen) +
         MarkerClose(chosen->candidate.mode);
    h += "<circle class=\"ring\" cx=\"" + Px(cx) + "\" cy=\"" + Px(cy) + "\" r=\"12\"/>";
    // The label runs centred above the plot area (a plan label is too long to fit beside a
    // point near either edge), with a leader line down to the ring.
    const double lx = (Plot::kLeft + Plot::kWidth - Plot::kRight) / 2, ly = Plot::kTop - 14;
    h += "<line class=\"leader\" x1=\"" + Px(lx) + "\" y1=\"" + Px(ly + 4) + "\" x2=\"" + Px(cx) +
         "\" y2=\"" + Px(cy - 12) + "\" stroke=\"#888\" stroke-dasharray=\"3 3\"/>";
    h += "<text class=\"chosen-label\" x=\"" + Px(lx) + "\" y=\"" + Px(ly) +
         "\" text-anchor=\"middle\">chosen: " + Escape(chosen->candidate.Label()) + "</text>";
    h += "</g>\n";
  }
  h += Legend(chosen != nullptr);
  return h + "</svg>\n";
}

// ---------------------------------------------------------------------------------------------
// Tables.

std::string TopTable(const SweepOutcome& o, std::vector<const CandidateResult*> pass) {
  std::string h = "<h2>Top candidates</h2>\n";
  if (pass.empty()) return h + "<p class=\"note\">No candidate passed.</p>\n";
  const Objective objective = o.inputs.objective;
  std::sort(pass.begin(), pass.end(), [&](const CandidateResult* a, const CandidateResult* b) {
    return Better(*a, *b, objective);
  });
  const size_t n = std::min(pass.size(), kTopCandidates);
  h += "<p class=\"note\">The " + std::to_string(n) + " best of " + std::to_string(pass.size()) +
       " passing candidates by the objective (" + Escape(ObjectiveName(objective)) + ").</p>\n";
  const std::string pct = Escape(Percentile(o.inputs));
  h += "<table>\n<tr><th>#</th><th>id</th><th>plan</th><th>mode</th><th>GPUs</th><th>load</th>"
       "<th>rate (req/s)</th><th>TTFT " +
       pct + " (ms)</th><th>ITL " + pct +
       " (ms)</th><th>tokens/s/GPU</th><th>tokens/s/user</th><th>Pareto</th></tr>\n";
  for (size_t i = 0; i < n; ++i) {
    const CandidateResult& r = *pass[i];
    const LoadPoint& b = *r.best;
    auto num = [](const std::string& v) { return "<td class=\"num\">" + v + "</td>"; };
    h += std::string(r.chosen ? "<tr class=\"chosen\">" : "<tr>") + num(std::to_string(i + 1)) +
         num(std::to_string(r.candidate.id)) + "<td>" + Escape(r.candidate.Label()) +
         (r.chosen ? " (chosen)" : "") + "</td><td>" + Escape(SweepModeName(r.candidate.mode)) +
         "</td>" + num(std::to_string(r.candidate.gpus())) + num(Short(b.load)) +
         num(Short(b.rate_rps)) + num(Num(b.ttft_ms, 1)) + num(Num(b.itl_ms, 2)) +
         num(Num(b.tokens_per_s_per_gpu, 1)) + num(Num(b.tokens_per_s_per_user, 1)) + "<td>" +
         (r.pareto ? "yes" : "") + "</td></tr>\n";
  }
  return h + "</table>\n";
}

std::string RejectionTable(const SweepOutcome& o) {
  // (status, category) -> candidates; infeasible ones by their reason's category.
  std::map<std::pair<std::string, std::string>, int64_t> counts;
  for (const CandidateResult& r : o.results) {
    if (r.status == CandidateStatus::kPass) continue;
    std::string category;
    if (r.status == CandidateStatus::kInfeasible) {
      category = r.reason.substr(0, r.reason.find(':'));
      if (category.empty()) category = "(no reason)";
    }
    ++counts[{std::string(CandidateStatusName(r.status)), category}];
  }
  std::string h = "<h2>Rejected candidates</h2>\n";
  if (counts.empty()) return h + "<p class=\"note\">None.</p>\n";
  h += "<table>\n<tr><th>status</th><th>reason</th><th>candidates</th></tr>\n";
  for (const auto& [key, n] : counts) {
    h += "<tr><td>" + Escape(key.first) + "</td><td>" + Escape(key.second) +
         "</td><td class=\"num\">" + std::to_string(n) + "</td></tr>\n";
  }
  return h + "</table>\n";
}

std::string InputsTable(const SweepOutcome& o) {
  const SweepInputs& in = o.inputs;
  std::string modes, routers;
  for (SweepMode m : in.modes) modes += (modes.empty() ? "" : ", ") + std::string(SweepModeName(m));
  for (const std::string& r : in.routers) routers += (routers.empty() ? "" : ", ") + r;
  auto cell = [](const std::string& v) { return Escape(v); };
  std::string h = "<h2>Inputs</h2>\n<table>\n";
  h += Row("model", cell(in.model));
  h += Row("gpu", cell(in.gpu));
  h += Row("gpus", cell(std::to_string(in.gpus)));
  h += Row("gpus_per_node",
           cell(in.gpus_per_node > 0 ? std::to_string(in.gpus_per_node) : "GPU default"));
  h += Row("dtype", cell(in.dtype));
  h += Row("workload", cell(in.workload.empty() ? "synthetic" : in.workload));
  h += Row("isl / osl", cell(std::to_string(in.isl) + " / " + std::to_string(in.osl)));
  h += Row("rate_rps", cell(in.rate_rps ? Short(*in.rate_rps) : "none"));
  h += Row("requests", cell(std::to_string(in.requests)));
  h += Row("ttft_ms / itl_ms", cell(Short(in.ttft_ms) + " / " + Short(in.itl_ms)));
  h += Row("percentile", cell(Short(in.percentile)));
  h += Row("modes", cell(modes));
  h += Row("routers", cell(routers));
  h += Row("seed", cell(std::to_string(in.seed)));
  h += Row("threads", cell(in.threads > 0 ? std::to_string(in.threads) : "all cores"));
  h += Row("shard", cell(std::to_string(in.shard_index) + " of " + std::to_string(in.shard_count)));
  h += Row("perf_db", cell(in.perf_db.empty() ? "analytic model" : in.perf_db));
  h += Row("objective", cell(std::string(ObjectiveName(in.objective))));
  h += Row("dynamo-sim", cell(o.version));
  return h + "</table>\n";
}

}  // namespace

std::string RenderSweepReport(const SweepOutcome& o) {
  const std::string title =
      "Sweep: " + o.inputs.model + " on " + std::to_string(o.inputs.gpus) + " x " + o.inputs.gpu;
  const std::vector<const CandidateResult*> pass = PassingResults(o);
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  h += "<title>" + Escape(title) + "</title>\n<style>" + std::string(kStyle) + "</style>\n";
  h += "</head>\n<body>\n<h1>" + Escape(title) + "</h1>\n";
  h += "<p class=\"note\">dynamo-sim sweep report, seed " + std::to_string(o.inputs.seed) +
       ".</p>\n";
  h += Summary(o);
  h += ChosenSection(o);
  h += ChartSection(o, pass);
  h += TopTable(o, pass);
  h += RejectionTable(o);
  h += InputsTable(o);
  return h + "</body>\n</html>\n";
}

}  // namespace dynamo::configurator
