#pragma once
// The `probe` subcommand's command line (CLI11), kept here so main.cc only dispatches.

#include "gatehouse/probe/probe.h"

namespace CLI {
class App;
}

namespace gatehouse::probe {

// Adds `probe` to `app`, filling `options` when parsed. Returns the subcommand.
CLI::App* addCommand(CLI::App& app, Options& options);

} // namespace gatehouse::probe
