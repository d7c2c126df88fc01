#include "io/jsonl_writer.h"

#include <zlib.h>

#include <algorithm>
#include <memory>
#include <span>
#include <vector>

#include "core/errors.h"
#include "core/threading.h"
#include "io/atomic_file.h"
#include "io/json_text.h"

namespace airtune::io {

namespace {

constexpr size_t kRecordsPerTask = 1024;
constexpr size_t kTasksPerWindow = 64;

Role role_at(const RecordBatch& b, size_t j) { return static_cast<Role>(b.role[j]); }

[[noreturn]] void cannot(const RecordBatch& b, size_t i, Format format, const std::string& why) {
  throw InvalidArgument("row " + std::to_string(i) + " (id '" + std::string(b.id[i]) + "'): cannot write as " +
                        std::string(format_name(format)) + ": " + why);
}

// Appends `,<fields>` of a JSON object text produced by the reader ("{...}"), if any.
void append_object_fields(std::string& out, const core::StringColumn& col, size_t i) {
  if (!col.is_valid(i)) return;
  std::string_view obj = col[i];
  if (obj.size() <= 2) return;
  out.push_back(',');
  out.append(obj.substr(1, obj.size() - 2));
}

void content_value(std::string& out, const RecordBatch& b, size_t j) {
  if (b.content.is_valid(j))
    append_json_string(out, b.content[j]);
  else
    out += "null";
}

void write_common_tail(std::string& out, const RecordBatch& b, size_t i) {
  if (b.label.is_valid(i)) {
    out += ",\"label\":";
    append_json_string(out, b.label[i]);
  }
  append_object_fields(out, b.metadata, i);
  out.push_back('}');
}

void write_chat(std::string& out, const RecordBatch& b, size_t i) {
  out += "{\"id\":";
  append_json_string(out, b.id[i]);
  out += ",\"messages\":[";
  for (size_t j = b.messages_begin(i); j < b.messages_end(i); ++j) {
    if (role_at(b, j) == Role::Text) cannot(b, i, Format::Chat, "it is a text record");
    if (j != b.messages_begin(i)) out.push_back(',');
    out += "{\"role\":";
    append_json_string(out, role_name(role_at(b, j)));
    out += ",\"content\":";
    content_value(out, b, j);
    if (b.name.is_valid(j)) {
      out += ",\"name\":";
      append_json_string(out, b.name[j]);
    }
    if (b.tool_calls.is_valid(j)) {
      out += ",\"tool_calls\":";
      out += b.tool_calls[j];
    }
    if (b.tool_call_id.is_valid(j)) {
      out += ",\"tool_call_id\":";
      append_json_string(out, b.tool_call_id[j]);
    }
    append_object_fields(out, b.extra, j);
    out.push_back('}');
  }
  out.push_back(']');
  write_common_tail(out, b, i);
}

// The speaker name a ShareGPT turn had, kept in extra as {"from": ...} when not canonical.
std::string_view sharegpt_from(const RecordBatch& b, size_t i, size_t j, std::string& extra_rest) {
  static constexpr std::string_view kCanonical[] = {"system", "human", "gpt", "tool", "text"};
  extra_rest.clear();
  std::string_view from = kCanonical[b.role[j]];
  // Only a ShareGPT turn's extra holds its speaker; other layouts refuse a "from" (check_conversion).
  if (!b.extra.is_valid(j) || static_cast<Format>(b.format[i]) != Format::ShareGPT) {
    if (b.extra.is_valid(j)) extra_rest = std::string(b.extra[j]);
    return from;
  }
  std::string_view obj = b.extra[j];
  // The reader appends "from" last; split it off so it is not written twice.
  const std::string_view marker = ",\"from\":";
  const std::string_view first = "{\"from\":";
  size_t at = obj.rfind(marker);
  size_t value_start;
  if (at != std::string_view::npos) {
    value_start = at + marker.size();
    extra_rest = std::string(obj.substr(0, at)) + "}";
  } else if (obj.substr(0, first.size()) == first) {
    value_start = first.size();
    extra_rest = "{}";
  } else {
    extra_rest = std::string(obj);
    return from;
  }
  // value is a JSON string without escapes for the speaker names we store ("function_call"...)
  std::string_view value = obj.substr(value_start, obj.size() - value_start - 1);
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"' && value.find('\\') == std::string_view::npos)
    return value.substr(1, value.size() - 2);
  extra_rest = std::string(obj);
  return from;
}

void write_sharegpt(std::string& out, const RecordBatch& b, size_t i) {
  out += "{\"id\":";
  append_json_string(out, b.id[i]);
  out += ",\"conversations\":[";
  std::string rest;
  for (size_t j = b.messages_begin(i); j < b.messages_end(i); ++j) {
    if (role_at(b, j) == Role::Text) cannot(b, i, Format::ShareGPT, "it is a text record");
    if (j != b.messages_begin(i)) out.push_back(',');
    std::string_view from = sharegpt_from(b, i, j, rest);
    out += "{\"from\":";
    append_json_string(out, from);
    out += ",\"value\":";
    append_json_string(out, b.content.is_valid(j) ? b.content[j] : std::string_view());
    if (b.tool_calls.is_valid(j)) {
      out += ",\"tool_calls\":";
      out += b.tool_calls[j];
    }
    if (rest.size() > 2) {
      out.push_back(',');
      out.append(rest, 1, rest.size() - 2);
    }
    out.push_back('}');
  }
  out.push_back(']');
  write_common_tail(out, b, i);
}

void write_alpaca(std::string& out, const RecordBatch& b, size_t i) {
  size_t j = b.messages_begin(i);
  const size_t end = b.messages_end(i);
  std::string_view system;
  bool has_system = false;
  if (j < end && role_at(b, j) == Role::System) {
    system = b.content[j];
    has_system = true;
    ++j;
  }
  const size_t turns = end - j;
  if (turns < 2 || turns % 2 != 0) cannot(b, i, Format::Alpaca, "expected [system,] (user, assistant)+ turns");
  for (size_t k = j; k < end; ++k)
    if (role_at(b, k) != ((k - j) % 2 == 0 ? Role::User : Role::Assistant))
      cannot(b, i, Format::Alpaca, "expected [system,] (user, assistant)+ turns");
  out += "{\"id\":";
  append_json_string(out, b.id[i]);
  if (turns > 2) {
    out += ",\"history\":[";
    for (size_t k = j; k + 2 < end; k += 2) {
      if (k != j) out.push_back(',');
      out.push_back('[');
      append_json_string(out, b.content[k]);
      out.push_back(',');
      append_json_string(out, b.content[k + 1]);
      out.push_back(']');
    }
    out.push_back(']');
  }
  // Give back instruction and input as the reader found them (see RecordBatch::input_at); a user
  // turn from another layout is all instruction, with the conventional empty input.
  const std::string_view user = b.content[end - 2];
  std::string_view instruction = user, input;
  const int64_t at = static_cast<Format>(b.format[i]) == Format::Alpaca && i < b.input_at.size()
                         ? b.input_at[i]
                         : RecordBatch::kNoInput;
  const size_t split = static_cast<size_t>(at);
  if (at >= 0 && split < user.size() && split >= 2 && user.substr(split - 2, 2) == "\n\n") {
    instruction = user.substr(0, split - 2);
    input = user.substr(split);
  }
  out += ",\"instruction\":";
  append_json_string(out, instruction);
  if (at != RecordBatch::kInputAbsent) {
    out += ",\"input\":";
    append_json_string(out, input);
  }
  out += ",\"output\":";
  append_json_string(out, b.content[end - 1]);
  if (has_system) {
    out += ",\"system\":";
    append_json_string(out, system);
  }
  write_common_tail(out, b, i);
}

void write_prompt_completion(std::string& out, const RecordBatch& b, size_t i) {
  const size_t j = b.messages_begin(i);
  if (b.messages_end(i) - j != 2 || role_at(b, j) != Role::User || role_at(b, j + 1) != Role::Assistant)
    cannot(b, i, Format::PromptCompletion, "expected exactly a user and an assistant message");
  out += "{\"id\":";
  append_json_string(out, b.id[i]);
  out += ",\"prompt\":";
  append_json_string(out, b.content[j]);
  out += ",\"completion\":";
  append_json_string(out, b.content[j + 1]);
  write_common_tail(out, b, i);
}

void write_text(std::string& out, const RecordBatch& b, size_t i) {
  const size_t j = b.messages_begin(i);
  if (b.messages_end(i) - j != 1 || role_at(b, j) != Role::Text)
    cannot(b, i, Format::Text, "expected a single text message");
  out += "{\"id\":";
  append_json_string(out, b.id[i]);
  out += ",\"text\":";
  append_json_string(out, b.content[j]);
  write_common_tail(out, b, i);
}

// The top-level keys each layout writes besides "id" and "label".
std::span<const std::string_view> layout_keys(Format f) {
  static constexpr std::string_view kChat[] = {"messages"}, kShareGPT[] = {"conversations", "system"},
                                    kAlpaca[] = {"history", "instruction", "input", "output", "system"},
                                    kPromptCompletion[] = {"prompt", "completion"}, kText[] = {"text"};
  switch (f) {
    case Format::Chat:
      return kChat;
    case Format::ShareGPT:
      return kShareGPT;
    case Format::Alpaca:
      return kAlpaca;
    case Format::PromptCompletion:
      return kPromptCompletion;
    case Format::Text:
      return kText;
    default:
      return {};
  }
}

// The first key of the stored JSON object `col[i]` that is one of `keys`, or "".
std::string_view colliding_key(const core::StringColumn& col, size_t i, std::span<const std::string_view> keys) {
  if (!col.is_valid(i)) return {};
  const std::string_view obj = col[i];
  bool maybe = false;
  for (std::string_view k : keys) maybe = maybe || obj.find(k) != std::string_view::npos;
  if (!maybe) return {};
  for (std::string_view key : top_level_keys(obj))
    for (std::string_view k : keys)
      if (key == k) return k;
  return {};
}

constexpr std::string_view kChatMessageKeys[] = {"role", "content"};
constexpr std::string_view kShareGPTTurnKeys[] = {"from", "value"};

// Converting a record to another layout must not write a key twice (a reader would keep only one
// of them): a metadata field named like one of the new layout's fields, or a message field named
// like the fields of the new layout's messages, cannot be written.
void check_conversion(const RecordBatch& b, size_t i, Format format) {
  if (std::string_view k = colliding_key(b.metadata, i, layout_keys(format)); !k.empty())
    cannot(b, i, format, "its metadata field '" + std::string(k) + "' is a field of that layout");
  if (format != Format::Chat && format != Format::ShareGPT) return;
  const auto keys = format == Format::Chat ? std::span<const std::string_view>(kChatMessageKeys)
                                           : std::span<const std::string_view>(kShareGPTTurnKeys);
  for (size_t j = b.messages_begin(i); j < b.messages_end(i); ++j)
    if (std::string_view k = colliding_key(b.extra, j, keys); !k.empty())
      cannot(b, i, format,
             "message " + std::to_string(j - b.messages_begin(i)) + " has a field '" + std::string(k) +
                 "', a field of that layout's messages");
}

void append_record(std::string& out, const RecordBatch& b, size_t i, Format format) {
  if (format == Format::Auto) format = static_cast<Format>(b.format[i]);
  if (format != static_cast<Format>(b.format[i])) check_conversion(b, i, format);
  switch (format) {
    case Format::Chat:
      write_chat(out, b, i);
      break;
    case Format::ShareGPT:
      write_sharegpt(out, b, i);
      break;
    case Format::Alpaca:
      write_alpaca(out, b, i);
      break;
    case Format::PromptCompletion:
      write_prompt_completion(out, b, i);
      break;
    case Format::Text:
      write_text(out, b, i);
      break;
    case Format::Auto:
      break;
  }
}

// Gzip member written through a deflate stream into the atomic file.
class GzipSink {
 public:
  explicit GzipSink(AtomicFile& file) : file_(file) {
    if (deflateInit2(&z_, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
      throw IoError(file.path() + ": cannot start gzip compression");
  }
  ~GzipSink() { deflateEnd(&z_); }
  void write(std::string_view bytes, bool finish) {
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
    z_.avail_in = static_cast<uInt>(bytes.size());
    int rc;
    do {
      z_.next_out = reinterpret_cast<Bytef*>(buffer_);
      z_.avail_out = sizeof(buffer_);
      rc = deflate(&z_, finish ? Z_FINISH : Z_NO_FLUSH);
      if (rc == Z_STREAM_ERROR) throw IoError(file_.path() + ": gzip compression failed");
      file_.write(std::string_view(buffer_, sizeof(buffer_) - z_.avail_out));
    } while (z_.avail_out == 0 || (finish && rc != Z_STREAM_END));
  }

 private:
  AtomicFile& file_;
  z_stream z_{};
  char buffer_[1 << 16];
};

}  // namespace

std::string record_to_json(const RecordBatch& batch, size_t i, Format format) {
  if (i >= batch.size()) throw InvalidArgument("row " + std::to_string(i) + " out of range");
  std::string out;
  append_record(out, batch, i, format);
  return out;
}

uint64_t write_jsonl(const RecordBatch& batch, const std::string& path, Format format) {
  AtomicFile file(path);
  const bool gz = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  std::unique_ptr<GzipSink> gzip = gz ? std::make_unique<GzipSink>(file) : nullptr;
  uint64_t written = 0;
  const size_t n = batch.size();
  const size_t window = kRecordsPerTask * kTasksPerWindow;
  std::vector<std::string> parts(kTasksPerWindow);
  for (size_t start = 0; start < n; start += window) {
    const size_t stop = std::min(n, start + window);
    const size_t tasks = (stop - start + kRecordsPerTask - 1) / kRecordsPerTask;
    core::parallel_for(tasks, 1, [&](size_t tb, size_t te) {
      for (size_t t = tb; t < te; ++t) {
        std::string& out = parts[t];
        out.clear();
        const size_t e = std::min(stop, start + (t + 1) * kRecordsPerTask);
        for (size_t i = start + t * kRecordsPerTask; i < e; ++i) {
          append_record(out, batch, i, format);
          out.push_back('\n');
        }
      }
    });
    for (size_t t = 0; t < tasks; ++t) {
      written += parts[t].size();
      if (gzip)
        gzip->write(parts[t], false);
      else
        file.write(parts[t]);
    }
  }
  if (gzip) gzip->write({}, true);
  file.commit();
  return written;
}

}  // namespace airtune::io
