//! The knowledge base's full-text index at a site: published articles from the local replica,
//! searchable offline in German and English.
//!
//! Each article is indexed with its own language's analyzer ([`analysis`]): German or English
//! Snowball stemming after folding umlauts, so inflections and both umlaut spellings match.
//! Title, tags and body are separate fields, weighted in that order; an article's tags are its
//! synonyms (a "Kennwort" article tagged "Passwort" is found by "Passwort"). A field of character
//! n-grams over title and tags lets a word match inside a German compound ("Drucker" in
//! "Druckerprobleme") at a lower weight. Queries are built and answered in [`search`].
//!
//! The index directory belongs to the index alone: one that cannot be read, or was written with
//! another schema, is wiped and created empty, and [`KbIndex::needs_rebuild`] says so, so the
//! caller refills it from the replica.

mod analysis;
mod replica;
mod search;

pub use replica::{INDEX_DIR, KnowledgeIndex, published, searchable};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use hotline_federation::model::Language;
use parking_lot::Mutex;
use tantivy::schema::{
    Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

/// Heap the writer may use before it flushes a segment (tantivy's floor is 15 MB per thread).
const WRITER_HEAP_BYTES: usize = 20_000_000;

/// One article as the index takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KbDoc {
    /// The article id.
    pub id: String,
    /// The article's version, returned with hits so a caller can tell a stale hit.
    pub version: u32,
    /// The language the article is written in; it chooses the analyzer.
    pub language: Language,
    /// The title.
    pub title: String,
    /// The Markdown body.
    pub body: String,
    /// Tags, searched as synonyms of the article's topic.
    pub tags: Vec<String>,
    /// Focus teams the article is for (kept for the caller; not searched).
    pub focus_teams: Vec<String>,
}

/// One search hit, best first.
#[derive(Clone, Debug, PartialEq)]
pub struct KbHit {
    /// The article id.
    pub id: String,
    /// The article version that was indexed.
    pub version: u32,
    /// The article's language.
    pub language: Language,
    /// The title.
    pub title: String,
    /// The relevance score (higher is better; comparable within one search only).
    pub score: f32,
    /// A short plain-text excerpt of the body around the matched words.
    pub snippet: String,
    /// The query's words, as typed, that matched this article.
    pub matched_terms: Vec<String>,
}

/// What failed in the knowledge index.
#[derive(Debug, thiserror::Error)]
pub enum KbError {
    /// The search text was empty or only white space.
    #[error("a query is required: the search text is empty or only white space")]
    EmptyQuery,
    /// The index directory could not be created or wiped.
    #[error("knowledge index directory {}: {action}: {source}", dir.display())]
    Directory {
        /// The index directory.
        dir: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The file system's error.
        source: std::io::Error,
    },
    /// The search engine refused an operation.
    #[error("knowledge index: {action}: {source}")]
    Engine {
        /// What was being done, e.g. "committing an upsert".
        action: &'static str,
        /// The engine's error.
        source: tantivy::TantivyError,
    },
}

impl KbError {
    fn engine(action: &'static str) -> impl FnOnce(tantivy::TantivyError) -> KbError {
        move |source| KbError::Engine { action, source }
    }

    fn directory(dir: &Path, action: &'static str) -> impl FnOnce(std::io::Error) -> KbError {
        let dir = dir.to_owned();
        move |source| KbError::Directory {
            dir,
            action,
            source,
        }
    }
}

/// The schema's fields.
#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    version: Field,
    language: Field,
    /// Title, body and tags of German articles, with the German analyzer.
    de: LanguageFields,
    /// The same for English articles.
    en: LanguageFields,
    /// Character n-grams of title and tags, any language.
    grams: Field,
}

/// The text fields of one language.
#[derive(Clone, Copy)]
struct LanguageFields {
    title: Field,
    body: Field,
    tags: Field,
}

