/* SM2 signature verification core for the ingest server (CPython, loaded with ctypes).
 *
 * Decides whether x1 of s*G + t*P on the SM2 curve (GB/T 32918.2 §7.1 step B7) is one
 * of the caller's candidates for (r - e) mod n, so that R = (e + x1) mod n = r.
 * Verification handles public data only, so this code
 * is not constant time.  Field: Montgomery arithmetic on four 64-bit limbs
 * (p = 2^256 - 2^224 - 2^96 + 2^64 - 1, so -p^-1 mod 2^64 = 1); points in Jacobian
 * coordinates (a = -3 doubling), tables in affine coordinates for mixed additions.
 * With comb tables (w * 16^i * point, built once for G and once per public key) the
 * sum takes 128 additions and no doubling; keys without one use interleaved 4-bit
 * windows over a 16-point table.  The final test compares X with c * Z^2 for the
 * candidates c of x1, so no inversion is needed.  The tables of G are built once, by
 * the first call from any thread (pthread_once).  No dependencies: plain C99 +
 * unsigned __int128 (gcc, clang) + POSIX threads.  Checked against OpenSSL and the pure-Python
 * implementation by tests/test_sm2_native.py.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

typedef unsigned __int128 u128;
typedef struct { uint64_t v[4]; } fe;
typedef struct { fe x, y, z; int inf; } jpt;
typedef struct { fe x, y; int inf; } apt;      /* affine, for mixed additions */

static const fe P_ = {{0xFFFFFFFFFFFFFFFFULL, 0xFFFFFFFF00000000ULL, 0xFFFFFFFFFFFFFFFFULL, 0xFFFFFFFEFFFFFFFFULL}};
static const uint8_t GX[32] = {0x32,0xC4,0xAE,0x2C,0x1F,0x19,0x81,0x19,0x5F,0x99,0x04,0x46,0x6A,0x39,0xC9,0x94,
                               0x8F,0xE3,0x0B,0xBF,0xF2,0x66,0x0B,0xE1,0x71,0x5A,0x45,0x89,0x33,0x4C,0x74,0xC7};
static const uint8_t GY[32] = {0xBC,0x37,0x36,0xA2,0xF4,0xF6,0x77,0x9C,0x59,0xBD,0xCE,0xE3,0x6B,0x69,0x21,0x53,
                               0xD0,0xA9,0x87,0x7C,0xC6,0x2A,0x47,0x40,0x02,0xDF,0x32,0xE5,0x21,0x39,0xF0,0xA0};
static const uint8_t B_[32] = {0x28,0xE9,0xFA,0x9E,0x9D,0x9F,0x5E,0x34,0x4D,0x5A,0x9E,0x4B,0xCF,0x65,0x09,0xA7,
                               0xF3,0x97,0x89,0xF5,0x15,0xAB,0x8F,0x92,0xDD,0xBC,0xBD,0x41,0x4D,0x94,0x0E,0x93};

static fe R2, ONE, BM;            /* R^2 mod p, 1 and b in Montgomery form */
static apt GTAB[16];              /* 0..15 times G, affine */
static apt GCOMB[64][16];         /* w * 16^i * G, affine: s*G with 64 additions and no doubling */

static int fe_is_zero(const fe *a) { return (a->v[0] | a->v[1] | a->v[2] | a->v[3]) == 0; }
static int fe_eq(const fe *a, const fe *b) { return memcmp(a, b, sizeof(fe)) == 0; }

static void fe_sub_p_if_needed(fe *r, uint64_t carry) {
    uint64_t t[4]; u128 d; uint64_t borrow = 0;
    for (int i = 0; i < 4; i++) {
        d = (u128)r->v[i] - P_.v[i] - borrow;
        t[i] = (uint64_t)d;
        borrow = (uint64_t)(d >> 64) & 1;
    }
    if (carry || !borrow) memcpy(r->v, t, sizeof t);
}

static void fe_add(fe *r, const fe *a, const fe *b) {
    u128 c = 0;
    for (int i = 0; i < 4; i++) { c += (u128)a->v[i] + b->v[i]; r->v[i] = (uint64_t)c; c >>= 64; }
    fe_sub_p_if_needed(r, (uint64_t)c);
}

static void fe_sub(fe *r, const fe *a, const fe *b) {
    u128 d; uint64_t borrow = 0;
    for (int i = 0; i < 4; i++) {
        d = (u128)a->v[i] - b->v[i] - borrow;
        r->v[i] = (uint64_t)d;
        borrow = (uint64_t)(d >> 64) & 1;
    }
    if (borrow) {
        u128 c = 0;
        for (int i = 0; i < 4; i++) { c += (u128)r->v[i] + P_.v[i]; r->v[i] = (uint64_t)c; c >>= 64; }
    }
}

