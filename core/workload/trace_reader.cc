#include "core/workload/trace_reader.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/file_io.h"
#include "core/workload/csv.h"

namespace dynamo {
namespace {

using Json = nlohmann::json;
constexpr int64_t kMaxTokens = 10'000'000;

std::string Loc(const std::string& source, size_t line) {
  return source + ":" + std::to_string(line);
}

Status FieldError(const std::string& source, size_t line, std::string_view field,
                  const std::string& what) {
  return InvalidArgument(Loc(source, line) + ": field '" + std::string(field) + "': " + what);
}

// A token count from a JSON value: integer in [1, kMaxTokens].
StatusOr<int32_t> TokenCount(const Json& obj, std::string_view field, const std::string& source,
                             size_t line) {
  auto it = obj.find(field);
  if (it == obj.end()) return FieldError(source, line, field, "missing; expected an integer >= 1");
  const Json& v = *it;
  if (!v.is_number_integer() &&
      !(v.is_number_float() && v.get<double>() == std::floor(v.get<double>()))) {
    return FieldError(source, line, field, v.dump() + " is not an integer; expected >= 1");
  }
  const double d = v.get<double>();
  if (d < 1 || d > kMaxTokens) {
    return FieldError(source, line, field,
                      v.dump() + " is out of range; expected 1.." + std::to_string(kMaxTokens));
  }
  return static_cast<int32_t>(d);
}

StatusOr<int64_t> ParseInt(std::string_view s) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) {
    return InvalidArgument("'" + std::string(s) + "' is not an integer");
  }
  return v;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// The non-blank lines of a text, with 1-based line numbers for messages.
class LineReader {
 public:
  explicit LineReader(std::string_view text) : text_(text) {}
  bool Next(std::string_view& line) {
    while (pos_ < text_.size()) {
      size_t nl = text_.find('\n', pos_);
      if (nl == std::string_view::npos) nl = text_.size();
      line = text_.substr(pos_, nl - pos_);
      pos_ = nl + 1;
      ++line_no_;
      if (line.find_first_not_of(" \t\r") != std::string_view::npos) return true;
    }
    return false;
  }
  size_t line_no() const { return line_no_; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  size_t line_no_ = 0;
};

// Shifts arrivals to start at 0, applies time scaling / rate override, keeps the first N.
Status Finish(Workload& w, const TraceOptions& o, const std::string& source) {
  if (w.requests.empty()) return InvalidArgument(source + ": no requests in the trace");
  FinalizeOrder(w);
  if (o.first > 0 && static_cast<int64_t>(w.requests.size()) > o.first) w.requests.resize(o.first);
  const Time t0 = w.requests.front().arrival;
  for (Request& r : w.requests) r.arrival = Time::Zero() + (r.arrival - t0);
  double factor = o.time_scale;
  if (o.rate_rps > 0) {
    const double span = w.requests.back().arrival.seconds();
    if (w.requests.size() < 2 || span <= 0) {
      return InvalidArgument(source + ": cannot rescale to rate " + std::to_string(o.rate_rps) +
                             " rps: all arrivals are at the same time");
    }
    factor *= static_cast<double>(w.requests.size() - 1) / span / o.rate_rps;
  }
  if (factor != 1.0) {
    for (Request& r : w.requests) {
      r.arrival = Time::FromNanos(std::llround(static_cast<double>(r.arrival.nanos()) * factor));
    }
  }
  return Status::Ok();
}

}  // namespace

namespace internal {
namespace {

struct Scanner {
  std::string_view s;
  size_t i = 0;
  void SkipSpace() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) ++i;
  }
  bool Eat(char c) {
    SkipSpace();
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  }
  // A JSON integer with no fraction or exponent.
  bool Int(int64_t& v) {
    SkipSpace();
    auto [ptr, ec] = std::from_chars(s.data() + i, s.data() + s.size(), v);
    if (ec != std::errc()) return false;
    const size_t end = ptr - s.data();
    if (end < s.size() && (s[end] == '.' || s[end] == 'e' || s[end] == 'E')) return false;
    if (s[i] == '0' && end - i > 1) return false;  // JSON forbids leading zeros
    i = end;
    return true;
  }
  bool Number(double& v) {
    SkipSpace();
    if (i < s.size() && (s[i] == '+' || s[i] == '.')) return false;  // not JSON
    auto [ptr, ec] =
        std::from_chars(s.data() + i, s.data() + s.size(), v, std::chars_format::general);
    if (ec != std::errc()) return false;
    const std::string_view tok = s.substr(i, ptr - (s.data() + i));
    if (tok.find_first_of("iInN") != std::string_view::npos) return false;  // inf, nan
    if (tok.back() == '.' || tok.find(".e") != std::string_view::npos ||
        tok.find(".E") != std::string_view::npos) {
      return false;
    }
    const size_t digits = tok[0] == '-' ? 1 : 0;
    if (tok.size() > digits + 1 && tok[digits] == '0' && tok[digits + 1] != '.' &&
        tok[digits + 1] != 'e' && tok[digits + 1] != 'E') {
      return false;  // leading zero
    }
    i = ptr - s.data();
    return true;
  }
  bool Key(std::string_view& key) {
    if (!Eat('"')) return false;
    const size_t end = s.find('"', i);
    if (end == std::string_view::npos) return false;
    key = s.substr(i, end - i);
    if (key.find('\\') != std::string_view::npos) return false;
    i = end + 1;
    return Eat(':');
  }
};

}  // namespace

