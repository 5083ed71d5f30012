# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""Compiled kernel of musicexp.features.midi2vec.sgns: skip-gram with negative sampling, one thread.

Private module: musicexp.features.midi2vec.sgns prepares every table (vocabulary, initial
vectors, subsampling thresholds, negative-sampling table, sigmoid table), validates the inputs
and dispatches here when the extension is built; ``sgns.train_reference`` is the numpy
reference that computes the same numbers (see that module's docstring for the algorithm).

The training loop is plain C (the verbatim block below) so that GCC can vectorise the row
operations; it is compiled twice (``target_clones``: AVX2 and the x86-64 baseline, chosen at
load time). Both clones compute bit-identical results: every row operation is element-wise
(``y[j] += a * x[j]``) or a dot product whose 8 partial sums are explicit in the source (lane
``j % 8``, combined in a fixed tree), no contraction to FMA (``-ffp-contract=off``, setup.py),
never -ffast-math (checked below), so vector width changes only how many lanes run at once.
"""

from libc.stdint cimport int32_t, int64_t, uint64_t

import numpy as np

cdef extern from *:
    """
    #if defined(__FAST_MATH__)
    #error "musicexp.features.midi2vec._sgns must not be built with -ffast-math (bit-exact float32 arithmetic)"
    #endif
    #include <stdint.h>
    #include <string.h>

    #define SGNS_LANES 8
    #define SGNS_MAXWIN 1024

    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
    #define SGNS_CLONES __attribute__((target_clones("avx2", "default")))
    #else
    #define SGNS_CLONES
    #endif

    static inline float sgns_dot(const float *x, const float *y, Py_ssize_t dp) {
        float acc[SGNS_LANES] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
        for (Py_ssize_t j = 0; j < dp; j += SGNS_LANES)
            for (int l = 0; l < SGNS_LANES; l++)
                acc[l] = acc[l] + x[j + l] * y[j + l];
        return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    }

    static inline void sgns_axpy(float a, const float *x, float *restrict y, Py_ssize_t dp) {
        for (Py_ssize_t j = 0; j < dp; j++)
            y[j] = y[j] + a * x[j];
    }

    static inline uint64_t sgns_next(uint64_t *state) {
        *state = (*state * 25214903917ULL + 11ULL) & ((1ULL << 48) - 1ULL);
        return *state >> 16;
    }

    /* Returns 0, or -1 when a window is larger than SGNS_MAXWIN (checked by the caller). */
    SGNS_CLONES
    static int sgns_train_c(const int32_t *walks, Py_ssize_t n_walks, Py_ssize_t len,
                            float *syn0, float *syn1, Py_ssize_t dp,
                            const uint64_t *keep, const int64_t *cum, Py_ssize_t n_vocab,
                            const float *sig, Py_ssize_t sig_size, float sig_scale,
                            int window, int negative, int epochs,
                            double alpha0, double alpha1, uint64_t *state,
                            int32_t *sent, float *neu, float *grad, int32_t *outs) {
        int32_t ctx[2 * SGNS_MAXWIN];
        const int64_t total = cum[n_vocab - 1];
        const double steps = (double)epochs * (double)n_walks;
        if (window > SGNS_MAXWIN) return -1;
        for (int e = 0; e < epochs; e++) {
            for (Py_ssize_t w = 0; w < n_walks; w++) {
                double progress = ((double)e * (double)n_walks + (double)w) / steps;
                double a = alpha0 - (alpha0 - alpha1) * progress;
                if (a < alpha1) a = alpha1;
                const float af = (float)a;
                /* frequent-word subsampling: keep a token when its 32-bit draw is below its threshold */
                const int32_t *walk = walks + w * len;
                Py_ssize_t m = 0;
                for (Py_ssize_t t = 0; t < len; t++) {
                    uint64_t r = sgns_next(state) & 0xFFFFFFFFULL;
                    if (r < keep[walk[t]]) sent[m++] = walk[t];
                }
                for (Py_ssize_t i = 0; i < m; i++) {
                    Py_ssize_t b = (Py_ssize_t)(sgns_next(state) % (uint64_t)window);
                    Py_ssize_t lo = i - window + b, hi = i + window + 1 - b;
                    if (lo < 0) lo = 0;
                    if (hi > m) hi = m;
                    int nc = 0;
                    for (Py_ssize_t j = lo; j < hi; j++)
                        if (j != i) ctx[nc++] = sent[j];
                    if (nc == 0) continue;
                    /* outputs: the centre word (label 1), then `negative` shared negatives (label 0);
                       a negative equal to the centre word is dropped */
                    int no = 0;
                    outs[no++] = sent[i];
                    for (int k = 0; k < negative; k++) {
                        int64_t x = (int64_t)(sgns_next(state) % (uint64_t)total);
                        Py_ssize_t lo2 = 0, hi2 = n_vocab - 1;  /* first index with cum >= x */
                        while (lo2 < hi2) {
                            Py_ssize_t mid = (lo2 + hi2) >> 1;
                            if (cum[mid] < x) lo2 = mid + 1; else hi2 = mid;
                        }
                        if ((int32_t)lo2 != sent[i]) outs[no++] = (int32_t)lo2;
                    }
                    /* gradients G[c, k] from the current vectors */
                    for (int k = 0; k < no; k++) {
                        const float *o = syn1 + (Py_ssize_t)outs[k] * dp;
                        const float label = (k == 0) ? 1.f : 0.f;
                        for (int c = 0; c < nc; c++) {
                            float s = sgns_dot(syn0 + (Py_ssize_t)ctx[c] * dp, o, dp);
                            float f;
                            if (s <= -6.f) f = 0.f;
                            else if (s >= 6.f) f = 1.f;
                            else {
                                Py_ssize_t ix = (Py_ssize_t)((s + 6.f) * sig_scale);
                                if (ix >= sig_size) ix = sig_size - 1;
                                f = sig[ix];
                            }
                            grad[c * no + k] = (label - f) * af;
                        }
                    }
                    /* context updates (from the outputs before their update) */
                    for (int c = 0; c < nc; c++) {
                        float *nu = neu + (Py_ssize_t)c * dp;
                        memset(nu, 0, sizeof(float) * dp);
                        for (int k = 0; k < no; k++)
                            sgns_axpy(grad[c * no + k], syn1 + (Py_ssize_t)outs[k] * dp, nu, dp);
                    }
                    /* output updates (from the contexts before their update) */
                    for (int k = 0; k < no; k++) {
                        float *o = syn1 + (Py_ssize_t)outs[k] * dp;
                        for (int c = 0; c < nc; c++)
                            sgns_axpy(grad[c * no + k], syn0 + (Py_ssize_t)ctx[c] * dp, o, dp);
                    }
                    for (int c = 0; c < nc; c++)
                        sgns_axpy(1.f, neu + (Py_ssize_t)c * dp, syn0 + (Py_ssize_t)ctx[c] * dp, dp);
                }
            }
        }
        return 0;
    }
    """
    int sgns_train_c(const int32_t *walks, Py_ssize_t n_walks, Py_ssize_t length,
                     float *syn0, float *syn1, Py_ssize_t dp,
                     const uint64_t *keep, const int64_t *cum, Py_ssize_t n_vocab,
                     const float *sig, Py_ssize_t sig_size, float sig_scale,
                     int window, int negative, int epochs,
                     double alpha0, double alpha1, uint64_t *state,
                     int32_t *sent, float *neu, float *grad, int32_t *outs) nogil
    int SGNS_LANES
    int SGNS_MAXWIN

LANES = SGNS_LANES
MAX_WINDOW = SGNS_MAXWIN


def train(const int32_t[:, ::1] walks, float[:, ::1] syn0, float[:, ::1] syn1,
          const uint64_t[::1] keep, const int64_t[::1] cum, const float[::1] sig, float sig_scale,
          int window, int negative, int epochs, double alpha0, double alpha1, uint64_t state):
    """Train syn0/syn1 (vocabulary rows, padded to a multiple of LANES) in place over the walks
    (vocabulary indices); returns the final random state. Inputs are validated by sgns.py."""
    cdef Py_ssize_t dp = syn0.shape[1]
    cdef Py_ssize_t n_walks = walks.shape[0], length = walks.shape[1]
    cdef uint64_t st = state
    cdef int rc
    if window < 1 or window > SGNS_MAXWIN or negative < 0 or dp % SGNS_LANES:
        raise ValueError("sgns kernel: window, negative or row padding out of range")
    if n_walks == 0 or length == 0:
        return st
    sent = np.empty(length, dtype=np.int32)
    neu = np.zeros((2 * window, dp), dtype=np.float32)
    grad = np.zeros(2 * window * (negative + 1), dtype=np.float32)
    outs = np.zeros(negative + 1, dtype=np.int32)
    cdef int32_t[::1] sent_v = sent
    cdef float[:, ::1] neu_v = neu
    cdef float[::1] grad_v = grad
    cdef int32_t[::1] outs_v = outs
    with nogil:
        rc = sgns_train_c(&walks[0, 0], n_walks, length, &syn0[0, 0], &syn1[0, 0], dp,
                          &keep[0], &cum[0], cum.shape[0], &sig[0], sig.shape[0], sig_scale,
                          window, negative, epochs, alpha0, alpha1, &st,
                          &sent_v[0], &neu_v[0, 0], &grad_v[0], &outs_v[0])
    if rc != 0:
        raise ValueError("sgns kernel: window too large")
    return st
