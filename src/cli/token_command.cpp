// `listingd token create|list|revoke`: the API tokens of a database (see listingd/auth.h).
// A running server on the same file sees a change within a second (it rereads tokens at
// most once a second).
#include <filesystem>
#include <iostream>
#include <memory>

#include "commands.h"
#include "listingd/auth.h"
#include "listingd/clock.h"
#include "listingd/database.h"
#include "listingd/store.h"

namespace listingd::cli {
namespace {

struct TokenFlags {
  DatabaseOptions db;
  std::string name;
  std::string role = "writer";
};

Result<std::unique_ptr<TokenStore>> open_tokens(const TokenFlags& f) {
  // A misspelt --db would otherwise make a new, empty database that no server reads.
  auto db = open_database(f.db);
  if (db->backend() == "sqlite" && !db->exists())
    return Status::NotFound("no database at " + f.db.path + " (token commands do not create one; "
                            "`listingd migrate --db " + f.db.path + "` or a first `listingd serve` "
                            "does)");
  return db->open_token_store();
}

int fail(const Status& s) {
  std::cerr << "listingd: " << s.message() << "\n";
  return 1;
}

int create(const TokenFlags& f) {
  auto tokens = open_tokens(f);
  if (!tokens.ok()) return fail(tokens.status());
  auto token = generate_token();
  if (!token.ok()) return fail(token.status());
  TokenRecord record{f.name, *parse_role(f.role), hash_token(*token), SystemClock().now_ms(),
                     std::nullopt};
  if (Status s = (*tokens)->add(record); !s.ok()) return fail(s);
  std::cerr << "token " << f.name << " (" << f.role
            << ") created. It is shown this once; listingd keeps only its hash.\n"
               "Send it as: Authorization: Bearer <token>\n";
  std::cout << *token << std::endl;
  return 0;
}

int list(const TokenFlags& f) {
  auto tokens = open_tokens(f);
  if (!tokens.ok()) return fail(tokens.status());
  auto all = (*tokens)->list();
  if (!all.ok()) return fail(all.status());
  std::cout << "name\trole\tcreated\tlast used\n";
  for (const TokenRecord& t : *all)
    std::cout << t.name << "\t" << to_string(t.role) << "\t" << format_time(t.created_ms) << "\t"
              << (t.last_used_ms ? format_time(*t.last_used_ms) : "never") << "\n";
  return 0;
}

int revoke(const TokenFlags& f) {
  auto tokens = open_tokens(f);
  if (!tokens.ok()) return fail(tokens.status());
  if (Status s = (*tokens)->revoke(f.name); !s.ok()) return fail(s);
  std::cerr << "token " << f.name << " revoked\n";
  return 0;
}

}  // namespace

Command add_token_command(CLI::App& app) {
  auto flags = std::make_shared<TokenFlags>();
  CLI::App* cmd = app.add_subcommand("token", "create, list and revoke API tokens");
  cmd->require_subcommand(1);

  CLI::App* create_cmd = cmd->add_subcommand("create", "create a token and print it (once)");
  create_cmd->add_option("--name", flags->name, "a name to know the token by (unique)")
      ->required()
      ->check([](const std::string& n) {
        return n.empty() || n.size() > 100 || n.find_first_of(" \t\r\n") != std::string::npos
                   ? std::string("a name of 1 to 100 characters, without spaces")
                   : std::string();
      });
  create_cmd->add_option("--role", flags->role,
                         "reader (reads), writer (reads and writes), admin (everything)")
      ->check(CLI::IsMember({"reader", "writer", "admin"}))
      ->capture_default_str();
  add_db_flag(*create_cmd, flags->db, false);

  CLI::App* list_cmd = cmd->add_subcommand("list", "list tokens: name, role, created, last used");
  add_db_flag(*list_cmd, flags->db, false);

  CLI::App* revoke_cmd = cmd->add_subcommand("revoke", "revoke a token: it stops working at once");
  revoke_cmd->add_option("name", flags->name, "the token's name")->required();
  add_db_flag(*revoke_cmd, flags->db, false);

  return {cmd, [flags, create_cmd, list_cmd, revoke_cmd] {
            if (create_cmd->parsed()) return create(*flags);
            if (list_cmd->parsed()) return list(*flags);
            if (revoke_cmd->parsed()) return revoke(*flags);
            return 2;
          }};
}

}  // namespace listingd::cli
