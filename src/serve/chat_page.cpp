#include "serve/chat_page.h"

namespace a48::serve {

std::string_view chat_page_html() {
  static constexpr std::string_view kPage = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>a48 chat</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; margin: 0; background: #f4f4f2; color: #1d1d1b; }
  header { padding: 10px 16px; background: #24364b; color: #fff; display: flex; gap: 16px;
           align-items: baseline; flex-wrap: wrap; }
  header h1 { font-size: 17px; margin: 0; }
  header label { font-size: 13px; }
  header input { width: 70px; }
  #log { max-width: 860px; margin: 0 auto; padding: 16px; }
  .msg { white-space: pre-wrap; padding: 10px 12px; border-radius: 8px; margin: 8px 0; }
  .user { background: #dbe8f6; margin-left: 80px; }
  .assistant { background: #fff; border: 1px solid #ddd; margin-right: 80px; }
  .error { background: #fbe3e3; }
  .meta { color: #777; font-size: 12px; }
  form { max-width: 860px; margin: 0 auto; padding: 0 16px 24px; display: flex; gap: 8px; }
  textarea { flex: 1; font: inherit; padding: 8px; height: 60px; }
  button { font: inherit; padding: 0 18px; }
</style>
</head>
<body>
<header>
  <h1>a48 chat</h1>
  <span id="model" class="meta"></span>
  <label>max tokens <input id="max_tokens" type="number" value="64" min="1"></label>
  <label>temperature <input id="temperature" type="number" value="0.7" step="0.1" min="0"></label>
  <label>API key <input id="api_key" type="password" style="width:120px"></label>
</header>
<div id="log"></div>
<form id="form">
  <textarea id="input" placeholder="Type a message; Enter sends, Shift+Enter for a new line"></textarea>
  <button id="send" type="submit">Send</button>
</form>
<script>
"use strict";
const log = document.getElementById("log");
const input = document.getElementById("input");
const send = document.getElementById("send");
const history = [];

function headers() {
  const h = {"Content-Type": "application/json"};
  const key = document.getElementById("api_key").value;
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

function bubble(role, text) {
  const div = document.createElement("div");
  div.className = "msg " + role;
  div.textContent = text;
  log.appendChild(div);
  window.scrollTo(0, document.body.scrollHeight);
  return div;
}

fetch("/v1/models", {headers: headers()}).then(r => r.json()).then(j => {
  if (j.data && j.data.length) {
    document.getElementById("model").textContent =
        j.data[0].id + " (context " + j.data[0].max_model_len + ")";
  }
}).catch(() => {});

async function chat(text) {
  history.push({role: "user", content: text});
  bubble("user", text);
  const reply = bubble("assistant", "");
  reply.id = "reply-" + history.length;
  send.disabled = true;
  let content = "";
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: headers(),
      body: JSON.stringify({
        messages: history,
        stream: true,
        max_tokens: Number(document.getElementById("max_tokens").value),
        temperature: Number(document.getElementById("temperature").value),
      }),
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error((body.error && body.error.message) || ("HTTP " + response.status));
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let finish = null;
    while (true) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, {stream: true});
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        for (const line of event.split("\n")) {
          if (!line.startsWith("data: ")) continue;  // ": ..." lines are keep-alive comments
          const data = line.slice(6);
          if (data === "[DONE]") continue;
          const chunk = JSON.parse(data);
          if (chunk.error) throw new Error(chunk.error.message);
          for (const choice of chunk.choices || []) {
            if (choice.delta && choice.delta.content) {
              content += choice.delta.content;
              reply.textContent = content;
            }
            if (choice.finish_reason) finish = choice.finish_reason;
          }
        }
      }
    }
    history.push({role: "assistant", content: content});
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = "finish: " + finish;
    reply.appendChild(meta);
    reply.dataset.done = "1";
  } catch (e) {
    reply.className = "msg assistant error";
    reply.textContent = content + "\n[error: " + e.message + "]";
    reply.dataset.done = "1";
    history.pop();
  } finally {
    send.disabled = false;
  }
}

document.getElementById("form").addEventListener("submit", e => {
  e.preventDefault();
  const text = input.value.trim();
  if (!text || send.disabled) return;
  input.value = "";
  chat(text);
});
input.addEventListener("keydown", e => {
  if (e.key === "Enter" && !e.shiftKey) {
    e.preventDefault();
    document.getElementById("form").requestSubmit();
  }
});
</script>
</body>
</html>
)html";
  return kPage;
}

}  // namespace a48::serve
