/*
 * qrels-gen — a retrieval test collection with relevance judgments, for
 * tests/bench/bench-retrieval.sh (and anyone measuring mas-research's
 * ranking).
 *
 * usage: qrels-gen DIR DOCUMENTS [SEED [UNANSWERABLE]]
 *
 * Writes, in BEIR's layout:
 *   DIR/corpus.jsonl   {"_id", "title", "text"}, one document a line
 *   DIR/queries.jsonl  {"_id", "text"}, one query per topic
 *   DIR/qrels.tsv      query id, document id, grade (1 or 2)
 *
 * The documents come from topics, one in eight Chinese, the rest in a
 * made-up English (syllables, with English inflections: -s, -ing, -ed).
 * Each topic's 40 words are drawn from a pool of content words, 8 per
 * topic, so each word serves about five topics: a query word also leads
 * to documents of other topics (the hard negatives every real collection
 * has), and only documents holding several query words stand out.  A
 * document is about one topic: its title mostly topic words, its 1 to 6
 * paragraphs a mixture of background words (Zipf over 5,000, or 3,000
 * in Chinese), words of its topic (a share from 4 % to 30 %, drawn per
 * document, Zipf over the topic's 40) and 3 % content words of any
 * topic.  A query is 2 to 4 of its topic's 15 most frequent words, each
 * inflected anew, so that only a stemmer matches "ralots" with
 * "raloting"; the documents of its topic are relevant, grade 2 when the
 * topic's share in them is at least 15 %.  About 50 documents per topic:
 * DOCUMENTS / 50 topics and queries.
 *
 * With UNANSWERABLE > 0 it also writes DIR/judged.jsonl, a judged set
 * for mas-research's confidence (tests/bats/research-judged.bats):
 * {"id", "query", "answerable"}, every topic's query (answerable: the
 * corpus holds its documents) and then UNANSWERABLE queries of topics
 * the corpus does not hold.  Such a topic is a neighbour of one that is
 * held: half its words are the held topic's, half from the pool, and its
 * query of 3 or 4 words has at least one of the first and two of the
 * second, so that the documents of the neighbour match part of it (as
 * "lithium mining in Chile" meets a corpus about lithium batteries) and
 * the documents of other topics another part.  A query that happened
 * to match a held topic whole would be answerable: two words of the
 * pool share a topic about once in forty.  All of this is drawn after the
 * collection itself, which stays byte for byte what it is without it.
 *
 * A fixed-seed generator (splitmix64): same arguments, same bytes on
 * any machine.  Made for this project (public domain, as the rest of its
 * test data).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKGROUND 5000
#define BACKGROUND_ZH 3000
#define TOPIC_WORDS 40
#define POOL_PER_TOPIC 8
#define NOISE 0.03
#define PER_TOPIC 50

static uint64_t state;

static double uniform(void)
{
	uint64_t z = (state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return (double)(z >> 11) / 9007199254740992.0;
}

static int below(int n)
{
	return (int)(uniform() * n);
}

/* Zipf's law over ranks 0..n-1: the cumulative weights. */
struct zipf {
	double *cumulative;
	int n;
};

static void zipf_init(struct zipf *z, int n, double s)
{
	double sum = 0;

	z->n = n;
	z->cumulative = malloc((size_t)n * sizeof(double));
	if (!z->cumulative)
		exit(1);
	for (int i = 0; i < n; i++) {
		sum += 1 / pow(i + 1, s);
		z->cumulative[i] = sum;
	}
}

static int zipf_draw(const struct zipf *z)
{
	double x = uniform() * z->cumulative[z->n - 1];
	int low = 0, high = z->n - 1;

	while (low < high) {
		int mid = (low + high) / 2;
		if (z->cumulative[mid] < x)
			low = mid + 1;
		else
			high = mid;
	}
	return low;
}

/* A made-up English stem for number N of a KIND (0 background, 1 topic
 * words): distinct numbers, distinct stems. */
static void stem(char *out, unsigned n, int kind)
{
	static const char *const onset[] = { "b", "k", "r", "t", "m", "s",
		"l", "v", "n", "d", "g", "p", "f", "h", "z", "w" };
	static const char *const vowel[] = { "a", "o", "i", "u", "e" };
	static const char *const coda[] = { "t", "n", "r", "l", "m", "k",
		"d", "p" };
	size_t len = 0;
	int syllables = kind ? 3 : 2;

	/* one more syllable for the numbers a short stem cannot hold */
	if (!kind && n >= 16 * 5 * 16 * 5)
		syllables = 3;
	for (int i = 0; i < syllables; i++) {
		len += (size_t)sprintf(out + len, "%s%s", onset[n % 16],
		                       vowel[(n / 16) % 5]);
		n /= 80;
	}
	sprintf(out + len, "%s", coda[(n + (unsigned)kind * 3) % 8]);
}

