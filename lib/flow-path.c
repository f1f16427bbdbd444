/*
 * flow-path.c — meta.flow as C fields (see flow-path.h).
 */
#include <stdlib.h>
#include <string.h>

#include "flow-path.h"
#include "json.h"
#include "log.h"
#include "mas.h"

#include "banned.h"

void mas_flow_path_init(struct mas_flow_path *path)
{
	memset(path, 0, sizeof(*path));
}

static struct mas_flow_step *new_step(struct mas_flow_path *path)
{
	if (path->count == path->capacity) {
		size_t capacity = path->capacity ? path->capacity * 2 : 8;
		struct mas_flow_step *steps = realloc(path->steps, capacity *
		                                      sizeof(*steps));

		if (!steps)
			mas_die(MAS_EXIT_TEMPFAIL, "out of memory");
		path->steps = steps;
		path->capacity = capacity;
	}
	return &path->steps[path->count++];
}

void mas_flow_path_add(struct mas_flow_path *path, const char *node,
                       double ms, int tries, jv extra)
{
	struct mas_flow_step *step = new_step(path);

	step->node = node;
	/* microseconds are enough, and keep the lines short */
	step->ms = (double)(long)(ms * 1000) / 1000;
	step->tries = tries;
	step->extra = extra;
}

void mas_flow_path_add_entry(struct mas_flow_path *path, jv entry)
{
	struct mas_flow_step *step = new_step(path);

	memset(step, 0, sizeof(*step));
	step->extra = entry;
}

jv mas_flow_step_json(const struct mas_flow_step *step)
{
	jv entry;

	if (!step->node)
		return jv_copy(step->extra);
	entry = JV_OBJECT(jv_string("node"), jv_string(step->node),
	                  jv_string("ms"), jv_number(step->ms));
	if (step->tries > 1)
		entry = jv_object_set(entry, jv_string("tries"),
		                      jv_number(step->tries));
	if (jv_is_valid(step->extra))
		entry = jv_object_merge(entry, jv_copy(step->extra));
	return entry;
}

jv mas_flow_path_json(const struct mas_flow_path *path)
{
	jv array = jv_array_sized((int)path->count);

	for (size_t i = 0; i < path->count; i++)
		array = jv_array_append(array,
		                        mas_flow_step_json(&path->steps[i]));
	return array;
}

static void put_str(struct mas_json_text *t, const char *text)
{
	mas_json_put(t, text, strlen(text));
}

/* Node names are letters, digits, '_' and '-' (flow.c): no escapes. */
static void put_step(struct mas_json_text *t,
                     const struct mas_flow_step *step)
{
	char number[MAS_JSON_NUMBER_SIZE];
	jv extra = jv_copy(step->extra);

	if (!step->node || (jv_is_valid(extra) &&
	                    jv_object_has(jv_copy(extra), jv_string("node")))) {
		jv_free(extra);
		mas_json_put_value(t, mas_flow_step_json(step));
		return;
	}
	put_str(t, "{\"node\":\"");
	put_str(t, step->node);
	put_str(t, "\",\"ms\":");
	mas_json_put(t, number, mas_json_number(step->ms, number));
	if (step->tries > 1) {
		put_str(t, ",\"tries\":");
		mas_json_put(t, number, mas_json_number(step->tries, number));
	}
	if (jv_is_valid(extra)) {
		jv_object_foreach(extra, key, value) {
			put_str(t, ",");
			mas_json_put_value(t, key);
			put_str(t, ":");
			mas_json_put_value(t, value);
		}
	}
	jv_free(extra);
	put_str(t, "}");
}

char *mas_flow_step_text(const struct mas_flow_step *step, size_t *length)
{
	struct mas_json_text t = { NULL, 0, 0 };

	put_step(&t, step);
	*length = t.length;
	return t.data;
}

char *mas_flow_path_text(const struct mas_flow_path *path, size_t *length)
{
	struct mas_json_text t = { NULL, 0, 0 };

	/* {"node":"NAME","ms":0.123} is about 40 bytes */
	mas_json_reserve(&t, 48 * path->count + 16);
	put_str(&t, "[");
	for (size_t i = 0; i < path->count; i++) {
		if (i)
			put_str(&t, ",");
		put_step(&t, &path->steps[i]);
	}
	put_str(&t, "]");
	*length = t.length;
	return t.data;
}

void mas_flow_path_release(struct mas_flow_path *path)
{
	for (size_t i = 0; i < path->count; i++)
		jv_free(path->steps[i].extra);
	free(path->steps);
	mas_flow_path_init(path);
}
