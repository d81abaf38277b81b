/* Multi-head self-attention over tree leaves on CPU (float32, head dim <= 16, any number of leaves),
 * of ReLU(pre): the ReLU is applied as q, k, v are read.
 *
 * pre (q|k|v before the ReLU) comes in one (B, T, 3, H, D) block; out is (B, T, H, D); per (batch,
 * head, row) the softmax max and 1/sum are kept for the backward, which recomputes the probabilities
 * and writes the gradient w.r.t. pre (0 where the ReLU was 0) in the same layout.
 *
 * The same bits on every CPU and instruction set (tests/test_native_attention.py builds it for SSE2,
 * AVX2+FMA and AVX-512 and compares bitwise):
 * - every operation is a single IEEE float32 add, multiply, divide, compare or select, rounded once:
 *   built with -ffp-contract=off (no fused multiply-adds, which exist on some instruction sets only)
 *   and without -ffast-math (no reassociation, no reciprocal approximations);
 * - vectors are GCC vector types of a fixed 16 floats, whatever the hardware width (SSE2 runs each
 *   operation as four 4-float halves, AVX-512 as one), so the lanes never change; every reduction
 *   has a fixed order (along the keys, or a fixed pairwise tree across the 16 lanes);
 * - exp is our own polynomial below, never libm's (whose vector variants are chosen per CPU).
 * Nor do results depend on the thread count or the batch split. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define L 16
#define MAXD 16
typedef float vf __attribute__((vector_size(4 * L), aligned(64)));
typedef int32_t vi __attribute__((vector_size(4 * L), aligned(64)));

static inline vf splat(float x) { return (vf){0} + x; }

/* ReLU that keeps a NaN (as torch.relu), so a NaN input makes its row NaN instead of a silent 0 */
static inline float relu(float x) { return x < 0.0f ? 0.0f : x; }

/* Compares on the widest vectors the instruction set has (GCC would split a 16-lane compare into
 * scalar compares and branches where the hardware vector is narrower, ~6x slower with AVX2). A
 * compare and a select are exact, so the piece width changes the speed, never a bit. */
#if defined(__AVX512F__)
#define HW 16
#elif defined(__AVX2__)
#define HW 8
#else
#define HW 4
#endif
typedef float hf __attribute__((vector_size(4 * HW)));
typedef int32_t hi __attribute__((vector_size(4 * HW)));
typedef union { vf v; hf h[L / HW]; } vparts;

/* a > b ? x : y, lane by lane (false for a NaN) */
static inline vf vsel_gt(vf a, vf b, vf x, vf y) {
    vparts pa = {a}, pb = {b}, px = {x}, py = {y}, r;
    for (int i = 0; i < L / HW; i++) {
        hi m = pa.h[i] > pb.h[i];
        r.h[i] = (hf)(((hi)px.h[i] & m) | ((hi)py.h[i] & ~m));
    }
    return r.v;
}

static inline vf vmax(vf a, vf b) { return vsel_gt(a, b, a, b); }

/* exp(x) for x <= 0 (Cephes expf polynomial, round-to-nearest reduction); exp(x < -87) = exp(-87);
 * a NaN stays NaN (so a NaN score makes its row NaN, as in PyTorch, instead of a silent 0) */
static inline vf vexp(vf x) {
    const vf lo = splat(-87.0f);
    x = vsel_gt(lo, x, lo, x);
    const vf big = splat(12582912.0f); /* 1.5 * 2^23: adding and subtracting it rounds to integer */
    vf n = (x * splat(1.44269504088896341f) + big) - big;
    vf r = x - n * splat(0.693359375f);
    r = r + n * splat(2.12194440e-4f);
    vf p = splat(1.9875691500e-4f);
    p = p * r + splat(1.3981999507e-3f);
    p = p * r + splat(8.3334519073e-3f);
    p = p * r + splat(4.1665795894e-2f);
    p = p * r + splat(1.6666665459e-1f);
    p = p * r + splat(5.0000001201e-1f);
    vf y = p * r * r + r + splat(1.0f);
    vi e = (__builtin_convertvector(n, vi) + 127) << 23;
    return y * (vf)e;
}

static inline float hsum(vf a) {
    float s[L];
    memcpy(s, &a, sizeof s);
    float b[8], c[4];
    for (int l = 0; l < 8; l++) b[l] = s[l] + s[l + 8];
    for (int l = 0; l < 4; l++) c[l] = b[l] + b[l + 4];
    return (c[0] + c[2]) + (c[1] + c[3]);
}