bool ParseMooncakeLineFast(std::string_view line, int32_t block_tokens, Request& out) {
  Scanner sc{line};
  if (!sc.Eat('{')) return false;
  bool has_ts = false, has_in = false, has_out = false, has_ids = false;
  double ms = 0;
  int64_t isl = 0, osl = 0;
  out.block_hashes.clear();
  do {
    std::string_view key;
    if (!sc.Key(key)) return false;
    if (key == "timestamp" && !has_ts) {
      has_ts = sc.Number(ms);
      if (!has_ts) return false;
    } else if (key == "input_length" && !has_in) {
      has_in = sc.Int(isl);
      if (!has_in) return false;
    } else if (key == "output_length" && !has_out) {
      has_out = sc.Int(osl);
      if (!has_out) return false;
    } else if (key == "hash_ids" && !has_ids) {
      has_ids = true;
      if (!sc.Eat('[')) return false;
      if (!sc.Eat(']')) {
        do {
          int64_t id = 0;
          if (!sc.Int(id) || id < 0) return false;
          out.block_hashes.push_back(static_cast<uint64_t>(id));
        } while (sc.Eat(','));
        if (!sc.Eat(']')) return false;
      }
    } else {
      return false;
    }
  } while (sc.Eat(','));
  if (!sc.Eat('}')) return false;
  sc.SkipSpace();
  if (sc.i != line.size() || !has_ts || !has_in || !has_out) return false;
  // Valid values only; anything else takes the slow path, which explains the error.
  if (!(ms >= 0) || ms > 9.0e12 || isl < 1 || isl > kMaxTokens || osl < 1 || osl > kMaxTokens) {
    return false;
  }
  if (has_ids &&
      static_cast<int64_t>(out.block_hashes.size()) != (isl + block_tokens - 1) / block_tokens) {
    return false;
  }
  out.arrival = Time::FromNanos(std::llround(ms * 1e6));
  out.isl = static_cast<int32_t>(isl);
  out.osl = static_cast<int32_t>(osl);
  return true;
}

}  // namespace internal

