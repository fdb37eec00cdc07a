/*
 * sharer: a workload whose memory is shared with another process.
 *
 *   sharer STATUS_FILE fork SIZE_MIB
 *   sharer STATUS_FILE sysv SIZE_MIB
 *   sharer STATUS_FILE file PATH
 *
 * fork: maps SIZE_MIB of anonymous shared memory (MAP_SHARED|MAP_ANONYMOUS),
 * fills it with a known pattern, and forks a child that shares it. The child
 * increments a counter in the first page every millisecond; the parent reads
 * it and checks the rest of the mapping against the pattern every 20 ms, so
 * "shared" grows only while the two still share the memory:
 *
 *   shared=N verify=ok|BAD child=C pid=P
 *
 * sysv: the same with a SysV shared memory segment (shmget, shmat) that the
 * child inherits attached; the line also gives its shmid=S. The segment stays
 * when both have gone, as SysV segments do: run it in an IPC namespace of its
 * own (unshare --ipc), or remove it (ipcrm -m S).
 *
 * file: maps 1 MiB of PATH (created if missing, as on /dev/shm) MAP_SHARED
 * and increments a counter in it every millisecond; two sharers on one PATH
 * share it, as processes that are not parent and child:
 *
 *   ticks=N shared=N pid=P
 *
 * It detaches first (detach.h); the status line is rewritten in place.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <time.h>
#include <unistd.h>

#include "detach.h"
#include "status.h"

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 2654435761u >> 13);
}

/* Anonymous shared memory, or a SysV segment when shmid is not NULL. */
static volatile uint64_t *map_shared(size_t size, int *shmid)
{
	if (shmid == NULL) {
		void *memory = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		return memory == MAP_FAILED ? NULL : memory;
	}
	*shmid = shmget(IPC_PRIVATE, size, IPC_CREAT | 0600);
	if (*shmid < 0)
		return NULL;
	void *memory = shmat(*shmid, NULL, 0);
	return memory == (void *)-1 ? NULL : memory;
}

static int run_fork(int status, size_t size, int *shmid)
{
	volatile uint64_t *memory = map_shared(size, shmid);
	if (memory == NULL)
		return 1;
	uint8_t *bytes = (uint8_t *)memory;
	for (size_t i = 4096; i < size; i++)
		bytes[i] = pattern(i);

	pid_t child = fork();
	if (child < 0)
		return 1;
	if (child == 0) {
		/* It ends with its parent, so a test that kills the parent by PID leaves nothing. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(0);
		for (;;) {
			memory[0]++;
			sleep_ms(1);
		}
	}

	int bad = 0;
	for (;;) {
		for (size_t i = 4096; i < size && !bad; i++)
			bad = bytes[i] != pattern(i);
		char line[128];
		int n = snprintf(line, sizeof(line), "shared=%llu verify=%s child=%d pid=%d", (unsigned long long)memory[0],
				 bad ? "BAD" : "ok", child, getpid());
		if (shmid != NULL)
			snprintf(line + n, sizeof(line) - n, " shmid=%d", *shmid);
		status_line(status, line);
		sleep_ms(20);
	}
}

static int run_file(int status, const char *path)
{
	const size_t size = 1 << 20;
	int fd = open(path, O_RDWR | O_CREAT, 0600);
	if (fd < 0 || ftruncate(fd, size) < 0)
		return 1;
	volatile uint64_t *memory = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (memory == MAP_FAILED)
		return 1;
	close(fd);
	for (uint64_t ticks = 1;; ticks++) {
		memory[0]++;
		if (ticks % 10 == 0) {
			char line[128];
			snprintf(line, sizeof(line), "ticks=%llu shared=%llu pid=%d", (unsigned long long)ticks,
				 (unsigned long long)memory[0], getpid());
			status_line(status, line);
		}
		sleep_ms(1);
	}
}

int main(int argc, char **argv)
{
	if (argc < 4 || (strcmp(argv[2], "fork") != 0 && strcmp(argv[2], "sysv") != 0 && strcmp(argv[2], "file") != 0)) {
		fprintf(stderr, "usage: %s STATUS_FILE fork SIZE_MIB | sysv SIZE_MIB | file PATH\n", argv[0]);
		return 2;
	}
	int status = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (status < 0) {
		perror(argv[1]);
		return 1;
	}
	detach_keeping(&status, 1);
	if (strcmp(argv[2], "file") == 0)
		return run_file(status, argv[3]);
	int shmid;
	return run_fork(status, strtoul(argv[3], NULL, 10) << 20, strcmp(argv[2], "sysv") == 0 ? &shmid : NULL);
}
