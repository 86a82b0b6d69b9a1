// Feeds arbitrary bytes to the parsers of `gatehouse probe`, which read what proxies and
// environments send: Proxy-Authenticate challenges (with NTLM/SPNEGO token decoding), proxy
// URLs, no_proxy lists, PAC results, Proxy-Status and response heads. The first byte picks
// the parser; everything must hold for any input (no crash, no out-of-bounds read).

#include <cstddef>
#include <cstdint>
#include <string>

#include "gatehouse/probe/challenge.h"
#include "gatehouse/probe/digest.h"
#include "gatehouse/probe/probe.h"
#include "gatehouse/probe/proxy_selection.h"
#include "gatehouse/probe/response_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gatehouse::probe;
  if (size == 0) {
    return 0;
  }
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 7) {
  case 0: {
    ChallengeList list;
    parseChallenges(input, list);
    for (const Challenge& c : list.challenges) {
      describeToken(c);
      challengeViolations(c);
      challengeDetails(c);
      if (c.is("Digest")) {
        answerDigest(c, "GET", "/", "u", "p", std::string("c"));
      }
    }
    break;
  }
  case 1:
    decodeNtlm(input);
    describeToken(Challenge{"Negotiate", encodeBase64(input), {}});
    break;
  case 2: {
    std::string error;
    if (auto url = parseProxyUrl(input, error)) {
      url->display();
      checkCredentials(url->user, url->password.reveal());
    }
    break;
  }
  case 3: {
    size_t split = input.find('\n');
    matchNoProxy(input.substr(0, split),
                 split == std::string_view::npos ? "" : input.substr(split + 1));
    break;
  }
  case 4: {
    std::vector<std::string> problems;
    parsePacResult(input, problems);
    break;
  }
  case 5:
    for (const auto& m : parseProxyStatus(input)) {
      explainProxyStatusError(m.param("error"));
    }
    explainSquidError(input);
    break;
  default: {
    ResponseRecord record;
    parseHeadLenient(input, record);
    break;
  }
  }
  return 0;
}
