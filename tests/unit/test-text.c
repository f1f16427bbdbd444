/*
 * test-text.c — tokens, folding, stemming, sentences and n-grams
 * (lib/text.h).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "unit.h"

/* The strings of ARRAY (consumed) joined by '|', malloc'd. */
static char *join(jv array)
{
	size_t size = 1;
	char *result;

	jv_array_foreach(array, i, item) {
		size += (size_t)jv_string_length_bytes(jv_copy(item)) + 1;
		jv_free(item);
	}
	result = calloc(1, size);
	jv_array_foreach(array, i, item) {
		if (i > 0)
			strcat(result, "|");
		strcat(result, jv_string_value(item));
		jv_free(item);
	}
	jv_free(array);
	return result;
}

static char *tokens(const char *text, unsigned flags)
{
	return join(mas_text_token_array(text, strlen(text), flags));
}

#define CHECK_TOKENS(text, flags, want)                                       \
	do {                                                                  \
		char *got_ = tokens(text, flags);                             \
		CHECK_STR(got_, want);                                        \
		free(got_);                                                   \
	} while (0)

static char *sentences(const char *text)
{
	return join(mas_text_sentence_array(text, strlen(text)));
}

#define CHECK_SENTENCES(text, want)                                           \
	do {                                                                  \
		char *got_ = sentences(text);                                 \
		CHECK_STR(got_, want);                                        \
		free(got_);                                                   \
	} while (0)

static void test_decode(void)
{
	const char text[] = "a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80\xFF";
	const char *p = text, *end = text + sizeof(text) - 1;
	char out[4];

	CHECK_INT(mas_text_decode(&p, end), 'a');
	CHECK_INT(mas_text_decode(&p, end), 0xE9);
	CHECK_INT(mas_text_decode(&p, end), 0x4E2D);
	CHECK_INT(mas_text_decode(&p, end), 0x1F600);
	CHECK_INT(mas_text_decode(&p, end), -1);
	CHECK(p == end);
	CHECK_INT(mas_text_encode(0x4E2D, out), 3);
	CHECK(memcmp(out, "\xE4\xB8\xAD", 3) == 0);
	/* a surrogate and a truncated sequence are invalid, one byte each */
	p = "\xED\xA0\x80";
	CHECK_INT(mas_text_decode(&p, p + 3), -1);
	p = "\xE4\xB8";
	CHECK_INT(mas_text_decode(&p, p + 2), -1);
}

static void test_english(void)
{
	CHECK_TOKENS("The patients were running tests, and the doctors "
	             "studied 3 studies.", 0,
	             "patient|run|test|doctor|studi|3|studi");
	CHECK_TOKENS("The patients",
	             MAS_TEXT_KEEP_STOPWORDS | MAS_TEXT_NO_STEM,
	             "the|patients");
	CHECK_TOKENS("Don't stop: the hospital's AI-driven triage", 0,
	             "dont|stop|hospit|ai|driven|triag");
	CHECK_TOKENS("Costs fell 3.5% to $1,200 in 2024; CO2 too.", 0,
	             "cost|fell|3.5|1200|2024|co2");
}

static void test_stem(void)
{
	/* Porter2 ("english"), and Snowball's Russian and Greek */
	static const char *const pairs[][2] = {
		{ "caresses", "caress" }, { "ponies", "poni" },
		{ "cats", "cat" }, { "feed", "feed" }, { "agreed", "agre" },
		{ "plastered", "plaster" }, { "motoring", "motor" },
		{ "sing", "sing" }, { "connection", "connect" },
		{ "connected", "connect" }, { "generously", "generous" },
		{ "hopping", "hop" }, { "falling", "fall" },
		{ "skies", "sky" }, { "happy", "happi" }, { "dying", "die" },
		{ "batteries", "batteri" }, { "battery", "batteri" },
		{ "as", "as" }, { "co2", "co2" }, { "3.5", "3.5" },
		{ "москвы", "москв" }, { "бегающими", "бега" },
		{ "καθηγητεσ", "καθηγητ" }, { "cafeмосква", "cafeмосква" },
	};

	/* three rounds: stemmed, then from the cache of stems, then
	 * again after 3,000 other words have taken its slots */
	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
			char word[MAS_TEXT_MAX_TOKEN + 1];
			size_t n = strlen(pairs[i][0]);
			memcpy(word, pairs[i][0], n + 1);
			n = mas_text_stem(word, n);
			word[n] = '\0';
			CHECK_STR(word, pairs[i][1]);
		}
		for (int k = 0; round == 1 && k < 3000; k++) {
			char word[MAS_TEXT_MAX_TOKEN] = "connecting";
			word[10] = (char)('a' + k % 26);
			word[11] = (char)('a' + k / 26 % 26);
			word[12] = (char)('a' + k / 676);
			mas_text_stem(word, 13);
		}
	}
	/* through the tokenizer: stems, and words with digits left alone */
	CHECK_TOKENS("Москвы бегающими Αθήνας", 0, "москв|бега|αθην");
	CHECK_TOKENS("connecting 2nd", 0, "connect|2nd");
}

/* One stemmer set per thread: threads tokenizing at once agree. */
static void *stem_thread(void *data)
{
	int *failures = data;

	for (int i = 0; i < 200; i++) {
		char *got = tokens("running connections Москвы", 0);
		*failures += strcmp(got, "run|connect|москв") != 0;
		free(got);
	}
	return NULL;
}

static void test_stem_threads(void)
{
	pthread_t threads[4];
	int failures[4] = { 0 };

	for (int i = 0; i < 4; i++)
		CHECK_INT(pthread_create(&threads[i], NULL, stem_thread,
		                         &failures[i]), 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(threads[i], NULL);
		CHECK_INT(failures[i], 0);
	}
}

