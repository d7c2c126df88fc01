#include "io/jsonl_reader.h"

#include <oneapi/tbb/parallel_invoke.h>

#include <algorithm>
#include <filesystem>
#include <utility>

#include "core/errors.h"
#include "core/threading.h"
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

void JsonlReader::parse(const Block& block, ParsedBlock& into) {
  const char* base = block.data.data();
  const size_t buffer_end = block.data.size();
  inputs_.clear();
  for (const Line& line : block.lines)
    inputs_.push_back({std::string_view(base + line.offset, line.oversize ? 0 : line.size), buffer_end - line.offset,
                       line.number, line.oversize, line.size});
  parser_->parse(inputs_, into.chunks);
  into.blank = block.blank;
  into.bytes_read = block.bytes_read;
  into.have = true;
}

std::vector<const RecordBatch*> JsonlReader::account(ParsedBlock& parsed, const Block* block) {
  // Raise mode: the block's first bad line throws before any of its lines are counted.
  if (options_.errors == ErrorMode::Raise)
    for (const ParsedChunk& chunk : parsed.chunks)
      if (!chunk.errors.empty()) {
        const LineError& e = chunk.errors.front().second;
        throw ParseError(path_, e.line, e.column, e.reason);
      }
  std::vector<const RecordBatch*> parts;
  for (ParsedChunk& chunk : parsed.chunks) {
    counts_.lines_read += static_cast<int64_t>(chunk.batch.size() + chunk.errors.size()) + chunk.blank;
    counts_.kept += static_cast<int64_t>(chunk.batch.size());
    counts_.rejected += static_cast<int64_t>(chunk.errors.size());
    counts_.blank += chunk.blank;
    parts.push_back(&chunk.batch);
    for (auto& [index, error] : chunk.errors) {
      if (options_.errors == ErrorMode::Quarantine) quarantine(*block, block->lines[index], error);
      if (errors_kept_ < options_.max_errors) {
        errors_.push_back(std::move(error));
        ++errors_kept_;
      } else {
        ++counts_.errors_not_kept;
      }
    }
  }
  counts_.lines_read += parsed.blank;
  counts_.blank += parsed.blank;
  counts_.bytes += parsed.bytes_read;
  return parts;
}

void JsonlReader::read_ahead() {
  spare_.have = false;
  bool have;
  try {
    have = prefetch_.get();
  } catch (...) {
    pending_error_ = std::current_exception();  // raised once ready_ (the lines before it) is handed out
    return;
  }
  if (!have) return;
  std::swap(block_, next_block_);
  prefetch_ = std::async(std::launch::async, [this] { return source_->next_block(next_block_); });
  parse(block_, spare_);
}

bool JsonlReader::read_block(RecordBatch& out) {
  if (ended_) return false;
  try {
    if (options_.errors == ErrorMode::Quarantine) {  // in order, one block at a time
      if (!source_->next_block(block_)) {
        ended_ = true;
        return false;
      }
      parse(block_, ready_);
      out.append_all(account(ready_, &block_));
      return true;
    }
    if (!started_) {
      started_ = true;
      if (source_->next_block(block_)) {
        prefetch_ = std::async(std::launch::async, [this] { return source_->next_block(next_block_); });
        parse(block_, ready_);
      }
    }
    if (!ready_.have) {
      ended_ = true;
      if (pending_error_) std::rethrow_exception(std::exchange(pending_error_, nullptr));
      return false;
    }
    const std::vector<const RecordBatch*> parts = account(ready_, nullptr);
    core::run_in_arena([&] { oneapi::tbb::parallel_invoke([&] { out.append_all(parts); }, [&] { read_ahead(); }); });
    std::swap(ready_, spare_);
  } catch (...) {
    ended_ = true;  // an input or parse error ends the read; the blocks before it were handed out
    throw;
  }
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
