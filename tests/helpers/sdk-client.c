/*
 * sdk-client — every function of libmas's public interface
 * (include/mas/mas.h) behind a command line, for tests/bats/sdk.bats.  It
 * includes nothing but <mas/mas.h> and the C library, as an embedder.
 *
 *   sdk-client [-0] [-c FILE] [-s KEY=VALUE]... VERB ARGS...
 *
 *   agent KIND      each line of stdin through mas_agent_run_json
 *   agent-jv KIND   the same through mas_agent_run (jv in, jv out)
 *   flow FILE       each line through mas_workflow_run_json
 *   flow-jv FILE    the same through mas_workflow_run
 *   pub URL TOPIC PAYLOAD
 *   req URL TOPIC PAYLOAD TIMEOUT
 *   sub URL PATTERN GROUP|- COUNT WAIT   the iterator: subscribe, then
 *                                        write "ready" on stderr
 *   each URL PATTERN GROUP|- COUNT WAIT  the callback, the same
 *   codes           every error code: name and whether transient
 *   get KEY         a setting's value
 *
 * -c names the configuration file; -s sets a key; -0 opens the handles
 * from NULL settings (the environment only).  Answers go to stdout
 * one line each; the exit status is the library's (the worst of the
 * records': 1 if any failed for good, else 75 if any failed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mas/mas.h>

/* -0: the handles are opened from NULL settings */
static int null_settings;

static mas_settings *opening(mas_settings *settings)
{
	return null_settings ? NULL : settings;
}

static int fail(const char *what, char *error, int status)
{
	fprintf(stderr, "sdk-client: %s: %s\n", what,
	        error ? error : "failed");
	free(error);
	return status;
}

static int worse(int status, int seen)
{
	if (status == MAS_EXIT_RECORDS || seen == MAS_EXIT_RECORDS)
		return MAS_EXIT_RECORDS;
	return status != MAS_EXIT_OK ? status : seen;
}

/* Each line of stdin through AGENT or FLOW (one is NULL), as text or,
 * with AS_JV, as jv. */
static int run_lines(mas_agent *agent, mas_workflow *flow, int as_jv)
{
	char *line = NULL;
	size_t size = 0;
	ssize_t length;
	int status = MAS_EXIT_OK;

	while ((length = getline(&line, &size, stdin)) > 0) {
		char *out = NULL;
		int one;

		line[strcspn(line, "\n")] = '\0';
		if (as_jv) {
			jv record = jv_parse(line), answer;
			answer = agent ? mas_agent_run(agent, record)
			               : mas_workflow_run(flow, record);
			one = mas_record_status(answer);
			answer = jv_dump_string(answer, 0);
			out = strdup(jv_string_value(answer));
			jv_free(answer);
		} else {
			one = agent ? mas_agent_run_json(agent, line, &out)
			            : mas_workflow_run_json(flow, line, &out);
		}
		printf("%s\n", out ? out : "(null)");
		fflush(stdout);
		free(out);
		status = worse(one, status);
	}
	free(line);
	return status;
}

static int agent_verb(mas_settings *settings, char **argv, int as_jv)
{
	char *error = NULL;
	mas_agent *agent = mas_agent_open(opening(settings), argv[0],
	                                  &error);
	int status;

	if (!agent)
		return fail("agent", error, MAS_EXIT_USAGE);
	fprintf(stderr, "sdk-client: key %s\n", mas_agent_key(agent));
	status = run_lines(agent, NULL, as_jv);
	mas_agent_close(agent);
	return status;
}

static int flow_verb(mas_settings *settings, char **argv, int as_jv)
{
	char *error = NULL;
	mas_workflow *flow = mas_workflow_open(opening(settings),
	                                         argv[0], &error);
	int status;

	if (!flow)
		return fail("flow", error, MAS_EXIT_USAGE);
	status = run_lines(NULL, flow, as_jv);
	mas_workflow_close(flow);
	return status;
}

static int print_envelope(void *data, const char *envelope)
{
	long *left = data;

	printf("%s\n", envelope);
	fflush(stdout);
	/* a negative budget: stop at once, leaving it unacknowledged */
	return *left < 0;
}

