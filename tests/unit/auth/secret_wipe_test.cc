// Defect 3: no heap block that held a password may be freed without being wiped. This file
// replaces the global operator new/delete for the whole unit test binary (under ASan it
// installs the sanitizer's free hook instead); while a scan is on, every freed block is
// searched for the password before it goes back to the allocator.

#include <atomic>
#include <catch2/catch.hpp>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <new>

#include "gatehouse/auth/authenticator.h"
#include "gatehouse/auth/password_hash.h"
#include "gatehouse/uv/loop.h"
#include "helper_fixture.h"

namespace {

// Distinctive bytes that appear nowhere else in the process.
constexpr char kSecret[] = "Zq8-wipe-me-4Jx";
// Atomic: hash checks run on libuv's thread pool.
std::atomic<bool> gScanning{false};
std::atomic<size_t> gLeaks{0};

void scan(void* p, size_t size) {
  if (!gScanning || p == nullptr) {
    return;
  }
  const size_t n = std::strlen(kSecret);
  if (size >= n && memmem(p, size, kSecret, n) != nullptr) {
    ++gLeaks;
  }
}

} // namespace

#if defined(__SANITIZE_ADDRESS__)
// Under ASan, operator new/delete belong to the sanitizer (replacing them mixes allocators);
// its free hook sees every block, still readable, before it is released.
// From the sanitizer runtime's allocator interface (its header is not always installed).
extern "C" {
int __sanitizer_install_malloc_and_free_hooks(void (*mallocHook)(const volatile void*, size_t),
                                              void (*freeHook)(const volatile void*));
size_t __sanitizer_get_allocated_size(const volatile void* p);
int __sanitizer_get_ownership(const volatile void* p);
}

namespace {
void freeHook(const volatile void* p) {
  if (gScanning && p != nullptr && __sanitizer_get_ownership(p)) {
    scan(const_cast<void*>(p), __sanitizer_get_allocated_size(p));
  }
}
void mallocHook(const volatile void*, size_t) {}
// Both hooks are required (the runtime refuses a null one).
const int kHooksInstalled = __sanitizer_install_malloc_and_free_hooks(mallocHook, freeHook);
} // namespace
#else
void* operator new(size_t size) {
  if (void* p = std::malloc(size == 0 ? 1 : size)) {
    return p;
  }
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  if (p != nullptr) {
    scan(p, malloc_usable_size(p));
  }
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  operator delete(p);
}
#endif

using namespace gatehouse;
using namespace gatehouse::auth;

TEST_CASE("defect 3: decoded credentials are wiped before their memory is freed") {
#if defined(__SANITIZE_ADDRESS__)
  REQUIRE(kHooksInstalled != 0);
#endif
  const std::string header = "Basic " + encodeBase64(std::string("alice:") + kSecret);
  {
    gScanning = true;
    gLeaks = 0;
    Refusal refusal;
    std::string scheme;
    {
      auto credentials = parseBasic(header, refusal, scheme);
      REQUIRE(credentials);
    }
    gScanning = false;
    CHECK(gLeaks == 0);
  }
  // Through the authenticator: a plain-text file (fast path) and the helper backend (the
  // password travels through the request line and the pipe write).
  test::ScriptDir dir;
  // apr1 and bcrypt run on the thread pool; the helper's line goes through a pipe write.
  for (std::string backend : {"plain", "apr1", "bcrypt", "helper"}) {
    INFO(backend);
    const bool helper = backend == "helper";
    std::signal(SIGPIPE, SIG_IGN);
    AuthOptions options;
    options.allowPlain = true;
    if (helper) {
      options.helperArgv = {dir.script("ok.sh", "while read u p; do echo OK; done\n")};
    } else {
      const std::string hash = backend == "plain" ? std::string(kSecret) + "x"
                               : backend == "apr1"
                                   ? aprMd5(kSecret, "saltsalt")
                                   : "$2y$04$abcdefghijklmnopqrstuu5sZ6nKZ2sL2w1bS1ZrI0V5tq1NNKh1u";
      options.path = dir.file("users", "alice:" + hash + "\n");
    }
    AuthStore store(options);
    uv::Loop loop;
    Authenticator auth(loop, store);
    gScanning = true;
    gLeaks = 0;
    PendingCheck pending;
    bool answered = false;
    auto now = auth.check(
        "192.0.2.1", std::string_view(header),
        [&](const AuthDecision&) {
          answered = true;
          auth.close();
          loop.requestStop();
        },
        pending);
    if (now) {
      answered = true;
      loop.requestStop();
    }
    loop.run();
    gScanning = false;
    CHECK(answered);
    CHECK(gLeaks == 0);
  }
}
