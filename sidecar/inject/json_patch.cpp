// The plan's operations as RFC 6902 "add"s: applied here for `shmlog inject`, written out as a
// JSONPatch for `shmlog webhook`.
#include "inject/injector.hpp"

#include <charconv>
#include <optional>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace shmlog::inject {
namespace {

// RFC 6901: "~1" is "/", "~0" is "~".
std::string unescape(std::string_view token) {
  std::string out;
  for (std::size_t i = 0; i < token.size(); ++i) {
    if (token[i] == '~' && i + 1 < token.size() && (token[i + 1] == '0' || token[i + 1] == '1')) {
      out += token[i + 1] == '1' ? '/' : '~';
      ++i;
    } else {
      out += token[i];
    }
  }
  return out;
}

std::vector<std::string> tokens(std::string_view pointer) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < pointer.size()) {
    const std::size_t end = pointer.find('/', start + 1);
    out.push_back(unescape(
        pointer.substr(start + 1, end == std::string_view::npos ? std::string_view::npos : end - start - 1)));
    if (end == std::string_view::npos) break;
    start = end;
  }
  return out;
}

std::optional<rapidjson::SizeType> array_index(const std::string& token) {
  if (token.empty() || (token.size() > 1 && token[0] == '0')) return std::nullopt;
  rapidjson::SizeType index = 0;
  const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), index);
  if (ec != std::errc{} || end != token.data() + token.size()) return std::nullopt;
  return index;
}

// The member `key` of a map, or nullptr. (Looked up through a const view: comparing RapidJSON's
// non-const member iterators is ambiguous in C++20.)
rapidjson::Value* member_of(rapidjson::Value& map, const std::string& key) {
  const rapidjson::Value& view = map;
  const auto it =
      view.FindMember(rapidjson::StringRef(key.c_str(), static_cast<rapidjson::SizeType>(key.size())));
  return it == view.MemberEnd() ? nullptr : const_cast<rapidjson::Value*>(&it->value);
}

Status add(rapidjson::Value& root, const PatchOp& op, rapidjson::Document::AllocatorType& allocator) {
  if (!op.path.empty() && op.path[0] != '/')
    return Error{"patch path \"" + op.path + "\" does not start with /"};
  rapidjson::Value value(op.value, allocator);  // a deep copy into the object's allocator
  if (op.path.empty()) {
    root.Swap(value);
    return Ok{};
  }
  const auto steps = tokens(op.path);
  rapidjson::Value* parent = &root;
  for (std::size_t i = 0; i + 1 < steps.size(); ++i) {
    if (parent->IsObject()) {
      rapidjson::Value* child = member_of(*parent, steps[i]);
      if (child == nullptr) return Error{"patch path " + op.path + ": no " + steps[i]};
      parent = child;
    } else if (parent->IsArray()) {
      const auto index = array_index(steps[i]);
      if (!index || *index >= parent->Size())
        return Error{"patch path " + op.path + ": no index " + steps[i]};
      parent = &(*parent)[*index];
    } else {
      return Error{"patch path " + op.path + ": " + steps[i] + " is below a scalar"};
    }
  }
  const std::string& last = steps.back();
  if (parent->IsObject()) {
    if (rapidjson::Value* existing = member_of(*parent, last); existing != nullptr)
      existing->Swap(value);  // "add" on a member replaces it
    else
      parent->AddMember(
          rapidjson::Value(last.c_str(), static_cast<rapidjson::SizeType>(last.size()), allocator), value,
          allocator);
    return Ok{};
  }
  if (parent->IsArray()) {
    if (last == "-") {
      parent->PushBack(value, allocator);
      return Ok{};
    }
    const auto index = array_index(last);
    if (!index || *index > parent->Size()) return Error{"patch path " + op.path + ": index out of range"};
    // RapidJSON has no insert: append, then rotate the new value down into place.
    parent->PushBack(value, allocator);
    for (rapidjson::SizeType k = parent->Size() - 1; k > *index; --k) (*parent)[k].Swap((*parent)[k - 1]);
    return Ok{};
  }
  return Error{"patch path " + op.path + ": the parent is not a map or a list"};
}

}  // namespace

Status apply_patch(rapidjson::Value& object, const std::vector<PatchOp>& ops,
                   rapidjson::Document::AllocatorType& allocator) {
  for (const PatchOp& op : ops)
    if (auto s = add(object, op, allocator); !s) return s;
  return Ok{};
}

std::string json_patch_text(const std::vector<PatchOp>& ops) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartArray();
  for (const PatchOp& op : ops) {
    w.StartObject();
    w.Key("op");
    w.String("add");
    w.Key("path");
    w.String(op.path.c_str(), static_cast<rapidjson::SizeType>(op.path.size()));
    w.Key("value");
    op.value.Accept(w);
    w.EndObject();
  }
  w.EndArray();
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace shmlog::inject
