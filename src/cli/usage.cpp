// Usage errors (see commands.h): a misspelt command gets a suggestion, a bad value names
// where it came from (flag, environment variable or config file), and every usage error
// exits 2, apart from failures (1).
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <regex>
#include <string_view>

#include "commands.h"

namespace listingd::cli {
namespace {

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// The closest of `names` to `word`, if close enough to be a typo.
std::string closest(const std::string& word, const std::vector<std::string>& names) {
  std::string best;
  size_t best_distance = 3;  // at most two letters off
  for (const std::string& name : names) {
    const size_t d = name.rfind(word, 0) == 0 && word.size() >= 2 ? 1 : edit_distance(word, name);
    if (d < best_distance) best = name, best_distance = d;
  }
  return best;
}

const CLI::App* find_subcommand(const CLI::App& app, const std::string& name) {
  for (const CLI::App* sub : app.get_subcommands({}))
    if (sub->check_name(name)) return sub;
  return nullptr;
}

std::vector<std::string> subcommand_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands({})) names.push_back(sub->get_name());
  return names;
}

std::vector<std::string> key_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* o : app.get_options())
    if (!o->get_lnames().empty()) names.push_back(o->get_lnames().front());
  return names;
}

std::string command_path(const CLI::App* app) {
  std::string path;
  for (; app && app->get_parent(); app = app->get_parent())
    path = app->get_name() + (path.empty() ? "" : " " + path);
  return path;
}

int usage(const std::string& message, const CLI::App* command) {
  const std::string path = command_path(command);
  std::cerr << "listingd: " << message << "\nRun `listingd " << (path.empty() ? "" : path + " ")
            << "--help` for the usage.\n";
  return 2;
}

// The --config file named in `args`, if any.
std::string config_file(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) return args[i + 1];
    if (args[i].rfind("--config=", 0) == 0) return args[i].substr(9);
  }
  return {};
}

bool given_as_flag(const CLI::Option& option, const std::vector<std::string>& args) {
  for (const std::string& name : option.get_lnames())
    for (const std::string& a : args)
      if (a == "--" + name || a.rfind("--" + name + "=", 0) == 0) return true;
  for (const std::string& name : option.get_snames())
    for (const std::string& a : args)
      if (a.rfind("-" + name, 0) == 0) return true;
  return false;
}

// "--port: Value abc not in range ..." read from LISTINGD_PORT or a config file: say so.
std::string with_source(const std::string& message, const CLI::App& command,
                        const std::vector<std::string>& args) {
  static const std::regex flag_name("--([a-z][a-z0-9-]*)");
  for (std::sregex_iterator it(message.begin(), message.end(), flag_name), end; it != end; ++it) {
    const CLI::Option* option = command.get_option_no_throw("--" + (*it)[1].str());
    if (!option || given_as_flag(*option, args)) continue;
    const std::string& env = option->get_envname();
    const char* value = env.empty() ? nullptr : std::getenv(env.c_str());
    if (value && *value)
      return "the environment variable " + env + "=" + value + ": " + message;
    const std::string file = config_file(args);
    if (!file.empty()) {
      const std::string section = command_path(&command);
      return file + ", key " + (*it)[1].str() + (section.empty() ? "" : " of [" + section + "]") +
             ": " + message;
    }
  }
  return message;
}

}  // namespace

std::optional<int> check_command_words(const CLI::App& app, const std::vector<std::string>& args,
                                       const CLI::App*& chosen) {
  chosen = &app;
  bool help = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h" || a == "--version") help = true;
    if (chosen->get_subcommands({}).empty()) break;  // a command's own words from here
    if (a == "--config") {
      ++i;
      continue;
    }
    if (a.empty() || a[0] == '-') continue;
    const CLI::App* sub = find_subcommand(*chosen, a);
    if (!sub) {
      const std::vector<std::string> names = subcommand_names(*chosen);
      const std::string guess = closest(a, names);
      std::string known;
      for (const std::string& n : names) known += (known.empty() ? "" : ", ") + n;
      return usage("unknown command '" + a + "'" +
                       (guess.empty() ? "; the commands are " + known
                                      : "; did you mean " + guess + "?"),
                   chosen);
    }
    chosen = sub;
  }
  if (!help && !chosen->get_subcommands({}).empty()) {
    // No command: the help says what there is. A usage error all the same (exit 2).
    std::cout << chosen->help();
    return 2;
  }
  return std::nullopt;
}

int explain_parse_error(const CLI::App& app, const CLI::ParseError& e,
                        const std::vector<std::string>& args, const CLI::App& command) {
  if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success))
    return app.exit(e);  // --help, --version
  const std::string message = e.what();
  static const std::string extra = "INI was not able to parse ";
  if (message.rfind(extra, 0) == 0) {  // a config key no command has
    const std::string item = message.substr(extra.size());
    const size_t dot = item.rfind('.');
    const std::string section = dot == std::string::npos ? "" : item.substr(0, dot);
    const std::string key = item.substr(dot == std::string::npos ? 0 : dot + 1);
    const CLI::App* in = section.empty() ? &app : find_subcommand(app, section);
    std::string text = config_file(args) + ": unknown key '" + key + "'" +
                       (section.empty() ? " (outside any [command] section)"
                                        : " in [" + section + "]");
    if (!in)
      text = config_file(args) + ": unknown section [" + section + "] (its key '" + key +
             "'); sections are named after commands";
    else if (std::string guess = closest(key, key_names(*in)); !guess.empty())
      text += "; did you mean " + guess + "?";
    return usage(text, &command);
  }
  return usage(with_source(message, command, args), &command);
}

}  // namespace listingd::cli
