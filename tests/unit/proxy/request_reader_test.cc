// The client-side codec without a socket: a scripted connection says which mode it is in.

#include <catch2/catch.hpp>

#include "gatehouse/proxy/request_reader.h"

using namespace gatehouse;
using namespace gatehouse::proxy;

namespace {

struct Script final : ReaderEvents {
  ReadMode mode = ReadMode::Heads;
  std::vector<std::string> heads;
  std::string body;
  int ends = 0;
  int errors = 0;
  bool overflow = false;
  RequestReader* reader = nullptr;
  // What to do on a head: switch mode (as the connection's state would).
  ReadMode afterHead = ReadMode::Hold;

  ReadMode readMode() const override { return mode; }
  void onReaderHead(std::string_view) override {
    heads.push_back(reader->parser().request().target);
    mode = afterHead;
  }
  void onReaderBody(std::string_view data) override { body.append(data); }
  void onReaderRequestEnd() override {
    ++ends;
    mode = ReadMode::Hold;
  }
  void onReaderError(bool) override { ++errors; }
  void onReaderDiscardOverflow() override { overflow = true; }
};

} // namespace

TEST_CASE("reader: pipelined requests are kept until the connection wants them", "[reader]") {
  Script script;
  RequestReader reader(http::ParserLimits{}, script);
  script.reader = &reader;
  reader.feed(
      "GET http://a/1 HTTP/1.1\r\nHost: a\r\n\r\nGET http://a/2 HTTP/1.1\r\nHost: a\r\n\r\n");
  REQUIRE(script.heads.size() == 1);
  CHECK(reader.hasKept());
  script.mode = ReadMode::Body; // the first request goes upstream: it has no body
  reader.resumeKept();
  CHECK(script.ends == 1);
  script.mode = ReadMode::Heads; // its response is done: the next head
  reader.resumeKept();
  REQUIRE(script.heads.size() == 2);
  CHECK(script.heads[1] == "http://a/2");
}

TEST_CASE("reader: a body goes to the connection only in Body mode", "[reader]") {
  Script script;
  script.afterHead = ReadMode::Body;
  RequestReader reader(http::ParserLimits{}, script);
  script.reader = &reader;
  reader.feed("POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
              "3\r\nabc\r\n0\r\n\r\n");
  CHECK(script.body == "abc");
  CHECK(script.ends == 1);
}

TEST_CASE("reader: a refused body is thrown away within the bound, chunked too", "[reader]") {
  Script script;
  script.afterHead = ReadMode::Heads; // refused at once: the connection reads heads again
  RequestReader reader(http::ParserLimits{}, script);
  script.reader = &reader;
  reader.feed("POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
  REQUIRE(reader.discardRefused(false, 4));
  reader.feed("3\r\nabc\r\n0\r\n\r\nGET http://a/next HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK(script.body.empty());
  CHECK_FALSE(script.overflow);
  REQUIRE(script.heads.size() == 2);
  CHECK(script.heads[1] == "http://a/next");

  reader.feed("POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
  REQUIRE(reader.discardRefused(false, 4));
  reader.feed("8\r\n12345678\r\n");
  CHECK(script.overflow); // past the bound: the connection closes
}

TEST_CASE("reader: what followed a refused CONNECT head is never read as HTTP", "[reader]") {
  Script script;
  RequestReader reader(http::ParserLimits{}, script);
  script.reader = &reader;
  struct Refuser final : ReaderEvents {
    Script& inner;
    RequestReader* reader = nullptr;
    explicit Refuser(Script& s) : inner(s) {}
    ReadMode readMode() const override { return ReadMode::Heads; }
    void onReaderHead(std::string_view) override {
      inner.heads.push_back(reader->parser().request().target);
      reader->discardRefused(true, 0);
    }
    void onReaderBody(std::string_view) override {}
    void onReaderRequestEnd() override {}
    void onReaderError(bool) override { ++inner.errors; }
    void onReaderDiscardOverflow() override {}
  } refuser(script);
  RequestReader connectReader(http::ParserLimits{}, refuser);
  refuser.reader = &connectReader;
  connectReader.feed("CONNECT a:443 HTTP/1.1\r\n\r\n\x16\x03\x01GET http://evil/ HTTP/1.1\r\n\r\n");
  CHECK(script.heads.size() == 1);
  CHECK(script.errors == 0);
  // The next read is a fresh request again (the drop never outlives its read).
  connectReader.feed("GET http://a/ok HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK(script.heads.size() == 2);
}

TEST_CASE("request reader: what may begin a chunk-size line", "[reader]") {
  CHECK(plausibleChunkStart(""));      // nothing yet
  CHECK(plausibleChunkStart("1a"));    // more may follow
  CHECK(plausibleChunkStart("5\r\n")); // a size, then CRLF
  CHECK(plausibleChunkStart("A;name=value\r\n"));
  CHECK(plausibleChunkStart("10 \r\n"));
  CHECK(plausibleChunkStart("ffff\t;x\r\n"));
  CHECK(plausibleChunkStart(std::string(16, 'f')));
  CHECK_FALSE(plausibleChunkStart(std::string(17, 'f'))); // more than 64 bits
  CHECK_FALSE(plausibleChunkStart(std::string(17, '1') + "\r\n"));
  CHECK_FALSE(plausibleChunkStart("\r\n"));           // no digits
  CHECK_FALSE(plausibleChunkStart("hello\r\n"));      // not hex
  CHECK_FALSE(plausibleChunkStart("5x\r\n"));         // junk after the size
  CHECK_FALSE(plausibleChunkStart("GET / HTTP/1.1")); // a request where a chunk belongs
}
