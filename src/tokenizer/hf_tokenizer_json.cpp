// Loading HF tokenizers' tokenizer.json for byte-level BPE (GPT-2, LLaMA-3, a48's own): the BPE
// model (vocab, merges as "a b" or ["a", "b"], ignore_merges), added_tokens, the pre-tokenizer
// (ByteLevel, or a Sequence of Split(Regex) stages ending in ByteLevel as LLaMA-3 has) and the
// ByteLevel decoder. Anything a48 would get wrong (normalizers, other models or pre-tokenizers,
// dropout, subword prefixes) is refused with an a48::Error naming it. post_processor (bos/eos
// templates) is not read: encode() never adds bos, callers do.
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mapped_file.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer_impl.h"

namespace a48 {
namespace {

using Json = nlohmann::json;

class HfJsonLoader {
 public:
  HfJsonLoader(std::string path, Tokenizer::Impl& impl) : path_(std::move(path)), impl_(impl) {}

  void load(const Json& doc) {
    check(doc.is_object(), "{}: expected a JSON object at the top level, found {}", path_,
          doc.type_name());
    check_normalizer(doc);
    const Json& model = member(doc, "model", "");
    check(model.is_object(), "{}: model must be an object, found {}", path_, model.type_name());
    check_model_type(model);
    load_added_tokens(doc);  // first: vocab entries outside the byte alphabet may be added tokens
    load_vocab(model);
    load_merges(model);
    load_model_options(model);
    load_pre_tokenizer(doc);
    check_decoder(doc);
    check(impl_.bpe.n_tokens() > 0, "{}: model.vocab is empty", path_);
    impl_.assign_bos_eos();
  }

 private:
  // A member that must be there; `where` is the JSON path of `obj` ("" for the top level).
  const Json& member(const Json& obj, std::string_view name, std::string_view where) const {
    const auto it = obj.find(name);
    if (it == obj.end()) fail("{}: {}{} is missing", path_, where, name);
    return *it;
  }
  // Absent or null -> fallback; otherwise it must be a boolean.
  bool optional_bool(const Json& obj, std::string_view name, bool fallback,
                     std::string_view where) const {
    const auto it = obj.find(name);
    if (it == obj.end() || it->is_null()) return fallback;
    check(it->is_boolean(), "{}: {}{} must be true or false, found {}", path_, where, name,
          it->type_name());
    return it->get<bool>();
  }
  std::string type_of(const Json& obj, std::string_view where) const {
    check(obj.is_object(), "{}: {} must be an object, found {}", path_, where, obj.type_name());
    const Json& type = member(obj, "type", std::string(where) + ".");
    check(type.is_string(), "{}: {}.type must be a string, found {}", path_, where,
          type.type_name());
    return type.get<std::string>();
  }
  // An id in [0, kMaxTokenId]; where() names the field, formatted only for the error.
  template <class Where>
  int32_t token_id(const Json& value, const Where& where) const {
    if (!value.is_number_integer())
      fail("{}: {} must be an integer id, found {}", path_, where(), value.type_name());
    const int64_t id = value.get<int64_t>();
    if (id < 0 || id > kMaxTokenId)
      fail("{}: {} is {}, outside [0, {}]", path_, where(), id, kMaxTokenId);
    return static_cast<int32_t>(id);
  }

  void check_normalizer(const Json& doc) const {
    const auto it = doc.find("normalizer");
    if (it == doc.end() || it->is_null()) return;
    const std::string type = type_of(*it, "normalizer");
    // An empty Sequence changes nothing; every real normalizer would change the text first.
    if (type == "Sequence") {
      const auto list = it->find("normalizers");
      if (list != it->end() && list->is_array() && list->empty()) return;
    }
    fail("{}: normalizer {} is not supported (a48 reads byte-level BPE without a normalizer)",
         path_, type);
  }

