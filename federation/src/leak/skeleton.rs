//! Skeletons: a text reduced to lowercase ASCII letters and digits, in three readings, so that
//! spacing, case, punctuation, umlaut spellings and digit/letter tricks all reduce to the same
//! bytes. Each skeleton byte remembers whether it begins a word of the original text, because
//! short terms must match whole words (see [`super`]).
//!
//! - [`Skeleton::plain`]: letters and digits only; `ä`/`ö`/`ü` become `ae`/`oe`/`ue`, `ß`
//!   becomes `ss`, accents are dropped, full-width and Cyrillic/Greek look-alike letters become
//!   their Latin twins; zero-width characters, soft hyphens and combining marks vanish without
//!   splitting a word (a combining diaeresis reads as `e`, as in `o\u{308}` = `oe`).
//! - [`Skeleton::numbers`]: the plain skeleton with German and English number words as digits;
//!   a tens word joined to a unit reads as one number (`twenty four`, `twenty 4` and
//!   `vierundzwanzig` all read `24`).
//! - [`Skeleton::leet`]: every byte replaced by its look-alike class (`0`/`o`, `1`/`i`/`l`,
//!   `3`/`e`, `4`/`a`, `5`/`s`, `7`/`t`, `8`/`b`, `6`/`9`/`g`, `2`/`z`), and `@ $ € ! |` read as
//!   `a s e i i`.

/// A text reduced to lowercase ASCII letters and digits, with where its words start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Skeleton {
    /// The letters and digits.
    pub(super) bytes: Vec<u8>,
    /// `starts[i]`: byte `i` begins a word of the original text.
    starts: Vec<bool>,
}

/// What one character of the original text becomes.
enum Folded {
    /// One letter or digit.
    Byte(u8),
    /// Several letters (`ä` is `ae`).
    Bytes(&'static [u8]),
    /// Nothing, and the word goes on (zero-width characters, combining marks).
    Silent,
    /// Nothing, and the word ends (spaces, punctuation, anything unknown).
    Separator,
}

impl Skeleton {
    fn push(&mut self, byte: u8, start: bool) {
        self.bytes.push(byte);
        self.starts.push(start);
    }

    /// Number of bytes.
    pub(super) fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True when byte `i` begins a word.
    pub(super) fn starts_word(&self, i: usize) -> bool {
        self.starts.get(i).copied().unwrap_or(true)
    }

    /// True when byte `i` is the last of a word.
    pub(super) fn ends_word(&self, i: usize) -> bool {
        self.starts.get(i + 1).copied().unwrap_or(true)
    }

    /// The plain reading (see the module docs).
    pub(super) fn plain(text: &str) -> Skeleton {
        Skeleton::build(text, fold_plain, |b| b)
    }

    /// The look-alike reading (see the module docs).
    pub(super) fn leet(text: &str) -> Skeleton {
        Skeleton::build(text, fold_leet, leet_class)
    }

    /// The plain reading with umlauts read as their bare vowels (`Dörtmund` is `dortmund`).
    pub(super) fn bare(text: &str) -> Skeleton {
        Skeleton::build(text, fold_bare, |b| b)
    }

    /// The number-word reading of a plain skeleton with number words found through
    /// look-alikes (`tw3nty f0ur`), then every byte as its look-alike class.
    pub(super) fn leet_numbers(plain: &Skeleton) -> Skeleton {
        let mut out = Skeleton::numbers_by(plain, leet_class);
        for b in &mut out.bytes {
            *b = leet_class(*b);
        }
        out
    }

    fn build(text: &str, fold: fn(char) -> Folded, class: fn(u8) -> u8) -> Skeleton {
        let mut skeleton = Skeleton::default();
        let mut in_word = false;
        for c in text.chars() {
            let bytes: &[u8] = match fold(c) {
                Folded::Byte(b) => &[b],
                Folded::Bytes(bytes) => bytes,
                Folded::Silent => continue,
                Folded::Separator => {
                    in_word = false;
                    continue;
                }
            };
            for &b in bytes {
                skeleton.push(class(b), !in_word);
                in_word = true;
            }
        }
        skeleton
    }

