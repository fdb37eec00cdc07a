/*
 * echo: a TCP server whose connections must survive a migration attempt.
 *
 *   echo PORT_FILE
 *
 * Listens on 127.0.0.1 at a port the kernel picks, writes that port to
 * PORT_FILE, then serves one connection at a time, echoing every byte back.
 * It detaches from its parent's session and standard streams and closes any
 * other inherited descriptor first, so CRIU can dump it without --shell-job
 * and without external pipes (with --tcp-established once a client is in).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "detach.h"

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PORT_FILE\n", argv[0]);
		return 2;
	}
	int listener = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in address = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t length = sizeof(address);
	if (listener < 0 || bind(listener, (struct sockaddr *)&address, sizeof(address)) < 0 || listen(listener, 4) < 0 ||
	    getsockname(listener, (struct sockaddr *)&address, &length) < 0) {
		perror("listening");
		return 1;
	}
	FILE *port = fopen(argv[1], "w");
	if (port == NULL) {
		perror(argv[1]);
		return 1;
	}
	fprintf(port, "%d\n", ntohs(address.sin_port));
	fclose(port);

	detach_keeping(&listener, 1);

	for (;;) {
		int client = accept(listener, NULL, NULL);
		if (client < 0)
			continue;
		char buffer[4096];
		ssize_t n;
		while ((n = read(client, buffer, sizeof(buffer))) > 0)
			if (write(client, buffer, n) != n)
				break;
		close(client);
	}
}
