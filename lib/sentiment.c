/*
 * sentiment.c — the bilingual lexicon and the trained model (see
 * sentiment.h).
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jv.h>

#include "classify.h"
#include "log.h"
#include "mas.h"
#include "sentiment.h"
#include "utf8.h"
#include "banned.h"

enum kind { POLAR, NEGATOR, BOOSTER, CONTRAST };

struct entry {
	const char *text;  /* folded: lower case, no punctuation */
	enum kind kind;
	double weight;     /* POLAR: valence; BOOSTER: multiplier */
};

/*
 * The lexicon.  English entries are words or two-word phrases; Chinese
 * entries are matched longest first inside Han runs, so "不错" (not bad:
 * good) and "没问题" (no problem) win over their negators.  Weights follow
 * VADER's scale: about 1 mild, 2 clear, 3 strong.
 */
static const struct entry lexicon[] = {
	/* English, positive */
	{ "good", POLAR, 1.9 }, { "great", POLAR, 3.1 },
	{ "excellent", POLAR, 3.2 }, { "amazing", POLAR, 2.8 },
	{ "awesome", POLAR, 3.1 }, { "fantastic", POLAR, 2.6 },
	{ "wonderful", POLAR, 2.7 }, { "perfect", POLAR, 2.7 },
	{ "love", POLAR, 3.2 }, { "like", POLAR, 1.5 },
	{ "happy", POLAR, 2.7 }, { "glad", POLAR, 2.0 },
	{ "pleased", POLAR, 2.0 }, { "satisfied", POLAR, 1.8 },
	{ "thanks", POLAR, 1.9 }, { "thank", POLAR, 1.5 },
	{ "appreciate", POLAR, 2.0 }, { "helpful", POLAR, 1.9 },
	{ "nice", POLAR, 1.8 }, { "fast", POLAR, 1.0 },
	{ "easy", POLAR, 1.9 }, { "works", POLAR, 0.8 },
	{ "fixed", POLAR, 1.2 }, { "solved", POLAR, 1.6 },
	{ "resolved", POLAR, 1.6 },
	{ "best", POLAR, 3.2 }, { "cool", POLAR, 1.3 },
	{ "brilliant", POLAR, 2.8 }, { "smooth", POLAR, 1.2 },
	{ "appreciated", POLAR, 2.0 },
	{ "impressed", POLAR, 2.0 }, { "worth", POLAR, 1.2 },
	{ "patient", POLAR, 1.5 },
	{ "no problem", POLAR, 1.2 }, { "well done", POLAR, 2.0 },
	{ "thank you", POLAR, 2.0 },
	/* English, greetings and requests that only look like praise */
	{ "good morning", POLAR, 0 }, { "good afternoon", POLAR, 0 },
	{ "good evening", POLAR, 0 }, { "good night", POLAR, 0 },
	{ "i'd like", POLAR, 0 }, { "would like", POLAR, 0 },
	{ "like to", POLAR, 0 },
	/* English, negative */
	{ "bad", POLAR, -2.5 }, { "terrible", POLAR, -2.8 },
	{ "awful", POLAR, -2.9 }, { "horrible", POLAR, -2.9 },
	{ "worst", POLAR, -3.1 }, { "hate", POLAR, -2.7 },
	{ "angry", POLAR, -2.3 }, { "furious", POLAR, -3.0 },
	{ "annoyed", POLAR, -1.9 }, { "annoying", POLAR, -1.9 },
	{ "frustrated", POLAR, -2.2 }, { "frustrating", POLAR, -2.2 },
	{ "upset", POLAR, -1.9 }, { "disappointed", POLAR, -2.1 },
	{ "disappointing", POLAR, -2.1 }, { "unhappy", POLAR, -2.0 },
	{ "useless", POLAR, -2.4 }, { "broken", POLAR, -1.8 },
	{ "slow", POLAR, -1.2 }, { "crash", POLAR, -1.8 },
	{ "crashes", POLAR, -1.8 }, { "crashed", POLAR, -1.8 },
	{ "crashing", POLAR, -1.8 }, { "bug", POLAR, -1.2 },
	{ "buggy", POLAR, -1.8 }, { "error", POLAR, -1.2 },
	{ "errors", POLAR, -1.2 }, { "fail", POLAR, -1.8 },
	{ "failed", POLAR, -1.8 }, { "fails", POLAR, -1.8 },
	{ "failing", POLAR, -1.8 }, { "problem", POLAR, -1.2 },
	{ "problems", POLAR, -1.2 }, { "issue", POLAR, -0.6 },
	{ "wrong", POLAR, -1.6 }, { "ridiculous", POLAR, -2.4 },
	{ "unacceptable", POLAR, -2.8 }, { "scam", POLAR, -3.0 },
	{ "ripoff", POLAR, -2.8 }, { "rip off", POLAR, -2.8 },
	{ "overcharged", POLAR, -2.3 }, { "expensive", POLAR, -1.2 },
	{ "waste", POLAR, -2.0 }, { "poor", POLAR, -2.0 },
	{ "sucks", POLAR, -2.5 }, { "stupid", POLAR, -2.4 },
	{ "garbage", POLAR, -2.6 }, { "rubbish", POLAR, -2.4 },
	{ "complain", POLAR, -1.6 }, { "complaint", POLAR, -1.6 },
	{ "sad", POLAR, -2.1 }, { "worried", POLAR, -1.5 },
	{ "confused", POLAR, -1.0 }, { "stuck", POLAR, -1.4 },
	{ "lost", POLAR, -1.3 }, { "fed up", POLAR, -2.3 },
	{ "not working", POLAR, -2.0 }, { "doesn't work", POLAR, -2.0 },
	{ "does not work", POLAR, -2.0 }, { "don't work", POLAR, -2.0 },
	{ "won't load", POLAR, -1.8 }, { "can't login", POLAR, -1.6 },
	{ "can't log", POLAR, -1.6 }, { "cannot log", POLAR, -1.6 },
	{ "never again", POLAR, -2.6 }, { "no one", POLAR, -1.0 },
	{ "nobody", POLAR, -1.0 }, { "still waiting", POLAR, -1.8 },
	{ "keeps crashing", POLAR, -2.4 }, { "declined", POLAR, -1.4 },
	{ "locked", POLAR, -1.2 }, { "slowly", POLAR, -1.2 },
	{ "blank", POLAR, -1.0 }, { "not syncing", POLAR, -1.6 },
	{ "billed twice", POLAR, -1.6 }, { "charged twice", POLAR, -1.6 },
	{ "hacked", POLAR, -2.0 }, { "missing", POLAR, -1.2 },
	/* English, modifiers */
	{ "not", NEGATOR, 0 }, { "no", NEGATOR, 0 }, { "never", NEGATOR, 0 },
	{ "don't", NEGATOR, 0 }, { "doesn't", NEGATOR, 0 },
	{ "didn't", NEGATOR, 0 }, { "isn't", NEGATOR, 0 },
	{ "wasn't", NEGATOR, 0 }, { "aren't", NEGATOR, 0 },
	{ "won't", NEGATOR, 0 }, { "can't", NEGATOR, 0 },
	{ "cannot", NEGATOR, 0 }, { "couldn't", NEGATOR, 0 },
	{ "nothing", NEGATOR, 0 }, { "without", NEGATOR, 0 },
	{ "hardly", NEGATOR, 0 }, { "neither", NEGATOR, 0 },
	{ "very", BOOSTER, 1.5 }, { "really", BOOSTER, 1.5 },
	{ "so", BOOSTER, 1.4 }, { "extremely", BOOSTER, 1.8 },
	{ "totally", BOOSTER, 1.5 }, { "absolutely", BOOSTER, 1.6 },
	{ "completely", BOOSTER, 1.5 }, { "super", BOOSTER, 1.5 },
	{ "too", BOOSTER, 1.3 }, { "incredibly", BOOSTER, 1.7 },
	{ "most", BOOSTER, 1.3 }, { "utterly", BOOSTER, 1.7 },
	{ "slightly", BOOSTER, 0.6 }, { "somewhat", BOOSTER, 0.7 },
	{ "a bit", BOOSTER, 0.7 }, { "kind of", BOOSTER, 0.7 },
	{ "a little", BOOSTER, 0.7 },
	{ "but", CONTRAST, 0 }, { "however", CONTRAST, 0 },
	/* Chinese, positive */
	{ "好", POLAR, 1.6 }, { "很好", POLAR, 2.4 }, { "不错", POLAR, 2.0 },
	{ "挺好", POLAR, 2.0 }, { "好用", POLAR, 2.2 }, { "满意", POLAR, 2.2 },
	{ "喜欢", POLAR, 2.4 }, { "谢谢", POLAR, 1.9 }, { "感谢", POLAR, 2.2 },
	{ "多谢", POLAR, 2.0 }, { "棒", POLAR, 2.6 }, { "赞", POLAR, 2.4 },
	{ "优秀", POLAR, 2.6 }, { "完美", POLAR, 2.8 }, { "开心", POLAR, 2.5 },
	{ "高兴", POLAR, 2.5 }, { "方便", POLAR, 1.8 }, { "快", POLAR, 0.8 },
	{ "及时", POLAR, 1.3 }, { "专业", POLAR, 0.6 }, { "耐心", POLAR, 1.5 },
	{ "解决了", POLAR, 1.6 }, { "没问题", POLAR, 1.0 },
	{ "没事", POLAR, 0.6 }, { "划算", POLAR, 1.8 },
	{ "实惠", POLAR, 1.8 }, { "流畅", POLAR, 1.6 }, { "稳定", POLAR, 1.2 },
	{ "厉害", POLAR, 2.2 }, { "给力", POLAR, 2.4 }, { "靠谱", POLAR, 2.0 },
	{ "好评", POLAR, 2.4 }, { "周到", POLAR, 1.8 }, { "感激", POLAR, 2.2 },
	{ "太好了", POLAR, 3.0 }, { "可以", POLAR, 0.4 },
	/* Chinese words with 好 that carry no feeling */
	{ "你好", POLAR, 0 }, { "您好", POLAR, 0 }, { "好的", POLAR, 0 },
	{ "早上好", POLAR, 0 }, { "下午好", POLAR, 0 }, { "晚上好", POLAR, 0 },
	{ "好吗", POLAR, 0 }, { "好看", POLAR, 1.0 }, { "好几", POLAR, 0 },
	{ "银行卡", POLAR, 0 }, { "信用卡", POLAR, 0 }, { "卡号", POLAR, 0 },
	/* Chinese, negative */
	{ "差", POLAR, -2.2 }, { "很差", POLAR, -2.8 },
	{ "太差", POLAR, -3.0 },
	{ "糟糕", POLAR, -2.6 }, { "烂", POLAR, -2.6 },
	{ "垃圾", POLAR, -2.8 },
	{ "失望", POLAR, -2.3 }, { "生气", POLAR, -2.4 },
	{ "愤怒", POLAR, -3.0 },
	{ "气死", POLAR, -3.0 }, { "不满", POLAR, -2.2 },
	{ "讨厌", POLAR, -2.4 },
	{ "恶心", POLAR, -2.6 }, { "坑", POLAR, -2.2 }, { "骗", POLAR, -2.6 },
	{ "骗子", POLAR, -3.0 }, { "投诉", POLAR, -1.8 },
	{ "问题", POLAR, -1.0 },
	{ "故障", POLAR, -1.6 }, { "错误", POLAR, -1.4 },
	{ "报错", POLAR, -1.6 },
	{ "崩溃", POLAR, -2.2 }, { "闪退", POLAR, -2.0 },
	{ "卡死", POLAR, -2.0 },
	{ "很卡", POLAR, -1.6 }, { "卡了", POLAR, -1.2 },
	{ "锁了", POLAR, -1.2 },
	{ "被锁", POLAR, -1.4 }, { "空白", POLAR, -1.0 },
	{ "不同步", POLAR, -1.6 },
	{ "扣了两次", POLAR, -1.6 }, { "重复扣", POLAR, -1.6 },
	{ "被盗", POLAR, -2.0 },
	{ "差劲", POLAR, -2.6 }, { "不理", POLAR, -1.6 },
	{ "没人理", POLAR, -2.0 },
	{ "卡顿", POLAR, -1.6 }, { "慢", POLAR, -1.2 }, { "贵", POLAR, -1.2 },
	{ "失败", POLAR, -1.8 }, { "麻烦", POLAR, -1.4 },
	{ "无语", POLAR, -2.0 },
	{ "郁闷", POLAR, -1.8 }, { "着急", POLAR, -1.6 },
	{ "担心", POLAR, -1.4 },
	{ "难用", POLAR, -2.4 }, { "用不了", POLAR, -2.0 },
	{ "打不开", POLAR, -1.8 }, { "登不上", POLAR, -1.8 },
	{ "登录不了", POLAR, -1.8 }, { "不能用", POLAR, -2.0 },
	{ "没用", POLAR, -2.0 }, { "没反应", POLAR, -1.8 },
	{ "受不了", POLAR, -2.6 }, { "离谱", POLAR, -2.6 },
	{ "浪费", POLAR, -2.0 }, { "乱扣", POLAR, -2.6 },
	{ "扣错", POLAR, -2.0 },
	{ "多扣", POLAR, -2.0 }, { "敷衍", POLAR, -2.4 },
	{ "欺骗", POLAR, -2.8 },
	{ "退款", POLAR, -0.4 }, { "还没", POLAR, -0.8 },
	{ "一直", POLAR, -0.4 },
	{ "丢失", POLAR, -1.8 }, { "不好用", POLAR, -2.2 },
	{ "再也不", POLAR, -2.4 }, { "糟透", POLAR, -3.0 },
	{ "无法", POLAR, -1.2 },
	/* Chinese, modifiers */
	{ "不", NEGATOR, 0 }, { "没", NEGATOR, 0 }, { "没有", NEGATOR, 0 },
	{ "别", NEGATOR, 0 }, { "未", NEGATOR, 0 }, { "不是", NEGATOR, 0 },
	{ "并不", NEGATOR, 0 }, { "从不", NEGATOR, 0 },
	{ "从来没", NEGATOR, 0 }, { "毫不", NEGATOR, 0 },
	{ "不太", NEGATOR, 0 },
	{ "非常", BOOSTER, 1.6 }, { "太", BOOSTER, 1.6 },
	{ "很", BOOSTER, 1.3 },
	{ "特别", BOOSTER, 1.5 }, { "超", BOOSTER, 1.5 },
	{ "超级", BOOSTER, 1.6 },
	{ "极其", BOOSTER, 1.8 }, { "十分", BOOSTER, 1.5 },
	{ "真", BOOSTER, 1.3 }, { "真的", BOOSTER, 1.3 },
	{ "好", BOOSTER, 1.5 },
	{ "挺", BOOSTER, 1.2 }, { "最", BOOSTER, 1.5 },
	{ "相当", BOOSTER, 1.4 },
	{ "实在", BOOSTER, 1.4 }, { "有点", BOOSTER, 0.6 },
	{ "有些", BOOSTER, 0.7 }, { "稍微", BOOSTER, 0.6 },
	{ "但是", CONTRAST, 0 }, { "可是", CONTRAST, 0 },
	{ "不过", CONTRAST, 0 }, { "但", CONTRAST, 0 },
	{ NULL, POLAR, 0 },
};

