//! How text becomes index terms: one analyzer per language (words, lower case, German stop
//! words or English ones, umlaut folding, Snowball stemming), and the character n-grams that
//! let a word match inside a German compound.
//!
//! Umlauts are folded to their two-letter spellings (ä→ae, ö→oe, ü→ue, ß→ss) before stemming,
//! on documents and queries alike, so "zurücksetzen" and "zuruecksetzen" are one term. Stop
//! words are removed before folding, since the lists spell umlauts ("für", "über").

use hotline_federation::model::Language;
use tantivy::tokenizer::{
    Language as StemLanguage, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    StopWordFilter, TextAnalyzer, Token, TokenFilter, TokenStream, Tokenizer,
};

/// Length of the character n-grams (in characters) of the compound field.
pub(crate) const GRAM_LEN: usize = 4;

/// A query word shorter than this (in characters) is not looked up by n-grams: short words
/// are rarely compound parts, and their grams match too much.
const MIN_GRAM_QUERY_WORD: usize = 5;

/// Tokens longer than this (in bytes) are dropped: they are hashes, URLs or noise.
const MAX_TOKEN_LEN: usize = 40;

/// The name the analyzer of `language` is registered under.
pub(crate) fn analyzer_name(language: Language) -> &'static str {
    match language {
        Language::De => "kb_de",
        Language::En => "kb_en",
    }
}

/// The analyzer of one language's text fields.
pub(crate) fn analyzer(language: Language) -> TextAnalyzer {
    let stem = match language {
        Language::De => StemLanguage::German,
        Language::En => StemLanguage::English,
    };
    let builder = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_LEN))
        .filter(LowerCaser);
    // Both languages have a built-in list; without one, every word is kept.
    match StopWordFilter::new(stem) {
        Some(stop_words) => builder
            .filter(stop_words)
            .filter(UmlautFolding)
            .filter(Stemmer::new(stem))
            .build(),
        None => builder
            .filter(UmlautFolding)
            .filter(Stemmer::new(stem))
            .build(),
    }
}

/// The terms `text` yields under `language`'s analyzer.
pub(crate) fn terms(language: Language, text: &str) -> Vec<String> {
    let mut analyzer = analyzer(language);
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// Lower case with umlauts and ß spelt out, as both the n-grams and the analyzers see words.
pub(crate) fn fold(word: &str) -> String {
    let mut out = String::with_capacity(word.len() + 4);
    for c in word.chars() {
        match c {
            'ä' | 'Ä' => out.push_str("ae"),
            'ö' | 'Ö' => out.push_str("oe"),
            'ü' | 'Ü' => out.push_str("ue"),
            'ß' | 'ẞ' => out.push_str("ss"),
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// The words of a text: runs of letters and digits.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// The n-grams of every word of a document's text, space separated, for the compound field
/// (indexed with the whitespace tokenizer).
pub(crate) fn document_grams(text: &str) -> String {
    let mut out = String::new();
    for word in words(text) {
        for gram in grams(&fold(word)) {
            out.push_str(&gram);
            out.push(' ');
        }
    }
    out
}

/// The n-grams a query word is looked up by; empty for short words.
pub(crate) fn query_grams(word: &str) -> Vec<String> {
    let folded: String = words(word).map(fold).collect();
    if folded.chars().count() < MIN_GRAM_QUERY_WORD {
        return Vec::new();
    }
    let mut grams = grams(&folded);
    grams.sort();
    grams.dedup();
    grams
}

/// The overlapping character n-grams of one folded word; none for words shorter than
/// [`GRAM_LEN`].
fn grams(word: &str) -> Vec<String> {
    let chars: Vec<char> = word.chars().collect();
    chars
        .windows(GRAM_LEN)
        .map(|w| w.iter().collect())
        .collect()
}

/// The words of a query as the caller typed them: split at white space, with punctuation
/// trimmed from both ends, each once.
pub(crate) fn query_words(query: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in query.split_whitespace() {
        let word = word.trim_matches(|c: char| !c.is_alphanumeric());
        if !word.is_empty() && !out.iter().any(|w| w.to_lowercase() == word.to_lowercase()) {
            out.push(word.to_owned());
        }
    }
    out
}

/// The token filter that spells out umlauts and ß (see [`fold`]).
#[derive(Clone)]
struct UmlautFolding;

impl TokenFilter for UmlautFolding {
    type Tokenizer<T: Tokenizer> = UmlautFoldingFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> UmlautFoldingFilter<T> {
        UmlautFoldingFilter { inner: tokenizer }
    }
}

/// [`UmlautFolding`] applied to a tokenizer.
#[derive(Clone)]
struct UmlautFoldingFilter<T> {
    inner: T,
}

impl<T: Tokenizer> Tokenizer for UmlautFoldingFilter<T> {
    type TokenStream<'a> = UmlautFoldingStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        UmlautFoldingStream {
            inner: self.inner.token_stream(text),
        }
    }
}

/// The token stream of [`UmlautFoldingFilter`].
struct UmlautFoldingStream<S> {
    inner: S,
}

impl<S: TokenStream> TokenStream for UmlautFoldingStream<S> {
    fn advance(&mut self) -> bool {
        if !self.inner.advance() {
            return false;
        }
        let token = self.inner.token_mut();
        if !token.text.is_ascii() {
            token.text = fold(&token.text);
        }
        true
    }

    fn token(&self) -> &Token {
        self.inner.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.inner.token_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Umlauts and their two-letter spellings give the same terms, in both directions.
    #[test]
    fn umlauts_and_their_spellings_are_one_term() {
        assert_eq!(
            terms(Language::De, "Kennwort zurücksetzen Größe"),
            terms(Language::De, "KENNWORT ZURUECKSETZEN GROESSE")
        );
    }

    /// Inflected German forms share a stem, and stop words are dropped.
    #[test]
    fn german_inflections_share_a_stem() {
        assert_eq!(
            terms(Language::De, "Druckers"),
            terms(Language::De, "Drucker")
        );
        assert!(terms(Language::De, "nicht und für").is_empty());
    }

    /// A query word's grams are found among the grams of a compound that contains it.
    #[test]
    fn a_word_s_grams_occur_in_a_compound() {
        let compound = document_grams("Druckerprobleme beheben");
        let grams = query_grams("Drucker");
        assert!(!grams.is_empty());
        assert!(grams.iter().all(|g| compound.split(' ').any(|c| c == g)));
        assert!(query_grams("VPN").is_empty());
    }

    /// Query words keep the caller's spelling and appear once.
    #[test]
    fn query_words_keep_the_caller_s_spelling() {
        assert_eq!(
            query_words("  E-Mail, e-mail geht nicht! "),
            ["E-Mail", "geht", "nicht"]
        );
    }
}
