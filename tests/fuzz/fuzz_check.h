#pragma once
// A property check for fuzz targets: a broken invariant is a finding like a crash, so it
// prints what broke and aborts (libFuzzer then saves the input as crash-<sha1>).

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition)                                                                      \
  do {                                                                                             \
    if (!(condition)) {                                                                            \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #condition);      \
      std::abort();                                                                                \
    }                                                                                              \
  } while (0)
