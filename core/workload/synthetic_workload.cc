#include "core/workload/synthetic_workload.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace dynamo {
namespace {

constexpr double kMaxRequests = 1e7;
constexpr double kMaxTokens = 1e7;  // per prompt or answer
// Memory budget of one generated workload: block hashes plus token ids (8 and 4 bytes each).
constexpr int64_t kMaxWorkloadBytes = int64_t{2} << 30;

// A run of prompt tokens with one identity (a system prompt, a user message, an answer).
struct Segment {
  uint64_t id;
  int64_t length;
};

uint64_t SegmentId(uint64_t key, std::string_view tag, uint64_t a, uint64_t b) {
  return Mix64(Mix64(key ^ HashName(tag)) + a * 0x9E3779B97F4A7C15ULL + Mix64(b));
}

// Chained hashes over the segments, one per block of `block_tokens` (last one may be partial).
void HashBlocks(const std::vector<Segment>& segments, int64_t total, int32_t block_tokens,
                std::vector<uint64_t>& out) {
  out.clear();
  out.reserve((total + block_tokens - 1) / block_tokens);
  uint64_t h = 0x5EED'B10C'0000'0001ULL;
  size_t seg = 0;
  int64_t seg_off = 0;
  for (int64_t start = 0; start < total; start += block_tokens) {
    int64_t need = std::min<int64_t>(block_tokens, total - start);
    while (need > 0) {
      const int64_t take = std::min(need, segments[seg].length - seg_off);
      h = Mix64(h ^ Mix64(segments[seg].id + static_cast<uint64_t>(seg_off)));
      h = Mix64(h + static_cast<uint64_t>(take));
      need -= take;
      seg_off += take;
      if (seg_off == segments[seg].length) {
        ++seg;
        seg_off = 0;
      }
    }
    out.push_back(h);
  }
}

void TokenIds(const std::vector<Segment>& segments, int32_t vocab, std::vector<int32_t>& out) {
  out.clear();
  for (const Segment& s : segments) {
    for (int64_t i = 0; i < s.length; ++i) {
      out.push_back(static_cast<int32_t>(Mix64(s.id ^ Mix64(static_cast<uint64_t>(i))) % vocab));
    }
  }
}

int64_t RoundCount(double v) { return std::max<int64_t>(1, std::llround(v)); }

// Expected bytes of block hashes and token ids, from the spec's means, so that a spec far over
// the budget is refused before anything is allocated.
double ExpectedBytes(const SyntheticSpec& spec) {
  const double requests = spec.requests > 0 ? static_cast<double>(spec.requests)
                                            : spec.arrival.shape.Cumulative(spec.duration_s);
  double prompt = std::max(spec.isl.Mean(), static_cast<double>(spec.shared_tokens));
  if (spec.turns) {  // turn k resends k earlier turns: on average (T - 1) / 2 of them
    prompt += 0.5 * (spec.turns->Mean() - 1.0) * (spec.isl.Mean() + spec.osl.Mean());
  }
  const double per_request =
      8.0 * std::ceil(prompt / spec.block_tokens) + (spec.token_ids ? 4.0 * prompt : 0.0);
  return requests * per_request;
}

std::string TooLarge(const SyntheticSpec& spec, const std::string& source,
                     const std::string& what) {
  return source + ": the workload needs " + what + " of prompt hashes" +
         (spec.token_ids ? " and token ids" : "") + ", over the " +
         std::to_string(kMaxWorkloadBytes >> 30) +
         " GiB budget; raise block_tokens, lower requests or isl" +
         (spec.token_ids ? ", or drop token_ids" : "");
}

}  // namespace

