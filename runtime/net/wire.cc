#include "runtime/net/wire.h"

#include <cstring>
#include <iterator>
#include <type_traits>

namespace dynamo::net {
namespace {

enum class Type : uint8_t {
  kAdd = 1,
  kCancel = 2,
  kDrain = 3,
  kHello = 16,
  kStep = 17,
  kKvEvents = 18,
  kRejected = 19,
  kLoad = 20,
  kKvTransferDone = 21,
};

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  template <typename T>
  void Put(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));  // little-endian hosts only (x86-64, aarch64)
    out_.append(b, sizeof(T));
  }
  void Str(const std::string& s) {
    Put<uint32_t>(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }
  void U64s(const std::vector<uint64_t>& v) {
    Put<uint32_t>(static_cast<uint32_t>(v.size()));
    const size_t at = out_.size();
    out_.resize(at + v.size() * sizeof(uint64_t));
    if (!v.empty()) std::memcpy(out_.data() + at, v.data(), v.size() * sizeof(uint64_t));
  }

 private:
  std::string& out_;
};

class Reader {
 public:
  Reader(std::span<const uint8_t> in, const char* what) : in_(in), what_(what) {}
  template <typename T>
  bool Get(T& v) {
    if (in_.size() - pos_ < sizeof(T)) return Fail(sizeof(T));
    std::memcpy(&v, in_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool Bool(bool& v) {
    uint8_t b = 0;
    if (!Get(b)) return false;
    v = b != 0;
    return true;
  }
  // A count of elements of `elem_bytes` each; must fit in the rest of the payload.
  bool Count(uint32_t& n, size_t elem_bytes) {
    if (!Get(n)) return false;
    if (static_cast<uint64_t>(n) * elem_bytes > in_.size() - pos_) {
      error_ = std::string(what_) + " message: a count of " + std::to_string(n) + " at byte " +
               std::to_string(pos_ - 4) + " exceeds the " + std::to_string(in_.size()) +
               "-byte payload";
      return false;
    }
    return true;
  }
  bool Str(std::string& s) {
    uint32_t n = 0;
    if (!Count(n, 1)) return false;
    s.assign(reinterpret_cast<const char*>(in_.data() + pos_), n);
    pos_ += n;
    return true;
  }
  bool U64s(std::vector<uint64_t>& v) {
    uint32_t n = 0;
    if (!Count(n, sizeof(uint64_t))) return false;
    v.resize(n);
    if (n > 0) std::memcpy(v.data(), in_.data() + pos_, size_t{n} * sizeof(uint64_t));
    pos_ += size_t{n} * sizeof(uint64_t);
    return true;
  }
  Status Finish() const {
    if (!error_.empty()) return InvalidArgument(error_);
    if (pos_ != in_.size()) {
      return InvalidArgument(std::string(what_) + " message: " + std::to_string(in_.size() - pos_) +
                             " trailing bytes after byte " + std::to_string(pos_));
    }
    return Status::Ok();
  }
  const std::string& error() const { return error_; }

 private:
  bool Fail(size_t want) {
    if (error_.empty()) {
      error_ = std::string(what_) + " message truncated at byte " + std::to_string(pos_) +
               " (needs " + std::to_string(want) + " more bytes, " +
               std::to_string(in_.size() - pos_) + " left)";
    }
    return false;
  }
  std::span<const uint8_t> in_;
  size_t pos_ = 1;  // after the type byte
  const char* what_;
  std::string error_;
};

struct EncodeVisitor {
  Writer& w;
  void operator()(const AddRequest& m) {
    w.Put(Type::kAdd);
    w.Put(m.id);
    w.Put(m.prompt_tokens);
    w.Put(m.max_output_tokens);
    w.Put(m.generated_tokens);
    w.Put(m.generation_seed);
    w.U64s(m.block_hashes);
    w.Put(static_cast<uint8_t>(m.kv_remote));
    w.Str(m.kv_source);
  }
  void operator()(const CancelRequest& m) {
    w.Put(Type::kCancel);
    w.Put(m.id);
  }
  void operator()(const Drain&) { w.Put(Type::kDrain); }
  void operator()(const Hello& m) {
    w.Put(Type::kHello);
    w.Put(m.protocol);
    w.Str(m.name);
    w.Put(static_cast<uint8_t>(m.role));
    w.Put(m.pool);
    w.Put(m.max_num_batched_tokens);
    w.Put(m.block_size);
    w.Put(m.num_blocks);
    w.Put(m.pid);
    w.Str(m.kv_address);
  }
  void operator()(const StepReport& m) {
    w.Put(Type::kStep);
    w.Put(static_cast<uint32_t>(m.admitted.size()));
    for (const AdmittedOut& a : m.admitted) {
      w.Put(a.id);
      w.Put(a.cached_tokens);
    }
    w.Put(static_cast<uint32_t>(m.tokens.size()));
    for (const TokenOut& t : m.tokens) {
      w.Put(t.id);
      w.Put(t.index);
      w.Put(t.token_id);
      w.Put(static_cast<uint8_t>(t.finished));
    }
    w.Put(m.preempted);
  }
  void operator()(const KvEvents& m) {
    w.Put(Type::kKvEvents);
    w.Put(static_cast<uint32_t>(m.events.size()));
    for (const KvEvent& e : m.events) {
      w.Put(static_cast<uint8_t>(e.stored));
      w.U64s(e.hashes);
    }
  }
  void operator()(const Rejected& m) {
    w.Put(Type::kRejected);
    w.Put(m.id);
    w.Str(m.reason);
  }
  void operator()(const Load& m) {
    w.Put(Type::kLoad);
    w.Put(m.running);
    w.Put(m.waiting);
    w.Put(m.used_blocks);
    w.Put(m.total_blocks);
    w.Put(static_cast<uint8_t>(m.draining));
  }
  void operator()(const KvTransferDone& m) {
    w.Put(Type::kKvTransferDone);
    w.Put(m.id);
    w.Put(static_cast<uint8_t>(m.ok));
    w.Put(m.bytes);
    w.Put(m.micros);
    w.Str(m.error);
  }
};

constexpr size_t kTokenBytes = 8 + 4 + 4 + 1;
constexpr size_t kAdmittedBytes = 8 + 4;

StatusOr<Message> Decode(Type type, Reader& r) {
  switch (type) {
    case Type::kAdd: {
      AddRequest m;
      r.Get(m.id) && r.Get(m.prompt_tokens) && r.Get(m.max_output_tokens) &&
          r.Get(m.generated_tokens) && r.Get(m.generation_seed) && r.U64s(m.block_hashes) &&
          r.Bool(m.kv_remote) && r.Str(m.kv_source);
      RETURN_IF_ERROR(r.Finish());
      return Message(std::move(m));
    }
    case Type::kCancel: {
      CancelRequest m;
      r.Get(m.id);
      RETURN_IF_ERROR(r.Finish());
      return Message(m);
    }
    case Type::kDrain:
      RETURN_IF_ERROR(r.Finish());
      return Message(Drain{});
    case Type::kHello: {
      Hello m;
      uint8_t role = 0;
      r.Get(m.protocol) && r.Str(m.name) && r.Get(role) && r.Get(m.pool) &&
          r.Get(m.max_num_batched_tokens) && r.Get(m.block_size) && r.Get(m.num_blocks) &&
          r.Get(m.pid) && r.Str(m.kv_address);
      RETURN_IF_ERROR(r.Finish());
      if (role > static_cast<uint8_t>(WorkerRole::kDecode)) {
        return InvalidArgument("hello message: unknown worker role " + std::to_string(role));
      }
      m.role = static_cast<WorkerRole>(role);
      return Message(std::move(m));
    }
    case Type::kStep: {
      StepReport m;
      uint32_t n = 0;
      if (r.Count(n, kAdmittedBytes)) {
        m.admitted.resize(n);
        for (AdmittedOut& a : m.admitted) r.Get(a.id) && r.Get(a.cached_tokens);
      }
      if (r.error().empty() && r.Count(n, kTokenBytes)) {
        m.tokens.resize(n);
        for (TokenOut& t : m.tokens) {
          r.Get(t.id) && r.Get(t.index) && r.Get(t.token_id) && r.Bool(t.finished);
        }
      }
      if (r.error().empty()) r.Get(m.preempted);
      RETURN_IF_ERROR(r.Finish());
      return Message(std::move(m));
    }
    case Type::kKvEvents: {
      KvEvents m;
      uint32_t n = 0;
      if (r.Count(n, 1 + 4)) {
        m.events.resize(n);
        for (KvEvent& e : m.events) {
          if (!(r.Bool(e.stored) && r.U64s(e.hashes))) break;
        }
      }
      RETURN_IF_ERROR(r.Finish());
      return Message(std::move(m));
    }
    case Type::kRejected: {
      Rejected m;
      r.Get(m.id) && r.Str(m.reason);
      RETURN_IF_ERROR(r.Finish());
      return Message(std::move(m));
    }
    case Type::kLoad: {
      Load m;
      r.Get(m.running) && r.Get(m.waiting) && r.Get(m.used_blocks) && r.Get(m.total_blocks) &&
          r.Bool(m.draining);
      RETURN_IF_ERROR(r.Finish());
      return Message(m);
    }
    case Type::kKvTransferDone: {
      KvTransferDone m;
      r.Get(m.id) && r.Bool(m.ok) && r.Get(m.bytes) && r.Get(m.micros) && r.Str(m.error);
      RETURN_IF_ERROR(r.Finish());
      return Message(std::move(m));
    }
  }
  return InvalidArgument("unknown message type " + std::to_string(static_cast<int>(type)));
}

const char* TypeName(Type t) {
  switch (t) {
    case Type::kAdd:
      return "add";
    case Type::kCancel:
      return "cancel";
    case Type::kDrain:
      return "drain";
    case Type::kHello:
      return "hello";
    case Type::kStep:
      return "step";
    case Type::kKvEvents:
      return "kv-events";
    case Type::kRejected:
      return "rejected";
    case Type::kLoad:
      return "load";
    case Type::kKvTransferDone:
      return "kv-transfer-done";
  }
  return "unknown";
}

}  // namespace

void EncodeFrame(const Message& m, std::string& out) {
  const size_t at = out.size();
  out.append(4, '\0');
  Writer w(out);
  std::visit(EncodeVisitor{w}, m);
  const uint32_t len = static_cast<uint32_t>(out.size() - at - 4);
  std::memcpy(out.data() + at, &len, 4);
}

std::string EncodeFrame(const Message& m) {
  std::string out;
  EncodeFrame(m, out);
  return out;
}

StatusOr<Message> DecodePayload(std::span<const uint8_t> payload) {
  if (payload.empty()) return InvalidArgument("empty message (no type byte)");
  const Type type = static_cast<Type>(payload[0]);
  Reader r(payload, TypeName(type));
  if (std::string_view(TypeName(type)) == "unknown") {
    return InvalidArgument("unknown message type " + std::to_string(payload[0]));
  }
  return Decode(type, r);
}

const char* MessageName(const Message& m) {
  static constexpr const char* kNames[] = {"add",      "cancel", "drain",
                                           "hello",    "step",   "kv-events",
                                           "rejected", "load",   "kv-transfer-done"};
  static_assert(std::size(kNames) == std::variant_size_v<Message>);
  return kNames[m.index()];
}

}  // namespace dynamo::net
