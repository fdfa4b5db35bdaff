//! OSM's naming rules, shared by every record kind of the family.

use netorch_http::osm::OsmError;

/// OSM's name rule: 1–255 characters, none of `,;()'"`.
pub(crate) fn check_name(field: &str, v: &str) -> Result<(), OsmError> {
    if v.is_empty()
        || v.chars().count() > 255
        || v.chars().any(|c| ",;()'\"".contains(c) || c.is_control())
    {
        return Err(OsmError::format_error(
            field,
            &format!("{v:?} must have 1 to 255 characters, none of , ; ( ) ' \""),
        ));
    }
    Ok(())
}
