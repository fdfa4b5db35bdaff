//! OSM's admin query strings on edits (`SET_PROJECT`, `PUBLIC`) and quotas on creation, shared by
//! every record kind of the family.

use netorch_auth::{Session, service::Access};
use netorch_core::{
    events::NewEvent,
    tenancy::{ANY, Record},
};
use netorch_http::osm::{OsmError, OsmQuery, Reply};
use serde_json::Value;

use crate::OsmState;

/// Whether an edit only shares or publishes the record (sharing query strings, empty body).
/// A body together with `SET_PROJECT` is refused, as OSM does.
pub(crate) fn sharing_only(q: &OsmQuery, body: &Value) -> Result<bool, OsmError> {
    let sharing = q.admin.set_project.is_some() || q.admin.public.is_some();
    let empty = body.is_null() || body.as_object().is_some_and(|o| o.is_empty());
    if q.admin.set_project.is_some() && !empty {
        return Err(OsmError::unprocessable(
            "Cannot edit content and set to project (query string SET_PROJECT) at same time",
        ));
    }
    Ok(sharing && empty)
}

/// Applies `SET_PROJECT` / `PUBLIC` to a record the caller may write, and answers 204.
pub(crate) async fn share(
    s: &OsmState,
    me: &Session,
    method: &str,
    q: &OsmQuery,
    collection: &str,
    id: &str,
    event: &(dyn Fn(&Record) -> NewEvent + Sync),
) -> Result<Reply, OsmError> {
    // On an edit PUBLIC says what to do with the record, not which records to look at.
    let mut lookup = q.clone();
    lookup.admin.public = None;
    let writable = load(
        s,
        me,
        &lookup,
        method,
        collection,
        id,
        Access::Write,
        collection,
    )
    .await;
    let mut r = match writable {
        Ok(r) => r,
        // Taking a readable record (a public package) into one's own catalogue needs no write
        // access: only the caller's project joins the readers, never the writers.
        Err(OsmError::NotFound(_)) if s.deps.identity.joins_own_project(me, &q.admin).await? => {
            load(
                s,
                me,
                &lookup,
                method,
                collection,
                id,
                Access::Show,
                collection,
            )
            .await?
        }
        Err(e) => return Err(e),
    };
    if s.deps
        .identity
        .share(me, method, &q.admin, &mut r.owners)
        .await?
    {
        r.touch(s.deps.clock.now());
        let e = event(&r);
        s.deps.records.update_record(collection, &r, &[e]).await?;
    }
    Ok(Reply::no_content())
}

/// What a DELETE does to a record.
pub(crate) enum Removal {
    /// The caller's project was the last to hold it: delete the record (the caller goes on with
    /// its checks and the deletion).
    Whole(Record),
    /// Other projects still hold it: only the caller's share was removed (answer 204).
    Pulled,
}

/// Loads a record for a DELETE, as OSM: while other projects share it, a DELETE only removes the
/// caller's project from its readers and writers (reading it is enough for that, so a project can
/// drop what it took into its catalogue); the record goes when the last project drops it. `ADMIN`
/// and `FORCE` act on the record itself and need write access.
pub(crate) async fn load_for_removal(
    s: &OsmState,
    me: &Session,
    q: &OsmQuery,
    collection: &str,
    id: &str,
    what: &str,
    event: &(dyn Fn(&Record) -> NewEvent + Sync),
) -> Result<Removal, OsmError> {
    let writable = load(s, me, q, "delete", collection, id, Access::Write, what).await;
    if q.admin.admin.is_some() || q.admin.force {
        return writable.map(Removal::Whole);
    }
    let mut r = match writable {
        Ok(r) => r,
        Err(OsmError::NotFound(_)) => {
            load(s, me, q, "delete", collection, id, Access::List, what).await?
        }
        Err(e) => return Err(e),
    };
    let mine = |p: &String| *p == me.project_id;
    let others = r
        .owners
        .read
        .iter()
        .chain(&r.owners.write)
        .any(|p| p != ANY && !mine(p));
    if !others {
        return Ok(Removal::Whole(r));
    }
    r.owners.read.retain(|p| !mine(p));
    r.owners.write.retain(|p| !mine(p));
    r.touch(s.deps.clock.now());
    let e = event(&r);
    s.deps.records.update_record(collection, &r, &[e]).await?;
    tracing::info!(collection, id, project = %me.project_id, "share removed; other projects keep the record");
    Ok(Removal::Pulled)
}

