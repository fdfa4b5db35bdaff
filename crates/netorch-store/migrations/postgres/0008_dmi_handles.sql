-- The DMI family's CM handles: the module-sync watchdog looks them up by state, reads by
-- alternate id. Partial indexes spelled as `find_records` queries them.
CREATE INDEX records_dmi_handles_by_state ON records (((body::jsonb) ->> 'state')) WHERE collection = 'dmi_cm_handles';
CREATE INDEX records_dmi_handles_by_alternate_id ON records (((body::jsonb) ->> 'alternateId')) WHERE collection = 'dmi_cm_handles';
