/*
 * nats-pair — the minimal libnats publisher and subscriber that
 * tests/bench/bench-bus.sh holds `mas-bus pub` and `mas-bus sub` against
 * on core NATS.
 *
 *   nats-pair pub URL SUBJECT FILE   publish each line of FILE, flush
 *   nats-pair sub URL SUBJECT N      write N messages' data as lines to
 *                                    stdout (buffered), then exit
 *
 * Exit 0, or 1 with a message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

static int fail(const char *what, natsStatus status)
{
	fprintf(stderr, "nats-pair: %s: %s\n", what,
	        natsStatus_GetText(status));
	return 1;
}

static int publish(natsConnection *connection, const char *subject,
                   const char *path)
{
	FILE *in = fopen(path, "r");
	char *line = NULL;
	size_t size = 0;
	ssize_t length;
	natsStatus status = NATS_OK;

	if (!in) {
		perror(path);
		return 1;
	}
	while (status == NATS_OK &&
	       (length = getline(&line, &size, in)) > 0) {
		if (line[length - 1] == '\n')
			length--;
		status = natsConnection_Publish(connection, subject, line,
		                                (int)length);
	}
	if (status == NATS_OK)
		status = natsConnection_FlushTimeout(connection, 60000);
	free(line);
	fclose(in);
	return status == NATS_OK ? 0 : fail("publish", status);
}

static int subscribe(natsConnection *connection, const char *subject,
                     long count)
{
	natsSubscription *subscription = NULL;
	natsStatus status = natsConnection_SubscribeSync(&subscription,
	                                                 connection, subject);

	if (status == NATS_OK)
		status = natsSubscription_SetPendingLimits(subscription, -1,
		                                           -1);
	if (status == NATS_OK)
		status = natsConnection_Flush(connection);
	for (long i = 0; status == NATS_OK && i < count; i++) {
		natsMsg *msg = NULL;

		status = natsSubscription_NextMsg(&msg, subscription, 60000);
		if (status != NATS_OK)
			break;
		fwrite(natsMsg_GetData(msg), 1,
		       (size_t)natsMsg_GetDataLength(msg), stdout);
		putchar('\n');
		natsMsg_Destroy(msg);
	}
	natsSubscription_Destroy(subscription);
	if (fflush(stdout) == EOF)
		return 1;
	return status == NATS_OK ? 0 : fail("subscribe", status);
}

int main(int argc, char **argv)
{
	natsConnection *connection = NULL;
	natsStatus status;
	int rc;

	if (argc != 5 || (strcmp(argv[1], "pub") != 0 &&
	                  strcmp(argv[1], "sub") != 0)) {
		fprintf(stderr, "usage: nats-pair pub URL SUBJECT FILE\n"
		        "       nats-pair sub URL SUBJECT N\n");
		return 2;
	}
	status = natsConnection_ConnectTo(&connection, argv[2]);
	if (status != NATS_OK)
		return fail(argv[2], status);
	if (strcmp(argv[1], "pub") == 0)
		rc = publish(connection, argv[3], argv[4]);
	else
		rc = subscribe(connection, argv[3], strtol(argv[4], NULL, 10));
	natsConnection_Destroy(connection);
	return rc;
}