StatusOr<SyntheticSpec> SyntheticSpec::Parse(const JsonNode& root, const std::string& base_dir) {
  RETURN_IF_ERROR(root.CheckKnownKeys({"name", "description", "requests", "duration_s", "seed",
                                       "arrival", "isl", "osl", "prefix", "sessions",
                                       "block_tokens", "token_ids", "vocab_size"}));
  SyntheticSpec s;
  ASSIGN_OR_RETURN(s.requests, root.GetIntOr("requests", 0, Bounds::Between(1, kMaxRequests)));
  ASSIGN_OR_RETURN(s.duration_s, root.GetDoubleOr("duration_s", 0, Bounds::Between(1e-3, 1e8)));
  if ((s.requests > 0) == (s.duration_s > 0)) {
    return root.Error("give exactly one of 'requests' (a count) or 'duration_s'");
  }
  ASSIGN_OR_RETURN(int64_t seed, root.GetIntOr("seed", 0, Bounds::NonNegative()));
  s.seed = static_cast<uint64_t>(seed);
  ASSIGN_OR_RETURN(JsonNode arrival, root.Get("arrival"));
  ASSIGN_OR_RETURN(s.arrival, ArrivalSpec::Parse(arrival));
  if (s.arrival.closed_loop() && s.duration_s > 0) {
    return root.Error(
        "a closed-loop workload (arrival.process \"concurrency\") needs "
        "'requests', not 'duration_s'");
  }
  const Bounds tokens = Bounds::Between(1, kMaxTokens);
  ASSIGN_OR_RETURN(JsonNode isl, root.Get("isl"));
  ASSIGN_OR_RETURN(s.isl, DistributionSpec::Parse(isl, base_dir, tokens));
  ASSIGN_OR_RETURN(JsonNode osl, root.Get("osl"));
  ASSIGN_OR_RETURN(s.osl, DistributionSpec::Parse(osl, base_dir, tokens));
  if (auto prefix = root.Find("prefix")) {
    RETURN_IF_ERROR(prefix->CheckKnownKeys({"groups", "shared_tokens"}));
    ASSIGN_OR_RETURN(s.prefix_groups, prefix->GetInt("groups", Bounds::Between(1, 1e6)));
    ASSIGN_OR_RETURN(s.shared_tokens, prefix->GetInt("shared_tokens", tokens));
  }
  if (auto sessions = root.Find("sessions")) {
    RETURN_IF_ERROR(sessions->CheckKnownKeys({"turns", "think_time_s"}));
    if (s.arrival.closed_loop()) {
      return sessions->Error("multi-turn sessions need an open-loop arrival process");
    }
    ASSIGN_OR_RETURN(JsonNode turns, sessions->Get("turns"));
    ASSIGN_OR_RETURN(s.turns, DistributionSpec::Parse(turns, base_dir, Bounds::Between(1, 1000)));
    if (auto think = sessions->Find("think_time_s")) {
      ASSIGN_OR_RETURN(s.think_time_s,
                       DistributionSpec::Parse(*think, base_dir, Bounds::Between(0, 1e6)));
    }
  }
  ASSIGN_OR_RETURN(int64_t block, root.GetIntOr("block_tokens", 16, Bounds::Between(1, 1 << 20)));
  s.block_tokens = static_cast<int32_t>(block);
  ASSIGN_OR_RETURN(s.token_ids, root.GetBoolOr("token_ids", false));
  ASSIGN_OR_RETURN(int64_t vocab, root.GetIntOr("vocab_size", 32000, Bounds::Between(2, 1e8)));
  s.vocab_size = static_cast<int32_t>(vocab);
  return s;
}

