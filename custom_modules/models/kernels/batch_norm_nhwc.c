/* Training-mode batch norm of a channels-last float32 tensor, read as a (rows x channels)
 * matrix (rows = N * H * W), with an optional residual addition and ReLU fused in.
 *
 * Built and loaded by custom_modules/models/c_kernels.py (the system C compiler, -O3
 * -march=native -fopenmp); the autograd function around it is
 * custom_modules/models/batch_norm_act.py.
 *
 * Layout trick: g consecutive rows of C channels are read as one row of g * C values
 * (g = 64 / C, at least 1), so every element-wise pass and every per-channel sum runs over
 * rows of up to 64 contiguous values, which vectorise whatever C is (6, 13, 26, 52, ...).
 * Per-channel vectors are tiled g times. Rows left over (rows % g) are done one by one.
 *
 * Sums: each thread sums 64 grouped rows at a time in float, adds those partial sums into
 * double accumulators of its own, and the threads' accumulators are added in thread order,
 * so a result depends only on the thread count. The statistics are taken about a shift (the
 * first row) in one pass over the input.
 *
 * Threads: OpenMP, the runtime PyTorch has loaded (libgomp, same soname), nthreads given by
 * the caller (torch.get_num_threads()).
 */
#include <stdint.h>
#include <stdlib.h>
#include <omp.h>

#define LANES 64
#define CHUNK 64

static int64_t row_groups(int64_t channels) {
    int64_t g = LANES / channels;
    return g < 1 ? 1 : g;
}

/* Tile a per-channel vector g times into out[g * C]. */
static void tile(const float *v, float *out, int64_t C, int64_t W) {
    for (int64_t j = 0; j < W; j++) out[j] = v[j % C];
}

/* Rows [lo, hi) of the grouped matrix for thread t of nt. */
static void thread_rows(int64_t grouped_rows, int t, int nt, int64_t *lo, int64_t *hi) {
    *lo = grouped_rows * t / nt;
    *hi = grouped_rows * (t + 1) / nt;
}

/* Fold the threads' double accumulators (nthreads x [W sums of a, W sums of b]) per channel. */
static void fold(const double *acc, int nthreads, int64_t C, int64_t g, double *a, double *b) {
    const int64_t W = g * C;
    for (int64_t c = 0; c < C; c++) {
        a[c] = 0.0;
        b[c] = 0.0;
    }
    for (int t = 0; t < nthreads; t++)
        for (int64_t k = 0; k < g; k++)
            for (int64_t c = 0; c < C; c++) {
                a[c] += acc[(size_t)t * 2 * W + k * C + c];
                b[c] += acc[(size_t)t * 2 * W + W + k * C + c];
            }
}

