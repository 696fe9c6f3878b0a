#include "serve/chat_template.h"

#include <nlohmann/json.hpp>

#include <fstream>

#include "core/error.h"

namespace a48::serve {

ChatTemplate parse_chat_template(std::string_view name) {
  if (name == "plain") return ChatTemplate::plain;
  if (name == "chatml") return ChatTemplate::chatml;
  if (name == "llama3") return ChatTemplate::llama3;
  fail("unknown chat template '{}' (known: plain, chatml, llama3)", name);
}

std::string_view to_string(ChatTemplate chat_template) {
  switch (chat_template) {
    case ChatTemplate::plain: return "plain";
    case ChatTemplate::chatml: return "chatml";
    case ChatTemplate::llama3: return "llama3";
  }
  return "plain";
}

ChatTemplate detect_chat_template(const std::filesystem::path& model_dir) {
  std::ifstream in(model_dir / "tokenizer_config.json");
  if (!in) return ChatTemplate::plain;
  const nlohmann::json config = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!config.is_object() || !config.contains("chat_template")) return ChatTemplate::plain;
  // HF allows one template string or a list of {name, template}; look at all of them.
  const std::string text = config["chat_template"].dump();
  if (text.find("<|im_start|>") != std::string::npos) return ChatTemplate::chatml;
  if (text.find("<|start_header_id|>") != std::string::npos) return ChatTemplate::llama3;
  return ChatTemplate::plain;
}

namespace {

std::string plain_role(const std::string& role) {
  if (role == "assistant") return "Assistant";
  if (role == "user") return "User";
  return "System";
}

}  // namespace

ChatPrompt render_chat(ChatTemplate chat_template, std::span<const ChatMessage> messages) {
  ChatPrompt prompt;
  auto add = [&](std::string text, bool is_template) {
    if (!text.empty()) prompt.pieces.push_back({std::move(text), is_template});
  };
  switch (chat_template) {
    case ChatTemplate::plain:
      // Pieces split where the pre-tokenizer splits anyway (the space goes with the content), so
      // the tokens are those of the whole rendered string.
      for (const ChatMessage& m : messages) {
        add(plain_role(m.role) + ":", true);
        add(" " + m.content, false);
        add("\n", true);
      }
      add("Assistant:", true);
      prompt.stops = {"\nUser:", "\nSystem:"};
      break;
    case ChatTemplate::chatml:
      for (const ChatMessage& m : messages) {
        add("<|im_start|>" + (m.role == "developer" ? std::string("system") : m.role) + "\n", true);
        add(m.content, false);
        add("<|im_end|>\n", true);
      }
      add("<|im_start|>assistant\n", true);
      prompt.stops = {"<|im_end|>"};
      break;
    case ChatTemplate::llama3:
      prompt.add_bos = false;
      add("<|begin_of_text|>", true);
      for (const ChatMessage& m : messages) {
        add("<|start_header_id|>" + (m.role == "developer" ? std::string("system") : m.role) +
                "<|end_header_id|>\n\n",
            true);
        add(m.content, false);
        add("<|eot_id|>", true);
      }
      add("<|start_header_id|>assistant<|end_header_id|>\n\n", true);
      prompt.stops = {"<|eot_id|>"};
      break;
  }
  return prompt;
}

}  // namespace a48::serve