impl Fields {
    fn of(&self, language: Language) -> LanguageFields {
        match language {
            Language::De => self.de,
            Language::En => self.en,
        }
    }
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text = |language: Language, stored: bool| {
        let indexing = TextFieldIndexing::default()
            .set_tokenizer(analysis::analyzer_name(language))
            .set_index_option(IndexRecordOption::WithFreqs);
        let options = TextOptions::default().set_indexing_options(indexing);
        if stored {
            options.set_stored()
        } else {
            options
        }
    };
    let mut language_fields = |language: Language| LanguageFields {
        title: builder.add_text_field(&format!("title_{language}"), text(language, true)),
        body: builder.add_text_field(&format!("body_{language}"), text(language, true)),
        tags: builder.add_text_field(&format!("tags_{language}"), text(language, false)),
    };
    let de = language_fields(Language::De);
    let en = language_fields(Language::En);
    let grams_indexing = TextFieldIndexing::default()
        .set_tokenizer("whitespace")
        .set_index_option(IndexRecordOption::WithFreqs);
    let fields = Fields {
        id: builder.add_text_field("id", STRING | STORED),
        version: builder.add_u64_field("version", INDEXED | STORED),
        language: builder.add_text_field("language", STRING | STORED),
        de,
        en,
        grams: builder.add_text_field(
            "grams",
            TextOptions::default().set_indexing_options(grams_indexing),
        ),
    };
    (builder.build(), fields)
}

/// A full-text index of knowledge-base articles, on disk or in memory.
pub struct KbIndex {
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    needs_rebuild: AtomicBool,
}

impl KbIndex {
    /// Opens the index in `dir`, creating it when missing. A directory that cannot be read as
    /// this index (corrupt, or another schema) is wiped and created empty; then
    /// [`KbIndex::needs_rebuild`] is true.
    pub fn open(dir: &Path) -> Result<KbIndex, KbError> {
        std::fs::create_dir_all(dir).map_err(KbError::directory(dir, "creating"))?;
        let (schema, fields) = schema();
        let has_meta = dir.join("meta.json").exists();
        if has_meta {
            match Self::open_existing(dir, &schema, fields) {
                Ok(index) => return Ok(index),
                // Another index (in this process or another) has the directory open: it is
                // in use, not damaged, and must not be wiped.
                Err(
                    error @ KbError::Engine {
                        source: tantivy::TantivyError::LockFailure(..),
                        ..
                    },
                ) => return Err(error),
                Err(error) => {
                    tracing::warn!(dir = %dir.display(), %error, "knowledge index unreadable; wiping it for a rebuild");
                }
            }
        }
        if dir
            .read_dir()
            .map_err(KbError::directory(dir, "listing"))?
            .next()
            .is_some()
        {
            std::fs::remove_dir_all(dir).map_err(KbError::directory(dir, "wiping"))?;
            std::fs::create_dir_all(dir).map_err(KbError::directory(dir, "recreating"))?;
        }
        let index =
            Index::create_in_dir(dir, schema).map_err(KbError::engine("creating the index"))?;
        Self::with_index(index, fields, true)
    }

    /// An index held in memory only (tests, and sites without a data directory).
    pub fn in_memory() -> Result<KbIndex, KbError> {
        let (schema, fields) = schema();
        Self::with_index(Index::create_in_ram(schema), fields, true)
    }

    fn open_existing(dir: &Path, schema: &Schema, fields: Fields) -> Result<KbIndex, KbError> {
        let index = Index::open_in_dir(dir).map_err(KbError::engine("opening the index"))?;
        let same_schema =
            serde_json::to_string(&index.schema()).ok() == serde_json::to_string(schema).ok();
        if !same_schema {
            return Err(KbError::Engine {
                action: "opening the index",
                source: tantivy::TantivyError::SchemaError(
                    "the index was written with another schema".to_owned(),
                ),
            });
        }
        Self::with_index(index, fields, false)
    }

    fn with_index(index: Index, fields: Fields, fresh: bool) -> Result<KbIndex, KbError> {
        for language in Language::ALL.iter().copied() {
            index.tokenizers().register(
                analysis::analyzer_name(language),
                analysis::analyzer(language),
            );
        }
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(KbError::engine("opening a reader"))?;
        let writer = index
            .writer_with_num_threads(1, WRITER_HEAP_BYTES)
            .map_err(KbError::engine("opening the writer"))?;
        Ok(KbIndex {
            reader,
            writer: Mutex::new(writer),
            fields,
            needs_rebuild: AtomicBool::new(fresh),
        })
    }

