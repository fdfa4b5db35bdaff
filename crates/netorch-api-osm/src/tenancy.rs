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

/// The records of a collection inside the caller's list scope.
pub(crate) async fn list(
    s: &OsmState,
    me: &Session,
    q: &OsmQuery,
    collection: &str,
) -> Result<Vec<Record>, OsmError> {
    let scope = s
        .deps
        .identity
        .scope(me, "get", &q.admin, Access::List)
        .await?;
    s.deps
        .records
        .list_records(collection, &scope)
        .await
        .map_err(OsmError::from)
}