StatusOr<Workload> GenerateWorkload(const SyntheticSpec& spec, const std::string& source) {
  const double expected = ExpectedBytes(spec);
  if (expected > static_cast<double>(kMaxWorkloadBytes)) {
    char gib[32];
    std::snprintf(gib, sizeof gib, "about %.0f GiB", expected / (1 << 30));
    return InvalidArgument(TooLarge(spec, source, gib));
  }
  Workload w;
  w.seed = spec.seed;
  w.source = source;
  w.block_tokens = spec.block_tokens;
  w.closed_loop_concurrency = spec.arrival.closed_loop() ? spec.arrival.concurrency : 0;

  const RngStream root(spec.seed, "workload");
  RngStream isl_rng = root.Fork("isl"), osl_rng = root.Fork("osl");
  RngStream group_rng = root.Fork("prefix_group"), turns_rng = root.Fork("turns");
  RngStream think_rng = root.Fork("think_time");
  std::optional<ArrivalProcess> arrivals;
  if (!spec.arrival.closed_loop()) arrivals.emplace(spec.arrival, root.Fork("arrival"));

  const bool count_mode = spec.requests > 0;
  const Time end = count_mode ? Time::Max() : Time::FromNanos(std::llround(spec.duration_s * 1e9));
  std::vector<Segment> segments;
  std::vector<Time> scratch;
  int64_t bytes = 0;

  for (uint64_t session = 0;; ++session) {
    const Time start = arrivals ? arrivals->Next() : Time::Zero();
    if (start == Time::Max() || start >= end) break;
    if (count_mode && static_cast<int64_t>(w.requests.size()) >= spec.requests) {
      if (!spec.turns) break;
      // Later turns of earlier sessions may arrive after this start: keep generating sessions
      // until none could land among the first `requests` arrivals.
      scratch.clear();
      for (const Request& r : w.requests) scratch.push_back(r.arrival);
      std::nth_element(scratch.begin(), scratch.begin() + (spec.requests - 1), scratch.end());
      if (start >= scratch[spec.requests - 1]) break;
    }
    const int64_t turns = spec.turns ? RoundCount(spec.turns->Sample(turns_rng)) : 1;
    const int64_t group =
        spec.prefix_groups > 0 ? static_cast<int64_t>(group_rng.Below(spec.prefix_groups)) : -1;
    segments.clear();
    int64_t prompt_len = 0;
    Time arrival = start;
    for (int64_t turn = 0; turn < turns; ++turn) {
      if (turn > 0 && spec.think_time_s) {
        arrival += Duration::FromSecondsF(spec.think_time_s->Sample(think_rng));
      }
      int64_t user = RoundCount(spec.isl.Sample(isl_rng));
      const int64_t osl = RoundCount(spec.osl.Sample(osl_rng));
      if (turn == 0 && group >= 0) {
        segments.push_back(
            {SegmentId(root.key(), "system", static_cast<uint64_t>(group), 0), spec.shared_tokens});
        prompt_len += spec.shared_tokens;
        user = std::max<int64_t>(1, user - spec.shared_tokens);
      }
      segments.push_back({SegmentId(root.key(), "user", session, turn), user});
      prompt_len += user;
      if (prompt_len > std::numeric_limits<int32_t>::max()) {
        return InvalidArgument(source + ": session " + std::to_string(session) + " turn " +
                               std::to_string(turn) +
                               " prompt exceeds 2^31 tokens; lower "
                               "sessions.turns or isl");
      }
      if (arrival < end) {
        Request r;
        r.arrival = arrival;
        r.isl = static_cast<int32_t>(prompt_len);
        r.osl = static_cast<int32_t>(osl);
        r.session = SessionId(session);
        r.turn = static_cast<int32_t>(turn);
        bytes += 8 * ((prompt_len + spec.block_tokens - 1) / spec.block_tokens) +
                 (spec.token_ids ? 4 * prompt_len : 0);
        if (bytes > kMaxWorkloadBytes) {
          return InvalidArgument(TooLarge(
              spec, source, "more memory by request " + std::to_string(w.requests.size())));
        }
        HashBlocks(segments, prompt_len, spec.block_tokens, r.block_hashes);
        if (spec.token_ids) TokenIds(segments, spec.vocab_size, r.token_ids);
        w.requests.push_back(std::move(r));
      }
      // The answer joins the history the next turn resends.
      segments.push_back({SegmentId(root.key(), "answer", session, turn), osl});
      prompt_len += osl;
    }
  }
  FinalizeOrder(w);
  if (count_mode) {
    if (static_cast<int64_t>(w.requests.size()) < spec.requests) {
      return InvalidArgument(source + ": $.arrival.shape: the rate drops to zero for good after " +
                             std::to_string(w.requests.size()) + " of " +
                             std::to_string(spec.requests) +
                             " requests; end with a non-zero rate or use 'duration_s'");
    }
    w.requests.resize(spec.requests);
  }
  return w;
}

}  // namespace dynamo
