/*
 * splitmix64 (Steele, Lea, Flood 2014): one 64-bit word of state, a fixed
 * increment and a strong output mix; every seed gives a full-period,
 * well-distributed sequence, which is all these choices need.
 */
#include "src/core/rng.h"

#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static __thread uint64_t rng_state;
static __thread int rng_seeded;

/*
 * GRND_NONBLOCK: this runs on a worker's loop, and getrandom without it can
 * wait for the entropy pool early at boot. Then the clock, the process and
 * the thread (the address of its state) still make each seed different.
 */
static void rng_seed(void)
{
	uint64_t seed = 0;
	if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		seed ^= (uint64_t)getpid() << 32;
		seed ^= (uint64_t)(uintptr_t)&rng_state;
	}
	rng_state = seed;
	rng_seeded = 1;
}

uint64_t rng_u64(void)
{
	if (!rng_seeded)
		rng_seed();
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* The high half: the best mixed bits. */
uint32_t rng_u32(void) { return (uint32_t)(rng_u64() >> 32); }

/* 53 random bits: every double in [0, 1) that step 2^-53 reaches, and never 1. */
double rng_double(void) { return (double)(rng_u64() >> 11) * 0x1.0p-53; }

/* Multiply and shift (Lemire): no division; the bias is below n / 2^32, nothing for these uses. */
uint32_t rng_below(uint32_t n) { return (uint32_t)(((uint64_t)rng_u32() * n) >> 32); }
