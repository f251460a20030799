//! `connector.native.text.word_count`: counts the words of a text and finds
//! the longest one. A pure node: it declares no capability, so the
//! `WordCountCaps` it receives has no handles at all.

include!(concat!(env!("OUT_DIR"), "/connector.rs"));

use lf_runtime::host::native::Failure;

/// The node, registered by [`word_count_register`].
#[derive(Debug, Default)]
pub struct WordCount;

impl WordCountNode for WordCount {
    fn run(
        &self,
        input: WordCountInput,
        _caps: &WordCountCaps,
    ) -> Result<WordCountOutput, Failure> {
        let mut words = 0_i64;
        let mut longest: Option<&str> = None;
        for word in input.text.split_whitespace() {
            words += 1;
            if longest.is_none_or(|l| word.chars().count() > l.chars().count()) {
                longest = Some(word);
            }
        }
        if words == 0 {
            return Err(Failure::new(
                word_count_errors::EMPTY_TEXT,
                "the text has no words",
            ));
        }
        Ok(WordCountOutput {
            words,
            longest: longest.map(str::to_owned),
        })
    }
}