StatusOr<int64_t> ParseTimestampNs(std::string_view s) {
  // YYYY-MM-DD HH:MM:SS[.f...]
  if (s.size() < 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') ||
      s[13] != ':' || s[16] != ':') {
    return InvalidArgument("'" + std::string(s) +
                           "' is not a timestamp like 2023-11-16 18:17:03.9799600");
  }
  auto num = [&](size_t pos, size_t len) { return ParseInt(s.substr(pos, len)); };
  ASSIGN_OR_RETURN(int64_t year, num(0, 4));
  ASSIGN_OR_RETURN(int64_t month, num(5, 2));
  ASSIGN_OR_RETURN(int64_t day, num(8, 2));
  ASSIGN_OR_RETURN(int64_t hour, num(11, 2));
  ASSIGN_OR_RETURN(int64_t minute, num(14, 2));
  ASSIGN_OR_RETURN(int64_t second, num(17, 2));
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60 ||
      year < 1970 || year > 2200) {
    return InvalidArgument("'" + std::string(s) + "' has an out-of-range date or time field");
  }
  int64_t frac_ns = 0;
  std::string_view rest = s.substr(19);
  if (!rest.empty()) {
    if (rest[0] != '.' || rest.size() < 2) {
      return InvalidArgument("'" + std::string(s) + "' has trailing characters after the seconds");
    }
    rest.remove_prefix(1);
    int64_t scale = 100'000'000;
    for (char c : rest) {
      if (c < '0' || c > '9') {
        return InvalidArgument("'" + std::string(s) + "' has a bad fractional second");
      }
      frac_ns += (c - '0') * scale;
      scale /= 10;
    }
  }
  const int64_t secs = DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
  return secs * 1'000'000'000 + frac_ns;
}

StatusOr<Workload> ReadMooncakeTrace(std::string_view text, const std::string& source,
                                     const TraceOptions& options) {
  Workload w;
  w.source = source;
  w.block_tokens = options.block_tokens;
  LineReader lines(text);
  std::string_view line;
  while (lines.Next(line)) {
    const size_t line_no = lines.line_no();
    if (options.first > 0 && static_cast<int64_t>(w.requests.size()) >= options.first) break;
    if (Request fast; internal::ParseMooncakeLineFast(line, options.block_tokens, fast)) {
      fast.session = SessionId(w.requests.size());
      w.requests.push_back(std::move(fast));
      continue;
    }
    Json obj;
    try {
      obj = Json::parse(line.begin(), line.end());
    } catch (const Json::exception& e) {
      std::string what = e.what();
      size_t b = what.find("] ");
      if (b != std::string::npos) what = what.substr(b + 2);
      return InvalidArgument(Loc(source, line_no) + ": not a JSON object: " + what);
    }
    if (!obj.is_object()) {
      return InvalidArgument(Loc(source, line_no) + ": expected a JSON object per line, got " +
                             obj.dump().substr(0, 40));
    }
    Request r;
    auto ts = obj.find("timestamp");
    if (ts == obj.end() || !ts->is_number()) {
      return FieldError(source, line_no, "timestamp",
                        ts == obj.end() ? "missing; expected milliseconds >= 0"
                                        : ts->dump() + " is not a number of milliseconds");
    }
    const double ms = ts->get<double>();
    if (!(ms >= 0) || ms > 9.0e12) {
      return FieldError(source, line_no, "timestamp",
                        ts->dump() + " is out of range; expected milliseconds >= 0");
    }
    r.arrival = Time::FromNanos(std::llround(ms * 1e6));
    ASSIGN_OR_RETURN(r.isl, TokenCount(obj, "input_length", source, line_no));
    ASSIGN_OR_RETURN(r.osl, TokenCount(obj, "output_length", source, line_no));
    r.session = SessionId(w.requests.size());
    if (auto h = obj.find("hash_ids"); h != obj.end() && !h->is_null()) {
      if (!h->is_array()) {
        return FieldError(source, line_no, "hash_ids", "expected an array of block ids");
      }
      const size_t expected = (r.isl + options.block_tokens - 1) / options.block_tokens;
      if (h->size() != expected) {
        return FieldError(
            source, line_no, "hash_ids",
            std::to_string(h->size()) + " ids for input_length " + std::to_string(r.isl) + " at " +
                std::to_string(options.block_tokens) + " tokens per block (expected " +
                std::to_string(expected) + "); set block_tokens to the trace's block size");
      }
      r.block_hashes.reserve(h->size());
      for (const Json& id : *h) {
        if (!id.is_number_integer() ||
            (id.is_number_integer() && !id.is_number_unsigned() && id.get<int64_t>() < 0)) {
          return FieldError(source, line_no, "hash_ids",
                            id.dump() + " is not a non-negative integer id");
        }
        r.block_hashes.push_back(id.get<uint64_t>());
      }
    }
    w.requests.push_back(std::move(r));
  }
  RETURN_IF_ERROR(Finish(w, options, source));
  return w;
}

