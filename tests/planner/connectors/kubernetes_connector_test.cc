#include "planner/connectors/kubernetes_connector.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "core/json.h"
#include "runtime/http/http_server.h"

namespace dynamo::planner {
namespace {

using Json = nlohmann::json;

// What the fake API server saw.
struct Seen {
  std::string method, path, content_type, authorization, body;
};

// The answer it gives next.
struct Answer {
  int status = 200;
  std::string body = R"({"kind":"DynamoGraphDeployment"})";
  bool hang = false;  // keep the exchange and never answer (a timeout)
};

std::string K8sStatus(int code, const std::string& reason, const std::string& message) {
  return Json{{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", Json::object()},
              {"status", "Failure"}, {"message", message}, {"reason", reason},
              {"code", code}}
      .dump();
}

std::string TempDir() {
  std::string tmpl = testing::TempDir() + "k8s_connector_XXXXXX";
  const char* dir = ::mkdtemp(tmpl.data());
  EXPECT_NE(dir, nullptr);
  return tmpl;
}

void WriteFile(const std::string& path, const std::string& text, bool executable = false) {
  std::ofstream(path) << text;
  if (executable) ::chmod(path.c_str(), 0755);
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class KubernetesConnectorTest : public testing::Test {
 protected:
  void SetUp() override {
    http::HttpServerOptions opts;  // 127.0.0.1, an ephemeral port
    auto server = http::HttpServer::Create(
        io_, opts, [this](const http::HttpRequest& req, std::shared_ptr<http::HttpExchange> ex) {
          seen_.push_back(Seen{req.method, req.path, req.content_type,
                               std::string(req.header("authorization")), req.body});
          if (answer_.hang) {
            hung_.push_back(std::move(ex));
            return;
          }
          ex->Respond(answer_.status, "application/json", answer_.body);
        });
    ASSERT_TRUE(server.ok()) << server.status().message();
    server_ = std::move(*server);
    url_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }

  void TearDown() override {
    hung_.clear();
    connector_.reset();
    server_.reset();
  }

  KubernetesConnectorOptions DgdOptions() {
    KubernetesConnectorOptions o;
    o.api_url = url_;
    o.k8s_namespace = "dynamo";
    o.name = "llama-disagg";
    o.prefill = "VllmPrefillWorker";
    o.decode = "VllmDecodeWorker";
    return o;
  }

  KubernetesConnectorOptions DeploymentOptions() {
    KubernetesConnectorOptions o;
    o.api_url = url_;
    o.kind = KubernetesKind::kDeployment;
    o.agg = "my-plan-agg-0";
    return o;
  }

  void Make(KubernetesConnectorOptions o) {
    auto c = KubernetesConnector::Create(io_, std::move(o));
    ASSERT_TRUE(c.ok()) << c.status().message();
    connector_ = std::move(*c);
  }

  // Runs the io_context until `ready` (a 10 s guard, never a sleep).
  template <typename T>
  void RunUntil(const std::optional<T>& ready) {
    io_.restart();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!ready.has_value() && std::chrono::steady_clock::now() < deadline) {
      io_.run_one_for(std::chrono::milliseconds(100));
    }
  }

  Status Set(WorkerRole role, int n) {
    std::optional<Status> got;
    connector_->SetReplicas(role, n, [&](Status s) { got = std::move(s); });
    EXPECT_FALSE(got.has_value()) << "done ran inside SetReplicas";
    RunUntil(got);
    EXPECT_TRUE(got.has_value()) << "no result within 10 s";
    return got.value_or(Internal("no result"));
  }

  StatusOr<int> Get(WorkerRole role) {
    std::optional<StatusOr<int>> got;
    connector_->GetReplicas(role, [&](StatusOr<int> n) { got = std::move(n); });
    RunUntil(got);
    EXPECT_TRUE(got.has_value()) << "no result within 10 s";
    return got.value_or(StatusOr<int>(Internal("no result")));
  }

  boost::asio::io_context io_;
  std::unique_ptr<http::HttpServer> server_;
  std::string url_;
  Answer answer_;
  std::vector<Seen> seen_;
  std::vector<std::shared_ptr<http::HttpExchange>> hung_;
  std::unique_ptr<KubernetesConnector> connector_;
};

constexpr char kDgdPath[] =
    "/apis/nvidia.com/v1alpha1/namespaces/dynamo/dynamographdeployments/llama-disagg";

TEST_F(KubernetesConnectorTest, PatchesTheDgdServiceWithABearerToken) {
  const std::string dir = TempDir();
  WriteFile(dir + "/token", "tok123\n");
  KubernetesConnectorOptions o = DgdOptions();
  o.token_file = dir + "/token";
  Make(o);
  ASSERT_TRUE(Set(WorkerRole::kDecode, 3).ok());
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].method, "PATCH");
  EXPECT_EQ(seen_[0].path, kDgdPath);
  EXPECT_EQ(seen_[0].content_type, "application/merge-patch+json");
  EXPECT_EQ(seen_[0].authorization, "Bearer tok123");
  EXPECT_EQ(Json::parse(seen_[0].body),
            Json::parse(R"({"spec":{"services":{"VllmDecodeWorker":{"replicas":3}}}})"));
  EXPECT_EQ(connector_->Describe(),
            "kubernetes DynamoGraphDeployment dynamo/llama-disagg services "
            "prefill=VllmPrefillWorker, decode=VllmDecodeWorker via " +
                url_ + " (token)");
}

TEST_F(KubernetesConnectorTest, PatchesADeploymentsScaleWithoutAToken) {
  Make(DeploymentOptions());
  ASSERT_TRUE(Set(WorkerRole::kAggregated, 2).ok());
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].method, "PATCH");
  EXPECT_EQ(seen_[0].path, "/apis/apps/v1/namespaces/default/deployments/my-plan-agg-0/scale");
  EXPECT_EQ(seen_[0].content_type, "application/merge-patch+json");
  EXPECT_EQ(seen_[0].authorization, "");
  EXPECT_EQ(Json::parse(seen_[0].body), Json::parse(R"({"spec":{"replicas":2}})"));
}