    /// The number-word reading of a plain skeleton (see the module docs).
    pub(super) fn numbers(plain: &Skeleton) -> Skeleton {
        Skeleton::numbers_by(plain, |b| b)
    }

    /// The number-word reading, a number word matching where each byte has its `class`.
    fn numbers_by(plain: &Skeleton, class: impl Fn(u8) -> u8 + Copy) -> Skeleton {
        let tokens = tokenize(plain, class);
        let mut out = Skeleton::default();
        let emit = |out: &mut Skeleton, value: u8, start: bool| {
            for (i, digit) in value.to_string().bytes().enumerate() {
                out.push(digit, start && i == 0);
            }
        };
        let mut i = 0;
        while i < tokens.len() {
            let (token, start) = tokens[i];
            match token {
                Token::Number(tens) if is_tens(tens) => match unit_at(&tokens, i + 1) {
                    Some(unit) => {
                        emit(&mut out, tens + unit, start);
                        i += 2;
                    }
                    None => {
                        emit(&mut out, tens, start);
                        i += 1;
                    }
                },
                Token::Number(unit) => match german_tens_after(&tokens, i) {
                    Some(tens) if (1..=9).contains(&unit) => {
                        emit(&mut out, tens + unit, start);
                        i += 5;
                    }
                    _ => {
                        emit(&mut out, unit, start);
                        i += 1;
                    }
                },
                Token::Byte(b) => {
                    out.push(b, start);
                    i += 1;
                }
            }
        }
        out
    }
}

/// Letters, digits, umlauts, accents and look-alikes, as the module docs describe.
fn fold_plain(c: char) -> Folded {
    if c.is_ascii_alphanumeric() {
        return Folded::Byte(c.to_ascii_lowercase() as u8);
    }
    if c.is_ascii() {
        return Folded::Separator;
    }
    // Full-width forms: ０-９, Ａ-Ｚ, ａ-ｚ.
    let code = u32::from(c);
    let full_width = match code {
        0xFF10..=0xFF19 => Some(b'0' + (code - 0xFF10) as u8),
        0xFF21..=0xFF3A => Some(b'a' + (code - 0xFF21) as u8),
        0xFF41..=0xFF5A => Some(b'a' + (code - 0xFF41) as u8),
        _ => None,
    };
    if let Some(b) = full_width {
        return Folded::Byte(b);
    }
    if let Some(b) = styled_alphanumeric(code) {
        return Folded::Byte(b);
    }
    let lower = c.to_lowercase().next().unwrap_or(c);
    let bytes: &'static [u8] = match lower {
        'ä' | 'æ' => b"ae",
        'ö' | 'œ' => b"oe",
        'ü' => b"ue",
        'ß' => b"ss",
        // A combining diaeresis after a vowel: `u\u{308}` reads as `ue`, like `ü`.
        '\u{308}' => b"e",
        '\u{300}'..='\u{36f}' | '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}' | '\u{ad}' => {
            return Folded::Silent;
        }
        'à' | 'á' | 'â' | 'ã' | 'å' | 'ā' | 'ă' | 'ą' | 'а' | 'α' => b"a",
        'в' | 'β' => b"b",
        'ç' | 'ć' | 'č' | 'с' => b"c",
        'ď' | 'đ' | 'ԁ' => b"d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' | 'е' | 'ε' => b"e",
        'н' | 'η' | 'һ' | 'հ' | 'ʜ' | 'ℎ' => b"h",
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'ı' | 'і' | 'ι' | 'ɪ' => b"i",
        'ј' | 'ᴊ' => b"j",
        'к' | 'κ' | 'ᴋ' => b"k",
        'ł' | 'ӏ' | 'ʟ' | 'ⅼ' => b"l",
        'м' | 'μ' | 'ᴍ' => b"m",
        'ñ' | 'ń' | 'ň' | 'ν' | 'ɴ' | 'ո' => b"n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ō' | 'ø' | 'о' | 'ο' | 'ᴏ' | 'օ' => b"o",
        'р' | 'ρ' | 'ᴘ' => b"p",
        'ԛ' => b"q",
        'ř' | 'ʀ' => b"r",
        'ś' | 'š' | 'ş' | 'ѕ' | 'ꜱ' => b"s",
        'ť' | 'т' | 'τ' | 'ᴛ' => b"t",
        'ù' | 'ú' | 'û' | 'ū' | 'ů' | 'ᴜ' | 'ս' => b"u",
        'ᴠ' | 'ѵ' => b"v",
        'ԝ' | 'ᴡ' | 'ѡ' => b"w",
        'х' | 'χ' => b"x",
        'ý' | 'ÿ' | 'у' | 'υ' | 'ʏ' => b"y",
        'ź' | 'ż' | 'ž' | 'ζ' | 'ᴢ' => b"z",
        'ᴀ' => b"a",
        'ʙ' => b"b",
        'ᴄ' => b"c",
        'ᴅ' => b"d",
        'ᴇ' => b"e",
        'ɡ' | 'ɢ' => b"g",
        _ => return Folded::Separator,
    };
    Folded::Bytes(bytes)
}

