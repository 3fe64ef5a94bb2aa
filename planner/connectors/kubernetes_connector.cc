#include "planner/connectors/kubernetes_connector.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <utility>

#include "core/check.h"
#include "core/file_io.h"

extern char** environ;

namespace dynamo::planner {
namespace {

using Json = nlohmann::json;

constexpr size_t kMaxResponseBytes = 1 << 20;  // API answers and kubectl stdout
constexpr size_t kMaxStderrBytes = 16 << 10;
constexpr size_t kMaxMessageChars = 400;  // of a body or stderr quoted in an error
constexpr size_t kMaxLabel = 63, kMaxSubdomain = 253;
constexpr auto kGraceAfterKill = std::chrono::seconds(2);

constexpr std::string_view kDgdGroupPath = "/apis/nvidia.com/v1alpha1";
constexpr std::string_view kDgdResource = "dynamographdeployments";
constexpr std::string_view kDgdKubectlResource = "dynamographdeployments.nvidia.com";

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }

// [a-z0-9]([-a-z0-9]*[a-z0-9])?, or with upper case letters too.
bool IsLabel(std::string_view s, bool upper_ok) {
  auto alnum = [&](char c) { return upper_ok ? IsAlnum(c) : IsLowerAlnum(c); };
  if (s.empty() || s.size() > kMaxLabel || !alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return alnum(c) || c == '-'; });
}

// Labels joined by '.', at most 253 characters.
bool IsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > kMaxSubdomain) return false;
  size_t start = 0;
  for (;;) {
    const size_t dot = s.find('.', start);
    if (!IsLabel(s.substr(start, dot - start), false)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  return s;
}

// `s` trimmed and cut to kMaxMessageChars, for quoting in a message.
std::string Clip(std::string_view s) {
  s = Trim(s);
  if (s.size() <= kMaxMessageChars) return std::string(s);
  return std::string(s.substr(0, kMaxMessageChars)) + "...";
}

std::string SecondsText(Duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", d.seconds());
  return buf;
}

std::string_view RoleOption(WorkerRole role) {
  switch (role) {
    case WorkerRole::kAggregated:
      return "agg";
    case WorkerRole::kPrefill:
      return "prefill";
    case WorkerRole::kDecode:
      return "decode";
  }
  return "agg";
}

// The `message` of a Kubernetes Status object, else the body itself (clipped).
std::string ServerMessage(const std::string& body) {
  const Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object()) {
    auto it = j.find("message");
    if (it != j.end() && it->is_string()) return Clip(it->get<std::string>());
  }
  return body.empty() ? std::string("(empty body)") : Clip(body);
}

std::string ShellWords(const std::string& binary, const std::vector<std::string>& args) {
  std::string out = binary;
  for (const std::string& a : args) {
    const bool plain = !a.empty() && std::all_of(a.begin(), a.end(), [](char c) {
      return IsAlnum(c) || std::strchr("-_./=:,", c) != nullptr;
    });
    out += " " + (plain ? a : "'" + a + "'");
  }
  return out;
}