typedef struct {
    const float *r, *out, *mx, *inv, *gout;
    float *o, *omx, *oinv, *gpre;
    int64_t B, T, H, D, u0, u1;
    float scale;
    int err;
} job_t;

/* forward: lanes = 16 query rows; the softmax runs along the keys, in key order */
static void fwd_range(job_t *j) {
    const int64_t T = j->T, H = j->H, D = j->D, row = 3 * H * D;
    vf *st = aligned_alloc(64, sizeof(vf) * (T + MAXD) + sizeof(float) * 2 * T * D);
    if (!st) { j->err = 2; return; }
    vf *qv = st + T;
    float *kr = (float *)(qv + MAXD), *vr = kr + T * D; /* this head's ReLU'd keys and values, packed */
    for (int64_t u = j->u0; u < j->u1; u++) {
        const int64_t b = u / H, h = u % H;
        const float *base = j->r + b * T * row;
        for (int64_t t = 0; t < T; t++)
            for (int64_t c = 0; c < D; c++) {
                kr[t * D + c] = relu(base[t * row + (H + h) * D + c]);
                vr[t * D + c] = relu(base[t * row + (2 * H + h) * D + c]);
            }
        for (int64_t i0 = 0; i0 < T; i0 += L) {
            const int64_t n = T - i0 < L ? T - i0 : L;
            for (int64_t c = 0; c < D; c++) {
                float tmp[L] = {0};
                for (int64_t l = 0; l < n; l++) tmp[l] = relu(base[(i0 + l) * row + h * D + c]) * j->scale;
                memcpy(&qv[c], tmp, sizeof tmp);
            }
            vf mx = splat(-INFINITY);
            for (int64_t t = 0; t < T; t++) {
                const float *k = kr + t * D;
                vf s = qv[0] * k[0];
                for (int64_t c = 1; c < D; c++) s += qv[c] * k[c];
                st[t] = s;
                mx = vmax(s, mx);
            }
            vf sum = splat(0.0f), o[MAXD];
            for (int64_t c = 0; c < D; c++) o[c] = splat(0.0f);
            for (int64_t t = 0; t < T; t++) {
                const float *v = vr + t * D;
                vf p = vexp(st[t] - mx);
                sum += p;
                for (int64_t c = 0; c < D; c++) o[c] += p * v[c];
            }
            vf inv = splat(1.0f) / sum;
            float fo[MAXD][L], fm[L], fi[L];
            for (int64_t c = 0; c < D; c++) { vf oc = o[c] * inv; memcpy(fo[c], &oc, sizeof(vf)); }
            memcpy(fm, &mx, sizeof fm);
            memcpy(fi, &inv, sizeof fi);
            for (int64_t l = 0; l < n; l++) {
                float *out = j->o + ((b * T + i0 + l) * H + h) * D;
                for (int64_t c = 0; c < D; c++) out[c] = fo[c][l];
                j->omx[(b * H + h) * T + i0 + l] = fm[l];
                j->oinv[(b * H + h) * T + i0 + l] = fi[l];
            }
        }
    }
    free(st);
}

