/*
 * shifter: changes its memory and its state on command, for the tests of
 * write tracking by userfaultfd.
 *
 *   shifter STATUS_FILE CONTROL_FIFO MAIN
 *
 * Maps region 0 (4 MiB of anonymous private memory, every page filled), then
 * reads commands, one per line, from CONTROL_FIFO (it makes the FIFO if there
 * is none, and opens it read-write, so it never sees end of file) on a thread
 * of its own. The main thread does
 * what MAIN says, so that a tracer that stops it finds it there:
 *
 *   spin     spins in spin_loop(), the same function as the threads of `threads`
 *   read     blocks in read() on a pipe of its own; `unblock` writes to it
 *   handler  raises SIGUSR1 and stays in the handler until `release`
 *   sleep    sleeps in clock_nanosleep, a second at a time
 *
 * Commands (R is a region's index, pages are counted from 0):
 *
 *   map MIB            maps a new region and fills every page
 *   write R FIRST N    writes new data into pages FIRST..FIRST+N-1 of region R
 *   move R             moves region R elsewhere with mremap(MREMAP_FIXED)
 *   fork               forks a child that rewrites pages 0-7 of region 0 every
 *                      millisecond, writing STATUS_FILE.child; it dies with us
 *   uffd R             registers region R with a userfaultfd of its own
 *                      (write-protect mode; nothing is protected, nothing faults)
 *   seccomp            installs, on every thread, a seccomp filter under which
 *                      userfaultfd() fails with EPERM
 *   threads N          starts N threads spinning in spin_loop()
 *   unblock TEXT       writes TEXT to the main thread's pipe (MAIN read)
 *   release            lets the main thread out of its handler (MAIN handler)
 *   verify             checks every page of every region against its checksum
 *   exec               execs itself anew, same arguments: new memory, same PID
 *
 * A SIGUSR2 handler counts the SIGUSR2s it gets (`usr2=`), and the main
 * thread counts the reads that failed with EINTR (`eintr=`) and the nanosleeps
 * that returned early (`early=`): an injected call must leave both at 0.
 *
 * STATUS_FILE is rewritten in place (pwrite at offset 0, one fixed-width line)
 * after each command and every 20 ms:
 *
 *   seq=N regions=N result=... main=STATE reads=N last_read=TEXT eintr=N
 *   early=N handled=N usr2=N spins=N ticks=N started=NS base=0x... pid=P
 *
 * seq counts the commands done; result is the last one's: addr=0x... (map,
 * move), child=PID (fork), verify=ok|BAD, ok, or error=WHY. spins counts the
 * rounds of every spinning thread, ticks the status rewrites: a crashed or
 * stuck process stops counting. started is CLOCK_MONOTONIC at start, in
 * nanoseconds: it changes when the process execs itself. base is region 0's
 * address. Region R's
 * address is in the result of the command that mapped or moved it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/userfaultfd.h>
#include <stddef.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "detach.h"

#define PAGE 4096
#define WORDS (PAGE / 8)
#define LINE_LEN 400
#define MAX_REGIONS 64
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

struct region {
	uint64_t *words;
	size_t pages;
	uint64_t *sums;
};

static struct region regions[MAX_REGIONS];
static int region_count;
static int status_fd;
static const char *status_path;
static const char *main_mode;
static char **arguments;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long seq, reads, eintr, early, handled, ticks;
static _Atomic unsigned long long usr2, spins;
static atomic_int released;
static char result[96] = "ok", last_read[48] = "-", main_state[16] = "starting";
static int main_pipe[2];
static uint64_t random_state = 0x9e3779b97f4a7c15ULL;
static long long started;

static uint64_t next_random(void)
{
	uint64_t x = random_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	random_state = x;
	return x * 0x2545f4914f6cdd1dULL;
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

static void write_page(struct region *r, size_t page)
{
	uint64_t *words = r->words + page * WORDS;
	for (size_t i = 0; i < WORDS; i++)
		words[i] = next_random();
	r->sums[page] = page_hash(words);
}

static int verify_all(void)
{
	for (int r = 0; r < region_count; r++)
		for (size_t p = 0; p < regions[r].pages; p++)
			if (page_hash(regions[r].words + p * WORDS) != regions[r].sums[p])
				return 0;
	return 1;
}

static void write_status(void)
{
	char text[LINE_LEN], line[LINE_LEN];
	int n = snprintf(text, sizeof(text),
			 "seq=%llu regions=%d result=%s main=%s reads=%llu last_read=%s eintr=%llu early=%llu handled=%llu usr2=%llu spins=%llu ticks=%llu started=%lld base=%p pid=%d",
			 seq, region_count, result, main_state, reads, last_read, eintr, early, handled,
			 (unsigned long long)usr2, (unsigned long long)spins, ticks, started, (void *)regions[0].words, getpid());
	if (n > LINE_LEN - 1)
		n = LINE_LEN - 1;
	memcpy(line, text, n);
	memset(line + n, ' ', LINE_LEN - 1 - n);
	line[LINE_LEN - 1] = '\n';
	if (pwrite(status_fd, line, LINE_LEN, 0) < 0) {
		/* Nothing to report to: stdio is /dev/null. */
	}
}