#define LEXICON_SIZE (sizeof(lexicon) / sizeof(lexicon[0]) - 1)
#define TABLE_SIZE 2048 /* a power of two, over four times the entries */

/* Entries by hash of their text, built once: a message is looked up
 * several times per word, and 20,000 messages a second leave no time
 * for a linear scan.  The first entry of a text wins ("好" is POLAR
 * before it is a BOOSTER); ALT names the BOOSTER reading of a POLAR
 * entry, used when a sentiment word follows ("好贵": very expensive). */
static short table[TABLE_SIZE];
static short alt[LEXICON_SIZE];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static uint32_t hash_text(const char *text, size_t length)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < length; i++) {
		h ^= (unsigned char)text[i];
		h *= 16777619u;
	}
	return h;
}

static void build_table(void)
{
	for (size_t i = 0; i < TABLE_SIZE; i++)
		table[i] = -1;
	for (size_t i = 0; i < LEXICON_SIZE; i++) {
		size_t length = strlen(lexicon[i].text);
		uint32_t slot = hash_text(lexicon[i].text, length);
		alt[i] = -1;
		for (;; slot++) {
			short *at = &table[slot & (TABLE_SIZE - 1)];
			if (*at < 0) {
				*at = (short)i;
				break;
			}
			if (strcmp(lexicon[*at].text, lexicon[i].text) == 0) {
				if (lexicon[i].kind == BOOSTER)
					alt[*at] = (short)i;
				break;
			}
		}
	}
}

