// Runs every kernel of cuda/*.cu on the CPU emulator (emu.h) against plain loops; exit status 1 on a mismatch.
// Build and run: scripts/emulate-kernels.sh
#include "emu.h"

#include "../adam.cu"
#include "../bitmask.cu"
#include "../csr.cu"
#include "../elementwise.cu"
#include "../layernorm.cu"
#include "../loss.cu"

#include <algorithm>
#include <string>

using std::vector;
typedef unsigned u32;

static int failures = 0;

static void check(const std::string& what, const vector<float>& got, const vector<float>& want, float tol) {
    for (size_t i = 0; i < want.size(); ++i) {
        if (!(std::fabs(got[i] - want[i]) <= tol * (1.0f + std::fabs(want[i])))) {
            std::fprintf(stderr, "MISMATCH %s[%zu]: kernel %g, reference %g\n", what.c_str(), i, got[i], want[i]);
            ++failures;
            return;
        }
    }
}

static vector<float> data(size_t len, float seed) {
    vector<float> v(len);
    for (size_t i = 0; i < len; ++i) v[i] = std::sin((i + seed) * 0.754f);
    return v;
}

static bool live(int r, int c, int k, int seed) {
    const int i = r * k + c;
    return (i * 7 + seed * 13) % 5 < 2 || i % 11 == 0;
}

// Launch shapes as src/gpu/ops.rs; `ycap` caps the grid's y extent to exercise the kernels' stride loops.
static unsigned threads_for(int b) { return (unsigned)std::clamp((b + 31) / 32 * 32, 32, 256); }

