#pragma once
// The `k8s-sweep` target: a topology sweep (`dynamo-sim sweep`) split over a Kubernetes Indexed
// Job. Completion index i of N runs
//   dynamo-sim sweep ARGS --shard i/N --out /results/shard-i --no-progress
// (i is 0-based, as --shard expects), with /results a PersistentVolumeClaim shared by all
// shards; a second Job, applied once the first completes, runs
//   dynamo-sim merge /results/shard-* --out /results/merged
// Files: sweep-job.yaml, merge-job.yaml, pvc.yaml (creates the claim; skip it for an existing
// one) and README.md.
#include <string>
#include <string_view>
#include <vector>

#include "configurator/deploy_target.h"
#include "configurator/generated_files.h"
#include "configurator/yaml_writer.h"

namespace dynamo::configurator {

inline constexpr std::string_view kSweepResultsDir = "/results";

// Splits --sweep-args into words the way a POSIX shell would without expansions: blanks
// separate words; '...' is literal; "..." keeps \" \\ \$ \` escapes; a backslash outside quotes
// escapes the next character. Errors: an unterminated quote or a trailing backslash.
StatusOr<std::vector<std::string>> SplitShellWords(std::string_view text);

// The sweep's words, checked: not empty, no --shard or --out (the job sets both per shard).
// Errors name --sweep-args, the offending flag and the fix.
StatusOr<std::vector<std::string>> ParseSweepArgs(std::string_view sweep_args);

struct SweepJobs {
  YamlNode shard_job;  // Indexed Job
  YamlNode merge_job;
  YamlNode pvc;
};
// Preconditions: opts.name, opts.image filled. Errors: those of ParseSweepArgs.
StatusOr<SweepJobs> BuildSweepJobs(const DeployOptions& opts);

// sweep-job.yaml, merge-job.yaml, pvc.yaml and README.md.
StatusOr<std::vector<GeneratedFile>> EmitK8sSweepTarget(const DeployOptions& opts);

}  // namespace dynamo::configurator
