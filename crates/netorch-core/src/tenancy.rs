//! Multi-tenancy: records owned by projects, with OSM's read/write sets.
//!
//! Every tenant record carries the projects that may read it and those that may write it; the
//! pseudo-project `ANY` makes it public. Queries are always given a `ProjectScope` computed from
//! the caller's session (its project, or with OSM's `ADMIN` query string all or named projects),
//! and the store filters in SQL, so no code path can forget the filter.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{Micros, StoreError, events::NewEvent};

/// The pseudo-project that makes a record public.
pub const ANY: &str = "ANY";

/// How public (`ANY`) records are treated by a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Public {
    /// Only records of the scope's projects (OSM's list default).
    Ignore,
    /// Also public records (`PUBLIC=true`, and every single-record read).
    Include,
    /// Records of the scope's projects that are not public (`PUBLIC=false`).
    Exclude,
}

/// Which records a query may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectScope {
    /// Every record (`ADMIN` without a project list).
    All,
    /// Records owned by these project ids.
    Only {
        /// Project ids.
        projects: Vec<String>,
        /// Treatment of public records.
        public: Public,
    },
}

impl ProjectScope {
    /// Whether a record with these owner projects is inside the scope.
    pub fn admits(&self, owners: &[String]) -> bool {
        match self {
            ProjectScope::All => true,
            ProjectScope::Only { projects, public } => {
                let is_public = owners.iter().any(|p| p == ANY);
                let mine = owners.iter().any(|p| projects.contains(p));
                match public {
                    Public::Ignore => mine,
                    Public::Include => mine || is_public,
                    Public::Exclude => mine && !is_public,
                }
            }
        }
    }
}

/// Who may read and write a record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ownership {
    /// Project ids (or `ANY`) that may read.
    pub read: Vec<String>,
    /// Project ids (or `ANY`) that may write.
    pub write: Vec<String>,
}

impl Ownership {
    /// Owned by one project, private.
    pub fn project(id: &str) -> Self {
        Self {
            read: vec![id.to_string()],
            write: vec![id.to_string()],
        }
    }
}

/// A tenant record of some collection (VIM account, package, NS instance...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Id, unique within the collection.
    pub id: String,
    /// Name, unique within the collection for each project that owns the record.
    pub name: Option<String>,
    /// The document.
    pub body: serde_json::Value,
    /// Owner projects.
    pub owners: Ownership,
    /// Creation time.
    pub created: Micros,
    /// Last modification.
    pub modified: Micros,
    /// Incremented by every update; updates name the revision they read (optimistic concurrency).
    pub revision: i64,
}

impl Record {
    /// Marks the record as changed at `now`: the one place that bumps the revision an update
    /// names (the store accepts the update only if it still holds `revision - 1`).
    pub fn touch(&mut self, now: Micros) {
        self.modified = now;
        self.revision += 1;
    }
}

/// Persistence of tenant records. Names are unique per (collection, owner project), enforced by
/// the database.
#[async_trait]
pub trait RecordRepository: Send + Sync + 'static {
    /// Inserts a record; `Conflict` if the id, or the name within one of its projects, is taken.
    async fn insert_record(
        &self,
        collection: &str,
        r: &Record,
        events: &[NewEvent],
    ) -> Result<(), StoreError>;
    /// Inserts several records (of any collections) in one transaction: all or none.
    async fn insert_records(
        &self,
        records: &[(&str, &Record)],
        events: &[NewEvent],
    ) -> Result<(), StoreError>;
    /// Inserts, updates (each only if its stored revision is still `revision - 1`, else
    /// `Conflict`) and deletes records of any collections in one transaction with `events`: all
    /// or nothing.
    async fn write_records(
        &self,
        inserts: &[(&str, &Record)],
        updates: &[(&str, &Record)],
        deletes: &[(&str, &str)],
        events: &[NewEvent],
    ) -> Result<(), StoreError>;
    /// Deletes several records in one transaction; how many existed.
    async fn delete_records(
        &self,
        keys: &[(&str, &str)],
        events: &[NewEvent],
    ) -> Result<u64, StoreError>;
    /// One record, if it is inside `scope` (reads use the read set; `for_write` uses the write set).
    async fn get_record(
        &self,
        collection: &str,
        id: &str,
        scope: &ProjectScope,
        for_write: bool,
    ) -> Result<Option<Record>, StoreError>;
    /// Records inside `scope` (read set), oldest first.
    async fn list_records(
        &self,
        collection: &str,
        scope: &ProjectScope,
    ) -> Result<Vec<Record>, StoreError>;
    /// Replaces body, name and owners if the stored revision is still `r.revision - 1`;
    /// `Conflict` if someone else updated it first.
    async fn update_record(
        &self,
        collection: &str,
        r: &Record,
        events: &[NewEvent],
    ) -> Result<(), StoreError>;
    /// Deletes a record; false if it did not exist.
    async fn delete_record(
        &self,
        collection: &str,
        id: &str,
        events: &[NewEvent],
    ) -> Result<bool, StoreError>;
    /// Records of a collection readable by a project (OSM quotas count these).
    async fn count_records(&self, collection: &str, project_id: &str) -> Result<i64, StoreError>;
    /// Records of a collection (any project) whose top-level string field `field` is `value`,
    /// oldest first: an NS's operations, the NS instances of an NSD. The fields the lifecycle
    /// looks up (`nsInstanceId`, `netsliceInstanceId`, `nsd-id`, `vnfd-id`, `nst-id`) are
    /// indexed; `field` is letters, digits, `-` and `_` only.
    async fn find_records(
        &self,
        collection: &str,
        field: &str,
        value: &str,
    ) -> Result<Vec<Record>, StoreError>;
    /// The records of a collection (any project) with these ids, in no particular order (a batch
    /// of `get_record`s in a few queries).
    async fn get_records_in(
        &self,
        collection: &str,
        ids: &[String],
    ) -> Result<Vec<Record>, StoreError>;
    /// Records of a collection (any project) whose top-level string field `field` is one of
    /// `values` (a batch of `find_records`), in no particular order.
    async fn find_records_in(
        &self,
        collection: &str,
        field: &str,
        values: &[String],
    ) -> Result<Vec<Record>, StoreError>;
    /// Records of a collection (any project) modified at or after `since`, oldest change first.
    async fn records_modified_since(
        &self,
        collection: &str,
        since: Micros,
    ) -> Result<Vec<Record>, StoreError>;
    /// A number the database changes in the same transaction as any change to the collection's
    /// records or owners (0 before the first): equal versions mean an equal collection, on every
    /// replica, so a rendering made at one version may be served again while it holds.
    async fn collection_version(&self, collection: &str) -> Result<i64, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owners(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn scopes_admit_records_as_osm_filters_them() {
        let only = |public| ProjectScope::Only {
            projects: owners(&["p1"]),
            public,
        };
        assert!(only(Public::Ignore).admits(&owners(&["p1"])));
        assert!(!only(Public::Ignore).admits(&owners(&["p2", "ANY"])));
        assert!(only(Public::Include).admits(&owners(&["p2", "ANY"])));
        assert!(!only(Public::Exclude).admits(&owners(&["p1", "ANY"])));
        assert!(only(Public::Exclude).admits(&owners(&["p1"])));
        assert!(!only(Public::Include).admits(&owners(&["p2"])));
        assert!(ProjectScope::All.admits(&owners(&["p9"])));
    }
}
