// The `a48` command: see src/cli/ for one file per subcommand.
#include "cli/app.h"

int main(int argc, char** argv) { return a48::cli::run(argc, argv); }
