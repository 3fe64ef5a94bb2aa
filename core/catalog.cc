#include "core/catalog.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>

#include "core/embedded_data.h"

namespace dynamo {

bool IsExplicitPath(std::string_view ref) {
  auto ends = [&](std::string_view s) {
    return ref.size() > s.size() && ref.substr(ref.size() - s.size()) == s;
  };
  return ref.find('/') != std::string_view::npos || ends(".json") || ends(".jsonl") || ends(".csv");
}

bool LooksLikePath(std::string_view ref) {
  if (IsExplicitPath(ref)) return true;
  struct stat st {};
  return ::stat(std::string(ref).c_str(), &st) == 0;
}

std::vector<std::string> CatalogNames(std::string_view dir, std::string_view suffix) {
  std::vector<std::string> names;
  const std::string prefix = std::string(dir) + "/";
  for (const std::string& path : ListEmbeddedFiles(dir)) {
    std::string rest = path.substr(prefix.size());
    if (rest.size() <= suffix.size() || rest.substr(rest.size() - suffix.size()) != suffix)
      continue;
    names.push_back(rest.substr(0, rest.size() - suffix.size()));
  }
  return names;
}

namespace {
std::string BundledPath(std::string_view ref, std::string_view dir, std::string_view suffix) {
  std::string key(ref);
  std::transform(key.begin(), key.end(), key.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return std::string(dir) + "/" + key + std::string(suffix);
}
}  // namespace

bool IsBundledName(std::string_view ref, std::string_view dir, std::string_view suffix) {
  return !IsExplicitPath(ref) && FindEmbeddedFile(BundledPath(ref, dir, suffix)).has_value();
}

StatusOr<JsonNode> LoadCatalogJson(std::string_view ref, std::string_view dir,
                                   std::string_view suffix, std::string_view what) {
  if (ref.empty()) return InvalidArgument(std::string(what) + " name is empty");
  if (IsBundledName(ref, dir, suffix)) {
    const std::string file = BundledPath(ref, dir, suffix);
    return JsonDocument::Parse(*FindEmbeddedFile(file), "data/" + file);
  }
  if (LooksLikePath(ref)) {
    std::string path(ref);
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) path += "/config.json";
    return JsonDocument::Load(path);
  }
  std::string names;
  for (const std::string& n : CatalogNames(dir, suffix)) names += (names.empty() ? "" : ", ") + n;
  return NotFound("unknown " + std::string(what) + " '" + std::string(ref) +
                  "'; bundled: " + names + "; or give a path to a JSON file");
}

}  // namespace dynamo
