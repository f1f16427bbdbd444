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
#include <strings.h>

#include <jv.h>

#include "classify.h"
#include "clock.h"
#include "dataset.h"
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
	/* English words VADER's and Hu and Liu's lists rate that, in a
	 * request to customer service, are no opinion ("please help",
	 * "cancel my plan", "is it free") */
	{ "help", POLAR, 0 }, { "please", POLAR, 0 }, { "ok", POLAR, 0 },
	{ "okay", POLAR, 0 }, { "alright", POLAR, 0 }, { "yes", POLAR, 0 },
	{ "sure", POLAR, 0 }, { "support", POLAR, 0 }, { "free", POLAR, 0 },
	{ "want", POLAR, 0 }, { "cancel", POLAR, 0 }, { "stop", POLAR, 0 },
	{ "limit", POLAR, 0 }, { "limits", POLAR, 0 },
	{ "refund", POLAR, 0 }, { "set up", POLAR, 0 },
	{ "ready", POLAR, 0 }, { "welcome", POLAR, 0 },
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
	/* the rest of VADER's negators, and their forms without the
	 * apostrophe that reviews often drop */
	{ "wouldn't", NEGATOR, 0 }, { "shouldn't", NEGATOR, 0 },
	{ "haven't", NEGATOR, 0 }, { "hasn't", NEGATOR, 0 },
	{ "hadn't", NEGATOR, 0 }, { "weren't", NEGATOR, 0 },
	{ "mustn't", NEGATOR, 0 }, { "mightn't", NEGATOR, 0 },
	{ "needn't", NEGATOR, 0 }, { "shan't", NEGATOR, 0 },
	{ "ain't", NEGATOR, 0 }, { "nor", NEGATOR, 0 },
	{ "none", NEGATOR, 0 }, { "nowhere", NEGATOR, 0 },
	{ "rarely", NEGATOR, 0 }, { "seldom", NEGATOR, 0 },
	{ "dont", NEGATOR, 0 }, { "doesnt", NEGATOR, 0 },
	{ "didnt", NEGATOR, 0 }, { "isnt", NEGATOR, 0 },
	{ "wasnt", NEGATOR, 0 }, { "arent", NEGATOR, 0 },
	{ "cant", NEGATOR, 0 }, { "couldnt", NEGATOR, 0 },
	{ "wouldnt", NEGATOR, 0 }, { "shouldnt", NEGATOR, 0 },
	{ "havent", NEGATOR, 0 }, { "hasnt", NEGATOR, 0 },
	{ "hadnt", NEGATOR, 0 }, { "werent", NEGATOR, 0 },
	{ "aint", NEGATOR, 0 }, { "no longer", NEGATOR, 0 },
	{ "very", BOOSTER, 1.5 }, { "really", BOOSTER, 1.5 },
	{ "so", BOOSTER, 1.4 }, { "extremely", BOOSTER, 1.8 },
	{ "totally", BOOSTER, 1.5 }, { "absolutely", BOOSTER, 1.6 },
	{ "completely", BOOSTER, 1.5 }, { "super", BOOSTER, 1.5 },
	{ "too", BOOSTER, 1.3 }, { "incredibly", BOOSTER, 1.7 },
	{ "most", BOOSTER, 1.3 }, { "utterly", BOOSTER, 1.7 },
	{ "slightly", BOOSTER, 0.6 }, { "somewhat", BOOSTER, 0.7 },
	{ "a bit", BOOSTER, 0.7 }, { "kind of", BOOSTER, 0.7 },
	{ "a little", BOOSTER, 0.7 },
	/* VADER's degree adverbs that its lexicon also rates as words
	 * ("pretty", "quite"): here they only scale the next one */
	{ "pretty", BOOSTER, 1.3 }, { "quite", BOOSTER, 1.3 },
	{ "highly", BOOSTER, 1.5 }, { "especially", BOOSTER, 1.4 },
	{ "exceptionally", BOOSTER, 1.6 }, { "remarkably", BOOSTER, 1.5 },
	{ "truly", BOOSTER, 1.4 }, { "deeply", BOOSTER, 1.5 },
	{ "thoroughly", BOOSTER, 1.5 }, { "hugely", BOOSTER, 1.5 },
	{ "barely", BOOSTER, 0.5 }, { "marginally", BOOSTER, 0.6 },
	{ "sort of", BOOSTER, 0.7 }, { "almost", BOOSTER, 0.7 },
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
	/* Chinese words of product and hotel reviews HowNet's lists
	 * lack (一般: "only average", the mildest complaint) */
	{ "脏", POLAR, -2.0 }, { "吵", POLAR, -1.6 }, { "臭", POLAR, -2.0 },
	{ "坏", POLAR, -1.8 }, { "差评", POLAR, -2.4 },
	{ "物美价廉", POLAR, 2.4 }, { "值得推荐", POLAR, 2.4 },
	{ "宽敞", POLAR, 1.6 }, { "破损", POLAR, -1.8 },
	{ "异味", POLAR, -1.8 }, { "划痕", POLAR, -1.2 },
	{ "一般", POLAR, -0.6 },
	/* Chinese words HowNet's lists rate that are no opinion in a
	 * request, or (辛苦, toil) thanks */
	{ "拜拜", POLAR, 0 }, { "适合", POLAR, 0 }, { "了解", POLAR, 0 },
	{ "退回", POLAR, 0 }, { "取消", POLAR, 0 }, { "正式", POLAR, 0 },
	{ "推荐", POLAR, 0 }, { "升级", POLAR, 0 }, { "辛苦", POLAR, 0 },
	{ "自动", POLAR, 0 }, { "基础", POLAR, 0 },
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
	/* The lists made from VADER's English lexicon and HowNet's Chinese
	 * word set (lib/sentiment-lexicon.tsv, its sources and licences in
	 * lib/sentiment-lexicon.README): after the entries above, which
	 * win where both have a text. */
