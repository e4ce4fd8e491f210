// listingd/cli.h — the command line: `listingd serve|migrate|--help|--version`.
#pragma once

namespace listingd {

// Parses the arguments (flags, LISTINGD_* environment variables, --config file) and runs
// the chosen command. Returns the process exit code.
int run_cli(int argc, char** argv);

}  // namespace listingd
