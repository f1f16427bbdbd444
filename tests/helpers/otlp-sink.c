/*
 * otlp-sink — a test receiver for OTLP/HTTP JSON exports.
 *
 *	otlp-sink --port-file FILE --log FILE [--hang]
 *
 * Listens on 127.0.0.1 (a free port, written to FILE through a temporary
 * file and a rename), and for each POST appends "PATH BODY" as one line
 * to the log, then answers 200 {}.  With --hang it reads requests but
 * never answers, like a collector that is stuck.  SIGTERM ends it.
 * One connection at a time: exporters send batches, not floods.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "banned.h"

static volatile sig_atomic_t stopping;

static void on_signal(int signal_number)
{
	stopping = signal_number;
}

static int listen_loopback(int *port)
{
	struct sockaddr_in address = { .sin_family = AF_INET };
	socklen_t length = sizeof(address);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int yes = 1;

	address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
	if (fd < 0 || bind(fd, (struct sockaddr *)&address, length) != 0 ||
	    listen(fd, 16) != 0 ||
	    getsockname(fd, (struct sockaddr *)&address, &length) != 0)
		return -1;
	*port = ntohs(address.sin_port);
	return fd;
}

static void write_port(const char *path, int port)
{
	char temporary[4096];
	FILE *file;

	snprintf(temporary, sizeof(temporary), "%s.tmp", path);
	file = fopen(temporary, "w");
	if (!file || fprintf(file, "%d\n", port) < 0 || fclose(file) != 0 ||
	    rename(temporary, path) != 0) {
		perror(path);
		exit(1);
	}
}

/* Reads one request: headers, then Content-Length bytes of body. */
static char *read_request(int fd, char *path, size_t path_size)
{
	size_t used = 0, capacity = 65536, body_at = 0, length = 0;
	char *buffer = malloc(capacity + 1);

	while (buffer) {
		ssize_t got;
		char *end;

		if (body_at && used >= body_at + length)
			break;
		if (used == capacity) {
			char *grown = realloc(buffer, capacity * 2 + 1);
			if (!grown)
				break;
			buffer = grown;
			capacity *= 2;
		}
		got = read(fd, buffer + used, capacity - used);
		if (got <= 0) {
			free(buffer);
			return NULL;
		}
		used += (size_t)got;
		buffer[used] = '\0';
		end = body_at ? NULL : strstr(buffer, "\r\n\r\n");
		if (end) {
			char *field = strcasestr(buffer, "\r\ncontent-length:");
			body_at = (size_t)(end - buffer) + 4;
			length = field ? strtoul(field + 17, NULL, 10) : 0;
			sscanf(buffer, "%*s %4095s", path);
			(void)path_size;
		}
	}
	if (!buffer)
		return NULL;
	memmove(buffer, buffer + body_at, length);
	buffer[length] = '\0';
	return buffer;
}

int main(int argc, char **argv)
{
	const char *port_file = NULL, *log_path = NULL;
	int hang = 0, port, server;
	FILE *log;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--port-file") == 0 && i + 1 < argc)
			port_file = argv[++i];
		else if (strcmp(argv[i], "--log") == 0 && i + 1 < argc)
			log_path = argv[++i];
		else if (strcmp(argv[i], "--hang") == 0)
			hang = 1;
		else {
			fprintf(stderr, "usage: otlp-sink --port-file FILE "
			        "--log FILE [--hang]\n");
			return 2;
		}
	}
	if (!port_file || !log_path)
		return 2;
	/* No SA_RESTART: a signal must interrupt a blocked read or accept,
	 * or a hanging sink would never stop. */
	struct sigaction action = { .sa_handler = on_signal };
	sigaction(SIGTERM, &action, NULL);
	sigaction(SIGINT, &action, NULL);
	signal(SIGPIPE, SIG_IGN);
	server = listen_loopback(&port);
	log = fopen(log_path, "a");
	if (server < 0 || !log) {
		perror("otlp-sink");
		return 1;
	}
	write_port(port_file, port);
	while (!stopping) {
		char path[4096] = "";
		int client = accept(server, NULL, NULL);
		char *body;

		if (client < 0)
			continue;
		while (!stopping &&
		       (body = read_request(client, path, sizeof(path)))) {
			static const char ok[] = "HTTP/1.1 200 OK\r\n"
				"Content-Type: application/json\r\n"
				"Content-Length: 2\r\n\r\n{}";
			fprintf(log, "%s %s\n", path, body);
			fflush(log);
			free(body);
			if (hang) {
				/* Stuck: hold the connection until the
				 * client gives up or we are stopped. */
				char byte;
				while (!stopping && read(client, &byte, 1) > 0)
					;
				break;
			}
			if (write(client, ok, sizeof(ok) - 1) < 0)
				break;
		}
		close(client);
	}
	fclose(log);
	close(server);
	return 0;
}
