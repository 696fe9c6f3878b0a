#include "cli/app.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <exception>

#include "core/error.h"

namespace a48::cli {

int run(int argc, char** argv) {
  CLI::App app{
      "a48: BitNet a4.8 engine (ternary weights, 4-bit activations).\n"
      "Run `a48 <command> --help` for a command's options."};
  app.set_version_flag("--version", std::string("a48 ") + A48_VERSION);
  app.require_subcommand(1);
  register_generate(app);
  register_score(app);
  register_perplexity(app);
  register_sparsity(app);
  register_info(app);
  register_init(app);
  register_train(app);
  register_tokenize(app);
  register_export(app);
  register_serve(app);
  register_bench(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const Error& e) {
    fmt::print(stderr, "a48: error: {}\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "a48: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {  // a bug or an unexpected library failure: still no crash
    fmt::print(stderr, "a48: internal error: {}\n", e.what());
    return 2;
  }
  return 0;
}

}  // namespace a48::cli