static int map_region(size_t mib)
{
	if (region_count == MAX_REGIONS)
		return -1;
	struct region *r = &regions[region_count];
	r->pages = mib * 256;
	r->words = mmap(NULL, r->pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	r->sums = calloc(r->pages, sizeof(*r->sums));
	if (r->words == MAP_FAILED || r->sums == NULL)
		return -1;
	for (size_t p = 0; p < r->pages; p++)
		write_page(r, p);
	return region_count++;
}

/* The same loop for the main thread (MAIN spin) and every thread of `threads`. */
static void __attribute__((noinline)) spin_loop(volatile uint64_t *shared)
{
	for (;;) {
		for (int i = 0; i < 1000; i++)
			shared[i & 7] += i;
		spins++;
	}
}

static uint64_t spin_area[8];

static void *spinner(void *unused)
{
	(void)unused;
	spin_loop(spin_area);
	return NULL;
}

static void on_usr1(int signal)
{
	(void)signal;
	strcpy(main_state, "handler");
	while (!released)
		spins++;
	handled++;
}

static void on_usr2(int signal)
{
	(void)signal;
	usr2++;
}

static void run_child(void)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	char path[512];
	snprintf(path, sizeof(path), "%s.child", status_path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	unsigned long long rounds = 0;
	for (;;) {
		for (size_t p = 0; p < 8; p++)
			write_page(&regions[0], p);
		rounds++;
		char line[128];
		int n = snprintf(line, sizeof(line), "rounds=%llu verify=%s pid=%d", rounds, verify_all() ? "ok" : "BAD", getpid());
		memset(line + n, ' ', sizeof(line) - 1 - n);
		line[sizeof(line) - 1] = '\n';
		if (pwrite(fd, line, sizeof(line), 0) < 0) {
		}
		const struct timespec tick = { 0, 1000000 };
		nanosleep(&tick, NULL);
	}
}

static void command(char *line)
{
	unsigned long a = 0, b = 0, c = 0;
	char word[48] = "";
	snprintf(result, sizeof(result), "ok");
	if (sscanf(line, "map %lu", &a) == 1) {
		int r = map_region(a);
		if (r < 0)
			snprintf(result, sizeof(result), "error=map");
		else
			snprintf(result, sizeof(result), "addr=%p", (void *)regions[r].words);
	} else if (sscanf(line, "write %lu %lu %lu", &a, &b, &c) == 3 && a < (unsigned long)region_count && b + c <= regions[a].pages) {
		for (size_t p = b; p < b + c; p++)
			write_page(&regions[a], p);
	} else if (sscanf(line, "move %lu", &a) == 1 && a < (unsigned long)region_count) {
		size_t length = regions[a].pages * PAGE;
		/* Reserve a free range, then move the region onto it. */
		void *to = mmap(NULL, length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		void *moved = to == MAP_FAILED ? MAP_FAILED : mremap(regions[a].words, length, length, MREMAP_MAYMOVE | MREMAP_FIXED, to);
		if (moved == MAP_FAILED) {
			snprintf(result, sizeof(result), "error=mremap:%d", errno);
		} else {
			regions[a].words = moved;
			snprintf(result, sizeof(result), "addr=%p", moved);
		}
	} else if (strncmp(line, "fork", 4) == 0) {
		pid_t child = fork();
		if (child == 0)
			run_child();
		snprintf(result, sizeof(result), "child=%d", child);
	} else if (sscanf(line, "uffd %lu", &a) == 1 && a < (unsigned long)region_count) {
		int fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
		struct uffdio_api api = { .api = UFFD_API };
		struct uffdio_register reg = {
			.range = { (uint64_t)regions[a].words, regions[a].pages * PAGE },
			.mode = UFFDIO_REGISTER_MODE_WP,
		};
		if (fd < 0 || ioctl(fd, UFFDIO_API, &api) || ioctl(fd, UFFDIO_REGISTER, &reg))
			snprintf(result, sizeof(result), "error=uffd:%d", errno);
		else
			snprintf(result, sizeof(result), "uffd=%d", fd);
	} else if (strncmp(line, "seccomp", 7) == 0) {
		struct sock_filter filter[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_userfaultfd, 0, 1),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog program = { .len = sizeof(filter) / sizeof(filter[0]), .filter = filter };
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &program))
			snprintf(result, sizeof(result), "error=seccomp:%d", errno);
	} else if (sscanf(line, "threads %lu", &a) == 1) {
		for (unsigned long i = 0; i < a; i++) {
			pthread_t thread;
			pthread_create(&thread, NULL, spinner, NULL);
		}
	} else if (sscanf(line, "unblock %47s", word) == 1) {
		if (write(main_pipe[1], word, strlen(word)) < 0)
			snprintf(result, sizeof(result), "error=unblock:%d", errno);
	} else if (strncmp(line, "release", 7) == 0) {
		released = 1;
	} else if (strncmp(line, "exec", 4) == 0) {
		execv("/proc/self/exe", arguments);
		snprintf(result, sizeof(result), "error=exec:%d", errno);
	} else if (strncmp(line, "verify", 6) == 0) {
		snprintf(result, sizeof(result), "verify=%s", verify_all() ? "ok" : "BAD");
	} else {
		snprintf(result, sizeof(result), "error=unknown");
	}
}