static const struct entry *lookup(const char *text, size_t length)
{
	uint32_t slot = hash_text(text, length);

	pthread_once(&table_once, build_table);
	for (;; slot++) {
		short at = table[slot & (TABLE_SIZE - 1)];
		if (at < 0)
			return NULL;
		if (strlen(lexicon[at].text) == length &&
		    memcmp(lexicon[at].text, text, length) == 0)
			return &lexicon[at];
	}
}

/* The BOOSTER reading of E, or NULL. */
static const struct entry *booster_form(const struct entry *e)
{
	short i = alt[e - lexicon];

	return i < 0 ? NULL : &lexicon[i];
}

static int is_han_lead(const unsigned char *s)
{
	/* U+3400..U+9FFF: lead bytes E3 (from U+3400) to E9. */
	return s[0] >= 0xE3 && s[0] <= 0xE9;
}

static size_t char_length(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	if (s[0] < 0xE0)
		return 2;
	return s[0] < 0xF0 ? 3 : 4;
}

/* One unit of the message: a lexicon entry or nothing that counts. */
struct unit {
	const struct entry *entry;
};

struct units {
	struct unit *items;
	size_t count, capacity;
};

static void push(struct units *u, const struct entry *entry)
{
	if (u->count == u->capacity) {
		size_t capacity = u->capacity ? u->capacity * 2 : 32;
		struct unit *grown = realloc(u->items,
		                             capacity * sizeof(*grown));
		if (!grown)
			mas_die(MAS_EXIT_IO, "out of memory");
		u->items = grown;
		u->capacity = capacity;
	}
	u->items[u->count++].entry = entry;
}

