// The synthetic language of synth.h and its generator. Read top to bottom:
// the lexicon, the word distributions (each sampler beside its probability),
// and the generator; the grammar's numbers and types are in
// synth_language.h. The scorer (synth_score.cpp) re-derives every choice
// from the bytes. The generator and the parser share the language's tables
// and probability formulas but not their control flow: the parser recovers
// each choice from the text, which is what makes the entropy exact.
#include "data/synth.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <map>
#include <mutex>
#include <numeric>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "util/rng.h"
#include "data/tokens.h"
#include "util/util.h"
#include "data/synth_language.h"

namespace synth_lang {

// ------------------------------------------------------------------ lexicon

bool is_vowel(char c) { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'; }

namespace {

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

Lexicon build_lexicon(uint64_t seed) {
    Lexicon L;
    Rng rng(seed);
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

}  // namespace

uint64_t lexicon_seed(uint64_t id) {
    if (id == 0) return LEXICON_SEED;
    Rng mix(LEXICON_SEED ^ id);
    return mix.next_u64();
}

const Lexicon& lexicon(uint64_t id) {
    // Each lexicon is built once (a fraction of a second) and never freed:
    // callers keep references, which std::map's nodes keep valid as other ids
    // are added. Building under the lock makes a second thread wait for the
    // first's build instead of repeating it.
    static std::mutex mutex;
    static std::map<uint64_t, Lexicon> built;
    std::lock_guard<std::mutex> lock(mutex);
    auto it = built.find(id);
    if (it == built.end()) it = built.emplace(id, build_lexicon(lexicon_seed(id))).first;
    return it->second;
}

// ------------------------------------------------------------ distributions

// A choice's cost in nats; the generator and the parser both use these.
double nats_of(double probability) { return -std::log(probability); }

int draw_cumulative(const uint32_t* cum, int n, Rng& rng) {
    uint32_t r = (uint32_t)rng.below(cum[n - 1]);
    return (int)(std::upper_bound(cum, cum + n, r) - cum);
}
double cumulative_probability(const uint32_t* cum, int n, int i) {
    return (double)(cum[i] - (i ? cum[i - 1] : 0)) / cum[n - 1];
}

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

}  // namespace synth_lang

using namespace synth_lang;

namespace {

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

}  // namespace

// ---------------------------------------------------------------- interface

std::vector<uint16_t> synth_generate(uint64_t seed, size_t n_tokens, SynthStats* stats, uint64_t lexicon_id) {
    std::vector<uint16_t> out;
    out.reserve(n_tokens + 4096);
    Generator gen(lexicon(lexicon_id), seed, out);
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