static void linear_tests(int n, int k, int b, int ycap) {
    const std::string shape = std::to_string(n) + "x" + std::to_string(k) + "x" + std::to_string(b);
    vector<float> w = data((size_t)n * k, 1), x = data((size_t)k * b, 2), dy = data((size_t)n * b, 3);
    vector<float> bias = data(n, 4), act = data((size_t)k * b, 5);
    const int wpr = 2 * ((k + 63) / 64);
    vector<u32> words((size_t)n * wpr, 0), row_ptr{0}, col_idx, row_idx;
    for (int r = 0; r < n; ++r) {
        for (int c = 0; c < k; ++c) {
            if (live(r, c, k, n + k)) {
                words[(size_t)r * wpr + c / 32] |= 1u << (c % 32);
                col_idx.push_back(c);
                row_idx.push_back(r);
            } else {
                w[(size_t)r * k + c] = 0.0f;
            }
        }
        row_ptr.push_back((u32)col_idx.size());
    }
    const int nnz = (int)col_idx.size();
    vector<float> val(nnz);
    for (int e = 0; e < nnz; ++e) val[e] = w[(size_t)row_idx[e] * k + col_idx[e]];
    vector<u32> t_ptr(k + 1, 0), t_row(nnz), t_pos(nnz);
    for (int e = 0; e < nnz; ++e) t_ptr[col_idx[e] + 1]++;
    for (int c = 0; c < k; ++c) t_ptr[c + 1] += t_ptr[c];
    vector<u32> next(t_ptr.begin(), t_ptr.end() - 1);
    for (int e = 0; e < nnz; ++e) {
        const u32 s = next[col_idx[e]]++;
        t_row[s] = row_idx[e];
        t_pos[s] = e;
    }

    // References: dense loops over the masked weight.
    vector<float> y_ref((size_t)n * b), yr_ref((size_t)n * b), dx_ref((size_t)k * b, 0), dxr_ref, dw_ref((size_t)n * k, 0);
    for (int r = 0; r < n; ++r)
        for (int s = 0; s < b; ++s) {
            float acc = 0;
            for (int c = 0; c < k; ++c) acc += w[(size_t)r * k + c] * x[(size_t)c * b + s];
            y_ref[(size_t)r * b + s] = acc + bias[r];
            yr_ref[(size_t)r * b + s] = std::max(acc + bias[r], 0.0f);
        }
    for (int c = 0; c < k; ++c)
        for (int s = 0; s < b; ++s) {
            float acc = 0;
            for (int r = 0; r < n; ++r) acc += w[(size_t)r * k + c] * dy[(size_t)r * b + s];
            dx_ref[(size_t)c * b + s] = acc;
        }
    dxr_ref = dx_ref;
    for (size_t i = 0; i < dxr_ref.size(); ++i)
        if (!(act[i] > 0)) dxr_ref[i] = 0;
    for (int r = 0; r < n; ++r)
        for (int c = 0; c < k; ++c)
            if (live(r, c, k, n + k)) {
                float acc = 0;
                for (int s = 0; s < b; ++s) acc += dy[(size_t)r * b + s] * x[(size_t)c * b + s];
                dw_ref[(size_t)r * k + c] = acc;
            }

    const unsigned th = threads_for(b);
    const dim3 gf{(unsigned)((b + th - 1) / th), (unsigned)std::max(1, std::min(n, ycap)), 1};
    const dim3 gi{(unsigned)((b + th - 1) / th), (unsigned)std::max(1, std::min(k, ycap)), 1};
    for (int relu = 0; relu < 2; ++relu) {
        vector<float> y((size_t)n * b, NAN);
        emu::launch(gf, th, [&] { csr_linear_forward(n, b, row_ptr.data(), col_idx.data(), val.data(), x.data(), bias.data(), relu, y.data()); });
        check("csr_linear_forward " + shape, y, relu ? yr_ref : y_ref, 1e-5f);
        vector<float> y2((size_t)n * b, NAN);
        emu::launch(gf, th, [&] { bitmask_linear_forward(n, k, b, wpr, words.data(), w.data(), x.data(), bias.data(), relu, y2.data()); });
        check("bitmask_linear_forward " + shape, y2, relu ? yr_ref : y_ref, 1e-5f);
    }
    for (int fused = 0; fused < 2; ++fused) {
        const float* a = fused ? act.data() : nullptr;
        vector<float> dx((size_t)k * b, NAN), dx2((size_t)k * b, NAN);
        emu::launch(gi, th, [&] { csr_linear_backward_input(k, b, t_ptr.data(), t_row.data(), t_pos.data(), val.data(), dy.data(), a, dx.data()); });
        check("csr_linear_backward_input " + shape, dx, fused ? dxr_ref : dx_ref, 1e-5f);
        emu::launch(gi, th, [&] { bitmask_linear_backward_input(n, k, b, wpr, words.data(), w.data(), dy.data(), a, dx2.data()); });
        check("bitmask_linear_backward_input " + shape, dx2, fused ? dxr_ref : dx_ref, 1e-5f);
    }
    vector<float> dwc(nnz, NAN), dwb((size_t)n * k, NAN), dwc_ref(nnz);
    for (int e = 0; e < nnz; ++e) dwc_ref[e] = dw_ref[(size_t)row_idx[e] * k + col_idx[e]];
    emu::launch(dim3{(unsigned)std::max(1, (nnz + 7) / 8), 1, 1}, 256, [&] { csr_linear_backward_weight(nnz, b, row_idx.data(), col_idx.data(), dy.data(), x.data(), dwc.data()); });
    check("csr_linear_backward_weight " + shape, dwc, dwc_ref, 1e-5f);
    emu::launch(dim3{(unsigned)std::max(1, (n * k + 7) / 8), 1, 1}, 256, [&] { bitmask_linear_backward_weight(n, k, b, wpr, words.data(), dy.data(), x.data(), dwb.data()); });
    check("bitmask_linear_backward_weight " + shape, dwb, dw_ref, 1e-5f);
    for (size_t i = 0; i < dwb.size(); ++i)
        if (dw_ref[i] == 0.0f && !live((int)(i / k), (int)(i % k), k, n + k) && dwb[i] != 0.0f) ++failures;

    // Adam, both forms, 3 steps with penalties, against the scalar formula.
    vector<float> p = w, pb = w, g = dw_ref, m((size_t)n * k, 0), v((size_t)n * k, 0), mb = m, vb = v;
    vector<float> pc = val, gc = dwc_ref, mc(nnz, 0), vc(nnz, 0);
    for (int t = 1; t <= 3; ++t) {
        const float b1 = 0.9f, b2 = 0.999f, lr = 1e-2f, l1 = 1e-3f, two_l2 = 2e-2f;
        const float step = lr / (1.0f - std::pow(b1, (float)t)), bc2 = std::sqrt(1.0f - std::pow(b2, (float)t));
        for (size_t i = 0; i < p.size(); ++i) {
            if (!live((int)(i / k), (int)(i % k), k, n + k)) continue;
            const float sg = p[i] > 0 ? 1.f : (p[i] < 0 ? -1.f : 0.f);
            const float gg = g[i] + (two_l2 * p[i] + l1 * sg);
            m[i] = b1 * m[i] + (1 - b1) * gg;
            v[i] = b2 * v[i] + (1 - b2) * gg * gg;
            p[i] -= step * m[i] / (std::sqrt(v[i]) / bc2 + 1e-8f);
        }
        const long long len = (long long)n * k;
        emu::launch(dim3{(unsigned)std::max<long long>(1, (len + 255) / 256), 1, 1}, 256, [&] {
            adam_update_bitmask(n, k, wpr, words.data(), pb.data(), g.data(), mb.data(), vb.data(), step, bc2, b1, b2, 1e-8f, l1, two_l2); });
        emu::launch(dim3{(unsigned)std::max(1, (nnz + 255) / 256), 1, 1}, 256, [&] {
            adam_update(nnz, pc.data(), gc.data(), mc.data(), vc.data(), step, bc2, b1, b2, 1e-8f, l1, two_l2); });
    }
    check("adam_update_bitmask " + shape, pb, p, 1e-6f);
    vector<float> pc_ref(nnz);
    for (int e = 0; e < nnz; ++e) pc_ref[e] = p[(size_t)row_idx[e] * k + col_idx[e]];
    check("adam_update " + shape, pc, pc_ref, 1e-6f);

    // Bias gradient, ReLU backward.
    vector<float> db(n, NAN), db_ref(n, 0);
    for (int r = 0; r < n; ++r)
        for (int s = 0; s < b; ++s) db_ref[r] += dy[(size_t)r * b + s];
    emu::launch(dim3{(unsigned)std::min(n, ycap), 1, 1}, 256, [&] { bias_grad(n, b, dy.data(), db.data()); });
    check("bias_grad " + shape, db, db_ref, 1e-5f);
    vector<float> gr = dx_ref;
    emu::launch(dim3{2, 1, 1}, 64, [&] { relu_backward((long long)gr.size(), gr.data(), act.data()); });
    check("relu_backward " + shape, gr, dxr_ref, 0.0f);
}