/* Longest lexicon entry (up to four characters) at S within a Han run
 * ending at END; advances *S past it, or past one character. */
static void han_unit(struct units *u, const char **s, const char *end)
{
	const struct entry *best = NULL;
	size_t best_length = 0, length = 0;

	for (int chars = 0; chars < 4 && *s + length < end; chars++) {
		const unsigned char *p = (const unsigned char *)*s + length;
		const struct entry *e;
		if (!is_han_lead(p))
			break;
		length += char_length(p);
		e = lookup(*s, length);
		if (e) {
			best = e;
			best_length = length;
		}
	}
	if (!best)
		best_length = char_length((const unsigned char *)*s);
	push(u, best);
	*s += best_length;
}

/* The English word at S (ending at a space or a Han character), as one
 * unit or, with the next word, a two-word phrase. */
static void word_unit(struct units *u, const char **s, const char *end)
{
	const char *w = *s, *e = w, *e2;
	const struct entry *entry;

	while (e < end && *e != ' ' && !is_han_lead((const unsigned char *)e))
		e += char_length((const unsigned char *)e);
	if (e < end && *e == ' ') {
		e2 = e + 1;
		while (e2 < end && *e2 != ' ' &&
		       !is_han_lead((const unsigned char *)e2))
			e2 += char_length((const unsigned char *)e2);
		entry = lookup(w, (size_t)(e2 - w));
		if (entry) {
			push(u, entry);
			*s = e2;
			return;
		}
	}
	push(u, lookup(w, (size_t)(e - w)));
	*s = e;
}