/// Letters and digits of the styled Unicode alphabets (mathematical bold, italic, script,
/// double-struck, sans-serif, monospace; circled and parenthesized letters; circled digits).
fn styled_alphanumeric(code: u32) -> Option<u8> {
    let letter = |offset: u32| {
        let i = (offset % 52) as u8;
        if i < 26 { b'a' + i } else { b'a' + i - 26 }
    };
    match code {
        0x1D400..=0x1D6A3 => Some(letter(code - 0x1D400)),
        0x1D7CE..=0x1D7FF => Some(b'0' + ((code - 0x1D7CE) % 10) as u8),
        0x24B6..=0x24CF => Some(b'a' + (code - 0x24B6) as u8),
        0x24D0..=0x24E9 => Some(b'a' + (code - 0x24D0) as u8),
        0x249C..=0x24B5 => Some(b'a' + (code - 0x249C) as u8),
        0x2460..=0x2468 => Some(b'1' + (code - 0x2460) as u8),
        0x24EA => Some(b'0'),
        _ => None,
    }
}

/// Like [`fold_plain`], with umlauts as their bare vowels.
fn fold_bare(c: char) -> Folded {
    match c.to_lowercase().next().unwrap_or(c) {
        'ä' => Folded::Byte(b'a'),
        'ö' => Folded::Byte(b'o'),
        'ü' => Folded::Byte(b'u'),
        '\u{308}' => Folded::Silent,
        _ => fold_plain(c),
    }
}

/// Like [`fold_plain`], and the symbols that stand in for letters are letters.
fn fold_leet(c: char) -> Folded {
    match c {
        '@' => Folded::Byte(b'a'),
        '$' => Folded::Byte(b's'),
        '€' => Folded::Byte(b'e'),
        '!' | '|' => Folded::Byte(b'i'),
        _ => fold_plain(c),
    }
}

/// The look-alike class of a skeleton byte: digits read as the letters they imitate, and `l`
/// reads as `i` (both imitate `1`).
fn leet_class(b: u8) -> u8 {
    match b {
        b'0' => b'o',
        b'1' | b'l' => b'i',
        b'2' => b'z',
        b'3' => b'e',
        b'4' => b'a',
        b'5' => b's',
        b'6' | b'9' => b'g',
        b'7' => b't',
        b'8' => b'b',
        other => other,
    }
}

