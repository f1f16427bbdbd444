# Generates a synthetic knowledge base: INTENTS intents x EXAMPLES examples,
# a third of them in Chinese, and messages held out from the same
# distribution (with their labels) for accuracy.  Byte-safe: the Han
# characters are written as their UTF-8 bytes, so mawk (which has no
# UTF-8) and gawk give the same text; run it under LC_ALL=C.
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
}
