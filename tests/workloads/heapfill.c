/*
 * heapfill: holds memory that looks like a process heap (or random bytes),
 * mostly idle, and proves it stays exact. A workload for pre-copy throughput
 * benchmarks (tests/Migrate.Lab, its bench command).
 *
 *   heapfill STATUS_FILE SIZE_MIB heap|random [SEED]
 *
 * Maps SIZE_MIB of anonymous private memory and fills it once:
 *   heap    allocator chunks as a C heap holds them, the same mix as
 *           tests/Migrate.Benchmarks/HeapLikeData.cs (keep the two in step):
 *           a glibc-style 16-byte header (prev_size, size | PREV_INUSE), then a
 *           record (a type pointer, then fields laid out by type: links into
 *           the heap, ids, refcounts, small numbers, timestamps, zeros), a
 *           short string, an array of pointers, an array of counters, a free
 *           chunk (two links, zeros) or, rarely, a calloc'd block. Pointers
 *           point into the mapping itself. LZ4 (fast, 1 MiB blocks) shrinks it
 *           about 3x, as it does the heaps of a real redis-server (3.0x) and
 *           python3 (3.9x) measured on this machine.
 *   random  pseudo-random bytes: incompressible, as dirtier writes them.
 * Then it never writes the buffer again. It keeps a checksum per page (FNV-1a
 * over 64-bit words, as dirtier) and verifies a tenth of the buffer every
 * 100 ms, one full pass a second: little CPU, so a benchmark measures the
 * migration rather than the workload. The first page found bad stays reported.
 *
 * STATUS_FILE is rewritten in place (pwrite at offset 0, one fixed-width line)
 * after the fill and every 100 ms:
 *
 *   pages=N passes=N verify=ok pid=P
 *   pages=N passes=N verify=BAD page=N pid=P
 *
 * As with dirtier: after a migration read passes as P0, wait for
 * passes >= P0 + 2 and require verify=ok. No status line exists before the
 * fill is done.
 *
 * Like every workload here, it detaches first (detach.h: stdio to /dev/null,
 * setsid, every other descriptor closed), so CRIU dumps it without
 * --shell-job.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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
#define LINE_LEN 120	 /* status line width, '\n' included */
#define TICK_MS 100	 /* verification and status period */
#define SLICES 10	 /* ticks per full verification pass */

static uint64_t state;

/* xorshift64*, as dirtier uses. */
static uint64_t next_random(void)
{
	uint64_t x = state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static uint64_t below(uint64_t n) { return next_random() % n; }

static uint64_t page_hash(const uint64_t *words)
{
	uint64_t hash = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < WORDS; i++) {
		hash ^= words[i];
		hash *= 0x100000001b3ULL;
	}
	return hash;
}

static void put64(uint8_t *at, uint64_t value) { memcpy(at, &value, 8); }
static void put32(uint8_t *at, uint32_t value) { memcpy(at, &value, 4); }

static const char *const words[] = {
	"user", "session", "id", "name", "count", "cache", "key", "value", "node", "list",
	"http", "GET", "/api/v1/items", "application/json", "ok", "error", "timeout", "host",
};

/* A 16-byte aligned address inside the buffer, past a chunk header. */
static uint64_t heap_pointer(const uint8_t *heap, size_t size)
{
	return (uint64_t)(uintptr_t)heap + (below(size) & ~(uint64_t)15) + 16;
}

static void fill_record(uint8_t *body, size_t len, const uint8_t *heap, size_t size, uint64_t id)
{
	/* Records of one type share a layout: a field's kind depends on the type and its position. */
	uint64_t type = below(16);
	put64(body, (uint64_t)(uintptr_t)&words + 0x40 * type); /* as a vtable or type descriptor */
	for (size_t i = 8; i + 8 <= len; i += 8) {
		uint64_t word;
		switch ((type * 7 + i / 8 * 5) % 6) {
		case 0: word = heap_pointer(heap, size); break;
		case 1: word = id; break;
		case 2: word = (1 + below(4)) | (below(4) << 32); break; /* refcount | flags */
		case 3: word = below(100000); break;
		case 4: { double d = 1700000000.0 + (double)below(1000000) / 8; memcpy(&word, &d, 8); break; } /* a timestamp */
		default: word = 0; break;
		}
		put64(body + i, word);
	}
}

static void fill_string(uint8_t *body, size_t len)
{
	size_t at = 0;
	while (at + 12 < len) {
		const char *word = words[below(sizeof(words) / sizeof(words[0]))];
		char piece[48];
		int n = below(2) ? snprintf(piece, sizeof(piece), "%s%c%u", word, below(2) ? ':' : '_', (unsigned)below(10000))
				 : snprintf(piece, sizeof(piece), "%s%c", word, below(2) ? ':' : '_');
		if (at + (size_t)n >= len)
			n = (int)(len - 1 - at);
		memcpy(body + at, piece, n);
		at += n;
	}
}

/* Chunk kinds, in per mille of chunks. By bytes, calloc'd zeros are about 7%. */
enum { RECORD = 450, STRING = 650, POINTERS = 750, INTEGERS = 850, FREE = 998 };