// A file that exists and may be executed.
bool Executable(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

StatusOr<std::string> FindKubectl(const std::string& kubectl) {
  if (kubectl.empty()) {
    return InvalidArgument(
        "kubernetes connector: kubectl '' is empty; pass the kubectl binary "
        "(a path or a name on PATH)");
  }
  if (kubectl.find('/') != std::string::npos) {
    if (!Executable(kubectl)) {
      return NotFound("kubernetes connector: kubectl '" + kubectl +
                      "' is not an executable file; install kubectl or pass its path");
    }
    return kubectl;
  }
  const char* path = std::getenv("PATH");
  const std::string dirs = path ? path : "";
  size_t start = 0;
  for (;;) {
    const size_t colon = dirs.find(':', start);
    std::string dir = dirs.substr(start, colon - start);
    if (dir.empty()) dir = ".";
    const std::string candidate = dir + "/" + kubectl;
    if (Executable(candidate)) return candidate;
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return NotFound("kubernetes connector: kubectl '" + kubectl +
                  "' not found on PATH; install kubectl or pass its path");
}

// What an API call is about, captured by value so that a call outliving the connector does not
// touch it.
struct CallContext {
  std::string what;     // "PATCH http://127.0.0.1:8001/apis/..."
  std::string subject;  // "dynamographdeployment ns/name (service X)"
  std::string not_found_hint, rbac_hint;
  std::string origin;  // http://HOST:PORT for connection errors
  Duration timeout;
};

}  // namespace

std::string_view KubernetesKindName(KubernetesKind kind) {
  return kind == KubernetesKind::kDeployment ? "deployment" : "dgd";
}

std::string_view KubernetesModeName(KubernetesMode mode) {
  return mode == KubernetesMode::kKubectl ? "kubectl" : "api";
}

StatusOr<KubernetesKind> ParseKubernetesKind(std::string_view name) {
  if (name == "dgd") return KubernetesKind::kDynamoGraphDeployment;
  if (name == "deployment") return KubernetesKind::kDeployment;
  return InvalidArgument("kubernetes connector: kind '" + std::string(name) +
                         "' is not one of dgd (a DynamoGraphDeployment's services), deployment "
                         "(plain Deployments, one per pool)");
}

StatusOr<KubernetesMode> ParseKubernetesMode(std::string_view name) {
  if (name == "api") return KubernetesMode::kApiServer;
  if (name == "kubectl") return KubernetesMode::kKubectl;
  return InvalidArgument("kubernetes connector: mode '" + std::string(name) +
                         "' is not one of api (HTTP to the API server or kubectl proxy), kubectl "
                         "(runs kubectl patch)");
}

StatusOr<std::string> DgdServiceName(std::string_view backend, WorkerRole role) {
  std::string prefix;
  if (backend == "vllm") {
    prefix = "Vllm";
  } else if (backend == "sglang") {
    prefix = "Sglang";
  } else if (backend == "trtllm") {
    prefix = "Trtllm";
  } else {
    return InvalidArgument("kubernetes connector: backend '" + std::string(backend) +
                           "' is not one of vllm, sglang, trtllm");
  }
  switch (role) {
    case WorkerRole::kAggregated:
      return prefix + "Worker";
    case WorkerRole::kPrefill:
      return prefix + "PrefillWorker";
    case WorkerRole::kDecode:
      return prefix + "DecodeWorker";
  }
  return prefix + "Worker";
}

std::string WorkerDeploymentName(const Plan& plan, std::string_view name, WorkerRole role) {
  for (size_t i = 0; i < plan.workers.size(); ++i) {
    if (plan.workers[i].role == role) {
      return std::string(name) + "-" + std::string(WorkerRoleName(role)) + "-" + std::to_string(i);
    }
  }
  return "";
}

Status FillTargetsForPlan(const Plan& plan, std::string_view backend,
                          KubernetesConnectorOptions& options) {
  for (WorkerRole role : {WorkerRole::kAggregated, WorkerRole::kPrefill, WorkerRole::kDecode}) {
    const bool present = std::any_of(plan.workers.begin(), plan.workers.end(),
                                     [&](const WorkerPoolSpec& w) { return w.role == role; });
    std::string target;
    if (present) {
      if (options.kind == KubernetesKind::kDynamoGraphDeployment) {
        ASSIGN_OR_RETURN(target, DgdServiceName(backend, role));
      } else {
        target = WorkerDeploymentName(plan, options.name, role);
      }
    }
    (role == WorkerRole::kAggregated ? options.agg
     : role == WorkerRole::kPrefill  ? options.prefill
                                     : options.decode) = std::move(target);
  }
  return Status::Ok();
}

// One kubectl run: the child (sh -> kubectl) and the thread that watches it.
struct KubernetesConnector::Child {
  std::thread thread;
  std::mutex mu;
  pid_t pid = -1;                     // sh, leader of its own process group
  bool exited = false;                // every pipe hit EOF: the group is gone (guarded by mu)
  std::atomic<bool> finished{false};  // the thread is about to return
};

StatusOr<std::unique_ptr<KubernetesConnector>> KubernetesConnector::Create(
    boost::asio::io_context& io, KubernetesConnectorOptions options) {
  const std::string where = "kubernetes connector: ";
  if (!IsLabel(options.k8s_namespace, false)) {
    return InvalidArgument(where + "namespace '" + options.k8s_namespace +
                           "' is not a DNS-1123 label (lower-case letters, digits and '-', "
                           "starting and ending with a letter or digit, at most 63 characters)");
  }
  const bool dgd = options.kind == KubernetesKind::kDynamoGraphDeployment;
  if (dgd && !IsSubdomain(options.name)) {
    return InvalidArgument(where + "name '" + options.name +
                           "' is not a DNS-1123 subdomain (lower-case letters, digits, '-' and "
                           "'.', at most 253 characters); pass the DynamoGraphDeployment's "
                           "metadata.name");
  }
  bool any = false;
  for (WorkerRole role : {WorkerRole::kAggregated, WorkerRole::kPrefill, WorkerRole::kDecode}) {
    const std::string& t = role == WorkerRole::kAggregated ? options.agg
                           : role == WorkerRole::kPrefill  ? options.prefill
                                                           : options.decode;
    if (t.empty()) continue;
    any = true;
    const std::string option(RoleOption(role));
    if (dgd && !IsLabel(t, true)) {
      return InvalidArgument(where + option + " service '" + t +
                             "' is not a DGD service name (letters, digits and '-', starting and "
                             "ending with a letter or digit, at most 63 characters), e.g. "
                             "VllmDecodeWorker");
    }
    if (!dgd && !IsSubdomain(t)) {
      return InvalidArgument(where + option + " deployment '" + t +
                             "' is not a DNS-1123 subdomain (lower-case letters, digits, '-' and "
                             "'.', at most 253 characters), e.g. my-plan-decode-1");
    }
  }
  if (!any) {
    return InvalidArgument(where + "no pool to scale: set the " +
                           std::string(dgd ? "DGD service" : "Deployment") +
                           " of at least one role (agg, or prefill and decode)");
  }
  if (options.timeout <= Duration::Zero()) {
    return InvalidArgument(where + "timeout " + SecondsText(options.timeout) +
                           " is not positive; use e.g. 10 s");
  }
  auto c = std::make_unique<KubernetesConnector>(PrivateKey{}, io, std::move(options));
  const KubernetesConnectorOptions& o = c->options_;
  if (o.mode == KubernetesMode::kKubectl) {
    if (!o.token_file.empty()) {
      return InvalidArgument(where + "token file '" + o.token_file +
                             "' is for the api mode; kubectl uses its kubeconfig (KUBECONFIG)");
    }
    ASSIGN_OR_RETURN(c->kubectl_path_, FindKubectl(o.kubectl));
    return c;
  }
  auto url = loadgen::ParseHttpUrl(o.api_url);
  if (!url.ok()) {
    return url.status().WithContext(
        where +
        "api url (for TLS or in-cluster credentials run `kubectl proxy` and use "
        "http://127.0.0.1:8001, or use the kubectl mode)");
  }
  c->url_ = *url;
  ASSIGN_OR_RETURN(c->endpoints_, loadgen::ResolveHttpUrl(c->url_));
  if (!o.token_file.empty()) {
    auto text = ReadFile(o.token_file);
    if (!text.ok()) return text.status().WithContext(where + "token file");
    c->token_ = std::string(Trim(*text));
    if (c->token_.empty() || c->token_.find_first_of(" \t\r\n") != std::string::npos) {
      return InvalidArgument(where + "token file '" + o.token_file +
                             "' does not hold one bearer token (it is empty or has several "
                             "words); write the token alone in it");
    }
  }
  return c;
}

KubernetesConnector::KubernetesConnector(PrivateKey, boost::asio::io_context& io,
                                         KubernetesConnectorOptions options)
    : io_(io), options_(std::move(options)) {}

KubernetesConnector::~KubernetesConnector() {
  for (auto& child : children_) {
    {
      std::lock_guard<std::mutex> lock(child->mu);
      if (!child->exited && child->pid > 0) ::kill(-child->pid, SIGKILL);
    }
    if (child->thread.joinable()) child->thread.join();
  }
}

const std::string& KubernetesConnector::Target(WorkerRole role) const {
  switch (role) {
    case WorkerRole::kAggregated:
      return options_.agg;
    case WorkerRole::kPrefill:
      return options_.prefill;
    case WorkerRole::kDecode:
      return options_.decode;
  }
  return options_.agg;
}

std::string KubernetesConnector::Subject(WorkerRole role) const {
  const std::string& ns = options_.k8s_namespace;
  if (options_.kind == KubernetesKind::kDynamoGraphDeployment) {
    return "DynamoGraphDeployment " + ns + "/" + options_.name + " service " + Target(role);
  }
  return "Deployment " + ns + "/" + Target(role);
}

Status KubernetesConnector::TargetMissing(WorkerRole role) const {
  const std::string option(RoleOption(role));
  return InvalidArgument("kubernetes connector: no " +
                         std::string(options_.kind == KubernetesKind::kDynamoGraphDeployment
                                         ? "DGD service"
                                         : "Deployment") +
                         " for the " + option + " pool; set the " + option + " target");
}

std::string KubernetesConnector::ResourcePath(WorkerRole role) const {
  const std::string& t = Target(role);
  if (t.empty()) return "";
  const std::string ns = "/namespaces/" + options_.k8s_namespace;
  if (options_.kind == KubernetesKind::kDynamoGraphDeployment) {
    return std::string(kDgdGroupPath) + ns + "/" + std::string(kDgdResource) + "/" + options_.name;
  }
  return "/apis/apps/v1" + ns + "/deployments/" + t + "/scale";
}

std::string KubernetesConnector::PatchBody(WorkerRole role, int replicas) const {
  Json patch;
  if (options_.kind == KubernetesKind::kDynamoGraphDeployment) {
    patch["spec"]["services"][Target(role)]["replicas"] = replicas;
  } else {
    patch["spec"]["replicas"] = replicas;
  }
  return patch.dump();
}

std::vector<std::string> KubernetesConnector::KubectlPatchArgs(WorkerRole role,
                                                               int replicas) const {
  const bool dgd = options_.kind == KubernetesKind::kDynamoGraphDeployment;
  return {"patch",
          dgd ? std::string(kDgdKubectlResource) : std::string("deployment"),
          dgd ? options_.name : Target(role),
          "-n",
          options_.k8s_namespace,
          "--type",
          "merge",
          "-p",
          PatchBody(role, replicas)};
}

std::string KubernetesConnector::Describe() const {
  std::string targets;
  for (WorkerRole role : {WorkerRole::kAggregated, WorkerRole::kPrefill, WorkerRole::kDecode}) {
    if (Target(role).empty()) continue;
    targets += (targets.empty() ? "" : ", ") + std::string(RoleOption(role)) + "=" + Target(role);
  }
  const bool dgd = options_.kind == KubernetesKind::kDynamoGraphDeployment;
  const std::string object =
      dgd ? "DynamoGraphDeployment " + options_.k8s_namespace + "/" + options_.name + " services "
          : "Deployments in namespace " + options_.k8s_namespace + " ";
  const std::string via = options_.mode == KubernetesMode::kKubectl
                              ? "kubectl (" + kubectl_path_ + ")"
                              : url_.origin + url_.base_path + (token_.empty() ? "" : " (token)");
  return "kubernetes " + object + targets + " via " + via;
}

namespace {

Status MapApiResult(const CallContext& ctx, int status, const std::string& body,
                    const Status& failure) {
  if (!failure.ok()) return failure;
  if (status >= 200 && status < 300) return Status::Ok();
  const std::string head = ctx.what + ": HTTP " + std::to_string(status) + ": ";
  const std::string msg = ServerMessage(body);
  switch (status) {
    case 404:
      return NotFound(head + msg + "; " + ctx.not_found_hint);
    case 401:
      return FailedPrecondition(head + msg +
                                "; the API server rejected the credentials: pass a valid token "
                                "file, or run `kubectl proxy` and use http://127.0.0.1:8001");
    case 403:
      return FailedPrecondition(head + msg + "; " + ctx.rbac_hint);
    case 409:
      return FailedPrecondition(head + msg + " (conflict on " + ctx.subject + ")");
    case 422:
      return InvalidArgument(head + msg + " (the API server refused the change to " + ctx.subject +
                             ")");
    default:
      return IoError(head + msg);
  }
}

}  // namespace

void KubernetesConnector::Call(loadgen::HttpMethod method, std::string path, std::string body,
                               std::function<void(ApiResult)> done) {
  loadgen::HttpRequest request;
  request.method = method;
  request.target = url_.base_path + path;
  request.host = url_.HostHeader();
  request.headers.emplace_back("Accept", "application/json");
  if (method == loadgen::HttpMethod::kPatch) {
    request.headers.emplace_back("Content-Type", "application/merge-patch+json");
  }
  if (!token_.empty()) request.headers.emplace_back("Authorization", "Bearer " + token_);
  request.body = std::move(body);
  const std::string method_name = method == loadgen::HttpMethod::kPatch  ? "PATCH"
                                  : method == loadgen::HttpMethod::kPost ? "POST"
                                                                         : "GET";
  const std::string what = method_name + " " + url_.origin + request.target;
  const std::string origin = url_.origin;
  const Duration timeout = options_.timeout;
  // Shared by the callbacks of one call (reason: HttpCallbacks are copyable std::functions).
  auto result = std::make_shared<ApiResult>();
  loadgen::HttpCallbacks callbacks;
  callbacks.on_head = [result](int status) { result->status = status; };
  callbacks.on_body = [result](std::string_view bytes) {
    if (result->body.size() + bytes.size() > kMaxResponseBytes) return false;
    result->body.append(bytes);
    return true;
  };
  callbacks.on_done = [result, what, origin, timeout,
                       done = std::move(done)](const loadgen::HttpOutcome& outcome) {
    switch (outcome.failure) {
      case loadgen::HttpFailure::kNone:
        break;
      case loadgen::HttpFailure::kConnect:
        result->failure =
            IoError("cannot reach the Kubernetes API at " + origin + ": " + outcome.message +
                    "; is kubectl proxy running (kubectl proxy --port 8001)?");
        break;
      case loadgen::HttpFailure::kTimeout:
        result->failure = IoError(what + ": no complete response within " + SecondsText(timeout));
        break;
      case loadgen::HttpFailure::kIo:
      case loadgen::HttpFailure::kAborted:
        result->failure = IoError(what + ": " + outcome.message);
        break;
    }
    done(std::move(*result));
  };
  loadgen::HttpCall::Start(io_, endpoints_, std::move(request), std::move(callbacks),
                           options_.timeout);
}

void KubernetesConnector::SetReplicas(WorkerRole role, int replicas,
                                      std::function<void(Status)> done) {
  auto post_error = [&](Status s) {
    boost::asio::post(io_, [done = std::move(done), s = std::move(s)]() { done(s); });
  };
  if (Target(role).empty()) return post_error(TargetMissing(role));
  if (replicas < 0) {
    return post_error(InvalidArgument("kubernetes connector: " + std::to_string(replicas) + " " +
                                      std::string(RoleOption(role)) +
                                      " replicas asked; replicas must be >= 0"));
  }
  const bool dgd = options_.kind == KubernetesKind::kDynamoGraphDeployment;
  const std::string subject = Subject(role);
  if (options_.mode == KubernetesMode::kKubectl) {
    std::vector<std::string> args = KubectlPatchArgs(role, replicas);
    RunKubectl(std::move(args), [done = std::move(done), subject](Status s, std::string) {
      done(s.ok() ? s : s.WithContext("scaling " + subject));
    });
    return;
  }
  CallContext ctx;
  ctx.subject = subject;
  const std::string path = ResourcePath(role);
  ctx.what = "PATCH " + url_.origin + url_.base_path + path;
  ctx.not_found_hint =
      dgd ? "is the name '" + options_.name + "' in namespace '" + options_.k8s_namespace +
                "' right (kubectl get dynamographdeployments -n " + options_.k8s_namespace +
                "), and is the DynamoGraphDeployment CRD installed (kubectl get crd "
                "dynamographdeployments.nvidia.com)?"
          : "is the Deployment name '" + Target(role) + "' in namespace '" +
                options_.k8s_namespace + "' right (kubectl get deployments -n " +
                options_.k8s_namespace + ")?";
  ctx.rbac_hint = "RBAC: the service account needs " +
                  std::string(dgd ? "get and patch on dynamographdeployments (API group nvidia.com)"
                                  : "get and patch on deployments/scale (API group apps)") +
                  " in namespace " + options_.k8s_namespace;
  ctx.timeout = options_.timeout;
  Call(loadgen::HttpMethod::kPatch, path, PatchBody(role, replicas),
       [ctx = std::move(ctx), done = std::move(done)](ApiResult r) {
         done(MapApiResult(ctx, r.status, r.body, r.failure));
       });
}

namespace {

// Replicas in a GET answer: DGD spec.services.<service>.replicas, or a Scale's spec.replicas
// (omitted when 0).
StatusOr<int> ParseReplicas(const std::string& body, bool dgd, const std::string& service,
                            const std::string& what) {
  const Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return IoError(what + ": the answer is not a JSON object");
  const Json* spec = j.contains("spec") && j["spec"].is_object() ? &j["spec"] : nullptr;
  if (spec == nullptr) return IoError(what + ": the answer has no spec");
  const Json* node = spec;
  if (dgd) {
    if (!spec->contains("services") || !(*spec)["services"].contains(service)) {
      return NotFound(what + ": spec.services has no service '" + service +
                      "'; check the service name (kubectl get dgd -o yaml)");
    }
    node = &(*spec)["services"][service];
  }
  if (!node->contains("replicas")) {
    if (!dgd) return 0;
    return IoError(what + ": spec.services." + service + " has no replicas");
  }
  const Json& r = (*node)["replicas"];
  if (!r.is_number_integer()) return IoError(what + ": replicas is not an integer");
  return r.get<int>();
}

}  // namespace

void KubernetesConnector::GetReplicas(WorkerRole role, std::function<void(StatusOr<int>)> done) {
  if (Target(role).empty()) {
    boost::asio::post(io_, [done = std::move(done), s = TargetMissing(role)]() { done(s); });
    return;
  }
  const bool dgd = options_.kind == KubernetesKind::kDynamoGraphDeployment;
  const std::string service = Target(role);
  if (options_.mode == KubernetesMode::kKubectl) {
    std::vector<std::string> args = {
        "get",
        dgd ? std::string(kDgdKubectlResource) : std::string("deployment"),
        dgd ? options_.name : Target(role),
        "-n",
        options_.k8s_namespace,
        "-o",
        dgd ? "jsonpath={.spec.services." + service + ".replicas}"
            : std::string("jsonpath={.spec.replicas}")};
    const std::string subject = Subject(role);
    RunKubectl(std::move(args), [done = std::move(done), subject](Status s, std::string out) {
      if (!s.ok()) return done(s.WithContext("reading replicas of " + subject));
      const std::string text = Clip(out);
      int value = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
        return done(IoError("reading replicas of " + subject + ": kubectl printed '" + text +
                            "', not a replica count"));
      }
      done(value);
    });
    return;
  }
  CallContext ctx;
  ctx.subject = Subject(role);
  const std::string path = ResourcePath(role);
  ctx.what = "GET " + url_.origin + url_.base_path + path;
  ctx.not_found_hint = "is the name right, and is the CRD installed?";
  ctx.rbac_hint = "RBAC: the service account needs get on " +
                  std::string(dgd ? "dynamographdeployments (API group nvidia.com)"
                                  : "deployments/scale (API group apps)") +
                  " in namespace " + options_.k8s_namespace;
  Call(loadgen::HttpMethod::kGet, path, "",
       [ctx = std::move(ctx), dgd, service, done = std::move(done)](ApiResult r) {
         Status s = MapApiResult(ctx, r.status, r.body, r.failure);
         if (!s.ok()) return done(s);
         done(ParseReplicas(r.body, dgd, service, ctx.what));
       });
}