static void fe_mul(fe *r, const fe *a, const fe *b) {     /* Montgomery product, CIOS */
    uint64_t t[6] = {0, 0, 0, 0, 0, 0};
    for (int i = 0; i < 4; i++) {
        u128 c = 0;
        for (int j = 0; j < 4; j++) {
            c += (u128)a->v[j] * b->v[i] + t[j];
            t[j] = (uint64_t)c; c >>= 64;
        }
        c += t[4]; t[4] = (uint64_t)c; t[5] = (uint64_t)(c >> 64);
        uint64_t m = t[0];                                /* t[0] * (-p^-1 mod 2^64) with -p^-1 = 1 */
        c = (u128)m * P_.v[0] + t[0]; c >>= 64;
        for (int j = 1; j < 4; j++) {
            c += (u128)m * P_.v[j] + t[j];
            t[j - 1] = (uint64_t)c; c >>= 64;
        }
        c += t[4]; t[3] = (uint64_t)c; c >>= 64;
        t[4] = t[5] + (uint64_t)c;
    }
    memcpy(r->v, t, 4 * sizeof(uint64_t));
    fe_sub_p_if_needed(r, t[4]);
}

static void fe_sqr(fe *r, const fe *a) { fe_mul(r, a, a); }

static void fe_from_bytes(fe *r, const uint8_t b[32]) {
    for (int i = 0; i < 4; i++) {
        uint64_t w = 0;
        for (int k = 0; k < 8; k++) w = (w << 8) | b[(3 - i) * 8 + k];
        r->v[i] = w;
    }
}

static int fe_lt_p(const fe *a) {
    for (int i = 3; i >= 0; i--) {
        if (a->v[i] < P_.v[i]) return 1;
        if (a->v[i] > P_.v[i]) return 0;
    }
    return 0;
}

static void fe_inv(fe *r, const fe *a) {                   /* a^(p-2), Montgomery form in and out */
    fe e = P_, acc = ONE;
    e.v[0] -= 2;
    for (int i = 3; i >= 0; i--)
        for (int k = 63; k >= 0; k--) {
            fe_sqr(&acc, &acc);
            if ((e.v[i] >> k) & 1) fe_mul(&acc, &acc, a);
        }
    *r = acc;
}

static void pt_double(jpt *r, const jpt *p) {              /* dbl-2001-b, a = -3 */
    if (p->inf || fe_is_zero(&p->y)) { r->inf = 1; return; }
    fe delta, gamma, beta, alpha, t1, t2, x3, y3, z3;
    fe_sqr(&delta, &p->z);
    fe_sqr(&gamma, &p->y);
    fe_mul(&beta, &p->x, &gamma);
    fe_sub(&t1, &p->x, &delta);
    fe_add(&t2, &p->x, &delta);
    fe_mul(&alpha, &t1, &t2);
    fe_add(&t1, &alpha, &alpha); fe_add(&alpha, &t1, &alpha);          /* alpha = 3(x-d)(x+d) */
    fe_sqr(&x3, &alpha);
    fe_add(&t1, &beta, &beta); fe_add(&t1, &t1, &t1); fe_add(&t2, &t1, &t1);   /* t1 = 4 beta, t2 = 8 beta */
    fe_sub(&x3, &x3, &t2);
    fe_add(&z3, &p->y, &p->z); fe_sqr(&z3, &z3); fe_sub(&z3, &z3, &gamma); fe_sub(&z3, &z3, &delta);
    fe_sub(&t1, &t1, &x3); fe_mul(&y3, &alpha, &t1);
    fe_sqr(&t2, &gamma); fe_add(&t2, &t2, &t2); fe_add(&t2, &t2, &t2); fe_add(&t2, &t2, &t2);   /* 8 gamma^2 */
    fe_sub(&y3, &y3, &t2);
    r->x = x3; r->y = y3; r->z = z3; r->inf = 0;
}

