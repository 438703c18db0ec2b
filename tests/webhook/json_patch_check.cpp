#include "webhook/json_patch_check.hpp"

#include <vector>

#include <openssl/evp.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace shmlog::test {

std::string base64_decode(std::string_view text, bool& ok) {
  ok = false;
  if (text.size() % 4 != 0) return {};
  std::string out(text.size() / 4 * 3 + 1, '\0');
  const int n =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return {};
  // EVP_DecodeBlock counts the bytes the padding stands for as zeros: take them off.
  std::size_t len = static_cast<std::size_t>(n);
  if (!text.empty() && text.back() == '=') --len;
  if (text.size() >= 2 && text[text.size() - 2] == '=') --len;
  out.resize(len);
  ok = true;
  return out;
}

std::string json_text(const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}

namespace {

// RFC 6901: "/a/b~1c" -> {"a", "b/c"}; an empty pointer is the whole document.
bool split_pointer(std::string_view pointer, std::vector<std::string>& tokens) {
  if (pointer.empty()) return true;
  if (pointer.front() != '/') return false;
  std::string token;
  for (std::size_t i = 1; i <= pointer.size(); ++i) {
    if (i == pointer.size() || pointer[i] == '/') {
      tokens.push_back(token);
      token.clear();
    } else if (pointer[i] == '~') {
      if (i + 1 == pointer.size() || (pointer[i + 1] != '0' && pointer[i + 1] != '1')) return false;
      token += pointer[i + 1] == '0' ? '~' : '/';
      ++i;
    } else {
      token += pointer[i];
    }
  }
  return true;
}

bool array_index(const std::string& token, rapidjson::SizeType size, rapidjson::SizeType& index) {
  if (token.empty() || (token.size() > 1 && token[0] == '0')) return false;
  unsigned long long n = 0;
  for (const char c : token) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<unsigned long long>(c - '0');
    if (n > size) return false;
  }
  index = static_cast<rapidjson::SizeType>(n);
  return true;
}

}  // namespace

std::string apply_json_patch(rapidjson::Document& doc, const rapidjson::Value& patch) {
  if (!patch.IsArray()) return "the patch is not a JSON array";
  auto& alloc = doc.GetAllocator();
  for (const auto& op : patch.GetArray()) {
    if (!op.IsObject() || !op.HasMember("op") || !op["op"].IsString() || !op.HasMember("path") ||
        !op["path"].IsString() || !op.HasMember("value"))
      return "an operation without op, path or value: " + json_text(op);
    if (std::string_view(op["op"].GetString()) != "add")
      return "an operation other than add: " + json_text(op);
    const std::string path = op["path"].GetString();
    std::vector<std::string> tokens;
    if (!split_pointer(path, tokens)) return "not a JSON pointer: " + path;
    if (tokens.empty()) return "an add of the whole document: " + path;
    rapidjson::Value* parent = &doc;
    for (std::size_t i = 0; i + 1 < tokens.size(); ++i) {
      rapidjson::SizeType index = 0;
      if (parent->IsObject() && parent->HasMember(tokens[i].c_str()))
        parent = &(*parent)[tokens[i].c_str()];
      else if (parent->IsArray() && array_index(tokens[i], parent->Size(), index) && index < parent->Size())
        parent = &(*parent)[index];
      else
        return "the path " + path + " does not resolve at \"" + tokens[i] + "\"";
    }
    const std::string& last = tokens.back();
    rapidjson::Value value(op["value"], alloc);
    if (parent->IsObject()) {
      if (parent->HasMember(last.c_str()))
        (*parent)[last.c_str()] = value;  // add on an existing member replaces it (RFC 6902 4.1)
      else
        parent->AddMember(rapidjson::Value(last.c_str(), alloc), value, alloc);
    } else if (parent->IsArray()) {
      rapidjson::SizeType index = parent->Size();
      if (last != "-" && !array_index(last, parent->Size(), index))
        return "the path " + path + " ends in no index of an array of " + std::to_string(parent->Size());
      parent->PushBack(value, alloc);
      for (rapidjson::SizeType i = parent->Size() - 1; i > index; --i) (*parent)[i].Swap((*parent)[i - 1]);
    } else {
      return "the path " + path + " adds into a scalar";
    }
  }
  return {};
}

}  // namespace shmlog::test
