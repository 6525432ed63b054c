//===- Manifest.cpp - kernel manifest parsing and argument checks ---------===//
//
// Part of attn-mlir. A minimal JSON reader for the manifest (objects, arrays,
// strings without escapes beyond \" and \\, integers, booleans): the runtime
// must not depend on LLVM, and the manifest is our own format.
//
//===----------------------------------------------------------------------===//

#include "attn/Runtime/Runtime.h"

#include <cctype>
#include <cstdlib>
#include <map>
#include <sstream>

using namespace attn::runtime;

namespace {

struct JsonValue {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<JsonValue> array;
  std::map<std::string, JsonValue> object;
};

class JsonParser {
public:
  explicit JsonParser(const std::string &text) : text(text) {}

  Status parse(JsonValue &out) {
    Status s = value(out);
    skipSpace();
    if (s && pos != text.size())
      return fail("trailing characters");
    return s;
  }

private:
  Status fail(const std::string &what) {
    return Status::error("manifest JSON: " + what + " at offset " +
                         std::to_string(pos));
  }
  void skipSpace() {
    while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos])))
      ++pos;
  }
  bool consume(char c) {
    skipSpace();
    if (pos < text.size() && text[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  }
  Status string(std::string &out) {
    if (!consume('"'))
      return fail("expected a string");
    while (pos < text.size() && text[pos] != '"') {
      if (text[pos] == '\\' && pos + 1 < text.size())
        ++pos;
      out += text[pos++];
    }
    if (pos >= text.size())
      return fail("unterminated string");
    ++pos;
    return Status::success();
  }
  Status value(JsonValue &out) {
    skipSpace();
    if (pos >= text.size())
      return fail("unexpected end");
    char c = text[pos];
    if (c == '{') {
      ++pos;
      out.kind = JsonValue::Object;
      if (consume('}'))
        return Status::success();
      do {
        std::string key;
        if (Status s = string(key); !s)
          return s;
        if (!consume(':'))
          return fail("expected ':'");
        if (Status s = value(out.object[key]); !s)
          return s;
      } while (consume(','));
      return consume('}') ? Status::success() : fail("expected '}'");
    }
    if (c == '[') {
      ++pos;
      out.kind = JsonValue::Array;
      if (consume(']'))
        return Status::success();
      do {
        out.array.emplace_back();
        if (Status s = value(out.array.back()); !s)
          return s;
      } while (consume(','));
      return consume(']') ? Status::success() : fail("expected ']'");
    }
    if (c == '"') {
      out.kind = JsonValue::String;
      return string(out.string);
    }
    for (const char *word : {"true", "false", "null"}) {
      std::string w(word);
      if (text.compare(pos, w.size(), w) == 0) {
        pos += w.size();
        out.kind = w == "null" ? JsonValue::Null : JsonValue::Bool;
        out.boolean = w == "true";
        return Status::success();
      }
    }
    char *end = nullptr;
    out.number = std::strtod(text.c_str() + pos, &end);
    if (end == text.c_str() + pos)
      return fail("unexpected character");
    pos = end - text.c_str();
    out.kind = JsonValue::Number;
    return Status::success();
  }

  const std::string &text;
  size_t pos = 0;
};

Status readInts(const JsonValue &v, const std::string &what,
                std::vector<int64_t> &out) {
  if (v.kind != JsonValue::Array)
    return Status::error("manifest: expected '" + what + "' to be an array");
  out.clear();
  for (const JsonValue &e : v.array) {
    if (e.kind != JsonValue::Number)
      return Status::error("manifest: expected numbers in '" + what + "'");
    out.push_back(static_cast<int64_t>(e.number));
  }
  return Status::success();
}

std::string shapeString(const std::vector<int64_t> &shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i)
    os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

} // namespace