namespace {

struct KubectlRun {
  std::string out, err, status_text;
  bool timed_out = false;
};

// Reads the child's stdout, stderr and status pipes until EOF on all three, killing the
// process group at the deadline (and giving up kGraceAfterKill later, should a process that
// left the group hold a pipe). Closes the fds.
KubectlRun Drain(std::array<int, 3> fds, std::chrono::steady_clock::time_point deadline,
                 const std::function<void()>& kill_group) {
  KubectlRun run;
  std::string* sinks[3] = {&run.out, &run.err, &run.status_text};
  const size_t caps[3] = {kMaxResponseBytes, kMaxStderrBytes, 64};
  bool open[3] = {true, true, true};
  char buf[4096];
  while (open[0] || open[1] || open[2]) {
    pollfd p[3];
    int n = 0;
    int index[3];
    for (int i = 0; i < 3; ++i) {
      if (!open[i]) continue;
      p[n] = pollfd{fds[static_cast<size_t>(i)], POLLIN, 0};
      index[n++] = i;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    const int ready =
        ::poll(p, static_cast<nfds_t>(n), static_cast<int>(std::max<int64_t>(0, left.count())));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) break;  // cannot happen with valid fds; never spin
    if (ready == 0) {
      if (run.timed_out) break;  // killed, yet a pipe stays open: give up on it
      run.timed_out = true;
      kill_group();
      deadline = std::chrono::steady_clock::now() + kGraceAfterKill;
      continue;
    }
    for (int k = 0; k < n; ++k) {
      if (p[k].revents == 0) continue;
      const int i = index[k];
      const ssize_t got = ::read(fds[static_cast<size_t>(i)], buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        open[i] = false;
        continue;
      }
      std::string& sink = *sinks[i];
      const size_t room = caps[i] - std::min(caps[i], sink.size());
      sink.append(buf, std::min(room, static_cast<size_t>(got)));
    }
  }
  for (int fd : fds) ::close(fd);
  return run;
}

}  // namespace

