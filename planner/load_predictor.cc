#include "planner/load_predictor.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <string>

namespace dynamo::planner {
namespace {

constexpr double kMinProcessNoise = 1e-12;
constexpr double kMinMeasurementNoise = 1e-9;
constexpr double kMinInitialCovariance = 1e-12;

// The local-linear-trend model: level' = level + trend, trend' = trend.
const Eigen::Matrix2d& Transition() {
  static const Eigen::Matrix2d f = (Eigen::Matrix2d() << 1, 1, 0, 1).finished();
  return f;
}

using StateView = Eigen::Map<Eigen::Vector2d>;
using CovView = Eigen::Map<Eigen::Matrix<double, 2, 2, Eigen::RowMajor>>;
using ConstCovView = Eigen::Map<const Eigen::Matrix<double, 2, 2, Eigen::RowMajor>>;

}  // namespace

std::string_view PredictorKindName(PredictorKind k) {
  switch (k) {
    case PredictorKind::kKalman:
      return "kalman";
    case PredictorKind::kConstant:
      return "constant";
    case PredictorKind::kMovingAverage:
      return "moving_average";
  }
  return "?";
}

StatusOr<PredictorKind> ParsePredictorKind(std::string_view name) {
  for (PredictorKind k :
       {PredictorKind::kKalman, PredictorKind::kConstant, PredictorKind::kMovingAverage}) {
    if (name == PredictorKindName(k)) return k;
  }
  return InvalidArgument("unknown load predictor '" + std::string(name) +
                         "'; use one of kalman, constant, moving_average");
}

LoadPredictor::LoadPredictor(const PredictorConfig& config) : config_(config) {
  config_.q_level = std::max(config_.q_level, kMinProcessNoise);
  config_.q_trend = std::max(config_.q_trend, kMinProcessNoise);
  config_.r = std::max(config_.r, kMinMeasurementNoise);
  config_.p0 = std::max(config_.p0, kMinInitialCovariance);
  config_.window = std::max(config_.window, 1);
}

void LoadPredictor::Observe(double value) {
  if (std::isnan(value)) value = 0;
  if (skip_zeros_) {
    if (value == 0) return;
    skip_zeros_ = false;
  }
  recent_.push_back(value);
  if (static_cast<int>(recent_.size()) > config_.window) recent_.pop_front();
  if (config_.kind == PredictorKind::kKalman) {
    KalmanObserve(config_.log1p ? std::log1p(std::max(0.0, value)) : value);
  }
  ++observations_;
}

void LoadPredictor::KalmanObserve(double z) {
  StateView x(x_.data());
  CovView p(p_.data());
  if (observations_ == 0) {
    // The first observation sets the level; no update step.
    x << z, 0;
    p = Eigen::Matrix2d::Identity() * config_.p0;
    advanced_ = false;
    return;
  }
  if (!advanced_) KalmanPredictStep();
  // Update with H = [1, 0]; Joseph form keeps P symmetric and positive definite.
  const double s = p(0, 0) + config_.r;
  const Eigen::Vector2d k = p.col(0) / s;
  const double innovation = z - x(0);
  x += k * innovation;
  Eigen::Matrix2d i_kh = Eigen::Matrix2d::Identity();
  i_kh.col(0) -= k;
  const Eigen::Matrix2d updated = i_kh * p * i_kh.transpose() + k * config_.r * k.transpose();
  p = updated;
  advanced_ = false;
}

void LoadPredictor::KalmanPredictStep() {
  StateView x(x_.data());
  CovView p(p_.data());
  const Eigen::Matrix2d& f = Transition();
  const Eigen::Vector2d next_x = f * x;
  const Eigen::Matrix2d next_p =
      f * p * f.transpose() +
      Eigen::Vector2d(config_.q_level, config_.q_trend).asDiagonal().toDenseMatrix();
  x = next_x;
  p = next_p;
  advanced_ = true;
}

double LoadPredictor::ToValue(double filtered) const {
  return config_.log1p ? std::max(0.0, std::expm1(filtered)) : std::max(0.0, filtered);
}

double LoadPredictor::Predict(int steps_ahead) {
  DYNAMO_CHECK(steps_ahead >= 1);
  if (observations_ == 0) return 0;
  switch (config_.kind) {
    case PredictorKind::kKalman:
      if (!advanced_) KalmanPredictStep();
      return ToValue(x_[0] + static_cast<double>(steps_ahead - 1) * x_[1]);
    case PredictorKind::kConstant:
      return std::max(0.0, recent_.back());
    case PredictorKind::kMovingAverage: {
      double sum = 0;
      for (double v : recent_) sum += v;
      return std::max(0.0, sum / static_cast<double>(recent_.size()));
    }
  }
  return 0;
}

double LoadPredictor::ForecastStddev() const {
  if (observations_ == 0) return 0;
  if (config_.kind == PredictorKind::kKalman) {
    double level = x_[0];
    double level_var = p_[0];
    if (!advanced_) {
      // The predicted state without advancing the filter: F x and (F P F' + Q)(0,0).
      const ConstCovView p(p_.data());
      level = x_[0] + x_[1];
      level_var = p(0, 0) + p(0, 1) + p(1, 0) + p(1, 1) + config_.q_level;
    }
    const double sd = std::sqrt(std::max(0.0, level_var) + config_.r);
    // log1p mode: value = expm1(level), d value / d level = exp(level).
    return config_.log1p ? sd * std::exp(level) : sd;
  }
  const size_t n = recent_.size();
  if (n < 2) return 0;
  double mean = 0;
  for (double v : recent_) mean += v;
  mean /= static_cast<double>(n);
  double ss = 0;
  for (double v : recent_) ss += (v - mean) * (v - mean);
  return std::sqrt(ss / static_cast<double>(n - 1));
}

std::vector<IntervalLoad> BucketByInterval(const Workload& wl, Duration interval) {
  DYNAMO_CHECK(interval > Duration::Zero());
  std::vector<IntervalLoad> buckets;
  if (wl.requests.empty()) return buckets;
  auto index = [&](Time arrival) {
    return static_cast<size_t>(std::max<int64_t>(0, arrival.nanos()) / interval.nanos());
  };
  Time last = Time::Zero();
  for (const Request& r : wl.requests) last = std::max(last, r.arrival);
  buckets.resize(index(last) + 1);
  for (const Request& r : wl.requests) {
    IntervalLoad& b = buckets[index(r.arrival)];
    b.requests += 1;
    b.mean_isl += r.isl;  // sums until divided below
    b.mean_osl += r.osl;
  }
  for (IntervalLoad& b : buckets) {
    if (b.requests > 0) {
      b.mean_isl /= b.requests;
      b.mean_osl /= b.requests;
    }
  }
  return buckets;
}

}  // namespace dynamo::planner
