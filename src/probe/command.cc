// `gatehouse probe ...`: options, help text and exit codes.

#include "gatehouse/probe/command.h"

#include <CLI/CLI.hpp>

namespace gatehouse::probe {

CLI::App* addCommand(CLI::App& app, Options& options) {
  CLI::App* probe = app.add_subcommand(
      "probe", "Explain a proxy's answers (407 and other refusals) from the client side");
  CLI::Option* proxy =
      probe->add_option("--proxy", options.proxy,
                        "Proxy URL (http:// or https://, may hold user:pass@); default: chosen "
                        "like curl from http_proxy/https_proxy/all_proxy/no_proxy");
  probe->add_option("--proxy-user", options.proxyUser,
                    "Credentials USER[:PASS] (asked on the terminal when PASS is missing)");
  probe->add_option("--proxy-cacert", options.proxyCaFile,
                    "CA certificate(s) to verify an https:// proxy with");
  probe->add_flag("--insecure,-k", options.insecure,
                  "Report but do not enforce the https:// proxy's certificate verification");
  probe->add_option("--pac", options.pac, "Choose the proxy with this PAC file (path or URL)")
      ->excludes(proxy);
  probe->add_flag("--json", options.json, "Print the report as JSON (schema: docs/probe.md)");
  probe->add_flag("--connect-check", options.connectCheck,
                  "Also try CONNECT for http:// targets (clients tunnel when asked to)");
  probe->add_option("--color", options.color, "Colour: auto (only on a terminal), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  probe
      ->add_option_function<double>(
          "--timeout",
          [&options](double seconds) {
            options.timeout = std::chrono::milliseconds(static_cast<long>(seconds * 1000));
          },
          "Seconds per step (connect, TLS, each answer); default 10")
      ->check(CLI::Range(0.1, 600.0));
  probe->add_option("targets", options.targets, "Target URLs (http:// or https://)")->required();
  probe->footer(exitCodeHelp());
  return probe;
}

} // namespace gatehouse::probe
