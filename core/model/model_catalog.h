#pragma once
// Models by short name ("llama-3.1-70b", from data/models/<name>/config.json compiled into the
// binary) or by path to a Hugging Face config.json (or the directory holding it).

#include <string>
#include <string_view>
#include <vector>

#include "core/model/model_spec.h"

namespace dynamo {

StatusOr<ModelSpec> LoadModel(std::string_view name_or_path);
std::vector<std::string> BundledModelNames();

}  // namespace dynamo
