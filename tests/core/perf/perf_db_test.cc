#include "core/perf/perf_db.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <set>

#include "tests/core/test_util.h"

namespace dynamo::perf {
namespace {

std::string Fresh(const std::string& name) {
  const std::string path = testing::TempDir() + "/" + name;
  std::remove(path.c_str());
  return path;
}

PerfRow Row(OpShape shape, double us, std::string impl = "") {
  PerfRow r;
  r.shape = shape;
  r.impl = std::move(impl);
  r.timing = {us, us * 0.9, us * 1.2, 10};
  r.provenance = Provenance::kMeasured;
  r.source = "test";
  return r;
}

DeviceInfo Device(const std::string& name) {
  DeviceInfo d;
  d.name = name;
  d.kind = "cpu";
  d.cpu_model = "test cpu";
  d.threads = 2;
  return d;
}

TEST(PerfDbTest, RoundTripsEveryFamilyWithProvenance) {
  const std::string path = Fresh("rt.sqlite");
  auto db = PerfDb::Open(path, PerfDb::Mode::kReadWrite);
  ASSERT_TRUE(db.ok()) << db.status().message();
  EXPECT_EQ(db.value()->schema_version(), kPerfDbSchemaVersion);
  auto id = db.value()->UpsertDevice(Device("cpu:a"));
  ASSERT_TRUE(id.ok());
  const std::vector<PerfRow> rows = {
      Row(GemmShape{DType::kBf16, 16, 4096, 4096}, 12.5),
      Row(AttnContextShape{DType::kBf16, DType::kFp8, 2, 128, 640, 32, 8, 128}, 40),
      Row(AttnDecodeShape{DType::kBf16, DType::kBf16, 64, 2048, 32, 8, 128}, 33),
      Row(MlaContextShape{DType::kBf16, DType::kBf16, 1, 256, 256, 16, 512, 128, 64, 128}, 80),
      Row(MlaDecodeShape{DType::kBf16, DType::kFp8, 32, 4096, 16, 512, 64}, 60),
      Row(CollectiveShape{Collective::kAllReduce, DType::kBf16, 8, 1 << 20}, 27, "custom"),
      Row(TransferShape{TransferKind::kUcx, "rc", 1 << 22}, 90),
  };
  ASSERT_TRUE(db.value()->Begin().ok());
  for (const PerfRow& r : rows) ASSERT_TRUE(db.value()->Insert(id.value(), r).ok());
  ASSERT_TRUE(
      db.value()
          ->InsertHostOverhead(
              id.value(), {HostOverheadKind::kLaunch, {3, 2, 4, 100}, Provenance::kMeasured, "t"})
          .ok());
  ASSERT_TRUE(db.value()->Commit().ok());
  db.value().reset();

  auto ro = PerfDb::Open(path, PerfDb::Mode::kReadOnly);
  ASSERT_TRUE(ro.ok()) << ro.status().message();
  auto back = ro.value()->Rows(id.value());
  ASSERT_TRUE(back.ok()) << back.status().message();
  ASSERT_EQ(back.value().size(), rows.size());
  std::set<std::string> want, got;
  for (const PerfRow& r : rows) want.insert(ShapeKey(r.shape, r.impl));
  for (const PerfRow& r : back.value()) {
    got.insert(ShapeKey(r.shape, r.impl));
    EXPECT_EQ(r.provenance, Provenance::kMeasured);
    EXPECT_EQ(r.timing.samples, 10);
    EXPECT_LT(r.timing.p10_us, r.timing.median_us);
  }
  EXPECT_EQ(want, got);
  auto host = ro.value()->HostOverheads(id.value());
  ASSERT_TRUE(host.ok());
  ASSERT_EQ(host.value().size(), 1u);
  EXPECT_DOUBLE_EQ(host.value()[0].timing.median_us, 3);
}

TEST(PerfDbTest, RollbackLeavesTheDatabaseAsBefore) {
  const std::string path = Fresh("rb.sqlite");
  auto db = PerfDb::Open(path, PerfDb::Mode::kReadWrite).value();
  const int64_t id = db->UpsertDevice(Device("cpu:a")).value();
  ASSERT_TRUE(db->Begin().ok());
  ASSERT_TRUE(db->Insert(id, Row(GemmShape{DType::kFp32, 1, 2, 3}, 1)).ok());
  ASSERT_TRUE(db->Commit().ok());
  ASSERT_TRUE(db->Begin().ok());
  ASSERT_TRUE(db->Insert(id, Row(GemmShape{DType::kFp32, 4, 5, 6}, 1)).ok());
  ASSERT_TRUE(db->Rollback().ok());
  EXPECT_EQ(db->Rows(id).value().size(), 1u);
}

TEST(PerfDbTest, AnUncommittedTransactionIsGoneAfterTheProcessDies) {
  const std::string path = Fresh("crash.sqlite");
  {
    auto db = PerfDb::Open(path, PerfDb::Mode::kReadWrite).value();
    const int64_t id = db->UpsertDevice(Device("cpu:a")).value();
    ASSERT_TRUE(db->Begin().ok());
    ASSERT_TRUE(db->Insert(id, Row(GemmShape{DType::kFp32, 1, 2, 3}, 1)).ok());
    ASSERT_TRUE(db->Commit().ok());
  }
  // A child process writes inside a transaction and dies without committing.
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto db = PerfDb::Open(path, PerfDb::Mode::kReadWrite).value();
    (void)db->Begin();
    (void)db->Insert(1, Row(GemmShape{DType::kFp32, 7, 8, 9}, 1));
    _exit(0);  // no commit, no destructors
  }
  int status = 0;
  waitpid(pid, &status, 0);
  auto db = PerfDb::Open(path, PerfDb::Mode::kReadOnly);
  ASSERT_TRUE(db.ok()) << db.status().message();
  const auto rows = db.value()->Rows(1).value();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(std::get<GemmShape>(rows[0].shape).m, 1);
}

TEST(PerfDbTest, RejectsMissingEmptyGarbageAndForeignFiles) {
  auto missing = PerfDb::Open(Fresh("none.sqlite"), PerfDb::Mode::kReadOnly);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("dynamo-profile run"), std::string::npos);

