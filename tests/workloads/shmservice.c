/*
 * shmservice: a service of a parent and worker children that share memory,
 * as pre-fork servers and databases do, and a client that checks every reply.
 *
 *   shmservice serve STATUS_FILE ADDRESS PORT SIZE_MIB
 *   shmservice client STATUS_FILE ADDRESS PORT INTERVAL_MS
 *   shmservice check ADDRESS PORT
 *
 * serve: maps SIZE_MIB of anonymous shared memory (MAP_SHARED|MAP_ANONYMOUS)
 * and creates a SysV segment of the same size (run it in an IPC namespace of
 * its own: unshare --ipc), fills both with known patterns, listens on
 * ADDRESS:PORT and forks two workers that inherit both. A worker serves one
 * connection at a time, a line per request:
 *
 *   INCR   under a process-shared mutex in the anonymous memory, adds one to
 *          the counters at the start of both regions, writes the new value N
 *          into the first 8 bytes of page 1 + (N - 1) % (pages - 1) of both,
 *          and answers "N WORKER_PID";
 *   CHECK  answers "ok counter=N" when both counters are N, every page's
 *          first 8 bytes hold the last value INCR wrote there (or the
 *          pattern, if none did) and every other byte the pattern; else
 *          "BAD region=... page=...".
 *
 * So a lost write, a page of the wrong round, or the two regions drifting
 * apart all show. The parent checks the bytes INCR never touches once a
 * second and rewrites its status line in place:
 *
 *   workers=W counter=N verify=ok|BAD pid=P worker1=A worker2=B
 *
 * W counts the workers still running. The workers end with the parent.
 *
 * client: opens two connections, so each worker holds one, and sends INCR on
 * them in turn every INTERVAL_MS. Being the only client, it requires every
 * reply to be the previous one plus one, each from the worker that answered
 * that connection first. On SIGTERM it finishes the request in flight and
 * exits; its status line:
 *
 *   requests=R first=F last=L bad=B connection=open|lost max_latency_us=U workers=A,B pid=P
 *
 * check: sends CHECK over a new connection, prints the answer, exits 0 if it
 * is "ok ...".
 *
 * serve and client detach first (detach.h).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "detach.h"
#include "status.h"

#define PAGE 4096

struct header {
	pthread_mutex_t lock;
	uint64_t counter;
};

static uint8_t *anonymous, *segment;
static size_t pages;

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The pattern of byte I of region R (0 anonymous, 1 SysV): the regions differ, so one copied over the other shows. */
static uint8_t pattern(int region, size_t i)
{
	return (uint8_t)((i + (size_t)region * 7919) * 2654435761u >> 13);
}

static uint8_t *region_memory(int region)
{
	return region == 0 ? anonymous : segment;
}

static uint64_t *counter_of(int region)
{
	return region == 0 ? &((struct header *)anonymous)->counter : (uint64_t *)segment;
}

static size_t slot_of(uint64_t value)
{
	return 1 + (size_t)((value - 1) % (pages - 1));
}

/* The first 8 bytes of PAGE after COUNTER increments: the last value INCR wrote there, or the pattern. */
static int slot_holds_expected(int region, size_t page, uint64_t counter)
{
	uint8_t *at = region_memory(region) + page * PAGE;
	if (page > counter) {
		for (size_t i = 0; i < 8; i++)
			if (at[i] != pattern(region, page * PAGE + i))
				return 0;
		return 1;
	}
	uint64_t expected = page + (counter - page) / (pages - 1) * (pages - 1), held;
	memcpy(&held, at, sizeof(held));
	return held == expected;
}

/* The first page of REGION whose bytes past the slot differ from the pattern, or 0 when none does. */
static size_t first_bad_page(int region)
{
	uint8_t *memory = region_memory(region);
	for (size_t page = 1; page < pages; page++)
		for (size_t i = page * PAGE + 8; i < (page + 1) * PAGE; i++)
			if (memory[i] != pattern(region, i))
				return page;
	return 0;
}

