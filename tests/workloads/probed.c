/*
 * probed: a workload for uprobe tests.
 *
 *   probed STATUS_FILE fast|slow|stuck
 *
 * fast:  calls probed_function() about every millisecond.
 * slow:  calls slow_function(), which sleeps 700 ms inside, then waits 300 ms
 *        outside it: a return probe on it is pending 70% of the time.
 * stuck: enters slow_function() once and sleeps there for ever.
 *
 * STATUS_FILE is rewritten in place (pwrite at offset 0) after every call:
 *
 *   calls=N inside=0|1 pid=P
 *
 * It detaches from its parent's session and standard streams and closes any
 * other inherited descriptor first, so CRIU can dump it without --shell-job.
 * Probe the functions by their symbol: the tests find the file offsets with
 * the ELF symbol table.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "detach.h"

static int status;
static volatile unsigned long calls;
static volatile int inside;

static void report(void)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "calls=%012lu inside=%d pid=%d\n", calls, inside, getpid());
	pwrite(status, line, n, 0);
}

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000 };
	while (nanosleep(&t, &t) != 0)
		;
}

__attribute__((noinline)) unsigned long probed_function(unsigned long x)
{
	__asm__ volatile("" ::: "memory");
	return x * 2654435761UL + 1;
}

__attribute__((noinline)) void slow_function(long ms)
{
	inside = 1;
	report();
	sleep_ms(ms);
	inside = 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s STATUS_FILE fast|slow|stuck\n", argv[0]);
		return 2;
	}
	status = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (status < 0) {
		perror(argv[1]);
		return 1;
	}
	detach_keeping(&status, 1);

	if (strcmp(argv[2], "stuck") == 0) {
		calls++;
		slow_function(1000L * 1000 * 1000);
	}
	int slow = strcmp(argv[2], "slow") == 0;
	unsigned long x = 1;
	for (;;) {
		if (slow) {
			slow_function(700);
			calls++;
			report();
			sleep_ms(300);
		} else {
			x = probed_function(x);
			calls++;
			report();
			sleep_ms(1);
		}
	}
}
