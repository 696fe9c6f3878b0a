// The engine flags every model-running subcommand can share: --device reference|cpu|cuda,
// -t/--threads, --head f32|f16|int8 (engine/make_engine.h's EngineOptions).
#pragma once

#include "engine/make_engine.h"

namespace CLI {
class App;
}

namespace a48::cli {

void add_engine_options(CLI::App& command, EngineOptions& options);

}  // namespace a48::cli
