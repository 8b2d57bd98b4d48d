// The synthetic language of synth.h. Read top to bottom: the grammar's
// numbers, the lexicon, the word distributions (each sampler beside its
// probability), the generator, and last the parser that re-derives every
// choice from the bytes. The generator and the parser share the language's
// tables and probability formulas but not their control flow: the parser
// recovers each choice from the text, which is what makes the entropy exact.
#include "data/synth.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <numeric>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "util/rng.h"
#include "data/tokens.h"
#include "util/util.h"

namespace {

// ------------------------------------------------------------------ sizes

// Fixed, so that train and validation text (different data seeds) are samples
// of one language.
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

uint32_t zipf(int rank, uint32_t scale) { return scale / (uint32_t)(rank + 2); }

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

bool is_vowel(char c) { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'; }

// A pronounceable stem: syllables of onset + vowel + optional coda. No coda
// ends in 's', so a final "s" is always the number suffix; some stems start
// with a vowel so that "an" is needed.
std::string invent_stem(Rng& rng, int syllables) {
    static const char* const ONSET[] = {"b",  "c",  "d",  "f",  "g",  "h",  "j",  "k",  "l",  "m",
                                        "n",  "p",  "r",  "s",  "t",  "v",  "w",  "z",  "br", "cr",
                                        "dr", "fr", "gr", "pr", "tr", "bl", "cl", "fl", "gl", "pl",
                                        "sl", "st", "sp", "sk", "sh", "ch", "th", "qu"};
    static const char* const VOWEL[] = {"a", "e", "i", "o", "u",  "a",  "e",  "i",
                                        "o", "u", "ai", "ea", "ou", "ie", "oo"};
    static const char* const CODA[] = {"n", "r", "l", "m", "t", "k", "nd", "rt", "st", "ng", "x", "mb"};
    std::string s;
    for (int k = 0; k < syllables; k++) {
        if (k > 0 || rng.below(6) != 0) s += ONSET[rng.below(std::size(ONSET))];
        s += VOWEL[rng.below(std::size(VOWEL))];
        if (rng.below(3) == 0) s += CODA[rng.below(std::size(CODA))];
    }
    return s;
}

// `count` new stems of 1-3 syllables and 3-9 letters whose forms (stem + each
// suffix) are all unused, shortest first: frequent words get the short ones,
// as in English.
std::vector<std::string> invent_stems(Rng& rng, std::unordered_set<std::string>& taken, int count,
                                      const std::vector<std::string>& suffixes) {
    static const uint32_t SYLLABLES_W[3] = {2, 5, 3};
    std::vector<std::string> stems;
    while ((int)stems.size() < count) {
        uint64_t r = rng.below(10);
        int syllables = r < SYLLABLES_W[0] ? 1 : r < SYLLABLES_W[0] + SYLLABLES_W[1] ? 2 : 3;
        std::string stem = invent_stem(rng, syllables);
        if (stem.size() < 3 || stem.size() > 9) continue;  // no "o", no "freakboundhoo"
        bool free = true;
        for (const auto& suffix : suffixes) free = free && !taken.count(stem + suffix);
        if (!free) continue;
        for (const auto& suffix : suffixes) taken.insert(stem + suffix);
        stems.push_back(stem);
    }
    std::stable_sort(stems.begin(), stems.end(),
                     [](const std::string& a, const std::string& b) { return a.size() < b.size(); });
    return stems;
}

// n distinct indices below `range` (a word's favourite adjectives or objects).
void distinct_picks(Rng& rng, int range, int n, int* out) {
    for (int k = 0; k < n; k++) {
        int pick;
        do pick = (int)rng.below(range);
        while (std::find(out, out + k, pick) != out + k);
        out[k] = pick;
    }
}

// Per-topic cumulative weights over a class of n words: each word's general
// Zipf weight plus a Zipf bonus on `favoured` words the topic picks at random
// (partial Fisher-Yates). If `subset` is given, `subset_cum` gets the same
// weights with the words outside the subset set to 0. Totals stay far below
// 2^32 (about 2^24.2 for nouns).
void topic_tables(Rng& rng, int n, int favoured, std::vector<uint32_t>& cum,
                  const std::vector<uint8_t>* subset = nullptr, std::vector<uint32_t>* subset_cum = nullptr) {
    cum.assign((size_t)N_TOPIC * n, 0);
    if (subset) subset_cum->assign((size_t)N_TOPIC * n, 0);
    std::vector<int> order(n);
    std::vector<uint32_t> weight(n);
    for (int t = 0; t < N_TOPIC; t++) {
        std::iota(order.begin(), order.end(), 0);
        for (int i = 0; i < n; i++) weight[i] = zipf(i, GENERAL_SCALE);
        for (int k = 0; k < favoured; k++) {
            std::swap(order[k], order[k + rng.below(n - k)]);
            weight[order[k]] += zipf(k, TOPIC_SCALE);
        }
        uint32_t sum = 0, subset_sum = 0;
        for (int i = 0; i < n; i++) {
            cum[(size_t)t * n + i] = sum += weight[i];
            if (!subset) continue;
            if ((*subset)[i]) subset_sum += weight[i];
            (*subset_cum)[(size_t)t * n + i] = subset_sum;
        }
    }
}

std::vector<uint32_t> zipf_table(int n) {
    std::vector<uint32_t> cum(n);
    uint32_t sum = 0;
    for (int i = 0; i < n; i++) cum[i] = sum += zipf(i, GENERAL_SCALE);
    return cum;
}

Lexicon build_lexicon() {
    Lexicon L;
    Rng rng(LEXICON_SEED);
    // Function words first, so that no invented word takes their spelling.
    for (int d = 0; d < N_DET; d++) L.forms[DET_WORD[d]] = {DET, d, false};
    L.forms["an"] = {DET, A_AN, false};
    for (int p = 0; p < N_PREP; p++) L.forms[PREP_WORD[p]] = {PREP, p, false};
    L.forms["who"] = {REL, WHO, false};
    L.forms["which"] = {REL, WHICH, false};
    for (int c = AND; c <= BECAUSE; c++) L.forms[CONJ_WORD[c]] = {CONJ, c, false};
    L.forms["does"] = {AUX, 0, false};
    L.forms["do"] = {AUX, 0, true};
    std::unordered_set<std::string> taken;
    for (const auto& kv : L.forms) taken.insert(kv.first);

    L.topic = invent_stems(rng, taken, N_TOPIC, {""});
    std::vector<std::string> nouns = invent_stems(rng, taken, N_NOUN, {"", "s"});
    std::vector<std::string> verbs = invent_stems(rng, taken, N_VERB, {"", "s"});
    L.adj = invent_stems(rng, taken, N_ADJ, {""});
    L.adv = invent_stems(rng, taken, N_ADV, {"ly"});
    for (auto& a : L.adv) a += "ly";

    for (int t = 0; t < N_TOPIC; t++) L.forms[L.topic[t]] = {TOPIC_WORD, t, false};
    for (int n = 0; n < N_NOUN; n++) {
        L.noun_sg.push_back(nouns[n]);
        L.noun_pl.push_back(nouns[n] + "s");
        L.forms[L.noun_sg[n]] = {NOUN, n, false};
        L.forms[L.noun_pl[n]] = {NOUN, n, true};
        L.animate.push_back(rng.below(10) < 3);
    }
    for (int v = 0; v < N_VERB; v++) {
        L.verb_pl.push_back(verbs[v]);        // "they rovoogla" (also the base form)
        L.verb_sg.push_back(verbs[v] + "s");  // "it rovooglas"
        L.forms[L.verb_pl[v]] = {VERB, v, true};
        L.forms[L.verb_sg[v]] = {VERB, v, false};
        L.transitive.push_back(rng.below(5) < 3);
    }
    for (int a = 0; a < N_ADJ; a++) L.forms[L.adj[a]] = {ADJ, a, false};
    for (int a = 0; a < N_ADV; a++) L.forms[L.adv[a]] = {ADV, a, false};

    L.favourite_adj.resize((size_t)N_NOUN * N_FAVOURITE);
    for (int n = 0; n < N_NOUN; n++)
        distinct_picks(rng, N_ADJ, N_FAVOURITE, &L.favourite_adj[(size_t)n * N_FAVOURITE]);
    L.favourite_object.resize((size_t)N_VERB * N_FAVOURITE);
    for (int v = 0; v < N_VERB; v++)
        distinct_picks(rng, N_NOUN, N_FAVOURITE, &L.favourite_object[(size_t)v * N_FAVOURITE]);

    topic_tables(rng, N_NOUN, TOPIC_NOUNS, L.noun_cum);
    topic_tables(rng, N_VERB, TOPIC_VERBS, L.verb_cum, &L.transitive, &L.object_gap_cum);
    L.adj_cum = zipf_table(N_ADJ);
    L.adv_cum = zipf_table(N_ADV);
    return L;
}

const Lexicon& lexicon() {
    static const Lexicon L = build_lexicon();  // built once, thread-safe (C++11 statics)
    return L;
}

// ------------------------------------------------------------ distributions

// A choice's cost in nats; the generator and the parser both use these.
double nats_of(double probability) { return -std::log(probability); }

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
int draw_cumulative(const uint32_t* cum, int n, Rng& rng) {
    uint32_t r = (uint32_t)rng.below(cum[n - 1]);
    return (int)(std::upper_bound(cum, cum + n, r) - cum);
}
double cumulative_probability(const uint32_t* cum, int n, int i) {
    return (double)(cum[i] - (i ? cum[i - 1] : 0)) / cum[n - 1];
}

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

// A noun: with probability 1/COPY_ONE_IN (once there is one) a copy of a
// recent noun, else a fresh draw from the topic's weights, where an object
// (verb >= 0) also gets OBJECT_BONUS on each of the verb's favourite objects.
// Which branch made the noun is hidden, so its probability sums both.
int draw_noun(const Lexicon& L, const DocState& doc, int verb, Rng& rng) {
    if (doc.n_recent > 0 && rng.below(COPY_ONE_IN) == 0) return doc.recent[rng.below(doc.n_recent)];
    const uint32_t* cum = &L.noun_cum[(size_t)doc.topic * N_NOUN];
    uint64_t topic_total = cum[N_NOUN - 1];
    uint64_t r = rng.below(topic_total + (verb >= 0 ? N_FAVOURITE * OBJECT_BONUS : 0));
    if (r < topic_total) return (int)(std::upper_bound(cum, cum + N_NOUN, (uint32_t)r) - cum);
    return L.favourite_object[(size_t)verb * N_FAVOURITE + (r - topic_total) / OBJECT_BONUS];
}
double noun_probability(const Lexicon& L, const DocState& doc, int verb, int noun) {
    const uint32_t* cum = &L.noun_cum[(size_t)doc.topic * N_NOUN];
    uint64_t weight = cum[noun] - (noun ? cum[noun - 1] : 0), total = cum[N_NOUN - 1];
    if (verb >= 0) {
        total += N_FAVOURITE * OBJECT_BONUS;
        for (int k = 0; k < N_FAVOURITE; k++)
            if (L.favourite_object[(size_t)verb * N_FAVOURITE + k] == noun) weight += OBJECT_BONUS;
    }
    double p = (double)weight / (double)total;
    if (doc.n_recent == 0) return p;
    int copies = 0;
    for (int k = 0; k < doc.n_recent; k++) copies += doc.recent[k] == noun;
    return ((double)copies / doc.n_recent + (double)(COPY_ONE_IN - 1) * p) / (double)COPY_ONE_IN;
}

// An adjective for `noun`: general Zipf weights plus ADJ_BONUS on the noun's favourites.
int draw_adjective(const Lexicon& L, int noun, Rng& rng) {
    uint64_t general = L.adj_cum[N_ADJ - 1];
    uint64_t r = rng.below(general + N_FAVOURITE * ADJ_BONUS);
    if (r < general) return (int)(std::upper_bound(L.adj_cum.begin(), L.adj_cum.end(), (uint32_t)r) -
                                  L.adj_cum.begin());
    return L.favourite_adj[(size_t)noun * N_FAVOURITE + (r - general) / ADJ_BONUS];
}
double adjective_probability(const Lexicon& L, int noun, int adj) {
    uint64_t weight = L.adj_cum[adj] - (adj ? L.adj_cum[adj - 1] : 0);
    for (int k = 0; k < N_FAVOURITE; k++)
        if (L.favourite_adj[(size_t)noun * N_FAVOURITE + k] == adj) weight += ADJ_BONUS;
    return (double)weight / (double)(L.adj_cum[N_ADJ - 1] + N_FAVOURITE * ADJ_BONUS);
}

// A verb from the topic's weights; an object-gap clause ("which the Ys
// chase") needs a transitive one.
const uint32_t* verb_table(const Lexicon& L, int topic, bool transitive_only) {
    return &(transitive_only ? L.object_gap_cum : L.verb_cum)[(size_t)topic * N_VERB];
}

// ---------------------------------------------------------------- generator

struct Generator {
    const Lexicon& L;
    Rng rng;
    std::vector<uint16_t>& out;
    double nats = 0;  // of the current document
    DocState doc;
    bool capitalize = false, space = false;  // layout: next word starts a sentence / needs a space

    Generator(const Lexicon& lexicon, uint64_t seed, std::vector<uint16_t>& output)
        : L(lexicon), rng(seed), out(output) {}

    template <size_t K>
    int choose(const uint32_t (&weight)[K]) {
        int k = draw(weight, rng);
        nats += choice_nats(weight, k);
        return k;
    }

    void word(const std::string& w) {
        if (space) out.push_back(' ');
        for (size_t k = 0; k < w.size(); k++)
            out.push_back((uint16_t)(k == 0 && capitalize ? w[k] - 'a' + 'A' : w[k]));
        capitalize = false;
        space = true;
    }
    void mark(char c) { out.push_back((uint16_t)c); }  // , . ! ? stick to the word before
    void newline() {
        out.push_back('\n');
        space = false;
        capitalize = true;
    }

    void document() {
        out.push_back(EOT_TOKEN);
        doc = DocState();
        doc.topic = (int)rng.below(N_TOPIC);
        nats += std::log((double)N_TOPIC);
        capitalize = true;
        space = false;
        word(L.topic[doc.topic]);
        newline();
        for (;;) {
            sentence();
            int next = choose(AFTER_SENTENCE_W);
            if (next == 0) continue;  // the next sentence follows after a space
            newline();
            if (next == 2) return;
        }
    }

    void sentence() {
        if (choose(SENTENCE_TYPE_W) == 1) {  // "Does the X ... <base verb> ...?"
            bool plural = choose(NUMBER_W);
            word(plural ? "do" : "does");
            noun_phrase(plural, 0, -1);
            verb_phrase(plural, 1, /*base_form=*/true);
            mark('?');
        } else {
            for (int clauses = 1;; clauses++) {
                bool plural = choose(NUMBER_W);
                noun_phrase(plural, 0, -1);
                verb_phrase(plural, 1, false);
                if (clauses == MAX_CLAUSES) break;
                int conj = choose(CONJ_W);
                if (conj == NO_CONJ) break;
                if (conj != BECAUSE) mark(',');
                word(CONJ_WORD[conj]);
            }
            mark(choose(TERMINATOR_W) == 0 ? '.' : '!');
        }
        capitalize = true;
    }

    // Determiner, adjectives, noun, then at most one modifier. The noun is
    // drawn first because the adjectives and "a"/"an" depend on it.
    void noun_phrase(bool plural, int depth, int verb) {
        int det = choose(DET_W[plural]);
        int noun = draw_noun(L, doc, verb, rng);
        nats += nats_of(noun_probability(L, doc, verb, noun));
        int n_adj = choose(ADJ_COUNT_W);
        int adjs[2];
        for (int k = 0; k < n_adj; k++) {
            adjs[k] = draw_adjective(L, noun, rng);
            nats += nats_of(adjective_probability(L, noun, adjs[k]));
        }
        const std::string& noun_form = plural ? L.noun_pl[noun] : L.noun_sg[noun];
        const std::string& after_det = n_adj > 0 ? L.adj[adjs[0]] : noun_form;
        word(det == A_AN && is_vowel(after_det[0]) ? "an" : DET_WORD[det]);
        for (int k = 0; k < n_adj; k++) word(L.adj[adjs[k]]);
        word(noun_form);
        doc.remember(noun);
        if (depth >= MAX_DEPTH) return;
        int postmod = choose(POSTMOD_W[depth]);
        if (postmod == 1) {
            word(PREP_WORD[choose(PREP_W)]);
            noun_phrase(choose(NUMBER_W), depth + 1, -1);
        } else if (postmod == 2) {
            word(L.animate[noun] ? "who" : "which");
            if (choose(REL_KIND_W) == 0) {  // "who chases the Ys": the verb agrees with the head noun
                verb_phrase(plural, depth + 1, false);
            } else {  // "which the Ys chase": the verb agrees with the clause's own subject
                bool inner_plural = choose(NUMBER_W);
                noun_phrase(inner_plural, depth + 1, -1);
                adverb();
                int v = draw_verb(/*transitive_only=*/true);
                word(inner_plural ? L.verb_pl[v] : L.verb_sg[v]);
            }
        }
    }

    // [adverb] verb [object]; the verb agrees with `plural` unless base_form.
    void verb_phrase(bool plural, int object_depth, bool base_form) {
        adverb();
        int v = draw_verb(false);
        word(plural || base_form ? L.verb_pl[v] : L.verb_sg[v]);
        if (L.transitive[v]) noun_phrase(choose(NUMBER_W), object_depth, v);
    }

    void adverb() {
        if (choose(ADVERB_W) == 0) return;
        int a = draw_cumulative(L.adv_cum.data(), N_ADV, rng);
        nats += nats_of(cumulative_probability(L.adv_cum.data(), N_ADV, a));
        word(L.adv[a]);
    }

    int draw_verb(bool transitive_only) {
        const uint32_t* cum = verb_table(L, doc.topic, transitive_only);
        int v = draw_cumulative(cum, N_VERB, rng);
        nats += nats_of(cumulative_probability(cum, N_VERB, v));
        return v;
    }
};

// ------------------------------------------------------------------- parser

// A document as the parser sees it: words (looked up in the lexicon) and
// marks; spaces are checked separately by re-rendering the layout.
struct Item {
    enum Kind : uint8_t { WORD, COMMA, PERIOD, BANG, QUESTION, NEWLINE } kind;
    const std::string* text;  // WORD: its lower-case spelling
    Form form;                // WORD: its lexicon entry
    size_t pos;               // token index of its first byte in the stream
};

std::string where(size_t pos) { return "synthetic text, token " + std::to_string(pos) + ": "; }

// Splits tokens [begin, end) (a document without its EOT) into items.
std::vector<Item> lex(const Lexicon& L, const uint16_t* tokens, size_t begin, size_t end) {
    std::vector<Item> items;
    std::string w;
    for (size_t i = begin; i < end;) {
        uint16_t c = tokens[i];
        bool lower = c >= 'a' && c <= 'z', upper = c >= 'A' && c <= 'Z';
        if (lower || upper) {
            w.clear();
            size_t start = i;
            for (; i < end && ((tokens[i] >= 'a' && tokens[i] <= 'z') || (tokens[i] >= 'A' && tokens[i] <= 'Z'));
                 i++)
                w += (char)(tokens[i] | 0x20);  // lower case; the layout check catches misplaced capitals
            auto it = L.forms.find(w);
            if (it == L.forms.end()) fail(where(start) + "unknown word '" + w + "'");
            items.push_back({Item::WORD, &it->first, it->second, start});
            continue;
        }
        Item::Kind kind;
        switch (c) {
            case ' ': i++; continue;
            case ',': kind = Item::COMMA; break;
            case '.': kind = Item::PERIOD; break;
            case '!': kind = Item::BANG; break;
            case '?': kind = Item::QUESTION; break;
            case '\n': kind = Item::NEWLINE; break;
            default: fail(where(i) + "byte " + std::to_string(c) + " does not occur in the synthetic language");
        }
        items.push_back({kind, nullptr, Form{}, i});
        i++;
    }
    return items;
}

// The one layout the generator writes for these items: single spaces between
// words, marks stuck to the word before, a capital after a sentence end or a
// newline. Any other spacing or capitalization of the same words is rejected.
void check_layout(const std::vector<Item>& items, const uint16_t* tokens, size_t begin, size_t end) {
    std::string text;
    bool capital = true, space = false;
    for (const Item& item : items) {
        switch (item.kind) {
            case Item::WORD:
                if (space) text += ' ';
                text += capital ? (char)((*item.text)[0] - 'a' + 'A') : (*item.text)[0];
                text.append(*item.text, 1, std::string::npos);
                capital = false;
                space = true;
                break;
            case Item::COMMA: text += ','; break;
            case Item::PERIOD: text += '.'; capital = true; break;
            case Item::BANG: text += '!'; capital = true; break;
            case Item::QUESTION: text += '?'; capital = true; break;
            case Item::NEWLINE: text += '\n'; capital = true; space = false; break;
        }
    }
    for (size_t k = 0; k < end - begin; k++)
        if (k >= text.size() || tokens[begin + k] != (uint8_t)text[k])
            fail(where(begin + k) + "spacing or capitals differ from the grammar's layout");
    if (text.size() != end - begin) fail(where(end) + "spacing differs from the grammar's layout");
}

struct NounPhrase {
    int noun;
    bool plural;
    size_t pos;  // token index of the noun
};

// Recursive descent with one item of lookahead: at every choice point the
// next item says which option the generator took, and the parser adds that
// option's -ln p. The grammar is LL(1) because word classes are disjoint and
// every noun phrase takes at most one modifier, right after its noun.
struct Parser {
    const Lexicon& L;
    const std::vector<Item>& items;
    std::vector<SynthAgreement>& agreements;
    size_t i = 0;
    double nats = 0;
    DocState doc;

    Parser(const Lexicon& lexicon, const std::vector<Item>& document_items, std::vector<SynthAgreement>& found)
        : L(lexicon), items(document_items), agreements(found) {}

    [[noreturn]] void error(const std::string& message) const {
        size_t pos = i < items.size() ? items[i].pos : (items.empty() ? 0 : items.back().pos + 1);
        fail(where(pos) + message);
    }
    std::string found() const {
        if (i >= items.size()) return "the end of the document";
        switch (items[i].kind) {
            case Item::WORD: return "'" + *items[i].text + "'";
            case Item::COMMA: return "','";
            case Item::PERIOD: return "'.'";
            case Item::BANG: return "'!'";
            case Item::QUESTION: return "'?'";
            case Item::NEWLINE: return "a newline";
        }
        return "?";
    }
    bool at(WordClass cls) const {
        return i < items.size() && items[i].kind == Item::WORD && items[i].form.cls == cls;
    }
    bool at(Item::Kind kind) const { return i < items.size() && items[i].kind == kind; }
    const Item& expect(WordClass cls, const char* what) {
        if (!at(cls)) error(std::string("expected ") + what + ", found " + found());
        return items[i++];
    }
    void expect(Item::Kind kind, const char* what) {
        if (!at(kind)) error(std::string("expected ") + what + ", found " + found());
        i++;
    }

    void document() {
        doc.topic = expect(TOPIC_WORD, "a topic title").form.id;
        nats += std::log((double)N_TOPIC);
        expect(Item::NEWLINE, "a newline after the title");
        for (;;) {
            sentence();
            if (at(Item::WORD)) {  // a space, then the next sentence
                nats += choice_nats(AFTER_SENTENCE_W, 0);
                continue;
            }
            expect(Item::NEWLINE, "a space or a newline after the sentence");
            bool end = i == items.size();
            nats += choice_nats(AFTER_SENTENCE_W, end ? 2 : 1);
            if (end) return;
        }
    }

    void sentence() {
        if (at(AUX)) {
            const Item& aux = items[i++];
            nats += choice_nats(SENTENCE_TYPE_W, 1) + choice_nats(NUMBER_W, aux.form.plural);
            size_t after_aux = i;
            NounPhrase subject = noun_phrase(0, -1);
            if (subject.plural != aux.form.plural) {
                i = after_aux - 1;
                error("'" + *aux.text + "' does not agree in number with its subject '" +
                      (subject.plural ? L.noun_pl : L.noun_sg)[subject.noun] + "'");
            }
            verb_phrase(subject, 1, /*base_form=*/true);
            expect(Item::QUESTION, "'?' after a question");
            return;
        }
        if (!at(DET)) error("expected a sentence (a determiner or 'does'/'do'), found " + found());
        nats += choice_nats(SENTENCE_TYPE_W, 0);
        for (int clauses = 1;; clauses++) {
            NounPhrase subject = noun_phrase(0, -1);
            nats += choice_nats(NUMBER_W, subject.plural);
            verb_phrase(subject, 1, false);
            if (clauses == MAX_CLAUSES) break;
            int conj = NO_CONJ;
            if (at(Item::COMMA)) {
                i++;
                conj = expect(CONJ, "'and', 'but' or 'so' after a comma").form.id;
                if (conj == BECAUSE) error("'because' takes no comma");
            } else if (at(CONJ)) {
                conj = items[i].form.id;
                if (conj != BECAUSE) error("a comma is missing before '" + *items[i].text + "'");
                i++;
            }
            nats += choice_nats(CONJ_W, conj);
            if (conj == NO_CONJ) break;
        }
        if (at(Item::PERIOD)) nats += choice_nats(TERMINATOR_W, 0);
        else if (at(Item::BANG)) nats += choice_nats(TERMINATOR_W, 1);
        else error("expected '.' or '!' (or a conjunction), found " + found());
        i++;
    }

    // Determiner, adjectives, noun, optional modifier. The caller adds the
    // cost of the noun's number, which it either drew or had imposed.
    NounPhrase noun_phrase(int depth, int verb) {
        size_t det_index = i;
        const Item& det = expect(DET, "a determiner");
        int adjs[2], n_adj = 0;
        while (at(ADJ)) {
            if (n_adj == 2) error("more than two adjectives");
            adjs[n_adj++] = items[i++].form.id;
        }
        const Item& noun = expect(NOUN, "a noun");
        NounPhrase np{noun.form.id, noun.form.plural, noun.pos};
        if (DET_W[np.plural][det.form.id] == 0) {
            i = det_index;
            error("determiner '" + *det.text + "' does not agree with the noun '" + *noun.text + "'");
        }
        if (det.form.id == A_AN && (*det.text == "an") != is_vowel((*items[det_index + 1].text)[0])) {
            i = det_index;
            error("'" + *det.text + "' before '" + *items[det_index + 1].text + "'");
        }
        nats += choice_nats(DET_W[np.plural], det.form.id);
        nats += nats_of(noun_probability(L, doc, verb, np.noun));
        nats += choice_nats(ADJ_COUNT_W, n_adj);
        for (int k = 0; k < n_adj; k++) nats += nats_of(adjective_probability(L, np.noun, adjs[k]));
        doc.remember(np.noun);
        if (depth >= MAX_DEPTH) return np;
        if (at(PREP)) {
            nats += choice_nats(POSTMOD_W[depth], 1) + choice_nats(PREP_W, items[i++].form.id);
            NounPhrase object = noun_phrase(depth + 1, -1);
            nats += choice_nats(NUMBER_W, object.plural);
        } else if (at(REL)) {
            nats += choice_nats(POSTMOD_W[depth], 2);
            relative_clause(np, depth);
        } else {
            nats += choice_nats(POSTMOD_W[depth], 0);
        }
        return np;
    }

    void relative_clause(const NounPhrase& head, int depth) {
        const Item& rel = items[i];
        if ((rel.form.id == WHO) != (bool)L.animate[head.noun])
            error("'" + *rel.text + "' after '" + L.noun_sg[head.noun] + "', which takes '" +
                  (L.animate[head.noun] ? "who" : "which") + "'");
        i++;
        if (at(DET)) {  // object gap: "which the Ys [adverb] chase"
            nats += choice_nats(REL_KIND_W, 1);
            NounPhrase subject = noun_phrase(depth + 1, -1);
            nats += choice_nats(NUMBER_W, subject.plural);
            adverb();
            const Item& verb = expect(VERB, "the verb of the relative clause");
            if (!L.transitive[verb.form.id]) {
                i--;
                error("'" + *verb.text + "' takes no object, so it cannot end a clause like 'which the Ys ...'");
            }
            agree(subject, verb);
            nats += nats_of(cumulative_probability(verb_table(L, doc.topic, true), N_VERB, verb.form.id));
        } else {  // subject gap: "who [adverb] chases ..."
            nats += choice_nats(REL_KIND_W, 0);
            verb_phrase(head, depth + 1, false);
        }
    }

    void verb_phrase(const NounPhrase& subject, int object_depth, bool base_form) {
        adverb();
        const Item& verb = expect(VERB, "a verb");
        if (base_form && !verb.form.plural) {
            i--;
            error("after 'does'/'do' the verb takes its base form, not '" + *verb.text + "'");
        }
        if (!base_form) agree(subject, verb);
        nats += nats_of(cumulative_probability(verb_table(L, doc.topic, false), N_VERB, verb.form.id));
        if (L.transitive[verb.form.id]) {
            NounPhrase object = noun_phrase(object_depth, verb.form.id);
            nats += choice_nats(NUMBER_W, object.plural);
        }
    }

    void agree(const NounPhrase& subject, const Item& verb) {
        if (verb.form.plural != subject.plural)
            fail(where(verb.pos) + "verb '" + *verb.text + "' does not agree in number with its subject '" +
                 (subject.plural ? L.noun_pl : L.noun_sg)[subject.noun] + "' at token " + std::to_string(subject.pos));
        agreements.push_back({subject.pos, verb.pos});
    }

    void adverb() {
        if (!at(ADV)) {
            nats += choice_nats(ADVERB_W, 0);
            return;
        }
        int a = items[i++].form.id;
        nats += choice_nats(ADVERB_W, 1) + nats_of(cumulative_probability(L.adv_cum.data(), N_ADV, a));
    }
};

}  // namespace

// ---------------------------------------------------------------- interface

std::vector<uint16_t> synth_generate(uint64_t seed, size_t n_tokens, SynthStats* stats) {
    std::vector<uint16_t> out;
    out.reserve(n_tokens + 4096);
    Generator gen(lexicon(), seed, out);
    SynthStats counted;
    while (out.size() < n_tokens) {
        gen.nats = 0;
        gen.document();
        // Complete (see synth.h) iff the next document's EOT, at out.size(), is kept.
        if (out.size() < n_tokens) {
            counted.nats += gen.nats;
            counted.tokens = out.size();
            counted.documents++;
        }
    }
    out.resize(n_tokens);
    if (stats) *stats = counted;
    return out;
}

SynthParse synth_parse(const uint16_t* tokens, size_t n) {
    SynthParse result;
    if (n == 0) return result;
    if (tokens[0] != EOT_TOKEN) fail(where(0) + "the stream must start with EOT (token 0)");
    const Lexicon& L = lexicon();
    size_t begin = 0;
    for (size_t end = 1; end < n; end++) {
        if (tokens[end] != EOT_TOKEN) continue;
        std::vector<Item> items = lex(L, tokens, begin + 1, end);
        check_layout(items, tokens, begin + 1, end);
        Parser parser(L, items, result.agreements);
        parser.document();
        result.stats.nats += parser.nats;
        result.stats.tokens = end;
        result.stats.documents++;
        begin = end;
    }
    return result;
}

double synth_score(const uint16_t* tokens, size_t n) { return synth_parse(tokens, n).stats.nats; }

double synth_entropy_rate(uint64_t seed, size_t n_tokens) {
    SynthStats stats;
    synth_generate(seed, n_tokens, &stats);
    if (stats.tokens == 0)
        fail("synth_entropy_rate: " + std::to_string(n_tokens) + " tokens hold no complete document; use more");
    return stats.nats / (double)stats.tokens;
}

double synth_check_samplers(uint64_t seed, size_t draws) {
    const Lexicon& L = lexicon();
    Rng rng(seed);
    double worst = 0;
    // Counts `draws` samples of `sample()` over n items and compares with `probability(item)`.
    auto compare = [&](const char* what, int n, auto sample, auto probability) {
        std::vector<size_t> count((size_t)n, 0);
        for (size_t d = 0; d < draws; d++) count[sample()]++;
        double sum = 0;
        for (int k = 0; k < n; k++) {
            double p = probability(k), expected = (double)draws * p;
            sum += p;
            if (p > 0) worst = std::max(worst, std::fabs(count[k] - expected) / std::sqrt(expected * (1 - p)));
            else if (count[k])
                fail(std::string("synth sampler check: ") + what + " drew an item of probability 0");
        }
        if (std::fabs(sum - 1) > 1e-9)
            fail(std::string("synth sampler check: probabilities of ") + what + " sum to " + std::to_string(sum));
    };
    DocState doc;
    doc.topic = 5;
    int verb = (int)(std::find(L.transitive.begin(), L.transitive.end(), 1) - L.transitive.begin());
    for (int k = 0; k < 9; k++) doc.remember(k % 4 == 0 ? L.favourite_object[(size_t)verb * N_FAVOURITE] : 37 * k);
    compare("an object noun", N_NOUN, [&] { return draw_noun(L, doc, verb, rng); },
            [&](int n) { return noun_probability(L, doc, verb, n); });
    DocState fresh;
    fresh.topic = 6;
    compare("a first noun", N_NOUN, [&] { return draw_noun(L, fresh, -1, rng); },
            [&](int n) { return noun_probability(L, fresh, -1, n); });
    compare("an adjective", N_ADJ, [&] { return draw_adjective(L, 11, rng); },
            [&](int a) { return adjective_probability(L, 11, a); });
    const uint32_t* verbs = verb_table(L, 7, true);
    compare("an object-gap verb", N_VERB, [&] { return draw_cumulative(verbs, N_VERB, rng); },
            [&](int v) { return cumulative_probability(verbs, N_VERB, v); });
    compare("a conjunction", 5, [&] { return draw(CONJ_W, rng); },
            [&](int k) { return std::exp(-choice_nats(CONJ_W, k)); });
    return worst;
}

double unigram_entropy(const uint16_t* tokens, size_t n, int vocab) {
    if (n == 0) return 0;
    std::vector<size_t> count((size_t)vocab, 0);
    for (size_t i = 0; i < n; i++) {
        if (tokens[i] >= vocab)
            fail("unigram_entropy: token " + std::to_string(tokens[i]) + " is outside the vocabulary");
        count[tokens[i]]++;
    }
    double h = 0;
    for (size_t c : count)
        if (c) h -= (double)c / n * std::log((double)c / n);
    return h;
}
