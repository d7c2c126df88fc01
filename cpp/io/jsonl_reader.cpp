#include "io/jsonl_reader.h"

#include <oneapi/tbb/enumerable_thread_specific.h>

#include <algorithm>
#include <filesystem>

#include "core/errors.h"
#include "io/json_text.h"

namespace airtune::io {

JsonlReader::JsonlReader(const std::string& path, ReadOptions options) : path_(path), options_(std::move(options)) {
  source_name_ = std::filesystem::path(path).filename().string();
  parser_ = std::make_unique<LineParser>(options_.format, source_name_, options_.max_line_bytes);
  if (options_.errors == ErrorMode::Quarantine && options_.quarantine_path.empty())
    throw InvalidArgument("errors='quarantine' needs a quarantine_path");
  std::function<void(int64_t, std::string_view)> sink;
  if (options_.errors == ErrorMode::Quarantine) {
    quarantine_ = std::make_unique<AtomicFile>(options_.quarantine_path);
    reasons_ = std::make_unique<AtomicFile>(options_.quarantine_path + ".reasons.jsonl");
    sink = [this](int64_t, std::string_view piece) {
      if (piece.empty())
        quarantine_->write("\n");
      else
        quarantine_->write(piece);
    };
  }
  if (options_.max_lines < 0) throw InvalidArgument("max_lines must be >= 0");
  source_ = std::make_unique<LineSource>(
      path, options_.block_bytes, options_.max_line_bytes, std::move(sink),
      SourceLimits{options_.max_bytes, options_.max_lines, options_.start_offset, options_.first_line});
}

JsonlReader::~JsonlReader() = default;

void JsonlReader::quarantine(const Block& block, const Line& line, const LineError& error) {
  if (!line.streamed) {
    quarantine_->write(std::string_view(block.data.data() + line.offset, line.size));
    quarantine_->write("\n");
  }
  std::string json =
      "{\"line\":" + std::to_string(error.line) + ",\"column\":" + std::to_string(error.column) + ",\"field\":";
  append_json_string(json, error.field);
  json += ",\"reason\":";
  append_json_string(json, error.reason);
  json += "}\n";
  reasons_->write(json);
}

void JsonlReader::reserve_for_file(RecordBatch& out) const {
  if (source_->compressed() || !source_->sized()) return;
  const size_t bytes = static_cast<size_t>(std::min<uint64_t>(source_->file_size(), options_.max_bytes));
  if (out.content.data.capacity() < out.content.data.size() + bytes)
    out.content.data.reserve(out.content.data.size() + bytes);
}

bool JsonlReader::read_block(RecordBatch& out) {
  if (ended_) return false;
  const bool pipelined = options_.errors != ErrorMode::Quarantine;
  bool have;
  try {
    if (!started_ || !pipelined) {
      started_ = true;
      have = source_->next_block(block_);
    } else {
      have = prefetch_.get();
      std::swap(block_, next_block_);
    }
  } catch (...) {
    ended_ = true;  // an input error ends the read; the lines before it were handed out
    throw;
  }
  if (!have) {
    ended_ = true;
    return false;
  }
  if (pipelined) prefetch_ = std::async(std::launch::async, [this] { return source_->next_block(next_block_); });
  const auto& lines = block_.lines;
  const char* base = block_.data.data();
  const size_t buffer_end = block_.data.size();
  inputs_.clear();
  for (const Line& line : lines)
    inputs_.push_back({std::string_view(base + line.offset, line.oversize ? 0 : line.size), buffer_end - line.offset,
                       line.number, line.oversize, line.size});
  std::vector<ParsedChunk>& chunks = parser_->parse(inputs_);

  std::vector<const RecordBatch*> parts;
  for (ParsedChunk& chunk : chunks) {
    if (!chunk.errors.empty() && options_.errors == ErrorMode::Raise) {
      const LineError& e = chunk.errors.front().second;
      throw ParseError(path_, e.line, e.column, e.reason);
    }
    counts_.lines_read += static_cast<int64_t>(chunk.batch.size() + chunk.errors.size()) + chunk.blank;
    counts_.kept += static_cast<int64_t>(chunk.batch.size());
    counts_.rejected += static_cast<int64_t>(chunk.errors.size());
    counts_.blank += chunk.blank;
    parts.push_back(&chunk.batch);
    for (auto& [index, error] : chunk.errors) {
      if (options_.errors == ErrorMode::Quarantine) quarantine(block_, lines[index], error);
      if (errors_kept_ < options_.max_errors) {
        errors_.push_back(std::move(error));
        ++errors_kept_;
      } else {
        ++counts_.errors_not_kept;
      }
    }
  }
  counts_.lines_read += block_.blank;
  counts_.blank += block_.blank;
  out.append_all(parts);
  counts_.bytes += block_.bytes_read;
  return true;
}

RecordBatch JsonlReader::read_all() {
  RecordBatch out;
  reserve_for_file(out);
  while (read_block(out)) {
  }
  finish();
  return out;
}

void JsonlReader::finish() {
  if (quarantine_) {
    quarantine_->commit();
    reasons_->commit();
    quarantine_.reset();
    reasons_.reset();
  }
}

}  // namespace airtune::io