static void loss_and_misc_tests(int b, int classes, int d) {
    const std::string shape = std::to_string(b) + "x" + std::to_string(classes);
    const unsigned th = threads_for(b);
    const dim3 g1{(unsigned)((b + th - 1) / th), 1, 1};
    vector<float> z = data(b, 1), grad(b, NAN), loss(b, NAN), grad_ref(b), loss_ref(b);
    vector<u32> y(b);
    double total = 0;
    for (int s = 0; s < b; ++s) {
        z[s] *= 30;
        y[s] = s % 3 == 0;
        const float e = std::exp(-std::fabs(z[s]));
        loss_ref[s] = std::max(z[s], 0.f) - z[s] * y[s] + std::log1p(e);
        grad_ref[s] = (1.0f / (1.0f + std::exp(-z[s])) - y[s]) / b;
        total += loss_ref[s];
    }
    emu::launch(g1, th, [&] { bce_with_logits(b, z.data(), y.data(), grad.data(), loss.data()); });
    check("bce grad " + shape, grad, grad_ref, 1e-5f);
    check("bce loss " + shape, loss, loss_ref, 1e-5f);
    vector<double> out(3, NAN);
    emu::launch(dim3{1, 1, 1}, 256, [&] { sum_into(b, loss.data(), out.data(), 2); });
    check("sum_into " + shape, {(float)out[2]}, {(float)total}, 1e-5f);

    vector<float> zc = data((size_t)b * classes, 2), gc((size_t)b * classes, NAN), gc_ref((size_t)b * classes), lc(b), lc_ref(b);
    for (auto& v : zc) v *= 20;
    for (int s = 0; s < b; ++s) {
        y[s] = (s * 7) % classes;
        float mx = -INFINITY, sum = 0;
        for (int c = 0; c < classes; ++c) mx = std::max(mx, zc[(size_t)c * b + s]);
        for (int c = 0; c < classes; ++c) sum += std::exp(zc[(size_t)c * b + s] - mx);
        lc_ref[s] = mx + std::log(sum) - zc[(size_t)y[s] * b + s];
        for (int c = 0; c < classes; ++c)
            gc_ref[(size_t)c * b + s] = (std::exp(zc[(size_t)c * b + s] - mx) / sum - (c == (int)y[s])) / b;
    }
    emu::launch(g1, th, [&] { softmax_ce(b, classes, zc.data(), y.data(), gc.data(), lc.data()); });
    check("softmax grad " + shape, gc, gc_ref, 1e-5f);
    check("softmax loss " + shape, lc, lc_ref, 1e-5f);
    // A label out of range: that sample's loss is NaN and no index outside the logits is touched (the emulator
    // runs on host memory, so a stray write would show in the other samples' gradients below).
    y[0] = (u32)classes;
    if (b > 1) y[1] = 0xffffffffu;
    emu::launch(g1, th, [&] { softmax_ce(b, classes, zc.data(), y.data(), gc.data(), lc.data()); });
    failures += !std::isnan(lc[0]) || (b > 1 && !std::isnan(lc[1]));
    for (int s = 2; s < b; ++s) failures += lc[s] != lc[s] || std::fabs(lc[s] - lc_ref[s]) > 1e-5f * (1 + std::fabs(lc_ref[s]));

    // Gather: rows idx[s] of a sample-major table into a feature-major batch.
    const int rows = 2 * b + 3;
    vector<float> table = data((size_t)rows * d, 6), xt((size_t)d * b, NAN), xt_ref((size_t)d * b);
    vector<u32> labels(rows), idx(b), yb(b, 99), yb_ref(b);
    for (int r = 0; r < rows; ++r) labels[r] = r % 5;
    for (int s = 0; s < b; ++s) {
        idx[s] = (s * 37 + 5) % rows;
        yb_ref[s] = labels[idx[s]];
        for (int j = 0; j < d; ++j) xt_ref[(size_t)j * b + s] = table[(size_t)idx[s] * d + j];
    }
    emu::launch(dim3{g1.x, (unsigned)std::min(d, 3), 1}, th, [&] { gather_batch(d, b, idx.data(), table.data(), labels.data(), xt.data(), yb.data()); });
    check("gather_batch x " + shape, xt, xt_ref, 0.0f);
    for (int s = 0; s < b; ++s) failures += yb[s] != yb_ref[s];

    // LayerNorm over d features of b samples.
    vector<float> x = data((size_t)d * b, 7), gam = data(d, 8), bet = data(d, 9), dy = data((size_t)d * b, 10);
    vector<float> yl((size_t)d * b, NAN), mean(b), rstd(b), yl_ref((size_t)d * b), dx((size_t)d * b, NAN), dx_ref((size_t)d * b);
    vector<float> dg(d, NAN), dbt(d, NAN), dg_ref(d, 0), db_ref(d, 0);
    for (int s = 0; s < b; ++s) {
        float mu = 0, var = 0;
        for (int j = 0; j < d; ++j) mu += x[(size_t)j * b + s];
        mu /= d;
        for (int j = 0; j < d; ++j) var += (x[(size_t)j * b + s] - mu) * (x[(size_t)j * b + s] - mu);
        const float rs = 1.0f / std::sqrt(var / d + 1e-5f);
        float sg = 0, sgx = 0;
        for (int j = 0; j < d; ++j) {
            const size_t i = (size_t)j * b + s;
            const float xh = (x[i] - mu) * rs;
            yl_ref[i] = xh * gam[j] + bet[j];
            sg += dy[i] * gam[j];
            sgx += dy[i] * gam[j] * xh;
            dg_ref[j] += dy[i] * xh;
            db_ref[j] += dy[i];
        }
        for (int j = 0; j < d; ++j) {
            const size_t i = (size_t)j * b + s;
            dx_ref[i] = rs * (dy[i] * gam[j] - sg / d - (x[i] - mu) * rs * sgx / d);
        }
    }
    emu::launch(g1, th, [&] { layer_norm_forward(d, b, 1e-5f, x.data(), gam.data(), bet.data(), yl.data(), mean.data(), rstd.data()); });
    check("layer_norm_forward " + shape, yl, yl_ref, 1e-4f);
    emu::launch(g1, th, [&] { layer_norm_backward_input(d, b, dy.data(), x.data(), gam.data(), mean.data(), rstd.data(), dx.data()); });
    check("layer_norm_backward_input " + shape, dx, dx_ref, 1e-4f);
    emu::launch(dim3{(unsigned)std::min(d, 2), 1, 1}, 256, [&] { layer_norm_backward_params(d, b, dy.data(), x.data(), mean.data(), rstd.data(), dg.data(), dbt.data()); });
    check("layer_norm dgamma " + shape, dg, dg_ref, 1e-4f);
    check("layer_norm dbeta " + shape, dbt, db_ref, 1e-4f);
}

int main() {
    const int shapes[][4] = {{1, 1, 1, 65535}, {3, 5, 17, 65535}, {4, 32, 300, 65535}, {9, 70, 33, 4}, {16, 129, 15, 5}, {5, 64, 257, 2}};
    for (auto& s : shapes) linear_tests(s[0], s[1], s[2], s[3]);
    for (int b : {1, 7, 300}) loss_and_misc_tests(b, 5, 6);
    if (failures) {
        std::fprintf(stderr, "emulated kernels: %d mismatch(es)\n", failures);
        return 1;
    }
    std::printf("emulated kernels: all match their references\n");
    return 0;
}
