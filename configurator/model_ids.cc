#include "configurator/model_ids.h"

#include <array>
#include <utility>

namespace dynamo::configurator {
namespace {

// One row per bundled model (tests/configurator/model_ids_test.cc checks every bundled model
// has one).
constexpr std::array<std::pair<std::string_view, std::string_view>, 10> kHfIds = {{
    {"deepseek-v3", "deepseek-ai/DeepSeek-V3"},
    {"gpt-oss-120b", "openai/gpt-oss-120b"},
    {"llama-3.1-70b", "meta-llama/Llama-3.1-70B-Instruct"},
    {"llama-3.1-8b", "meta-llama/Llama-3.1-8B-Instruct"},
    {"mistral-7b", "mistralai/Mistral-7B-Instruct-v0.3"},
    {"mixtral-8x7b", "mistralai/Mixtral-8x7B-v0.1"},
    {"qwen2.5-0.5b", "Qwen/Qwen2.5-0.5B"},
    {"qwen2.5-7b", "Qwen/Qwen2.5-7B-Instruct"},
    {"qwen3-235b-a22b", "Qwen/Qwen3-235B-A22B"},
    {"qwen3-32b", "Qwen/Qwen3-32B"},
}};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

}  // namespace

std::string_view BundledHfModelId(std::string_view bundled_name) {
  for (const auto& [name, id] : kHfIds) {
    if (EqualsIgnoreCase(name, bundled_name)) return id;
  }
  return {};
}

StatusOr<std::string> ResolveModelId(const Plan& plan, std::string_view model_id_flag) {
  if (!model_id_flag.empty()) return std::string(model_id_flag);
  const std::string& ref = plan.model_ref.empty() ? plan.model.name() : plan.model_ref;
  const std::string_view id = BundledHfModelId(ref);
  if (!id.empty()) return std::string(id);
  return InvalidArgument("--model-id: missing; the plan " + plan.source +
                         " gives its model as {\"hf_config\": \"" + ref +
                         "\"}, which names no Hugging Face repository; pass --model-id with the "
                         "repository (e.g. --model-id meta-llama/Llama-3.1-8B-Instruct) or a "
                         "path inside the image");
}

}  // namespace dynamo::configurator
