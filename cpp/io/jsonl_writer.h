// Writing canonical records back to JSONL, in any of the supported layouts.
#pragma once

#include <cstdint>
#include <string>

#include "io/record.h"

namespace airtune::io {

/// Writes every record of `batch` to `path` as JSONL in `format` (Auto: each record in the layout
/// it was read from), gzip-compressed when `path` ends in ".gz". The file appears atomically
/// (temporary file + rename); on any error the target is left untouched.
///
/// Layout constraints (violations throw InvalidArgument naming the first offending row and id):
///   chat, sharegpt     any records without a Text message
///   alpaca             [system,] (user, assistant)+ ; earlier pairs become "history"
///   prompt_completion  exactly user, assistant
///   text               exactly one Text message
/// Ids are always written; metadata fields are written back at the top level, extra message
/// fields inside their message, so read -> write -> read gives the same records.
/// Serialisation runs in parallel in the airtune arena; output order is the batch order.
/// Returns the number of bytes written (before compression).
uint64_t write_jsonl(const RecordBatch& batch, const std::string& path, Format format);

/// The JSONL text of record `i` in `format` (without the newline). Throws like write_jsonl.
std::string record_to_json(const RecordBatch& batch, size_t i, Format format);

}  // namespace airtune::io
