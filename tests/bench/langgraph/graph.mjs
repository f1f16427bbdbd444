// The 5 jq node graph of tests/bench/bench-flow.sh (bench-5jq.flow) in
// LangGraph.js, run as a LangGraph user would run it: one graph.invoke()
// per record, one record after the other.
//
//   node graph.mjs MODE FILE RECORDS [DB]
//
// MODE is "none" (no checkpointer), "memory" (MemorySaver) or "sqlite"
// (SqliteSaver on the file DB); with a checkpointer every record gets a
// thread_id of its own, as every record of `mas-flow run --run-id` gets
// checkpoints of its own.  Reads the first RECORDS JSON lines of FILE and
// writes the final states as JSON lines, with the steps taken in meta.flow
// as mas-flow does, so that counts can be checked.  At the end, one JSON
// line on stderr: mode, records, steps (node executions) and the seconds
// spent in the invoke loop, which leaves out node's start and the imports.

import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import {
	Annotation,
	END,
	MemorySaver,
	START,
	StateGraph,
} from "@langchain/langgraph";

const [mode, file, records, db] = process.argv.slice(2);
const max = Number(records);
if (!["none", "memory", "sqlite"].includes(mode) || !file || !(max > 0) ||
    (mode === "sqlite" && !db)) {
	process.stderr.write("usage: node graph.mjs none|memory|sqlite FILE " +
	    "RECORDS [DB]\n");
	process.exit(2);
}

// One channel a field, as LangGraph's documentation writes state; flow
// appends, the others keep the last value written.
const State = Annotation.Root({
	id: Annotation(),
	text: Annotation(),
	n: Annotation(),
	kind: Annotation(),
	passes: Annotation(),
	done: Annotation(),
	flow: Annotation({
		reducer: (a, b) => a.concat(b),
		default: () => [],
	}),
});

// The same updates as the jq nodes.  LangGraph refuses a node named like
// a channel, so the node `done` is called `finish` here; it still logs
// "done" in flow, for outputs that read like mas-flow's.
const grows = (s) => s.flow.filter((step) => step === "grow").length;
const graph = new StateGraph(State)
	.addNode("parse", (s) => ({ n: Number(s.id), flow: ["parse"] }))
	.addNode("even", () => ({ kind: "even", flow: ["even"] }))
	.addNode("odd", () => ({ kind: "odd", flow: ["odd"] }))
	.addNode("grow", (s) => ({ passes: (s.passes ?? 0) + 1, flow: ["grow"] }))
	.addNode("finish", () => ({ done: true, flow: ["done"] }))
	.addEdge(START, "parse")
	.addConditionalEdges("parse", (s) => (s.n % 2 === 0 ? "even" : "odd"),
	    ["even", "odd"])
	.addEdge("even", "grow")
	.addEdge("odd", "grow")
	// grow -> grow max 1: the loop edge is taken at most once.
	.addConditionalEdges("grow", (s) => (grows(s) < 2 ? "grow" : "finish"),
	    ["grow", "finish"])
	.addEdge("finish", END);

async function checkpointer() {
	if (mode === "none")
		return undefined;
	if (mode === "memory")
		return new MemorySaver();
	let sqlite, Database;
	try {
		sqlite = await import("@langchain/langgraph-checkpoint-sqlite");
		Database = (await import("better-sqlite3")).default;
	} catch (e) {
		process.stderr.write("graph.mjs: no SQLite checkpointer: " +
		    String(e.message).split("\n")[0] + "\n");
		process.exit(3);
	}
	// The durability of mas-flow's store: WAL, synchronous = NORMAL.
	// SqliteSaver turns WAL on itself but leaves SQLite's default FULL.
	const conn = new Database(db);
	conn.pragma("journal_mode = WAL");
	conn.pragma("synchronous = NORMAL");
	return new sqlite.SqliteSaver(conn);
}

const app = graph.compile({ checkpointer: await checkpointer() });

// Output is buffered, as mas-flow's is, and written with back-pressure.
let pending = [];
async function flush() {
	if (pending.length === 0)
		return;
	const chunk = pending.join("");
	pending = [];
	if (!process.stdout.write(chunk))
		await new Promise((resolve) => process.stdout.once("drain", resolve));
}

const lines = createInterface({
	input: createReadStream(file),
	crlfDelay: Infinity,
});
let count = 0;
let steps = 0;
const start = process.hrtime.bigint();
for await (const line of lines) {
	if (count === max)
		break;
	count++;
	const config = mode === "none" ? undefined :
	    { configurable: { thread_id: `record-${count}` } };
	const { flow, ...state } = await app.invoke(JSON.parse(line), config);
	steps += flow.length;
	pending.push(JSON.stringify({ ...state, meta: { flow } }) + "\n");
	if (pending.length === 1000)
		await flush();
}
await flush();
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
process.stderr.write(JSON.stringify({ mode, records: count, steps,
    seconds }) + "\n");
