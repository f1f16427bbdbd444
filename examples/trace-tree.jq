# Print a trace file (MAS_TRACE) as indented trees, one per trace, with
# each span's duration:  jq -rsf examples/trace-tree.jq trace.jsonl
def indent($depth): [range($depth)] | map("  ") | join("");
def children($all; $parent; $depth):
  ($all | map(select(.parent_id == $parent)) | sort_by(.start)[]) as $span
  | "\(indent($depth))\($span.name)\(if $span.attributes["mas.bdi.subject"] then " [" + $span.attributes["mas.bdi.subject"] + "]" else "" end)  \($span.duration_ms * 1000 | round / 1000) ms\(if $span.status == "error" then "  ERROR " + ($span.status_message // "") else "" end)",
    children($all; $span.span_id; $depth + 1);
. as $all
| ($all | map(.span_id)) as $ids
| $all
| map(select(.parent_id == null or (.parent_id as $p | $ids | index($p) | not)))
| sort_by(.start)[]
| . as $root
| "trace \($root.trace_id) (\($root.service))",
  "  \($root.name)  \($root.duration_ms * 1000 | round / 1000) ms",
  children($all; $root.span_id; 2)