#include "sentiment-lexicon.inc"
	{ NULL, POLAR, 0 },
};

/* A weight of the review model: a folded word, or two words and a
 * space, and its weight toward positive; "<bias>" is the bias term. */
struct weight {
	const char *text;
	double weight;
};

/* The model the lexicon falls back on when it finds no opinion
 * (lib/sentiment-model.tsv, made by lib/sentiment-model.sh; its corpus
 * and licence in lib/sentiment-model.README). */
static const struct weight review_model[] = {
#include "sentiment-model.inc"
	{ NULL, 0 },
};

#define LEXICON_SIZE (sizeof(lexicon) / sizeof(lexicon[0]) - 1)
#define MODEL_SIZE (sizeof(review_model) / sizeof(review_model[0]) - 1)
#define MODEL_TABLE_SIZE 16384 /* a power of two, over twice the weights */
_Static_assert(MODEL_TABLE_SIZE >= 2 * MODEL_SIZE,
               "MODEL_TABLE_SIZE too small");

/* The model's score at or beyond which it speaks for a message the
 * lexicon finds neutral: nearer 0 it is too unsure, and a command
 * ("get me a person") it reads as a complaint, which is all reviews
 * taught it.  0.15 keeps 139 of the 144 held-out chat messages right
 * (0.2: 140, 0.1: 134) and makes 0.800 of the 300 held-out reviews
 * right (0.787, 0.823): tests/bench/bench-sentiment.sh. */
#define MODEL_CUT 0.15
#define TABLE_SIZE 65536 /* a power of two, over twice the entries */
_Static_assert(TABLE_SIZE >= 2 * LEXICON_SIZE, "TABLE_SIZE too small");

/* Entries by hash of their text, built once: a message is looked up
 * several times per word, and 20,000 messages a second leave no time
 * for a linear scan.  The first entry of a text wins ("好" is POLAR
 * before it is a BOOSTER); ALT names the BOOSTER reading of a POLAR
 * entry, used when a sentiment word follows ("好贵": very expensive). */
static int32_t table[TABLE_SIZE];
static int32_t alt[LEXICON_SIZE];
static int32_t model_table[MODEL_TABLE_SIZE];
static double model_bias;
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

/* The model's weights by hash of their text (each text is there once,
 * the generator says so). */
