#pragma once
// Prometheus metrics for GET /metrics: counters, gauges and histograms held by a Registry and
// rendered in the text exposition format 0.0.4.
//
// Metric objects are plain values updated in place by the one thread that owns the registry
// (dynamo-run's frontend event loop); nothing here is thread-safe. Numbers are rendered as the
// shortest text that round-trips ("3", "0.25", "1e-05", "+Inf", "NaN").
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

namespace dynamo::api {

// One label of a series: name matches [a-zA-Z_][a-zA-Z0-9_]* and does not start with "__"
// ("le" is reserved for histogram buckets); the value is any UTF-8 text (escaped on render).
struct Label {
  std::string name;
  std::string value;
};

// A monotonically increasing total.
class Counter {
 public:
  // Precondition: v >= 0 (CHECK).
  void Inc(double v = 1);
  double value() const { return value_; }

 private:
  double value_ = 0;
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(double v) { value_ = v; }
  void Add(double v) { value_ += v; }
  double value() const { return value_; }

 private:
  double value_ = 0;
};

// Observations counted into buckets with inclusive upper bounds (`v <= bound`), plus an implicit
// +Inf bucket; renders cumulative counts, _sum and _count. NaN observations land in +Inf only.
class Histogram {
 public:
  // Precondition (CHECK): bounds non-empty, finite and strictly increasing.
  explicit Histogram(std::vector<double> bounds);

  void Observe(double v);
  uint64_t count() const { return count_; }
  double sum() const { return sum_; }
  const std::vector<double>& bounds() const { return bounds_; }
  // Per-bucket (not cumulative) counts: [bounds().size() + 1], the last one is +Inf.
  const std::vector<uint64_t>& bucket_counts() const { return bucket_counts_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> bucket_counts_;  // [bounds_.size() + 1], not cumulative; last is +Inf
  uint64_t count_ = 0;
  double sum_ = 0;
};

// Log-spaced upper bounds from min to max inclusive, `count` of them (Dynamo's frontend buckets,
// e.g. TTFT 0.001..480 s with 18). Inner bounds are rounded to 3 significant digits when that
// keeps them strictly increasing. Precondition (CHECK): 0 < min < max, count >= 2.
std::vector<double> LogBuckets(double min, double max, int count);

// Owns the metrics; references returned stay valid for the registry's life (also across a move
// of the registry). Not thread-safe. Families render in registration order; several label sets
// may share one name (one HELP/TYPE, the first registration's help). Preconditions (CHECK):
// names match [a-zA-Z_:][a-zA-Z0-9_:]*, a name keeps one type, a label set is registered once
// per name, histograms of one name share their bounds.
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;
  Registry(Registry&&) = default;
  Registry& operator=(Registry&&) = default;

  Counter& AddCounter(std::string name, std::string help, std::vector<Label> labels = {});
  Gauge& AddGauge(std::string name, std::string help, std::vector<Label> labels = {});
  Histogram& AddHistogram(std::string name, std::string help, std::vector<double> bounds,
                          std::vector<Label> labels = {});

  // "# HELP n h\n# TYPE n counter\nn{a=\"b\"} 3\n"; histograms as n_bucket{...,le="..."}
  // (cumulative, ending with le="+Inf"), n_sum and n_count. Label values escape \\, \" and \n;
  // help text escapes \\ and \n.
  std::string Render() const;

 private:
  enum class Type : uint8_t { kCounter, kGauge, kHistogram };
  struct Series {
    std::vector<Label> labels;
    size_t index;  // into counters_, gauges_ or histograms_ (by the family's type)
  };
  struct Family {
    std::string name;
    std::string help;
    Type type;
    std::vector<Series> series;
  };

  // The family `name` of `type` (created on first use) after checking the new label set.
  Family& FamilyFor(std::string name, std::string help, Type type,
                    const std::vector<Label>& labels);
  void RenderFamily(const Family& family, std::string& out) const;

  std::vector<Family> families_;                          // registration order
  std::unordered_map<std::string, size_t> family_index_;  // name -> index in families_
  // deques: push_back keeps references to earlier elements valid.
  std::deque<Counter> counters_;
  std::deque<Gauge> gauges_;
  std::deque<Histogram> histograms_;
};

}  // namespace dynamo::api
