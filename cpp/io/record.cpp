#include "io/record.h"

#include <algorithm>
#include <string>

#include "core/errors.h"
#include "core/prefault.h"

namespace airtune::io {

std::string_view role_name(Role role) noexcept {
  switch (role) {
    case Role::System:
      return "system";
    case Role::User:
      return "user";
    case Role::Assistant:
      return "assistant";
    case Role::Tool:
      return "tool";
    case Role::Text:
      return "text";
  }
  return "unknown";
}

std::string_view format_name(Format format) noexcept {
  switch (format) {
    case Format::Chat:
      return "chat";
    case Format::ShareGPT:
      return "sharegpt";
    case Format::Alpaca:
      return "alpaca";
    case Format::PromptCompletion:
      return "prompt_completion";
    case Format::Text:
      return "text";
    case Format::Auto:
      return "auto";
  }
  return "unknown";
}

std::optional<Format> parse_format(std::string_view name) noexcept {
  for (Format f :
       {Format::Chat, Format::ShareGPT, Format::Alpaca, Format::PromptCompletion, Format::Text, Format::Auto})
    if (format_name(f) == name) return f;
  return std::nullopt;
}

void RecordBatch::append(const RecordBatch& other) {
  const int64_t base = message_offsets.back();
  id.append(other.id);
  format.insert(format.end(), other.format.begin(), other.format.end());
  line.insert(line.end(), other.line.begin(), other.line.end());
  input_at.insert(input_at.end(), other.input_at.begin(), other.input_at.end());
  for (size_t i = 1; i < other.message_offsets.size(); ++i) message_offsets.push_back(base + other.message_offsets[i]);
  label.append(other.label);
  metadata.append(other.metadata);
  role.insert(role.end(), other.role.begin(), other.role.end());
  content.append(other.content);
  name.append(other.name);
  tool_calls.append(other.tool_calls);
  tool_call_id.append(other.tool_call_id);
  extra.append(other.extra);
}

namespace {

// Grows capacity to at least `need`, doubling so that repeated appends copy O(total) bytes.
template <typename Container>
void grow(Container& c, size_t need) {
  if (need > c.capacity()) c.reserve(std::max(need, c.capacity() * 2));
}

void grow(core::StringColumn& c, size_t bytes, size_t count) {
  grow(c.data, bytes);
  grow(c.offsets, count + 1);
  if (!c.valid.empty()) grow(c.valid, count);
}

}  // namespace

void RecordBatch::append_all(const std::vector<const RecordBatch*>& parts) {
  size_t records = size(), messages = message_count();
  size_t id_bytes = id.data.size(), content_bytes = content.data.size(), meta_bytes = metadata.data.size();
  for (const RecordBatch* p : parts) {
    records += p->size();
    messages += p->message_count();
    id_bytes += p->id.data.size();
    content_bytes += p->content.data.size();
    meta_bytes += p->metadata.data.size();
  }
  grow(id, id_bytes, records);
  grow(format, records);
  grow(line, records);
  grow(input_at, records);
  grow(message_offsets, records + 1);
  grow(metadata, meta_bytes, records);
  grow(label, 0, records);
  grow(role, messages);
  grow(content, content_bytes, messages);
  for (core::StringColumn* c : {&name, &tool_calls, &tool_call_id, &extra}) grow(*c, 0, messages);
  // the text columns are the bulk of a batch: their pages backed in one call each instead of
  // faulted in one by one by the copies below (core/prefault.h)
  core::prefault_tail(content.data, content_bytes);
  core::prefault_tail(metadata.data, meta_bytes);
  core::prefault_tail(content.offsets, messages + 1);
  for (const RecordBatch* p : parts) append(*p);
}

void RecordBatch::clear() {
  id.clear();
  format.clear();
  line.clear();
  input_at.clear();
  message_offsets.assign(1, 0);
  label.clear();
  metadata.clear();
  role.clear();
  content.clear();
  name.clear();
  tool_calls.clear();
  tool_call_id.clear();
  extra.clear();
}

namespace {
void copy_entry(const core::StringColumn& from, size_t i, core::StringColumn& to) {
  if (from.is_valid(i))
    to.push_back(from[i]);
  else
    to.push_null();
}
}  // namespace

RecordBatch RecordBatch::take(const std::vector<int64_t>& rows) const {
  RecordBatch out;
  const int64_t n = static_cast<int64_t>(size());
  for (int64_t r : rows) {
    if (r < 0 || r >= n)
      throw InvalidArgument("row index " + std::to_string(r) + " out of range for " + std::to_string(n) + " records");
    const size_t i = static_cast<size_t>(r);
    copy_entry(id, i, out.id);
    out.format.push_back(format[i]);
    out.line.push_back(line[i]);
    out.input_at.push_back(input_at[i]);
    copy_entry(label, i, out.label);
    copy_entry(metadata, i, out.metadata);
    for (size_t j = messages_begin(i); j < messages_end(i); ++j) {
      out.role.push_back(role[j]);
      copy_entry(content, j, out.content);
      copy_entry(name, j, out.name);
      copy_entry(tool_calls, j, out.tool_calls);
      copy_entry(tool_call_id, j, out.tool_call_id);
      copy_entry(extra, j, out.extra);
    }
    out.message_offsets.push_back(static_cast<int64_t>(out.role.size()));
  }
  return out;
}

bool RecordBatch::is_instruct(size_t i) const noexcept {
  size_t j = messages_begin(i);
  const size_t end = messages_end(i);
  if (j < end && role[j] == static_cast<uint8_t>(Role::System)) ++j;
  return end - j == 2 && role[j] == static_cast<uint8_t>(Role::User) &&
         role[j + 1] == static_cast<uint8_t>(Role::Assistant);
}

}  // namespace airtune::io
