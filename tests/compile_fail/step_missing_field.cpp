// A decode without its output count (a field left out) does not compile.
#include "common.hpp"
int main() {
    const auto r = llmemu::ScheduledRequest::decode(3, 900);
    return static_cast<int>(r.num_computed_tokens);
}