    /// True when the index was freshly created or wiped and no [`KbIndex::rebuild`] has filled
    /// it since.
    pub fn needs_rebuild(&self) -> bool {
        self.needs_rebuild.load(Ordering::Acquire)
    }

    /// Replaces every article with `docs`, in one commit.
    pub fn rebuild(&self, docs: impl IntoIterator<Item = KbDoc>) -> Result<(), KbError> {
        let mut writer = self.writer.lock();
        writer
            .delete_all_documents()
            .map_err(KbError::engine("clearing the index"))?;
        for doc in docs {
            writer
                .add_document(self.document(&doc))
                .map_err(KbError::engine("adding an article"))?;
        }
        self.commit(&mut writer, "committing a rebuild")?;
        self.needs_rebuild.store(false, Ordering::Release);
        Ok(())
    }

    /// Adds an article or replaces the one with its id; searchable when this returns.
    pub fn upsert(&self, doc: &KbDoc) -> Result<(), KbError> {
        let mut writer = self.writer.lock();
        writer.delete_term(Term::from_field_text(self.fields.id, &doc.id));
        writer
            .add_document(self.document(doc))
            .map_err(KbError::engine("adding an article"))?;
        self.commit(&mut writer, "committing an upsert")
    }

    /// Removes the articles `gone` and adds or replaces `docs`, all in one commit (a commit
    /// writes and syncs segment files, so a site that receives many articles at once pays for
    /// one, not one per article); searchable when this returns. Nothing is committed when both
    /// are empty.
    pub fn update(&self, gone: &[String], docs: &[KbDoc]) -> Result<(), KbError> {
        if gone.is_empty() && docs.is_empty() {
            return Ok(());
        }
        let mut writer = self.writer.lock();
        for id in gone.iter().chain(docs.iter().map(|doc| &doc.id)) {
            writer.delete_term(Term::from_field_text(self.fields.id, id));
        }
        for doc in docs {
            writer
                .add_document(self.document(doc))
                .map_err(KbError::engine("adding an article"))?;
        }
        self.commit(&mut writer, "committing an update")
    }

    /// Removes the article with this id (nothing happens when there is none).
    pub fn remove(&self, id: &str) -> Result<(), KbError> {
        let mut writer = self.writer.lock();
        writer.delete_term(Term::from_field_text(self.fields.id, id));
        self.commit(&mut writer, "committing a removal")
    }

    /// The number of articles searchable now.
    pub fn len(&self) -> usize {
        usize::try_from(self.reader.searcher().num_docs()).unwrap_or(usize::MAX)
    }

    /// True when no article is searchable.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Articles matching `query`, best first: at most `limit` hits (clamped to 1..=50), in
    /// `language` or, when `None`, in both languages.
    pub fn search(
        &self,
        query: &str,
        language: Option<Language>,
        limit: usize,
    ) -> Result<Vec<KbHit>, KbError> {
        search::run(self, query, language, limit)
    }

    fn commit(&self, writer: &mut IndexWriter, action: &'static str) -> Result<(), KbError> {
        writer.commit().map_err(KbError::engine(action))?;
        self.reader
            .reload()
            .map_err(KbError::engine("reloading the reader"))
    }

    fn document(&self, doc: &KbDoc) -> TantivyDocument {
        let f = self.fields;
        let text = f.of(doc.language);
        let mut out = TantivyDocument::default();
        out.add_text(f.id, &doc.id);
        out.add_u64(f.version, u64::from(doc.version));
        out.add_text(f.language, doc.language.as_str());
        out.add_text(text.title, &doc.title);
        out.add_text(text.body, &doc.body);
        for tag in &doc.tags {
            out.add_text(text.tags, tag);
        }
        let head = format!("{} {}", doc.title, doc.tags.join(" "));
        out.add_text(f.grams, analysis::document_grams(&head));
        out
    }
}
