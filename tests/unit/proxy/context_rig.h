#pragma once
// A worker's context on its own loop, for unit tests of a connection's parts: an empty pool
// and a resolver that is never asked (it names the discard port). A test's rig derives from it
// and closes its own handles, then the resolver's, before the loop goes.

#include "gatehouse/config/config.h"
#include "gatehouse/proxy/context.h"
#include "gatehouse/proxy/upstream.h"
#include "gatehouse/uv/loop.h"
#include "gatehouse/uv/resolver.h"

namespace gatehouse::proxy::testing {

struct WorkerContextRig {
  config::Config config;
  uv::Loop loop;
  uv::Resolver resolver{loop, uv::Resolver::Options{.servers = "127.0.0.1:9"}};
  UpstreamPool pool;
  SharedCounters counters;
  WorkerContext context{
      .config = config, .loop = loop, .resolver = resolver, .pool = pool, .counters = counters};
};

} // namespace gatehouse::proxy::testing
