/*
 * clockcaller: hammers the vDSO clock functions and checks every answer.
 *
 *   clockcaller STATUS_FILE
 *
 * In a tight loop it calls clock_gettime(CLOCK_MONOTONIC),
 * clock_gettime(CLOCK_REALTIME) and gettimeofday() (all served by the vDSO),
 * and checks that CLOCK_MONOTONIC never goes backwards and that
 * gettimeofday() agrees with CLOCK_REALTIME. Every 1024 rounds it re-reads
 * both clocks with a raw syscall(SYS_clock_gettime) (the kernel, not the
 * vDSO) and checks that the vDSO's realtime is within 2 s of it and that the
 * kernel's monotonic is not behind the vDSO's. A thread frozen inside a vDSO
 * function that CRIU then replaces with a proxy would crash or read garbage.
 *
 * STATUS_FILE is rewritten in place (pwrite at offset 0, one fixed-width line)
 * about every 20 ms:
 *
 *   calls=N clocks=ok pid=P
 *   calls=N clocks=BAD why=REASON pid=P
 *
 * calls counts clock calls (three per round). BAD is sticky: the first
 * failure stays reported. The process keeps calling after a failure.
 *
 * It detaches from its parent's session and standard streams and closes any
 * other inherited descriptor first, so CRIU can dump it without --shell-job
 * and without external pipes.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "detach.h"

#define LINE_LEN 160		 /* status line width, '\n' included */
#define REALTIME_SLACK_US 2000000 /* vDSO realtime vs the kernel's */
#define STATUS_US 20000

static int64_t usec(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000 + t->tv_nsec / 1000;
}

static int64_t nsec(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s STATUS_FILE\n", argv[0]);
		return 2;
	}
	int status = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (status < 0) {
		perror(argv[1]);
		return 1;
	}
	detach_keeping(&status, 1);

	unsigned long long calls = 0, rounds = 0;
	char why[96] = "";
	struct timespec mono, rt, raw;
	struct timeval tv;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	int64_t prev_mono = nsec(&mono), last_status = 0; /* µs; the first check writes at once */

	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &mono);
		clock_gettime(CLOCK_REALTIME, &rt);
		gettimeofday(&tv, NULL);
		calls += 3;
		rounds++;
		int64_t now_mono = nsec(&mono), now_rt = usec(&rt);
		int64_t now_tv = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;

		if (!why[0]) {
			if (now_mono < prev_mono)
				snprintf(why, sizeof(why), "monotonic_back_ns=%lld", (long long)(prev_mono - now_mono));
			else if (now_tv < now_rt - 1 || now_tv > now_rt + REALTIME_SLACK_US)
				snprintf(why, sizeof(why), "gettimeofday_off_us=%lld", (long long)(now_tv - now_rt));
		}
		prev_mono = now_mono;

		if ((rounds & 1023) == 0) {
			if (!why[0]) {
				syscall(SYS_clock_gettime, CLOCK_REALTIME, &raw);
				int64_t off = now_rt - usec(&raw);
				if (off > REALTIME_SLACK_US || off < -REALTIME_SLACK_US)
					snprintf(why, sizeof(why), "realtime_off_us=%lld", (long long)off);
				syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &raw);
				if (!why[0] && nsec(&raw) < now_mono)
					snprintf(why, sizeof(why), "kernel_monotonic_behind_ns=%lld",
						 (long long)(now_mono - nsec(&raw)));
			}
			/* A clock that went backwards (never here, but after a restore into
			 * a time namespace it might) must not silence the status. */
			if (now_mono / 1000 - last_status >= STATUS_US || now_mono / 1000 < last_status) {
				last_status = now_mono / 1000;
				char text[LINE_LEN], line[LINE_LEN];
				int n = why[0]
					? snprintf(text, sizeof(text), "calls=%llu clocks=BAD why=%s pid=%d", calls, why, getpid())
					: snprintf(text, sizeof(text), "calls=%llu clocks=ok pid=%d", calls, getpid());
				if (n > LINE_LEN - 1)
					n = LINE_LEN - 1;
				memcpy(line, text, n);
				memset(line + n, ' ', LINE_LEN - 1 - n);
				line[LINE_LEN - 1] = '\n';
				if (pwrite(status, line, LINE_LEN, 0) < 0) {
					/* Nothing to report to: stdio is /dev/null. */
				}
			}
		}
	}
}