/// Number words of both languages, spelled as the plain skeleton spells them.
const NUMBER_WORDS: &[(&str, u8)] = &[
    ("zero", 0),
    ("one", 1),
    ("two", 2),
    ("three", 3),
    ("four", 4),
    ("five", 5),
    ("six", 6),
    ("seven", 7),
    ("eight", 8),
    ("nine", 9),
    ("ten", 10),
    ("eleven", 11),
    ("twelve", 12),
    ("thirteen", 13),
    ("fourteen", 14),
    ("fifteen", 15),
    ("sixteen", 16),
    ("seventeen", 17),
    ("eighteen", 18),
    ("nineteen", 19),
    ("twenty", 20),
    ("thirty", 30),
    ("forty", 40),
    ("fifty", 50),
    ("sixty", 60),
    ("seventy", 70),
    ("eighty", 80),
    ("ninety", 90),
    ("null", 0),
    ("eins", 1),
    ("zwei", 2),
    ("drei", 3),
    ("vier", 4),
    ("fuenf", 5),
    ("sechs", 6),
    ("sieben", 7),
    ("acht", 8),
    ("neun", 9),
    ("zehn", 10),
    ("elf", 11),
    ("zwoelf", 12),
    ("dreizehn", 13),
    ("vierzehn", 14),
    ("fuenfzehn", 15),
    ("sechzehn", 16),
    ("siebzehn", 17),
    ("achtzehn", 18),
    ("neunzehn", 19),
    ("zwanzig", 20),
    ("dreissig", 30),
    ("vierzig", 40),
    ("fuenfzig", 50),
    ("sechzig", 60),
    ("siebzig", 70),
    ("achtzig", 80),
    ("neunzig", 90),
];

/// A piece of the plain skeleton: a number word, or one byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    Number(u8),
    Byte(u8),
}

/// Splits a plain skeleton into number words (longest first) and single bytes, each with the
/// word-start flag of its first byte.
fn tokenize(plain: &Skeleton, class: impl Fn(u8) -> u8 + Copy) -> Vec<(Token, bool)> {
    let bytes = &plain.bytes;
    let mut tokens = Vec::with_capacity(bytes.len());
    // The class of each number word's first byte: most positions start no number word, and
    // this rules them out without comparing the rest (checking a customer text took a
    // quarter of an adapter's create with a brand when every word was compared in full).
    let firsts = first_classes(class);
    let mut i = 0;
    while i < bytes.len() {
        match longest_word_at(&bytes[i..], class, Some(&firsts)) {
            Some(&(word, value)) => {
                tokens.push((Token::Number(value), plain.starts_word(i)));
                i += word.len();
            }
            None => {
                tokens.push((Token::Byte(bytes[i]), plain.starts_word(i)));
                i += 1;
            }
        }
    }
    tokens
}

/// The class of each number word's first byte, in [`NUMBER_WORDS`] order.
fn first_classes(class: impl Fn(u8) -> u8) -> Vec<u8> {
    NUMBER_WORDS
        .iter()
        .map(|(word, _)| class(word.as_bytes()[0]))
        .collect()
}

/// The longest number word `at` starts with, each byte compared by its `class`; with
/// `firsts` ([`first_classes`]), only the words whose first byte has the class of `at`'s.
fn longest_word_at<'w>(
    at: &[u8],
    class: impl Fn(u8) -> u8 + Copy,
    firsts: Option<&[u8]>,
) -> Option<&'w (&'static str, u8)> {
    let first = class(*at.first()?);
    NUMBER_WORDS
        .iter()
        .enumerate()
        .filter(|&(n, _)| firsts.is_none_or(|firsts| firsts[n] == first))
        .map(|(_, entry)| entry)
        .filter(|(word, _)| {
            at.len() >= word.len()
                && at
                    .iter()
                    .zip(word.bytes())
                    .all(|(&a, w)| class(a) == class(w))
        })
        .max_by_key(|(word, _)| word.len())
}

fn is_tens(value: u8) -> bool {
    value >= 20 && value % 10 == 0
}

/// The unit (1 to 9) at `i`: a unit word, or a lone digit not followed by another digit.
fn unit_at(tokens: &[(Token, bool)], i: usize) -> Option<u8> {
    match tokens.get(i)?.0 {
        Token::Number(unit) if (1..=9).contains(&unit) => Some(unit),
        Token::Byte(digit @ b'1'..=b'9') => {
            let next_is_digit = matches!(tokens.get(i + 1), Some((Token::Byte(b'0'..=b'9'), _)));
            (!next_is_digit).then_some(digit - b'0')
        }
        _ => None,
    }
}

