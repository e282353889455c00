//! The index kept in step with the replica: which articles a site can search (their published
//! content; drafts and retired articles never), refilled from the replica when the index is new
//! or was wiped, and brought up to date before each search by comparing the versions it holds
//! with the replica's.

use std::collections::BTreeMap;
use std::path::Path;

use hotline_federation::EntityState;
use hotline_federation::authoring::read_article;
use hotline_federation::model::{ArticleState, EntityKind, Language};
use parking_lot::Mutex;

use super::{KbDoc, KbError, KbHit, KbIndex};
use crate::error::{Error, Result};
use crate::replica::Replica;

/// The directory of the index inside the adapter's data directory.
pub const INDEX_DIR: &str = "kb-index";

/// The site's knowledge index and what it holds (article id to indexed version).
pub struct KnowledgeIndex {
    index: KbIndex,
    indexed: Mutex<BTreeMap<String, u32>>,
}

impl std::fmt::Debug for KnowledgeIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnowledgeIndex")
            .field("articles", &self.indexed.lock().len())
            .finish()
    }
}

impl From<KbError> for Error {
    fn from(e: KbError) -> Error {
        match e {
            KbError::EmptyQuery => Error::BadRequest(format!("q: {e}")),
            KbError::Directory { .. } | KbError::Engine { .. } => Error::Storage(e.to_string()),
        }
    }
}

impl KnowledgeIndex {
    /// Opens the index in `data_dir` (creating it when missing) and fills it from `replica`.
    /// The versions it holds are not kept across restarts, so it is refilled at every start:
    /// that reads every article once (a few milliseconds for a few hundred articles).
    pub fn open(data_dir: &Path, replica: &Replica) -> Result<KnowledgeIndex> {
        let index = KbIndex::open(&data_dir.join(INDEX_DIR))?;
        Self::filled(index, replica)
    }

    /// An index in memory, filled from `replica` (tests and tools).
    pub fn in_memory(replica: &Replica) -> Result<KnowledgeIndex> {
        Self::filled(KbIndex::in_memory()?, replica)
    }

    fn filled(index: KbIndex, replica: &Replica) -> Result<KnowledgeIndex> {
        let docs = searchable(&replica.entities(EntityKind::Article)?);
        let indexed = docs.iter().map(|d| (d.id.clone(), d.version)).collect();
        index.rebuild(docs)?;
        Ok(KnowledgeIndex {
            index,
            indexed: Mutex::new(indexed),
        })
    }

    /// Brings the index up to the replica's articles: new and newer versions in, retired,
    /// revoked and deleted ones out. Returns how many articles changed.
    pub fn refresh(&self, replica: &Replica) -> Result<usize> {
        let docs = searchable(&replica.entities(EntityKind::Article)?);
        let mut indexed = self.indexed.lock();
        let current: BTreeMap<&str, u32> =
            docs.iter().map(|d| (d.id.as_str(), d.version)).collect();
        let gone: Vec<String> = indexed
            .keys()
            .filter(|id| !current.contains_key(id.as_str()))
            .cloned()
            .collect();
        let newer: Vec<KbDoc> = docs
            .into_iter()
            .filter(|doc| indexed.get(&doc.id) != Some(&doc.version))
            .collect();
        self.index.update(&gone, &newer)?;
        for id in &gone {
            indexed.remove(id);
        }
        for doc in &newer {
            indexed.insert(doc.id.clone(), doc.version);
        }
        Ok(gone.len() + newer.len())
    }

    /// Searches what the replica holds now (refreshing first).
    pub fn search(
        &self,
        replica: &Replica,
        query: &str,
        language: Option<Language>,
        limit: usize,
    ) -> Result<Vec<KbHit>> {
        self.refresh(replica)?;
        Ok(self.index.search(query, language, limit)?)
    }

    /// How many articles are searchable.
    pub fn len(&self) -> usize {
        self.indexed.lock().len()
    }

    /// True when no article is searchable.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The searchable content of `articles`: the published version of each article that has one
/// and is not retired or deleted.
pub fn searchable(articles: &[EntityState]) -> Vec<KbDoc> {
    articles.iter().filter_map(published).collect()
}

/// The published version of one article, if it has one and is not retired or deleted.
pub fn published(article: &EntityState) -> Option<KbDoc> {
    if article.deleted.is_some() {
        return None;
    }
    let read = read_article(article);
    let content = read.published;
    match (read.state, read.version, content.language) {
        (Some(ArticleState::Published), version, Some(language)) if version > 0 => Some(KbDoc {
            id: article.key.id.clone(),
            version,
            language,
            title: content.title,
            body: content.body,
            tags: content.tags,
            focus_teams: content.focus_teams,
        }),
        _ => None,
    }
}