static void pt_add(jpt *r, const jpt *p, const jpt *q) {   /* add-2007-bl */
    if (p->inf) { *r = *q; return; }
    if (q->inf) { *r = *p; return; }
    fe z1z1, z2z2, u1, u2, s1, s2, h, i, j, rr, v, t, x3, y3, z3;
    fe_sqr(&z1z1, &p->z); fe_sqr(&z2z2, &q->z);
    fe_mul(&u1, &p->x, &z2z2); fe_mul(&u2, &q->x, &z1z1);
    fe_mul(&s1, &p->y, &q->z); fe_mul(&s1, &s1, &z2z2);
    fe_mul(&s2, &q->y, &p->z); fe_mul(&s2, &s2, &z1z1);
    fe_sub(&h, &u2, &u1);
    fe_sub(&rr, &s2, &s1);
    if (fe_is_zero(&h)) {
        if (fe_is_zero(&rr)) { pt_double(r, p); return; }
        r->inf = 1; return;
    }
    fe_add(&i, &h, &h); fe_sqr(&i, &i);
    fe_mul(&j, &h, &i);
    fe_add(&rr, &rr, &rr);
    fe_mul(&v, &u1, &i);
    fe_sqr(&x3, &rr); fe_sub(&x3, &x3, &j); fe_sub(&x3, &x3, &v); fe_sub(&x3, &x3, &v);
    fe_sub(&t, &v, &x3); fe_mul(&y3, &rr, &t);
    fe_mul(&t, &s1, &j); fe_add(&t, &t, &t); fe_sub(&y3, &y3, &t);
    fe_add(&z3, &p->z, &q->z); fe_sqr(&z3, &z3); fe_sub(&z3, &z3, &z1z1); fe_sub(&z3, &z3, &z2z2);
    fe_mul(&z3, &z3, &h);
    r->x = x3; r->y = y3; r->z = z3; r->inf = 0;
}

static void pt_madd(jpt *r, const jpt *p, const apt *q) {  /* madd-2007-bl: q affine */
    if (q->inf) { *r = *p; return; }
    if (p->inf) { r->x = q->x; r->y = q->y; r->z = ONE; r->inf = 0; return; }
    fe z1z1, u2, s2, h, hh, i, j, rr, v, t, x3, y3, z3;
    fe_sqr(&z1z1, &p->z);
    fe_mul(&u2, &q->x, &z1z1);
    fe_mul(&s2, &q->y, &p->z); fe_mul(&s2, &s2, &z1z1);
    fe_sub(&h, &u2, &p->x);
    fe_sub(&rr, &s2, &p->y);
    if (fe_is_zero(&h)) {
        if (fe_is_zero(&rr)) { pt_double(r, p); return; }
        r->inf = 1; return;
    }
    fe_sqr(&hh, &h);
    fe_add(&i, &hh, &hh); fe_add(&i, &i, &i);
    fe_mul(&j, &h, &i);
    fe_add(&rr, &rr, &rr);
    fe_mul(&v, &p->x, &i);
    fe_sqr(&x3, &rr); fe_sub(&x3, &x3, &j); fe_sub(&x3, &x3, &v); fe_sub(&x3, &x3, &v);
    fe_sub(&t, &v, &x3); fe_mul(&y3, &rr, &t);
    fe_mul(&t, &p->y, &j); fe_add(&t, &t, &t); fe_sub(&y3, &y3, &t);
    fe_add(&z3, &p->z, &h); fe_sqr(&z3, &z3); fe_sub(&z3, &z3, &z1z1); fe_sub(&z3, &z3, &hh);
    r->x = x3; r->y = y3; r->z = z3; r->inf = 0;
}

static void to_affine(apt *r, const jpt *p) {
    if (p->inf) { r->inf = 1; return; }
    fe zi, zi2, zi3;
    fe_inv(&zi, &p->z);
    fe_sqr(&zi2, &zi); fe_mul(&zi3, &zi2, &zi);
    fe_mul(&r->x, &p->x, &zi2); fe_mul(&r->y, &p->y, &zi3);
    r->inf = 0;
}

static void table(jpt tab[16], const jpt *p) {
    tab[0].inf = 1;
    tab[1] = *p;
    for (int k = 2; k < 16; k++) {
        if (k % 2 == 0) pt_double(&tab[k], &tab[k / 2]);
        else pt_add(&tab[k], &tab[k - 1], p);
    }
}

/* out[i][w] = w * 16^i * p, affine */
static void comb(apt out[64][16], const jpt *p) {
    jpt base = *p, tab[16];
    for (int i = 0; i < 64; i++) {
        table(tab, &base);
        for (int k = 0; k < 16; k++) to_affine(&out[i][k], &tab[k]);
        for (int k = 0; k < 4; k++) pt_double(&base, &base);
    }
}

static void init_once(void) {
    fe one_plain = {{1, 0, 0, 0}};
    fe x = one_plain;
    for (int i = 0; i < 512; i++) fe_add(&x, &x, &x);      /* 2^512 mod p */
    R2 = x;
    fe_mul(&ONE, &one_plain, &R2);
    fe b; fe_from_bytes(&b, B_); fe_mul(&BM, &b, &R2);
    jpt g;
    fe_from_bytes(&g.x, GX); fe_mul(&g.x, &g.x, &R2);
    fe_from_bytes(&g.y, GY); fe_mul(&g.y, &g.y, &R2);
    g.z = ONE; g.inf = 0;
    jpt tab[16];
    table(tab, &g);
    for (int k = 0; k < 16; k++) to_affine(&GTAB[k], &tab[k]);
    comb(GCOMB, &g);
}