StatusOr<Workload> ReadAzureTrace(std::string_view text, const std::string& source,
                                  const TraceOptions& options) {
  Workload w;
  w.source = source;
  w.block_tokens = 0;
  std::vector<std::string> fields;
  int ts_col = -1, ctx_col = -1, gen_col = -1;
  size_t columns = 0;
  LineReader lines(text);
  std::string_view line;
  while (lines.Next(line)) {
    const size_t line_no = lines.line_no();
    if (!SplitCsvLine(line, fields)) {
      return InvalidArgument(Loc(source, line_no) + ": unterminated quote");
    }
    if (ts_col < 0) {  // header
      for (size_t i = 0; i < fields.size(); ++i) {
        if (fields[i] == "TIMESTAMP") ts_col = static_cast<int>(i);
        if (fields[i] == "ContextTokens") ctx_col = static_cast<int>(i);
        if (fields[i] == "GeneratedTokens") gen_col = static_cast<int>(i);
      }
      if (ts_col < 0 || ctx_col < 0 || gen_col < 0) {
        return InvalidArgument(Loc(source, line_no) +
                               ": expected a header with TIMESTAMP, ContextTokens, "
                               "GeneratedTokens; got '" +
                               std::string(line.substr(0, 80)) + "'");
      }
      columns = fields.size();
      continue;
    }
    if (options.first > 0 && static_cast<int64_t>(w.requests.size()) >= options.first) break;
    if (fields.size() != columns) {
      return InvalidArgument(Loc(source, line_no) + ": " + std::to_string(fields.size()) +
                             " fields, the header has " + std::to_string(columns));
    }
    Request r;
    const std::string& ts = fields[ts_col];
    StatusOr<int64_t> ns = ParseTimestampNs(ts);
    if (!ns.ok()) {
      // Also accept plain seconds.
      double secs = 0;
      auto [ptr, ec] = std::from_chars(ts.data(), ts.data() + ts.size(), secs);
      if (ec != std::errc() || ptr != ts.data() + ts.size() || !(secs >= 0) || secs > 9e9) {
        return FieldError(source, line_no, "TIMESTAMP", ns.status().message());
      }
      ns = std::llround(secs * 1e9);
    }
    r.arrival = Time::FromNanos(*ns);
    for (auto [col, name, dst] : {std::tuple{ctx_col, "ContextTokens", &r.isl},
                                  std::tuple{gen_col, "GeneratedTokens", &r.osl}}) {
      StatusOr<int64_t> v = ParseInt(fields[col]);
      if (!v.ok()) return FieldError(source, line_no, name, v.status().message());
      if (*v < 1 || *v > kMaxTokens) {
        return FieldError(
            source, line_no, name,
            std::to_string(*v) + " is out of range; expected 1.." + std::to_string(kMaxTokens));
      }
      *dst = static_cast<int32_t>(*v);
    }
    r.session = SessionId(w.requests.size());
    w.requests.push_back(std::move(r));
  }
  if (ts_col < 0) return InvalidArgument(source + ": empty file; expected a CSV header");
  RETURN_IF_ERROR(Finish(w, options, source));
  return w;
}

StatusOr<Workload> LoadTrace(const std::string& path, TraceFormat format,
                             const TraceOptions& options) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return format == TraceFormat::kMooncake ? ReadMooncakeTrace(text, path, options)
                                          : ReadAzureTrace(text, path, options);
}

}  // namespace dynamo