static void split_units(const char *folded, struct units *u)
{
	const char *s = folded, *end = folded + strlen(folded);

	while (s < end) {
		if (*s == ' ')
			s++;
		else if (is_han_lead((const unsigned char *)s))
			han_unit(u, &s, end);
		else
			word_unit(u, &s, end);
	}
}

static size_t count_exclamations(const char *text)
{
	size_t count = 0;

	for (const char *p = text; *p; p++)
		if (*p == '!')
			count++;
		else if (strncmp(p, "\xef\xbc\x81", 3) == 0) /* ！ */
			count++;
	return count;
}

/* Whether TEXT asks something: praise words in a question ("which plan
 * is best?") are mostly not praise, so they count less. */
static int is_question(const char *text, const char *folded)
{
	static const char *const openers[] = {
		"what ", "what's ", "which ", "how ", "why ", "where ",
		"when ", "who ",
		"is ", "are ", "do ", "does ", "can ", "could ", "will ",
		"would ", "should ", NULL
	};
	size_t length = strlen(folded);

	if (strchr(text, '?') || strstr(text, "\xef\xbc\x9f")) /* ？ */
		return 1;
	for (int i = 0; openers[i]; i++)
		if (strncmp(folded, openers[i], strlen(openers[i])) == 0)
			return 1;
	/* 吗 or 呢 at the end */
	return length >= 3 && (strcmp(folded + length - 3, "吗") == 0 ||
	                       strcmp(folded + length - 3, "呢") == 0);
}