  const std::string empty = Fresh("empty.sqlite");
  std::ofstream(empty).flush();
  auto e = PerfDb::Open(empty, PerfDb::Mode::kReadOnly);
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(e.status().message().find("empty"), std::string::npos);

  const std::string garbage = Fresh("garbage.sqlite");
  std::ofstream(garbage) << std::string(4096, 'x');
  for (auto mode : {PerfDb::Mode::kReadOnly, PerfDb::Mode::kReadWrite}) {
    auto g = PerfDb::Open(garbage, mode);
    ASSERT_FALSE(g.ok());
    EXPECT_NE(g.status().message().find("not a SQLite database"), std::string::npos)
        << g.status().message();
  }

  const std::string foreign = Fresh("foreign.sqlite");
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(foreign.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "CREATE TABLE users (id INTEGER);", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(raw);
  for (auto mode : {PerfDb::Mode::kReadOnly, PerfDb::Mode::kReadWrite}) {
    auto f = PerfDb::Open(foreign, mode);
    ASSERT_FALSE(f.ok());
    EXPECT_NE(f.status().message().find("not a dynamo performance database"), std::string::npos)
        << f.status().message();
  }
}

TEST(PerfDbTest, NewerSchemaIsRefusedOlderIsUpgraded) {
  const std::string newer = Fresh("newer.sqlite");
  ASSERT_TRUE(PerfDb::Open(newer, PerfDb::Mode::kReadWrite).ok());
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(newer.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "PRAGMA user_version = 99;", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  auto n = PerfDb::Open(newer, PerfDb::Mode::kReadOnly);
  EXPECT_EQ(n.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(n.status().message().find("schema version 99 is newer"), std::string::npos);

  const std::string older = Fresh("older.sqlite");
  ASSERT_TRUE(PerfDb::CreateAtVersionForTest(older, 1).ok());
  auto ro = PerfDb::Open(older, PerfDb::Mode::kReadOnly);
  EXPECT_EQ(ro.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(ro.status().message().find("dynamo-profile upgrade"), std::string::npos);
  auto rw = PerfDb::Open(older, PerfDb::Mode::kReadWrite);
  ASSERT_TRUE(rw.ok()) << rw.status().message();
  EXPECT_EQ(rw.value()->schema_version(), kPerfDbSchemaVersion);
  rw.value().reset();
  EXPECT_TRUE(PerfDb::Open(older, PerfDb::Mode::kReadOnly).ok());
}

TEST(PerfDbTest, BadRowsAreReportedWithTableAndRowid) {
  const std::string path = Fresh("bad.sqlite");
  {
    auto db = PerfDb::Open(path, PerfDb::Mode::kReadWrite).value();
    const int64_t id = db->UpsertDevice(Device("cpu:a")).value();
    ASSERT_TRUE(db->Insert(id, Row(GemmShape{DType::kBf16, 1, 2, 3}, 1)).ok());
    // Values a writer must refuse.
    PerfRow bad = Row(GemmShape{DType::kBf16, 1, 2, 4}, -1);
    EXPECT_EQ(db->Insert(id, bad).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(db->Insert(id, Row(GemmShape{DType::kBf16, 0, 2, 4}, 1)).code(),
              StatusCode::kInvalidArgument);
  }
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "UPDATE gemm SET dtype = 'fp9';", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(raw);
  auto db = PerfDb::Open(path, PerfDb::Mode::kReadOnly).value();
  auto rows = db->Rows(1);
  ASSERT_FALSE(rows.ok());
  EXPECT_NE(rows.status().message().find("gemm row 1"), std::string::npos)
      << rows.status().message();
  EXPECT_NE(rows.status().message().find("fp9"), std::string::npos);
}

TEST(PerfDbTest, DevicesAreFoundByNameOrAsTheOnlyOne) {
  const std::string path = Fresh("dev.sqlite");
  auto db = PerfDb::Open(path, PerfDb::Mode::kReadWrite).value();
  EXPECT_EQ(db->FindDevice("").status().code(), StatusCode::kNotFound);
  const int64_t a = db->UpsertDevice(Device("cpu:a")).value();
  EXPECT_EQ(db->UpsertDevice(Device("cpu:a")).value(), a);
  EXPECT_EQ(db->FindDevice("").value(), a);
  const int64_t b = db->UpsertDevice(Device("cpu:b")).value();
  EXPECT_NE(a, b);
  auto ambiguous = db->FindDevice("");
  EXPECT_NE(ambiguous.status().message().find("--device (cpu:a, cpu:b)"), std::string::npos)
      << ambiguous.status().message();
  EXPECT_EQ(db->FindDevice("cpu:b").value(), b);
  EXPECT_EQ(db->FindDevice("gpu").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace dynamo::perf
