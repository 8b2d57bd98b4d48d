// The built-in corpus: a synthetic, English-looking language whose entropy
// rate is known exactly, so a training loss can be compared with its floor.
//
// A document is a topic title followed by paragraphs of sentences. The 5th
// document of seed 1 (wrapped here; it is one paragraph):
//
//   <EOT>Mou
//   Some spaircla ril isles etie some ugis in these ugis because the sond
//   crafu aikimbs. Does a crafu near the ugi etie a kai? The isu dumbzas
//   staiskul. Many grertfra theteves who droo the isles boofrend. [...] The
//   tai which these bras on the ugis lici gealy rovooglas, and the chapras
//   datveng.
//
// ("tai ... rovooglas" agree across an object-gap clause whose own subject
// "bras" agrees with "lici"; "ugis", "crafu", "isles" recur by copying.)
// Content words are pronounceable letter strings from a fixed lexicon of
// 4000 nouns, 1500 verbs, 1000 adjectives and 200 "-ly" adverbs with Zipf
// frequencies (shorter words are more frequent); function words are English (the, a/an,
// every, these, near, who, which, does, and, because, ...). What a model can
// learn, from short range to long range:
//   - spelling: after a word's first letters the rest is determined, but the
//     lexicon is large, so a wider model memorizes more of it;
//   - word classes, determiner/noun number agreement, "a" vs "an", capitals
//     after a sentence end, commas before "and"/"but"/"so";
//   - lexical facts: transitive verbs take an object, intransitive ones do
//     not; animate nouns take "who", others "which"; each noun has favourite
//     adjectives and each transitive verb favourite objects;
//   - subject-verb number agreement ("the tai ... rovooglas", "the tais
//     ... rovoogla") across prepositional phrases and nested relative clauses,
//     including centre embedding ("the X which the Ys near the Z chase
//     sleeps"), and "does"/"do" in questions agreeing with a later subject;
//   - in-context repetition: a quarter of the nouns are copies of one of the
//     last 12 nouns of the document;
//   - the document's topic, named in its title, shifts which nouns and verbs
//     are frequent for the whole document.
//
// Every random choice is visible in the text (word classes are disjoint, the
// grammar is parsed deterministically with one word of lookahead), so
// -ln p(text) is the sum of -ln p over the generator's choices, with hidden
// mixtures (copy a recent noun or draw a fresh one) summed out. The generator
// adds that up as it samples; synth_score re-derives it from the bytes alone,
// and the tests check the two agree. The resulting entropy rate is the lowest
// cross-entropy any model can reach (a model whose context is shorter than a
// document can do a little worse: it may not see the title).
//
// Measured on 10M tokens of seed 1 (synth_entropy_rate(1, 10000000) and
// unigram_entropy of the same tokens):
//   entropy rate      0.754 nats/token  (1.09 bits/byte)  <- the loss floor
//   unigram entropy   3.064 nats/token  (4.42 bits/byte)
// Documents average 431 tokens (EOT included). Of the 266k subject-verb
// pairs, 18% are 30 or more bytes apart, 4% 50 or more, the longest 103. For scale, a
// Witten-Bell byte 6-gram trained on 2M tokens reaches 1.19 nats/token on
// another seed, on 20M tokens 1.06: the rest of the way to 0.754 needs the
// long-range structure and a large memorized lexicon.
//
// The lexicon and its frequencies come from a fixed seed, independent of the
// data seed, so texts generated with different seeds (train, validation)
// are samples of one language. All sampling is integer arithmetic on our Rng,
// so a seed gives the same bytes on every machine.
//
// Lexicon ids (`lrt train --synth-lexicon N`): 0 is the language above; N >= 1
// is a language with the same grammar, sizes, structural weights and function
// words whose lexicon (the invented words, which of them are frequent,
// animacy, transitivity, favourite adjectives and objects, topic titles and
// tables) is built from another seed. Something new to learn for a
// fine-tuning run, with the same kind of structure. Its entropy rate is close
// to lexicon 0's but not equal (word lengths differ, so tokens per choice do).
//
// This header is the generator (what training uses). The scorer, which
// re-derives the entropy from the text for the tests, is synth_score.h; the
// language both share is synth_language.h.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

// The seeds `lrt train --data-seed S` (and `lrt synth --seed S`) generate the
// training and validation text from: distinct, so validation text is never
// trained on.
inline uint64_t synth_train_seed(uint64_t data_seed) { return data_seed * 2 + 1; }
inline uint64_t synth_val_seed(uint64_t data_seed) { return data_seed * 2 + 2; }

struct SynthStats {
    double nats = 0;        // sum of -ln p over every random choice made (= -ln p(tokens))
    size_t tokens = 0;      // tokens the nats describe
    size_t documents = 0;   // documents the nats describe
};

// Generates whole documents (each starting with EOT_TOKEN) until at least
// n_tokens tokens exist, then truncates to exactly n_tokens. Deterministic in
// `seed` on every machine.
//
// stats (optional) covers the *complete* documents of the returned tokens, a
// document counting as complete when the returned tokens contain the EOT that
// starts the next one. So it always leaves out the last document (even when
// it happens to end exactly at n_tokens), and stats->tokens runs from token 0
// up to, not including, the last EOT. synth_score counts exactly the same.
// `lexicon` picks the language (lexicon ids above; 0 = the default one).
std::vector<uint16_t> synth_generate(uint64_t seed, size_t n_tokens, SynthStats* stats = nullptr,
                                     uint64_t lexicon = 0);

// Unigram (order-0) entropy in nats of any token stream, for comparison with
// the loss: what a model that ignores context entirely can reach.
double unigram_entropy(const uint16_t* tokens, size_t n, int vocab);
