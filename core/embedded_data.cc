#include "core/embedded_data.h"

#include <algorithm>

namespace dynamo {

std::optional<std::string_view> FindEmbeddedFile(std::string_view path) {
  for (const EmbeddedFile& f : EmbeddedFiles()) {
    if (f.path == path) return f.contents;
  }
  return std::nullopt;
}

std::vector<std::string> ListEmbeddedFiles(std::string_view dir) {
  std::string prefix = std::string(dir) + "/";
  std::vector<std::string> out;
  for (const EmbeddedFile& f : EmbeddedFiles()) {
    if (f.path.substr(0, prefix.size()) == prefix) out.emplace_back(f.path);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace dynamo
