// The chat page served at `/`: one self-contained HTML file (no build step, no external assets)
// that streams replies from /v1/chat/completions.
#pragma once

#include <string_view>

namespace a48::serve {

std::string_view chat_page_html();

}  // namespace a48::serve