  void check_model_type(const Json& model) const {
    const auto it = model.find("type");
    if (it == model.end()) {  // older files leave it out; HF infers the model from its fields
      check(model.contains("merges"), "{}: model has no type and no merges (not a BPE model)",
            path_);
      return;
    }
    check(it->is_string(), "{}: model.type must be a string, found {}", path_, it->type_name());
    check(*it == "BPE", "{}: model type {} is not supported (a48 reads byte-level BPE)", path_,
          it->get<std::string>());
  }

  void load_added_tokens(const Json& doc) {
    const auto it = doc.find("added_tokens");
    if (it == doc.end() || it->is_null()) return;
    check(it->is_array(), "{}: added_tokens must be an array, found {}", path_, it->type_name());
    for (std::size_t i = 0; i < it->size(); ++i) {
      const Json& entry = (*it)[i];
      const std::string where = fmt::format("added_tokens[{}]", i);
      check(entry.is_object(), "{}: {} must be an object, found {}", path_, where,
            entry.type_name());
      AddedToken token;
      token.id = token_id(member(entry, "id", where + "."), [&] { return where + ".id"; });
      const Json& content = member(entry, "content", where + ".");
      check(content.is_string(), "{}: {}.content must be a string, found {}", path_, where,
            content.type_name());
      token.content = content.get<std::string>();
      token.special = optional_bool(entry, "special", false, where + ".");
      token.single_word = optional_bool(entry, "single_word", false, where + ".");
      token.lstrip = optional_bool(entry, "lstrip", false, where + ".");
      token.rstrip = optional_bool(entry, "rstrip", false, where + ".");
      token.normalized = optional_bool(entry, "normalized", !token.special, where + ".");
      added_ids_.emplace(token.content, token.id);
      pending_added_.push_back(std::move(token));
    }
  }

  void load_vocab(const Json& model) {
    const Json& vocab = member(model, "vocab", "model.");
    check(vocab.is_object(), "{}: model.vocab must be an object of token -> id, found {}", path_,
          vocab.type_name());
    vocab_ids_.reserve(vocab.size());
    impl_.bpe.reserve(vocab.size(), model.contains("merges") ? model["merges"].size() : 0);
    for (const auto& [text, value] : vocab.items()) {
      const int32_t id = token_id(value, [&] { return fmt::format("model.vocab[{:?}]", text); });
      std::optional<std::string> bytes = byte_level_decode(text);
      if (!bytes) {
        // Outside the byte alphabet: only acceptable for an added token of that id, whose
        // content is then its text.
        const auto added = added_ids_.find(text);
        check(added != added_ids_.end() && added->second == id,
              "{}: model.vocab token {:?} (id {}) is not byte-level text (a character outside "
              "GPT-2's 256-character byte alphabet) and is not an added token",
              path_, text, id);
        bytes = text;
      }
      if (!impl_.set_model_token(id, std::move(*bytes)))
        fail("{}: model.vocab[{:?}]: id {} is given to two tokens", path_, text, id);
      vocab_ids_.emplace(text, id);
    }
    for (AddedToken& token : pending_added_) {
      const int32_t id = token.id;
      if (!impl_.set_added_token(std::move(token)))
        fail("{}: added_tokens: id {} is given to two added tokens", path_, id);
    }
  }

  int32_t vocab_id(std::string_view text, std::size_t rank) const {
    const auto it = vocab_ids_.find(text);
    check(it != vocab_ids_.end(), "{}: model.merges[{}] uses {:?}, which is not in model.vocab",
          path_, rank, text);
    return it->second;
  }

