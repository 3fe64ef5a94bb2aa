#pragma once
// Status / StatusOr: expected failures (bad input, missing files) travel as values, gaining
// context as they propagate. Messages users read say what failed, where (file:line or JSON
// path), the bad value, what is allowed, and the fix.

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/check.h"

namespace dynamo {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // bad input: malformed file, bad field, out-of-range value
  kNotFound,            // unknown name, missing file
  kFailedPrecondition,  // valid input that cannot work together (does not fit, cannot divide)
  kIoError,             // reading or writing a file failed
  kUnimplemented,
  kInternal,
  kCancelled,  // the user interrupted the work (Ctrl-C); nothing partial was written
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "context: message" (no-op when ok).
  Status WithContext(std::string_view context) const;
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) {
  return {StatusCode::kInvalidArgument, std::move(m)};
}
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status FailedPrecondition(std::string m) {
  return {StatusCode::kFailedPrecondition, std::move(m)};
}
inline Status IoError(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status Cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }

template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(const Status& s) : status_(s) { DYNAMO_CHECK(!s.ok()); }  // NOLINT: implicit by design
  StatusOr(Status&& s) : status_(std::move(s)) { DYNAMO_CHECK(!status_.ok()); }  // NOLINT
  StatusOr(const T& v) : value_(v) {}                                            // NOLINT
  StatusOr(T&& v) : value_(std::move(v)) {}                                      // NOLINT
  template <typename U>
  requires(std::is_constructible_v<T, U&&> && !std::is_same_v<std::decay_t<U>, T> &&
           !std::is_same_v<std::decay_t<U>, Status>) StatusOr(U&& v)
      : value_(std::forward<U>(v)) {}  // NOLINT

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }

  // Precondition: ok().
  const T& value() const& {
    DYNAMO_CHECK(ok());
    return *value_;
  }
  T& value() & {
    DYNAMO_CHECK(ok());
    return *value_;
  }
  T&& value() && {
    DYNAMO_CHECK(ok());
    return std::move(*value_);
  }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace dynamo

#define DYNAMO_CONCAT_INNER(a, b) a##b
#define DYNAMO_CONCAT(a, b) DYNAMO_CONCAT_INNER(a, b)

// The status variable has a unique name so that nested uses (a lambda passed to a call inside
// RETURN_IF_ERROR) do not shadow each other.
#define DYNAMO_RETURN_IF_ERROR_IMPL(var, expr) \
  do {                                         \
    ::dynamo::Status var = (expr);             \
    if (!var.ok()) return var;                 \
  } while (0)
#define RETURN_IF_ERROR(expr) \
  DYNAMO_RETURN_IF_ERROR_IMPL(DYNAMO_CONCAT(_dynamo_status_, __COUNTER__), expr)

#define DYNAMO_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()

// ASSIGN_OR_RETURN(auto x, F()): binds the value or returns the error from the enclosing
// function.
#define ASSIGN_OR_RETURN(lhs, expr) \
  DYNAMO_ASSIGN_OR_RETURN_IMPL(DYNAMO_CONCAT(_dynamo_statusor_, __LINE__), lhs, expr)