/// The tens of a German `<unit>und<tens>` starting at `i` (the unit itself is at `i`).
fn german_tens_after(tokens: &[(Token, bool)], i: usize) -> Option<u8> {
    let und = [Token::Byte(b'u'), Token::Byte(b'n'), Token::Byte(b'd')];
    let follows = tokens.get(i + 1..i + 4)?;
    if follows.iter().map(|(t, _)| *t).ne(und) {
        return None;
    }
    match tokens.get(i + 4)?.0 {
        Token::Number(tens) if is_tens(tens) => Some(tens),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(text: &str) -> String {
        String::from_utf8(Skeleton::plain(text).bytes).expect("ascii")
    }

    fn numbers(text: &str) -> String {
        String::from_utf8(Skeleton::numbers(&Skeleton::plain(text)).bytes).expect("ascii")
    }

    fn leet(text: &str) -> String {
        String::from_utf8(Skeleton::leet(text).bytes).expect("ascii")
    }

    /// Case, spacing, punctuation and umlaut spellings vanish, so "Görlitz" and "goerlitz" are
    /// one name to the guard.
    #[test]
    fn plain_skeleton_folds_case_spacing_and_umlauts() {
        assert_eq!(plain("Help by.com"), "helpbycom");
        assert_eq!(plain("Görlitz"), "goerlitz");
        assert_eq!(plain("GÖRLITZ"), "goerlitz");
        assert_eq!(plain("Go\u{308}rlitz"), "goerlitz");
        assert_eq!(plain("Straße"), "strasse");
        assert_eq!(plain("Ｍｕｎｉｃｈ"), "munich");
        assert_eq!(plain("mun\u{200b}ich"), "munich");
        // Cyrillic е and о in a Latin word.
        assert_eq!(plain("twеnty4hеlp ѕupport"), "twenty4helpsupport");
    }

    /// Number words of both languages read as digits, and a tens word joins its unit, so every
    /// spelling of "twenty4help" reads the same.
    #[test]
    fn number_skeleton_reads_number_words_as_digits() {
        for text in [
            "twenty4help",
            "Twenty 4 Help",
            "TWENTY FOUR HELP",
            "twentyfour help",
            "vierundzwanzig help",
            "24help",
        ] {
            assert_eq!(numbers(text), "24help", "{text}");
        }
        assert_eq!(numbers("t four h zero one seven"), "t4h017");
        assert_eq!(numbers("twenty 45"), "2045");
    }

    /// Digits and symbols read as the letters they imitate.
    #[test]
    fn leet_skeleton_reads_digits_as_letters() {
        assert_eq!(leet("H3lpByC0m"), leet("helpbycom"));
        assert_eq!(leet("mun!ch"), leet("munich"));
        assert_eq!(leet("$ite"), leet("site"));
    }

    /// Word starts survive folding: a short term can be held to whole words.
    #[test]
    fn word_starts_are_kept() {
        let skeleton = Skeleton::plain("at T4H-017");
        assert!(skeleton.starts_word(0));
        assert!(!skeleton.starts_word(1));
        assert!(skeleton.ends_word(1));
        assert!(skeleton.starts_word(2));
        assert!(skeleton.ends_word(4));
        assert!(skeleton.ends_word(skeleton.len() - 1));
    }

    proptest::proptest! {
        /// In texts of number words, their look-alikes, digits and separators, the first-byte
        /// check finds the same number word at every position as comparing every word in
        /// full, in both readings.
        #[test]
        fn the_first_byte_check_finds_the_same_number_words(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "twenty", "tw3nty", "f0ur", "four", "vier", "und", "zwanzig", "7", "l", "1",
                    "eleven", "e1even", "nine", "neun", " ", "-", "x", "0", "seventeen", "s3ven",
                    "3ight", "7en", "0ne", "5ix",
                ]),
                0..12,
            )
        ) {
            let bytes = Skeleton::plain(&parts.concat()).bytes;
            let identity: fn(u8) -> u8 = |b| b;
            for class in [identity, leet_class] {
                let firsts = first_classes(class);
                for i in 0..bytes.len() {
                    proptest::prop_assert_eq!(
                        longest_word_at(&bytes[i..], class, Some(&firsts)),
                        longest_word_at(&bytes[i..], class, None),
                        "at {}", i
                    );
                }
            }
        }
    }
}
