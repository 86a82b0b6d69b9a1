// RFC 7616 section 3.4: response = H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" HA2) with
// HA1 = H(user ":" realm ":" password) (for -sess, H(HA1 ":" nonce ":" cnonce)) and
// HA2 = H(method ":" uri). Without qop (RFC 2069): H(HA1 ":" nonce ":" HA2).

#include "gatehouse/probe/digest.h"

#include <cstdio>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "gatehouse/http/message.h"

namespace gatehouse::probe {

namespace {

std::string hexDigest(const EVP_MD* md, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), out, &length, md, nullptr);
  std::string hex;
  char buf[3];
  for (unsigned i = 0; i < length; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", out[i]);
    hex += buf;
  }
  return hex;
}

// A quoted-string for the header (backslash-escaping '"' and '\').
std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
    }
    out.push_back(c);
  }
  return out + "\"";
}

} // namespace

DigestAnswer answerDigest(const Challenge& challenge, const std::string& method,
                          const std::string& uri, const std::string& user,
                          const std::string& password, const std::optional<std::string>& cnonceIn) {
  DigestAnswer answer;
  const AuthParam* realm = challenge.param("realm");
  const AuthParam* nonce = challenge.param("nonce");
  if (realm == nullptr || nonce == nullptr) {
    answer.error = "the Digest challenge lacks realm or nonce";
    return answer;
  }
  const AuthParam* algorithmParam = challenge.param("algorithm");
  std::string algorithm = algorithmParam ? algorithmParam->value : "MD5";
  bool session = false;
  const EVP_MD* md = nullptr;
  if (http::equalsIgnoreCase(algorithm, "MD5") || http::equalsIgnoreCase(algorithm, "MD5-sess")) {
    md = EVP_md5();
    session = http::equalsIgnoreCase(algorithm, "MD5-sess");
  } else if (http::equalsIgnoreCase(algorithm, "SHA-256") ||
             http::equalsIgnoreCase(algorithm, "SHA-256-sess")) {
    md = EVP_sha256();
    session = http::equalsIgnoreCase(algorithm, "SHA-256-sess");
  } else {
    answer.error = "Digest algorithm " + algorithm + " is not supported by the probe";
    return answer;
  }
  // qop: "auth" when offered; "auth-int" alone is not answered (it would hash a body).
  std::string qop;
  if (const AuthParam* qopParam = challenge.param("qop")) {
    std::string_view list = qopParam->value;
    while (!list.empty()) {
      size_t comma = list.find(',');
      if (http::equalsIgnoreCase(http::trimOws(list.substr(0, comma)), "auth")) {
        qop = "auth";
      }
      list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    }
    if (qop.empty()) {
      answer.error = "Digest qop \"" + qopParam->value + "\" has no \"auth\"";
      return answer;
    }
  }
  std::string cnonce;
  if (cnonceIn) {
    cnonce = *cnonceIn;
  } else {
    unsigned char random[16];
    RAND_bytes(random, sizeof random);
    char buf[3];
    for (unsigned char b : random) {
      std::snprintf(buf, sizeof buf, "%02x", b);
      cnonce += buf;
    }
  }
  const std::string nc = "00000001";
  std::string secretLine = user + ":" + realm->value + ":" + password;
  std::string ha1 = hexDigest(md, secretLine);
  OPENSSL_cleanse(secretLine.data(), secretLine.size());
  if (session) {
    ha1 = hexDigest(md, ha1 + ":" + nonce->value + ":" + cnonce);
  }
  std::string ha2 = hexDigest(md, method + ":" + uri);
  std::string response = qop.empty() ? hexDigest(md, ha1 + ":" + nonce->value + ":" + ha2)
                                     : hexDigest(md, ha1 + ":" + nonce->value + ":" + nc + ":" +
                                                         cnonce + ":" + qop + ":" + ha2);
  OPENSSL_cleanse(ha1.data(), ha1.size());
  std::string common = "Digest username=" + quote(user) + ", realm=" + quote(realm->value) +
                       ", nonce=" + quote(nonce->value) + ", uri=" + quote(uri) +
                       ", algorithm=" + algorithm;
  std::string tail;
  if (!qop.empty()) {
    tail += ", qop=" + qop + ", nc=" + nc + ", cnonce=" + quote(cnonce);
  }
  if (const AuthParam* opaque = challenge.param("opaque")) {
    tail += ", opaque=" + quote(opaque->value);
  }
  answer.header = common + ", response=" + quote(response) + tail;
  answer.masked = common + ", response=<masked>" + tail;
  return answer;
}

} // namespace gatehouse::probe
