#include "engine/prompt_assembler.h"

#include "base/hash.h"

namespace chunkserve::engine {
namespace {

// Stands for part i while the template renders: bytes no tokenizer maps to
// a control token and no template edits (no spaces to trim).
std::string Marker(size_t i) { return "\x1e\x1f" "cs-part-" + std::to_string(i) + "\x1f\x1e"; }

std::string TokenTextOr(const tokenizer::Tokenizer& tokenizer, std::optional<int32_t> id) {
  return id ? std::string(tokenizer.TokenText(*id)) : std::string();
}

}  // namespace

StatusOr<TemplateChoice> ChooseChatTemplate(const gguf::GgufFile& file, const tokenizer::Tokenizer& tokenizer,
                                            const std::optional<std::string>& template_file_source, bool chatml) {
  const std::string bos = TokenTextOr(tokenizer, tokenizer.bos_id());
  const std::string eos = TokenTextOr(tokenizer, tokenizer.eos_id());
  if (chatml) return TemplateChoice{tokenizer::ChatTemplate::ChatMl(bos, eos), ""};
  if (template_file_source) {
    StatusOr<tokenizer::ChatTemplate> t = tokenizer::ChatTemplate::FromJinja(*template_file_source, bos, eos);
    if (!t.ok()) return t.status().WithContext("the template file");
    return TemplateChoice{std::move(t).value(), ""};
  }
  std::optional<std::string> source = file.GetString("tokenizer.chat_template");
  if (!source) {
    return TemplateChoice{tokenizer::ChatTemplate::ChatMl(bos, eos),
                          "the model has no chat template (tokenizer.chat_template); using ChatML "
                          "(<|im_start|>role ... <|im_end|>)"};
  }
  StatusOr<tokenizer::ChatTemplate> t = tokenizer::ChatTemplate::FromJinja(std::move(*source), bos, eos);
  if (!t.ok()) {
    return Status(t.status().code(), "the model's chat template cannot be used: " + t.status().message() +
                                         " (use --template-file F or --chatml to choose another format)");
  }
  return TemplateChoice{std::move(t).value(), ""};
}

StatusOr<AssembledPrompt> PromptAssembler::Chat(std::span<const PromptMessage> messages, bool add_generation_prompt,
                                                const tokenizer::jinja::Value& tools) const {
  // Render with markers, then put the parts back where the markers came out.
  std::vector<tokenizer::ChatMessage> rendered_messages;
  std::vector<PromptPart> parts;
  for (const PromptMessage& m : messages) {
    tokenizer::ChatMessage cm;
    cm.role = m.role;
    cm.tool_calls = m.tool_calls;
    cm.tool_call_id = m.tool_call_id;
    cm.name = m.name;
    for (const PromptPart& p : m.parts) {
      cm.content += Marker(parts.size());
      parts.push_back(p);
    }
    rendered_messages.push_back(std::move(cm));
  }
  tokenizer::ChatTemplateOptions options;
  options.add_generation_prompt = add_generation_prompt;
  options.tools = tools;
  StatusOr<std::string> rendered = template_.Apply(rendered_messages, options);
  if (!rendered.ok()) return InvalidArgumentError("chat template: " + rendered.status().message());
  std::string text;
  std::vector<tokenizer::TextRange> ranges;
  size_t from = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string marker = Marker(i);
    const size_t at = rendered->find(marker, from);
    if (at == std::string::npos || rendered->find(marker, at + marker.size()) != std::string::npos)
      return InvalidArgumentError("the chat template dropped, repeated or reordered a message's content");
    text.append(*rendered, from, at - from);
    ranges.push_back({text.size(), text.size() + parts[i].text.size()});
    text += parts[i].text;
    from = at + marker.size();
  }
  text.append(*rendered, from, std::string::npos);
  if (text.find("\x1e\x1f" "cs-part-") != std::string::npos)
    return InvalidArgumentError("the chat template repeated a message's content");
  return Encode(text, parts, ranges);
}

AssembledPrompt PromptAssembler::Raw(std::span<const PromptPart> parts) const {
  std::string text;
  std::vector<tokenizer::TextRange> ranges;
  for (const PromptPart& p : parts) {
    ranges.push_back({text.size(), text.size() + p.text.size()});
    text += p.text;
  }
  return Encode(text, parts, ranges);
}

AssembledPrompt PromptAssembler::Encode(const std::string& text, std::span<const PromptPart> parts,
                                        std::span<const tokenizer::TextRange> ranges) const {
  AssembledPrompt out;
  out.text = text;
  // Runs of text between chunk parts, each encoded whole with the inline
  // parts inside it plain.
  size_t run_begin = 0;
  std::vector<tokenizer::TextRange> run_plain;
  auto flush_run = [&](size_t run_end, SegmentKind kind) {
    if (run_end <= run_begin) return;
    for (tokenizer::TextRange& r : run_plain) {
      r.begin -= run_begin;
      r.end -= run_begin;
    }
    std::vector<int32_t> tokens = tokenizer_->EncodeTemplated(
        std::string_view(text).substr(run_begin, run_end - run_begin), run_plain);
    run_plain.clear();
    if (!tokens.empty()) out.segments.push_back(Segment{kind, std::move(tokens), 0});
  };
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].kind == PromptPart::Kind::kText) {
      run_plain.push_back(ranges[i]);
      continue;
    }
    flush_run(ranges[i].begin, SegmentKind::kPrefix);
    std::vector<int32_t> tokens = tokenizer_->Encode(parts[i].text, /*add_special=*/false, /*parse_special=*/false);
    if (!tokens.empty()) out.segments.push_back(Segment{SegmentKind::kChunk, std::move(tokens), Hash64(parts[i].text)});
    run_begin = ranges[i].end;
  }
  flush_run(text.size(), SegmentKind::kTail);
  // The last segment is the tail when it is not a chunk (a plain prompt is
  // one tail segment).
  if (!out.segments.empty() && out.segments.back().kind == SegmentKind::kPrefix)
    out.segments.back().kind = SegmentKind::kTail;
  // BOS once, in front, when the model adds it and the template did not.
  if (tokenizer_->add_bos() && tokenizer_->bos_id()) {
    const int32_t bos = *tokenizer_->bos_id();
    if (out.segments.empty() || out.segments.front().kind == SegmentKind::kChunk) {
      out.segments.insert(out.segments.begin(), Segment{SegmentKind::kPrefix, {bos}, 0});
    } else if (out.segments.front().tokens.front() != bos) {
      out.segments.front().tokens.insert(out.segments.front().tokens.begin(), bos);
    }
  }
  for (const Segment& s : out.segments) out.n_tokens += static_cast<int64_t>(s.tokens.size());
  return out;
}

}  // namespace chunkserve::engine
