// The readers need llmemu::llmemu (simdjson): a model from a spec and the bundled pack.
#include <llmemu/io.hpp>

#include <cstdio>
#include <string>

int main() {
    llmemu::Rng rng(1);
    auto constant = llmemu::AnyLatencyModel::from_spec("const:30ms");
    if (constant.sample({llmemu::Phase::decode, 8, 8, 0}, rng).us != 30000.0) return 1;
    auto pack =
        llmemu::AnyLatencyModel::from_spec(std::string(LLMEMU_CONSUMER_DATA_DIR) + "/" + llmemu::bundled_pack_name);
    if (!(pack.sample({llmemu::Phase::decode, 8, 8, 0}, rng).us > 0.0)) return 1;
    std::printf("llmemu io consumer ok\n");
    return 0;
}
