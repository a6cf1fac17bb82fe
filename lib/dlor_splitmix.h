/* dlor_splitmix.h - the one pseudo-random stream of the library: splitmix64
 * (Steele, Lea and Flood, 2014), fixed here so that a seed gives the same
 * numbers on every platform. Its users map the 64-bit outputs their own way
 * (the random basis of the exact forms, seeded verification inputs, token
 * ids); changing either function changes files and reports. */
#ifndef DLOR_SPLITMIX_H
#define DLOR_SPLITMIX_H

#include <math.h>
#include <stdint.h>

/* The next output of the stream whose state is *s. */
static inline uint64_t dlor_splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A standard normal from two outputs: uniforms at the midpoints of 2^53 cells
 * (never 0), Box-Muller's cosine branch. What 'dlor verify --samples' and the
 * network form without --calib draw (rounded to float32 by their callers). */
static inline double dlor_splitmix_normal(uint64_t *s)
{
    double u0 = ((double)(dlor_splitmix64(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    double u1 = ((double)(dlor_splitmix64(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    return sqrt(-2.0 * log(u0)) * cos(6.283185307179586 * u1);
}

#endif
