// `listingd completion bash|zsh`: a shell completion script, made from the command line's
// own definition (every command, subcommand and flag), so it never falls behind it.
#include <iostream>
#include <memory>
#include <sstream>

#include "commands.h"

namespace listingd::cli {
namespace {

struct Level {
  std::string path;                // "/token/create"; "" for listingd itself
  std::string words;               // its subcommands and flags, space-separated
  std::vector<std::string> takes;  // its flags that take a value
};

void collect(const CLI::App& app, const std::string& path, std::vector<Level>& levels) {
  Level level{path, {}, {}};
  for (const CLI::App* sub : app.get_subcommands({}))
    level.words += (level.words.empty() ? "" : " ") + sub->get_name();
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_lnames().empty()) {
      if (o->get_name() == "shell") level.words += " bash zsh";  // completion's own positional
      continue;
    }
    const std::string flag = "--" + o->get_lnames().front();
    level.words += (level.words.empty() ? "" : " ") + flag;
    if (o->get_expected_min() > 0) level.takes.push_back(flag);
  }
  levels.push_back(level);
  for (const CLI::App* sub : app.get_subcommands({}))
    collect(*sub, path + "/" + sub->get_name(), levels);
}

// The shell code shared by both scripts: which level the words typed so far reach.
std::string case_of_paths(const std::vector<Level>& levels) {
  std::string cases;
  for (const Level& l : levels)
    if (!l.path.empty()) cases += (cases.empty() ? "" : "|") + l.path;
  return cases;
}

std::string bash_script(const std::vector<Level>& levels) {
  std::ostringstream s;
  s << "# bash completion for listingd (from `listingd completion bash`)\n"
       "_listingd() {\n"
       "  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} at= i\n"
       "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
       "    case \"$at/${COMP_WORDS[i]}\" in\n"
       "      " << case_of_paths(levels) << ") at=\"$at/${COMP_WORDS[i]}\" ;;\n"
       "    esac\n"
       "  done\n"
       "  local words= takes=\n"
       "  case \"$at\" in\n";
  for (const Level& l : levels) {
    std::string takes;
    for (const std::string& t : l.takes) takes += (takes.empty() ? "" : " ") + t;
    s << "    \"" << l.path << "\") words=\"" << l.words << "\" takes=\" " << takes
      << " \" ;;\n";
  }
  s << "  esac\n"
       "  # a flag's value: files, by the default completion\n"
       "  [[ $takes == *\" $prev \"* ]] && { COMPREPLY=(); return; }\n"
       "  COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
       "}\n"
       "complete -o default -F _listingd listingd\n";
  return s.str();
}

std::string zsh_script(const std::vector<Level>& levels) {
  std::ostringstream s;
  s << "#compdef listingd\n"
       "# zsh completion for listingd (from `listingd completion zsh`)\n"
       "_listingd() {\n"
       "  local at= i\n"
       "  for ((i = 2; i < CURRENT; i++)); do\n"
       "    case \"$at/${words[i]}\" in\n"
       "      " << case_of_paths(levels) << ") at=\"$at/${words[i]}\" ;;\n"
       "    esac\n"
       "  done\n"
       "  local -a candidates takes\n"
       "  case \"$at\" in\n";
  for (const Level& l : levels) {
    std::string takes;
    for (const std::string& t : l.takes) takes += (takes.empty() ? "" : " ") + t;
    s << "    \"" << l.path << "\") candidates=(" << l.words << ") takes=(" << takes
      << ") ;;\n";
  }
  s << "  esac\n"
       "  if (( ${takes[(Ie)${words[CURRENT-1]}]} )); then _files; return; fi\n"
       "  compadd -- $candidates\n"
       "  [[ ${words[CURRENT]} == -* ]] || _files\n"
       "}\n"
       "if [[ $zsh_eval_context[-1] == loadautofunc ]]; then\n"
       "  _listingd \"$@\"  # autoloaded from a file _listingd in $fpath\n"
       "else\n"
       "  compdef _listingd listingd  # sourced\n"
       "fi\n";
  return s.str();
}

}  // namespace

Command add_completion_command(CLI::App& app) {
  auto shell = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "completion", "print a completion script for bash or zsh (see the README to install it)");
  cmd->add_option("shell", *shell, "bash or zsh")->required()->check(CLI::IsMember({"bash", "zsh"}));
  const CLI::App* root = &app;
  return {cmd, [shell, root] {
            std::vector<Level> levels;
            collect(*root, "", levels);
            std::cout << (*shell == "bash" ? bash_script(levels) : zsh_script(levels));
            return 0;
          }};
}

}  // namespace listingd::cli
