#pragma once
// Which Hugging Face model an engine loads for a plan's model. Bundled models map to the
// repository their config.json came from (data/models/PROVENANCE.md; Llama as the Instruct
// variant that is served); a model given as {"hf_config": PATH} has no known id, so the user
// names it (--model-id).
#include <string>
#include <string_view>

#include "core/plan/plan.h"
#include "core/status.h"

namespace dynamo::configurator {

// "llama-3.1-70b" -> "meta-llama/Llama-3.1-70B-Instruct"; empty when `bundled_name` is not a
// bundled model (case-insensitive).
std::string_view BundledHfModelId(std::string_view bundled_name);

// `model_id_flag` when not empty, else the bundled model's id. A plan whose model is an
// hf_config path and no flag: InvalidArgument telling the user to pass --model-id.
StatusOr<std::string> ResolveModelId(const Plan& plan, std::string_view model_id_flag);

}  // namespace dynamo::configurator