TEST_F(KubernetesConnectorTest, AnApiUrlPathPrefixesEveryRequest) {
  KubernetesConnectorOptions o = DeploymentOptions();
  o.api_url = url_ + "/k8s/";
  Make(o);
  ASSERT_TRUE(Set(WorkerRole::kAggregated, 1).ok());
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].path, "/k8s/apis/apps/v1/namespaces/default/deployments/my-plan-agg-0/scale");
}

TEST_F(KubernetesConnectorTest, NotFoundNamesThePathAndTheCrd) {
  Make(DgdOptions());
  answer_ = {404, K8sStatus(404, "NotFound",
                            "dynamographdeployments.nvidia.com \"llama-disagg\" not found")};
  const Status s = Set(WorkerRole::kPrefill, 2);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(),
            "PATCH " + url_ + kDgdPath +
                ": HTTP 404: dynamographdeployments.nvidia.com \"llama-disagg\" not found; is "
                "the name 'llama-disagg' in namespace 'dynamo' right (kubectl get "
                "dynamographdeployments -n dynamo), and is the DynamoGraphDeployment CRD "
                "installed (kubectl get crd dynamographdeployments.nvidia.com)?");
}

TEST_F(KubernetesConnectorTest, ForbiddenNamesTheRbacPermission) {
  Make(DeploymentOptions());
  answer_ = {403, K8sStatus(403, "Forbidden",
                            "deployments.apps \"my-plan-agg-0\" is forbidden: User "
                            "\"system:serviceaccount:default:planner\" cannot patch resource "
                            "\"deployments/scale\"")};
  const Status s = Set(WorkerRole::kAggregated, 2);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("cannot patch resource \"deployments/scale\"; RBAC: the service "
                             "account needs get and patch on deployments/scale (API group apps) "
                             "in namespace default"),
            std::string::npos)
      << s.message();
  answer_ = {401, K8sStatus(401, "Unauthorized", "Unauthorized")};
  const Status u = Set(WorkerRole::kAggregated, 2);
  EXPECT_EQ(u.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(u.message().find("HTTP 401: Unauthorized; the API server rejected the credentials"),
            std::string::npos)
      << u.message();
}

TEST_F(KubernetesConnectorTest, UnprocessableAndConflictCarryTheServersMessage) {
  Make(DgdOptions());
  answer_ = {422, K8sStatus(422, "Invalid",
                            "DynamoGraphDeployment.nvidia.com \"llama-disagg\" is invalid: "
                            "spec.services.VllmDecodeWorker.replicas: Invalid value: -1")};
  const Status s = Set(WorkerRole::kDecode, 5);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "PATCH " + url_ + kDgdPath +
                ": HTTP 422: DynamoGraphDeployment.nvidia.com \"llama-disagg\" is invalid: "
                "spec.services.VllmDecodeWorker.replicas: Invalid value: -1 (the API server "
                "refused the change to DynamoGraphDeployment dynamo/llama-disagg service "
                "VllmDecodeWorker)");
  answer_ = {409, K8sStatus(409, "Conflict", "the object has been modified")};
  const Status c = Set(WorkerRole::kDecode, 5);
  EXPECT_EQ(c.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(c.message().find("HTTP 409: the object has been modified (conflict on"),
            std::string::npos)
      << c.message();
  answer_ = {500, "oops"};
  const Status e = Set(WorkerRole::kDecode, 5);
  EXPECT_EQ(e.code(), StatusCode::kIoError);
  EXPECT_NE(e.message().find("HTTP 500: oops"), std::string::npos) << e.message();
}

