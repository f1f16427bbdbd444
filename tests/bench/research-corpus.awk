# A generated corpus for mas-research's benchmarks: FILES files (default
# 500) of about 100 KB in DIR, paragraphs of sentences over a 30,000 word
# vocabulary with Zipf-like frequencies, and 1,000 queries of 2 to 4 of
# its words in QUERIES (JSON Lines).  Deterministic (srand(42)): the
# first 500 files are the same whatever FILES is.  Made for this project
# (public domain, as the rest of its test data).
#
#   awk -v dir=DIR -v files=N -v queries=FILE -f research-corpus.awk
BEGIN {
	if (files == "")
		files = 500
	srand(42)
	split("ba ko ri tu me sa lo vi ne da gu pe xi mo ra te zu fa li no", syl, " ")
	for (w = 1; w <= 30000; w++) {
		word = ""; n = 2 + w % 3; x = w
		for (k = 0; k < n; k++) { word = word syl[x % 20 + 1]; x = int(x / 20) + k * 7 }
		vocab[w] = word w % 97
	}
	for (f = 0; f < files; f++) {
		file = sprintf("%s/doc%03d.txt", dir, f)
		bytes = 0
		printf "Document %d\n\n", f > file
		while (bytes < 100000) {
			para = ""
			s = 3 + int(rand() * 4)
			for (i = 0; i < s; i++) {
				len = 8 + int(rand() * 13); sent = ""
				for (j = 0; j < len; j++) {
					r = int(30000 ^ rand())   # Zipf-like
					sent = sent (j ? " " : "") vocab[r < 1 ? 1 : r]
				}
				para = para toupper(substr(sent, 1, 1)) substr(sent, 2) ". "
			}
			printf "%s\n\n", para > file
			bytes += length(para) + 2
		}
		close(file)
		if (f == 499 || (files < 500 && f == files - 1))
			for (q = 0; q < 1000; q++) {
				n = 2 + q % 3; query = ""
				for (k = 0; k < n; k++)
					query = query (k ? " " : "") vocab[int(30000 ^ (0.3 + 0.6 * rand()))]
				printf "{\"id\":\"q%d\",\"query\":\"%s\"}\n", q, query > queries
			}
	}
}