static void *control(void *path)
{
	int fifo = open(path, O_RDWR);
	char buffer[512];
	size_t have = 0;
	for (;;) {
		struct timespec timeout = { 0, 20000000 };
		fd_set set;
		FD_ZERO(&set);
		FD_SET(fifo, &set);
		if (pselect(fifo + 1, &set, NULL, NULL, &timeout, NULL) > 0) {
			ssize_t n = read(fifo, buffer + have, sizeof(buffer) - 1 - have);
			if (n > 0)
				have += n;
		}
		char *newline;
		pthread_mutex_lock(&lock);
		while ((newline = memchr(buffer, '\n', have)) != NULL) {
			*newline = '\0';
			command(buffer);
			seq++;
			have -= newline + 1 - buffer;
			memmove(buffer, newline + 1, have);
		}
		ticks++;
		write_status();
		pthread_mutex_unlock(&lock);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s STATUS_FILE CONTROL_FIFO spin|read|handler|sleep\n", argv[0]);
		return 2;
	}
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	started = (long long)now.tv_sec * 1000000000 + now.tv_nsec;
	arguments = argv;
	status_path = argv[1];
	main_mode = argv[3];
	status_fd = open(status_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (status_fd < 0) {
		perror(status_path);
		return 1;
	}
	detach_keeping(&status_fd, 1);
	if ((mkfifo(argv[2], 0600) && errno != EEXIST) || pipe(main_pipe) || map_region(4) < 0)
		return 1;
	struct sigaction action = { .sa_flags = SA_RESTART };
	action.sa_handler = on_usr1;
	sigaction(SIGUSR1, &action, NULL);
	action.sa_handler = on_usr2;
	sigaction(SIGUSR2, &action, NULL);

	pthread_t controller;
	pthread_create(&controller, NULL, control, argv[2]);

	if (strcmp(main_mode, "read") == 0) {
		strcpy(main_state, "read");
		for (;;) {
			char text[48];
			ssize_t n = read(main_pipe[0], text, sizeof(text) - 1);
			pthread_mutex_lock(&lock);
			if (n < 0 && errno == EINTR)
				eintr++;
			if (n > 0) {
				text[n] = '\0';
				strcpy(last_read, text);
				reads++;
			}
			pthread_mutex_unlock(&lock);
		}
	} else if (strcmp(main_mode, "handler") == 0) {
		raise(SIGUSR1);
		strcpy(main_state, "spin");
		spin_loop(spin_area);
	} else if (strcmp(main_mode, "sleep") == 0) {
		strcpy(main_state, "sleep");
		for (;;) {
			const struct timespec second = { 1, 0 };
			struct timespec left;
			if (clock_nanosleep(CLOCK_MONOTONIC, 0, &second, &left) != 0)
				early++;
		}
	} else {
		strcpy(main_state, "spin");
		spin_loop(spin_area);
	}
}
