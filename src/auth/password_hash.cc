#include "gatehouse/auth/password_hash.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "gatehouse/auth/basic_credentials.h"

namespace gatehouse::auth {

namespace {

bool startsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::string digest(const EVP_MD* md, std::initializer_list<std::string_view> parts) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, md, nullptr);
  for (std::string_view p : parts) {
    EVP_DigestUpdate(ctx, p.data(), p.size());
  }
  EVP_DigestFinal_ex(ctx, out, &len);
  EVP_MD_CTX_free(ctx);
  return std::string(reinterpret_cast<char*>(out), len);
}

// crypt(3)'s base-64 alphabet, least significant 6 bits first.
void to64(std::string& out, unsigned long v, int n) {
  static const char* itoa64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  while (n-- > 0) {
    out.push_back(itoa64[v & 0x3f]);
    v >>= 6;
  }
}

} // namespace

HashFormat detectFormat(std::string_view hash, bool allowPlain) {
  if (startsWith(hash, "$2y$") || startsWith(hash, "$2b$") || startsWith(hash, "$2a$")) {
    return HashFormat::Bcrypt;
  }
  if (startsWith(hash, "$6$")) {
    return HashFormat::Sha512Crypt;
  }
  if (startsWith(hash, "$5$")) {
    return HashFormat::Sha256Crypt;
  }
  if (startsWith(hash, "$1$")) {
    return HashFormat::Md5Crypt;
  }
  if (startsWith(hash, "$apr1$")) {
    return HashFormat::AprMd5;
  }
  if (startsWith(hash, "{SHA}")) {
    return HashFormat::Sha1;
  }
  return allowPlain ? HashFormat::Plain : HashFormat::Unknown;
}

const char* formatName(HashFormat format) {
  switch (format) {
  case HashFormat::Bcrypt:
    return "bcrypt";
  case HashFormat::Sha512Crypt:
    return "sha512-crypt";
  case HashFormat::Sha256Crypt:
    return "sha256-crypt";
  case HashFormat::Md5Crypt:
    return "md5-crypt";
  case HashFormat::AprMd5:
    return "apr1-md5";
  case HashFormat::Sha1:
    return "sha1";
  case HashFormat::Plain:
    return "plain";
  case HashFormat::Unknown:
    return "unknown";
  }
  return "unknown";
}

bool isSlow(HashFormat format) {
  return format == HashFormat::Bcrypt || format == HashFormat::Sha512Crypt ||
         format == HashFormat::Sha256Crypt || format == HashFormat::Md5Crypt ||
         format == HashFormat::AprMd5;
}

bool constantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string aprMd5(std::string_view password, std::string_view salt) {
  constexpr std::string_view magic = "$apr1$";
  salt = salt.substr(0, 8);
  const EVP_MD* md5 = EVP_md5();
  // Every buffer below holds the password or material derived from it: built by appending
  // views (no temporary copies) and wiped before it is freed.
  std::string alternate = digest(md5, {password, salt, password});
  // The main digest: password, magic, salt, then pieces of `alternate` and a bit pattern.
  std::string material;
  material.reserve(password.size() * 2 + 64);
  material.append(password).append(magic).append(salt);
  for (size_t left = password.size(); left > 0; left -= std::min<size_t>(left, 16)) {
    material.append(alternate, 0, std::min<size_t>(left, 16));
  }
  for (size_t i = password.size(); i != 0; i >>= 1) {
    material.push_back((i & 1) ? '\0' : (password.empty() ? '\0' : password[0]));
  }
  std::string final = digest(md5, {material});
  // 1000 rounds to slow down brute force (as Apache and md5crypt do).
  std::string round;
  round.reserve(password.size() * 2 + 64);
  for (int i = 0; i < 1000; ++i) {
    round.clear();
    if (i & 1) {
      round.append(password);
    } else {
      round.append(final);
    }
    if (i % 3) {
      round.append(salt);
    }
    if (i % 7) {
      round.append(password);
    }
    if (i & 1) {
      round.append(final);
    } else {
      round.append(password);
    }
    std::string next = digest(md5, {round});
    OPENSSL_cleanse(final.data(), final.size());
    final.swap(next);
  }
  OPENSSL_cleanse(alternate.data(), alternate.capacity());
  OPENSSL_cleanse(material.data(), material.capacity());
  OPENSSL_cleanse(round.data(), round.capacity());
  auto byte = [&](int i) {
    return static_cast<unsigned long>(static_cast<unsigned char>(final[static_cast<size_t>(i)]));
  };
  std::string out = std::string(magic) + std::string(salt) + "$";
  to64(out, (byte(0) << 16) | (byte(6) << 8) | byte(12), 4);
  to64(out, (byte(1) << 16) | (byte(7) << 8) | byte(13), 4);
  to64(out, (byte(2) << 16) | (byte(8) << 8) | byte(14), 4);
  to64(out, (byte(3) << 16) | (byte(9) << 8) | byte(15), 4);
  to64(out, (byte(4) << 16) | (byte(10) << 8) | byte(5), 4);
  to64(out, byte(11), 2);
  OPENSSL_cleanse(final.data(), final.size());
  return out;
}

VerifyResult verifyPassword(std::string_view password, std::string_view hash, bool allowPlain) {
  switch (detectFormat(hash, allowPlain)) {
  case HashFormat::Bcrypt:
  case HashFormat::Sha512Crypt:
  case HashFormat::Sha256Crypt:
  case HashFormat::Md5Crypt: {
    crypt_data data{};
    std::string pw(password);
    std::string setting(hash);
    const char* computed = crypt_r(pw.c_str(), setting.c_str(), &data);
    OPENSSL_cleanse(pw.data(), pw.size());
    // libxcrypt returns a string starting with '*' on failure (never equal to a real hash).
    if (computed == nullptr || computed[0] == '*') {
      return VerifyResult::Unsupported;
    }
    return constantTimeEquals(computed, hash) ? VerifyResult::Match : VerifyResult::Mismatch;
  }
  case HashFormat::AprMd5: {
    std::string_view rest = hash.substr(6);
    std::string_view salt = rest.substr(0, rest.find('$'));
    return constantTimeEquals(aprMd5(password, salt), hash) ? VerifyResult::Match
                                                            : VerifyResult::Mismatch;
  }
  case HashFormat::Sha1: {
    std::string computed = "{SHA}" + encodeBase64(digest(EVP_sha1(), {password}));
    return constantTimeEquals(computed, hash) ? VerifyResult::Match : VerifyResult::Mismatch;
  }
  case HashFormat::Plain:
    return constantTimeEquals(password, hash) ? VerifyResult::Match : VerifyResult::Mismatch;
  case HashFormat::Unknown:
    return VerifyResult::Unsupported;
  }
  return VerifyResult::Unsupported;
}

} // namespace gatehouse::auth
