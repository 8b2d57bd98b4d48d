// Token conventions shared by the byte tokenizer, the synthetic corpus and
// the token files.
#pragma once
#include <cstdint>

// Byte-level tokenizer: token id = byte value, so the vocabulary is 256.
constexpr int BYTE_VOCAB_SIZE = 256;

// End-of-document convention: every document is *preceded* by token 0 (the
// NUL byte), as llm.c precedes each GPT-2 document with <|endoftext|>. NUL
// never occurs in ordinary text; the tokenizer drops any it finds.
constexpr uint16_t EOT_TOKEN = 0;
