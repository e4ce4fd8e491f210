// Internal to the cli module: every subcommand adds itself to the command line and says
// how it runs. A command's flags live in state its `run` closure owns, so they outlive
// the parse.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace listingd::cli {

struct Command {
  CLI::App* app;            // parsed() tells whether this command was chosen
  std::function<int()> run;  // returns the exit code
};

// --db FILE (LISTINGD_DB), for every command that opens the database.
void add_db_flag(CLI::App& cmd, std::string& path);

Command add_serve_command(CLI::App& app);    // serve_command.cpp
Command add_migrate_command(CLI::App& app);  // cli.cpp
Command add_seed_command(CLI::App& app);     // seed_command.cpp
Command add_backup_command(CLI::App& app);   // backup_command.cpp
Command add_export_command(CLI::App& app);   // export_command.cpp
Command add_import_command(CLI::App& app);   // import_command.cpp
Command add_token_command(CLI::App& app);    // token_command.cpp

}  // namespace listingd::cli
