#pragma once
// Resolving a reference that is either a short name of a bundled data file or a path on disk.

#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace dynamo {

// True when `ref` reads as a path (has a '/', ends in .json, or names an existing file).
bool LooksLikePath(std::string_view ref);
// True when `ref` can only be a path: it has a '/' or ends in .json, .jsonl or .csv.
bool IsExplicitPath(std::string_view ref);

// Parses data/<dir>/<name><suffix> from the embedded data, or `ref` as a file path. An explicit
// path (IsExplicitPath) is always a path; otherwise a bundled name wins over a same-named file in
// the working directory. `what` names the kind in errors ("model", "GPU"); unknown names list the
// bundled ones.
StatusOr<JsonNode> LoadCatalogJson(std::string_view ref, std::string_view dir,
                                   std::string_view suffix, std::string_view what);
// True when `ref` is not an explicit path and names a bundled file data/<dir>/<ref><suffix>
// (case-insensitive).
bool IsBundledName(std::string_view ref, std::string_view dir, std::string_view suffix);
// Bundled names under data/<dir>/ ("models" -> "llama-3.1-8b", ...).
std::vector<std::string> CatalogNames(std::string_view dir, std::string_view suffix);

}  // namespace dynamo
