# Check real answers against an OpenAPI 3.1 document: the subset of JSON
# Schema mas-serve's document uses ($ref, allOf, type, const, enum,
# required, properties, additionalProperties, items, pattern, minimum,
# maximum).  Input: one object per answer {"path": "/tasks/{id}",
# "method": "get", "status": 200, "body": ...}; --slurpfile doc FILE.
# Output: one line per problem; none when every answer fits.

def deref($doc):
  if type == "object" and has("$ref")
  then . as $s | $doc | getpath($s["$ref"] | ltrimstr("#/") | split("/"))
  else . end;

def types($v):
  ($v | type) as $t
  | if $t == "number" and ($v | floor) == $v then [$t, "integer"]
    else [$t] end;

def check($doc; $schema; $v; $at):
  ($schema | deref($doc)) as $s
  | (if $s | has("allOf") then $s.allOf[] as $sub
       | check($doc; $sub; $v; $at) else empty end),
    (if ($s | has("const")) and $v != $s.const
     then "\($at): \($v | tojson) is not \($s.const | tojson)" else empty end),
    (if ($s | has("enum")) and ($s.enum | index([$v])) == null
     then "\($at): \($v | tojson) is none of \($s.enum | tojson)"
     else empty end),
    (if $s | has("type") then
       ([$s.type] | flatten) as $want
       | if [types($v)[] | select(. as $t | $want | index($t))] == []
         then "\($at): \($v | type) where \($want | join(" or ")) is wanted"
         else empty end
     else empty end),
    (if ($v | type) == "object" then
       (($s.required // [])[] | select(. as $k | $v | has($k) | not)
        | "\($at): no \(.)"),
       (($s.properties // {}) | to_entries[]
        | select(.key as $k | $v | has($k))
        | check($doc; .value; $v[.key]; "\($at).\(.key)")),
       (if ($s.additionalProperties | type) == "object" then
          $v | to_entries[]
          | select(.key as $k | ($s.properties // {}) | has($k) | not)
          | check($doc; $s.additionalProperties; .value; "\($at).\(.key)")
        elif $s.additionalProperties == false then
          $v | keys[] | select(. as $k | ($s.properties // {}) | has($k) | not)
          | "\($at): \(.) is not expected"
        else empty end)
     else empty end),
    (if ($v | type) == "array" and ($s | has("items")) then
       $v | to_entries[] | check($doc; $s.items; .value; "\($at)[\(.key)]")
     else empty end),
    (if ($v | type) == "string" and ($s | has("pattern"))
        and ($v | test($s.pattern) | not)
     then "\($at): \($v | tojson) does not match \($s.pattern)" else empty end),
    (if ($v | type) == "number" and ($s | has("minimum")) and $v < $s.minimum
     then "\($at): \($v) is below \($s.minimum)" else empty end),
    (if ($v | type) == "number" and ($s | has("maximum")) and $v > $s.maximum
     then "\($at): \($v) is above \($s.maximum)" else empty end);

$doc[0] as $doc
| . as $answer
| "\(.method | ascii_upcase) \(.path) \(.status)" as $at
| ($doc.paths[.path][.method] // null) as $operation
| if $operation == null then "\($at): not in the document"
  else ($operation.responses["\(.status)"] // null) as $response
  | if $response == null then "\($at): status not documented"
    else ($response | deref($doc) | .content["application/json"].schema)
         as $schema
    | if $schema == null then "\($at): no JSON schema"
      else check($doc; $schema; $answer.body; $at) end
    end
  end
