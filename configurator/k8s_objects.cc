#include "configurator/k8s_objects.h"

namespace dynamo::configurator {

YamlNode StandardLabels(const std::string& app, const std::string& instance,
                        const std::string& component,
                        const std::vector<std::pair<std::string, std::string>>& extra) {
  YamlNode l = YamlNode::Map();
  l.Set("app.kubernetes.io/name", YamlNode::Str(app));
  l.Set("app.kubernetes.io/instance", YamlNode::Str(instance));
  l.Set("app.kubernetes.io/component", YamlNode::Str(component));
  l.Set("app.kubernetes.io/part-of", YamlNode::Str("dynamo"));
  l.Set("app.kubernetes.io/managed-by", YamlNode::Str("dynamo-config"));
  for (const auto& [k, v] : extra) l.Set(k, YamlNode::Str(v));
  return l;
}

YamlNode SelectorLabels(const std::string& instance, const std::string& component,
                        const std::vector<std::pair<std::string, std::string>>& extra) {
  YamlNode l = YamlNode::Map();
  l.Set("app.kubernetes.io/instance", YamlNode::Str(instance));
  l.Set("app.kubernetes.io/component", YamlNode::Str(component));
  for (const auto& [k, v] : extra) l.Set(k, YamlNode::Str(v));
  return l;
}

YamlNode ObjectMeta(const std::string& name, const std::string& ns, YamlNode labels) {
  YamlNode m = YamlNode::Map();
  m.Set("name", YamlNode::Str(name));
  m.Set("namespace", YamlNode::Str(ns));
  m.Set("labels", std::move(labels));
  return m;
}

YamlNode ObjectHead(const std::string& api_version, const std::string& kind, YamlNode metadata) {
  YamlNode o = YamlNode::Map();
  o.Set("apiVersion", YamlNode::Str(api_version));
  o.Set("kind", YamlNode::Str(kind));
  o.Set("metadata", std::move(metadata));
  return o;
}

YamlNode EnvValue(const std::string& name, const std::string& value) {
  YamlNode e = YamlNode::Map();
  e.Set("name", YamlNode::Str(name));
  e.Set("value", YamlNode::Str(value));
  return e;
}

YamlNode EnvFromField(const std::string& name, const std::string& field_path) {
  YamlNode field = YamlNode::Map();
  field.Set("fieldPath", YamlNode::Str(field_path));
  YamlNode from = YamlNode::Map();
  from.Set("fieldRef", std::move(field));
  YamlNode e = YamlNode::Map();
  e.Set("name", YamlNode::Str(name));
  e.Set("valueFrom", std::move(from));
  return e;
}

YamlNode EnvFromSecretKey(const std::string& name, const std::string& secret,
                          const std::string& key) {
  YamlNode ref = YamlNode::Map();
  ref.Set("name", YamlNode::Str(secret));
  ref.Set("key", YamlNode::Str(key));
  ref.Set("optional", YamlNode::Bool(true));
  YamlNode from = YamlNode::Map();
  from.Set("secretKeyRef", std::move(ref));
  YamlNode e = YamlNode::Map();
  e.Set("name", YamlNode::Str(name));
  e.Set("valueFrom", std::move(from));
  return e;
}

}  // namespace dynamo::configurator
