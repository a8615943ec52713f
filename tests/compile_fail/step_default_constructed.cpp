// A default-constructed request with fields filled in by hand does not compile.
#include "common.hpp"
int main() {
    llmemu::ScheduledRequest r;
    r.id = 1;
    return static_cast<int>(r.id);
}
