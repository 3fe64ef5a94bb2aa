#pragma once
// Minimal CSV for trace and data files, both ways: splitting a line into fields (commas,
// optional double quotes around a field with "" for a literal quote, trailing \r ignored), and
// quoting a field for writing (RFC 4180).

#include <string>
#include <string_view>
#include <vector>

namespace dynamo {

// Splits one line into fields. Returns false on an unterminated quote.
bool SplitCsvLine(std::string_view line, std::vector<std::string>& fields);

// `field` as one CSV field: unchanged unless it holds a comma, a quote or a line break, then
// quoted with inner quotes doubled. SplitCsvLine reads it back.
std::string CsvQuote(std::string_view field);

}  // namespace dynamo
