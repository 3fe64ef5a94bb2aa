#pragma once
// Building blocks of the plain Kubernetes objects dynamo-config emits (k8s and k8s-sweep
// targets): recommended app.kubernetes.io labels, object metadata, container pieces. Only
// fields of the Kubernetes API are used; validate_manifests.py checks the output against the
// Kubernetes OpenAPI schemas in strict mode.
#include <string>
#include <utility>
#include <vector>

#include "configurator/yaml_writer.h"

namespace dynamo::configurator {

// app.kubernetes.io/{name, instance, component, part-of, managed-by} plus `extra` pairs.
YamlNode StandardLabels(const std::string& app, const std::string& instance,
                        const std::string& component,
                        const std::vector<std::pair<std::string, std::string>>& extra = {});
// The labels a selector matches: instance and component (plus `extra`).
YamlNode SelectorLabels(const std::string& instance, const std::string& component,
                        const std::vector<std::pair<std::string, std::string>>& extra = {});

// metadata {name, namespace, labels}.
YamlNode ObjectMeta(const std::string& name, const std::string& ns, YamlNode labels);

// {apiVersion, kind, metadata}: the head of every object.
YamlNode ObjectHead(const std::string& api_version, const std::string& kind, YamlNode metadata);

// An env entry {name, value}.
YamlNode EnvValue(const std::string& name, const std::string& value);
// An env entry from a pod field (fieldRef.fieldPath).
YamlNode EnvFromField(const std::string& name, const std::string& field_path);
// An env entry from a secret key, optional: the pod starts without the secret.
YamlNode EnvFromSecretKey(const std::string& name, const std::string& secret,
                          const std::string& key);

}  // namespace dynamo::configurator