/* The sum of valences with negation, boosting and contrast applied;
 * positive ones times DAMP_POSITIVE. */
static double valence(const struct units *u, double damp_positive)
{
	size_t contrast = u->count;
	int negate = 0, boost_left = 0;
	double boost = 1, sum = 0;

	for (size_t i = 0; i < u->count; i++)
		if (u->items[i].entry && u->items[i].entry->kind == CONTRAST)
			contrast = i; /* the last "but" counts */
	for (size_t i = 0; i < u->count; i++) {
		const struct entry *e = u->items[i].entry;
		double v;
		if (e && e->kind == POLAR && booster_form(e) &&
		    i + 1 < u->count && u->items[i + 1].entry &&
		    u->items[i + 1].entry->kind == POLAR)
			e = booster_form(e);
		if (e && e->kind == NEGATOR) {
			negate = 4; /* this unit and the three after it */
		} else if (e && e->kind == BOOSTER) {
			boost = e->weight;
			boost_left = 3;
		} else if (e && e->kind == POLAR) {
			v = e->weight * boost;
			if (negate > 0)
				v *= -0.74;
			if (contrast < u->count)
				v *= i > contrast ? 1.5 : 0.5;
			sum += v > 0 ? v * damp_positive : v;
			boost = 1;
			boost_left = 0;
		}
		if (negate > 0)
			negate--;
		if (boost_left > 0 && --boost_left == 0)
			boost = 1;
	}
	return sum;
}

double mas_sentiment_lexicon(const char *text)
{
	char *folded = mas_classify_fold(text, strlen(text));
	struct units u = { 0 };
	size_t bangs = count_exclamations(text);
	double sum;

	split_units(folded, &u);
	sum = valence(&u, is_question(text, folded) ? 0.3 : 1);
	if (bangs > 0)
		sum *= 1 + 0.1 * (double)(bangs > 3 ? 3 : bangs);
	free(u.items);
	free(folded);
	return sum / sqrt(sum * sum + 15);
}

const char *mas_sentiment_label(double score)
{
	if (score >= MAS_SENTIMENT_CUT)
		return "positive";
	if (score <= -MAS_SENTIMENT_CUT)
		return "negative";
	return "neutral";
}

/* ---- the trained model ---- */

static const char *const labels[] = { "negative", "neutral", "positive" };

struct mas_sentiment {
	struct mas_classifier *classifier;
	unsigned long examples;
};

struct examples {
	char **texts;
	size_t *labels;
	size_t count, capacity;
	size_t per_label[3];
};

static int fail(char **error, const char *path, unsigned long line,
                const char *what)
{
	if (asprintf(error, "%s:%lu: %s", path, line, what) < 0)
		*error = NULL;
	return -1;
}

static void add_example(struct examples *ex, const char *text, size_t label)
{
	if (ex->count == ex->capacity) {
		size_t capacity = ex->capacity ? ex->capacity * 2 : 256;
		ex->texts = realloc(ex->texts, capacity * sizeof(*ex->texts));
		ex->labels = realloc(ex->labels,
		                     capacity * sizeof(*ex->labels));
		if (!ex->texts || !ex->labels)
			mas_die(MAS_EXIT_IO, "out of memory");
		ex->capacity = capacity;
	}
	ex->texts[ex->count] = strdup(text);
	ex->labels[ex->count++] = label;
	ex->per_label[label]++;
}