Status attn::runtime::parseManifest(const std::string &json, Manifest &out) {
  JsonValue root;
  if (Status s = JsonParser(json).parse(root); !s)
    return s;
  if (root.kind != JsonValue::Object)
    return Status::error("manifest: expected a JSON object");
  auto field = [&](const std::string &key) -> const JsonValue * {
    auto it = root.object.find(key);
    return it == root.object.end() ? nullptr : &it->second;
  };
  for (const char *key : {"kernel", "grid", "block", "shared_memory_bytes",
                          "arguments"})
    if (!field(key))
      return Status::error(std::string("manifest: missing '") + key + "'");
  if (field("kernel")->kind != JsonValue::String)
    return Status::error("manifest: expected 'kernel' to be a string");
  out.kernel = field("kernel")->string;
  std::vector<int64_t> dims;
  for (const char *key : {"grid", "block"}) {
    if (Status s = readInts(*field(key), key, dims); !s)
      return s;
    if (dims.size() != 3)
      return Status::error(std::string("manifest: expected 3 '") + key +
                           "' dimensions");
    auto &target = std::string(key) == "grid" ? out.grid : out.block;
    for (int i = 0; i < 3; ++i)
      target[i] = dims[i];
  }
  out.sharedMemoryBytes =
      static_cast<int64_t>(field("shared_memory_bytes")->number);
  const JsonValue &args = *field("arguments");
  if (args.kind != JsonValue::Array)
    return Status::error("manifest: expected 'arguments' to be an array");
  out.arguments.clear();
  for (const JsonValue &a : args.array) {
    ManifestArgument arg;
    auto get = [&](const std::string &key) -> const JsonValue * {
      auto it = a.object.find(key);
      return it == a.object.end() ? nullptr : &it->second;
    };
    if (a.kind != JsonValue::Object || !get("name") || !get("dtype") ||
        !get("shape"))
      return Status::error("manifest: expected every argument to have name, "
                           "dtype and shape");
    arg.name = get("name")->string;
    arg.dtype = get("dtype")->string;
    if (Status s = readInts(*get("shape"), "shape", arg.shape); !s)
      return s;
    if (const JsonValue *o = get("output"))
      arg.output = o->boolean;
    // Manifests from before roles existed: inputs and outputs only.
    arg.role = arg.output ? ArgumentRole::Output : ArgumentRole::Input;
    if (const JsonValue *r = get("role")) {
      const std::string &role = r->string;
      if (r->kind != JsonValue::String ||
          (role != "input" && role != "output" && role != "inout" &&
           role != "workspace"))
        return Status::error("manifest: argument '" + arg.name +
                             "': expected role input, output, inout or "
                             "workspace, got '" + role + "'");
      arg.role = role == "workspace" ? ArgumentRole::Workspace
                 : role == "output"  ? ArgumentRole::Output
                 : role == "inout"   ? ArgumentRole::InOut
                                     : ArgumentRole::Input;
      arg.output = arg.role == ArgumentRole::Output ||
                   arg.role == ArgumentRole::InOut;
    }
    if (const JsonValue *z = get("zero_init"))
      arg.zeroInit = z->boolean;
    if (const JsonValue *al = get("alignment"))
      arg.alignment = static_cast<int64_t>(al->number);
    // The runtime allocates workspaces, so it must be able to size them.
    if (arg.isWorkspace()) {
      if (dtypeSize(arg.dtype) == 0)
        return Status::error("manifest: workspace '" + arg.name +
                             "': expected a dtype of known size, got '" +
                             arg.dtype + "'");
      for (int64_t d : arg.shape)
        if (d < 0)
          return Status::error("manifest: workspace '" + arg.name +
                               "': expected a static shape, got " +
                               shapeString(arg.shape));
    }
    out.arguments.push_back(std::move(arg));
  }
  return Status::success();
}

int64_t attn::runtime::dtypeSize(const std::string &dtype) {
  static const std::map<std::string, int64_t> sizes = {
      {"i8", 1},  {"i16", 2}, {"f16", 2}, {"bf16", 2}, {"i32", 4},
      {"f32", 4}, {"i64", 8}, {"f64", 8}};
  auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

Status attn::runtime::checkArguments(const Manifest &manifest,
                                     const std::vector<TensorArg> &args) {
  const std::string where = "kernel '" + manifest.kernel + "': ";
  // The caller passes everything but the workspaces, which the Kernel owns.
  std::vector<const ManifestArgument *> expected;
  std::string names, workspaces;
  for (const ManifestArgument &a : manifest.arguments) {
    std::string &list = a.isWorkspace() ? workspaces : names;
    list += (list.empty() ? "" : ", ") + a.name;
    if (!a.isWorkspace())
      expected.push_back(&a);
  }
  if (args.size() != expected.size())
    return Status::error(
        where + "expected " + std::to_string(expected.size()) +
        " arguments (" + names + "), got " + std::to_string(args.size()) +
        (workspaces.empty()
             ? ""
             : "; do not pass the workspaces (" + workspaces +
                   "): the runtime allocates them"));
  for (size_t i = 0; i < args.size(); ++i) {
    const ManifestArgument &want = *expected[i];
    const TensorArg &got = args[i];
    std::string arg = where + "argument " + std::to_string(i) + " ('" +
                      want.name + "'): ";
    if (got.devicePtr == 0)
      return Status::error(arg + "null pointer");
    if (got.dtype != want.dtype)
      return Status::error(arg + "expected dtype " + want.dtype + ", got " +
                           got.dtype);
    if (got.shape != want.shape)
      return Status::error(arg + "expected shape " + shapeString(want.shape) +
                           ", got " + shapeString(got.shape));
    if (want.alignment > 1 && got.devicePtr % want.alignment != 0)
      return Status::error(arg + "expected a " +
                           std::to_string(want.alignment) +
                           "-byte aligned pointer");
  }
  return Status::success();
}
