/* Multi-head self-attention over tree leaves on CPU (float32, head dim <= 16, any number of leaves).
 *
 * q|k|v come ReLU'd in one (B, T, 3, H, D) block; out is (B, T, H, D); per (batch, head, row) the
 * softmax max and 1/sum are kept for the backward, which recomputes the probabilities and writes the
 * gradient w.r.t. the pre-ReLU block (masked where the ReLU was 0) in the same layout.
 *
 * Written with GCC vector types of 16 floats: every reduction has a fixed order (along the keys, or
 * in a fixed pairwise tree across 16 partial sums), so results do not depend on the thread count,
 * the batch split or the CPU's vector width (AVX2 runs each 16-float operation as two halves). They
 * can depend on the compiler and its version, which decide where multiply-adds fuse into FMAs
 * (-ffp-contract=fast): the report records the compiler (bacuda_research.fraud.kernels.build_info). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define L 16
#define MAXD 16
typedef float vf __attribute__((vector_size(4 * L), aligned(64)));
typedef int32_t vi __attribute__((vector_size(4 * L), aligned(64)));

static inline vf splat(float x) { return (vf){0} + x; }

static inline vf vmax(vf a, vf b) {
    vi m = a > b;
    return (vf)(((vi)a & m) | ((vi)b & ~m));
}

/* exp(x) for x <= 0 (Cephes expf polynomial, round-to-nearest reduction); exp(x < -87) = exp(-87);
 * a NaN stays NaN (so a NaN score makes its row NaN, as in PyTorch, instead of a silent 0) */
static inline vf vexp(vf x) {
    const vf lo = splat(-87.0f);
    vi below = x < lo;
    x = (vf)(((vi)lo & below) | ((vi)x & ~below));
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
    vf *st = aligned_alloc(64, sizeof(vf) * (T + MAXD));
    if (!st) { j->err = 2; return; }
    vf *qv = st + T;
    for (int64_t u = j->u0; u < j->u1; u++) {
        const int64_t b = u / H, h = u % H;
        const float *base = j->r + b * T * row;
        for (int64_t i0 = 0; i0 < T; i0 += L) {
            const int64_t n = T - i0 < L ? T - i0 : L;
            for (int64_t c = 0; c < D; c++) {
                float tmp[L] = {0};
                for (int64_t l = 0; l < n; l++) tmp[l] = base[(i0 + l) * row + h * D + c] * j->scale;
                memcpy(&qv[c], tmp, sizeof tmp);
            }
            vf mx = splat(-INFINITY);
            for (int64_t t = 0; t < T; t++) {
                const float *k = base + t * row + (H + h) * D;
                vf s = qv[0] * k[0];
                for (int64_t c = 1; c < D; c++) s += qv[c] * k[c];
                st[t] = s;
                mx = vmax(s, mx);
            }
            vf sum = splat(0.0f), o[MAXD];
            for (int64_t c = 0; c < D; c++) o[c] = splat(0.0f);
            for (int64_t t = 0; t < T; t++) {
                const float *v = base + t * row + (2 * H + h) * D;
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
                    tk[l] = base[(jb * L + l) * row + (H + h) * D + c];
                    tv[l] = base[(jb * L + l) * row + (2 * H + h) * D + c];
                }
                memcpy(&kt[c * nb + jb], tk, sizeof tk);
                memcpy(&vt[c * nb + jb], tv, sizeof tv);
                dkt[c * nb + jb] = splat(0.0f);
                dvt[c * nb + jb] = splat(0.0f);
            }
        for (int64_t i = 0; i < T; i++) {
            const float *q = base + i * row + h * D;
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
