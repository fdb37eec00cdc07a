/*
 * detach.h: what a workload does before its work, so that CRIU can dump it
 * without --shell-job and without external files.
 */
#ifndef WORKLOAD_DETACH_H
#define WORKLOAD_DETACH_H

#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

/*
 * Closes every descriptor above 2 except the N in KEEP (ascending): a
 * caller's pipes would be external files to CRIU. Then points 0-2 at
 * /dev/null and starts a session of its own, away from the caller's terminal.
 */
static inline void detach_keeping(const int *keep, int n)
{
	unsigned int low = 3;
	for (int i = 0; i < n; i++) {
		if ((unsigned int)keep[i] > low)
			close_range(low, keep[i] - 1, 0);
		low = keep[i] + 1;
	}
	close_range(low, ~0U, 0);

	int null = open("/dev/null", O_RDWR);
	if (null < 0)
		exit(1);
	dup2(null, 0);
	dup2(null, 1);
	dup2(null, 2);
	if (null > 2)
		close(null);
	setsid();
}

/* The same, keeping the two descriptors A and B, in whatever order. */
static inline void detach_keeping_two(int a, int b)
{
	int keep[] = { a < b ? a : b, a < b ? b : a };
	detach_keeping(keep, 2);
}

#endif
