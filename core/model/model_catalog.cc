#include "core/model/model_catalog.h"

#include "core/catalog.h"

namespace dynamo {

StatusOr<ModelSpec> LoadModel(std::string_view name_or_path) {
  ASSIGN_OR_RETURN(JsonNode root, LoadCatalogJson(name_or_path, "models", "/config.json", "model"));
  return ModelSpec::FromConfig(root, std::string(name_or_path));
}

std::vector<std::string> BundledModelNames() { return CatalogNames("models", "/config.json"); }

}  // namespace dynamo