/* Chinese word N of a KIND: two characters from a block of its own. */
static void word_zh(char *out, unsigned n, int kind)
{
	unsigned base = kind ? 0x6000 : 0x4E00, span = kind ? 0x2000 : 0x1000;
	unsigned c[2] = { base + (n * 7919u) % span,
		          base + (n * 104729u + 17) % span };
	size_t len = 0;

	for (int i = 0; i < 2; i++) {
		out[len++] = (char)(0xE0 | (c[i] >> 12));
		out[len++] = (char)(0x80 | ((c[i] >> 6) & 0x3F));
		out[len++] = (char)(0x80 | (c[i] & 0x3F));
	}
	out[len] = '\0';
}

struct collection {
	int topics, pool;
	unsigned *words;       /* each topic's TOPIC_WORDS, from the pool */
	struct zipf background, background_zh, topic;
	FILE *corpus, *qrels;
};

static int chinese(int topic)
{
	return topic % 8 == 7;
}

/* Word R (a rank) of TOPIC. */
static unsigned topic_word(const struct collection *c, int topic, int r)
{
	return c->words[topic * TOPIC_WORDS + r];
}

/* Each topic's words, distinct, drawn from the pool. */
static void draw_topics(struct collection *c)
{
	c->pool = c->topics * POOL_PER_TOPIC;
	c->words = malloc((size_t)c->topics * TOPIC_WORDS * sizeof(unsigned));
	if (!c->words)
		exit(1);
	for (int t = 0; t < c->topics; t++)
		for (int r = 0; r < TOPIC_WORDS; r++) {
			unsigned w;
			int again;
			do {
				w = (unsigned)below(c->pool);
				again = 0;
				for (int j = 0; j < r; j++)
					again |= c->words[t * TOPIC_WORDS +
					                  j] == w;
			} while (again);
			c->words[t * TOPIC_WORDS + r] = w;
		}
}

/* Appends word N of KIND to OUT, inflected when English. */
static void put_word(FILE *out, unsigned n, int kind, int zh, int inflect)
{
	static const char *const endings[] = { "", "", "s", "s", "ing",
		"ed" };
	char text[64];

	if (zh) {
		word_zh(text, n, kind);
		fputs(text, out);
		return;
	}
	stem(text, n, kind);
	fprintf(out, "%s%s", text, inflect ? endings[below(6)] : "");
}

/* One word of a document of TOPIC whose topic share is SHARE. */
static void doc_word(const struct collection *c, FILE *out, int topic,
                     double share)
{
	int zh = chinese(topic);
	double x = uniform();

	if (x < share) {
		int r = zipf_draw(&c->topic);
		put_word(out, topic_word(c, topic, r), 1, zh, 1);
	} else if (x < share + NOISE) {
		put_word(out, (unsigned)below(c->pool), 1, zh, 1);
	} else {
		put_word(out, (unsigned)zipf_draw(zh ? &c->background_zh
		                                     : &c->background),
		         0, zh, 1);
	}
}

static void document(const struct collection *c, int number, int topic)
{
	int zh = chinese(topic);
	double share = 0.04 + 0.26 * uniform();
	int words = 2 + below(4), paragraphs = 1;

	while (paragraphs < 6 && uniform() < 0.55)
		paragraphs++;
	fprintf(c->corpus, "{\"_id\":\"d%06d\",\"title\":\"", number);
	for (int i = 0; i < words; i++) {
		if (i && !zh)
			fputc(' ', c->corpus);
		if (uniform() < 0.6)
			put_word(c->corpus, topic_word(c, topic,
			                               zipf_draw(&c->topic)),
			         1, zh, 1);
		else
			doc_word(c, c->corpus, topic, share);
	}
	fputs("\",\"text\":\"", c->corpus);
	for (int p = 0; p < paragraphs; p++) {
		int sentences = 3 + below(4);
		if (p)
			fputs("\\n\\n", c->corpus);
		for (int s = 0; s < sentences; s++) {
			int length = 8 + below(13);
			for (int w = 0; w < length; w++) {
				if ((w || s) && !zh)
					fputc(' ', c->corpus);
				doc_word(c, c->corpus, topic, share);
			}
			fputs(zh ? "。" : ".", c->corpus);
		}
	}
	fputs("\"}\n", c->corpus);
	fprintf(c->qrels, "q%04d\td%06d\t%d\n", topic, number,
	        share >= 0.15 ? 2 : 1);
}

static void query(const struct collection *c, FILE *out, int topic)
{
	int zh = chinese(topic), words = 2 + below(3), used[4];

	fprintf(out, "{\"_id\":\"q%04d\",\"text\":\"", topic);
	for (int i = 0; i < words; i++) {
		int r, again;
		do { /* distinct words among its topic's fifteen first */
			r = below(15);
			again = 0;
			for (int j = 0; j < i; j++)
				again |= used[j] == r;
		} while (again);
		used[i] = r;
		if (i && !zh)
			fputc(' ', out);
		put_word(out, topic_word(c, topic, r), 1, zh, 1);
	}
	fputs("\"}\n", out);
}

