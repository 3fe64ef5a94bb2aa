#include "runtime/api/prometheus.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string_view>
#include <utility>

#include "core/check.h"

namespace dynamo::api {
namespace {

bool IsNameStart(char c, bool allow_colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
}

bool IsNameChar(char c, bool allow_colon) {
  return IsNameStart(c, allow_colon) || (c >= '0' && c <= '9');
}

bool IsValidName(std::string_view name, bool allow_colon) {
  if (name.empty() || !IsNameStart(name[0], allow_colon)) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) { return IsNameChar(c, allow_colon); });
}

bool IsValidLabelName(std::string_view name) {
  return IsValidName(name, /*allow_colon=*/false) && name.substr(0, 2) != "__";
}

// Shortest text that parses back to `v`; Prometheus spellings for the special values.
void AppendNumber(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof(buf), v);
    out.append(buf, r.ptr);
  }
}

void AppendUnsigned(std::string& out, uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, r.ptr);
}

// Label values escape backslash, double quote and newline; HELP text backslash and newline.
void AppendEscaped(std::string& out, std::string_view s, bool escape_quote) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && escape_quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// `{a="b",c="d"}` (with `extra_name="extra_value"` last when given); nothing when empty.
void AppendLabels(std::string& out, const std::vector<Label>& labels,
                  std::string_view extra_name = {}, std::string_view extra_value = {}) {
  if (labels.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  const auto append = [&](std::string_view name, std::string_view value) {
    if (!first) out += ',';
    first = false;
    out += name;
    out += "=\"";
    AppendEscaped(out, value, /*escape_quote=*/true);
    out += '"';
  };
  for (const Label& l : labels) append(l.name, l.value);
  if (!extra_name.empty()) append(extra_name, extra_value);
  out += '}';
}

bool SameLabels(const std::vector<Label>& a, const std::vector<Label>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const Label& x, const Label& y) {
    return x.name == y.name && x.value == y.value;
  });
}

// `v` rounded to `digits` significant digits.
double RoundSignificant(double v, int digits) {
  char buf[32];
  const auto r =
      std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific, digits - 1);
  double rounded = v;
  std::from_chars(buf, r.ptr, rounded);
  return rounded;
}

}  // namespace

void Counter::Inc(double v) {
  DYNAMO_CHECK(v >= 0);
  value_ += v;
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), bucket_counts_(bounds_.size() + 1, 0) {
  DYNAMO_CHECK(!bounds_.empty());
  for (size_t i = 0; i < bounds_.size(); ++i) {
    DYNAMO_CHECK(std::isfinite(bounds_[i]));
    DYNAMO_CHECK(i == 0 || bounds_[i - 1] < bounds_[i]);
  }
}

void Histogram::Observe(double v) {
  // First bound >= v; NaN compares false everywhere, so send it to +Inf explicitly.
  const size_t bucket =
      std::isnan(v) ? bounds_.size()
                    : static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) -
                                          bounds_.begin());
  ++bucket_counts_[bucket];
  ++count_;
  sum_ += v;
}

std::vector<double> LogBuckets(double min, double max, int count) {
  DYNAMO_CHECK(min > 0 && min < max && std::isfinite(max) && count >= 2);
  std::vector<double> exact(static_cast<size_t>(count));
  const double log_ratio = std::log(max / min);
  for (int i = 0; i < count; ++i) {
    exact[static_cast<size_t>(i)] = min * std::exp(log_ratio * i / (count - 1));
  }
  exact.front() = min;
  exact.back() = max;
  // Readable bounds ("0.00224" rather than "0.0022387211385683"), unless rounding merges two.
  constexpr int kSignificantDigits = 3;
  std::vector<double> rounded = exact;
  for (size_t i = 1; i + 1 < rounded.size(); ++i) {
    rounded[i] = RoundSignificant(exact[i], kSignificantDigits);
  }
  for (size_t i = 1; i < rounded.size(); ++i) {
    if (!(rounded[i - 1] < rounded[i])) return exact;
  }
  // exp/log rounding can make exact bounds equal for absurdly narrow ranges; a CHECK in
  // Histogram's constructor would then fire, which is the caller's precondition to meet.
  return rounded;
}

