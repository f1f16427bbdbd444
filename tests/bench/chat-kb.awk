# Generates a synthetic knowledge base: INTENTS intents x EXAMPLES examples,
# a third of them in Chinese, and messages held out from the same
# distribution (with their labels) for accuracy.  With OOS > 0, OOS
# out-of-scope training examples as well, and OOSHELD out-of-scope
# messages held out (labelled out_of_scope), as in the public intent
# benchmark with 100 out-of-scope training examples among 150 x 100.
# Out-of-scope text is a near miss, not noise: the intents' shared words,
# words of topics no intent has (more of them than the training examples
# cover, so held-out messages bring new ones), and a key word of some
# intent in a fraction NEAR of them (0.3 unless given).  It is drawn
# after every in-scope text, so the in-scope examples and messages are
# those of OOS=0.  Byte-safe: the Han characters are written as their
# UTF-8 bytes, so mawk (which has no UTF-8) and gawk give the same text;
# run it under LC_ALL=C.
function word(   w, n, i) {
	n = 2 + int(rand() * 3); w = ""
	for (i = 0; i < n; i++) w = w substr("bcdfghjklmnprstvz", 1 + int(rand() * 17), 1) substr("aeiou", 1 + int(rand() * 5), 1)
	return w
}
# CP (U+0800 to U+FFFF) as its three UTF-8 bytes; 19968 is U+4E00
# (mawk reads no hex constants: 0x4E00 was 0 there).
function utf8(cp) {
	return sprintf("%c%c%c", 224 + int(cp / 4096),
	    128 + int(cp / 64) % 64, 128 + cp % 64)
}
function han(   n, i, s) {
	n = 2; s = ""
	for (i = 0; i < n; i++) s = s utf8(19968 + int(rand() * 3000))
	return s
}
function sentence(i, zh,   n, k, s, w) {
	n = 4 + int(rand() * 6); s = ""
	for (k = 0; k < n; k++) {
		if (rand() < 0.45) w = zh ? hkey[i, int(rand() * 6)] : key[i, int(rand() * 6)]
		else w = zh ? hshared[int(rand() * 800)] : shared[int(rand() * 2000)]
		s = s (zh || k == 0 ? "" : " ") w
	}
	return s
}
# An out-of-scope text: near-miss key words of intent J at random places.
function outside(zh,   n, k, s, w, j, near) {
	n = 4 + int(rand() * 6); s = ""
	j = int(rand() * INTENTS)
	near = rand() < (NEAR == "" ? 0.3 : NEAR)
	for (k = 0; k < n; k++) {
		if (rand() * (n - k) < near) {
			w = zh ? hkey[j, int(rand() * 6)] : key[j, int(rand() * 6)]
			near--
		} else if (rand() < 0.4)
			w = zh ? htopic[int(rand() * 300)] : topic[int(rand() * 800)]
		else
			w = zh ? hshared[int(rand() * 800)] : shared[int(rand() * 2000)]
		s = s (zh || k == 0 ? "" : " ") w
	}
	return s
}
BEGIN {
	srand(SEED ? SEED : 42)
	for (k = 0; k < 2000; k++) shared[k] = word()
	for (k = 0; k < 800; k++) hshared[k] = han()
	for (i = 0; i < INTENTS; i++) for (k = 0; k < 6; k++) { key[i, k] = word() word(); hkey[i, k] = han() }
	for (i = 0; i < INTENTS; i++) {
		printf "{\"type\":\"intent\",\"name\":\"intent_%03d\",\"examples\":[", i
		for (e = 0; e < EXAMPLES; e++) printf "%s\"%s\"", e ? "," : "", sentence(i, e % 3 == 2)
		printf "],\"responses\":[\"Reply for intent %d, {{user_id}}.\",\"Reply for intent %d.\"],\"suggested_actions\":[\"action_%d\"]}\n", i, i, i
		for (e = 0; e < HELDOUT; e++) printf "{\"message\":\"%s\",\"intent\":\"intent_%03d\"}\n", sentence(i, e % 3 == 2), i > "/dev/stderr"
	}
	if (OOS <= 0)
		exit
	for (k = 0; k < 800; k++) topic[k] = word()
	for (k = 0; k < 300; k++) htopic[k] = han()
	printf "{\"type\":\"out_of_scope\",\"examples\":["
	for (e = 0; e < OOS; e++) printf "%s\"%s\"", e ? "," : "", outside(e % 3 == 2)
	printf "]}\n"
	for (e = 0; e < OOSHELD; e++) printf "{\"message\":\"%s\",\"intent\":\"out_of_scope\"}\n", outside(e % 3 == 2) > "/dev/stderr"
}
