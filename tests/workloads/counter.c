/*
 * counter: a workload for migration tests.
 *
 *   counter STATUS_FILE [BUFFER_MIB]
 *
 * Fills a buffer with a known pseudo-random pattern, then counts for ever.
 * Every 20 ms it re-checks the buffer against the pattern's checksum and
 * rewrites STATUS_FILE in place with one line:
 *
 *   counter=N checksum=ok|BAD pid=P
 *
 * It detaches from its parent's session and standard streams first, so CRIU
 * can dump it without --shell-job and without external pipes.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "detach.h"

static uint64_t fnv1a(const uint8_t *data, size_t size)
{
	uint64_t hash = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < size; i++) {
		hash ^= data[i];
		hash *= 0x100000001b3ULL;
	}
	return hash;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s STATUS_FILE [BUFFER_MIB]\n", argv[0]);
		return 2;
	}
	size_t size = (argc > 2 ? strtoul(argv[2], NULL, 10) : 4) << 20;
	int status = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (status < 0) {
		perror(argv[1]);
		return 1;
	}
	detach_keeping(&status, 1);

	uint8_t *buffer = malloc(size);
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	for (size_t i = 0; i < size; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buffer[i] = (uint8_t)x;
	}
	const uint64_t expected = fnv1a(buffer, size);

	volatile uint64_t counter = 0;
	struct timespec last = { 0 };
	for (;;) {
		counter++;
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long elapsed_ms = (now.tv_sec - last.tv_sec) * 1000 + (now.tv_nsec - last.tv_nsec) / 1000000;
		if (elapsed_ms >= 20) {
			last = now;
			int ok = fnv1a(buffer, size) == expected;
			char line[96];
			int n = snprintf(line, sizeof(line), "counter=%020llu checksum=%s pid=%d\n",
					 (unsigned long long)counter, ok ? "ok " : "BAD", getpid());
			pwrite(status, line, n, 0);
		}
	}
}