  void load_merges(const Json& model) {
    const Json& merges = member(model, "merges", "model.");
    check(merges.is_array(), "{}: model.merges must be an array, found {}", path_,
          merges.type_name());
    std::string joined;
    for (std::size_t rank = 0; rank < merges.size(); ++rank) {
      const Json& m = merges[rank];
      std::string_view left, right;
      if (m.is_string()) {  // "a b": exactly one space, as HF requires
        const std::string& s = m.get_ref<const std::string&>();
        const std::size_t space = s.find(' ');
        check(space != std::string::npos && s.find(' ', space + 1) == std::string::npos,
              "{}: model.merges[{}] {:?} is not two tokens separated by one space", path_, rank, s);
        left = std::string_view(s).substr(0, space);
        right = std::string_view(s).substr(space + 1);
      } else {
        check(m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string(),
              "{}: model.merges[{}] must be \"a b\" or [\"a\", \"b\"], found {}", path_, rank,
              m.dump());
        left = m[0].get_ref<const std::string&>();
        right = m[1].get_ref<const std::string&>();
      }
      const int32_t left_id = vocab_id(left, rank);
      const int32_t right_id = vocab_id(right, rank);
      joined.assign(left).append(right);
      const auto merged = vocab_ids_.find(joined);
      check(merged != vocab_ids_.end(),
            "{}: model.merges[{}] makes {:?}, which is not in model.vocab", path_, rank, joined);
      impl_.bpe.add_merge(left_id, right_id, static_cast<int32_t>(rank), merged->second);
    }
  }

  void load_model_options(const Json& model) {
    const auto dropout = model.find("dropout");
    if (dropout != model.end() && !dropout->is_null())
      check(dropout->is_number() && dropout->get<double>() == 0.0,
            "{}: model.dropout {} is not supported (a48 encodes deterministically)", path_,
            dropout->dump());
    for (const char* name : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      const auto it = model.find(name);
      if (it != model.end() && !it->is_null())
        check(it->is_string() && it->get_ref<const std::string&>().empty(),
              "{}: model.{} {} is not supported (byte-level BPE has none)", path_, name,
              it->dump());
    }
    check(!optional_bool(model, "byte_fallback", false, "model."),
          "{}: model.byte_fallback is not supported (byte-level BPE has every byte already)",
          path_);
    impl_.bpe.set_ignore_merges(optional_bool(model, "ignore_merges", false, "model."));
    const auto unk = model.find("unk_token");
    if (unk != model.end() && !unk->is_null()) {
      check(unk->is_string(), "{}: model.unk_token must be a string, found {}", path_,
            unk->type_name());
      const auto it = vocab_ids_.find(unk->get<std::string>());
      check(it != vocab_ids_.end(), "{}: model.unk_token {:?} is not in model.vocab", path_,
            unk->get<std::string>());
      impl_.bpe.set_unk(it->second, optional_bool(model, "fuse_unk", false, "model."));
    }
  }

  // HF ByteLevel: optional prefix space, then the GPT-2 regex when use_regex (default true).
  PreTokenizerStage byte_level_stage(const Json& obj, std::string_view where) const {
    PreTokenizerStage stage;
    stage.add_prefix_space =
        optional_bool(obj, "add_prefix_space", false, std::string(where) + ".");
    if (optional_bool(obj, "use_regex", true, std::string(where) + "."))
      stage.regex = std::make_unique<RegexSplitter>(kGpt2Pattern, false);
    return stage;
  }

  PreTokenizerStage split_stage(const Json& obj, std::string_view where) const {
    const std::string w(where);
    const Json& pattern = member(obj, "pattern", w + ".");
    check(pattern.is_object() && pattern.size() == 1 &&
              (pattern.contains("Regex") || pattern.contains("String")) &&
              pattern.begin()->is_string(),
          "{}: {}.pattern must be {{\"Regex\": \"...\"}} or {{\"String\": \"...\"}}, found {}",
          path_, w, pattern.dump());
    const Json& behavior = member(obj, "behavior", w + ".");
    check(behavior == "Isolated", "{}: {}.behavior {} is not supported (only Isolated)", path_, w,
          behavior.dump());
    check(!optional_bool(obj, "invert", false, w + "."), "{}: {}.invert true is not supported",
          path_, w);
    PreTokenizerStage stage;
    const bool literal = pattern.contains("String");
    try {
      stage.regex = std::make_unique<RegexSplitter>(pattern.begin()->get<std::string>(), literal);
    } catch (const Error& e) {
      fail("{}: {}.pattern: {}", path_, w, e.what());
    }
    return stage;
  }

