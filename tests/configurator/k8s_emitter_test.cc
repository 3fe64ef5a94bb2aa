#include "configurator/k8s_emitter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "core/json.h"

namespace dynamo::configurator {
namespace {

using ::testing::HasSubstr;

Plan MustLoad(const std::string& ref) {
  auto plan = LoadPlan(ref);
  EXPECT_TRUE(plan.ok()) << plan.status().message();
  return plan.ok() ? *plan : Plan{};
}

DeployOptions Options() {
  DeployOptions o;
  o.target = DeployTarget::kK8s;
  o.name = "demo";
  o.k8s_namespace = "serving";
  o.image = "registry/dynamo-planner:1";
  o.plan_ref = "llama70b_disagg";
  return o;
}

const YamlNode& Container(const YamlNode& deployment) {
  return deployment.Find("spec")->Find("template")->Find("spec")->Find("containers")->items()[0];
}

TEST(K8sEmitterTest, ObjectsInApplyOrder) {
  const Plan plan = MustLoad("llama70b_disagg");
  auto objects = BuildK8sObjects(plan, Options());
  ASSERT_TRUE(objects.ok()) << objects.status().message();
  ASSERT_EQ(objects->size(), 6u);
  const char* kinds[] = {"ConfigMap",  "Deployment", "Service",
                         "Deployment", "Deployment", "Service"};
  const char* names[] = {"demo-plan",      "demo-frontend", "demo-frontend",
                         "demo-prefill-0", "demo-decode-1", "demo-workers"};
  for (size_t i = 0; i < objects->size(); ++i) {
    const YamlNode& o = (*objects)[i];
    EXPECT_EQ(o.Find("kind")->string_value(), kinds[i]);
    EXPECT_EQ(o.Find("metadata")->Find("name")->string_value(), names[i]);
    EXPECT_EQ(o.Find("metadata")->Find("namespace")->string_value(), "serving");
    EXPECT_EQ(
        o.Find("metadata")->Find("labels")->Find("app.kubernetes.io/managed-by")->string_value(),
        "dynamo-config");
  }
  // The ConfigMap holds the canonical plan.
  EXPECT_EQ((*objects)[0].Find("data")->Find("plan.json")->string_value(), PlanToJson(plan));
}

TEST(K8sEmitterTest, FrontendAndWorkerCommands) {
  const Plan plan = MustLoad("llama70b_disagg");
  auto objects = BuildK8sObjects(plan, Options());
  ASSERT_TRUE(objects.ok());
  const YamlNode& frontend = Container((*objects)[1]);
  EXPECT_EQ(EmitYaml(*frontend.Find("args")),
            "- frontend\n- --plan\n- /etc/dynamo/plan.json\n- --host\n- \"0.0.0.0\"\n- --port\n"
            "- \"8000\"\n");
  const YamlNode& decode = Container((*objects)[4]);
  EXPECT_EQ(EmitYaml(*decode.Find("args")),
            "- worker\n- --plan\n- /etc/dynamo/plan.json\n- --pool\n- \"1\"\n- --frontend\n"
            "- demo-frontend.serving.svc:8000\n");
  EXPECT_EQ(decode.Find("resources")->Find("limits")->Find("nvidia.com/gpu")->int_value(), 4);
  EXPECT_EQ((*objects)[3].Find("spec")->Find("replicas")->int_value(), 2);
  // Headless worker service.
  EXPECT_EQ((*objects)[5].Find("spec")->Find("clusterIP")->string_value(), "None");
  // Secrets only by reference.
  const std::string text = EmitYamlDocuments(*objects);
  EXPECT_THAT(text, HasSubstr("secretKeyRef:\n"));
  EXPECT_THAT(text, HasSubstr("name: hf-token-secret\n"));
}

TEST(K8sEmitterTest, PlannerGetsRbacAndAKubectlProxy) {
  Plan plan = MustLoad("llama70b_disagg");
  // Without the planner: no RBAC objects, one container, no connector.
  ASSERT_FALSE(plan.planner.enabled);
  auto plain = BuildK8sObjects(plan, Options());
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(EmitYamlDocuments(*plain).find("kind: Role"), std::string::npos);
  EXPECT_EQ(EmitYamlDocuments(*plain).find("--planner-connector"), std::string::npos);

  plan.planner.enabled = true;
  auto objects = BuildK8sObjects(plan, Options());
  ASSERT_TRUE(objects.ok()) << objects.status().message();
  ASSERT_EQ(objects->size(), 9u);
  const char* kinds[] = {"ConfigMap", "ServiceAccount", "Role", "RoleBinding", "Deployment"};
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ((*objects)[i].Find("kind")->string_value(), kinds[i]);
  }
  for (size_t i = 1; i < 4; ++i) {
    EXPECT_EQ((*objects)[i].Find("metadata")->Find("name")->string_value(), "demo-planner");
  }
  // The Role grants exactly what the connector's deployment mode uses.
  EXPECT_EQ(EmitYaml(*(*objects)[2].Find("rules")),
            "- apiGroups:\n    - apps\n  resources:\n    - deployments\n    - deployments/scale\n"
            "  verbs:\n    - get\n    - patch\n");
  const YamlNode& binding = (*objects)[3];
  EXPECT_EQ(binding.Find("roleRef")->Find("name")->string_value(), "demo-planner");
  EXPECT_EQ(binding.Find("subjects")->items()[0].Find("namespace")->string_value(), "serving");

