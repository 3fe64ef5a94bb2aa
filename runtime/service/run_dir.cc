#include "runtime/service/run_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <nlohmann/json.hpp>

#include "core/file_io.h"

namespace dynamo::service {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::string_view kJson = ".json";

// Heartbeats rewrite the file several times a second: temporary file + rename (readers see a
// whole file), but no fsync (a registration need not survive a machine crash).
Status WriteQuick(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return IoError(tmp + ": cannot create: " + std::strerror(errno));
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int write_errno = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) {
    ::unlink(tmp.c_str());
    return IoError(tmp + ": write failed: " + std::strerror(write_errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return IoError(path + ": cannot rename into place: " + std::strerror(e));
  }
  return Status::Ok();
}

}  // namespace

std::string RegistrationJson(const Registration& r) {
  json j = {{"name", r.name},       {"pool", r.pool},
            {"replica", r.replica}, {"role", std::string(WorkerRoleName(r.role))},
            {"host", r.host},       {"port", r.port},
            {"pid", r.pid},         {"heartbeat", r.heartbeat}};
  return j.dump() + "\n";
}

StatusOr<Registration> ParseRegistration(std::string_view text, const std::string& source) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return InvalidArgument(source + ": not a JSON object");
  }
  Registration r;
  const auto field = [&](const char* name, json::value_t a, json::value_t b) -> const json* {
    const auto it = j.find(name);
    if (it == j.end() || (it->type() != a && it->type() != b)) return nullptr;
    return &*it;
  };
  const json* name = field("name", json::value_t::string, json::value_t::string);
  const json* pool = field("pool", json::value_t::number_unsigned, json::value_t::number_integer);
  const json* role = field("role", json::value_t::string, json::value_t::string);
  const json* host = field("host", json::value_t::string, json::value_t::string);
  const json* port = field("port", json::value_t::number_unsigned, json::value_t::number_integer);
  const json* beat =
      field("heartbeat", json::value_t::number_unsigned, json::value_t::number_integer);
  if (!name || !pool || !role || !host || !port || !beat) {
    return InvalidArgument(source +
                           ": a registration needs name, pool, role, host, port and heartbeat");
  }
  r.name = name->get<std::string>();
  r.pool = pool->get<int32_t>();
  const std::string role_name = role->get<std::string>();
  if (role_name == "agg") {
    r.role = WorkerRole::kAggregated;
  } else if (role_name == "prefill") {
    r.role = WorkerRole::kPrefill;
  } else if (role_name == "decode") {
    r.role = WorkerRole::kDecode;
  } else {
    return InvalidArgument(source + ": role \"" + role_name + "\" is not agg, prefill or decode");
  }
  r.host = host->get<std::string>();
  const int64_t p = port->get<int64_t>();
  if (p <= 0 || p > 65535) return InvalidArgument(source + ": port " + std::to_string(p));
  r.port = static_cast<uint16_t>(p);
  r.heartbeat = beat->get<uint64_t>();
  if (const auto it = j.find("replica"); it != j.end() && it->is_number_integer()) {
    r.replica = it->get<int32_t>();
  }
  if (const auto it = j.find("pid"); it != j.end() && it->is_number_unsigned()) {
    r.pid = it->get<uint32_t>();
  }
  return r;
}

StatusOr<RunDir> RunDir::Open(const std::string& path, bool create) {
  std::error_code ec;
  const fs::path workers = fs::path(path) / "workers";
  if (create) {
    fs::create_directories(workers, ec);
    if (ec) return IoError("run directory " + path + ": cannot create: " + ec.message());
  } else if (!fs::is_directory(workers, ec)) {
    return NotFound("run directory " + path + ": no workers/ folder; start dynamo-run first");
  }
  return RunDir(path);
}

std::string RunDir::WorkerFile(const std::string& name) const {
  return (fs::path(path_) / "workers" / (name + std::string(kJson))).string();
}

Status RunDir::WriteRegistration(const Registration& r) const {
  return WriteQuick(WorkerFile(r.name), RegistrationJson(r));
}

Status RunDir::RemoveRegistration(const std::string& name) const {
  std::error_code ec;
  fs::remove(WorkerFile(name), ec);
  if (ec) return IoError(WorkerFile(name) + ": cannot remove: " + ec.message());
  return Status::Ok();
}

std::vector<Registration> RunDir::Scan(std::vector<std::string>* skipped) const {
  std::vector<Registration> out;
  std::error_code ec;
  for (fs::directory_iterator it(fs::path(path_) / "workers", ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string file = it->path().string();
    if (it->path().extension() != kJson) continue;  // temporary files of a rewrite
    StatusOr<std::string> text = ReadFile(file);
    if (!text.ok()) continue;  // removed between listing and reading
    StatusOr<Registration> r = ParseRegistration(*text, file);
    if (!r.ok()) {
      if (skipped) skipped->push_back(r.status().message());
      continue;
    }
    out.push_back(std::move(*r));
  }
  std::sort(out.begin(), out.end(),
            [](const Registration& a, const Registration& b) { return a.name < b.name; });
  return out;
}

Status RunDir::WriteFrontend(const FrontendAddress& a) const {
  const json j = {{"host", a.host}, {"port", a.port}, {"pid", a.pid}};
  return WriteFileAtomic((fs::path(path_) / "frontend.json").string(), j.dump() + "\n");
}

StatusOr<FrontendAddress> RunDir::ReadFrontend() const {
  const std::string file = (fs::path(path_) / "frontend.json").string();
  ASSIGN_OR_RETURN(std::string text, ReadFile(file));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("host") || !j["host"].is_string() ||
      !j.contains("port") || !j["port"].is_number_unsigned() || j["port"].get<uint64_t>() > 65535) {
    return InvalidArgument(file + ": not a frontend address {host, port}");
  }
  FrontendAddress a;
  a.host = j["host"].get<std::string>();
  a.port = static_cast<uint16_t>(j["port"].get<uint64_t>());
  if (j.contains("pid") && j["pid"].is_number_unsigned()) a.pid = j["pid"].get<uint32_t>();
  return a;
}

}  // namespace dynamo::service
