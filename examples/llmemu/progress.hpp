#pragma once
// A one-line progress bar on stderr for long runs: shown only on a terminal, only once a
// run has taken longer than a second, redrawn at most ten times a second, and erased at
// the end so the summary that follows starts on a clean line.

#include <chrono>
#include <cstdio>
#include <string>

#include <unistd.h>

namespace llmemu::cli {

class ProgressBar {
public:
    /// `enabled` false (--quiet) or stderr not a terminal: the bar never draws.
    ProgressBar(bool enabled, std::string label)
        : m_enabled(enabled && ::isatty(STDERR_FILENO) == 1), m_label(std::move(label)),
          m_start(std::chrono::steady_clock::now()) {}
    ProgressBar(const ProgressBar&) = delete;
    ProgressBar& operator=(const ProgressBar&) = delete;
    ~ProgressBar() { finish(); }

    /// Reports progress in [0, 1].
    void update(double fraction) {
        if (!m_enabled) return;
        const auto now = std::chrono::steady_clock::now();
        if (now - m_start < std::chrono::seconds(1)) return;
        if (m_drawn && now - m_last < std::chrono::milliseconds(100)) return;
        m_last = now;
        if (fraction < 0.0) fraction = 0.0;
        if (fraction > 1.0) fraction = 1.0;
        constexpr int width = 40;
        const int filled = static_cast<int>(fraction * width);
        std::string bar(static_cast<std::size_t>(filled), '#');
        bar.append(static_cast<std::size_t>(width - filled), '.');
        const double elapsed = std::chrono::duration<double>(now - m_start).count();
        std::fprintf(stderr, "\r%s [%s] %5.1f%% %6.1fs", m_label.c_str(), bar.c_str(), fraction * 100.0, elapsed);
        std::fflush(stderr);
        m_drawn = true;
    }

    /// Erases the bar (if it was drawn).
    void finish() {
        if (!m_drawn) return;
        std::fprintf(stderr, "\r%*s\r", static_cast<int>(m_label.size()) + 62, "");
        std::fflush(stderr);
        m_drawn = false;
    }

private:
    bool m_enabled;
    bool m_drawn = false;
    std::string m_label;
    std::chrono::steady_clock::time_point m_start, m_last;
};

} // namespace llmemu::cli
