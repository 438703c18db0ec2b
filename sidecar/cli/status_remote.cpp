#include "cli/status_remote.hpp"

#include "cli/command.hpp"
#include "cli/display.hpp"

#include <shmlog/level.hpp>

#include <cstdio>

#include <fmt/format.h>
#include <httplib.h>
#include <rapidjson/document.h>

namespace shmlog::cli {
namespace {

using Value = rapidjson::Value;

std::string text(const Value& v, const char* key) {
  if (!v.IsObject() || !v.HasMember(key)) return "-";
  const Value& f = v[key];
  if (f.IsString()) return printable(std::string_view(f.GetString(), f.GetStringLength()));
  if (f.IsNull()) return "-";
  if (f.IsBool()) return f.GetBool() ? "true" : "false";
  if (f.IsUint64()) return std::to_string(f.GetUint64());
  if (f.IsInt64()) return std::to_string(f.GetInt64());
  if (f.IsNumber()) return fmt::format("{:.1f}", f.GetDouble());
  return "-";
}

double number(const Value& v, const char* key) {
  return v.IsObject() && v.HasMember(key) && v[key].IsNumber() ? v[key].GetDouble() : 0.0;
}

std::uint64_t count(const Value& v, const char* key) {
  return v.IsObject() && v.HasMember(key) && v[key].IsUint64() ? v[key].GetUint64() : 0;
}

std::string render(const rapidjson::Document& doc, const std::string& url) {
  using A = Table::Align;
  const Value& sc = doc["sidecar"];
  std::string out =
      fmt::format("sidecar {} at {}: {}, up {}, {}\n", text(sc, "version"), printable(url),
                  text(sc, "health"), human_duration(number(sc, "uptime_s")), text(sc, "reason"));
  Table rings({{"RING"},
               {"SERVICE"},
               {"WRITER"},
               {"LANES", A::right},
               {"FILL", A::right},
               {"REC/S", A::right},
               {"DROPS", A::right},
               {"LAST", A::right},
               {"LEVEL"}});
  if (doc.HasMember("rings") && doc["rings"].IsArray())
    for (const Value& r : doc["rings"].GetArray()) {
      std::string file = text(r, "file");
      if (const auto slash = file.rfind('/'); slash != std::string::npos) file = file.substr(slash + 1);
      const double age = number(r, "last_write_age_s");
      rings.add_row({file, text(r, "service"),
                     fmt::format("pid {} {}", text(r, "writer_pid"),
                                 r.HasMember("writer_alive") && r["writer_alive"].IsBool() &&
                                         r["writer_alive"].GetBool()
                                     ? "alive"
                                     : "gone"),
                     fmt::format("{}/{}", text(r, "lanes_in_use"), text(r, "lanes_total")),
                     fill_text(count(r, "used_bytes"), count(r, "capacity_bytes")),
                     fmt::format("{:.0f}", number(r, "records_per_s")), text(r, "dropped_total"),
                     age < 0 ? "-" : human_duration(age), text(r, "min_level")});
    }
  out += rings.render();
  Table files({{"FILE"}, {"SIZE", A::right}, {"WRITTEN", A::right}, {"ROTATIONS", A::right}, {"STATE"}});
  const Value& sinks = doc["sinks"];
  if (sinks.IsObject() && sinks.HasMember("files") && sinks["files"].IsArray())
    for (const Value& f : sinks["files"].GetArray())
      files.add_row({text(f, "path"), human_bytes(count(f, "size_bytes")),
                     human_bytes(count(f, "bytes_total")), text(f, "rotations"),
                     f.HasMember("failing") && f["failing"].IsBool() && f["failing"].GetBool()
                         ? "failing: " + text(f, "last_error")
                         : "ok"});
  out += "\n" + files.render();
  if (sinks.IsObject() && sinks.HasMember("loki") && sinks["loki"].IsObject()) {
    const Value& l = sinks["loki"];
    out += fmt::format("\nloki {}: {} entries sent, {} rejected, {} pending, last status {}, lag {}{}\n",
                       text(l, "url"), count(l, "entries_sent"), count(l, "entries_rejected"),
                       human_bytes(count(l, "pending_bytes")), text(l, "last_status"),
                       human_duration(number(l, "lag_s")),
                       text(l, "last_error") == "-" || text(l, "last_error").empty()
                           ? ""
                           : ", last error: " + text(l, "last_error"));
  }
  return out;
}

}  // namespace

int run_remote_status(const std::string& url, bool json) {
  if (!url.starts_with("http://") && !url.starts_with("https://")) {
    print_problem("--url " + url + ": expected http://HOST:PORT (the sidecar's --http-addr)");
    return kExitUsage;
  }
  std::string base = url;
  while (base.size() > 8 && base.back() == '/') base.pop_back();
  httplib::Client client(base);
  if (!client.is_valid()) {
    print_problem("--url " + url + ": not a URL this client can use");
    return kExitUsage;
  }
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(10, 0);
  auto res = client.Get("/status");
  if (!res) {
    print_problem("cannot reach the sidecar at " + url + ": " + httplib::to_string(res.error()));
    return kExitFailed;
  }
  if (res->status != 200) {
    print_problem(fmt::format("{}/status answered {}: {}", url, res->status, res->body.substr(0, 300)));
    return kExitFailed;
  }
  rapidjson::Document doc;
  doc.Parse(res->body.c_str(), res->body.size());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("sidecar")) {
    print_problem(url + "/status did not answer with a sidecar status document");
    return kExitFailed;
  }
  const std::string out = json ? res->body + (res->body.ends_with("\n") ? "" : "\n") : render(doc, url);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return kExitOk;
}

}  // namespace shmlog::cli
