// W3C traceparent parsing and production (https://www.w3.org/TR/trace-context/).
#include <shmlog/trace.hpp>

#include <doctest/doctest.h>

using namespace shmlog;

TEST_CASE("a valid traceparent parses and prints back identically") {
  const char* header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  auto ctx = parse_traceparent(header);
  REQUIRE(ctx);
  CHECK(ctx->trace_id_hex() == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(ctx->span_id_hex() == "00f067aa0ba902b7");
  CHECK(ctx->flags == 1);
  CHECK(ctx->to_traceparent() == header);
  CHECK(parse_traceparent("  00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00\t"));
}

TEST_CASE("invalid traceparent values are rejected") {
  const char* bad[] = {
      "",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",        // no flags
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",     // zero trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",     // zero span id
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",     // version ff
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",     // upper case
      "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",     // misplaced dash
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xx",  // v00 with extra fields
      "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",     // bad version hex
  };
  for (const char* h : bad) CHECK_MESSAGE(!parse_traceparent(h), h);
}

TEST_CASE("future versions parse by their first four fields") {
  CHECK(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future"));
  CHECK_FALSE(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"));
}

TEST_CASE("generated and child contexts are valid and related") {
  auto root = TraceContext::generate();
  CHECK(root.valid());
  CHECK(root.flags == 1);
  auto child = root.child();
  CHECK(child.trace_id == root.trace_id);
  CHECK(child.span_id != root.span_id);
  CHECK(parse_traceparent(child.to_traceparent())->span_id == child.span_id);
  CHECK(TraceContext::generate().trace_id != root.trace_id);
}

TEST_CASE("scoped contexts nest and restore") {
  CHECK_FALSE(current_trace());
  auto a = TraceContext::generate();
  {
    ScopedTrace sa(a);
    CHECK(current_trace()->trace_id == a.trace_id);
    auto b = TraceContext::generate();
    {
      ScopedTrace sb(b);
      CHECK(current_trace()->trace_id == b.trace_id);
    }
    CHECK(current_trace()->trace_id == a.trace_id);
    ScopedCorrelation c(std::string(100, 'k'));
    CHECK(current_correlation_id() == std::string(64, 'k'));
  }
  CHECK_FALSE(current_trace());
  CHECK(current_correlation_id().empty());
}
