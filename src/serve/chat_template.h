// Chat templates: how /v1/chat/completions turns messages into one prompt. A small fixed set of
// named templates (no Jinja): the two families a48's models meet (ChatML, LLaMA-3) and a plain
// "Role: text" layout for base models such as the embedded default model.
#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace a48::serve {

enum class ChatTemplate { plain, chatml, llama3 };
ChatTemplate parse_chat_template(std::string_view name);  // throws a48::Error on unknown names
std::string_view to_string(ChatTemplate chat_template);

// The template named by tokenizer_config.json's "chat_template" beside the model's tokenizer.json
// (recognised by its markers: <|im_start|> = chatml, <|start_header_id|> = llama3); plain when the
// file, the field or a known marker is missing.
ChatTemplate detect_chat_template(const std::filesystem::path& model_dir);

struct ChatMessage {
  std::string role;  // system, developer (as system), user, assistant
  std::string content;
};

// A rendered prompt, in pieces so that message content is never read as special tokens (a user
// typing "<|im_end|>" gets those characters, not the control token).
struct ChatPrompt {
  struct Piece {
    std::string text;
    bool is_template;  // template text: special-token names in it become special tokens
  };
  std::vector<Piece> pieces;
  bool add_bos = true;             // false where the template writes its own bos
  std::vector<std::string> stops;  // where the assistant's turn ends
};

// Renders the conversation and opens the assistant's turn.
ChatPrompt render_chat(ChatTemplate chat_template, std::span<const ChatMessage> messages);

}  // namespace a48::serve
