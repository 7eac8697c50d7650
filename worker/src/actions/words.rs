//! Counting words over a stream, as `wc -w` does: a word is a run of characters that are not
//! whitespace. The input need not be UTF-8: an invalid byte counts as a word character (as the
//! U+FFFD it would be decoded to), so a count never fails and equals
//! `String::from_utf8_lossy(input).split_whitespace().count()` however the input is cut.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// The words of everything `reader` yields, read a buffer at a time.
pub(crate) async fn count_words<R: AsyncBufRead + Unpin>(mut reader: R) -> std::io::Result<u64> {
    let mut counter = WordCounter::default();
    loop {
        let buffer = reader.fill_buf().await?;
        if buffer.is_empty() {
            return Ok(counter.finish());
        }
        counter.feed(buffer);
        let read = buffer.len();
        reader.consume(read);
    }
}

/// A word count fed piece by piece. A word, or a character's UTF-8 bytes, may be cut between
/// two pieces: the state between them is whether the last piece ended inside a word, and the
/// bytes of a character it ended in the middle of.
#[derive(Debug, Default)]
pub(crate) struct WordCounter {
    words: u64,
    in_word: bool,
    /// The start of a character cut off at the end of the last piece (at most 3 bytes).
    pending: Vec<u8>,
}

/// The most bytes a UTF-8 character takes.
const MAX_CHAR_BYTES: usize = 4;

impl WordCounter {
    pub(crate) fn feed(&mut self, piece: &[u8]) {
        let mut rest = piece;
        if !self.pending.is_empty() {
            // The cut character ends within the next 3 bytes (or turns out invalid there).
            let cut = self.pending.len();
            let borrowed = rest.len().min(MAX_CHAR_BYTES - 1);
            let mut joined = std::mem::take(&mut self.pending);
            joined.extend_from_slice(&rest[..borrowed]);
            let used = self.scan(&joined);
            if used < cut {
                // Still cut short: this whole piece was the character's next bytes.
                self.pending = joined;
                return;
            }
            rest = &rest[used - cut..];
        }
        let used = self.scan(rest);
        self.pending = rest[used..].to_vec();
    }

    /// The count, once every piece has been fed.
    pub(crate) fn finish(mut self) -> u64 {
        if !self.pending.is_empty() {
            // A character cut off by the end of the input: an invalid byte sequence.
            self.word_character();
        }
        self.words
    }

    /// Counts what `bytes` holds up to a character cut off at its end; returns the bytes
    /// used (all of them, or up to where that character starts).
    fn scan(&mut self, bytes: &[u8]) -> usize {
        let mut used = 0;
        for chunk in bytes.utf8_chunks() {
            for c in chunk.valid().chars() {
                if c.is_whitespace() {
                    self.in_word = false;
                } else {
                    self.word_character();
                }
            }
            used += chunk.valid().len();
            let invalid = chunk.invalid();
            if invalid.is_empty() {
                continue;
            }
            let at_end = used + invalid.len() == bytes.len();
            if at_end && is_cut_short(invalid) {
                return used;
            }
            self.word_character();
            used += invalid.len();
        }
        used
    }

    fn word_character(&mut self) {
        if !self.in_word {
            self.in_word = true;
            self.words += 1;
        }
    }
}

/// Whether `invalid` (an invalid chunk of UTF-8) is the start of a character that more bytes
/// could complete, rather than bytes no continuation could make valid.
fn is_cut_short(invalid: &[u8]) -> bool {
    matches!(std::str::from_utf8(invalid), Err(e) if e.error_len().is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a count over the whole input in memory gives: the definition the streaming
    /// counter must keep.
    fn counted_whole(input: &[u8]) -> u64 {
        String::from_utf8_lossy(input).split_whitespace().count() as u64
    }

    fn counted_in_pieces(input: &[u8], cuts: &[usize]) -> u64 {
        let mut counter = WordCounter::default();
        let mut from = 0;
        for &cut in cuts {
            counter.feed(&input[from..cut]);
            from = cut;
        }
        counter.feed(&input[from..]);
        counter.finish()
    }

    /// Inputs whose words, whitespace and characters meet piece boundaries in every way.
    fn samples() -> Vec<Vec<u8>> {
        let mut samples: Vec<Vec<u8>> = [
            &b""[..],
            b"   ",
            b"one",
            b"one two  three\n",
            b"\ttabs\tand\r\nnew\x0blines\x0c ",
            "caf\u{e9} na\u{ef}ve \u{65e5}\u{672c}\u{8a9e} \u{1f600}x".as_bytes(),
            // Unicode whitespace: ideographic space, no-break space, line separator, NEL.
            "a\u{3000}b\u{a0}c\u{2028}d\u{85}e".as_bytes(),
            // Invalid UTF-8: lone bytes, a character cut short inside a word and between
            // words, a lead byte before whitespace, and a cut character at the very end.
            b"\xff \xfe\xfd word\xc3 \xe2\x82 x\xe2\x82y \xf0\x9f\x98",
            b"\xc3\n\xe3\x80 \xe3\x80\x80z",
        ]
        .iter()
        .map(|s| s.to_vec())
        .collect();
        // Something longer, where a word and a character straddle most cuts.
        let long: Vec<u8> = (0..200)
            .flat_map(|i| match i % 5 {
                0 => "\u{65e5}\u{672c} ".as_bytes().to_vec(),
                1 => b"word\xff\t".to_vec(),
                2 => "x\u{3000}".as_bytes().to_vec(),
                3 => b"\xe2\x82\n".to_vec(),
                _ => b"plain  ".to_vec(),
            })
            .collect();
        samples.push(long);
        samples
    }

    #[test]
    fn counts_like_a_whole_lossy_text() {
        assert_eq!(counted_in_pieces(b"one two  three\n", &[]), 3);
        assert_eq!(
            counted_in_pieces(b"\xff \xfe", &[]),
            2,
            "invalid bytes are words"
        );
        for input in samples() {
            assert_eq!(
                counted_in_pieces(&input, &[]),
                counted_whole(&input),
                "{input:?}"
            );
        }
    }

    #[test]
    fn a_single_cut_anywhere_changes_nothing() {
        for input in samples() {
            for cut in 0..=input.len() {
                assert_eq!(
                    counted_in_pieces(&input, &[cut]),
                    counted_whole(&input),
                    "{input:?} cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn pieces_shorter_than_a_character_change_nothing() {
        for input in samples() {
            for size in 1..=MAX_CHAR_BYTES + 1 {
                let cuts: Vec<usize> = (size..input.len()).step_by(size).collect();
                assert_eq!(
                    counted_in_pieces(&input, &cuts),
                    counted_whole(&input),
                    "{input:?} in pieces of {size}"
                );
            }
        }
    }

    #[test]
    fn a_word_cut_in_two_counts_once() {
        assert_eq!(counted_in_pieces(b"hello world", &[3]), 2);
        assert_eq!(counted_in_pieces(b"hello world", &[5, 6]), 2);
        let cut_char = "a \u{65e5}\u{672c}".as_bytes();
        assert_eq!(counted_in_pieces(cut_char, &[3, 4, 6]), 2);
    }

    #[tokio::test]
    async fn counts_a_reader_a_buffer_at_a_time() {
        let input = samples().concat();
        // A buffer of 7 bytes cuts words and characters all along.
        let reader = tokio::io::BufReader::with_capacity(7, &input[..]);
        let counted = count_words(reader).await.expect("reading memory");
        assert_eq!(counted, counted_whole(&input));
    }
}
