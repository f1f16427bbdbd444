/*
 * nats-reset — delete the JetStream streams mas-bus made (names "MAS_*")
 * on the nats-server at URL, so each test of tests/bats/bus-nats.bats
 * starts from an empty bus while one server serves the whole file.
 *
 * Usage: nats-reset nats://HOST:PORT.  Exit 0, or 1 with a message.
 */
#include <stdio.h>
#include <string.h>

#include <nats/nats.h>

static int reset(natsConnection *connection)
{
	jsStreamNamesList *names = NULL;
	jsCtx *js = NULL;
	natsStatus status = natsConnection_JetStream(&js, connection, NULL);
	int failed = 0;

	if (status == NATS_OK)
		status = js_StreamNames(&names, js, NULL, NULL);
	if (status == NATS_NOT_FOUND)
		status = NATS_OK; /* no stream at all */
	for (int i = 0; names && i < names->Count; i++)
		if (strncmp(names->List[i], "MAS_", 4) == 0 &&
		    js_DeleteStream(js, names->List[i], NULL, NULL) != NATS_OK)
			failed = 1;
	jsStreamNamesList_Destroy(names);
	jsCtx_Destroy(js);
	if (status != NATS_OK)
		fprintf(stderr, "nats-reset: %s\n",
		        natsStatus_GetText(status));
	return status != NATS_OK || failed;
}

int main(int argc, char **argv)
{
	natsConnection *connection = NULL;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: nats-reset nats://HOST:PORT\n");
		return 2;
	}
	if (natsConnection_ConnectTo(&connection, argv[1]) != NATS_OK) {
		fprintf(stderr, "nats-reset: cannot connect to %s\n", argv[1]);
		return 1;
	}
	rc = reset(connection);
	natsConnection_Destroy(connection);
	return rc;
}