Registry::Family& Registry::FamilyFor(std::string name, std::string help, Type type,
                                      const std::vector<Label>& labels) {
  DYNAMO_CHECK(IsValidName(name, /*allow_colon=*/true));
  for (size_t i = 0; i < labels.size(); ++i) {
    DYNAMO_CHECK(IsValidLabelName(labels[i].name));
    DYNAMO_CHECK(type != Type::kHistogram || labels[i].name != "le");
    for (size_t j = 0; j < i; ++j) DYNAMO_CHECK(labels[j].name != labels[i].name);
  }
  auto [it, inserted] = family_index_.try_emplace(name, families_.size());
  if (inserted) {
    families_.push_back(Family{std::move(name), std::move(help), type, {}});
    return families_.back();
  }
  Family& family = families_[it->second];
  DYNAMO_CHECK(family.type == type);
  for (const Series& s : family.series) DYNAMO_CHECK(!SameLabels(s.labels, labels));
  return family;
}

Counter& Registry::AddCounter(std::string name, std::string help, std::vector<Label> labels) {
  Family& family = FamilyFor(std::move(name), std::move(help), Type::kCounter, labels);
  family.series.push_back(Series{std::move(labels), counters_.size()});
  return counters_.emplace_back();
}

Gauge& Registry::AddGauge(std::string name, std::string help, std::vector<Label> labels) {
  Family& family = FamilyFor(std::move(name), std::move(help), Type::kGauge, labels);
  family.series.push_back(Series{std::move(labels), gauges_.size()});
  return gauges_.emplace_back();
}

Histogram& Registry::AddHistogram(std::string name, std::string help, std::vector<double> bounds,
                                  std::vector<Label> labels) {
  Family& family = FamilyFor(std::move(name), std::move(help), Type::kHistogram, labels);
  if (!family.series.empty()) {
    DYNAMO_CHECK(histograms_[family.series.front().index].bounds() == bounds);
  }
  Histogram& histogram = histograms_.emplace_back(std::move(bounds));
  family.series.push_back(Series{std::move(labels), histograms_.size() - 1});
  return histogram;
}

void Registry::RenderFamily(const Family& family, std::string& out) const {
  static constexpr std::string_view kTypeNames[] = {"counter", "gauge", "histogram"};
  out += "# HELP ";
  out += family.name;
  out += ' ';
  AppendEscaped(out, family.help, /*escape_quote=*/false);
  out += "\n# TYPE ";
  out += family.name;
  out += ' ';
  out += kTypeNames[static_cast<size_t>(family.type)];
  out += '\n';
  for (const Series& s : family.series) {
    if (family.type != Type::kHistogram) {
      out += family.name;
      AppendLabels(out, s.labels);
      out += ' ';
      AppendNumber(out, family.type == Type::kCounter ? counters_[s.index].value()
                                                      : gauges_[s.index].value());
      out += '\n';
      continue;
    }
    const Histogram& h = histograms_[s.index];
    uint64_t cumulative = 0;
    std::string le;
    for (size_t b = 0; b <= h.bounds().size(); ++b) {
      cumulative += h.bucket_counts()[b];
      le.clear();
      AppendNumber(le, b < h.bounds().size() ? h.bounds()[b] : HUGE_VAL);
      out += family.name;
      out += "_bucket";
      AppendLabels(out, s.labels, "le", le);
      out += ' ';
      AppendUnsigned(out, cumulative);
      out += '\n';
    }
    out += family.name;
    out += "_sum";
    AppendLabels(out, s.labels);
    out += ' ';
    AppendNumber(out, h.sum());
    out += '\n';
    out += family.name;
    out += "_count";
    AppendLabels(out, s.labels);
    out += ' ';
    AppendUnsigned(out, h.count());
    out += '\n';
  }
}

std::string Registry::Render() const {
  std::string out;
  for (const Family& family : families_) RenderFamily(family, out);
  return out;
}

}  // namespace dynamo::api