TEST_F(KubernetesConnectorTest, ATimeoutIsAnIoError) {
  KubernetesConnectorOptions o = DgdOptions();
  o.timeout = Duration::Millis(200);
  Make(o);
  answer_.hang = true;
  const Status s = Set(WorkerRole::kDecode, 2);
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_EQ(s.message(), "PATCH " + url_ + kDgdPath + ": no complete response within 0.2 s");
}

TEST_F(KubernetesConnectorTest, ARefusedConnectionAsksForKubectlProxy) {
  // A port nobody listens on: bound, then released.
  uint16_t port = 0;
  {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor a(
        io, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }
  KubernetesConnectorOptions o = DgdOptions();
  o.api_url = "http://127.0.0.1:" + std::to_string(port);
  Make(o);
  const Status s = Set(WorkerRole::kDecode, 2);
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_EQ(s.message(),
            "cannot reach the Kubernetes API at http://127.0.0.1:" + std::to_string(port) +
                ": Connection refused; is kubectl proxy running (kubectl proxy "
                "--port 8001)?");
}

TEST_F(KubernetesConnectorTest, ReadsReplicasBack) {
  Make(DgdOptions());
  answer_.body = R"({"kind":"DynamoGraphDeployment","spec":{"services":{
      "VllmPrefillWorker":{"replicas":2},"VllmDecodeWorker":{"replicas":5}}}})";
  StatusOr<int> n = Get(WorkerRole::kDecode);
  ASSERT_TRUE(n.ok()) << n.status().message();
  EXPECT_EQ(*n, 5);
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].method, "GET");
  EXPECT_EQ(seen_[0].path, kDgdPath);

  connector_.reset();
  Make(DeploymentOptions());
  answer_.body = R"({"kind":"Scale","spec":{"replicas":4},"status":{"replicas":4}})";
  n = Get(WorkerRole::kAggregated);
  ASSERT_TRUE(n.ok()) << n.status().message();
  EXPECT_EQ(*n, 4);
  EXPECT_EQ(seen_.back().path, "/apis/apps/v1/namespaces/default/deployments/my-plan-agg-0/scale");
  answer_.body = R"({"kind":"Scale","spec":{}})";  // replicas 0 is omitted
  n = Get(WorkerRole::kAggregated);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0);
}

TEST_F(KubernetesConnectorTest, ARoleWithoutATargetIsRefusedAsynchronously) {
  Make(DgdOptions());
  const Status s = Set(WorkerRole::kAggregated, 2);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "kubernetes connector: no DGD service for the agg pool; set the agg target");
  EXPECT_TRUE(seen_.empty());
}

