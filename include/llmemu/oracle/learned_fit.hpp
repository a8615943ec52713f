#pragma once
/// \file learned_fit.hpp
/// fit_learned_model(): fits a LearnedLatencyModel to a profile pack (see learned_model.hpp
/// for the model). The only part of the learned model that needs Eigen (sparse LDLT for
/// the penalised spline surface), kept apart so that loading and sampling a fitted model,
/// and the umbrella header, do not parse Eigen's headers.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <Eigen/SparseCholesky>

#include "llmemu/config.hpp"
#include "llmemu/core/quantile.hpp"
#include "llmemu/error.hpp"
#include "llmemu/oracle/learned_model.hpp"
#include "llmemu/profile/store.hpp"
#include "llmemu/random.hpp"

LLMEMU_BEGIN_NAMESPACE

namespace detail {

struct LearnedBucket {
    double tt = 0.0;
    double conc = 0.0;
    double y = 0.0; // log median (µs)
    double w = 0.0;
};

inline double learned_log(double us) {
    return std::log(std::max(us, 1e-3));
}

inline double learned_median(std::span<const float> s, std::vector<float>& tmp) {
    tmp.assign(s.begin(), s.end());
    return median_unsorted<float>(tmp);
}

// Penalised least squares of the log medians of the buckets with use[i] on the knot
// grid; returns the coefficients (ybar + solution, so the ridge pulls toward the mean).
inline std::vector<double> learned_fit_surface_l2(const std::vector<LearnedBucket>& b, const std::vector<char>& use,
                                                  const KnotGrid& gt, const KnotGrid& gc, double lambda) {
    const std::size_t nt = gt.count;
    const std::size_t nc = gc.count;
    const std::size_t m = nt * nc;
    double wsum = 0.0;
    double ysum = 0.0;
    for (std::size_t i = 0; i < b.size(); ++i) {
        if (!use[i]) continue;
        wsum += b[i].w;
        ysum += b[i].w * b[i].y;
    }
    const double ybar = wsum > 0.0 ? ysum / wsum : 0.0;
    std::vector<Eigen::Triplet<double>> trip;
    trip.reserve(b.size() * 16 + m * 20);
    Eigen::VectorXd rhs = Eigen::VectorXd::Zero(static_cast<Eigen::Index>(m));
    for (std::size_t i = 0; i < b.size(); ++i) {
        if (!use[i]) continue;
        std::uint32_t ti = 0;
        std::uint32_t ci = 0;
        double a = 0.0;
        double c = 0.0;
        gt.locate(b[i].tt, ti, a);
        gc.locate(b[i].conc, ci, c);
        const std::array<std::size_t, 4> idx{ti * nc + ci, ti * nc + ci + 1, (ti + 1) * nc + ci,
                                             (ti + 1) * nc + ci + 1};
        const std::array<double, 4> wt{(1 - a) * (1 - c), (1 - a) * c, a * (1 - c), a * c};
        for (std::size_t p = 0; p < 4; ++p) {
            rhs[static_cast<Eigen::Index>(idx[p])] += b[i].w * wt[p] * (b[i].y - ybar);
            for (std::size_t q = 0; q < 4; ++q)
                trip.emplace_back(static_cast<int>(idx[p]), static_cast<int>(idx[q]), b[i].w * wt[p] * wt[q]);
        }
    }
    // Second differences along each axis, scaled so that lambda is relative to the data weight.
    const double lam = lambda * (wsum > 0.0 ? wsum : 1.0) / static_cast<double>(m);
    auto add_diff = [&](std::size_t i0, std::size_t i1, std::size_t i2) {
        const std::array<std::size_t, 3> idx{i0, i1, i2};
        const std::array<double, 3> cf{1.0, -2.0, 1.0};
        for (std::size_t p = 0; p < 3; ++p)
            for (std::size_t q = 0; q < 3; ++q)
                trip.emplace_back(static_cast<int>(idx[p]), static_cast<int>(idx[q]), lam * cf[p] * cf[q]);
    };
    for (std::size_t c = 0; c < nc; ++c)
        for (std::size_t t = 1; t + 1 < nt; ++t) add_diff((t - 1) * nc + c, t * nc + c, (t + 1) * nc + c);
    for (std::size_t t = 0; t < nt; ++t)
        for (std::size_t c = 1; c + 1 < nc; ++c) add_diff(t * nc + c - 1, t * nc + c, t * nc + c + 1);
    const double ridge = 1e-6 * (wsum > 0.0 ? wsum : 1.0) / static_cast<double>(m);
    for (std::size_t k = 0; k < m; ++k) trip.emplace_back(static_cast<int>(k), static_cast<int>(k), ridge);
    Eigen::SparseMatrix<double> a(static_cast<Eigen::Index>(m), static_cast<Eigen::Index>(m));
    a.setFromTriplets(trip.begin(), trip.end());
    Eigen::SimplicialLDLT<Eigen::SparseMatrix<double>> solver(a);
    std::vector<double> out(m, ybar);
    if (solver.info() != Eigen::Success) return out;
    const Eigen::VectorXd x = solver.solve(rhs);
    if (solver.info() != Eigen::Success) return out;
    for (std::size_t k = 0; k < m; ++k)
        if (std::isfinite(x[static_cast<Eigen::Index>(k)])) out[k] += x[static_cast<Eigen::Index>(k)];
    return out;
}

// Median (L1) regression of the log medians by iteratively reweighted least squares: the
// surface follows the dominant mode of multi-modal neighbourhoods instead of averaging
// between modes. `iterations` = 0 gives the least-squares fit.
inline std::vector<double> learned_fit_surface(const std::vector<LearnedBucket>& b, const std::vector<char>& use,
                                               const KnotGrid& gt, const KnotGrid& gc, double lambda,
                                               std::uint32_t iterations) {
    std::vector<double> c = learned_fit_surface_l2(b, use, gt, gc, lambda);
    if (iterations == 0) return c;
    std::vector<LearnedBucket> rw = b;
    for (std::uint32_t it = 0; it < iterations; ++it) {
        for (std::size_t i = 0; i < b.size(); ++i) {
            if (!use[i]) continue;
            const double r = std::abs(b[i].y - knot_grid_eval(c.data(), gt, gc, b[i].tt, b[i].conc));
            rw[i].w = b[i].w / std::max(r, 0.01);
        }
        c = learned_fit_surface_l2(rw, use, gt, gc, lambda);
    }
    return c;
}

// Weighted quantile function of (value, weight) pairs at `levels` evenly spaced levels,
// interpolated between the weight midpoints; values come back exponentiated. Not the step
// inverse of core/quantile.hpp on purpose: the model samples its ratios from this table,
// so it must be continuous (a step inverse would only replay the fitted residuals).
inline void learned_quantiles(std::vector<std::pair<double, double>>& v, std::uint32_t levels, double* out) {
    std::sort(v.begin(), v.end());
    double total = 0.0;
    for (const auto& p : v) total += p.second;
    std::vector<double> mid(v.size());
    double cum = 0.0;
    for (std::size_t i = 0; i < v.size(); ++i) {
        mid[i] = (cum + 0.5 * v[i].second) / total;
        cum += v[i].second;
    }
    std::size_t k = 0;
    for (std::uint32_t l = 0; l < levels; ++l) {
        const double p = static_cast<double>(l) / static_cast<double>(levels - 1);
        double val = 0.0;
        if (l == 0) {
            val = v.front().first;
        } else if (l + 1 == levels) {
            val = v.back().first;
        } else if (p <= mid.front()) {
            val = v.front().first;
        } else if (p >= mid.back()) {
            val = v.back().first;
        } else {
            while (k + 1 < mid.size() && mid[k + 1] < p) ++k;
            const double span = mid[k + 1] - mid[k];
            const double f = span > 0.0 ? (p - mid[k]) / span : 0.0;
            val = v[k].first + f * (v[k + 1].first - v[k].first);
        }
        out[l] = std::exp(val);
    }
    for (std::uint32_t l = 1; l < levels; ++l) out[l] = std::max(out[l], out[l - 1]);
}

inline double learned_weighted_quantile(std::vector<std::pair<double, double>> v, double p) {
    std::sort(v.begin(), v.end());
    return weighted_quantile_sorted(v, p);
}

/// Fits one table (see the file comment). Throws profile_error for an empty table.
inline LearnedTable fit_learned_table(const ProfileTable& t, TableKind kind, const RooflineTerms& roof,
                                      const LearnedFitOptions& opt) {
    opt.validate();
    if (t.empty()) throw profile_error("learned model: table " + std::string(table_name(kind)) + " has no buckets");
    LearnedTable out;
    out.table = kind;
    out.buckets = t.size();
    out.samples = t.num_samples();
    out.levels = opt.quantile_levels;
    out.tt_min = t.tt_min();
    out.tt_max = t.tt_max();
    out.conc_min = t.conc_min();
    out.conc_max = t.conc_max();
    const std::size_t n = t.size();
    std::vector<LearnedBucket> b(n);
    std::vector<double> medians(n);
    std::vector<float> tmp;
    std::vector<double> distinct_tt;
    std::vector<double> distinct_conc;
    for (std::size_t i = 0; i < n; ++i) {
        medians[i] = learned_median(t.samples(i), tmp);
        b[i] = {static_cast<double>(t.tt(i)), static_cast<double>(t.conc(i)), learned_log(medians[i]),
                static_cast<double>(std::min(t.count(i), opt.weight_cap))};
        distinct_tt.push_back(b[i].tt);
        distinct_conc.push_back(b[i].conc);
    }
    for (auto* d : {&distinct_tt, &distinct_conc}) {
        std::sort(d->begin(), d->end());
        d->erase(std::unique(d->begin(), d->end()), d->end());
    }
    const auto n_conc = static_cast<std::uint32_t>(
        std::clamp<std::size_t>(std::min<std::size_t>(distinct_conc.size(), opt.conc_knots), 2, 128));
    out.conc_grid = KnotGrid::spanning(out.conc_min, out.conc_max, n_conc);

    // Cross-validation over (token knots, penalty): folds of buckets, weighted mean
    // absolute log error of the held-out medians.
    std::vector<std::uint32_t> tt_choices;
    for (std::uint32_t k = 8; k <= opt.max_tt_knots; k *= 2)
        tt_choices.push_back(
            std::min<std::uint32_t>(k, static_cast<std::uint32_t>(std::max<std::size_t>(2, distinct_tt.size()))));
    if (tt_choices.empty()) tt_choices.push_back(std::min<std::uint32_t>(opt.max_tt_knots, 8));
    std::sort(tt_choices.begin(), tt_choices.end());
    tt_choices.erase(std::unique(tt_choices.begin(), tt_choices.end()), tt_choices.end());
    const std::array<double, 3> lambdas{0.1, 1.0, 10.0};
    const std::uint32_t folds = n >= 2 * std::size_t{opt.folds} ? opt.folds : 0;
    std::vector<std::uint32_t> fold(n, 0);
    if (folds != 0) {
        std::vector<std::size_t> order(n);
        for (std::size_t i = 0; i < n; ++i) order[i] = i;
        Rng rng(opt.seed ^ 0xA5A5A5A5ULL ^ (static_cast<std::uint64_t>(kind) << 32U));
        for (std::size_t i = n; i > 1; --i) std::swap(order[i - 1], order[uniform_index(rng, i)]);
        for (std::size_t i = 0; i < n; ++i) fold[order[i]] = static_cast<std::uint32_t>(i % folds);
    }
    std::vector<double> cv_pred(n, 0.0);
    double best_loss = std::numeric_limits<double>::infinity();
    KnotGrid best_tt = KnotGrid::spanning(out.tt_min, out.tt_max, tt_choices.front());
    double best_lambda = 1.0;
    if (folds != 0) {
        std::vector<double> pred(n);
        std::vector<char> use(n);
        for (std::uint32_t k : tt_choices) {
            const KnotGrid gt = KnotGrid::spanning(out.tt_min, out.tt_max, k);
            for (double lam : lambdas) {
                for (std::uint32_t f = 0; f < folds; ++f) {
                    for (std::size_t i = 0; i < n; ++i) use[i] = fold[i] != f;
                    LearnedTable probe;
                    probe.tt_grid = gt;
                    probe.conc_grid = out.conc_grid;
                    probe.log_median = learned_fit_surface(b, use, gt, out.conc_grid, lam, opt.l1_iterations);
                    for (std::size_t i = 0; i < n; ++i)
                        if (!use[i]) pred[i] = probe.surface(b[i].tt, b[i].conc);
                }
                double loss = 0.0;
                double wsum = 0.0;
                for (std::size_t i = 0; i < n; ++i) {
                    loss += b[i].w * std::abs(pred[i] - b[i].y);
                    wsum += b[i].w;
                }
                loss /= wsum;
                if (loss < best_loss - 1e-12) {
                    best_loss = loss;
                    best_tt = gt;
                    best_lambda = lam;
                    cv_pred = pred;
                }
            }
        }
    }
    out.tt_grid = best_tt;
    out.lambda = best_lambda;
    out.log_median =
        learned_fit_surface(b, std::vector<char>(n, 1), out.tt_grid, out.conc_grid, out.lambda, opt.l1_iterations);
    if (folds == 0) {
        for (std::size_t i = 0; i < n; ++i) cv_pred[i] = out.surface(b[i].tt, b[i].conc);
        best_loss = 0.0;
    }
    out.cv_abs_log_error = best_loss;

    // Edge trend: median (µs) ~ a + slope * FLOPs over the largest-tt buckets.
    {
        std::vector<std::size_t> idx(n);
        for (std::size_t i = 0; i < n; ++i) idx[i] = i;
        std::sort(idx.begin(), idx.end(), [&](std::size_t x, std::size_t y) { return b[x].tt > b[y].tt; });
        auto line = [&](std::size_t m) {
            double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
            for (std::size_t k = 0; k < m; ++k) {
                const std::size_t i = idx[k];
                const double x = roof.flops(b[i].tt, b[i].conc);
                const double w = b[i].w;
                sw += w;
                sx += w * x;
                sy += w * medians[i];
                sxx += w * x * x;
                sxy += w * x * medians[i];
            }
            const double den = sw * sxx - sx * sx;
            return den > 0.0 ? (sw * sxy - sx * sy) / den : 0.0;
        };
        // Theil-Sen over the edge buckets: the median of pairwise slopes, robust to a
        // multi-modal edge bucket (a least-squares line through the A40 decode edge is
        // pulled 10x steeper by its bimodal last bucket).
        auto theil_sen = [&](std::size_t m) {
            std::vector<double> slopes;
            slopes.reserve(m * (m - 1) / 2);
            for (std::size_t p = 0; p < m; ++p) {
                for (std::size_t q = p + 1; q < m; ++q) {
                    const std::size_t i = idx[p];
                    const std::size_t j = idx[q];
                    const double dx = roof.flops(b[i].tt, b[i].conc) - roof.flops(b[j].tt, b[j].conc);
                    if (std::abs(dx) > 0.0) slopes.push_back((medians[i] - medians[j]) / dx);
                }
            }
            if (slopes.empty()) return 0.0;
            // Theil-Sen's slope: the upper median of the pairwise slopes (one of them, by
            // selection; the estimator needs no interpolation, and fits stay as pinned).
            std::nth_element(slopes.begin(), slopes.begin() + static_cast<std::ptrdiff_t>(slopes.size() / 2),
                             slopes.end());
            return slopes[slopes.size() / 2];
        };
        const std::size_t m = std::min<std::size_t>(
            std::min(n, std::max<std::size_t>(8, static_cast<std::size_t>(std::ceil(opt.edge_fraction * n)))), 400);
        double slope = theil_sen(m);
        if (!(slope > 0.0) || !std::isfinite(slope)) slope = line(n);
        if (!(slope > 0.0) || !std::isfinite(slope)) {
            // Flat or falling data: latency proportional to FLOPs at the edge (compute-bound).
            const std::size_t i = idx.front();
            const double f = roof.flops(b[i].tt, b[i].conc);
            slope = f > 0.0 ? medians[i] / f : 0.0;
        }
        out.edge_slope = std::isfinite(slope) && slope > 0.0 ? slope : 0.0;
    }

    // Conformal residuals by region: boundaries at weighted quantiles of bucket tt / conc.
    {
        std::vector<std::pair<double, double>> tw;
        std::vector<std::pair<double, double>> cw;
        for (const auto& x : b) {
            tw.emplace_back(x.tt, 1.0);
            cw.emplace_back(x.conc, 1.0);
        }
        auto bounds = [](const std::vector<std::pair<double, double>>& v, std::initializer_list<double> ps) {
            std::vector<double> out_b;
            for (double p : ps) {
                const double q = learned_weighted_quantile(v, p);
                if (out_b.empty() || q > out_b.back()) out_b.push_back(q);
            }
            return out_b;
        };
        out.tt_bounds = n >= 40 ? bounds(tw, {0.25, 0.5, 0.75}) : std::vector<double>{};
        out.conc_bounds = n >= 40 ? bounds(cw, {1.0 / 3.0, 2.0 / 3.0}) : std::vector<double>{};
        const std::size_t regions = out.regions();
        std::vector<std::vector<std::pair<double, double>>> res(regions);
        std::vector<std::pair<double, double>> all;
        std::vector<std::size_t> region_buckets(regions, 0);
        for (std::size_t i = 0; i < n; ++i) {
            const auto s = t.samples(i);
            const double w = b[i].w / static_cast<double>(s.size());
            const auto rt = static_cast<std::size_t>(
                std::upper_bound(out.tt_bounds.begin(), out.tt_bounds.end(), b[i].tt) - out.tt_bounds.begin());
            const auto rc = static_cast<std::size_t>(
                std::upper_bound(out.conc_bounds.begin(), out.conc_bounds.end(), b[i].conc) - out.conc_bounds.begin());
            const std::size_t r = rt * (out.conc_bounds.size() + 1) + rc;
            ++region_buckets[r];
            for (float v : s) {
                const double lr = learned_log(v) - cv_pred[i];
                res[r].emplace_back(lr, w);
                all.emplace_back(lr, w);
            }
        }
        out.ratio_quantiles.assign(regions * out.levels, 1.0);
        std::vector<double> pooled(out.levels);
        learned_quantiles(all, out.levels, pooled.data());
        for (std::size_t r = 0; r < regions; ++r) {
            double* dst = out.ratio_quantiles.data() + r * out.levels;
            if (region_buckets[r] >= 5 && res[r].size() >= 30)
                learned_quantiles(res[r], out.levels, dst);
            else
                std::copy(pooled.begin(), pooled.end(), dst);
        }
    }
    return out;
}

} // namespace detail

/// Fits every table of `store` (throws profile_error for a store without tables,
/// config_error for bad options); `source` names the pack in the model file.
[[nodiscard]] inline LearnedLatencyModel
fit_learned_model(const ProfileStore& store, const LearnedFitOptions& options = {}, std::string source = {}) {
    options.validate();
    auto s = std::make_shared<detail::LearnedState>();
    s->model = store.model_config();
    s->gpu_model = store.gpu_model();
    s->source = std::move(source);
    s->roof = RooflineTerms::from(s->model);
    s->fit = options;
    for (TableKind k : all_table_kinds)
        if (const ProfileTable* t = store.table(k); t && !t->empty())
            s->tables.push_back(detail::fit_learned_table(*t, k, s->roof, options));
    detail::learned_pick_phases(*s, s->source.empty() ? "<fit>" : s->source);
    return LearnedLatencyModel(std::move(s));
}

LLMEMU_END_NAMESPACE