/* The words of a topic that has no documents: half of NEIGHBOUR's,
 * half from the pool, distinct: even ranks the neighbour's, odd ones
 * the pool's. */
static void neighbour_words(const struct collection *c, unsigned *words,
                            int neighbour)
{
	for (int r = 0; r < TOPIC_WORDS; r++) {
		unsigned w;
		int again;
		do {
			if (r % 2 == 0)
				w = topic_word(c, neighbour,
				               below(TOPIC_WORDS));
			else
				w = (unsigned)below(c->pool);
			again = 0;
			for (int j = 0; j < r; j++)
				again |= words[j] == w;
			/* a pool word of the neighbour is not new */
			for (int j = 0; r % 2 && j < TOPIC_WORDS; j++)
				again |= topic_word(c, neighbour, j) == w;
		} while (again);
		words[r] = w;
	}
}

/* One line of judged.jsonl: ID, a query of WORDS[0..15) as query()
 * draws it, and whether it is ANSWERABLE; when NEIGHBOURED 3 or 4 words,
 * at least one of the neighbour's and two of the pool's. */
static void judged_query(FILE *out, const char *id, const unsigned *words,
                         int zh, int neighboured, int answerable)
{
	int n = neighboured ? 3 + below(2) : 2 + below(3), used[4];

	fprintf(out, "{\"id\":\"%s\",\"query\":\"", id);
	for (int i = 0; i < n; i++) {
		int r, again;
		do {
			r = below(15);
			if (neighboured && i < 3) /* one, two, any */
				r = (r & ~1) | (i > 0);
			again = 0;
			for (int j = 0; j < i; j++)
				again |= used[j] == r;
		} while (again);
		used[i] = r;
		if (i && !zh)
			fputc(' ', out);
		put_word(out, words[r], 1, zh, 1);
	}
	fprintf(out, "\",\"answerable\":%s}\n",
	        answerable ? "true" : "false");
}

static void judged(const struct collection *c, FILE *out, int unanswerable)
{
	unsigned words[TOPIC_WORDS];
	char id[32];

	for (int t = 0; t < c->topics; t++) {
		snprintf(id, sizeof(id), "a%04d", t);
		judged_query(out, id, &c->words[t * TOPIC_WORDS],
		             chinese(t), 0, 1);
	}
	for (int u = 0; u < unanswerable; u++) {
		/* a neighbour in the same language */
		int t = below(c->topics);
		int zh = chinese(c->topics + u);
		while (chinese(t) != zh)
			t = below(c->topics);
		neighbour_words(c, words, t);
		snprintf(id, sizeof(id), "u%04d", u);
		judged_query(out, id, words, zh, 1, 0);
	}
}

static FILE *open_in(const char *dir, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(1);
	}
	return f;
}

int main(int argc, char **argv)
{
	struct collection c;
	FILE *queries, *judgments = NULL;
	int documents, unanswerable = argc > 4 ? atoi(argv[4]) : 0;

	if (argc < 3 || atoi(argv[2]) < PER_TOPIC * 2 || unanswerable < 0) {
		fprintf(stderr, "usage: qrels-gen DIR DOCUMENTS (>= %d) "
		        "[SEED [UNANSWERABLE]]\n", PER_TOPIC * 2);
		return 2;
	}
	documents = atoi(argv[2]);
	state = argc > 3 ? strtoull(argv[3], NULL, 10) : 42;
	c.topics = documents / PER_TOPIC;
	zipf_init(&c.background, BACKGROUND, 1.0);
	zipf_init(&c.background_zh, BACKGROUND_ZH, 1.0);
	zipf_init(&c.topic, TOPIC_WORDS, 0.8);
	draw_topics(&c);
	c.corpus = open_in(argv[1], "corpus.jsonl");
	c.qrels = open_in(argv[1], "qrels.tsv");
	queries = open_in(argv[1], "queries.jsonl");
	for (int i = 0; i < documents; i++)
		document(&c, i, below(c.topics));
	for (int t = 0; t < c.topics; t++)
		query(&c, queries, t);
	if (unanswerable > 0) {
		judgments = open_in(argv[1], "judged.jsonl");
		judged(&c, judgments, unanswerable);
	}
	free(c.background.cumulative);
	free(c.background_zh.cumulative);
	free(c.topic.cumulative);
	free(c.words);
	if (fclose(c.corpus) || fclose(c.qrels) || fclose(queries) ||
	    (judgments && fclose(judgments))) {
		perror("qrels-gen");
		return 1;
	}
	return 0;
}