/* Batch mean and biased variance of x (R x C). Returns 0, or -1 when out of memory. */
int bn_nhwc_stats_f32(const float *x, int64_t R, int64_t C, float *mean, float *var, int nthreads) {
    const int64_t g = row_groups(C), W = g * C, GR = R / g;
    double *acc = calloc((size_t)nthreads * 2 * W, sizeof(double));
    double *sum = malloc(sizeof(double) * 2 * C);
    if (!acc || !sum) {
        free(acc);
        free(sum);
        return -1;
    }
    float shift[W];
    tile(x, shift, C, W);
#pragma omp parallel num_threads(nthreads) if (nthreads > 1)
    {
        int64_t lo, hi;
        thread_rows(GR, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        double *s1 = acc + (size_t)omp_get_thread_num() * 2 * W, *s2 = s1 + W;
        float c1[W], c2[W];
        for (int64_t r0 = lo; r0 < hi; r0 += CHUNK) {
            const int64_t r1 = r0 + CHUNK < hi ? r0 + CHUNK : hi;
            for (int64_t j = 0; j < W; j++) c1[j] = c2[j] = 0.f;
            for (int64_t r = r0; r < r1; r++) {
                const float *row = x + r * W;
#pragma omp simd
                for (int64_t j = 0; j < W; j++) {
                    const float d = row[j] - shift[j];
                    c1[j] += d;
                    c2[j] += d * d;
                }
            }
            for (int64_t j = 0; j < W; j++) {
                s1[j] += c1[j];
                s2[j] += c2[j];
            }
        }
    }
    double *s1 = sum, *s2 = sum + C;
    fold(acc, nthreads, C, g, s1, s2);
    for (int64_t r = GR * g; r < R; r++)
        for (int64_t c = 0; c < C; c++) {
            const double d = (double)x[r * C + c] - shift[c];
            s1[c] += d;
            s2[c] += d * d;
        }
    for (int64_t c = 0; c < C; c++) {
        const double m = s1[c] / (double)R, v = s2[c] / (double)R - m * m;
        mean[c] = (float)(m + shift[c]);
        var[c] = (float)(v > 0.0 ? v : 0.0);
    }
    free(acc);
    free(sum);
    return 0;
}

/* y = [relu](x * scale + offset [+ residual]), per-channel scale and offset. */
void bn_nhwc_apply_f32(const float *x, const float *residual, float *y, int64_t R, int64_t C, const float *scale,
                       const float *offset, int relu, int nthreads) {
    const int64_t g = row_groups(C), W = g * C, GR = R / g;
    float sc[W], of[W];
    tile(scale, sc, C, W);
    tile(offset, of, C, W);
#pragma omp parallel for num_threads(nthreads) if (nthreads > 1) schedule(static)
    for (int64_t r = 0; r < GR; r++) {
        const float *xr = x + r * W, *rr = residual ? residual + r * W : NULL;
        float *yr = y + r * W;
        if (rr && relu) {
#pragma omp simd
            for (int64_t j = 0; j < W; j++) {
                const float v = xr[j] * sc[j] + of[j] + rr[j];
                yr[j] = v < 0.f ? 0.f : v; /* NaN stays NaN, as in torch.relu */
            }
        } else if (rr) {
#pragma omp simd
            for (int64_t j = 0; j < W; j++) yr[j] = xr[j] * sc[j] + of[j] + rr[j];
        } else if (relu) {
#pragma omp simd
            for (int64_t j = 0; j < W; j++) {
                const float v = xr[j] * sc[j] + of[j];
                yr[j] = v < 0.f ? 0.f : v; /* NaN stays NaN, as in torch.relu */
            }
        } else {
#pragma omp simd
            for (int64_t j = 0; j < W; j++) yr[j] = xr[j] * sc[j] + of[j];
        }
    }
    for (int64_t i = GR * W; i < R * C; i++) {
        const int64_t c = i % C;
        const float v = x[i] * scale[c] + offset[c] + (residual ? residual[i] : 0.f);
        y[i] = relu && v < 0.f ? 0.f : v;
    }
}

/* Backward, first pass: gp = 0 where y <= 0, else grad (torch's threshold_backward; gp = grad
 * when y is NULL); per channel sum_g = sum(gp) and sum_gx = sum(gp * (x - mean)); gp is written to gp_out when given.
 * Returns 0, or -1 when out of memory. */
int bn_nhwc_backward_sums_f32(const float *grad, const float *y, const float *x, float *gp_out, int64_t R, int64_t C,
                              const float *mean, float *sum_g, float *sum_gx, int nthreads) {
    const int64_t g = row_groups(C), W = g * C, GR = R / g;
    double *acc = calloc((size_t)nthreads * 2 * W, sizeof(double));
    double *sum = malloc(sizeof(double) * 2 * C);
    if (!acc || !sum) {
        free(acc);
        free(sum);
        return -1;
    }
    float mu[W];
    tile(mean, mu, C, W);
#pragma omp parallel num_threads(nthreads) if (nthreads > 1)
    {
        int64_t lo, hi;
        thread_rows(GR, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        double *s1 = acc + (size_t)omp_get_thread_num() * 2 * W, *s2 = s1 + W;
        float c1[W], c2[W];
        for (int64_t r0 = lo; r0 < hi; r0 += CHUNK) {
            const int64_t r1 = r0 + CHUNK < hi ? r0 + CHUNK : hi;
            for (int64_t j = 0; j < W; j++) c1[j] = c2[j] = 0.f;
            for (int64_t r = r0; r < r1; r++) {
                const float *gr = grad + r * W, *xr = x + r * W, *yr = y ? y + r * W : NULL;
                float *pr = gp_out ? gp_out + r * W : NULL;
                if (yr && pr) {
#pragma omp simd
                    for (int64_t j = 0; j < W; j++) {
                        const float v = yr[j] <= 0.f ? 0.f : gr[j];
                        pr[j] = v;
                        c1[j] += v;
                        c2[j] += v * (xr[j] - mu[j]);
                    }
                } else if (yr) {
#pragma omp simd
                    for (int64_t j = 0; j < W; j++) {
                        const float v = yr[j] <= 0.f ? 0.f : gr[j];
                        c1[j] += v;
                        c2[j] += v * (xr[j] - mu[j]);
                    }
                } else {
#pragma omp simd
                    for (int64_t j = 0; j < W; j++) {
                        c1[j] += gr[j];
                        c2[j] += gr[j] * (xr[j] - mu[j]);
                    }
                    if (pr)
                        for (int64_t j = 0; j < W; j++) pr[j] = gr[j];
                }
            }
            for (int64_t j = 0; j < W; j++) {
                s1[j] += c1[j];
                s2[j] += c2[j];
            }
        }
    }
    double *s1 = sum, *s2 = sum + C;
    fold(acc, nthreads, C, g, s1, s2);
    for (int64_t i = GR * W; i < R * C; i++) {
        const int64_t c = i % C;
        const float v = (y && y[i] <= 0.f) ? 0.f : grad[i];
        if (gp_out) gp_out[i] = v;
        s1[c] += v;
        s2[c] += (double)v * ((double)x[i] - mean[c]);
    }
    for (int64_t c = 0; c < C; c++) {
        sum_g[c] = (float)s1[c];
        sum_gx[c] = (float)s2[c];
    }
    free(acc);
    free(sum);
    return 0;
}

/* Backward, second pass: dx = a * gp + b * x + c per channel, gp = 0 where y <= 0, else grad
 * (grad itself when y is NULL). */
void bn_nhwc_backward_input_f32(const float *grad, const float *y, const float *x, float *dx, int64_t R, int64_t C,
                                const float *a, const float *b, const float *c, int nthreads) {
    const int64_t g = row_groups(C), W = g * C, GR = R / g;
    float A[W], B[W], K[W];
    tile(a, A, C, W);
    tile(b, B, C, W);
    tile(c, K, C, W);
#pragma omp parallel for num_threads(nthreads) if (nthreads > 1) schedule(static)
    for (int64_t r = 0; r < GR; r++) {
        const float *gr = grad + r * W, *xr = x + r * W, *yr = y ? y + r * W : NULL;
        float *dr = dx + r * W;
        if (yr) {
#pragma omp simd
            for (int64_t j = 0; j < W; j++) {
                const float v = yr[j] <= 0.f ? 0.f : gr[j];
                dr[j] = A[j] * v + B[j] * xr[j] + K[j];
            }
        } else {
#pragma omp simd
            for (int64_t j = 0; j < W; j++) dr[j] = A[j] * gr[j] + B[j] * xr[j] + K[j];
        }
    }
    for (int64_t i = GR * W; i < R * C; i++) {
        const int64_t ch = i % C;
        const float v = (y && y[i] <= 0.f) ? 0.f : grad[i];
        dx[i] = a[ch] * v + b[ch] * x[i] + c[ch];
    }
}