/* verification runs in several threads: the tables of G are built exactly once */
static pthread_once_t initialised = PTHREAD_ONCE_INIT;
static void init(void) { pthread_once(&initialised, init_once); }

/* sizes of a public key's tables: 16 affine points (0..15 times P), or the comb of 64 x 16 affine points */
int sm2v_table_size(void) { return (int)(16 * sizeof(apt)); }
int sm2v_comb_size(void) { return (int)(64 * 16 * sizeof(apt)); }

static int point_from(jpt *p, const uint8_t xy[64]);

/* the key's comb table (sm2v_comb_size bytes): verification without doublings */
int sm2v_prepare_comb(const uint8_t xy[64], uint8_t *out) {
    init();
    jpt p;
    if (!point_from(&p, xy)) return 0;
    comb((apt (*)[16])out, &p);
    return 1;
}

static int point_from(jpt *p, const uint8_t xy[64]) {
    fe x, y, xm, ym, lhs, rhs, t;
    fe_from_bytes(&x, xy); fe_from_bytes(&y, xy + 32);
    if (!fe_lt_p(&x) || !fe_lt_p(&y)) return 0;
    fe_mul(&xm, &x, &R2); fe_mul(&ym, &y, &R2);
    fe_sqr(&lhs, &ym);                                     /* y^2 = x^3 - 3x + b */
    fe_sqr(&rhs, &xm); fe_mul(&rhs, &rhs, &xm);
    fe_add(&t, &xm, &xm); fe_add(&t, &t, &xm); fe_sub(&rhs, &rhs, &t); fe_add(&rhs, &rhs, &BM);
    if (!fe_eq(&lhs, &rhs)) return 0;
    p->x = xm; p->y = ym; p->z = ONE; p->inf = 0;
    return 1;
}

int sm2v_prepare(const uint8_t xy[64], uint8_t *out) {
    init();
    jpt p, tab[16];
    apt atab[16];
    if (!point_from(&p, xy)) return 0;
    table(tab, &p);
    for (int k = 0; k < 16; k++) to_affine(&atab[k], &tab[k]);
    memcpy(out, atab, sizeof atab);
    return 1;
}

static int sum(jpt *acc, const uint8_t *ptable, const uint8_t s[32], const uint8_t t[32]) {
    const apt *ptab = (const apt *)ptable;
    acc->inf = 1;
    for (int i = 0; i < 32; i++) {
        for (int half = 0; half < 2; half++) {
            int ws = half ? (s[i] & 15) : (s[i] >> 4);
            int wt = half ? (t[i] & 15) : (t[i] >> 4);
            if (!acc->inf) for (int k = 0; k < 4; k++) pt_double(acc, acc);
            if (ws) pt_madd(acc, acc, &GTAB[ws]);
            if (wt) pt_madd(acc, acc, &ptab[wt]);
        }
    }
    return !acc->inf;
}

static int sum_comb(jpt *acc, const uint8_t *pcomb, const uint8_t s[32], const uint8_t t[32]) {
    const apt (*pc)[16] = (const apt (*)[16])pcomb;
    acc->inf = 1;
    for (int i = 0; i < 64; i++) {                         /* nibble i from the least significant end */
        int byte = 31 - i / 2;
        int ws = (i & 1) ? (s[byte] >> 4) : (s[byte] & 15);
        int wt = (i & 1) ? (t[byte] >> 4) : (t[byte] & 15);
        if (ws) pt_madd(acc, acc, &GCOMB[i][ws]);
        if (wt) pt_madd(acc, acc, &pc[i][wt]);
    }
    return !acc->inf;
}

/* 1 when x1 of s*G + t*P is one of the candidates c1, c2 (c2 optional): the caller passes
 * c = (r - e) mod n and c + n when that is below p, so no inversion is needed:
 * x1 = X / Z^2 = c  <=>  X = c * Z^2 */
int sm2v_check(const uint8_t *ptable, int is_comb, const uint8_t s[32], const uint8_t t[32], const uint8_t c1[32],
               const uint8_t *c2) {
    init();
    jpt acc;
    if (!(is_comb ? sum_comb(&acc, ptable, s, t) : sum(&acc, ptable, s, t))) return 0;
    fe z2, c, cz2;
    fe_sqr(&z2, &acc.z);
    for (int k = 0; k < 2; k++) {
        const uint8_t *cb = k ? c2 : c1;
        if (cb == 0) continue;
        fe_from_bytes(&c, cb);
        if (!fe_lt_p(&c)) continue;
        fe_mul(&c, &c, &R2);
        fe_mul(&cz2, &c, &z2);
        if (fe_eq(&cz2, &acc.x)) return 1;
    }
    return 0;
}
