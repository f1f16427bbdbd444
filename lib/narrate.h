/*
 * narrate.h — a model tells computed figures in sentences, and may not
 * invent one.
 *
 * DESIGN.md: numbers are always computed, never generated.  So the model
 * gets the figures as JSON and a prompt forbidding new ones, and its
 * sentences are then checked: every number in them must be one of the
 * figures (at the precision written, as a percentage of a fraction, or
 * without its sign), a number in one of the given strings (dates,
 * labels), or a small count (0 to 12).  A reply that fails the check is
 * treated as a failed request, so the agent falls back to its own
 * templated sentences.
 */
#ifndef MAS_NARRATE_H
#define MAS_NARRATE_H

#include <jv.h>

/*
 * The chat request asking for 3 to 8 sentences about FACTS (borrowed), in
 * LANG ("en" or "zh"), as {"insights": [...]} by JSON schema.
 * SUBJECT says what the figures are ("a statistical analysis of metric
 * series").
 */
jv mas_narrate_request(jv facts, const char *lang, const char *subject);

/*
 * The numbers written in SENTENCES (a borrowed array of strings) that
 * FACTS (borrowed) does not hold, as an array of the numbers as written;
 * empty when every figure is accounted for.
 */
jv mas_narrate_invented(jv sentences, jv facts);

#endif
