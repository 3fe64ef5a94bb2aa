#include "core/workload/distribution_spec.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <sstream>

#include "core/file_io.h"
#include "core/workload/csv.h"

namespace dynamo {
namespace {

StatusOr<double> ParseDouble(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  double v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(v)) {
    return InvalidArgument("'" + std::string(s) + "' is not a number");
  }
  return v;
}

}  // namespace

StatusOr<std::vector<double>> ReadCsvColumn(const std::string& path, const std::string& column) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  std::istringstream in(text);
  std::string line;
  std::vector<std::string> fields;
  if (!std::getline(in, line) || !SplitCsvLine(line, fields)) {
    return InvalidArgument(path + ":1: expected a CSV header row");
  }
  auto it = std::find(fields.begin(), fields.end(), column);
  if (it == fields.end()) {
    std::string cols;
    for (const auto& f : fields) cols += (cols.empty() ? "" : ", ") + f;
    return InvalidArgument(path + ":1: no column '" + column + "'; columns: " + cols);
  }
  const size_t idx = it - fields.begin();
  std::vector<double> values;
  size_t line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty() || line == "\r") continue;
    if (!SplitCsvLine(line, fields)) {
      return InvalidArgument(path + ":" + std::to_string(line_no) + ": unterminated quote");
    }
    if (idx >= fields.size()) {
      return InvalidArgument(path + ":" + std::to_string(line_no) + ": has " +
                             std::to_string(fields.size()) + " fields, column '" + column +
                             "' is field " + std::to_string(idx + 1));
    }
    auto v = ParseDouble(fields[idx]);
    if (!v.ok()) {
      return InvalidArgument(path + ":" + std::to_string(line_no) + ": column '" + column +
                             "': " + v.status().message());
    }
    values.push_back(*v);
  }
  if (values.empty()) return InvalidArgument(path + ": no data rows");
  return values;
}

DistributionSpec DistributionSpec::Fixed(double v) {
  DistributionSpec d;
  d.kind_ = Kind::kFixed;
  d.a_ = d.mean_ = v;
  return d;
}

StatusOr<DistributionSpec> DistributionSpec::Parse(const JsonNode& node,
                                                   const std::string& base_dir, Bounds domain) {
  if (node.IsNumber()) {  // shorthand: a bare number is a fixed value
    ASSIGN_OR_RETURN(double v, node.AsDouble(domain));
    return Fixed(v);
  }
  ASSIGN_OR_RETURN(std::string dist,
                   node.GetEnum("dist", {"fixed", "uniform", "normal", "lognormal", "empirical"}));
  DistributionSpec d;
  // Optional clamps, themselves inside the domain.
  ASSIGN_OR_RETURN(double lo, node.GetDoubleOr("min", domain.min.value_or(-1e300), domain));
  ASSIGN_OR_RETURN(double hi, node.GetDoubleOr("max", domain.max.value_or(1e300), domain));
  if (lo > hi)
    return node.Error("min " + std::to_string(lo) + " exceeds max " + std::to_string(hi));
  d.lo_ = lo;
  d.hi_ = hi;
  if (dist == "fixed") {
    RETURN_IF_ERROR(node.CheckKnownKeys({"dist", "value"}));
    ASSIGN_OR_RETURN(double v, node.GetDouble("value", domain));
    return Fixed(v);
  }
  if (dist == "uniform") {
    RETURN_IF_ERROR(node.CheckKnownKeys({"dist", "min", "max"}));
    if (!node.Has("min") || !node.Has("max")) {
      return node.Error("uniform needs both 'min' and 'max'");
    }
    d.kind_ = Kind::kUniform;
    d.a_ = lo;
    d.b_ = hi;
    d.mean_ = 0.5 * (lo + hi);
    d.integer_uniform_ = lo == std::floor(lo) && hi == std::floor(hi);
    return d;
  }
  if (dist == "normal" || dist == "lognormal") {
    RETURN_IF_ERROR(node.CheckKnownKeys({"dist", "mean", "std", "min", "max"}));
    const bool log = dist == "lognormal";
    ASSIGN_OR_RETURN(double mean, node.GetDouble("mean", log ? Bounds::Positive() : domain));
    ASSIGN_OR_RETURN(double sd, node.GetDouble("std", Bounds::NonNegative()));
    d.mean_ = mean;
    if (log) {
      LogNormalParams p = LogNormalFromMoments(mean, sd);
      d.kind_ = Kind::kLogNormal;
      d.a_ = p.mu;
      d.b_ = p.sigma;
    } else {
      d.kind_ = Kind::kNormal;
      d.a_ = mean;
      d.b_ = sd;
    }
    return d;
  }
  // empirical
  RETURN_IF_ERROR(node.CheckKnownKeys({"dist", "file", "column", "min", "max"}));
  ASSIGN_OR_RETURN(std::string file, node.GetString("file"));
  ASSIGN_OR_RETURN(std::string column, node.GetString("column"));
  auto values = ReadCsvColumn(ResolvePath(base_dir, file), column);
  if (!values.ok()) return node.Error(values.status().message());
  for (double& v : *values) v = std::clamp(v, lo, hi);
  ASSIGN_OR_RETURN(EmpiricalDistribution e, EmpiricalDistribution::Create(std::move(*values)));
  d.kind_ = Kind::kEmpirical;
  d.mean_ = e.Mean();
  d.empirical_ = std::move(e);
  return d;
}

double DistributionSpec::Sample(RngStream& rng) const {
  double v = 0;
  switch (kind_) {
    case Kind::kFixed:
      return a_;
    case Kind::kUniform:
      v = integer_uniform_ ? static_cast<double>(
                                 rng.UniformInt(static_cast<int64_t>(a_), static_cast<int64_t>(b_)))
                           : rng.Uniform(a_, b_);
      break;
    case Kind::kNormal:
      v = rng.Normal(a_, b_);
      break;
    case Kind::kLogNormal:
      v = rng.LogNormal(a_, b_);
      break;
    case Kind::kEmpirical:
      v = empirical_->Sample(rng);
      break;
  }
  return std::clamp(v, lo_, hi_);
}

double DistributionSpec::Mean() const { return mean_; }

}  // namespace dynamo
