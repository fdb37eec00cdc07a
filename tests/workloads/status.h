/*
 * status.h: the status line a workload rewrites in place, and its sleeps.
 */
#ifndef WORKLOAD_STATUS_H
#define WORKLOAD_STATUS_H

#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* One pwrite of a fixed-width line padded with spaces at offset 0: a reader never sees a torn or stale tail. */
static inline void status_line(int fd, const char *line)
{
	char padded[160];
	size_t length = strlen(line) < sizeof(padded) - 1 ? strlen(line) : sizeof(padded) - 1;
	memset(padded, ' ', sizeof(padded) - 1);
	padded[sizeof(padded) - 1] = '\n';
	memcpy(padded, line, length);
	if (pwrite(fd, padded, sizeof(padded), 0) < 0)
		exit(1);
}

static inline void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

#endif