static int bus_verb(mas_settings *settings, const char *verb, char **argv,
                    int argc)
{
	char *error = NULL, *reply = NULL, *envelope;
	int status;
	const char *url = strcmp(argv[0], "-") ? argv[0] : NULL;
	mas_bus_client *bus = mas_bus_client_open(opening(settings), url,
	                                          &status, &error);
	mas_bus_subscription *sub;
	long count;

	if (!bus)
		return fail("open", error, status);
	if (strcmp(verb, "pub") == 0 && argc == 3) {
		status = mas_bus_client_publish(bus, argv[1], argv[2], &error);
	} else if (strcmp(verb, "req") == 0 && argc == 4) {
		status = mas_bus_client_request(bus, argv[1], argv[2],
		                                strtod(argv[3], NULL), &reply,
		                                &error);
		if (reply)
			printf("%s\n", reply);
		free(reply);
	} else if (argc == 5) {
		sub = mas_bus_subscribe(bus, argv[1], strcmp(argv[2], "-")
		                        ? argv[2] : NULL, &error);
		if (!sub) {
			mas_bus_client_close(bus);
			return fail("subscribe", error, MAS_EXIT_USAGE);
		}
		fprintf(stderr, "ready\n");
		count = strtol(argv[3], NULL, 10);
		status = MAS_EXIT_OK;
		if (strcmp(verb, "each") == 0) {
			status = mas_bus_subscription_each(
				sub, count, strtod(argv[4], NULL),
				print_envelope, &count, &error);
		}
		for (long i = 0; strcmp(verb, "sub") == 0 && i < count; i++) {
			envelope = mas_bus_subscription_next(
				sub, strtod(argv[4], NULL), &error);
			if (!envelope)
				break;
			printf("%s\n", envelope);
			free(envelope);
		}
		if (!error && strcmp(verb, "sub") == 0)
			status = mas_bus_subscription_ack(sub, &error);
		if (error && status == MAS_EXIT_OK)
			status = MAS_EXIT_TEMPFAIL;
		mas_bus_subscription_close(sub);
	} else {
		mas_bus_client_close(bus);
		return fail(verb, strdup("wrong arguments"), MAS_EXIT_USAGE);
	}
	mas_bus_client_close(bus);
	if (status != MAS_EXIT_OK)
		return fail(verb, error, status);
	return status;
}

static void codes(void)
{
	for (int c = MAS_ERR_INVALID_REQUEST; c <= MAS_ERR_INTERNAL; c++) {
		const char *name = mas_error_code_name((enum mas_error_code)c);
		printf("%s %d\n", name, mas_error_code_is_transient(name));
	}
	printf("version %s\n", mas_version());
}

int main(int argc, char **argv)
{
	const char *file = NULL;
	mas_settings *settings;
	char *error = NULL;
	int i = 1, status;

	if (argc > i && strcmp(argv[i], "-0") == 0) {
		null_settings = 1;
		i++;
	}
	if (argc > i + 1 && strcmp(argv[i], "-c") == 0) {
		file = argv[i + 1];
		i += 2;
	}
	settings = mas_settings_new(file, &error);
	if (!settings)
		return fail("settings", error, MAS_EXIT_USAGE);
	for (; i + 1 < argc && strcmp(argv[i], "-s") == 0; i += 2) {
		char *equals = strchr(argv[i + 1], '=');
		if (equals)
			*equals = '\0';
		status = equals ? mas_settings_set(settings, argv[i + 1],
		                                   equals + 1, &error)
		                : MAS_EXIT_USAGE;
		if (status != MAS_EXIT_OK) {
			mas_settings_free(settings);
			return fail("-s", equals ? error : strdup("KEY=VALUE"),
			            status);
		}
	}
	if (i >= argc) {
		status = fail("usage", strdup("no verb"), MAS_EXIT_USAGE);
	} else if (strcmp(argv[i], "codes") == 0) {
		codes();
		status = MAS_EXIT_OK;
	} else if (strcmp(argv[i], "get") == 0 && i + 1 < argc) {
		const char *value = mas_settings_get(settings, argv[i + 1]);
		printf("%s\n", value ? value : "(unset)");
		status = MAS_EXIT_OK;
	} else if (i + 1 >= argc) {
		status = fail(argv[i], strdup("missing arguments"),
		              MAS_EXIT_USAGE);
	} else if (strncmp(argv[i], "agent", 5) == 0) {
		status = agent_verb(settings, argv + i + 1,
		                    strcmp(argv[i], "agent-jv") == 0);
	} else if (strncmp(argv[i], "flow", 4) == 0) {
		status = flow_verb(settings, argv + i + 1,
		                   strcmp(argv[i], "flow-jv") == 0);
	} else {
		status = bus_verb(settings, argv[i], argv + i + 1,
		                  argc - i - 1);
	}
	mas_settings_free(settings);
	return status;
}