TEST(KubernetesConnectorCreateTest, ValidatesNamesNamingTheOptionAndTheValue) {
  boost::asio::io_context io;
  auto expect_error = [&](KubernetesConnectorOptions o, const std::string& message) {
    auto c = KubernetesConnector::Create(io, std::move(o));
    ASSERT_FALSE(c.ok()) << message;
    EXPECT_EQ(c.status().message(), message);
  };
  KubernetesConnectorOptions dgd;
  dgd.name = "llama";
  dgd.decode = "VllmDecodeWorker";

  KubernetesConnectorOptions o = dgd;
  o.k8s_namespace = "Team_A";
  expect_error(o,
               "kubernetes connector: namespace 'Team_A' is not a DNS-1123 label (lower-case "
               "letters, digits and '-', starting and ending with a letter or digit, at most 63 "
               "characters)");
  o = dgd;
  o.name = "Llama.70B";
  expect_error(o,
               "kubernetes connector: name 'Llama.70B' is not a DNS-1123 subdomain (lower-case "
               "letters, digits, '-' and '.', at most 253 characters); pass the "
               "DynamoGraphDeployment's metadata.name");
  o = dgd;
  o.decode = "decode worker";
  expect_error(o,
               "kubernetes connector: decode service 'decode worker' is not a DGD service name "
               "(letters, digits and '-', starting and ending with a letter or digit, at most 63 "
               "characters), e.g. VllmDecodeWorker");
  o = dgd;
  o.kind = KubernetesKind::kDeployment;
  o.decode = "plan-decode-1-";
  expect_error(o,
               "kubernetes connector: decode deployment 'plan-decode-1-' is not a DNS-1123 "
               "subdomain (lower-case letters, digits, '-' and '.', at most 253 characters), e.g. "
               "my-plan-decode-1");
  o = dgd;
  o.decode = "";
  expect_error(o,
               "kubernetes connector: no pool to scale: set the DGD service of at least one role "
               "(agg, or prefill and decode)");
  o = dgd;
  o.api_url = "https://kubernetes.default.svc";
  expect_error(o,
               "kubernetes connector: api url (for TLS or in-cluster credentials run `kubectl "
               "proxy` and use http://127.0.0.1:8001, or use the kubectl mode): url "
               "'https://kubernetes.default.svc': https is not supported (dynamo-run serves plain "
               "HTTP); expected http://HOST[:PORT][/PATH], e.g. http://127.0.0.1:8000");
  const std::string dir = TempDir();
  o = dgd;
  o.token_file = dir + "/missing";
  auto missing = KubernetesConnector::Create(io, o);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message().rfind(
                "kubernetes connector: token file: " + dir + "/missing: cannot open", 0),
            0u)
      << missing.status().message();
  WriteFile(dir + "/empty", "\n");
  o.token_file = dir + "/empty";
  expect_error(o, "kubernetes connector: token file '" + dir +
                      "/empty' does not hold one bearer token (it is empty or has several "
                      "words); write the token alone in it");
  o = dgd;
  o.mode = KubernetesMode::kKubectl;
  o.kubectl = "no-such-kubectl-for-tests";
  expect_error(o,
               "kubernetes connector: kubectl 'no-such-kubectl-for-tests' not found on PATH; "
               "install kubectl or pass its path");
}

TEST(KubernetesConnectorNamesTest, DefaultsFollowDynamoConfig) {
  auto root = JsonDocument::Parse(R"({"model": "llama-3.1-8b", "system": {"gpu": "h200_sxm"},
    "workers": [{"role": "prefill"}, {"role": "decode"}]})",
                                  "p.json");
  ASSERT_TRUE(root.ok());
  auto plan = ParsePlan(*root);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  KubernetesConnectorOptions o;
  o.name = "llama";
  ASSERT_TRUE(FillTargetsForPlan(*plan, "sglang", o).ok());
  EXPECT_EQ(o.agg, "");
  EXPECT_EQ(o.prefill, "SglangPrefillWorker");
  EXPECT_EQ(o.decode, "SglangDecodeWorker");
  o.kind = KubernetesKind::kDeployment;
  ASSERT_TRUE(FillTargetsForPlan(*plan, "", o).ok());
  EXPECT_EQ(o.prefill, "llama-prefill-0");
  EXPECT_EQ(o.decode, "llama-decode-1");
  EXPECT_EQ(DgdServiceName("vllm", WorkerRole::kAggregated).value(), "VllmWorker");
  EXPECT_FALSE(DgdServiceName("tgi", WorkerRole::kAggregated).ok());
  EXPECT_EQ(ParseKubernetesKind("dgd").value(), KubernetesKind::kDynamoGraphDeployment);
  EXPECT_EQ(ParseKubernetesMode("kubectl").value(), KubernetesMode::kKubectl);
  EXPECT_FALSE(ParseKubernetesMode("ssh").ok());
}

