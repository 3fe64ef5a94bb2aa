#pragma once
// Minimal CSV field splitting for trace and data files: commas, optional double quotes around a
// field (with "" for a literal quote), trailing \r ignored.

#include <string>
#include <string_view>
#include <vector>

namespace dynamo {

// Splits one line into fields. Returns false on an unterminated quote.
bool SplitCsvLine(std::string_view line, std::vector<std::string>& fields);

}  // namespace dynamo
