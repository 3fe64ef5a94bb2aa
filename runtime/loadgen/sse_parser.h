#pragma once
// Incremental parser of a `text/event-stream` body (server-sent events, as OpenAI-compatible
// servers stream completions). Pure: no I/O.

#include <string>
#include <string_view>
#include <vector>

namespace dynamo::loadgen {

// Feeds on the bytes of an event stream in pieces of any size (an event, a line or a "\r\n"
// pair may be split across reads) and yields the data of every complete event: its "data:"
// lines joined by '\n' (one leading space after the colon is dropped), once the blank line that
// ends it has arrived. Lines may end in "\n", "\r\n" or "\r". Comment lines (":...") and other
// fields ("event:", "id:", "retry:") are ignored; an event whose data is empty is not yielded.
// An incomplete event at the end of the stream is never yielded.
//
// Owns a copy of the unfinished line and event only. Not thread-safe.
class SseParser {
 public:
  // Appends the data of each event completed by `bytes` to `events`, in stream order.
  void Feed(std::string_view bytes, std::vector<std::string>& events);

  // Bytes held for an unfinished line and event.
  size_t buffered_bytes() const { return line_.size() + data_.size(); }

 private:
  void ProcessLine(std::string_view line, std::vector<std::string>& events);

  std::string line_;       // the current line, while its end has not arrived
  std::string data_;       // data lines of the current event, joined by '\n'
  bool has_data_ = false;  // the current event has at least one data line
  bool skip_lf_ = false;   // the last byte was '\r': a '\n' next ends the same line
};

}  // namespace dynamo::loadgen
