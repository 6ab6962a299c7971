/*
 * A per-thread pseudo-random generator for choices that must differ between
 * processes and threads but need not be secret: back-off jitter, the random
 * node selector, a port from a range. Each thread's state is seeded from the
 * OS (getrandom) on first use. Not for keys or anything an attacker must not
 * predict: use RAND_bytes for those.
 */
#ifndef PORTWAY_RNG_H
#define PORTWAY_RNG_H
#include <stdint.h>

uint64_t rng_u64(void);
uint32_t rng_u32(void);
/* Uniform in [0, 1). */
double rng_double(void);
/* Uniform in [0, n); 0 when n is 0. */
uint32_t rng_below(uint32_t n);

#endif