static void fill_heap(uint8_t *heap, size_t size)
{
	uint64_t id = 1;
	size_t offset = 0;
	while (offset + 32 <= size) {
		unsigned kind = below(1000);
		size_t payload = kind < RECORD ? 16 * (2 + below(8))
			       : kind < STRING ? 16 * (1 + below(4))
			       : kind < POINTERS ? 16 * (4 + below(28))
			       : kind < INTEGERS ? 16 * (4 + below(60))
			       : kind < FREE ? 16 * (2 + below(14))
			       : 4096 * (1 + below(3));
		if (payload > size - offset - 16)
			payload = (size - offset - 16) & ~(size_t)15;
		uint8_t *chunk = heap + offset, *body = chunk + 16;
		put64(chunk + 8, (16 + payload) | 1); /* size | PREV_INUSE */
		if (kind < RECORD) {
			fill_record(body, payload, heap, size, id++);
		} else if (kind < STRING) {
			fill_string(body, payload);
		} else if (kind < POINTERS) {
			/* Half point to objects allocated one after another, as a list's items are. */
			uint64_t pointer = heap_pointer(heap, size), stride = below(2) ? 16 * (2 + below(8)) : 0;
			for (size_t i = 0; i + 8 <= payload; i += 8) {
				put64(body + i, stride ? pointer : below(5) == 0 ? 0 : heap_pointer(heap, size));
				pointer += stride;
			}
		} else if (kind < INTEGERS) {
			/* Counters: runs of equal values, now and then a step. */
			uint32_t step = 1 + below(3), value = below(1000);
			for (size_t i = 0; i + 4 <= payload; i += 4) {
				put32(body + i, value);
				value += below(4) == 0 ? step : 0;
			}
		} else if (kind < FREE) {
			put64(body, heap_pointer(heap, size)); /* fd and bk; the rest zeros */
			put64(body + 8, heap_pointer(heap, size));
		} /* else calloc'd: zeros */
		offset += 16 + payload;
	}
}

static void fill_random(uint8_t *buffer, size_t size)
{
	for (size_t i = 0; i + 8 <= size; i += 8)
		put64(buffer + i, next_random());
}

static void write_status(int fd, size_t pages, unsigned long long passes, long long bad_page)
{
	char text[LINE_LEN], line[LINE_LEN];
	int n = bad_page < 0
		? snprintf(text, sizeof(text), "pages=%zu passes=%llu verify=ok pid=%d", pages, passes, getpid())
		: snprintf(text, sizeof(text), "pages=%zu passes=%llu verify=BAD page=%lld pid=%d", pages, passes, bad_page, getpid());
	if (n > LINE_LEN - 1)
		n = LINE_LEN - 1;
	memcpy(line, text, n);
	memset(line + n, ' ', LINE_LEN - 1 - n);
	line[LINE_LEN - 1] = '\n';
	if (pwrite(fd, line, LINE_LEN, 0) < 0) {
		/* Nothing to report to: stdio is /dev/null. */
	}
}

int main(int argc, char **argv)
{
	if (argc < 4 || (strcmp(argv[3], "heap") != 0 && strcmp(argv[3], "random") != 0)) {
		fprintf(stderr, "usage: %s STATUS_FILE SIZE_MIB heap|random [SEED]\n", argv[0]);
		return 2;
	}
	size_t size_mib = strtoul(argv[2], NULL, 10);
	uint64_t seed = argc > 4 ? strtoull(argv[4], NULL, 0) : 1;
	if (size_mib == 0) {
		fprintf(stderr, "%s: need SIZE_MIB > 0\n", argv[0]);
		return 2;
	}
	int status = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (status < 0) {
		perror(argv[1]);
		return 1;
	}
	const size_t size = size_mib << 20, pages = size / PAGE;
	uint8_t *buffer = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t *sums = calloc(pages, sizeof(*sums));
	if (buffer == MAP_FAILED || sums == NULL) {
		perror("allocating the buffer");
		return 1;
	}
	detach_keeping(&status, 1);

	state = seed * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL;
	if (state == 0)
		state = 1;
	if (strcmp(argv[3], "heap") == 0)
		fill_heap(buffer, size);
	else
		fill_random(buffer, size);
	for (size_t p = 0; p < pages; p++)
		sums[p] = page_hash((const uint64_t *)(buffer + p * PAGE));

	unsigned long long passes = 0;
	long long bad_page = -1;
	size_t next = 0, slice = (pages + SLICES - 1) / SLICES;
	const struct timespec tick = { 0, TICK_MS * 1000000L };
	for (;;) {
		write_status(status, pages, passes, bad_page);
		while (clock_nanosleep(CLOCK_MONOTONIC, 0, &tick, NULL) == EINTR)
			;
		for (size_t i = 0; i < slice; i++) {
			if (bad_page < 0 && page_hash((const uint64_t *)(buffer + next * PAGE)) != sums[next])
				bad_page = (long long)next;
			if (++next == pages) {
				next = 0;
				passes++;
			}
		}
	}
}
