#include "configurator/sweep_job_emitter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace dynamo::configurator {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> Words(std::string_view s) {
  auto w = SplitShellWords(s);
  EXPECT_TRUE(w.ok()) << w.status().message();
  return w.ok() ? *w : std::vector<std::string>{};
}

TEST(SplitShellWordsTest, QuotingLikeAShell) {
  EXPECT_THAT(Words("  --a 1\t--b\n2  "), ElementsAre("--a", "1", "--b", "2"));
  EXPECT_THAT(Words("--w '/x/my trace.jsonl'"), ElementsAre("--w", "/x/my trace.jsonl"));
  EXPECT_THAT(Words(R"(--w "a \"b\" \\ \$c \n")"), ElementsAre("--w", R"(a "b" \ $c \n)"));
  EXPECT_THAT(Words(R"(a\ b c\'d)"), ElementsAre("a b", "c'd"));
  EXPECT_THAT(Words(R"(x'y'"z" '' "")"), ElementsAre("xyz", "", ""));
  EXPECT_THAT(Words(""), ElementsAre());
  EXPECT_EQ(SplitShellWords("--a 'open").status().message(), "unterminated ' quote at character 5");
  EXPECT_EQ(SplitShellWords("--a \"open").status().message(),
            "unterminated \" quote at character 5");
  EXPECT_EQ(SplitShellWords("x \\").status().message(), "a trailing backslash escapes nothing");
}

TEST(ParseSweepArgsTest, RejectsShardOutAndEmpty) {
  EXPECT_EQ(ParseSweepArgs("--gpus 8 --shard 0/2").status().message(),
            "--sweep-args \"--gpus 8 --shard 0/2\": contains --shard; the job sets --shard "
            "$(JOB_COMPLETION_INDEX)/N itself, one shard per completion index; remove it and "
            "choose N with --shards");
  EXPECT_EQ(ParseSweepArgs("--out=/tmp/x").status().message(),
            "--sweep-args \"--out=/tmp/x\": contains --out=/tmp/x; the job writes shard i to "
            "/results/shard-i on the claim of --pvc; remove it");
  EXPECT_THAT(ParseSweepArgs("  ").status().message(), HasSubstr("--sweep-args: missing;"));
  EXPECT_THAT(ParseSweepArgs("--a 'x").status().message(),
              HasSubstr("unterminated ' quote at character 5"));
  // Flags that merely start with the same letters are fine.
  EXPECT_TRUE(ParseSweepArgs("--outfile x --sharding y").ok());
}

DeployOptions Options() {
  DeployOptions o;
  o.target = DeployTarget::kK8sSweep;
  o.name = "sw";
  o.image = "img:2";
  o.shards = 3;
  o.sweep_args = "--gpus 16 --workload '/results/in/t $(x).jsonl'";
  return o;
}

TEST(SweepJobEmitterTest, IndexedJob) {
  auto jobs = BuildSweepJobs(Options());
  ASSERT_TRUE(jobs.ok()) << jobs.status().message();
  const YamlNode* spec = jobs->shard_job.Find("spec");
  EXPECT_EQ(spec->Find("completionMode")->string_value(), "Indexed");
  EXPECT_EQ(spec->Find("completions")->int_value(), 3);
  EXPECT_EQ(spec->Find("parallelism")->int_value(), 3);
  const YamlNode* pod = spec->Find("template")->Find("spec");
  EXPECT_EQ(pod->Find("restartPolicy")->string_value(), "Never");
  const YamlNode& c = pod->Find("containers")->items()[0];
  std::vector<std::string> args;
  for (const YamlNode& a : c.Find("args")->items()) args.push_back(a.string_value());
  // A user's literal "$(" is escaped so Kubernetes leaves it alone.
  EXPECT_THAT(args, ElementsAre("sweep", "--gpus", "16", "--workload", "/results/in/t $$(x).jsonl",
                                "--shard", "$(JOB_COMPLETION_INDEX)/3", "--out",
                                "/results/shard-$(JOB_COMPLETION_INDEX)", "--no-progress"));
  EXPECT_EQ(pod->Find("volumes")
                ->items()[0]
                .Find("persistentVolumeClaim")
                ->Find("claimName")
                ->string_value(),
            "dynamo-sweep-results");
  const std::string merge = EmitYaml(jobs->merge_job);
  EXPECT_THAT(merge, HasSubstr("exec dynamo-sim merge /results/shard-* --out /results/merged"));
  EXPECT_THAT(merge, HasSubstr("name: sw-merge\n"));
  EXPECT_EQ(jobs->pvc.Find("kind")->string_value(), "PersistentVolumeClaim");
}

}  // namespace
}  // namespace dynamo::configurator
