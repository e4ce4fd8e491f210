// Internal to the cli module: every subcommand adds itself to the command line and says
// how it runs. A command's flags live in state its `run` closure owns, so they outlive
// the parse.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "listingd/store.h"

namespace listingd::cli {

struct Command {
  CLI::App* app;            // parsed() tells whether this command was chosen
  std::function<int()> run;  // returns the exit code
};

// --db FILE|URL (LISTINGD_DB) and --db-password-file (LISTINGD_DB_PASSWORD_FILE), for
// every command that opens the database; its help says whether the command creates a
// missing SQLite file.
void add_db_flag(CLI::App& cmd, DatabaseOptions& db, bool created_if_missing = true);

Command add_serve_command(CLI::App& app);    // serve_command.cpp
Command add_migrate_command(CLI::App& app);  // cli.cpp
Command add_seed_command(CLI::App& app);     // seed_command.cpp
Command add_backup_command(CLI::App& app);   // backup_command.cpp
Command add_export_command(CLI::App& app);   // export_command.cpp
Command add_import_command(CLI::App& app);   // import_command.cpp
Command add_token_command(CLI::App& app);    // token_command.cpp
Command add_completion_command(CLI::App& app);  // completion_command.cpp

// usage.cpp. Exit codes: 0 done, 1 failed, 2 a usage error.
// Walks the command words of `args` (argv without the program name): an unknown one is a
// usage error with a suggestion ("did you mean serve?"); none where one is needed prints
// that level's help. Sets `chosen` to the deepest command named. An exit code, or nothing
// when parsing may go on.
std::optional<int> check_command_words(const CLI::App& app, const std::vector<std::string>& args,
                                       const CLI::App*& chosen);
// Reports a parse error of `command` as a usage error (2) that names where a bad value came
// from (flag, LISTINGD_* variable, or the --config file and key); --help and --version: 0.
int explain_parse_error(const CLI::App& app, const CLI::ParseError& e,
                        const std::vector<std::string>& args, const CLI::App& command);

}  // namespace listingd::cli
