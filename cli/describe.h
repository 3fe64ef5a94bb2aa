#pragma once
// `dynamo-sim describe model|gpu|workload|cluster`: loads one thing and prints what we know of
// it, for people (aligned text) or programs (--json).

#include <string>

#include "core/status.h"
#include "core/workload/workload.h"

namespace dynamo::cli {

struct DescribeModelArgs {
  std::string model;
  std::string dtype = "bf16";  // weights
  std::string kv_dtype = "bf16";
  int tp = 1, pp = 1, ep = 1;
  bool json = false;
};
struct DescribeWorkloadArgs {
  std::string workload;
  WorkloadOverrides overrides;
  bool json = false;
};
struct DescribeClusterArgs {
  std::string gpu;
  int nodes = 1;
  int gpus_per_node = 0;
  bool json = false;
};

// Each prints to stdout and returns the error for main() to report.
Status DescribeModel(const DescribeModelArgs& args);
Status DescribeGpu(const std::string& gpu, bool json);
Status DescribeWorkload(const DescribeWorkloadArgs& args);
Status DescribeCluster(const DescribeClusterArgs& args);

}  // namespace dynamo::cli