static void build_model_table(void)
{
	for (size_t i = 0; i < MODEL_TABLE_SIZE; i++)
		model_table[i] = -1;
	for (size_t i = 0; i < MODEL_SIZE; i++) {
		uint32_t slot = hash_text(review_model[i].text,
		                          strlen(review_model[i].text));
		if (strcmp(review_model[i].text, "<bias>") == 0)
			model_bias = review_model[i].weight;
		while (model_table[slot & (MODEL_TABLE_SIZE - 1)] >= 0)
			slot++;
		model_table[slot & (MODEL_TABLE_SIZE - 1)] = (int32_t)i;
	}
}

static void build_table(void)
{
	build_model_table();
	for (size_t i = 0; i < TABLE_SIZE; i++)
		table[i] = -1;
	for (size_t i = 0; i < LEXICON_SIZE; i++) {
		size_t length = strlen(lexicon[i].text);
		uint32_t slot = hash_text(lexicon[i].text, length);
		alt[i] = -1;
		for (;; slot++) {
			int32_t *at = &table[slot & (TABLE_SIZE - 1)];
			if (*at < 0) {
				*at = (int32_t)i;
				break;
			}
			if (strcmp(lexicon[*at].text, lexicon[i].text) == 0) {
				if (lexicon[i].kind == BOOSTER)
					alt[*at] = (int32_t)i;
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
		int32_t at = table[slot & (TABLE_SIZE - 1)];
		if (at < 0)
			return NULL;
		if (strlen(lexicon[at].text) == length &&
		    memcmp(lexicon[at].text, text, length) == 0)
			return &lexicon[at];
	}
}

/* The model's weight of TEXT (LENGTH bytes), or NULL; the tables are
 * built (lookup's pthread_once) before. */
static const struct weight *model_lookup(const char *text, size_t length)
{
	uint32_t slot = hash_text(text, length);

	for (;; slot++) {
		int32_t at = model_table[slot & (MODEL_TABLE_SIZE - 1)];
		if (at < 0)
			return NULL;
		if (strlen(review_model[at].text) == length &&
		    memcmp(review_model[at].text, text, length) == 0)
			return &review_model[at];
	}
}

/* The BOOSTER reading of E, or NULL. */
static const struct entry *booster_form(const struct entry *e)
{
	int32_t i = alt[e - lexicon];

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

/* Longest lexicon entry (up to six characters) at S within a Han run
 * ending at END; advances *S past it, or past one character. */
static void han_unit(struct units *u, const char **s, const char *end)
{
	const struct entry *best = NULL;
	size_t best_length = 0, length = 0;

	for (int chars = 0; chars < 6 && *s + length < end; chars++) {
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

static int is_model_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '\'';
}

/* The model's word at or after *S in FOLDED: its start, its length in
 * *LENGTH, *S past it; NULL at the end.  Whatever is not a letter a-z,
 * a digit or an apostrophe separates, as in lib/sentiment-model.sh. */
static const char *model_word(const char **s, size_t *length)
{
	const char *start = *s;

	while (*start && !is_model_char(*start))
		start++;
	if (!*start)
		return NULL;
	*s = start;
	while (is_model_char(**s))
		(*s)++;
	*length = (size_t)(*s - start);
	return start;
}

/* Adds the weight of TEXT (LENGTH bytes), if the model has one, to *SUM
 * and counts it in *KNOWN. */
static void model_add(const char *text, size_t length, double *sum,
                      size_t *known)
{
	const struct weight *w = model_lookup(text, length);

	if (w) {
		*sum += w->weight;
		(*known)++;
	}
}

/*
 * The review model's score of FOLDED, P(positive) - P(negative), into
 * *SCORE: logistic regression over its words and pairs of adjacent
 * words, each occurrence valued 1/sqrt(N), N the occurrences it knows.
 * Returns 0 when it knows none of them (then it has nothing to say).
 */
static int model_score(const char *folded, double *score)
{
	const char *s = folded, *word, *previous = NULL;
	size_t length, previous_length = 0, known = 0;
	double sum = 0, z;
	char pair[128];

	pthread_once(&table_once, build_table);
	while ((word = model_word(&s, &length)) != NULL) {
		model_add(word, length, &sum, &known);
		if (previous && previous_length + 1 + length < sizeof(pair)) {
			memcpy(pair, previous, previous_length);
			pair[previous_length] = ' ';
			memcpy(pair + previous_length + 1, word, length);
			model_add(pair, previous_length + 1 + length, &sum,
			          &known);
		}
		previous = word;
		previous_length = length;
	}
	if (known == 0)
		return 0;
	z = model_bias + sum / sqrt((double)known);
	*score = 2 / (1 + exp(-z)) - 1;
	return 1;
}

/* Whether U holds a greeting or a request word that the written
 * entries hold neutral ("please", "cancel", "refund", 你好, 取消, ...:
 * weight 0, which no generated entry has). */
static int holds_request(const struct units *u)
{
	for (size_t i = 0; i < u->count; i++)
		if (u->items[i].entry && u->items[i].entry->kind == POLAR &&
		    u->items[i].entry->weight == 0)
			return 1;
	return 0;
}

/* The lexicon's score of TEXT, FOLDED its folded form (borrowed); when
 * it is neutral, the review model's if that is sure enough, but never
 * for a question or a request (the model learnt opinions). */
static double lexicon_score(const char *text, const char *folded)
{
	struct units u = { 0 };
	size_t bangs = count_exclamations(text);
	int question = is_question(text, folded), request;
	double sum, score, model_says;

	split_units(folded, &u);
	request = holds_request(&u);
	sum = valence(&u, question ? 0.3 : 1);
	if (bangs > 0)
		sum *= 1 + 0.1 * (double)(bangs > 3 ? 3 : bangs);
	free(u.items);
	score = sum / sqrt(sum * sum + 15);
	if (fabs(score) < MAS_SENTIMENT_CUT && !question && !request &&
	    model_score(folded, &model_says) &&
	    fabs(model_says) >= MODEL_CUT)
		score = copysign(MAS_SENTIMENT_CUT + (1 - MAS_SENTIMENT_CUT) *
		                 (fabs(model_says) - MODEL_CUT) /
		                 (1 - MODEL_CUT), model_says);
	return score;
}

double mas_sentiment_lexicon(const char *text)
{
	char *folded = mas_classify_fold(text, strlen(text));
	double score = lexicon_score(text, folded);

	free(folded);
	return score;
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
	struct mas_sentiment_report report;
};

/* One label value mapped to a class by --label-map. */
struct mapping {
	char *value;
	size_t label;
};

/* The examples of a training file, one after the other. */
struct reader {
	const struct mas_sentiment_source *source;
	FILE *file;
	FILE *copy;                /* a pipe's lines, for the second pass */
	char separator;            /* ',' or '\t'; 0 for JSON Lines */
	int text_column, label_column, columns;
	unsigned long lineno, at;  /* lines read; the example's line */
	char *line;
	size_t line_capacity, length;
	jv text, label;            /* the current example's */
	struct mapping *map;
	size_t map_count;
	char **error;
};

static int fail(char **error, const char *path, unsigned long line,
                const char *what)
{
	if (asprintf(error, "%s:%lu: %s", path, line, what) < 0)
		*error = NULL;
	return -1;
}

/* The class a label's name says, or 3. */
static size_t label_named(const char *name)
{
	static const char *const names[] = { "negative", "neg", "neutral",
		                             "neu", "positive", "pos" };

	for (size_t i = 0; i < 6; i++)
		if (strcmp(name, names[i]) == 0)
			return i / 2;
	return 3;
}

/* "1=positive,0=negative" into R's map; -1 with *ERROR on a bad one. */
static int parse_map(struct reader *r, const char *text)
{
	char *copy = strdup(text), *item, *rest = copy;
	int status = 0;

	if (!copy)
		mas_die(MAS_EXIT_IO, "out of memory");
	while (status == 0 && (item = strsep(&rest, ",")) != NULL) {
		char *equals = strrchr(item, '=');
		size_t label = equals ? label_named(equals + 1) : 3;
		if (!equals || equals == item || label == 3) {
			if (asprintf(r->error, "--label-map: '%s' is not "
			             "VALUE=positive, neutral or negative",
			             item) < 0)
				*r->error = NULL;
			status = -1;
			break;
		}
		*equals = '\0';
		r->map = realloc(r->map, (r->map_count + 1) * sizeof(*r->map));
		if (!r->map)
			mas_die(MAS_EXIT_IO, "out of memory");
		r->map[r->map_count].value = strdup(item);
		r->map[r->map_count++].label = label;
	}
	free(copy);
	return status;
}

static const char *text_field(const struct reader *r)
{
	return r->source->text_field ? r->source->text_field : "text";
}

static const char *label_field(const struct reader *r)
{
	return r->source->label_field ? r->source->label_field : "label";
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

/* The next line into R->line (its line break kept), copied for the
 * second pass when the file is a pipe.  Returns 0, or -1 at the end. */
static int next_line(struct reader *r)
{
	ssize_t length = getline(&r->line, &r->line_capacity, r->file);

	if (length < 0)
		return -1;
	r->lineno++;
	r->length = (size_t)length;
	if (r->copy)
		fwrite(r->line, 1, r->length, r->copy);
	return 0;
}

/* Whether the text holds an odd number of quotes: a CSV record that goes
 * on on the next line. */
static int open_quote(const char *text, size_t length)
{
	size_t quotes = 0;

	for (size_t i = 0; i < length; i++)
		quotes += text[i] == '"';
	return quotes % 2;
}

/* One CSV or TSV record, over as many lines as its quotes span, into an
 * array of cells; jv_null() at the end of the file. */
static jv next_record(struct reader *r)
{
	char *record = NULL, *p;
	size_t length = 0;
	unsigned long lines = 0;
	jv cells;

	while (next_line(r) == 0) {
		record = realloc(record, length + r->length + 1);
		if (!record)
			mas_die(MAS_EXIT_IO, "out of memory");
		memcpy(record + length, r->line, r->length + 1);
		length += r->length;
		if (lines++ == 0)
			r->at = r->lineno;
		if (!open_quote(record, length))
			break;
	}
	if (!record)
		return jv_null();
	p = record;
	lines = 0;
	cells = mas_dataset_csv_record(&p, record + length, r->separator,
	                               &lines);
	free(record);
	return cells;
}

/* The column named NAME in the header HEADER (borrowed), or -1. */
static int column(jv header, const char *name)
{
	jv_array_foreach(header, i, cell) {
		int found = strcmp(jv_string_value(cell), name) == 0;
		jv_free(cell);
		if (found)
			return i;
	}
	return -1;
}

static int read_header(struct reader *r)
{
	jv header = next_record(r);
	const char *path = r->source->path;
	int status = 0;

	if (jv_get_kind(header) != JV_KIND_ARRAY) {
		jv_free(header);
		return fail(r->error, path, 1, "no header line");
	}
	r->columns = jv_array_length(jv_copy(header));
	r->text_column = column(header, text_field(r));
	r->label_column = column(header, label_field(r));
	if (r->text_column < 0 || r->label_column < 0) {
		char *what = NULL;
		if (asprintf(&what, "no column named '%s' in the header "
		             "(--%s-field)", r->text_column < 0
		             ? text_field(r) : label_field(r),
		             r->text_column < 0 ? "text" : "label") < 0)
			what = NULL;
		status = fail(r->error, path, r->at, what ? what : "header");
		free(what);
	}
	jv_free(header);
	return status;
}

static int reader_open(struct reader *r, const struct mas_sentiment_source
                                                 *source, char **error)
{
	memset(r, 0, sizeof(*r));
	r->source = source;
	r->error = error;
	r->text = jv_null();
	r->label = jv_null();
	if (source->label_map && parse_map(r, source->label_map))
		return -1;
	r->file = fopen(source->path, "r");
	if (!r->file) {
		if (asprintf(error, "%s: %s", source->path,
		             strerror(errno)) < 0)
			*error = NULL;
		return -1;
	}
	if (fseek(r->file, 0, SEEK_CUR) != 0) {
		/* a pipe: its lines go to a temporary file as they pass */
		r->copy = tmpfile();
		if (!r->copy)
			return fail(error, source->path, 0, strerror(errno));
	}
	if (ends_with(source->path, ".csv"))
		r->separator = ',';
	else if (ends_with(source->path, ".tsv") ||
	         ends_with(source->path, ".tab"))
		r->separator = '\t';
	return r->separator ? read_header(r) : 0;
}

/* Back to the first example, for the second pass. */
static int reader_rewind(struct reader *r)
{
	if (r->copy) {
		fclose(r->file);
		r->file = r->copy;
		r->copy = NULL;
		if (fflush(r->file) != 0)
			return fail(r->error, r->source->path, 0,
			            strerror(errno));
	}
	rewind(r->file);
	r->lineno = 0;
	return r->separator ? read_header(r) : 0;
}

static void reader_close(struct reader *r)
{
	if (r->file)
		fclose(r->file);
	if (r->copy)
		fclose(r->copy);
	for (size_t i = 0; i < r->map_count; i++)
		free(r->map[i].value);
	free(r->map);
	free(r->line);
	jv_free(r->text);
	jv_free(r->label);
}

/* The next JSON Lines example into R->text and R->label: 1, 0 at the
 * end, -1 with *ERROR. */
static int next_json(struct reader *r)
{
	const char *path = r->source->path;
	size_t n = 0;
	jv value;

	while (n == 0) {
		if (next_line(r) < 0)
			return 0;
		n = r->length;
		while (n > 0 && strchr("\r\n \t", r->line[n - 1]))
			n--;
		if (r->line[0] == '#')
			n = 0;
	}
	r->at = r->lineno;
	if (mas_utf8_invalid_offset(r->line, n) != n)
		return fail(r->error, path, r->at, "not valid UTF-8");
	value = jv_parse_sized(r->line, (int)n);
	if (!jv_is_valid(value)) {
		jv_free(value);
		return fail(r->error, path, r->at, "not valid JSON");
	}
	if (jv_get_kind(value) != JV_KIND_OBJECT) {
		jv_free(value);
		return fail(r->error, path, r->at, "expected a JSON object");
	}
	r->text = jv_object_get(jv_copy(value), jv_string(text_field(r)));
	r->label = jv_object_get(value, jv_string(label_field(r)));
	return 1;
}

/* The next CSV or TSV example, as next_json. */
static int next_cells(struct reader *r)
{
	jv cells;
	int count;

	for (;;) {
		cells = next_record(r);
		if (jv_get_kind(cells) != JV_KIND_ARRAY)
			return 0;
		count = jv_array_length(jv_copy(cells));
		if (count > 1 || jv_string_length_bytes(
		                         jv_array_get(jv_copy(cells), 0)) > 0)
			break;
		jv_free(cells); /* a blank line */
	}
	if (count != r->columns) {
		char what[80];
		snprintf(what, sizeof(what), "%d cells, but the header has %d",
		         count, r->columns);
		jv_free(cells);
		return fail(r->error, r->source->path, r->at, what);
	}
	r->text = jv_array_get(jv_copy(cells), r->text_column);
	r->label = jv_array_get(cells, r->label_column);
	if (mas_utf8_invalid_offset(jv_string_value(r->text),
	                            (size_t)jv_string_length_bytes(
	                                    jv_copy(r->text))) !=
	    (size_t)jv_string_length_bytes(jv_copy(r->text)))
		return fail(r->error, r->source->path, r->at,
		            "not valid UTF-8");
	return 1;
}

/* The class of R->label: by --label-map, else by name; 3 when none. */
static size_t map_label(const struct reader *r, const char *name)
{
	if (r->map_count == 0)
		return label_named(name);
	for (size_t i = 0; i < r->map_count; i++)
		if (strcmp(r->map[i].value, name) == 0)
			return r->map[i].label;
	return 3;
}

/* R->label as text: a string as it is, a number as JSON writes it. */
static jv label_text(jv label)
{
	if (jv_get_kind(label) == JV_KIND_STRING)
		return label;
	if (jv_get_kind(label) == JV_KIND_NUMBER ||
	    jv_get_kind(label) == JV_KIND_TRUE ||
	    jv_get_kind(label) == JV_KIND_FALSE)
		return jv_dump_string(label, 0);
	jv_free(label);
	return jv_invalid();
}

/* The next example: 1 with its text in *TEXT (valid until the next
 * call) and its class in *LABEL, 0 at the end, -1 with *ERROR. */
static int next_example(struct reader *r, const char **text, size_t *label)
{
	const char *path = r->source->path;
	int status;
	jv name;

	jv_free(r->text);
	jv_free(r->label);
	r->text = r->label = jv_null();
	status = r->separator ? next_cells(r) : next_json(r);
	if (status <= 0)
		return status;
	if (jv_get_kind(r->text) != JV_KIND_STRING) {
		char *what = NULL;
		status = asprintf(&what, "%s: expected a string",
		                  text_field(r));
		fail(r->error, path, r->at, status < 0 ? "text" : what);
		free(what);
		return -1;
	}
	name = label_text(r->label);
	r->label = jv_null();
	*label = jv_is_valid(name) ? map_label(r, jv_string_value(name)) : 3;
	if (*label == 3) {
		char *what = NULL;
		status = asprintf(&what, "%s: '%s' is not %s", label_field(r),
		                  jv_is_valid(name) ? jv_string_value(name)
		                                    : "a string",
		                  r->map_count ? "in --label-map"
		                               : "positive, neutral or "
		                                 "negative (see --label-map)");
		fail(r->error, path, r->at, status < 0 ? "label" : what);
		free(what);
		jv_free(name);
		return -1;
	}
	jv_free(name);
	*text = jv_string_value(r->text);
	return 1;
}

/* The first pass: every example checked and counted. */
static int count_pass(struct reader *r, struct mas_classify_stream *stream,
                      struct mas_sentiment_report *report)
{
	const char *text;
	size_t label;
	int status;

	while ((status = next_example(r, &text, &label)) > 0) {
		mas_classify_stream_count(stream, text, label);
		report->per_label[label]++;
		report->examples++;
	}
	if (status < 0)
		return -1;
	for (size_t k = 0; k < 3; k += 2)
		if (report->per_label[k] == 0) {
			if (asprintf(r->error, "%s: no example labelled %s "
			             "(training needs positive and negative "
			             "ones, neutral ones too for three labels)",
			             r->source->path, labels[k]) < 0)
				*r->error = NULL;
			return -1;
		}
	return 0;
}

static int add_pass(struct reader *r, struct mas_classify_stream *stream)
{
	const char *text;
	size_t label;
	int status;

	if (reader_rewind(r))
		return -1;
	while ((status = next_example(r, &text, &label)) > 0)
		mas_classify_stream_add(stream, text, label);
	return status;
}

struct mas_sentiment *mas_sentiment_train_file(
	const struct mas_sentiment_source *source, char **error)
{
	struct mas_sentiment_report report = { 0 };
	struct mas_classify_stream *stream;
	struct mas_sentiment *model;
	struct reader r;
	double start = mas_clock_monotonic();
	int status;

	*error = NULL;
	status = reader_open(&r, source, error);
	stream = mas_classify_stream_new(3, 0, NULL);
	if (status == 0)
		status = count_pass(&r, stream, &report);
	if (status == 0)
		status = add_pass(&r, stream);
	reader_close(&r);
	if (status == 0)
		report.nodes = mas_classify_stream_nodes(stream);
	model = calloc(1, sizeof(*model));
	if (!model)
		mas_die(MAS_EXIT_IO, "out of memory");
	if (status == 0)
		model->classifier = mas_classify_stream_finish(stream);
	else
		mas_classify_free(mas_classify_stream_finish(stream));
	if (!model->classifier) {
		if (!*error && asprintf(error, "%s: no examples",
		                        source->path) < 0)
			*error = NULL;
		free(model);
		return NULL;
	}
	report.binary = report.per_label[1] == 0;
	report.features = mas_classify_feature_count(model->classifier);
	report.seconds = mas_clock_monotonic() - start;
	model->report = report;
	return model;
}

const struct mas_sentiment_report *mas_sentiment_report(
	const struct mas_sentiment *model)
{
	return &model->report;
}

const char *mas_sentiment_analyse(const struct mas_sentiment *model,
                                  const char *text, const char *folded,
                                  double *score)
{
	double probs[3];
	size_t best;

	if (!model) {
		*score = folded ? lexicon_score(text, folded)
		                : mas_sentiment_lexicon(text);
		return mas_sentiment_label(*score);
	}
	best = mas_classify_predict(model->classifier, text, probs);
	*score = probs[2] - probs[0];
	/* Without neutral examples the model never names neutral: an
	 * unsure score is neutral, as the lexicon's is. */
	return model->report.binary ? mas_sentiment_label(*score)
	                            : labels[best];
}

void mas_sentiment_free(struct mas_sentiment *model)
{
	if (!model)
		return;
	mas_classify_free(model->classifier);
	free(model);
}