/// Refuses a creation beyond the project's quota for `topic` (422, as OSM), unless `FORCE`.
pub(crate) async fn check_quota(
    s: &OsmState,
    me: &Session,
    q: &OsmQuery,
    collection: &str,
    topic: &str,
) -> Result<(), OsmError> {
    if q.admin.force {
        return Ok(());
    }
    let Some(quota) = s.deps.identity.quota(&me.project_id, topic).await? else {
        return Ok(());
    };
    let used = s
        .deps
        .records
        .count_records(collection, &me.project_id)
        .await?;
    if used >= quota {
        return Err(OsmError::unprocessable(format!(
            "quota ({topic}={quota}) exceeded for project {} ({})",
            me.project_name, me.project_id
        )));
    }
    Ok(())
}

/// One record inside the caller's scope — the write sets for `Access::Write` — or 404 naming `what`.
#[expect(
    clippy::too_many_arguments,
    reason = "the lookup's inputs, all of them needed"
)]
pub(crate) async fn load(
    s: &OsmState,
    me: &Session,
    q: &OsmQuery,
    method: &str,
    collection: &str,
    id: &str,
    access: Access,
    what: &str,
) -> Result<Record, OsmError> {
    let scope = s.deps.identity.scope(me, method, &q.admin, access).await?;
    s.deps
        .records
        .get_record(collection, id, &scope, access == Access::Write)
        .await?
        .ok_or_else(|| OsmError::not_found(format!("{what} '{id}' not found")))
}

/// Rendered list answers, keyed by collection, caller scope and query, each tagged with the
/// collection version it was rendered at. A list of 50 VIM accounts re-read, re-parsed and
/// re-rendered per request cost 3.3× re-serialising the same document (issue 12); a hit costs one
/// indexed read of the version. Bounded in entries and bytes; stale entries are replaced on the
/// next miss of their key.
#[derive(Default)]
pub(crate) struct ListCache {
    entries: std::sync::Mutex<ListEntries>,
}

#[derive(Default)]
struct ListEntries {
    map: std::collections::HashMap<String, (i64, Reply)>,
    bytes: usize,
}

impl ListCache {
    const MAX_ENTRIES: usize = 512;
    const MAX_BYTES: usize = 32 << 20;

    fn get(&self, key: &str, version: i64) -> Option<Reply> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .map
            .get(key)
            .filter(|(v, _)| *v == version)
            .map(|(_, r)| r.clone())
    }

    fn put(&self, key: String, version: i64, reply: &Reply) {
        let Some(len) = reply.frozen_len() else {
            return;
        };
        if len > Self::MAX_BYTES / 4 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.map.len() >= Self::MAX_ENTRIES || entries.bytes + len > Self::MAX_BYTES {
            // Rare (many distinct queries); starting over is simpler than LRU bookkeeping and
            // costs each key one miss.
            entries.map.clear();
            entries.bytes = 0;
        }
        if let Some((_, old)) = entries.map.insert(key, (version, reply.clone())) {
            entries.bytes -= old.frozen_len().unwrap_or(0);
        }
        entries.bytes += len;
    }
}

/// The list answer for a collection inside the caller's list scope, each record rendered by
/// `render` and the query's filters and paging applied; served from [`ListCache`] while the
/// collection is unchanged.
pub(crate) async fn list_reply(
    s: &OsmState,
    me: &Session,
    q: &OsmQuery,
    collection: &str,
    render: impl Fn(&Record) -> serde_json::Value,
) -> Result<Reply, OsmError> {
    let scope = s
        .deps
        .identity
        .scope(me, "get", &q.admin, Access::List)
        .await?;
    // The version is read before the records: a change in between only makes the entry look
    // older than its content, never newer.
    let version = s.deps.records.collection_version(collection).await?;
    let key = format!("{collection}\n{scope:?}\n{q:?}");
    if let Some(reply) = s.lists.get(&key, version) {
        return Ok(reply);
    }
    let records = s.deps.records.list_records(collection, &scope).await?;
    let reply = q.list(records.iter().map(render).collect())?.frozen();
    s.lists.put(key, version, &reply);
    Ok(reply)
}
