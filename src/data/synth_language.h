// The synthetic language itself, shared by its two readers: the generator
// (synth.cpp, which also defines everything declared here) and the scorer
// (synth_score.cpp). The grammar's numbers, the word classes, the lexicon,
// and the word distributions, each sampler beside its probability: the
// generator draws with the samplers and charges their probabilities, the
// scorer recovers each choice from the text and charges the same
// probabilities. Not for other callers: synth.h and synth_score.h are the
// interface.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "util/rng.h"

namespace synth_lang {

// ------------------------------------------------------------------ sizes

// Fixed, so that train and validation text (different data seeds) are samples
// of one language. Lexicon 0 (the default language) is built from it; lexicon
// N >= 1 (--synth-lexicon N) from lexicon_seed(N).
constexpr uint64_t LEXICON_SEED = 0x5EED0F1A6A6EULL;

constexpr int N_TOPIC = 32;
constexpr int N_NOUN = 4000, N_VERB = 1500, N_ADJ = 1000, N_ADV = 200;
constexpr int TOPIC_NOUNS = 200, TOPIC_VERBS = 80;  // words each topic favours
constexpr int N_FAVOURITE = 3;   // favourite adjectives per noun, favourite objects per verb
constexpr int RECENT_NOUNS = 12; // how far back a noun may be copied from
constexpr uint64_t COPY_ONE_IN = 4;  // a noun copies a recent one with probability 1/4
constexpr int MAX_DEPTH = 2;     // noun phrases this deep take no modifier: sentences stay finite
constexpr int MAX_CLAUSES = 3;   // clauses joined by conjunctions in one sentence

// Word frequencies are integer weights, so sampling is exact integer
// arithmetic and identical on every machine. Zipf: rank r (from 0) of a list
// gets scale / (r + 2).
constexpr uint32_t GENERAL_SCALE = 1u << 20;  // the frequency every topic shares
constexpr uint32_t TOPIC_SCALE = 1u << 21;    // extra weight of the topic's own words (~55% of nouns)
constexpr uint32_t OBJECT_BONUS = 1u << 21;   // extra weight of a verb's favourite object (~25%)
constexpr uint32_t ADJ_BONUS = 1u << 20;      // extra weight of a noun's favourite adjective (~30%)

inline uint32_t zipf(int rank, uint32_t scale) { return scale / (uint32_t)(rank + 2); }

// Structural choices, as integer weights; the comment names the options in order.
constexpr uint32_t NUMBER_W[2] = {3, 2};              // singular, plural
constexpr uint32_t SENTENCE_TYPE_W[2] = {17, 3};      // statement, question
constexpr uint32_t TERMINATOR_W[2] = {9, 1};          // '.', '!'
constexpr uint32_t AFTER_SENTENCE_W[3] = {14, 3, 3};  // ' ' (same paragraph), '\n' (new paragraph), end of document
constexpr uint32_t CONJ_W[5] = {14, 2, 1, 1, 2};      // none, ", and", ", but", ", so", " because"
constexpr uint32_t ADJ_COUNT_W[3] = {6, 3, 1};        // adjectives before a noun: 0, 1, 2
constexpr uint32_t ADVERB_W[2] = {9, 1};              // none, an adverb before the verb
constexpr uint32_t POSTMOD_W[MAX_DEPTH][3] = {        // none, prepositional phrase, relative clause
    {11, 4, 5},                                       //   on a noun phrase at depth 0
    {15, 2, 3}};                                      //   at depth 1
constexpr uint32_t REL_KIND_W[2] = {3, 2};            // subject gap "who chases Y", object gap "which Y chases"

enum Det { THE, A_AN, THIS, EVERY, SOME, THESE, MANY, N_DET };
const char* const DET_WORD[N_DET] = {"the", "a", "this", "every", "some", "these", "many"};
constexpr uint32_t DET_W[2][N_DET] = {{9, 7, 2, 2, 0, 0, 0},   // before a singular noun
                                      {10, 0, 0, 0, 4, 3, 3}}; // before a plural noun
constexpr int N_PREP = 10;
const char* const PREP_WORD[N_PREP] = {"in",   "on",     "near",  "with",   "under",
                                       "from", "behind", "above", "beside", "without"};
constexpr uint32_t PREP_W[N_PREP] = {10, 8, 6, 6, 4, 4, 3, 2, 2, 1};
enum Conj { NO_CONJ, AND, BUT, SO, BECAUSE };
const char* const CONJ_WORD[5] = {"", "and", "but", "so", "because"};
enum Rel { WHO, WHICH };

// Word classes are disjoint: every spelling belongs to exactly one class and
// entry, which is what lets the parser see each choice.
enum WordClass : uint8_t { TOPIC_WORD, NOUN, VERB, ADJ, ADV, DET, PREP, REL, CONJ, AUX };
struct Form {
    WordClass cls;
    int id;       // index within the class (Det, Conj, Rel value for function words)
    bool plural;  // noun plural, verb plural (= base form), "do" (vs "does")
};

// ------------------------------------------------------------------ lexicon

struct Lexicon {
    std::vector<std::string> topic, noun_sg, noun_pl, verb_sg, verb_pl, adj, adv;
    std::vector<uint8_t> animate;          // per noun: takes "who", else "which"
    std::vector<uint8_t> transitive;       // per verb: takes an object
    std::vector<int> favourite_adj;        // (N_NOUN, N_FAVOURITE), distinct per noun
    std::vector<int> favourite_object;     // (N_VERB, N_FAVOURITE), distinct per verb
    std::vector<uint32_t> noun_cum;        // (N_TOPIC, N_NOUN) cumulative weights
    std::vector<uint32_t> verb_cum;        // (N_TOPIC, N_VERB)
    std::vector<uint32_t> object_gap_cum;  // (N_TOPIC, N_VERB), intransitive verbs weigh 0
    std::vector<uint32_t> adj_cum;         // (N_ADJ)
    std::vector<uint32_t> adv_cum;         // (N_ADV)
    std::unordered_map<std::string, Form> forms;  // every spelling -> its entry
};

bool is_vowel(char c);
// The seed lexicon `id` is built from: LEXICON_SEED for 0, a hash of it and
// `id` otherwise (not LEXICON_SEED + id: Rng's splitmix seeding would make
// nearby seeds' streams overlap).
uint64_t lexicon_seed(uint64_t id);
// Lexicon `id` (synth.h: lexicon ids), built once on first use (thread-safe)
// and kept for the life of the program, so the reference stays valid; see
// build_lexicon in synth.cpp.
const Lexicon& lexicon(uint64_t id);

// ------------------------------------------------------------ distributions

// A choice's cost in nats; the generator and the parser both use these.
double nats_of(double probability);

template <size_t K>
int draw(const uint32_t (&weight)[K], Rng& rng) {
    uint32_t total = 0;
    for (uint32_t w : weight) total += w;
    uint32_t r = (uint32_t)rng.below(total);
    int k = 0;
    while (r >= weight[k]) r -= weight[k++];
    return k;
}
template <size_t K>
double choice_nats(const uint32_t (&weight)[K], int k) {
    uint32_t total = 0;
    for (uint32_t w : weight) total += w;
    return nats_of((double)weight[k] / total);
}

// Cumulative tables: entry i has weight cum[i] - cum[i-1]; zero-weight
// entries are never drawn because upper_bound skips them.
int draw_cumulative(const uint32_t* cum, int n, Rng& rng);
double cumulative_probability(const uint32_t* cum, int n, int i);

// What a choice's probability depends on beyond the sentence: the topic and
// the last RECENT_NOUNS nouns of the document.
struct DocState {
    int topic = 0;
    int recent[RECENT_NOUNS] = {};
    int n_recent = 0, next_slot = 0;
    void remember(int noun) {
        recent[next_slot] = noun;
        next_slot = (next_slot + 1) % RECENT_NOUNS;
        n_recent = std::min(n_recent + 1, RECENT_NOUNS);
    }
};

// The word distributions, each sampler beside its probability (what each
// draws: see their definitions in synth.cpp).
int draw_noun(const Lexicon& L, const DocState& doc, int verb, Rng& rng);
double noun_probability(const Lexicon& L, const DocState& doc, int verb, int noun);
int draw_adjective(const Lexicon& L, int noun, Rng& rng);
double adjective_probability(const Lexicon& L, int noun, int adj);
const uint32_t* verb_table(const Lexicon& L, int topic, bool transitive_only);

}  // namespace synth_lang
