-- Lookups of the NS lifecycle by a field of a record's JSON body (an NS's operations, the NS
-- instances of a descriptor...), so they do not scan collections that only grow. Partial
-- indexes: only these collections' rows pay for them. The expressions and predicates are
-- spelled exactly as `find_records` writes them. `records_modified` serves the notification
-- sweep's "changed since" read, `jobs_finished` the pruning of finished jobs.
CREATE INDEX records_nslcmops_by_nsinstanceid ON records (json_extract(body, '$."nsInstanceId"')) WHERE collection = 'nslcmops';
CREATE INDEX records_nsilcmops_by_netsliceinstanceid ON records (json_extract(body, '$."netsliceInstanceId"')) WHERE collection = 'nsilcmops';
CREATE INDEX records_nsrs_by_nsd_id ON records (json_extract(body, '$."nsd-id"')) WHERE collection = 'nsrs';
CREATE INDEX records_vnfrs_by_vnfd_id ON records (json_extract(body, '$."vnfd-id"')) WHERE collection = 'vnfrs';
CREATE INDEX records_nsis_by_nst_id ON records (json_extract(body, '$."nst-id"')) WHERE collection = 'nsis';
CREATE INDEX records_modified ON records (collection, modified);
CREATE INDEX jobs_finished ON jobs (state, updated_at);
