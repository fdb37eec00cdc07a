/*
 * heartbeat: measures the downtime a process itself perceives.
 *
 *   heartbeat STATUS_FILE GAPS_FILE [THRESHOLD_US]
 *
 * Beats about once a millisecond (clock_nanosleep of 1 ms). At every beat it
 * reads CLOCK_REALTIME and CLOCK_MONOTONIC; when the time since the previous
 * beat exceeds THRESHOLD_US (default 5000), it appends one line to GAPS_FILE:
 *
 *   gap start_us=SSSSSSSSSSSSSSSSS len_us=LLLLLLLLLLLL mono_us=MMMMMMMMMMMM
 *
 * start_us is the CLOCK_REALTIME of the last beat before the gap (µs since the
 * epoch), len_us the gap's length by CLOCK_REALTIME, mono_us the same gap by
 * CLOCK_MONOTONIC, for comparison.
 *
 * Why CLOCK_REALTIME: it is the only clock that means the same on two hosts
 * (NTP/PTP keep them together) and it is never namespaced. CLOCK_MONOTONIC
 * counts from each host's boot, so across real hosts it jumps by the hosts'
 * uptime difference; and a process that lives in a time namespace is restored
 * by CRIU with offsets that continue its monotonic clock from the dumped value,
 * which hides the downtime. On one kernel without a time namespace (this lab)
 * both agree, and mono_us shows it. A backwards step of CLOCK_REALTIME (a clock
 * adjustment) is counted as a step, not as a gap.
 *
 * STATUS_FILE is rewritten in place (pwrite at offset 0, one fixed-width line)
 * every 10 ms and after each gap:
 *
 *   beats=N gaps=N max_gap_us=N last_gap_us=N last_gap_start_us=N steps=N clock=realtime pid=P
 *
 * It detaches from its parent's session and standard streams and closes any
 * other inherited descriptor first, so CRIU can dump it without --shell-job
 * and without external pipes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "detach.h"

#define LINE_LEN 200 /* status line width, '\n' included */

static int64_t usec(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000 + t->tv_nsec / 1000;
}

/* Writes one fixed-width line: the text padded with spaces, then '\n'. */
static void put_line(int fd, const char *text)
{
	char line[LINE_LEN];
	size_t n = strlen(text);
	if (n > LINE_LEN - 1)
		n = LINE_LEN - 1;
	memcpy(line, text, n);
	memset(line + n, ' ', LINE_LEN - 1 - n);
	line[LINE_LEN - 1] = '\n';
	if (pwrite(fd, line, LINE_LEN, 0) < 0) {
		/* Nothing to report to: stdio is /dev/null. Keep beating. */
	}
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s STATUS_FILE GAPS_FILE [THRESHOLD_US]\n", argv[0]);
		return 2;
	}
	long long threshold = argc > 3 ? strtoll(argv[3], NULL, 10) : 5000;
	if (threshold <= 0) {
		fprintf(stderr, "%s: THRESHOLD_US must be positive\n", argv[0]);
		return 2;
	}
	int status = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (status < 0) {
		perror(argv[1]);
		return 1;
	}
	int gaps = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
	if (gaps < 0) {
		perror(argv[2]);
		return 1;
	}
	detach_keeping_two(status, gaps);

	const struct timespec period = { 0, 1000000 };
	unsigned long long beats = 0, ngaps = 0, steps = 0;
	long long max_gap = 0, last_gap = 0, last_gap_start = 0;
	struct timespec rt, mono;
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	int64_t prev_rt = usec(&rt), prev_mono = usec(&mono), last_status = 0; /* the first beat writes at once */

	for (;;) {
		while (clock_nanosleep(CLOCK_MONOTONIC, 0, &period, NULL) == EINTR)
			;
		clock_gettime(CLOCK_REALTIME, &rt);
		clock_gettime(CLOCK_MONOTONIC, &mono);
		int64_t now_rt = usec(&rt), now_mono = usec(&mono);
		int64_t d_rt = now_rt - prev_rt, d_mono = now_mono - prev_mono;
		beats++;
		int changed = 0;
		if (d_rt < 0) {
			steps++;
			changed = 1;
		} else if (d_rt > threshold) {
			char line[96];
			int n = snprintf(line, sizeof(line), "gap start_us=%017lld len_us=%012lld mono_us=%012lld\n",
					 (long long)prev_rt, (long long)d_rt, (long long)d_mono);
			if (write(gaps, line, n) < 0) {
				/* As above: keep beating. */
			}
			ngaps++;
			last_gap = d_rt;
			last_gap_start = prev_rt;
			if (d_rt > max_gap)
				max_gap = d_rt;
			changed = 1;
		}
		prev_rt = now_rt;
		prev_mono = now_mono;
		if (changed || now_mono - last_status >= 10000 || now_mono < last_status) {
			last_status = now_mono;
			char text[LINE_LEN];
			snprintf(text, sizeof(text),
				 "beats=%llu gaps=%llu max_gap_us=%lld last_gap_us=%lld last_gap_start_us=%lld steps=%llu clock=realtime pid=%d",
				 beats, ngaps, max_gap, last_gap, last_gap_start, steps, getpid());
			put_line(status, text);
		}
	}
}
