// The scorer of synth_score.h: the parser that re-derives every choice of the
// generator (synth.cpp) from the bytes, using the language's tables and
// probability formulas (synth_language.h) but not the generator's control
// flow, which is what makes the entropy exact; then the entropy rate and the
// sampler check the tests use.
#include "data/synth_score.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "data/synth_language.h"
#include "util/rng.h"
#include "data/tokens.h"
#include "util/util.h"

using namespace synth_lang;

namespace {

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

SynthParse synth_parse(const uint16_t* tokens, size_t n, uint64_t lexicon_id) {
    SynthParse result;
    if (n == 0) return result;
    if (tokens[0] != EOT_TOKEN) fail(where(0) + "the stream must start with EOT (token 0)");
    const Lexicon& L = lexicon(lexicon_id);
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

double synth_score(const uint16_t* tokens, size_t n, uint64_t lexicon_id) {
    return synth_parse(tokens, n, lexicon_id).stats.nats;
}

double synth_entropy_rate(uint64_t seed, size_t n_tokens, uint64_t lexicon_id) {
    SynthStats stats;
    synth_generate(seed, n_tokens, &stats, lexicon_id);
    if (stats.tokens == 0)
        fail("synth_entropy_rate: " + std::to_string(n_tokens) + " tokens hold no complete document; use more");
    return stats.nats / (double)stats.tokens;
}

double synth_check_samplers(uint64_t seed, size_t draws, uint64_t lexicon_id) {
    const Lexicon& L = lexicon(lexicon_id);
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
