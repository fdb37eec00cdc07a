/*
 * locker: holds a file lock or lease, and says whether it still does.
 *
 *   locker STATUS_FILE PATH flock|posix|lease|open
 *
 * Opens PATH (created if missing) and takes an exclusive lock on it: flock(2)
 * LOCK_EX, a POSIX lock (fcntl F_SETLK, F_WRLCK over the whole file), or a
 * write lease (fcntl F_SETLEASE, F_WRLCK); "open" takes none and only holds
 * the file open. Then every 10 ms it asks the kernel whether the lock is
 * still its own (F_GETLEASE for a lease; for the others, whether its
 * /proc/self/fdinfo line for the descriptor names a lock; for "open", whether
 * the descriptor is open) and rewrites STATUS_FILE in place:
 *
 *   ticks=N held=yes|no fd=D pid=P
 *
 * "held" is sticky at "no": a lost lock, or a lease broken, stays reported.
 * It detaches first (detach.h).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "detach.h"
#include "status.h"

static int take(int fd, const char *kind)
{
	if (strcmp(kind, "flock") == 0)
		return flock(fd, LOCK_EX | LOCK_NB);
	if (strcmp(kind, "posix") == 0) {
		struct flock whole = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		return fcntl(fd, F_SETLK, &whole);
	}
	if (strcmp(kind, "lease") == 0)
		return fcntl(fd, F_SETLEASE, F_WRLCK);
	if (strcmp(kind, "open") == 0)
		return 0;
	return -1;
}

/* Whether the kernel shows a lock held through FD (fs/locks.c show_fd_locks). */
static int fdinfo_shows_lock(int fd)
{
	char path[64], text[4096];
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	int info = open(path, O_RDONLY | O_CLOEXEC);
	if (info < 0)
		return 0;
	ssize_t n = read(info, text, sizeof(text) - 1);
	close(info);
	text[n > 0 ? n : 0] = '\0';
	return strstr(text, "\nlock:") != NULL;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s STATUS_FILE PATH flock|posix|lease|open\n", argv[0]);
		return 2;
	}
	int status = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int fd = open(argv[2], O_RDWR | O_CREAT, 0644);
	if (status < 0 || fd < 0 || take(fd, argv[3]) < 0) {
		perror("locker");
		return 1;
	}
	detach_keeping_two(status, fd);

	int lease = strcmp(argv[3], "lease") == 0, open_only = strcmp(argv[3], "open") == 0, held = 1;
	for (unsigned long long ticks = 1;; ticks++) {
		held = held && (open_only ? fcntl(fd, F_GETFD) >= 0 : lease ? fcntl(fd, F_GETLEASE) == F_WRLCK : fdinfo_shows_lock(fd));
		char line[128];
		snprintf(line, sizeof(line), "ticks=%llu held=%s fd=%d pid=%d", ticks, held ? "yes" : "no", fd, getpid());
		status_line(status, line);
		sleep_ms(10);
	}
}