  const YamlNode& pod = *(*objects)[4].Find("spec")->Find("template")->Find("spec");
  EXPECT_EQ(pod.Find("serviceAccountName")->string_value(), "demo-planner");
  const auto& containers = pod.Find("containers")->items();
  ASSERT_EQ(containers.size(), 2u);
  // The frontend's connector flags name the worker Deployments' prefix and namespace.
  EXPECT_EQ(EmitYaml(*containers[0].Find("args")),
            "- frontend\n- --plan\n- /etc/dynamo/plan.json\n- --host\n- \"0.0.0.0\"\n- --port\n"
            "- \"8000\"\n- --planner-connector\n- kubernetes\n- --k8s-mode\n- api\n"
            "- --k8s-kind\n- deployment\n- --k8s-api-url\n- http://127.0.0.1:8001\n"
            "- --k8s-namespace\n- serving\n- --k8s-name\n- demo\n");
  EXPECT_EQ(containers[1].Find("name")->string_value(), "kubectl-proxy");
  EXPECT_EQ(EmitYaml(*containers[1].Find("args")),
            "- proxy\n- --address=127.0.0.1\n- --port=8001\n");
  // The worker Deployments the connector patches exist under the names it derives.
  EXPECT_EQ((*objects)[6].Find("metadata")->Find("name")->string_value(), "demo-prefill-0");
  EXPECT_EQ((*objects)[7].Find("metadata")->Find("name")->string_value(), "demo-decode-1");

  auto files = EmitK8sTarget(plan, Options());
  ASSERT_TRUE(files.ok());
  EXPECT_THAT((*files)[1].contents, HasSubstr("ServiceAccount `demo-planner`"));
}

TEST(K8sEmitterTest, WorkerWiderThanANodeIsRefused) {
  auto root = JsonDocument::Parse(R"({
    "model": "llama-3.1-70b", "system": {"gpu": "h200_sxm", "nodes": 2},
    "workers": [{"role": "agg", "tp": 8, "pp": 2}]})",
                                  "wide.json");
  ASSERT_TRUE(root.ok());
  auto plan = ParsePlan(*root);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  DeployOptions o = Options();
  o.plan_ref = "wide.json";
  auto objects = BuildK8sObjects(*plan, o);
  ASSERT_FALSE(objects.ok());
  EXPECT_EQ(objects.status().message(),
            "--target k8s: pool 0 of wide.json needs 16 GPUs per worker (tp 8 x pp 2), more "
            "than one node's 8; a plain Deployment pod cannot span nodes; use --target dynamo "
            "(multinode workers) or a plan with tp x pp <= 8");
}

}  // namespace
}  // namespace dynamo::configurator