/* One line: {"text": S, "label": L}. */
static int parse_example(struct examples *ex, const char *line, size_t length,
                         const char *path, unsigned long lineno,
                         char **error)
{
	jv value, text, label;
	int status = 0;
	size_t k;

	if (mas_utf8_invalid_offset(line, length) != length)
		return fail(error, path, lineno, "not valid UTF-8");
	value = jv_parse_sized(line, (int)length);
	if (!jv_is_valid(value)) {
		jv_free(value);
		return fail(error, path, lineno, "not valid JSON");
	}
	if (jv_get_kind(value) != JV_KIND_OBJECT) {
		jv_free(value);
		return fail(error, path, lineno, "expected a JSON object");
	}
	text = jv_object_get(jv_copy(value), jv_string("text"));
	label = jv_object_get(value, jv_string("label"));
	if (jv_get_kind(text) != JV_KIND_STRING)
		status = fail(error, path, lineno, "text: expected a string");
	for (k = 0; status == 0 && k < 3; k++)
		if (jv_get_kind(label) == JV_KIND_STRING &&
		    strcmp(jv_string_value(label), labels[k]) == 0)
			break;
	if (status == 0 && k == 3)
		status = fail(error, path, lineno, "label: expected "
		              "positive, neutral or negative");
	if (status == 0)
		add_example(ex, jv_string_value(text), k);
	jv_free(text);
	jv_free(label);
	return status;
}

static int read_examples(FILE *file, const char *path, struct examples *ex,
                         char **error)
{
	char *line = NULL;
	size_t capacity = 0;
	unsigned long lineno = 0;
	ssize_t length;
	int status = 0;

	while (status == 0 &&
	       (length = getline(&line, &capacity, file)) >= 0) {
		size_t n = (size_t)length;
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' ||
		                 line[n - 1] == ' ' || line[n - 1] == '\t'))
			n--;
		if (n == 0 || line[0] == '#')
			continue;
		status = parse_example(ex, line, n, path, lineno, error);
	}
	free(line);
	return status;
}

static void free_examples(struct examples *ex)
{
	for (size_t i = 0; i < ex->count; i++)
		free(ex->texts[i]);
	free(ex->texts);
	free(ex->labels);
}

struct mas_sentiment *mas_sentiment_train_file(const char *path,
                                               char **error)
{
	struct examples ex = { 0 };
	struct mas_sentiment *model = NULL;
	FILE *file = fopen(path, "r");

	*error = NULL;
	if (!file) {
		if (asprintf(error, "%s: %s", path, strerror(errno)) < 0)
			*error = NULL;
		return NULL;
	}
	if (read_examples(file, path, &ex, error) == 0) {
		for (size_t k = 0; k < 3 && !*error; k++)
			if (ex.per_label[k] == 0 &&
			    asprintf(error, "%s: no example labelled %s",
			             path, labels[k]) < 0)
				*error = strdup("no examples");
	}
	fclose(file);
	if (!*error) {
		model = calloc(1, sizeof(*model));
		if (!model)
			mas_die(MAS_EXIT_IO, "out of memory");
		model->classifier = mas_classify_train(
			(const char *const *)ex.texts, ex.labels, ex.count, 3,
			NULL);
		model->examples = ex.count;
	}
	free_examples(&ex);
	return model;
}

unsigned long mas_sentiment_examples(const struct mas_sentiment *model)
{
	return model->examples;
}

const char *mas_sentiment_analyse(const struct mas_sentiment *model,
                                  const char *text, double *score)
{
	double probs[3];
	size_t best;

	if (!model) {
		*score = mas_sentiment_lexicon(text);
		return mas_sentiment_label(*score);
	}
	best = mas_classify_predict(model->classifier, text, probs);
	*score = probs[2] - probs[0];
	return labels[best];
}

void mas_sentiment_free(struct mas_sentiment *model)
{
	if (!model)
		return;
	mas_classify_free(model->classifier);
	free(model);
}