static void answer_check(char *reply, size_t size)
{
	uint64_t counter = *counter_of(0);
	if (*counter_of(1) != counter) {
		snprintf(reply, size, "BAD counters anonymous=%llu sysv=%llu\n", (unsigned long long)counter,
			 (unsigned long long)*counter_of(1));
		return;
	}
	for (int region = 0; region < 2; region++) {
		size_t page = first_bad_page(region);
		for (size_t p = 1; p < pages && page == 0; p++)
			if (!slot_holds_expected(region, p, counter))
				page = p;
		if (page != 0) {
			snprintf(reply, size, "BAD region=%s page=%zu counter=%llu\n", region == 0 ? "anonymous" : "sysv", page,
				 (unsigned long long)counter);
			return;
		}
	}
	snprintf(reply, size, "ok counter=%llu\n", (unsigned long long)counter);
}

static int write_all(int fd, const char *text)
{
	size_t length = strlen(text);
	while (length > 0) {
		ssize_t n = write(fd, text, length);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		text += n;
		length -= (size_t)n;
	}
	return 0;
}

/* Reads one line of at most SIZE - 1 bytes into LINE, byte by byte, so nothing of the next one is taken. */
static int read_line(int fd, char *line, size_t size)
{
	size_t length = 0;
	while (length < size - 1) {
		ssize_t n = read(fd, line + length, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		if (line[length] == '\n') {
			line[length] = '\0';
			return 0;
		}
		length++;
	}
	return -1;
}

static void serve_connection(int connection)
{
	struct header *header = (struct header *)anonymous;
	char request[32], reply[128];
	while (read_line(connection, request, sizeof(request)) == 0) {
		pthread_mutex_lock(&header->lock);
		if (strcmp(request, "INCR") == 0) {
			uint64_t value = ++header->counter;
			++*counter_of(1);
			size_t slot = slot_of(value);
			memcpy(anonymous + slot * PAGE, &value, sizeof(value));
			memcpy(segment + slot * PAGE, &value, sizeof(value));
			snprintf(reply, sizeof(reply), "%llu %d\n", (unsigned long long)value, getpid());
		} else if (strcmp(request, "CHECK") == 0) {
			answer_check(reply, sizeof(reply));
		} else {
			snprintf(reply, sizeof(reply), "ERROR unknown request\n");
		}
		pthread_mutex_unlock(&header->lock);
		if (write_all(connection, reply) < 0)
			break;
	}
	close(connection);
}

static void run_worker(int listener)
{
	/* It ends with its parent, so a test that kills the parent by PID leaves nothing. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(0);
	for (;;) {
		int connection = accept(listener, NULL, NULL);
		if (connection >= 0)
			serve_connection(connection);
	}
}

static struct sockaddr_in address_of(const char *address, const char *port)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };
	if (inet_pton(AF_INET, address, &in.sin_addr) != 1) {
		fprintf(stderr, "shmservice: bad address %s\n", address);
		exit(2);
	}
	return in;
}

static int run_serve(int status, struct sockaddr_in address, size_t size)
{
	pages = size / PAGE;
	anonymous = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int shmid = shmget(IPC_PRIVATE, size, IPC_CREAT | 0600);
	segment = shmid < 0 ? (void *)-1 : shmat(shmid, NULL, 0);
	if (anonymous == MAP_FAILED || segment == (void *)-1)
		return 1;
	for (int region = 0; region < 2; region++)
		for (size_t i = PAGE; i < size; i++)
			region_memory(region)[i] = pattern(region, i);
	pthread_mutexattr_t shared;
	pthread_mutexattr_init(&shared);
	pthread_mutexattr_setpshared(&shared, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(&((struct header *)anonymous)->lock, &shared);

	int listener = socket(AF_INET, SOCK_STREAM, 0), on = 1;
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (bind(listener, (struct sockaddr *)&address, sizeof(address)) < 0 || listen(listener, 16) < 0)
		return 1;

	pid_t workers[2];
	for (int i = 0; i < 2; i++) {
		workers[i] = fork();
		if (workers[i] < 0)
			return 1;
		if (workers[i] == 0)
			run_worker(listener);
	}

	int running = 2, bad = 0;
	for (;;) {
		while (running > 0 && waitpid(-1, NULL, WNOHANG) > 0)
			running--;
		if (!bad)
			bad = first_bad_page(0) != 0 || first_bad_page(1) != 0;
		char line[160];
		snprintf(line, sizeof(line), "workers=%d counter=%llu verify=%s pid=%d worker1=%d worker2=%d", running,
			 (unsigned long long)*counter_of(0), bad ? "BAD" : "ok", getpid(), workers[0], workers[1]);
		status_line(status, line);
		sleep_ms(1000);
	}
}

static int connect_to(struct sockaddr_in address)
{
	int connection = socket(AF_INET, SOCK_STREAM, 0), on = 1;
	if (connection < 0 || connect(connection, (struct sockaddr *)&address, sizeof(address)) < 0)
		return -1;
	setsockopt(connection, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	return connection;
}

static volatile sig_atomic_t stopping;

static void on_term(int signal)
{
	(void)signal;
	stopping = 1;
}

struct client {
	int status;
	unsigned long long requests, first, last, bad, max_latency_us;
	long workers[2];
	int lost;
};

static void client_status(const struct client *c)
{
	char line[160];
	snprintf(line, sizeof(line), "requests=%llu first=%llu last=%llu bad=%llu connection=%s max_latency_us=%llu workers=%ld,%ld pid=%d",
		 c->requests, c->first, c->last, c->bad, c->lost ? "lost" : "open", c->max_latency_us, c->workers[0], c->workers[1],
		 getpid());
	status_line(c->status, line);
}

/* Counts the reply to the INCR that connection TURN sent: the next value, from that connection's worker. */
static void count_reply(struct client *c, int turn, const char *reply)
{
	unsigned long long value;
	long worker;
	if (sscanf(reply, "%llu %ld", &value, &worker) != 2) {
		c->bad++;
	} else {
		if (c->workers[turn] == 0)
			c->workers[turn] = worker;
		if ((c->requests > 0 && value != c->last + 1) || worker != c->workers[turn])
			c->bad++;
		if (c->requests == 0)
			c->first = value;
		c->last = value;
	}
	c->requests++;
}

static int run_client(int status, struct sockaddr_in address, long interval_ms)
{
	struct sigaction stop = { .sa_handler = on_term };
	sigaction(SIGTERM, &stop, NULL);
	struct client c = { .status = status };
	int connections[2] = { -1, -1 };
	for (int turn = 0; !stopping; turn ^= 1) {
		/* The second connection opens once the first has its worker, which then serves only it. */
		if (connections[turn] < 0 && (connections[turn] = connect_to(address)) < 0) {
			c.lost = 1;
			break;
		}
		uint64_t sent = now_us();
		char reply[128];
		if (write_all(connections[turn], "INCR\n") < 0 || read_line(connections[turn], reply, sizeof(reply)) < 0) {
			c.lost = 1;
			break;
		}
		uint64_t latency = now_us() - sent;
		c.max_latency_us = latency > c.max_latency_us ? latency : c.max_latency_us;
		count_reply(&c, turn, reply);
		client_status(&c);
		sleep_ms(interval_ms);
	}
	client_status(&c);
	return c.lost;
}

static int run_check(struct sockaddr_in address)
{
	int connection = connect_to(address);
	char reply[128];
	if (connection < 0 || write_all(connection, "CHECK\n") < 0 || read_line(connection, reply, sizeof(reply)) < 0) {
		printf("no answer from the service\n");
		return 1;
	}
	printf("%s\n", reply);
	return strncmp(reply, "ok ", 3) != 0;
}

static int open_status(const char *path)
{
	int status = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (status < 0) {
		perror(path);
		exit(1);
	}
	detach_keeping(&status, 1);
	return status;
}

int main(int argc, char **argv)
{
	if (argc == 6 && strcmp(argv[1], "serve") == 0 && atol(argv[5]) > 0) {
		struct sockaddr_in address = address_of(argv[3], argv[4]);
		return run_serve(open_status(argv[2]), address, (size_t)atol(argv[5]) << 20);
	}
	if (argc == 6 && strcmp(argv[1], "client") == 0 && atol(argv[5]) > 0) {
		struct sockaddr_in address = address_of(argv[3], argv[4]);
		return run_client(open_status(argv[2]), address, atol(argv[5]));
	}
	if (argc == 4 && strcmp(argv[1], "check") == 0)
		return run_check(address_of(argv[2], argv[3]));
	fprintf(stderr, "usage: shmservice serve STATUS_FILE ADDRESS PORT SIZE_MIB\n"
			"       shmservice client STATUS_FILE ADDRESS PORT INTERVAL_MS\n"
			"       shmservice check ADDRESS PORT\n");
	return 2;
}
