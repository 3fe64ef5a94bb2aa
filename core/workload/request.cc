#include "core/workload/request.h"

#include <algorithm>

namespace dynamo {

void FinalizeOrder(Workload& w) {
  std::stable_sort(w.requests.begin(), w.requests.end(),
                   [](const Request& a, const Request& b) { return a.arrival < b.arrival; });
  for (size_t i = 0; i < w.requests.size(); ++i) w.requests[i].id = RequestId(i);
}

}  // namespace dynamo
