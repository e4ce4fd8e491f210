// The command line (CLI11): the subcommands, and how every flag can also come from a
// LISTINGD_<NAME> environment variable or a --config file. Each subcommand lives in a file
// of its own (commands.h).
#include "listingd/cli.h"

#include <iostream>
#include <memory>
#include <vector>

#include "commands.h"
#include "listingd/store.h"
#include "version.h"

namespace listingd {
namespace cli {

void add_db_flag(CLI::App& cmd, std::string& path) {
  cmd.add_option("--db", path, "SQLite database file; created with its schema if missing")
      ->envname("LISTINGD_DB")
      ->capture_default_str();
}

Command add_migrate_command(CLI::App& app) {
  auto db = std::make_shared<std::string>("listingd.db");
  CLI::App* cmd = app.add_subcommand("migrate", "create or upgrade the database schema, then exit");
  add_db_flag(*cmd, *db);
  return {cmd, [db] {
            auto version = migrate_sqlite(*db);
            if (!version.ok()) {
              std::cerr << "listingd: " << version.status().message() << "\n";
              return 1;
            }
            std::cout << *db << ": schema version " << *version << std::endl;
            return 0;
          }};
}

}  // namespace cli

int run_cli(int argc, char** argv) {
  CLI::App app{"listingd: the ListingAPI (listings and their price history) over HTTP, "
               "stored in one SQLite file.\nEvery flag can also be set by the environment "
               "variable LISTINGD_<FLAG> (e.g. LISTINGD_PORT=9000) or in a --config file "
               "(TOML or INI, with a section per command: [serve], [migrate], ...)."};
  app.set_version_flag("--version", std::string("listingd ") + LISTINGD_VERSION);
  app.set_config("--config", "", "read flags from this TOML/INI file (before the command: "
                                 "listingd --config FILE serve)");
  app.allow_config_extras(CLI::config_extras_mode::error);  // a misspelt key is an error
  app.require_subcommand(1);

  const std::vector<cli::Command> commands = {
      cli::add_serve_command(app),
      cli::add_migrate_command(app),
      cli::add_seed_command(app),
      cli::add_backup_command(app),
      cli::add_export_command(app),
      cli::add_import_command(app),
      cli::add_token_command(app),
  };
  CLI11_PARSE(app, argc, argv);
  for (const auto& command : commands)
    if (command.app->parsed()) return command.run();
  return 0;
}

}  // namespace listingd