  void load_pre_tokenizer(const Json& doc) {
    const auto it = doc.find("pre_tokenizer");
    check(it != doc.end() && !it->is_null(),
          "{}: pre_tokenizer is missing (a48 reads byte-level BPE: ByteLevel pre-tokenizer)",
          path_);
    const std::string type = type_of(*it, "pre_tokenizer");
    if (type == "ByteLevel") {
      impl_.pre_tokenizer.add_stage(byte_level_stage(*it, "pre_tokenizer"));
      return;
    }
    check(type == "Sequence", "{}: pre_tokenizer {} is not supported (ByteLevel or Sequence)",
          path_, type);
    const Json& list = member(*it, "pretokenizers", "pre_tokenizer.");
    check(list.is_array() && !list.empty(),
          "{}: pre_tokenizer.pretokenizers must be a non-empty array", path_);
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string where = fmt::format("pre_tokenizer.pretokenizers[{}]", i);
      const std::string t = type_of(list[i], where);
      if (t == "Split") {
        impl_.pre_tokenizer.add_stage(split_stage(list[i], where));
      } else if (t == "ByteLevel") {
        // The byte mapping must come after every Unicode-aware split.
        check(i + 1 == list.size(), "{}: {} is ByteLevel but not the last pre-tokenizer", path_,
              where);
        impl_.pre_tokenizer.add_stage(byte_level_stage(list[i], where));
      } else {
        fail("{}: {} {} is not supported (Split or ByteLevel)", path_, where, t);
      }
    }
    check(type_of(list.back(), "pre_tokenizer") == "ByteLevel",
          "{}: pre_tokenizer Sequence has no ByteLevel (not a byte-level tokenizer)", path_);
  }

  void check_decoder(const Json& doc) const {
    const auto it = doc.find("decoder");
    if (it == doc.end() || it->is_null()) return;  // decode() maps bytes back regardless
    const std::string type = type_of(*it, "decoder");
    if (type == "ByteLevel") return;
    if (type == "Sequence") {
      const auto list = it->find("decoders");
      check(list != it->end() && list->is_array(), "{}: decoder.decoders must be an array", path_);
      for (std::size_t i = 0; i < list->size(); ++i) {
        const std::string t = type_of((*list)[i], fmt::format("decoder.decoders[{}]", i));
        check(t == "ByteLevel", "{}: decoder.decoders[{}] {} is not supported (ByteLevel)", path_,
              i, t);
      }
      return;
    }
    fail("{}: decoder {} is not supported (ByteLevel)", path_, type);
  }

  std::string path_;
  Tokenizer::Impl& impl_;
  StringIdMap vocab_ids_;  // tokenizer.json text -> id, for merges
  StringIdMap added_ids_;  // content -> id
  std::vector<AddedToken> pending_added_;
};

}  // namespace

Tokenizer Tokenizer::from_hf_json(const std::filesystem::path& path) {
  const MappedFile file(path);
  const auto bytes = file.bytes();
  Json doc;
  try {
    doc = Json::parse(reinterpret_cast<const char*>(bytes.data()),
                      reinterpret_cast<const char*>(bytes.data()) + bytes.size());
  } catch (const Json::exception& e) {
    fail("{}: not valid JSON: {}", path.string(), e.what());
  }
  auto impl = std::make_unique<Impl>();
  try {
    HfJsonLoader(path.string(), *impl).load(doc);
  } catch (const Json::exception& e) {  // a type check this loader missed: still a named error
    fail("{}: unexpected tokenizer.json structure: {}", path.string(), e.what());
  }
  return Tokenizer(std::move(impl));
}

}  // namespace a48