/* backward: lanes = 16 keys; for each query row, in row order */
static void bwd_range(job_t *j) {
    const int64_t T = j->T, H = j->H, D = j->D, row = 3 * H * D, nb = (T + L - 1) / L;
    vf *buf = aligned_alloc(64, sizeof(vf) * nb * (4 * MAXD + 2));
    if (!buf) { j->err = 2; return; }
    vf *kt = buf, *vt = kt + nb * MAXD, *dkt = vt + nb * MAXD, *dvt = dkt + nb * MAXD;
    vf *ds = dvt + nb * MAXD, *msk = ds + nb;
    for (int64_t jb = 0; jb < nb; jb++) {
        float tmp[L];
        for (int l = 0; l < L; l++) tmp[l] = jb * L + l < T ? 1.0f : 0.0f;
        memcpy(&msk[jb], tmp, sizeof tmp);
    }
    for (int64_t u = j->u0; u < j->u1; u++) {
        const int64_t b = u / H, h = u % H;
        const float *base = j->r + b * T * row;
        float *gbase = j->gpre + b * T * row;
        for (int64_t c = 0; c < D; c++)
            for (int64_t jb = 0; jb < nb; jb++) {
                float tk[L] = {0}, tv[L] = {0};
                for (int64_t l = 0; l < L && jb * L + l < T; l++) {
                    tk[l] = relu(base[(jb * L + l) * row + (H + h) * D + c]);
                    tv[l] = relu(base[(jb * L + l) * row + (2 * H + h) * D + c]);
                }
                memcpy(&kt[c * nb + jb], tk, sizeof tk);
                memcpy(&vt[c * nb + jb], tv, sizeof tv);
                dkt[c * nb + jb] = splat(0.0f);
                dvt[c * nb + jb] = splat(0.0f);
            }
        for (int64_t i = 0; i < T; i++) {
            const float *qp = base + i * row + h * D;
            float q[MAXD];
            for (int64_t c = 0; c < D; c++) q[c] = relu(qp[c]);
            const float *go = j->gout + ((b * T + i) * H + h) * D;
            const float *oi = j->out + ((b * T + i) * H + h) * D;
            const float m = j->mx[(b * H + h) * T + i], inv = j->inv[(b * H + h) * T + i];
            float di = 0.0f;
            for (int64_t c = 0; c < D; c++) di += go[c] * oi[c];
            for (int64_t jb = 0; jb < nb; jb++) {
                vf s = kt[jb] * (q[0] * j->scale);
                for (int64_t c = 1; c < D; c++) s += kt[c * nb + jb] * (q[c] * j->scale);
                vf pj = vexp(s - m) * inv * msk[jb];
                vf dp = vt[jb] * go[0];
                for (int64_t c = 1; c < D; c++) dp += vt[c * nb + jb] * go[c];
                for (int64_t c = 0; c < D; c++) dvt[c * nb + jb] += pj * go[c];
                ds[jb] = pj * (dp - di) * j->scale;
            }
            float *gq = gbase + i * row + h * D;
            for (int64_t c = 0; c < D; c++) {
                vf acc = ds[0] * kt[c * nb];
                for (int64_t jb = 1; jb < nb; jb++) acc += ds[jb] * kt[c * nb + jb];
                gq[c] = q[c] > 0.0f ? hsum(acc) : 0.0f;
                for (int64_t jb = 0; jb < nb; jb++) dkt[c * nb + jb] += ds[jb] * q[c];
            }
        }
        for (int64_t c = 0; c < D; c++)
            for (int64_t jb = 0; jb < nb; jb++) {
                float dk[L], dv[L];
                memcpy(dk, &dkt[c * nb + jb], sizeof dk);
                memcpy(dv, &dvt[c * nb + jb], sizeof dv);
                for (int64_t l = 0; l < L && jb * L + l < T; l++) {
                    const int64_t ik = (jb * L + l) * row + (H + h) * D + c, iv = ik + H * D;
                    gbase[ik] = base[ik] > 0.0f ? dk[l] : 0.0f;
                    gbase[iv] = base[iv] > 0.0f ? dv[l] : 0.0f;
                }
            }
    }
    free(buf);
}

/* Units (batch x head) are split into one contiguous range per OpenMP thread. Loaded into a PyTorch
 * process, this library binds to the OpenMP runtime PyTorch already loaded (same soname), so the
 * work runs on PyTorch's own intra-op threads (torch.set_num_threads), already awake between ops,
 * instead of competing with them for the cores. */
static int run(const job_t *base, int nthreads, void (*fn)(job_t *)) {
    const int64_t units = base->B * base->H;
    if (base->D < 1 || base->D > MAXD || base->T < 1 || base->B < 0 || base->H < 1) return 1;
    if (units == 0) return 0;
    if (nthreads < 1) nthreads = 1;
    if (nthreads > 256) nthreads = 256;
    if (nthreads > units) nthreads = (int)units;
    int err = 0;
#pragma omp parallel for num_threads(nthreads) schedule(static, 1) reduction(max : err)
    for (int k = 0; k < nthreads; k++) {
        job_t job = *base;
        job.u0 = units * k / nthreads;
        job.u1 = units * (k + 1) / nthreads;
        fn(&job);
        err = job.err > err ? job.err : err;
    }
    return err;
}

int leaf_attention_forward(const float *r, float *out, float *mx, float *inv, int64_t B, int64_t T,
                           int64_t H, int64_t D, float scale, int nthreads) {
    job_t j = {0};
    j.r = r; j.o = out; j.omx = mx; j.oinv = inv;
    j.B = B; j.T = T; j.H = H; j.D = D; j.scale = scale;
    return run(&j, nthreads, fwd_range);
}

int leaf_attention_backward(const float *r, const float *out, const float *mx, const float *inv,
                            const float *gout, float *gpre, int64_t B, int64_t T, int64_t H, int64_t D,
                            float scale, int nthreads) {
    job_t j = {0};
    j.r = r; j.out = out; j.mx = mx; j.inv = inv; j.gout = gout; j.gpre = gpre;
    j.B = B; j.T = T; j.H = H; j.D = D; j.scale = scale;
    return run(&j, nthreads, bwd_range);
}