static void test_folding(void)
{
	CHECK_TOKENS("Café NAÏVE Straße Ærø œuvre", MAS_TEXT_NO_STEM,
	             "cafe|naive|strasse|aero|oeuvre");
	/* a combining accent is dropped inside its word */
	CHECK_TOKENS("Cafe\xCC\x81 Łódź", MAS_TEXT_NO_STEM, "cafe|lodz");
	/* final ς is σ */
	CHECK_TOKENS("ΑΘΗΝΑ Αθήνα ΌΡΟΣ όρος", MAS_TEXT_NO_STEM, "αθηνα|αθηνα|οροσ|οροσ");
	CHECK_TOKENS("МОСКВА Москва ЁЛКА", MAS_TEXT_NO_STEM, "москва|москва|елка");
	/* compatibility characters by utf8proc: ligatures, superscripts */
	CHECK_TOKENS("ﬁnancial ﬂow m² ㎏", MAS_TEXT_NO_STEM,
	             "financial|flow|m2|kg");
	/* full-width letters and digits are ASCII */
	CHECK_TOKENS("ＡＩ诊断２０２４年", 0, "ai|诊断|2024|年");
}

static void test_cjk(void)
{
	CHECK_TOKENS("人工智能在医疗领域的应用", 0,
	             "人工|工智|智能|能在|在医|医疗|疗领|领域|域的|的应|应用");
	/* a lone character is a unigram; punctuation splits runs */
	CHECK_TOKENS("电，池。", 0, "电|池");
	CHECK_TOKENS("ひらがなとカタカナ", 0,
	             "ひら|らが|がな|なと|とカ|カタ|タカ|カナ");
	CHECK_TOKENS("한국어 텍스트", 0, "한국|국어|텍스|스트");
}

static void test_mixed(void)
{
	CHECK_TOKENS("AI辅助诊断（AI-assisted diagnosis）提高了准确率95%！", 0,
	             "ai|辅助|助诊|诊断|ai|assist|diagnosi|提高|高了|了准|准确"
	             "|确率|95");
	/* emoji and symbols are dropped, and split what they touch */
	CHECK_TOKENS("great👍work 😀😀 电池🔋储能", 0,
	             "great|work|电池|储能");
	CHECK_TOKENS("!!! ... ，。、 ", 0, "");
	/* invalid bytes separate, like punctuation */
	CHECK_TOKENS("solar\xFFpanel", 0, "solar|panel");
}

static void test_stopwords(void)
{
	CHECK(mas_text_is_stopword("the", 3));
	CHECK(mas_text_is_stopword("yourselves", 10));
	CHECK(!mas_text_is_stopword("battery", 7));
	CHECK(!mas_text_is_stopword("th", 2));
	CHECK(!mas_text_is_stopword("should", 6));
}

static void test_sentences(void)
{
	CHECK_SENTENCES("AI reads scans. It is fast! Is it safe? Yes.",
	                "AI reads scans.|It is fast!|Is it safe?|Yes.");
	CHECK_SENTENCES("人工智能可以辅助诊断。它提高了效率！成本如何？"
	                "建议试点；逐步推广",
	                "人工智能可以辅助诊断。|它提高了效率！|成本如何？|"
	                "建议试点；|逐步推广");
	CHECK_SENTENCES("Dr. Smith et al. found a 3.5% gain, e.g. in "
	                "U.S. hospitals. Next one.",
	                "Dr. Smith et al. found a 3.5% gain, e.g. in "
	                "U.S. hospitals.|Next one.");
	CHECK_SENTENCES("J. K. Rowling wrote it. He said \"stop.\" Then left.",
	                "J. K. Rowling wrote it.|He said \"stop.\"|"
	                "Then left.");
	CHECK_SENTENCES("It failed... Then it worked.",
	                "It failed...|Then it worked.");
	CHECK_SENTENCES("line one wraps\nhere. And\n\nnew paragraph",
	                "line one wraps\nhere.|And|new paragraph");
	CHECK_SENTENCES("# Title\nBody text\n- item one\n- item two",
	                "# Title|Body text|- item one|- item two");
	CHECK_SENTENCES("全角句号（注释）。下一句", "全角句号（注释）。|下一句");
	CHECK_SENTENCES("   ", "");
}

struct grams {
	char text[512];
};

static void add_gram(void *user, const char *start, size_t length)
{
	struct grams *grams = user;
	size_t used = strlen(grams->text);

	if (used + length + 2 < sizeof(grams->text)) {
		memcpy(grams->text + used, start, length);
		grams->text[used + length] = '|';
		grams->text[used + length + 1] = '\0';
	}
}

static void test_ngrams(void)
{
	struct grams grams = { "" };

	mas_text_char_ngrams("Hi!", 3, 2, 3, add_gram, &grams);
	CHECK_STR(grams.text, " h| hi|hi|hi |i |");
	grams.text[0] = '\0';
	mas_text_char_ngrams("电池 OK", strlen("电池 OK"), 1, 2, add_gram,
	                     &grams);
	CHECK_STR(grams.text, " 电|电|电池|池|池 | o|o|ok|k|k |");
	CHECK(mas_text_has_cjk("abc 中", strlen("abc 中")));
	CHECK(!mas_text_has_cjk("abc é", strlen("abc é")));
}

int main(void)
{
	UNIT_RUN(test_decode);
	UNIT_RUN(test_english);
	UNIT_RUN(test_stem);
	UNIT_RUN(test_stem_threads);
	UNIT_RUN(test_folding);
	UNIT_RUN(test_cjk);
	UNIT_RUN(test_mixed);
	UNIT_RUN(test_stopwords);
	UNIT_RUN(test_sentences);
	UNIT_RUN(test_ngrams);
	return unit_done();
}
