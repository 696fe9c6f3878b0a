// The `a48` command line: one subcommand per file in this folder, registered in app.cpp.
#pragma once

namespace CLI {
class App;
}

namespace a48::cli {

int run(int argc, char** argv);

// Each subcommand adds itself (options and callback) to the top-level app.
void register_generate(CLI::App& app);
void register_score(CLI::App& app);
void register_perplexity(CLI::App& app);
void register_sparsity(CLI::App& app);
void register_info(CLI::App& app);
void register_init(CLI::App& app);
void register_train(CLI::App& app);
void register_tokenize(CLI::App& app);
void register_export(CLI::App& app);
void register_bench(CLI::App& app);
void register_serve(CLI::App& app);

}  // namespace a48::cli
