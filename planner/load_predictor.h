#pragma once
// Load predictors for the SLA planner: one LoadPredictor per series (request count per interval,
// mean ISL, mean OSL, KV hit rate), each fed one value per planner interval and asked for the
// next intervals' values. Three kinds:
//   kalman          a local-linear-trend Kalman filter (state [level, trend]), the default;
//   constant        the last value;
//   moving_average  the mean of the last `window` values.
// Differences from Dynamo's predictors: forecasts are clamped at >= 0 in every mode (Dynamo's raw
// Kalman returns negatives on declining traffic, issue #14493), forecasts can look several
// intervals ahead (level + k x trend), and ForecastStddev gives the spread the planner provisions
// headroom for. BucketByInterval turns a trace into per-interval loads for a warm-up, keeping the
// empty middle intervals (Dynamo dropped them, issue #10670).

#include <array>
#include <cstdint>
#include <deque>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/time.h"
#include "core/workload/request.h"

namespace dynamo::planner {

enum class PredictorKind : uint8_t { kKalman, kConstant, kMovingAverage };

// "kalman", "constant", "moving_average".
std::string_view PredictorKindName(PredictorKind k);
// Accepts the names PredictorKindName returns; an unknown name is an InvalidArgument listing them.
StatusOr<PredictorKind> ParsePredictorKind(std::string_view name);

struct PredictorConfig {
  PredictorKind kind = PredictorKind::kKalman;
  double q_level = 1.0;  // Kalman process noise of the level (floored at 1e-12)
  double q_trend = 0.1;  // Kalman process noise of the trend (floored at 1e-12)
  double r = 10.0;       // Kalman measurement noise (floored at 1e-9)
  double p0 = 1000.0;    // Kalman initial covariance p0 x I (floored at 1e-12)
  // Kalman only: filter log1p(max(0, v)) and forecast max(0, expm1(level)); suits series that
  // grow multiplicatively (request rates).
  bool log1p = false;
  int window = 5;  // moving average (and the non-Kalman spread): the last `window` values (>= 1)
};

// Forecasts one series. Deterministic; no clock. Not thread-safe (Predict caches the filter's
// predict step); one instance per series, owned by its planner.
class LoadPredictor {
 public:
  explicit LoadPredictor(const PredictorConfig& config);

  // One interval's value. NaN counts as 0. Leading zeros are skipped until the first non-zero
  // value (the idle time after a deployment); later zeros are kept.
  void Observe(double value);
  // Forecast of the value `steps_ahead` (>= 1) intervals after the last observation, >= 0; 0
  // before any accepted observation. Kalman: the first call after an observation runs the filter's
  // predict step and caches it, so repeated calls (any steps_ahead) do not advance the filter
  // again; the forecast is level + (steps_ahead - 1) x trend of the predicted state. Constant and
  // moving average: the same value for every steps_ahead.
  double Predict(int steps_ahead = 1);
  // Spread of the one-step forecast, in value units. Kalman: sqrt(P(0,0) + R) of the predicted
  // state (computed without advancing the filter), mapped to value space to first order in log1p
  // mode. Constant and moving average: the sample standard deviation of the last `window`
  // observations (0 with fewer than 2). 0 before any accepted observation.
  double ForecastStddev() const;

  bool ready() const { return observations_ > 0; }
  int observations() const { return observations_; }  // accepted ones
  // Skip leading zeros again (after a warm-up from a trace, live traffic starts idle).
  void ResetIdleSkip() { skip_zeros_ = true; }

  const PredictorConfig& config() const { return config_; }

 private:
  void KalmanObserve(double z);
  void KalmanPredictStep();  // x = F x, P = F P F' + Q
  double ToValue(double filtered) const;

  PredictorConfig config_;  // noise terms already floored
  bool skip_zeros_ = true;
  int observations_ = 0;
  // Kalman state, row-major; Eigen stays in the .cc file.
  std::array<double, 2> x_{};  // [level, trend], filter space
  std::array<double, 4> p_{};  // covariance [[p00, p01], [p10, p11]]
  bool advanced_ = false;      // the predict step ran since the last observation
  // The last `window` accepted values (value space), oldest first.
  std::deque<double> recent_;
};

// Arrivals of one planner interval.
struct IntervalLoad {
  double requests = 0;  // arrivals in the interval
  double mean_isl = 0;  // 0 when no arrivals
  double mean_osl = 0;
};

// Buckets arrivals by floor(arrival / interval) from time zero through the last arrival; empty
// intervals in between are emitted as zeros. An empty workload gives an empty vector.
// Precondition: interval > 0.
std::vector<IntervalLoad> BucketByInterval(const Workload& wl, Duration interval);

}  // namespace dynamo::planner
