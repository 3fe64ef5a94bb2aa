#pragma once
// GeneratedFile and WriteGeneratedFiles: how dynamo-config puts a target's files on disk so
// that the output directory is complete or absent. The files are written into a temporary
// directory beside DIR (same file system) and the directory is renamed into place; a failure
// anywhere removes the temporary directory and leaves DIR as it was.
#include <string>
#include <vector>

#include "core/status.h"

namespace dynamo::configurator {

struct GeneratedFile {
  std::string name;  // file name inside the output directory (no '/')
  std::string contents;
  bool executable = false;  // mode 0755 instead of 0644
};

// Writes `files` as the directory `dir` (created with its parents). An existing `dir` that is
// empty is replaced; one that holds entries is refused unless `force`, in which case it is
// replaced as a whole (entries not among `files` are gone). Errors name `dir` as given (the
// --out flag), the reason and the fix.
Status WriteGeneratedFiles(const std::string& dir, const std::vector<GeneratedFile>& files,
                           bool force);

}  // namespace dynamo::configurator
