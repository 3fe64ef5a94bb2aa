#pragma once
// The data files shipped in data/ (model configs, hardware catalog, example workloads and plans),
// compiled into the binaries so that short names ("llama-3.1-70b", "h200_sxm") work from any
// directory without an install step.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dynamo {

struct EmbeddedFile {
  std::string_view path;      // relative to data/: "models/llama-3.1-8b/config.json"
  std::string_view contents;  // static storage
};

const std::vector<EmbeddedFile>& EmbeddedFiles();

// Contents of data/<path>, or nullopt.
std::optional<std::string_view> FindEmbeddedFile(std::string_view path);
// Paths under data/<dir>/ in sorted order.
std::vector<std::string> ListEmbeddedFiles(std::string_view dir);

}  // namespace dynamo
