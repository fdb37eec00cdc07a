/*
 * dirtier: dirties memory at a set rate and proves every page stays exact.
 *
 *   dirtier STATUS_FILE SIZE_MIB HOT_MIB RATE_MIB_PER_S [SEED [MEMORY]]
 *
 * Maps SIZE_MIB of anonymous private memory (MEMORY "private", the default),
 * anonymous shared memory ("shared": MAP_SHARED|MAP_ANONYMOUS) or a memfd
 * ("memfd", mapped MAP_SHARED), and fills every 4 KiB page with
 * pseudo-random data from SEED (default 1), except two kinds of deliberate
 * zero pages that stay zero for ever: page N with N % 1000 == 7 is written
 * with zeros (a present, all-zero page) and page N with N % 1000 == 9 is only
 * ever read (the kernel's shared zero page). It keeps a checksum per page
 * (FNV-1a over 64-bit words), then rewrites random pages inside the first
 * HOT_MIB with fresh random data at about RATE_MIB_PER_S (0: as fast as it
 * can), updating a page's checksum right after writing it.
 *
 * In the same loop it verifies a slice of the whole buffer against the
 * checksums, sized so that a full pass takes about 250 ms. The first page
 * found bad is reported for ever (sticky).
 *
 * A second thread beats every millisecond and measures the longest gap in its
 * own progress by CLOCK_REALTIME (see heartbeat.c for why that clock), so a
 * migration's downtime as this process saw it is in the status too.
 *
 * STATUS_FILE is rewritten in place (pwrite at offset 0, one fixed-width line)
 * about every 50 ms:
 *
 *   pages=N writes=N passes=N verify=ok gaps=N max_gap_us=N last_gap_us=N base=0x... pid=P
 *   pages=N writes=N passes=N verify=BAD page=N gaps=N max_gap_us=N last_gap_us=N base=0x... pid=P
 *
 * writes counts pages rewritten; passes counts completed verifications of the
 * whole buffer; gaps counts heartbeat gaps longer than 5 ms; base is the
 * buffer's address (the hot set is its first HOT_MIB).
 *
 * It detaches from its parent's session and standard streams and closes any
 * other inherited descriptor first, so CRIU can dump it without --shell-job
 * and without external pipes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "detach.h"

#define PAGE 4096
#define WORDS (PAGE / 8)
#define LINE_LEN 200	   /* status line width, '\n' included */
#define PASS_MS 250	   /* target time of one full verification pass */
#define STATUS_MS 50	   /* status rewrite period */
#define GAP_US 5000	   /* heartbeat gap threshold */
#define MAX_CATCHUP_MS 10  /* most write backlog carried over a stall */

static _Atomic unsigned long long hb_gaps;
static _Atomic long long hb_max_gap, hb_last_gap;

static int64_t usec(clockid_t clock)
{
	struct timespec t;
	clock_gettime(clock, &t);
	return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static uint64_t page_hash(const uint64_t *words)
{
	uint64_t hash = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < WORDS; i++) {
		hash ^= words[i];
		hash *= 0x100000001b3ULL;
	}
	return hash;
}