// kubectl mode: a fake kubectl that records its arguments, prints a replica count, and fails
// (with a message on stderr) when a file says so.
class KubectlModeTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir();
    WriteFile(dir_ + "/kubectl",
              "#!/bin/sh\n"
              "printf '%s\\n' \"$@\" > '" +
                  dir_ +
                  "/argv'\n"
                  "if [ -f '" +
                  dir_ +
                  "/fail' ]; then\n"
                  "  echo 'Error from server (NotFound): dynamographdeployments.nvidia.com "
                  "\"llama\" not found' >&2\n"
                  "  exit 1\n"
                  "fi\n"
                  "if [ -f '" +
                  dir_ +
                  "/hang' ]; then exec sleep 30; fi\n"
                  "printf 3\n",
              /*executable=*/true);
    options_.mode = KubernetesMode::kKubectl;
    options_.kubectl = dir_ + "/kubectl";
    options_.k8s_namespace = "prod";
    options_.name = "llama";
    options_.decode = "VllmDecodeWorker";
  }

  void Make() {
    auto c = KubernetesConnector::Create(io_, options_);
    ASSERT_TRUE(c.ok()) << c.status().message();
    connector_ = std::move(*c);
  }

  template <typename T>
  void RunUntil(const std::optional<T>& ready) {
    io_.restart();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!ready.has_value() && std::chrono::steady_clock::now() < deadline) {
      io_.run_one_for(std::chrono::milliseconds(100));
    }
  }

  Status Set(int n) {
    std::optional<Status> got;
    connector_->SetReplicas(WorkerRole::kDecode, n, [&](Status s) { got = std::move(s); });
    EXPECT_FALSE(got.has_value());
    RunUntil(got);
    EXPECT_TRUE(got.has_value()) << "no result within 10 s";
    return got.value_or(Internal("no result"));
  }

  std::vector<std::string> Argv() {
    std::vector<std::string> out;
    std::istringstream in(ReadText(dir_ + "/argv"));
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

  boost::asio::io_context io_;
  std::string dir_;
  KubernetesConnectorOptions options_;
  std::unique_ptr<KubernetesConnector> connector_;
};

TEST_F(KubectlModeTest, RunsKubectlPatchWithTheMergePatch) {
  Make();
  ASSERT_TRUE(Set(4).ok());
  EXPECT_EQ(Argv(),
            (std::vector<std::string>{
                "patch", "dynamographdeployments.nvidia.com", "llama", "-n", "prod", "--type",
                "merge", "-p", R"({"spec":{"services":{"VllmDecodeWorker":{"replicas":4}}}})"}));
  options_.kind = KubernetesKind::kDeployment;
  options_.decode = "llama-decode-1";
  Make();
  ASSERT_TRUE(Set(2).ok());
  EXPECT_EQ(Argv(),
            (std::vector<std::string>{"patch", "deployment", "llama-decode-1", "-n", "prod",
                                      "--type", "merge", "-p", R"({"spec":{"replicas":2}})"}));
}

TEST_F(KubectlModeTest, AFailureCarriesKubectlsStderr) {
  Make();
  WriteFile(dir_ + "/fail", "");
  const Status s = Set(4);
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_EQ(s.message(),
            "scaling DynamoGraphDeployment prod/llama service VllmDecodeWorker: " + dir_ +
                "/kubectl patch dynamographdeployments.nvidia.com llama -n prod --type merge -p "
                "'{\"spec\":{\"services\":{\"VllmDecodeWorker\":{\"replicas\":4}}}}': exit status "
                "1: Error from server (NotFound): dynamographdeployments.nvidia.com \"llama\" not "
                "found");
}

TEST_F(KubectlModeTest, ReadsReplicasWithJsonpath) {
  Make();
  std::optional<StatusOr<int>> got;
  connector_->GetReplicas(WorkerRole::kDecode, [&](StatusOr<int> n) { got = std::move(n); });
  RunUntil(got);
  ASSERT_TRUE(got.has_value() && got->ok()) << (got ? got->status().message() : "no result");
  EXPECT_EQ(**got, 3);
  EXPECT_EQ(Argv(), (std::vector<std::string>{
                        "get", "dynamographdeployments.nvidia.com", "llama", "-n", "prod", "-o",
                        "jsonpath={.spec.services.VllmDecodeWorker.replicas}"}));
}

TEST_F(KubectlModeTest, AHungKubectlIsKilledAtTheTimeout) {
  options_.timeout = Duration::Millis(300);
  Make();
  WriteFile(dir_ + "/hang", "");
  const Status s = Set(4);
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_NE(s.message().find("no result within 0.3 s (killed)"), std::string::npos) << s.message();
}

TEST_F(KubectlModeTest, DestroyingTheConnectorKillsARunningKubectl) {
  Make();
  WriteFile(dir_ + "/hang", "");
  std::optional<Status> got;
  connector_->SetReplicas(WorkerRole::kDecode, 4, [&](Status s) { got = std::move(s); });
  // Wait until kubectl runs (it wrote its argv) before pulling the connector away.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (ReadText(dir_ + "/argv").empty() && std::chrono::steady_clock::now() < deadline) {
    io_.restart();
    io_.run_one_for(std::chrono::milliseconds(20));
  }
  const auto start = std::chrono::steady_clock::now();
  connector_.reset();  // kills sh and kubectl (sleep 30), joins the watcher
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  RunUntil(got);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->code(), StatusCode::kIoError);
}

}  // namespace
}  // namespace dynamo::planner
