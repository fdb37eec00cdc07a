/*
 * unixclient: a process with a unix socket connected to a peer it does not own.
 *
 *   unixclient STATUS_FILE PATH dgram|stream
 *
 * Connects a datagram or stream unix socket to PATH, then every 10 ms sends
 * one datagram (or line) "tick N PID\n" on it and rewrites STATUS_FILE in
 * place:
 *
 *   ticks=N sent=yes|no fd=D pid=P
 *
 * "sent" is sticky at "no": a send that failed stays reported. It detaches
 * first (detach.h); SIGPIPE is ignored, so a peer gone is a failed send.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "detach.h"
#include "status.h"

int main(int argc, char **argv)
{
	if (argc != 4 || (strcmp(argv[3], "dgram") != 0 && strcmp(argv[3], "stream") != 0)) {
		fprintf(stderr, "usage: %s STATUS_FILE PATH dgram|stream\n", argv[0]);
		return 2;
	}
	struct sockaddr_un address = { .sun_family = AF_UNIX };
	if (strlen(argv[2]) >= sizeof(address.sun_path)) {
		fprintf(stderr, "unixclient: path too long\n");
		return 2;
	}
	strcpy(address.sun_path, argv[2]);
	int status = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int fd = socket(AF_UNIX, strcmp(argv[3], "dgram") == 0 ? SOCK_DGRAM : SOCK_STREAM, 0);
	if (status < 0 || fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof(address)) < 0) {
		perror("unixclient");
		return 1;
	}
	detach_keeping_two(status, fd);
	signal(SIGPIPE, SIG_IGN);

	int sent = 1;
	for (unsigned long long ticks = 1;; ticks++) {
		char line[128];
		int length = snprintf(line, sizeof(line), "tick %llu %d\n", ticks, getpid());
		sent = sent && send(fd, line, length, 0) == length;
		snprintf(line, sizeof(line), "ticks=%llu sent=%s fd=%d pid=%d", ticks, sent ? "yes" : "no", fd, getpid());
		status_line(status, line);
		sleep_ms(10);
	}
}
