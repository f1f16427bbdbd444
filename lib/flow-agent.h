/*
 * flow-agent.h — mas-flow's agent and llm nodes (mas-flow(5)).
 *
 * An agent node runs a built-in agent in-process, with the options its
 * program takes ("agent analyze --data-dir DIR", "agent research
 * --corpus DIR", "agent chat --kb FILE"); an llm node fills a prompt
 * template's {{jq}} holes from the state and asks the model, its reply
 * parsed as JSON when it is JSON.  Both are set up when the flow file is
 * loaded (so `mas-flow check` reports a bad knowledge base or template
 * with its line) and started asynchronously by the runner through the
 * node's START, AGENT and RELEASE (flow.h); their model is the flow's
 * engine (mas_flow.engine), whose client the runner drives.
 */
#ifndef MAS_FLOW_AGENT_H
#define MAS_FLOW_AGENT_H

#include "chat.h"
#include "flow.h"

/*
 * Set up NODE, whose kind is MAS_FLOW_AGENT and whose words after the
 * kind are in node->argv: fills start, agent, release and
 * default_output (the key the agent's program writes: "analysis",
 * "research", "chat").  Problems are reported with mas_flow_problem.
 */
void mas_flow_agent_setup(struct mas_flow *flow, struct mas_flow_node *node);

/*
 * The options NODE's chat agent reads at every record, for a program
 * that runs an "agent chat" node itself: mas-serve gives it session
 * memory (a flow never keeps sessions: its state store holds a write
 * transaction open) and, to stream a model's reply, on_text.  NULL when
 * NODE is not an "agent chat" node whose knowledge base loaded.
 */
struct mas_chat_options *mas_flow_agent_chat_options(
	struct mas_flow_node *node);

/*
 * Set up NODE, an MAS_FLOW_LLM node: "llm TEMPLATE" (a file named
 * relative to the flow file).  default_output is the node's name.
 */
void mas_flow_llm_setup(struct mas_flow *flow, struct mas_flow_node *node);

#endif