/* xorshift64*: fast, good enough to make pages incompressible and distinct. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static int zero_written(size_t page) { return page % 1000 == 7; }
static int zero_untouched(size_t page) { return page % 1000 == 9; }

static void fill_random(uint64_t *words, uint64_t *state)
{
	for (size_t i = 0; i < WORDS; i++)
		words[i] = next_random(state);
}

static void *heartbeat(void *unused)
{
	(void)unused;
	const struct timespec period = { 0, 1000000 };
	int64_t prev = usec(CLOCK_REALTIME);
	for (;;) {
		while (clock_nanosleep(CLOCK_MONOTONIC, 0, &period, NULL) == EINTR)
			;
		int64_t now = usec(CLOCK_REALTIME), gap = now - prev;
		prev = now;
		if (gap > GAP_US) {
			hb_gaps++;
			hb_last_gap = gap;
			if (gap > hb_max_gap)
				hb_max_gap = gap;
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: %s STATUS_FILE SIZE_MIB HOT_MIB RATE_MIB_PER_S [SEED [private|shared|memfd]]\n", argv[0]);
		return 2;
	}
	size_t size_mib = strtoul(argv[2], NULL, 10), hot_mib = strtoul(argv[3], NULL, 10);
	double rate = strtod(argv[4], NULL);
	uint64_t seed = argc > 5 ? strtoull(argv[5], NULL, 0) : 1;
	const char *memory = argc > 6 ? argv[6] : "private";
	if (size_mib == 0 || hot_mib > size_mib || rate < 0 ||
	    (strcmp(memory, "private") && strcmp(memory, "shared") && strcmp(memory, "memfd"))) {
		fprintf(stderr, "%s: need SIZE_MIB > 0, HOT_MIB <= SIZE_MIB, RATE_MIB_PER_S >= 0, MEMORY private, shared or memfd\n", argv[0]);
		return 2;
	}
	int status = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (status < 0) {
		perror(argv[1]);
		return 1;
	}
	const size_t pages = size_mib * 256, hot_pages = hot_mib * 256;
	int memfd = -1;
	if (!strcmp(memory, "memfd")) {
		memfd = memfd_create("dirtier", MFD_CLOEXEC);
		if (memfd < 0 || ftruncate(memfd, pages * PAGE) < 0) {
			perror("memfd");
			return 1;
		}
	}
	int flags = !strcmp(memory, "private") ? MAP_PRIVATE | MAP_ANONYMOUS : memfd < 0 ? MAP_SHARED | MAP_ANONYMOUS : MAP_SHARED;
	uint8_t *buffer = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, flags, memfd, 0);
	if (memfd >= 0)
		close(memfd); /* the mapping keeps the memfd */
	uint64_t *sums = calloc(pages, sizeof(*sums));
	if (buffer == MAP_FAILED || sums == NULL) {
		perror("allocating the buffer");
		return 1;
	}
	detach_keeping(&status, 1);

	uint64_t state = seed * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL;
	if (state == 0)
		state = 1;
	for (size_t p = 0; p < pages; p++) {
		uint64_t *words = (uint64_t *)(buffer + p * PAGE);
		if (zero_written(p))
			memset(words, 0, PAGE);
		else if (!zero_untouched(p))
			fill_random(words, &state);
		sums[p] = page_hash(words); /* reads map the zero page for the untouched ones */
	}

	pthread_t beat;
	pthread_create(&beat, NULL, heartbeat, NULL);

	const double pages_per_us = rate * 256 / 1e6;
	unsigned long long writes = 0, passes = 0;
	long long bad_page = -1;
	size_t verify_next = 0;
	double write_credit = 0;
	int64_t last = usec(CLOCK_MONOTONIC), last_status = 0; /* the first check writes at once */
	double verify_credit = 0;

	for (;;) {
		int64_t now = usec(CLOCK_MONOTONIC), dt = now - last;
		last = now;
		if (dt < 0)
			dt = 0; /* a restore into a time namespace may move the clock */

		/* Write: at RATE, or for about 1 ms when RATE is 0. */
		if (hot_pages > 0) {
			size_t todo;
			if (rate > 0) {
				write_credit += dt * pages_per_us;
				double cap = MAX_CATCHUP_MS * 1000 * pages_per_us + 1;
				if (write_credit > cap)
					write_credit = cap;
				todo = (size_t)write_credit;
				write_credit -= todo;
			} else {
				todo = (size_t)-1;
			}
			int64_t until = now + 1000;
			for (size_t i = 0; i < todo; i++) {
				size_t p = next_random(&state) % hot_pages;
				if (zero_written(p) || zero_untouched(p))
					continue;
				uint64_t *words = (uint64_t *)(buffer + p * PAGE);
				fill_random(words, &state);
				sums[p] = page_hash(words);
				writes++;
				if (rate == 0 && (i & 15) == 15 && usec(CLOCK_MONOTONIC) >= until)
					break;
			}
		}

		/* Verify a slice sized by elapsed time, for one pass per PASS_MS. */
		verify_credit += (double)dt * pages / (PASS_MS * 1000.0);
		if (verify_credit > pages)
			verify_credit = pages;
		size_t slice = (size_t)verify_credit;
		if (slice == 0)
			slice = 1;
		verify_credit -= slice;
		if (verify_credit < 0)
			verify_credit = 0;
		for (size_t i = 0; i < slice; i++) {
			if (bad_page < 0 && page_hash((uint64_t *)(buffer + verify_next * PAGE)) != sums[verify_next])
				bad_page = (long long)verify_next;
			if (++verify_next == pages) {
				verify_next = 0;
				passes++;
			}
		}

		now = usec(CLOCK_MONOTONIC);
		if (now - last_status >= STATUS_MS * 1000 || now < last_status) {
			last_status = now;
			char verdict[48], text[LINE_LEN];
			if (bad_page < 0)
				snprintf(verdict, sizeof(verdict), "verify=ok");
			else
				snprintf(verdict, sizeof(verdict), "verify=BAD page=%lld", bad_page);
			int n = snprintf(text, sizeof(text),
					 "pages=%zu writes=%llu passes=%llu %s gaps=%llu max_gap_us=%lld last_gap_us=%lld base=%p pid=%d",
					 pages, writes, passes, verdict, (unsigned long long)hb_gaps,
					 (long long)hb_max_gap, (long long)hb_last_gap, (void *)buffer, getpid());
			char line[LINE_LEN];
			if (n > LINE_LEN - 1)
				n = LINE_LEN - 1;
			memcpy(line, text, n);
			memset(line + n, ' ', LINE_LEN - 1 - n);
			line[LINE_LEN - 1] = '\n';
			if (pwrite(status, line, LINE_LEN, 0) < 0) {
				/* Nothing to report to: stdio is /dev/null. */
			}
		}

		if (rate > 0) {
			const struct timespec tick = { 0, 1000000 };
			while (clock_nanosleep(CLOCK_MONOTONIC, 0, &tick, NULL) == EINTR)
				;
		}
	}
}
