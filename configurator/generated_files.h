#pragma once
// Output directories that are complete or absent, for dynamo-config (a target's files) and
// dynamo-sim sweep/merge (results, report, best plan). The files are written into a hidden
// temporary directory beside DIR (same file system) and the directory is renamed into place; a
// failure anywhere, or an interruption before the rename, removes the temporary directory and
// leaves DIR as it was.
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"

namespace dynamo::configurator {

struct GeneratedFile {
  std::string name;  // file name inside the output directory (no '/')
  std::string contents;
  bool executable = false;  // mode 0755 instead of 0644
};

// Which existing output directory may be replaced. An empty one always; one holding entries
// only with `force` (as a whole: other entries are gone), or when every entry is one of
// `own_entries` (a previous run of the same writer, named `owner` in the refusal).
struct ReplacePolicy {
  bool force = false;
  std::vector<std::string> own_entries;
  std::string owner;  // "a sweep"
};

// Whether `dir` may be written under `policy` (also refuses a symbolic link, a file, the working
// directory or one holding it). Callers with long work check this before it. Errors name `dir`
// as given (the --out flag), the reason and the fix.
Status CheckOutputDirectory(const std::string& dir, const ReplacePolicy& policy);

// Checks `dir`, calls `fill` with the temporary directory to write into, then renames it into
// place. `fill`'s error (Cancelled included) leaves `dir` untouched.
Status WriteOutputDirectory(const std::string& dir, const ReplacePolicy& policy,
                            const std::function<Status(const std::string& tmp_dir)>& fill);

// Writes `files` as the directory `dir` (created with its parents): WriteOutputDirectory with
// ReplacePolicy{force}.
Status WriteGeneratedFiles(const std::string& dir, const std::vector<GeneratedFile>& files,
                           bool force);

}  // namespace dynamo::configurator
