// The command line (CLI11): the subcommands, and how every flag can also come from a
// LISTINGD_<NAME> environment variable or a --config file: a flag wins over the
// environment, which wins over the file. Each subcommand lives in a file of its own
// (commands.h).
#include "listingd/cli.h"

#include <cstdlib>
#include <iostream>
#include <memory>
#include <vector>

#include "commands.h"
#include "listingd/database.h"
#include "listingd/store.h"
#include "version.h"

namespace listingd {
namespace cli {

void add_db_flag(CLI::App& cmd, DatabaseOptions& db, bool created_if_missing) {
  cmd.add_option("--db", db.path,
                 created_if_missing
                     ? "SQLite database file, created with its schema if missing; or a "
                       "PostgreSQL URL postgres://USER@HOST:PORT/DBNAME (schema created if "
                       "missing)"
                     : "SQLite database file (must exist), or a PostgreSQL URL "
                       "postgres://USER@HOST:PORT/DBNAME")
      ->envname("LISTINGD_DB")
      ->capture_default_str();
  // The password never goes on the command line (ps shows it): PGPASSWORD, ~/.pgpass
  // (PGPASSFILE), or this file.
  cmd.add_option("--db-password-file", db.password_file,
                 "PostgreSQL: a file whose first line is the password (else PGPASSWORD or "
                 "~/.pgpass, as libpq reads them)")
      ->envname("LISTINGD_DB_PASSWORD_FILE");
}

Command add_migrate_command(CLI::App& app) {
  auto db = std::make_shared<DatabaseOptions>();
  CLI::App* cmd = app.add_subcommand("migrate", "create or upgrade the database schema, then exit");
  add_db_flag(*cmd, *db);
  return {cmd, [db] {
            auto version = open_database(*db)->migrate();
            if (!version.ok()) {
              std::cerr << "listingd: " << version.status().message() << "\n";
              return 1;
            }
            std::cout << open_database(*db)->display_name() << ": schema version " << *version
                      << std::endl;
            return 0;
          }};
}

// CLI11 reads the config file before the environment and lets an environment variable set
// only what the file left unset, so the file would win. A variable is the nearer, more
// specific setting (a service's env file, a container's -e): this reader drops the file's
// value of every option whose variable is set (and not empty, as CLI11 reads it), so the
// environment fills it in after.
class EnvOverConfigFile : public CLI::ConfigTOML {
 public:
  explicit EnvOverConfigFile(const CLI::App& app) : app_(app) {}

  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    std::vector<CLI::ConfigItem> items = CLI::ConfigTOML::from_config(input);
    std::erase_if(items, [this](const CLI::ConfigItem& item) { return env_is_set(item); });
    return items;
  }

 private:
  bool env_is_set(const CLI::ConfigItem& item) const {
    const CLI::App* app = &app_;
    for (const std::string& parent : item.parents) {
      app = find_subcommand(*app, parent);
      if (!app) return false;  // an unknown section: left for CLI11 to refuse
    }
    const CLI::Option* option = app->get_option_no_throw("--" + item.name);
    if (!option || option->get_envname().empty()) return false;
    const char* value = std::getenv(option->get_envname().c_str());
    return value && *value;
  }

  static const CLI::App* find_subcommand(const CLI::App& app, const std::string& name) {
    for (const CLI::App* sub : app.get_subcommands({}))
      if (sub->check_name(name)) return sub;
    return nullptr;
  }

  const CLI::App& app_;
};

}  // namespace cli

int run_cli(int argc, char** argv) {
  CLI::App app{"listingd: the ListingAPI (listings and their price history) over HTTP, "
               "stored in one SQLite file.\nEvery flag can also be set by the environment "
               "variable LISTINGD_<FLAG> (e.g. LISTINGD_PORT=9000) or in a --config file "
               "(TOML or INI, with a section per command: [serve], [migrate], ...). A flag "
               "wins over the environment, which wins over the config file."};
  app.set_version_flag("--version", std::string("listingd ") + LISTINGD_VERSION);
  app.set_config("--config", "", "read flags from this TOML/INI file (before or after the "
                                 "command: listingd serve --config FILE)");
  app.allow_config_extras(CLI::config_extras_mode::error);  // a misspelt key is an error
  app.config_formatter(std::make_shared<cli::EnvOverConfigFile>(app));
  app.require_subcommand(1);
  app.fallthrough();  // --config (and --version) after the command too
  app.footer("Exit status: 0 done, 1 failed, 2 a usage error (an unknown command or flag, a "
             "bad value).\nShell completion: listingd completion bash|zsh (see the README).");

  const std::vector<cli::Command> commands = {
      cli::add_serve_command(app),
      cli::add_migrate_command(app),
      cli::add_seed_command(app),
      cli::add_backup_command(app),
      cli::add_export_command(app),
      cli::add_import_command(app),
      cli::add_token_command(app),
      cli::add_completion_command(app),
  };
  const std::vector<std::string> args(argv + 1, argv + argc);
  const CLI::App* chosen = nullptr;
  if (auto code = cli::check_command_words(app, args, chosen)) return *code;
  try {
    std::vector<std::string> reversed(args.rbegin(), args.rend());  // as CLI11 takes them
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    return cli::explain_parse_error(app, e, args, *chosen);
  }
  for (const auto& command : commands)
    if (command.app->parsed()) return command.run();
  return 2;
}

}  // namespace listingd
