#include "configurator/generated_files.h"

#include <stdlib.h>
#include <unistd.h>

#include <sys/stat.h>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "core/check.h"
#include "core/file_io.h"

namespace dynamo::configurator {
namespace {

namespace fs = std::filesystem;

// Removes a temporary directory on every path out of WriteGeneratedFiles that did not hand it
// over (the rename into place).
class TempDirGuard {
 public:
  explicit TempDirGuard(fs::path p) : path_(std::move(p)) {}
  ~TempDirGuard() {
    if (path_.empty()) return;
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDirGuard(const TempDirGuard&) = delete;
  TempDirGuard& operator=(const TempDirGuard&) = delete;
  void Release() { path_.clear(); }

 private:
  fs::path path_;
};

// A fresh directory "<parent>/.<name>.<tag>-XXXXXX".
StatusOr<fs::path> MakeTempDir(const fs::path& target, const std::string& tag,
                               const std::string& flag) {
  std::string templ =
      (target.parent_path() / ("." + target.filename().string() + "." + tag + "-XXXXXX")).string();
  if (::mkdtemp(templ.data()) == nullptr) {
    return IoError(flag + ": cannot create a temporary directory beside it (" + templ +
                   "): " + std::strerror(errno));
  }
  return fs::path(templ);
}

Status CheckFileName(const GeneratedFile& f) {
  if (f.name.empty() || f.name.find('/') != std::string::npos || f.name == "." || f.name == "..") {
    return Internal("generated file name \"" + f.name + "\" is not a plain file name");
  }
  return Status::Ok();
}

// The output directory as an absolute normal path without a trailing separator, after the
// checks every writer shares; `exists` says whether it is there now.
StatusOr<fs::path> Vet(const std::string& dir, const ReplacePolicy& policy, bool& exists) {
  const std::string flag = "--out " + dir;
  if (dir.empty()) return InvalidArgument("--out: empty; name the directory to write");
  std::error_code ec;
  fs::path target = fs::absolute(fs::path(dir), ec).lexically_normal();
  if (ec) return IoError(flag + ": cannot resolve the path: " + ec.message());
  if (!target.has_filename()) target = target.parent_path();  // "out/" -> "out"
  // Replacing the working directory or one that holds it would pull the floor away ("--out .").
  const fs::path cwd = fs::current_path(ec).lexically_normal();
  const bool holds_cwd =
      !ec &&
      std::mismatch(target.begin(), target.end(), cwd.begin(), cwd.end()).first == target.end();
  if (target == target.root_path() || holds_cwd) {
    return InvalidArgument(flag + ": is the working directory or holds it, and cannot be " +
                           "replaced as a whole; name a new directory, e.g. --out deploy/");
  }

  // What is there now.
  const fs::file_status st = fs::symlink_status(target, ec);
  exists = !ec && fs::exists(st);
  if (!exists) return target;
  if (fs::is_symlink(st)) {
    return InvalidArgument(flag +
                           ": is a symbolic link; give the directory it points to, or a "
                           "new directory");
  }
  if (!fs::is_directory(st)) {
    return InvalidArgument(flag + ": exists and is not a directory; choose another --out");
  }
  size_t entries = 0;
  std::vector<std::string> foreign;
  for (auto it = fs::directory_iterator(target, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    ++entries;
    const std::string name = it->path().filename().string();
    if (std::find(policy.own_entries.begin(), policy.own_entries.end(), name) ==
        policy.own_entries.end()) {
      foreign.push_back(name);
    }
  }
  if (ec) return IoError(flag + ": cannot list the directory: " + ec.message());
  if (policy.force || foreign.empty()) return target;
  if (!policy.own_entries.empty()) {
    std::sort(foreign.begin(), foreign.end());
    std::string list;
    for (size_t i = 0; i < foreign.size() && i < 3; ++i) list += (i ? ", " : "") + foreign[i];
    if (foreign.size() > 3) list += ", ...";
    return IoError(flag + ": holds files " + policy.owner + " did not write (" + list +
                   "); choose an empty or new directory");
  }
  return FailedPrecondition(flag + ": the directory exists and holds " + std::to_string(entries) +
                            (entries == 1 ? " entry" : " entries") +
                            "; pass --force to replace it as a whole, or choose a new "
                            "directory");
}

}  // namespace

Status CheckOutputDirectory(const std::string& dir, const ReplacePolicy& policy) {
  bool exists = false;
  return Vet(dir, policy, exists).status();
}

Status WriteOutputDirectory(const std::string& dir, const ReplacePolicy& policy,
                            const std::function<Status(const std::string& tmp_dir)>& fill) {
  const std::string flag = "--out " + dir;
  bool exists = false;
  ASSIGN_OR_RETURN(fs::path target, Vet(dir, policy, exists));
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  if (ec) {
    return IoError(flag + ": cannot create the parent directory " + target.parent_path().string() +
                   ": " + ec.message());
  }
  ASSIGN_OR_RETURN(fs::path tmp, MakeTempDir(target, "tmp", flag));
  TempDirGuard tmp_guard(tmp);
  if (::chmod(tmp.c_str(), 0755) != 0) {
    return IoError(flag + ": chmod " + tmp.string() + ": " + std::strerror(errno));
  }
  RETURN_IF_ERROR(fill(tmp.string()));

  // Into place. An empty directory is replaced by rename(2) itself; a full one moves aside
  // first, so DIR is the old complete directory, briefly absent, then the new one.
  fs::path old;
  if (exists) {
    fs::rename(target, tmp.string() + ".old", ec);
    if (ec) return IoError(flag + ": cannot move the old directory aside: " + ec.message());
    old = tmp.string() + ".old";
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    std::error_code restore;
    if (!old.empty()) fs::rename(old, target, restore);
    return IoError(flag + ": cannot rename " + tmp.string() + " into place: " + ec.message());
  }
  tmp_guard.Release();
  if (!old.empty()) fs::remove_all(old, ec);  // best effort: the new directory is in place
  return Status::Ok();
}

Status WriteGeneratedFiles(const std::string& dir, const std::vector<GeneratedFile>& files,
                           bool force) {
  ReplacePolicy policy;
  policy.force = force;
  return WriteOutputDirectory(dir, policy, [&](const std::string& tmp) -> Status {
    for (const GeneratedFile& f : files) {
      RETURN_IF_ERROR(CheckFileName(f));
      const std::string path = tmp + "/" + f.name;
      RETURN_IF_ERROR(WriteFileAtomic(path, f.contents));
      if (f.executable && ::chmod(path.c_str(), 0755) != 0) {
        return IoError(path + ": chmod: " + std::strerror(errno));
      }
    }
    return Status::Ok();
  });
}

}  // namespace dynamo::configurator
