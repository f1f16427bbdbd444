/*
 * fuzz-flow.c — the flow file parser (lib/flow.c, mas-flow(5)) through
 * mas_flow_parse: every problem is counted, every edge ends at a node or
 * an end, a flow without problems has its on_error targets and parallel
 * branches resolved, and both drawings can be made of whatever was read.
 *
 * Built with -DFUZZ_FLOW_LOAD it goes through mas_flow_load instead (jq
 * compiled, commands looked up): how the parser was fuzzed before
 * mas_flow_parse, kept to measure the difference.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flow.h"
#include "fuzz.h"

static int is_end(int index, const struct mas_flow *flow)
{
	return index == MAS_FLOW_START || index == MAS_FLOW_END ||
	       (index >= 0 && (size_t)index < flow->node_count);
}

static void check_flow(const struct mas_flow *flow, int problems,
                       size_t size)
{
	FUZZ_ASSERT(problems == flow->problems);
	for (size_t i = 0; i < flow->node_count; i++) {
		const struct mas_flow_node *node = &flow->nodes[i];

		FUZZ_ASSERT(node->name && node->text);
		FUZZ_ASSERT(node->line >= 1 && (size_t)node->line <= size);
		FUZZ_ASSERT(node->replicas >= 1 && node->replicas <= 64);
		for (size_t b = 0; b < node->branch_count; b++)
			FUZZ_ASSERT(node->branches[b] >= 0 &&
			            (size_t)node->branches[b] <
			                    flow->node_count);
		if (problems == 0 && node->on_error_name &&
		    strcmp(node->on_error_name, "emit") != 0)
			FUZZ_ASSERT(is_end(node->on_error, flow));
	}
	for (size_t i = 0; i < flow->edge_count; i++) {
		const struct mas_flow_edge *edge = &flow->edges[i];

		FUZZ_ASSERT(edge->line >= 1 && (size_t)edge->line <= size);
		FUZZ_ASSERT(edge->max >= 0);
		if (problems == 0)
			FUZZ_ASSERT(is_end(edge->from, flow) &&
			            is_end(edge->to, flow) &&
			            edge->from != MAS_FLOW_END &&
			            edge->to != MAS_FLOW_START);
	}
}

static void draw(const struct mas_flow *flow)
{
	const char *formats[] = { "dot", "mermaid" };

	for (int i = 0; i < 2; i++) {
		char *text = NULL;
		size_t length = 0;
		FILE *out = open_memstream(&text, &length);

		FUZZ_ASSERT(out);
		FUZZ_ASSERT(mas_flow_graph(flow, formats[i], out) == 0);
		fclose(out);
		FUZZ_ASSERT(length > 0 && text[length - 1] == '\n');
		free(text);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mas_flow flow;
	int problems;

#ifdef FUZZ_FLOW_LOAD
	problems = mas_flow_load(&flow, fuzz_file("input.flow", data, size),
	                         NULL);
#else
	problems = mas_flow_parse(&flow, "input.flow", (const char *)data,
	                          size);
#endif
	check_flow(&flow, problems, size);
	draw(&flow);
	mas_flow_release(&flow);
	return 0;
}
