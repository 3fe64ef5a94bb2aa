#pragma once
// Whole-file reads and atomic writes. Outputs are written to a temporary file in the same
// directory and renamed into place, so a reader sees the complete file or none.

#include <string>
#include <string_view>

#include "core/status.h"

namespace dynamo {

// Reads the whole file. Errors name the path and the OS reason.
StatusOr<std::string> ReadFile(const std::string& path);

// Writes `contents` to `path` atomically (temp file + fsync + rename).
Status WriteFileAtomic(const std::string& path, std::string_view contents);

// Directory part of a path ("" when none), and `rel` resolved against `base_dir` unless absolute.
std::string DirName(const std::string& path);
std::string ResolvePath(const std::string& base_dir, const std::string& rel);

}  // namespace dynamo
