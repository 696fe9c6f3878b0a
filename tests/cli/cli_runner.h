// Runs the `a48` binary under test and captures what it printed, for the CLI end-to-end tests.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace a48::test {

struct CommandResult {
  int exit_code;  // 128 + signal when the process was killed (a crash)
  std::string out, err;
};

inline std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs `a48 <args>` through the shell; stdout and stderr go through files in `scratch_dir`.
inline CommandResult run_a48(const std::string& args, const std::filesystem::path& scratch_dir) {
  std::filesystem::create_directories(scratch_dir);
  const std::string command = std::string(A48_BINARY) + " " + args + " >" +
                              (scratch_dir / "stdout").string() + " 2>" +
                              (scratch_dir / "stderr").string();
  const int status = std::system(command.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
          slurp(scratch_dir / "stdout"), slurp(scratch_dir / "stderr")};
}

}  // namespace a48::test