void KubernetesConnector::RunKubectl(std::vector<std::string> args,
                                     std::function<void(Status, std::string)> done) {
  ReapFinishedChildren();
  const std::string command = ShellWords(options_.kubectl, args);
  auto fail = [&](const std::string& why) {
    boost::asio::post(
        io_, [done = std::move(done), s = IoError(command + ": " + why)]() { done(s, ""); });
  };
  int pipes[3][2];  // stdout, stderr, exit status
  for (int i = 0; i < 3; ++i) {
    if (::pipe2(pipes[i], O_CLOEXEC) != 0) {
      const std::string why = std::string("pipe: ") + std::strerror(errno);
      for (int k = 0; k < i; ++k) {
        ::close(pipes[k][0]);
        ::close(pipes[k][1]);
      }
      return fail(why);
    }
  }
  // sh runs kubectl and writes its exit status on fd 3: even if another part of the process
  // reaps children (waitpid(-1)), the status is not lost.
  std::vector<std::string> argv = {"/bin/sh", "-c", "\"$0\" \"$@\" 3>&-; printf %d $? >&3",
                                   kubectl_path_};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipes[0][1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipes[1][1], 2);
  posix_spawn_file_actions_adddup2(&actions, pipes[2][1], 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, "/bin/sh", &actions, &attr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  for (auto& p : pipes) ::close(p[1]);
  if (rc != 0) {
    for (auto& p : pipes) ::close(p[0]);
    return fail(std::string("cannot start /bin/sh: ") + std::strerror(rc));
  }

  auto child = std::make_unique<Child>();
  child->pid = pid;
  Child* c = child.get();
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::nanoseconds(options_.timeout.nanos());
  const Duration timeout = options_.timeout;
  std::array<int, 3> fds = {pipes[0][0], pipes[1][0], pipes[2][0]};
  // Keeps io.run() from returning while kubectl runs; released after the result is posted.
  auto guard = boost::asio::make_work_guard(io_);
  c->thread = std::thread([c, fds, deadline, timeout, command, done = std::move(done),
                           guard = std::move(guard), &io = io_]() mutable {
    KubectlRun run = Drain(fds, deadline, [c] {
      std::lock_guard<std::mutex> lock(c->mu);
      if (!c->exited) ::kill(-c->pid, SIGKILL);
    });
    {
      std::lock_guard<std::mutex> lock(c->mu);
      c->exited = true;
    }
    ::waitpid(c->pid, nullptr, 0);  // ECHILD when another reaper took it: the pipe told us
    Status s;
    if (run.timed_out) {
      s = IoError(command + ": no result within " + SecondsText(timeout) + " (killed)");
    } else if (run.status_text.empty()) {
      s = IoError(command + ": kubectl was killed before it finished" +
                  (run.err.empty() ? std::string() : ": " + Clip(run.err)));
    } else if (run.status_text != "0") {
      const std::string err = Clip(run.err);
      s = IoError(command + ": exit status " + run.status_text +
                  (err.empty() ? std::string(" (no message on stderr)") : ": " + err));
    }
    boost::asio::post(io, [done = std::move(done), s = std::move(s), out = std::move(run.out)]() {
      done(s, out);
    });
    guard.reset();
    c->finished = true;
  });
  children_.push_back(std::move(child));
}

void KubernetesConnector::ReapFinishedChildren() {
  for (auto it = children_.begin(); it != children_.end();) {
    if ((*it)->finished) {
      (*it)->thread.join();
      it = children_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace dynamo::planner
