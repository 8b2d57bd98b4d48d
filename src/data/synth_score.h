// The scorer of the synthetic language (synth.h), for the tests: it parses
// generated text back into the generator's choices and sums their -ln p,
// independently of the generator (the two share only the language's tables
// and formulas, synth_language.h), so that the entropy the generator claims
// can be checked from the bytes alone. Also the entropy rate of a stretch of
// generated text and a check of the samplers against their probabilities.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "data/synth.h"

// Independent re-derivation of -ln p(tokens) from the tokens alone: parses
// every complete document (as in synth.h: one followed by an EOT; end the stream
// with an EOT to include the last one) and sums -ln p of the choices the
// parse reveals. Fails with a message naming the token index on text the
// grammar cannot produce (unknown word, broken agreement, bad layout, ...).
// `lexicon` is the language the text is read as (synth.h: lexicon ids).
double synth_score(const uint16_t* tokens, size_t n, uint64_t lexicon = 0);

// What the scorer found while parsing; the tests use it to check that the
// long-range dependencies really are in the text.
struct SynthAgreement {
    size_t subject_position;  // token index of the subject noun's first byte
    size_t verb_position;     // token index of its agreeing verb's first byte
};
struct SynthParse {
    SynthStats stats;                        // what synth_score returns is stats.nats
    std::vector<SynthAgreement> agreements;  // every subject-verb agreement checked
};
SynthParse synth_parse(const uint16_t* tokens, size_t n, uint64_t lexicon = 0);

// Entropy rate estimate in nats per token: stats.nats / stats.tokens of
// synth_generate(seed, n_tokens, ., lexicon). n_tokens must hold at least one
// complete document (a few thousand tokens; use millions for a precise figure).
double synth_entropy_rate(uint64_t seed, size_t n_tokens, uint64_t lexicon = 0);

// For the tests: the exact entropy needs each sampler to draw with the
// probabilities the generator and the scorer charge for it. This draws `draws`
// samples from each word distribution (a noun that may copy a recent one or
// be a verb's favourite object, a fresh noun, an adjective for a noun, a verb
// for an object-gap clause) and from a structural choice, and returns the
// largest |z-score| of an item's count against its claimed probability
// (about 4-5 when they agree). Fails if some distribution does not sum to 1.
double synth_check_samplers(uint64_t seed, size_t draws, uint64_t lexicon = 0);
